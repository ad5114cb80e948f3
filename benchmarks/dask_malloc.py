"""One MedFuse fit timed in the main process, in a Dask ``LocalCluster`` worker with Dask's
default ``MALLOC_TRIM_THRESHOLD_=65536`` and with it unset, and in a plain process started with
that variable (docs/scaling.md, "Dask workers and MALLOC_TRIM_THRESHOLD_"). Each case runs in
its own process: a ``LocalCluster`` also sets the variable in the client's process. Results:
``dask_malloc.json`` before the library lifted the fixed mmap threshold, ``dask_malloc_lifted.json``
with it.

    python benchmarks/dask_malloc.py --out benchmarks/results/dask_malloc.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

CASES = ("main", "dask_default", "dask_unset", "main_trim")


def fit_once(X, y, epochs: int) -> dict:
    import torch

    from medfuse_sk.models import create_model

    wall, cpu = time.perf_counter(), time.thread_time()
    create_model("medfuse_fast", random_state=0, verbose=0, max_epochs=epochs).fit(X, y)
    return {"wall_s": time.perf_counter() - wall, "thread_cpu_s": time.thread_time() - cpu,
            "torch_threads": torch.get_num_threads(),
            "MALLOC_TRIM_THRESHOLD_": os.environ.get("MALLOC_TRIM_THRESHOLD_")}


def case(name: str, data_dir: str, stays: int, epochs: int, repeats: int) -> list[dict]:
    import numpy as np

    from medfuse_sk.datasets import load_cohort

    train = load_cohort("p12", split="train", data_dir=data_dir, progress=False)
    X = train.to_event_set()
    y = train.labels.loc[X.stay_ids].to_numpy()
    rows = np.sort(np.random.default_rng(0).choice(len(X), stays, replace=False))
    X, y = X.take(rows), y[rows]
    if not name.startswith("dask"):
        return [fit_once(X, y, epochs) for _ in range(repeats)]
    import dask
    from dask.distributed import Client, LocalCluster

    if name == "dask_unset":
        dask.config.set({"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None})
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True) as cluster, \
            Client(cluster) as client:
        return [client.submit(fit_once, X, y, epochs, pure=False).result()
                for _ in range(repeats)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--data-dir", default=str(Path("..") / "shared" / "data" / "physionet2012"))
    parser.add_argument("--stays", type=int, default=800)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--case", choices=CASES, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(case(args.case, args.data_dir, args.stays, args.epochs, args.repeats)))
        return
    results = {}
    base = {k: v for k, v in os.environ.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    base.update(OMP_NUM_THREADS="1", MEDFUSE_NUM_THREADS="1")
    for name in CASES:
        env = {**base, "MALLOC_TRIM_THRESHOLD_": "65536"} if name == "main_trim" else base
        done = subprocess.run([sys.executable, __file__, "--case", name, "--data-dir",
                               args.data_dir, "--stays", str(args.stays), "--epochs",
                               str(args.epochs), "--repeats", str(args.repeats)],
                              env=env, capture_output=True, text=True, check=True)
        results[name] = json.loads(done.stdout.strip().splitlines()[-1])
        print(name, [round(r["thread_cpu_s"], 1) for r in results[name]], flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"stays": args.stays, "epochs": args.epochs,
                                              "cases": results}, indent=1))


if __name__ == "__main__":
    main()
