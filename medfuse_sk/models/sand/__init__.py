"""SAnD ("Attend and Diagnose"): masked self-attention with dense interpolation on a grid."""

from .._neural import register_network
from ._estimator import PARAMS, SAnDClassifier
from ._network import SAnDModule, dense_interpolation_weights

__all__ = ["PARAMS", "SAnDClassifier", "SAnDModule", "dense_interpolation_weights"]

register_network("sand", SAnDClassifier,
                 description="SAnD: masked self-attention + dense interpolation on a 2-hour grid")
