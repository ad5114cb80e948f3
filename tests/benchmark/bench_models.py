"""Stand-in models for the benchmark's tests: module level, so that spawned worker processes
can build them from the factory they are sent (the registry of the test process is not theirs).

Each is a registered-model factory ``make_*(random_state=0, **params)``; tests register them
under names of their own (``register_models``).
"""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from synthetic import u_shaped_task

from medfuse_sk.models import BaseEventClassifier, register_model, unregister_model

#: What the in-process fits saw: (kind of call, the stays) per call, for the tests to read.
SEEN: list[tuple[str, int, tuple]] = []


class CountModel(BaseEventClassifier):
    """Risk logistic in the number of events of ``count_feature``, scaled by ``C`` (a grid
    parameter whose values change the predictions), plus a little seeded noise so that seeds
    differ. ``n_jobs`` is only recorded (the benchmark sets it). ``check_threads`` makes ``fit``
    fail unless every native thread pool of the process holds one thread. ``sleep`` seconds
    are spent in ``fit``; ``die`` ends the process in ``fit``; ``fail`` raises."""

    _input = "events"

    def __init__(self, count_feature="K", C=1.0, n_jobs=4, check_threads=False, sleep=0.0,
                 die=False, fail=False, stay="stay_id", time="time", feature="feature",
                 value="value", categorical=None, random_state=0):
        self.count_feature = count_feature
        self.C = C
        self.n_jobs = n_jobs
        self.check_threads = check_threads
        self.sleep = sleep
        self.die = die
        self.fail = fail
        self.stay = stay
        self.time = time
        self.feature = feature
        self.value = value
        self.categorical = categorical
        self.random_state = random_state

    def _features(self, X):
        stay = np.repeat(np.arange(len(X)), np.diff(X.offsets))
        mine = X.feature_names[X.columns["feature"]] == self.count_feature
        values = np.where(mine, X.columns["value"], 0.0)
        total = np.bincount(stay, weights=values, minlength=len(X))
        count = np.bincount(stay[mine], minlength=len(X)).astype(float)
        return np.column_stack([count, np.abs(total / np.maximum(count, 1))])

    def _fit(self, X, y, sample_weight):
        SEEN.append(("fit", os.getpid(), tuple(X.stay_ids)))
        if self.fail:
            raise ValueError("this stand-in always fails")
        if self.die:
            os._exit(3)
        if self.check_threads:
            from threadpoolctl import threadpool_info

            pools = {p["internal_api"]: p["num_threads"] for p in threadpool_info()}
            if any(n != 1 for n in pools.values()) or os.environ.get("OMP_NUM_THREADS") != "1":
                raise RuntimeError(f"threads not limited: {pools}, "
                                   f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
            if self.n_jobs != 1:
                raise RuntimeError(f"n_jobs is {self.n_jobs}")
        if self.sleep:
            time.sleep(self.sleep)
        Z = self._features(X)
        self.mean_, self.scale_ = Z.mean(axis=0), Z.std(axis=0) + 1e-9
        self.lr_ = LogisticRegression(C=self.C).fit((Z - self.mean_) / self.scale_, y)
        self.noise_ = int(np.random.default_rng(self.random_state).integers(1 << 30))

    def _predict_proba(self, X):
        SEEN.append(("predict", os.getpid(), tuple(X.stay_ids)))
        Z = (self._features(X) - self.mean_) / self.scale_
        z = self.lr_.decision_function(Z)
        z = z + np.random.default_rng(self.noise_).normal(0, 0.3, len(z))
        p = 1 / (1 + np.exp(-z))
        return np.column_stack([1 - p, p])


def make_count(random_state=0, **params):
    """The stand-in as registered."""
    return CountModel(random_state=random_state, **params)


def make_checked(random_state=0, **params):
    """The stand-in that fails unless its threads are limited; it spends ``BENCH_SLEEP``
    seconds (environment) in each fit."""
    return CountModel(random_state=random_state, check_threads=True,
                      sleep=float(os.environ.get("BENCH_SLEEP", "0")), **params)


def make_failing(random_state=0, **params):
    """A stand-in whose every fit raises."""
    return CountModel(random_state=random_state, fail=True, **params)


def make_dying(random_state=0, **params):
    """A stand-in whose fit ends its process (a crash in native code, an out-of-memory kill)."""
    return CountModel(random_state=random_state, die=True, **params)


def make_slow(random_state=0, **params):
    """A stand-in that spends ``BENCH_SLEEP`` seconds (environment) in each fit."""
    return CountModel(random_state=random_state, sleep=float(os.environ.get("BENCH_SLEEP", "1")),
                      **params)


FACTORIES = {"bench_count": make_count, "bench_checked": make_checked,
             "bench_failing": make_failing, "bench_dying": make_dying, "bench_slow": make_slow}


def register_models():
    for name, factory in FACTORIES.items():
        register_model(name, factory, replace=True, description=factory.__doc__)


def unregister_models():
    for name in FACTORIES:
        unregister_model(name)


def synthetic_cohort(n_stays=240, seed=0):
    """(events, labels): the U-shaped task plus Age (numbers) and Sex (classes, absent in five
    stays) at each stay's start."""
    events, labels = u_shaped_task(n_stays=n_stays, seed=seed)
    rng = np.random.default_rng(seed + 100)
    stays = labels.index.to_numpy()
    ages = pd.DataFrame({"stay_id": stays, "time": 0.0, "feature": "Age",
                         "value": rng.integers(20, 90, len(stays)).astype(float)})
    sexes = pd.DataFrame({"stay_id": stays[5:], "time": 0.0, "feature": "Sex",
                          "value": rng.choice(["F", "M"], len(stays) - 5)})
    events = pd.concat([events.assign(value=events["value"].astype(object)), ages, sexes],
                       ignore_index=True)
    events["time"] = events["time"].where(events["feature"].isin(["Age", "Sex"]),
                                          events["time"] + 0.01)
    return events, labels
