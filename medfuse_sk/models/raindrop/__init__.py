"""Raindrop (graph message passing between sensors) in plain torch, on a regular grid."""

from .._neural import register_network
from ._estimator import PARAMS, RaindropClassifier
from ._network import RaindropModule, SensorPropagation

__all__ = ["PARAMS", "RaindropClassifier", "RaindropModule", "SensorPropagation"]

register_network("raindrop", RaindropClassifier,
                 description="Raindrop (sensor graph + attention over time), plain torch, 2-hour grid")
