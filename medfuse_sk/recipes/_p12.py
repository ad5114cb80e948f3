"""Train and score MedFuse on PhysioNet 2012 with the standard split (``medfuse p12``).

Protocol
--------
- ``eval_split="val"``: the model (tokenizer included) is fitted on the train split and
  scores val, which no choice touches.
- ``eval_split="test"``: fitted on train + val, scores test (the held-back split; needs a
  complete PhysioNet release).
- Either way nothing is chosen on the scored split: the network trains for its fixed
  12 epochs (or stops on a share of the fitting stays, with ``valid_size``), XGBoost picks its
  number of trees on a stratified 10 % of the fitting stays.
- Metrics: AUPRC (average precision), AUROC, accuracy at 0.5, each with a 95 % bootstrap
  interval over 1000 resamples of the scored stays.
"""

from __future__ import annotations

import os
import re
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..data import EventSet, EventTokenizer
from ..evaluation import evaluate, machine_info
from ..models import MedFuseClassifier, create_model
from ..utils import unwrap

__all__ = ["PAPER", "PAPER_TOKENIZER", "RECOMMENDED", "COMBINE", "CONCAT_MEMBER", "P12_GRUD",
           "TOKENIZER_KEYS", "ENSEMBLE_KEYS", "PINNED_ELSEWHERE", "make_p12_model", "run_p12"]

#: The recommended configuration for P12 (see docs/p12-report.md for the evidence), written out
#: in full — every modelling parameter of the network and its tokenizer — so that a change of
#: the library's defaults changes neither this model nor any committed result built on it
#: (``tests/recipes/test_recipes.py`` fails when a new parameter is not pinned here).
#: Left to the caller: the device, the kernel implementation (numerically the same), the
#: seed, verbosity and the table's column names and time unit.
#:
#: 2-hour windows over 48 h; one MedFuse module holding four networks, one per fusion (a
#: heterogeneous ensemble sharing one tokenisation and one pass over the data), each with one
#: attention head (as the authors' code; on CPU one 64-wide head attends faster than four
#: 16-wide ones, at the same accuracy on P12); 12 epochs; the per-feature count / latest value
#: / recency branch; a weight EMA; training on every fitting stay (no stopping split).
#: ``static_branch``: the networks also read the static descriptors (age, sex, height, unit
#: type) through their own branch (+0.007 AUPRC, +0.003 AUROC for the module over 3 seeds).
#: Beside it, fitted on the same stays and averaged by soft voting (``combine``, see
#: :data:`COMBINE`): a second MedFuse network of another recipe, the aggregate XGBoost and
#: GRU-D. ``combine=("concat",)`` is the best pure event model; ``combine=None`` the module
#: alone. ``n_jobs``: the voting members are fitted in two processes, one per core, the module
#: cut into two members of two networks each (:func:`~medfuse_sk.ensemble.split_networks`,
#: weighted so that the four networks still make one vote); on a 2-core CPU that trains
#: faster than one process on two threads. ``n_jobs=1`` fits everything in one process.
RECOMMENDED: dict[str, Any] = {
    # tokenizer
    "window": 2.0, "horizon": 48.0, "max_tokens": 1000, "scaling": "robust", "clip": 5.0,
    "truncate": "last", "count_tokens": False,
    # network
    "fusion": ("mufuse", "add", "concat", "scane"), "d_model": 64, "partition_factor": 1,
    "gate": "none", "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0,
    "beta_init": 1.0, "time_encoding": True, "n_layers": 1, "n_heads": 1,
    "dim_feedforward": None, "dropout": 0.1, "norm_first": False, "pooling": "mean+latest",
    "series_summary": True, "static_branch": True, "n_models": 1,
    # training
    "loss": "bce", "class_weight": None, "lr": 0.001, "lr_schedule": "cosine",
    "warmup_epochs": 1.0, "weight_decay": 0.01, "max_epochs": 12, "batch_size": 64,
    "patience": 5, "weight_averaging": 0.99, "token_dropout": 0.1, "valid_size": 0.0,
    "threshold": 0.5,
    # the ensemble around the module
    "combine": ("concat", "xgboost", "grud"), "n_jobs": 2,
}
#: What ``combine`` may name: models fitted beside the MedFuse network on the same stays.
#: ``"concat"``: another MedFuse network, the first round's ``concat`` row (concat fusion,
#: no summary branch, no static branch, four heads, stopped on a stratified 10 % with
#: patience 4; otherwise the main network's settings) — it errs differently from the main
#: module, which is what an ensemble needs; ``"xgboost"``:
#: the registry's ``xgboost`` (:func:`~medfuse_sk.models.make_xgboost`); ``"grud"``: the
#: registry's ``grud`` (:class:`~medfuse_sk.models.GRUDClassifier`) on P12's hourly grid
#: (:data:`P12_GRUD`).
COMBINE = ("concat", "xgboost", "grud")
#: The ``concat`` member: what differs from :data:`RECOMMENDED` (itself pinned in full).
CONCAT_MEMBER: dict[str, Any] = {"fusion": "concat", "series_summary": False, "n_heads": 4,
                                 "static_branch": False, "valid_size": 0.1, "patience": 4}
#: GRU-D's grid on P12: the 37 series, and Age, Height, Gender and ICU type as static channels.
P12_GRUD: dict[str, Any] = {
    "static": ["Age", "Height", "Gender", "ICUType"],
    "categorical_levels": {"Gender": [0.0, 1.0], "ICUType": [1.0, 2.0, 3.0, 4.0]},
}
#: The paper's method, every classifier parameter written out (``MedFuseClassifier(**PAPER)``):
#: sigmoid gates from β = 0, k = 4, two layers, four heads, mean pooling, a constant learning
#: rate, every token kept; no summary branch, no weight averaging, the best epoch on a
#: validation split. Its tokenizer, pinned too, is :data:`PAPER_TOKENIZER` (raw events: one
#: token per event); ``create_model("medfuse_paper")`` builds both.
PAPER: dict[str, Any] = {
    "fusion": "mufuse", "d_model": 64, "partition_factor": 4, "gate": "sigmoid",
    "value_hidden": 16, "activation": "tanh", "projector_gain": 1.0, "beta_init": 0.0,
    "time_encoding": True, "n_layers": 2, "n_heads": 4, "dim_feedforward": None,
    "dropout": 0.1, "norm_first": False, "pooling": "mean", "series_summary": False,
    "static_branch": False, "n_models": 1,
    "loss": "bce", "class_weight": None, "lr": 0.001, "lr_schedule": "constant",
    "warmup_epochs": 0.0, "weight_decay": 0.01, "max_epochs": 20, "batch_size": 64,
    "patience": 5, "weight_averaging": None, "token_dropout": 0.0, "valid_size": 0.1,
    "threshold": 0.5,
}
#: The tokenizer of :data:`PAPER`: raw events, one token per event.
PAPER_TOKENIZER: dict[str, Any] = {
    "window": None, "horizon": None, "max_tokens": 1000, "scaling": "robust", "clip": 5.0,
    "truncate": "last", "count_tokens": False,
}
#: Parameters a recipe leaves to its caller: where and how it runs, and how the caller's table
#: is laid out — none changes what the model learns.
PINNED_ELSEWHERE = ("device", "kernel", "random_state", "verbose", "train_split", "tokenizer",
                    "stay", "time", "time_unit", "feature", "value", "categorical")
TOKENIZER_KEYS = ("window", "horizon", "max_tokens", "scaling", "clip", "truncate",
                  "count_tokens")
#: keys of the configuration that shape the voting ensemble, not a model
ENSEMBLE_KEYS = ("combine", "n_jobs")


def _network_probabilities(networks: list[MedFuseClassifier], X: EventSet):
    """The probabilities of each network of the MedFuse module, whether it was fitted whole or
    in parts (a DataFrame, one column per network, ``f"{fusion}{i}"``), or None for a single
    network."""
    import pandas as pd
    import torch

    columns: dict[str, np.ndarray] = {}
    for clf in networks:
        fusions = getattr(clf.module_, "fusions", (clf.fusion,))
        logits = clf.forward(clf.get_dataset(clf.transform_tokens(X)))
        probabilities = torch.sigmoid(logits).reshape(len(X), -1).numpy()
        for fusion, column in zip(fusions, probabilities.T):
            columns[f"{fusion}{len(columns)}"] = column
    return pd.DataFrame(columns) if len(columns) > 1 else None


def _split_config(config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], tuple, int]:
    """(tokenizer parameters, classifier parameters, ``combine`` as a tuple of names, n_jobs)."""
    tokenizer = {k: v for k, v in config.items() if k in TOKENIZER_KEYS}
    model = {k: v for k, v in config.items() if k not in TOKENIZER_KEYS + ENSEMBLE_KEYS}
    given = config.get("combine")
    combine = () if given is None else tuple(given) if isinstance(given, (list, tuple)) \
        else (given,)
    unknown = [name for name in combine if name not in COMBINE]
    if unknown or len(set(combine)) < len(combine):
        raise ValueError(f"combine must be None or distinct names among {COMBINE}, got "
                         f"{given!r}")
    n_jobs = config.get("n_jobs", 1)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive integer, got {n_jobs!r}")
    return tokenizer, model, combine, n_jobs


def make_p12_model(config: dict[str, Any] | None = None, seed: int = 0, verbose: int = 1,
                   cohort: str = "p12"):
    """The model ``medfuse p12`` fits: :data:`RECOMMENDED` with ``config``'s overrides.

    ``cohort`` names the registered cohort it is for: on ``p12`` GRU-D takes P12's grid
    (:data:`P12_GRUD`), on any other its channels are inferred from the fitting stays.

    A :class:`MedFuseClassifier` that tokenizes with the configuration's tokenizer
    parameters, or, with ``combine`` or ``n_jobs`` above 1, a soft-voting ensemble of it
    (named ``"medfuse"``; with ``n_jobs`` cut into as many parts, ``"medfuse"``,
    ``"medfuse2"``, ..., weighted by their share of the networks) and the members
    :data:`COMBINE` describes, fitted ``n_jobs`` at a time. Either takes an :class:`EventSet`.
    """
    tokenizer_params, model_params, combine, n_jobs = _split_config(
        {**RECOMMENDED, **(config or {})})
    clf = MedFuseClassifier(tokenizer=EventTokenizer(**tokenizer_params), random_state=seed,
                            verbose=verbose, **model_params)
    n_parts = min(n_jobs, clf._n_members()) if clf.n_models == 1 else 1
    if not combine and n_parts == 1:
        return clf
    from ..ensemble import make_voting, split_networks

    parts = split_networks("medfuse", clf, n_parts)
    for _, part, _ in parts[1:]:  # one epoch table on screen, not two interleaved
        part.set_params(verbose=0)
    members = [(name, part) for name, part, _ in parts]
    for name in combine:
        members.append((name, _member(name, tokenizer_params, model_params, seed, verbose,
                                      cohort)))
    weights = None if n_parts == 1 else [w for *_, w in parts] + [1.0] * len(combine)
    return make_voting(members, weights=weights, n_jobs=n_jobs if n_jobs > 1 else None,
                       verbose=bool(verbose))


def _member(name: str, tokenizer_params: dict, model_params: dict, seed: int, verbose: int,
            cohort: str = "p12"):
    hint = ("; or leave it out: medfuse p12 --set combine=None (the MedFuse module alone) or "
            "another tuple of COMBINE's names")
    if name == "concat":
        return MedFuseClassifier(tokenizer=EventTokenizer(**tokenizer_params),
                                 random_state=seed, verbose=verbose,
                                 **{**model_params, **CONCAT_MEMBER})
    try:
        if name == "xgboost":
            return create_model("xgboost", random_state=seed)
        if cohort != "p12":  # channels inferred from the fitting stays
            return create_model("grud", random_state=seed)
        from ..datasets.physionet2012 import TIME_SERIES

        return create_model("grud", random_state=seed, series=list(TIME_SERIES), **P12_GRUD)
    except ImportError as error:
        raise ImportError(f"{error}{hint}") from error


def _voting_probabilities(model, X, members):
    """``members`` with a column per other voting member (their probabilities on ``X``)."""
    import pandas as pd

    voting = unwrap(model).members
    if not voting:
        return members
    columns = {name: estimator.predict_proba(X)[:, 1] for name, estimator in voting}
    voted = pd.DataFrame(columns)
    return voted if members is None else pd.concat([members, voted], axis=1)


def _release_workers() -> int:
    """Stop joblib's worker processes (their memory goes back) and return the largest peak
    resident memory (MB) of any child process of this one, the workers included."""
    import resource

    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)
    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024)


def _networks(model) -> list[MedFuseClassifier]:
    """The MedFuse module's fitted classifiers: itself, or its parts in the voting ensemble."""
    voting = unwrap(model).members
    if not voting:
        return [model]
    return [estimator for name, estimator in voting
            if re.fullmatch(r"medfuse\d*", name)]  # split_networks' names


def run_p12(
    data_dir: str | os.PathLike | None = None,
    *,
    eval_split: str = "val",
    config: dict[str, Any] | None = None,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    verbose: int = 1,
    n_bootstrap: int = 1000,
    cohort: str = "p12",
) -> dict[str, Any]:
    """Fit :func:`make_p12_model` on the fitting splits, score ``eval_split``; write results.

    Parameters
    ----------
    data_dir : the cohort's data folder (for P12 the PhysioNet 2012 release, see
        ``load_physionet2012``; None: its environment variable, else the download cache)
    eval_split : {"val", "test"}
        ``"val"``: fit on train; ``"test"``: fit on train + val. Either way the scored split
        touches no choice: the network trains for its fixed epochs (or, with a
        ``valid_size``, stops on a stratified share of the fitting stays) and XGBoost picks
        its number of trees on a stratified 10 % of them.
    config : overrides of :data:`RECOMMENDED` (tokenizer and classifier parameters, ``combine``)
    seed : random_state of the models
    cohort : str, default "p12"
        A registered cohort (``medfuse_sk.datasets.available_cohorts()``) with ``train``,
        ``val`` and ``test`` splits; the recipe's settings were chosen on P12.
    out : folder for ``metrics.json``, ``predictions.csv``, ``curves.png`` and, for an
        ensemble, ``members.csv``: the probabilities of each network of the MedFuse module
        and of each voting member (``medfuse`` is the module's average)

    Returns
    -------
    dict with the metrics, configuration, seed, timings, peak memory and machine.
    """

    from ..datasets import load_cohort

    if eval_split not in ("val", "test"):
        raise ValueError(f"eval_split must be 'val' or 'test', got {eval_split!r}")
    config = {**RECOMMENDED, **(config or {})}
    model = make_p12_model(config, seed=seed, verbose=verbose, cohort=cohort)
    started = time.perf_counter()

    # the scored split first: a release without it fails before any work
    scored = load_cohort(cohort, split=eval_split, data_dir=data_dir, progress=bool(verbose))
    fitted_on = ["train"] if eval_split == "val" else ["train", "val"]
    fitting = load_cohort(cohort, split=fitted_on, data_dir=data_dir, progress=bool(verbose))
    X = fitting.to_event_set()
    labels = fitting.labels
    X_scored = scored.to_event_set()
    prepared = time.perf_counter()

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*max_tokens.*")
        warnings.filterwarnings("ignore", message=".*horizon.*")
        model.fit(X, labels.loc[X.stay_ids].to_numpy())
        trained = time.perf_counter()
        in_workers = not isinstance(model, MedFuseClassifier) and model.n_jobs
        workers_mb = _release_workers() if in_workers else None
        networks = _networks(model)
        members = _network_probabilities(networks, X_scored)
        members = _voting_probabilities(model, X_scored, members)
    history = networks[0].history_  # the parts train alike: the first one's epochs
    # without a validation split (valid_size=0) the last epoch is the model
    scores = history[:, "valid_auprc"] if "valid_auprc" in history[-1] else None
    info = {
        "config": config, "cohort": cohort, "seed": seed, "fitted_on": fitted_on,
        "n_fitted": int(len(X)),
        "epochs_run": len(history),
        "best_epoch": len(history) if scores is None else int(np.argmax(scores)) + 1,
        "best_valid_auprc": None if scores is None else float(np.max(scores)),
        "epoch_seconds_median": float(np.median(history[:, "dur"])),
        "train_seconds": round(trained - prepared, 1),
        **machine_info(),
    }
    if workers_mb is not None:  # the members were fitted in worker processes
        info["peak_rss_worker_mb"] = workers_mb
    if members is not None:  # each network of the ensemble, scored on its own
        from sklearn.metrics import average_precision_score, roc_auc_score

        y_scored = scored.labels.loc[X_scored.stay_ids].to_numpy()
        info["members"] = {
            name: {"auprc": float(average_precision_score(y_scored, p)),
                   "auroc": float(roc_auc_score(y_scored, p))} for name, p in members.items()}
        if out is not None:
            Path(out).mkdir(parents=True, exist_ok=True)
            members.insert(0, "stay_id", X_scored.stay_ids)
            members.to_csv(Path(out) / "members.csv", index=False)
    info["wall_seconds"] = round(time.perf_counter() - started, 1)  # scoring excluded
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        return evaluate(model, X_scored, scored.labels, split=eval_split, out=out, info=info,
                        title=f"MedFuse, {eval_split}", n_bootstrap=n_bootstrap,
                        random_state=seed)
