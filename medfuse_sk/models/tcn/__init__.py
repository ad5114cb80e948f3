"""TCN (temporal convolutional network: causal dilated convolutions) on a regular grid."""

from .._neural import register_network
from ._estimator import PARAMS, TCNClassifier
from ._network import CausalConv1d, TCNModule, TemporalBlock

__all__ = ["PARAMS", "CausalConv1d", "TCNClassifier", "TCNModule", "TemporalBlock"]

register_network("tcn", TCNClassifier,
                 description="TCN: causal dilated convolutions on a 2-hour grid of the first 48 h")
