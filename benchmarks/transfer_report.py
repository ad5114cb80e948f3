"""Pre-training and transfer experiments (issue 9): P19 set A "first 24 h → sepsis" task.

Each (row, seed) runs in its own process, one at a time (so its peak memory is its own), and
writes ``benchmarks/results/transfer/<row>/seed<k>/metrics.json`` as soon as it finishes; runs
already done are skipped, so the command resumes where it stopped.

    OMP_NUM_THREADS=1 python benchmarks/transfer_report.py run --rows p19_xgboost p19_scratch \\
        p19_pretrain p19_pretrained --seeds 0 1 2
    python benchmarks/transfer_report.py summarize      # markdown table + summary.json

Task (the cohort ``p19`` of ``medfuse_sk.datasets.load_cohort``): the events of a stay's first 24 ICU hours
(``t < 24``); label 1 when the first ``SepsisLabel = 1`` hour falls in ``[24, 72)`` (a 48-hour
horizon); stays labelled within the first 24 h, and stays whose record ends before 24 h, are
excluded (counts in ``task.json``). Splits: the fixed split of set A shipped with the package.
Training stays: a fixed stratified subsample of ``N_TRAIN`` of the task's train-split stays
(CPU budget), the same for every row and seed (``p19_xgboost_full``: all of them). Model
selection (MedFuse's best epoch, XGBoost's number of trees) on the task's val-split stays;
scores on the test-split stays, which nothing else touches.
Pre-training (``p19_pretrain``): masked value reconstruction on the first 24 h of *every*
train-split stay, labels unused (including the stays excluded from the task and those outside
the subsample), one run (seed 0) shared by the fine-tuning seeds.

P12 rows (the protocol of docs/p12-report.md: 2-hour windows over 48 h; early stopping on a
stratified 10 % of the training stays; scored on the standard val split): a small target of
``P12_TRAIN`` train stays; ``p12_pretrain`` pre-trains on all 7,680 train stays without labels;
``p12_from_p19*`` take P19's pre-trained network as the source, by feature name.
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
import pandas as pd

OUT = Path("benchmarks/results/transfer")
CACHE = Path(os.environ.get("MEDFUSE_TRANSFER_CACHE", "/tmp/medfuse_transfer"))
P19_DIR = Path(os.environ.get("MEDFUSE_P19_DIR", Path("..") / "shared" / "data" / "physionet2019"))
WINDOW, HORIZON = 24.0, 48.0
N_TRAIN = 4000
MAX_EPOCHS, PATIENCE = 8, 3
PRETRAIN_EPOCHS = 4
#: the MedFuse network of every row: the estimator's defaults (d_model 64, 1 layer, 4 heads)
NETWORK: dict = {}
#: the classifier's defaults when these rows ran (issue 9), spelled out: the defaults have
#: changed since (docs/p12-report.md, "Defaults on two cohorts"); P12 rows add the 10 % split
THEN: dict = {"series_summary": False, "weight_averaging": None}

ROWS = {
    "p19_xgboost": "XGBoost on per-stay aggregates, the same 4,000 training stays",
    "p19_xgboost_full": "XGBoost on per-stay aggregates, all train-split task stays",
    "p19_scratch": "MedFuse from scratch",
    "p19_pretrain": "masked-value pre-training on all train-split stays (no labels)",
    "p19_pretrained": "MedFuse initialised from p19_pretrain (embedding, projector, encoder)",
    "p12_scratch": "P12: MedFuse from scratch, 3,000 train stays",
    "p12_pretrain": "P12: masked-value pre-training on all 7,680 train stays (no labels)",
    "p12_pretrained": "P12: initialised from p12_pretrain (embedding, projector, encoder)",
    "p12_from_p19": "P12: feature rows from p19_pretrain by name (P12_FROM_P19), frozen 1 epoch",
    "p12_from_p19_all": "P12: everything from p19_pretrain (rows by name, projector, encoder), "
                        "rows frozen 1 epoch",
    # is pre-training a better start or only a faster one? the same two arms trained longer
    "p12_scratch_long": "P12: MedFuse from scratch, 3,000 train stays, 20 epochs (patience 5)",
    "p12_pretrained_long": "P12: initialised from p12_pretrain, 20 epochs (patience 5)",
    "p12_from_p19_long": "P12: feature rows from p19_pretrain, frozen 1 epoch, 20 epochs",
    "p12_from_p19_all_long": "P12: everything from p19_pretrain, rows frozen 1 epoch, 20 epochs",
}
#: rows trained longer than MAX_EPOCHS / PATIENCE
LONG = {"max_epochs": 20, "patience": 5}
P12_TRAIN = 3000
P12_DIR = Path(os.environ.get("MEDFUSE_P12_DIR", Path("..") / "shared" / "data" / "physionet2012"))


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------


def stratified_subsample(y: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Sorted positions of a fixed subsample of about ``n`` of the stays labelled ``y``, each
    class in its share (the CPU budget's training stays)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for label in (0, 1):
        pool = np.flatnonzero(y == label)
        k = int(round(n * len(pool) / len(y)))
        chosen.append(rng.choice(pool, size=k, replace=False))
    return np.sort(np.concatenate(chosen))


def p19_data() -> dict:
    """The task's EventSets (cached): train subsample, val, test, and the pre-training set."""
    path = CACHE / "p19_task.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    from medfuse_sk.data import make_window_task
    from medfuse_sk.datasets import load_cohort, load_physionet2019
    from medfuse_sk.datasets.physionet2019 import WINDOW

    cohort = load_cohort("p19", split="all", data_dir=P19_DIR, progress=False)
    X_all = cohort.to_event_set()
    task_split = cohort.stay_split.to_numpy()
    y = cohort.labels.to_numpy()
    train = np.flatnonzero(task_split == "train")
    train_sub = train[stratified_subsample(y[train], N_TRAIN)]
    # pre-training: the first 24 h of every train-split stay, the task's exclusions included
    # (built over all stays, then cut, so the features keep the order they have always had)
    data = load_physionet2019(P19_DIR, split="all", progress=False)
    unlabelled = make_window_task(data.events, pd.Series(np.nan, index=data.onset.index),
                                  window=WINDOW, warn=False)
    X_pre = unlabelled.to_event_set(categorical=data.categorical)
    in_train = data.stay_ids[data.stay_split.to_numpy() == "train"]
    X_pre = X_pre[np.flatnonzero(np.isin(X_pre.stay_ids, in_train))]
    out = {
        "train": (X_all[train_sub], y[train_sub]),
        "train_full": (X_all[train], y[train]),
        "val": (X_all[np.flatnonzero(task_split == "val")], y[task_split == "val"]),
        "test": (X_all[np.flatnonzero(task_split == "test")], y[task_split == "test"]),
        "pretrain": X_pre,
        # the window task's own counts (task.json)
        "task_report": {k: v for k, v in cohort.report.items()
                        if k not in ("cohort", "task", "excluded_stays", "loader")},
    }
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(out, handle)
    return out


def p12_data() -> dict:
    """P12 train subsample, the whole train split (pre-training) and val, as EventSets (cached)."""
    path = CACHE / "p12.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    from medfuse_sk.datasets import load_cohort

    out = {}
    for split in ("train", "val"):
        data = load_cohort("p12", split=split, data_dir=P12_DIR, progress=False)
        out[split] = (data.to_event_set(), data.labels.to_numpy())
    X, y = out["train"]
    sub = stratified_subsample(y, P12_TRAIN)
    out["pretrain"] = X
    out["train"] = (X[sub], y[sub])
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(out, handle)
    return out


def _p12_tokenizer():
    from medfuse_sk import EventTokenizer

    return EventTokenizer(window=2.0, horizon=48.0)  # the paper's protocol (docs/p12-report.md)


def _load_pretrainer(name: str):
    source = CACHE / f"{name}_seed0.pkl"
    if not source.exists():
        raise SystemExit(f"{source} is missing: run the row {name.replace('er', '')} first")
    with open(source, "rb") as handle:
        return pickle.load(handle)


# --------------------------------------------------------------------------------------------
# one run
# --------------------------------------------------------------------------------------------


def _scores(model, data: dict) -> dict:
    from medfuse_sk.evaluation import binary_metrics

    out = {}
    for part in ("val", "test"):
        if part not in data:
            continue
        X, y = data[part]
        began = time.perf_counter()
        proba = model.predict_proba(X)[:, 1]
        out[part] = binary_metrics(y, proba, n_bootstrap=1000, random_state=0)
        out[part]["predict_seconds"] = time.perf_counter() - began
    return out


def _xgboost_early_stopped_on(X, y, X_val, y_val, seed: int):
    """Aggregates → XGBoost (the settings of ``make_xgboost``), trees chosen on the val split."""
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    from medfuse_sk.models import StayAggregates

    aggregates = StayAggregates().fit(X)
    model = XGBClassifier(n_estimators=2000, learning_rate=0.02, max_depth=5, subsample=0.8,
                          colsample_bytree=0.6, tree_method="hist", eval_metric="aucpr",
                          early_stopping_rounds=100, n_jobs=1, random_state=seed)
    model.fit(aggregates.transform(X), y, eval_set=[(aggregates.transform(X_val), y_val)],
              verbose=False)
    return make_pipeline(aggregates, model)


def _with_val_split(row: str, X, y, val):
    """Tokens of the training stays and a skorch split that validates on the val split.

    The tokenizer is fitted on the training stays (for ``p19_pretrained``: the pretrainer's
    own, fitted on all train-split stays); the classifier receives tokens, and the fitted
    tokenizer is kept as ``_with_val_split.tokenizer`` to tokenize the test stays.
    """
    from skorch.helper import predefined_split

    from medfuse_sk import EventTokenizer
    from medfuse_sk.models import TokenDataset

    if row == "p19_pretrained":
        tokenizer = _load_pretrainer("p19_pretrainer").tokenizer_
    else:
        tokenizer = EventTokenizer().fit(X)
    _with_val_split.tokenizer = tokenizer
    X_val, y_val = val
    split = predefined_split(TokenDataset(tokenizer.transform(X_val), y_val.astype(np.float32)))
    return tokenizer.transform(X), y, split


def run_one(row: str, seed: int) -> dict:
    data = p12_data() if row.startswith("p12") else p19_data()
    import torch

    torch.set_num_threads(1)
    result: dict = {"row": row, "seed": seed, "description": ROWS[row]}
    X, y = data["train_full" if row == "p19_xgboost_full" else "train"]
    began = time.perf_counter()
    if row.startswith("p19_xgboost"):
        model = _xgboost_early_stopped_on(X, y, *data["val"], seed)
        result["fit_seconds"] = time.perf_counter() - began
    elif row in ("p19_pretrain", "p12_pretrain"):
        from medfuse_sk.models import MedFusePretrainer

        tokenizer = _p12_tokenizer() if row == "p12_pretrain" else None
        model = MedFusePretrainer("masked", max_epochs=PRETRAIN_EPOCHS, random_state=seed,
                                  verbose=1, tokenizer=tokenizer, **NETWORK).fit(data["pretrain"])
        result["fit_seconds"] = time.perf_counter() - began
        result["history"] = model.history_
        result["n_stays"] = len(data["pretrain"])
        result["n_tokens"] = int(model.tokenizer_.transform(data["pretrain"]).n_rows)
        CACHE.mkdir(parents=True, exist_ok=True)
        with open(CACHE / f"{row}er_seed{seed}.pkl", "wb") as handle:
            pickle.dump(model, handle)
        result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        return result
    else:
        from medfuse_sk import MedFuseClassifier
        from medfuse_sk.models import P12_FROM_P19, TransferEmbeddings

        settings = dict(max_epochs=MAX_EPOCHS, patience=PATIENCE, random_state=seed, verbose=1,
                        **NETWORK, **THEN)
        if row.endswith("_long"):
            settings.update(LONG)
            row = row.removesuffix("_long")
        if row.startswith("p12"):
            settings["tokenizer"] = _p12_tokenizer()
            settings["valid_size"] = 0.1
        if row.startswith("p19"):  # early stopping on the shipped val split, scored on test
            X, y, settings["train_split"] = _with_val_split(row, X, y, data["val"])
        if row in ("p19_scratch", "p12_scratch"):
            model = MedFuseClassifier(**settings)
        elif row in ("p19_pretrained", "p12_pretrained"):
            model = _load_pretrainer(row.replace("pretrained", "pretrainer")).make_classifier(
                **settings)
        elif row in ("p12_from_p19", "p12_from_p19_all"):
            parts = ("features",) if row == "p12_from_p19" else ("features", "value", "encoder")
            transfer = TransferEmbeddings(_load_pretrainer("p19_pretrainer"),
                                          name_map=P12_FROM_P19, parts=parts, freeze_epochs=1)
            model = MedFuseClassifier(callbacks=[("transfer", transfer)], **settings)
        else:
            raise SystemExit(f"unknown row {row!r}")
        model.fit(X, y)
        result["fit_seconds"] = time.perf_counter() - began
        if row.startswith("p19"):
            data = {**data, "test": (_with_val_split.tokenizer.transform(data["test"][0]),
                                     data["test"][1])}
        history = model.history_
        result["epochs"] = len(history)
        result["best_epoch"] = int(np.argmax(history[:, "valid_auprc"])) + 1
        result["history"] = [{k: h.get(k) for k in ("epoch", "train_loss", "valid_loss",
                                                    "valid_auprc", "valid_auroc", "dur")}
                             for h in history]
    result["n_train"] = len(X)
    result["n_train_positive"] = int(np.sum(y))
    if row.startswith("p19"):
        data = {k: v for k, v in data.items() if k != "val"}  # val chose the epoch / trees
    result.update(_scores(model, data))
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    return result


# --------------------------------------------------------------------------------------------
# driver and summary
# --------------------------------------------------------------------------------------------


def run(rows: list[str], seeds: list[int]) -> None:
    for row in rows:
        for seed in ([0] if row.endswith("_pretrain") else seeds):
            target = OUT / row / f"seed{seed}" / "metrics.json"
            if target.exists():
                print(f"[skip] {row} seed {seed}: done", flush=True)
                continue
            print(f"[run] {row} seed {seed}", flush=True)
            began = time.perf_counter()
            code = subprocess.call([sys.executable, __file__, "one", "--row", row,
                                    "--seed", str(seed)])
            print(f"[done] {row} seed {seed}: exit {code}, {time.perf_counter() - began:.0f} s",
                  flush=True)


def one(row: str, seed: int) -> None:
    result = run_one(row, seed)
    target = OUT / row / f"seed{seed}"
    target.mkdir(parents=True, exist_ok=True)
    (target / "metrics.json").write_text(json.dumps(result, indent=1, default=float))
    task = OUT / "task.json"
    if row.startswith("p19") and not task.exists():
        task.write_text(json.dumps(p19_data()["task_report"], indent=1))


def summarize() -> None:
    lines = ["| row | seeds | val AUPRC | val AUROC | test AUPRC | test AUROC | fit s | peak GB |",
             "|---|---|---|---|---|---|---|---|"]
    summary = {}
    for row in ROWS:
        runs = [json.loads(p.read_text()) for p in sorted((OUT / row).glob("seed*/metrics.json"))]
        if not runs:
            continue
        entry = {"seeds": [r["seed"] for r in runs],
                 "fit_seconds_median": float(np.median([r["fit_seconds"] for r in runs])),
                 "peak_rss_gb_max": float(max(r["peak_rss_gb"] for r in runs))}
        cells = []
        for part in ("val", "test"):
            for metric in ("auprc", "auroc"):
                if part not in runs[0] or "auprc" not in runs[0].get(part, {}):
                    cells.append("-")
                    continue
                values = [r[part][metric]["value"] for r in runs]
                entry[f"{part}_{metric}"] = values
                ci = runs[0][part][metric]
                spread = f" ± {np.std(values, ddof=1):.3f}" if len(values) > 1 else " (1 seed)"
                cells.append(f"{np.mean(values):.3f}{spread} "
                             f"(seed {runs[0]['seed']} CI {ci['ci_low']:.3f}–{ci['ci_high']:.3f})")
        summary[row] = entry
        lines.append(f"| {row} | {len(runs)} | " + " | ".join(cells)
                     + f" | {entry['fit_seconds_median']:.0f} | {entry['peak_rss_gb_max']:.2f} |")
    table = "\n".join(lines)
    (OUT / "summary.md").write_text(table + "\n")
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1))
    print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--rows", nargs="+", default=list(ROWS), choices=list(ROWS))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    o = sub.add_parser("one")
    o.add_argument("--row", required=True, choices=list(ROWS))
    o.add_argument("--seed", type=int, required=True)
    sub.add_parser("summarize")
    args = parser.parse_args()
    if args.command == "run":
        run(args.rows, args.seeds)
    elif args.command == "one":
        one(args.row, args.seed)
    else:
        summarize()


if __name__ == "__main__":
    main()
