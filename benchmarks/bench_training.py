"""CPU training speed of MedFuseClassifier on the PhysioNet 2012 train split.

Run: ``python benchmarks/bench_training.py [--epochs 3] [--window 2] [--out FILE]``.

Trains the compact reference configuration of the issue (d_f 64, k 4, 2 layers, 4 heads,
batch 64, 2-hour windows, length-bucketed batches, fused attention) on all 7,680 train stays
with no validation split, and reports per-epoch wall time (median), tokens per second and
the process's peak resident memory for the whole run (load, tokenise, train).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_physionet2012


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=None, help="PhysioNet 2012 folder (default: shared)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--window", type=float, default=2.0, help="hours; 0 = raw events")
    parser.add_argument("--d-model", type=int, default=64)
    parser.add_argument("--k", type=int, default=4)
    parser.add_argument("--kernel", default="torch")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    start = time.perf_counter()
    data = load_physionet2012(args.data, split="train", progress=False)
    events = EventSet.from_long(data.events, categorical=data.categorical)
    window = args.window or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokens = EventTokenizer(window=window, horizon=48.0 if window else None).fit_transform(events)
    prep_s = time.perf_counter() - start
    y = data.labels.loc[tokens.stay_ids].to_numpy()

    clf = MedFuseClassifier(d_model=args.d_model, partition_factor=args.k, n_layers=2, n_heads=4,
                            batch_size=64, max_epochs=args.epochs, valid_size=0, dropout=0.1,
                            kernel=args.kernel, device=args.device, random_state=0, verbose=1)
    clf.fit(tokens, y)
    durations = np.array(clf.history_[:, "dur"])
    epoch_s = float(np.median(durations))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "stays": len(tokens), "tokens_per_epoch": tokens.n_rows,
        "window_h": window, "d_model": args.d_model, "partition_factor": args.k,
        "kernel": args.kernel, "device": args.device, "epochs": args.epochs,
        "epoch_seconds": durations.round(2).tolist(), "epoch_seconds_median": round(epoch_s, 2),
        "tokens_per_second": round(tokens.n_rows / epoch_s),
        "load_and_tokenise_seconds": round(prep_s, 2),
        "peak_rss_mb": round(peak_mb),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
    }
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
