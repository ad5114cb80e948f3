"""Prediction tasks with an observation window and a horizon, built from events and onsets.

The task shape of the paper's HCC experiment (a 1-year observation window, a multi-year
horizon), in any time unit: for each stay, the model sees the events of its observation window
``[start, start + window)`` and predicts whether the outcome's onset falls within ``horizon``
after the window closes.

Rules (:func:`make_window_task`)
--------------------------------
- **Input**: only events with ``start <= t < start + window`` are kept. An event exactly at
  the end of the window, or later, never reaches the model; events before ``start`` are dropped
  too (both counted in ``report``). With ``relative=True`` (default) the kept times are made
  relative to ``start``.
- **Label**: 1 when ``start + window <= onset < start + window + horizon`` (``horizon=None``:
  any later onset), else 0. A stay without onset (``NaN``) is 0.
- **Excluded stays**, listed in ``excluded`` with a reason and warned about (never silently):
  ``"onset before window"`` (onset < start), ``"onset in window"`` (start <= onset < end of the
  window: the outcome was already visible), and, when ``stay_end`` is given,
  ``"ended before window closed"`` (the stay's record stops before the end of the window).
- Negatives whose record (``stay_end``) stops before the end of the horizon were followed for
  less than the horizon; they stay negative and are counted in ``report["n_censored"]``
  (``None`` without a horizon or ``stay_end``).
"""

from __future__ import annotations

import copy
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..utils import examples
from ._events import EventSet
from ._ragged import gather_rows

__all__ = ["WindowTask", "make_window_task", "EXCLUSION_REASONS"]

EXCLUSION_REASONS = ("onset before window", "onset in window", "ended before window closed")
_HOUR = np.timedelta64(1, "h")


@dataclass(repr=False)
class WindowTask:
    """A built prediction task: the model's input, the labels and what was left out.

    Attributes
    ----------
    events : pandas.DataFrame or EventSet
        The events of the included stays inside their observation windows (same type and
        columns as the input).
    labels : pandas.Series
        0/1 (int8) per included stay, indexed by stay id, named ``label``.
    stay_ids : numpy.ndarray
        The included stays, in the order of ``onset``. Stays without any event in their
        window are included (pass ``stays=task.stay_ids`` to ``EventSet.from_long``, or use
        :meth:`to_event_set`).
    excluded : pandas.DataFrame
        One row per excluded stay (indexed by stay id): ``reason`` and ``onset``.
    window_end : pandas.Series
        End of each included stay's window, in the input's time (``start + window``).
    report : dict
        Counts: stays in and out (by reason), positives, events kept and dropped, censored.
    """

    events: Any
    labels: pd.Series
    stay_ids: np.ndarray
    excluded: pd.DataFrame
    window_end: pd.Series
    report: dict[str, Any] = field(default_factory=dict)

    def to_event_set(self, **kwargs: Any) -> EventSet:
        """The input as an :class:`EventSet` holding every included stay (``kwargs`` go to
        :meth:`EventSet.from_long`, e.g. ``categorical=``)."""
        if isinstance(self.events, EventSet):
            return self.events
        return EventSet.from_long(self.events, stays=self.stay_ids, **kwargs)

    def __repr__(self) -> str:
        r = self.report
        return (f"WindowTask(stays={r['n_stays']}, positive={r['n_positive']}, "
                f"excluded={r['n_excluded']}, events={r['n_events_kept']})")


def _per_stay(values: Any, stay_ids: np.ndarray, name: str, default: float | None) -> np.ndarray:
    """A per-stay number (scalar, mapping or Series by stay id) as floats in ``stay_ids`` order."""
    if values is None:
        if default is None:
            return np.full(len(stay_ids), np.nan)
        return np.full(len(stay_ids), float(default))
    if np.isscalar(values):
        return np.full(len(stay_ids), float(values))
    series = pd.Series(values) if isinstance(values, Mapping) else values
    if not isinstance(series, pd.Series):
        raise TypeError(f"`{name}` must be a number, a mapping or a pandas Series indexed by "
                        f"stay id, got {type(values).__name__}")
    absent = pd.Index(stay_ids).difference(series.index)
    if len(absent):
        raise ValueError(f"`{name}` has no value for {len(absent)} stay(s): "
                         f"{examples(absent.tolist())}")
    out = series.reindex(stay_ids)
    if pd.api.types.is_timedelta64_dtype(out):
        return out.to_numpy() / _HOUR
    try:
        return out.to_numpy(dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"`{name}` must hold numbers (hours), got dtype {series.dtype}") from exc


def _hours(times: pd.Series, column: str) -> np.ndarray:
    if pd.api.types.is_timedelta64_dtype(times):
        return times.to_numpy() / _HOUR
    if pd.api.types.is_numeric_dtype(times) and not pd.api.types.is_bool_dtype(times):
        return times.to_numpy(dtype=np.float64)
    raise ValueError(f"column {column!r} must hold numbers (hours since the stay's origin) or "
                     f"timedeltas for a window task, got dtype {times.dtype}")


def make_window_task(
    events: pd.DataFrame | EventSet,
    onset: pd.Series | Mapping,
    *,
    window: float,
    horizon: float | None = None,
    start: float | pd.Series | Mapping | None = None,
    stay_end: pd.Series | Mapping | None = None,
    relative: bool = True,
    stay: str = "stay_id",
    time: str = "time",
    warn: bool = True,
) -> WindowTask:
    """Build an observation-window prediction task (rules in the module docstring).

    Parameters
    ----------
    events : long DataFrame or EventSet
        Times are numbers (hours, or any unit used consistently with ``window``) or
        timedeltas, measured from the same origin as ``onset``, ``start`` and ``stay_end``.
    onset : pandas.Series or mapping, stay id → onset time (``NaN``: no onset)
        Defines the cohort: every stay listed is in the task or in ``excluded``; events of
        stays not listed are an error.
    window : float
        Length of the observation window (> 0).
    horizon : float or None, default None
        Length of the prediction horizon after the window (> 0); None: any later onset.
    start : number, Series or mapping, optional
        Start of each stay's window; default 0.
    stay_end : Series or mapping, optional
        End of each stay's record. Stays ending before their window closes are excluded;
        negatives ending before the horizon closes are counted as censored.
    relative : bool, default True
        Make the kept event times relative to ``start``.
    stay, time : str
        Column names of a DataFrame ``events``.
    warn : bool, default True
        Warn with the counts of excluded stays (they are always listed in ``excluded``).

    Returns
    -------
    WindowTask
    """
    if not (np.isscalar(window) and float(window) > 0):
        raise ValueError(f"window must be a positive number, got {window!r}")
    if horizon is not None and not (np.isscalar(horizon) and float(horizon) > 0):
        raise ValueError(f"horizon must be a positive number or None, got {horizon!r}")
    onset = pd.Series(onset) if isinstance(onset, Mapping) else onset
    if not isinstance(onset, pd.Series):
        raise TypeError(f"`onset` must be a pandas Series (or mapping) indexed by stay id, got "
                        f"{type(onset).__name__}")
    if not onset.index.is_unique:
        dup = onset.index[onset.index.duplicated()].unique()
        raise ValueError(f"`onset` lists stays more than once: {examples(dup.tolist())}")
    stay_ids = onset.index.to_numpy()
    onset_h = _per_stay(onset, stay_ids, "onset", None)
    start_h = _per_stay(start, stay_ids, "start", 0.0)
    if np.isnan(start_h).any():
        raise ValueError(f"`start` is missing for stays "
                         f"{examples(stay_ids[np.isnan(start_h)].tolist())}")
    end_h = start_h + float(window)
    record_end = _per_stay(stay_end, stay_ids, "stay_end", None)

    reason = np.full(len(stay_ids), "", dtype=object)
    reason[onset_h < start_h] = EXCLUSION_REASONS[0]
    reason[(onset_h >= start_h) & (onset_h < end_h)] = EXCLUSION_REASONS[1]
    reason[(reason == "") & (record_end < end_h)] = EXCLUSION_REASONS[2]
    included = reason == ""
    late = onset_h >= end_h
    positive = late & (onset_h < end_h + float(horizon)) if horizon is not None else late
    censored = (included & ~positive & (record_end < end_h + float(horizon))
                if horizon is not None and stay_end is not None else None)

    if isinstance(events, EventSet):
        kept, n_kept, n_late, n_early = _cut_event_set(events, stay_ids, included, start_h,
                                                       end_h, relative)
    else:
        kept, n_kept, n_late, n_early = _cut_table(events, stay_ids, included, start_h, end_h,
                                                   relative, stay, time)

    ids = stay_ids[included]
    excluded = pd.DataFrame({"reason": reason[~included], "onset": onset_h[~included]},
                            index=pd.Index(stay_ids[~included], name=onset.index.name or stay))
    counts = {r: int((reason == r).sum()) for r in EXCLUSION_REASONS}
    report = {
        "window": float(window), "horizon": None if horizon is None else float(horizon),
        "n_stays": int(included.sum()), "n_positive": int(positive[included].sum()),
        "n_excluded": int((~included).sum()), "excluded_by_reason": counts,
        "n_events_kept": int(n_kept), "n_events_at_or_after_window_end": int(n_late),
        "n_events_before_start": int(n_early),
        "n_censored": None if censored is None else int(censored.sum()),
    }
    if warn and report["n_excluded"]:
        detail = ", ".join(f"{n} {r}" for r, n in counts.items() if n)
        warnings.warn(f"excluded {report['n_excluded']} of {len(stay_ids)} stays ({detail}); "
                      "they are listed in task.excluded", UserWarning, stacklevel=2)
    index = pd.Index(ids, name=onset.index.name or stay)
    return WindowTask(
        events=kept,
        labels=pd.Series(positive[included].astype(np.int8), index=index, name="label"),
        stay_ids=ids,
        excluded=excluded,
        window_end=pd.Series(end_h[included], index=index, name="window_end"),
        report=report,
    )


def _cut_table(events: pd.DataFrame, stay_ids: np.ndarray, included: np.ndarray,
               start_h: np.ndarray, end_h: np.ndarray, relative: bool, stay: str,
               time: str) -> tuple[pd.DataFrame, int, int, int]:
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"events must be a pandas DataFrame or an EventSet, got "
                        f"{type(events).__name__}")
    absent = [c for c in (stay, time) if c not in events.columns]
    if absent:
        raise ValueError(f"missing column(s) {absent}; the table has {list(events.columns)}. "
                         "Pass the right names with stay=, time=.")
    position = pd.Index(stay_ids).get_indexer(events[stay])
    if (position < 0).any():
        extra = events.loc[position < 0, stay].unique()
        raise ValueError(f"events of {len(extra)} stay(s) not in `onset`: {examples(extra)}")
    t = _hours(events[time], time)
    early = t < start_h[position]
    late = t >= end_h[position]
    keep = included[position] & ~early & ~late
    out = events[keep].copy()
    if relative:
        shifted = t[keep] - start_h[position[keep]]
        if pd.api.types.is_timedelta64_dtype(events[time]):
            out[time] = pd.to_timedelta(shifted, unit="h")
        else:
            out[time] = shifted
    on_included = included[position]
    return (out.reset_index(drop=True), int(keep.sum()), int((late & on_included).sum()),
            int((early & on_included).sum()))


def _cut_event_set(events: EventSet, stay_ids: np.ndarray, included: np.ndarray,
                   start_h: np.ndarray, end_h: np.ndarray,
                   relative: bool) -> tuple[EventSet, int, int, int]:
    position = pd.Index(stay_ids).get_indexer(events.stay_ids)
    if (position < 0).any():
        extra = events.stay_ids[position < 0]
        raise ValueError(f"events of {len(extra)} stay(s) not in `onset`: {examples(extra)}")
    row_stay = events.row_stay_index()
    owner = position[row_stay]
    t = events.columns["time"]
    early, late = t < start_h[owner], t >= end_h[owner]
    keep = ~early & ~late
    # the kept rows of every stay of `events`, plus one empty stay for included stays that
    # `events` does not hold; then the included stays in the order of `onset`
    kept_counts = np.bincount(row_stay[keep], minlength=len(events))
    offsets = np.zeros(len(events) + 2, dtype=np.int64)
    np.cumsum(kept_counts, out=offsets[1:-1])
    offsets[-1] = offsets[-2]
    wanted = np.flatnonzero(included)
    source = pd.Index(events.stay_ids).get_indexer(stay_ids[wanted])
    source[source < 0] = len(events)
    rows, new_offsets = gather_rows(offsets, source)
    flat = np.flatnonzero(keep)[rows]
    columns = {name: col[flat] for name, col in events.columns.items()}
    if relative:
        columns["time"] = columns["time"] - start_h[owner[flat]]
    out = copy.copy(events)
    out.stay_ids = stay_ids[wanted]
    out.offsets = new_offsets
    out.columns = columns
    out.info = dict(events.info)
    on_included = included[owner]
    return (out, len(flat), int((late & on_included).sum()), int((early & on_included).sum()))
