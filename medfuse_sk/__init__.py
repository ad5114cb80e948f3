"""medfuse-sk: MedFuse (multiplicative value–feature fusion) for irregular clinical time series.

The data flow, one subpackage each: long events → tokens (:mod:`medfuse_sk.data`) → models
(:mod:`medfuse_sk.models`: MedFuse and its peers) → scores (:mod:`medfuse_sk.evaluation`) and
explanations (:mod:`medfuse_sk.inspection`); cohorts in :mod:`medfuse_sk.datasets`, model files
in :mod:`medfuse_sk.io`, configurations with evidence in :mod:`medfuse_sk.recipes`, the
``medfuse`` command in :mod:`medfuse_sk.cli`.
"""

from .data import EventSet, EventTokenizer, TokenSet
from .models import MedFuseClassifier

__all__ = ["EventSet", "EventTokenizer", "MedFuseClassifier", "TokenSet"]
__version__ = "0.1.0"
