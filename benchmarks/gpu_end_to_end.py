"""End-to-end GPU figure: MedFuseClassifier on P12 with ``kernel="triton"`` vs ``"torch"``.

    python benchmarks/gpu_end_to_end.py --data DIR --seeds 0 1 2 --out benchmarks/results

For each seed and kernel: train the recommended configuration on the train split on CUDA
(early stopping on 10 % of train), score the val split, and record the median epoch time, the
val AUPRC/AUROC and the peak GPU memory. Writes ``e2e_<device>.json`` with the per-run rows
and, per kernel, the mean ± sd over seeds and the ratio of median epoch times.
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="PhysioNet 2012 folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--kernels", nargs="+", default=["triton", "torch"])
    parser.add_argument("--max-epochs", type=int, default=None)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("needs a CUDA device")
    from medfuse_sk.recipes import run_p12

    device = torch.cuda.get_device_name()
    rows = []
    for seed in args.seeds:
        for kernel in args.kernels:
            config = {"device": "cuda", "kernel": kernel}
            if args.max_epochs:
                config["max_epochs"] = args.max_epochs
            torch.cuda.reset_peak_memory_stats()
            result = run_p12(args.data, eval_split="val", config=config, seed=seed, verbose=0)
            row = {"seed": seed, "kernel": kernel, "auprc": result["auprc"]["value"],
                   "auroc": result["auroc"]["value"], "epochs_run": result["epochs_run"],
                   "epoch_seconds_median": result["epoch_seconds_median"],
                   "train_seconds": result["train_seconds"],
                   "peak_gpu_mb": round(torch.cuda.max_memory_allocated() / 2**20)}
            print(json.dumps(row), flush=True)
            rows.append(row)
    summary = {}
    for kernel in args.kernels:
        mine = [r for r in rows if r["kernel"] == kernel]
        summary[kernel] = {
            key: {"mean": float(np.mean([r[key] for r in mine])),
                  "sd": float(np.std([r[key] for r in mine], ddof=1)) if len(mine) > 1 else None}
            for key in ("auprc", "auroc", "epoch_seconds_median")}
    if {"triton", "torch"} <= summary.keys():
        summary["epoch_time_torch_over_triton"] = (
            summary["torch"]["epoch_seconds_median"]["mean"]
            / summary["triton"]["epoch_seconds_median"]["mean"])
    result = {"device": device, "config": result["config"], "rows": rows, "summary": summary}
    args.out.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^A-Za-z0-9]+", "-", device).strip("-").lower()
    path = args.out / f"e2e_{slug}.json"
    path.write_text(json.dumps(result, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
