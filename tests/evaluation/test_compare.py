"""Seed-mean intervals and the paired bootstrap test against a slow loop over the same resamples
(scikit-learn's metrics on each resampled array, one by one)."""

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from medfuse_sk.evaluation import (
    binary_metrics,
    bootstrap_indices,
    bootstrap_metric_samples,
    paired_bootstrap,
    seed_mean_metrics,
)

METRICS = {"auprc": average_precision_score, "auroc": roc_auc_score}


def _task(n=90, seeds=3, seed=0, ties=False, shift=1.0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(int)
    scores = rng.normal(size=(seeds, n)) + shift * y
    if ties:
        scores = np.round(scores, 1)
    return y, 1 / (1 + np.exp(-scores))


def _slow_seed_means(y, scores, n_bootstrap, random_state):
    """Per resample: each seed's metric by scikit-learn, then their mean; NaN for one class."""
    out = {m: [] for m in METRICS}
    for idx in bootstrap_indices(len(y), n_bootstrap, random_state=random_state):
        yb = y[idx]
        for name, metric in METRICS.items():
            if yb.min() == yb.max():
                out[name].append(np.nan)
            else:
                out[name].append(np.mean([metric(yb, s[idx]) for s in scores]))
    return {m: np.array(v) for m, v in out.items()}


@pytest.mark.parametrize("ties", [False, True])
def test_seed_mean_interval_equals_a_slow_loop(ties):
    y, scores = _task(seeds=2, ties=ties)
    fast = seed_mean_metrics(y, scores, n_bootstrap=40, random_state=3)
    slow = _slow_seed_means(y, scores, 40, 3)
    for name, metric in METRICS.items():
        per_seed = [metric(y, s) for s in scores]
        assert fast[name]["per_seed"] == pytest.approx(per_seed, abs=1e-12)
        assert fast[name]["mean"] == pytest.approx(np.mean(per_seed), abs=1e-12)
        assert fast[name]["sd"] == pytest.approx(np.std(per_seed, ddof=1), abs=1e-12)
        drawn = slow[name][np.isfinite(slow[name])]
        low, high = np.quantile(drawn, [0.025, 0.975])
        assert fast[name]["ci_low"] == pytest.approx(low, abs=1e-12)
        assert fast[name]["ci_high"] == pytest.approx(high, abs=1e-12)
    assert fast["n_bootstrap_skipped"] == int(np.isnan(slow["auprc"]).sum())


def test_one_vector_has_the_resamples_and_interval_of_binary_metrics():
    y, scores = _task(seeds=1, seed=4)
    mine = seed_mean_metrics(y, scores[0], n_bootstrap=200, random_state=7)
    theirs = binary_metrics(y, scores[0], n_bootstrap=200, random_state=7)
    for name in METRICS:
        assert mine[name]["ci_low"] == pytest.approx(theirs[name]["ci_low"], abs=1e-12)
        assert mine[name]["ci_high"] == pytest.approx(theirs[name]["ci_high"], abs=1e-12)
        assert mine[name]["sd"] == 0.0


def test_paired_test_equals_a_slow_loop():
    y, a = _task(seeds=2, seed=1, ties=True, shift=1.2)
    rng = np.random.default_rng(2)  # b as good as a, with one seed only
    b = 1 / (1 + np.exp(-np.round(rng.normal(size=(1, len(y))) + 1.2 * y, 1)))
    fast = paired_bootstrap(y, a, b, n_bootstrap=40, random_state=9)
    slow_a = _slow_seed_means(y, a, 40, 9)
    slow_b = _slow_seed_means(y, b, 40, 9)
    for name, metric in METRICS.items():
        delta = slow_a[name] - slow_b[name]
        delta = delta[np.isfinite(delta)]
        low, high = np.quantile(delta, [0.025, 0.975])
        p = min(1.0, 2 * min(np.mean(delta <= 0), np.mean(delta >= 0)))
        point = np.mean([metric(y, s) for s in a]) - np.mean([metric(y, s) for s in b])
        assert fast[name]["difference"] == pytest.approx(point, abs=1e-12)
        assert fast[name]["ci_low"] == pytest.approx(low, abs=1e-12)
        assert fast[name]["ci_high"] == pytest.approx(high, abs=1e-12)
        assert fast[name]["p_value"] == pytest.approx(p, abs=1e-12)
        assert 0 < p < 1  # the resampled differences fall on both sides of 0


def test_a_clearly_better_model_is_tested_better_and_a_model_equals_itself():
    y, good = _task(n=400, seeds=2, seed=5, shift=3.0)
    _, poor = _task(n=400, seeds=2, seed=6, shift=0.2)
    test = paired_bootstrap(y, poor, good, n_bootstrap=300)
    assert test["auroc"]["ci_high"] < 0 and test["auroc"]["p_value"] < 0.01
    assert test["auprc"]["ci_high"] < 0
    same = paired_bootstrap(y, good, good, n_bootstrap=100)
    assert same["auprc"]["difference"] == 0 and same["auprc"]["p_value"] == 1.0


def test_samples_are_per_row_and_single_class_resamples_are_nan():
    y = np.array([0] * 9 + [1])
    scores = np.vstack([np.linspace(0, 1, 10), np.linspace(1, 0, 10)])
    drawn = bootstrap_metric_samples(y, scores, n_bootstrap=50, random_state=0)
    assert drawn["auprc"].shape == (2, 50)
    assert np.isnan(drawn["auprc"][:, ~drawn["valid"]]).all()
    assert (~drawn["valid"]).any()  # one positive in ten: many resamples miss it
    assert drawn["point"]["auroc"].tolist() == [1.0, 0.0]


def test_bad_inputs_name_the_problem():
    y, scores = _task()
    with pytest.raises(ValueError, match="y_true has 90 entries but y_score has 5"):
        seed_mean_metrics(y, scores[:, :5])
    with pytest.raises(ValueError, match="confidence"):
        paired_bootstrap(y, scores, scores, confidence=1.5)
    with pytest.raises(ValueError, match="single class"):
        seed_mean_metrics(np.zeros(90, dtype=int), scores)
