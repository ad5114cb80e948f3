"""The ``medfuse`` command, one module per command group.

- ``fit``, ``predict``, ``evaluate`` (``_train.py``): a registered model on your own tables;
- ``explain`` (``_explain.py``): attributions and figures for a model folder's predictions;
- ``demo``, ``p12`` (``_recipes.py``): the bundled sample, the P12 benchmark protocol.

What they share (``_common.py``): the column options, ``--set`` / ``--config``, progress lines
and one-line errors. Every command reads tables with :mod:`medfuse_sk.io`'s one reader and
loads only safe model folders (``explain`` opens a pickle only with ``--allow-pickle``).
A user error ends in one line, ``medfuse COMMAND: error: ...``, exit status 2 (``--debug``
shows the traceback). ``fit`` under ``torchrun --nproc_per_node N -m medfuse_sk.cli`` trains
data-parallel (:mod:`medfuse_sk.distributed`).
"""

from __future__ import annotations

import argparse
import os
import sys

from ._common import CommandError, parse_setting

__all__ = ["CommandError", "build_parser", "main", "parse_setting"]


def build_parser() -> argparse.ArgumentParser:
    """The ``medfuse`` argument parser with every command."""
    from ._benchmark import add_parser as add_benchmark
    from ._explain import add_parser as add_explain
    from ._recipes import add_parsers as add_recipes
    from ._train import add_parsers as add_train

    parser = argparse.ArgumentParser(
        prog="medfuse", description="MedFuse for irregular clinical time series: train on your "
        "own event tables, predict, evaluate, explain; the P12 benchmark and a demo.",
        epilog="Data-parallel training: torchrun --nproc_per_node N -m medfuse_sk.cli fit ... "
               "(docs/scaling.md).")
    sub = parser.add_subparsers(dest="command", required=True)
    add_recipes(sub)
    add_train(sub)
    add_explain(sub)
    add_benchmark(sub)
    return parser


def _user_errors() -> tuple[type[BaseException], ...]:
    """Errors that are the input's fault: reported in one line."""
    from ..io import ModelFileError, TableError

    # ValueError: a bad parameter value, named by the estimator's validation; FileNotFoundError:
    # data not found (named by the loader); ImportError: an optional dependency not installed
    return (CommandError, TableError, ModelFileError, ValueError, FileNotFoundError, ImportError)


def main(argv: list[str] | None = None) -> int:
    """Run ``medfuse`` with ``argv`` (default: the process's arguments); returns the exit status."""
    from ..utils import keep_freed_memory_for_reuse

    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parser.parse_args(argv)
    args.argv = argv  # the command as typed, for the files that record how they were made
    keep_freed_memory_for_reuse()
    try:
        return args.func(args)
    except BrokenPipeError:  # the reader of stdout stopped early (`... --out - | head`)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 0
    except _user_errors() as exc:
        if getattr(args, "debug", False):
            raise
        message = " ".join(str(exc).split("\n"))
        parser.exit(2, f"medfuse {args.command}: error: {message}\n")
