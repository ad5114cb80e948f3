"""Observation-window tasks: the rules against a loop, and no event at or after the window end
reaching the model."""

import numpy as np
import pandas as pd
import pytest
from skorch.callbacks import Callback

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.data import make_window_task
from medfuse_sk.datasets import load_physionet2019_sample


def _random_cohort(seed: int = 0, n: int = 60):
    rng = np.random.default_rng(seed)
    ids = np.arange(500, 500 + n)
    rows = []
    for sid in ids:
        k = rng.integers(0, 30)
        for t, f, v in zip(rng.choice(np.arange(0, 60, 0.5), k), rng.choice(["a", "b", "c"], k),
                           rng.normal(size=k)):
            rows.append((sid, t, f, v))
    events = pd.DataFrame(rows, columns=["stay_id", "time", "feature", "value"])
    start = pd.Series(rng.choice([0.0, 2.0, 5.0], n), index=ids)
    onset = pd.Series(np.where(rng.random(n) < 0.5, rng.choice(np.arange(0, 70, 1.0), n),
                               np.nan), index=ids)
    onset.iloc[:3] = start.iloc[:3] + 10.0  # exactly at the window end: not in the window
    end = pd.Series(rng.choice([8.0, 20.0, 80.0], n), index=ids)
    end.iloc[:3] = 80.0
    return events, onset, start, end


def _by_loop(events, onset, start, end, window, horizon):
    kept, labels, excluded = [], {}, {}
    for sid in onset.index:
        s, o, e = start[sid], onset[sid], end[sid]
        if o < s:
            excluded[sid] = "onset before window"
            continue
        if s <= o < s + window:
            excluded[sid] = "onset in window"
            continue
        if e < s + window:
            excluded[sid] = "ended before window closed"
            continue
        labels[sid] = int(s + window <= o < s + window + horizon)
        for row in events[events.stay_id == sid].itertuples(index=False):
            if s <= row.time < s + window:
                kept.append((sid, row.time - s, row.feature, row.value))
    return (pd.DataFrame(kept, columns=["stay_id", "time", "feature", "value"]),
            pd.Series(labels, dtype="int8"), pd.Series(excluded, dtype=object))


def test_rules_match_a_stay_by_stay_loop():
    events, onset, start, end = _random_cohort()
    with pytest.warns(UserWarning, match=r"excluded \d+ of 60 stays.*onset in window"):
        task = make_window_task(events, onset, window=10, horizon=15, start=start, stay_end=end)
    want_events, want_labels, want_excluded = _by_loop(events, onset, start, end, 10, 15)
    key = ["stay_id", "time", "feature", "value"]
    pd.testing.assert_frame_equal(task.events.sort_values(key).reset_index(drop=True),
                                  want_events.sort_values(key).reset_index(drop=True))
    assert task.labels.to_dict() == want_labels.to_dict()
    assert task.excluded["reason"].to_dict() == want_excluded.to_dict()
    assert task.stay_ids.tolist() == list(want_labels.index)
    assert 0 < task.report["n_positive"] < task.report["n_stays"]
    assert onset.index[:3].isin(task.stay_ids).all()  # onset at the window end: included


def test_event_set_input_gives_the_same_task():
    events, onset, start, end = _random_cohort(seed=1)
    from_table = make_window_task(events, onset, window=12, start=start, warn=False)
    X = EventSet.from_long(events, stays=onset.index)
    from_set = make_window_task(X, onset, window=12, start=start, warn=False)
    assert isinstance(from_set.events, EventSet)
    assert from_set.events.stay_ids.tolist() == from_table.stay_ids.tolist()
    back = from_table.to_event_set()
    np.testing.assert_array_equal(from_set.events.offsets, back.offsets)
    a, b = from_set.events.to_long(), back.to_long()
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_series_equal(from_set.labels, from_table.labels)


def test_bad_input_is_named():
    events, onset, start, _ = _random_cohort()
    with pytest.raises(ValueError, match="not in `onset`: 500"):
        make_window_task(events, onset.iloc[1:], window=5)
    with pytest.raises(ValueError, match="window must be a positive number"):
        make_window_task(events, onset, window=0)
    with pytest.raises(ValueError, match="`start` has no value for 1 stay"):
        make_window_task(events, onset, window=5, start=start.iloc[1:])


class _Recorder(Callback):
    """Keeps what every batch fed to the network held."""

    def initialize(self):
        self.batches = []
        return self

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        x, _ = batch
        mask = x["mask"]
        self.batches.append((x["time"][mask].numpy(), x["feature"][mask].numpy()))


def test_no_event_at_or_after_the_window_end_reaches_the_model():
    data = load_physionet2019_sample()
    events = data.events.astype({"feature": str})
    # poison: an unmistakable feature at exactly the window end, and just after, in every stay
    poison = pd.DataFrame({"stay_id": np.repeat(data.stay_ids, 2),
                           "time": np.tile([24.0, 24.01], len(data)), "feature": "LEAK",
                           "value": 1000.0})
    events = pd.concat([events, poison], ignore_index=True)
    assert (events.time >= 24).sum() > 2 * len(data)  # the real records go on after 24 h
    task = make_window_task(events, data.onset, window=24, horizon=48, stay_end=data.end,
                            warn=False)
    assert task.report["n_excluded"] > 0 and task.report["n_positive"] >= 5
    recorder = _Recorder()
    clf = MedFuseClassifier(d_model=16, n_heads=2, max_epochs=2, batch_size=32, valid_size=0.2,
                            tokenizer=EventTokenizer(),  # one token per event
                            token_dropout=0.0, categorical=list(data.categorical), random_state=0,
                            verbose=0,
                            callbacks=[("recorder", recorder)])
    X = task.to_event_set(categorical=list(data.categorical))
    clf.fit(X, task.labels)
    assert "LEAK" not in set(clf.feature_names_)
    times = np.concatenate([t for t, _ in recorder.batches])
    assert times.max() < 24.0
    # the check is not vacuous: every kept event reached the network once per epoch (80 %
    # of the stays in training, 20 % in validation), and the feed held the last hour's events
    assert len(times) == task.report["n_events_kept"] * 2
    assert (times >= 23.0).any()
    # changing anything at or after the window end changes no prediction
    later = events.time >= 24
    altered = events.copy()
    altered.loc[later, "value"] = altered.loc[later, "value"] * 3 + 7
    task2 = make_window_task(altered, data.onset, window=24, horizon=48, stay_end=data.end,
                             warn=False)
    np.testing.assert_array_equal(
        clf.predict_proba(X), clf.predict_proba(task2.to_event_set(categorical=list(
            data.categorical))))
