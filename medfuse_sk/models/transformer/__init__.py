"""A Transformer encoder on a regular grid (the MedFuse paper's "Transformer encoder" row)."""

from .._neural import register_network
from ._estimator import PARAMS, TransformerClassifier
from ._network import GridTransformerModule

__all__ = ["PARAMS", "GridTransformerModule", "TransformerClassifier"]

register_network("transformer", TransformerClassifier,
                 description="Transformer encoder on a 2-hour grid of the first 48 h")
