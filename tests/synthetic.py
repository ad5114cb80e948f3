"""Synthetic long-format event tables for tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

#: MedFuse settings small enough for a fit in about a second on one CPU core. No
#: ``random_state``: tests pass their own seed (or test what happens without one).
TINY = dict(d_model=16, n_heads=2, n_layers=1, partition_factor=4, max_epochs=2, verbose=0)


def u_shaped_task(n_stays: int = 400, seed: int = 0, events_per_stay: int = 12):
    """Stays whose label depends on a value–feature interaction.

    Each stay has noisy measurements of three labs. A stay is positive when lab ``K`` is
    either too low or too high (|K| > 1.2): a U-shaped risk no additive score of the value
    captures, while the other labs carry no signal. Returns ``(events, labels)``.
    """
    rng = np.random.default_rng(seed)
    stay_ids = np.arange(1000, 1000 + n_stays)
    level = rng.normal(0, 1.0, size=n_stays)
    labels = pd.Series((np.abs(level) > 1.2).astype(int), index=stay_ids, name="label")
    rows = []
    for feature in ("K", "Na", "HR"):
        n = events_per_stay // 3
        stay = np.repeat(stay_ids, n)
        time = rng.uniform(0, 48, size=n_stays * n)
        base = np.repeat(level, n) if feature == "K" else rng.normal(0, 1, n_stays * n)
        value = base + rng.normal(0, 0.1, size=n_stays * n)
        rows.append(pd.DataFrame({"stay_id": stay, "time": time, "feature": feature,
                                  "value": value}))
    events = pd.concat(rows, ignore_index=True).sample(frac=1.0, random_state=seed)
    return events.reset_index(drop=True), labels


def cut_sample(monkeypatch, n_train: int, n_val: int) -> None:
    """``medfuse_sk.datasets.load_sample`` cut to its first ``n_train`` training and ``n_val``
    validation stays, for fast tests of code that loads the whole sample."""
    import dataclasses

    import medfuse_sk.datasets as datasets

    full = datasets.load_sample

    def cut(subset="train"):
        cohort = full(subset)
        ids = cohort.stay_ids[:n_train if subset == "train" else n_val]
        return dataclasses.replace(cohort, events=cohort.events[cohort.events["stay_id"].isin(ids)],
                                   labels=cohort.labels.loc[ids], stay_ids=ids)

    monkeypatch.setattr(datasets, "load_sample", cut)


def event_count_classifier():
    """A registered-model stand-in that is no network, built on the base classifier: risk
    logistic in the number of events of one feature (``count_feature``)."""
    from sklearn.linear_model import LogisticRegression

    from medfuse_sk.models import BaseEventClassifier

    class EventCountClassifier(BaseEventClassifier):
        _input = "events"

        def __init__(self, count_feature="HR", stay="stay_id", time="time", feature="feature",
                     value="value", categorical=None, random_state=0):
            self.count_feature = count_feature
            self.stay = stay
            self.time = time
            self.feature = feature
            self.value = value
            self.categorical = categorical
            self.random_state = random_state

        def _counts(self, X):
            stay = np.repeat(np.arange(len(X)), np.diff(X.offsets))
            mine = X.feature_names[X.columns["feature"]] == self.count_feature
            return np.bincount(stay[mine], minlength=len(X)).astype(float)

        def _fit(self, X, y, sample_weight):
            counts = self._counts(X)
            self.scale_ = float(counts.std() or 1.0)
            lr = LogisticRegression().fit(counts[:, None] / self.scale_, y)
            self.coef_, self.intercept_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])

        def _predict_proba(self, X):
            z = self.coef_ * self._counts(X) / self.scale_ + self.intercept_
            p = 1 / (1 + np.exp(-z))
            return np.column_stack([1 - p, p])

    return EventCountClassifier
