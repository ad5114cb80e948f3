"""Explanations on PhysioNet 2012: train the two models, draw the docs' figures, time explain().

    OMP_NUM_THREADS=1 python benchmarks/bench_explain.py train --fusion mufuse --out /tmp/p12_mufuse.pkl
    OMP_NUM_THREADS=1 python benchmarks/bench_explain.py train --fusion add --out /tmp/p12_add.pkl
    OMP_NUM_THREADS=1 python benchmarks/bench_explain.py figures --mufuse /tmp/p12_mufuse.pkl \
        --add /tmp/p12_add.pkl --out docs/figures/explain
    OMP_NUM_THREADS=1 python benchmarks/bench_explain.py responses --mufuse /tmp/p12_mufuse.pkl \
        --add /tmp/p12_add.pkl --out docs/figures/explain
    OMP_NUM_THREADS=1 python benchmarks/bench_explain.py steps --stays 60
    python benchmarks/bench_explain.py shrink docs/figures/explain/*.png
    python benchmarks/bench_explain.py time --model /tmp/p12_mufuse.pkl --stays 1000 --threads 1 2

``train``: MedFuseClassifier with the estimator's defaults, ``max_epochs=8``, seed 0, on the
P12 train split, tokenized as ``medfuse p12`` does (2-hour windows over 48 h); pickled.
``figures``: val-stay explanations with both models, and (as ``responses`` alone) the
per-feature responses of
both models for K, Na and Lactate (value grid: the 0.5–99.5th percentiles of the train
split's measurements; low/normal/high: its 2.5th, 50th and 97.5th percentiles). ``time``:
median wall time (and process CPU time) of ``explain`` on the first N val stays per thread
count, with the load average before and after (JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "physionet2012"
FEATURES = ("K", "Na", "Lactate")


def _events(split: str, data: str):
    from medfuse_sk.datasets import load_physionet2012

    d = load_physionet2012(data, split=split, progress=False)
    return d.to_event_set(), d


def train(args) -> None:
    from medfuse_sk import EventTokenizer, MedFuseClassifier

    X, d = _events("train", args.data)
    clf = MedFuseClassifier(fusion=args.fusion, max_epochs=args.epochs, random_state=0,
                            tokenizer=EventTokenizer(window=2.0, horizon=48.0, max_tokens=1000))
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        clf.fit(X, d.labels.loc[X.stay_ids])
    print(f"trained {args.fusion} in {time.perf_counter() - started:.0f} s")
    Path(args.out).write_bytes(pickle.dumps(clf))


def _load(path: str):
    return pickle.loads(Path(path).read_bytes())


def figures(args) -> None:
    import matplotlib.pyplot as plt
    from sklearn.metrics import average_precision_score, roc_auc_score

    from medfuse_sk.inspection import (
        feature_importance,
        plot_attribution_vs_value,
        plot_importance,
        plot_stay,
        stay_summary,
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    models = {"mufuse": _load(args.mufuse), "add": _load(args.add)}
    train_set, train_data = _events("train", args.data)
    val, val_data = _events("val", args.data)
    val = val.take(np.arange(min(args.stays, len(val))))
    report: dict = {"n_val_stays": len(val)}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        tables = {}
        for name, model in models.items():
            started = time.perf_counter()
            tables[name] = model.explain(val)
            s = stay_summary(tables[name])
            y = val_data.labels.loc[s.index]
            report[name] = {
                "explain_seconds": round(time.perf_counter() - started, 1),
                "max_abs_delta": float(np.abs(s["delta"]).max()),
                "auprc": float(average_precision_score(y, s["risk"])),
                "auroc": float(roc_auc_score(y, s["risk"])),
                "top_features": feature_importance(tables[name])["share"].head(8).round(4).to_dict(),
            }
    table = tables["mufuse"]
    stays = stay_summary(table)
    labels = val_data.labels.loc[stays.index]
    died = stays[labels.to_numpy() == 1].sort_values("risk", ascending=False)
    typical = (stays["n_tokens"] >= stays["n_tokens"].median()).to_numpy()  # not a near-empty stay
    lived = stays[(labels.to_numpy() == 0) & typical].sort_values("risk")
    picks = {"p12_stay_high_risk.png": died.index[0], "p12_stay_low_risk.png": lived.index[0]}
    for file, stay in picks.items():
        plt.close(plot_stay(table, stay, out / file, max_features=10,
                            title=f"P12 val stay {stay} ({'died' if labels[stay] else 'survived'}), "
                                  f"mufuse: predicted risk {stays.loc[stay, 'risk']:.1%} "
                                  f"(baseline {stays.loc[stay, 'baseline_risk']:.1%})"))
    plt.close(plot_importance(table, out / "p12_importance.png",
                              title=f"P12 val, mufuse: what drove the risk ({len(stays)} stays)"))
    plt.close(plot_attribution_vs_value(
        table, FEATURES, out / "p12_attribution_vs_value.png",
        title=f"P12 val, mufuse: token attribution against the measured value ({len(stays)} stays)"))
    plt.close(plot_attribution_vs_value(
        tables["add"], FEATURES, out / "p12_attribution_vs_value_add.png",
        title=f"P12 val, add: token attribution against the measured value ({len(stays)} stays)"))

    report["attribution_by_level"] = _by_level(tables, train_data.events)
    report["feature_response"] = _responses(models, train_data.events, out)
    report["machine"] = f"{platform.machine()}, {os.cpu_count()} cores"
    (out / "p12_report.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps(report, indent=2, default=str))


def _by_level(tables: dict, long) -> dict:
    """Mean token attribution of K, Na, Lactate among low (≤ 2.5th percentile of train),
    normal (25th–75th) and high (≥ 97.5th) values, per model."""
    out = {}
    for f in FEATURES:
        measured = long.loc[long["feature"] == f, "value"].to_numpy(dtype=float)
        lo, q1, q3, hi = np.percentile(measured, [2.5, 25, 75, 97.5])
        out[f] = {"cuts": [lo, q1, q3, hi]}
        for name, table in tables.items():
            r = table[table["feature"] == f]
            groups = {"low": r["value"] <= lo, "normal": r["value"].between(q1, q3),
                      "high": r["value"] >= hi}
            out[f][name] = {g: {"mean": round(float(r.loc[m, "attribution"].mean()), 4),
                                "tokens": int(m.sum())} for g, m in groups.items()}
    return out


def _responses(models: dict, long, out: Path) -> dict:
    """The feature-response figure of both models; returns the distances per feature."""
    import matplotlib.pyplot as plt

    from medfuse_sk.inspection import feature_response, plot_feature_responses

    responses, levels, distances = {}, {}, {}
    for f in FEATURES:
        measured = long.loc[long["feature"] == f, "value"].to_numpy(dtype=float)
        grid = np.linspace(*np.percentile(measured, [0.5, 99.5]), 161)
        levels[f] = tuple(float(v) for v in np.percentile(measured, [2.5, 50, 97.5]))
        responses[f] = [feature_response(m, f, grid) for m in models.values()]
        distances[f] = {"levels": levels[f],
                        **{r.fusion: r.distances(*levels[f]) for r in responses[f]}}
    plt.close(plot_feature_responses(
        responses, levels, out / "p12_feature_response.png",
        title="What the embedding learned per feature (P12 train, seed 0): mufuse vs add"))
    return distances


def responses(args) -> None:
    from medfuse_sk.datasets import load_physionet2012

    models = {"mufuse": _load(args.mufuse), "add": _load(args.add)}
    long = load_physionet2012(args.data, split="train", progress=False).events
    print(json.dumps(_responses(models, long, Path(args.out)), indent=2))


def time_explain(args) -> None:
    import torch

    model = _load(args.model)
    val, _ = _events("val", args.data)
    val = val.take(np.arange(min(args.stays, len(val))))
    n_tokens = model.tokenizer_.transform(val).n_rows
    result = {"n_stays": len(val), "n_tokens": int(n_tokens), "n_steps": args.n_steps,
              "baseline": args.baseline, "machine": f"{platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} cores", "load_before": os.getloadavg()[0], "threads": {}}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        for threads in args.threads:
            torch.set_num_threads(threads)
            seconds, cpu = [], []
            for _ in range(args.repeats):
                started, cpu_started = time.perf_counter(), time.process_time()
                table = model.explain(val, n_steps=args.n_steps, baseline=args.baseline)
                seconds.append(time.perf_counter() - started)
                cpu.append(time.process_time() - cpu_started)
            delta = np.abs(table.groupby(table.columns[0])["delta"].first()).max()
            result["threads"][threads] = {"seconds": [round(s, 2) for s in seconds],
                                          "median": round(float(np.median(seconds)), 2),
                                          "cpu_seconds_median": round(float(np.median(cpu)), 2),
                                          "n_steps_max": int(table["n_steps"].max()),
                                          "max_abs_delta": float(delta),
                                          "load_after": os.getloadavg()[0]}
            print(threads, result["threads"][threads], flush=True)
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


def steps(args) -> None:
    """Integration error against the number of steps, on held-out sample stays.

    The model: ``--model`` (a pickle), else the one ``medfuse explain`` trains when given
    nothing (same seed); the stays: the first ``--stays`` held-out sample stays; the
    reference: 128 Gauss-Legendre steps.
    """
    from medfuse_sk.cli._explain import _sample_model
    from medfuse_sk.inspection import explain, stay_summary

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*horizon.*")
        if args.model:
            from medfuse_sk.datasets import load_sample

            model, X = _load(args.model), load_sample("val").to_event_set()
        else:
            model, X = _sample_model(args.epochs, 0)
    X = X.take(np.arange(args.stays))
    rows = []
    for baseline in ("center", "zero"):
        ref = explain(model, X, baseline=baseline, n_steps=128, tolerance=1.0)
        gap = np.abs(stay_summary(ref).eval("logit - baseline_logit"))
        for n in (4, 8, 16, 32):
            table = explain(model, X, baseline=baseline, n_steps=n, tolerance=1.0)
            s = stay_summary(table)
            rows.append({"baseline": baseline, "n_steps": n,
                         "median_abs_gap": round(float(gap.median()), 3),
                         "max_abs_delta": float(np.abs(s["delta"]).max()),
                         "median_abs_delta": float(np.abs(s["delta"]).median()),
                         "max_token_error": float(np.abs(table["attribution"]
                                                         - ref["attribution"]).max()),
                         "max_abs_attribution": float(np.abs(ref["attribution"]).max())})
            print(rows[-1], flush=True)
    print(json.dumps(rows, indent=2))


def shrink(args) -> None:
    """Re-save PNGs with a 256-colour palette (the docs keep each figure under 200 KB)."""
    from PIL import Image

    for path in args.paths:
        before = Path(path).stat().st_size
        Image.open(path).convert("RGB").quantize(256, method=Image.Quantize.MEDIANCUT).save(
            path, optimize=True)
        print(f"{path}: {before // 1024} KB -> {Path(path).stat().st_size // 1024} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train")
    p.add_argument("--fusion", default="mufuse")
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--out", required=True)
    p.set_defaults(func=train)
    p = sub.add_parser("figures")
    p.add_argument("--mufuse", required=True)
    p.add_argument("--add", required=True)
    p.add_argument("--stays", type=int, default=1000)
    p.add_argument("--out", required=True)
    p.set_defaults(func=figures)
    p = sub.add_parser("responses")
    p.add_argument("--mufuse", required=True)
    p.add_argument("--add", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=responses)
    p = sub.add_parser("steps")
    p.add_argument("--stays", type=int, default=60)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--model", default=None)
    p.set_defaults(func=steps)
    p = sub.add_parser("shrink")
    p.add_argument("paths", nargs="+")
    p.set_defaults(func=shrink)
    p = sub.add_parser("time")
    p.add_argument("--model", required=True)
    p.add_argument("--stays", type=int, default=1000)
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--n-steps", type=int, default=8)
    p.add_argument("--baseline", default="center")
    p.add_argument("--json", default=None)
    p.set_defaults(func=time_explain)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
