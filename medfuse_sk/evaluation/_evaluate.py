"""One evaluation path: score any fitted model on a split and write the same three files.

Every model of the project is scored the same way (``medfuse p12``, ``medfuse evaluate``,
``benchmarks/p12_report.py``): probabilities of the positive class per stay → AUPRC, AUROC and
accuracy with 95 % bootstrap intervals (:func:`medfuse_sk.evaluation.binary_metrics`) →

- ``metrics.json``: ``eval_split``, ``auprc`` / ``auroc`` / ``accuracy`` (each ``value``,
  ``ci_low``, ``ci_high``), ``n_stays``, ``n_positive``, ``n_bootstrap``, ``confidence``, then the
  caller's extra keys (configuration, seed, timings, ...);
- ``predictions.csv``: ``stay_id, label, proba``, one row per scored stay;
- ``curves.png``: precision-recall and ROC curves side by side.

The model only needs ``predict_proba(X)`` returning ``(n_stays, 2)`` rows in the order of
``X``'s stays: a :class:`~medfuse_sk.MedFuseClassifier`, a Pipeline ending in one, the
models of :mod:`medfuse_sk.models`, or any scikit-learn classifier on suitable ``X``.
"""

from __future__ import annotations

import json
import os
import platform
import resource
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..utils import unwrap

__all__ = ["evaluate", "score", "metrics_result", "write_evaluation", "plot_curves", "machine_info",
           "METRICS"]

METRICS = ("auprc", "auroc", "accuracy")


def _stay_ids(X: Any, n: int) -> np.ndarray:
    ids = getattr(X, "stay_ids", None)
    if ids is None and isinstance(X, (pd.DataFrame, pd.Series)):
        ids = X.index.to_numpy()
    if ids is None:
        ids = np.arange(n)
    ids = np.asarray(ids)
    if len(ids) != n:
        raise ValueError(f"the model returned {n} probabilities for {len(ids)} rows of X; pass "
                         "the stays as an EventSet (EventSet.from_long) so that rows are named")
    return ids


def _labels(y: Any, stay_ids: np.ndarray) -> np.ndarray:
    if isinstance(y, pd.Series):
        missing = pd.Index(stay_ids).difference(y.index)
        if len(missing):
            raise ValueError(f"no label for {len(missing)} scored stay(s), e.g. "
                             f"{missing[:5].tolist()}")
        y = y.loc[stay_ids]
    y = np.asarray(y)
    if y.shape != stay_ids.shape:
        raise ValueError(f"y holds {len(y)} labels for {len(stay_ids)} scored stays")
    return y.astype(np.int64)


def score(model: Any, X: Any, y: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stay ids, labels and positive-class probabilities of ``model`` on ``X``.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba``
    X : what the model predicts on: an EventSet or TokenSet (its ``stay_ids`` name the rows),
        or a table with one row per stay (its index names them)
    y : labels: a Series indexed by stay id (aligned), or an array in the order of the stays

    Returns
    -------
    stay_ids, y_true, proba : ndarrays of the same length
    """
    proba = np.asarray(model.predict_proba(X))
    if proba.ndim == 2:
        proba = proba[:, 1]
    stay_ids = _stay_ids(X, len(proba))
    return stay_ids, _labels(y, stay_ids), proba.astype(np.float64)


def machine_info() -> dict[str, Any]:
    """Peak resident memory of this process (MB) and a one-line machine description."""
    return {"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}"}


def evaluate(
    model: Any,
    X: Any,
    y: Any,
    *,
    split: str = "test",
    out: str | os.PathLike | None = None,
    info: dict[str, Any] | None = None,
    title: str | None = None,
    n_bootstrap: int = 1000,
    random_state: Any = 0,
) -> dict[str, Any]:
    """Score ``model`` on the stays ``X`` with labels ``y``; optionally write the three files.

    Parameters
    ----------
    model : fitted classifier with ``predict_proba`` (see the module docstring)
    X, y : the split to score (see :func:`score`)
    split : name of the split, recorded as ``eval_split``
    out : folder for ``metrics.json``, ``predictions.csv`` and ``curves.png``
    info : extra entries for ``metrics.json`` (configuration, seed, timings, ...)
    title : title of the curves plot (default: the model's class name and the split)
    n_bootstrap, random_state : bootstrap of the intervals (see ``binary_metrics``)

    Returns
    -------
    dict
        What ``metrics.json`` holds.
    """
    stay_ids, y_true, proba = score(model, X, y)
    result = metrics_result(y_true, proba, split=split, info=info, n_bootstrap=n_bootstrap,
                            random_state=random_state)
    if out is not None:
        name = type(unwrap(model).final).__name__
        write_evaluation(out, result, stay_ids, y_true, proba, title=title or f"{name}, {split}")
    return result


def metrics_result(y_true: Any, proba: Any, *, split: str, info: dict[str, Any] | None = None,
                   n_bootstrap: int = 1000, random_state: Any = 0) -> dict[str, Any]:
    """The ``metrics.json`` content for labels and probabilities (see the module docstring)."""
    from ._metrics import binary_metrics

    y_true = np.asarray(y_true)
    metrics = binary_metrics(y_true, proba, n_bootstrap=n_bootstrap, random_state=random_state)
    return {"eval_split": split, **{k: metrics[k] for k in METRICS},
            "n_stays": int(len(y_true)), "n_positive": int(np.sum(y_true)),
            "n_bootstrap": metrics["n_bootstrap"], "confidence": metrics["confidence"],
            **(info or {})}


def write_evaluation(out: str | os.PathLike, result: dict[str, Any], stay_ids: Any, y_true: Any,
                     proba: Any, *, title: str = "", curves: bool = True) -> Path:
    """Write ``metrics.json``, ``predictions.csv`` and (``curves``) ``curves.png`` into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "metrics.json").write_text(json.dumps(result, indent=2, default=_json_default))
    pd.DataFrame({"stay_id": stay_ids, "label": y_true, "proba": proba}).to_csv(
        out / "predictions.csv", index=False)
    if curves:
        plot_curves(y_true, proba, out / "curves.png", title=title)
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, (tuple, set, np.ndarray)):
        return list(value)
    return str(value)


def plot_curves(y_true: Any, proba: Any, path: str | os.PathLike, title: str = "") -> None:
    """Precision-recall and ROC curves side by side, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, precision_recall_curve, roc_auc_score, roc_curve

    precision, recall, _ = precision_recall_curve(y_true, proba)
    fpr, tpr, _ = roc_curve(y_true, proba)
    fig, (ax_pr, ax_roc) = plt.subplots(1, 2, figsize=(9, 4))
    ax_pr.plot(recall, precision)
    ax_pr.axhline(np.mean(y_true), ls="--", c="grey", lw=0.8)
    ax_pr.set(xlabel="recall", ylabel="precision",
              title=f"PR (AUPRC {average_precision_score(y_true, proba):.3f})")
    ax_roc.plot(fpr, tpr)
    ax_roc.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
    ax_roc.set(xlabel="false positive rate", ylabel="true positive rate",
               title=f"ROC (AUROC {roc_auc_score(y_true, proba):.3f})")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
