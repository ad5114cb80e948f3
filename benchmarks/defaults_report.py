"""Are the estimator's defaults robust? ``MedFuseClassifier()`` on two cohorts (issue 8).

A user with another cohort gets the defaults, only ``random_state`` set. This compares them
with a candidate set of defaults on both real cohorts we hold, 3 seeds each, one process per
(cohort, row, seed), results written as each finishes (the command resumes):

    OMP_NUM_THREADS=1 python benchmarks/defaults_report.py run --seeds 0 1 2
    python benchmarks/defaults_report.py summarize   # benchmarks/results/defaults/summary.md

Cohorts (raw events, no windows, nothing P12-specific), by their names in the cohort registry
(``medfuse_sk.datasets.load_cohort``; any registered cohort runs with ``--cohorts NAME``):

- ``p12``: PhysioNet 2012, in-hospital death; fitted on the 7,680 train stays, scored on the
  1,920 val stays (the protocol of docs/p12-report.md).
- ``p19``: PhysioNet 2019 set A, first 24 h → sepsis in the next 48 h (the task of
  docs/transfer.md); fitted on its fixed 4,000-stay subsample of the train split (the one of
  transfer_report.py), scored on the task's val (2,571 stays) and test (3,196) splits, neither
  used for any choice here.

Each cohort's EventSets are cached (``$MEDFUSE_DEFAULTS_CACHE``, default
``/tmp/medfuse_defaults``) by the driver before the runs, so every run reads the cache.

Rows: ``defaults`` is ``MedFuseClassifier(random_state=seed)`` as it was before this
report (``OLD_DEFAULTS``, spelled out); ``candidate`` sets ``CANDIDATE`` (today's
defaults); ``no_stopping`` and ``summary_only`` are its two halves; ``xgboost`` is
``make_xgboost(random_state=seed)`` (its own 10 % stop).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from transfer_report import stratified_subsample  # a sibling: benchmarks/ is the script's folder

OUT = Path("benchmarks/results/defaults")
CACHE = Path(os.environ.get("MEDFUSE_DEFAULTS_CACHE", "/tmp/medfuse_defaults"))
SHARED = Path("..") / "shared" / "data"
#: per cohort: the splits scored besides ``train`` (P12's test records are held back), the size
#: of the fixed stratified training subsample (None: every training stay), and whether the parts
#: are cut from one EventSet over all of them (as transfer_report.py builds P19's) instead of
#: one EventSet per part: feature codes and the order of simultaneous events, and so the
#: numbers, depend on it
COHORTS = {"p19": {"scored": ("val", "test"), "n_train": 4000, "one_event_set": True},
           "p12": {"scored": ("val",), "n_train": None, "one_event_set": False}}
OTHER = {"scored": ("val",), "n_train": None, "one_event_set": False}
#: data folders: the loader's environment variable (MEDFUSE_P12_DIR, ...) when set, else these
DATA_DIRS = {"p12": SHARED / "physionet2012", "p19": SHARED / "physionet2019"}
ENV = {"p12": "MEDFUSE_P12_DIR", "p19": "MEDFUSE_P19_DIR"}
#: ``MedFuseClassifier``'s defaults before this report (issue 8, round 3), spelled out so the
#: rows mean the same whatever the defaults are now
OLD_DEFAULTS = {"series_summary": False, "weight_averaging": None, "valid_size": 0.1}
#: the defaults this report tested against them, today's defaults: no early stopping on a
#: small split (which stopped P19 runs at epoch 2), averaged weights, and the per-feature
#: summary branch
CANDIDATE = {"series_summary": True, "weight_averaging": 0.99, "valid_size": 0.0}
ROWS = {"defaults": OLD_DEFAULTS, "candidate": CANDIDATE, "xgboost": "xgboost",
        # the candidate's two halves, apart
        "no_stopping": {**OLD_DEFAULTS, "weight_averaging": 0.99, "valid_size": 0.0},
        "summary_only": {**OLD_DEFAULTS, "series_summary": True}}


def cohort_data(cohort: str) -> dict:
    """``{"train": (X, y), "val": (X, y)[, "test": (X, y)]}`` as EventSets (cached)."""
    path = CACHE / f"{cohort}.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    from medfuse_sk.datasets import load_cohort

    spec = COHORTS.get(cohort, OTHER)
    parts = ("train", *spec["scored"])
    data_dir = None if os.environ.get(ENV.get(cohort, "")) else DATA_DIRS.get(cohort)
    if spec["one_event_set"]:
        data = load_cohort(cohort, split=list(parts), data_dir=data_dir, progress=False)
        X = data.to_event_set()
        y = data.labels.loc[X.stay_ids].to_numpy()
        where = data.stay_split.reindex(X.stay_ids).to_numpy()
        out = {part: (X[np.flatnonzero(where == part)], y[where == part]) for part in parts}
    else:
        out = {}
        for part in parts:
            data = load_cohort(cohort, split=part, data_dir=data_dir, progress=False)
            X = data.to_event_set()
            out[part] = (X, data.labels.loc[X.stay_ids].to_numpy())
    if spec["n_train"] is not None:
        X, y = out["train"]
        keep = stratified_subsample(y, spec["n_train"])
        out["train"] = (X[keep], y[keep])
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(out, handle)
    return out


def run_one(cohort: str, row: str, seed: int) -> dict:
    import torch

    from medfuse_sk import MedFuseClassifier
    from medfuse_sk.evaluation import binary_metrics
    from medfuse_sk.models import make_xgboost

    torch.set_num_threads(1)
    data = cohort_data(cohort)
    X, y = data["train"]
    spec = ROWS[row]
    began = time.perf_counter()
    if spec == "xgboost":
        model = make_xgboost(random_state=seed).fit(X, y)
    else:
        model = MedFuseClassifier(random_state=seed, **spec).fit(X, y)
    result: dict = {"cohort": cohort, "row": row, "seed": seed, "settings": spec,
                    "fit_seconds": time.perf_counter() - began, "n_train": len(X),
                    "n_train_positive": int(np.sum(y))}
    if spec != "xgboost":
        history = model.history_
        result["epochs"] = len(history)
        result["history"] = [{k: h.get(k) for k in ("epoch", "train_loss", "valid_auprc",
                                                    "valid_auroc", "dur")} for h in history]
    for part in ("val", "test"):
        if part in data:
            X_part, y_part = data[part]
            proba = model.predict_proba(X_part)[:, 1]
            result[part] = binary_metrics(y_part, proba, n_bootstrap=1000, random_state=0)
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


def run(cohorts: list[str], rows: list[str], seeds: list[int]) -> None:
    for cohort in cohorts:
        cohort_data(cohort)  # fills the cache here, so no run's peak memory holds the loading
    for seed in seeds:
        for cohort in cohorts:
            for row in rows:
                if cohort == "p12" and row == "xgboost":
                    continue  # docs/p12-report.md's xgboost row is this run already
                target = OUT / cohort / row / f"seed{seed}" / "metrics.json"
                if target.exists():
                    print(f"[skip] {cohort} {row} seed {seed}", flush=True)
                    continue
                print(f"[run ] {cohort} {row} seed {seed}", flush=True)
                began = time.perf_counter()
                code = subprocess.call([sys.executable, __file__, "one", "--cohort", cohort,
                                        "--row", row, "--seed", str(seed)])
                print(f"[done] {cohort} {row} seed {seed}: exit {code}, "
                      f"{time.perf_counter() - began:.0f} s", flush=True)


def one(cohort: str, row: str, seed: int) -> None:
    result = run_one(cohort, row, seed)
    target = OUT / cohort / row / f"seed{seed}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "metrics.json").write_text(json.dumps(result, indent=1, default=float))


def _cohort_order(name: str) -> tuple:
    return (list(COHORTS).index(name) if name in COHORTS else len(COHORTS), name)


def summarize() -> str:
    lines = ["| cohort | row | seeds | split | AUPRC mean ± sd (min–max) | AUROC mean ± sd "
             "(min–max) | epochs | fit s (median) | peak GB |", "|---" * 9 + "|"]
    done = {p.parts[-4] for p in OUT.glob("*/*/seed*/metrics.json")}
    for cohort in sorted(done, key=_cohort_order):
        for row in ROWS:
            runs = [json.loads(p.read_text())
                    for p in sorted((OUT / cohort / row).glob("seed*/metrics.json"))]
            if not runs:
                continue
            for part in ("val", "test"):
                if part not in runs[0]:
                    continue
                cells = []
                for metric in ("auprc", "auroc"):
                    v = np.array([r[part][metric]["value"] for r in runs])
                    sd = v.std(ddof=1) if len(v) > 1 else 0.0
                    cells.append(f"{v.mean():.3f} ± {sd:.3f} ({v.min():.3f}–{v.max():.3f})")
                epochs = "/".join(str(r["epochs"]) for r in runs) if "epochs" in runs[0] else "–"
                fit = np.median([r["fit_seconds"] for r in runs])
                peak = max(r["peak_rss_gb"] for r in runs)
                lines.append(f"| {cohort} | {row} | {len(runs)} | {part} | {cells[0]} | "
                             f"{cells[1]} | {epochs} | {fit:.0f} | {peak:.2f} |")
    table = "\n".join(lines)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "summary.md").write_text(table + "\n")
    print(table)
    return table


def main() -> None:
    from medfuse_sk.datasets import available_cohorts

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--cohorts", nargs="+", default=list(COHORTS), choices=available_cohorts(),
                   help="registered cohort names (default: %(default)s)")
    r.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    o = sub.add_parser("one")
    o.add_argument("--cohort", required=True, choices=available_cohorts())
    o.add_argument("--row", required=True, choices=list(ROWS))
    o.add_argument("--seed", type=int, required=True)
    sub.add_parser("summarize")
    args = parser.parse_args()
    if args.command == "run":
        run(args.cohorts, args.rows, args.seeds)
    elif args.command == "one":
        one(args.cohort, args.row, args.seed)
    else:
        summarize()


if __name__ == "__main__":
    main()
