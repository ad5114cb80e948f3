"""The base event classifier: what a model on stays gets by subclassing it, shown with a tiny
numpy model, and the library's models built on it."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from synthetic import TINY

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.data import TokenSet
from medfuse_sk.models import (
    BaseEventClassifier,
    EventClassifierMixin,
    EventModelMixin,
    GRUDClassifier,
    MedFusePretrainer,
)


class CountLogistic(BaseEventClassifier):
    """Logistic regression in numpy on per-feature token counts: only the hooks."""

    def __init__(self, n_steps=50, lr=0.5, random_state=None, stay="stay_id"):
        self.n_steps = n_steps
        self.lr = lr
        self.random_state = random_state
        self.stay = stay

    def _check_params(self):
        if self.n_steps < 1:
            raise ValueError(f"n_steps must be >= 1, got {self.n_steps!r}")

    @staticmethod
    def _counts(tokens):
        owner = np.repeat(np.arange(len(tokens)), tokens.lengths)
        counts = np.zeros((len(tokens), tokens.n_features))
        np.add.at(counts, (owner, tokens.columns["feature"]), 1.0)
        return np.column_stack([np.ones(len(tokens)), counts])  # an intercept, the counts

    def _fit(self, X, y, sample_weight):
        features = self._counts(X)
        w = np.ones(len(y)) if sample_weight is None else sample_weight
        coef = np.random.normal(0.0, 0.1, features.shape[1])  # noqa: NPY002 (the base seeds it)
        for _ in range(self.n_steps):
            p = 1 / (1 + np.exp(-features @ coef))
            coef -= self.lr * features.T @ (w * (p - y)) / w.sum()
        self.coef_ = coef

    def _predict_proba(self, X):
        p = 1 / (1 + np.exp(-self._counts(X) @ self.coef_))
        return np.column_stack([1 - p, p])


@pytest.fixture(scope="module")
def data():
    """Stays whose risk rises with the number of K measurements."""
    rng = np.random.default_rng(0)
    rows = []
    for stay in range(60):
        n_k = rng.integers(1, 8)
        rows += [(1000 + stay, float(t), "K", 4.0) for t in range(n_k)]
        rows += [(1000 + stay, float(t), "Na", 140.0) for t in range(rng.integers(1, 8))]
    events = pd.DataFrame(rows, columns=["stay_id", "time", "feature", "value"])
    counts = events[events["feature"] == "K"].groupby("stay_id").size()
    labels = (counts > 4).astype(int).rename("label")
    return events, labels


def test_a_tiny_model_gets_fit_predict_and_risk_from_the_hooks(data):
    events, labels = data
    model = CountLogistic(random_state=0, n_steps=300, lr=0.1).fit(events, labels)
    assert model.classes_.tolist() == [0, 1] and model.seed_ == 0
    proba = model.predict_proba(events)
    assert proba.shape == (60, 2) and np.allclose(proba.sum(axis=1), 1.0)
    risk = model.predict_risk(events)
    assert risk.index.name == "stay_id" and risk.index.tolist() == labels.index.tolist()
    np.testing.assert_array_equal(risk.to_numpy(), proba[:, 1])
    assert (model.predict(events) == labels.to_numpy()).mean() > 0.8  # it learned the counts
    X = EventSet.from_long(events)
    np.testing.assert_array_equal(model.predict_proba(X), proba)
    tokens = model.transform_tokens(X)
    assert isinstance(tokens, TokenSet) and tokens.stay_ids.tolist() == labels.index.tolist()
    np.testing.assert_array_equal(model.predict_proba(tokens), proba)
    # what it learned is plain data (what a safe model file can hold)
    fitted = {k: v for k, v in vars(model).items() if k.endswith("_") and k != "tokenizer_"}
    json.dumps({k: np.asarray(v).tolist() for k, v in fitted.items()})


def test_labels_and_weights_are_aligned_by_stay_id(data):
    events, labels = data
    a = CountLogistic(random_state=0).fit(events, labels).coef_
    b = CountLogistic(random_state=0).fit(events, labels.sample(frac=1.0, random_state=1)).coef_
    np.testing.assert_array_equal(a, b)
    weight = pd.Series(np.where(labels == 1, 3.0, 1.0), index=labels.index)
    c = CountLogistic(random_state=0).fit(events, labels, sample_weight=weight).coef_
    d = CountLogistic(random_state=0).fit(events, labels,
                                          sample_weight=weight.sample(frac=1.0, random_state=2))
    np.testing.assert_array_equal(c, d.coef_)
    assert not np.allclose(a, c)
    with pytest.raises(ValueError, match=r"no label for 2 stay\(s\): 1000, 1001"):
        CountLogistic().fit(events, labels.drop([1000, 1001]))
    with pytest.raises(ValueError, match="finite and >= 0"):
        CountLogistic().fit(events, labels, sample_weight=-np.ones(len(labels)))
    with pytest.raises(ValueError, match="n_steps must be >= 1"):  # _check_params runs first
        CountLogistic(n_steps=0).fit(events, labels)


def test_the_fit_is_seeded_and_leaves_the_global_generators_alone(data):
    events, labels = data
    torch.manual_seed(11)
    np.random.seed(12)  # noqa: NPY002 (checking that nothing draws from it)
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()  # noqa: NPY002
    a = CountLogistic(random_state=3).fit(events, labels).coef_
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)  # noqa: NPY002
    np.testing.assert_array_equal(CountLogistic(random_state=3).fit(events, labels).coef_, a)
    assert not np.allclose(CountLogistic(random_state=4).fit(events, labels).coef_, a)
    torch.manual_seed(5)  # without a random_state the seed follows torch's global one
    b = CountLogistic().fit(events, labels)
    torch.manual_seed(5)
    np.testing.assert_array_equal(CountLogistic().fit(events, labels).coef_, b.coef_)


def test_check_is_fitted_is_public_and_sklearns_agrees(data):
    events, labels = data
    model = CountLogistic()
    for call in (model.check_is_fitted, lambda: check_is_fitted(model),
                 lambda: model.predict_proba(events), lambda: model.predict_risk(events),
                 lambda: model.transform_tokens(events)):
        with pytest.raises(NotFittedError, match="CountLogistic.* not fitted yet"):
            call()
    model.fit(events, labels)
    model.check_is_fitted()
    check_is_fitted(model)
    clone_ = clone(model)
    assert clone_.get_params() == model.get_params() and not hasattr(clone_, "coef_")


def test_inputs_read_with_the_models_columns_and_tokens_stay_tokens(data):
    events, labels = data
    renamed = events.rename(columns={"stay_id": "admission"})
    model = CountLogistic(random_state=0, stay="admission").fit(renamed, labels)
    assert model.events(renamed).stay_ids.tolist() == labels.index.tolist()
    assert model.predict_risk(renamed).index.name == "admission"
    tokens = EventTokenizer().fit_transform(EventSet.from_long(events))
    on_tokens = CountLogistic(random_state=0).fit(tokens, labels)
    assert on_tokens.tokenizer_ is None
    with pytest.raises(TypeError, match="CountLogistic was fitted on tokens"):
        on_tokens.predict_proba(events)
    with pytest.raises(TypeError, match="already tokenized"):
        on_tokens.events(tokens)


def test_tags_say_stays_of_events():
    tags = CountLogistic().__sklearn_tags__()
    assert tags.estimator_type == "classifier" and not tags.input_tags.two_d_array
    assert tags.input_tags.allow_nan and tags.input_tags.string and tags.target_tags.required
    assert not tags.classifier_tags.multi_class
    pretrainer = MedFusePretrainer().__sklearn_tags__()
    assert pretrainer.estimator_type is None and not pretrainer.input_tags.two_d_array


def test_the_librarys_models_build_on_it(fitted_medfuse, u_shaped):
    assert issubclass(MedFuseClassifier, EventClassifierMixin)
    assert issubclass(GRUDClassifier, BaseEventClassifier) and GRUDClassifier._input == "events"
    assert issubclass(MedFusePretrainer, EventModelMixin)
    assert not issubclass(MedFusePretrainer, EventClassifierMixin)  # no predict_risk there
    events, _ = u_shaped
    tokens = fitted_medfuse.transform_tokens(events)
    want = fitted_medfuse.tokenizer_.transform(EventSet.from_long(events))
    np.testing.assert_array_equal(tokens.offsets, want.offsets)
    for name in want.columns:
        np.testing.assert_array_equal(tokens.columns[name], want.columns[name])
    with pytest.raises(NotFittedError):
        MedFuseClassifier().check_is_fitted()
    with pytest.raises(NotFittedError):
        MedFusePretrainer().transform_tokens(events)
    grud = GRUDClassifier()
    grud.classes_ = np.array([0, 1])  # looks fitted: the check on the input kind comes next
    with pytest.raises(TypeError, match="GRUDClassifier reads events, not tokens"):
        grud.transform_tokens(events)


# -- the time unit is a constructor parameter; column hints name the constructor --------------
@pytest.fixture(scope="module")
def in_minutes(u_shaped):
    """``u_shaped`` with its times in minutes (column ``minute``), the same minutes converted
    back to hours (column ``time``), and the labels."""
    events, labels = u_shaped
    minutes = events.assign(time=events["time"] * 60).rename(columns={"time": "minute"})
    hours = minutes.assign(minute=minutes["minute"] / 60).rename(columns={"minute": "time"})
    return minutes, hours, labels


def test_a_model_fitted_in_minutes_saves_its_unit_and_reads_minutes_at_prediction(
        in_minutes, tmp_path):
    from medfuse_sk.io import load_model, save_model

    minutes, hours, labels = in_minutes
    clf = MedFuseClassifier(time="minute", time_unit="min", random_state=0, **TINY)
    clf.fit(minutes, labels)
    on_hours = MedFuseClassifier(random_state=0, **TINY).fit(hours, labels)
    want = on_hours.transform_tokens(hours)  # the same tokens, so the same network
    got = clf.transform_tokens(minutes)
    np.testing.assert_array_equal(got.offsets, want.offsets)
    for name in want.columns:
        np.testing.assert_array_equal(got.columns[name], want.columns[name])
    proba = clf.predict_proba(minutes)
    np.testing.assert_array_equal(proba, on_hours.predict_proba(hours))
    save_model(clf, tmp_path / "model")
    saved = json.loads((tmp_path / "model" / "model.json").read_text())
    assert saved["model"]["params"]["time_unit"] == "min"
    loaded = load_model(tmp_path / "model")
    assert loaded.time_unit == "min"
    np.testing.assert_array_equal(loaded.predict_proba(minutes), proba)


def test_the_column_hint_names_the_constructor_of_the_model_at_hand(in_minutes):
    import re

    from medfuse_sk.data import ColumnError

    minutes, hours, labels = in_minutes
    with pytest.raises(ColumnError) as info:
        MedFuseClassifier(**TINY).fit(minutes, labels)
    message = str(info.value)
    assert message.startswith("missing column(s) ['time']; the table has ['stay_id', 'minute'")
    assert message.endswith("Pass to the constructor (fit takes no column arguments): "
                            "MedFuseClassifier(time='minute', time_unit='min', ...)")
    assert "stay=, time=" not in message
    with pytest.raises(ColumnError, match=re.escape(
            "column 'minute' looks like minutes but time_unit='h' (its numbers would be read "
            "as hours). Pass to the constructor (fit takes no column arguments): "
            "MedFuseClassifier(time_unit='min', ...), or rename the column")):
        MedFuseClassifier(time="minute", **TINY).fit(minutes, labels)
    with pytest.raises(ColumnError, match=re.escape(
            "MedFusePretrainer(time='minute', time_unit='min', ...)")):
        MedFusePretrainer().events(minutes)
    # a model without the column parameters: an EventSet built with the right ones
    with pytest.raises(ColumnError, match=re.escape(
            "CountLogistic reads the default column names; build an EventSet with "
            "EventSet.from_long(table, time='minute', time_unit='min') and give CountLogistic "
            "that EventSet")):
        CountLogistic().fit(minutes, labels)


def test_grud_and_the_pretrainer_read_the_unit_through_the_base(in_minutes):
    minutes, hours, _ = in_minutes
    want = EventSet.from_long(hours).columns["time"]
    unnamed = minutes.rename(columns={"minute": "time"})  # a name that says no unit
    for model in (GRUDClassifier(time_unit="min"),
                  MedFusePretrainer(time="minute", time_unit="min")):
        table = unnamed if isinstance(model, GRUDClassifier) else minutes
        np.testing.assert_array_equal(model.events(table).columns["time"], want)
    assert GRUDClassifier().time_unit == "h" and MedFusePretrainer().time_unit == "h"


def test_categorical_names_are_checked_at_fit_and_may_be_absent_at_prediction(u_shaped):
    events, labels = u_shaped
    sex = pd.DataFrame({"stay_id": labels.index, "time": 0.0, "feature": "Sex",
                        "value": np.where(np.arange(len(labels)) % 2, "F", "M")})
    with_sex = pd.concat([events, sex], ignore_index=True)
    with pytest.raises(ValueError, match="categorical feature 'sex' is not a feature of the "
                                         r"table \(column 'feature'\); did you mean 'Sex'\?"):
        MedFuseClassifier(categorical=["sex"], **TINY).fit(with_sex, labels)
    clf = MedFuseClassifier(categorical=["Sex"], random_state=0, **TINY).fit(with_sex, labels)
    assert list(clf.tokenizer_.categorical_features_) == ["Sex"]
    # new stays without the feature: read as the fitted model reads them, no complaint
    assert clf.events(events).categorical_features == ()
    assert clf.predict_proba(events).shape == (len(labels), 2)
