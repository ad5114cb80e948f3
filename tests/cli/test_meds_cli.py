"""``--meds DIR --task DIR`` on fit, predict and evaluate: meds-evaluation's predictions out,
the model folder remembering how the training split was read; one-line errors (exit 2)."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from conftest import FIT_SETTINGS

from medfuse_sk.cli import main
from medfuse_sk.datasets import load_sample
from medfuse_sk.datasets.meds import load_meds, write_meds
from medfuse_sk.io import load_model


@pytest.fixture(scope="module")
def p12_meds(tmp_path_factory):
    """120 training and 80 tuning stays of the packaged P12 sample, as a MEDS dataset + task."""
    sample = load_sample("all")
    split = sample.stay_split.to_numpy()
    ids = np.concatenate([sample.stay_ids[split == "train"][:120],
                          sample.stay_ids[split == "val"][:80]])
    cut = sample.__class__(**{**sample.__dict__, "events": sample.events[
        sample.events["stay_id"].isin(ids)].reset_index(drop=True), "labels": sample.labels.loc[ids],
        "stay_ids": ids, "stay_split": sample.stay_split.loc[ids]})
    return write_meds(cut, tmp_path_factory.mktemp("p12_meds"), prediction_time=48.0)


@pytest.fixture(scope="module")
def meds_model(p12_meds, tmp_path_factory):
    out = tmp_path_factory.mktemp("meds_model") / "model"
    main(["fit", "--meds", str(p12_meds.data_dir), "--task", str(p12_meds.task_dir), "--out",
          str(out), "--lookback", "48", "--quiet", *FIT_SETTINGS, "--set", "max_epochs=1"])
    return out


def _args(export):
    return ["--meds", str(export.data_dir), "--task", str(export.task_dir)]


def test_fit_predict_evaluate_on_meds(p12_meds, meds_model, tmp_path):
    reading = json.loads((meds_model / "meds.json").read_text())
    assert reading["lookback_hours"] == 48 and reading["vocabulary"]["features"]
    out = tmp_path / "predictions.parquet"
    main(["predict", str(meds_model), *_args(p12_meds), "--split", "tuning", "--out", str(out),
          "--quiet"])
    predictions = pd.read_parquet(out)
    assert list(predictions.columns) == ["subject_id", "prediction_time", "boolean_value",
                                         "predicted_boolean_value",
                                         "predicted_boolean_probability"]
    assert str(pq.read_schema(out).field("predicted_boolean_probability").type) == "double"
    # what the model predicts on the tuning split read as the training split was
    from medfuse_sk.datasets.meds import MEDSVocabulary

    tuning = load_meds(p12_meds.data_dir, p12_meds.task_dir, split="tuning", lookback=48,
                       vocabulary=MEDSVocabulary.from_dict(reading["vocabulary"]))
    expected = load_model(meds_model).predict_proba(tuning.to_event_set())[:, 1]
    assert predictions["subject_id"].tolist() == tuning.samples["subject_id"].tolist()
    np.testing.assert_allclose(predictions["predicted_boolean_probability"], expected, rtol=1e-6)
    assert (predictions["predicted_boolean_value"] == (expected >= 0.5)).all()
    assert predictions["boolean_value"].tolist() == tuning.labels.astype(bool).tolist()

    import polars as pl
    from meds_evaluation.evaluate import evaluate_binary_classification
    from sklearn.metrics import roc_auc_score

    scored = evaluate_binary_classification(pl.read_parquet(out))["samples_equally_weighted"]
    assert scored["roc_auc_score"] == pytest.approx(roc_auc_score(tuning.labels, expected))

    main(["evaluate", str(meds_model), *_args(p12_meds), "--split", "val", "--out",
          str(tmp_path / "eval"), "--quiet", "--n-bootstrap", "20"])
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n_stays"] == 80 and metrics["auroc"]["value"] == pytest.approx(
        scored["roc_auc_score"])
    again = pd.read_parquet(tmp_path / "eval" / "meds_predictions.parquet")
    pd.testing.assert_frame_equal(again, predictions)


@pytest.mark.parametrize("argv, message", [
    (["fit", "--meds", "D", "--out", "x"], "--meds DIR and --task DIR go together"),
    (["fit", "--meds", "D", "--task", "T", "--cohort", "p12", "--out", "x"],
     "give --meds/--task or --cohort p12, not both"),
    (["fit", "e.csv", "l.csv", "--meds", "D", "--task", "T", "--out", "x"],
     "--meds reads its own events and labels; leave out the file(s) e.csv l.csv"),
    (["fit", "e.csv", "l.csv", "--lookback", "48", "--out", "x"],
     "--lookback apply to --meds DIR --task DIR only"),
    (["fit", "--meds", "D", "--task", "T", "--time-unit", "min", "--out", "x"],
     "leave out --time-unit"),
    (["fit", "--out", "x"], "give EVENTS LABELS files, --meds DIR --task DIR, or --cohort NAME"),
    (["fit", "--meds", "/nowhere", "--task", "/nowhere", "--out", "x"],
     "MEDS dataset folder /nowhere does not exist"),
])
def test_input_errors_are_one_line(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*argv, "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"medfuse {argv[0]}: error: ") and message in err, err


def test_predict_errors_name_the_fix(p12_meds, meds_model, tmp_path, capsys):
    cases = [
        (["--out", str(tmp_path / "p.csv")], "--out FILE.parquet"),
        (["--lookback", "12", "--out", str(tmp_path / "p.parquet")],
         "--lookback 12.0: the model was fitted on MEDS data read with --lookback 48.0"),
        (["--split", "dev", "--out", str(tmp_path / "p.parquet")], "unknown split 'dev'"),
    ]
    for extra, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["predict", str(meds_model), *_args(p12_meds), *extra, "--quiet"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1, err
        assert message in err, err


def test_a_bad_task_is_one_line(p12_meds, tmp_path, capsys):
    labels = pd.read_parquet(p12_meds.task_dir / "labels.parquet").assign(extra=1)
    (tmp_path / "task").mkdir()
    labels.to_parquet(tmp_path / "task" / "labels.parquet")
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", "--meds", str(p12_meds.data_dir), "--task", str(tmp_path / "task"),
              "--out", str(tmp_path / "m"), "--quiet"])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1
    assert "columns outside the MEDS label schema: 'extra'" in err, err


def test_add_input_and_load_input_give_any_command_the_three_inputs(p12_meds, files):
    """The helper other commands (benchmark) build on: one parser, three kinds of input."""
    import argparse

    from medfuse_sk.cli._common import add_input, load_input

    parser = argparse.ArgumentParser()
    add_input(parser, split="train")
    meds = load_input(parser.parse_args(_args(p12_meds) + ["--lookback", "48"]),
                      split=["train", "tuning"])
    assert meds.kind == "meds" and meds.cohort.split == ("train", "val")
    assert meds.cohort.stay_split.value_counts().to_dict() == {"train": 120, "val": 80}
    assert meds.labels.index.tolist() == meds.X.stay_ids.tolist()
    assert meds.meds_reading["lookback_hours"] == 48 and meds.meds_reading["vocabulary"]
    table = load_input(parser.parse_args([str(files / "events.csv.gz"), str(files / "labels.csv"),
                                          "--stay", "icustay", "--feature", "variable"]))
    assert table.kind == "files" and table.cohort is None and table.meds_reading is None
    assert len(table.labels) == len(table.X) == 200
