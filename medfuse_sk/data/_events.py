"""Long-format event tables → validated :class:`EventSet` (numpy only, no torch).

An event is one observation ``(stay, time, feature, value)``. ``EventSet`` stores all events
of all stays as flat arrays plus per-stay offsets; indexing it selects stays, so
scikit-learn's splitters and ``cross_val_score`` split it by stay.

Documented input behaviour
--------------------------
- A missing value (NaN/None) is an absent observation: the row produces no event and is
  counted in ``EventSet.info["n_missing_values"]``.
- Events are sorted by time within each stay; events at the same time by feature (order of
  first appearance) and value, so the input order of the rows does not matter.
- Stays keep the order in which they first appear in the table, unless ``stays`` is given.
- Exact duplicate rows (same stay, time, feature and value) are dropped with a warning by
  default (``duplicates="drop"``); ``"keep"`` keeps them, ``"raise"`` refuses them.
- Numeric times are in ``time_unit`` (``"h"`` by default, or ``"s"``, ``"min"``, ``"d"``)
  and are converted to hours; timedeltas and datetimes carry their own unit (``time_unit``
  is not used for them). A time column whose name says another unit than ``time_unit``
  (``minute``, ``time_min``, ``seconds``, ``los_days`` ...) is an error that says which unit
  to pass: numbers are never silently read in the wrong unit.
- Negative times, infinite values, missing stay ids / feature names / times, and strings in
  a numerical feature raise a ``ValueError`` naming the column, feature, stay or value; a
  missing column or a time unit at odds with its column's name raises a
  :class:`ColumnError` saying which arguments fix it; a ``categorical`` name that is no
  feature of the table is an error naming the closest features.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..utils import as_python, closest, examples
from ._ragged import RaggedStays

__all__ = ["EventSet", "ColumnError", "TIME_UNITS", "as_event_set", "event_order_moves"]

_HOUR = np.timedelta64(1, "h")

#: The units numeric times may be given in (``time_unit``); they are converted to hours.
TIME_UNITS = ("s", "min", "h", "d")
_UNIT_WORDS = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}
# How a column's name says its unit, compared by whole words (split at non-letters and at
# camelCase): words that say it anywhere in the name, short forms that say it only as the
# last word of a longer name (time_s, t_min, los_h), and short forms that say it alone (min).
_NAME_WORDS = {"s": {"second", "seconds", "secs"}, "min": {"minute", "minutes", "mins"},
               "h": {"hour", "hours", "hrs"}, "d": {"day", "days"}}
_NAME_SUFFIXES = {"s": {"s", "sec"}, "min": {"min"}, "h": {"h", "hr"}, "d": {"d"}}
_NAME_ALONE = {"s": {"sec"}, "min": {"min"}, "h": {"hr"}, "d": set()}


class ColumnError(ValueError):
    """A long table's columns do not fit the column arguments: a column is missing, or the
    time column's name says another unit than ``time_unit``.

    The message says what is wrong and which arguments fix it. ``problem`` holds the first
    part and ``fix`` the arguments (``{"time": "minute", "time_unit": "min"}``; a value of
    None where the right one is unknown), so that a caller can phrase the fix in its own
    terms: a model's constructor, command-line options (:meth:`hint`, :meth:`options`).
    """

    def __init__(self, problem: str, fix: Mapping[str, Any], note: str = "",
                 hint: str | None = None) -> None:
        self.problem = problem
        self.fix = dict(fix)
        self.note = note
        if hint is None:
            hint = self.hint(f"Pass {{}} (on the command line: {self.options()})")
        self._hint = hint
        super().__init__(f"{problem}. {hint}")

    def __reduce__(self) -> tuple:  # pickled whole (e.g. out of a joblib worker)
        return type(self), (self.problem, self.fix, self.note, self._hint)

    def arguments(self) -> str:
        """The fix as keyword arguments: ``time='minute', time_unit='min'``."""
        return ", ".join(f"{k}={'...' if v is None else repr(v)}" for k, v in self.fix.items())

    def options(self) -> str:
        """The fix as command-line options: ``--time minute --time-unit min``."""
        def shown(value: Any) -> str:
            if value is None:
                return "NAME"
            if isinstance(value, (list, tuple)):
                return " ".join(map(str, value))
            return str(value)
        return " ".join(f"--{k.replace('_', '-')} {shown(v)}" for k, v in self.fix.items())

    def hint(self, template: str) -> str:
        """How to fix it: ``template`` with :meth:`arguments` in place of ``{}`` (e.g.
        ``"Pass them to the constructor: MedFuseClassifier({}, ...)"``), then the note."""
        return template.replace("{}", self.arguments(), 1) + self.note

    def rephrased(self, hint: str) -> ColumnError:
        """The same error with another way to fix it (the message's second part)."""
        return ColumnError(self.problem, self.fix, self.note, hint=hint)


def _name_unit(name: Any) -> str | None:
    """The time unit a column's name says (``"min"`` for ``minute`` or ``time_min``), or
    None when it says none or several."""
    if not isinstance(name, str):
        return None
    words = [w for w in re.split(r"[^a-z]+", re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower())
             if w]
    found = set()
    for i, word in enumerate(words):
        for unit in TIME_UNITS:
            if (word in _NAME_WORDS[unit]
                    or (word in _NAME_SUFFIXES[unit] and i == len(words) - 1 and len(words) > 1)
                    or (word in _NAME_ALONE[unit] and len(words) == 1)):
                found.add(unit)
    return found.pop() if len(found) == 1 else None


def _check_time_unit(time_unit: Any) -> None:
    if time_unit not in TIME_UNITS:
        meant = _name_unit(time_unit) if isinstance(time_unit, str) else None
        raise ValueError(f"time_unit must be one of {', '.join(map(repr, TIME_UNITS))}, got "
                         f"{time_unit!r}" + (f"; did you mean {meant!r}?" if meant else ""))


def _check_name_says_unit(column: Any, time_unit: str) -> None:
    """A numeric time column whose name says another unit than ``time_unit``: an error."""
    named = _name_unit(column)
    if named is not None and named != time_unit:
        raise ColumnError(
            f"column {column!r} looks like {_UNIT_WORDS[named]} but time_unit={time_unit!r} "
            f"(its numbers would be read as {_UNIT_WORDS[time_unit]})", {"time_unit": named},
            note=f", or rename the column if its numbers really are {_UNIT_WORDS[time_unit]}")


def _guess_columns(columns: Sequence[Any], names: Mapping[str, Any], absent: Sequence[str],
                   time_unit: str) -> dict[str, Any]:
    """For each absent role, the table's column it most likely is (None when unclear); the
    time unit too when the guessed time column's name says another one."""
    spare = [c for c in columns if c not in names.values()]
    guess: dict[str, Any] = {}
    for role in absent:
        if len(absent) == 1 and len(spare) == 1:
            found = spare
        elif role == "time" and sum(_name_unit(c) is not None for c in spare) == 1:
            found = [c for c in spare if _name_unit(c) is not None]
        else:
            found = closest(names[role], spare, n=1)
        guess[role] = found[0] if len(found) == 1 else None
        if guess[role] is not None:
            spare.remove(guess[role])
    if guess.get("time") is not None:
        named = _name_unit(guess["time"])
        if named is not None and named != time_unit:
            guess["time_unit"] = named
    return guess


def _to_hours(numbers: np.ndarray, time_unit: str) -> np.ndarray:
    if time_unit == "s":
        return numbers / 3600.0
    if time_unit == "min":
        return numbers / 60.0
    if time_unit == "d":
        return numbers * 24.0
    return numbers


def _from_hours(hours: np.ndarray, time_unit: str) -> np.ndarray:
    if time_unit == "s":
        return hours * 3600.0
    if time_unit == "min":
        return hours * 60.0
    if time_unit == "d":
        return hours / 24.0
    return hours


def _as_pandas(table: Any) -> pd.DataFrame:
    if isinstance(table, pd.DataFrame):
        return table
    if hasattr(table, "to_pandas"):  # pyarrow.Table, polars.DataFrame
        return table.to_pandas()
    raise TypeError(
        f"expected a pandas DataFrame (or a pyarrow/polars table), got {type(table).__name__}"
    )


def _hours_since_start(
    times: pd.Series, stay_codes: np.ndarray, stay_ids: np.ndarray, start: Any, time_unit: str,
    column: Any,
) -> np.ndarray:
    """Convert a time column to float hours since each stay's start (numbers from
    ``time_unit``)."""
    if pd.api.types.is_timedelta64_dtype(times):
        return times.to_numpy() / _HOUR
    if pd.api.types.is_datetime64_any_dtype(times):
        # aware times as UTC instants: elapsed hours stay right across DST changes
        stamps = times.dt.tz_convert(None) if times.dt.tz is not None else times
        stamps = stamps.to_numpy()
        if start is None:
            first = (pd.Series(stamps).groupby(stay_codes).min()
                     .reindex(range(len(stay_ids))).to_numpy())
            origin = first[stay_codes]
        else:
            start = pd.Series(start) if not isinstance(start, pd.Series) else start
            absent = pd.Index(stay_ids).difference(start.index)
            if len(absent):
                raise ValueError(
                    f"`start` has no start time for stays {examples(absent)}"
                )
            start_times = pd.to_datetime(start.reindex(stay_ids))
            if start_times.dt.tz is not None:
                start_times = start_times.dt.tz_convert(None)
            origin = start_times.to_numpy()[stay_codes]
        return (stamps - origin) / _HOUR
    if pd.api.types.is_numeric_dtype(times) and not pd.api.types.is_bool_dtype(times):
        if start is not None:
            raise ValueError("`start` is only used with datetime times; numeric times are "
                             "counted from the stay's start")
        return _to_hours(times.to_numpy(dtype=np.float64), time_unit)
    raise ValueError(
        f"time column {column!r} must hold numbers (times in time_unit={time_unit!r}), "
        f"timedeltas or datetimes; got dtype "
        f"{times.dtype} (e.g. {examples(times.dropna().unique()[:3])})"
    )


class EventSet(RaggedStays):
    """Events of many stays, stored flat: one call builds it from a long table.

    Use :meth:`from_long` to build one. ``len(X)`` is the number of stays, ``X.stay_ids``
    their identifiers, ``X[idx]`` a subset of stays, :meth:`to_long` the long table back.

    Attributes
    ----------
    stay_ids : ndarray of shape (n_stays,)
    offsets : ndarray of int64 of shape (n_stays + 1,)
    feature_names : ndarray of object
        Feature names; ``columns["feature"]`` holds codes into it.
    categories : ndarray of object
        Class labels of categorical events; ``columns["category"]`` holds codes into it
        (``-1`` for numerical events).
    categorical_features : tuple of feature names that are categorical
    column_names : dict
        The long table's column names (``stay``, ``time``, ``feature``, ``value``).
    time_unit : str
        The unit numeric times were given in (``"h"`` for timedeltas and datetimes);
        :meth:`to_long` gives times back in it. The stored times are hours.
    info : dict
        What construction did: rows dropped as missing values or duplicates.
    """

    def __init__(
        self,
        stay_ids: np.ndarray,
        offsets: np.ndarray,
        columns: Mapping[str, np.ndarray],
        feature_names: np.ndarray,
        categories: np.ndarray,
        categorical_features: Sequence[str] = (),
        column_names: Mapping[str, str] | None = None,
        info: Mapping[str, int] | None = None,
        time_unit: str = "h",
    ) -> None:
        super().__init__(stay_ids, offsets, columns)
        self.feature_names = np.asarray(feature_names, dtype=object)
        self.categories = np.asarray(categories, dtype=object)
        self.categorical_features = tuple(categorical_features)
        self.column_names = dict(
            column_names or {"stay": "stay_id", "time": "time", "feature": "feature",
                             "value": "value"}
        )
        self.info = dict(info or {})
        _check_time_unit(time_unit)
        self.time_unit = time_unit

    # -- construction ------------------------------------------------------------------
    @classmethod
    def from_long(
        cls,
        table: Any,
        *,
        stay: str = "stay_id",
        time: str = "time",
        feature: str = "feature",
        value: str = "value",
        time_unit: str = "h",
        categorical: Sequence[Any] | None = None,
        absent_categorical: str = "raise",
        start: Mapping | pd.Series | None = None,
        stays: Sequence[Any] | None = None,
        duplicates: str = "drop",
    ) -> EventSet:
        """Build an EventSet from a long-format table, one row per observation.

        Parameters
        ----------
        table : pandas.DataFrame (or pyarrow / polars table)
        stay, time, feature, value : str
            Column names. ``time`` may hold numbers (time since the stay's start, in
            ``time_unit``), timedeltas, or datetimes (made relative to ``start``, else to
            each stay's first event).
        time_unit : {"h", "min", "s", "d"}, default "h"
            Unit of numeric times: hours, minutes, seconds or days. Times are converted to
            hours, the unit of everything downstream: the tokenizer's ``window`` and
            ``horizon`` and GRU-D's ``step`` are hours whatever the input's unit.
            Timedeltas and datetimes carry their own unit and ignore it. A time column
            whose name says another unit (``minute``, ``time_min``, ``seconds``, ``days``
            ...) is a :class:`ColumnError`.
        categorical : sequence of feature names, optional
            Features whose values are classes. When omitted, a feature whose observed values
            are all non-numeric is categorical; one mixing numbers and strings is an error.
        absent_categorical : {"raise", "ignore"}, default "raise"
            What to do with ``categorical`` names that are no feature of the table: an error
            naming the closest features (a misspelt name would otherwise be treated as
            numerical), or nothing (for names a fitted model remembers, which a table of
            new stays may lack).
        start : mapping or Series of stay id → datetime, optional
            Per-stay start time, for datetime times.
        stays : sequence of stay ids, optional
            The stays to hold and their order. Stays without rows get no events (they
            still get a prediction); rows of stays not listed are an error.
        duplicates : {"drop", "keep", "raise"}, default "drop"
            What to do with exact duplicate rows; dropping warns with the count.

        Returns
        -------
        EventSet
        """
        if duplicates not in {"drop", "keep", "raise"}:
            raise ValueError(f"duplicates must be 'drop', 'keep' or 'raise', got {duplicates!r}")
        if absent_categorical not in {"raise", "ignore"}:
            raise ValueError(f"absent_categorical must be 'raise' or 'ignore', got "
                             f"{absent_categorical!r}")
        _check_time_unit(time_unit)
        df = _as_pandas(table)
        names = {"stay": stay, "time": time, "feature": feature, "value": value}
        absent = [role for role, column in names.items() if column not in df.columns]
        if absent:
            raise ColumnError(
                f"missing column(s) {[names[role] for role in absent]}; the table has "
                f"{list(df.columns)}", _guess_columns(list(df.columns), names, absent, time_unit))
        if pd.api.types.is_numeric_dtype(df[time]) and not pd.api.types.is_bool_dtype(df[time]):
            _check_name_says_unit(time, time_unit)
        if len(df) == 0 and stays is None:
            raise ValueError("the event table is empty: no rows, no stays")
        for role in ("stay", "feature", "time"):
            nulls = df[names[role]].isna().to_numpy()
            if nulls.any():
                where = df.loc[nulls, stay].unique() if role != "stay" else []
                raise ValueError(
                    f"column {names[role]!r} has {int(nulls.sum())} missing entries"
                    + (f" (stays {examples(where)})" if len(where) else "")
                )

        # stays: order of first appearance, or the order the user gave
        if stays is None:
            stay_codes, stay_ids = pd.factorize(df[stay], sort=False)
            stay_ids = np.asarray(stay_ids)
        else:
            stay_ids = pd.Index(list(stays), tupleize_cols=False).to_numpy()  # 1 stays ≠ "1"
            if len(pd.unique(stay_ids)) != len(stay_ids):
                raise ValueError("`stays` lists some stay ids more than once")
            stay_codes = pd.Index(stay_ids).get_indexer(df[stay])
            if (stay_codes < 0).any():
                extra = df.loc[stay_codes < 0, stay].unique()
                raise ValueError(f"events belong to stays not listed in `stays`: "
                                 f"{examples(extra)}")

        # a missing value is an absent observation; its stay is kept (collected above)
        missing_value = df[value].isna().to_numpy()
        n_missing = int(missing_value.sum())
        observed = ~missing_value if n_missing else slice(None)
        stay_codes = stay_codes[observed]
        values = df[value][observed] if n_missing else df[value]

        hours = _hours_since_start(df[time][observed] if n_missing else df[time], stay_codes,
                                   stay_ids, start, time_unit, time)
        if (hours < 0).any():
            bad = pd.unique(stay_ids[stay_codes[hours < 0]])
            raise ValueError(
                f"column {time!r} has {int((hours < 0).sum())} negative times (before the "
                f"stay's start) in stays {examples(bad)}; times must be >= 0"
            )

        feature_codes, feature_names = pd.factorize(df[feature], sort=False)
        feature_codes = feature_codes[observed]
        feature_names = np.asarray(feature_names, dtype=object)
        numbers, category_codes, categories, cat_names = _split_values(
            values, feature_codes, feature_names, categorical, absent_categorical, feature
        )
        del values
        finite = np.isfinite(numbers) | (category_codes >= 0)
        if not finite.all():
            bad = np.flatnonzero(~finite)
            raise ValueError(
                f"column {value!r} has {len(bad)} infinite values, e.g. feature "
                f"{as_python(feature_names[feature_codes[bad[0]]])!r} in stay "
                f"{as_python(stay_ids[stay_codes[bad[0]]])!r}"
            )

        # one sort by (stay, time, feature, value): events in time order within a stay, ties
        # in a fixed order, and exact duplicates side by side
        value_key = np.where(category_codes >= 0, category_codes, numbers)
        order = np.lexsort((value_key, feature_codes, hours, stay_codes))
        stay_codes, hours = stay_codes[order], hours[order]
        feature_codes, category_codes = feature_codes[order], category_codes[order]
        numbers, value_key = numbers[order], value_key[order]
        n_duplicates = 0
        if duplicates != "keep" and len(order) > 1:
            dup = np.zeros(len(order), dtype=bool)
            dup[1:] = ((stay_codes[1:] == stay_codes[:-1]) & (hours[1:] == hours[:-1])
                       & (feature_codes[1:] == feature_codes[:-1])
                       & (value_key[1:] == value_key[:-1]))
            n_duplicates = int(dup.sum())
            if n_duplicates and duplicates == "raise":
                first = np.flatnonzero(dup)[0]
                raise ValueError(
                    f"{n_duplicates} duplicated events, e.g. stay {as_python(stay_ids[stay_codes[first]])!r}"
                    f" feature {as_python(feature_names[feature_codes[first]])!r} at {hours[first]} h"
                )
            if n_duplicates:
                warnings.warn(f"dropped {n_duplicates} exact duplicate events "
                              "(pass duplicates='keep' to keep them)", stacklevel=2)
                keep = ~dup
                stay_codes, hours, feature_codes = stay_codes[keep], hours[keep], feature_codes[keep]
                numbers, category_codes = numbers[keep], category_codes[keep]
        del value_key, order

        counts = np.bincount(stay_codes, minlength=len(stay_ids))
        offsets = np.zeros(len(stay_ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        columns = {
            "time": hours.astype(np.float64, copy=False),
            "feature": feature_codes.astype(np.int32),
            "value": numbers,
            "category": category_codes.astype(np.int32),
        }
        numeric_times = pd.api.types.is_numeric_dtype(df[time])
        return cls(stay_ids, offsets, columns, feature_names, categories, cat_names,
                   column_names=names,
                   info={"n_missing_values": n_missing, "n_duplicates_dropped": n_duplicates},
                   time_unit=time_unit if numeric_times else "h")

    # -- back to a table ---------------------------------------------------------------
    def to_long(self) -> pd.DataFrame:
        """The events as a long table with the column names given to :meth:`from_long`.

        Times are numbers in :attr:`time_unit` (the unit they were read in; hours for
        timedeltas and datetimes). Numerical values are floats; if any feature is categorical
        the value column is of object dtype holding both numbers and class labels.
        """
        c = self.columns
        is_cat = c["category"] >= 0
        if is_cat.any():
            value = c["value"].astype(object)
            value[is_cat] = self.categories[c["category"][is_cat]]
        else:
            value = c["value"]
        n = self.column_names
        return pd.DataFrame({
            n["stay"]: self.stay_ids[self.row_stay_index()],
            n["time"]: _from_hours(c["time"], getattr(self, "time_unit", "h")),  # older pickles
            n["feature"]: self.feature_names[c["feature"]],
            n["value"]: value,
        })

    def __repr__(self) -> str:
        return (f"<EventSet: {len(self)} stays, {self.n_rows} events, "
                f"{len(self.feature_names)} features ({len(self.categorical_features)} "
                "categorical)>")


def _split_values(
    values: pd.Series,
    feature_codes: np.ndarray,
    feature_names: np.ndarray,
    categorical: Sequence[Any] | None,
    absent_categorical: str,
    column: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple]:
    """Numbers (NaN for class events), class codes (-1 for numbers), classes, cat. features."""
    n = len(values)
    declared = set(categorical) if categorical is not None else set()
    unknown = declared.difference(feature_names)
    if unknown and n and absent_categorical == "raise":
        raise ValueError(_unknown_categorical(unknown, feature_names, column))
    is_declared = np.isin(feature_names, list(declared)) if declared else np.zeros(
        len(feature_names), dtype=bool)

    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        numbers = values.to_numpy(dtype=np.float64)
        non_numeric = np.zeros(n, dtype=bool)
    else:
        coerced = pd.to_numeric(values, errors="coerce")
        numbers = coerced.to_numpy(dtype=np.float64)
        non_numeric = np.isnan(numbers)

    # per feature: how many events are non-numeric
    bad_per_feature = np.bincount(feature_codes[non_numeric], minlength=len(feature_names))
    all_per_feature = np.bincount(feature_codes, minlength=len(feature_names))
    if categorical is None:
        inferred = (bad_per_feature == all_per_feature) & (all_per_feature > 0)
        mixed = (bad_per_feature > 0) & ~inferred
        is_cat_feature = inferred
    else:
        mixed = (bad_per_feature > 0) & ~is_declared
        is_cat_feature = is_declared
    if mixed.any():
        f = int(np.flatnonzero(mixed)[0])
        example = values.to_numpy()[non_numeric & (feature_codes == f)][0]
        raise ValueError(
            f"feature {as_python(feature_names[f])!r} is numerical but has {int(bad_per_feature[f])} "
            f"non-numeric values, e.g. {as_python(example)!r}. Fix the values, or declare it with "
            f"categorical=[{as_python(feature_names[f])!r}, ...]"
        )

    is_cat_event = is_cat_feature[feature_codes]
    category_codes = np.full(n, -1, dtype=np.int64)
    if is_cat_event.any():
        # class labels keep their identity: 1 and "1" differ, 1 and 1.0 are one class
        codes, categories = pd.factorize(values.to_numpy(dtype=object)[is_cat_event], sort=False)
        category_codes[is_cat_event] = codes
        numbers = numbers.copy()
        numbers[is_cat_event] = np.nan
    else:
        categories = np.array([], dtype=object)
    cat_names = tuple(feature_names[is_cat_feature])
    return numbers, category_codes, np.asarray(categories, dtype=object), cat_names


def _unknown_categorical(unknown: set, feature_names: np.ndarray, column: Any) -> str:
    """The error of ``categorical`` names that are no feature: each with its closest names."""
    def meant(name: Any) -> str:
        close = closest(name, feature_names)
        return f"did you mean {' or '.join(map(repr, close))}?" if close else ""

    names = sorted(unknown, key=str)
    every = f"The table's features are {examples(feature_names, n=8)}"
    if len(names) == 1:
        hint = meant(names[0])
        return (f"categorical feature {as_python(names[0])!r} is not a feature of the table "
                f"(column {column!r}){'; ' + hint if hint else '.'} {every}")
    parts = [f"{as_python(name)!r}" + (f" ({meant(name)})" if meant(name) else "")
             for name in names]
    return (f"categorical features not in the table (column {column!r}): {', '.join(parts)}. "
            f"{every}")


def as_event_set(X: Any) -> EventSet:
    """``X`` as an :class:`EventSet`: an EventSet as is, a long table (pandas, pyarrow,
    polars) with the default column names through :meth:`EventSet.from_long`.

    Raises
    ------
    TypeError
        For other per-stay containers, e.g. a ``TokenSet`` (already tokenized).
    ColumnError
        For a table with other column names or times in another unit; the message names
        the ``EventSet.from_long`` call that reads it.
    """
    if isinstance(X, EventSet):
        return X
    if isinstance(X, RaggedStays):
        raise TypeError(f"got a {type(X).__name__}: it is already tokenized; pass events "
                        "(an EventSet or a long table)")
    try:
        return EventSet.from_long(X)
    except ColumnError as exc:
        raise exc.rephrased(exc.hint("A table with the default column names and times in "
                                     "hours is read as is; else pass an EventSet built with "
                                     "EventSet.from_long(table, {})")) from None


def event_order_moves(stay: np.ndarray, time: np.ndarray,
                      feature: np.ndarray) -> tuple[np.ndarray | slice, np.ndarray] | None:
    """The moves that put rows in events' order, ``np.lexsort((feature, time, stay))`` (the
    order :meth:`EventSet.from_long` gives, up to the order of rows that share stay, time and
    feature, which is kept): ``(where, source)``, row ``where`` takes row ``source``; None where
    the rows are in that order already.

    ``stay`` never decreases. Rows in (stay, time) order only need their runs of equal
    (stay, time) with a step back in feature sorted: a pass to find them and a sort of those
    runs alone; other rows get one full stable sort.
    """
    if len(stay) < 2:
        return None
    same_stay = stay[1:] == stay[:-1]
    if not (~same_stay | (time[1:] >= time[:-1])).all():  # times going back, or NaN
        return slice(None), np.lexsort((feature, time, stay))
    tie = same_stay & (time[1:] == time[:-1])
    back = tie & (feature[1:] < feature[:-1])
    if not back.any():
        return None
    tied = np.flatnonzero(tie)  # i: rows i and i + 1 share (stay, time)
    opens = np.ones(len(tied), dtype=bool)
    opens[1:] = tied[1:] != tied[:-1] + 1
    run = np.cumsum(opens) - 1
    unsorted = np.zeros(run[-1] + 1, dtype=bool)
    unsorted[run[back[tied]]] = True
    first = tied[opens][unsorted]
    size = tied[np.append(opens[1:], True)][unsorted] + 2 - first
    owner = np.repeat(np.arange(len(first)), size)
    rows = np.arange(int(size.sum())) - (np.cumsum(size) - size)[owner] + first[owner]
    return rows, rows[np.lexsort((feature[rows], owner))]
