"""`medfuse fit --model NAME`: any registered model, its settings checked before any data."""

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import event_count_classifier

from medfuse_sk.cli import main
from medfuse_sk.data import EventSet
from medfuse_sk.models import register_model, unregister_model

EventCountClassifier = event_count_classifier()


@pytest.fixture
def event_count_model():
    register_model("event_count", EventCountClassifier)
    yield "event_count"
    unregister_model("event_count")


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"medfuse {argv[0]}: error: ") and err.count("\n") == 1, err
    return err


def test_a_registered_model_that_is_no_network_fits_saves_and_predicts(
        files, tmp_path, event_count_model):
    from medfuse_sk.io import load_model

    out = tmp_path / "counts"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--model", event_count_model, "--stay", "icustay", "--feature", "variable",
          "--set", "count_feature=GCS", "--quiet"])
    saved = json.loads((out / "model.json").read_text())
    assert saved["model"]["class"] == "EventCountClassifier"
    assert saved["model"]["params"]["count_feature"] == "GCS"
    assert saved["model"]["params"]["stay"] == "icustay" and saved["history"] == {}
    assert set(saved["model"]["fitted"]) >= {"coef_", "intercept_", "scale_", "classes_"}

    risk_file = tmp_path / "risk.csv"
    main(["predict", str(out), str(files / "held_out.parquet"), "--out", str(risk_file),
          "--quiet"])
    risk = pd.read_csv(risk_file)
    events = pd.read_parquet(files / "held_out.parquet")
    expected = load_model(out).predict_risk(events)
    np.testing.assert_array_equal(risk["icustay"], expected.index)
    np.testing.assert_allclose(risk["risk"], expected.to_numpy(), rtol=1e-12)
    assert risk["risk"].std() > 0  # the counts of GCS matter


def test_another_registered_network_is_built_by_its_registry_name(files, tmp_path):
    out = tmp_path / "paper"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--model", "medfuse_paper", "--stay", "icustay", "--feature", "variable",
          "--set", "max_epochs=1", "--set", "d_model=8", "--set", "n_heads=1",
          "--set", "window=8.0", "--quiet"])
    params = json.loads((out / "model.json").read_text())["model"]["params"]
    # the paper's configuration, under the settings given
    assert params["gate"] == "sigmoid" and params["n_layers"] == 2 and params["pooling"] == "mean"
    assert params["d_model"] == 8 and params["max_epochs"] == 1
    assert params["tokenizer"]["__estimator__"]["params"]["window"] == 8.0


def test_settings_are_checked_against_the_chosen_model_before_any_data(
        files, tmp_path, capsys, event_count_model):
    absent = str(tmp_path / "absent.csv")  # never read: the settings fail first
    labels, out = str(files / "labels.csv"), str(tmp_path / "m")
    err = _error(["fit", absent, labels, "--out", out, "--set", "max_epoch=1"], capsys)
    assert "--set: unknown parameter 'max_epoch'; did you mean 'max_epochs'?" in err
    assert "the medfuse model's parameters:" in err and "its tokenizer's:" in err
    # a model without a tokenizer takes no tokenizer keys, nor a network's
    for setting in ("window=2.0", "max_epochs=1"):
        err = _error(["fit", absent, labels, "--out", out, "--model", event_count_model,
                      "--set", setting], capsys)
        assert f"unknown parameter {setting.split('=')[0]!r}" in err
        assert "the event_count model's parameters: count_feature, random_state" in err
    err = _error(["fit", absent, labels, "--out", out, "--model", event_count_model,
                  "--set", "count_featur=K"], capsys)
    assert "did you mean 'count_feature'?" in err

    config = tmp_path / "config.json"
    config.write_text(json.dumps({"d_modle": 8}))
    err = _error(["fit", absent, labels, "--out", out, "--config", str(config)], capsys)
    assert f"config file {config}: unknown parameter 'd_modle'; did you mean 'd_model'?" in err


def _plain_sklearn(random_state=0, **params):
    """A registered Pipeline of plain scikit-learn steps: it cannot be saved as a safe model
    folder, and its factory drops every keyword but the seed."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from medfuse_sk.data import StayAggregates

    return make_pipeline(StayAggregates(), LogisticRegression(random_state=random_state))


@pytest.fixture
def plain_sklearn_model():
    register_model("plain_sklearn", _plain_sklearn)
    yield "plain_sklearn"
    unregister_model("plain_sklearn")


def test_unknown_and_unsaveable_models_fail_before_any_data(files, tmp_path, capsys,
                                                            plain_sklearn_model):
    absent = str(tmp_path / "absent.csv")
    labels, out = str(files / "labels.csv"), str(tmp_path / "m")
    err = _error(["fit", absent, labels, "--out", out, "--model", "medfus"], capsys)
    assert "--model: no model named 'medfus' (did you mean 'medfuse'?)" in err
    assert "random_forest" in err  # the registered names are listed
    err = _error(["fit", absent, labels, "--out", out, "--model", plain_sklearn_model], capsys)
    assert "--model plain_sklearn: cannot be written as a model folder" in err
    assert "LogisticRegression" in err
    assert not (tmp_path / "m").exists()


#: For each Pipeline model: settings that reach its steps (the last, and another where the
#: factory routes it) and keep the fit small.
PIPELINE_SETTINGS = {
    "xgboost": {"n_estimators": 20, "max_depth": 3},
    "random_forest": {"n_estimators": 10, "min_samples_leaf": 3, "strategy": "mean"},
    "logistic_regression": {"C": 0.1, "clip": 3.0},
    "lightgbm": {"n_estimators": 20, "num_leaves": 7},
}


@pytest.mark.parametrize("name", list(PIPELINE_SETTINGS))
def test_settings_and_seed_reach_the_steps_of_pipeline_models(name, files, tmp_path):
    from medfuse_sk.io import load_model

    out = tmp_path / name
    settings = PIPELINE_SETTINGS[name]
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--model", name, "--stay", "icustay", "--feature", "variable", "--seed", "7",
          *[f"--set={k}={v!r}" for k, v in settings.items()], "--quiet"])
    steps = dict(json.loads((out / "model.json").read_text())["model"]["steps"])
    params = [step["params"] for step in steps.values()]
    for key, value in settings.items():
        assert value in [p[key] for p in params if key in p], (key, params)
    seeds = [p["random_state"] for p in params if "random_state" in p]
    assert seeds and set(seeds) == {7}
    # saved, loaded and scored (xgboost and random_forest included: their trees are plain data)
    risk_file = tmp_path / "risk.csv"
    main(["predict", str(out), str(files / "held_out.parquet"), "--out", str(risk_file),
          "--stay", "icustay", "--feature", "variable", "--quiet"])
    events = EventSet.from_long(pd.read_parquet(files / "held_out.parquet"), stay="icustay",
                                feature="variable")
    risk = pd.read_csv(risk_file, index_col="icustay")["risk"].loc[events.stay_ids]
    expected = load_model(out).predict_proba(events)[:, 1]  # XGBoost's are float32
    np.testing.assert_array_equal(risk.to_numpy().astype(expected.dtype), expected)


def _built(argv):
    """The model `medfuse fit ARGV` would train, built as the command builds it."""
    from medfuse_sk.cli import build_parser
    from medfuse_sk.cli._train import _build, _configuration

    args = build_parser().parse_args(["fit", "events.csv", "labels.csv", "--out", "m", *argv])
    return _build(args, *_configuration(args))


def test_the_seed_reaches_every_estimator_of_every_registered_model():
    from medfuse_sk.models import available_models

    built = 0
    for name in available_models():
        try:
            model = _built(["--model", name, "--seed", "123", "--quiet"])
        except SystemExit:  # an optional dependency is missing: reported by its own test
            continue
        seeds = {k: v for k, v in model.get_params(deep=True).items()
                 if k == "random_state" or k.endswith("__random_state")}
        assert seeds and set(seeds.values()) == {123}, (name, seeds)
        built += 1
    assert built >= 10
    # a recipe's factory routes its settings: the MedFuse networks of the recommended ensemble
    # get max_epochs, not the GRU-D beside them
    model = _built(["--model", "medfuse_recommended", "--set", "max_epochs=1", "--quiet"])
    epochs = {k: v for k, v in model.get_params(deep=True).items() if k.endswith("max_epochs")}
    assert epochs["medfuse__max_epochs"] == 1 and epochs["grud__max_epochs"] != 1
    # a setting the factory turns into something else counts as reaching the model: n_jobs=1
    # fits the recommended ensemble in this process, its MedFuse networks in one part
    model = _built(["--model", "medfuse_recommended", "--set", "n_jobs=1", "--quiet"])
    assert model.n_jobs is None and "medfuse2" not in dict(model.estimators)


def test_a_setting_no_estimator_receives_is_an_error(files, tmp_path, capsys, plain_sklearn_model):
    absent = str(tmp_path / "absent.csv")
    err = _error(["fit", absent, str(files / "labels.csv"), "--out", str(tmp_path / "m"),
                  "--model", plain_sklearn_model, "--set", "C=0.5"], capsys)
    assert "--set C=0.5: the plain_sklearn model's factory did not pass it to any estimator" in err
    err = _error(["fit", absent, str(files / "labels.csv"), "--out", str(tmp_path / "m"),
                  "--model", "xgboost", "--set", "max_dept=3"], capsys)
    assert "unknown parameter 'max_dept'; did you mean 'max_depth'?" in err
    assert "its earlystoppedxgbclassifier (EarlyStoppedXGBClassifier): " in err


def test_a_model_without_a_seed_says_so_in_one_line(tmp_path, capsys):
    class Seedless(EventCountClassifier):
        def __init__(self, count_feature="HR", stay="stay_id", time="time", feature="feature",
                     value="value", categorical=None):
            super().__init__(count_feature, stay, time, feature, value, categorical)
            del self.random_state

    register_model("seedless", Seedless)
    try:
        argv = ["fit", str(tmp_path / "absent.csv"), str(tmp_path / "absent.csv"),
                "--out", str(tmp_path / "m"), "--model", "seedless"]
        with pytest.raises(SystemExit):
            main([*argv, "--seed", "4"])
        note, error = capsys.readouterr().err.splitlines()
        assert note == ("[medfuse fit] --seed 4: the seedless model has no random_state; the "
                        "seed is not used")
        assert error.startswith("medfuse fit: error: ") and "absent.csv" in error
        with pytest.raises(SystemExit):  # no --seed given: nothing to say
            main(argv)
        assert len(capsys.readouterr().err.splitlines()) == 1
    finally:
        unregister_model("seedless")


def test_p12_settings_are_checked_before_looking_for_data(tmp_path, capsys):
    err = _error(["p12", "--data", str(tmp_path / "nowhere"), "--set", "windw=2"], capsys)
    assert "--set: unknown parameter 'windw'; did you mean 'window'?" in err
    err = _error(["p12", "--data", str(tmp_path / "nowhere"), "--set", "combine=None",
                  "--set", "n_jobs=1", "--quiet"], capsys)
    assert "nowhere" in err  # the data's folder, named in one line


@pytest.mark.parametrize("setting, message", [
    ("d_model=0", "The 'd_model' parameter of MedFuseClassifier must be"),
    ("d_model=30", "d_model=30 must be a multiple of n_heads=4"),
])
def test_setting_values_are_checked_before_any_data(setting, message, tmp_path, capsys):
    err = _error(["fit", str(tmp_path / "absent.csv"), str(tmp_path / "absent.csv"), "--set",
                  setting, "--out", str(tmp_path / "model")], capsys)
    assert message in err and "absent.csv" not in err, err
