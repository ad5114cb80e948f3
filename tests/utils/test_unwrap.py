"""One way to look inside a model: a Pipeline's steps, an ensemble's members, recursively."""

import numpy as np
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import StackingClassifier, VotingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from medfuse_sk.utils import find_estimators, unwrap


def test_a_plain_estimator_is_its_own_final_step():
    lr = LogisticRegression()
    parts = unwrap(lr)
    assert parts.final is lr and parts.steps == [] and parts.members == []
    assert parts.transformer is None


def test_a_pipeline_gives_its_last_step_and_the_steps_before_it():
    scaler, lr = StandardScaler(), LogisticRegression()
    pipe = Pipeline([("scale", scaler), ("model", lr)])
    parts = unwrap(pipe)
    assert parts.final is lr and parts.steps == [("scale", scaler)]
    assert parts.transformer is scaler and parts.members == []


def test_voting_members_before_and_after_fit():
    a, b = DummyClassifier(strategy="prior"), LogisticRegression()
    vote = VotingClassifier([("a", a), ("b", b), ("gone", "drop")], voting="soft")
    assert unwrap(vote).members == [("a", a), ("b", b)]  # "drop" is no member
    X, y = np.arange(20.0).reshape(10, 2), np.array([0, 1] * 5)
    vote.fit(X, y)
    members = dict(unwrap(vote).members)
    assert set(members) == {"a", "b"}
    assert members["b"] is not b and hasattr(members["b"], "coef_")  # the fitted clones


def test_an_ensemble_at_the_end_of_a_pipeline_gives_its_members():
    stack = StackingClassifier([("a", DummyClassifier()), ("b", LogisticRegression())])
    parts = unwrap(make_pipeline(StandardScaler(), stack))
    assert parts.final is stack and [n for n, _ in parts.members] == ["a", "b"]


@pytest.mark.parametrize("match", [LogisticRegression,
                                   lambda est: isinstance(est, LogisticRegression)])
def test_find_estimators_walks_pipelines_and_members_with_their_paths(match):
    inner, outer = LogisticRegression(), LogisticRegression()
    vote = VotingClassifier([("lr", inner), ("dummy", DummyClassifier())], voting="soft")
    model = Pipeline([("scale", StandardScaler()),
                      ("vote", VotingClassifier([("nested", vote), ("lr", outer)], voting="soft"))])
    found = find_estimators(model, match)
    assert found == [("vote.nested.lr.", inner), ("vote.lr.", outer)]
    assert find_estimators(outer, match) == [("", outer)]
    assert find_estimators(model, StackingClassifier) == []


def test_find_estimators_stops_at_a_match():
    pipe = make_pipeline(StandardScaler(), LogisticRegression())
    assert find_estimators(pipe, Pipeline) == [("", pipe)]
