"""CPU training speed and memory of MedFuseClassifier on the PhysioNet 2012 train split,
side by side with an eager PyTorch reference of the same size.

Run (about 10 minutes on 2 cores)::

    python benchmarks/bench_training.py --epochs 3 --out benchmarks/results/training_cpu.json

Both contenders train the compact configuration of the issue on all 7,680 train stays with no
validation split: d_f 64, k 4, 2 layers, 4 heads, feed-forward 128, batch 64, 2-hour windows,
length-bucketed batches, PyTorch's fused attention, AdamW.

- ``medfuse``: ``MedFuseClassifier`` (skorch loop, our encoder layer, dropout 0.1 on the
  byte-mask path, mean pooling over observed tokens).
- ``reference``: the plain-PyTorch baseline the issue's 28 s figure describes: the same
  MuFuse embedding, ``nn.TransformerEncoder`` (post-norm, GELU) with dropout 0 (dropout on the
  attention weights would force the slow non-fused attention path), a hand-written training loop
  over the same length-bucketed batches.

Both run with the glibc settings the ``medfuse`` command uses (``medfuse_sk/_memory.py``:
blocks below 32 MB from the heap, no trimming below 256 MB; ``--glibc-default`` keeps glibc's
defaults, which page-fault every batch's activations in afresh). Each
contender runs in its own process, so its peak resident memory (``ru_maxrss``: load,
tokenise and train) is its own; the two alternate ``--repeats`` times so that a slow spell of the
shared machine hits both. Reported: per-epoch wall time (median over epochs and repeats), tokens
per second, peak memory, and the ratio reference / medfuse of the median epoch times.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

CONFIG = {"d_model": 64, "partition_factor": 4, "n_layers": 2, "n_heads": 4,
          "dim_feedforward": 128, "batch_size": 64, "window": 2.0, "horizon": 48.0}


def _tokens(data_dir):
    from medfuse_sk import EventTokenizer
    from medfuse_sk.datasets import load_physionet2012

    data = load_physionet2012(data_dir, split="train", progress=False)
    events = data.to_event_set()
    labels = data.labels.loc[events.stay_ids].to_numpy()
    del data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tokenizer = EventTokenizer(window=CONFIG["window"], horizon=CONFIG["horizon"])
        tokens = tokenizer.fit_transform(events)
    return tokens, labels


def _train_medfuse(tokens, labels, epochs: int) -> list[float]:
    from medfuse_sk import MedFuseClassifier
    from medfuse_sk.recipes import PAPER

    # the measured configuration: the paper's method at the compact size of CONFIG
    model = {k: v for k, v in CONFIG.items() if k not in ("window", "horizon")}
    clf = MedFuseClassifier(**{**PAPER, **model, "max_epochs": epochs, "valid_size": 0},
                            kernel="torch", random_state=0, verbose=0)
    clf.fit(tokens, labels)
    return [float(d) for d in clf.history_[:, "dur"]]


class _Reference(torch.nn.Module):
    def __init__(self, n_features: int, n_categories: int) -> None:
        super().__init__()
        from medfuse_sk.models import MuFuseEmbedding

        d = CONFIG["d_model"]
        self.embedding = MuFuseEmbedding(n_features, n_categories, d,
                                         partition_factor=CONFIG["partition_factor"],
                                         kernel="torch")
        layer = torch.nn.TransformerEncoderLayer(d, CONFIG["n_heads"], CONFIG["dim_feedforward"],
                                                 dropout=0.0, activation="gelu", batch_first=True)
        self.encoder = torch.nn.TransformerEncoder(layer, CONFIG["n_layers"],
                                                   enable_nested_tensor=False)
        self.head = torch.nn.Sequential(torch.nn.Linear(d, d // 2), torch.nn.GELU(),
                                        torch.nn.Linear(d // 2, 1))

    def forward(self, feature, value, category, time, mask):
        x = self.embedding(feature, value, time, category)
        x = self.encoder(x, src_key_padding_mask=~mask)
        weights = mask.unsqueeze(-1).to(x.dtype)
        return self.head((x * weights).sum(1) / weights.sum(1)).squeeze(-1)


def _train_reference(tokens, labels, epochs: int) -> list[float]:
    from medfuse_sk.models import LengthBucketSampler, TokenDataset

    torch.manual_seed(0)
    dataset = TokenDataset(tokens, labels)
    model = _Reference(tokens.n_features, tokens.n_categories)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    durations = []
    for epoch in range(epochs):
        started = time.perf_counter()
        model.train()
        for indices in LengthBucketSampler(dataset.lengths, CONFIG["batch_size"], seed=epoch):
            batch, y = dataset.collate(indices)
            optimizer.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(model(**batch), y)
            loss.backward()
            optimizer.step()
        durations.append(time.perf_counter() - started)
    return durations


def run_one(contender: str, epochs: int, data_dir) -> dict:
    started = time.perf_counter()
    tokens, labels = _tokens(data_dir)
    prepared = time.perf_counter() - started
    train = _train_medfuse if contender == "medfuse" else _train_reference
    durations = train(tokens, labels, epochs)
    return {"contender": contender, "epoch_seconds": [round(d, 2) for d in durations],
            "tokens_per_epoch": int(tokens.n_rows), "stays": len(tokens),
            "load_and_tokenise_seconds": round(prepared, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=None, help="PhysioNet 2012 folder (default: shared)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=1, help="alternations of the contenders")
    parser.add_argument("--contenders", nargs="+", default=["medfuse", "reference"],
                        choices=["medfuse", "reference"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--glibc-default", action="store_true",
                        help="keep glibc's default allocator settings (see medfuse_sk/_memory.py)")
    parser.add_argument("--one", choices=["medfuse", "reference"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:  # child process: one contender, JSON on stdout's last line
        if not args.glibc_default:
            from medfuse_sk.utils import keep_freed_memory_for_reuse

            keep_freed_memory_for_reuse()
        print(json.dumps(run_one(args.one, args.epochs, args.data)))
        return

    runs = []
    for repeat in range(args.repeats):
        for contender in args.contenders:
            cmd = [sys.executable, __file__, "--one", contender, "--epochs", str(args.epochs)]
            if args.glibc_default:
                cmd.append("--glibc-default")
            if args.data:
                cmd += ["--data", args.data]
            output = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            run = json.loads(output.strip().splitlines()[-1])
            run["repeat"] = repeat
            print(f"{contender:>9}  epochs {run['epoch_seconds']} s  peak {run['peak_rss_mb']} MB",
                  flush=True)
            runs.append(run)

    summary = {}
    for contender in args.contenders:
        mine = [r for r in runs if r["contender"] == contender]
        epochs = np.concatenate([r["epoch_seconds"] for r in mine])
        median = float(np.median(epochs))
        summary[contender] = {
            "epoch_seconds_median": round(median, 2),
            "tokens_per_second": round(mine[0]["tokens_per_epoch"] / median),
            "peak_rss_mb_max": max(r["peak_rss_mb"] for r in mine),
            "load_and_tokenise_seconds_median": float(np.median(
                [r["load_and_tokenise_seconds"] for r in mine])),
        }
    result = {"config": CONFIG, "epochs_per_run": args.epochs, "summary": summary, "runs": runs,
              "glibc": "defaults" if args.glibc_default else "mmap 32 MB, trim 256 MB",
              "torch": torch.__version__, "threads": torch.get_num_threads(),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{platform.processor() or 'cpu'}"}
    if {"medfuse", "reference"} <= summary.keys():
        result["reference_over_medfuse"] = round(
            summary["reference"]["epoch_seconds_median"] / summary["medfuse"]["epoch_seconds_median"], 3)
    print(json.dumps({k: result[k] for k in ("summary", "reference_over_medfuse") if k in result},
                     indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
