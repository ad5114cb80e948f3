"""Several models (and several seeds of each) scored on the same bootstrap resamples.

A benchmark asks two questions of the same evaluated stays: how uncertain is each model's
metric, and is model A better than model B? Both are answered by resampling the stays once and
scoring every prediction vector on the same resamples (the resamples of
:func:`~medfuse_sk.evaluation.bootstrap_indices` and
:func:`~medfuse_sk.evaluation.binary_metrics` with the same ``random_state``):

- :func:`bootstrap_metric_samples`: AUPRC and AUROC of each score vector on each resample;
- :func:`seed_mean_metrics`: a model fitted with several seeds scores the mean of its seeds'
  metrics; its interval is the percentile interval of that mean over the resamples (the
  evaluated stays' uncertainty), its ``sd`` the spread over seeds (the training's);
- :func:`paired_bootstrap`: the difference of two models' seed-mean metrics on each resample
  gives a percentile interval of the difference and a two-sided bootstrap p-value.

Resamples that hold a single class leave AUPRC and AUROC undefined; they are left out of every
interval (the same resamples for every model, since they depend on the labels only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._metrics import _check_inputs, _index_chunks, _weighted_metrics

__all__ = ["COMPARED_METRICS", "bootstrap_metric_samples", "seed_mean_metrics", "paired_bootstrap"]

#: The metrics these functions resample.
COMPARED_METRICS = ("auprc", "auroc")


def _as_rows(y_true: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Labels (n,) and scores (k, n) checked like :func:`binary_metrics` checks one vector."""
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim == 1:
        s = s[None, :]
    if s.ndim != 2 or s.shape[0] == 0:
        raise ValueError(f"scores must be one vector of shape (n,) or rows of shape (k, n); got "
                         f"shape {np.shape(scores)}")
    y = None
    for row in s:
        y, _ = _check_inputs(y_true, row)
    return y, s


def bootstrap_metric_samples(y_true: Any, scores: Any, *, n_bootstrap: int = 1000,
                             random_state: Any = 0) -> dict[str, np.ndarray]:
    """AUPRC and AUROC of every score vector on the same bootstrap resamples of the stays.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels 0/1; both classes must occur.
    scores : array-like of shape (k, n) or (n,)
        One row of scores per model or seed, for the same stays as ``y_true``.
    n_bootstrap : int, default 1000
        Number of resamples (drawn with replacement, size ``n``).
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the resampling: :func:`~medfuse_sk.evaluation.bootstrap_indices` with the same
        seed returns the resamples.

    Returns
    -------
    dict
        ``"auprc"``, ``"auroc"``: arrays of shape (k, n_bootstrap), NaN on resamples holding a
        single class; ``"point"``: ``{"auprc": (k,), "auroc": (k,)}`` on the stays as given;
        ``"valid"``: boolean (n_bootstrap,), the resamples holding both classes.
    """
    y, s = _as_rows(y_true, scores)
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    k, n = s.shape
    sorted_rows = []
    for row in s:
        order = np.argsort(-row, kind="mergesort")
        ends = np.append(np.flatnonzero(np.diff(row[order])), n - 1)
        sorted_rows.append((order, y[order], ends))
    dummy = np.zeros(n, dtype=np.int64)  # accuracy is not resampled here
    point = {m: np.empty(k) for m in COMPARED_METRICS}
    for i, (_, y_sorted, ends) in enumerate(sorted_rows):
        values = _weighted_metrics(np.ones((1, n), dtype=np.int64), y_sorted, ends, dummy)
        for m in COMPARED_METRICS:
            point[m][i] = values[m][0]
    samples = {m: np.empty((k, int(n_bootstrap))) for m in COMPARED_METRICS}
    valid = np.empty(int(n_bootstrap), dtype=bool)
    start = 0
    for idx in _index_chunks(n, int(n_bootstrap), random_state):
        b = len(idx)
        offsets = (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount((idx + offsets).ravel(), minlength=b * n).reshape(b, n)
        for i, (order, y_sorted, ends) in enumerate(sorted_rows):
            values = _weighted_metrics(counts[:, order], y_sorted, ends, dummy)
            for m in COMPARED_METRICS:
                samples[m][i, start:start + b] = values[m]
            valid[start:start + b] = values["valid"]
        start += b
    return {**samples, "point": point, "valid": valid}


def _interval(drawn: np.ndarray, confidence: float) -> tuple[float, float]:
    drawn = drawn[np.isfinite(drawn)]
    if not len(drawn):
        return float("nan"), float("nan")
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(drawn, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")


def seed_mean_metrics(y_true: Any, scores_by_seed: Any, *, n_bootstrap: int = 1000,
                      confidence: float = 0.95, random_state: Any = 0) -> dict[str, Any]:
    """AUPRC and AUROC of one model fitted with several seeds: mean ± sd over the seeds, and a
    percentile bootstrap interval of the seed mean.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    scores_by_seed : array-like of shape (n_seeds, n) or (n,)
        The model's scores on the same stays, one row per seed.
    n_bootstrap, confidence, random_state
        As in :func:`~medfuse_sk.evaluation.binary_metrics`; the same ``random_state`` gives
        every model the same resamples.

    Returns
    -------
    dict
        ``"auprc"``, ``"auroc"``: each ``{"mean", "sd", "ci_low", "ci_high", "per_seed"}``
        (``sd`` with ``ddof=1``, 0 for one seed); ``"n_seeds"``, ``"n_bootstrap"``,
        ``"n_bootstrap_skipped"``, ``"confidence"``.
    """
    _check_confidence(confidence)
    drawn = bootstrap_metric_samples(y_true, scores_by_seed, n_bootstrap=n_bootstrap,
                                     random_state=random_state)
    result: dict[str, Any] = {}
    for m in COMPARED_METRICS:
        per_seed = drawn["point"][m]
        low, high = _interval(drawn[m].mean(axis=0), confidence)
        result[m] = {"mean": float(per_seed.mean()),
                     "sd": float(per_seed.std(ddof=1)) if len(per_seed) > 1 else 0.0,
                     "ci_low": low, "ci_high": high, "per_seed": per_seed.tolist()}
    result.update(n_seeds=len(drawn["point"]["auprc"]), n_bootstrap=int(n_bootstrap),
                  n_bootstrap_skipped=int((~drawn["valid"]).sum()), confidence=float(confidence))
    return result


def paired_bootstrap(y_true: Any, scores_a: Any, scores_b: Any, *, n_bootstrap: int = 1000,
                     confidence: float = 0.95, random_state: Any = 0) -> dict[str, Any]:
    """Paired bootstrap test of model A against model B on the same stays.

    On every resample of the stays, the seed-mean metric of A minus that of B; the observed
    difference, its percentile interval, and the two-sided bootstrap p-value
    ``min(1, 2 · min(P(Δ* ≤ 0), P(Δ* ≥ 0)))`` over the resamples. An interval that excludes 0
    (equivalently, roughly, ``p < 1 − confidence``) makes "A differs from B" a tested statement
    about these stays; it says nothing of the variation between training runs beyond the seeds
    averaged.

    Parameters
    ----------
    y_true : array-like of shape (n,)
    scores_a, scores_b : array-like of shape (n_seeds, n) or (n,)
        The two models' scores on the same stays, one row per seed (the numbers of seeds may
        differ).
    n_bootstrap, confidence, random_state
        As in :func:`seed_mean_metrics`.

    Returns
    -------
    dict
        ``"auprc"``, ``"auroc"``: each ``{"difference", "ci_low", "ci_high", "p_value"}``;
        ``"n_bootstrap"``, ``"n_bootstrap_skipped"``, ``"confidence"``.
    """
    _check_confidence(confidence)
    a = np.atleast_2d(np.asarray(scores_a, dtype=np.float64))
    b = np.atleast_2d(np.asarray(scores_b, dtype=np.float64))
    drawn = bootstrap_metric_samples(y_true, np.vstack([a, b]), n_bootstrap=n_bootstrap,
                                     random_state=random_state)
    k = len(a)
    result: dict[str, Any] = {}
    for m in COMPARED_METRICS:
        point = drawn["point"][m]
        delta = drawn[m][:k].mean(axis=0) - drawn[m][k:].mean(axis=0)
        finite = delta[np.isfinite(delta)]
        low, high = _interval(finite, confidence)
        p = (min(1.0, 2.0 * min(np.mean(finite <= 0), np.mean(finite >= 0)))
             if len(finite) else float("nan"))
        result[m] = {"difference": float(point[:k].mean() - point[k:].mean()),
                     "ci_low": low, "ci_high": high, "p_value": float(p)}
    result.update(n_bootstrap=int(n_bootstrap), n_bootstrap_skipped=int((~drawn["valid"]).sum()),
                  confidence=float(confidence))
    return result
