"""The benchmark's files, rebuilt from the finished units on every run.

- ``table.md`` / ``table.csv``: one row per model (AUPRC and AUROC mean ± sd over seeds with 95 %
  bootstrap intervals of the seed mean, Brier score, expected calibration error, fit and
  predict wall and CPU seconds, threads, peak memory, the tuned setting, the error of a failed
  model); ``table.md`` also holds the paired tests and the subgroups;
- ``paired.csv``: every model against the best one (highest mean AUPRC): differences of the
  seed-mean AUPRC and AUROC on the same resamples, intervals and p-values;
- ``subgroups.csv``: per model, descriptor and group: stays, positives, AUROC, AUPRC,
  calibration; ``subgroup_gaps.csv``: the worst-group gap of each model and descriptor;
- ``predictions/<model>.csv``: ``stay_id, seed, label, proba`` (and, for MEDS input,
  meds-evaluation's format in ``predictions/<model>/seed_<k>.parquet``);
- ``auprc_vs_fit_time.png`` and ``reliability.png``;
- ``protocol.json``: data, split, versions, settings, machine.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ._data import BenchmarkData, BenchmarkResult, subgroup_labels
from ._figures import write_figures
from ._grids import FIXED, GRIDS, describe_setting, setting_key

__all__ = ["write_report", "protocol_record", "subgroup_frame_inputs", "VERSIONED"]

#: Distributions whose versions the protocol record holds.
VERSIONED = ("medfuse-sk", "numpy", "pandas", "scikit-learn", "torch", "skorch", "xgboost",
             "lightgbm", "pypots", "meds", "meds-evaluation", "threadpoolctl")
_CONFIDENCE = 0.95


def subgroup_frame_inputs(data: BenchmarkData, names: Sequence[str]) -> dict[str, pd.Series]:
    """The scored stays' groups for each descriptor (checked before any fit)."""
    return subgroup_labels(data.X_eval, list(names)) if names else {}


def _revision() -> str | None:
    """The library's git commit (``+changes`` when its files differ from it), if it is a
    checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[2]
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True,
                              text=True, timeout=10, check=True).stdout.strip()
        changed = subprocess.run(["git", "-C", str(root), "status", "--porcelain",
                                  "--untracked-files=no"], capture_output=True, text=True,
                                 timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+changes" if changed else "")


def _versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version(),
                                    "medfuse-sk git": _revision()}
    for name in VERSIONED:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def _machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "machine": platform.machine(),
                            "processor": platform.processor() or None,
                            "cpu_count": os.cpu_count()}
    if hasattr(os, "sched_getaffinity"):
        info["cpus_available"] = len(os.sched_getaffinity(0))
    try:
        with open("/proc/meminfo") as handle:
            total = next(line for line in handle if line.startswith("MemTotal"))
        info["memory_gb"] = round(int(total.split()[1]) / 1024 ** 2, 1)
    except (OSError, StopIteration):
        pass
    try:
        with open("/proc/cpuinfo") as handle:
            name = next(line for line in handle if line.startswith("model name"))
        info["cpu"] = name.split(":", 1)[1].strip()
    except (OSError, StopIteration):
        pass
    return info


def protocol_record(data: BenchmarkData, plans: Mapping[str, Any], settings: Mapping[str, Any],
                    fingerprint: Mapping[str, Any], skipped: Mapping[str, str],
                    command: str | None, started: float, finished: float | None,
                    n_inner: tuple[int, int]) -> dict[str, Any]:
    """What ``protocol.json`` holds: enough to run the benchmark again the same way."""
    models = {}
    for name, plan in plans.items():
        tried = []
        for setting in plan.settings:
            record = plan.tune.get(setting_key(setting), {})
            tried.append({"setting": setting, "inner_auprc": record.get("inner_auprc"),
                          "status": record.get("status"), "error": record.get("error")})
        models[name] = {
            "description": plan.description, "extras": list(plan.extras),
            "grid": GRIDS.get(name), "fixed": FIXED.get(name), "pinned": plan.pinned,
            "settings_tried": tried if plan.needs_tuning else [],
            "chosen": plan.chosen, "error": plan.error,
            "seeds_done": sorted(s for s, r in plan.fits.items() if r.get("status") == "ok"),
            "seeds_failed": {str(s): r.get("error") for s, r in plan.fits.items()
                             if r.get("status") != "ok"},
        }
    return {
        "command": command or " ".join(sys.argv),
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(started)),
        "finished": (time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(finished))
                     if finished else None),
        "data": {**data.description, **data.summary()},
        "fingerprint": dict(fingerprint),
        "protocol": {
            "tuning": (f"the defaults and at most {settings['max_settings']} grid settings per "
                       f"model, each fitted once (seed {settings['seeds'][0]}) on "
                       f"{n_inner[0]} training stays and scored by AUPRC on an inner validation "
                       f"share of {n_inner[1]} stays ({settings['inner_valid']:.0%}, stratified, "
                       f"seed {settings['seeds'][0]}); the best is fitted on every training "
                       "stay with each seed; the scored stays are never used to choose"),
            "intervals": (f"95 % percentile bootstrap intervals of the seed-mean metric, "
                          f"{settings['n_bootstrap']} resamples of the scored stays (seed 0, the "
                          "same for every model); paired tests on the same resamples"),
            "calibration": "Brier score; expected calibration error over 10 equal-width bins",
            "workers": (f"{settings['jobs']} spawned worker process(es), {settings['threads']} "
                        "thread(s) each (OpenMP/BLAS variables, threadpoolctl, torch, n_jobs)"),
        },
        "settings": dict(settings),
        "models": models,
        "skipped": dict(skipped),
        "versions": _versions(),
        "machine": _machine(),
    }


def _mean(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.mean(values)) if values else float("nan")


def _sd(records: list[dict[str, Any]], key: str) -> float:
    values = [r[key] for r in records if r.get(key) is not None]
    return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _model_rows(plans: Mapping[str, Any], seeds: Sequence[int], y: np.ndarray,
                n_bootstrap: int) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    from ..evaluation import calibration_metrics, seed_mean_metrics

    rows, scores = [], {}
    for name, plan in plans.items():
        row: dict[str, Any] = {"model": name, "seeds": len(seeds), "seeds_ok": 0}
        errors = []
        if plan.error:
            errors.append(plan.error)
        tuned = [r for r in plan.tune.values()]
        if plan.needs_tuning:
            row["tuning_fits"] = len(tuned)
            row["tuning_wall_s"] = float(sum(r.get("fit_wall_s") or 0 for r in tuned))
            row["tuning_cpu_s"] = float(sum(r.get("fit_cpu_s") or 0 for r in tuned))
            failed_tuning = [r for r in tuned if r.get("status") != "ok"]
            if failed_tuning:
                errors.append(f"{len(failed_tuning)} tuning setting(s) failed, e.g. "
                              f"{failed_tuning[0].get('error')}")
        else:
            row["tuning_fits"] = 0
            row["tuning_wall_s"] = row["tuning_cpu_s"] = 0.0
        if plan.chosen is not None:
            free = {k: v for k, v in plan.chosen.items() if k not in plan.pinned}
            row["setting"] = describe_setting(free) + (
                f"; pinned {describe_setting(plan.pinned)}" if plan.pinned else "")
            chosen = plan.tune.get(setting_key(plan.chosen), {})
            row["inner_auprc"] = chosen.get("inner_auprc")
        ok = [plan.fits[s] for s in seeds if s in plan.fits and plan.fits[s].get("status") == "ok"]
        for s in seeds:
            record = plan.fits.get(s)
            if record is not None and record.get("status") != "ok":
                errors.append(f"seed {s}: {record.get('error')}")
        row["seeds_ok"] = len(ok)
        if ok:
            matrix = np.vstack([r["proba"] for r in ok])
            scores[name] = matrix
            m = seed_mean_metrics(y, matrix, n_bootstrap=n_bootstrap, random_state=0)
            for metric in ("auprc", "auroc"):
                for part in ("mean", "sd", "ci_low", "ci_high"):
                    row[f"{metric}_{part}"] = m[metric][part]
            calibration = [calibration_metrics(y, p) for p in matrix]
            row["brier"] = float(np.mean([c["brier"] for c in calibration]))
            row["ece"] = float(np.mean([c["ece"] for c in calibration]))
            for key in ("fit_wall_s", "fit_cpu_s", "predict_wall_s", "predict_cpu_s"):
                row[key] = _mean(ok, key)
            row["fit_wall_s_sd"] = _sd(ok, "fit_wall_s")
            row["fit_cpu_s_sd"] = _sd(ok, "fit_cpu_s")
            row["threads"] = ok[0].get("threads")
            row["peak_rss_mb"] = float(max(r.get("peak_rss_mb") or 0 for r in ok))
            row["fit_added_mb"] = float(max((r.get("peak_rss_mb") or 0)
                                            - (r.get("rss_before_mb") or 0) for r in ok))
            row["peak_scope"] = ok[0].get("peak_scope")
        row["status"] = ("ok" if len(ok) == len(seeds) and not plan.error
                         else "partial" if ok else "failed")
        row["error"] = "; ".join(errors)[:600] or None
        rows.append(row)
    table = pd.DataFrame(rows)
    if "auprc_mean" not in table:
        table["auprc_mean"] = np.nan
    table = table.sort_values(["auprc_mean", "model"], ascending=[False, True],
                              na_position="last", kind="mergesort").reset_index(drop=True)
    return table, scores


def _paired(table: pd.DataFrame, scores: Mapping[str, np.ndarray], y: np.ndarray,
            n_bootstrap: int) -> pd.DataFrame:
    from ..evaluation import paired_bootstrap

    ranked = [m for m in table["model"] if m in scores]
    if not ranked:
        return pd.DataFrame()
    best = ranked[0]
    rows = []
    for name in ranked[1:]:
        test = paired_bootstrap(y, scores[name], scores[best], n_bootstrap=n_bootstrap,
                                random_state=0)
        row: dict[str, Any] = {"model": name, "against": best}
        for metric in ("auprc", "auroc"):
            for part in ("difference", "ci_low", "ci_high", "p_value"):
                row[f"{metric}_{part}"] = test[metric][part]
        rows.append(row)
    return pd.DataFrame(rows, columns=["model", "against"] + [
        f"{m}_{p}" for m in ("auprc", "auroc") for p in ("difference", "ci_low", "ci_high", "p_value")])


def _subgroups(groups: Mapping[str, pd.Series], scores: Mapping[str, np.ndarray],
               y: np.ndarray) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    from ..evaluation import calibration_metrics

    rows = []
    for name, matrix in scores.items():
        for descriptor, labels in groups.items():
            values = labels.to_numpy()
            for group in sorted(pd.unique(values), key=str):
                inside = values == group
                yg = y[inside]
                row: dict[str, Any] = {"model": name, "descriptor": descriptor, "group": group,
                                       "stays": int(inside.sum()), "positive": int(yg.sum())}
                both = 0 < yg.sum() < len(yg)
                per_seed = [calibration_metrics(yg, p[inside]) for p in matrix]
                row["auroc"] = (float(np.mean([roc_auc_score(yg, p[inside]) for p in matrix]))
                                if both else np.nan)
                row["auprc"] = (float(np.mean([average_precision_score(yg, p[inside])
                                               for p in matrix])) if both else np.nan)
                row["observed_rate"] = float(yg.mean())
                row["mean_predicted"] = float(np.mean([c["mean_predicted"] for c in per_seed]))
                row["ece"] = float(np.mean([c["ece"] for c in per_seed]))
                rows.append(row)
    frame = pd.DataFrame(rows, columns=["model", "descriptor", "group", "stays", "positive",
                                        "auroc", "auprc", "observed_rate", "mean_predicted", "ece"])
    gaps = []
    for (name, descriptor), part in frame.groupby(["model", "descriptor"], sort=False):
        scored = part.dropna(subset=["auroc"])
        if scored.empty:
            continue
        worst = scored.loc[scored["auroc"].idxmin()]
        gaps.append({"model": name, "descriptor": descriptor, "groups": len(scored),
                     "worst_group": worst["group"], "worst_auroc": worst["auroc"],
                     "auroc_gap": float(scored["auroc"].max() - scored["auroc"].min()),
                     "auprc_gap": float(scored["auprc"].max() - scored["auprc"].min()),
                     "ece_gap": float(part["ece"].max() - part["ece"].min())})
    return frame, pd.DataFrame(gaps, columns=["model", "descriptor", "groups", "worst_group",
                                              "worst_auroc", "auroc_gap", "auprc_gap", "ece_gap"])


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def _seconds(value: Any) -> str:
    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _memory(peak: Any, added: Any) -> str:
    if peak is None:
        return "–"
    return f"{peak:.0f}" + (f" (+{added:.0f})" if added is not None else "")


def _markdown(table: pd.DataFrame, paired: pd.DataFrame, subgroups: pd.DataFrame,
              gaps: pd.DataFrame, data: BenchmarkData, seeds: Sequence[int], n_bootstrap: int,
              skipped: Mapping[str, str]) -> str:
    d = data.description
    summary = data.summary()
    lines = [f"# Benchmark: {d.get('name', 'data')}, scored on {d.get('eval_split', 'eval')}",
             "",
             f"{summary['eval']['stays']} scored stays ({summary['eval']['positive']} positive), "
             f"{summary['train']['stays']} training stays; seeds {', '.join(map(str, seeds))}; "
             f"AUPRC and AUROC as mean ± sd over seeds, 95 % CI: bootstrap of the seed mean "
             f"({n_bootstrap} resamples). Times are means per fit in seconds, wall and CPU (all "
             "threads); peak MB is the fitting process's resident peak, in brackets what the fit "
             "added to what the process held before it (the data, the libraries).",
             "",
             "| model | AUPRC | 95 % CI | AUROC | 95 % CI | Brier | ECE | fit s | fit CPU s "
             "| predict s | threads | peak MB | seeds | tuned setting | error |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for _, r in table.iterrows():
        def g(key, r=r):
            value = r.get(key)
            return None if isinstance(value, float) and np.isnan(value) else value
        ok = g("auprc_mean") is not None
        lines.append("| " + " | ".join([
            str(r["model"]),
            f"{g('auprc_mean'):.3f} ± {g('auprc_sd'):.3f}" if ok else "–",
            f"{g('auprc_ci_low'):.3f}–{g('auprc_ci_high'):.3f}" if ok else "–",
            f"{g('auroc_mean'):.3f} ± {g('auroc_sd'):.3f}" if ok else "–",
            f"{g('auroc_ci_low'):.3f}–{g('auroc_ci_high'):.3f}" if ok else "–",
            _fmt(g("brier")), _fmt(g("ece")), _seconds(g("fit_wall_s")),
            _seconds(g("fit_cpu_s")), _seconds(g("predict_wall_s")), _fmt(g("threads")),
            _memory(g("peak_rss_mb"), g("fit_added_mb")), f"{r['seeds_ok']}/{r['seeds']}",
            str(g("setting") or "–").replace("|", "/"),
            str(g("error") or "").replace("|", "/")]) + " |")
    if not paired.empty:
        best = paired["against"].iloc[0]
        lines += ["", f"## Paired bootstrap against the best ({best})", "",
                  f"Difference of the seed-mean metric (model − {best}) on the same "
                  f"{n_bootstrap} resamples; 95 % CI; two-sided bootstrap p-value.", "",
                  "| model | ΔAUPRC | 95 % CI | p | ΔAUROC | 95 % CI | p |",
                  "|---|---|---|---|---|---|---|"]
        for _, r in paired.iterrows():
            lines.append(f"| {r['model']} | {r['auprc_difference']:+.3f} | "
                         f"{r['auprc_ci_low']:+.3f}–{r['auprc_ci_high']:+.3f} | "
                         f"{r['auprc_p_value']:.3f} | {r['auroc_difference']:+.3f} | "
                         f"{r['auroc_ci_low']:+.3f}–{r['auroc_ci_high']:+.3f} | "
                         f"{r['auroc_p_value']:.3f} |")
    if not subgroups.empty:
        lines += ["", "## Subgroups", "",
                  "Worst-group gap: the largest minus the smallest group metric (groups holding "
                  "both classes); AUPRC depends on a group's prevalence, AUROC does not.", "",
                  "| model | descriptor | groups | worst group (AUROC) | AUROC gap | AUPRC gap "
                  "| ECE gap |", "|---|---|---|---|---|---|---|"]
        for _, r in gaps.iterrows():
            lines.append(f"| {r['model']} | {r['descriptor']} | {r['groups']} | "
                         f"{r['worst_group']} ({r['worst_auroc']:.3f}) | {r['auroc_gap']:.3f} | "
                         f"{r['auprc_gap']:.3f} | {r['ece_gap']:.3f} |")
        lines += ["", "| model | descriptor | group | stays | positive | AUROC | AUPRC | observed "
                  "| predicted | ECE |", "|---|---|---|---|---|---|---|---|---|---|"]
        for _, r in subgroups.iterrows():
            lines.append(f"| {r['model']} | {r['descriptor']} | {r['group']} | {r['stays']} | "
                         f"{r['positive']} | {_fmt(r['auroc'])} | {_fmt(r['auprc'])} | "
                         f"{r['observed_rate']:.3f} | {r['mean_predicted']:.3f} | {r['ece']:.3f} |")
    if skipped:
        lines += ["", "## Registered models left out", ""]
        lines += [f"- `{name}`: {reason}" for name, reason in sorted(skipped.items())]
    return "\n".join(lines) + "\n"


def _write_meds_predictions(samples: pd.DataFrame, proba: np.ndarray, path: Path) -> None:
    """meds-evaluation's format through the MEDS input's own writer
    (:func:`medfuse_sk.datasets.write_predictions`: the label columns,
    ``predicted_boolean_value`` and ``predicted_boolean_probability`` as float64), for the
    label rows of the scored stays in their order (``BenchmarkData.meds_labels``)."""
    from ..datasets import write_predictions

    write_predictions(samples, proba, path)


def write_report(data: BenchmarkData, plans: Mapping[str, Any], out: Path, *,
                 seeds: Sequence[int], groups: Mapping[str, pd.Series], n_bootstrap: int,
                 skipped: Mapping[str, str] | None = None,
                 progress: Callable[[str], None] = lambda line: None) -> Any:
    """Build the tables and figures from the finished units and write them into ``out``."""

    y = data.y_eval.to_numpy()
    table, scores = _model_rows(plans, seeds, y, n_bootstrap)
    paired = _paired(table, scores, y, n_bootstrap)
    subgroups, gaps = _subgroups(groups, scores, y)
    files = []
    table.to_csv(out / "table.csv", index=False)
    paired.to_csv(out / "paired.csv", index=False)
    files += [out / "table.csv", out / "paired.csv"]
    if groups:
        subgroups.to_csv(out / "subgroups.csv", index=False)
        gaps.to_csv(out / "subgroup_gaps.csv", index=False)
        files += [out / "subgroups.csv", out / "subgroup_gaps.csv"]
    stays = data.X_eval.stay_ids
    for name, matrix in scores.items():
        ok = [s for s in seeds if s in plans[name].fits
              and plans[name].fits[s].get("status") == "ok"]
        frame = pd.DataFrame({"stay_id": np.tile(stays, len(ok)), "seed": np.repeat(ok, len(stays)),
                              "label": np.tile(y, len(ok)), "proba": matrix.ravel()})
        path = out / "predictions" / f"{name}.csv"
        path.parent.mkdir(exist_ok=True)
        frame.to_csv(path, index=False)
        files.append(path)
        if data.meds_labels is not None:
            for seed, proba in zip(ok, matrix):
                meds = out / "predictions" / name / f"seed_{seed}.parquet"
                _write_meds_predictions(data.meds_labels, proba, meds)
                files.append(meds)
    title = f"{data.description.get('name', 'data')} ({data.description.get('eval_split', 'eval')})"
    if scores:
        files += write_figures(table, scores, y, out, title)
    text = _markdown(table, paired, subgroups, gaps, data, seeds, n_bootstrap, skipped or {})
    (out / "table.md").write_text(text)
    files.append(out / "table.md")
    progress(f"wrote {out}/table.md, table.csv, paired.csv"
             + (", subgroups.csv" if groups else "") + ", predictions/, figures, protocol.json")
    return BenchmarkResult(out=out, table=table, paired=paired, subgroups=subgroups, plans=dict(plans),
                           skipped=dict(skipped or {}), fitted=0, files=files)
