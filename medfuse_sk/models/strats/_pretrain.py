"""STraTS' self-supervised pre-training: forecast the next window's values from the past.

For each stay and epoch a cut-off time ``t₁`` is drawn uniformly among the stay's distinct
observation times that are at least ``min_time`` hours and not its last; the network reads
the observations up to ``t₁`` and predicts, for every feature, its first value observed in
``(t₁, t₁ + window]``. The loss is the squared error over the features observed in that window
(``Σ m (ŷ − y)² / Σ m``), as in the authors' re-implementation (``dataset_pretrain.py``,
``forecast_final``; 2-hour window, cut-offs from hour 12). No label is read.
"""

from __future__ import annotations

import numpy as np
import torch

from ...data import TokenSet, gather_rows
from .._batching import TokenDataset

__all__ = ["forecast_task", "forecast_loss", "pretrain_forecaster"]


def forecast_task(tokens: TokenSet, rng: np.random.Generator, window: float, min_time: float,
                  ) -> tuple[TokenSet, np.ndarray, np.ndarray, np.ndarray]:
    """One draw of the forecasting task over the stays of ``tokens``.

    Returns
    -------
    inputs : TokenSet
        Each eligible stay's tokens up to its cut-off time.
    targets, observed : (n, n_features) float32
        The first value of each feature in the window after the cut-off, and 1 where there
        is one (categorical tokens are not forecast).
    stays : (n,) int
        Positions in ``tokens`` of the eligible stays (those with a cut-off to draw).
    """
    c = tokens.columns
    time, feature, value = c["time"], c["feature"].astype(np.int64), c["value"]
    numeric = c["category"] < 0
    stays, cuts = [], []
    for s, (lo, hi) in enumerate(zip(tokens.offsets[:-1], tokens.offsets[1:])):
        distinct = np.unique(time[lo:hi])
        candidates = distinct[:-1][distinct[:-1] >= min_time]
        if len(candidates):
            stays.append(s)
            cuts.append(candidates[rng.integers(len(candidates))])
    stays = np.asarray(stays, dtype=np.int64)
    cuts = np.asarray(cuts, dtype=time.dtype)
    rows, offsets = gather_rows(tokens.offsets, stays)
    owner = np.repeat(np.arange(len(stays)), np.diff(offsets))
    t = time[rows]
    past = t <= cuts[owner]
    keep = rows[past]
    lengths = np.bincount(owner[past], minlength=len(stays))
    new_offsets = np.concatenate([[0], np.cumsum(lengths)])
    inputs = TokenSet(tokens.stay_ids[stays], new_offsets,
                      {name: col[keep] for name, col in c.items()},
                      tokens.feature_names, tokens.n_categories)
    future = (t > cuts[owner]) & (t <= cuts[owner] + window) & numeric[rows]
    targets = np.zeros((len(stays), tokens.n_features), dtype=np.float32)
    observed = np.zeros_like(targets)
    # latest first, so that the earliest value of a feature in the window is written last
    order = np.flatnonzero(future)[np.argsort(-t[future], kind="stable")]
    targets[owner[order], feature[rows[order]]] = value[rows[order]]
    observed[owner[order], feature[rows[order]]] = 1.0
    return inputs, targets, observed, stays


def forecast_loss(prediction: torch.Tensor, target: torch.Tensor,
                  observed: torch.Tensor) -> torch.Tensor:
    """``Σ m (ŷ − y)² / Σ m``: the squared error over the features observed in the window."""
    return (observed * (prediction - target) ** 2).sum() / observed.sum().clamp(min=1.0)


def pretrain_forecaster(module: torch.nn.Module, tokens: TokenSet, *, epochs: int, lr: float,
                        batch_size: int, window: float, min_time: float,
                        device: str | torch.device = "cpu", seed: int = 0) -> list[float]:
    """Train ``module`` (a :class:`StratsModule` with ``forecast=True``) on the forecasting
    task for ``epochs`` epochs (Adam, ``lr``); each epoch draws new cut-offs and a new batch
    order from ``seed``. Returns the mean training loss of each epoch.

    Raises
    ------
    ValueError
        No stay has an observation time at or after ``min_time`` hours with another after it.
    """
    rng = np.random.default_rng(seed)
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    names = ("feature", "value", "category", "time", "mask")
    history = []
    module.train()
    for _ in range(epochs):
        inputs, targets, observed, _stays = forecast_task(tokens, rng, window, min_time)
        if len(inputs) == 0:
            raise ValueError(f"STraTS pre-training: no stay has an observation at or after "
                             f"hour {min_time:g} followed by another; lower pretrain_min_time")
        dataset = TokenDataset(inputs)
        order = rng.permutation(len(inputs))
        total, weight = 0.0, 0.0
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            x, _ = dataset.collate(batch)
            x = {k: x[k].to(device) for k in names}
            y = torch.from_numpy(targets[batch]).to(device)
            m = torch.from_numpy(observed[batch]).to(device)
            loss = forecast_loss(module.forecast(**x), y, m)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            n = float(m.sum())
            total, weight = total + float(loss.detach()) * n, weight + n
        history.append(total / max(weight, 1.0))
    return history
