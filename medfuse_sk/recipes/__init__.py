"""Configurations with evidence behind them: the paper's method, the recommended P12 model
(``medfuse p12``) and the default network at a fixed 10 epochs, for searches.

All are registered models (found through the ``medfuse_sk.models`` entry point):
``create_model("medfuse_paper")`` is ``MedFuseClassifier(**PAPER)`` with the tokenizer of
``PAPER_TOKENIZER``;
``create_model("medfuse_recommended")`` is :func:`make_p12_model` (keywords override
:data:`RECOMMENDED`);
``create_model("medfuse_fast")`` is ``MedFuseClassifier(**FAST)`` with the tokenizer of
``FAST_TOKENIZER``.
"""

from typing import Any

from ..data import EventTokenizer
from ..models import MedFuseClassifier, register_model
from ._fast import FAST, FAST_TOKENIZER
from ._p12 import (
    COMBINE,
    CONCAT_MEMBER,
    ENSEMBLE_KEYS,
    P12_GRUD,
    PAPER,
    PAPER_TOKENIZER,
    PINNED_ELSEWHERE,
    RECOMMENDED,
    TOKENIZER_KEYS,
    make_p12_model,
    run_p12,
)

__all__ = ["COMBINE", "CONCAT_MEMBER", "ENSEMBLE_KEYS", "FAST", "FAST_TOKENIZER", "P12_GRUD",
           "PAPER", "PAPER_TOKENIZER", "PINNED_ELSEWHERE", "RECOMMENDED", "TOKENIZER_KEYS",
           "make_p12_model", "run_p12"]


def _paper(**params: Any) -> MedFuseClassifier:
    """MedFuse as the paper configures it (PAPER and PAPER_TOKENIZER; keywords override)."""
    return MedFuseClassifier(**{"tokenizer": EventTokenizer(**PAPER_TOKENIZER), **PAPER,
                                **params})


def _fast(**params: Any) -> MedFuseClassifier:
    """The default network at a fixed 10 epochs: a search's cost does not grow on small
    folds (FAST and FAST_TOKENIZER; keywords override)."""
    return MedFuseClassifier(**{"tokenizer": EventTokenizer(**FAST_TOKENIZER), **FAST,
                                **params})


def _recommended(random_state: int = 0, verbose: int = 1, **config: Any) -> Any:
    """The recommended P12 model (make_p12_model; keywords override RECOMMENDED)."""
    return make_p12_model(config, seed=random_state, verbose=verbose)


register_model("medfuse_paper", _paper, classes=(MedFuseClassifier,))
register_model("medfuse_fast", _fast, classes=(MedFuseClassifier,))
register_model("medfuse_recommended", _recommended, classes=(MedFuseClassifier,))
