"""P12 under Raindrop's protocol: five seeded stratified splits of the P12 stays we hold.

The irregular-time-series literature (Raindrop, ViTST, Warpformer, MTM) scores P12 on five
random 80/10/10 splits and reports the mean and standard deviation over them. This runs the
same on the stays of P12's ``train`` and ``val`` splits (``test`` is held back): for split
``k`` (``--splits``, default 0-4) the stays are split once, stratified by label, with seed
``k`` into 90 % to fit and 10 % to score (``BenchmarkData.from_split(test_size=0.1,
random_state=k)``); each model fits with its published defaults and seed ``k`` — no tuning, so
no choice touches any split's scored stays, and each model's own validation share (for the
networks, 10 % of what they fit: 81 / 9 / 10 in all) plays the protocol's validation part.

Each split is an ordinary ``medfuse benchmark`` folder (``OUT/split<k>/``: table, predictions,
protocol; resumable), so a finished split is not refitted. ``OUT/summary.md`` and
``summary.csv`` give AUROC and AUPRC per model as mean ± sd over the splits and each model's rank
on every split; the literature's numbers on its own splits sit beside them — rankings compare,
digits do not.

    python benchmarks/raindrop_protocol.py --data ../shared/data/physionet2012 \\
        --models medfuse xgboost tcn sand --out benchmarks/results/benchmark/p12_raindrop
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

#: AUROC / AUPRC on P12 under Raindrop's protocol (their own five splits), as MTM tables them.
LITERATURE = {"ViTST": (0.851, 0.511), "Warpformer": (0.865, 0.543), "MTM": (0.880, 0.586)}


def _split_rows(out: Path, splits: list[int]) -> pd.DataFrame:
    rows = []
    for k in splits:
        table = pd.read_csv(out / f"split{k}" / "table.csv")
        for _, row in table.iterrows():
            rows.append({"model": row["model"], "split": k, "auroc": row["auroc_mean"],
                         "auprc": row["auprc_mean"], "fit_cpu_s": row.get("fit_cpu_s"),
                         "status": row["status"]})
    return pd.DataFrame(rows)


def summarize(out: Path, splits: list[int]) -> pd.DataFrame:
    """``summary.csv`` and ``summary.md`` from the splits' tables."""
    rows = _split_rows(out, splits)
    ok = rows[rows["status"] == "ok"].copy()
    ok["rank_auprc"] = ok.groupby("split")["auprc"].rank(ascending=False, method="min")
    ok["rank_auroc"] = ok.groupby("split")["auroc"].rank(ascending=False, method="min")
    summary = ok.groupby("model").agg(
        splits=("split", "nunique"), auroc_mean=("auroc", "mean"), auroc_sd=("auroc", "std"),
        auprc_mean=("auprc", "mean"), auprc_sd=("auprc", "std"),
        mean_rank_auprc=("rank_auprc", "mean"), mean_rank_auroc=("rank_auroc", "mean"),
        fit_cpu_s=("fit_cpu_s", "mean")).sort_values("auprc_mean", ascending=False)
    summary.to_csv(out / "summary.csv")
    lines = [
        "# P12 under Raindrop's protocol",
        "",
        f"Splits {', '.join(map(str, splits))} of the P12 train + val stays (stratified, 90 % "
        "fitted, 10 % scored; each model's published defaults, seed = split). Mean ± sd over "
        "the splits; ranks per split (1 = best), averaged. Failed fits: "
        f"{int((rows['status'] != 'ok').sum())}.",
        "",
        "| model | splits | AUROC | AUPRC | mean rank AUPRC | mean rank AUROC | fit CPU s |",
        "|---|---|---|---|---|---|---|",
    ]
    for model, r in summary.iterrows():
        lines.append(f"| {model} | {int(r['splits'])} | {r['auroc_mean']:.3f} ± {r['auroc_sd']:.3f} | "
                     f"{r['auprc_mean']:.3f} ± {r['auprc_sd']:.3f} | {r['mean_rank_auprc']:.1f} | "
                     f"{r['mean_rank_auroc']:.1f} | {r['fit_cpu_s']:.0f} |")
    lines += ["", "The literature on its own five splits (as MTM tables them; AUROC / AUPRC):", ""]
    lines += [f"- {name}: {auroc:.3f} / {auprc:.3f}" for name, (auroc, auprc) in LITERATURE.items()]
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    return summary


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="the P12 data folder")
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--splits", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args(argv)

    from medfuse_sk.benchmark import BenchmarkData, run_benchmark
    from medfuse_sk.datasets import load_cohort

    cohort = load_cohort("p12", ["train", "val"], args.data)
    X = cohort.to_event_set()
    say = lambda line: print(line, file=sys.stderr, flush=True)  # noqa: E731
    say(f"P12 train + val: {len(X)} stays, {int(cohort.labels.sum())} positive")
    for k in args.splits:
        data = BenchmarkData.from_split(X, cohort.labels, test_size=0.1, random_state=k,
                                        description={"source": "cohort", "name": "p12",
                                                     "protocol": "Raindrop's, split " + str(k)})
        run_benchmark(data, args.models, args.out / f"split{k}", seeds=[k], max_settings=0,
                      jobs=args.jobs, subgroups=(), progress=lambda line, k=k: say(f"[split {k}] {line}"),
                      command=" ".join(["python", *sys.argv]))
    print(summarize(args.out, args.splits).to_string())


if __name__ == "__main__":
    main()
