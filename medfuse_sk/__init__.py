"""medfuse-sk: MedFuse (multiplicative value–feature fusion) for irregular clinical time series.

The data flow, one subpackage each: long events → tokens (:mod:`medfuse_sk.data`) → models
(:mod:`medfuse_sk.models`: MedFuse and its peers) → scores (:mod:`medfuse_sk.evaluation`) and
explanations (:mod:`medfuse_sk.inspection`); cohorts in :mod:`medfuse_sk.datasets`, model files
in :mod:`medfuse_sk.io`, configurations with evidence in :mod:`medfuse_sk.recipes`, the
``medfuse`` command in :mod:`medfuse_sk.cli`.

``MedFuseClassifier`` is imported on first use (PEP 562): ``import medfuse_sk`` and the parts
that need no network (``medfuse_sk.data``, ``medfuse_sk.datasets``, e.g. the MEDS shard workers)
do not import torch.
"""

from typing import Any

from .data import EventSet, EventTokenizer, TokenSet

__all__ = ["EventSet", "EventTokenizer", "MedFuseClassifier", "TokenSet"]
__version__ = "0.1.0"

#: Names imported on first access: they import torch.
_LAZY = ("MedFuseClassifier",)


def __getattr__(name: str) -> Any:
    if name == "MedFuseClassifier":
        from .models import MedFuseClassifier

        globals()[name] = MedFuseClassifier  # later lookups skip this function
        return MedFuseClassifier
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
