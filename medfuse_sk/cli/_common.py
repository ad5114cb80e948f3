"""What every command shares: its one-line errors, the input and column options, ``--set`` /
``--config`` parsing and checking, progress lines, and loading a model folder."""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..data import TIME_UNITS
from ..io import COLUMN_ROLES, DEFAULT_COLUMNS

__all__ = ["CommandError", "parse_setting", "add_columns", "add_common", "add_settings", "say",
           "read_config", "check_keys", "column_names", "time_unit", "remembered_categorical",
           "load_model_folder", "add_cohort", "load_named_cohort"]


class CommandError(Exception):
    """A user error the command reports in one line (no traceback)."""


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` of ``--set``: the value as a Python literal, else as a bare word."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word such as mufuse
    return key.strip(), value


def add_common(parser: argparse.ArgumentParser, *, quiet: str = "no progress lines") -> None:
    """``--quiet`` and ``--debug``, which every command takes."""
    parser.add_argument("--quiet", action="store_true", help=quiet)
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the Python traceback instead of one line")


def add_columns(parser: argparse.ArgumentParser, labels: bool) -> None:
    """The column options every command that reads an events file takes."""
    group = parser.add_argument_group("columns (default: stay_id, time, feature, value; for a "
                                      "saved model, the names it was fitted with)")
    for role in COLUMN_ROLES:
        group.add_argument(f"--{role}", default=None, metavar="NAME",
                           help=f"{role} column of the events"
                           + (" and labels" if role == "stay" and labels else ""))
    group.add_argument("--time-unit", default=None, choices=TIME_UNITS,
                       help="unit of numeric times: h (hours, the default), min, s or d; they "
                            "are converted to hours, so window and horizon are always hours; "
                            "datetimes need none; a saved model remembers its own")
    if labels:
        group.add_argument("--label", default=None, metavar="NAME",
                           help="label column (0/1) of the labels file (default: its only other "
                                "column)")
    group.add_argument("--categorical", nargs="+", default=None, metavar="FEATURE",
                       help="features whose values are classes (default: inferred; a saved "
                            "model remembers its own)")


def add_settings(parser: argparse.ArgumentParser, example: str) -> None:
    """``--config`` and ``--set``."""
    parser.add_argument("--config", default=None, metavar="JSON",
                        help="JSON file holding one object of parameter: value")
    parser.add_argument("--set", type=parse_setting, action="append", metavar="KEY=VALUE",
                        help=f"one parameter, e.g. {example} (after --config)")


def say(args: argparse.Namespace, message: str) -> None:
    """Progress on stderr (stdout stays for results); silent with --quiet and off rank 0."""
    from ..distributed import is_main_process

    if not getattr(args, "quiet", False) and is_main_process():
        print(f"[medfuse {args.command}] {message}", file=sys.stderr, flush=True)


def read_config(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, str]]:
    """The settings of ``--config`` then ``--set``, and where each key came from."""
    config: dict[str, Any] = {}
    source: dict[str, str] = {}
    if getattr(args, "config", None):
        try:
            loaded = json.loads(Path(args.config).read_text())
        except OSError as exc:
            raise CommandError(f"config file {args.config}: cannot be read ({exc})") from exc
        except json.JSONDecodeError as exc:
            raise CommandError(f"config file {args.config}: not valid JSON ({exc})") from exc
        if not isinstance(loaded, dict):
            raise CommandError(f"config file {args.config}: must hold one JSON object of "
                               "parameter: value")
        config.update(loaded)
        source.update(dict.fromkeys(loaded, f"config file {args.config}"))
    for key, value in args.set or []:
        config[key] = value
        source[key] = "--set"
    return config, source


def check_keys(config: Mapping[str, Any], source: Mapping[str, str],
               groups: Mapping[str, Iterable[str]]) -> None:
    """Every key of ``config`` is one of ``groups`` (a title → its keys); else an error naming
    the closest known key."""
    known = {title: sorted(keys) for title, keys in groups.items()}
    every = sorted({k for keys in known.values() for k in keys})
    for key in config:
        if key in every:
            continue
        close = difflib.get_close_matches(key, every, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        listing = "; ".join(f"{title}: {', '.join(keys)}" for title, keys in known.items())
        raise CommandError(f"{source.get(key, '--set')}: unknown parameter {key!r}{hint} "
                           f"({listing})")


def _column_holder(model: Any) -> Any:
    """The estimator of ``model`` that holds the column parameters, or None."""
    from ..utils import find_estimators

    found = find_estimators(model, lambda est: all(hasattr(est, r) for r in COLUMN_ROLES))
    return found[0][1] if found else None


def column_names(args: argparse.Namespace, model: Any = None) -> dict[str, str]:
    """Column names: the options given, else those ``model`` was fitted with, else defaults."""
    holder = _column_holder(model) if model is not None else None
    return {role: getattr(args, role, None) or getattr(holder, role, None) or DEFAULT_COLUMNS[role]
            for role in COLUMN_ROLES}


def time_unit(args: argparse.Namespace, model: Any = None) -> str:
    """The unit of numeric times: ``--time-unit``, else the one ``model`` was fitted with
    (its first estimator that has a ``time_unit``), else hours."""
    from ..utils import find_estimators

    found = [] if model is None else find_estimators(model, lambda est: hasattr(est, "time_unit"))
    return (getattr(args, "time_unit", None) or (found[0][1].time_unit if found else None)
            or "h")


def remembered_categorical(model: Any) -> list[Any]:
    """The categorical features a fitted model knows: its ``categorical`` parameters and its
    fitted tokenizers' ``categorical_features_``."""
    from ..utils import unwrap

    parts = unwrap(model)
    found: list[Any] = []
    for est in [parts.final, *(s for _, s in parts.steps), *(m for _, m in parts.members)]:
        for tokenizer in (est, getattr(est, "tokenizer_", None)):
            found += list(getattr(tokenizer, "categorical_features_", None) or ())
        found += list(getattr(est, "categorical", None) or ())
    return list(dict.fromkeys(found))


def load_model_folder(path: str) -> Any:
    """A safe model folder (:func:`medfuse_sk.io.load_model`); a model trained on a GPU comes
    onto the CPU when this machine has none."""
    import torch

    from ..io import ModelFileError, load_model

    try:
        return load_model(path, device=None if torch.cuda.is_available() else "cpu")
    except ModelFileError as exc:
        raise CommandError(f"model {path}: {exc}") from exc


def add_cohort(parser: argparse.ArgumentParser, split: str) -> None:
    """``--cohort NAME --split NAME --data DIR``: a registered cohort in place of the files."""
    group = parser.add_argument_group("a registered cohort instead of files")
    group.add_argument("--cohort", default=None, metavar="NAME",
                       help="read a registered cohort (p12, p19, ...) instead of EVENTS and "
                            "LABELS files")
    group.add_argument("--split", default=split, metavar="NAME",
                       help=f"the cohort's split (default {split}; train, val, test, or the "
                            "MEDS words tuning, held_out)")
    group.add_argument("--data", default=None, metavar="DIR",
                       help="the cohort's data folder (default: its environment variable, "
                            "else the download cache)")


def load_named_cohort(args: argparse.Namespace, files: Iterable[str]):
    """The cohort of ``--cohort``/``--split``/``--data``, or None when the command reads files;
    checks that exactly one of the two was given (``files``: the positional file arguments)."""
    given = [f for f in files if getattr(args, f, None) is not None]
    if args.cohort is not None and getattr(args, "time_unit", None) is not None:
        raise CommandError(f"--cohort {args.cohort} reads its own events, timed in hours; leave "
                           f"out --time-unit {args.time_unit}")
    if args.cohort is None:
        missing = [f.upper() for f in files if getattr(args, f, None) is None]
        if missing:
            raise CommandError(f"give {' '.join(f.upper() for f in files)} files, or "
                               f"--cohort NAME (missing: {' '.join(missing)})")
        return None
    if given:
        raise CommandError(f"--cohort {args.cohort} reads its own events and labels; leave out "
                           f"the file(s) {' '.join(getattr(args, f) for f in given)}")
    from ..datasets import load_cohort

    try:
        return load_cohort(args.cohort, split=args.split, data_dir=args.data)
    except KeyError as exc:
        raise CommandError(f"--cohort: {exc.args[0]}") from exc
