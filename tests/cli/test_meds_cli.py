"""``--meds DIR --task DIR`` on fit, predict and evaluate: meds-evaluation's predictions out,
the model folder remembering how the training split was read; one-line errors (exit 2)."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

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
def meds_model(p12_meds, tmp_path_factory, fit_settings):
    out = tmp_path_factory.mktemp("meds_model") / "model"
    main(["fit", "--meds", str(p12_meds.data_dir), "--task", str(p12_meds.task_dir), "--out",
          str(out), "--lookback", "48", "--quiet", *fit_settings, "--set", "max_epochs=1"])
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


@pytest.fixture(scope="module")
def dask_address():
    """A small local Dask cluster (one worker thread) reached by its TCP address."""
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  protocol="tcp", dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def test_dask_prepares_the_shards_on_a_cluster_for_fit_predict_and_evaluate(
        p12_meds, dask_address, tmp_path):
    import distributed

    common = [*_args(p12_meds), "--lookback", "48", "--quiet"]
    with distributed.Client(dask_address, set_as_default=False) as watcher, \
            distributed.get_task_stream(watcher) as tasks:
        main(["fit", *common, "--model", "logistic_regression", "--dask", dask_address,
              "--out", str(tmp_path / "remote")])
        main(["predict", str(tmp_path / "remote"), *_args(p12_meds), "--split", "tuning",
              "--dask", dask_address, "--out", str(tmp_path / "remote.parquet"), "--quiet"])
        main(["evaluate", str(tmp_path / "remote"), *_args(p12_meds), "--split", "tuning",
              "--dask", dask_address, "--n-bootstrap", "10", "--out", str(tmp_path / "eval"),
              "--quiet"])
    shards = [t for t in tasks.data if "prepare_shard" in str(t["key"])]
    assert len(shards) >= 3  # a task per shard read, on each of the three commands
    # the same model and predictions as the shards prepared here
    main(["fit", *common, "--model", "logistic_regression", "--out", str(tmp_path / "local")])
    assert (tmp_path / "remote" / "model.json").read_text().split('"weights"')[1] == \
        (tmp_path / "local" / "model.json").read_text().split('"weights"')[1]
    main(["predict", str(tmp_path / "local"), *_args(p12_meds), "--split", "tuning",
          "--out", str(tmp_path / "local.parquet"), "--quiet"])
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "remote.parquet"),
                                  pd.read_parquet(tmp_path / "local.parquet"))
    assert json.loads((tmp_path / "eval" / "metrics.json").read_text())["n_stays"] == 80


def test_dask_errors_are_one_line(p12_meds, tmp_path, capsys, monkeypatch):
    from medfuse_sk.cli import _common

    monkeypatch.setattr(_common, "DASK_TIMEOUT", 0.5)
    cases = [
        (["e.csv", "l.csv", "--dask", "tcp://127.0.0.1:1"],
         "--dask apply to --meds DIR --task DIR only"),
        ([*_args(p12_meds), "--read-jobs", "2", "--dask", "tcp://127.0.0.1:1"],
         "--read-jobs 2 and --dask tcp://127.0.0.1:1: the cluster's workers prepare the shards"),
        ([*_args(p12_meds), "--dask", "tcp://127.0.0.1:1"],
         "--dask tcp://127.0.0.1:1: no Dask scheduler answered there within 0.5 s"),
    ]
    for argv, message in cases:
        with pytest.raises(SystemExit) as exit_info:
            main(["fit", *argv, "--model", "logistic_regression", "--out", str(tmp_path / "m"),
                  "--quiet"])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and err.count("\n") == 1, err
        assert message in err, err
