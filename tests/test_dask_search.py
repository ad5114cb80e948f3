"""Hyperparameter search on a real Dask cluster (2 worker processes) through joblib's backend."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline

from medfuse_sk import EventSet, EventTokenizer, MedFuseClassifier
from medfuse_sk.datasets import load_sample

distributed = pytest.importorskip("distributed")  # the `test` extra installs dask[distributed]
joblib = pytest.importorskip("joblib")

GRID = {"medfuseclassifier__fusion": ["mufuse", "add"],
        "medfuseclassifier__lr": [3e-4, 1e-2]}


def _data():
    sample = load_sample("train")
    ids = sample.stay_ids[:120]
    X = EventSet.from_long(sample.events[sample.events["stay_id"].isin(ids)],
                           categorical=sample.categorical, stays=ids)
    return X, sample.labels.loc[X.stay_ids].to_numpy()


def _pipeline():
    return make_pipeline(EventTokenizer(window=6.0, max_tokens=40),
                         MedFuseClassifier(d_model=8, n_heads=1, max_epochs=2, valid_size=0,
                                           verbose=0, random_state=0))


def _searches(n_jobs):
    cv = StratifiedKFold(2, shuffle=True, random_state=0)
    return {
        "grid": GridSearchCV(_pipeline(), GRID, cv=cv, scoring="roc_auc", n_jobs=n_jobs),
        "random": RandomizedSearchCV(_pipeline(), GRID, n_iter=2, cv=cv, scoring="roc_auc",
                                     n_jobs=n_jobs, random_state=0),
    }


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, env={"OMP_NUM_THREADS": "1",
                                                               "MKL_NUM_THREADS": "1"}) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_search_on_a_dask_cluster_finds_what_the_local_search_finds(client):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        local = {name: search.fit(X, y) for name, search in _searches(n_jobs=1).items()}
        remote = _searches(n_jobs=2)
        with distributed.get_task_stream(client) as tasks, joblib.parallel_backend("dask"):
            for search in remote.values():
                search.fit(X, y)
    workers = {task["worker"] for task in tasks.data}
    assert len(workers) == 2, workers  # the fits ran on both workers of the cluster
    for name in remote:
        assert remote[name].best_params_ == local[name].best_params_, name
        np.testing.assert_allclose(remote[name].cv_results_["mean_test_score"],
                                   local[name].cv_results_["mean_test_score"], atol=1e-6)
        assert remote[name].cv_results_["params"] == local[name].cv_results_["params"]
    # the grid is not flat: the best parameters are a real choice
    scores = local["grid"].cv_results_["mean_test_score"]
    assert scores.max() - scores.min() > 1e-3
    np.testing.assert_allclose(remote["grid"].predict_proba(X), local["grid"].predict_proba(X),
                               atol=1e-6)
