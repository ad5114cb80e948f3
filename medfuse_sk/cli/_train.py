"""``medfuse fit``, ``medfuse predict``, ``medfuse evaluate``: a model on the user's tables.

Each reads a long event table and a label file, or a registered cohort instead
(``--cohort p12 --split train``).

- ``medfuse fit EVENTS LABELS [--model NAME] [--set KEY=VALUE ...] --out DIR``: train any
  registered model (default ``medfuse``) and write a safe model folder
  (:func:`medfuse_sk.io.save_model`).
- ``medfuse predict DIR EVENTS --out risk.csv``: one risk per stay.
- ``medfuse evaluate DIR EVENTS LABELS [--out DIR]``: AUPRC / AUROC / accuracy with bootstrap
  intervals, predictions and PR/ROC curves (:func:`medfuse_sk.evaluation.evaluate`).

``fit`` under ``torchrun --nproc_per_node N`` trains the ``medfuse`` model data-parallel
(:mod:`medfuse_sk.distributed`); only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

from ._common import (
    COLUMN_ROLES,
    CommandError,
    add_cohort,
    add_columns,
    add_common,
    add_settings,
    check_keys,
    column_names,
    load_model_folder,
    load_named_cohort,
    read_config,
    remembered_categorical,
    say,
    time_unit,
)

__all__ = ["add_parsers", "fit", "predict", "evaluate"]

#: The registry name of the model ``medfuse fit`` trains without ``--model``.
DEFAULT_MODEL = "medfuse"
#: Parameters set through their own options, not ``--set``.
_OWN_OPTIONS = (*COLUMN_ROLES, "time_unit", "categorical", "tokenizer")


def _several_processes() -> bool:
    """Whether this is one process of a data-parallel launch (torchrun sets WORLD_SIZE)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _registered(name: str) -> Any:
    from ..models import create_model, get_model

    try:
        get_model(name)
    except KeyError as exc:
        raise CommandError(f"--model: {exc.args[0]}") from exc
    try:
        return create_model(name)
    except ImportError as exc:
        raise CommandError(f"--model {name}: {exc}") from exc


def _configuration(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tokenizer parameters, model parameters) from --config and --set, every key checked
    against the chosen model's parameters (and the tokenizer's, for a model that takes one)
    before any data are read."""
    from ..data import EventTokenizer

    config, source = read_config(args)
    for key in config:
        if key in _OWN_OPTIONS and key != "tokenizer":
            raise CommandError(f"{source[key]}: {key} has its own option: --"
                               f"{key.replace('_', '-')} ...")
    default = _registered(args.model)
    params = {k for k in default.get_params(deep=False)
              if not k.startswith("_") and k not in _OWN_OPTIONS}
    groups = {f"the {args.model} model's parameters": params}
    tokenizer_keys: set[str] = set()
    if "tokenizer" in default.get_params(deep=False):
        tokenizer_keys = set(EventTokenizer().get_params(deep=False))
        groups["its tokenizer's"] = tokenizer_keys
    check_keys(config, source, groups)
    tokenizer = {k: v for k, v in config.items() if k in tokenizer_keys and k not in params}
    return tokenizer, {k: v for k, v in config.items() if k not in tokenizer}


def _build(args: argparse.Namespace, tokenizer_params: dict[str, Any],
           params: dict[str, Any]) -> Any:
    """The chosen registered model with the command's columns, seed and settings."""
    from ..data import EventTokenizer
    from ..distributed import DataParallelMixin
    from ..models import create_model
    from ..utils import find_estimators

    name = args.model
    if _several_processes() and name == DEFAULT_MODEL:
        name = "medfuse_distributed"
    accepted = set(_registered(name).get_params(deep=False))
    given = {"random_state": args.seed, "verbose": 0 if args.quiet else 1,
             **{role: column for role, column in column_names(args).items()},
             "time_unit": time_unit(args), "categorical": args.categorical}
    kwargs = {k: v for k, v in given.items() if k in accepted}
    if "tokenizer" in accepted:
        kwargs["tokenizer"] = EventTokenizer(**tokenizer_params)
    model = create_model(name, **{**kwargs, **params})
    # the estimators inside an ensemble or a Pipeline that read long tables remember the
    # columns and the time unit given, so that predict reads a table as fit did
    explicit = {k: getattr(args, k) for k in (*COLUMN_ROLES, "time_unit", "categorical")
                if getattr(args, k, None) is not None}
    for _, est in find_estimators(model, lambda e: e is not model and hasattr(e, "time_unit")):
        own = est.get_params(deep=False)
        est.set_params(**{k: v for k, v in explicit.items() if k in own})
    if _several_processes() and not isinstance(model, DataParallelMixin):
        raise CommandError(f"--model {args.model} does not train data-parallel; launch it in "
                           "one process (the medfuse model does)")
    return model


def fit(args: argparse.Namespace) -> int:
    """Train a registered model on your events and labels; write a safe model folder."""
    from ..distributed import is_main_process
    from ..io import ModelFileError, check_saveable, read_events, read_labels, save_model
    from ..utils import find_estimators

    tokenizer_params, params = _configuration(args)
    model = _build(args, tokenizer_params, params)
    for _, part in find_estimators(model, lambda est: hasattr(est, "check_params")):
        part.check_params()  # values too are checked before any data are read
    try:
        check_saveable(model)
    except ModelFileError as exc:
        raise CommandError(f"--model {args.model}: cannot be written as a model folder: "
                           f"{exc}") from exc
    columns = column_names(args)
    started = time.perf_counter()
    cohort = load_named_cohort(args, ("events", "labels"))
    if cohort is not None:
        X, labels = cohort.to_event_set(), cohort.labels
        source = f"{args.cohort} ({args.split})"
    else:
        labels = read_labels(args.labels, columns["stay"], args.label)
        X = read_events(args.events, columns, time_unit=time_unit(args),
                        categorical=args.categorical, stays=labels.index)
        source = args.events
    say(args, f"{source}: {len(labels)} labelled stays, {int(labels.sum())} positive, "
              f"{X.n_rows} events of {len(X.feature_names)} features "
              f"({time.perf_counter() - started:.0f} s)")
    progress = args.progress and is_main_process() and "callbacks" in model.get_params(deep=False)
    if progress:
        from skorch.callbacks import ProgressBar

        model.set_params(callbacks=[("progress", ProgressBar())])
    several = _several_processes()
    say(args, f"training {type(model).__name__} ({'data-parallel' if several else 'one process'})")
    model.fit(X, labels.loc[X.stay_ids])
    if progress:
        model.set_params(callbacks=None)  # the progress bar only matters during training
    summary: dict[str, Any] = {}
    history = getattr(model, "history_", None)
    if history is not None and len(history):
        summary = {"epochs": len(history), "train_seconds": round(sum(history[:, "dur"]), 1)}
        if "valid_auprc" in history[-1]:
            summary["best_valid_auprc"] = round(max(history[:, "valid_auprc"]), 4)
    try:
        save_model(model, args.out)
    except ModelFileError as exc:
        raise CommandError(f"--out {args.out}: {exc}") from exc
    say(args, f"wrote {args.out}/model.json and model.safetensors ({summary})")
    return 0


def _scored(args: argparse.Namespace, model: Any, labelled: bool):
    """(events, labels or None, where they came from) of the files or of ``--cohort``."""
    from ..io import read_events, read_labels

    files = ("events", "labels") if labelled else ("events",)
    cohort = load_named_cohort(args, files)
    if cohort is not None:
        return cohort.to_event_set(), cohort.labels, f"{args.cohort} ({args.split})"
    labels = None
    if labelled:
        labels = read_labels(args.labels, column_names(args, model)["stay"], args.label)
    X = read_events(args.events, column_names(args, model), time_unit=time_unit(args, model),
                    categorical=args.categorical, fitted_categorical=remembered_categorical(model),
                    stays=None if labels is None else labels.index)
    return X, labels, args.events


def predict(args: argparse.Namespace) -> int:
    """Risk per stay of EVENTS from a model folder."""
    import pandas as pd

    model = load_model_folder(args.model)
    X, _, source = _scored(args, model, labelled=False)
    say(args, f"{source}: scoring {len(X)} stays")
    risk = pd.Series(model.predict_proba(X)[:, 1], index=pd.Index(
        X.stay_ids, name=column_names(args, model)["stay"]), name="risk")
    if args.out == "-":
        risk.to_csv(sys.stdout)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        risk.to_csv(args.out)
        say(args, f"wrote {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Metrics with bootstrap intervals (and, with --out, predictions and curves)."""
    from ..evaluation import evaluate as evaluate_model

    model = load_model_folder(args.model)
    X, labels, source = _scored(args, model, labelled=True)
    say(args, f"{source}: scoring {len(X)} stays, {args.n_bootstrap} bootstrap resamples")
    split = args.split if args.cohort else Path(args.events).name
    result = evaluate_model(model, X, labels, split=split, out=args.out,
                            info={"model": str(args.model), "events": str(source),
                                  "labels": str(args.labels or source)},
                            n_bootstrap=args.n_bootstrap, random_state=args.seed)
    print(f"{result['n_stays']} stays ({result['n_positive']} positive)")
    for name in ("auprc", "auroc", "accuracy"):
        m = result[name]
        print(f"  {name.upper():<9} {m['value']:.3f}  ({result['confidence']:.0%} CI "
              f"{m['ci_low']:.3f}–{m['ci_high']:.3f})")
    if args.out:
        say(args, f"wrote {args.out}/metrics.json, predictions.csv, curves.png")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``fit``, ``predict`` and ``evaluate`` on ``sub`` (argparse subparsers)."""
    p = sub.add_parser("fit", help="train on your events and labels, write a model folder",
                       description=fit.__doc__)
    p.add_argument("events", nargs="?", help="long event table (.csv[.gz] or .parquet): stay, "
                                             "time, feature, value")
    p.add_argument("labels", nargs="?", help="label table (.csv or .parquet): stay, label")
    p.add_argument("--out", required=True, help="model folder to write")
    add_cohort(p, split="train")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"registered model to train (default {DEFAULT_MODEL}; also e.g. "
                        "medfuse_paper, random_forest, grud; an unknown name lists them)")
    add_columns(p, labels=True)
    add_settings(p, "--set max_epochs=10 --set window=2.0")
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument("--progress", action="store_true", help="a progress bar over each epoch's "
                                                           "batches")
    add_common(p, quiet="no epoch table, no progress lines")
    p.set_defaults(func=fit)

    p = sub.add_parser("predict", help="risk per stay from a model folder",
                       description=predict.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("events", nargs="?", help="long event table (.csv[.gz] or .parquet)")
    p.add_argument("--out", required=True, help="CSV to write (stay, risk); - for stdout")
    add_cohort(p, split="val")
    add_columns(p, labels=False)
    add_common(p)
    p.set_defaults(func=predict)

    p = sub.add_parser("evaluate", help="metrics with bootstrap intervals, predictions, curves",
                       description=evaluate.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("events", nargs="?", help="long event table (.csv[.gz] or .parquet)")
    p.add_argument("labels", nargs="?", help="label table (.csv or .parquet)")
    p.add_argument("--out", default=None, help="folder for metrics.json, predictions.csv, "
                                               "curves.png")
    add_cohort(p, split="val")
    add_columns(p, labels=True)
    p.add_argument("--n-bootstrap", type=int, default=1000,
                   help="bootstrap resamples of the intervals (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    add_common(p)
    p.set_defaults(func=evaluate)
