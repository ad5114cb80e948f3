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
from ._events import EventSet, as_event_set, event_order_moves
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
        seen = np.zeros(len(events.feature_names), dtype=bool)
        seen[c["feature"]] = True
        used = np.flatnonzero(seen)  # as np.unique(c["feature"]), in one pass
        if self.count_tokens and COUNT_FEATURE in set(events.feature_names[used]):
            raise ValueError(f"the events have a feature named {COUNT_FEATURE!r}, the name "
                             "count_tokens=True gives its tokens; rename it")
        # vocabulary: 0 is the empty-stay token, then features in order of first appearance
        # (and, with count tokens, "<count>" last)
        counted = [COUNT_FEATURE] if self.count_tokens else []
        self.feature_names_ = np.concatenate([[EMPTY_FEATURE], events.feature_names[used],
                                              counted]).astype(object)
        known = set(self.feature_names_[1:])
        self.categorical_features_ = tuple(f for f in events.categorical_features if f in known)
        n_features = len(self.feature_names_)
        lookup = self._feature_ids(events).astype(np.uint16 if n_features < 2**16 else np.int32)

        is_cat = c["category"] >= 0
        cat_rows = np.flatnonzero(is_cat)
        # class id = 1 + position; 0 = unknown class
        self.category_pairs_ = self._first_pairs(events.categories, c["category"][cat_rows],
                                                 lookup[c["feature"][cat_rows]])
        self.n_categories_ = len(self.category_pairs_) + 1

        # the numerical values' statistics: class events get an id past every feature, so
        # that one sort by feature puts them last, out of the way (no copy of the values)
        ids, values = lookup[c["feature"]], c["value"]
        ids[cat_rows] = n_features
        n_numeric = len(ids) - len(cat_rows)
        del is_cat, cat_rows
        if self.count_tokens:  # the counts' scaling, learned like a feature's
            stay, time = events.row_stay_index(), c["time"]
            if self.horizon is not None:
                stay, time = stay[time <= self.horizon], time[time <= self.horizon]
            counts = _group_counts(stay, self._windows(time), self._count_id)
            ids = np.concatenate([ids, counts["feature"].astype(ids.dtype)])
            values = np.concatenate([values, counts["value"]])
            n_numeric += len(counts["value"])
        if self.scaling == "none" or n_numeric == 0:
            self.center_, self.scale_ = np.zeros(n_features), np.ones(n_features)
        else:
            groups = _sorted_by_feature(ids, values, n_numeric)
            del ids, values
            self.center_, self.scale_ = self._value_statistics(*groups, n_features)
        return self

    def _first_pairs(self, categories: np.ndarray, category: np.ndarray,
                     feature: np.ndarray) -> pd.MultiIndex:
        """The distinct (feature name, class) pairs of categorical events, in order of first
        appearance: integer keys first, names only for the distinct pairs."""
        n = max(len(categories), 1)
        keys = pd.unique(feature.astype(np.int64) * n + category)
        return pd.MultiIndex.from_arrays([self.feature_names_[keys // n],
                                          categories[keys % n]]).unique()

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
        self, values: np.ndarray, starts: np.ndarray, present: np.ndarray, counts: np.ndarray,
        n_features: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per-feature centre and scale from the values sorted by (feature, value)
        (:func:`_sorted_by_feature`)."""
        center = np.zeros(n_features)
        scale = np.ones(n_features)
        mean = _segment_sums(values, starts, counts) / counts
        std = np.sqrt(np.maximum(_segment_sums(values, starts, counts, square=True) / counts
                                 - mean**2, 0))
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
        codes = events.columns["feature"]
        lookup = self._feature_ids(events).astype(np.int32)
        unknown_code = lookup <= 0
        drop = unknown_code[codes] if unknown_code.any() else None
        if drop is not None and drop.any():
            unknown = np.unique(events.feature_names[np.unique(codes[drop])].astype(str))
            warnings.warn(
                f"ignored {int(drop.sum())} events of {len(unknown)} feature(s) not seen in "
                f"fit: {examples(unknown, 10)}", stacklevel=2)
        else:
            drop = None
        if self.window is not None:
            return self._window_tokens(events, lookup, drop)
        return self._event_tokens(events, lookup, drop)

    def _event_tokens(self, events: EventSet, lookup: np.ndarray,
                      drop: np.ndarray | None) -> TokenSet:
        """One token per event (no window), built chunk by chunk of whole stays straight into
        the output columns: no full-size temporaries beyond the tokens themselves."""
        c = events.columns
        lengths = event_lengths = events.lengths
        if drop is not None:
            owner = np.searchsorted(events.offsets, np.flatnonzero(drop), side="right") - 1
            lengths = lengths - np.bincount(owner, minlength=len(lengths))
        offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        n = int(offsets[-1])
        columns = {"feature": np.empty(n, dtype=np.int32), "value": np.empty(n, dtype=np.float32),
                   "category": np.empty(n, dtype=np.int32), "time": np.empty(n, dtype=np.float32)}
        cat_rows = np.flatnonzero(c["category"] >= 0)
        cat_ids = self._pair_ids(events.categories, c["category"][cat_rows],
                                 lookup[c["feature"][cat_rows]])
        for s0, s1 in _stay_chunks(events.offsets, _CHUNK_ROWS):
            lo, hi = events.offsets[s0], events.offsets[s1]
            category = np.full(hi - lo, -1, dtype=np.int32)
            i0, i1 = np.searchsorted(cat_rows, [lo, hi])
            classes: np.ndarray | None = cat_rows[i0:i1] - lo
            category[classes] = cat_ids[i0:i1]
            rows = {"stay": np.repeat(np.arange(s0, s1), event_lengths[s0:s1]),
                    "feature": lookup[c["feature"][lo:hi]], "time": c["time"][lo:hi],
                    "value": c["value"][lo:hi], "category": category}
            if drop is not None:
                keep = ~drop[lo:hi]
                rows = {name: column[keep] for name, column in rows.items()}
                classes = None
            rows["value"] = self._scaled(rows, classes)
            moves = event_order_moves(rows["stay"], rows["time"], rows["feature"])
            a, b = offsets[s0], offsets[s1]
            for name, out in columns.items():
                out[a:b] = rows[name]
                if moves is not None:
                    out[a:b][moves[0]] = rows[name][moves[1]]
        tokens = TokenSet(events.stay_ids, offsets, columns, self.feature_names_,
                          self.n_categories_)
        return self._cap(tokens, stacklevel=4)

    def _window_tokens(self, events: EventSet, lookup: np.ndarray,
                       drop: np.ndarray | None) -> TokenSet:
        c = events.columns
        feature = lookup[c["feature"]]
        rows = {"stay": events.row_stay_index(), "feature": feature, "time": c["time"],
                "value": c["value"],
                "category": self._category_ids(events.categories, c["category"], feature)}
        if drop is not None:
            rows = {name: column[~drop] for name, column in rows.items()}
        rows = self._summarise(rows)
        rows["value"] = self._scaled(rows)
        order = np.lexsort((rows["feature"], rows["time"], rows["stay"]))
        rows = {name: column[order] for name, column in rows.items()}
        return self._to_token_set(events.stay_ids, rows)

    def _scaled(self, rows: dict[str, np.ndarray], classes: np.ndarray | None = None
                ) -> np.ndarray:
        """Numerical values scaled (and clipped) by their feature's statistics; 0 for classes
        (the rows whose category is set, or the positions ``classes`` when known)."""
        f = rows["feature"]
        scaled = rows["value"] - self.center_[f]
        scaled /= self.scale_[f]
        scaled[rows["category"] >= 0 if classes is None else classes] = 0.0
        if self.clip is not None:
            np.clip(scaled, -self.clip, self.clip, out=scaled)
        return scaled

    def _category_ids(self, categories: np.ndarray, category: np.ndarray,
                      feature: np.ndarray) -> np.ndarray:
        """Class id of each event (-1 for numerical events, 0 for a pair unseen in fit)."""
        out = np.full(len(feature), -1, dtype=np.int32)
        rows = np.flatnonzero(category >= 0)
        if len(rows):
            out[rows] = self._pair_ids(categories, category[rows], feature[rows])
        return out

    def _pair_ids(self, categories: np.ndarray, category: np.ndarray,
                  feature: np.ndarray) -> np.ndarray:
        """Class id of each (feature id, class code) of categorical events (0 for a pair unseen
        in fit): each distinct pair is looked up once."""
        n = max(len(categories), 1)
        inverse, keys = pd.factorize(np.maximum(feature, 0).astype(np.int64) * n + category)
        pairs = pd.MultiIndex.from_arrays([self.feature_names_[keys // n], categories[keys % n]])
        return (self.category_pairs_.get_indexer(pairs).astype(np.int32) + 1)[inverse]

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
                              f"{self.horizon} h", stacklevel=4)
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
        return self._cap(tokens, stacklevel=5)

    def _cap(self, tokens: TokenSet, stacklevel: int) -> TokenSet:
        """``tokens`` cut to ``max_tokens`` per stay; the warning points ``stacklevel`` frames up
        (at the caller of ``transform``)."""
        if self.max_tokens is None:
            return tokens
        lengths = tokens.lengths
        over = lengths > self.max_tokens
        if not over.any():
            return tokens
        warnings.warn(
            f"{int(over.sum())} stays have more than max_tokens={self.max_tokens} tokens "
            f"(longest {int(lengths.max())}); kept their {self.truncate} {self.max_tokens}",
            stacklevel=stacklevel)
        # the cut rows of each long stay: one range each, marked without per-row index arrays
        start = tokens.offsets[:-1][over] + (self.max_tokens if self.truncate == "first" else 0)
        mark = np.zeros(tokens.n_rows + 1, dtype=np.int8)
        mark[start] += 1
        mark[start + lengths[over] - self.max_tokens] -= 1
        keep = np.cumsum(mark[:-1], dtype=np.int8) == 0
        new_lengths = np.minimum(lengths, self.max_tokens)
        offsets = np.zeros(len(tokens) + 1, dtype=np.int64)
        np.cumsum(new_lengths, out=offsets[1:])
        columns = {k: v[keep] for k, v in tokens.columns.items()}
        return TokenSet(tokens.stay_ids, offsets, columns, tokens.feature_names,
                        tokens.n_categories)


_CHUNK_ROWS = 1 << 20  # rows handled at once: bounds the temporaries of a large transform


def _stay_chunks(offsets: np.ndarray, size: int):
    """``(first, end)`` stay ranges of about ``size`` rows each (at least one stay), covering
    every stay."""
    n_stays = len(offsets) - 1
    first = 0
    while first < n_stays:
        end = int(np.searchsorted(offsets, offsets[first] + size, side="right")) - 1
        end = min(max(end, first + 1), n_stays)
        yield first, end
        first = end


def _sorted_by_feature(feature_ids: np.ndarray, values: np.ndarray, n: int):
    """The ``n`` values of the lowest feature ids sorted by (feature, value), as
    ``np.lexsort((values, feature_ids))`` orders them, with each feature's run:
    ``(values, starts, present, counts)``. One stable pass by feature (a radix sort for
    small integer ids), then a sort within each run."""
    order = np.argsort(feature_ids, kind="stable")[:n]
    values = values[order]
    feature_ids = feature_ids[order]
    del order
    starts = _group_starts(feature_ids)
    present = feature_ids[starts].astype(np.int64)
    del feature_ids
    counts = np.diff(np.append(starts, len(values)))
    # where no two values compare equal without being the same bits (0.0 and -0.0, NaNs), an
    # unstable sort gives the stable sort's result, faster
    kind = ("stable" if np.isnan(values).any() or np.signbit(values[values == 0]).any()
            else "quicksort")
    for start, count in zip(starts[counts > 1].tolist(), counts[counts > 1].tolist(), strict=True):
        values[start:start + count].sort(kind=kind)
    return values, starts, present, counts


def _segment_sums(values: np.ndarray, starts: np.ndarray, counts: np.ndarray,
                  square: bool = False) -> np.ndarray:
    """Sum of (the squares of) each run ``values[start:start + count]`` (runs back to back),
    added in order from 0 exactly as ``np.bincount`` adds weights, a chunk of runs at a time."""
    out = np.empty(len(starts))
    i = 0
    while i < len(starts):
        j = max(int(np.searchsorted(starts, starts[i] + _CHUNK_ROWS, side="left")), i + 1)
        part = values[starts[i]:starts[j - 1] + counts[j - 1]]
        if square:
            part = part * part
        out[i:j] = np.bincount(np.repeat(np.arange(j - i), counts[i:j]), part, j - i)
        i = j
    return out


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
