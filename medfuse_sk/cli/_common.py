"""What every command shares: its one-line errors, the input and column options, ``--set`` /
``--config`` parsing and checking, progress lines, and loading a model folder."""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..data import TIME_UNITS
from ..io import COLUMN_ROLES, DEFAULT_COLUMNS

__all__ = ["CommandError", "parse_setting", "add_columns", "add_common", "add_settings", "say",
           "read_config", "check_keys", "column_names", "time_unit", "remembered_categorical",
           "load_model_folder", "add_cohort", "load_named_cohort", "Input", "add_input",
           "load_input", "MEDS_READING_FILE", "read_meds_reading", "save_meds_reading"]


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


def _read_with(model: Any) -> Any:
    """The first estimator of ``model`` that remembers how its events were read
    (``input_columns_``, ``input_time_unit_``: the aggregate step of a Pipeline), or None."""
    from ..utils import find_estimators

    found = find_estimators(model, lambda est: hasattr(est, "input_columns_"))
    return found[0][1] if found else None


def column_names(args: argparse.Namespace, model: Any = None) -> dict[str, str]:
    """Column names: the options given, else those ``model`` was fitted with, else defaults."""
    holder = _column_holder(model) if model is not None else None
    read = (_read_with(model) if holder is None and model is not None else None)
    remembered = getattr(read, "input_columns_", None) or {}
    return {role: getattr(args, role, None) or getattr(holder, role, None)
            or remembered.get(role) or DEFAULT_COLUMNS[role] for role in COLUMN_ROLES}


def time_unit(args: argparse.Namespace, model: Any = None) -> str:
    """The unit of numeric times: ``--time-unit``, else the one ``model`` was fitted with
    (its first estimator that has a ``time_unit``), else hours."""
    from ..utils import find_estimators

    found = [] if model is None else find_estimators(model, lambda est: hasattr(est, "time_unit"))
    read = None if model is None or found else _read_with(model)
    return (getattr(args, "time_unit", None) or (found[0][1].time_unit if found else None)
            or getattr(read, "input_time_unit_", None) or "h")


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
        found += list(getattr(est, "classes_by_feature_", None) or ())  # per-stay aggregates
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
    """The cohort of ``--cohort``/``--split``/``--data`` (or of ``--meds``/``--task``, on a
    parser :func:`add_input` filled: a ``MEDSCohort``), or None when the command reads files;
    checks that exactly one input was given (``files``: the positional file arguments)."""
    if getattr(args, "meds", None) is not None or getattr(args, "task", None) is not None:
        _check_input_choice(args, tuple(files))
        return _read_meds(args, args.split, None)
    given = [f for f in files if getattr(args, f, None) is not None]
    if args.cohort is not None and getattr(args, "time_unit", None) is not None:
        raise CommandError(f"--cohort {args.cohort} reads its own events, timed in hours; leave "
                           f"out --time-unit {args.time_unit}")
    if args.cohort is None:
        missing = [f.upper() for f in files if getattr(args, f, None) is None]
        if missing:
            meds = "--meds DIR --task DIR, " if hasattr(args, "meds") else ""
            raise CommandError(f"give {' '.join(f.upper() for f in files)} files, {meds}or "
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


# --------------------------------------------------------------------------------------------
# the input of every command that reads data: EVENTS [LABELS] | --meds DIR --task DIR | --cohort
# --------------------------------------------------------------------------------------------

#: The file in a model folder that holds how ``fit`` read a MEDS dataset (options and the
#: fitted vocabulary), so that ``predict`` and ``evaluate`` read another split the same way.
MEDS_READING_FILE = "meds.json"
_MEDS_OPTIONS = ("lookback", "exclude", "min_count", "max_features", "dask")
#: Seconds ``--dask`` waits for its scheduler to answer.
DASK_TIMEOUT = 20.0


@dataclass
class Input:
    """What :func:`load_input` read.

    Attributes
    ----------
    X : EventSet
        The stays' events (for ``--meds``: one stay per subject and prediction time).
    labels : pandas.Series or None
        0/1 by stay id, in the order of ``X.stay_ids`` (None when the command reads no labels).
    source : str
        Where the data came from, for progress lines and reports.
    kind : {"files", "cohort", "meds"}
    cohort : Cohort or None
        The loaded cohort for ``--cohort`` and ``--meds`` (a ``MEDSCohort``: its ``samples``
        are the label rows that MEDS predictions repeat); None for files.
    split : str or list of str or None
        The split(s) read (``--split``), None for files.
    """

    X: Any
    labels: Any
    source: str
    kind: str
    cohort: Any = None
    split: Any = None

    @property
    def meds_reading(self) -> dict[str, Any] | None:
        """For ``--meds``: the reading options and the fitted vocabulary (plain JSON), which
        :func:`save_meds_reading` keeps in a model folder; else None."""
        if self.kind != "meds":
            return None
        from ..datasets.meds import meds_options

        return meds_options(self.cohort)


def add_input(parser: argparse.ArgumentParser, *, split: str, labels: bool = True,
              positionals: bool = True) -> None:
    """Add the input options of every command that reads data (INTERFACES.md): ``EVENTS
    [LABELS]`` positionals, or ``--meds DIR --task DIR`` (a MEDS dataset and a task, with
    ``--lookback``, ``--exclude``, ``--min-count``, ``--max-features``, ``--read-jobs``,
    ``--dask ADDRESS``), or
    ``--cohort NAME`` (``--data DIR``); ``--split NAME`` for the last two; and the column
    options (``--stay --time --feature --value [--label] --time-unit --categorical``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The command's parser.
    split : str
        The default ``--split`` (``train`` for commands that fit, ``val`` for those that score;
        with ``--meds`` it means ``tuning``, ``test`` means ``held_out``).
    labels : bool, default True
        Whether the command reads labels (a ``LABELS`` positional and ``--label``).
    positionals : bool, default True
        Add the ``EVENTS`` (and ``LABELS``) positionals; False when the command adds its own
        (they must be named ``events`` and ``labels``).

    Read the input with :func:`load_input`.
    """
    if positionals:
        parser.add_argument("events", nargs="?", help="long event table (.csv[.gz] or .parquet): "
                                                      "stay, time, feature, value")
        if labels:
            parser.add_argument("labels", nargs="?", help="label table (.csv or .parquet): stay, "
                                                          "label")
    add_cohort(parser, split=split)
    group = parser.add_argument_group(
        "a MEDS dataset and task instead of files (docs/meds.md)")
    group.add_argument("--meds", default=None, metavar="DIR",
                       help="a MEDS dataset folder (data/**/*.parquet, metadata/); with --task")
    group.add_argument("--task", default=None, metavar="DIR",
                       help="the task's label folder (**/*.parquet: subject_id, prediction_time, "
                            "boolean_value); one sample per subject and prediction time")
    group.add_argument("--lookback", type=float, default=None, metavar="HOURS",
                       help="read events from this many hours before each prediction time "
                            "(default: the subject's whole past; a model folder remembers its own)")
    group.add_argument("--exclude", nargs="*", default=None, metavar="PATTERN",
                       help="regular expressions of codes to leave out (default: ^MEDS_DEATH "
                            "DISCHARGE, which give mortality labels away; --exclude alone keeps "
                            "every code)")
    group.add_argument("--min-count", type=int, default=None, metavar="N",
                       help="codes seen fewer times in the training split go to <unknown> "
                            "(default 1)")
    group.add_argument("--max-features", type=int, default=None, metavar="N",
                       help="keep the N most frequent codes of the training split (default all)")
    group.add_argument("--read-jobs", type=int, default=1, metavar="N",
                       help="processes preparing the MEDS shards (default 1)")
    group.add_argument("--dask", default=None, metavar="ADDRESS",
                       help="prepare the MEDS shards on this Dask cluster instead: its "
                            "scheduler's address (e.g. tcp://10.0.0.5:8786); its workers need "
                            "medfuse-sk and the dataset's folder at the same path")
    add_columns(parser, labels=labels)


def _check_input_choice(args: argparse.Namespace, files: tuple[str, ...]) -> str:
    """Which input was given (``files``, ``cohort`` or ``meds``), checking that it is one."""
    given_files = [getattr(args, f) for f in files if getattr(args, f, None) is not None]
    meds, task = getattr(args, "meds", None), getattr(args, "task", None)
    meds_options = [f"--{o.replace('_', '-')}" for o in _MEDS_OPTIONS
                    if getattr(args, o, None) is not None]
    if meds is not None or task is not None:
        if meds is None or task is None:
            raise CommandError("--meds DIR and --task DIR go together (the MEDS dataset and the "
                               f"task's label folder); missing: {'--task' if task is None else '--meds'}")
        if args.cohort is not None:
            raise CommandError(f"give --meds/--task or --cohort {args.cohort}, not both")
        if given_files:
            raise CommandError(f"--meds reads its own events and labels; leave out the file(s) "
                               f"{' '.join(map(str, given_files))}")
        columns = [f"--{o.replace('_', '-')}" for o in (*COLUMN_ROLES, "time_unit", "categorical")
                   if getattr(args, o, None) is not None]
        if columns:
            raise CommandError(f"--meds reads the MEDS columns (subject_id, time, code, "
                               f"numeric_value, text_value); leave out {' '.join(columns)}")
        return "meds"
    if meds_options:
        raise CommandError(f"{' '.join(meds_options)} apply to --meds DIR --task DIR only")
    if args.cohort is not None:
        return "cohort"
    return "files"


def _meds_kwargs(args: argparse.Namespace, reading: dict[str, Any] | None) -> dict[str, Any]:
    """load_meds's options: those of the model folder (``reading``), which options given on
    the command line must agree with, else those of the command line."""
    given = {"lookback": args.lookback, "exclude": args.exclude, "min_count": args.min_count,
             "max_features": args.max_features}
    if reading is None:
        kwargs = {k: v for k, v in given.items() if v is not None}
        label = getattr(args, "label", None)
        if label is not None:
            kwargs["label"] = label
        return kwargs
    from ..datasets.meds import MEDSVocabulary

    vocabulary = MEDSVocabulary.from_dict(reading["vocabulary"])
    stored = {"lookback": reading.get("lookback_hours"), "exclude": reading.get("exclude"),
              "min_count": vocabulary.min_count, "max_features": vocabulary.max_features}
    for key, value in given.items():
        if value is not None and value != stored[key]:
            option = f"--{key.replace('_', '-')}"
            shown = " ".join(value) if isinstance(value, list) else value
            was = stored[key] if not isinstance(stored[key], list) else " ".join(stored[key])
            raise CommandError(f"{option} {shown}: the model was fitted on MEDS data read with "
                               f"{option} {was}; leave the option out (the model folder's "
                               f"{MEDS_READING_FILE} is used)")
    return {"lookback": stored["lookback"], "exclude": stored["exclude"], "vocabulary": vocabulary,
            "label": reading.get("label"), "sample_ids": reading.get("sample_ids", "auto")}


def _read_meds(args: argparse.Namespace, split: Any, reading: dict[str, Any] | None):
    """``load_meds`` with the command's options (``reading``: a model folder's): the shards
    prepared here (``--read-jobs`` processes) or on the Dask cluster of ``--dask``."""
    from ..datasets.meds import load_meds

    kwargs = _meds_kwargs(args, reading)
    address = getattr(args, "dask", None)
    jobs = getattr(args, "read_jobs", 1)
    if address is None:
        return load_meds(args.meds, args.task, split=split, n_jobs=jobs, **kwargs)
    if jobs != 1:
        raise CommandError(f"--read-jobs {jobs} and --dask {address}: the cluster's workers "
                           "prepare the shards; leave out --read-jobs")
    with _dask_client(address) as client:
        workers = len(client.scheduler_info().get("workers", {}))
        say(args, f"preparing the MEDS shards on the Dask cluster at {address} "
                  f"({workers} worker{'s' * (workers != 1)})")
        return load_meds(args.meds, args.task, split=split, client=client, **kwargs)


def _dask_client(address: str):
    """A ``distributed.Client`` of the scheduler at ``address`` (not made the default one)."""
    from ..utils import install_hint

    try:
        from distributed import Client
    except ImportError as exc:
        raise CommandError(f"--dask needs the dask.distributed package: "
                           f"{install_hint('dask')}") from exc
    try:
        return Client(address, timeout=DASK_TIMEOUT, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise CommandError(f"--dask {address}: no Dask scheduler answered there within "
                           f"{DASK_TIMEOUT:g} s ({' '.join(str(exc).split())}); give the address "
                           "`dask scheduler` prints (tcp://HOST:8786)") from exc


def read_meds_reading(model_dir: str | Path | None) -> dict[str, Any] | None:
    """The MEDS reading a model folder keeps (:data:`MEDS_READING_FILE`), or None."""
    if model_dir is None:
        return None
    path = Path(model_dir) / MEDS_READING_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise CommandError(f"model {model_dir}: {MEDS_READING_FILE} cannot be read ({exc})") from exc


def save_meds_reading(model_dir: str | Path, data: Input) -> None:
    """Keep how ``data`` (``--meds``) was read in the model folder, for ``predict``/``evaluate``."""
    reading = data.meds_reading
    if reading is not None:
        (Path(model_dir) / MEDS_READING_FILE).write_text(json.dumps(reading, indent=1))


def load_input(args: argparse.Namespace, *, labelled: bool = True, model: Any = None,
               model_dir: str | Path | None = None, split: Any = None) -> Input:
    """Read the input :func:`add_input` added: the files, the MEDS dataset and task, or the
    registered cohort — exactly one of them, else a one-line :class:`CommandError`.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed options of a parser :func:`add_input` filled.
    labelled : bool, default True
        Whether labels are read (files: the ``LABELS`` positional is then required).
    model : fitted model, optional
        For files: the column names, time unit and categorical features it was fitted with are
        the defaults.
    model_dir : str or path, optional
        A model folder: for ``--meds``, its ``meds.json`` (written by ``medfuse fit --meds``)
        gives the look-back, the excluded codes and the fitted vocabulary, so another split is
        read as the training split was.
    split : str or list of str, optional
        The split(s) to read instead of ``--split`` (``--cohort`` and ``--meds``), e.g.
        ``["train", "test"]`` for a command that trains and scores in one run.

    Returns
    -------
    Input
        ``X`` (EventSet), ``labels`` (or None), ``source``, ``kind`` (``files``, ``cohort``,
        ``meds``), ``cohort`` (the Cohort or MEDSCohort) and ``split``.
    """
    from ..io import read_events, read_labels

    files = ("events", "labels") if labelled else ("events",)
    kind = _check_input_choice(args, files)
    split = args.split if split is None else split
    if kind == "meds":
        cohort = _read_meds(args, split, read_meds_reading(model_dir))
        shown = split if isinstance(split, str) else "+".join(split)
        return Input(cohort.to_event_set(), cohort.labels if labelled else None,
                     f"MEDS {args.meds}, task {args.task} ({shown})", "meds", cohort, split)
    if kind == "cohort":
        cohort = load_named_cohort(argparse.Namespace(**{**vars(args), "split": split}), files)
        shown = split if isinstance(split, str) else "+".join(split)
        return Input(cohort.to_event_set(), cohort.labels if labelled else None,
                     f"{args.cohort} ({shown})", "cohort", cohort, split)
    load_named_cohort(args, files)  # the files are given, one-line errors otherwise
    labels = None
    if labelled:
        labels = read_labels(args.labels, column_names(args, model)["stay"], args.label)
    X = read_events(args.events, column_names(args, model), time_unit=time_unit(args, model),
                    categorical=args.categorical,
                    fitted_categorical=remembered_categorical(model) if model is not None else None,
                    stays=None if labels is None else labels.index)
    return Input(X, None if labels is None else labels.loc[X.stay_ids], str(args.events),
                 "files")
