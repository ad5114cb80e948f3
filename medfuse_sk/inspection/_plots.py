"""Figures for explanations (matplotlib): a stay's timeline, a global ranking, feature responses.

Every function returns the matplotlib ``Figure`` and writes a PNG when ``path`` is given.
Colours: red raises the risk, blue lowers it (attributions to the logit, ``RdBu_r`` centred
at 0).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ._explain import FeatureResponse, feature_importance

__all__ = ["plot_stay", "plot_importance", "plot_attribution_vs_value", "plot_feature_responses"]


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | os.PathLike | None, dpi: int = 100):
    if path is not None:
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig


def plot_stay(table: pd.DataFrame, stay: Any, path: str | os.PathLike | None = None, *,
              max_features: int = 12, title: str | None = None):
    """One stay's measurements over time, one panel per feature, coloured by attribution.

    Parameters
    ----------
    table : the output of :func:`~medfuse_sk.inspection.explain`
    stay : the stay id
    path : PNG to write (optional)
    max_features : show the features with the largest total |attribution| in this stay; the
        others are summed up in the caption
    """
    plt = _pyplot()
    from matplotlib.colors import Normalize

    stay_col = table.columns[0]
    rows = table[table[stay_col] == stay]
    if rows.empty:
        raise ValueError(f"stay {stay!r} is not in the explanation table "
                         f"({table[stay_col].nunique()} stays)")
    weight = rows.groupby("feature", sort=False, observed=True)["attribution"]
    total = weight.sum()
    order = weight.apply(lambda a: a.abs().sum()).sort_values(ascending=False).index
    shown = list(order[:max_features])
    hidden = list(order[max_features:])
    limit = float(np.abs(rows["attribution"]).max()) or 1.0
    norm, cmap = Normalize(-limit, limit), plt.get_cmap("RdBu_r")

    height = 0.75 * len(shown) + 1.4
    fig, axes = plt.subplots(len(shown), 1, sharex=True, squeeze=False, figsize=(9, height))
    fig.subplots_adjust(top=1 - 0.75 / height, bottom=0.5 / height, hspace=0.3)
    t_max = max(float(rows["time"].max()), 1.0)
    for ax, feature in zip(axes[:, 0], shown):
        r = rows[rows["feature"] == feature].sort_values("time")
        y = r["value"].to_numpy(dtype=float)
        categorical = np.isnan(y).all()
        if categorical:
            y = np.zeros(len(r))
            for t, c in zip(r["time"], r["category"]):
                ax.annotate(str(c), (t, 0), textcoords="offset points", xytext=(4, 2), fontsize=6)
            ax.set_yticks([])
        else:
            ax.plot(r["time"], y, color="0.75", lw=0.8, zorder=1)
        ax.scatter(r["time"], y, c=r["attribution"], cmap=cmap, norm=norm, s=18,
                   edgecolors="0.3", linewidths=0.3, zorder=2)
        ax.set_ylabel(f"{feature}\n{total[feature]:+.3f}", rotation=0, ha="right", va="center",
                      fontsize=7)
        ax.tick_params(labelsize=6)
        ax.set_xlim(-0.02 * t_max, 1.02 * t_max)
        if not categorical and np.ptp(y) == 0:
            ax.set_ylim(y[0] - 1, y[0] + 1)
    axes[-1, 0].set_xlabel("hours since the stay's start", fontsize=8)
    first = rows.iloc[0]
    gap = first["logit"] - first["baseline_logit"]
    if title is None:
        title = (f"stay {stay}: predicted risk {first['risk']:.1%} "
                 f"(baseline {first['baseline_risk']:.1%})")
    caption = (f"sum of attributions {rows['attribution'].sum():+.3f} = logit − baseline logit "
               f"{gap:+.3f} (delta {first['delta']:+.1e})")
    if hidden:
        caption += (f"; {len(hidden)} more features not shown "
                    f"(their sum {float(total[hidden].sum()):+.3f})")
    fig.suptitle(f"{title}\n{caption}", fontsize=8.5)
    mappable = plt.cm.ScalarMappable(norm=norm, cmap=cmap)
    bar = fig.colorbar(mappable, ax=axes[:, 0].tolist(), fraction=0.025, pad=0.01)
    bar.set_label("attribution to the logit (red raises risk)", fontsize=7)
    bar.ax.tick_params(labelsize=6)
    return _save(fig, path)


def plot_importance(table: pd.DataFrame, path: str | os.PathLike | None = None, *,
                    top: int = 20, title: str | None = None):
    """Features ranked by mean |per-stay attribution| over the explained stays (global view).

    Bars: mean over stays of |sum of the feature's attributions in the stay|; dots: the mean
    signed effect (right of 0: the feature's values raised risk on average).
    """
    plt = _pyplot()
    imp = feature_importance(table).head(top)[::-1]
    n = table[table.columns[0]].nunique()
    fig, ax = plt.subplots(figsize=(6.5, 0.26 * len(imp) + 1.2))
    y = np.arange(len(imp))
    ax.barh(y, imp["mean_abs"], color="0.7", label="mean |attribution|")
    colours = np.where(imp["mean_signed"] >= 0, "tab:red", "tab:blue")
    ax.scatter(imp["mean_signed"], y, c=colours, s=14, zorder=3, label="mean signed")
    ax.axvline(0, color="0.3", lw=0.6)
    ax.set_yticks(y, [str(f) for f in imp.index], fontsize=7)
    ax.tick_params(axis="x", labelsize=7)
    ax.set_xlabel("attribution to the logit, per stay", fontsize=8)
    ax.set_title(title or f"What drove the risk: {n} stays", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path)


def plot_attribution_vs_value(table: pd.DataFrame, features: Sequence[str],
                              path: str | os.PathLike | None = None, *,
                              title: str | None = None):
    """Token attribution against the token's value, one panel per feature.

    Shows what the whole network does with a value: a U-shape means both too-low and
    too-high values raise the risk.
    """
    plt = _pyplot()
    features = [f for f in features if (table["feature"] == f).any()]
    if not features:
        raise ValueError("none of the features is in the explanation table")
    fig, axes = plt.subplots(1, len(features), figsize=(3.2 * len(features), 2.8), squeeze=False)
    for ax, feature in zip(axes[0], features):
        r = table[table["feature"] == feature]
        ax.scatter(r["value"], r["attribution"], s=3, alpha=0.35, color="tab:purple",
                   edgecolors="none")
        ax.axhline(0, color="0.3", lw=0.6)
        ax.set_xlabel(f"{feature} (as measured)", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("attribution to the logit", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return _save(fig, path)


def plot_feature_responses(
    responses: Mapping[str, Sequence[FeatureResponse]],
    levels: Mapping[str, tuple[float, float, float]],
    path: str | os.PathLike | None = None,
    *,
    title: str | None = None,
):
    """Per feature (rows) and fusion (column pairs): gate heat map and token similarity.

    Heat map: each gate entry (``add``: each entry of the value embedding) against the value,
    minus its value at the normal level, entries sorted by their rise from the lowest to the
    highest value. Similarity: cosine similarity of the fused tokens of every two values.

    Parameters
    ----------
    responses : feature → its :class:`FeatureResponse` for each fusion to compare
    levels : feature → (low, normal, high) values, marked on the plots; the panel titles give
        the cosine distances between the fused tokens at these values and the ``fold`` ratio
        ``d(low, high) / mean(d(low, normal), d(normal, high))``
    """
    plt = _pyplot()
    features = list(responses)
    n_fusions = max(len(v) for v in responses.values())
    fig, axes = plt.subplots(len(features), 2 * n_fusions, squeeze=False,
                             figsize=(4.1 * n_fusions * 2 * 0.75, 2.7 * len(features)))
    for row, feature in enumerate(features):
        low, normal, high = levels[feature]
        for col, resp in enumerate(responses[feature]):
            ax_g, ax_s = axes[row, 2 * col], axes[row, 2 * col + 1]
            order = np.argsort(resp.values)
            v, g = resp.values[order], resp.gates[order]
            # the value-dependent part: each entry minus its value at the normal level
            g = g - np.array([np.interp(normal, v, g[:, j]) for j in range(g.shape[1])])
            rank = np.argsort(g[-1] - g[0])  # entries rising with the value on top
            span = (v[0], v[-1])
            limit = float(np.abs(g).max()) or 1.0
            im = ax_g.imshow(g[:, rank].T, aspect="auto", origin="lower", cmap="RdBu_r",
                             vmin=-limit, vmax=limit, extent=(*span, 0, g.shape[1]),
                             interpolation="nearest")
            fig.colorbar(im, ax=ax_g, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
            what = "gate g(x)" if resp.fusion == "mufuse" else (
                "value embedding φ(x)" if resp.fusion == "add" else "token z(x)")
            ax_g.set_title(f"{feature}, {resp.fusion}: {what} − at normal", fontsize=8)
            ax_g.set_xlabel(f"{feature} (as measured)", fontsize=7)
            ax_g.set_ylabel("entry (sorted)", fontsize=7)
            sim = resp.similarity()[np.ix_(order, order)]
            im = ax_s.imshow(sim, origin="lower", cmap="magma", extent=(*span, *span),
                             vmin=min(float(sim.min()), 0.9), vmax=1.0, interpolation="nearest")
            fig.colorbar(im, ax=ax_s, fraction=0.05, pad=0.02).ax.tick_params(labelsize=6)
            d = resp.distances(low, normal, high)
            ax_s.set_title(f"token cosine similarity\nfold {d['fold']:.2f} "
                           f"(d lo-hi {d['low_high']:.3f}, lo-n {d['low_normal']:.3f}, "
                           f"n-hi {d['normal_high']:.3f})", fontsize=7)
            ax_s.set_xlabel(f"{feature}", fontsize=7)
            for ax, colour in ((ax_g, "0.2"), (ax_s, "white")):
                ax.tick_params(labelsize=6)
                for x in (low, normal, high):
                    ax.axvline(x, color=colour, lw=0.7, ls="--")
            for y in (low, normal, high):
                ax_s.axhline(y, color="white", lw=0.7, ls="--")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)
