"""The default network at a fixed 10 epochs, pinned in full: for searches and CV.

The cost issue's ``candidate_heads4`` (docs/performance.md, "The cost of a default fit"): the
network of the old defaults at twice their learning rate for half their epochs, over 2-hour
windows. It became the defaults (2026-12-06) but for one thing: the defaults choose their
epochs by the number of training stays (``max_epochs="auto"``: 10 on P12, 8 on P19, up to 20
on small cohorts), while this recipe always trains 10, so that a search's inner folds, smaller
than the cohort, do not cost more epochs each. On P12's 7,680 training stays it is the defaults.
"""

from __future__ import annotations

from typing import Any

__all__ = ["FAST", "FAST_TOKENIZER"]

#: Every classifier parameter written out (``MedFuseClassifier(**FAST)``), as :data:`PAPER`.
FAST: dict[str, Any] = {
    "fusion": "mufuse", "d_model": 64, "partition_factor": 1, "gate": "none",
    "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0, "beta_init": 1.0,
    "time_encoding": True, "n_layers": 1, "n_heads": 4, "dim_feedforward": None,
    "dropout": 0.1, "norm_first": False, "pooling": "mean+latest", "series_summary": True,
    "static_branch": False, "n_models": 1,
    "loss": "bce", "class_weight": None, "lr": 0.002, "lr_schedule": "cosine",
    "warmup_epochs": 1.0, "weight_decay": 0.01, "max_epochs": 10, "batch_size": 64,
    "patience": 5, "weight_averaging": 0.99, "token_dropout": 0.1, "valid_size": 0.0,
    "threshold": 0.5,
}
#: The tokenizer of :data:`FAST`: 2-hour windows (P12's tokens almost halved, P19's cut by a
#: third), no horizon.
FAST_TOKENIZER: dict[str, Any] = {
    "window": 2.0, "horizon": None, "max_tokens": 1000, "scaling": "robust", "clip": 5.0,
    "truncate": "last", "count_tokens": False,
}
