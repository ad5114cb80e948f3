"""eICU demo, end to end through MEDS: raw tables → eicu-meds ETL → ACES → fitted models → scores.

The real eICU-CRD demo tables (``../shared/data/eicu-demo``; two of the tables eicu-meds reads
are missing, and the shipped configuration skips them) go through
:func:`medfuse_sk.datasets.meds.prepare_eicu_mortality` (the ETL, never downloading, then ACES with
the shipped task: in-hospital mortality predicted 48 h after the first ICU admission). The
samples are read with :func:`~medfuse_sk.datasets.meds.load_meds` (48-hour look-back; the
vocabulary fitted on ``train``, the other splits read with it), and every model — MedFuse with the
library's defaults and the aggregate baselines, on the same samples — is fitted on ``train`` and
scored on ``tuning`` and on ``held_out`` (nothing is chosen on either) with AUROC / AUPRC and
1,000-resample bootstrap intervals. The held-out predictions are written in meds-evaluation's
format and scored by ``meds-evaluation-cli`` too.

With ``--cli``, MedFuse (first seed) is also fitted and scored through the command line a user
would type, which must give the same numbers::

    medfuse fit --meds MEDS --task TASK --lookback 48 --seed 0 --out MODEL
    medfuse evaluate MODEL --meds MEDS --task TASK --split held_out --out EVAL

(the aggregate models other than logistic regression and LightGBM cannot be written as model
folders, so they run through the Python API only).

Run::

    nice -n 5 python benchmarks/meds_eicu.py --raw ../shared/data/eicu-demo --work /tmp/meds_eicu \\
        --cli --out benchmarks/results/meds/eicu_demo.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

MODELS = ("medfuse", "xgboost", "lightgbm", "logistic_regression", "random_forest")
SPLITS = ("tuning", "held_out")
TASK = "mortality_in_hospital_48h"


def _medfuse(*args: str) -> None:
    command = [sys.executable, "-m", "medfuse_sk.cli", *args]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")


def _meds_evaluation(predictions: Path, out: Path) -> dict:
    cli = Path(sys.executable).parent / "meds-evaluation-cli"
    done = subprocess.run([str(cli), f"predictions_path={predictions}", f"output_file={out}"],
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"meds-evaluation-cli on {predictions} failed:\n{done.stderr[-3000:]}")
    return json.loads(out.read_text())


def prepare(raw: Path, work: Path) -> dict:
    """The MEDS dataset and task under ``work`` (reused when a previous run left them)."""
    from medfuse_sk.datasets.meds import prepare_eicu_mortality

    report = work / "prepare.json"
    if report.is_file():
        return json.loads(report.read_text())
    etl, task = prepare_eicu_mortality(raw, work)
    result = {"etl": {k: v for k, v in etl.report.items() if k != "environment"}, "task": task.report,
              "meds_dir": str(etl.path), "task_dir": str(task.path)}
    report.write_text(json.dumps(result, indent=2))
    return result


def _scores(y, proba) -> dict:
    from medfuse_sk.evaluation import binary_metrics

    m = binary_metrics(y, proba, n_bootstrap=1000, random_state=0)
    return {k: m[k] for k in ("auroc", "auprc")}


def run(raw: Path, work: Path, models=MODELS, seeds=(0, 1, 2), lookback: float = 48.0,
        cli: bool = False, epochs: int | None = None) -> dict:
    """Prepare, fit every model with every seed, score both splits; return the results."""
    import numpy as np

    from medfuse_sk.datasets.meds import load_meds, write_predictions
    from medfuse_sk.models import create_model

    work.mkdir(parents=True, exist_ok=True)
    prepared = prepare(raw, work)
    meds, task = prepared["meds_dir"], prepared["task_dir"]
    started = time.perf_counter()
    cohorts = {"train": load_meds(meds, task, split="train", lookback=lookback)}
    for split in SPLITS:
        cohorts[split] = load_meds(meds, task, split=split, lookback=lookback,
                                   vocabulary=cohorts["train"].vocabulary)
    read_s = time.perf_counter() - started
    samples = {s: {"n": len(c.labels), "n_positive": int(c.labels.sum()),
                   "n_events": c.report["n_events"]} for s, c in cohorts.items()}
    X = {s: c.to_event_set() for s, c in cohorts.items()}
    rows, held_out_probability = [], {}
    for name in models:
        for seed in seeds:
            params = {"random_state": seed}
            if name == "medfuse":
                params["verbose"] = 0
                if epochs is not None:
                    params["max_epochs"] = epochs
            model = create_model(name, **params)
            t = time.perf_counter()
            model.fit(X["train"], cohorts["train"].labels)
            fit_s = time.perf_counter() - t
            for split in SPLITS:
                proba = model.predict_proba(X[split])[:, 1]
                y = cohorts[split].labels.loc[X[split].stay_ids].to_numpy()
                row = {"model": name, "seed": seed, "split": split, "fit_seconds": round(fit_s, 1),
                       "n": int(len(y)), "n_positive": int(y.sum()), **_scores(y, proba)}
                if split == "held_out" and seed == seeds[0]:
                    held_out_probability[name] = proba
                    path = work / "predictions" / f"{name}-{seed}-held_out.parquet"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    write_predictions(cohorts[split], proba, path)
                    scored = _meds_evaluation(path, path.with_suffix(".meds_evaluation.json"))
                    row["meds_evaluation"] = scored["samples_equally_weighted"]
                rows.append(row)
                print(f"{name:<20} seed {seed} {split:<9} AUROC {row['auroc']['value']:.3f} "
                      f"[{row['auroc']['ci_low']:.3f}, {row['auroc']['ci_high']:.3f}]  AUPRC "
                      f"{row['auprc']['value']:.3f} [{row['auprc']['ci_low']:.3f}, "
                      f"{row['auprc']['ci_high']:.3f}]  fit {fit_s:.0f} s", flush=True)
    summary = {}
    for name in models:
        for split in SPLITS:
            mine = [r for r in rows if r["model"] == name and r["split"] == split]
            summary[f"{name}/{split}"] = {
                m: round(float(np.mean([r[m]["value"] for r in mine])), 4) for m in ("auroc", "auprc")}
    result = {"prepare": prepared, "lookback_hours": lookback, "seeds": list(seeds),
              "medfuse_max_epochs": epochs or "library default",
              "samples": samples, "read_seconds": round(read_s, 1), "rows": rows,
              "mean_over_seeds": summary}
    if cli and "medfuse" in models:
        result["cli"] = _through_the_cli(meds, task, work, lookback, seeds[0], epochs,
                                         held_out_probability["medfuse"], cohorts["held_out"])
    return result


def _through_the_cli(meds, task, work, lookback, seed, epochs, api_probability, cohort) -> dict:
    """``medfuse fit`` + ``medfuse evaluate`` for MedFuse: the numbers of the Python API?"""
    import numpy as np
    import pandas as pd

    model_dir, out = work / "cli" / "medfuse", work / "cli" / "eval-held_out"
    fit = ["fit", "--meds", meds, "--task", task, "--lookback", str(lookback), "--seed", str(seed),
           "--out", str(model_dir), "--quiet", *(["--set", f"max_epochs={epochs}"] if epochs else [])]
    evaluate = ["evaluate", str(model_dir), "--meds", meds, "--task", task, "--split", "held_out",
                "--out", str(out), "--quiet"]
    _medfuse(*fit)
    _medfuse(*evaluate)
    metrics = json.loads((out / "metrics.json").read_text())
    table = pd.read_csv(out / "predictions.csv")
    cli_probability = table.set_index("stay_id")["proba"].reindex(cohort.stay_ids).to_numpy()
    return {"commands": ["medfuse " + " ".join(fit), "medfuse " + " ".join(evaluate)],
            "auroc": metrics["auroc"], "auprc": metrics["auprc"],
            "max_abs_difference_from_api": float(np.max(np.abs(cli_probability - api_probability)))}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", type=Path, default=Path("../shared/data/eicu-demo"))
    parser.add_argument("--work", type=Path, default=Path("/tmp/meds_eicu"))
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--lookback", type=float, default=48.0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="MedFuse's max_epochs (default: the library's, 20)")
    parser.add_argument("--cli", action="store_true", help="also fit and score MedFuse (first seed) "
                                                              "through the medfuse command line")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = run(args.raw, args.work, args.models, tuple(args.seeds), args.lookback, cli=args.cli,
                 epochs=args.epochs)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["command"] = "nice -n 5 python " + " ".join([sys.argv[0], *sys.argv[1:]])
    result["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(),
                         "python": platform.python_version()}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
