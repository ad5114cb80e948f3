"""The benchmark's fixtures: stand-in models registered under names of their own, and a small
synthetic cohort with static descriptors (Age, Sex) for the subgroups."""

import pytest
from bench_models import register_models, synthetic_cohort, unregister_models

from medfuse_sk.benchmark import BenchmarkData
from medfuse_sk.data import EventSet


@pytest.fixture(scope="session")
def stand_ins():
    register_models()
    yield
    unregister_models()


@pytest.fixture(scope="session")
def bench_data():
    """A BenchmarkData of 240 synthetic stays, 25 % scored."""
    events, labels = synthetic_cohort()
    X = EventSet.from_long(events, categorical=["Sex"])
    return BenchmarkData.from_split(X, labels, test_size=0.25, random_state=0,
                                    description={"source": "files", "name": "synthetic"})
