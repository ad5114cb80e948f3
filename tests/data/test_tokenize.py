import warnings
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import KFold, cross_validate
from sklearn.pipeline import make_pipeline

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier


def random_events(n_stays=30, seed=0):
    rng = np.random.default_rng(seed)
    n = n_stays * 20
    df = pd.DataFrame({
        "stay_id": rng.integers(0, n_stays, n),
        "time": np.round(rng.uniform(0, 10, n), 2),
        "feature": rng.choice(["HR", "Na", "K"], n),
        "value": rng.normal(100, 15, n),
    })
    sex = pd.DataFrame({"stay_id": np.arange(n_stays), "time": 0.0, "feature": "Sex",
                        "value": rng.choice(["F", "M"], n_stays)})
    return pd.concat([df, sex], ignore_index=True).drop_duplicates(["stay_id", "time", "feature"])


def test_vocabulary_and_robust_scaling_from_fit_only():
    df = random_events()
    X = EventSet.from_long(df)
    tok = EventTokenizer(clip=None).fit(X)
    assert tok.feature_names_[0] == "<empty>"
    assert set(tok.feature_names_[1:]) == {"HR", "Na", "K", "Sex"}
    for name in ("HR", "Na", "K"):
        v = df.loc[df.feature == name, "value"].astype(float)
        i = list(tok.feature_names_).index(name)
        q1, q3 = np.percentile(v, [25, 75])
        assert tok.center_[i] == pytest.approx(np.median(v))
        assert tok.scale_[i] == pytest.approx((q3 - q1) / 1.349)
    tokens = tok.transform(X)
    hr = list(tok.feature_names_).index("HR")
    got = tokens.columns["value"][tokens.columns["feature"] == hr]
    raw = X.columns["value"][X.feature_names[X.columns["feature"]] == "HR"]
    np.testing.assert_allclose(np.sort(got), np.sort((raw - tok.center_[hr]) / tok.scale_[hr]),
                               rtol=1e-5)


def test_clip_limits_outliers():
    """Clipping moves only the values beyond the limit, onto it; the rest are as scaled."""
    df = random_events()
    df.loc[df.index[0], "value"] = 1e6
    X = EventSet.from_long(df)
    clipped = EventTokenizer(clip=5.0).fit_transform(X)
    scaled = EventTokenizer(clip=None).fit_transform(X)
    numeric = scaled.columns["category"] < 0
    got, want = clipped.columns["value"][numeric], scaled.columns["value"][numeric]
    assert want.max() > 1e3  # the outlier, scaled but not clipped
    np.testing.assert_array_equal(got, np.clip(want, -5.0, 5.0))
    assert got.max() == 5.0 and np.mean(np.abs(got) < 5.0) > 0.95  # few values at the limit


def test_windows_median_and_most_frequent_class_against_a_loop():
    df = random_events(n_stays=8)
    df = pd.concat([df, pd.DataFrame({"stay_id": 0, "time": [0.5, 1.0, 1.5],
                                      "feature": "Sex", "value": ["M", "M", "F"]})])
    X = EventSet.from_long(df)
    tok = EventTokenizer(window=2.0, horizon=10.0, scaling="none", clip=None).fit(X)
    tokens = tok.transform(X)
    got = {}
    for s, stay in enumerate(tokens.stay_ids):
        sl = slice(tokens.offsets[s], tokens.offsets[s + 1])
        for f, t, v, c in zip(tokens.columns["feature"][sl], tokens.columns["time"][sl],
                              tokens.columns["value"][sl], tokens.columns["category"][sl]):
            got[(stay, tok.feature_names_[f], float(t))] = v if c < 0 else c
    expected = {}
    for (stay, feature, w), grp in df.assign(w=np.minimum(df.time // 2.0, 4)).groupby(
            ["stay_id", "feature", "w"]):
        key = (stay, feature, (w + 0.5) * 2.0)
        if feature == "Sex":
            counts = Counter(grp.value)
            top = max(counts.values())
            first_seen = [c for c in tok.category_pairs_.get_level_values(1) if counts[c] == top]
            expected[key] = 1 + list(tok.category_pairs_).index(("Sex", first_seen[0]))
        else:
            expected[key] = np.median(grp.value.astype(float))
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5), key


def test_horizon_drops_later_events_with_a_warning_and_keeps_the_edge():
    df = pd.DataFrame({"stay_id": 1, "time": [0.0, 48.0, 50.0], "feature": "HR",
                       "value": [1.0, 2.0, 3.0]})
    tok = EventTokenizer(window=2.0, horizon=48.0).fit(EventSet.from_long(df))
    with pytest.warns(UserWarning, match="dropped 1 events after the horizon"):
        tokens = tok.transform(EventSet.from_long(df))
    assert tokens.columns["time"].tolist() == [1.0, 47.0]


@pytest.mark.parametrize("policy, kept", [("last", [3.0, 4.0]), ("first", [0.0, 1.0])])
def test_token_cap_policy(policy, kept):
    df = pd.DataFrame({"stay_id": [1] * 5 + [2], "time": [0.0, 1, 2, 3, 4, 0],
                       "feature": "HR", "value": np.arange(6.0)})
    tok = EventTokenizer(max_tokens=2, truncate=policy).fit(EventSet.from_long(df))
    with pytest.warns(UserWarning, match="1 stays have more than max_tokens=2"):
        tokens = tok.transform(EventSet.from_long(df))
    assert tokens.lengths.tolist() == [2, 1]
    assert tokens.columns["time"][:2].tolist() == kept


def test_unknown_features_and_classes_are_reported_not_fatal():
    X = EventSet.from_long(random_events())
    tok = EventTokenizer().fit(X)
    new = pd.DataFrame({"stay_id": [1, 1, 1, 2], "time": [0.0, 1.0, 2.0, 0.0],
                        "feature": ["Lactate", "HR", "Lactate", "Sex"],
                        "value": [2.0, 80.0, 3.0, "X"]})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tokens = tok.transform(EventSet.from_long(new, categorical=["Sex"]))
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "'Lactate'" in messages[0] and "2 events" in messages[0]
    assert tokens.lengths.tolist() == [1, 1]
    assert tokens.columns["category"][1] == 0  # unseen class → the unknown-class id



def _reference_tokens(tok, X):
    """Tokens of ``X`` computed row by row: vocabulary ids, classes looked up pair by pair,
    rows of unseen features left out, then Python's stable sort by (stay, time, feature)."""
    c = X.columns
    vocabulary = {name: i for i, name in enumerate(tok.feature_names_)}
    pairs = {pair: k + 1 for k, pair in enumerate(tok.category_pairs_)}
    names = X.feature_names[c["feature"]]
    stay = X.row_stay_index()
    rows = []
    for i, name in enumerate(names):
        f = vocabulary.get(name, -1)
        if f <= 0:
            continue
        if c["category"][i] >= 0:
            value, cls = 0.0, pairs.get((name, X.categories[c["category"][i]]), 0)
        else:
            value = np.clip((c["value"][i] - tok.center_[f]) / tok.scale_[f], -tok.clip, tok.clip)
            cls = -1
        rows.append((stay[i], c["time"][i], f, value, cls))
    rows = sorted(rows, key=lambda r: r[:3])
    return {"feature": np.array([r[2] for r in rows]), "time": np.array([r[1] for r in rows]),
            "value": np.array([r[3] for r in rows]), "category": np.array([r[4] for r in rows])}


def test_tokens_in_order_and_the_same_whatever_the_chunk_size(monkeypatch):
    """Chunked transforms (stays cut into chunks of rows) give every token of a row-by-row
    reference: events at one time ordered by vocabulary id (a training set whose features
    appear in another order), rows out of time order, unseen features and classes."""
    from medfuse_sk.data import _tokenizer

    rng = np.random.default_rng(3)
    train = random_events(40, seed=1)
    train["time"] = np.round(train["time"] / 2) * 2  # many events share a time
    new = random_events(40, seed=2).iloc[::-1]  # features first seen in another order
    new["time"] = np.round(new["time"])
    new.loc[new.index[:30], "feature"] = "Lactate"  # not seen in fit
    new.loc[new["feature"] == "Sex", "value"] = rng.choice(["F", "M", "X"], (new["feature"] == "Sex").sum())
    tok = EventTokenizer(max_tokens=None).fit(EventSet.from_long(train))
    shuffled = EventSet.from_long(new)  # rows out of time order within their stays
    shuffled.columns = {k: v[::-1].copy() for k, v in shuffled.columns.items()}
    shuffled.offsets = shuffled.offsets[-1] - shuffled.offsets[::-1]
    shuffled.stay_ids = shuffled.stay_ids[::-1]
    for X in (EventSet.from_long(train), EventSet.from_long(new), shuffled):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the unseen feature
            whole = tok.transform(X)
            monkeypatch.setattr(_tokenizer, "_CHUNK_ROWS", 7)
            chunked = tok.transform(X)
            monkeypatch.undo()
        want = _reference_tokens(tok, X)
        for name in ("feature", "time", "category", "value"):
            np.testing.assert_array_equal(chunked.columns[name], whole.columns[name])
            np.testing.assert_allclose(whole.columns[name], want[name], rtol=1e-6)
        np.testing.assert_array_equal(whole.lengths, np.bincount(
            X.row_stay_index()[np.isin(X.feature_names[X.columns["feature"]], tok.feature_names_[1:])],
            minlength=len(X)))


def test_no_leak_from_validation_folds():
    """Each CV fold's tokenizer must know only its training stays' values."""
    df = random_events(n_stays=40)
    X = EventSet.from_long(df)
    y = np.arange(len(X)) % 2
    pipe = make_pipeline(EventTokenizer(clip=None),
                         MedFuseClassifier(max_epochs=1, d_model=8, n_heads=2, n_layers=1,
                                           partition_factor=2, valid_size=0, verbose=0,
                                           random_state=0))
    cv = KFold(4, shuffle=True, random_state=0)
    result = cross_validate(pipe, X, y, cv=cv, return_estimator=True)
    overall = EventTokenizer(clip=None).fit(X)
    for (train, _), est in zip(cv.split(X, y), result["estimator"]):
        fitted = est.named_steps["eventtokenizer"]
        i = list(fitted.feature_names_).index("HR")
        train_events = X[train].to_long()
        train_hr = train_events.loc[train_events.feature == "HR", "value"].astype(float)
        assert fitted.center_[i] == pytest.approx(np.median(train_hr))
        assert fitted.center_[i] != pytest.approx(overall.center_[i])


@pytest.mark.parametrize("name, value", [
    ("window", 0.0), ("window", -2), ("horizon", 0), ("max_tokens", 0), ("max_tokens", 2.5),
    ("truncate", "middle"), ("scaling", "minmax"), ("clip", -1.0), ("clip", "5"),
    ("count_tokens", "yes")])
def test_bad_tokenizer_parameters_name_parameter_and_value(name, value):
    from sklearn.utils._param_validation import InvalidParameterError

    events = EventSet.from_long(pd.DataFrame({"stay_id": [1], "time": [0.0], "feature": ["K"],
                                              "value": [4.0]}))
    with pytest.raises(InvalidParameterError, match=f"The '{name}' parameter of EventTokenizer"):
        EventTokenizer(**{name: value}).fit(events)
    assert set(EventTokenizer._parameter_constraints) == set(EventTokenizer().get_params())


def test_count_tokens_hold_each_windows_event_count_against_a_loop():
    """One "<count>" token per (stay, window) with events: log(1 + events of any feature, the
    categorical included, up to the horizon), robust-scaled with the fitting stays' counts."""
    df = random_events(n_stays=12, seed=2)
    df = pd.concat([df, pd.DataFrame({"stay_id": 3, "time": [9.5, 12.0], "feature": "HR",
                                      "value": [90.0, 95.0]})])  # 12 h: past the horizon
    X = EventSet.from_long(df)
    tok = EventTokenizer(window=2.0, horizon=10.0, count_tokens=True, clip=None).fit(X)
    assert tok.feature_names_[-1] == "<count>" and "<count>" not in tok.feature_names_[:-1]
    kept = df[df.time <= 10.0]
    per_window = kept.assign(w=np.minimum(kept.time // 2.0, 4)).groupby(["stay_id", "w"]).size()
    logs = np.log1p(per_window.to_numpy(dtype=float))
    q1, q3 = np.percentile(logs, [25, 75])
    assert tok.center_[-1] == pytest.approx(np.median(logs))
    assert tok.scale_[-1] == pytest.approx((q3 - q1) / 1.349)
    standard = EventTokenizer(window=2.0, horizon=10.0, count_tokens=True,
                              scaling="standard").fit(X)
    assert (standard.center_[-1], standard.scale_[-1]) == pytest.approx((logs.mean(), logs.std()))
    with pytest.warns(UserWarning, match="dropped 1 events after the horizon"):
        tokens = tok.transform(X)
    count_id = len(tok.feature_names_) - 1
    got = {}
    for s, stay in enumerate(tokens.stay_ids):
        sl = slice(tokens.offsets[s], tokens.offsets[s + 1])
        f, t, v = (tokens.columns[k][sl] for k in ("feature", "time", "value"))
        assert (tokens.columns["category"][sl][f == count_id] == -1).all()
        for time in np.unique(t):  # the count token comes last in its window
            assert f[t == time][-1] == count_id
        got.update({(stay, float(time)): value for time, value in zip(t[f == count_id],
                                                                       v[f == count_id])})
    expected = {(stay, (w + 0.5) * 2.0): (np.log1p(n) - tok.center_[-1]) / tok.scale_[-1]
                for (stay, w), n in per_window.items()}
    assert got.keys() == expected.keys()
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    plain = EventTokenizer(window=2.0, horizon=10.0, clip=None).fit(X)
    with pytest.warns(UserWarning, match="horizon"):
        assert tokens.n_rows == plain.transform(X).n_rows + len(per_window)


def test_count_tokens_need_a_window_and_their_name():
    X = EventSet.from_long(random_events(n_stays=3))
    with pytest.raises(ValueError, match="count_tokens=True needs a window"):
        EventTokenizer(count_tokens=True).fit(X)
    taken = pd.DataFrame({"stay_id": [1], "time": [0.0], "feature": ["<count>"], "value": [1.0]})
    with pytest.raises(ValueError, match="feature named '<count>'"):
        EventTokenizer(window=1.0, count_tokens=True).fit(EventSet.from_long(taken))


def test_window_and_horizon_are_hours_whatever_the_time_unit():
    """Minutes 10 and 50 share the first 1-hour window, 70 opens the second, 150 lies past
    the 2-hour horizon: the same tokens as the table in hours."""
    minutes = pd.DataFrame({"stay_id": [1, 1, 1, 1, 2], "minute": [10.0, 50.0, 70.0, 150.0, 5.0],
                            "feature": "HR", "value": [1.0, 2.0, 3.0, 4.0, 5.0]})
    hours = minutes.assign(minute=minutes["minute"] / 60).rename(columns={"minute": "time"})
    tokens = {}
    for name, X in (("min", EventSet.from_long(minutes, time="minute", time_unit="min")),
                    ("h", EventSet.from_long(hours))):
        with pytest.warns(UserWarning, match="horizon"):
            tokens[name] = EventTokenizer(window=1.0, horizon=2.0, scaling="none").fit_transform(X)
    assert tokens["min"].lengths.tolist() == [2, 1]
    assert tokens["min"].columns["time"].tolist() == [0.5, 1.5, 0.5]  # window centres, hours
    assert tokens["min"].columns["value"].tolist() == [1.5, 3.0, 5.0]  # window medians
    for column in tokens["h"].columns:
        np.testing.assert_array_equal(tokens["min"].columns[column], tokens["h"].columns[column])
