"""The P12 benchmark report on the val split: MedFuse, ablations, sweeps and baselines.

Each (row, seed) runs in its own process (so its peak memory is its own) and writes
``OUT/<row>/seed<k>/metrics.json``; runs already done are skipped, so the command resumes.

    python benchmarks/p12_report.py run --rows medfuse add scane --seeds 0 1 2
    python benchmarks/p12_report.py summarize        # table (markdown + JSON) and plots

Protocol: tokenizer and models fitted on the train split; early stopping on a stratified 10 %
of train (XGBoost too); scored on val, which no model selection touches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from medfuse_sk.recipes import PAPER

OUT = Path("benchmarks/results/p12")
#: the benchmark machine's copy of the release (the library itself looks only where told)
os.environ.setdefault("MEDFUSE_P12_DIR", str(Path("..") / "shared" / "data" / "physionet2012"))

#: row name → settings passed to ``medfuse p12 --set`` on top of the recommended configuration
#: (``medfuse_sk.recipes.RECOMMENDED``) or a baseline name.
#:
#: The first round's rows change one thing of that round's recommended model, a 3-network
#: MuFuse ensemble (``ROUND1``); ``SINGLE`` makes it one network. The second round's rows
#: (issue 8) are the heterogeneous ensemble with the per-feature summary branch, which is
#: today's recommended event model (``hetero_summary``: ``combine=None``), its ablations, and
#: the blends below.
ROUND1 = {"fusion": "mufuse", "series_summary": False, "combine": None, "n_models": 3,
          "valid_size": 0.1, "patience": 4}  # round 1 stopped on a 10 % split
SINGLE = {**ROUND1, "n_models": 1}
FOUR = ("mufuse", "add", "concat", "scane")
ROWS: dict[str, dict | str] = {
    "medfuse": ROUND1,
    "medfuse_single": SINGLE,
    "add": {**SINGLE, "fusion": "add"},
    "concat": {**SINGLE, "fusion": "concat"},
    "scane": {**SINGLE, "fusion": "scane"},
    "sigmoid_gate": {**SINGLE, "gate": "sigmoid", "beta_init": 0.0},
    "k4": {**SINGLE, "partition_factor": 4},
    "k16": {**SINGLE, "partition_factor": 16},
    "k64": {**SINGLE, "partition_factor": 64},
    "raw_events": {**SINGLE, "window": None, "horizon": None},
    "add_raw": {**SINGLE, "fusion": "add", "window": None, "horizon": None},
    # initialisation and learning rate of the recommended single model
    "projector_gain4": {**SINGLE, "projector_gain": 4.0},
    "lr3e-3": {**SINGLE, "lr": 3e-3},
    "d128": {**SINGLE, "d_model": 128},
    # convergence: twice the epochs (the cosine schedule stretched to match)
    "medfuse_24ep": {**SINGLE, "max_epochs": 24, "patience": 8},
    "add_24ep": {**SINGLE, "fusion": "add", "max_epochs": 24, "patience": 8},
    # the compact reference: the paper's gates and a plain training loop
    "paper_recipe": {**SINGLE, **PAPER, "weight_averaging": None, "max_epochs": 20,
                     "patience": 5},
    # round 2 (issue 8): the per-feature count / latest value / recency branch, and
    # heterogeneous ensembles (one network per fusion in one module)
    "medfuse_summary": {**SINGLE, "series_summary": True},
    "concat_summary": {**SINGLE, "fusion": "concat", "series_summary": True},
    "hetero": {"combine": None, "series_summary": False, "valid_size": 0.1, "patience": 4},
    "hetero_summary": {"combine": None, "valid_size": 0.1, "patience": 4},
    # the same trained on every train stay for its 12 epochs: no stopping on a noisy 10 %;
    # today's recommended event model
    "hetero_summary_full": {"combine": None},
    # round 3: the second MedFuse network `medfuse p12` fits beside the module (its `concat`
    # member, reproduce.CONCAT_MEMBER on the same settings) — round 1's concat recipe
    "concat_member": {"combine": None, "fusion": "concat", "series_summary": False,
                      "valid_size": 0.1, "patience": 4},
    # round 4: the module with one attention head (the authors' choice; CPU attention is
    # faster with one 64-wide head than with four 16-wide ones), and single MuFuse networks
    # of today's recipe: as they come, with a static branch, with the authors' recipe
    "hetero_h1": {"combine": None, "n_heads": 1},
    # a faster module for the test command's 20 minutes: each stay's 256 latest tokens, 10
    # epochs (speed candidates of docs/p12-report.md round 4)
    "hetero_fast": {"combine": None, "n_heads": 1, "max_tokens": 256, "max_epochs": 10},
    "mufuse_now": {"combine": None, "fusion": "mufuse"},
    "mufuse_static": {"combine": None, "fusion": "mufuse", "static_branch": True},
    # `mufuse_now` with its epoch count chosen by cross-validation on train, then refitted
    "mufuse_cv_epochs": "cv_epochs",
    # the authors' training (focal loss, Adam at 1e-4 without schedule, batch 256, dropout
    # 0.45, one head, long, the best epoch on a validation split) on that same network;
    # 60 epochs instead of 250 (CPU), width 64 instead of 144
    "mufuse_authors_training": {"combine": None, "fusion": "mufuse", "loss": "focal",
                                "lr": 1e-4, "lr_schedule": "constant", "warmup_epochs": 0.0,
                                "batch_size": 256, "dropout": 0.45, "n_heads": 1,
                                "weight_averaging": None, "valid_size": 0.1, "patience": 15,
                                "max_epochs": 60},
    # round 5: the module as `medfuse p12` now fits it, in two parts side by side (n_jobs=2,
    # reproduce.RECOMMENDED): each part one process of one thread, as the rows run
    "hetero_h1_a": {"combine": None, "n_heads": 1, "fusion": ("mufuse", "add")},
    "hetero_h1_b": {"combine": None, "n_heads": 1, "fusion": ("concat", "scane")},
    # and what else a network might take (issue 8's list): the static branch in both parts,
    # and the authors' per-window count tokens on one MuFuse network (against `mufuse_now`)
    "hetero_h1_static_a": {"combine": None, "n_heads": 1, "fusion": ("mufuse", "add"),
                           "static_branch": True},
    "hetero_h1_static_b": {"combine": None, "n_heads": 1, "fusion": ("concat", "scane"),
                           "static_branch": True},
    "mufuse_counts": {"combine": None, "fusion": "mufuse", "count_tokens": True},
    "recommended_round2": {"combine": "xgboost"},  # round 2's: the module + XGBoost
    "recommended_round3": {},  # round 3's: four heads (pinned below)
    # round 5's first: the members in two processes, no static branch yet
    "recommended_parallel": {"n_heads": 1, "n_jobs": 2},
    "recommended": {},
    "xgboost": "xgboost",
    "random_forest": "random_forest",
    "grud": "grud",
}
#: every row before round 4's new ones ran with four attention heads, the estimator's
#: default, which RECOMMENDED now sets to one: pinned, so that each row still names what ran
for _name, _spec in ROWS.items():
    if isinstance(_spec, dict) and "n_heads" not in _spec and _name != "recommended":
        ROWS[_name] = {**_spec, "n_heads": 4}
#: and every row but today's recommended model ran in one process (round 5's RECOMMENDED fits
#: its voting members in two) and without a static branch (which round 5's RECOMMENDED turns
#: on): pinned too
for _name, _spec in ROWS.items():
    if isinstance(_spec, dict) and _name != "recommended":
        ROWS[_name] = {"n_jobs": 1, "static_branch": False, **_spec}
K_SWEEP = [(1, "medfuse_single"), (4, "k4"), (16, "k16"), (64, "k64")]


def run_row(name: str, seed: int, out: Path, extra: dict) -> None:
    target = out / name / f"seed{seed}"
    if (target / "metrics.json").exists():
        print(f"[skip] {name} seed {seed}: done")
        return
    spec = ROWS[name]
    if isinstance(spec, str):
        cmd = [sys.executable, __file__, "baseline", "--model", spec, "--seed", str(seed),
               "--out", str(target)]
    else:
        settings = {**spec, **extra}
        cmd = [sys.executable, "-m", "medfuse_sk.cli", "p12", "--eval-split", "val", "--quiet",
               "--seed", str(seed), "--out", str(target)]
        for key, value in settings.items():
            cmd += ["--set", f"{key}={value!r}"]
    print(f"[run ] {name} seed {seed}: {' '.join(cmd[1:])}", flush=True)
    started = time.perf_counter()
    subprocess.run(cmd, check=True)
    print(f"[done] {name} seed {seed} in {time.perf_counter() - started:.0f} s", flush=True)


def baseline(model: str, seed: int, out: Path) -> None:
    """Fit a tree baseline on train (early stopping on 10 % of train), score val."""
    from medfuse_sk.datasets import load_physionet2012
    from medfuse_sk.evaluation._evaluate import evaluate, machine_info
    from medfuse_sk.models import make_random_forest, make_xgboost

    started = time.perf_counter()
    train = load_physionet2012(split="train", progress=False)
    val = load_physionet2012(split="val", progress=False)
    X, X_val = train.to_event_set(), val.to_event_set()
    y, y_val = train.labels.loc[X.stay_ids].to_numpy(), val.labels.loc[X_val.stay_ids].to_numpy()
    fit_start = time.perf_counter()
    if model == "grud":
        pipe, config = _fit_grud(X, y, seed)
    elif model == "xgboost":
        pipe = make_xgboost(random_state=seed).fit(X, y)  # stops on 10 % of train itself
        config = {"model": "xgboost", **pipe[-1].model_.get_params(),
                  "best_iteration": pipe[-1].best_iteration_}
    elif model == "cv_epochs":
        pipe, config = _fit_cv_epochs(X, y, seed)
    else:
        pipe = make_random_forest(random_state=seed).fit(X, y)
        config = {"model": "random_forest", **pipe[-1].get_params()}
    train_seconds = time.perf_counter() - fit_start
    info = {"config": {k: v for k, v in config.items() if _jsonable(v)}, "seed": seed,
            "train_seconds": round(train_seconds, 1),
            "wall_seconds": round(time.perf_counter() - started, 1), **machine_info()}
    result = evaluate(pipe, X_val, y_val, split="val", out=out, info=info, random_state=seed,
                      title=f"{model}, val")
    print(json.dumps({k: result[k]["value"] for k in ("auprc", "auroc", "accuracy")}))


def _fit_grud(X, y, seed):
    """The library's GRU-D with P12's grid (``medfuse_sk.recipes.P12_GRUD``): 37 series
    and 7 static channels (Age, Height, Gender, 4 ICU types) on 48 hourly steps, z-scored with
    train statistics; hidden 128, batch 64, Adam 1e-3, at most 20 epochs, early stopping
    (patience 5) on the validation loss of 10 % of train."""
    from medfuse_sk.datasets import TIME_SERIES
    from medfuse_sk.models import make_grud
    from medfuse_sk.recipes import P12_GRUD

    model = make_grud(random_state=seed, series=list(TIME_SERIES), **P12_GRUD).fit(X, y)
    config = {"model": "grud", "package": "pypots", **model.get_params()}
    return model, config


#: epoch counts the cross-validated row chooses among
CV_EPOCHS = [8, 12, 20]


def _fit_cv_epochs(X, y, seed):
    """The ``mufuse_now`` network with its epoch count chosen by 3-fold stratified
    cross-validation on train (AUPRC; scikit-learn's GridSearchCV), then refitted on all of
    train with that count: the protocol for a final refit on train + val."""
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from medfuse_sk.recipes import make_p12_model

    network = make_p12_model(ROWS["mufuse_now"], seed=seed, verbose=0)
    search = GridSearchCV(network, {"max_epochs": CV_EPOCHS}, scoring="average_precision",
                          cv=StratifiedKFold(3, shuffle=True, random_state=seed), refit=True)
    search.fit(X, y)
    table = search.cv_results_
    config = {"model": "cv_epochs", "candidates": CV_EPOCHS,
              "chosen": search.best_params_["max_epochs"],
              "cv_auprc_mean": [round(float(v), 4) for v in table["mean_test_score"]],
              "cv_auprc_sd": [round(float(v), 4) for v in table["std_test_score"]],
              "refit_seconds": round(float(search.refit_time_), 1)}
    return search, config


def _jsonable(value) -> bool:
    try:
        json.dumps(value)
    except TypeError:
        return False
    return True


#: derived rows: the mean of two rows' val probabilities, seed by seed (no training of its own)
BLENDS = {"medfuse+xgboost": ("medfuse", "xgboost"),
          # the mean of the two parts' probabilities is what `recommended`'s soft voting does
          "hetero_summary+xgboost": ("hetero_summary", "xgboost"),
          "hetero_summary+xgboost+grud": ("hetero_summary", "xgboost", "grud"),
          # the mean of the two parts' probabilities is what `recommended`'s voting does
          "hetero_summary_full+xgboost": ("hetero_summary_full", "xgboost"),
          # round 3: the second network (`concat`, the first round's recipe) beside the module
          # is the best pure event model; with XGBoost and GRU-D, today's `recommended`
          "hetero_summary_full+concat_member": ("hetero_summary_full", "concat_member"),
          "hetero_summary_full+concat_member+xgboost": ("hetero_summary_full", "concat_member",
                                                        "xgboost"),
          "hetero_summary_full+concat_member+xgboost+grud": ("hetero_summary_full",
                                                             "concat_member", "xgboost", "grud"),
          # round 4: the same with the one-head module
          "hetero_h1+concat_member": ("hetero_h1", "concat_member"),
          "hetero_h1+xgboost+grud": ("hetero_h1", "xgboost", "grud"),
          "hetero_h1+concat_member+xgboost+grud": ("hetero_h1", "concat_member", "xgboost",
                                                   "grud"),
          # round 5: the module fitted in two parts (the mean of the parts' probabilities is
          # the mean of its four networks', what the weighted voting of `recommended` does)
          "hetero_h1_split": ("hetero_h1_a", "hetero_h1_b"),
          "hetero_h1_split+concat_member": ("hetero_h1_split", "concat_member"),
          "hetero_h1_split+xgboost+grud": ("hetero_h1_split", "xgboost", "grud"),
          "hetero_h1_split+concat_member+xgboost+grud": ("hetero_h1_split", "concat_member",
                                                         "xgboost", "grud"),
          "hetero_h1_static": ("hetero_h1_static_a", "hetero_h1_static_b"),
          "hetero_h1_static+concat_member": ("hetero_h1_static", "concat_member"),
          "hetero_h1_static+concat_member+xgboost+grud": ("hetero_h1_static", "concat_member",
                                                          "xgboost", "grud")}


def blend(out: Path) -> None:
    """Write each blend's per-seed metrics from its parts' ``predictions.csv``."""
    import pandas as pd

    from medfuse_sk.evaluation._evaluate import metrics_result, write_evaluation

    for name, parts in BLENDS.items():
        seeds = set.intersection(*({int(p.parent.name[4:]) for p in
                                    (out / part).glob("seed*/predictions.csv")} for part in parts))
        for seed in sorted(seeds):
            frames = [pd.read_csv(out / part / f"seed{seed}" / "predictions.csv",
                                  index_col="stay_id") for part in parts]
            if not all(f.index.equals(frames[0].index) for f in frames):
                raise ValueError(f"{name}: the parts scored different stays for seed {seed}")
            proba = np.mean([f["proba"].to_numpy() for f in frames], axis=0)
            labels = frames[0]["label"].to_numpy()
            result = metrics_result(labels, proba, split="val", random_state=seed,
                                    info={"parts": list(parts), "seed": seed})
            write_evaluation(out / name / f"seed{seed}", result, frames[0].index, labels, proba,
                             title=f"{name}, val")


def summarize(out: Path) -> dict:
    if not out.is_dir():
        raise SystemExit(f"no results in {out}: run `python {__file__} run` first")
    blend(out)
    rows = {}
    for name in [*ROWS, *BLENDS]:
        runs = [json.loads(p.read_text()) for p in sorted((out / name).glob("seed*/metrics.json"))]
        if not runs:
            continue
        row = {"n_seeds": len(runs), "seeds": [r["seed"] for r in runs]}
        for key in ("auprc", "auroc", "accuracy"):
            values = np.array([r[key]["value"] for r in runs])
            row[key] = {"mean": float(values.mean()),
                        "sd": float(values.std(ddof=1)) if len(values) > 1 else None,
                        "values": values.round(4).tolist()}
        for key in ("train_seconds", "peak_rss_mb", "epochs_run", "epoch_seconds_median"):
            values = [r[key] for r in runs if key in r]
            row[key] = float(np.median(values)) if values else None
        rows[name] = row
    (out / "summary.json").write_text(json.dumps(rows, indent=2))
    lines = ["| row | seeds | AUPRC mean ± sd | AUROC mean ± sd | accuracy | train s (median) "
             "| epochs | peak MB |", "|---|---|---|---|---|---|---|---|"]

    def fmt(metric):
        return f"{metric['mean']:.4f} ± {metric['sd']:.4f}" if metric["sd"] is not None \
            else f"{metric['mean']:.4f}"

    for name, row in rows.items():
        epochs = f"{row['epochs_run']:.0f}" if row["epochs_run"] else "–"
        seconds = f"{row['train_seconds']:.0f}" if row["train_seconds"] else "–"
        memory = f"{row['peak_rss_mb']:.0f}" if row["peak_rss_mb"] else "–"
        lines.append(f"| {name} | {row['n_seeds']} | {fmt(row['auprc'])} | {fmt(row['auroc'])} | "
                     f"{row['accuracy']['mean']:.4f} | {seconds} | {epochs} | {memory} |")
    table = "\n".join(lines)
    (out / "summary.md").write_text(table + "\n")
    print(table)
    _plot_k_sweep(rows, out / "k_sweep.png")
    _plot_rows(rows, out / "rows.png")
    return rows


def _pyplot():
    """matplotlib's pyplot on the file-only Agg backend (no display on benchmark machines)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_k_sweep(rows: dict, path: Path) -> None:
    """AUPRC and AUROC against k (mean ± sd over seeds), with the other fusions as lines."""
    points = [(k, rows[name]) for k, name in K_SWEEP if name in rows]
    if len(points) < 2:
        return
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6))
    for ax, metric in zip(axes, ("auprc", "auroc")):
        ax.errorbar([k for k, _ in points], [r[metric]["mean"] for _, r in points],
                    yerr=[r[metric]["sd"] or 0 for _, r in points], marker="o", capsize=3,
                    color="C0", label="mufuse (recommended single model)")
        for i, other in enumerate(("add", "concat", "scane")):
            if other in rows:
                ax.axhline(rows[other][metric]["mean"], color=f"C{i + 1}", ls="--", lw=1,
                           label=f"{other} (mean)")
        ax.set_xscale("log", base=2)
        ax.set(xlabel="partition factor k  (d_f = 64, d_v = 64 / k)", ylabel=f"val {metric.upper()}")
    axes[0].legend(fontsize=8)
    fig.suptitle("MuFuse partition factor on P12 val, mean ± sd over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _plot_rows(rows: dict, path: Path) -> None:
    """Every row's val AUPRC and AUROC: mean ± sd over seeds, each seed as a dot."""
    plt = _pyplot()
    names = list(rows)[::-1]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.32 * len(names) + 1.2), sharey=True)
    for ax, metric in zip(axes, ("auprc", "auroc")):
        for y, name in enumerate(names):
            stat = rows[name][metric]
            ax.errorbar(stat["mean"], y, xerr=stat["sd"] or 0, fmt="o", color="C0", capsize=3)
            ax.plot(stat["values"], [y] * len(stat["values"]), "x", color="C1", ms=4)
        ax.set(xlabel=f"val {metric.upper()}")
        ax.grid(axis="x", lw=0.3)
    axes[0].set_yticks(range(len(names)), names)
    fig.suptitle("P12 val: mean ± sd over seeds (crosses: single seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    p_run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p_run.add_argument("--out", type=Path, default=OUT)
    p_run.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                       help="extra settings for every MedFuse row")
    p_base = sub.add_parser("baseline")
    p_base.add_argument("--model", choices=["xgboost", "random_forest", "grud", "cv_epochs"],
                        required=True)
    p_base.add_argument("--seed", type=int, default=0)
    p_base.add_argument("--out", type=Path, required=True)
    p_sum = sub.add_parser("summarize")
    p_sum.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if args.command == "run":
        from medfuse_sk.cli import parse_setting
        extra = dict(parse_setting(s) for s in args.set)
        for seed in args.seeds:
            for name in args.rows:
                run_row(name, seed, args.out, extra)
    elif args.command == "baseline":
        from medfuse_sk.utils import keep_freed_memory_for_reuse

        keep_freed_memory_for_reuse()
        baseline(args.model, args.seed, args.out)
    else:
        summarize(args.out)


if __name__ == "__main__":
    main()
