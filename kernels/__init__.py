"""Fused Triton kernels, installed as ``medfuse_sk.kernels``.

``mufuse_embedding`` has exactly the signature and semantics of
``medfuse_sk.embedding.mufuse_reference``. Off-GPU it runs only in Triton's interpreter
(``TRITON_INTERPRET=1`` set before ``triton`` is first imported); ``medfuse_sk.kernels.aot``
compiles both kernels ahead of time for a GPU that is not there and reports registers and spills.
"""

from .mufuse import MuFuseFunction, mufuse_backward, mufuse_embedding, mufuse_forward

__all__ = ["MuFuseFunction", "mufuse_backward", "mufuse_embedding", "mufuse_forward"]
