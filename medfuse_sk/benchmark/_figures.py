"""The benchmark's pictures: AUPRC against fit time, and one reliability panel per model.

Every model keeps one colour in both figures. Labels of the scatter are moved apart so that
none covers another (models at the same point share one label), and the reliability curves
are drawn as small multiples, so that a dozen models stay readable.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["write_figures", "label_offsets", "merge_coincident"]

_FONT = 8.0
_CHAR_WIDTH = 0.6 * _FONT  # points per character, a generous mean for the default sans font
_LABEL_HEIGHT = 1.3 * _FONT
_OFFSET = (6.0, 4.0)


def merge_coincident(xy: np.ndarray, labels: Sequence[str], tol: float = 1.0
                     ) -> tuple[np.ndarray, list[str]]:
    """Join the labels of points that lie within ``tol`` (display points) of each other.

    Returns the positions kept (the first of each group) and their labels, joined with ", "
    (``medfuse`` and ``medfuse_fast`` at one point read ``medfuse, medfuse_fast``).
    """
    kept: list[int] = []
    names: list[list[str]] = []
    for i, label in enumerate(labels):
        for k, j in enumerate(kept):
            if np.all(np.abs(xy[i] - xy[j]) <= tol):
                names[k].append(label)
                break
        else:
            kept.append(i)
            names.append([label])
    return xy[kept].reshape(-1, 2), [", ".join(n) for n in names]


def label_offsets(xy: np.ndarray, widths: Sequence[float], height: float = _LABEL_HEIGHT,
                  pad: float = 1.0, offset: tuple[float, float] = _OFFSET,
                  right: float = np.inf) -> np.ndarray:
    """Offsets (in points) for labels so that no two label boxes overlap.

    ``xy`` holds the labelled points in display points, ``widths`` each label's width. Each
    label starts at ``offset`` up and right of its point, or left of it where it would pass
    ``right`` (the axes' right edge); from the highest point down, a label that would overlap
    one already placed moves below it. Returns an ``(n, 2)`` array of offsets of the labels'
    lower-left corners for ``annotate(..., textcoords="offset points")``.
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    offsets = np.tile(np.asarray(offset, dtype=float), (len(xy), 1))
    placed: list[tuple[float, float, float, float]] = []
    for i in np.argsort(-xy[:, 1], kind="stable"):
        if xy[i, 0] + offsets[i, 0] + widths[i] > right:
            offsets[i, 0] = -offset[0] - widths[i]
        x0 = xy[i, 0] + offsets[i, 0]
        dy = offsets[i, 1]
        for _ in range(len(xy) + 1):
            y0 = xy[i, 1] + dy
            hits = [b for b in placed if x0 < b[2] and b[0] < x0 + widths[i]
                    and y0 < b[3] and b[1] < y0 + height]
            if not hits:
                break
            dy = min(b[1] for b in hits) - height - pad - xy[i, 1]
        offsets[i, 1] = dy
        placed.append((x0, xy[i, 1] + dy, x0 + widths[i], xy[i, 1] + dy + height))
    return offsets


def _colours(names: Sequence[str]) -> dict[str, tuple[float, ...]]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _scatter(ok: pd.DataFrame, colours: Mapping[str, tuple[float, ...]], title: str,
             prevalence: float, path: Path) -> None:
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    fig, ax = plt.subplots(figsize=(7.0, 4.8))
    for _, r in ok.iterrows():
        ax.errorbar(r["fit_cpu_s"], r["auprc_mean"], yerr=r["auprc_sd"],
                    xerr=r.get("fit_cpu_s_sd", 0.0), fmt="o", capsize=3, color=colours[r["model"]])
    if len(ok) and (ok["fit_cpu_s"] > 0).all():
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(ScalarFormatter())
        ax.xaxis.set_minor_formatter(NullFormatter())
    threads = sorted({int(t) for t in ok["threads"].dropna()}) if "threads" in ok else []
    ax.set(xlabel=f"fit time per seed (CPU seconds, {'/'.join(map(str, threads)) or '?'} "
                  "thread(s); a shared machine inflates wall time, not CPU time)",
           ylabel="AUPRC (mean ± sd over seeds)", title=f"{title}; prevalence {prevalence:.3f}")
    ax.xaxis.label.set_size(8)
    ax.margins(x=0.08, y=0.08)
    fig.tight_layout()
    if len(ok):
        to_points = 72.0 / fig.dpi
        data = ok[["fit_cpu_s", "auprc_mean"]].to_numpy(dtype=float)
        xy = ax.transData.transform(data) * to_points
        xy, labels = merge_coincident(xy, list(ok["model"]))
        right = ax.transAxes.transform((1.0, 0.0))[0] * to_points
        offsets = label_offsets(xy, [_CHAR_WIDTH * len(s) for s in labels], right=right)
        inverse = ax.transData.inverted()
        for (x, y), label, (dx, dy) in zip(xy, labels, offsets):
            anchor = inverse.transform((x / to_points, y / to_points))
            moved = abs(dy - _OFFSET[1]) > 0.5
            ax.annotate(label, anchor, textcoords="offset points", xytext=(dx, dy),
                        fontsize=_FONT, va="bottom",
                        arrowprops={"arrowstyle": "-", "lw": 0.5, "color": "grey"} if moved
                        else None)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _reliability(ok: pd.DataFrame, scores: Mapping[str, np.ndarray], y: np.ndarray,
                 colours: Mapping[str, tuple[float, ...]], title: str, path: Path) -> None:
    import matplotlib.pyplot as plt

    from ..evaluation import reliability_curve

    n = max(len(ok), 1)
    ncols = min(4, n)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.6 * ncols + 0.4, 2.6 * nrows + 0.6),
                             sharex=True, sharey=True, squeeze=False)
    for ax, (_, r) in zip(axes.flat, ok.iterrows()):
        matrix = scores[r["model"]]
        curve = reliability_curve(np.tile(y, len(matrix)), matrix.ravel())
        filled = curve["count"] > 0
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.plot(curve["predicted"][filled], curve["observed"][filled], "o-", ms=3,
                color=colours[r["model"]])
        ax.set_title(f"{r['model']}\nECE {r['ece']:.3f}", fontsize=8)
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(ok):]:
        ax.set_visible(False)
    fig.supxlabel("predicted probability (bin mean)", fontsize=9)
    fig.supylabel("observed rate", fontsize=9)
    fig.suptitle(f"Reliability, {title}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_figures(table: pd.DataFrame, scores: Mapping[str, np.ndarray], y: np.ndarray,
                  out: Path, title: str) -> list[Path]:
    """Draw ``auprc_vs_fit_time.png`` and ``reliability.png`` into ``out`` for the models of
    ``table`` that have predictions in ``scores``; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    ok = table[table["model"].isin(list(scores))]
    colours = _colours(list(ok["model"]))
    paths = [out / "auprc_vs_fit_time.png", out / "reliability.png"]
    _scatter(ok, colours, title, float(np.mean(y)), paths[0])
    _reliability(ok, scores, y, colours, title, paths[1])
    return paths
