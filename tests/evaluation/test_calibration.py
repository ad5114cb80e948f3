"""Brier score, expected calibration error and reliability bins against slow, written-out
computations."""

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

from medfuse_sk.evaluation import calibration_metrics, reliability_curve


def _slow_ece(y, p, n_bins):
    total = 0.0
    for b in range(n_bins):
        low, high = b / n_bins, (b + 1) / n_bins
        inside = [(yi, pi) for yi, pi in zip(y, p)
                  if low <= pi < high or (b == n_bins - 1 and pi == 1.0)]
        if inside:
            ys, ps = zip(*inside)
            total += len(inside) * abs(np.mean(ys) - np.mean(ps))
    return total / len(y)


@pytest.mark.parametrize("n_bins", [5, 10, 15])
def test_ece_and_brier_equal_slow_computations(n_bins):
    rng = np.random.default_rng(n_bins)
    p = rng.random(300) ** 2
    p[:3] = [0.0, 1.0, 0.5]  # the edges: 1.0 falls in the last bin
    y = (rng.random(300) < p * 0.8).astype(int)
    m = calibration_metrics(y, p, n_bins=n_bins)
    assert m["ece"] == pytest.approx(_slow_ece(y, p, n_bins), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    curve = reliability_curve(y, p, n_bins=n_bins)
    assert curve["count"].sum() == 300
    last = (p >= 1 - 1 / n_bins)
    assert curve["count"][-1] == last.sum()


def test_calibrated_probabilities_have_a_small_ece_and_shifted_ones_a_large_one():
    rng = np.random.default_rng(0)
    p = rng.random(20000)
    y = (rng.random(20000) < p).astype(int)
    assert calibration_metrics(y, p)["ece"] < 0.02
    assert calibration_metrics(y, np.clip(p + 0.2, 0, 1))["ece"] > 0.15


def test_probabilities_outside_0_1_are_refused():
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        calibration_metrics([0, 1], [0.2, 1.3])
