"""``medfuse fit``, ``medfuse predict``, ``medfuse evaluate``: a model on the user's tables.

Each reads a long event table and a label file, a MEDS dataset and task (``--meds DIR --task
DIR``), or a registered cohort (``--cohort p12 --split train``): :func:`._common.add_input`.

- ``medfuse fit EVENTS LABELS [--model NAME] [--set KEY=VALUE ...] --out DIR``: train any
  registered model (default ``medfuse``) and write a safe model folder
  (:func:`medfuse_sk.io.save_model`). ``--set`` names a parameter of the model — of a
  Pipeline or an ensemble (``xgboost``, ``random_forest``, ``medfuse_recommended``, ...): of its
  factory or of an estimator inside, which its factory passes it to — checked before any data
  are read; ``--seed`` reaches every ``random_state`` inside (a model without one says so).
- ``medfuse predict DIR EVENTS --out risk.csv``: one risk per stay; with ``--meds DIR --task
  DIR --split held_out --out predictions.parquet``, meds-evaluation's format (the label columns,
  ``predicted_boolean_value``, ``predicted_boolean_probability``).
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._common import (
    COLUMN_ROLES,
    MEDS_READING_FILE,
    CommandError,
    add_common,
    add_input,
    add_settings,
    check_keys,
    column_names,
    load_input,
    load_model_folder,
    read_config,
    save_meds_reading,
    say,
    time_unit,
)

__all__ = ["add_parsers", "fit", "predict", "evaluate"]

#: The registry name of the model ``medfuse fit`` trains without ``--model``.
DEFAULT_MODEL = "medfuse"
#: The seed of ``medfuse fit`` without ``--seed``.
DEFAULT_SEED = 0
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


def _composite(model: Any) -> bool:
    """A Pipeline or a voting/stacking ensemble: its factory passes keywords on to the
    estimators inside, so its own parameters are not what ``--set`` names."""
    from sklearn.ensemble import StackingClassifier, VotingClassifier
    from sklearn.pipeline import Pipeline

    return isinstance(model, (Pipeline, VotingClassifier, StackingClassifier))


@dataclass
class _Keywords:
    """How the keywords of ``--set``, ``--seed`` and the column options reach a registered
    model: by its factory (``create_model(name, **keywords)``).

    ``direct``: the keywords the model takes for sure — a plain estimator's own parameters
    (its factory builds it from them), else the names its factory's signature spells out;
    ``passes_on``: whether a composite model's factory takes other keywords too (``**params``,
    which it hands to the estimators inside); ``groups``: title → the keys ``--set`` may name
    (the factory's, then those of each estimator inside, by their own short names);
    ``tokenizer``: the EventTokenizer keys of a model whose ``tokenizer`` parameter the
    command builds.
    """

    direct: set[str]
    passes_on: bool
    groups: dict[str, set[str]]
    tokenizer: set[str]


def _keywords(name: str, default: Any) -> _Keywords:
    """What ``--set`` may name for the registered model ``name`` (``default``: as its factory
    builds it without keywords)."""
    import inspect

    from ..data import EventTokenizer
    from ..models import get_model
    from ..utils import find_estimators

    def settable(keys: Any) -> set[str]:
        return {k for k in keys if not k.startswith("_") and k not in _OWN_OPTIONS}

    own = default.get_params(deep=False)
    if not _composite(default):
        groups = {f"the {name} model's parameters": settable(own)}
        tokenizer: set[str] = set()
        if "tokenizer" in own:
            tokenizer = set(EventTokenizer().get_params(deep=False))
            groups["its tokenizer's"] = tokenizer
        return _Keywords(set(own), False, groups, tokenizer)
    try:
        signature = inspect.signature(get_model(name).factory).parameters.values()
    except (TypeError, ValueError):  # a factory without a signature: it may take anything
        signature = []
    named = {p.name for p in signature
             if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)}
    passes_on = not signature or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in signature)
    groups = {f"the {name} model's": settable(named)}
    inside = find_estimators(default, lambda est: not _composite(est))
    for path, est in inside:
        keys = settable(k.rsplit("__", 1)[-1] for k in est.get_params(deep=True))
        if keys:
            where = f" {path[:-1]}" if path else ""
            groups[f"its{where} ({type(est).__name__})"] = keys
    return _Keywords(named, passes_on, groups, set())


def _configuration(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tokenizer parameters, model parameters) from --config and --set, every key checked
    against the chosen model's parameters (and the tokenizer's, for a model that takes one;
    for a Pipeline or an ensemble, those of its factory and of the estimators inside) before
    any data are read."""
    config, source = read_config(args)
    for key in config:
        if key in _OWN_OPTIONS and key != "tokenizer":
            raise CommandError(f"{source[key]}: {key} has its own option: --"
                               f"{key.replace('_', '-')} ...")
    keywords = _keywords(args.model, _registered(args.model))
    check_keys(config, source, keywords.groups)
    model_keys = set().union(*(keys for title, keys in keywords.groups.items()
                               if title != "its tokenizer's"))
    tokenizer = {k: v for k, v in config.items() if k in keywords.tokenizer and k not in model_keys}
    return tokenizer, {k: v for k, v in config.items() if k not in tokenizer}


def _same(a: Any, b: Any) -> bool:
    """Whether a parameter holds the value given (a factory may turn a list into a tuple)."""
    if a is b:
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    try:
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):  # True is 1, 2 is 2.0
            return a == b
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):  # arrays and other values without one truth value
        return False


def _holders(model: Any, key: str) -> dict[str, Any]:
    """``model.get_params(deep=True)``'s entries that are the parameter ``key`` of the model
    or of an estimator inside it (``key`` itself or ``...__key``)."""
    return {k: v for k, v in model.get_params(deep=True).items()
            if k == key or k.endswith(f"__{key}")}


def _same_settings(a: Any, b: Any) -> bool:
    """Whether two models hold the same parameters, estimators inside compared by theirs."""
    from sklearn.base import BaseEstimator

    def plain(model: Any) -> dict[str, Any]:
        def holds_estimator(value: Any) -> bool:
            if isinstance(value, (list, tuple)):
                return any(holds_estimator(v) for v in value)
            return isinstance(value, BaseEstimator)

        return {k: v for k, v in model.get_params(deep=True).items() if not holds_estimator(v)}

    pa, pb = plain(a), plain(b)
    return pa.keys() == pb.keys() and all(_same(pa[k], pb[k]) for k in pa)


def _build(args: argparse.Namespace, tokenizer_params: dict[str, Any],
           params: dict[str, Any]) -> Any:
    """The chosen registered model with the command's columns, seed and settings, built by its
    factory; a setting that reaches no estimator of the model is an error, a seed that reaches
    none a note (nothing given is silently ignored)."""
    from ..data import EventTokenizer
    from ..distributed import DataParallelMixin
    from ..models import create_model
    from ..utils import find_estimators

    name = args.model
    if _several_processes() and name == DEFAULT_MODEL:
        name = "medfuse_distributed"
    default = _registered(name)
    keywords = _keywords(name, default)
    seed = DEFAULT_SEED if args.seed is None else args.seed
    given = {"random_state": seed, "verbose": 0 if args.quiet else 1,
             **{role: column for role, column in column_names(args).items()},
             "time_unit": time_unit(args), "categorical": args.categorical}
    kwargs = {k: v for k, v in given.items() if k in keywords.direct}
    if keywords.tokenizer:  # the model's own tokenizer (a recipe's), under the keys given
        own = default.get_params(deep=False)["tokenizer"]
        base = (own.get_params(deep=False) if isinstance(own, EventTokenizer)
                else dict(getattr(default, "tokenizer_defaults", {})))
        kwargs["tokenizer"] = EventTokenizer(**{**base, **tokenizer_params})
    refused = [k for k in params if k not in keywords.direct and not keywords.passes_on]
    if refused:
        raise CommandError(f"--set {refused[0]}: the {args.model} model's factory does not take "
                           f"it (it takes {', '.join(sorted(keywords.direct)) or 'nothing'})")
    try:
        model = create_model(name, **{**kwargs, **params})
    except TypeError as exc:  # a keyword the factory handed to an estimator that has no such
        raise CommandError(f"--set: the {args.model} model cannot take "
                           f"{', '.join(f'{k}={v!r}' for k, v in params.items())}: {exc}") from exc
    for key, value in params.items():
        if any(_same(v, value) for v in _holders(model, key).values()):
            continue  # an estimator inside holds the value given
        # or the factory turned it into something else (a recipe's n_jobs=1: no parallel
        # parts): the model differs from the one built without it
        without = create_model(name, **kwargs, **{k: v for k, v in params.items() if k != key})
        if not _same_settings(model, without):
            continue
        raise CommandError(f"--set {key}={value!r}: the {args.model} model's factory did not "
                           "pass it to any estimator inside the model; set it through the "
                           "parameter of the estimator that holds it")
    if "random_state" not in params:
        seeds = _holders(model, "random_state")
        if not any(_same(v, seed) for v in seeds.values()):
            if seeds:  # a factory that does not take the seed: every estimator inside gets it
                model.set_params(**dict.fromkeys(seeds, seed))
            elif args.seed is not None:
                print(f"[medfuse {args.command}] --seed {args.seed}: the {args.model} model has "
                      "no random_state; the seed is not used", file=sys.stderr, flush=True)
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
    from ..io import ModelFileError, check_saveable, save_model
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
    started = time.perf_counter()
    data = load_input(args)
    X, labels = data.X, data.labels
    say(args, f"{data.source}: {len(labels)} labelled stays, {int(labels.sum())} positive, "
              f"{X.n_rows} events of {len(X.feature_names)} features "
              f"({time.perf_counter() - started:.0f} s)")
    if data.kind == "meds" and data.cohort.report["n_samples_without_events"]:
        say(args, f"{data.cohort.report['n_samples_without_events']} samples have no events up "
                  "to their prediction time (kept)")
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
    save_meds_reading(args.out, data)
    extra = f" and {MEDS_READING_FILE}" if data.kind == "meds" else ""
    say(args, f"wrote {args.out}/model.json, model.safetensors{extra} ({summary})")
    return 0


def _scored(args: argparse.Namespace, model: Any, labelled: bool):
    """The input to score (files, ``--meds`` read as the model was fitted, or ``--cohort``)."""
    return load_input(args, labelled=labelled, model=model, model_dir=args.model)


def predict(args: argparse.Namespace) -> int:
    """Risk per stay of EVENTS from a model folder."""
    import pandas as pd

    model = load_model_folder(args.model)
    meds_out = args.meds is not None or args.task is not None
    if meds_out and (args.out == "-" or not args.out.endswith(".parquet")):
        raise CommandError(f"--out {args.out}: predictions on MEDS data are written in "
                           "meds-evaluation's format, a parquet file: --out FILE.parquet")
    data = _scored(args, model, labelled=False)
    X = data.X
    say(args, f"{data.source}: scoring {len(X)} stays")
    probability = model.predict_proba(X)[:, 1]
    if data.kind == "meds":
        from ..datasets.meds import write_predictions

        write_predictions(data.cohort, probability, args.out, threshold=args.threshold)
        say(args, f"wrote {args.out} ({len(X)} predictions, meds-evaluation's format)")
        return 0
    risk = pd.Series(probability, index=pd.Index(
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
    data = _scored(args, model, labelled=True)
    X, labels, source = data.X, data.labels, data.source
    say(args, f"{source}: scoring {len(X)} stays, {args.n_bootstrap} bootstrap resamples")
    split = args.split if data.kind != "files" else Path(args.events).name
    info = {"model": str(args.model), "events": str(source), "labels": str(args.labels or source)}
    if data.kind != "meds":
        result = evaluate_model(model, X, labels, split=split, out=args.out, info=info,
                                n_bootstrap=args.n_bootstrap, random_state=args.seed)
    else:  # the same path, keeping the probabilities for meds-evaluation's file
        from ..datasets.meds import write_predictions
        from ..evaluation import metrics_result, score, write_evaluation
        from ..utils import unwrap

        stay_ids, y_true, proba = score(model, X, labels)
        result = metrics_result(y_true, proba, split=split, info=info,
                                n_bootstrap=args.n_bootstrap, random_state=args.seed)
        if args.out:
            name = type(unwrap(model).final).__name__
            write_evaluation(args.out, result, stay_ids, y_true, proba, title=f"{name}, {split}")
            write_predictions(data.cohort, proba, Path(args.out) / "meds_predictions.parquet")
    print(f"{result['n_stays']} stays ({result['n_positive']} positive)")
    for name in ("auprc", "auroc", "accuracy"):
        m = result[name]
        print(f"  {name.upper():<9} {m['value']:.3f}  ({result['confidence']:.0%} CI "
              f"{m['ci_low']:.3f}–{m['ci_high']:.3f})")
    if args.out:
        extra = ", meds_predictions.parquet" if data.kind == "meds" else ""
        say(args, f"wrote {args.out}/metrics.json, predictions.csv, curves.png{extra}")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``fit``, ``predict`` and ``evaluate`` on ``sub`` (argparse subparsers)."""
    p = sub.add_parser("fit", help="train on your events and labels, write a model folder",
                       description=fit.__doc__)
    p.add_argument("--out", required=True, help="model folder to write")
    add_input(p, split="train")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME",
                   help=f"registered model to train (default {DEFAULT_MODEL}; also e.g. "
                        "medfuse_paper, random_forest, grud; an unknown name lists them)")
    add_settings(p, "--set max_epochs=10 --set window=2.0")
    p.add_argument("--seed", type=int, default=None,
                   help=f"random_state of the model and of the estimators inside it (a "
                        f"Pipeline's steps, an ensemble's members; default {DEFAULT_SEED})")
    p.add_argument("--progress", action="store_true", help="a progress bar over each epoch's "
                                                           "batches")
    add_common(p, quiet="no epoch table, no progress lines")
    p.set_defaults(func=fit)

    p = sub.add_parser("predict", help="risk per stay from a model folder",
                       description=predict.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("--out", required=True, help="CSV to write (stay, risk); - for stdout; with "
                                                "--meds a parquet file in meds-evaluation's format")
    p.add_argument("--threshold", type=float, default=0.5,
                   help="with --meds: predicted_boolean_value is probability >= this (default 0.5)")
    add_input(p, split="val", labels=False)
    add_common(p)
    p.set_defaults(func=predict)

    p = sub.add_parser("evaluate", help="metrics with bootstrap intervals, predictions, curves",
                       description=evaluate.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("--out", default=None, help="folder for metrics.json, predictions.csv, "
                                               "curves.png (with --meds also "
                                               "meds_predictions.parquet)")
    add_input(p, split="val")
    p.add_argument("--n-bootstrap", type=int, default=1000,
                   help="bootstrap resamples of the intervals (default 1000)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    add_common(p)
    p.set_defaults(func=evaluate)
