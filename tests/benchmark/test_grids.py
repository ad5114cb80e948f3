"""The tuning budget: the defaults plus at most 8 settings of each documented grid, every grid
key a parameter of the model it names, and `all` as the registered models that apply."""

import importlib.metadata

import pytest
from bench_models import make_count
from sklearn.model_selection import ParameterGrid

from medfuse_sk.benchmark import FIXED, GRIDS, apply_setting, grid_settings, select_models
from medfuse_sk.models import available_models, create_model, get_model


def test_defaults_first_then_at_most_eight_drawn_settings_the_same_every_time():
    model = create_model("xgboost")
    settings = grid_settings("xgboost", model)
    assert settings[0] == {} and 1 < len(settings) <= 9
    assert settings == grid_settings("xgboost", create_model("xgboost"))
    every = list(ParameterGrid(GRIDS["xgboost"]))
    assert all(s in every for s in settings[1:]) and len(every) > 8
    assert grid_settings("xgboost", model, max_settings=0) == [{}]
    assert grid_settings("medfuse_paper", model) == [{}]  # a fixed configuration


def test_a_small_grid_is_tried_whole_without_the_defaults_twice(monkeypatch):
    monkeypatch.setitem(GRIDS, "bench_count", {"C": [0.1, 1.0, 10.0]})
    assert grid_settings("bench_count", make_count()) == [{}, {"C": 0.1}, {"C": 10.0}]


def test_a_setting_reaches_nested_parameters_and_an_unknown_key_names_the_grid():
    model = apply_setting(create_model("xgboost"), {"max_depth": 3, "learning_rate": 0.1})
    params = model.get_params()
    assert params["earlystoppedxgbclassifier__max_depth"] == 3
    assert params["earlystoppedxgbclassifier__learning_rate"] == 0.1
    with pytest.raises(ValueError, match=r"names parameter 'depth'.*GRIDS\['xgboost'\]"):
        apply_setting(create_model("xgboost"), {"depth": 3}, "xgboost")
    with pytest.raises(ValueError, match="at most 8|0 to 8|\\[0, 8\\]"):
        grid_settings("xgboost", create_model("xgboost"), max_settings=9)


def _built(name):
    """The model's estimator: its one registered class built directly (a factory may import
    an optional package first, which takes seconds), else what the factory builds."""
    spec = get_model(name)
    if len(spec.classes) == 1:
        return spec.classes[0]()
    try:
        return spec.factory(random_state=0)
    except ImportError:
        return None


@pytest.mark.parametrize("name", sorted(GRIDS))
def test_every_grid_names_parameters_of_its_registered_model(name):
    if name not in available_models():
        pytest.skip(f"{name} is not registered")
    model = _built(name)
    if model is None:
        pytest.skip(f"{name} cannot be built here")
    settings = grid_settings(name, model)
    assert len(settings) >= 2
    for setting in settings:
        apply_setting(model, setting, name)  # each key resolves on the built model
    assert not set(FIXED) & set(GRIDS)


def test_all_leaves_out_what_does_not_apply_or_is_not_installed(monkeypatch):
    chosen, skipped = select_models(["all"], {"source": "files", "name": "my.csv"})
    assert "medfuse_distributed" in skipped and "medfuse_recommended" in skipped
    assert "applies to --cohort p12" in skipped["medfuse_recommended"]
    assert {"xgboost", "random_forest", "medfuse"} <= set(chosen)
    chosen, skipped = select_models(["all"], {"source": "cohort", "name": "p12"})
    assert "medfuse_recommended" in chosen

    requires = importlib.metadata.requires

    def without_xgboost(name):
        found = requires(name)
        return [r.replace("xgboost>=2.0", "no-such-package-here>=1") for r in found]

    monkeypatch.setattr(importlib.metadata, "requires", without_xgboost)
    chosen, skipped = select_models(["all"], {"source": "files"})
    assert "xgboost" not in chosen
    assert skipped["xgboost"] == ("not installed: no-such-package-here; pip install "
                                  "'medfuse-sk[bench]' (from a checkout: pip install -e '.[bench]')")


def test_named_models_are_checked_before_any_data():
    with pytest.raises(KeyError, match="did you mean 'xgboost'"):
        select_models(["xgbost"], {})
    with pytest.raises(ValueError, match="give it alone"):
        select_models(["all", "xgboost"], {})
    with pytest.raises(ValueError, match="named twice: xgboost"):
        select_models(["xgboost", "xgboost"], {})
