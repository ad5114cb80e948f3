"""Scoring: binary metrics with bootstrap intervals, calibration, several models compared on the
same resamples (seed-mean intervals, paired bootstrap tests), and one evaluation path that writes
``metrics.json``, ``predictions.csv`` and ``curves.png`` for any fitted model."""

from ._calibration import calibration_metrics, reliability_curve
from ._compare import COMPARED_METRICS, bootstrap_metric_samples, paired_bootstrap, seed_mean_metrics
from ._evaluate import METRICS, evaluate, machine_info, metrics_result, plot_curves, score, write_evaluation
from ._metrics import binary_metrics, bootstrap_indices

__all__ = ["COMPARED_METRICS", "METRICS", "binary_metrics", "bootstrap_indices",
           "bootstrap_metric_samples", "calibration_metrics", "evaluate", "machine_info",
           "metrics_result", "paired_bootstrap", "plot_curves", "reliability_curve", "score",
           "seed_mean_metrics", "write_evaluation"]
