"""SUMMIT (Huang et al., 2024): SCANE tokens (each value scales its feature's embedding) and a
Transformer encoder."""

from .._neural import register_network
from ._estimator import PARAMS, SummitClassifier
from ._network import SummitModule

__all__ = ["PARAMS", "SummitClassifier", "SummitModule"]

register_network("summit", SummitClassifier,
                 description="SUMMIT: SCANE value-scaled feature embeddings, Transformer encoder")
