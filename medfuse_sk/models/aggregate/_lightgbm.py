"""LightGBM on per-stay aggregates, which stops on its own share of the training stays (the
design of :class:`~medfuse_sk.models.EarlyStoppedXGBClassifier`).

YAIB's best mortality model is LightGBM on its aggregate features (its configuration: up to
100,000 trees stopped after 10 rounds without improvement on validation, bagging every
iteration, ``colsample_bytree`` and ``subsample`` tuned in 0.33–1, ``max_depth`` 3–7,
``num_leaves`` 8–128). The defaults here sit inside those ranges and follow this library's
XGBoost: a slow learning rate (0.02), depth 5, rows and columns subsampled (0.8, 0.6), and the
number of trees chosen on a stratified 10 % of the training stays by their AUPRC.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ...data import StayAggregates
from ._stopping import EarlyStoppedBooster, import_booster

__all__ = ["EarlyStoppedLGBMClassifier", "make_lightgbm"]


def _import_lightgbm():
    return import_booster("lightgbm", "lightgbm", "lightgbm")


class EarlyStoppedLGBMClassifier(EarlyStoppedBooster):
    """LightGBM that picks its number of trees on a stratified share of its own training rows.

    ``fit(X, y)`` needs nothing else: ``validation_fraction`` of the rows (stratified, drawn
    with ``random_state``) is held out and boosting stops once the held-out average precision
    (AUPRC) has not improved for ``early_stopping_rounds`` rounds; the trees up to the best
    round are kept. ``validation_fraction=0`` (or ``early_stopping_rounds=None``) fits
    ``n_estimators`` trees on every row. Missing values (NaN) are left to the trees.

    The fitted model is LightGBM's own text format (``booster_model_``), so that a Pipeline
    holding it saves as a safe model file (:func:`medfuse_sk.io.save_model`) and pickles.

    Parameters
    ----------
    n_estimators : int, default 2000
        Most trees.
    learning_rate : float, default 0.02
    num_leaves : int, default 31
    max_depth : int, default 5
    min_child_samples : int, default 20
    subsample : float, default 0.8
        Share of rows drawn for each tree (bagging every iteration).
    colsample_bytree : float, default 0.6
    reg_lambda : float, default 0.0
    n_jobs : int, default 2
        LightGBM's threads.
    validation_fraction : float, default 0.1
    early_stopping_rounds : int or None, default 100
    random_state : int, default 0
    lgbm_params : dict, optional
        Any other ``lightgbm.LGBMClassifier`` argument.

    Attributes
    ----------
    classes_ : ndarray
    best_iteration_ : int
        Number of trees used for prediction, minus one.
    booster_model_ : str
        The trees in LightGBM's text format.
    n_features_in_ : int
    """

    _live = "_booster"

    def __init__(self, n_estimators: int = 2000, learning_rate: float = 0.02,
                 num_leaves: int = 31, max_depth: int = 5, min_child_samples: int = 20,
                 subsample: float = 0.8, colsample_bytree: float = 0.6, reg_lambda: float = 0.0,
                 n_jobs: int = 2, validation_fraction: float = 0.1,
                 early_stopping_rounds: int | None = 100, random_state: int = 0,
                 lgbm_params: dict[str, Any] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.reg_lambda = reg_lambda
        self.n_jobs = n_jobs
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.lgbm_params = lgbm_params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EarlyStoppedLGBMClassifier:
        lightgbm = _import_lightgbm()
        X, y, weights, stop = self._fit_inputs(X, y, sample_weight)
        if len(self.classes_) != 2:
            raise ValueError(f"EarlyStoppedLGBMClassifier is binary: y has the classes "
                             f"{self.classes_.tolist()}")
        target = (y == self.classes_[1]).astype(np.int64)
        model = lightgbm.LGBMClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            num_leaves=self.num_leaves, max_depth=self.max_depth,
            min_child_samples=self.min_child_samples, subsample=self.subsample,
            subsample_freq=1, colsample_bytree=self.colsample_bytree,
            reg_lambda=self.reg_lambda, n_jobs=self.n_jobs, random_state=self.random_state,
            metric="average_precision", deterministic=True, force_col_wise=True, verbose=-1,
            **(self.lgbm_params or {}))
        if stop:
            X_fit, X_stop, y_fit, y_stop, fit_weights = self._stopping_split(X, target, weights)
            # lightgbm 4.7 takes eval_X / eval_y and deprecates eval_set, which 4.0-4.6 need
            new_api = "eval_X" in inspect.signature(model.fit).parameters
            held_out = ({"eval_X": (X_stop,), "eval_y": (y_stop,)} if new_api
                        else {"eval_set": [(X_stop, y_stop)]})
            model.fit(X_fit, y_fit, sample_weight=fit_weights, **held_out,
                      callbacks=[lightgbm.early_stopping(self.early_stopping_rounds,
                                                         first_metric_only=True, verbose=False)])
            best = int(model.best_iteration_)
        else:
            model.fit(X, target, sample_weight=weights)
            best = int(model.booster_.current_iteration())
        self.best_iteration_ = best - 1
        self.booster_model_ = model.booster_.model_to_string(num_iteration=best)
        self.n_features_in_ = X.shape[1]
        self._booster = model.booster_
        return self

    def _trees(self):
        """The fitted booster (read from ``booster_model_`` after loading or unpickling)."""
        booster = self.__dict__.get("_booster")
        if booster is None:
            booster = _import_lightgbm().Booster(model_str=self.booster_model_)
            self._booster = booster
        return booster

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "booster_model_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"EarlyStoppedLGBMClassifier was fitted on {self.n_features_in_} "
                             f"columns, got shape {X.shape}")
        p = self._trees().predict(X, num_iteration=self.best_iteration_ + 1)
        return np.column_stack([1.0 - p, p])



def make_lightgbm(random_state: int = 0, n_estimators: int = 2000, verbose: int = 0,
                  **params: Any):
    """Pipeline: aggregates → LightGBM (NaN left to the trees; lr 0.02, depth 5, 31 leaves,
    bagging 0.8, columns 0.6).

    ``fit(X, y)`` on a long table or an :class:`EventSet` needs no evaluation set: the number
    of trees is chosen on a stratified 10 % of the training stays
    (:class:`EarlyStoppedLGBMClassifier`; its parameters, e.g. ``validation_fraction=0``,
    are accepted as keyword arguments, any other keyword goes to ``LGBMClassifier`` through its
    ``lgbm_params``);
    ``verbose`` is the Pipeline's (one line per step). Fails at once without lightgbm.
    """
    from sklearn.pipeline import make_pipeline

    _import_lightgbm()  # fail here, at construction, rather than deep inside a later fit
    own = {k: params.pop(k) for k in list(params)
           if k in EarlyStoppedLGBMClassifier().get_params()}
    passed = {**(own.pop("lgbm_params", None) or {}), **params}
    model = EarlyStoppedLGBMClassifier(n_estimators=n_estimators, random_state=random_state,
                                       lgbm_params=passed or None, **own)
    return make_pipeline(StayAggregates(), model, verbose=bool(verbose))
