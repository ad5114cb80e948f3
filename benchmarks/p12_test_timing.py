"""How long ``medfuse p12 --eval-split test`` takes, without the held-back test records.

The test command fits on train + val (9,600 stays) and scores the 2,400 test stays. This runs
the very same code (``medfuse_sk.recipes.run_p12`` with ``eval_split="test"``) with the
loader's ``"test"`` answered by 2,400 stays of train + val instead: the fitting work is the
test command's exactly and the scoring work is the same size. Its scores mean nothing (those
stays were fitted on) and are not written; the timings and peak memory are.

    python benchmarks/p12_test_timing.py --out benchmarks/results/p12/test_timing/seed0.json
    python benchmarks/p12_test_timing.py --set n_heads=4 --out ...  # another configuration
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("MEDFUSE_P12_DIR", str(Path("..") / "shared" / "data" / "physionet2012"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    import numpy as np
    import torch

    import medfuse_sk.datasets as datasets
    from medfuse_sk.cli import parse_setting
    from medfuse_sk.datasets.physionet2012._loader import _listfile
    from medfuse_sk.recipes import run_p12
    from medfuse_sk.utils import keep_freed_memory_for_reuse

    keep_freed_memory_for_reuse()  # as the medfuse command does (and its workers, after it)
    real_loader = datasets.load_physionet2012

    def stand_in(data_dir=None, split="train", **kwargs):
        if split != "test":
            return real_loader(data_dir, split=split, **kwargs)
        pool = np.concatenate([_listfile(s)["RecordID"].to_numpy() for s in ("train", "val")])
        stays = np.random.default_rng(0).choice(pool, 2400, replace=False)
        return real_loader(data_dir, split=["train", "val"], stay_ids=stays, **kwargs)

    # the recipe finds the loader by name or through the cohort registry: answer both
    datasets.load_physionet2012 = stand_in
    spec = datasets.get_cohort("p12")
    datasets.register_cohort("p12", stand_in, task=spec.task, splits=spec.splits,
                             description=spec.description, replace=True)
    config = dict(parse_setting(s) for s in args.set)
    started = time.perf_counter()
    result = run_p12(eval_split="test", config=config, seed=args.seed, verbose=0,
                     n_bootstrap=10)
    total = time.perf_counter() - started
    keep = ("config", "seed", "fitted_on", "n_fitted", "epochs_run", "epoch_seconds_median",
            "train_seconds", "wall_seconds", "peak_rss_mb", "peak_rss_worker_mb", "machine")
    record = {key: result[key] for key in keep if key in result}
    record.update(n_scored=int(result["n_stays"]), run_p12_seconds=round(total, 1),
                  threads=torch.get_num_threads(),
                  note="timing only: the scored stays are train + val stays (see docstring)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, default=str) + "\n")
    print(json.dumps(record, indent=2, default=str))


if __name__ == "__main__":
    main()
