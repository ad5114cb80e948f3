"""The files of a MEDS dataset and of a task, found and checked before anything is built.

A MEDS dataset (``meds`` 0.4.1) is a folder holding ``data/**/*.parquet`` (the events: each
subject in exactly one shard), ``metadata/codes.parquet`` and ``metadata/subject_splits.parquet``;
a task is a folder of label files (``**/*.parquet``, closed schema ``subject_id``,
``prediction_time`` and one label column). Every check here names the file, the column, the
subject or the code at fault and says what was expected: :class:`MEDSError`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ...utils import closest, examples

__all__ = ["LABEL_COLUMNS", "MEDSError", "MEDS_SPLITS", "SPLIT_WORDS", "data_shards", "meds_split",
           "read_labels", "read_subject_splits"]

#: The MEDS split words, in order: training, tuning (validation), held-out (test).
MEDS_SPLITS = ("train", "tuning", "held_out")
#: The library's split words and the MEDS words they mean (``val`` ⇔ ``tuning``, ``test`` ⇔
#: ``held_out``, as in INTERFACES.md).
SPLIT_WORDS = {"train": "train", "val": "tuning", "tuning": "tuning", "test": "held_out",
               "held_out": "held_out"}
#: The label columns of the MEDS label schema, in the order a binary task prefers them.
LABEL_COLUMNS = ("boolean_value", "integer_value", "float_value", "categorical_value")
_KEY_COLUMNS = ("subject_id", "prediction_time")
# The columns a data shard must or may have, and the Arrow types accepted for each (the meds
# schema's own type first; the others are read and converted without loss).
_DATA_COLUMNS = {"subject_id": "integer", "time": "timestamp", "code": "string"}
_VALUE_COLUMNS = {"numeric_value": "floating", "text_value": "string"}


class MEDSError(ValueError):
    """A MEDS dataset or task that cannot be read as it is: the message names the file,
    column, subject or code at fault and says what was expected."""


def meds_split(split: str) -> str:
    """The MEDS word of a split name: ``val`` → ``tuning``, ``test`` → ``held_out``; other
    names (a dataset may define its own) are returned unchanged."""
    return SPLIT_WORDS.get(split, split)


def _is(kind: str, dtype: pa.DataType) -> bool:
    if pa.types.is_dictionary(dtype):
        dtype = dtype.value_type
    return {"integer": pa.types.is_integer, "timestamp": pa.types.is_timestamp,
            "string": lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
            "floating": pa.types.is_floating}[kind](dtype)


_WANT = {"integer": "int64", "timestamp": "timestamp[us]", "string": "string",
         "floating": "float32"}


def check_data_schema(schema: pa.Schema, path: str | os.PathLike) -> tuple[str, ...]:
    """The value columns a shard has (``numeric_value``, ``text_value``), after checking that
    it has the columns of the MEDS data schema with usable types; else a :class:`MEDSError`
    naming the shard and the column."""
    names = set(schema.names)
    for column, kind in _DATA_COLUMNS.items():
        if column not in names:
            near = closest(column, schema.names, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise MEDSError(f"data shard {path}: no column {column!r}{hint}; a MEDS data shard "
                            f"has subject_id (int64), time (timestamp[us]), code (string) and "
                            f"optionally numeric_value (float32), text_value (string); it has "
                            f"{', '.join(schema.names)}")
        if not _is(kind, schema.field(column).type):
            raise MEDSError(f"data shard {path}: column {column!r} is "
                            f"{schema.field(column).type}, expected {_WANT[kind]} (the MEDS data "
                            "schema)")
    present = []
    for column, kind in _VALUE_COLUMNS.items():
        if column in names:
            if not _is(kind, schema.field(column).type) and not pa.types.is_null(
                    schema.field(column).type):
                raise MEDSError(f"data shard {path}: column {column!r} is "
                                f"{schema.field(column).type}, expected {_WANT[kind]} (the MEDS "
                                "data schema)")
            present.append(column)
    return tuple(present)


def data_shards(data_dir: str | os.PathLike) -> list[Path]:
    """The parquet shards of ``data_dir/data`` (recursively), sorted by path; an error naming
    the folder when there are none."""
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"MEDS dataset folder {root} does not exist (expected a folder "
                                "holding data/ and metadata/)")
    folder = root / "data"
    if not folder.is_dir():
        where = " (it looks like a task folder: pass it as the task)" if any(
            root.glob("*.parquet")) else ""
        raise FileNotFoundError(f"{root} is not a MEDS dataset: no data/ folder{where}; a MEDS "
                                "dataset holds data/**/*.parquet and metadata/")
    shards = sorted(p for p in folder.rglob("*.parquet") if p.is_file())
    if not shards:
        raise FileNotFoundError(f"no parquet shards under {folder} (a MEDS dataset holds its "
                                "events in data/**/*.parquet)")
    return shards


def read_subject_splits(data_dir: str | os.PathLike) -> pd.Series | None:
    """``metadata/subject_splits.parquet`` as a Series subject_id → split (None when the file
    is absent); checked: columns, types, no nulls, one split per subject."""
    path = Path(data_dir).expanduser() / "metadata" / "subject_splits.parquet"
    if not path.is_file():
        return None
    table = pq.read_table(path)
    for column, kind in (("subject_id", "integer"), ("split", "string")):
        if column not in table.column_names:
            raise MEDSError(f"{path}: no column {column!r} (it has "
                            f"{', '.join(table.column_names)}); the MEDS subject split schema "
                            "is subject_id (int64), split (string)")
        if not _is(kind, table.schema.field(column).type):
            raise MEDSError(f"{path}: column {column!r} is {table.schema.field(column).type}, "
                            f"expected {_WANT[kind]}")
        if table.column(column).null_count:
            raise MEDSError(f"{path}: column {column!r} has {table.column(column).null_count} "
                            "null values")
    frame = pd.DataFrame({"subject_id": table.column("subject_id").to_numpy().astype(np.int64),
                          "split": table.column("split").to_pandas().astype(str).to_numpy()})
    twice = frame["subject_id"].duplicated(keep=False)
    if twice.any():
        clash = frame[twice].groupby("subject_id")["split"].nunique()
        if (clash > 1).any():
            raise MEDSError(f"{path}: subjects listed in several splits: "
                            f"{examples(clash.index[clash > 1])}; a subject belongs to one split")
        frame = frame.drop_duplicates("subject_id")
    return pd.Series(frame["split"].to_numpy(), index=pd.Index(frame["subject_id"].to_numpy(),
                     name="subject_id"), name="split")


def label_files(task_dir: str | os.PathLike) -> list[Path]:
    """The label files of a task: ``task_dir`` itself when it is a parquet file, else its
    ``**/*.parquet`` files, sorted."""
    root = Path(task_dir).expanduser()
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"MEDS task {root} does not exist (expected a folder of label "
                                "files **/*.parquet, or one parquet file)")
    if (root / "data").is_dir() and (root / "metadata").is_dir():
        raise FileNotFoundError(f"{root} is a MEDS dataset, not a task: pass the folder of the "
                                "task's label files (e.g. DATASET/task_labels/TASK)")
    files = sorted(p for p in root.rglob("*.parquet") if p.is_file())
    if not files:
        raise FileNotFoundError(f"no label files (**/*.parquet) in the MEDS task folder {root}")
    return files


def _label_table(path: Path) -> pa.Table:
    """One label file, checked against the closed MEDS label schema."""
    try:
        table = pq.read_table(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise MEDSError(f"label file {path}: not a readable parquet file ({exc})") from exc
    allowed = (*_KEY_COLUMNS, *LABEL_COLUMNS)
    extra = [c for c in table.column_names if c not in allowed]
    if extra:
        hints = []
        for column in extra:
            near = closest(column, allowed, n=1)
            hints.append(f"{column!r}" + (f" (did you mean {near[0]!r}?)" if near else ""))
        raise MEDSError(f"label file {path}: columns outside the MEDS label schema: "
                        f"{', '.join(hints)}; a label file holds exactly subject_id, "
                        f"prediction_time and one of {', '.join(LABEL_COLUMNS)} (drop the others)")
    for column, kind in (("subject_id", "integer"), ("prediction_time", "timestamp")):
        if column not in table.column_names:
            raise MEDSError(f"label file {path}: no column {column!r}; a MEDS label file holds "
                            f"subject_id (int64), prediction_time (timestamp[us]) and one of "
                            f"{', '.join(LABEL_COLUMNS)}")
        if not _is(kind, table.schema.field(column).type):
            raise MEDSError(f"label file {path}: column {column!r} is "
                            f"{table.schema.field(column).type}, expected {_WANT[kind]}")
        if table.column(column).null_count:
            raise MEDSError(f"label file {path}: column {column!r} has "
                            f"{table.column(column).null_count} null values (row "
                            f"{_first_null(table.column(column))}); every label needs a subject "
                            "and a prediction time")
    return table


def _first_null(column: pa.ChunkedArray) -> int:
    return int(np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[0])


def _label_column(tables: Sequence[tuple[Path, pa.Table]], label: str | None) -> str:
    """The label column: ``label``, else the one label column that holds values (ACES and
    meds-testing-helpers write the unused ones all null)."""
    holding = {}
    for path, table in tables:
        for column in LABEL_COLUMNS:
            if column in table.column_names and table.column(column).null_count < len(table):
                holding.setdefault(column, path)
    if label is not None:
        if label not in LABEL_COLUMNS:
            raise MEDSError(f"label column {label!r} is not a MEDS label column; use one of "
                            f"{', '.join(LABEL_COLUMNS)}")
        if label not in holding:
            raise MEDSError(f"the task's label files hold no values in column {label!r} "
                            f"(columns with values: {', '.join(holding) or 'none'})")
        return label
    if not holding:
        raise MEDSError(f"the task's label files ({tables[0][0]}, ...) hold no label values: "
                        f"one of {', '.join(LABEL_COLUMNS)} must be filled")
    if len(holding) > 1:
        raise MEDSError(f"the task's label files fill several label columns "
                        f"({', '.join(f'{c} in {p}' for c, p in holding.items())}); say which "
                        "one is the label (label=... / --label NAME)")
    return next(iter(holding))


def read_labels(task_dir: str | os.PathLike, label: str | None = None) -> pd.DataFrame:
    """The task's labels, one row per (subject_id, prediction_time), checked.

    Parameters
    ----------
    task_dir : str or path-like
        A task folder (``**/*.parquet`` label files) or one label file.
    label : str, optional
        The label column; default the one of ``boolean_value``, ``integer_value``,
        ``float_value``, ``categorical_value`` that holds values (label columns that are all
        null, as ACES writes them, are ignored).

    Returns
    -------
    pandas.DataFrame
        Columns ``subject_id`` (int64), ``prediction_time`` (datetime64[us]) and the label
        column, sorted by subject and prediction time; ``attrs["label"]`` names the label
        column and ``attrs["files"]`` lists the files read.

    Raises
    ------
    MEDSError
        A column outside the closed label schema, a missing or mistyped key column, nulls in
        a key or in the label column (naming the file, the row and the subject), a label
        prediction time given twice.
    """
    files = label_files(task_dir)
    tables = [(path, _label_table(path)) for path in files]
    column = _label_column(tables, label)
    frames = []
    for path, table in tables:
        if column not in table.column_names:
            raise MEDSError(f"label file {path}: no column {column!r}, which the task's other "
                            "files fill; every label file of a task holds the same label")
        values = table.column(column)
        if values.null_count:
            row = _first_null(values)
            subject = table.column("subject_id")[row].as_py()
            raise MEDSError(f"label file {path}: column {column!r} has {values.null_count} null "
                            f"values (first in row {row}, subject {subject}); every prediction "
                            "time needs a label")
        times = table.column("prediction_time")
        frame = pd.DataFrame({"subject_id": table.column("subject_id").to_numpy().astype(np.int64),
                              "prediction_time": _naive_us(times),
                              column: values.to_pandas().to_numpy()})
        frame.attrs = {}
        frames.append(frame)
    labels = pd.concat(frames, ignore_index=True)
    labels = labels.sort_values(["subject_id", "prediction_time"], kind="stable",
                                ignore_index=True)
    twice = labels.duplicated(["subject_id", "prediction_time"], keep=False)
    if twice.any():
        first = labels[twice].iloc[0]
        raise MEDSError(f"task {task_dir}: {int(twice.sum())} label rows share their "
                        f"(subject_id, prediction_time), e.g. subject {int(first['subject_id'])} "
                        f"at {first['prediction_time']}; a sample is one subject at one "
                        "prediction time")
    labels.attrs = {"label": column, "files": [str(p) for p in files]}
    return labels


def _tz(table: pa.Table) -> str | None:
    return table.schema.field("prediction_time").type.tz


def _naive_us(times: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Timestamps as naive ``datetime64[us]`` (aware ones as their UTC instants)."""
    unit = pa.timestamp("us", tz=times.type.tz)
    times = pc.cast(times, unit, safe=False)  # nanoseconds truncated
    as_int = pc.cast(times, pa.int64())
    return np.asarray(as_int.to_numpy(zero_copy_only=False)).astype("datetime64[us]")


def binary_labels(labels: pd.DataFrame, where: Any) -> np.ndarray:
    """The label column as 0/1 (int8); a task that is not binary is a :class:`MEDSError`."""
    column = labels.attrs["label"]
    values = labels[column]
    if column == "boolean_value":
        return values.to_numpy().astype(np.int8)
    if column == "categorical_value":
        raise MEDSError(f"task {where}: the label is categorical_value (multi-class); the models "
                        "here are binary classifiers: a task with boolean_value labels is needed")
    found = pd.unique(values.to_numpy())
    if not np.isin(found, [0, 1]).all():
        raise MEDSError(f"task {where}: {column} holds values other than 0 and 1 "
                        f"({examples(np.sort(found))}); the models here are binary classifiers")
    return values.to_numpy().astype(np.int8)
