"""No leakage, proven: an event one second after each positive sample's prediction time gives
the label away, and the MEDS path never shows it to a model; an event exactly at the prediction
time is kept (the standard's rule), which the same test detects. And why the default exclusions
are what they are: death and discharge codes that an ETL dates too coarsely or writes as static
rows give a mortality label away unless they are left out."""

import numpy as np
import pandas as pd
import pytest
from meds_toy import random_dataset, write_dataset
from sklearn.metrics import roc_auc_score
from synthetic import event_count_classifier

from medfuse_sk.datasets.meds import DEFAULT_EXCLUDE, load_meds

SECOND = pd.Timedelta(seconds=1)


@pytest.fixture(scope="module")
def base():
    """400 subjects, 3 prediction times each, labels independent of the data; half train."""
    return random_dataset(n_subjects=400, seed=7, events=12)


def _with(rows, labels, code, offset, *, static=False):
    """``rows`` plus, for every positive sample, ``code`` at prediction time + ``offset`` (or
    as a static row)."""
    positive = labels[labels["boolean_value"]]
    planted = pd.DataFrame({"subject_id": positive["subject_id"].to_numpy(),
                            "time": pd.NaT if static else positive["prediction_time"] + offset,
                            "code": code, "numeric_value": np.float32(np.nan), "text_value": None})
    return pd.concat([rows, planted], ignore_index=True)


def _auroc(data, task, model, **options):
    train = load_meds(data, task, split="train", **options)
    test = load_meds(data, task, split="held_out", vocabulary=train.vocabulary, **options)
    model.fit(train.to_event_set(), train.labels)
    return roc_auc_score(test.labels, model.predict_proba(test.to_event_set())[:, 1]), train, test


def _features(cohort):
    X = cohort.to_event_set()
    return set(X.feature_names[np.unique(X.columns["feature"])])


def _count(cohort, feature):
    X = cohort.to_event_set()
    mine = X.feature_names[X.columns["feature"]] == feature
    return pd.Series(np.bincount(X.row_stay_index()[mine], minlength=len(X)).astype(np.int64),
                     index=X.stay_ids)


def _visible_plants(cohort, labels, offset, lookback):
    """How many planted events each sample may see: those planted for *earlier* positive
    samples of its subject (they happened before its prediction time), within its look-back."""
    samples = cohort.samples.reset_index()
    plants = labels.loc[labels["boolean_value"], ["subject_id", "prediction_time"]]
    pairs = samples.merge(plants.rename(columns={"prediction_time": "planted_for"}),
                          on="subject_id")
    planted = pairs["planted_for"] + offset
    seen = planted <= pairs["prediction_time"]
    if lookback is not None:
        seen &= planted >= pairs["prediction_time"] - pd.Timedelta(hours=lookback)
    counts = pairs[seen].groupby("stay_id").size()
    return counts.reindex(cohort.stay_ids, fill_value=0).rename(None).rename_axis(None).astype(
        np.int64)


@pytest.mark.parametrize("lookback", [None, 24.0])
def test_an_event_one_second_after_the_prediction_time_is_never_seen(base, tmp_path, lookback):
    rows, labels, splits = base
    data, task = write_dataset(tmp_path, _with(rows, labels, "LEAK", SECOND), labels, splits)
    counter = event_count_classifier()(count_feature="LEAK")
    auroc, train, test = _auroc(data, task, counter, lookback=lookback)
    for cohort in (train, test):  # each sample sees exactly the plants of earlier samples
        pd.testing.assert_series_equal(_count(cohort, "LEAK"),
                                       _visible_plants(cohort, labels, SECOND, lookback))
        assert _count(cohort, "LEAK")[cohort.labels.astype(bool)].sum() < cohort.labels.sum()
    assert auroc <= 0.55, auroc
    assert (train.to_event_set().columns["time"] <= (lookback or np.inf)).all()


def test_a_general_model_finds_no_signal_either(base, tmp_path):
    from medfuse_sk.models import create_model

    rows, labels, splits = base
    data, task = write_dataset(tmp_path, _with(rows, labels, "LEAK", SECOND), labels, splits)
    model = create_model("xgboost", n_estimators=60, n_jobs=1, early_stopping_rounds=None,
                         validation_fraction=0.0)
    auroc, *_ = _auroc(data, task, model, lookback=24.0)
    assert auroc <= 0.55, auroc


def test_an_event_at_the_prediction_time_is_kept_and_would_be_found(base, tmp_path):
    rows, labels, splits = base
    data, task = write_dataset(tmp_path, _with(rows, labels, "AT_PT", pd.Timedelta(0)), labels,
                               splits)
    auroc, train, test = _auroc(data, task, event_count_classifier()(count_feature="AT_PT"),
                                lookback=24.0)
    assert auroc > 0.85, auroc  # the test above can fail: the same model finds a visible signal
    X = train.to_event_set()
    at = X.columns["time"][X.feature_names[X.columns["feature"]] == "AT_PT"]
    seen = _count(train, "AT_PT")
    pd.testing.assert_series_equal(seen, _visible_plants(train, labels, pd.Timedelta(0), 24.0))
    assert (seen[train.labels.astype(bool)] >= 1).all()  # each positive sees its own event
    assert np.isclose(at, 24.0).sum() == int(train.labels.sum())  # at the window's end


@pytest.mark.parametrize("code, where", [
    ("MEDS_DEATH", "dated at midnight"),        # a date-only death time, before the prediction
    ("HOSPITAL_DISCHARGE//Expired", "static"),  # discharge status written as a static row
])
def test_the_default_exclusions_stop_labels_leaking_through_coarse_etls(base, tmp_path, code,
                                                                        where):
    rows, labels, splits = base
    if where == "static":
        planted = _with(rows, labels, code, None, static=True)
    else:
        positive = labels[labels["boolean_value"]]
        planted = pd.concat([rows, pd.DataFrame({
            "subject_id": positive["subject_id"].to_numpy(),
            "time": positive["prediction_time"].dt.floor("D"), "code": code,
            "numeric_value": np.float32(np.nan), "text_value": None})], ignore_index=True)
    data, task = write_dataset(tmp_path, planted, labels, splits)
    model = event_count_classifier()(count_feature=code)
    leaky, *_ = _auroc(data, task, model, exclude=())
    # without the defaults the label shows (a static row marks every sample of a subject
    # with a positive one, so less than fully)
    assert leaky > 0.65, leaky
    safe, train, test = _auroc(data, task, model)
    assert safe == 0.5 and code not in _features(train) | _features(test)
    assert train.report["excluded"][code] > 0 and train.report["exclude"] == list(DEFAULT_EXCLUDE)
