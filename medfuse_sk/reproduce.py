"""Train and score MedFuse on PhysioNet 2012 with the standard split (``medfuse p12``).

Protocol
--------
- The tokenizer (vocabulary, scaling) is fitted on the train split only.
- ``eval_split="test"``: early stopping on the val split, scores on test (the held-back
  split; needs a complete PhysioNet release).
- ``eval_split="val"``: early stopping on a stratified 10 % of the train split, scores on
  val, so val stays untouched by model selection.
- Metrics: AUPRC (average precision), AUROC, accuracy at 0.5, each with a 95 % bootstrap
  interval over 1000 resamples of the scored stays.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .estimator import MedFuseClassifier
from .evaluation import evaluate, machine_info
from .events import EventSet
from .tokenize import EventTokenizer

__all__ = ["PAPER", "RECOMMENDED", "TOKENIZER_KEYS", "run_p12"]

#: The recommended MedFuse configuration for P12 (see docs/p12-report.md for the evidence),
#: as differences from the defaults (``medfuse_sk.params.PARAMS`` and ``EventTokenizer``'s):
#: 2-hour windows over 48 h, a weight EMA, a 3-network ensemble, 12 epochs, patience 4.
RECOMMENDED: dict[str, Any] = {
    "window": 2.0, "horizon": 48.0,
    "weight_averaging": 0.99, "n_models": 3, "max_epochs": 12, "patience": 4,
}
#: The paper's method as differences from the defaults: sigmoid gates from β = 0, k = 4,
#: two layers, mean pooling, a constant learning rate, every token kept.
PAPER: dict[str, Any] = {
    "gate": "sigmoid", "beta_init": 0.0, "partition_factor": 4, "n_layers": 2, "pooling": "mean",
    "lr_schedule": "constant", "warmup_epochs": 0.0, "token_dropout": 0.0,
}
TOKENIZER_KEYS = ("window", "horizon", "max_tokens", "scaling", "clip", "truncate")


def _member_probabilities(clf: MedFuseClassifier, tokens):
    """Each ensemble member's probabilities (a DataFrame, one column per member), or None."""
    import pandas as pd
    import torch

    from .batching import TokenDataset
    from .model import MedFuseEnsemble

    if not isinstance(clf.module_, MedFuseEnsemble):
        return None
    logits = clf.forward(TokenDataset(tokens))
    names = [f"{fusion}{i}" for i, fusion in enumerate(clf.module_.fusions)]
    return pd.DataFrame(torch.sigmoid(logits).numpy(), columns=names)


def _split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    tokenizer = {k: v for k, v in config.items() if k in TOKENIZER_KEYS}
    model = {k: v for k, v in config.items() if k not in TOKENIZER_KEYS}
    return tokenizer, model


def _events(data) -> EventSet:
    return EventSet.from_long(data.events, categorical=data.categorical, stays=data.stay_ids)


def run_p12(
    data_dir: str | os.PathLike | None = None,
    *,
    eval_split: str = "val",
    config: dict[str, Any] | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    verbose: int = 1,
    n_bootstrap: int = 1000,
) -> dict[str, Any]:
    """Train on the train split, select, score ``eval_split``; optionally write results.

    Parameters
    ----------
    data_dir : folder of the PhysioNet 2012 release (see ``load_physionet2012``)
    eval_split : {"val", "test"}
    config : overrides of :data:`RECOMMENDED` (tokenizer and classifier parameters)
    seed : random_state of the classifier
    out : folder for ``metrics.json``, ``predictions.csv`` and ``curves.png``

    Returns
    -------
    dict with the metrics, configuration, seed, timings, peak memory and machine.
    """
    from .datasets import load_physionet2012

    if eval_split not in ("val", "test"):
        raise ValueError(f"eval_split must be 'val' or 'test', got {eval_split!r}")
    config = {**RECOMMENDED, **(config or {})}
    tokenizer_params, model_params = _split_config(config)
    started = time.perf_counter()

    # the scored split first: a release without it fails before any work
    scored = load_physionet2012(data_dir, split=eval_split, progress=bool(verbose))
    train = load_physionet2012(data_dir, split="train", progress=bool(verbose))
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*max_tokens.*")
        warnings.filterwarnings("ignore", message=".*horizon.*")
        tokenizer = EventTokenizer(**tokenizer_params).fit(_events(train))
        train_tokens = tokenizer.transform(_events(train))
        scored_tokens = tokenizer.transform(_events(scored))
        extra = {}
        if eval_split == "test":
            from skorch.helper import predefined_split

            from .batching import TokenDataset
            val = load_physionet2012(data_dir, split="val", progress=bool(verbose))
            val_tokens = tokenizer.transform(_events(val))
            extra["train_split"] = predefined_split(
                TokenDataset(val_tokens, val.labels.loc[val_tokens.stay_ids].to_numpy()))
    prepared = time.perf_counter()

    clf = MedFuseClassifier(random_state=seed, verbose=verbose, **model_params, **extra)
    clf.fit(train_tokens, train.labels.loc[train_tokens.stay_ids].to_numpy())
    trained = time.perf_counter()
    history = clf.history_
    scores = history[:, "valid_auprc"]
    info = {
        "config": config, "seed": seed,
        "epochs_run": len(history), "best_epoch": int(np.argmax(scores)) + 1,
        "best_valid_auprc": float(np.max(scores)),
        "epoch_seconds_median": float(np.median(history[:, "dur"])),
        "train_seconds": round(trained - prepared, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        **machine_info(),
    }
    members = _member_probabilities(clf, scored_tokens)
    if members is not None:  # each network of an ensemble, scored on its own
        from sklearn.metrics import average_precision_score, roc_auc_score

        y_members = scored.labels.loc[scored_tokens.stay_ids].to_numpy()
        info["members"] = {
            name: {"auprc": float(average_precision_score(y_members, p)),
                   "auroc": float(roc_auc_score(y_members, p))} for name, p in members.items()}
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            members.insert(0, "stay_id", scored_tokens.stay_ids)
            members.to_csv(Path(out) / "members.csv", index=False)
    return evaluate(clf, scored_tokens, scored.labels, split=eval_split, out=out, info=info,
                    title=f"MedFuse, {eval_split}", n_bootstrap=n_bootstrap, random_state=seed)
