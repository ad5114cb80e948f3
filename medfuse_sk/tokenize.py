"""Events → tokens: the :class:`EventTokenizer` transformer and its :class:`TokenSet` output.

No torch here. The tokenizer learns, in ``fit`` and from the training stays only, the
feature vocabulary, the classes of categorical features and per-feature value scaling;
``transform`` applies them, optionally summarising events into time windows, and caps the
number of tokens per stay.

Token-cap policy: a stay with more than ``max_tokens`` tokens keeps its ``max_tokens`` most
recent ones (``truncate="last"``, the default: the latest state matters most for outcome
prediction) or its earliest ones (``truncate="first"``); a warning says how many stays were cut.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._ragged import RaggedStays
from .events import EventSet, _examples

__all__ = ["EventTokenizer", "TokenSet", "EMPTY_FEATURE"]

EMPTY_FEATURE = "<empty>"  # vocabulary entry 0: the one token a stay without events gets
_IQR_TO_SD = 1.349


class TokenSet(RaggedStays):
    """Tokens of many stays, ready for the model.

    Columns (flat, per token): ``feature`` (vocabulary id, int32), ``value`` (scaled number,
    float32; 0 for categorical tokens), ``category`` (class id, int32; -1 for numerical
    tokens), ``time`` (hours, float32).

    Attributes
    ----------
    feature_names : ndarray of object
        The vocabulary; entry 0 is ``"<empty>"``.
    n_categories : int
        Size of the class vocabulary (entry 0 is "unknown class").
    """

    def __init__(self, stay_ids, offsets, columns, feature_names, n_categories: int) -> None:
        super().__init__(stay_ids, offsets, columns)
        self.feature_names = np.asarray(feature_names, dtype=object)
        self.n_categories = int(n_categories)

    @property
    def n_features(self) -> int:
        return len(self.feature_names)

    def __repr__(self) -> str:
        return (f"<TokenSet: {len(self)} stays, {self.n_rows} tokens, "
                f"vocabulary {self.n_features} features / {self.n_categories} classes>")


def as_event_set(X: Any) -> EventSet:
    """Accept an EventSet, or a long table with the default column names."""
    if isinstance(X, EventSet):
        return X
    if isinstance(X, TokenSet):
        raise TypeError("got a TokenSet: it is already tokenized")
    return EventSet.from_long(X)


class EventTokenizer(TransformerMixin, BaseEstimator):
    """Turn an :class:`EventSet` into model tokens; learn vocabulary and scaling in ``fit``.

    Parameters
    ----------
    window : float or None, default None
        Width of summary windows in hours. ``None`` keeps raw events (one token per event).
        With a window, per (stay, feature, window) the median of numerical values and the
        most frequent class of categorical values become one token, timed at the window's
        centre.
    horizon : float or None, default None
        Only with ``window``: events after ``horizon`` hours are dropped (with a warning);
        an event exactly at ``horizon`` falls into the last window. ``None`` means no limit.
    max_tokens : int or None, default 1000
        Cap on tokens per stay (see the module docstring for the policy). ``None``: no cap.
    truncate : {"last", "first"}, default "last"
        Which tokens a capped stay keeps.
    scaling : {"robust", "standard", "none"}, default "robust"
        Per-feature value scaling learned on the training events: ``(x - median) / (IQR /
        1.349)`` or ``(x - mean) / std``. A zero spread falls back to std, then to 1.
    clip : float or None, default 5.0
        Scaled values are clipped to ``[-clip, clip]`` (tames outliers and unit errors).
    """

    def __init__(
        self,
        window: float | None = None,
        horizon: float | None = None,
        max_tokens: int | None = 1000,
        truncate: str = "last",
        scaling: str = "robust",
        clip: float | None = 5.0,
    ) -> None:
        self.window = window
        self.horizon = horizon
        self.max_tokens = max_tokens
        self.truncate = truncate
        self.scaling = scaling
        self.clip = clip

    # -- fit ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> EventTokenizer:
        """Learn the feature vocabulary, categorical classes and value scaling from ``X``."""
        self._check_params()
        events = as_event_set(X)
        c = events.columns
        used = np.unique(c["feature"])
        # vocabulary: 0 is the empty-stay token, then features in order of first appearance
        self.feature_names_ = np.concatenate([[EMPTY_FEATURE], events.feature_names[used]])
        self.feature_names_ = self.feature_names_.astype(object)
        self.categorical_features_ = tuple(
            f for f in events.categorical_features if f in set(self.feature_names_[1:])
        )
        feature_ids = self._feature_ids(events)[c["feature"]]

        is_cat = c["category"] >= 0
        pairs = pd.MultiIndex.from_arrays(
            [self.feature_names_[feature_ids[is_cat]], events.categories[c["category"][is_cat]]]
        ).unique()
        self.category_pairs_ = pairs  # class id = 1 + position; 0 = unknown class
        self.n_categories_ = len(pairs) + 1

        self.center_, self.scale_ = self._value_statistics(
            feature_ids[~is_cat], c["value"][~is_cat], len(self.feature_names_)
        )
        return self

    def _check_params(self) -> None:
        if self.window is not None and not self.window > 0:
            raise ValueError(f"window must be a positive number of hours or None, got {self.window!r}")
        if self.horizon is not None and not self.horizon > 0:
            raise ValueError(f"horizon must be positive or None, got {self.horizon!r}")
        if self.max_tokens is not None and (int(self.max_tokens) != self.max_tokens
                                            or self.max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive integer or None, got {self.max_tokens!r}")
        if self.truncate not in {"last", "first"}:
            raise ValueError(f"truncate must be 'last' or 'first', got {self.truncate!r}")
        if self.scaling not in {"robust", "standard", "none"}:
            raise ValueError(f"scaling must be 'robust', 'standard' or 'none', got {self.scaling!r}")

    def _value_statistics(
        self, feature_ids: np.ndarray, values: np.ndarray, n_features: int
    ) -> tuple[np.ndarray, np.ndarray]:
        center = np.zeros(n_features)
        scale = np.ones(n_features)
        if self.scaling == "none" or len(values) == 0:
            return center, scale
        grouped = pd.Series(values).groupby(feature_ids)
        std = grouped.std(ddof=0)
        if self.scaling == "robust":
            mid = grouped.median()
            spread = (grouped.quantile(0.75) - grouped.quantile(0.25)) / _IQR_TO_SD
            spread = spread.where(spread > 0, std)
        else:
            mid = grouped.mean()
            spread = std
        spread = spread.where(spread > 0, 1.0).fillna(1.0)
        center[mid.index.to_numpy()] = mid.to_numpy()
        scale[spread.index.to_numpy()] = spread.to_numpy()
        return center, scale

    def _feature_ids(self, events: EventSet) -> np.ndarray:
        """Vocabulary id of each of ``events.feature_names`` (-1 where unknown)."""
        return pd.Index(self.feature_names_).get_indexer(events.feature_names)

    # -- transform ---------------------------------------------------------------------
    def transform(self, X: Any) -> TokenSet:
        """Tokens of every stay of ``X``, in the order of ``X.stay_ids``."""
        check_is_fitted(self, "feature_names_")
        events = as_event_set(X)
        c = events.columns
        ids_of_event_features = self._feature_ids(events)
        feature = ids_of_event_features[c["feature"]]
        stay = events.row_stay_index()
        keep = feature > 0
        if not keep.all():
            unknown = np.unique(events.feature_names[np.unique(c["feature"][~keep])].astype(str))
            warnings.warn(
                f"ignored {int((~keep).sum())} events of {len(unknown)} feature(s) not seen in "
                f"fit: {_examples(unknown, 10)}", stacklevel=2)
        category = self._category_ids(events, feature)
        table = pd.DataFrame({"stay": stay, "feature": feature, "time": c["time"],
                              "value": c["value"], "category": category})[keep]

        if self.window is not None:
            table = self._summarise(table)
        numeric = table["category"].to_numpy() < 0
        value = table["value"].to_numpy(dtype=np.float64)
        f = table["feature"].to_numpy()
        scaled = np.where(numeric, (value - self.center_[f]) / self.scale_[f], 0.0)
        if self.clip is not None:
            scaled = np.clip(scaled, -self.clip, self.clip)
        table = table.assign(value=scaled)
        table = table.sort_values(["stay", "time", "feature"], kind="stable")
        return self._to_token_set(events.stay_ids, table)

    def _category_ids(self, events: EventSet, feature: np.ndarray) -> np.ndarray:
        c = events.columns
        category = np.full(len(feature), -1, dtype=np.int64)
        is_cat = c["category"] >= 0
        if not is_cat.any():
            return category
        pairs = pd.MultiIndex.from_arrays(
            [self.feature_names_[np.maximum(feature[is_cat], 0)],
             events.categories[c["category"][is_cat]]])
        category[is_cat] = self.category_pairs_.get_indexer(pairs) + 1  # unknown → 0
        return category

    def _summarise(self, table: pd.DataFrame) -> pd.DataFrame:
        """Median per (stay, feature, window) of numbers; most frequent class of classes."""
        w = float(self.window)
        t = table["time"].to_numpy()
        if self.horizon is not None:
            late = t > self.horizon
            if late.any():
                warnings.warn(f"dropped {int(late.sum())} events after the horizon of "
                              f"{self.horizon} h", stacklevel=3)
                table, t = table[~late], t[~late]
            last = int(np.ceil(self.horizon / w)) - 1
            index = np.minimum(np.floor(t / w), last)
        else:
            index = np.floor(t / w)
        table = table.assign(window=index.astype(np.int64))
        keys = ["stay", "feature", "window"]
        numeric = table[table["category"] < 0]
        medians = numeric.groupby(keys, sort=False)["value"].median().reset_index()
        medians["category"] = -1
        classes = table[table["category"] >= 0]
        counts = classes.groupby(keys + ["category"], sort=False).size().rename("n").reset_index()
        counts = counts.sort_values(["n", "category"], ascending=[False, True], kind="stable")
        modes = counts.drop_duplicates(keys)[keys + ["category"]].assign(value=0.0)
        out = pd.concat([medians, modes], ignore_index=True)
        out["time"] = (out["window"].to_numpy() + 0.5) * w
        return out.drop(columns="window")

    def _to_token_set(self, stay_ids: np.ndarray, table: pd.DataFrame) -> TokenSet:
        stay = table["stay"].to_numpy()
        counts = np.bincount(stay, minlength=len(stay_ids))
        offsets = np.zeros(len(stay_ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        columns = {
            "feature": table["feature"].to_numpy(dtype=np.int32),
            "value": table["value"].to_numpy(dtype=np.float32),
            "category": table["category"].to_numpy(dtype=np.int32),
            "time": table["time"].to_numpy(dtype=np.float32),
        }
        tokens = TokenSet(stay_ids, offsets, columns, self.feature_names_, self.n_categories_)
        return self._cap(tokens)

    def _cap(self, tokens: TokenSet) -> TokenSet:
        if self.max_tokens is None:
            return tokens
        lengths = tokens.lengths
        over = lengths > self.max_tokens
        if not over.any():
            return tokens
        warnings.warn(
            f"{int(over.sum())} stays have more than max_tokens={self.max_tokens} tokens "
            f"(longest {int(lengths.max())}); kept their {self.truncate} {self.max_tokens}",
            stacklevel=3)
        owner = tokens.row_stay_index()
        position = np.arange(tokens.n_rows) - tokens.offsets[owner]
        if self.truncate == "last":
            keep = position >= lengths[owner] - self.max_tokens
        else:
            keep = position < self.max_tokens
        new_lengths = np.minimum(lengths, self.max_tokens)
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(new_lengths, out=offsets[1:])
        columns = {k: v[keep] for k, v in tokens.columns.items()}
        return TokenSet(tokens.stay_ids, offsets, columns, tokens.feature_names,
                        tokens.n_categories)
