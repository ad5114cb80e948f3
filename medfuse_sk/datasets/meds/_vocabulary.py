"""Which features a MEDS code becomes, learned on the training split only.

A code's rows are of three kinds: with a number (``numeric_value``), with text and no number
(``text_value``), or bare (neither). Each kind a code shows in the training samples becomes a
feature:

========================  ================================================================
rows of code ``C``        feature
========================  ================================================================
with a number             ``C``, numerical (the value)
with text, no number      ``C`` categorical (the text is the class) — or ``C//text`` when
                          ``C`` also carries numbers, so that both are kept
bare                      ``C``, a presence token (value 1) — or ``C//present`` when ``C``
                          also carries numbers or text
========================  ================================================================

Vocabulary control for the thousands of codes a real ETL emits: features seen fewer than
``min_count`` times in the training samples' windows, and all but the ``max_features`` most
frequent, go to one ``<unknown>`` presence feature (``unknown=True``) or are dropped (and
counted); classes of a categorical feature seen fewer than ``min_count`` times become the class
``<other>``, as do classes never seen in training. Rows of a (code, kind) never seen in
training go to ``<unknown>`` (or are dropped) like rare features.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["KINDS", "OTHER_CLASS", "TEXT_SUFFIX", "PRESENT_SUFFIX", "UNKNOWN_FEATURE",
           "MEDSVocabulary"]

#: The kinds of a code's rows, in the order of their integer codes (0, 1, 2).
KINDS = ("number", "text", "bare")
#: The feature of text rows of a code that also carries numbers: ``CODE//text``.
TEXT_SUFFIX = "//text"
#: The feature of bare rows of a code that also carries numbers or text: ``CODE//present``.
PRESENT_SUFFIX = "//present"
#: The presence feature that rare and unseen codes fall into (``unknown=True``).
UNKNOWN_FEATURE = "<unknown>"
#: The class that rare classes of a categorical feature become.
OTHER_CLASS = "<other>"


@dataclass
class MEDSVocabulary:
    """The features and classes MEDS codes become; fitted on the training samples.

    Parameters
    ----------
    min_count : int, default 1
        A feature (or a class of a categorical feature) seen fewer times in the training
        samples' windows goes to ``<unknown>`` (or the class ``<other>``).
    max_features : int or None, default None
        Keep only the most frequent features (ties by name); the others go to ``<unknown>``.
    unknown : bool, default True
        Rows of rare and unseen features become one ``<unknown>`` presence token; False drops
        them (counted in the cohort's report).

    Attributes
    ----------
    features : list of dict
        Each kept feature: ``name``, ``code``, ``kind`` (``number``, ``text`` or ``bare``) and
        ``count`` (rows in the training samples' windows), most frequent first.
    classes : dict of str to list of str
        The kept classes of each categorical feature.
    n_rare : int
        Features that went to ``<unknown>`` (or were dropped) at fit time.
    """

    min_count: int = 1
    max_features: int | None = None
    unknown: bool = True
    features: list[dict[str, Any]] = field(default_factory=list)
    classes: dict[str, list[str]] = field(default_factory=dict)
    n_rare: int = 0
    fitted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.min_count, (int, np.integer)) or self.min_count < 1:
            raise ValueError(f"min_count must be an int >= 1, got {self.min_count!r}")
        if self.max_features is not None and (
                not isinstance(self.max_features, (int, np.integer)) or self.max_features < 1):
            raise ValueError(f"max_features must be an int >= 1 or None, got {self.max_features!r}")

    # -- fit -------------------------------------------------------------------------------
    def fit(self, counts: pd.DataFrame, class_counts: pd.DataFrame) -> MEDSVocabulary:
        """Learn the features from training counts.

        Parameters
        ----------
        counts : DataFrame
            Columns ``code``, ``kind`` (0, 1, 2 as in :data:`KINDS`) and ``count``: rows of each
            (code, kind) in the training samples' windows.
        class_counts : DataFrame
            Columns ``code``, ``text``, ``count``: text rows of each (code, class).
        """
        counts = counts[counts["count"] > 0].groupby(["code", "kind"], as_index=False)["count"].sum()
        kinds_of = counts.groupby("code")["kind"].agg(lambda k: set(k.tolist()))
        names = [_feature_name(code, kind, kinds_of[code])
                 for code, kind in zip(counts["code"], counts["kind"], strict=True)]
        table = pd.DataFrame({"name": names, "code": counts["code"].to_numpy(),
                              "kind": [KINDS[k] for k in counts["kind"]],
                              "count": counts["count"].to_numpy(dtype=np.int64)})
        table = table.sort_values(["count", "name"], ascending=[False, True], kind="stable")
        keep = table["count"].to_numpy() >= self.min_count
        if self.max_features is not None:
            keep &= np.arange(len(table)) < self.max_features
        self.n_rare = int((~keep).sum())
        kept = table[keep]
        self.features = [{"name": str(n), "code": str(c), "kind": str(k), "count": int(m)}
                         for n, c, k, m in kept.itertuples(index=False)]
        text_names = {f["code"]: f["name"] for f in self.features if f["kind"] == "text"}
        self.classes = {name: [OTHER_CLASS] for name in text_names.values()}
        if len(class_counts):
            grouped = class_counts.groupby(["code", "text"], as_index=False)["count"].sum()
            grouped = grouped[grouped["code"].isin(list(text_names))]
            grouped = grouped.sort_values(["code", "count", "text"],
                                          ascending=[True, False, True])
            for code, part in grouped.groupby("code", sort=False):
                kept_classes = part["text"][part["count"] >= self.min_count].astype(str).tolist()
                # unseen and rare classes alike: <other> (last)
                self.classes[text_names[code]] = [c for c in kept_classes if c != OTHER_CLASS] + [
                    OTHER_CLASS]
        self.fitted = True
        return self

    # -- lookups ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """The kept feature names, then ``<unknown>`` when ``unknown`` is on."""
        return [f["name"] for f in self.features] + ([UNKNOWN_FEATURE] if self.unknown else [])

    @property
    def categorical(self) -> tuple[str, ...]:
        """The categorical features (those of text rows)."""
        return tuple(f["name"] for f in self.features if f["kind"] == "text")

    def entry_ids(self, codes: np.ndarray) -> np.ndarray:
        """Feature id (position in :attr:`names`) of each (code, kind) entry of ``codes``:
        entry ``3 * i + kind`` is code ``codes[i]``'s rows of that kind; -1 where the entry
        has no feature and ``unknown`` is off."""
        codes = np.asarray(codes, dtype=object)
        out = np.full(3 * len(codes), len(self.features) if self.unknown else -1, dtype=np.int32)
        if not len(codes):
            return out
        at = pd.Index(codes).get_indexer([f["code"] for f in self.features])
        kind = np.array([KINDS.index(f["kind"]) for f in self.features], dtype=np.int64)
        found = at >= 0
        out[3 * at[found] + kind[found]] = np.flatnonzero(found)
        return out

    def class_ids(self, feature_ids: np.ndarray, texts: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Class id of each (feature id, text) pair, into the returned list of classes (the
        classes of every categorical feature, in order): rare and unseen classes become
        ``<other>``, the last class of every categorical feature."""
        names = self.names
        offsets, classes = {}, []
        for name, kept in self.classes.items():
            offsets[name] = (len(classes), {c: j for j, c in enumerate(kept)})
            classes.extend(kept)
        out = np.full(len(texts), -1, dtype=np.int64)
        for fid in np.unique(feature_ids):
            name = names[fid] if 0 <= fid < len(names) else None
            if name not in offsets:
                continue
            start, index = offsets[name]
            rows = np.flatnonzero(feature_ids == fid)
            other = index[OTHER_CLASS]
            out[rows] = start + pd.Series(texts[rows]).map(index).fillna(other).to_numpy(np.int64)
        return out, classes

    # -- files -----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able description (:meth:`from_dict` reads it back)."""
        return {"min_count": int(self.min_count), "max_features": self.max_features,
                "unknown": bool(self.unknown), "features": self.features,
                "classes": self.classes, "n_rare": self.n_rare, "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> MEDSVocabulary:
        """The vocabulary :meth:`to_dict` described."""
        return cls(**{k: data[k] for k in ("min_count", "max_features", "unknown", "features",
                                           "classes", "n_rare", "fitted") if k in data})

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        state = (f"{len(self.features)} features ({len(self.categorical)} categorical), "
                 f"{self.n_rare} rare" if self.fitted else "not fitted")
        return (f"MEDSVocabulary(min_count={self.min_count}, max_features={self.max_features}, "
                f"unknown={self.unknown}: {state})")


def _feature_name(code: str, kind: int, kinds: set[int]) -> str:
    if kind == 0:
        return code
    if kind == 1:
        return code + TEXT_SUFFIX if 0 in kinds else code
    return code + PRESENT_SUFFIX if kinds & {0, 1} else code
