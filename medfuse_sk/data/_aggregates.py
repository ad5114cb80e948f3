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

from ._events import as_event_set

__all__ = ["StayAggregates", "STATISTICS"]

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
    """One row of summary statistics per stay (raw units, NaN where unobserved).

    Fitted, it also remembers how its events were read: ``input_columns_`` (role → column
    name: ``stay``, ``time``, ``feature``, ``value``) and ``input_time_unit_``, which
    ``medfuse predict`` uses for a model file that holds no estimator with column parameters.
    """

    def fit(self, X: Any, y: Any = None) -> StayAggregates:
        events = as_event_set(X)
        table = _long(events)
        numeric = table["category"].isna()
        # object arrays of str, as scikit-learn's feature names (and a safe model file) hold them
        self.numeric_features_ = np.array(sorted(map(str, table.loc[numeric, "feature"].unique())),
                                          dtype=object)
        cats = table.loc[~numeric]
        # sorted, so that a class's code does not depend on the order of the stays
        self.classes_by_feature_ = {
            str(f): _sorted_classes(pd.unique(g["category"]))
            for f, g in cats.groupby("feature", sort=True)}
        self.feature_names_out_ = np.array(
            [f"{f}_{s}" for f in self.numeric_features_ for s in STATISTICS]
            + [f"{f}_last" for f in self.classes_by_feature_], dtype=object)
        # how the events were read, so that a saved model reads its next table the same way
        self.input_columns_ = {str(k): str(v) for k, v in events.column_names.items()}
        self.input_time_unit_ = str(events.time_unit)
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
