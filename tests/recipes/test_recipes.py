"""The recipes as registered models, and the recommended model's members from the registry."""

import contextlib

import pytest

from medfuse_sk import MedFuseClassifier
from medfuse_sk.models import create_model, get_model, register_model
from medfuse_sk.recipes import PAPER, RECOMMENDED


@contextlib.contextmanager
def recorded(name):
    """Replace the registry's ``name`` by a recorder of its calls (the real one builds)."""
    spec = get_model(name)
    calls = []

    def recorder(**params):
        calls.append(params)
        return spec.factory(**params)

    register_model(name, recorder, replace=True)
    try:
        yield calls
    finally:
        register_model(name, spec.factory, classes=spec.classes,
                       parameter_classes=spec.parameter_classes, description=spec.description,
                       extras=spec.extras, replace=True)


def test_the_papers_configuration_is_a_registered_model():
    clf = create_model("medfuse_paper", random_state=2, max_epochs=3)
    assert isinstance(clf, MedFuseClassifier)
    assert {k: clf.get_params()[k] for k in PAPER} == PAPER
    assert clf.random_state == 2 and clf.max_epochs == 3
    assert create_model("medfuse_paper", gate="none").gate == "none"  # keywords override
    assert "paper" in get_model("medfuse_paper").description


def test_the_recommended_model_is_registered_with_its_settings_as_keywords():
    clf = create_model("medfuse_recommended", random_state=4, combine=None, n_jobs=1, verbose=0)
    assert isinstance(clf, MedFuseClassifier) and clf.random_state == 4 and clf.verbose == 0
    assert clf.fusion == RECOMMENDED["fusion"] and clf.max_epochs == RECOMMENDED["max_epochs"]
    assert clf.tokenizer.window == RECOMMENDED["window"]


def test_the_recommended_members_come_from_the_registry():
    pytest.importorskip("xgboost")
    pytest.importorskip("pypots")
    with recorded("xgboost") as xgboost, recorded("grud") as grud:
        vote = create_model("medfuse_recommended", random_state=5)
    assert xgboost == [{"random_state": 5}]
    assert len(grud) == 1 and grud[0]["random_state"] == 5 and len(grud[0]["series"]) == 37
    assert [name for name, _ in vote.estimators] == ["medfuse", "medfuse2", "concat", "xgboost",
                                                     "grud"]
