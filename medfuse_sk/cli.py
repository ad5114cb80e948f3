"""The ``medfuse`` command: ``medfuse demo`` and ``medfuse p12``."""

from __future__ import annotations

import argparse
import ast
import json
import sys
import time
import warnings
from typing import Any

__all__ = ["main"]


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

    from . import EventSet, EventTokenizer, MedFuseClassifier
    from .datasets import load_sample
    from .metrics import binary_metrics

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
    from .reproduce import run_p12

    result = run_p12(args.data, eval_split=args.eval_split, config=dict(args.set or []),
                     seed=args.seed, out=args.out, verbose=0 if args.quiet else 1)
    summary = {k: result[k] for k in ("auprc", "auroc", "accuracy")}
    print(json.dumps(summary, indent=2))
    if args.out:
        print(f"wrote {args.out}/metrics.json, predictions.csv, curves.png")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="medfuse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p_demo = sub.add_parser("demo", help="train on the bundled real P12 sample and score it")
    p_demo.add_argument("--epochs", type=int, default=20)
    p_demo.add_argument("--seed", type=int, default=0)
    p_demo.add_argument("--quiet", action="store_true", help="no epoch table")
    p_demo.set_defaults(func=demo)

    p_p12 = sub.add_parser("p12", help="train on the P12 train split, score val or test")
    p_p12.add_argument("--data", default=None,
                       help="PhysioNet 2012 release folder (default: $MEDFUSE_P12_DIR, "
                            "../shared/data/physionet2012 or the download cache)")
    p_p12.add_argument("--eval-split", choices=["val", "test"], default="test")
    p_p12.add_argument("--out", default=None, help="folder for metrics.json and plots")
    p_p12.add_argument("--seed", type=int, default=0)
    p_p12.add_argument("--set", type=_parse_setting, action="append", metavar="KEY=VALUE",
                       help="override a setting of the recommended configuration, "
                            "e.g. --set fusion=add --set window=None")
    p_p12.add_argument("--quiet", action="store_true")
    p_p12.set_defaults(func=p12)

    from .explain_cli import add_parser as add_explain_parser
    add_explain_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from ._memory import keep_freed_memory_for_reuse

    args = build_parser().parse_args(argv)
    keep_freed_memory_for_reuse()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
