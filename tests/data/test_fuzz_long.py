"""Property test of the long-format parser: 1,000 generated tables, each either round-trips
through ``EventSet.from_long`` → ``to_long`` with nothing lost, or raises one of our own
errors (raised by medfuse_sk code, naming what is wrong); never a crash inside pandas/numpy.

The tables mix dtypes (ints, floats, strings, None in one column), hold NaN and ±inf values,
exact duplicates, stays without events, unicode and integer feature names, numeric hours,
timedeltas and time-zone-aware datetimes (across DST changes), in shuffled row order.
"""

import math
import warnings
from collections import Counter
from pathlib import Path

import hypothesis.strategies as st
import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings

import medfuse_sk
from medfuse_sk import EventSet

PACKAGE = Path(medfuse_sk.__file__).parent
BASE = pd.Timestamp("2021-03-27 20:00", tz="UTC")  # hours later cross Europe's and the US's DST
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]

stay_ids = st.one_of(st.integers(0, 6), st.sampled_from(["a", "b", "ü", "x y", "7"]))
features = st.one_of(st.text(min_size=1, max_size=4), st.integers(-2, 30))
hours = st.one_of(st.floats(0, 150, allow_nan=False), st.integers(0, 150).map(float))
labels = st.sampled_from(["low", "high", "ß", "正常", "", "NaN", "1.5", "+"])
values = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**6, 10**6),
                   labels, st.none())
clean_numbers = st.one_of(st.floats(-1e6, 1e6), st.integers(-100, 100), st.none())
clean_labels = st.sampled_from(["low", "high", "ß", "正常"])
kinds_of_feature = st.sampled_from(["number", "label"])
bad_times = st.one_of(hours, st.floats(-5, 0, exclude_max=True), st.just(math.nan),
                      st.just(math.inf))
stays_or_none = st.one_of(stay_ids, st.none())
features_or_none = st.one_of(features, st.none())
time_kinds = st.sampled_from(["hours", "int_hours", "timedelta", "datetime"])
zones = st.sampled_from(ZONES)
duplicate_policies = st.sampled_from(["drop", "keep"])


@st.composite
def long_tables(draw):
    """``(table, kwargs, time_kind, clean)``; a clean table must parse without error."""
    clean = draw(st.booleans())
    n = draw(st.integers(0, 25))
    if clean:  # every feature of one kind, no missing keys, no negative times, no inf
        kinds = {}
        rows = []
        for _ in range(n):
            f = draw(features)
            kind = kinds.setdefault(f, draw(kinds_of_feature))
            v = draw(clean_numbers if kind == "number" else clean_labels)
            rows.append([draw(stay_ids), draw(hours), f, v])
    else:
        rows = [[draw(stays_or_none), draw(bad_times), draw(features_or_none), draw(values)]
                for _ in range(n)]
    if rows:  # exact duplicates, then shuffled row order
        rows += [list(r) for r in draw(st.lists(st.sampled_from(rows), max_size=5))]
        rows = draw(st.permutations(rows))
    stay, time, feature, value = (list(c) for c in zip(*rows)) if rows else ([], [], [], [])
    time_kind = draw(time_kinds)
    if time_kind == "int_hours" and all(t == int(t) for t in time if math.isfinite(t)) \
            and all(math.isfinite(t) for t in time):
        time = [int(t) for t in time]
    elif time_kind == "timedelta":
        time = pd.to_timedelta([t if math.isfinite(t) else np.nan for t in time], unit="h")
    elif time_kind == "datetime":
        zone = draw(zones)
        time = pd.DatetimeIndex(pd.to_datetime(
            [BASE + pd.Timedelta(hours=t) if math.isfinite(t) else pd.NaT for t in time],
            utc=True)).tz_convert(zone)
    else:
        time_kind = "hours"
    table = pd.DataFrame({"stay_id": pd.Series(stay, dtype=object if stay else float),
                          "time": time, "feature": pd.Series(feature, dtype=object),
                          "value": value})
    kwargs = {"duplicates": draw(duplicate_policies)}
    if draw(st.booleans()):  # also name stays without any row
        present = list(pd.unique(table["stay_id"].dropna()))
        kwargs["stays"] = present + [s for s in ("empty1", 99) if s not in present]
    return table, kwargs, time_kind, clean


def _raised_by_us(exc: BaseException) -> bool:
    frame = exc.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return Path(frame.tb_frame.f_code.co_filename).resolve().is_relative_to(PACKAGE.resolve())


def _expected_hours(table: pd.DataFrame, observed: pd.Series, time_kind: str) -> pd.Series:
    if time_kind in ("hours", "int_hours"):
        return table["time"].astype(float)
    if time_kind == "timedelta":
        return table["time"].dt.total_seconds() / 3600
    if not observed.any():
        return pd.Series(np.zeros(len(table)), index=table.index)
    first = table.loc[observed].groupby("stay_id")["time"].min()
    elapsed = table["time"] - table["stay_id"].map(first)
    return elapsed.dt.total_seconds() / 3600


def _rows(frame: pd.DataFrame, hours: pd.Series, categorical: set,
          digits: int | None = 9) -> list[tuple]:
    out = []
    for (stay, feature, value), h in zip(frame[["stay_id", "feature", "value"]].itertuples(
            index=False), hours):
        v = value if feature in categorical else float(pd.to_numeric(value))
        h = float(h) if digits is None else round(float(h), digits)
        out.append((type(stay).__name__, stay, h, type(feature).__name__, feature, v))
    return out


def _rounded(row: tuple) -> tuple:
    return (*row[:2], round(row[2], 9), *row[3:])


@settings(max_examples=1000, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(long_tables())
def test_long_tables_round_trip_or_raise_our_errors(case):
    table, kwargs, time_kind, clean = case
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            X = EventSet.from_long(table, **kwargs)
        except (ValueError, TypeError) as exc:
            assert _raised_by_us(exc), f"{type(exc).__name__} from inside a library: {exc}"
            assert not (clean and len(table)), f"a clean table was refused: {exc}"
            return
        back = X.to_long()
    observed = table["value"].notna()
    assert X.info["n_missing_values"] == int((~observed).sum())
    categorical = set(X.categorical_features)
    # exact times: rows that differ only below the rounding of the comparison (e.g. 0 and
    # 1e-170 hours) are not duplicates and are kept
    want = _rows(table[observed], _expected_hours(table, observed, time_kind)[observed],
                 categorical, digits=None)
    got = _rows(back, back["time"], categorical)
    if kwargs["duplicates"] != "keep":
        want = list(set(want))
    assert Counter(got) == Counter(_rounded(row) for row in want)
    if "stays" in kwargs:
        assert X.stay_ids.tolist() == kwargs["stays"]
        assert X.lengths[X.stay_ids.tolist().index("empty1")] == 0
    times = back.groupby("stay_id", sort=False)["time"]
    assert all(g.is_monotonic_increasing for _, g in times)  # sorted by time within a stay
