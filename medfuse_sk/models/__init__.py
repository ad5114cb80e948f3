"""Every model of the library: one folder each, over shared parts.

``medfuse/`` (MedFuse), ``grud/`` (GRU-D through PyPOTS), ``aggregate/`` (tree models on
per-stay aggregates). Shared: the base event classifier (``_base.py``: inputs, labels and
weights by stay, tokens, the RNG fork), the registry (``_registry.py``), parameter specs
(``_spec.py``); for the torch networks batching (``_batching.py``), losses (``_losses.py``),
skorch callbacks (``_callbacks.py``) and the device of ``device="auto"`` (``_device.py``).
"""

# every model folder registers its models on import
from . import meds_tab, mtan, raindrop, sand, seft, strats, summit, tcn, transformer  # noqa: F401
from ._base import (
    BaseEventClassifier,
    EventClassifierMixin,
    EventModelMixin,
    aligned_labels,
    aligned_weights,
)
from ._batching import (
    LengthBucketSampler,
    TokenDataset,
    TokenDropoutCollate,
    base_dataset_and_indices,
    ordered_batches,
)
from ._callbacks import SCHEDULES, PlainPrintLog, WarmupCosine, WarmupCosineLR, WeightAverage
from ._device import resolve_device
from ._losses import LOSSES, BinaryLoss
from ._neural import (
    GRID_INPUTS,
    TOKEN_INPUTS,
    GridDataset,
    NeuralEventClassifier,
    grid_arrays,
    network_docstring,
    neural_params,
    register_network,
)
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
from ._threads import ENV_THREADS, busy_cores_elsewhere, choose_threads, chosen_threads
from .aggregate import EarlyStoppedXGBClassifier, make_random_forest, make_xgboost
from .grud import GRUDClassifier, infer_grid_channels, make_grud
from .medfuse import *  # noqa: F403
from .medfuse import __all__ as _medfuse_all
from .mtan import MTANClassifier
from .raindrop import RaindropClassifier
from .sand import SAnDClassifier
from .strats import StratsClassifier
from .summit import SummitClassifier
from .tcn import TCNClassifier
from .transformer import TransformerClassifier

__all__ = ["BaseEventClassifier", "BinaryLoss", "ENV_THREADS", "busy_cores_elsewhere",
           "choose_threads", "chosen_threads", "EarlyStoppedXGBClassifier",
           "EventClassifierMixin", "EventModelMixin", "GRUDClassifier", "LOSSES",
           "LengthBucketSampler", "ModelSpec", "PlainPrintLog", "SCHEDULES", "TokenDataset",
           "TokenDropoutCollate", "WarmupCosine", "WarmupCosineLR", "WeightAverage",
           "aligned_labels", "aligned_weights", "available_models", "base_dataset_and_indices",
           "create_model", "get_model", "infer_grid_channels", "make_grud",
           "make_random_forest", "make_xgboost", "ordered_batches", "register_model",
           "registered_classes", "registered_parameter_classes", "resolve_device",
           "unregister_model",
           "GRID_INPUTS", "GridDataset", "NeuralEventClassifier", "TOKEN_INPUTS", "grid_arrays",
           "network_docstring", "neural_params", "register_network",
           "MTANClassifier", "RaindropClassifier", "SAnDClassifier", "StratsClassifier",
           "SummitClassifier", "TCNClassifier", "TransformerClassifier",
           *_medfuse_all]
