"""GRU-D (Che et al., 2018) through PyPOTS, on a regular grid of each stay's events."""

from .._registry import register_model
from ._estimator import GRUDClassifier, infer_grid_channels, make_grud

__all__ = ["GRUDClassifier", "infer_grid_channels", "make_grud"]

register_model("grud", make_grud, classes=(GRUDClassifier,), extras=("grud",),
               description="GRU-D (PyPOTS) on an hourly grid of the first 48 h")
