"""``medfuse explain``: attributions (CSV) and figures (PNG) for a saved model's stays.

``medfuse explain MODEL_DIR EVENTS --out DIR`` explains the stays of the events file with the
model folder (read like ``predict`` reads it: the same column options, the model's own column
names and categorical features by default). ``medfuse explain --sample --out DIR`` trains a
quick model on the bundled sample's training stays and explains its held-out stays.

A model folder is safe to load. A pickle is opened only with ``--allow-pickle``: loading a
pickle runs code from it, so only open pickles you wrote yourself.
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
import warnings
from pathlib import Path
from typing import Any

from ._common import (
    CommandError,
    add_columns,
    add_common,
    column_names,
    load_model_folder,
    remembered_categorical,
    time_unit,
)

__all__ = ["add_parser", "command", "load_model_file"]

_FEATURES = ("K", "Na", "Lactate")
_DESCRIPTION = """\
Attributions (CSV) and figures (PNG) for a saved model's predictions.

With MODEL_DIR and EVENTS it explains the stays of the events file with the model folder,
reading the file as `medfuse predict` does (same column options; by default the column names
and categorical features the model was fitted with). With --sample it trains a quick model on
the bundled sample's training stays and explains its held-out stays.

A model folder is safe to load. A pickle is opened only with --allow-pickle: loading a pickle
runs code from it, so only open pickles you wrote yourself."""


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``explain`` subcommand on ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("explain", help="attribute predictions to measurements: CSV and figures",
                       description=_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       usage="medfuse explain MODEL_DIR EVENTS --out DIR [options]\n"
                             "       medfuse explain --sample --out DIR [options]")
    p.add_argument("model", nargs="?", default=None, metavar="MODEL_DIR",
                   help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("events", nargs="?", default=None, metavar="EVENTS",
                   help="long event table (.csv[.gz] or .parquet)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--sample", action="store_true",
                   help="no model or events: train a quick model on the bundled sample's "
                        "training stays and explain its held-out stays")
    p.add_argument("--allow-pickle", action="store_true",
                   help="MODEL_DIR may be a pickle file; loading one runs code from it, so "
                        "only for files you wrote yourself")
    add_columns(p, labels=False)
    p.add_argument("--max-stays", type=int, default=None, metavar="N",
                   help="explain only the first N stays of the events file")
    p.add_argument("--plot", type=int, default=4, metavar="N",
                   help="timeline figures for the N highest-risk stays (default 4)")
    p.add_argument("--plot-stay", action="append", default=[], dest="plot_stays", metavar="ID",
                   help="also draw this stay's timeline (repeatable)")
    p.add_argument("--features", nargs="*", default=list(_FEATURES), metavar="FEATURE",
                   help="features for the value figures (default: K Na Lactate)")
    p.add_argument("--baseline", choices=("center", "zero"), default="center",
                   help="the reference input of the attributions (default center)")
    p.add_argument("--n-steps", type=int, default=8,
                   help="integration steps of the first pass (default 8)")
    p.add_argument("--epochs", type=int, default=10,
                   help="training epochs of the --sample model (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --sample model (default 0)")
    add_common(p, quiet="no progress lines")
    p.set_defaults(func=command)
    return p


def load_model_file(path: str | Path, *, allow_pickle: bool = False) -> Any:
    """A fitted model from ``path``: a model folder (safe), or with ``allow_pickle`` a pickle.

    Without ``allow_pickle`` a path that is not a folder is refused before it is opened.
    """
    path = Path(path)
    if not path.exists():
        raise CommandError(f"model {path}: not found")
    if path.is_dir():
        return load_model_folder(str(path))
    if not allow_pickle:
        raise CommandError(f"model {path}: not a model folder; a pickle runs code when loaded, "
                           "so it is opened only with --allow-pickle (for files you trust)")
    print(f"medfuse explain: warning: loading the pickle {path} runs code from it; only open "
          "files you trust", file=sys.stderr)
    with open(path, "rb") as fh:
        return pickle.load(fh)


def _sample_model(epochs: int, seed: int):
    from ..data import EventTokenizer
    from ..datasets import load_sample
    from ..models import MedFuseClassifier

    train, held_out = load_sample("train"), load_sample("val")
    X = train.to_event_set()
    # every epoch is trained: on 1,000 stays a 10 % validation split is too noisy to stop on
    clf = MedFuseClassifier(max_epochs=epochs, random_state=seed, verbose=0, valid_size=0,
                            tokenizer=EventTokenizer(window=2.0, horizon=48.0))
    print(f"training a quick model on the bundled sample ({len(train)} stays, {epochs} epochs)")
    clf.fit(X, train.labels.loc[X.stay_ids])
    return clf, held_out.to_event_set()


def _stay_id(text: str):
    try:
        return int(text)
    except ValueError:
        return text


def command(args: argparse.Namespace) -> int:
    """Run ``medfuse explain``; returns the exit status."""
    import numpy as np

    from ..inspection import (
        explain,
        feature_response,
        plot_attribution_vs_value,
        plot_feature_responses,
        plot_importance,
        plot_stay,
        stay_summary,
    )
    from ..io import read_events

    if args.sample and (args.model or args.events):
        raise CommandError("--sample trains its own model on the bundled sample: give it no "
                           "MODEL_DIR or EVENTS")
    if not args.sample and not (args.model and args.events):
        raise CommandError("give MODEL_DIR and EVENTS (or --sample for a quick model on the "
                           "bundled sample)")
    out = Path(args.out)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        if args.sample:
            model, X = _sample_model(args.epochs, args.seed)
        else:
            model = load_model_file(args.model, allow_pickle=args.allow_pickle)
            X = read_events(args.events, column_names(args, model),
                            time_unit=time_unit(args, model), categorical=args.categorical,
                            fitted_categorical=remembered_categorical(model))
        if args.max_stays is not None:
            X = X.take(np.arange(min(args.max_stays, len(X))))
        started = time.perf_counter()
        table = explain(model, X, baseline=args.baseline, n_steps=args.n_steps)
    seconds = time.perf_counter() - started
    stays = stay_summary(table)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "attributions.csv", index=False)
    stays.to_csv(out / "stays.csv")
    written = ["attributions.csv", "stays.csv"]

    fig = plot_importance(table, out / "importance.png")
    import matplotlib.pyplot as plt  # after the first figure chose a non-interactive backend

    plt.close(fig)
    written.append("importance.png")
    chosen = list(stays["risk"].sort_values(ascending=False).index[:args.plot])
    chosen += [s for s in map(_stay_id, args.plot_stays) if s not in chosen]
    for stay in chosen:
        fig = plot_stay(table, stay, out / f"stay_{stay}.png")
        plt.close(fig)
        written.append(f"stay_{stay}.png")
    features = [f for f in args.features if (table["feature"] == f).any()]
    if features:
        fig = plot_attribution_vs_value(table, features, out / "attribution_vs_value.png")
        plt.close(fig)
        written.append("attribution_vs_value.png")
        responses, levels = {}, {}
        for f in features:
            measured = table.loc[table["feature"] == f, "value"].to_numpy(dtype=float)
            lo, mid, hi = np.nanpercentile(measured, [2.5, 50, 97.5])
            grid = np.linspace(*np.nanpercentile(measured, [0.5, 99.5]), 121)
            responses[f] = [feature_response(model, f, grid)]
            levels[f] = (lo, mid, hi)
        fig = plot_feature_responses(responses, levels, out / "feature_response.png")
        plt.close(fig)
        written.append("feature_response.png")
    summary = {
        "n_stays": int(len(stays)), "n_tokens": int(len(table)), "seconds": round(seconds, 2),
        "baseline": args.baseline, "max_abs_delta": float(np.abs(stays["delta"]).max()),
        "n_steps_max": int(stays["n_steps"].max()),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    written.append("summary.json")
    print(f"explained {summary['n_stays']} stays ({summary['n_tokens']} tokens) in "
          f"{seconds:.1f} s; max |sum of attributions − (logit − baseline logit)| "
          f"{summary['max_abs_delta']:.2e}")
    print(f"wrote {out}/: {', '.join(written)}")
    return 0
