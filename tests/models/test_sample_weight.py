"""Per-stay sample weights: in the loss, equal to repeating / leaving out stays, routed by
scikit-learn's metadata routing through a Pipeline and cross_val_score."""

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from synthetic import TINY, u_shaped_task

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.models import TokenDataset

SEEDED = {**TINY, "random_state": 0}  # every fit here is seeded


@pytest.fixture(scope="module")
def task():
    events, labels = u_shaped_task(n_stays=80, seed=0)
    X = EventSet.from_long(events)
    return X, labels.loc[X.stay_ids].to_numpy()


@pytest.fixture(scope="module")
def fitted(task):
    X, y = task
    clf = MedFuseClassifier(**{**SEEDED, "class_weight": 2.0}).fit(X, y)
    with torch.no_grad():  # spread the barely trained logits so that stays' losses differ
        clf.module_.head[-1].weight.mul_(50.0)
    return clf


def _batch_loss(clf, X, y, stays, weight=None):
    """The classifier's loss on one fixed batch of stays (evaluation mode: no dropout)."""
    tokens = clf.tokenizer_.transform(X)
    dataset = TokenDataset(tokens, y, weight)
    batch, target = dataset.collate(stays)
    clf.module_.eval()
    with torch.no_grad():
        return clf.get_loss(clf.infer(batch), target, X=batch).item()


def test_integer_weights_equal_repeating_the_stays(task, fitted):
    X, y = task
    stays = [0, 3, 5, 8, 13, 21]
    weight = np.ones(len(y))
    weight[[3, 13]] = 3
    weight[21] = 2
    repeated = [0, 3, 3, 3, 5, 8, 13, 13, 13, 21, 21]
    want = _batch_loss(fitted, X, y, repeated)
    assert _batch_loss(fitted, X, y, stays, weight) == pytest.approx(want, rel=1e-6)
    assert _batch_loss(fitted, X, y, stays) != pytest.approx(want, rel=1e-3)


def test_a_weight_of_zero_equals_leaving_the_stay_out(task, fitted):
    X, y = task
    weight = np.ones(len(y))
    weight[[2, 7]] = 0
    got = _batch_loss(fitted, X, y, [1, 2, 4, 7, 9], weight)
    assert got == pytest.approx(_batch_loss(fitted, X, y, [1, 4, 9]), rel=1e-6)


def test_the_loss_by_hand(task, fitted):
    """Σ w·l / Σ w with l the per-stay BCE (pos_weight 2), written out with numpy."""
    X, y = task
    stays = [0, 1, 2, 3, 4, 5]
    weight = np.linspace(0.5, 3.0, len(y))
    tokens = fitted.tokenizer_.transform(X)
    batch, _ = TokenDataset(tokens, y).collate(stays)
    fitted.module_.eval()
    with torch.no_grad():
        z = fitted.infer(batch).double().numpy()
    t, w = y[stays], weight[stays]
    log_p, log_q = -np.logaddexp(0, -z), -np.logaddexp(0, z)
    per_stay = -(2.0 * t * log_p + (1 - t) * log_q)
    want = (w * per_stay).sum() / w.sum()
    assert _batch_loss(fitted, X, y, stays, weight) == pytest.approx(want, rel=1e-5)


def test_fit_with_weights(task):
    X, y = task
    plain = MedFuseClassifier(**SEEDED).fit(X, y).predict_proba(X)
    ones = MedFuseClassifier(**SEEDED).fit(X, y, sample_weight=np.ones(len(y))).predict_proba(X)
    np.testing.assert_array_equal(ones, plain)
    weighted = MedFuseClassifier(**SEEDED).fit(X, y, sample_weight=np.where(y == 1, 5.0, 1.0))
    assert not np.allclose(weighted.predict_proba(X), plain)
    # a Series is aligned by stay id, like y
    w = pd.Series(np.where(y == 1, 5.0, 1.0), index=X.stay_ids).sample(frac=1.0, random_state=0)
    again = MedFuseClassifier(**SEEDED).fit(X, y, sample_weight=w)
    np.testing.assert_array_equal(again.predict_proba(X), weighted.predict_proba(X))


@pytest.mark.parametrize("weight, message", [
    (lambda n: np.ones(n - 1), "one weight per stay"),
    (lambda n: -np.ones(n), "finite and >= 0"),
    (lambda n: np.full(n, np.nan), "finite and >= 0"),
    (lambda n: np.zeros(n), "0 for every stay of class"),
    (lambda n: ["a"] * n, "must hold numbers"),
    (lambda n: pd.Series(np.ones(n - 2), index=np.arange(n - 2) + 1000), "no weight for 2 stay"),
])
def test_bad_weights_are_clear_errors(task, weight, message):
    X, y = task
    with pytest.raises(ValueError, match=message):
        MedFuseClassifier(**SEEDED).fit(X, y, sample_weight=weight(len(y)))


def test_weights_reach_the_loss_through_a_pipeline_and_cross_val_score(task):
    X, y = task
    weight = np.where(y == 1, 4.0, 1.0)
    tokens = EventTokenizer().fit(X).transform(X)
    direct = MedFuseClassifier(**SEEDED).fit(tokens, y, sample_weight=weight)
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = make_pipeline(EventTokenizer(),
                             MedFuseClassifier(**SEEDED).set_fit_request(sample_weight=True))
        pipe.fit(X, y, sample_weight=weight)
        np.testing.assert_array_equal(pipe.predict_proba(X), direct.predict_proba(tokens))
        unweighted = make_pipeline(EventTokenizer(), MedFuseClassifier(**SEEDED)).fit(X, y)
        assert not np.allclose(unweighted.predict_proba(X), direct.predict_proba(tokens))
        scorer = make_scorer(roc_auc_score, response_method="predict_proba")
        scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(2),
                                 scoring=scorer.set_score_request(sample_weight=False),
                                 params={"sample_weight": weight})
    assert scores.shape == (2,) and np.isfinite(scores).all()
