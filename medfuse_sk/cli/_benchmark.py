"""``medfuse benchmark``: registered models ranked on one cohort under one protocol.

``medfuse benchmark INPUT --models NAME ... | all --seeds 0 1 2 [--subgroups FEATURE ...]
--out DIR``, INPUT as on every command (``_common.add_input``): ``EVENTS LABELS`` (split once
here, stratified, with ``--split-seed``), ``--meds DIR --task DIR`` or ``--cohort NAME``
(trained on the ``train`` split, scored on ``--split``, ``val`` — MEDS ``tuning`` — by
default; MEDS predictions are also written in meds-evaluation's format). What it fits and
writes: :mod:`medfuse_sk.benchmark`; docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from typing import Any

from ._common import CommandError, add_common, add_input, load_input, parse_setting, say

__all__ = ["add_parser", "benchmark"]

_TRAIN_SPLIT = "train"


def _source(args: argparse.Namespace) -> dict[str, Any]:
    """What the input is, before it is read (which models apply depends on it)."""
    if getattr(args, "meds", None) is not None:
        return {"source": "meds", "name": f"MEDS {args.meds}, task {args.task}"}
    if args.cohort is not None:
        return {"source": "cohort", "name": args.cohort}
    return {"source": "files", "name": str(args.events)}


def _data(args: argparse.Namespace) -> Any:
    """The training and scored stays: a cohort's (or MEDS dataset's) train split and
    ``--split``, or the files split here."""
    import numpy as np

    from ..benchmark import BenchmarkData
    from ..datasets import SPLIT_ALIASES

    description = _source(args)
    if description["source"] == "files":
        if args.split != "val":
            raise CommandError(f"--split {args.split} applies to --cohort and --meds; EVENTS and "
                               "LABELS are split here (--test-size, --split-seed)")
        data = load_input(args)
        return BenchmarkData.from_split(
            data.X, data.labels, test_size=args.test_size, random_state=args.split_seed,
            description={**description, "labels": str(args.labels)})
    scored = SPLIT_ALIASES.get(args.split, args.split)  # the library's words: val, test
    if scored == _TRAIN_SPLIT:
        raise CommandError(f"--split {args.split}: the models train on {_TRAIN_SPLIT}; score "
                           "another split (val, or test where you hold it)")
    data = load_input(args, split=[_TRAIN_SPLIT, args.split])
    cohort = data.cohort
    if cohort.stay_split is None:
        raise CommandError(f"{data.source}: the loader gave no split per stay; the benchmark "
                           "needs the training and scored stays apart")
    part = cohort.stay_split.loc[data.X.stay_ids].map(lambda s: SPLIT_ALIASES.get(s, s))
    train = np.flatnonzero(part.to_numpy() == _TRAIN_SPLIT)
    held = np.flatnonzero(part.to_numpy() == scored)
    report = {k: v for k, v in cohort.report.items() if isinstance(v, (int, float, str, bool))}
    description.update(train_split=_TRAIN_SPLIT, eval_split=args.split, report=report)
    samples = getattr(cohort, "samples", None)  # MEDS: the label rows predictions repeat
    meds = samples.loc[data.X.stay_ids[held]] if samples is not None else None
    return BenchmarkData(data.X[train], data.labels, data.X[held], data.labels, description,
                         meds_labels=meds)


def parse_pin(text: str) -> tuple[str, str, Any]:
    """``NAME:KEY=VALUE`` of the benchmark's ``--set``: a parameter of one model."""
    name, sep, setting = text.partition(":")
    if not sep or not name.strip() or "=" not in setting:
        raise argparse.ArgumentTypeError(f"expected MODEL:KEY=VALUE (e.g. mtan:max_epochs=12), "
                                         f"got {text!r}")
    return (name.strip(), *parse_setting(setting))


def _pins(args: argparse.Namespace, models: list[str]) -> dict[str, dict[str, Any]]:
    pinned: dict[str, dict[str, Any]] = {}
    for name, key, value in args.set or []:
        if name not in models:
            raise CommandError(f"--set {name}:{key}={value!r}: {name} is not among the models "
                               f"this run fits ({', '.join(models)})")
        pinned.setdefault(name, {})[key] = value
    return pinned


def benchmark(args: argparse.Namespace) -> int:
    """Fit registered models under one protocol; write tables, tests, subgroups, figures."""
    from ..benchmark import MAX_SETTINGS, run_benchmark, select_models

    if args.jobs < 0 or args.threads < 1:
        raise CommandError(f"--jobs {args.jobs} --threads {args.threads}: jobs must be 0 or more "
                           "(0: in this process), threads 1 or more")
    if not 0 <= args.max_settings <= MAX_SETTINGS:
        raise CommandError(f"--max-settings {args.max_settings}: the tuning budget is the "
                           f"defaults plus 0 to {MAX_SETTINGS} settings")
    try:
        models, skipped = select_models(args.models, _source(args))
    except KeyError as exc:
        raise CommandError(f"--models: {exc.args[0]}") from exc
    except ValueError as exc:
        raise CommandError(f"--models: {exc}") from exc
    if not models:
        reasons = "; ".join(f"{k}: {v}" for k, v in skipped.items())
        raise CommandError("--models all: no registered model applies to these data and has "
                           f"its dependencies installed ({reasons})")
    pinned = _pins(args, models)
    for name, reason in skipped.items():
        say(args, f"left out {name}: {reason}")
    started = time.perf_counter()
    data = _data(args)
    summary = data.summary()
    say(args, f"{data.description['name']}: {summary['train']['stays']} training stays "
              f"({summary['train']['positive']} positive), {summary['eval']['stays']} scored "
              f"({summary['eval']['positive']} positive) ({time.perf_counter() - started:.0f} s)")
    result = run_benchmark(
        data, models, args.out, seeds=args.seeds, subgroups=args.subgroups or (),
        max_settings=args.max_settings, inner_valid=args.inner_valid,
        n_bootstrap=args.n_bootstrap, jobs=max(args.jobs, 1), threads=args.threads,
        in_process=args.jobs == 0,
        retry_failed=args.retry_failed, time_limit=args.time_limit, pinned=pinned,
        skipped=skipped,
        command=shlex.join(["medfuse", *getattr(args, "argv", sys.argv[1:])]),
        progress=lambda line: say(args, line))
    print((result.out / "table.md").read_text(), end="")
    return 0


def add_parser(sub: Any) -> None:
    """Register ``benchmark`` on ``sub`` (argparse subparsers)."""
    p = sub.add_parser(
        "benchmark", help="rank registered models on one cohort: metrics with intervals, "
                          "paired tests, calibration, subgroups, time, memory",
        description=benchmark.__doc__ + " Models train on the training split (a cohort's "
        "train; for EVENTS LABELS, a stratified share) and are scored on --split; each gets its "
        "defaults plus at most 8 settings of its grid, chosen on an inner validation share of "
        "the training stays. Rerunning with the same --out resumes: finished fits are not "
        "repeated. docs/benchmark.md explains every file.")
    add_input(p, split="val")
    p.add_argument("--models", nargs="+", required=True, metavar="NAME",
                   help="registered models (xgboost, random_forest, medfuse, grud, ...), or all: "
                        "every registered model that applies to the data and is installed")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], metavar="SEED",
                   help="random_state of each fit (default 0 1 2); the first also draws the "
                        "inner validation share and seeds the tuning")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="the benchmark's folder; an earlier run's folder is resumed")
    p.add_argument("--subgroups", nargs="+", default=None, metavar="FEATURE",
                   help="static features to report groups of (e.g. Gender Age; sex finds "
                        "Gender); numbers with more than 5 values are cut into quartiles")
    p.add_argument("--max-settings", type=int, default=8, metavar="N",
                   help="grid settings tried besides each model's defaults (0 to 8, default 8; "
                        "0 fits the defaults only)")
    p.add_argument("--inner-valid", type=float, default=0.2, metavar="SHARE",
                   help="share of the training stays the tuning scores on (default 0.2)")
    p.add_argument("--test-size", type=float, default=0.2, metavar="SHARE",
                   help="EVENTS LABELS only: share of the stays scored (default 0.2)")
    p.add_argument("--split-seed", type=int, default=0, metavar="SEED",
                   help="EVENTS LABELS only: seed of the stratified split (default 0)")
    p.add_argument("--n-bootstrap", type=int, default=1000, metavar="N",
                   help="bootstrap resamples of the scored stays (default 1000)")
    p.add_argument("--jobs", type=int, default=2, metavar="N",
                   help="worker processes fitting side by side (default 2: one per core on 2 "
                        "cores); 0 fits in this process, one after another, without thread "
                        "limits (for debugging)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="threads of each worker (default 1)")
    p.add_argument("--retry-failed", action="store_true",
                   help="fit again what an earlier run of this --out recorded as failed")
    p.add_argument("--time-limit", type=float, default=None, metavar="SECONDS",
                   help="seconds one fit (with its prediction) may take; a fit past it is "
                        "reported as failed in the table and the rest go on (default: none)")
    p.add_argument("--set", type=parse_pin, action="append", metavar="MODEL:KEY=VALUE",
                   help="a parameter set on every fit of one model, its defaults and each grid "
                        "setting (e.g. mtan:max_epochs=12: a smaller budget where a model's "
                        "published settings cost too much); recorded in protocol.json")
    add_common(p)
    p.set_defaults(func=benchmark)
