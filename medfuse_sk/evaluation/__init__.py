"""Scoring: binary metrics with bootstrap intervals, and one evaluation path that writes
``metrics.json``, ``predictions.csv`` and ``curves.png`` for any fitted model."""

from ._evaluate import METRICS, evaluate, machine_info, metrics_result, plot_curves, score, write_evaluation
from ._metrics import binary_metrics, bootstrap_indices

__all__ = ["METRICS", "binary_metrics", "bootstrap_indices", "evaluate", "machine_info",
           "metrics_result", "plot_curves", "score", "write_evaluation"]
