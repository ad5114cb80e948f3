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

from .tokenize import as_event_set

__all__ = ["StayAggregates", "make_xgboost", "make_random_forest"]

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
