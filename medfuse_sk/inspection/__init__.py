"""Why a fitted model predicts what it does: attributions per measurement (integrated
gradients on token embeddings), what the embedding learned per feature, and their figures."""

from ._explain import BASELINES, FeatureResponse, explain, feature_importance, feature_response, stay_summary
from ._plots import plot_attribution_vs_value, plot_feature_responses, plot_importance, plot_stay

__all__ = ["BASELINES", "FeatureResponse", "explain", "feature_importance", "feature_response",
           "plot_attribution_vs_value", "plot_feature_responses", "plot_importance", "plot_stay",
           "stay_summary"]
