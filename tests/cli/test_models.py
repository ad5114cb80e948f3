"""`medfuse fit --model NAME`: any registered model, its settings checked before any data."""

import json

import numpy as np
import pandas as pd
import pytest
from synthetic import event_count_classifier

from medfuse_sk.cli import main
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


def test_unknown_and_unsaveable_models_fail_before_any_data(files, tmp_path, capsys):
    absent = str(tmp_path / "absent.csv")
    labels, out = str(files / "labels.csv"), str(tmp_path / "m")
    err = _error(["fit", absent, labels, "--out", out, "--model", "medfus"], capsys)
    assert "--model: no model named 'medfus' (did you mean 'medfuse'?)" in err
    assert "random_forest" in err  # the registered names are listed
    err = _error(["fit", absent, labels, "--out", out, "--model", "random_forest"], capsys)
    assert "--model random_forest: cannot be written as a model folder" in err
    assert not (tmp_path / "m").exists()


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
