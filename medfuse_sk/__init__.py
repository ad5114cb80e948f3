"""medfuse-sk: MedFuse (multiplicative value–feature fusion) for irregular clinical time series.

The data flow, one module each: long events (:mod:`events`) → tokens (:mod:`tokenize`) →
padded batches (:mod:`batching`) → embedding (:mod:`embedding`) → encoder and head
(:mod:`model`) → scikit-learn estimator (:mod:`estimator`).
"""

from .estimator import MedFuseClassifier
from .events import EventSet
from .tokenize import EventTokenizer, TokenSet

__all__ = ["EventSet", "EventTokenizer", "MedFuseClassifier", "TokenSet"]
__version__ = "0.1.0"
