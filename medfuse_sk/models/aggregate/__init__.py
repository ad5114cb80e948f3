"""Tree models on per-stay aggregates (XGBoost, Random Forest)."""

from .._registry import register_model
from ._models import EarlyStoppedXGBClassifier, make_random_forest, make_xgboost

__all__ = ["EarlyStoppedXGBClassifier", "make_random_forest", "make_xgboost"]

register_model("xgboost", make_xgboost, extras=("bench",),
               description="XGBoost on per-stay aggregates, trees chosen on 10 % of the stays")
register_model("random_forest", make_random_forest,
               description="Random forest on per-stay aggregates (median imputation)")
