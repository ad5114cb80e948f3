"""``medfuse demo`` (train and score on the bundled PhysioNet 2012 sample) and ``medfuse p12``
(the P12 benchmark protocol, :func:`medfuse_sk.recipes.run_p12`)."""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

from ._common import CommandError, add_common, check_keys, parse_setting

__all__ = ["add_parsers", "demo", "p12"]


def demo(args: argparse.Namespace) -> int:
    """Train on the packaged P12 sample, score its held-out stays."""
    from sklearn.pipeline import make_pipeline

    from ..data import EventTokenizer
    from ..datasets import load_sample
    from ..evaluation import binary_metrics
    from ..models import MedFuseClassifier

    train, held_out = load_sample("train"), load_sample("val")
    print(f"PhysioNet 2012 sample (ODC-By 1.0, Silva et al. 2012): {len(train)} training stays, "
          f"{len(held_out)} held-out stays, {train.labels.mean():.1%} / "
          f"{held_out.labels.mean():.1%} died in hospital")
    X_train, X_test = train.to_event_set(), held_out.to_event_set()
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


def _check_p12_settings(settings: dict[str, Any]) -> None:
    """The keys of ``--set`` are the recipe's, a tokenizer's or a MedFuse parameter (checked
    before any data are read)."""
    from ..data import EventTokenizer
    from ..models import MedFuseClassifier
    from ..recipes import ENSEMBLE_KEYS, RECOMMENDED

    model = {k for k in MedFuseClassifier().get_params(deep=False) if not k.startswith("_")}
    check_keys(settings, {}, {"the recipe's keys": {*RECOMMENDED, *ENSEMBLE_KEYS},
                              "the tokenizer's": set(EventTokenizer().get_params(deep=False)),
                              "MedFuse's": model - {"tokenizer"}})


def p12(args: argparse.Namespace) -> int:
    """Train the recommended MedFuse on a cohort's train split (P12 by default) and score a
    split."""
    from ..datasets import get_cohort
    from ..recipes import run_p12

    settings = dict(args.set or [])
    _check_p12_settings(settings)
    try:
        get_cohort(args.cohort)
    except KeyError as exc:
        raise CommandError(f"--cohort: {exc.args[0]}") from exc
    try:
        result = run_p12(args.data, eval_split=args.eval_split, config=settings,
                         cohort=args.cohort, seed=args.seed, out=args.out,
                         verbose=0 if args.quiet else 1)
    except FileNotFoundError as exc:
        if args.data is None:  # the loader's words are the Python API's (data_dir)
            raise CommandError(f"{exc} On the command line: medfuse p12 --data DIR.") from exc
        raise
    summary = {k: result[k] for k in ("auprc", "auroc", "accuracy")}
    print(json.dumps(summary, indent=2))
    if args.out:
        print(f"wrote {args.out}/metrics.json, predictions.csv, curves.png")
    return 0


def add_parsers(sub: Any) -> None:
    """Register ``demo`` and ``p12`` on ``sub`` (argparse subparsers)."""
    p = sub.add_parser("demo", help="train on the bundled real P12 sample and score it",
                       description=demo.__doc__)
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    add_common(p, quiet="no epoch table")
    p.set_defaults(func=demo)

    p = sub.add_parser("p12", help="train on the P12 train split, score val or test",
                       description=p12.__doc__)
    p.add_argument("--cohort", default="p12", metavar="NAME",
                   help="registered cohort to fit and score (default p12; also p19); the "
                        "recipe's settings were chosen on P12")
    p.add_argument("--data", default=None, metavar="DIR",
                   help="the cohort's data folder, for P12 the PhysioNet 2012 release "
                        "(default: $MEDFUSE_P12_DIR, else the download cache of "
                        "fetch_physionet2012)")
    p.add_argument("--eval-split", choices=["val", "test"], default="test",
                   help="the split to score: val (fitted on train) or test (fitted on train "
                        "+ val; default)")
    p.add_argument("--out", default=None, help="folder for metrics.json and plots")
    p.add_argument("--seed", type=int, default=0, help="random_state (default 0)")
    p.add_argument("--set", type=parse_setting, action="append", metavar="KEY=VALUE",
                   help="override a setting of the recommended configuration, "
                        "e.g. --set fusion=add --set window=None")
    add_common(p, quiet="no epoch table")
    p.set_defaults(func=p12)
