"""SeFT (Horn et al., 2020) through PyPOTS, on a regular grid of each stay's events."""

from .._registry import register_model
from ._estimator import SeFTClassifier, make_seft

__all__ = ["SeFTClassifier", "make_seft"]

register_model("seft", make_seft, classes=(SeFTClassifier,), extras=("seft",),
               description="SeFT (PyPOTS) on a 4-hourly grid of the first 48 h")
