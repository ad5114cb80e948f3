"""Checks every network over the shared base (``models/_neural.py``) must pass, for the model
folders' tests: it learns a synthetic task well above chance, and it survives ``clone``,
pickling, a safe-file round trip and a tiny ``GridSearchCV``."""

from __future__ import annotations

import pickle

import numpy as np
from sklearn.base import clone
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from synthetic import u_shaped_task

#: A grid small enough for a fit in about a second: 6 steps of 8 hours over the 48 h of
#: ``u_shaped_task``, a high learning rate, silent.
TINY_GRID = dict(n_steps=6, step=8.0, lr=3e-3, max_epochs=15, valid_size=0.0, verbose=0)


def task(n_stays: int = 400, seed: int = 0):
    """``u_shaped_task`` stays: the label is U-shaped in lab K's level (no additive score of the
    value captures it)."""
    return u_shaped_task(n_stays=n_stays, seed=seed)


def held_out_auroc(model) -> float:
    """AUROC of a fitted ``model`` on 300 fresh stays of the same task."""
    X, y = task(300, seed=1)
    risk = model.predict_risk(X)
    return roc_auc_score(y.loc[risk.index], risk)


def check_round_trips(model, tmp_path) -> None:
    """clone (unfitted, same parameters), pickle and save/load (same predictions)."""
    from medfuse_sk.io import load_model, save_model

    X, _ = task(60, seed=2)
    expected = model.predict_proba(X)
    fresh = clone(model)
    assert type(fresh) is type(model) and not fresh.__sklearn_is_fitted__()
    assert fresh.get_params(deep=False).keys() == model.get_params(deep=False).keys()
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict_proba(X), expected)
    loaded = load_model(save_model(model, tmp_path / "model"))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(X), expected)


def check_grid_search(model, grid: dict) -> GridSearchCV:
    """A two-fold search over ``grid`` on 80 stays, two epochs a fit."""
    from medfuse_sk.data import EventSet

    table, y = task(80, seed=3)
    X = EventSet.from_long(table)  # indexed by stay, as scikit-learn's splitters need
    search = GridSearchCV(clone(model).set_params(max_epochs=2), grid, scoring="roc_auc",
                          cv=StratifiedKFold(2, shuffle=True, random_state=0))
    search.fit(X, y.loc[X.stay_ids].to_numpy())
    assert len(search.cv_results_["params"]) == int(np.prod([len(v) for v in grid.values()]))
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    assert search.best_estimator_.__sklearn_is_fitted__()
    return search
