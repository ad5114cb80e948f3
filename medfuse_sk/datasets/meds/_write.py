"""MEDS out: predictions in meds-evaluation's format, and any labelled cohort as a MEDS dataset
plus a task.

- :func:`write_predictions`: the label columns, ``predicted_boolean_value`` (bool) and
  ``predicted_boolean_probability`` (float64) — both, as meds-evaluation 0.0.3 and 0.0.6 need;
  a task labelled 0/1 in ``integer_value`` (or ``float_value``) also gets ``boolean_value``,
  which meds-evaluation's binary scores read.
- :func:`write_meds`: a :class:`~medfuse_sk.datasets.Cohort`, an
  :class:`~medfuse_sk.data.EventSet` with labels, or a long table with labels, written as
  ``data/<split>/<k>.parquet``, ``metadata/codes.parquet``, ``metadata/subject_splits.parquet``,
  ``metadata/dataset.json`` and ``task_labels/<task>/labels.parquet``.
- :func:`validate_meds`: every file checked against the ``meds`` package's own schemas.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ...data import EventSet, as_event_set
from ...utils import examples, install_hint
from .._base import Cohort
from ._cohort import predictions_table
from ._files import LABEL_COLUMNS, MEDSError, data_shards, label_files, meds_split

__all__ = ["DEFAULT_START", "MEDSExport", "validate_meds", "write_meds", "write_predictions"]

#: The date every exported stay starts at (MEDS needs dates; the cohorts here have hours).
DEFAULT_START = "2000-01-01"
_US_PER_HOUR = 3_600_000_000
_DATA_SCHEMA = pa.schema([("subject_id", pa.int64()), ("time", pa.timestamp("us")),
                          ("code", pa.string()), ("numeric_value", pa.float32()),
                          ("text_value", pa.large_string())])
_LABEL_SCHEMA = pa.schema([("subject_id", pa.int64()), ("prediction_time", pa.timestamp("us")),
                           ("boolean_value", pa.bool_())])
_PREDICTION_TYPES = {"subject_id": pa.int64(), "prediction_time": pa.timestamp("us"),
                     "boolean_value": pa.bool_(), "integer_value": pa.int64(),
                     "float_value": pa.float32(), "categorical_value": pa.string(),
                     "predicted_boolean_value": pa.bool_(),
                     "predicted_boolean_probability": pa.float64()}


def write_predictions(samples: Any, probability: Any, path: str | os.PathLike,
                      threshold: float = 0.5) -> Path:
    """Write predictions in meds-evaluation's format (one parquet file).

    Parameters
    ----------
    samples : MEDSCohort or DataFrame
        A :class:`MEDSCohort` (its ``samples``) or a frame of ``subject_id``,
        ``prediction_time`` and the label column, one row per prediction.
    probability : array-like of shape (n,) or (n, 2)
        Positive-class probabilities in the order of ``samples``.
    path : str or path-like
        The parquet file to write (its folder is created).
    threshold : float, default 0.5
        ``predicted_boolean_value`` is ``probability >= threshold``.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        A label that is not binary: meds-evaluation scores these predictions against
        ``boolean_value``, which a task labelled 0/1 in ``integer_value`` or ``float_value``
        gets from its label (kept beside it, as the label schema allows), and any other task
        cannot have.
    """
    table = _with_boolean_label(predictions_table(getattr(samples, "samples", samples),
                                                  probability, threshold=threshold))
    schema = pa.schema([(c, _PREDICTION_TYPES[c]) for c in table.columns])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pandas(table, schema=schema, preserve_index=False), path)
    return path


def _with_boolean_label(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with ``boolean_value`` (after ``prediction_time``), which meds-evaluation's
    binary scores read: a task labelled 0/1 in ``integer_value`` or ``float_value`` gets it
    from that label; the label columns already there are kept."""
    labels = [c for c in LABEL_COLUMNS if c in table.columns]
    if "boolean_value" in labels or not labels:
        return table
    column = labels[0]
    values = table[column].to_numpy()
    if column == "categorical_value" or not np.isin(values, [0, 1]).all():
        found = np.unique(values[~pd.isna(values)])
        raise ValueError(f"the task's label {column} holds {examples(found)}: meds-evaluation "
                         "scores binary predictions against boolean_value, which only a 0/1 "
                         "label gives")
    table = table.copy()
    table.insert(table.columns.get_loc("prediction_time") + 1, "boolean_value", values == 1)
    return table


@dataclass
class MEDSExport:
    """Where :func:`write_meds` wrote, and what."""

    data_dir: Path
    task_dir: Path
    report: dict[str, Any] = field(default_factory=dict)


def _class_text(value: Any) -> str:
    """A class label as text: numbers that are whole as integers (``1.0`` → ``"1"``)."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, (np.generic,)):
        value = value.item()
    return str(value)


def _as_events(data: Any, labels: Any) -> tuple[EventSet, pd.Series, pd.Series | None, tuple]:
    """(events, labels by stay, split by stay or None, static feature names)."""
    if isinstance(data, Cohort):
        if labels is not None:
            raise ValueError("a Cohort carries its own labels; leave out `labels`")
        events = data.to_event_set()
        return (events, data.labels, data.stay_split,
                tuple(getattr(data, "descriptors", ()) or ()))
    if labels is None:
        raise ValueError("pass the labels (a Series of 0/1 by stay id) with an EventSet or a "
                         "long table")
    events = as_event_set(data)
    labels = pd.Series(labels) if not isinstance(labels, pd.Series) else labels
    return events, labels, None, ()


def write_meds(
    data: Any,
    out_dir: str | os.PathLike,
    labels: pd.Series | None = None,
    *,
    task_name: str = "task",
    prediction_time: float | pd.Series | None = None,
    static: Sequence[str] | None = None,
    split: pd.Series | Mapping[Any, str] | None = None,
    start: str | pd.Timestamp = DEFAULT_START,
    shard_size: int = 10_000,
    dataset_name: str = "medfuse_sk export",
    overwrite: bool = False,
) -> MEDSExport:
    """Write labelled stays as a MEDS dataset and a task (``meds`` 0.4.1 schemas).

    Each stay becomes a subject (its stay id as ``subject_id`` when the ids are integers, else
    numbered from 1, the mapping in ``metadata/stay_ids.parquet``); its events become rows timed
    ``start + time`` (times are hours since the stay's start), numbers in ``numeric_value``,
    classes of categorical features as text in ``text_value``; rows of ``static`` features at
    the stay's time 0 become static rows (null time). One label per stay at its prediction time.
    A stay without any event has no data rows, and :func:`load_meds` refuses a task whose
    subjects have none: drop such stays first (or give them a row).

    Parameters
    ----------
    data : Cohort, EventSet or DataFrame
        A cohort (P12, P19, a MEDS cohort ...: its labels, splits and, for P12, its descriptors
        as static features), or an EventSet / long table (``stay_id``, ``time`` in hours,
        ``feature``, ``value``) with ``labels``.
    out_dir : str or path-like
        The dataset folder to create (``data/``, ``metadata/``); the task goes to
        ``out_dir/task_labels/<task_name>/labels.parquet``.
    labels : Series of 0/1 by stay id, optional
        Only with an EventSet or a long table.
    task_name : str, default "task"
    prediction_time : float (hours), Series of hours by stay id, or None
        When each stay's label is predicted, in hours after its start (P12: 48). None: at each
        stay's last event (its start when it has none).
    static : sequence of feature names, optional
        Features whose rows at time 0 are static rows; default a cohort's ``descriptors``
        (P12's Age, Gender, Height, ICUType, Weight), else none.
    split : Series or mapping stay id → split, optional
        Default the cohort's ``stay_split`` (``val``/``test`` written as ``tuning``/
        ``held_out``), else every subject in ``train``.
    start : str or Timestamp, default "2000-01-01"
        The date every stay starts at.
    shard_size : int, default 10000
        Subjects per data shard.
    dataset_name : str
        ``metadata/dataset.json``'s name.
    overwrite : bool, default False
        Replace the files of an existing dataset in ``out_dir``.

    Returns
    -------
    MEDSExport
        ``data_dir``, ``task_dir`` and a report (subjects, rows, static rows, splits).
    """
    out_dir = Path(out_dir)
    if (out_dir / "data").exists() and not overwrite:
        raise FileExistsError(f"{out_dir} already holds a MEDS dataset (data/); pass "
                              "overwrite=True to replace it")
    events, y, stay_split, default_static = _as_events(data, labels)
    if static is not None:
        unknown_static = set(static) - set(events.feature_names.tolist())
        if unknown_static:
            raise ValueError(f"static features not in the events: "
                             f"{examples(sorted(unknown_static, key=str))}")
    static = tuple(default_static if static is None else static)
    ids = events.stay_ids
    missing = pd.Index(ids).difference(y.index)
    if len(missing):
        raise ValueError(f"stays without a label: {examples(missing)}")
    y = y.reindex(ids)
    if y.isna().any():
        raise ValueError(f"labels hold NaN for stays {examples(y.index[y.isna()])}")
    if not np.isin(y.to_numpy(), [0, 1]).all():
        raise ValueError("labels must be 0/1 (a binary task)")
    if pd.api.types.is_integer_dtype(np.asarray(ids).dtype):
        subject = np.asarray(ids, dtype=np.int64)
        id_map = None
    else:
        subject = np.arange(1, len(ids) + 1, dtype=np.int64)
        id_map = pd.DataFrame({"subject_id": subject, "stay_id": [str(i) for i in ids]})
    origin = pd.Timestamp(start).to_datetime64().astype("datetime64[us]").astype(np.int64)

    # rows: one per event
    c = events.columns
    owner = events.row_stay_index()
    micro = np.round(c["time"] * _US_PER_HOUR).astype(np.int64)
    time = origin + micro
    code = events.feature_names[c["feature"]].astype(object)
    is_cat = c["category"] >= 0
    number = np.where(is_cat, np.nan, c["value"]).astype(np.float32)
    texts = np.array([_class_text(v) for v in events.categories], dtype=object)
    text = np.full(len(code), None, dtype=object)
    text[is_cat] = texts[c["category"][is_cat]]
    is_static = np.isin(code, list(static)) & (c["time"] == 0) if static else np.zeros(
        len(code), dtype=bool)

    # splits
    if split is None and stay_split is not None:
        split = stay_split
    if split is None:
        split_of = np.full(len(ids), "train", dtype=object)
    else:
        split = pd.Series(split) if not isinstance(split, pd.Series) else split
        absent = pd.Index(ids).difference(split.index)
        if len(absent):
            raise ValueError(f"stays without a split: {examples(absent)}")
        split_of = np.array([meds_split(str(s)) for s in split.reindex(ids)], dtype=object)

    # prediction times
    if prediction_time is None:
        last = np.zeros(len(ids), dtype=np.int64)
        timed = ~is_static
        np.maximum.at(last, owner[timed], micro[timed])
        at = last
    elif isinstance(prediction_time, pd.Series):
        hours = prediction_time.reindex(ids)
        if hours.isna().any():
            raise ValueError(f"prediction_time has no value for stays "
                             f"{examples(hours.index[hours.isna()])}")
        at = np.round(hours.to_numpy(np.float64) * _US_PER_HOUR).astype(np.int64)
    else:
        at = np.full(len(ids), int(round(float(prediction_time) * _US_PER_HOUR)), dtype=np.int64)

    for folder in ("data", "metadata", "task_labels"):
        target = out_dir / folder
        if target.exists() and overwrite:
            import shutil

            shutil.rmtree(target)
    n_shards = 0
    table = pa.table({
        "subject_id": pa.array(subject[owner], pa.int64()),
        "time": pa.array(np.where(is_static, 0, time).astype("datetime64[us]"),
                         pa.timestamp("us"), mask=is_static),
        "code": pa.array(code.astype(str), pa.string()),
        "numeric_value": pa.array(number, pa.float32(), mask=np.isnan(number)),
        "text_value": pa.array(text, pa.large_string()),
    }, schema=_DATA_SCHEMA)
    # each subject once, static rows first, then by time (stable: the events' order)
    order = np.lexsort((np.where(is_static, np.iinfo(np.int64).min, time), subject[owner]))
    table = table.take(pa.array(order))
    row_split = split_of[owner][order]
    row_subject = subject[owner][order]
    for name in dict.fromkeys(split_of.tolist()):
        part_subjects = np.unique(subject[split_of == name])
        for k in range(0, max(len(part_subjects), 1), shard_size):
            chunk = part_subjects[k:k + shard_size]
            rows = np.flatnonzero((row_split == name) & np.isin(row_subject, chunk))
            path = out_dir / "data" / name / f"{k // shard_size}.parquet"
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table.take(pa.array(rows)), path)
            n_shards += 1

    meta = out_dir / "metadata"
    meta.mkdir(parents=True, exist_ok=True)
    codes = sorted(set(code.astype(str).tolist()))
    pq.write_table(pa.table({"code": pa.array(codes, pa.string()),
                             "description": pa.array([None] * len(codes), pa.string()),
                             "parent_codes": pa.array([None] * len(codes),
                                                      pa.list_(pa.string()))}),
                   meta / "codes.parquet")
    pq.write_table(pa.table({"subject_id": pa.array(subject, pa.int64()),
                             "split": pa.array(split_of.astype(str), pa.string())}),
                   meta / "subject_splits.parquet")
    if id_map is not None:
        pq.write_table(pa.Table.from_pandas(id_map, preserve_index=False), meta / "stay_ids.parquet")
    from ... import __version__

    (meta / "dataset.json").write_text(json.dumps({
        "dataset_name": dataset_name, "dataset_version": "1",
        "etl_name": "medfuse_sk.datasets.meds.write_meds", "etl_version": __version__,
        "meds_version": _meds_version(), "created_at": datetime.now(timezone.utc).isoformat(),
    }, indent=1))

    task_dir = out_dir / "task_labels" / task_name
    task_dir.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.table({
        "subject_id": pa.array(subject, pa.int64()),
        "prediction_time": pa.array((origin + at).astype("datetime64[us]"), pa.timestamp("us")),
        "boolean_value": pa.array(y.to_numpy().astype(bool), pa.bool_()),
    }, schema=_LABEL_SCHEMA), task_dir / "labels.parquet")
    report = {"n_subjects": int(len(ids)), "n_rows": int(len(code)),
              "n_static_rows": int(is_static.sum()), "n_codes": len(codes),
              "n_shards": n_shards, "splits": pd.Series(split_of).value_counts().to_dict(),
              "n_positive": int(y.sum()), "subject_ids": "stay ids" if id_map is None else
              "numbered (metadata/stay_ids.parquet)"}
    return MEDSExport(data_dir=out_dir, task_dir=task_dir, report=report)


def _meds_version() -> str:
    try:
        from meds import __version__ as version
    except ImportError:  # the meds package is optional for writing
        version = "0.4.1"
    return str(version)


def validate_meds(data_dir: str | os.PathLike, task_dir: str | os.PathLike | None = None) -> dict[str, int]:
    """Check a MEDS dataset (and a task) against the ``meds`` package's schemas.

    Every data shard against ``meds.DataSchema`` (and each subject in one shard only, its
    timed rows sorted), ``metadata/codes.parquet`` against ``CodeMetadataSchema`` (every data
    code listed), ``metadata/subject_splits.parquet`` against ``SubjectSplitSchema``,
    ``metadata/dataset.json`` against ``DatasetMetadataSchema``, and each label file against
    ``LabelSchema`` (label columns that are all null, as ACES writes them, are left out first).

    Returns
    -------
    dict
        Counts of what was checked (shards, rows, codes, subjects, label rows).

    Raises
    ------
    MEDSError
        Naming the file and what the schema said.
    ImportError
        The ``meds`` package is not installed (``pip install 'medfuse-sk[meds]'``).
    """
    try:
        import meds
    except ImportError as exc:
        raise ImportError(f"validate_meds needs the meds package; {install_hint('meds')}") from exc

    data_dir = Path(data_dir)
    counts = {"shards": 0, "rows": 0, "codes": 0, "subjects": 0, "label_rows": 0}
    seen: dict[int, str] = {}
    data_codes: set[str] = set()
    for path in data_shards(data_dir):
        table = pq.read_table(path)
        _check(meds.DataSchema, table, path)
        subject = table.column("subject_id").to_numpy()
        if len(subject):
            change = np.flatnonzero(np.diff(subject) != 0) + 1
            runs = subject[np.concatenate([[0], change])]
            if len(np.unique(runs)) != len(runs):
                raise MEDSError(f"{path}: the rows of a subject are not contiguous")
            for s in np.unique(subject).tolist():
                if s in seen:
                    raise MEDSError(f"subject {s} is in two shards: {seen[s]} and {path}")
                seen[s] = str(path)
            time_col = table.column("time").cast(pa.int64())
            timed = ~np.asarray(time_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            t = np.asarray(time_col.fill_null(0).to_numpy(), dtype=np.int64)[timed]
            s_t = subject[timed]
            if len(t) > 1 and ((np.diff(t) < 0) & (s_t[1:] == s_t[:-1])).any():
                raise MEDSError(f"{path}: a subject's rows are not sorted by time")
        data_codes.update(table.column("code").unique().to_pylist())
        counts["shards"] += 1
        counts["rows"] += table.num_rows
    counts["subjects"] = len(seen)
    codes_path = data_dir / meds.code_metadata_filepath
    if not codes_path.is_file():
        raise MEDSError(f"{codes_path} does not exist (every MEDS dataset lists its codes)")
    code_table = pq.read_table(codes_path)
    _check(meds.CodeMetadataSchema, code_table, codes_path)
    unlisted = data_codes - set(code_table.column("code").to_pylist())
    if unlisted:
        raise MEDSError(f"{codes_path} lacks codes of the data: {examples(sorted(unlisted))}")
    counts["codes"] = code_table.num_rows
    splits_path = data_dir / meds.subject_splits_filepath
    if splits_path.is_file():
        _check(meds.SubjectSplitSchema, pq.read_table(splits_path), splits_path)
    meta_path = data_dir / meds.dataset_metadata_filepath
    if meta_path.is_file():
        try:
            meds.DatasetMetadataSchema.validate(json.loads(meta_path.read_text()))
        except Exception as exc:  # the schema's own error types
            raise MEDSError(f"{meta_path}: {exc}") from exc
    if task_dir is not None:
        for path in label_files(task_dir):
            table = pq.read_table(path)
            unused = [c for c in LABEL_COLUMNS if c in table.column_names
                      and table.column(c).null_count == table.num_rows]
            _check(meds.LabelSchema, table.drop_columns(unused), path)
            counts["label_rows"] += table.num_rows
    return counts


def _check(schema: Any, table: pa.Table, path: Path) -> None:
    try:
        schema.validate(table)
    except Exception as exc:  # flexible_schema's SchemaValidationError / TableValidationError
        raise MEDSError(f"{path} does not fit meds.{schema.__name__}: "
                        f"{' '.join(str(exc).split())}") from exc
