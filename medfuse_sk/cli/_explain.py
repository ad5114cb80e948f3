"""``medfuse explain``: attributions (CSV) and figures (PNG) for a saved model, or the sample.

With ``--model`` and ``--events`` it explains the stays of the events file with the saved
model; with neither it trains a quick model on the bundled sample's training stays and
explains its held-out stays. Everything is written to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import pickle
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["add_parser", "command", "load_model_file", "read_events"]

_FEATURES = ("K", "Na", "Lactate")


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Register the ``explain`` subcommand on ``sub`` (an argparse subparsers object)."""
    p = sub.add_parser("explain", help="attribute predictions to measurements: CSV and figures",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None,
                   help="saved model: a folder written by medfuse_sk.persistence.save_model, or a "
                        "pickle (.pkl/.pickle); default: train a quick model on the bundled sample")
    p.add_argument("--events", default=None,
                   help="long event table (.csv or .parquet) with the model's stay/time/feature/"
                        "value columns; default: the bundled sample's held-out stays")
    p.add_argument("--out", default="medfuse-explain", help="output folder")
    p.add_argument("--max-stays", type=int, default=None,
                   help="explain only the first N stays of the events file")
    p.add_argument("--plot", type=int, default=4,
                   help="timeline figures for the N highest-risk stays (default 4)")
    p.add_argument("--stay", action="append", default=[], dest="stays", metavar="ID",
                   help="also draw this stay's timeline (repeatable)")
    p.add_argument("--features", nargs="*", default=list(_FEATURES),
                   help="features for the value figures (default: K Na Lactate)")
    p.add_argument("--baseline", choices=("center", "zero"), default="center")
    p.add_argument("--n-steps", type=int, default=8, help="integration steps (first pass)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs without --model")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=command)
    return p


def load_model_file(path: str | Path) -> Any:
    """A fitted model from ``path``: a pickle (``.pkl``/``.pickle``), else through
    ``medfuse_sk.persistence.load_model`` when that module exists, else a pickle.

    A pickle runs code when loaded: only open files you trust.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {str(path)!r} does not exist")
    if path.suffix.lower() not in (".pkl", ".pickle"):
        try:
            from ..io import load_model
        except ImportError:
            load_model = None
        if load_model is not None:
            return load_model(path)
    with open(path, "rb") as fh:
        return pickle.load(fh)


def read_events(path: str | Path):
    """A long event table from a ``.csv`` or ``.parquet`` file."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"events file {str(path)!r} does not exist")
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path)
    if path.suffix.lower() in (".csv", ".gz", ".txt"):
        return pd.read_csv(path)
    raise ValueError(f"events file {str(path)!r}: expected a .csv or .parquet file")


def _classifier(model: Any):
    from sklearn.pipeline import Pipeline

    return model.steps[-1][1] if isinstance(model, Pipeline) else model


def _tokenizer(model: Any):
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        return model.steps[-2][1] if len(model) > 1 else None
    return getattr(model, "tokenizer_", None)


def _as_events(model: Any, table):
    """Events of a table, read with the model's column names and categorical features."""
    from ..data import EventSet

    clf, tokenizer = _classifier(model), _tokenizer(model)
    names = {"stay": clf.stay, "time": clf.time, "feature": clf.feature, "value": clf.value}
    absent = [c for c in names.values() if c not in table.columns]
    if absent:
        raise ValueError(f"the events file lacks the column(s) {absent} the model expects "
                         f"(it has {list(table.columns)})")
    categorical = list(getattr(tokenizer, "categorical_features_", ()) or ())
    present = set(table[clf.feature].astype(str).unique())
    categorical = [c for c in categorical if str(c) in present]
    return EventSet.from_long(table, categorical=categorical or None, **names)


def _sample_model(epochs: int, seed: int):
    from ..data import EventSet, EventTokenizer
    from ..datasets import load_sample
    from ..models import MedFuseClassifier

    train, held_out = load_sample("train"), load_sample("test")
    X = EventSet.from_long(train.events, categorical=train.categorical, stays=train.stay_ids)
    # every epoch is trained: on 1,000 stays a 10 % validation split is too noisy to stop on
    clf = MedFuseClassifier(max_epochs=epochs, random_state=seed, verbose=0, valid_size=0,
                            tokenizer=EventTokenizer(window=2.0, horizon=48.0))
    print(f"training a quick model on the bundled sample ({len(train)} stays, {epochs} epochs)")
    clf.fit(X, train.labels.loc[X.stay_ids])
    X_test = EventSet.from_long(held_out.events, categorical=held_out.categorical,
                                stays=held_out.stay_ids)
    return clf, X_test


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

    if args.events is not None and args.model is None:
        raise SystemExit("medfuse explain: --events needs --model (the events' model)")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        if args.model is None:
            model, X = _sample_model(args.epochs, args.seed)
        else:
            model = load_model_file(args.model)
            if args.events is not None:
                X = _as_events(model, read_events(args.events))
            else:  # the bundled sample's held-out stays
                from ..datasets import load_sample
                X = _as_events(model, load_sample("test").events)
        if args.max_stays is not None:
            X = X.take(np.arange(min(args.max_stays, len(X))))
        started = time.perf_counter()
        table = explain(model, X, baseline=args.baseline, n_steps=args.n_steps)
    seconds = time.perf_counter() - started
    stays = stay_summary(table)
    table.to_csv(out / "attributions.csv", index=False)
    stays.to_csv(out / "stays.csv")
    written = ["attributions.csv", "stays.csv"]

    fig = plot_importance(table, out / "importance.png")
    import matplotlib.pyplot as plt  # after the first figure chose a non-interactive backend

    plt.close(fig)
    written.append("importance.png")
    chosen = list(stays["risk"].sort_values(ascending=False).index[:args.plot])
    chosen += [s for s in map(_stay_id, args.stays) if s not in chosen]
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
