"""Tokenising speed: 1 M long-format events → EventSet → tokens (raw and 2-hour windows).

Run: ``python benchmarks/bench_tokenize.py [--events 1000000] [--repeats 3] [--out FILE]``.
Prints the median wall time of each step over the repeats and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from medfuse_sk import EventSet, EventTokenizer


def synthetic_events(n_events: int, n_stays: int = 2500, seed: int = 0) -> pd.DataFrame:
    """P12-like long table: 37 numerical series over 48 h plus two categorical descriptors."""
    rng = np.random.default_rng(seed)
    features = np.array([f"lab{i:02d}" for i in range(37)])
    n_num = n_events - 2 * n_stays
    numeric = pd.DataFrame({
        "stay_id": rng.integers(0, n_stays, n_num),
        "time": rng.uniform(0, 48, n_num).round(3),
        "feature": features[rng.integers(0, len(features), n_num)],
        "value": rng.lognormal(3, 1, n_num),
    })
    static = pd.DataFrame({
        "stay_id": np.tile(np.arange(n_stays), 2),
        "time": 0.0,
        "feature": np.repeat(["Gender", "ICUType"], n_stays),
        "value": rng.choice(["a", "b", "c"], 2 * n_stays),
    })
    return pd.concat([numeric, static], ignore_index=True).sample(frac=1.0, random_state=seed)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tokenize_cpu.json"))
    args = parser.parse_args()

    table = synthetic_events(args.events)
    rows = {}
    t, events = timed(lambda: EventSet.from_long(table, duplicates="keep"), args.repeats)
    rows["EventSet.from_long"] = t
    for name, tokenizer in [("raw", EventTokenizer(max_tokens=None)),
                            ("window 2 h", EventTokenizer(window=2.0, horizon=48.0))]:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t, tokens = timed(lambda tok=tokenizer: tok.fit(events).transform(events), args.repeats)
        rows[f"tokenizer fit+transform ({name})"] = t
        rows[f"tokens ({name})"] = tokens.n_rows

    print(f"{len(table):,} events, {len(events):,} stays; median of {args.repeats} runs")
    for key, value in rows.items():
        print(f"  {key:<40} {value:>12,}" if isinstance(value, int) else
              f"  {key:<40} {value:>10.2f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "n_events": len(table), "n_stays": len(events), "repeats": args.repeats,
        "seconds_median": {k: v for k, v in rows.items() if isinstance(v, float)},
        "tokens": {k: v for k, v in rows.items() if isinstance(v, int)},
        "machine": f"{platform.machine()} {platform.processor()} ({__import__('os').cpu_count()} cores)",
    }, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
