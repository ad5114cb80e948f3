"""Stays on a regular time grid, for grid-based models (GRU-D and its kind)."""

from __future__ import annotations

import numpy as np

from ._events import as_event_set

__all__ = ["regular_grid"]


def regular_grid(
    events, series: list[str], static: list[str], n_steps: int = 48, step: float = 1.0,
    categorical_levels: dict[str, list] | None = None,
) -> np.ndarray:
    """Stays on a regular time grid for grid-based models (GRU-D): ``(n_stays, n_steps, C)``.

    Channel ``c`` of ``series`` holds, per step ``[s·step, (s+1)·step)``, the mean of that
    feature's values (the last step also takes events at exactly ``n_steps · step``; later ones
    are dropped); NaN where unobserved. Then one channel per numerical ``static`` feature and one
    0/1 channel per level of each categorical static feature (``categorical_levels``), holding
    the stay's first value at every step (NaN where the stay has none). Raw units: scale
    downstream.
    """
    events = as_event_set(events)
    c = events.columns
    names = events.feature_names[c["feature"]].astype(str)
    stay = events.row_stay_index()
    n = len(events)
    out = np.full((n, n_steps, len(series)), np.nan)
    step_index = np.floor(c["time"] / step).astype(np.int64)
    step_index[c["time"] == n_steps * step] = n_steps - 1
    for j, feature in enumerate(series):
        rows = (names == feature) & (step_index < n_steps) & (c["category"] < 0)
        flat = stay[rows] * n_steps + step_index[rows]
        total = np.bincount(flat, c["value"][rows], n * n_steps)
        count = np.bincount(flat, minlength=n * n_steps)
        with np.errstate(invalid="ignore"):
            out[:, :, j] = (total / count).reshape(n, n_steps)
    channels = [out]
    categorical_levels = categorical_levels or {}
    for feature in static:
        rows = np.flatnonzero(names == feature)
        rows = rows[np.r_[True, stay[rows][1:] != stay[rows][:-1]]] if len(rows) else rows
        if feature in categorical_levels:
            labels = events.categories[c["category"][rows]]
            for level in categorical_levels[feature]:
                value = np.full(n, np.nan)
                value[stay[rows]] = (labels == level).astype(float)
                channels.append(np.repeat(value[:, None, None], n_steps, axis=1))
        else:
            value = np.full(n, np.nan)
            value[stay[rows]] = c["value"][rows]
            channels.append(np.repeat(value[:, None, None], n_steps, axis=1))
    return np.concatenate(channels, axis=2)
