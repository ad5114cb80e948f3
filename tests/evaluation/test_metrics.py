"""Metrics with bootstrap intervals against scikit-learn, resample by resample."""

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

from medfuse_sk.evaluation import binary_metrics, bootstrap_indices


def _scores(n=300, seed=0, ties=False):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    if ties:
        s = np.round(s, 1)  # many tied scores
    return y, 1 / (1 + np.exp(-s))


@pytest.mark.parametrize("ties", [False, True])
def test_point_values_equal_sklearn(ties):
    y, p = _scores(ties=ties)
    m = binary_metrics(y, p, n_bootstrap=0)
    assert m["auprc"]["value"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["accuracy"]["value"] == pytest.approx(accuracy_score(y, p >= 0.5), abs=1e-12)


@pytest.mark.parametrize("ties", [False, True])
def test_intervals_equal_a_loop_over_the_same_resamples(ties):
    y, p = _scores(n=120, seed=1, ties=ties)
    m = binary_metrics(y, p, n_bootstrap=300, random_state=5)
    values = {"auprc": [], "auroc": [], "accuracy": []}
    skipped = 0
    for idx in bootstrap_indices(len(y), 300, random_state=5):
        yb, pb = y[idx], p[idx]
        if yb.min() == yb.max():
            skipped += 1
            continue
        values["auprc"].append(average_precision_score(yb, pb))
        values["auroc"].append(roc_auc_score(yb, pb))
        values["accuracy"].append(accuracy_score(yb, pb >= 0.5))
    assert m["n_bootstrap_skipped"] == skipped
    for name, drawn in values.items():
        low, high = np.quantile(drawn, [0.025, 0.975])
        assert m[name]["ci_low"] == pytest.approx(low, abs=1e-12)
        assert m[name]["ci_high"] == pytest.approx(high, abs=1e-12)
        assert m[name]["ci_low"] <= m[name]["value"] <= m[name]["ci_high"]


def test_1000_resamples_of_2400_stays_are_fast():
    import time

    y, p = _scores(n=2400, seed=2)
    started = time.perf_counter()
    m = binary_metrics(y, p)
    assert m["n_bootstrap"] == 1000
    assert time.perf_counter() - started < 10  # vectorised; a Python loop over sklearn takes ~10x
    width = m["auprc"]["ci_high"] - m["auprc"]["ci_low"]
    assert 0.02 < width < 0.2


@pytest.mark.parametrize("y, s, message", [
    ([0, 1, 1], [0.2, 0.4], "3 entries but y_score has 2"),
    ([0, 0, 0], [0.1, 0.2, 0.3], "single class"),
    ([0, 2, 1], [0.1, 0.2, 0.3], "binary labels"),
    ([0, 1, 1], [0.1, np.nan, 0.3], "NaN or infinite"),
    ([], [], "empty"),
])
def test_bad_input_is_named(y, s, message):
    with pytest.raises(ValueError, match=message):
        binary_metrics(y, s)
