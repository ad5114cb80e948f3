"""One reader for the tables every command reads: events and labels, CSV or parquet.

Every fault is a :class:`TableError` naming the file and, where one is at fault, the column
(and the command-line option that names it or fixes it: ``--stay``, ``--time``,
``--time-unit``, ``--feature``, ``--value``, ``--label``, ``--categorical``).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import ColumnError, EventSet

__all__ = ["TableError", "COLUMN_ROLES", "DEFAULT_COLUMNS", "read_table", "read_events",
           "read_labels"]

#: The roles of a long event table's columns, and their default names.
COLUMN_ROLES = ("stay", "time", "feature", "value")
DEFAULT_COLUMNS: dict[str, str] = {"stay": "stay_id", "time": "time", "feature": "feature",
                                   "value": "value"}

_CSV = (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")
_TSV = (".tsv", ".tsv.gz")
_PARQUET = (".parquet", ".pq")


class TableError(ValueError):
    """A table that cannot be read as asked; the message names the file and the column."""


def read_table(path: str | os.PathLike, what: str = "table") -> pd.DataFrame:
    """A CSV (optionally compressed), TSV or parquet file as a DataFrame.

    Parameters
    ----------
    path : str or path-like
    what : str
        What the file holds (``"events"``, ``"labels"``), for messages.

    Raises
    ------
    TableError
        The file is missing, of an unknown format or cannot be parsed.
    """
    p = Path(path)
    if not p.is_file():
        raise TableError(f"{what} file {path}: not found")
    name = p.name.lower()
    try:
        if name.endswith(_PARQUET):
            try:
                return pd.read_parquet(p)
            except ImportError as exc:
                raise TableError(f"{what} file {path}: reading parquet needs pyarrow "
                                 "(pip install pyarrow)") from exc
        if name.endswith(_CSV):
            return pd.read_csv(p)
        if name.endswith(_TSV):
            return pd.read_csv(p, sep="\t")
    except TableError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors, whatever their class
        raise TableError(f"{what} file {path}: cannot be read ({type(exc).__name__}: {exc})") \
            from exc
    raise TableError(f"{what} file {path}: unknown format; use .csv, .csv.gz, .tsv or .parquet")


def _require_columns(table: pd.DataFrame, path: Any, what: str, columns: Mapping[str, str]) -> None:
    for role, column in columns.items():
        if column not in table.columns:
            raise TableError(f"{what} file {path}: no column {column!r} (the {role} column, "
                             f"set with --{role}); its columns are {list(table.columns)}")


def _numeric_or_datetime_time(table: pd.DataFrame, path: Any, column: str) -> pd.DataFrame:
    """CSV times arrive as text: numbers or datetimes; anything else names the rows."""
    values = table[column]
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return table
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum():
        return table.assign(**{column: numbers})
    try:
        return table.assign(**{column: pd.to_datetime(values)})
    except (ValueError, TypeError) as exc:
        bad = values[numbers.isna() & values.notna()].iloc[:3].tolist()
        raise TableError(f"events file {path}: column {column!r} (--time) must hold numbers "
                         f"(times in --time-unit, default hours) or datetimes, got e.g. {bad}") \
            from exc


def read_events(
    path: str | os.PathLike,
    columns: Mapping[str, str] | None = None,
    *,
    time_unit: str = "h",
    categorical: Sequence[Any] | None = None,
    fitted_categorical: Iterable[Any] = (),
    stays: Sequence[Any] | None = None,
) -> EventSet:
    """A long event table file as an :class:`~medfuse_sk.data.EventSet`.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` (optionally compressed), ``.tsv`` or ``.parquet``.
    columns : mapping of role → column name, optional
        Roles ``stay``, ``time``, ``feature``, ``value``; the defaults (``stay_id``,
        ``time``, ``feature``, ``value``) for those not given.
    time_unit : {"h", "min", "s", "d"}, default "h"
        Unit of numeric times (``--time-unit``); they are converted to hours. Datetimes
        need none. A time column whose name says another unit (``minute``, ``time_s`` ...)
        is an error saying which ``--time-unit`` to pass.
    categorical : sequence of feature names, optional
        Features whose values are classes (default: inferred); a name that is no feature of
        the table is an error naming the closest ones.
    fitted_categorical : iterable of feature names
        Categorical features a fitted model remembers: those the table holds are declared
        categorical too (those it lacks are no fault).
    stays : sequence of stay ids, optional
        The stays to keep, in this order (the labelled ones); events of other stays are
        dropped with a warning.

    Raises
    ------
    TableError
        Naming the file (and the column) at fault.
    """
    columns = {**DEFAULT_COLUMNS, **{k: v for k, v in (columns or {}).items() if v}}
    table = read_table(path, "events")
    _require_columns(table, path, "events", columns)
    table = _numeric_or_datetime_time(table, path, columns["time"])
    if stays is not None:
        known = table[columns["stay"]].isin(stays)
        if not known.all():
            n = table.loc[~known, columns["stay"]].nunique()
            warnings.warn(f"events file {path}: ignored the events of {n} stay(s) without a "
                          "label", stacklevel=2)
            table = table[known]
    remembered = list(fitted_categorical or ())
    if remembered:
        present = set(table[columns["feature"]].astype(str).unique())
        categorical = list(dict.fromkeys([*(categorical or ()),
                                          *(c for c in remembered if str(c) in present)]))
    try:
        return EventSet.from_long(table, categorical=categorical or None, stays=stays,
                                  time_unit=time_unit, **columns)
    except ColumnError as exc:
        raise TableError(f"events file {path}: {exc.problem}. "
                         f"{exc.hint('Pass ' + exc.options())}") from exc
    except ValueError as exc:
        raise TableError(f"events file {path}: {exc}") from exc


def read_labels(path: str | os.PathLike, stay: str = "stay_id", label: str | None = None) -> pd.Series:
    """A label file as a 0/1 Series indexed by stay id (named after the label column).

    Parameters
    ----------
    path : str or path-like
    stay : str, default "stay_id"
        The stay column.
    label : str, optional
        The label column (0/1 or true/false); default: the file's only other column.

    Raises
    ------
    TableError
        A missing column, an empty or duplicated stay, a missing or non-binary label.
    """
    table = read_table(path, "labels")
    _require_columns(table, path, "labels", {"stay": stay})
    if label is None:
        others = [c for c in table.columns if c != stay]
        if len(others) != 1:
            raise TableError(f"labels file {path}: name the label column with --label; "
                             f"the columns besides {stay!r} are {others}")
        label = others[0]
    _require_columns(table, path, "labels", {"label": label})
    ids, values = table[stay], table[label]
    if ids.isna().any():
        raise TableError(f"labels file {path}: column {stay!r} has {int(ids.isna().sum())} "
                         "empty entries")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise TableError(f"labels file {path}: stays listed more than once in {stay!r}: "
                         f"{duplicated[:5].tolist()}")
    if values.isna().any():
        raise TableError(f"labels file {path}: column {label!r} has no label for stays "
                         f"{ids[values.isna()].iloc[:5].tolist()}")
    if values.dtype == bool:
        values = values.astype(np.int64)
    bad = ~values.isin([0, 1])
    if bad.any():
        raise TableError(f"labels file {path}: column {label!r} must hold 0/1 (or true/false), "
                         f"got e.g. {values[bad].unique()[:5].tolist()} (stays "
                         f"{ids[bad].iloc[:3].tolist()})")
    return pd.Series(values.to_numpy(dtype=np.int64), index=pd.Index(ids.to_numpy(), name=stay),
                     name=label)
