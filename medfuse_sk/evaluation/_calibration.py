"""Calibration: does a predicted risk of 20 % come true about one time in five?

- :func:`reliability_curve`: the stays binned by predicted probability (equal-width bins on
  [0, 1]), each bin's mean prediction against its observed rate of positives;
- :func:`calibration_metrics`: the Brier score (mean squared error of the probabilities) and the
  expected calibration error, ``ECE = Σ_b (n_b / n) · |observed_b − predicted_b|`` over those
  bins (empty bins contribute nothing). A probability of exactly 1 falls into the last bin.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["calibration_metrics", "reliability_curve"]


def _check(y_true: Any, proba: Any, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise ValueError(f"y_true and proba must be 1-d of the same length; got shapes "
                         f"{np.shape(y_true)} and {np.shape(proba)}")
    if len(y) == 0:
        raise ValueError("y_true and proba are empty")
    if not set(np.unique(y).tolist()) <= {0, 1}:
        raise ValueError(f"y_true must hold binary labels 0/1; got values {np.unique(y)[:5].tolist()}")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError(f"proba must hold probabilities in [0, 1]; got values from {np.nanmin(p)} "
                         f"to {np.nanmax(p)} ({int((~np.isfinite(p)).sum())} not finite)")
    if not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    return y.astype(np.int64), p


def reliability_curve(y_true: Any, proba: Any, n_bins: int = 10) -> dict[str, np.ndarray]:
    """Observed rate against mean predicted probability in ``n_bins`` equal-width bins.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels 0/1.
    proba : array-like of shape (n,)
        Predicted probabilities of the positive class, in [0, 1].
    n_bins : int, default 10

    Returns
    -------
    dict of arrays of shape (n_bins,)
        ``"low"``, ``"high"`` (bin edges), ``"count"``, ``"predicted"`` (mean probability in the
        bin), ``"observed"`` (rate of positives in the bin); NaN for an empty bin.
    """
    y, p = _check(y_true, proba, n_bins)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        predicted = np.bincount(which, weights=p, minlength=n_bins) / count
        observed = np.bincount(which, weights=y, minlength=n_bins) / count
    return {"low": edges[:-1], "high": edges[1:], "count": count,
            "predicted": np.where(count > 0, predicted, np.nan),
            "observed": np.where(count > 0, observed, np.nan)}


def calibration_metrics(y_true: Any, proba: Any, n_bins: int = 10) -> dict[str, float]:
    """Brier score, expected calibration error, and calibration in the large.

    Parameters
    ----------
    y_true, proba, n_bins
        As in :func:`reliability_curve`.

    Returns
    -------
    dict
        ``"brier"`` (mean of ``(proba − y)²``), ``"ece"`` (see the module docstring),
        ``"mean_predicted"``, ``"observed_rate"``, ``"n_bins"``.
    """
    y, p = _check(y_true, proba, n_bins)
    curve = reliability_curve(y, p, n_bins)
    filled = curve["count"] > 0
    ece = float(np.sum(curve["count"][filled]
                       * np.abs(curve["observed"][filled] - curve["predicted"][filled])) / len(y))
    return {"brier": float(np.mean((p - y) ** 2)), "ece": ece,
            "mean_predicted": float(p.mean()), "observed_rate": float(y.mean()),
            "n_bins": int(n_bins)}
