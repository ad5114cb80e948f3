"""Bad MEDS input: each error names the file, column, subject or code at fault."""

import re
import shutil

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from meds_toy import random_dataset, write_dataset, write_labels, write_rows

from medfuse_sk.datasets.meds import MEDSError, load_meds


@pytest.fixture(scope="module")
def small():
    return random_dataset(n_subjects=8, seed=1, events=6)


@pytest.fixture
def dataset(small, tmp_path):
    rows, labels, splits = small
    data, task = write_dataset(tmp_path, rows, labels, splits)
    return data, task, rows, labels, splits


def _raises(match, *args, **kwargs):
    with pytest.raises(MEDSError) as info:
        load_meds(*args, **kwargs)
    assert re.search(match, str(info.value)), str(info.value)
    return str(info.value)


def test_a_label_file_with_an_extra_column(dataset):
    data, task, _, labels, _ = dataset
    bad = labels.assign(stay_note="x")
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), task / "labels.parquet")
    message = _raises(r"labels\.parquet: columns outside the MEDS label schema: 'stay_note'",
                      data, task)
    assert "subject_id, prediction_time and one of boolean_value" in message


def test_a_label_file_with_null_labels_names_the_row_and_subject(dataset):
    data, task, _, labels, _ = dataset
    schema = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                        ("boolean_value", pa.bool_())])
    bad = labels.astype({"boolean_value": object})
    bad.iloc[4, 2] = None
    write_labels(task / "labels.parquet", bad, schema)
    subject = int(labels.iloc[4]["subject_id"])
    _raises(rf"column 'boolean_value' has 1 null values \(first in row 4, subject {subject}\)",
            data, task)


def test_label_key_columns_of_the_wrong_type(dataset):
    data, task, _, labels, _ = dataset
    bad = labels.assign(prediction_time=labels["prediction_time"].astype(str))
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), task / "labels.parquet")
    _raises(r"column 'prediction_time' is (large_)?string, expected timestamp\[us\]", data, task)
    bad = labels.assign(subject_id=labels["subject_id"].astype(float))
    pq.write_table(pa.Table.from_pandas(bad, preserve_index=False), task / "labels.parquet")
    _raises(r"column 'subject_id' is double, expected int64", data, task)


def test_aces_style_all_null_label_columns_are_accepted(dataset):
    data, task, _, labels, _ = dataset
    schema = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                        ("boolean_value", pa.bool_()), ("integer_value", pa.int64()),
                        ("float_value", pa.float32()), ("categorical_value", pa.string())])
    aces = labels.assign(integer_value=None, float_value=None, categorical_value=None)
    write_labels(task / "labels.parquet", aces, schema)
    assert len(load_meds(data, task, split="all")) == len(labels)


def test_a_non_binary_task_and_duplicated_prediction_times(dataset):
    data, task, _, labels, _ = dataset
    schema = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                        ("integer_value", pa.int64())])
    write_labels(task / "labels.parquet", labels.drop(columns="boolean_value").assign(
        integer_value=np.arange(len(labels)) % 3), schema)
    _raises(r"integer_value holds values other than 0 and 1 \(0, 1, 2\)", data, task)
    write_labels(task / "labels.parquet", pd.concat([labels, labels.iloc[:1]]))
    s = int(labels.iloc[0]["subject_id"])
    _raises(rf"2 label rows share their \(subject_id, prediction_time\), e.g. subject {s}",
            data, task)


def test_a_shard_missing_a_column_or_of_the_wrong_type(dataset):
    data, task, rows, _, _ = dataset
    shard = data / "data" / "shard_0.parquet"
    table = pq.read_table(shard)
    pq.write_table(table.drop_columns(["code"]), shard)
    _raises(r"data shard .*shard_0\.parquet: no column 'code'", data, task)
    pq.write_table(table.set_column(1, "time", pa.array(table.column("time").cast(pa.string()))),
                   shard)
    _raises(r"shard_0\.parquet: column 'time' is string, expected timestamp\[us\]", data, task)
    pq.write_table(table.set_column(3, "numeric_value", table.column("numeric_value")
                                    .cast(pa.string())), shard)
    _raises(r"shard_0\.parquet: column 'numeric_value' is string, expected float32", data, task)


def test_subjects_of_the_labels_without_data_or_split(dataset):
    data, task, rows, labels, splits = dataset
    ghost = labels.iloc[:2].assign(subject_id=[900, 901])
    write_labels(task / "labels.parquet", pd.concat([labels, ghost]))
    _raises(r"2 samples of subjects 900, 901 have no split in .*subject_splits\.parquet",
            data, task)
    pq.write_table(pa.table({"subject_id": pa.array([*splits, 900, 901], pa.int64()),
                             "split": pa.array([*splits.values(), "train", "train"])}),
                   data / "metadata" / "subject_splits.parquet")
    _raises(r"2 subjects of the labels have no rows in the data of .*: 900, 901", data, task)


def test_a_subject_in_two_shards(dataset):
    data, task, rows, _, _ = dataset
    s = int(rows["subject_id"].iloc[0])
    write_rows(data / "data" / "extra.parquet", rows[rows["subject_id"] == s])
    _raises(rf"subject {s} has rows in several shards \(.*extra\.parquet", data, task)


def test_infinite_numbers_name_the_code_and_subject(dataset):
    data, task, rows, _, _ = dataset
    bad = rows.copy()
    at = bad.index[bad["numeric_value"].notna() & bad["time"].notna()][0]
    bad.loc[at, "numeric_value"] = np.inf
    shutil.rmtree(data / "data")
    write_dataset(data, bad, *dataset[3:])
    _raises(rf"infinite numeric_value.*code {bad.loc[at, 'code']!r} of subject "
            rf"{bad.loc[at, 'subject_id']}", data, task, split="all")


def test_folders_that_are_not_a_dataset_or_a_task(dataset, tmp_path):
    data, task, *_ = dataset
    with pytest.raises(FileNotFoundError, match="no data/ folder .*looks like a task"):
        load_meds(task, task)
    with pytest.raises(FileNotFoundError, match="is a MEDS dataset, not a task"):
        load_meds(data, data)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_meds(tmp_path / "nowhere", task)


def test_bad_options(dataset):
    data, task, *_ = dataset
    with pytest.raises(ValueError, match="lookback must be positive"):
        load_meds(data, task, lookback=-1)
    with pytest.raises(ValueError, match="lookback must be hours"):
        load_meds(data, task, lookback="two days")
    with pytest.raises(ValueError, match=r"unknown split 'dev'.*'train', 'tuning', 'held_out'"):
        load_meds(data, task, split="dev")
    with pytest.raises(ValueError, match="sample_ids"):
        load_meds(data, task, sample_ids="stay")
