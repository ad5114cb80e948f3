"""Every model of the library: one folder each, over shared training parts.

``medfuse/`` (MedFuse), ``grud/`` (GRU-D through PyPOTS), ``aggregate/`` (tree models on
per-stay aggregates); shared by the torch networks: batching (``_batching.py``), losses
(``_losses.py``), skorch callbacks (``_callbacks.py``).
"""

from ._batching import LengthBucketSampler, TokenDataset, TokenDropoutCollate, base_dataset_and_indices
from ._callbacks import SCHEDULES, WarmupCosine, WarmupCosineLR, WeightAverage
from ._losses import LOSSES, BinaryLoss
from ._registry import (
    ModelSpec,
    available_models,
    create_model,
    get_model,
    register_model,
    registered_classes,
    registered_parameter_classes,
    unregister_model,
)
from .aggregate import EarlyStoppedXGBClassifier, make_random_forest, make_xgboost
from .grud import GRUDClassifier, infer_grid_channels, make_grud
from .medfuse import *  # noqa: F403
from .medfuse import __all__ as _medfuse_all

__all__ = ["BinaryLoss", "EarlyStoppedXGBClassifier", "GRUDClassifier", "LOSSES",
           "LengthBucketSampler", "ModelSpec", "SCHEDULES", "TokenDataset",
           "TokenDropoutCollate", "WarmupCosine", "WarmupCosineLR", "WeightAverage",
           "available_models", "base_dataset_and_indices", "create_model", "get_model",
           "infer_grid_channels", "make_grud", "make_random_forest", "make_xgboost",
           "register_model", "registered_classes", "registered_parameter_classes",
           "unregister_model", *_medfuse_all]
