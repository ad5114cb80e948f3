"""A MedFuse network about five times cheaper to fit than the defaults, for searches and CV.

The cost issue's candidate (docs/performance.md, "The cost of a default fit"): one 64-wide
attention head, a feed-forward layer as wide as the tokens, twice the default learning rate for
half the epochs, and 2-hour windows. On P12 it matched the defaults' accuracy over five paired
seeds at about a fifth of their fit time; on P19 (hourly records, short sequences) it lost
AUROC, so it is a recipe, not the default.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FAST", "FAST_TOKENIZER"]

#: Every classifier parameter written out (``MedFuseClassifier(**FAST)``), as :data:`PAPER`.
FAST: dict[str, Any] = {
    "fusion": "mufuse", "d_model": 64, "partition_factor": 1, "gate": "none",
    "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0, "beta_init": 1.0,
    "time_encoding": True, "n_layers": 1, "n_heads": 1, "dim_feedforward": 64,
    "dropout": 0.1, "norm_first": False, "pooling": "mean+latest", "series_summary": True,
    "static_branch": False, "n_models": 1,
    "loss": "bce", "class_weight": None, "lr": 0.002, "lr_schedule": "cosine",
    "warmup_epochs": 1.0, "weight_decay": 0.01, "max_epochs": 10, "batch_size": 64,
    "patience": 5, "weight_averaging": 0.99, "token_dropout": 0.1, "valid_size": 0.0,
    "threshold": 0.5,
}
#: The tokenizer of :data:`FAST`: 2-hour windows (P12's tokens almost halved), no horizon.
FAST_TOKENIZER: dict[str, Any] = {
    "window": 2.0, "horizon": None, "max_tokens": 1000, "scaling": "robust", "clip": 5.0,
    "truncate": "last", "count_tokens": False,
}
