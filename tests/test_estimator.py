import io
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from synthetic import u_shaped_task

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier

TINY = dict(d_model=16, n_heads=2, n_layers=1, partition_factor=4, max_epochs=2, verbose=0)


@pytest.fixture(scope="module")
def task():
    return u_shaped_task(n_stays=160, seed=0)


@pytest.fixture(scope="module")
def fitted(task):
    events, labels = task
    return MedFuseClassifier(random_state=0, **TINY).fit(events, labels)


def test_the_readme_example_runs(task):
    """The issue's user code, verbatim in spirit: Pipeline, cross_val_score, GridSearchCV."""
    events, labels = task
    X = EventSet.from_long(events, stay="stay_id", time="time", feature="feature", value="value")
    y = labels.loc[X.stay_ids]
    pipe = make_pipeline(EventTokenizer(window=2.0, horizon=48.0),
                         MedFuseClassifier(random_state=0, **TINY))
    scores = cross_val_score(pipe, X, y, cv=StratifiedKFold(3), scoring="average_precision")
    assert scores.shape == (3,) and np.all((scores >= 0) & (scores <= 1))
    grid = GridSearchCV(pipe, {"medfuseclassifier__fusion": ["mufuse", "add", "concat", "scane"],
                               "medfuseclassifier__partition_factor": [1, 4, 16]}, cv=2)
    grid.fit(X, y)
    assert len(grid.cv_results_["params"]) == 12
    assert np.all(np.isfinite(grid.cv_results_["mean_test_score"]))
    best = grid.best_estimator_.named_steps["medfuseclassifier"]
    assert best.module_.embedding.fusion == grid.best_params_["medfuseclassifier__fusion"]
    assert grid.predict_proba(X).shape == (len(X), 2)


def test_predict_proba_rows_follow_the_input_stays(task, fitted):
    events, labels = task
    proba = fitted.predict_proba(events)
    order = pd.unique(events["stay_id"])
    assert proba.shape == (len(order), 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    risk = fitted.predict_risk(events)
    assert risk.index.tolist() == order.tolist()
    np.testing.assert_allclose(risk.to_numpy(), proba[:, 1])
    # the same stays in another order give the same per-stay probabilities
    shuffled = events.sample(frac=1.0, random_state=3)
    again = fitted.predict_risk(shuffled)
    pd.testing.assert_series_equal(again.sort_index(), risk.sort_index())


def test_not_fitted_error():
    with pytest.raises(NotFittedError):
        MedFuseClassifier().predict_proba(u_shaped_task(10)[0])


def test_get_set_params_and_clone(fitted):
    params = fitted.get_params()
    for name in ("fusion", "partition_factor", "d_model", "lr", "max_epochs", "kernel",
                 "random_state", "batch_size", "dropout", "n_heads", "n_layers", "device"):
        assert name in params
    twin = clone(fitted)
    assert twin.get_params()["d_model"] == 16 and not hasattr(twin, "module_")
    twin.set_params(fusion="scane", partition_factor=1, module__dim_feedforward=24)
    assert twin.fusion == "scane"
    twin.fit(*u_shaped_task(60, seed=2))
    assert twin.module_.embedding.fusion == "scane"
    assert twin.module_.layers[0].ff1.out_features == 24


def test_pickle_and_joblib_round_trips_predict_identically(task, fitted):
    events, _ = task
    want = fitted.predict_proba(events)
    back = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(back.predict_proba(events), want)
    buffer = io.BytesIO()
    joblib.dump(fitted, buffer)
    buffer.seek(0)
    np.testing.assert_array_equal(joblib.load(buffer).predict_proba(events), want)


def test_same_random_state_same_fit(task):
    events, labels = task
    a = MedFuseClassifier(random_state=7, **TINY).fit(events, labels).predict_proba(events)
    b = MedFuseClassifier(random_state=7, **TINY).fit(events, labels).predict_proba(events)
    c = MedFuseClassifier(random_state=8, **TINY).fit(events, labels).predict_proba(events)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_mufuse_learns_a_value_feature_interaction():
    """Risk is U-shaped in one lab's value: both too low and too high are dangerous."""
    events, labels = u_shaped_task(n_stays=600, seed=0)
    clf = MedFuseClassifier(d_model=32, partition_factor=1, lr=3e-3, max_epochs=15,
                            patience=None, random_state=0, verbose=0).fit(events, labels)
    test_events, test_labels = u_shaped_task(n_stays=300, seed=1)
    risk = clf.predict_risk(test_events)
    assert roc_auc_score(test_labels.loc[risk.index], risk) > 0.95


def test_labels_are_aligned_by_stay_id(task):
    events, labels = task
    shuffled = labels.sample(frac=1.0, random_state=0)
    a = MedFuseClassifier(random_state=1, **TINY).fit(events, labels).predict_proba(events)
    b = MedFuseClassifier(random_state=1, **TINY).fit(events, shuffled).predict_proba(events)
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match=r"no label for 2 stay\(s\): 1000, 1001"):
        MedFuseClassifier(**TINY).fit(events, labels.drop([1000, 1001]))


@pytest.mark.parametrize("labels, message", [
    (lambda y: y * 0, "single class"),
    (lambda y: y * 2, "binary"),
    (lambda y: y.to_numpy()[:-1], "one label per stay"),
])
def test_bad_labels(task, labels, message):
    events, y = task
    with pytest.raises(ValueError, match=message):
        MedFuseClassifier(**TINY).fit(events, labels(y))


def test_a_stay_without_events_still_gets_a_probability(fitted):
    X = EventSet.from_long(pd.DataFrame({"stay_id": [1, 1], "time": [0.0, 1.0],
                                         "feature": ["K", "K"], "value": [2.5, 2.6]}),
                           stays=[1, 2])
    proba = fitted.predict_proba(X)
    assert proba.shape == (2, 2) and np.isfinite(proba).all()


def test_a_stay_with_100000_events(fitted):
    n = 100_000
    events = pd.DataFrame({"stay_id": 1, "time": np.linspace(0, 48, n),
                           "feature": np.tile(["K", "Na"], n // 2), "value": np.ones(n)})
    with pytest.warns(UserWarning, match="more than max_tokens=1000"):
        proba = fitted.predict_proba(events)
    assert proba.shape == (1, 2) and np.isfinite(proba).all()


def test_tokens_only_estimator_refuses_events(task):
    events, labels = task
    X = EventSet.from_long(events)
    tokens = EventTokenizer().fit_transform(X)
    clf = MedFuseClassifier(random_state=0, **TINY).fit(tokens, labels.loc[X.stay_ids])
    with pytest.raises(TypeError, match="fitted on tokens"):
        clf.predict_proba(events)


def test_verbose_prints_the_epoch_table_and_zero_is_silent(task, capsys):
    events, labels = task
    MedFuseClassifier(random_state=0, **{**TINY, "verbose": 1}).fit(events, labels)
    out = capsys.readouterr().out
    assert "valid_auprc" in out and "train_loss" in out
    MedFuseClassifier(random_state=0, **TINY).fit(events, labels)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("options", [
    dict(loss="focal"), dict(class_weight="balanced"), dict(class_weight=3.0),
    dict(valid_size=0), dict(pooling="cls", norm_first=True), dict(gate="none"),
])
def test_options_train(task, options):
    events, labels = task
    clf = MedFuseClassifier(random_state=0, **{**TINY, **options}).fit(events, labels)
    assert np.isfinite(clf.predict_proba(events)).all()
    assert len(clf.history_) == TINY["max_epochs"]


def test_early_stopping_keeps_the_best_epoch(task):
    events, labels = task
    clf = MedFuseClassifier(random_state=0, **{**TINY, "max_epochs": 30, "patience": 2})
    clf.fit(events, labels)
    scores = clf.history_[:, "valid_auprc"]
    assert len(scores) < 30 or max(scores) == scores[-1]
