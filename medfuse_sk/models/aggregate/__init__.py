"""Classical models on per-stay aggregates: XGBoost, Random Forest, LightGBM and logistic
regression (median imputation, scaling and missingness indicators, as YAIB prepares them)."""

from ...data import StayAggregates
from .._registry import register_model
from ._lightgbm import EarlyStoppedLGBMClassifier, make_lightgbm
from ._linear import AggregateLogisticRegression, MedianImputeScaler, make_logistic_regression
from ._models import (
    AggregateRandomForest,
    AggregateSimpleImputer,
    EarlyStoppedXGBClassifier,
    make_random_forest,
    make_xgboost,
)

__all__ = ["AggregateLogisticRegression", "AggregateRandomForest", "AggregateSimpleImputer",
           "EarlyStoppedLGBMClassifier", "EarlyStoppedXGBClassifier", "MedianImputeScaler",
           "make_lightgbm", "make_logistic_regression", "make_random_forest", "make_xgboost"]

# classes: the steps of their Pipelines, whose fitted state is plain arrays and text (trees in
# XGBoost's and LightGBM's own text formats, a forest's tree arrays), so that `medfuse fit
# --model ...` writes them as safe model files
register_model("xgboost", make_xgboost, classes=(StayAggregates, EarlyStoppedXGBClassifier),
               extras=("bench",),
               description="XGBoost on per-stay aggregates, trees chosen on 10 % of the stays")
register_model("random_forest", make_random_forest,
               classes=(StayAggregates, AggregateSimpleImputer, AggregateRandomForest),
               description="Random forest on per-stay aggregates (median imputation)")
register_model("logistic_regression", make_logistic_regression,
               classes=(StayAggregates, MedianImputeScaler, AggregateLogisticRegression),
               description="Logistic regression on per-stay aggregates (median imputation, "
                           "scaling, missingness indicators)")
register_model("lightgbm", make_lightgbm, classes=(StayAggregates, EarlyStoppedLGBMClassifier),
               extras=("lightgbm",),
               description="LightGBM on per-stay aggregates, trees chosen on 10 % of the stays")

