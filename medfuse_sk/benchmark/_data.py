"""The data of one benchmark: the training stays, the scored stays, and what they are.

Every model sees the same two parts. A registered cohort brings its own split (train on
``train``, score ``val`` — or the split asked for); a user's long table is split once, stratified
by label, with a seed (:meth:`BenchmarkData.from_split`). Subgroups are read from static
features of the scored stays (:func:`subgroup_labels`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import EventSet, static_codes
from ..utils import closest

__all__ = ["BenchmarkData", "BenchmarkResult", "Plan", "subgroup_labels", "SUBGROUP_ALIASES"]

#: Other names a descriptor goes by (``--subgroups sex`` finds P12's ``Gender``).
SUBGROUP_ALIASES = {"sex": ("gender",), "gender": ("sex",), "age": ("age_years", "anchor_age"),
                    "unit": ("icutype", "unit1")}
#: A numeric descriptor with more distinct values than this is cut into quartiles.
MAX_LEVELS = 5


@dataclass
class BenchmarkData:
    """The stays every model is fitted on and scored on.

    Attributes
    ----------
    X_train, X_eval : EventSet
        Training stays and scored stays.
    y_train, y_eval : pandas.Series
        0/1 labels indexed by stay id, in the order of ``X_train.stay_ids`` / ``X_eval.stay_ids``.
    description : dict
        What the data are, for the protocol record: ``source`` (``cohort``, ``files``, ``meds``),
        ``name`` (the cohort's name or the files), ``train_split``, ``eval_split`` and, for a
        split made here, how.
    meds_labels : pandas.DataFrame, optional
        For MEDS input: the label rows of the scored stays (``subject_id``,
        ``prediction_time``, ``boolean_value``), in the order of ``X_eval.stay_ids``; the
        benchmark then writes predictions in meds-evaluation's format.
    """

    X_train: EventSet
    y_train: pd.Series
    X_eval: EventSet
    y_eval: pd.Series
    description: dict[str, Any] = field(default_factory=dict)
    meds_labels: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        for part, X, y in (("training", self.X_train, self.y_train),
                           ("scored", self.X_eval, self.y_eval)):
            if not isinstance(y, pd.Series):
                raise TypeError(f"the {part} labels must be a pandas Series indexed by stay id")
            missing = pd.Index(X.stay_ids).difference(y.index)
            if len(missing):
                raise ValueError(f"{len(missing)} {part} stay(s) have no label, e.g. "
                                 f"{missing[:5].tolist()}")
            labels = set(pd.unique(y.loc[X.stay_ids]).tolist())
            if labels != {0, 1}:
                raise ValueError(f"the {part} stays need labels 0 and 1 (both); got "
                                 f"{sorted(labels, key=str)}")
        self.y_train = self.y_train.loc[self.X_train.stay_ids].astype(np.int64)
        self.y_eval = self.y_eval.loc[self.X_eval.stay_ids].astype(np.int64)
        overlap = pd.Index(self.X_train.stay_ids).intersection(self.X_eval.stay_ids)
        if len(overlap):
            raise ValueError(f"{len(overlap)} stay(s) are both trained on and scored, e.g. "
                             f"{overlap[:5].tolist()}: the two parts must be disjoint")

    @classmethod
    def from_split(cls, X: EventSet, y: pd.Series, *, test_size: float = 0.2,
                   random_state: int = 0, description: Mapping[str, Any] | None = None
                   ) -> BenchmarkData:
        """One long table's stays split once into training and scored stays, stratified by
        label, with ``random_state`` (:func:`sklearn.model_selection.train_test_split`)."""
        from sklearn.model_selection import train_test_split

        if not 0 < test_size < 1:
            raise ValueError(f"test_size must lie in (0, 1), got {test_size!r}")
        labels = y.loc[X.stay_ids].to_numpy()
        train, scored = train_test_split(np.arange(len(X)), test_size=test_size, stratify=labels,
                                         random_state=random_state)
        train, scored = np.sort(train), np.sort(scored)
        info = {"train_split": f"{1 - test_size:.0%} of the stays",
                "eval_split": f"{test_size:.0%} of the stays",
                "split": f"stratified by label, sklearn train_test_split(test_size={test_size}, "
                         f"random_state={random_state})", **(description or {})}
        return cls(X[train], y, X[scored], y, info)

    def summary(self) -> dict[str, Any]:
        """Stays, positives, events and features of each part."""
        def part(X: EventSet, y: pd.Series) -> dict[str, Any]:
            return {"stays": len(X), "positive": int(y.sum()), "events": int(X.n_rows),
                    "features": len(X.feature_names)}

        return {"train": part(self.X_train, self.y_train), "eval": part(self.X_eval, self.y_eval)}

    def fingerprint(self) -> str:
        """SHA-256 of both parts' stays, labels and events: a rerun must find the same data."""
        digest = hashlib.sha256()
        for X, y in ((self.X_train, self.y_train), (self.X_eval, self.y_eval)):
            digest.update(np.asarray(X.stay_ids).astype(str).astype(bytes).tobytes())
            digest.update(y.to_numpy(np.int64).tobytes())
            digest.update(np.ascontiguousarray(X.offsets).tobytes())
            for name in sorted(X.columns):
                digest.update(np.ascontiguousarray(X.columns[name]).tobytes())
            digest.update("\x00".join(map(str, X.feature_names)).encode())
            digest.update("\x00".join(map(str, X.categories)).encode())
        return digest.hexdigest()


def _find_feature(name: str, features: Sequence[Any]) -> Any:
    by_lower = {str(f).lower(): f for f in features}
    for candidate in (name, *SUBGROUP_ALIASES.get(str(name).lower(), ())):
        if candidate in features:
            return candidate
        if str(candidate).lower() in by_lower:
            return by_lower[str(candidate).lower()]
    close = closest(name, features)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ValueError(f"--subgroups {name}: no feature of that name in the scored stays{hint} "
                     f"({len(features)} features)")


def _level(value: Any) -> str:
    """A class label as text: ``1`` for the float 1.0 a numeric-coded class is stored as."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return f"{value:g}"
    return str(value)


def subgroup_labels(X: EventSet, names: Sequence[str]) -> dict[str, pd.Series]:
    """The group of every scored stay for each descriptor in ``names``.

    A descriptor is a static feature (:func:`~medfuse_sk.data.static_codes`: at most one value
    per stay, at the stay's first time), found by its name, case aside, or an alias
    (:data:`SUBGROUP_ALIASES`). Categorical features and numbers with at most five distinct
    values form one group per value; other numbers are cut into quartiles of the scored stays
    (``Q1 [a, b]`` … ``Q4``). A stay without the descriptor is in the group ``missing``.

    Returns
    -------
    dict
        The feature's name as found → a Series of group names indexed by stay id, in the order of
        ``X.stay_ids``.

    Raises
    ------
    ValueError
        A name matching no feature (with the closest names), or a feature that is not static.
    """
    features = list(X.feature_names)
    static = static_codes(X, len(features))
    groups: dict[str, pd.Series] = {}
    for name in names:
        found = _find_feature(name, features)
        code = features.index(found)
        if not static[code]:
            statics = [str(f) for f, s in zip(features, static) if s]
            raise ValueError(f"--subgroups {name}: feature {found!r} is not static in the scored "
                             "stays (a stay holds it more than once, or later than its first "
                             f"time); static features: {', '.join(statics) or 'none'}")
        rows = np.flatnonzero(X.columns["feature"] == code)
        stay = X.row_stay_index()[rows]
        category = X.columns["category"][rows]
        label = pd.Series("missing", index=pd.Index(X.stay_ids), dtype=object)
        if (category >= 0).all() and len(rows):
            label.iloc[stay] = [_level(c) for c in X.categories[category]]
        else:
            values = X.columns["value"][rows].astype(np.float64)
            distinct = np.unique(values)
            if len(distinct) <= MAX_LEVELS:
                label.iloc[stay] = [f"{v:g}" for v in values]
            else:
                quartile = pd.qcut(values, 4, labels=False, duplicates="drop")
                names_q = {}
                for q in np.unique(quartile):
                    inside = values[quartile == q]
                    names_q[q] = f"Q{q + 1} [{inside.min():g}, {inside.max():g}]"
                label.iloc[stay] = [names_q[q] for q in quartile]
        groups[str(found)] = label
    return groups


@dataclass
class Plan:
    """What one model's units are: its settings, the chosen one, its records."""

    name: str
    settings: list[dict[str, Any]] = field(default_factory=list)
    tune: dict[str, dict[str, Any]] = field(default_factory=dict)   # setting key → record
    fits: dict[int, dict[str, Any]] = field(default_factory=dict)   # seed → record
    chosen: dict[str, Any] | None = None
    error: str | None = None       # the model could not even be built
    factory: Any = None
    description: str = ""
    extras: tuple[str, ...] = ()
    pinned: dict[str, Any] = field(default_factory=dict)  # set on every setting

    @property
    def needs_tuning(self) -> bool:
        return len(self.settings) > 1


@dataclass
class BenchmarkResult:
    """What a benchmark wrote and its tables."""

    out: Path
    table: Any            # pandas.DataFrame, one row per model
    paired: Any           # pandas.DataFrame, every model against the best
    subgroups: Any        # pandas.DataFrame, one row per model, descriptor and group
    plans: dict[str, Plan]
    skipped: dict[str, str]
    fitted: int           # units fitted by this call (0 for a finished benchmark)
    files: list[Path]
