"""The one table reader: every fault names the file and, where one is at fault, the column."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest

from medfuse_sk.io import TableError, read_events, read_labels, read_table

EVENTS = pd.DataFrame({"stay_id": [1, 1, 2, 2, 3], "time": [0.0, 1.5, 0.0, 24.0, 2.0],
                       "feature": ["HR", "HR", "HR", "Sex", "HR"],
                       "value": [80, 90, 70, 1, 60]})


@pytest.fixture
def events_csv(tmp_path):
    path = tmp_path / "events.csv"
    EVENTS.to_csv(path, index=False)
    return path


@pytest.mark.parametrize("name", ["t.csv", "t.csv.gz", "t.tsv", "t.parquet"])
def test_every_format_reads_the_same_table(tmp_path, name):
    path = tmp_path / name
    if name.endswith(".parquet"):
        pytest.importorskip("pyarrow")
        EVENTS.to_parquet(path)
    else:
        EVENTS.to_csv(path, index=False, sep="\t" if ".tsv" in name else ",")
    pd.testing.assert_frame_equal(read_table(path, "events"), EVENTS)


def test_missing_unknown_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(TableError, match=re.escape(f"events file {tmp_path / 'no.csv'}: not found")):
        read_table(tmp_path / "no.csv", "events")
    (tmp_path / "t.xlsx").write_text("x")
    with pytest.raises(TableError, match=r"labels file .*t\.xlsx: unknown format; use \.csv"):
        read_table(tmp_path / "t.xlsx", "labels")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(TableError, match=r"events file .*bad\.parquet: cannot be read"):
        read_table(tmp_path / "bad.parquet", "events")


def test_events_come_back_as_an_event_set_with_the_columns_named(tmp_path):
    path = tmp_path / "e.csv"
    EVENTS.rename(columns={"stay_id": "icu", "feature": "item"}).to_csv(path, index=False)
    X = read_events(path, {"stay": "icu", "feature": "item"}, categorical=["Sex"])
    assert X.stay_ids.tolist() == [1, 2, 3] and X.categorical_features == ("Sex",)
    np.testing.assert_allclose(X.columns["time"], EVENTS["time"])
    with pytest.raises(TableError, match=re.escape(
            f"events file {path}: no column 'feature' (the feature column, set with --feature); "
            "its columns are ['icu', 'time', 'item', 'value']")):
        read_events(path, {"stay": "icu"})


def test_times_that_are_neither_hours_nor_datetimes_name_the_column(tmp_path):
    path = tmp_path / "e.csv"
    EVENTS.assign(time=["0", "soon", "1", "2", "3"]).to_csv(path, index=False)
    with pytest.raises(TableError, match=re.escape(
            f"events file {path}: column 'time' (--time) must hold numbers (times in "
            "--time-unit, default hours) or datetimes, got e.g. ['soon']")):
        read_events(path)


def test_an_event_table_fault_found_by_the_event_set_names_the_file(tmp_path):
    path = tmp_path / "e.csv"
    EVENTS.assign(value=["80", "x", "70", "1", "60"]).to_csv(path, index=False)
    with pytest.raises(TableError, match=rf"events file {re.escape(str(path))}: feature 'HR' "
                                         "is numerical but has 1 non-numeric"):
        read_events(path)


def test_unlabelled_stays_are_dropped_with_a_warning(events_csv):
    with pytest.warns(UserWarning, match="ignored the events of 1 stay"):
        X = read_events(events_csv, stays=[2, 1])
    assert X.stay_ids.tolist() == [2, 1]


def test_a_fitted_models_categorical_features_apply_where_present(events_csv):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Gender in the table: no fault, not even a warning
        X = read_events(events_csv, fitted_categorical=["Sex", "Gender"])
    assert X.categorical_features == ("Sex",)
    assert read_events(events_csv).categorical_features == ()


def test_labels_come_back_aligned_by_stay(tmp_path):
    path = tmp_path / "labels.csv"
    pd.DataFrame({"stay_id": [3, 1, 2], "died": [True, False, True]}).to_csv(path, index=False)
    labels = read_labels(path)
    assert labels.to_dict() == {3: 1, 1: 0, 2: 1} and labels.name == "died"
    assert labels.index.name == "stay_id"


@pytest.mark.parametrize("table, label, message", [
    ({"icu": [1], "died": [0]}, None, "no column 'stay_id' (the stay column, set with --stay)"),
    ({"stay_id": [1], "a": [0], "b": [1]}, None,
     "name the label column with --label; the columns besides 'stay_id' are ['a', 'b']"),
    ({"stay_id": [1], "a": [0]}, "died", "no column 'died' (the label column, set with --label)"),
    ({"stay_id": [1, 1], "died": [0, 1]}, None, "stays listed more than once in 'stay_id': [1]"),
    ({"stay_id": [1, None], "died": [0, 1]}, None, "column 'stay_id' has 1 empty entries"),
    ({"stay_id": [1, 2], "died": [0, None]}, None, "column 'died' has no label for stays [2]"),
    ({"stay_id": [1, 2], "died": [0, 7]}, None,
     "column 'died' must hold 0/1 (or true/false), got e.g. [7] (stays [2])"),
])
def test_label_faults_name_the_file_and_the_column(tmp_path, table, label, message):
    path = tmp_path / "labels.csv"
    pd.DataFrame(table).to_csv(path, index=False)
    with pytest.raises(TableError, match=re.escape(f"labels file {path}: {message}")):
        read_labels(path, label=label)
