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
    assert {k: clf.get_params()[k] for k in PAPER} == {**PAPER, "max_epochs": 3}
    assert clf.random_state == 2 and clf.max_epochs == 3
    assert create_model("medfuse_paper", gate="none").gate == "none"  # keywords override
    assert "paper" in get_model("medfuse_paper").description


def test_the_fast_network_is_a_registered_model():
    from medfuse_sk.recipes import FAST, FAST_TOKENIZER

    clf = create_model("medfuse_fast", random_state=3, lr=0.001)
    assert isinstance(clf, MedFuseClassifier) and clf.random_state == 3
    assert {k: clf.get_params()[k] for k in FAST} == {**FAST, "lr": 0.001}  # keywords override
    assert clf.tokenizer.get_params() == FAST_TOKENIZER
    assert "fixed 10 epochs" in get_model("medfuse_fast").description


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


# -- every recipe pinned in full --------------------------------------------------------------
#: The recipes as they were written before they were pinned (commit aee4f87): differences
#: from that commit's defaults, which are written out here too. The pinned recipes must give
#: exactly these configurations, so that no committed result changes.
_DEFAULTS_THEN = {
    "fusion": "mufuse", "d_model": 64, "partition_factor": 1, "gate": "none",
    "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0, "beta_init": 1.0,
    "time_encoding": True, "n_layers": 1, "n_heads": 4, "dim_feedforward": None,
    "dropout": 0.1, "norm_first": False, "pooling": "mean+latest", "series_summary": True,
    "static_branch": False, "loss": "bce", "class_weight": None, "lr": 0.001,
    "lr_schedule": "cosine", "warmup_epochs": 1.0, "weight_decay": 0.01, "max_epochs": 20,
    "batch_size": 64, "patience": 5, "n_models": 1, "weight_averaging": 0.99,
    "token_dropout": 0.1, "valid_size": 0.0, "threshold": 0.5,
    "clip": 5.0, "count_tokens": False, "horizon": None, "max_tokens": 1000,
    "scaling": "robust", "truncate": "last", "window": None,
}
_RECOMMENDED_THEN = {
    "window": 2.0, "horizon": 48.0, "fusion": ("mufuse", "add", "concat", "scane"),
    "n_heads": 1, "max_epochs": 12, "static_branch": True,
    "combine": ("concat", "xgboost", "grud"), "n_jobs": 2,
}
#: The cost issue's ``candidate_heads4`` (benchmarks/cost_report.py) as it ran in the paired
#: five-seed comparison behind FAST.
_FAST_THEN = {"lr": 0.002, "max_epochs": 10, "window": 2.0}
_PAPER_THEN = {
    "gate": "sigmoid", "beta_init": 0.0, "partition_factor": 4, "n_layers": 2,
    "pooling": "mean", "lr_schedule": "constant", "warmup_epochs": 0.0, "token_dropout": 0.0,
    "series_summary": False, "weight_averaging": None, "valid_size": 0.1,
}


def _modelling_parameters() -> set[str]:
    """MedFuse's own parameters (its spec; skorch's structural arguments — module, criterion,
    optimizer, loaders, callbacks — are fixed by the class), its decision threshold and the
    tokenizer's, less what a recipe leaves to its caller."""
    from medfuse_sk import EventTokenizer
    from medfuse_sk.models.medfuse import PARAMS
    from medfuse_sk.recipes import PINNED_ELSEWHERE

    names = set(PARAMS) | {"threshold"} | set(EventTokenizer().get_params())
    return names - set(PINNED_ELSEWHERE)


def test_every_modelling_parameter_is_pinned_by_every_recipe():
    from medfuse_sk.recipes import ENSEMBLE_KEYS, FAST, FAST_TOKENIZER, PAPER_TOKENIZER, TOKENIZER_KEYS

    wanted = _modelling_parameters()
    assert set(RECOMMENDED) - set(ENSEMBLE_KEYS) == wanted
    assert set(PAPER) | set(PAPER_TOKENIZER) == wanted
    assert set(PAPER_TOKENIZER) == set(TOKENIZER_KEYS) and not set(PAPER) & set(TOKENIZER_KEYS)
    assert set(FAST) | set(FAST_TOKENIZER) == wanted
    assert set(FAST_TOKENIZER) == set(TOKENIZER_KEYS) and not set(FAST) & set(TOKENIZER_KEYS)


def test_the_pinned_recipes_are_the_configurations_that_ran():
    from medfuse_sk.recipes import FAST, FAST_TOKENIZER, PAPER_TOKENIZER

    assert RECOMMENDED == {**_DEFAULTS_THEN, **_RECOMMENDED_THEN}
    assert {**PAPER, **PAPER_TOKENIZER} == {**_DEFAULTS_THEN, **_PAPER_THEN}
    assert {**FAST, **FAST_TOKENIZER} == {**_DEFAULTS_THEN, **_FAST_THEN}


def test_the_recipes_models_take_every_pinned_value():
    from medfuse_sk.recipes import PAPER_TOKENIZER, TOKENIZER_KEYS, make_p12_model
    from medfuse_sk.utils import unwrap

    parts = unwrap(make_p12_model(seed=0)).members
    module = [est for name, est in parts if name.startswith("medfuse")]
    assert [n for n, _ in parts] == ["medfuse", "medfuse2", "concat", "xgboost", "grud"]
    for network in module:
        params = network.get_params(deep=False)
        for key, value in RECOMMENDED.items():
            if key in TOKENIZER_KEYS:
                assert network.tokenizer.get_params()[key] == value, key
            elif key == "fusion":  # the module is cut in two parts of two networks
                assert set(params["fusion"]) <= set(value)
            elif key not in ("combine", "n_jobs"):
                assert params[key] == value, key
    paper = create_model("medfuse_paper")
    assert {k: paper.get_params()[k] for k in PAPER} == PAPER
    assert paper.tokenizer.get_params() == PAPER_TOKENIZER
