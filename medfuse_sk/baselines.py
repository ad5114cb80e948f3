"""Per-stay aggregates for classical baselines (XGBoost, Random Forest) as a transformer.

``StayAggregates`` turns an :class:`EventSet` into one row per stay: for each numerical feature
seen in ``fit`` its last, mean, min, max and count; for each categorical feature the code of its
last class (NaN where a stay has no observation). Put it in a Pipeline before a tree model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .events import as_event_set

__all__ = ["StayAggregates", "EarlyStoppedXGBClassifier", "make_xgboost", "make_random_forest",
           "regular_grid"]

STATISTICS = ("last", "mean", "min", "max", "count")


def _long(events) -> pd.DataFrame:
    c = events.columns
    category = np.full(events.n_rows, None, dtype=object)
    is_cat = c["category"] >= 0
    category[is_cat] = events.categories[c["category"][is_cat]]
    return pd.DataFrame({
        "stay": events.row_stay_index(),
        "feature": events.feature_names[c["feature"]],
        "value": c["value"],
        "category": category,
    })


def _sorted_classes(classes) -> list:
    try:
        return sorted(classes)
    except TypeError:  # mixed types: order by their text
        return sorted(classes, key=lambda c: (type(c).__name__, str(c)))


class StayAggregates(TransformerMixin, BaseEstimator):
    """One row of summary statistics per stay (raw units, NaN where unobserved)."""

    def fit(self, X: Any, y: Any = None) -> StayAggregates:
        events = as_event_set(X)
        table = _long(events)
        numeric = table["category"].isna()
        self.numeric_features_ = np.array(sorted(map(str, table.loc[numeric, "feature"].unique())))
        cats = table.loc[~numeric]
        # sorted, so that a class's code does not depend on the order of the stays
        self.classes_by_feature_ = {
            str(f): _sorted_classes(pd.unique(g["category"]))
            for f, g in cats.groupby("feature", sort=True)}
        self.feature_names_out_ = np.array(
            [f"{f}_{s}" for f in self.numeric_features_ for s in STATISTICS]
            + [f"{f}_last" for f in self.classes_by_feature_])
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        events = as_event_set(X)
        table = _long(events)
        table["feature"] = table["feature"].astype(str)
        numeric = table[table["category"].isna() & table["feature"].isin(self.numeric_features_)]
        grouped = numeric.groupby(["stay", "feature"], sort=False)["value"]
        stats = grouped.agg(["last", "mean", "min", "max", "count"]).unstack("feature")
        columns = pd.MultiIndex.from_product([STATISTICS, self.numeric_features_])
        stats = stats.reindex(columns=columns).reindex(range(len(events)))
        stats.loc[:, "count"] = stats["count"].fillna(0).to_numpy()
        wide = stats.swaplevel(axis=1)[[(f, s) for f in self.numeric_features_ for s in STATISTICS]]
        parts = [wide.to_numpy(dtype=np.float64)]
        for feature, classes in self.classes_by_feature_.items():
            rows = table[table["feature"] == feature].groupby("stay")["category"].last()
            codes = pd.Series(pd.Index(classes).get_indexer(rows.to_numpy()), index=rows.index)
            codes = codes.where(codes >= 0).reindex(range(len(events)))
            parts.append(codes.to_numpy(dtype=np.float64)[:, None])
        return np.hstack(parts)

    def get_feature_names_out(self, input_features=None) -> np.ndarray:
        check_is_fitted(self, "feature_names_out_")
        return self.feature_names_out_


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
        raise ImportError("make_xgboost needs the xgboost package: pip install "
                          "'medfuse-sk[bench]'") from error
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


def regular_grid(
    events, series: list[str], static: list[str], n_steps: int = 48, step: float = 1.0,
    categorical_levels: dict[str, list] | None = None,
) -> np.ndarray:
    """Stays on a regular time grid for grid-based models (GRU-D): ``(n_stays, n_steps, C)``.

    Channel ``c`` of ``series`` holds, per step ``[s·step, (s+1)·step)``, the mean of that
    feature's values (the last step also takes events at exactly ``n_steps · step``; later ones
    are dropped); NaN where unobserved. Then one channel per numerical ``static`` feature and one
    0/1 channel per level of each categorical static feature (``categorical_levels``), holding
    the stay's first value at every step (NaN where the stay has none). Raw units: scale
    downstream.
    """
    events = as_event_set(events)
    c = events.columns
    names = events.feature_names[c["feature"]].astype(str)
    stay = events.row_stay_index()
    n = len(events)
    out = np.full((n, n_steps, len(series)), np.nan)
    step_index = np.floor(c["time"] / step).astype(np.int64)
    step_index[c["time"] == n_steps * step] = n_steps - 1
    for j, feature in enumerate(series):
        rows = (names == feature) & (step_index < n_steps) & (c["category"] < 0)
        flat = stay[rows] * n_steps + step_index[rows]
        total = np.bincount(flat, c["value"][rows], n * n_steps)
        count = np.bincount(flat, minlength=n * n_steps)
        with np.errstate(invalid="ignore"):
            out[:, :, j] = (total / count).reshape(n, n_steps)
    channels = [out]
    categorical_levels = categorical_levels or {}
    for feature in static:
        rows = np.flatnonzero(names == feature)
        rows = rows[np.r_[True, stay[rows][1:] != stay[rows][:-1]]] if len(rows) else rows
        if feature in categorical_levels:
            labels = events.categories[c["category"][rows]]
            for level in categorical_levels[feature]:
                value = np.full(n, np.nan)
                value[stay[rows]] = (labels == level).astype(float)
                channels.append(np.repeat(value[:, None, None], n_steps, axis=1))
        else:
            value = np.full(n, np.nan)
            value[stay[rows]] = c["value"][rows]
            channels.append(np.repeat(value[:, None, None], n_steps, axis=1))
    return np.concatenate(channels, axis=2)
