"""Voting and cross-validated stacking of our models on EventSets."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from synthetic import u_shaped_task

from medfuse_sk import EventSet, EventTokenizer
from medfuse_sk.ensemble import make_stacking, make_voting


class Memorizer(ClassifierMixin, BaseEstimator):
    """Predicts the label it was trained with for a stay it has seen, 0.5 for any other."""

    def fit(self, X, y):
        self.seen_ = dict(zip(X.stay_ids.tolist(), np.asarray(y, dtype=float).tolist()))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X):
        p = np.array([self.seen_.get(s, 0.5) for s in X.stay_ids.tolist()])
        return np.column_stack([1 - p, p])

    def predict(self, X):
        return (self.predict_proba(X)[:, 1] > 0.5).astype(int)


class RecordingLogisticRegression(LogisticRegression):
    """The final estimator; keeps the meta-features it was trained on."""

    def fit(self, X, y, sample_weight=None):
        self.meta_features_ = np.asarray(X).copy()
        self.meta_labels_ = np.asarray(y).copy()
        return super().fit(X, y, sample_weight=sample_weight)


def test_out_of_fold_predictions_never_see_the_folds_labels():
    """Each training stay's meta-feature comes from a member that never saw the stay: a
    memorising member then gives 0.5 everywhere; a leak would hand the final estimator the
    labels themselves."""
    events, labels = u_shaped_task(n_stays=90)
    X = EventSet.from_long(events)
    y = labels.loc[X.stay_ids].to_numpy()
    stack = make_stacking([("memory", Memorizer())], cv=3,
                          final_estimator=RecordingLogisticRegression()).fit(X, y)
    meta = stack.final_estimator_.meta_features_
    assert meta.shape == (len(X), 1)
    np.testing.assert_array_equal(meta[:, 0], 0.5)
    # the member refitted on all stays for prediction does remember them
    np.testing.assert_array_equal(stack.named_estimators_["memory"].predict_proba(X)[:, 1], y)


def test_stacking_and_voting_combine_medfuse_of_two_fusions_with_xgboost():
    pytest.importorskip("xgboost")
    from sklearn.metrics import roc_auc_score

    events, labels = u_shaped_task(n_stays=240, seed=3)
    X = EventSet.from_long(events)
    y = labels.loc[X.stay_ids]
    train, test = np.arange(180), np.arange(180, 240)
    params = {"fusions": ("mufuse", "scane"), "max_epochs": 6, "verbose": 0, "batch_size": 32,
              "tokenizer": EventTokenizer(), "random_state": 0}
    stack = make_stacking(cv=2, **params).fit(X[train], y.iloc[train])
    members = dict(stack.named_estimators_)
    assert members["medfuse"].module_.fusions == ("mufuse", "scane")
    assert stack.final_estimator_.coef_.shape == (1, 2)  # one column per member
    p = stack.predict_proba(X[test])[:, 1]
    assert roc_auc_score(y.iloc[test], p) > 0.7
    vote = make_voting(**params).fit(X[train], y.iloc[train])
    averaged = np.mean([m.predict_proba(X[test])[:, 1] for m in vote.estimators_], axis=0)
    np.testing.assert_allclose(vote.predict_proba(X[test])[:, 1], averaged, rtol=1e-6)


def test_member_parameters_need_the_default_members():
    with pytest.raises(TypeError, match="max_epochs"):
        make_voting([("memory", Memorizer())], max_epochs=3)


def test_the_p12_model_is_the_recommended_configuration():
    pytest.importorskip("xgboost")
    from sklearn.ensemble import VotingClassifier

    from medfuse_sk import MedFuseClassifier
    from medfuse_sk.recipes import RECOMMENDED, make_p12_model

    pytest.importorskip("pypots")
    from medfuse_sk.models import GRUDClassifier
    from medfuse_sk.recipes import CONCAT_MEMBER

    vote = make_p12_model(seed=3)
    assert isinstance(vote, VotingClassifier) and vote.voting == "soft"
    # the module's four networks in two parts fitted side by side, one vote between them
    assert RECOMMENDED["n_jobs"] == 2 and vote.n_jobs == 2
    assert vote.weights == [0.5, 0.5, 1.0, 1.0, 1.0]
    members = dict(vote.estimators)
    assert list(members) == ["medfuse", "medfuse2", *RECOMMENDED["combine"]]
    net = members["medfuse"]
    assert net.fusion + members["medfuse2"].fusion == RECOMMENDED["fusion"]
    assert net.series_summary is True and members["medfuse2"].get_params(deep=False).keys() \
        == net.get_params(deep=False).keys()
    assert net.random_state == 3 and net.tokenizer.window == RECOMMENDED["window"]
    assert (net.verbose, members["medfuse2"].verbose) == (1, 0)  # one epoch table on screen
    whole = make_p12_model({"n_jobs": 1}, seed=3)  # one process: the module whole
    assert whole.n_jobs is None and whole.weights is None
    assert [name for name, _ in whole.estimators] == ["medfuse", *RECOMMENDED["combine"]]
    assert dict(whole.estimators)["medfuse"].fusion == RECOMMENDED["fusion"]
    second = members["concat"]  # the main network's settings, then the member's own
    assert second.fusion == "concat" and second.series_summary is False
    assert second.valid_size == CONCAT_MEMBER["valid_size"] and second.patience == 4
    assert second.weight_averaging == net.weight_averaging and second.max_epochs == 12
    assert (net.n_heads, second.n_heads) == (1, 4)  # the member keeps round 1's four heads
    assert net.static_branch is True and members["medfuse2"].static_branch is True
    assert second.static_branch is False  # and has no static branch, as its rows
    assert second.tokenizer.window == 2.0 and second.tokenizer is not net.tokenizer
    grud = members["grud"]
    assert isinstance(grud, GRUDClassifier) and grud.random_state == 3
    assert len(grud.series) == 37 and "Height" in grud.static
    alone = make_p12_model({"combine": None, "max_epochs": 3, "n_jobs": 1})
    assert isinstance(alone, MedFuseClassifier) and alone.max_epochs == 3
    events_only = make_p12_model({"combine": "concat"})
    assert [name for name, _ in events_only.estimators] == ["medfuse", "medfuse2", "concat"]
    for bad in ("lightgbm", ("xgboost", "xgboost")):
        with pytest.raises(ValueError, match="combine"):
            make_p12_model({"combine": bad})
    for bad in (0, 1.5, "2", True):
        with pytest.raises(ValueError, match="n_jobs"):
            make_p12_model({"n_jobs": bad})


class PidRecorder(Memorizer):
    """A Memorizer that notes the process it was fitted in."""

    def fit(self, X, y):
        import os

        self.pid_ = os.getpid()
        return super().fit(X, y)


def test_split_networks_cuts_the_module_into_weighted_parts():
    from medfuse_sk import MedFuseClassifier
    from medfuse_sk.ensemble import split_networks

    whole = MedFuseClassifier(fusion=("mufuse", "add", "concat", "scane", "add"), lr=2e-3,
                              random_state=5)
    parts = split_networks("net", whole, 2)
    assert [name for name, *_ in parts] == ["net", "net2"]
    assert [part.fusion for _, part, _ in parts] == [("mufuse", "add"), ("concat", "scane", "add")]
    assert [w for *_, w in parts] == [0.4, 0.6]
    for _, part, _ in parts:  # everything else as the whole member
        assert part is not whole and part.lr == 2e-3 and part.random_state == 5
    single = split_networks("net", whole, 5)
    assert [part.fusion for _, part, _ in single] == ["mufuse", "add", "concat", "scane", "add"]
    assert split_networks("net", whole, 1) == [("net", whole, 1.0)]
    for bad in (0, 6, 1.5):
        with pytest.raises(ValueError, match="n_parts"):
            split_networks("net", whole, bad)
    with pytest.raises(ValueError, match="n_models"):
        split_networks("net", MedFuseClassifier(fusion=("add", "scane"), n_models=4), 2)


def test_parts_fitted_in_two_processes_vote_as_the_whole_module():
    """n_jobs=2 fits the members in two other processes, with the same result as one after
    the other here; the weighted parts' vote is the mean of all the networks' probabilities."""
    import os

    from medfuse_sk import MedFuseClassifier
    from medfuse_sk.ensemble import split_networks
    from medfuse_sk.recipes._p12 import _network_probabilities

    events, labels = u_shaped_task(n_stays=160, seed=4)
    X = EventSet.from_long(events)
    y = labels.loc[X.stay_ids].to_numpy()
    whole = MedFuseClassifier(fusion=("mufuse", "add", "scane"), max_epochs=2, batch_size=32,
                              d_model=16, n_heads=2, verbose=0, random_state=0)
    parts = split_networks("medfuse", whole, 2)
    members = [(name, part) for name, part, _ in parts] + [("pid", PidRecorder())]
    weights = [w for *_, w in parts] + [1.0]
    apart = make_voting(members, weights=weights, n_jobs=2).fit(X, y)
    here = make_voting(members, weights=weights).fit(X, y)
    assert apart.named_estimators_["pid"].pid_ != os.getpid()
    assert here.named_estimators_["pid"].pid_ == os.getpid()
    np.testing.assert_allclose(apart.predict_proba(X), here.predict_proba(X), atol=1e-5)
    networks = _network_probabilities([apart.named_estimators_[n] for n in ("medfuse",
                                                                              "medfuse2")], X)
    assert list(networks) == ["mufuse0", "add1", "scane2"]
    memory = apart.named_estimators_["pid"].predict_proba(X)[:, 1]
    np.testing.assert_allclose(apart.predict_proba(X)[:, 1],
                               (networks.mean(axis=1).to_numpy() + memory) / 2, atol=1e-6)


def test_the_default_members_are_built_by_the_registry(monkeypatch):
    import medfuse_sk.models as models

    built = []
    real = models.create_model

    def recording(name, **params):
        built.append((name, params))
        return real(name, **params) if name == "medfuse" else Memorizer()

    monkeypatch.setattr(models, "create_model", recording)
    from medfuse_sk.ensemble import default_members

    members = default_members(("mufuse", "add"), grud=True, random_state=7, max_epochs=2)
    assert [name for name, _ in members] == ["medfuse", "xgboost", "grud"]
    assert built == [("medfuse", {"fusion": ("mufuse", "add"), "random_state": 7, "max_epochs": 2}),
                     ("xgboost", {"random_state": 7}), ("grud", {"random_state": 7})]
    assert dict(members)["medfuse"].fusion == ("mufuse", "add")
