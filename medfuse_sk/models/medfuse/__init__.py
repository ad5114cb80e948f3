"""MedFuse: MuFuse token embeddings, a Transformer encoder and a head, as a scikit-learn
classifier; its parameter spec, pre-training without labels and transfer between cohorts.

Data flow: tokens → :class:`MuFuseEmbedding` (``_embedding.py``; the fused Triton kernel in
``medfuse_sk.kernels``) → :class:`MedFuseModule` (``_network.py``) →
:class:`MedFuseClassifier` (``_estimator.py``, parameters in ``_params.py``).
"""

from .._losses import BinaryLoss
from .._registry import register_model
from ._embedding import MuFuseEmbedding, mufuse_reference, resolve_kernel, time_encoding
from ._estimator import MedFuseClassifier
from ._network import ByteDropout, EncoderLayer, MedFuseEnsemble, MedFuseModule
from ._params import (
    ACTIVATIONS,
    DEFAULTS,
    FUSIONS,
    GATES,
    KERNELS,
    PARAMS,
    POOLINGS,
    check_fusion,
)
from ._pretrain import ARCHITECTURE, OBJECTIVES, MedFusePretrainer
from ._transfer import (
    P12_FROM_P19,
    P19_FROM_P12,
    PARTS,
    TransferEmbeddings,
    TransferResult,
    transfer_weights,
)

__all__ = ["ACTIVATIONS", "ARCHITECTURE", "ByteDropout", "DEFAULTS", "EncoderLayer", "FUSIONS",
           "GATES", "KERNELS", "MedFuseClassifier", "MedFuseEnsemble", "MedFuseModule",
           "MedFusePretrainer", "MuFuseEmbedding", "OBJECTIVES", "P12_FROM_P19", "P19_FROM_P12",
           "PARAMS", "PARTS", "POOLINGS", "TransferEmbeddings", "TransferResult",
           "check_fusion", "mufuse_reference", "resolve_kernel", "time_encoding",
           "transfer_weights"]

register_model("medfuse", MedFuseClassifier, parameter_classes=(MedFuseModule, MedFuseEnsemble, BinaryLoss),
               description="MedFuse with the library's defaults (one MuFuse network)")
