"""Per-stay aggregates for classical baselines (XGBoost, Random Forest) as a transformer.

``StayAggregates`` turns an :class:`EventSet` into one row per stay: for each numerical feature
seen in ``fit`` its last, mean, min, max and count; for each categorical feature the code of its
last class (NaN where a stay has no observation). Put it in a Pipeline before a tree model.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .events import as_event_set

__all__ = ["StayAggregates", "make_xgboost", "make_random_forest", "regular_grid"]

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


class StayAggregates(TransformerMixin, BaseEstimator):
    """One row of summary statistics per stay (raw units, NaN where unobserved)."""

    def fit(self, X: Any, y: Any = None) -> StayAggregates:
        events = as_event_set(X)
        table = _long(events)
        numeric = table["category"].isna()
        self.numeric_features_ = np.array(sorted(map(str, table.loc[numeric, "feature"].unique())))
        cats = table.loc[~numeric]
        self.classes_by_feature_ = {
            str(f): list(pd.unique(g["category"])) for f, g in cats.groupby("feature", sort=True)}
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


def make_xgboost(random_state: int = 0, n_estimators: int = 2000, **params: Any):
    """Pipeline: aggregates → XGBoost (NaN left to the trees; hist, depth 5, lr 0.02)."""
    from sklearn.pipeline import make_pipeline
    from xgboost import XGBClassifier

    model = XGBClassifier(n_estimators=n_estimators, learning_rate=0.02, max_depth=5,
                          subsample=0.8, colsample_bytree=0.6, tree_method="hist",
                          eval_metric="aucpr", early_stopping_rounds=100, n_jobs=2,
                          random_state=random_state, **params)
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
