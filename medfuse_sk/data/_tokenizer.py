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
from numbers import Integral, Real
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..utils import examples
from ._events import EventSet, as_event_set
from ._ragged import RaggedStays

__all__ = ["EventTokenizer", "TokenSet", "EMPTY_FEATURE", "COUNT_FEATURE", "static_codes",
           "static_feature_ids", "as_event_set"]  # as_event_set: events.py

EMPTY_FEATURE = "<empty>"  # vocabulary entry 0: the one token a stay without events gets
COUNT_FEATURE = "<count>"  # with count_tokens: the last vocabulary entry, one token per window
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


def static_codes(stays: RaggedStays, n_codes: int) -> np.ndarray:
    """Boolean mask over feature codes ``0..n_codes-1``: static in ``stays`` (an EventSet or a
    TokenSet) — present, never more than one row in a stay, every row at its stay's earliest
    time. The one rule for "static" (GRU-D's grid channels, the static branch)."""
    feature = stays.columns["feature"].astype(np.int64)
    time = stays.columns["time"]
    stay = stays.row_stay_index()
    first = np.full(len(stays), np.inf)
    np.minimum.at(first, stay, time)
    keys, counts = np.unique(stay * n_codes + feature, return_counts=True)
    present = np.bincount(feature, minlength=n_codes) > 0
    repeated = np.bincount(keys[counts > 1] % n_codes, minlength=n_codes) > 0
    late = np.bincount(feature[time > first[stay]], minlength=n_codes) > 0
    return present & ~repeated & ~late


def static_feature_ids(tokens: TokenSet) -> np.ndarray:
    """Vocabulary ids of the static features of ``tokens`` (:func:`static_codes`; with windows,
    "at the start" is in the first window), in increasing order; never ``"<empty>"``."""
    static = static_codes(tokens, tokens.n_features)
    static[0] = False
    return np.flatnonzero(static)


class EventTokenizer(TransformerMixin, BaseEstimator):
    """Turn an :class:`EventSet` into model tokens; learn vocabulary and scaling in ``fit``.

    Parameters
    ----------
    window : float or None, default None
        Width of summary windows in hours, whatever unit the long table's times were given
        in (``EventSet.from_long(time_unit=...)`` converts them to hours). ``None`` keeps
        raw events (one token per event).
        With a window, per (stay, feature, window) the median of numerical values and the
        most frequent class of categorical values become one token, timed at the window's
        centre.
    horizon : float or None, default None
        Only with ``window``: events after ``horizon`` hours (hours too, whatever the
        input's unit) are dropped (with a warning);
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
    count_tokens : bool, default False
        Only with ``window``: one more token per (stay, window) holding events, feature
        ``"<count>"`` (the vocabulary's last entry), value ``log(1 + n)`` for the window's
        ``n`` events of every feature, scaled like any numerical feature — the MedFuse
        authors' per-bin count token.
    """

    def __init__(
        self,
        window: float | None = None,
        horizon: float | None = None,
        max_tokens: int | None = 1000,
        truncate: str = "last",
        scaling: str = "robust",
        clip: float | None = 5.0,
        count_tokens: bool = False,
    ) -> None:
        self.window = window
        self.horizon = horizon
        self.max_tokens = max_tokens
        self.truncate = truncate
        self.scaling = scaling
        self.clip = clip
        self.count_tokens = count_tokens

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # stays of events (EventSet or long table)
        tags.input_tags.string = tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True  # NaN values are absent observations
        tags.transformer_tags.preserves_dtype = []  # the output is a TokenSet
        return tags

    # -- fit ---------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> EventTokenizer:
        """Learn the feature vocabulary, categorical classes and value scaling from ``X``."""
        self._validate_params()  # scikit-learn's check of _parameter_constraints
        if self.count_tokens and self.window is None:
            raise ValueError("count_tokens=True needs a window: it counts each window's "
                             "events (set window=, in hours)")
        events = as_event_set(X)
        c = events.columns
        used = np.unique(c["feature"])
        if self.count_tokens and COUNT_FEATURE in set(events.feature_names[used]):
            raise ValueError(f"the events have a feature named {COUNT_FEATURE!r}, the name "
                             "count_tokens=True gives its tokens; rename it")
        # vocabulary: 0 is the empty-stay token, then features in order of first appearance
        # (and, with count tokens, "<count>" last)
        counted = [COUNT_FEATURE] if self.count_tokens else []
        self.feature_names_ = np.concatenate([[EMPTY_FEATURE], events.feature_names[used],
                                              counted]).astype(object)
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

        numeric_ids, numeric_values = feature_ids[~is_cat], c["value"][~is_cat]
        if self.count_tokens:  # the counts' scaling, learned like a feature's
            stay, time = events.row_stay_index(), c["time"]
            if self.horizon is not None:
                stay, time = stay[time <= self.horizon], time[time <= self.horizon]
            counts = _group_counts(stay, self._windows(time), self._count_id)
            numeric_ids = np.concatenate([numeric_ids, counts["feature"]])
            numeric_values = np.concatenate([numeric_values, counts["value"]])
        self.center_, self.scale_ = self._value_statistics(
            numeric_ids, numeric_values, len(self.feature_names_)
        )
        return self

    @property
    def _count_id(self) -> int:
        return len(self.feature_names_) - 1

    def _windows(self, time: np.ndarray) -> np.ndarray:
        """Each time's window index (the last window takes the horizon itself)."""
        w = float(self.window)
        if self.horizon is None:
            return np.floor(time / w).astype(np.int64)
        return np.minimum(np.floor(time / w), int(np.ceil(self.horizon / w)) - 1).astype(np.int64)

    _parameter_constraints: dict = {
        "window": [Interval(Real, 0, None, closed="neither"), None],
        "horizon": [Interval(Real, 0, None, closed="neither"), None],
        "max_tokens": [Interval(Integral, 1, None, closed="left"), None],
        "truncate": [StrOptions({"last", "first"})],
        "scaling": [StrOptions({"robust", "standard", "none"})],
        "clip": [Interval(Real, 0, None, closed="neither"), None],
        "count_tokens": ["boolean"],
    }

    def _value_statistics(
        self, feature_ids: np.ndarray, values: np.ndarray, n_features: int
    ) -> tuple[np.ndarray, np.ndarray]:
        center = np.zeros(n_features)
        scale = np.ones(n_features)
        if self.scaling == "none" or len(values) == 0:
            return center, scale
        order = np.lexsort((values, feature_ids))
        feature_ids, values = feature_ids[order], values[order]
        starts = _group_starts(feature_ids)
        present = feature_ids[starts]
        counts = np.diff(np.append(starts, len(values)))
        mean = np.bincount(feature_ids, values, n_features)[present] / counts
        std = np.sqrt(np.maximum(
            np.bincount(feature_ids, values * values, n_features)[present] / counts - mean**2, 0))
        if self.scaling == "robust":
            mid = _sorted_quantile(values, starts, counts, 0.5)
            spread = (_sorted_quantile(values, starts, counts, 0.75)
                      - _sorted_quantile(values, starts, counts, 0.25)) / _IQR_TO_SD
            spread = np.where(spread > 0, spread, std)
        else:
            mid, spread = mean, std
        center[present] = mid
        scale[present] = np.where(spread > 0, spread, 1.0)
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
        feature = self._feature_ids(events)[c["feature"]]
        keep = feature > 0
        if not keep.all():
            unknown = np.unique(events.feature_names[np.unique(c["feature"][~keep])].astype(str))
            warnings.warn(
                f"ignored {int((~keep).sum())} events of {len(unknown)} feature(s) not seen in "
                f"fit: {examples(unknown, 10)}", stacklevel=2)
        rows = {"stay": events.row_stay_index(), "feature": feature, "time": c["time"],
                "value": c["value"], "category": self._category_ids(events, feature)}
        if not keep.all():
            rows = {name: column[keep] for name, column in rows.items()}
        if self.window is not None:
            rows = self._summarise(rows)

        numeric = rows["category"] < 0
        f = rows["feature"]
        scaled = np.where(numeric, (rows["value"] - self.center_[f]) / self.scale_[f], 0.0)
        if self.clip is not None:
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        rows["value"] = scaled
        order = np.lexsort((rows["feature"], rows["time"], rows["stay"]))
        rows = {name: column[order] for name, column in rows.items()}
        return self._to_token_set(events.stay_ids, rows)

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

    def _summarise(self, rows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Median per (stay, feature, window) of numbers; most frequent class of classes.

        Vectorised: one sort puts each group's values side by side, so medians and modes
        are read off by position.
        """
        w = float(self.window)
        t = rows["time"]
        if self.horizon is not None:
            late = t > self.horizon
            if late.any():
                warnings.warn(f"dropped {int(late.sum())} events after the horizon of "
                              f"{self.horizon} h", stacklevel=3)
                rows = {name: column[~late] for name, column in rows.items()}
                t = rows["time"]
        window = self._windows(t)
        numeric = rows["category"] < 0
        groups = [_group_medians(rows["stay"][numeric], rows["feature"][numeric],
                                 window[numeric], rows["value"][numeric]),
                  _group_modes(rows["stay"][~numeric], rows["feature"][~numeric],
                               window[~numeric], rows["category"][~numeric])]
        if self.count_tokens:
            groups.append(_group_counts(rows["stay"], window, self._count_id))
        out = {name: np.concatenate([group[name] for group in groups])
               for name in ("stay", "feature", "window", "value", "category")}
        out["time"] = (out.pop("window") + 0.5) * w
        return out

    def _to_token_set(self, stay_ids: np.ndarray, rows: dict[str, np.ndarray]) -> TokenSet:
        counts = np.bincount(rows["stay"], minlength=len(stay_ids))
        offsets = np.zeros(len(stay_ids) + 1, dtype=np.int64)
        np.cumsum(counts, out=offsets[1:])
        columns = {
            "feature": rows["feature"].astype(np.int32),
            "value": rows["value"].astype(np.float32),
            "category": rows["category"].astype(np.int32),
            "time": rows["time"].astype(np.float32),
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


def _group_starts(*keys: np.ndarray) -> np.ndarray:
    """Positions where a run of equal key tuples starts, in arrays sorted by those keys."""
    n = len(keys[0])
    change = np.zeros(n, dtype=bool)
    change[:1] = True
    for key in keys:
        change[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(change)


def _group_medians(stay, feature, window, value) -> dict[str, np.ndarray]:
    """Median ``value`` per (stay, feature, window): the mean of the two middle values."""
    order = np.lexsort((value, window, feature, stay))
    stay, feature, window, value = stay[order], feature[order], window[order], value[order]
    starts = _group_starts(stay, feature, window)
    counts = np.diff(np.append(starts, len(value)))
    median = 0.5 * (value[starts + (counts - 1) // 2] + value[starts + counts // 2])
    return {"stay": stay[starts], "feature": feature[starts], "window": window[starts],
            "value": median, "category": np.full(len(starts), -1, dtype=np.int64)}


def _group_counts(stay, window, count_id: int) -> dict[str, np.ndarray]:
    """One ``count_id`` token per (stay, window) holding events: ``log(1 + events)``."""
    order = np.lexsort((window, stay))
    stay, window = stay[order], window[order]
    starts = _group_starts(stay, window)
    counts = np.diff(np.append(starts, len(stay)))
    return {"stay": stay[starts], "feature": np.full(len(starts), count_id, dtype=np.int64),
            "window": window[starts], "value": np.log1p(counts).astype(np.float64),
            "category": np.full(len(starts), -1, dtype=np.int64)}


def _group_modes(stay, feature, window, category) -> dict[str, np.ndarray]:
    """Most frequent ``category`` per (stay, feature, window); ties go to the lowest class id."""
    order = np.lexsort((category, window, feature, stay))
    stay, feature, window, category = stay[order], feature[order], window[order], category[order]
    runs = _group_starts(stay, feature, window, category)
    n = np.diff(np.append(runs, len(category)))
    stay, feature, window, category = stay[runs], feature[runs], window[runs], category[runs]
    best = np.lexsort((category, -n, window, feature, stay))
    stay, feature, window, category = stay[best], feature[best], window[best], category[best]
    first = _group_starts(stay, feature, window)
    return {"stay": stay[first], "feature": feature[first], "window": window[first],
            "value": np.zeros(len(first)), "category": category[first]}


def _sorted_quantile(values: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                     q: float) -> np.ndarray:
    """Quantile ``q`` of each sorted run ``values[start:start + count]`` (linear interpolation,
    as ``numpy.quantile`` and pandas)."""
    position = q * (counts - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, counts - 1)
    frac = position - low
    return values[starts + low] * (1 - frac) + values[starts + high] * frac
