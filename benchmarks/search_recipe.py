"""A fusion search a user can afford (cost issue, item 3): ``GridSearchCV`` over ``fusion`` ×
``partition_factor`` on the P12 training stays, ``cv=3``, scored by AUPRC, two fits side by
side (one thread each) — on joblib's local process backend and on a Dask ``LocalCluster`` of two
one-thread workers — timed, with the chosen setting scored on val.

``partition_factor`` changes only the MuFuse gate (``d_v = d_model / k``), so the grid is a list:
MuFuse with k ∈ {1, 2, 4, 8}, then ``add``, ``concat`` and ``scane`` once each (7 settings, 21
fits). The tokenizer is fitted inside each fit (a fit's tokenising is about 2 % of it on P12;
docs/performance.md). Run::

    python benchmarks/search_recipe.py --backend loky --out benchmarks/results/search/p12_loky.json
    python benchmarks/search_recipe.py --backend dask --out benchmarks/results/search/p12_dask.json

``--model`` names the registered MedFuse model searched (default ``medfuse``, the library's
defaults; ``medfuse_fast``: the fast recipe, about a fifth of a default fit on P12);
``--params`` (JSON) changes its parameters; ``--stays N`` searches a seeded subsample (for a
quick check).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np

GRID = [{"fusion": ["mufuse"], "partition_factor": [1, 2, 4, 8]},
        {"fusion": ["add", "concat", "scane"]}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["loky", "dask"], default="loky")
    parser.add_argument("--out", required=True)
    parser.add_argument("--model", default="medfuse")
    parser.add_argument("--params", default="{}")
    parser.add_argument("--stays", type=int, default=0)
    parser.add_argument("--cv", type=int, default=3)
    parser.add_argument("--data-dir", default=str(Path("..") / "shared" / "data" / "physionet2012"))
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    import joblib
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    from medfuse_sk.datasets import load_cohort
    from medfuse_sk.evaluation import binary_metrics
    from medfuse_sk.models import create_model

    train = load_cohort("p12", split="train", data_dir=args.data_dir, progress=False)
    val = load_cohort("p12", split="val", data_dir=args.data_dir, progress=False)
    X, y = train.to_event_set(), None
    y = train.labels.loc[X.stay_ids].to_numpy()
    if args.stays and args.stays < len(X):
        rows = np.sort(np.random.default_rng(0).choice(len(X), args.stays, replace=False))
        X, y = X.take(rows), y[rows]
    params = json.loads(args.params)
    search = GridSearchCV(create_model(args.model, random_state=0, verbose=0, **params), GRID,
                          cv=StratifiedKFold(args.cv, shuffle=True, random_state=0),
                          scoring="average_precision", n_jobs=2, refit=True, verbose=2)
    began = time.perf_counter()
    if args.backend == "dask":
        import dask
        from dask.distributed import Client, LocalCluster

        # Dask's nannies start workers with MALLOC_TRIM_THRESHOLD_=65536, which made a torch
        # fit 1.6x slower before the library lifted the fixed mmap threshold behind it
        # (docs/scaling.md, "Dask workers and MALLOC_TRIM_THRESHOLD_"); kept as the timed run had it
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True) as cluster, \
                Client(cluster), joblib.parallel_backend("dask"):
            search.fit(X, y)
    else:
        search.fit(X, y)
    wall = time.perf_counter() - began
    X_val = val.to_event_set()
    proba = search.predict_proba(X_val)[:, 1]
    metrics = binary_metrics(val.labels.loc[X_val.stay_ids].to_numpy(), proba, n_bootstrap=1000,
                             random_state=0)
    results = search.cv_results_
    out = {"backend": args.backend, "model": args.model, "stays": len(X), "cv": args.cv,
           "params": params, "estimator": {k: v for k, v in search.estimator.get_params(deep=True).items()
                         if isinstance(v, (int, float, str, bool, tuple, type(None)))},
           "grid": GRID, "wall_s": wall, "n_fits": len(results["params"]) * args.cv + 1,
           "best_params": search.best_params_, "best_inner_auprc": search.best_score_,
           "val": metrics, "machine": f"{platform.machine()} ({os.cpu_count()} cores)",
           "settings": [{"params": p, "mean_auprc": m, "sd_auprc": s, "mean_fit_s": f}
                        for p, m, s, f in zip(results["params"], results["mean_test_score"],
                                              results["std_test_score"], results["mean_fit_time"],
                                              strict=True)]}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str))
    print(f"{args.backend}: {out['n_fits']} fits in {wall:.0f} s; best {search.best_params_} "
          f"(inner AUPRC {search.best_score_:.3f}); val AUPRC {metrics['auprc']['value']:.3f}")


if __name__ == "__main__":
    main()
