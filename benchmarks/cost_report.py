"""What a default fit costs, and where the time goes (cost issue, items 1 and 4).

Old defaults (``OLD``: every modelling parameter of ``MedFuseClassifier`` and its tokenizer as
they were before the cost issue, written out) against a candidate (``CANDIDATE``; once the
defaults change, ``new`` is ``MedFuseClassifier()`` as it is), fitted one after the other for
each seed in one run, each fit in its own process with the same number of threads, on:

- ``p12``: PhysioNet 2012, the 7,680 train stays as a new user fits them (raw events), val
  scored;
- ``p19``: PhysioNet 2019 set A, the train split of the package's ``p19_setA_split.csv``
  (first 24 h → sepsis later), val scored;
- ``p12-1000``, ``p19-2000`` (any ``COHORT-N``): N training stays of the cohort drawn
  stratified with seed 0, its whole val split scored — small cohorts, where ``max_epochs="auto"``
  trains the most epochs.

Each fit reports wall and CPU seconds, epochs, tokens per epoch and per second, the
floating-point work of an epoch (counted by ``torch.utils.flop_counter`` over a sample of
training batches, forward and backward, scaled by tokens), and the share of this CPU's matrix
multiply throughput it achieved (a 1024² fp32 matmul timed in the same process, same threads).
Results are written as each fit finishes (the command resumes where it stopped)::

    python benchmarks/cost_report.py run --cohorts p12 p19 --rows old candidate --seeds 0 1 2 3 4
    python benchmarks/cost_report.py summarize     # benchmarks/results/cost/summary.md

``--jobs 2`` runs two fits side by side (one thread each): the rows of a seed still share the
machine alike, since every fit has one of the two cores.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

OUT = Path("benchmarks/results/cost")
CACHE = Path(os.environ.get("MEDFUSE_COST_CACHE", "/tmp/medfuse_cost"))
SHARED = Path("..") / "shared" / "data"
DATA_DIRS = {"p12": SHARED / "physionet2012", "p19": SHARED / "physionet2019"}

#: The tokenizer's and the network's defaults before the cost issue, in full.
OLD_TOKENIZER = {"window": None, "horizon": None, "max_tokens": 1000, "truncate": "last",
                 "scaling": "robust", "clip": 5.0, "count_tokens": False}
OLD = {"fusion": "mufuse", "d_model": 64, "partition_factor": 1, "gate": "none",
       "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0, "beta_init": 1.0,
       "time_encoding": True, "n_layers": 1, "n_heads": 4, "dim_feedforward": None,
       "dropout": 0.1, "norm_first": False, "pooling": "mean+latest", "series_summary": True,
       "static_branch": False, "loss": "bce", "class_weight": None, "lr": 0.001,
       "lr_schedule": "cosine", "warmup_epochs": 1.0, "weight_decay": 0.01, "max_epochs": 20,
       "batch_size": 64, "patience": 5, "n_models": 1, "weight_averaging": 0.99,
       "token_dropout": 0.1, "valid_size": 0.0, "threshold": 0.5}
#: Candidate defaults, as changes from OLD (chosen by the seed-0 exploration in
#: docs/performance.md, "The cost of a default fit"): one 64-wide head, a feed-forward layer as
#: wide as the tokens, twice the learning rate for half the epochs, and 2-hour windows
#: (``candidate``) or 1-hour windows (``candidate_1h``: no fewer tokens on hourly data).
#: ``candidate_heads4``: the old network (four heads, the default feed-forward width) with only
#: the training schedule and the windows changed (the P19 exploration's row J);
#: ``candidate_heads4_e8``: the same for 8 epochs.
CANDIDATE = {**OLD, "n_heads": 1, "dim_feedforward": 64, "lr": 0.002, "max_epochs": 10}
CANDIDATE_HEADS4 = {**OLD, "lr": 0.002, "max_epochs": 10}
ROWS = {"old": (OLD_TOKENIZER, OLD),
        "candidate": ({**OLD_TOKENIZER, "window": 2.0}, CANDIDATE),
        "candidate_1h": ({**OLD_TOKENIZER, "window": 1.0}, CANDIDATE),
        "candidate_heads4": ({**OLD_TOKENIZER, "window": 2.0}, CANDIDATE_HEADS4),
        "candidate_heads4_e8": ({**OLD_TOKENIZER, "window": 2.0},
                                {**CANDIDATE_HEADS4, "max_epochs": 8}),
        "new": None}  # None: the library's defaults as they are
#: The first new defaults (2026-12-06: lr 2e-3 whatever the epochs), and one change at a time
#: from them, to find what moved a small cohort's scores: one token per event, the old learning
#: rate (what ``lr="auto"`` now gives 20 epochs), 12 epochs.
NEW_TOKENIZER = {**OLD_TOKENIZER, "window": 2.0}
NEW = {**OLD, "lr": 0.002, "max_epochs": "auto"}
ROWS.update({"new_lr2e-3": (NEW_TOKENIZER, NEW), "new_raw": (OLD_TOKENIZER, NEW),
             "new_lr1e-3": (NEW_TOKENIZER, {**NEW, "lr": 0.001}),
             "new_e12": (NEW_TOKENIZER, {**NEW, "max_epochs": 12})})


def cohort_data(cohort: str) -> dict:
    """``{"train": (X, y), "val": (X, y)}`` as EventSets, cached in ``CACHE``. ``p12-1000``:
    1,000 training stays of ``p12`` drawn stratified by label with seed 0, the whole val split
    scored (a small cohort)."""
    if "-" in cohort:
        from sklearn.model_selection import train_test_split

        name, stays = cohort.split("-")
        full = cohort_data(name)
        X, y = full["train"]
        keep, _ = train_test_split(np.arange(len(X)), train_size=int(stays), stratify=y,
                                   random_state=0)
        keep = np.sort(keep)
        return {"train": (X.take(keep), y[keep]), "val": full["val"]}
    path = CACHE / f"{cohort}.pkl"
    if path.exists():
        with open(path, "rb") as handle:
            return pickle.load(handle)
    from medfuse_sk.datasets import load_cohort

    out = {}
    for part in ("train", "val"):
        data = load_cohort(cohort, split=part, data_dir=DATA_DIRS.get(cohort), progress=False)
        X = data.to_event_set()
        out[part] = (X, data.labels.loc[X.stay_ids].to_numpy())
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        pickle.dump(out, handle)
    return out


def matmul_gflops(seconds: float = 2.0) -> float:
    """This process's fp32 matrix-multiply throughput (1024 × 1024 operands), GFLOP/s."""
    import torch

    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        a @ b
    count, began = 0, time.perf_counter()
    while time.perf_counter() - began < seconds:
        a @ b
        count += 1
    return 2 * 1024**3 * count / (time.perf_counter() - began) / 1e9


def epoch_flops(model, X, y, n_batches: int = 20) -> tuple[float, int]:
    """Floating-point operations of one training epoch (forward + backward), counted over the
    first ``n_batches`` training batches (length-bucketed chunks in random order) and scaled
    by stays; and the tokens of an epoch."""
    from torch.utils.flop_counter import FlopCounterMode

    from medfuse_sk.models import TokenDataset

    tokens = model.transform_tokens(X)
    dataset = TokenDataset(tokens, y.astype(np.float32))
    counted_stays, counter = 0, FlopCounterMode(display=False)
    model.module_.train()
    with counter:
        for i, (Xi, yi) in enumerate(model.get_iterator(dataset, training=True)):
            if i == n_batches:
                break
            model.get_loss(model.infer(Xi), yi, X=Xi, training=True).backward()
            counted_stays += len(yi)
    model.module_.zero_grad(set_to_none=True)
    return counter.get_total_flops() * len(tokens) / counted_stays, int(tokens.n_rows)


def run_one(cohort: str, row: str, seed: int) -> dict:
    import torch

    from medfuse_sk import EventTokenizer, MedFuseClassifier
    from medfuse_sk.evaluation import binary_metrics

    data = cohort_data(cohort)
    X, y = data["train"]
    spec = ROWS[row]
    if spec is None:
        model = MedFuseClassifier(random_state=seed, verbose=0)
    else:
        tokenizer, params = spec
        model = MedFuseClassifier(tokenizer=EventTokenizer(**tokenizer), random_state=seed,
                                  verbose=0, **params)
    throughput = matmul_gflops()
    cpu0, began = time.process_time(), time.perf_counter()
    model.fit(X, y)
    fit_wall, fit_cpu = time.perf_counter() - began, time.process_time() - cpu0
    epochs = len(model.history_)
    flops, tokens = epoch_flops(model, X, y)
    X_val, y_val = data["val"]
    began = time.perf_counter()
    proba = model.predict_proba(X_val)[:, 1]
    return {"cohort": cohort, "row": row, "seed": seed, "params": model.get_params(deep=False)
            if spec is None else spec[1], "tokenizer": None if spec is None else spec[0],
            "n_train": len(X), "fit_wall_s": fit_wall, "fit_cpu_s": fit_cpu,
            "predict_wall_s": time.perf_counter() - began, "epochs": epochs,
            "threads": model.n_threads_, "torch_threads": torch.get_num_threads(),
            "tokens_per_epoch": tokens, "tokens_per_s": tokens * epochs / fit_wall,
            "gflop_per_epoch": flops / 1e9, "matmul_gflops": throughput,
            "share_of_matmul_throughput": flops * epochs / fit_wall / 1e9 / throughput,
            "val": binary_metrics(y_val, proba, n_bootstrap=1000, random_state=0),
            "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def _result_path(cohort: str, row: str, seed: int) -> Path:
    return OUT / f"{cohort}_{row}_seed{seed}.json"


def run(cohorts: list[str], rows: list[str], seeds: list[int], jobs: int, threads: int) -> None:
    for cohort in cohorts:
        cohort_data(cohort)  # the cache is filled here, outside every timed process
    OUT.mkdir(parents=True, exist_ok=True)
    # the rows of one seed one after the other; seeds side by side when jobs > 1
    queues = [[(c, r, s) for c in cohorts for r in rows] for s in seeds]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MEDFUSE_NUM_THREADS": str(threads)}

    def work(queue):
        for cohort, row, seed in queue:
            path = _result_path(cohort, row, seed)
            if path.exists():
                continue
            began = time.strftime("%H:%M:%S")
            done = subprocess.run([sys.executable, __file__, "one", cohort, row, str(seed)],
                                  env=env, check=False)
            print(f"{began} {cohort} {row} seed {seed}: exit {done.returncode}", flush=True)

    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(work, queues))


def summarize() -> None:
    results = [json.loads(p.read_text()) for p in sorted(OUT.glob("*_seed*.json"))]
    lines = ["| cohort | row | seeds | val AUPRC | val AUROC | fit wall s (median) | fit CPU s "
             "(median) | epochs | tokens/s | GFLOP/epoch | share of matmul peak | peak GB |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    by = {}
    for r in results:
        by.setdefault((r["cohort"], r["row"]), []).append(r)
    for (cohort, row), rs in sorted(by.items()):
        ap = [r["val"]["auprc"]["value"] for r in rs]
        au = [r["val"]["auroc"]["value"] for r in rs]
        sd_ap, sd_au = (np.std(ap, ddof=1), np.std(au, ddof=1)) if len(rs) > 1 else (0.0, 0.0)
        lines.append(
            f"| {cohort} | {row} | {len(rs)} | {np.mean(ap):.3f} ± {sd_ap:.3f} "
            f"| {np.mean(au):.3f} ± {sd_au:.3f} "
            f"| {np.median([r['fit_wall_s'] for r in rs]):.0f} "
            f"| {np.median([r['fit_cpu_s'] for r in rs]):.0f} "
            f"| {np.median([r['epochs'] for r in rs]):.0f} "
            f"| {np.median([r['tokens_per_s'] for r in rs]):.0f} "
            f"| {np.median([r['gflop_per_epoch'] for r in rs]):.0f} "
            f"| {np.median([r['share_of_matmul_throughput'] for r in rs]):.1%} "
            f"| {np.max([r['peak_rss_gb'] for r in rs]):.2f} |")
    lines += ["", "Paired by seed (row − old): mean difference of val AUPRC / AUROC, and of fit wall "
              "time as a ratio old / row.", ""]
    for (cohort, row), rs in sorted(by.items()):
        if row == "old":
            continue
        old = {r["seed"]: r for r in by.get((cohort, "old"), [])}
        pairs = [(r, old[r["seed"]]) for r in rs if r["seed"] in old]
        if not pairs:
            continue
        d_ap = [a["val"]["auprc"]["value"] - b["val"]["auprc"]["value"] for a, b in pairs]
        d_au = [a["val"]["auroc"]["value"] - b["val"]["auroc"]["value"] for a, b in pairs]
        speed = [b["fit_wall_s"] / a["fit_wall_s"] for a, b in pairs]
        lines.append(f"- {cohort} {row}: {len(pairs)} seeds, ΔAUPRC {np.mean(d_ap):+.4f} "
                     f"(per seed {', '.join(f'{d:+.3f}' for d in d_ap)}), ΔAUROC "
                     f"{np.mean(d_au):+.4f}, wall-time speed-up {np.median(speed):.2f}× "
                     f"(min {np.min(speed):.2f}×)")
    (OUT / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--cohorts", nargs="+", default=["p12", "p19"])
    r.add_argument("--rows", nargs="+", default=["old", "candidate"], choices=sorted(ROWS))
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    r.add_argument("--jobs", type=int, default=2)
    r.add_argument("--threads", type=int, default=1)
    one = sub.add_parser("one")
    one.add_argument("cohort")
    one.add_argument("row")
    one.add_argument("seed", type=int)
    sub.add_parser("summarize")
    args = parser.parse_args()
    if args.command == "run":
        run(args.cohorts, args.rows, args.seeds, args.jobs, args.threads)
    elif args.command == "one":
        result = run_one(args.cohort, args.row, args.seed)
        _result_path(args.cohort, args.row, args.seed).write_text(json.dumps(result, indent=1,
                                                                             default=str))
    else:
        summarize()


if __name__ == "__main__":
    main()
