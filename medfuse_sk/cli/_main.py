"""The ``medfuse`` command.

- ``medfuse fit EVENTS LABELS --out DIR``: train on a long event table (CSV or parquet) and a
  label table; writes a safe model folder (:func:`medfuse_sk.persistence.save_model`).
- ``medfuse predict DIR EVENTS --out risk.csv``: one risk per stay.
- ``medfuse evaluate DIR EVENTS LABELS [--out DIR]``: AUPRC / AUROC / accuracy with bootstrap
  intervals, predictions and PR/ROC curves (:func:`medfuse_sk.evaluation.evaluate`).
- ``medfuse demo``: train and score on the bundled PhysioNet 2012 sample.
- ``medfuse p12``: the P12 benchmark protocol (:mod:`medfuse_sk.reproduce`).

``fit`` under ``torchrun --nproc_per_node N`` trains data-parallel
(:mod:`medfuse_sk.distributed`); only rank 0 prints and writes.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

__all__ = ["main", "build_parser", "CommandError"]

COLUMN_ROLES = ("stay", "time", "feature", "value")


class CommandError(Exception):
    """A user error the command reports in one line (no traceback)."""


def _parse_setting(text: str) -> tuple[str, Any]:
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, raw = text.split("=", 1)
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw  # a bare word such as mufuse
    return key.strip(), value


def demo(args: argparse.Namespace) -> int:
    """Train on the packaged P12 sample, score its held-out stays."""
    from sklearn.pipeline import make_pipeline

    from ..data import EventSet, EventTokenizer
    from ..datasets import load_sample
    from ..evaluation import binary_metrics
    from ..models import MedFuseClassifier

    train, held_out = load_sample("train"), load_sample("test")
    print(f"PhysioNet 2012 sample (ODC-By 1.0, Silva et al. 2012): {len(train)} training stays, "
          f"{len(held_out)} held-out stays, {train.labels.mean():.1%} / "
          f"{held_out.labels.mean():.1%} died in hospital")
    X_train = EventSet.from_long(train.events, categorical=train.categorical, stays=train.stay_ids)
    X_test = EventSet.from_long(held_out.events, categorical=held_out.categorical,
                                stays=held_out.stay_ids)
    model = make_pipeline(
        EventTokenizer(window=2.0, horizon=48.0),
        MedFuseClassifier(max_epochs=args.epochs, random_state=args.seed,
                          verbose=0 if args.quiet else 1))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        model.fit(X_train, train.labels.loc[X_train.stay_ids])
        proba = model.predict_proba(X_test)[:, 1]
    seconds = time.perf_counter() - started
    metrics = binary_metrics(held_out.labels.loc[X_test.stay_ids].to_numpy(), proba)
    print(f"\nMedFuse (mufuse, 2-hour windows) trained in {seconds:.0f} s; "
          f"held-out stays: {metrics['n']} ({metrics['n_positive']} deaths)")
    for name in ("auprc", "auroc", "accuracy"):
        m = metrics[name]
        print(f"  {name.upper():<9} {m['value']:.3f}  (95% CI {m['ci_low']:.3f}–{m['ci_high']:.3f})")
    print(f"  (a constant predictor has AUPRC {held_out.labels.mean():.3f} and AUROC 0.5)")
    return 0


def p12(args: argparse.Namespace) -> int:
    """Train the recommended MedFuse on the P12 train split and score a split."""
    from ..recipes import run_p12

    result = run_p12(args.data, eval_split=args.eval_split, config=dict(args.set or []),
                     seed=args.seed, out=args.out, verbose=0 if args.quiet else 1)
    summary = {k: result[k] for k in ("auprc", "auroc", "accuracy")}
    print(json.dumps(summary, indent=2))
    if args.out:
        print(f"wrote {args.out}/metrics.json, predictions.csv, curves.png")
    return 0


# -- reading the user's tables ----------------------------------------------------------------
def _say(args: argparse.Namespace, message: str) -> None:
    """Progress on stderr (stdout stays for results); silent with --quiet and off rank 0."""
    from ..distributed import is_main_process

    if not getattr(args, "quiet", False) and is_main_process():
        print(f"[medfuse {args.command}] {message}", file=sys.stderr, flush=True)


def read_table(path: str, what: str):
    """A CSV (optionally compressed) or parquet file as a DataFrame; errors name the file."""
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise CommandError(f"{what} file {path}: not found")
    name = p.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            try:
                return pd.read_parquet(p)
            except ImportError as exc:
                raise CommandError(f"{what} file {path}: reading parquet needs pyarrow "
                                   "(pip install 'medfuse-sk[arrow]')") from exc
        if any(name.endswith(s) for s in (".csv", ".csv.gz", ".csv.zip", ".csv.bz2", ".csv.xz")):
            return pd.read_csv(p)
        if name.endswith((".tsv", ".tsv.gz")):
            return pd.read_csv(p, sep="\t")
    except CommandError:
        raise
    except Exception as exc:  # pandas/pyarrow parse errors, whatever their class
        raise CommandError(f"{what} file {path}: cannot be read ({type(exc).__name__}: {exc})") \
            from exc
    raise CommandError(f"{what} file {path}: unknown format; use .csv, .csv.gz, .tsv or .parquet")


def _require_columns(table, path: str, what: str, columns: dict[str, str]) -> None:
    for option, column in columns.items():
        if column not in table.columns:
            raise CommandError(f"{what} file {path}: no column {column!r} (the {option} column, "
                               f"set with --{option}); its columns are {list(table.columns)}")


def _numeric_or_datetime_time(table, path: str, column: str):
    """CSV times arrive as text: numbers (hours) or datetimes; anything else names the rows."""
    import pandas as pd

    values = table[column]
    if not (values.dtype == object or pd.api.types.is_string_dtype(values)):
        return table
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.notna().sum() == values.notna().sum():
        return table.assign(**{column: numbers})
    try:
        return table.assign(**{column: pd.to_datetime(values)})
    except (ValueError, TypeError) as exc:
        bad = values[numbers.isna() & values.notna()].iloc[:3].tolist()
        raise CommandError(f"events file {path}: column {column!r} (--time) must hold hours "
                           f"or datetimes, got e.g. {bad}") from exc


def _columns(args: argparse.Namespace, model: Any = None) -> dict[str, str]:
    """Column names: the options given, else those the model was fitted with, else defaults."""
    from ..models import MedFuseClassifier

    clf = _classifier(model) if model is not None else None
    defaults = {role: getattr(clf, role) if clf is not None else MedFuseClassifier().get_params()[role]
                for role in COLUMN_ROLES}
    return {role: getattr(args, role, None) or defaults[role] for role in COLUMN_ROLES}


def _classifier(model: Any):
    from ..models import MedFuseClassifier

    if isinstance(model, MedFuseClassifier):
        return model
    steps = getattr(model, "steps", [])
    found = [est for _, est in steps if isinstance(est, MedFuseClassifier)]
    return found[-1] if found else None


def read_events(path: str, columns: dict[str, str], categorical=None, stays=None):
    """The events file as an EventSet; any fault names the file."""
    from ..data import EventSet

    table = read_table(path, "events")
    _require_columns(table, path, "events", columns)
    table = _numeric_or_datetime_time(table, path, columns["time"])
    if stays is not None:
        known = table[columns["stay"]].isin(stays)
        if not known.all():
            n = table.loc[~known, columns["stay"]].nunique()
            warnings.warn(f"events file {path}: ignored the events of {n} stay(s) without a "
                          "label", stacklevel=2)
            table = table[known]
    try:
        return EventSet.from_long(table, categorical=categorical, stays=stays, **columns)
    except ValueError as exc:
        raise CommandError(f"events file {path}: {exc}") from exc


def read_labels(path: str, stay: str, label: str | None):
    """The labels file as a 0/1 Series indexed by stay id; any fault names file and column."""
    import numpy as np

    table = read_table(path, "labels")
    _require_columns(table, path, "labels", {"stay": stay})
    if label is None:
        others = [c for c in table.columns if c != stay]
        if len(others) != 1:
            raise CommandError(f"labels file {path}: name the label column with --label; "
                               f"the columns besides {stay!r} are {others}")
        label = others[0]
    _require_columns(table, path, "labels", {"label": label})
    ids, values = table[stay], table[label]
    if ids.isna().any():
        raise CommandError(f"labels file {path}: column {stay!r} has {int(ids.isna().sum())} "
                           "empty entries")
    duplicated = ids[ids.duplicated()].unique()
    if len(duplicated):
        raise CommandError(f"labels file {path}: stays listed more than once in {stay!r}: "
                           f"{duplicated[:5].tolist()}")
    if values.isna().any():
        raise CommandError(f"labels file {path}: column {label!r} has no label for stays "
                           f"{ids[values.isna()].iloc[:5].tolist()}")
    if values.dtype == bool:
        values = values.astype(np.int64)
    bad = ~values.isin([0, 1])
    if bad.any():
        raise CommandError(f"labels file {path}: column {label!r} must hold 0/1 (or true/false), "
                           f"got e.g. {values[bad].unique()[:5].tolist()} (stays "
                           f"{ids[bad].iloc[:3].tolist()})")
    import pandas as pd

    return pd.Series(values.to_numpy(dtype=np.int64), index=pd.Index(ids.to_numpy(), name=stay),
                     name=label)


def _configuration(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tokenizer parameters, classifier parameters) from --config and --set; unknown keys fail."""
    from ..models import MedFuseClassifier
    from ..recipes import TOKENIZER_KEYS

    config: dict[str, Any] = {}
    if args.config:
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
    config.update(dict(args.set or []))
    known = set(MedFuseClassifier().get_params(deep=False)) - {"tokenizer", *COLUMN_ROLES}
    known = {k for k in known if not k.startswith("_")}
    for key in config:
        if key not in known and key not in TOKENIZER_KEYS:
            source = f"config file {args.config}" if key not in dict(args.set or []) else "--set"
            raise CommandError(f"{source}: unknown parameter {key!r}; tokenizer parameters are "
                               f"{list(TOKENIZER_KEYS)}, classifier parameters "
                               f"{sorted(known)}")
    tokenizer = {k: v for k, v in config.items() if k in TOKENIZER_KEYS}
    model = {k: v for k, v in config.items() if k not in TOKENIZER_KEYS}
    return tokenizer, model


# -- fit / predict / evaluate -----------------------------------------------------------------
def fit(args: argparse.Namespace) -> int:
    """Train on the user's events and labels; write a safe model folder."""
    from ..data import EventTokenizer
    from ..distributed import DistributedMedFuseClassifier, init_from_environment, is_main_process
    from ..io import save_model
    from ..models import MedFuseClassifier

    tokenizer_params, params = _configuration(args)
    columns = _columns(args)
    params.setdefault("random_state", args.seed)
    params.setdefault("verbose", 0 if args.quiet else 1)
    started = time.perf_counter()
    labels = read_labels(args.labels, columns["stay"], args.label)
    _say(args, f"{args.labels}: {len(labels)} labelled stays, {int(labels.sum())} positive")
    X = read_events(args.events, columns, categorical=args.categorical, stays=labels.index)
    _say(args, f"{args.events}: {X.n_rows} events of {len(X.feature_names)} features "
               f"({time.perf_counter() - started:.0f} s)")
    several = init_from_environment(params.get("device", "cpu"))
    cls = DistributedMedFuseClassifier if several else MedFuseClassifier
    model = cls(tokenizer=EventTokenizer(**tokenizer_params), categorical=args.categorical,
                **columns, **params)
    if args.progress and is_main_process():
        from skorch.callbacks import ProgressBar

        model.set_params(callbacks=[("progress", ProgressBar())])
    _say(args, f"training {cls.__name__} ({'data-parallel' if several else 'one process'})")
    model.fit(X, labels.loc[X.stay_ids])
    if model.callbacks:
        model.set_params(callbacks=None)  # the progress bar only matters during training
    history = model.history_
    summary = {"epochs": len(history), "train_seconds": round(sum(history[:, "dur"]), 1)}
    if "valid_auprc" in history[-1]:
        summary["best_valid_auprc"] = round(max(history[:, "valid_auprc"]), 4)
    save_model(model, args.out)
    _say(args, f"wrote {args.out}/model.json and model.safetensors ({summary})")
    return 0


def _load(path: str):
    """A saved model; one trained on a GPU comes onto the CPU when this machine has no GPU."""
    import torch

    from ..io import ModelFileError, load_model

    try:
        return load_model(path, device=None if torch.cuda.is_available() else "cpu")
    except ModelFileError as exc:
        raise CommandError(f"model {path}: {exc}") from exc


def _scored_events(args: argparse.Namespace, model: Any, stays=None):
    clf = _classifier(model)
    categorical = args.categorical or (clf.categorical if clf is not None else None)
    return read_events(args.events, _columns(args, model), categorical=categorical, stays=stays)


def predict(args: argparse.Namespace) -> int:
    """Risk per stay of EVENTS from a model folder."""
    import pandas as pd

    model = _load(args.model)
    X = _scored_events(args, model)
    _say(args, f"{args.events}: scoring {len(X)} stays")
    risk = pd.Series(model.predict_proba(X)[:, 1], index=pd.Index(X.stay_ids,
                     name=_columns(args, model)["stay"]), name="risk")
    if args.out == "-":
        risk.to_csv(sys.stdout)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        risk.to_csv(args.out)
        _say(args, f"wrote {args.out}")
    return 0


def evaluate(args: argparse.Namespace) -> int:
    """Metrics with bootstrap intervals (and, with --out, predictions and curves)."""
    from ..evaluation import evaluate as evaluate_model

    model = _load(args.model)
    columns = _columns(args, model)
    labels = read_labels(args.labels, columns["stay"], args.label)
    X = _scored_events(args, model, stays=labels.index)
    _say(args, f"{args.events}: scoring {len(X)} stays, {args.n_bootstrap} bootstrap resamples")
    result = evaluate_model(model, X, labels, split=Path(args.events).name, out=args.out,
                            info={"model": str(args.model), "events": str(args.events),
                                  "labels": str(args.labels)},
                            n_bootstrap=args.n_bootstrap, random_state=args.seed)
    print(f"{result['n_stays']} stays ({result['n_positive']} positive)")
    for name in ("auprc", "auroc", "accuracy"):
        m = result[name]
        print(f"  {name.upper():<9} {m['value']:.3f}  ({result['confidence']:.0%} CI "
              f"{m['ci_low']:.3f}–{m['ci_high']:.3f})")
    if args.out:
        _say(args, f"wrote {args.out}/metrics.json, predictions.csv, curves.png")
    return 0


def _add_columns(parser: argparse.ArgumentParser, labels: bool) -> None:
    group = parser.add_argument_group("columns (default: stay_id, time, feature, value; for a "
                                      "saved model, the names it was fitted with)")
    for role in COLUMN_ROLES:
        group.add_argument(f"--{role}", default=None, metavar="NAME",
                           help=f"{role} column of the events" + (" and labels" if role == "stay"
                                                                   else ""))
    if labels:
        group.add_argument("--label", default=None, metavar="NAME",
                           help="label column (0/1) of the labels file (default: its only other "
                                "column)")
    group.add_argument("--categorical", nargs="+", default=None, metavar="FEATURE",
                       help="features whose values are classes (default: inferred; a saved "
                            "model remembers its own)")


def _add_fit(sub) -> None:
    p = sub.add_parser("fit", help="train on your events and labels, write a model folder",
                       description=fit.__doc__)
    p.add_argument("events", help="long event table (.csv[.gz] or .parquet): stay, time, "
                                  "feature, value")
    p.add_argument("labels", help="label table (.csv or .parquet): stay, label")
    p.add_argument("--out", required=True, help="model folder to write")
    _add_columns(p, labels=True)
    p.add_argument("--config", default=None, metavar="JSON",
                   help="JSON object of tokenizer and classifier parameters")
    p.add_argument("--set", type=_parse_setting, action="append", metavar="KEY=VALUE",
                   help="one parameter, e.g. --set max_epochs=10 --set window=2.0 "
                        "(after --config)")
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument("--progress", action="store_true", help="a progress bar over each epoch's "
                                                           "batches")
    p.add_argument("--quiet", action="store_true", help="no epoch table, no progress lines")
    p.set_defaults(func=fit)


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="risk per stay from a model folder",
                       description=predict.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("events", help="long event table (.csv[.gz] or .parquet)")
    p.add_argument("--out", required=True, help="CSV to write (stay, risk); - for stdout")
    _add_columns(p, labels=False)
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=predict)


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="metrics with bootstrap intervals, predictions, curves",
                       description=evaluate.__doc__)
    p.add_argument("model", help="model folder written by `medfuse fit` (or save_model)")
    p.add_argument("events", help="long event table (.csv[.gz] or .parquet)")
    p.add_argument("labels", help="label table (.csv or .parquet)")
    p.add_argument("--out", default=None, help="folder for metrics.json, predictions.csv, "
                                               "curves.png")
    _add_columns(p, labels=True)
    p.add_argument("--n-bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=evaluate)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="medfuse", description="MedFuse for irregular clinical time series: train on your "
        "own event tables, predict, evaluate, explain; the P12 benchmark and a demo.",
        epilog="Data-parallel training: torchrun --nproc_per_node N -m medfuse_sk.cli fit ... "
               "(docs/scaling.md).")
    sub = parser.add_subparsers(dest="command", required=True)

    p_demo = sub.add_parser("demo", help="train on the bundled real P12 sample and score it")
    p_demo.add_argument("--epochs", type=int, default=20)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument("--quiet", action="store_true", help="no epoch table")
    p_demo.set_defaults(func=demo)

    p_p12 = sub.add_parser("p12", help="train on the P12 train split, score val or test")
    p_p12.add_argument("--data", default=None,
                       help="PhysioNet 2012 release folder (default: $MEDFUSE_P12_DIR, "
                            "else the download cache of fetch_physionet2012)")
    p_p12.add_argument("--eval-split", choices=["val", "test"], default="test")
    p_p12.add_argument("--out", default=None, help="folder for metrics.json and plots")
    p_p12.add_argument("--seed", type=int, default=0)
    p_p12.add_argument("--set", type=_parse_setting, action="append", metavar="KEY=VALUE",
                       help="override a setting of the recommended configuration, "
                            "e.g. --set fusion=add --set window=None")
    p_p12.add_argument("--quiet", action="store_true")
    p_p12.set_defaults(func=p12)

    _add_fit(sub)
    _add_predict(sub)
    _add_evaluate(sub)

    from ._explain import add_parser as add_explain_parser
    add_explain_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ..utils import keep_freed_memory_for_reuse

    parser = build_parser()
    args = parser.parse_args(argv)
    keep_freed_memory_for_reuse()
    try:
        return args.func(args)
    except CommandError as exc:
        parser.exit(2, f"medfuse {args.command}: error: {exc}\n")
    except ValueError as exc:  # a bad parameter value, named by the estimator's validation
        parser.exit(2, f"medfuse {args.command}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
