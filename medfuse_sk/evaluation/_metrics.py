"""Binary classification metrics with vectorised bootstrap confidence intervals.

The evaluation protocol of the project: AUPRC (average precision, the definition of
:func:`sklearn.metrics.average_precision_score`), AUROC and accuracy at a threshold, each with a
percentile bootstrap interval over resamples of the evaluated stays.

The bootstrap is computed for all resamples at once: the scores are sorted once, each resample is
represented by how often it draws every stay (a row of counts), and true/false positives at each
distinct score are cumulative sums of those counts. This is exact (integer counts), so it equals
computing each metric on the resampled arrays one by one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["binary_metrics", "bootstrap_indices"]

_METRICS = ("auprc", "auroc", "accuracy")
_MAX_CELLS = 1 << 21  # resamples x stays handled per chunk (bounds memory to ~100 MB)


def _check_inputs(y_true: Any, y_score: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    s = np.asarray(y_score)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if y.ndim != 1 or s.ndim != 1:
        raise ValueError(
            f"y_true and y_score must be 1-d; got shapes {np.shape(y_true)} and {np.shape(y_score)}"
        )
    if len(y) != len(s):
        raise ValueError(f"y_true has {len(y)} entries but y_score has {len(s)}")
    if len(y) == 0:
        raise ValueError("y_true and y_score are empty")
    if not (np.issubdtype(s.dtype, np.number) or s.dtype == bool):
        raise ValueError(f"y_score must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if not np.isfinite(s).all():
        bad = np.flatnonzero(~np.isfinite(s))
        raise ValueError(
            f"y_score contains {len(bad)} NaN or infinite values (first at positions "
            f"{bad[:5].tolist()})"
        )
    try:
        labels = set(np.unique(y).tolist())
    except TypeError as exc:
        raise ValueError("y_true must hold binary labels 0/1") from exc
    if not labels <= {0, 1}:
        shown = sorted(labels, key=str)[:5]
        raise ValueError(f"y_true must hold binary labels 0/1 (or bool); got values {shown}")
    if len(labels) < 2:
        raise ValueError(
            f"y_true holds a single class ({labels.pop()}); AUPRC and AUROC are undefined"
        )
    return y.astype(np.int64), s


def _chunk_size(n: int) -> int:
    return max(1, _MAX_CELLS // n)


def _index_chunks(n: int, n_bootstrap: int, random_state: Any) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(random_state)
    size = _chunk_size(n)
    for start in range(0, n_bootstrap, size):
        yield rng.integers(0, n, size=(min(size, n_bootstrap - start), n))


def bootstrap_indices(n: int, n_bootstrap: int = 1000, random_state: Any = 0) -> np.ndarray:
    """The resample indices used by :func:`binary_metrics`, one row per resample.

    Parameters
    ----------
    n : int
        Number of evaluated samples.
    n_bootstrap : int, default 1000
        Number of resamples.
    random_state : int, numpy.random.Generator or None, default 0
        Seed of :func:`numpy.random.default_rng`.

    Returns
    -------
    numpy.ndarray of shape (n_bootstrap, n)
        Row ``b`` holds the indices (drawn with replacement) of resample ``b``.
    """
    chunks = list(_index_chunks(n, n_bootstrap, random_state))
    return np.concatenate(chunks) if chunks else np.empty((0, n), dtype=np.int64)


def _weighted_metrics(
    counts: np.ndarray, y_sorted: np.ndarray, ends: np.ndarray, correct: np.ndarray
) -> dict[str, np.ndarray]:
    """AUPRC, AUROC and accuracy for each row of ``counts`` (weights of the sorted samples).

    ``counts`` has shape (B, n), columns in decreasing score order; ``ends`` are the last
    positions of each group of tied scores; ``correct`` (same column order as ``counts``)
    says whether each sample is classified correctly at the threshold.
    """
    tp = np.cumsum(counts * y_sorted, axis=1)[:, ends]
    total = np.cumsum(counts, axis=1)[:, ends]
    fp = total - tp
    n_pos, n_neg = tp[:, -1], fp[:, -1]
    valid = (n_pos > 0) & (n_neg > 0)
    d_tp = np.diff(tp, axis=1, prepend=0)
    d_fp = np.diff(fp, axis=1, prepend=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(d_tp > 0, tp / np.maximum(total, 1), 0.0)
        auprc = (d_tp * precision).sum(axis=1) / n_pos
        auroc = (d_fp * (2 * tp - d_tp)).sum(axis=1) / (2.0 * n_pos * n_neg)
    accuracy = (counts @ correct) / counts.sum(axis=1)
    return {
        "auprc": np.where(valid, auprc, np.nan),
        "auroc": np.where(valid, auroc, np.nan),
        "accuracy": accuracy,
        "valid": valid,
    }


def binary_metrics(
    y_true: Any,
    y_score: Any,
    *,
    n_bootstrap: int = 1000,
    confidence: float = 0.95,
    threshold: float = 0.5,
    random_state: Any = 0,
) -> dict[str, Any]:
    """AUPRC, AUROC and accuracy with percentile bootstrap confidence intervals.

    Parameters
    ----------
    y_true : array-like of shape (n,)
        Binary labels, 0/1 or bool; both classes must occur.
    y_score : array-like of shape (n,)
        Scores or probabilities of the positive class; higher means more likely positive.
    n_bootstrap : int, default 1000
        Number of bootstrap resamples (drawn with replacement, size ``n``). 0 disables the
        intervals (they are NaN).
    confidence : float, default 0.95
        Coverage of the percentile interval: quantiles ``(1 - confidence) / 2`` and
        ``(1 + confidence) / 2`` of the resampled metric values.
    threshold : float, default 0.5
        A sample is predicted positive when ``y_score >= threshold`` (for accuracy).
    random_state : int, numpy.random.Generator or None, default 0
        Seed of the resampling; :func:`bootstrap_indices` returns the same resamples.

    Returns
    -------
    dict
        ``"auprc"``, ``"auroc"``, ``"accuracy"``: each ``{"value", "ci_low", "ci_high"}``;
        ``"n"``, ``"n_positive"``, ``"n_bootstrap"``, ``"n_bootstrap_skipped"`` (resamples holding
        a single class, left out of all three intervals), ``"confidence"``, ``"threshold"``.

    Raises
    ------
    ValueError
        Inputs of different lengths, empty, non-finite scores, labels other than 0/1, or a
        single class in ``y_true``.

    Notes
    -----
    ``auprc`` is average precision, ``sum_k (R_k - R_{k-1}) P_k`` over distinct score
    thresholds, as in :func:`sklearn.metrics.average_precision_score` (not the trapezoidal area
    under the precision-recall curve). ``auroc`` is the trapezoidal ROC area, ties counted half,
    as in :func:`sklearn.metrics.roc_auc_score`.

    Examples
    --------
    >>> m = binary_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], n_bootstrap=200)
    >>> round(m["auroc"]["value"], 3)
    0.75
    """
    y, s = _check_inputs(y_true, y_score)
    if not isinstance(n_bootstrap, (int, np.integer)) or n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be a non-negative integer, got {n_bootstrap!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence!r}")
    n = len(y)
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    ends = np.append(np.flatnonzero(np.diff(s_sorted)), n - 1)
    correct_sorted = ((s_sorted >= threshold).astype(np.int64) == y_sorted).astype(np.int64)

    point = _weighted_metrics(np.ones((1, n), dtype=np.int64), y_sorted, ends, correct_sorted)
    samples: dict[str, list[np.ndarray]] = {name: [] for name in _METRICS}
    n_skipped = 0
    offsets = None
    for idx in _index_chunks(n, int(n_bootstrap), random_state):
        b = len(idx)
        if offsets is None or len(offsets) != b:
            offsets = (np.arange(b, dtype=np.int64) * n)[:, None]
        counts = np.bincount((idx + offsets).ravel(), minlength=b * n).reshape(b, n)
        values = _weighted_metrics(counts[:, order], y_sorted, ends, correct_sorted)
        valid = values["valid"]
        n_skipped += int((~valid).sum())
        for name in _METRICS:
            samples[name].append(values[name][valid])

    alpha = (1.0 - confidence) / 2.0
    result: dict[str, Any] = {}
    for name in _METRICS:
        drawn = np.concatenate(samples[name]) if samples[name] else np.empty(0)
        low, high = np.quantile(drawn, [alpha, 1 - alpha]) if len(drawn) else (np.nan, np.nan)
        result[name] = {
            "value": float(point[name][0]),
            "ci_low": float(low),
            "ci_high": float(high),
        }
    result.update(
        n=int(n),
        n_positive=int(y.sum()),
        n_bootstrap=int(n_bootstrap),
        n_bootstrap_skipped=n_skipped,
        confidence=float(confidence),
        threshold=float(threshold),
    )
    return result
