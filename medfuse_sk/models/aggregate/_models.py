"""Tree models on per-stay aggregates: XGBoost that stops on its own share of the stays, and a
Random Forest, each a Pipeline that takes events (:class:`~medfuse_sk.data.StayAggregates` first).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from ...data import StayAggregates
from ...utils import install_hint

__all__ = ["EarlyStoppedXGBClassifier", "make_xgboost", "make_random_forest"]


class EarlyStoppedXGBClassifier(ClassifierMixin, BaseEstimator):
    """XGBoost that picks its number of trees on a stratified share of its own training rows.

    ``fit(X, y)`` needs nothing else: ``validation_fraction`` of the rows (stratified, drawn
    with ``random_state``) is held out and boosting stops once the held-out AUPRC has not
    improved for ``early_stopping_rounds`` rounds; the trees up to the best round are kept.
    ``validation_fraction=0`` (or ``early_stopping_rounds=None``) fits ``n_estimators`` trees
    on every row.

    Parameters
    ----------
    n_estimators, learning_rate, max_depth, subsample, colsample_bytree, n_jobs
        Passed to ``xgboost.XGBClassifier`` (``tree_method="hist"``).
    validation_fraction : float, default 0.1
    early_stopping_rounds : int or None, default 100
    random_state : int, default 0
    xgb_params : dict, optional
        Any other ``XGBClassifier`` argument.

    Attributes
    ----------
    model_ : xgboost.XGBClassifier
    best_iteration_ : int
        Number of trees used for prediction, minus one.
    """

    def __init__(self, n_estimators: int = 2000, learning_rate: float = 0.02, max_depth: int = 5,
                 subsample: float = 0.8, colsample_bytree: float = 0.6, n_jobs: int = 2,
                 validation_fraction: float = 0.1, early_stopping_rounds: int | None = 100,
                 random_state: int = 0, xgb_params: dict[str, Any] | None = None) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.subsample = subsample
        self.colsample_bytree = colsample_bytree
        self.n_jobs = n_jobs
        self.validation_fraction = validation_fraction
        self.early_stopping_rounds = early_stopping_rounds
        self.random_state = random_state
        self.xgb_params = xgb_params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> EarlyStoppedXGBClassifier:
        from sklearn.model_selection import train_test_split
        from xgboost import XGBClassifier

        if not 0.0 <= self.validation_fraction < 1.0:
            raise ValueError(f"validation_fraction must lie in [0, 1), got "
                             f"{self.validation_fraction!r}")
        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        self.classes_ = np.unique(y)
        stop = bool(self.validation_fraction) and self.early_stopping_rounds is not None
        model = XGBClassifier(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate,
            max_depth=self.max_depth, subsample=self.subsample,
            colsample_bytree=self.colsample_bytree, tree_method="hist", eval_metric="aucpr",
            early_stopping_rounds=self.early_stopping_rounds if stop else None,
            n_jobs=self.n_jobs, random_state=self.random_state, **(self.xgb_params or {}))
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if stop:
            parts = train_test_split(X, y, *([] if weights is None else [weights]),
                                     test_size=self.validation_fraction, stratify=y,
                                     random_state=self.random_state)
            X_fit, X_stop, y_fit, y_stop = parts[:4]
            fit_weights = None if weights is None else parts[4]
            model.fit(X_fit, y_fit, sample_weight=fit_weights, eval_set=[(X_stop, y_stop)],
                      verbose=False)
            self.best_iteration_ = int(model.best_iteration)
        else:
            model.fit(X, y, sample_weight=weights, verbose=False)
            self.best_iteration_ = self.n_estimators - 1
        self.model_ = model
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        return self.model_.predict_proba(np.asarray(X, dtype=np.float64))

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def make_xgboost(random_state: int = 0, n_estimators: int = 2000, **params: Any):
    """Pipeline: aggregates → XGBoost (NaN left to the trees; hist, depth 5, lr 0.02).

    ``fit(X, y)`` on a long table or an :class:`EventSet` needs no evaluation set: the number
    of trees is chosen on a stratified 10 % of the training stays
    (:class:`EarlyStoppedXGBClassifier`; its parameters, e.g. ``validation_fraction=0``,
    are accepted as keyword arguments, any other keyword goes to ``XGBClassifier``).
    """
    from sklearn.pipeline import make_pipeline

    try:  # fail here, at construction, rather than deep inside a later fit
        import xgboost  # noqa: F401
    except ImportError as error:
        raise ImportError(f"make_xgboost needs the xgboost package: {install_hint('bench')}") \
            from error
    own = {k: params.pop(k) for k in list(params)
           if k in EarlyStoppedXGBClassifier().get_params()}
    model = EarlyStoppedXGBClassifier(n_estimators=n_estimators, random_state=random_state,
                                      xgb_params=params or None, **own)
    return make_pipeline(StayAggregates(), model)


def make_random_forest(random_state: int = 0, n_estimators: int = 500, **params: Any):
    """Pipeline: aggregates → median imputation → Random Forest."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline

    model = RandomForestClassifier(n_estimators=n_estimators, min_samples_leaf=2, n_jobs=2,
                                   class_weight="balanced_subsample", random_state=random_state,
                                   **params)
    return make_pipeline(StayAggregates(), SimpleImputer(strategy="median",
                                                         keep_empty_features=True), model)
