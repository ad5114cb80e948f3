"""Tokenising the same events read two ways, alternately in one process: the MEDS reader's
EventSet against the long table's (``benchmarks/meds_scale.py`` builds both; issue 21's rule:
no step slower per event than the long-table path). Run-to-run noise on a shared machine is
about ±15 %, so single runs of separate processes cannot settle a gap of that size; here both
EventSets live in one process and are tokenised in turn, ``--repeats`` times each.

    nice -n 5 python benchmarks/meds_tokenize_ab.py --work /tmp/meds_scale \\
        --out benchmarks/results/meds/tokenize_ab_50M.json

``--work`` is a folder ``meds_scale.py`` generated (its ``MEDS``, ``task_all`` and
``long.parquet``).

``--same-content`` adds a third EventSet: the MEDS EventSet's own events as a user's long table
(``EventSet.to_long``: text results as class values, not ``CODE//text`` presence features)
read back through ``EventSet.from_long``, the long-table path on exactly the MEDS path's
content; the run checks that it gives the same tokens as the MEDS EventSet.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--same-content", action="store_true")
    args = parser.parse_args()

    from medfuse_sk.data import EventSet, EventTokenizer
    from medfuse_sk.datasets.meds import load_meds
    from medfuse_sk.io import read_table

    meds = load_meds(args.work / "MEDS", args.work / "task_all", split="all", n_jobs=1,
                     lookback=None, exclude=()).to_event_set()
    table = read_table(args.work / "long.parquet", "events")
    long = EventSet.from_long(table)
    del table
    assert meds.n_rows == long.n_rows, (meds.n_rows, long.n_rows)
    sets = {"meds": meds, "long": long}
    if args.same_content:
        frame = meds.to_long()
        sets["long_classes"] = EventSet.from_long(frame)
        del frame
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            a, b = (EventTokenizer(max_tokens=None).fit(sets[k]).transform(sets[k])
                    for k in ("meds", "long_classes"))
        assert np.array_equal(a.offsets, b.offsets)

        def ordered(tokens):  # simultaneous tokens come in vocabulary order: compare as sets
            names = tokens.feature_names.astype(str)[tokens.columns["feature"]]
            stay = np.repeat(np.arange(len(tokens)), np.diff(tokens.offsets))
            order = np.lexsort((names, tokens.columns["time"], stay))
            return [names[order]] + [tokens.columns[c][order] for c in ("time", "value")]

        for x, y in zip(ordered(a), ordered(b), strict=True):
            assert np.array_equal(x, y)
        del a, b
        print("long_classes: the same tokens as meds", flush=True)
    seconds: dict[str, list[float]] = {name: [] for name in sets}
    names = list(sets)
    for repeat in range(args.repeats):
        for name in names[repeat % len(names):] + names[:repeat % len(names)]:
            events = sets[name]
            start = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                EventTokenizer(max_tokens=None).fit(events).transform(events)
            seconds[name].append(time.perf_counter() - start)
            print(f"{name}: {seconds[name][-1]:.2f} s", flush=True)
    n = int(meds.n_rows)
    out = {"events": n, "repeats": args.repeats, "seconds": seconds,
           "median_s": {k: statistics.median(v) for k, v in seconds.items()},
           "events_per_s_median": {k: n / statistics.median(v) for k, v in seconds.items()},
           "meds_over_long": statistics.median(seconds["meds"]) / statistics.median(seconds["long"]),
           "paired_difference_s": {
               k: {"mean": statistics.mean(d),
                   "se": statistics.stdev(d) / len(d) ** 0.5 if len(d) > 1 else None}
               for k in seconds if k != "meds"
               for d in [[m - x for m, x in zip(seconds["meds"], seconds[k], strict=True)]]}}
    print(json.dumps({k: out[k] for k in ("median_s", "meds_over_long", "paired_difference_s")}))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
