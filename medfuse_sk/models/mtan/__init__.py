"""mTAN (Shukla & Marlin, 2021): multi-time attention on raw observation times."""

from .._neural import register_network
from ._estimator import PARAMS, MTANClassifier
from ._network import LearnedTimeEmbedding, MTANModule, MultiTimeAttention, multi_time_attention

__all__ = ["PARAMS", "LearnedTimeEmbedding", "MTANClassifier", "MTANModule",
           "MultiTimeAttention", "multi_time_attention"]

register_network("mtan", MTANClassifier,
                 description="mTAN: multi-time attention on raw observation times (mTAND-Enc)")
