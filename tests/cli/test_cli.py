import argparse
import importlib.util
import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic import cut_sample

from medfuse_sk import MedFuseClassifier
from medfuse_sk.cli import build_parser, main, parse_setting

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "physionet2012"
needs_data = pytest.mark.skipif(not SHARED.exists(), reason="shared P12 data not found")


def test_settings_parse_python_literals_and_words():
    assert parse_setting("window=None") == ("window", None)
    assert parse_setting("lr=3e-4") == ("lr", 3e-4)
    assert parse_setting("fusion=add") == ("fusion", "add")
    with pytest.raises(Exception, match="key=value"):
        parse_setting("fusion")


def test_parser_knows_both_commands():
    parser = build_parser()
    assert parser.parse_args(["demo", "--epochs", "3"]).epochs == 3
    args = parser.parse_args(["p12", "--eval-split", "val", "--set", "fusion=add"])
    assert args.eval_split == "val" and args.set == [("fusion", "add")]


def _parsers(parser, path="medfuse"):
    """(command, parser) of ``parser`` and of every subcommand under it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


#: reStructuredText that reads as noise in a terminal: ``literal``, :role:`x`, `link`_
MARKUP = re.compile(r"``|:(?:func|class|mod|meth|data|attr|obj|ref|doc):|`_")


def test_every_option_and_command_has_help_text():
    missing = []
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                helps = {choice.dest: choice.help for choice in action._choices_actions}
                missing += [f"{path} {name}" for name in action.choices if not helps.get(name)]
            elif not action.help or action.help == argparse.SUPPRESS:
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, f"options without help text: {missing}"


def test_no_markup_in_any_help_or_description():
    marked = {path: sorted(set(MARKUP.findall(parser.format_help())))
              for path, parser in _parsers(build_parser())}
    assert len(marked) >= 7  # medfuse and its six commands
    assert not {path: found for path, found in marked.items() if found}


def test_p12_without_data_ends_in_one_line_that_says_where_to_put_it(tmp_path, monkeypatch,
                                                                     capsys):
    from medfuse_sk.datasets import ENV_CACHE

    monkeypatch.delenv("MEDFUSE_P12_DIR", raising=False)
    monkeypatch.setenv(ENV_CACHE, str(tmp_path / "empty_cache"))
    with pytest.raises(SystemExit) as exit_info:
        main(["p12", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("medfuse p12: error: PhysioNet 2012 data not found") \
        and err.count("\n") == 1, err
    assert "MEDFUSE_P12_DIR" in err and err.rstrip().endswith("medfuse p12 --data DIR.")


@needs_data
def test_p12_on_the_held_back_test_split_names_the_missing_records(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["p12", "--data", str(SHARED), "--eval-split", "test", "--quiet"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("medfuse p12: error: ") and err.count("\n") == 1
    assert "missing" in err and "split 'test'" in err


@pytest.mark.slow
@needs_data
def test_p12_val_run_writes_metrics_and_curves(tmp_path):
    out = tmp_path / "run"
    main(["p12", "--data", str(SHARED), "--eval-split", "val", "--quiet", "--out", str(out),
          "--set", "max_epochs=1", "--set", "d_model=16", "--set", "n_heads=2"])
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("auprc", "auroc", "accuracy"):
        assert 0 <= metrics[key]["ci_low"] <= metrics[key]["value"] <= metrics[key]["ci_high"] <= 1
    assert metrics["n_stays"] == 1920 and metrics["config"]["d_model"] == 16
    assert (out / "curves.png").stat().st_size > 10_000


# -- the demo prints the figures of its model ------------------------------------------------
def _printed_demo_figures(out: str) -> dict[str, float]:
    """What `medfuse demo` printed: stays, deaths, and each metric with its interval."""
    stays = re.search(r"held-out stays: (\d+) \((\d+) deaths\)", out)
    assert stays, out
    figures = {"n": int(stays.group(1)), "deaths": int(stays.group(2))}
    for name in ("auprc", "auroc", "accuracy"):
        row = re.search(rf"^  {name.upper()} +([0-9.]+)  \(95% CI ([0-9.]+)–([0-9.]+)\)$", out,
                        re.MULTILINE)
        assert row, f"no {name.upper()} line in {out!r}"
        figures[name], low, high = (float(x) for x in row.groups())
        assert low <= figures[name] <= high
    return figures


def _expected_demo_figures(epochs: int, seed: int) -> dict[str, float]:
    """The demo's model built and fitted through the Python API, scored by scikit-learn."""
    from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score
    from sklearn.pipeline import make_pipeline

    from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
    from medfuse_sk.datasets import load_sample

    train, held_out = load_sample("train"), load_sample("val")
    X = EventSet.from_long(train.events, categorical=train.categorical, stays=train.stay_ids)
    X_test = EventSet.from_long(held_out.events, categorical=held_out.categorical,
                                stays=held_out.stay_ids)
    model = make_pipeline(EventTokenizer(window=2.0, horizon=48.0),
                          MedFuseClassifier(max_epochs=epochs, random_state=seed, verbose=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        proba = model.fit(X, train.labels.loc[X.stay_ids]).predict_proba(X_test)[:, 1]
    y = held_out.labels.loc[X_test.stay_ids].to_numpy()
    return {"n": len(y), "deaths": int(y.sum()), "auprc": average_precision_score(y, proba),
            "auroc": roc_auc_score(y, proba), "accuracy": accuracy_score(y, proba >= 0.5)}


def _check_demo(capsys, epochs: int, seed: int) -> None:
    main(["demo", "--epochs", str(epochs), "--seed", str(seed), "--quiet"])
    printed = _printed_demo_figures(capsys.readouterr().out)
    expected = _expected_demo_figures(epochs, seed)
    assert printed["n"] == expected["n"] and printed["deaths"] == expected["deaths"]
    for name in ("auprc", "auroc", "accuracy"):  # printed to 3 decimals
        assert printed[name] == pytest.approx(expected[name], abs=5.1e-4), name


@pytest.fixture
def small_sample(monkeypatch):
    """`load_sample` cut to 150 training and 100 held-out stays (for the demo's fast test)."""
    cut_sample(monkeypatch, 150, 100)


def test_demo_prints_the_metrics_of_its_model(small_sample, capsys):
    _check_demo(capsys, epochs=1, seed=3)


@pytest.mark.slow
def test_demo_runs(capsys):
    _check_demo(capsys, epochs=2, seed=0)


# -- fit / predict / evaluate on the packaged sample, end to end ----------------------------
def test_fit_writes_a_model_folder_and_shows_progress(fitted_dir, capsys):
    config = json.loads((fitted_dir / "model.json").read_text())
    params = config["model"]["params"]
    assert params["max_epochs"] == 2 and params["stay"] == "icustay"
    assert params["categorical"] == ["Gender", "ICUType"]
    assert config["model"]["fitted"]["tokenizer_"]["__estimator__"]["params"]["window"] == 4.0
    assert len(config["history"][""]) == 2


def test_fit_prints_the_epoch_table_and_progress_lines(files, tmp_path, capsys):
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out",
          str(tmp_path / "m"), "--stay", "icustay", "--feature", "variable",
          "--set", "max_epochs=1", "--set", "d_model=8", "--set", "n_heads=1",
          "--set", "valid_size=0.1"])
    captured = capsys.readouterr()
    assert "train_loss" in captured.out and "valid_auprc" in captured.out
    assert "[medfuse fit] " in captured.err and "200 labelled stays" in captured.err
    assert "wrote" in captured.err


def test_predict_writes_the_risks_the_saved_model_gives(files, fitted_dir, tmp_path):
    from medfuse_sk import EventSet
    from medfuse_sk.io import load_model

    risk_file = tmp_path / "risk.csv"
    main(["predict", str(fitted_dir), str(files / "held_out.parquet"), "--out", str(risk_file),
          "--quiet"])
    risk = pd.read_csv(risk_file)
    assert risk.columns.tolist() == ["icustay", "risk"]
    # independently: the saved model on the same stays, built by hand
    events = pd.read_parquet(files / "held_out.parquet")
    X = EventSet.from_long(events, stay="icustay", feature="variable",
                           categorical=["Gender", "ICUType"])
    expected = load_model(fitted_dir).predict_risk(X)
    np.testing.assert_array_equal(risk["icustay"], expected.index)
    np.testing.assert_allclose(risk["risk"], expected.to_numpy(), rtol=1e-6)
    assert risk["risk"].between(0, 1).all() and risk["risk"].std() > 0


def test_evaluate_reports_intervals_and_writes_curves(files, fitted_dir, tmp_path, capsys):
    from sklearn.metrics import average_precision_score, roc_auc_score

    out = tmp_path / "evaluation"
    main(["evaluate", str(fitted_dir), str(files / "held_out.parquet"),
          str(files / "held_out_labels.csv"), "--out", str(out), "--n-bootstrap", "200", "--quiet"])
    printed = capsys.readouterr().out
    assert "AUPRC" in printed and "95% CI" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = pd.read_csv(out / "predictions.csv")
    labels = pd.read_csv(files / "held_out_labels.csv").set_index("icustay")["died"]
    y = labels.loc[predictions["stay_id"]].to_numpy()
    assert metrics["n_stays"] == 120 and metrics["n_bootstrap"] == 200
    assert metrics["auprc"]["value"] == pytest.approx(average_precision_score(y, predictions["proba"]))
    assert metrics["auroc"]["value"] == pytest.approx(roc_auc_score(y, predictions["proba"]))
    assert metrics["auprc"]["ci_low"] < metrics["auprc"]["value"] < metrics["auprc"]["ci_high"]
    assert (out / "curves.png").stat().st_size > 10_000


def test_config_file_then_set_options(files, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"max_epochs": 3, "d_model": 8, "n_heads": 1, "window": 6.0,
                                  "fusion": "add"}))
    out = tmp_path / "m"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--stay", "icustay", "--feature", "variable", "--config", str(config),
          "--set", "max_epochs=1", "--quiet"])
    saved = json.loads((out / "model.json").read_text())["model"]
    assert saved["params"]["max_epochs"] == 1 and saved["params"]["fusion"] == "add"
    assert saved["params"]["tokenizer"]["__estimator__"]["params"]["window"] == 6.0


def _error(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    return capsys.readouterr().err


def test_errors_name_the_file_and_the_column(files, fitted_dir, tmp_path, capsys):
    events, labels = str(files / "events.csv.gz"), str(files / "labels.csv")
    out = str(tmp_path / "m")
    err = _error(["fit", events, labels, "--out", out, "--stay", "icustay"], capsys)
    assert f"events file {events}: no column 'feature' (the feature column, set with --feature)" in err
    err = _error(["fit", events, labels, "--out", out], capsys)
    assert f"labels file {labels}: no column 'stay_id'" in err
    err = _error(["fit", str(tmp_path / "nope.csv"), labels, "--out", out, "--stay", "icustay"],
                 capsys)
    assert "nope.csv: not found" in err
    err = _error(["fit", events, labels, "--out", out, "--stay", "icustay", "--feature",
                  "variable", "--set", "windw=2"], capsys)
    assert "--set: unknown parameter 'windw'; did you mean 'window'?" in err

    bad_labels = tmp_path / "bad_labels.csv"
    table = pd.read_csv(labels)
    table.loc[3, "died"] = 7
    table.assign(extra=1).to_csv(bad_labels, index=False)
    err = _error(["fit", events, str(bad_labels), "--out", out, "--stay", "icustay"], capsys)
    assert "name the label column with --label" in err
    err = _error(["fit", events, str(bad_labels), "--out", out, "--stay", "icustay",
                  "--label", "died"], capsys)
    assert f"labels file {bad_labels}: column 'died' must hold 0/1" in err and "[7]" in err

    bad_time = tmp_path / "bad_time.csv"
    pd.read_csv(events).assign(time="soon").to_csv(bad_time, index=False)
    err = _error(["fit", str(bad_time), labels, "--out", out, "--stay", "icustay", "--feature",
                  "variable"], capsys)
    assert f"events file {bad_time}: column 'time' (--time) must hold numbers" in err

    err = _error(["predict", str(tmp_path), events, "--out", str(tmp_path / "r.csv")], capsys)
    assert "model.json: missing" in err
    err = _error(["fit", events, labels, "--out", out, "--stay", "icustay", "--feature",
                  "variable", "--set", "max_epochs=0"], capsys)
    assert "max_epochs" in err


def test_csv_datetimes_become_hours_since_each_stays_first_event(tmp_path):
    from medfuse_sk.io import read_events

    path = tmp_path / "events.csv"
    pd.DataFrame({"stay_id": [1, 1, 2, 2], "time": ["2024-01-01 08:00", "2024-01-01 09:30",
                                                   "2024-02-03 00:00", "2024-02-04 00:00"],
                  "feature": ["HR", "HR", "HR", "Temp"], "value": [80, 90, 70, 37.0]}).to_csv(
        path, index=False)
    X = read_events(str(path), {"stay": "stay_id", "time": "time", "feature": "feature",
                                "value": "value"})
    np.testing.assert_allclose(X.columns["time"], [0.0, 1.5, 0.0, 24.0])


def test_progress_bar_during_training_is_not_saved(files, tmp_path, capsys):
    out = tmp_path / "m"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--stay", "icustay", "--feature", "variable", "--set", "max_epochs=1",
          "--set", "d_model=8", "--set", "n_heads=1", "--progress"])
    assert "it/s" in capsys.readouterr().err  # tqdm's bar over the epoch's batches
    assert json.loads((out / "model.json").read_text())["model"]["params"]["callbacks"] is None


# -- time units: --time-unit on every command that reads events ------------------------------
@pytest.fixture(scope="module")
def minute_files(tmp_path_factory):
    """120 training stays of the sample as its raw file holds them (times in a ``minute``
    column), the same minutes converted to hours (``time``), and their labels."""
    import medfuse_sk.datasets
    from medfuse_sk.datasets import load_sample

    root = tmp_path_factory.mktemp("minutes")
    raw = pd.read_csv(Path(medfuse_sk.datasets.__file__).parent / "data"
                      / "p12_sample_events.csv.gz")
    assert raw.columns.tolist() == ["stay_id", "minute", "feature", "value"]
    train = load_sample("train")
    ids = train.stay_ids[:120]
    raw = raw[raw["stay_id"].isin(ids)]
    raw.to_csv(root / "minutes.csv", index=False)
    raw.assign(minute=raw["minute"] / 60).rename(columns={"minute": "time"}).to_csv(
        root / "hours.csv", index=False)
    train.labels.loc[ids].rename("died").reset_index().to_csv(root / "labels.csv", index=False)
    return root


def test_a_minute_column_is_read_only_with_its_unit_and_the_model_remembers_it(
        minute_files, tmp_path, capsys):
    minutes, hours = str(minute_files / "minutes.csv"), str(minute_files / "hours.csv")
    labels, out = str(minute_files / "labels.csv"), tmp_path / "m"
    err = _error(["fit", minutes, labels, "--out", str(out), "--time", "minute"], capsys)
    assert err.count("\n") == 1 and err.startswith("medfuse fit: error: ")
    assert (f"events file {minutes}: column 'minute' looks like minutes but time_unit='h' (its "
            "numbers would be read as hours). Pass --time-unit min, or rename the column") in err
    main(["fit", minutes, labels, "--out", str(out), "--time", "minute", "--time-unit", "min",
          "--quiet", "--set", "max_epochs=2", "--set", "d_model=16", "--set", "n_heads=2",
          "--set", "window=4.0", "--set", "max_tokens=60"])
    params = json.loads((out / "model.json").read_text())["model"]["params"]
    assert params["time"] == "minute" and params["time_unit"] == "min"
    # predict reads minutes with the saved unit: the risks of the same stays given in hours
    main(["predict", str(out), minutes, "--out", str(tmp_path / "a.csv"), "--quiet"])
    main(["predict", str(out), hours, "--time", "time", "--time-unit", "h", "--out",
          str(tmp_path / "b.csv"), "--quiet"])
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert len(a) == 120 and a["stay_id"].tolist() == b["stay_id"].tolist()
    np.testing.assert_allclose(a["risk"], b["risk"], rtol=1e-6)
    assert a["risk"].std() > 0
    # --time-unit overrides the saved unit
    err = _error(["predict", str(out), minutes, "--time-unit", "h", "--out",
                  str(tmp_path / "c.csv")], capsys)
    assert "column 'minute' looks like minutes but time_unit='h'" in err
    main(["evaluate", str(out), minutes, labels, "--n-bootstrap", "20", "--quiet"])
    assert capsys.readouterr().out.startswith("120 stays")
    if importlib.util.find_spec("captum") is not None:  # explain reads minutes the same way
        main(["explain", str(out), minutes, "--out", str(tmp_path / "x"), "--max-stays", "3",
              "--plot", "0", "--quiet"])
        explained = pd.read_csv(tmp_path / "x" / "stays.csv", index_col=0)
        np.testing.assert_allclose(explained["risk"], a["risk"][:3], rtol=1e-5)


def test_an_aggregate_pipeline_remembers_how_its_events_were_read(minute_files, tmp_path):
    """A Pipeline whose steps have no column parameters (aggregates → a linear model) reads
    its next table with the fit's columns and unit (the aggregate step remembers them)."""
    minutes, hours = str(minute_files / "minutes.csv"), str(minute_files / "hours.csv")
    renamed = tmp_path / "renamed.csv"
    pd.read_csv(minutes).rename(columns={"stay_id": "icu", "feature": "item"}).to_csv(
        renamed, index=False)
    labels = pd.read_csv(minute_files / "labels.csv").rename(columns={"stay_id": "icu"})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    out = tmp_path / "m"
    main(["fit", str(renamed), str(tmp_path / "labels.csv"), "--out", str(out), "--model",
          "logistic_regression", "--stay", "icu", "--feature", "item", "--time", "minute",
          "--time-unit", "min", "--quiet"])
    main(["predict", str(out), str(renamed), "--out", str(tmp_path / "a.csv"), "--quiet"])
    main(["predict", str(out), hours, "--out", str(tmp_path / "b.csv"), "--quiet", "--stay",
          "stay_id", "--feature", "feature", "--time", "time", "--time-unit", "h"])
    a, b = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "b.csv")
    assert a.columns.tolist() == ["icu", "risk"] and len(a) == 120
    np.testing.assert_allclose(a["risk"], b["risk"], rtol=1e-6)


def test_time_unit_options_that_cannot_apply_are_errors(files, tmp_path, capsys):
    events, labels = str(files / "events.csv.gz"), str(files / "labels.csv")
    out = str(tmp_path / "m")
    err = _error(["fit", events, labels, "--out", out, "--stay", "icustay", "--feature",
                  "variable", "--set", "time_unit=min"], capsys)
    assert "--set: time_unit has its own option: --time-unit" in err
    err = _error(["fit", "--cohort", "p12", "--out", out, "--time-unit", "min"], capsys)
    assert "--cohort p12 reads its own events, timed in hours; leave out --time-unit min" in err
    err = _error(["fit", events, labels, "--out", out, "--time-unit", "minutes"], capsys)
    assert "--time-unit: invalid choice: 'minutes'" in err


def test_an_ensembles_members_remember_the_columns_and_the_unit():
    pytest.importorskip("pypots")
    pytest.importorskip("xgboost")
    from medfuse_sk.cli import build_parser
    from medfuse_sk.cli._common import time_unit
    from medfuse_sk.cli._train import _build
    from medfuse_sk.utils import find_estimators

    args = build_parser().parse_args(["fit", "e.csv", "l.csv", "--out", "m", "--model",
                                      "medfuse_recommended", "--time-unit", "min", "--time",
                                      "minute"])
    model = _build(args, {}, {})
    readers = find_estimators(model, lambda est: hasattr(est, "time_unit"))
    assert len(readers) >= 2 and all(est.time_unit == "min" for _, est in readers)
    assert all(est.time == "minute" for _, est in readers if hasattr(est, "time"))
    assert time_unit(build_parser().parse_args(["predict", "m", "e.csv", "--out", "r"]),
                     model) == "min"


def test_a_categorical_name_that_matches_no_feature_is_an_error_naming_the_closest(
        files, tmp_path, capsys):
    err = _error(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out",
                  str(tmp_path / "m"), "--stay", "icustay", "--feature", "variable",
                  "--categorical", "gender", "ICUType"], capsys)
    assert err.count("\n") == 1
    assert ("categorical feature 'gender' is not a feature of the table (column 'variable'); "
            "did you mean 'Gender'?") in err


# -- the p12 recipe's whole path, fast: the bundled sample as a registered cohort ------------
@pytest.fixture
def sample_cohort():
    """The bundled sample (300 train, 150 val stays) registered as the cohort ``p12_sample``."""
    import dataclasses

    from medfuse_sk.datasets import load_sample, register_cohort, unregister_cohort

    def loader(split, data_dir=None, **_):
        (part,) = [split] if isinstance(split, str) else split  # the val protocol: one split
        cohort = load_sample(part)
        ids = cohort.stay_ids[:300 if part == "train" else 150]
        return dataclasses.replace(cohort, events=cohort.events[cohort.events["stay_id"].isin(ids)],
                                   labels=cohort.labels.loc[ids], stay_ids=ids)

    register_cohort("p12_sample", loader, task="in-hospital death", splits=("train", "val"))
    yield "p12_sample"
    unregister_cohort("p12_sample")


def test_the_p12_recipe_runs_end_to_end_on_a_registered_cohort(sample_cohort, tmp_path, capsys):
    out = tmp_path / "run"
    main(["p12", "--cohort", sample_cohort, "--eval-split", "val", "--quiet", "--out", str(out),
          "--set", "max_epochs=1", "--set", "d_model=16", "--set", "fusion=('mufuse', 'add')",
          "--set", "combine=('xgboost',)", "--set", "n_jobs=1"])
    printed = json.loads(capsys.readouterr().out.split("wrote")[0])
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_stays"] == 150 and metrics["config"]["d_model"] == 16
    assert printed["auprc"]["value"] == metrics["auprc"]["value"]
    members = pd.read_csv(out / "members.csv")
    # each network of the module and the voting member, scored on the same 150 stays
    assert len(members) == 150 and {"xgboost"} <= set(members.columns)
    assert set(metrics["members"]) == set(members.columns) - {"stay_id"}
    assert (out / "curves.png").stat().st_size > 10_000


def test_a_tokenizer_setting_keeps_the_models_other_tokenizer_defaults(files, tmp_path):
    out = tmp_path / "m"
    main(["fit", str(files / "events.csv.gz"), str(files / "labels.csv"), "--out", str(out),
          "--stay", "icustay", "--feature", "variable", "--set", "max_epochs=1",
          "--set", "d_model=8", "--set", "n_heads=1", "--set", "max_tokens=50", "--quiet"])
    tokenizer = json.loads((out / "model.json").read_text())["model"]["params"]["tokenizer"]
    params = tokenizer["__estimator__"]["params"]
    assert params["max_tokens"] == 50
    assert params["window"] == MedFuseClassifier.tokenizer_defaults["window"] == 2.0
