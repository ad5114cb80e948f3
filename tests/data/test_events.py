import pickle
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.utils import _safe_indexing

from medfuse_sk import EventSet
from medfuse_sk.data import ColumnError


def table(**overrides):
    df = pd.DataFrame({
        "stay_id": [7, 7, 7, 3, 3, 5],
        "time": [2.0, 0.5, 1.0, 0.0, 4.0, 1.5],
        "feature": ["HR", "HR", "Na", "HR", "Na", "HR"],
        "value": [80.0, 70.0, 140.0, 60.0, 135.0, 90.0],
    })
    return df.assign(**overrides)


def sorted_long(df):
    return df.sort_values(["stay_id", "time", "feature"]).reset_index(drop=True)


def test_round_trip_and_layout():
    X = EventSet.from_long(table())
    assert len(X) == 3 and X.shape == (3,)
    np.testing.assert_array_equal(X.stay_ids, [7, 3, 5])  # order of first appearance
    np.testing.assert_array_equal(X.offsets, [0, 3, 5, 6])
    # sorted by time within each stay, whatever the input order
    np.testing.assert_array_equal(X.columns["time"][:3], [0.5, 1.0, 2.0])
    pd.testing.assert_frame_equal(sorted_long(X.to_long()), sorted_long(table()),
                                  check_dtype=False)


def test_custom_column_names_and_integer_features():
    df = table().rename(columns={"stay_id": "pid", "time": "t", "feature": "var", "value": "x"})
    df["var"] = df["var"].map({"HR": 1, "Na": 2})
    X = EventSet.from_long(df, stay="pid", time="t", feature="var", value="x")
    assert set(X.feature_names) == {1, 2}
    back = X.to_long()
    assert list(back.columns) == ["pid", "t", "var", "x"]
    pd.testing.assert_frame_equal(back.sort_values(["pid", "t", "var"]).reset_index(drop=True),
                                  df.sort_values(["pid", "t", "var"]).reset_index(drop=True),
                                  check_dtype=False)


def test_missing_column_is_named():
    with pytest.raises(ValueError, match="missing column.*'value'"):
        EventSet.from_long(table().drop(columns="value"))


def test_empty_table_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        EventSet.from_long(table().iloc[:0])


def test_nan_values_are_absent_tokens_but_stays_are_kept():
    df = table(value=[80.0, np.nan, 140.0, 60.0, 135.0, np.nan])
    X = EventSet.from_long(df)
    assert X.n_rows == 4 and X.info["n_missing_values"] == 2
    assert list(X.stay_ids) == [7, 3, 5] and X.lengths.tolist() == [2, 2, 0]


def test_timedeltas_and_datetimes():
    df = table(time=pd.to_timedelta([2.0, 0.5, 1.0, 0.0, 4.0, 1.5], unit="h"))
    np.testing.assert_allclose(EventSet.from_long(df).columns["time"],
                               EventSet.from_long(table()).columns["time"])
    origin = pd.Timestamp("2024-01-01 08:00")
    df = table(time=origin + pd.to_timedelta([2.0, 0.5, 1.0, 0.0, 4.0, 1.5], unit="h"))
    rel = EventSet.from_long(df)  # relative to each stay's first event
    np.testing.assert_allclose(rel.columns["time"], [0, 0.5, 1.5, 0, 4, 0])
    start = pd.Series([origin - pd.Timedelta(hours=1)] * 3, index=[7, 3, 5])
    given = EventSet.from_long(df, start=start)
    np.testing.assert_allclose(given.columns["time"], [1.5, 2, 3, 1, 5, 2.5])
    with pytest.raises(ValueError, match="no start time for stays 5"):
        EventSet.from_long(df, start=start.drop(5))


def test_categorical_inferred_declared_and_mixed():
    df = pd.concat([table(), pd.DataFrame({"stay_id": [7, 3], "time": [0.0, 0.0],
                                           "feature": ["Sex", "Sex"], "value": ["F", "M"]})])
    X = EventSet.from_long(df)
    assert X.categorical_features == ("Sex",)
    assert sorted(X.categories) == ["F", "M"]
    declared = EventSet.from_long(table(), categorical=["Na"])
    assert declared.categorical_features == ("Na",)
    assert (declared.columns["category"] >= 0).sum() == 2
    mixed = table(value=[80.0, "high", 140.0, 60.0, 135.0, 90.0])
    with pytest.raises(ValueError, match=r"feature 'HR' .* non-numeric values, e.g. 'high'"):
        EventSet.from_long(mixed)
    with pytest.raises(ValueError, match="'HR' is numerical"):
        EventSet.from_long(mixed, categorical=["Na"])


@pytest.mark.parametrize("bad, message", [
    (dict(value=[80.0, np.inf, 140.0, 60.0, 135.0, 90.0]), "infinite values, e.g. feature 'HR' in stay 7"),
    (dict(time=[2.0, -0.5, 1.0, 0.0, 4.0, 1.5]), "negative times .* stays 7"),
    (dict(stay_id=[7, 7, None, 3, 3, 5]), "'stay_id' has 1 missing"),
    (dict(feature=["HR", None, "Na", "HR", "Na", "HR"]), "'feature' has 1 missing.*stays 7"),
    (dict(time=["a", "b", "c", "d", "e", "f"]),
     "'time' must hold numbers \\(times in time_unit='h'\\), timedeltas or datetimes"),
])
def test_bad_input_is_named(bad, message):
    with pytest.raises(ValueError, match=message):
        EventSet.from_long(table(**bad))


def test_duplicates_policy():
    df = pd.concat([table(), table().iloc[[0]]])
    with pytest.warns(UserWarning, match="dropped 1 exact duplicate"):
        assert EventSet.from_long(df).n_rows == 6
    assert EventSet.from_long(df, duplicates="keep").n_rows == 7
    with pytest.raises(ValueError, match="1 duplicated events, e.g. stay 7 feature 'HR'"):
        EventSet.from_long(df, duplicates="raise")


def test_stays_argument_orders_and_adds_empty_stays():
    X = EventSet.from_long(table(), stays=[5, 99, 3, 7])
    assert X.stay_ids.tolist() == [5, 99, 3, 7] and X.lengths.tolist() == [1, 0, 2, 3]
    with pytest.raises(ValueError, match="not listed in `stays`: 5"):
        EventSet.from_long(table(), stays=[3, 7])


def test_sklearn_splits_by_stay():
    X = EventSet.from_long(table())
    sub = _safe_indexing(X, np.array([2, 0]))
    assert sub.stay_ids.tolist() == [5, 7]
    assert sorted_long(sub.to_long()).equals(
        sorted_long(table()[table().stay_id.isin([5, 7])]).astype(sub.to_long().dtypes))
    masked = _safe_indexing(X, np.array([True, False, True]))
    assert masked.stay_ids.tolist() == [7, 5]
    big = EventSet.from_long(pd.DataFrame({"stay_id": np.repeat(np.arange(20), 3),
                                           "time": np.tile([0.0, 1.0, 2.0], 20),
                                           "feature": "HR", "value": np.arange(60.0)}))
    y = np.arange(20) % 2
    train, test, y_train, y_test = train_test_split(big, y, test_size=0.25, random_state=0,
                                                    stratify=y)
    assert len(train) == 15 and len(test) == 5
    assert set(train.stay_ids).isdisjoint(test.stay_ids)
    for _, te in StratifiedKFold(4).split(big, y):
        np.testing.assert_array_equal(big[te].columns["value"],
                                      np.concatenate([np.arange(3 * s, 3 * s + 3) for s in te]))


def test_pickles_compactly():
    n = 20000
    df = pd.DataFrame({"stay_id": np.repeat(np.arange(200), n // 200),
                       "time": np.tile(np.arange(n // 200, dtype=float), 200),
                       "feature": np.tile(["HR", "Na", "K", "Temp"], n // 4),
                       "value": np.random.default_rng(0).normal(size=n)})
    X = EventSet.from_long(df)
    blob = pickle.dumps(X)
    payload = sum(col.nbytes for col in X.columns.values())
    assert len(blob) < 1.1 * payload + 10_000  # flat arrays, not a Python object per event
    back = pickle.loads(blob)
    pd.testing.assert_frame_equal(back.to_long(), X.to_long())


def test_pyarrow_table_input():
    pa = pytest.importorskip("pyarrow")
    X = EventSet.from_long(pa.Table.from_pandas(table()))
    assert X.n_rows == 6


def test_as_event_set_lives_next_to_event_set():
    from medfuse_sk import EventTokenizer
    from medfuse_sk.data import as_event_set

    table = pd.DataFrame({"stay_id": [1, 1, 2], "time": [0.0, 1.0, 0.5],
                          "feature": ["K", "Na", "K"], "value": [3.9, 140.0, 4.4]})
    X = as_event_set(table)
    assert isinstance(X, EventSet) and as_event_set(X) is X
    pd.testing.assert_frame_equal(X.to_long(), EventSet.from_long(table).to_long())
    with pytest.raises(TypeError, match="TokenSet: it is already tokenized"):
        as_event_set(EventTokenizer().fit_transform(X))


def test_aware_datetimes_count_elapsed_hours_across_a_dst_change():
    """Found by the property test: local wall-clock differences were taken as hours."""
    times = pd.to_datetime(["2021-03-27 21:00", "2021-03-28 03:00"]).tz_localize("Europe/Berlin")
    table = pd.DataFrame({"stay_id": [1, 1], "time": times, "feature": ["K", "K"],
                          "value": [4.0, 4.1]})
    assert EventSet.from_long(table).columns["time"].tolist() == [0.0, 5.0]
    start = pd.Series(pd.to_datetime(["2021-03-27 19:00"]).tz_localize("UTC"), index=[1])
    assert EventSet.from_long(table, start=start).columns["time"].tolist() == [1.0, 6.0]


def test_listed_stays_keep_their_types():
    """Found by the property test: ``stays=[0, "empty"]`` turned 0 into "0"."""
    table = pd.DataFrame({"stay_id": [0], "time": [1.0], "feature": ["K"], "value": [4.0]})
    X = EventSet.from_long(table, stays=[0, "empty"])
    assert X.stay_ids.tolist() == [0, "empty"] and X.lengths.tolist() == [1, 0]


# -- time units ------------------------------------------------------------------------------
#: pandas' name of each unit, for the independent conversion
PANDAS_UNIT = {"s": "s", "min": "min", "h": "h", "d": "D"}


@pytest.mark.parametrize("unit", ["s", "min", "h", "d"])
def test_numeric_times_in_each_unit_become_hours(unit):
    numbers = np.array([7200.0, 30.0, 1.5, 0.0, 90.25, 2.0])
    X = EventSet.from_long(table(time=numbers), time_unit=unit)
    want = pd.to_timedelta(numbers, unit=PANDAS_UNIT[unit]) / pd.Timedelta(hours=1)
    order = np.lexsort((table()["feature"].to_numpy(), want, table()["stay_id"].map(
        {7: 0, 3: 1, 5: 2}).to_numpy()))  # the EventSet's order: stay, time, feature
    np.testing.assert_allclose(X.columns["time"], np.asarray(want)[order], rtol=1e-12)
    assert X.time_unit == unit
    back = X.to_long()  # the long table back, in the unit it was read in
    np.testing.assert_allclose(back["time"], numbers[order], rtol=1e-12)


def test_time_unit_is_checked_and_ignored_for_timedeltas_and_datetimes():
    with pytest.raises(ValueError, match="time_unit must be one of 's', 'min', 'h', 'd', got "
                                         "'minutes'; did you mean 'min'"):
        EventSet.from_long(table(), time_unit="minutes")
    hours = EventSet.from_long(table()).columns["time"]
    # a timedelta or datetime carries its unit: a name or time_unit saying another is no fault
    deltas = table(time=pd.to_timedelta(table()["time"], unit="h")).rename(
        columns={"time": "minute"})
    for unit in ("s", "h"):
        X = EventSet.from_long(deltas, time="minute", time_unit=unit)
        np.testing.assert_allclose(X.columns["time"], hours)
        assert X.time_unit == "h"


@pytest.mark.parametrize("name, says", [
    ("minute", "min"), ("minutes", "min"), ("Minutes", "min"), ("mins", "min"), ("min", "min"),
    ("time_min", "min"), ("TimeMinutes", "min"), ("minutes_since_admit", "min"),
    ("seconds", "s"), ("time_s", "s"), ("t_sec", "s"), ("secs", "s"),
    ("hours", "h"), ("HRS", "h"), ("los_h", "h"), ("hours_since_admit", "h"),
    ("days", "d"), ("day", "d"), ("icu_days", "d"), ("stay_d", "d"),
])
def test_a_time_column_whose_name_says_another_unit_is_an_error_saying_the_fix(name, says):
    df = table().rename(columns={"time": name})
    for unit in {"s", "min", "h", "d"} - {says}:
        with pytest.raises(ColumnError) as info:
            EventSet.from_long(df, time=name, time_unit=unit)
        message = str(info.value)
        words = {"s": "seconds", "min": "minutes", "h": "hours", "d": "days"}
        assert (f"column {name!r} looks like {words[says]} but time_unit={unit!r} (its numbers "
                f"would be read as {words[unit]}). Pass time_unit={says!r} (on the command "
                f"line: --time-unit {says}), or rename the column") in message
        assert info.value.fix == {"time_unit": says}
    X = EventSet.from_long(df, time=name, time_unit=says)  # the unit its name says: read
    assert X.n_rows == 6


@pytest.mark.parametrize("name", ["time", "charttime", "t", "offset", "ts", "timestamp",
                                  "elapsed", "hour_of_day", "Time", "sample_time", "hd"])
def test_plain_time_names_raise_no_false_alarm(name):
    for unit in ("s", "min", "h", "d"):
        X = EventSet.from_long(table().rename(columns={"time": name}), time=name, time_unit=unit)
        assert X.n_rows == 6


def test_a_missing_column_names_the_likely_fix():
    minutes = table(time=table()["time"] * 60).rename(columns={"time": "minute"})
    with pytest.raises(ColumnError, match=re.escape(
            "missing column(s) ['time']; the table has ['stay_id', 'minute', 'feature', "
            "'value']. Pass time='minute', time_unit='min' (on the command line: --time minute "
            "--time-unit min)")):
        EventSet.from_long(minutes)
    odd = table().rename(columns={"stay_id": "icu", "feature": "var"})
    with pytest.raises(ColumnError, match=re.escape("Pass stay=..., feature=...")):
        EventSet.from_long(odd.assign(extra=1, other=2))
    with pytest.raises(ColumnError, match=re.escape(
            "Pass stay='icustay_id' (on the command line: --stay icustay_id)")):
        EventSet.from_long(table().rename(columns={"stay_id": "icustay_id"}).assign(note=""))


# -- categorical names that match no feature --------------------------------------------------
def test_a_categorical_name_that_matches_no_feature_is_an_error_naming_the_closest():
    df = pd.concat([table(), pd.DataFrame({"stay_id": [7, 3], "time": [0.0, 0.0],
                                           "feature": ["Gender", "Gender"], "value": [0, 1]})])
    with pytest.raises(ValueError, match=re.escape(
            "categorical feature 'gender' is not a feature of the table (column 'feature'); "
            "did you mean 'Gender'? The table's features are 'HR', 'Na', 'Gender'")):
        EventSet.from_long(df, categorical=["gender"])
    with pytest.raises(ValueError, match=re.escape(
            "categorical features not in the table (column 'feature'): 'Gendre' (did you mean "
            "'Gender'?), 'ICUType'. The table's features are")):
        EventSet.from_long(df, categorical=["Gender", "Gendre", "ICUType"])
    # names that are features keep their meaning; absent ones may be allowed explicitly
    assert EventSet.from_long(df, categorical=["Gender"]).categorical_features == ("Gender",)
    X = EventSet.from_long(df, categorical=["Gender", "ICUType"], absent_categorical="ignore")
    assert X.categorical_features == ("Gender",)
    with pytest.raises(ValueError, match="absent_categorical must be 'raise' or 'ignore'"):
        EventSet.from_long(df, absent_categorical="warn")


def test_as_event_set_names_the_from_long_call_that_reads_an_unusual_table():
    from medfuse_sk import EventTokenizer

    minutes = table(time=table()["time"] * 60).rename(columns={"time": "minute"})
    with pytest.raises(ColumnError, match=re.escape(
            "else pass an EventSet built with EventSet.from_long(table, time='minute', "
            "time_unit='min')")):
        EventTokenizer().fit(minutes)  # a Pipeline's first step reads tables as_event_set does
