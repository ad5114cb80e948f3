"""Configurations with evidence behind them: the paper's method and the recommended P12 model
(``medfuse p12``)."""

from ._p12 import (
    COMBINE,
    CONCAT_MEMBER,
    ENSEMBLE_KEYS,
    P12_GRUD,
    PAPER,
    RECOMMENDED,
    TOKENIZER_KEYS,
    make_p12_model,
    run_p12,
)

__all__ = ["COMBINE", "CONCAT_MEMBER", "ENSEMBLE_KEYS", "P12_GRUD", "PAPER", "RECOMMENDED",
           "TOKENIZER_KEYS", "make_p12_model", "run_p12"]
