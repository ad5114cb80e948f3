"""MEDS out: predictions scored by the real meds-evaluation; a cohort exported as a MEDS dataset
and task that the meds package's schemas accept; P12 read back through MEDS gives the P12
loader's samples, events and tokens."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medfuse_sk.data import EventSet, EventTokenizer
from medfuse_sk.datasets import load_sample
from medfuse_sk.datasets.meds import (
    MEDSError,
    load_meds,
    validate_meds,
    write_meds,
    write_predictions,
)

P12_DIR = Path("/work/shared/data/physionet2012")


def test_predictions_are_scored_by_meds_evaluation(random_meds, tmp_path):
    meds_evaluation = pytest.importorskip("meds_evaluation.evaluate")
    import polars as pl
    from sklearn.metrics import average_precision_score, roc_auc_score

    data, task, *_ = random_meds
    cohort = load_meds(data, task, split="all")
    rng = np.random.default_rng(0)
    p = rng.uniform(size=len(cohort))
    path = write_predictions(cohort, np.column_stack([1 - p, p]), tmp_path / "p.parquet")
    schema = pq.read_schema(path)
    assert schema.field("predicted_boolean_probability").type == pa.float64()
    assert schema.field("predicted_boolean_value").type == pa.bool_()
    assert schema.names[:3] == ["subject_id", "prediction_time", "boolean_value"]
    result = meds_evaluation.evaluate_binary_classification(pl.read_parquet(path))
    scores = result["samples_equally_weighted"]
    y = cohort.labels.to_numpy()
    assert scores["roc_auc_score"] == pytest.approx(roc_auc_score(y, p))
    assert scores["average_precision_score"] == pytest.approx(average_precision_score(y, p))
    assert scores["binary_accuracy"] == pytest.approx(np.mean((p >= 0.5) == y))
    # the rows are the task's label rows, in the cohort's order
    back = pd.read_parquet(path)
    assert back["subject_id"].tolist() == cohort.samples["subject_id"].tolist()
    assert (back["prediction_time"].to_numpy() == cohort.samples["prediction_time"].to_numpy()).all()


def test_a_task_labelled_0_1_in_integer_value_is_scored_by_meds_evaluation(random_meds, tmp_path):
    meds_evaluation = pytest.importorskip("meds_evaluation.evaluate")
    from meds_evaluation.schema import PredictionSchema
    from meds_toy import write_labels
    from sklearn.metrics import roc_auc_score

    data, _, _, labels, _ = random_meds
    task = tmp_path / "integer_task"
    as_integer = labels.assign(integer_value=labels["boolean_value"].astype(np.int64)).drop(
        columns="boolean_value")
    write_labels(task / "labels.parquet", as_integer, pa.schema([
        ("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
        ("integer_value", pa.int64())]))
    cohort = load_meds(data, task, split="all")
    p = np.random.default_rng(1).uniform(size=len(cohort))
    path = write_predictions(cohort, p, tmp_path / "p.parquet")
    table = pq.read_table(path)
    assert table.column_names == ["subject_id", "prediction_time", "boolean_value",
                                  "integer_value", "predicted_boolean_value",
                                  "predicted_boolean_probability"]
    PredictionSchema.align(table)  # meds-evaluation's own schema (as its reader applies it)
    back = table.to_pandas()
    assert back["integer_value"].tolist() == cohort.samples["integer_value"].tolist()
    assert (back["boolean_value"] == (back["integer_value"] == 1)).all()
    import polars as pl

    result = meds_evaluation.evaluate_binary_classification(pl.read_parquet(path))
    assert result["samples_equally_weighted"]["roc_auc_score"] == pytest.approx(
        roc_auc_score(cohort.labels.to_numpy(), p))
    # a label that is not 0/1 cannot be scored as binary: said, not written
    three = cohort.samples.assign(integer_value=cohort.samples["integer_value"] + 1)
    with pytest.raises(ValueError, match=r"integer_value holds 1, 2.*boolean_value"):
        write_predictions(three, p, tmp_path / "three.parquet")
    assert not (tmp_path / "three.parquet").exists()


@pytest.mark.slow  # the command-line program starts hydra: a few seconds
def test_meds_evaluation_cli_reads_the_predictions(random_meds, tmp_path):
    data, task, *_ = random_meds
    cohort = load_meds(data, task, split="all")
    path = write_predictions(cohort, np.linspace(0, 1, len(cohort)), tmp_path / "p.parquet")
    cli = Path(sys.executable).with_name("meds-evaluation-cli")
    out = tmp_path / "result.json"
    subprocess.run([str(cli), f"predictions_path={path}", f"output_file={out}"], check=True,
                   capture_output=True)
    assert "roc_auc_score" in json.loads(out.read_text())["samples_equally_weighted"]


def test_bad_probabilities_are_refused(random_meds, tmp_path):
    data, task, *_ = random_meds
    cohort = load_meds(data, task, split="test")
    with pytest.raises(ValueError, match="one number per sample"):
        write_predictions(cohort, np.zeros(3), tmp_path / "p.parquet")
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        write_predictions(cohort, np.full(len(cohort), 2.0), tmp_path / "p.parquet")


@pytest.fixture(scope="module")
def p12_export(tmp_path_factory):
    sample = load_sample("all")
    ids = np.concatenate([sample.stay_ids[sample.stay_split.to_numpy() == "train"][:150],
                          sample.stay_ids[sample.stay_split.to_numpy() == "val"][:80]])
    cut = sample.__class__(**{**sample.__dict__, "events": sample.events[
        sample.events["stay_id"].isin(ids)].reset_index(drop=True), "labels": sample.labels.loc[ids],
        "stay_ids": ids, "stay_split": sample.stay_split.loc[ids]})
    out = write_meds(cut, tmp_path_factory.mktemp("p12_meds"), task_name="mortality_48h",
                     prediction_time=48.0, shard_size=100)
    return cut, out


def test_an_exported_cohort_fits_the_meds_schemas(p12_export):
    meds = pytest.importorskip("meds")
    cohort, out = p12_export
    counts = validate_meds(out.data_dir, out.task_dir)
    assert counts["subjects"] == len(cohort) and counts["label_rows"] == len(cohort)
    # the schema objects themselves, file by file
    for shard in sorted((out.data_dir / "data").rglob("*.parquet")):
        meds.DataSchema.validate(pq.read_table(shard))
    meds.LabelSchema.validate(pq.read_table(out.task_dir / "labels.parquet"))
    meds.SubjectSplitSchema.validate(pq.read_table(out.data_dir / "metadata" /
                                                   "subject_splits.parquet"))
    meds.CodeMetadataSchema.validate(pq.read_table(out.data_dir / "metadata" / "codes.parquet"))
    meds.DatasetMetadataSchema.validate(json.loads((out.data_dir / "metadata" /
                                                    "dataset.json").read_text()))
    assert out.report["splits"] == {"train": 150, "tuning": 80}
    assert out.report["n_static_rows"] == int((cohort.events["time"] == 0).sum() - (
        (cohort.events["time"] == 0) & ~cohort.events["feature"].isin(cohort.descriptors)).sum())


def test_validate_meds_catches_a_broken_file(p12_export, tmp_path):
    import shutil

    _, out = p12_export
    broken = tmp_path / "broken"
    shutil.copytree(out.data_dir, broken)
    labels = broken / "task_labels" / "mortality_48h" / "labels.parquet"
    table = pq.read_table(labels)
    pq.write_table(table.append_column("note", pa.array(["x"] * table.num_rows)), labels)
    with pytest.raises(MEDSError, match=r"labels\.parquet does not fit meds\.LabelSchema.*note"):
        validate_meds(broken, labels.parent)
    shard = next((broken / "data").rglob("*.parquet"))
    table = pq.read_table(shard)
    pq.write_table(table.set_column(0, "subject_id", table.column("subject_id").cast(pa.string())),
                   shard)
    with pytest.raises(MEDSError, match=r"does not fit meds\.DataSchema.*subject_id"):
        validate_meds(broken)


def _decoded_events(X: EventSet) -> pd.DataFrame:
    c = X.columns
    is_cat = c["category"] >= 0
    value = np.round(c["value"].astype(np.float32).astype(np.float64), 3).astype(object)
    value[is_cat] = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)
                     for v in X.categories[c["category"][is_cat]]]
    return pd.DataFrame({"stay": X.stay_ids[X.row_stay_index()], "time": np.round(c["time"], 6),
                         "feature": X.feature_names[c["feature"]].astype(str),
                         "value": value.astype(str)}).sort_values(
        ["stay", "time", "feature", "value"]).reset_index(drop=True)


def _decoded_tokens(tokens, categories) -> pd.DataFrame:
    c = tokens.columns
    # sorted by whole minutes (P12's resolution; token times are float32 hours, which may
    # differ in their last bit between the two paths) and features, compared with tolerances
    table = pd.DataFrame({"stay": tokens.stay_ids[tokens.row_stay_index()],
                          "time": c["time"].astype(np.float64),
                          "feature": tokens.feature_names[c["feature"]].astype(str),
                          "value": c["value"].astype(np.float64),
                          "category": [categories.get(int(k), "") for k in c["category"]]})
    table["minute"] = np.round(table["time"] * 60)
    table["rounded"] = np.round(table["value"], 2)
    return table.sort_values(["stay", "minute", "feature", "category", "rounded"], kind="stable"
                             ).drop(columns=["minute", "rounded"]).reset_index(drop=True)


def _class_names(tokenizer) -> dict[int, str]:
    names = {0: "<unknown class>"}
    for k, (feature, cls) in enumerate(tokenizer.category_pairs_, start=1):
        v = str(int(cls)) if isinstance(cls, float) and cls.is_integer() else str(cls)
        names[k] = f"{feature}={v}"
    return names


def _same_as_the_p12_loader(cohort, data_dir, task_dir, window=None):
    """Samples, events and tokens of ``cohort`` equal those read back through MEDS."""
    train_ids = cohort.stay_ids[cohort.stay_split.to_numpy() == "train"]
    val_ids = cohort.stay_ids[cohort.stay_split.to_numpy() == "val"]
    train = load_meds(data_dir, task_dir, split="train", lookback=48)
    val = load_meds(data_dir, task_dir, split="val", lookback=48, vocabulary=train.vocabulary)
    # samples: the same stays (subject = stay), the same labels
    assert train.report["sample_ids"] == "subject"
    assert sorted(train.stay_ids.tolist()) == sorted(train_ids.tolist())
    assert sorted(val.stay_ids.tolist()) == sorted(val_ids.tolist())
    pd.testing.assert_series_equal(train.labels.sort_index(), cohort.labels.loc[train_ids]
                                   .sort_index(), check_names=False)
    # events
    X = cohort.to_event_set()
    position = pd.Index(X.stay_ids)
    p12_train, p12_val = X[position.get_indexer(train_ids)], X[position.get_indexer(val_ids)]
    pd.testing.assert_frame_equal(_decoded_events(train.to_event_set()),
                                  _decoded_events(p12_train))
    # tokens of the held-out stays from a tokenizer fitted on the training stays
    # (no token cap: where a stay is cut, tokens at one time are ordered by vocabulary id,
    # and the two vocabularies list the same features in another order)
    kwargs = {"max_tokens": None} if window is None else {"window": window, "horizon": 48.0,
                                                           "max_tokens": None}
    t_p12 = EventTokenizer(**kwargs).fit(p12_train)
    t_meds = EventTokenizer(**kwargs).fit(train.to_event_set())
    a = _decoded_tokens(t_p12.transform(p12_val), _class_names(t_p12))
    b = _decoded_tokens(t_meds.transform(val.to_event_set()), _class_names(t_meds))
    assert len(a) == len(b) > 0
    pd.testing.assert_frame_equal(a, b, atol=1e-3, rtol=0)
    return len(a)


def test_p12_read_back_through_meds_gives_the_loaders_samples_and_tokens(p12_export):
    cohort, out = p12_export
    assert _same_as_the_p12_loader(cohort, out.data_dir, out.task_dir) > 10_000
    assert _same_as_the_p12_loader(cohort, out.data_dir, out.task_dir, window=2.0) > 1000


@pytest.mark.slow
@pytest.mark.skipif(not P12_DIR.is_dir(), reason="the PhysioNet 2012 data are not here")
def test_all_of_p12_read_back_through_meds(tmp_path):
    from medfuse_sk.datasets import load_physionet2012

    cohort = load_physionet2012(P12_DIR, split=["train", "val"], progress=False)
    out = write_meds(cohort, tmp_path / "p12", task_name="mortality_48h", prediction_time=48.0)
    validate_meds(out.data_dir, out.task_dir)
    assert _same_as_the_p12_loader(cohort, out.data_dir, out.task_dir) > 800_000  # val tokens
