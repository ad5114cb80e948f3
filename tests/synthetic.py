"""Synthetic long-format event tables for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: MedFuse settings small enough for a fit in about a second on one CPU core. No
#: ``random_state``: tests pass their own seed (or test what happens without one).
TINY = dict(d_model=16, n_heads=2, n_layers=1, partition_factor=4, max_epochs=2, verbose=0)


def u_shaped_task(n_stays: int = 400, seed: int = 0, events_per_stay: int = 12):
    """Stays whose label depends on a value–feature interaction.

    Each stay has noisy measurements of three labs. A stay is positive when lab ``K`` is
    either too low or too high (|K| > 1.2): a U-shaped risk no additive score of the value
    captures, while the other labs carry no signal. Returns ``(events, labels)``.
    """
    rng = np.random.default_rng(seed)
    stay_ids = np.arange(1000, 1000 + n_stays)
    level = rng.normal(0, 1.0, size=n_stays)
    labels = pd.Series((np.abs(level) > 1.2).astype(int), index=stay_ids, name="label")
    rows = []
    for feature in ("K", "Na", "HR"):
        n = events_per_stay // 3
        stay = np.repeat(stay_ids, n)
        time = rng.uniform(0, 48, size=n_stays * n)
        base = np.repeat(level, n) if feature == "K" else rng.normal(0, 1, n_stays * n)
        value = base + rng.normal(0, 0.1, size=n_stays * n)
        rows.append(pd.DataFrame({"stay_id": stay, "time": time, "feature": feature,
                                  "value": value}))
    events = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=seed)
    return events.reset_index(drop=True), labels
