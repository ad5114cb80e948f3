"""Logistic regression on per-stay aggregates, prepared as YAIB prepares them for its linear
baseline: missing values imputed (here with the training median), every column standardised,
and a 0/1 indicator of missingness.

YAIB (van de Water et al., 2024) feeds its classical models the last hour of each stay after
its recipe: the last value (forward-filled), historical min, max, mean and count of each
variable, a missingness indicator per variable, and the static features. The aggregates of
:class:`~medfuse_sk.data.StayAggregates` are those statistics over the stay (last, mean, min,
max, count); :class:`MedianImputeScaler` adds the imputation, the scaling and one indicator
per variable.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from ...data import StayAggregates

__all__ = ["AggregateLogisticRegression", "MedianImputeScaler", "make_logistic_regression"]


class MedianImputeScaler(TransformerMixin, BaseEstimator):
    """Median imputation, standardisation and missingness indicators, learned in ``fit``.

    ``transform`` returns the imputed columns, standardised with the training mean and
    standard deviation of the imputed values (and clipped to ``±clip``), followed by one 0/1
    indicator for each group of columns that were missing in exactly the same training rows
    (the last, mean, min and max of a variable are missing together: one indicator per
    variable, as YAIB has). Columns never missing in training get no indicator; a value missing
    there at prediction time is imputed all the same.

    Plain arrays only in its fitted state, so that a Pipeline holding it saves as a safe model
    file (:func:`medfuse_sk.io.save_model`).

    Parameters
    ----------
    clip : float or None, default 5.0
        Standardised values are clipped to ``[-clip, clip]``, so that an implausible
        measurement (P12 has temperatures of −17.8 °C) cannot carry a linear model's risk
        alone; ``None``: no clip.
    add_indicator : bool, default True

    Attributes
    ----------
    median_, mean_, scale_ : ndarray of shape (n_features_in_,)
        Training median (0 where a column was never observed), mean and standard deviation
        (1 where constant) of the imputed columns.
    indicator_columns_ : ndarray of int
        The column whose missingness each indicator reports (the first of its group).
    n_features_in_ : int
    """

    def __init__(self, clip: float | None = 5.0, add_indicator: bool = True) -> None:
        self.clip = clip
        self.add_indicator = add_indicator

    def fit(self, X: Any, y: Any = None) -> MedianImputeScaler:
        if self.clip is not None and not self.clip > 0:
            raise ValueError(f"clip must be a positive number or None, got {self.clip!r}")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2:
            raise ValueError(f"MedianImputeScaler takes a 2-d array, got shape {X.shape}")
        missing = np.isnan(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a column never observed
            median = np.nanmedian(X, axis=0)
        self.median_ = np.where(np.isnan(median), 0.0, median)
        imputed = np.where(missing, self.median_, X)
        self.mean_ = imputed.mean(axis=0)
        std = imputed.std(axis=0)
        self.scale_ = np.where(std > 0, std, 1.0)
        if self.add_indicator:
            sometimes = np.flatnonzero(missing.any(axis=0))
            # one indicator per distinct pattern of missing rows, at its first column
            _, first = np.unique(missing[:, sometimes], axis=1, return_index=True)
            self.indicator_columns_ = sometimes[np.sort(first)]
        else:
            self.indicator_columns_ = np.array([], dtype=np.int64)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "median_")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"MedianImputeScaler was fitted on {self.n_features_in_} columns, "
                             f"got shape {X.shape}")
        missing = np.isnan(X)
        scaled = (np.where(missing, self.median_, X) - self.mean_) / self.scale_
        if self.clip is not None:
            scaled = np.clip(scaled, -self.clip, self.clip)
        return np.hstack([scaled, missing[:, self.indicator_columns_].astype(np.float64)])

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "median_")
        names = (np.array([f"x{i}" for i in range(self.n_features_in_)], dtype=object)
                 if input_features is None else np.asarray(input_features, dtype=object))
        return np.concatenate([names, [f"{names[i]}_missing" for i in self.indicator_columns_]]
                              ).astype(object)


class AggregateLogisticRegression(LogisticRegression):
    """scikit-learn's :class:`~sklearn.linear_model.LogisticRegression`, unchanged, under a name
    of this library: a safe model file may name it (its fitted state is plain arrays), while a
    plain ``LogisticRegression`` stays one that :func:`medfuse_sk.io.save_model` refuses."""


def make_logistic_regression(random_state: int = 0, C: float = 1.0, verbose: int = 0,
                             **params: Any):
    """Pipeline: aggregates → median imputation, scaling, missingness indicators
    (:class:`MedianImputeScaler`) → L2 logistic regression (lbfgs, ``C`` 1.0,
    :class:`AggregateLogisticRegression`).

    ``fit(X, y)`` on a long table or an :class:`EventSet`. ``clip`` and ``add_indicator``
    go to the imputer, any other keyword to ``sklearn.linear_model.LogisticRegression``;
    ``verbose`` is the Pipeline's (one line per step).
    """
    from sklearn.pipeline import make_pipeline

    own = {k: params.pop(k) for k in list(params) if k in MedianImputeScaler().get_params()}
    model = AggregateLogisticRegression(C=C, max_iter=params.pop("max_iter", 2000),
                               random_state=random_state, **params)
    return make_pipeline(StayAggregates(), MedianImputeScaler(**own), model,
                         verbose=bool(verbose))
