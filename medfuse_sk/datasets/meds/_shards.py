"""One MEDS data shard → the events of its samples (the work a process or a Dask worker does).

For each shard: read only the needed columns and the rows of the wanted subjects, drop the
excluded codes, sort by (subject, time, code, value) and drop exact duplicates, then cut each
sample's window ``[prediction_time - lookback, prediction_time]`` (both ends included; without
a look-back, from the subject's first timed event) with one ``searchsorted`` over a key that
orders (subject, time) — no loop over samples. Static rows (null time) join every sample of
their subject at time 0; a ``MEDS_BIRTH`` row becomes the subject's age in years at the
prediction time (a static numerical token named after the birth code).

The result holds shard-local code and text dictionaries; the caller maps them to the
vocabulary, so that the shards can be prepared in any order, in parallel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ._files import MEDSError, check_data_schema

__all__ = ["ShardJob", "ShardResult", "prepare_shard", "run_jobs"]

_US_PER_HOUR = 3_600_000_000
_US_PER_YEAR = 365.25 * 24 * _US_PER_HOUR
_KEY_LIMIT = 2**62
BIRTH_PREFIX = "MEDS_BIRTH"


@dataclass
class ShardJob:
    """What one worker needs: the shard, the samples (sorted by subject, then prediction time;
    all of them: the worker keeps those of its subjects) and the reading rules.

    ``keep`` marks the samples whose events are returned, ``count`` those whose events are
    counted for the vocabulary (the training samples, when it is fitted)."""

    path: str
    subject: np.ndarray       # int64, per sample
    prediction: np.ndarray    # int64 microseconds, per sample
    keep: np.ndarray          # bool, per sample
    count: np.ndarray         # bool, per sample
    lookback_us: int | None
    exclude: tuple[str, ...]


@dataclass
class ShardResult:
    """The events of one shard's kept samples, grouped by sample in sample order."""

    path: str
    samples: np.ndarray       # int64: positions (into the job's samples) of the kept samples here
    lengths: np.ndarray       # int64: events of each of them
    time: np.ndarray          # float64 hours since the window start
    entry: np.ndarray         # int32: 3 * shard code id + kind
    value: np.ndarray         # float32: the number (kind 0), 1 (kind 2), NaN (kind 1)
    text: np.ndarray          # int32: shard text id (kind 1), else -1
    codes: np.ndarray         # object: the shard's code dictionary
    texts: np.ndarray         # object: the shard's text dictionary
    entry_counts: np.ndarray  # int64 per entry: rows in the counted samples' windows
    class_counts: tuple[np.ndarray, np.ndarray, np.ndarray]  # (code id, text id, count)
    subjects_found: np.ndarray  # int64: wanted subjects that have rows in this shard
    report: dict[str, Any]


def _dictionary(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(indices int32, dictionary as object array) of a string column; -1 for null."""
    if not pa.types.is_dictionary(column.type):
        column = pc.dictionary_encode(column)
    column = column.unify_dictionaries()
    if column.num_chunks == 0:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=object)
    dictionary = column.chunk(0).dictionary
    indices = pa.chunked_array([c.indices for c in column.chunks]).combine_chunks()
    indices = pc.fill_null(pc.cast(indices, pa.int32()), -1)
    return (np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32),
            np.asarray(dictionary.to_pylist(), dtype=object))


def _read(job: ShardJob, wanted: np.ndarray) -> tuple[pa.Table, tuple[str, ...]]:
    try:
        schema = pq.read_schema(job.path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise MEDSError(f"data shard {job.path}: not a readable parquet file ({exc})") from exc
    values = check_data_schema(schema, job.path)
    columns = ["subject_id", "time", "code", *values]
    dictionary = [c for c in ("code", "text_value") if c in columns]
    try:
        table = pq.read_table(job.path, columns=columns, read_dictionary=dictionary,
                              filters=pc.field("subject_id").isin(pa.array(wanted)))
    except (OSError, pa.ArrowInvalid) as exc:
        raise MEDSError(f"data shard {job.path}: cannot be read ({exc})") from exc
    for column in ("subject_id", "code"):
        if table.column(column).null_count:
            raise MEDSError(f"data shard {job.path}: column {column!r} has "
                            f"{table.column(column).null_count} null values; the MEDS data "
                            f"schema allows none")
    return table, values


def _sorted_rows(subject, time, code_rank, number, text) -> np.ndarray:
    """Row order by (subject, time with static rows first, code, number, text).

    MEDS shards are sorted by time within each subject already, so the usual case costs one
    pass to check it, one nearly-sorted stable sort of a single int64 key (a run of equal
    (subject, time), then the code) and a full sort of the few rows that share subject, time
    and code; anything else gets the general sort.
    """
    n = len(subject)
    if n < 2:
        return np.arange(n)
    ordered = bool(np.all((subject[1:] > subject[:-1])
                          | ((subject[1:] == subject[:-1]) & (time[1:] >= time[:-1]))))
    if not ordered:
        first = np.lexsort((time, subject))
        rest = _sorted_rows(subject[first], time[first], code_rank[first], number[first],
                            text[first])
        return first[rest]
    run = np.zeros(n, dtype=np.int64)
    run[1:] = np.cumsum((subject[1:] != subject[:-1]) | (time[1:] != time[:-1]))
    n_codes = int(code_rank.max()) + 1
    key = run * n_codes + code_rank
    order = np.argsort(key, kind="stable")
    key = key[order]
    tie = np.zeros(n, dtype=bool)
    tie[1:] = key[1:] == key[:-1]
    tie[:-1] |= tie[1:]
    if tie.any():  # rows of one code at one time: by number, then text
        at = np.flatnonzero(tie)
        rows = order[at]
        inner = np.lexsort((text[rows], np.where(np.isnan(number[rows]), np.inf, number[rows]),
                            key[at]))
        order[at] = rows[inner]
    return order


def prepare_shard(job: ShardJob) -> ShardResult:
    """The events of the samples of ``job`` whose subjects live in its shard."""
    in_shard_subjects = np.unique(job.subject)
    table, values = _read(job, in_shard_subjects)
    report: dict[str, Any] = {"n_rows_read": table.num_rows}
    subject = np.asarray(table.column("subject_id").to_numpy(), dtype=np.int64)
    # any timestamp unit, as microseconds (nanoseconds truncated); aware times as UTC instants
    time_col = pc.cast(table.column("time"), pa.timestamp("us", tz=table.schema.field("time").type.tz),
                       safe=False)
    time_col = pc.cast(time_col, pa.int64())
    is_static = np.asarray(time_col.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    time = np.asarray(pc.fill_null(time_col, np.iinfo(np.int64).min).to_numpy(), dtype=np.int64)
    code, codes = _dictionary(table.column("code"))
    if "numeric_value" in values and not pa.types.is_null(table.schema.field("numeric_value").type):
        number = pc.fill_null(pc.cast(table.column("numeric_value"), pa.float32(), safe=False),
                              np.nan)
        number = np.asarray(number.to_numpy(), dtype=np.float32)
    else:
        number = np.full(len(subject), np.nan, dtype=np.float32)
    if "text_value" in values and not pa.types.is_null(table.schema.field("text_value").type):
        text, texts = _dictionary(table.column("text_value"))
    else:
        text, texts = np.full(len(subject), -1, dtype=np.int32), np.zeros(0, dtype=object)
    del table, time_col
    # every subject with rows here, whatever is left out below (rows of a subject are
    # contiguous in a MEDS shard: the heads of the runs hold them all)
    subjects_found = np.unique(subject[_starts(subject)])

    # excluded codes: matched once per code of the dictionary, not per row
    patterns = [re.compile(p, re.IGNORECASE) for p in job.exclude]
    excluded_code = np.array([any(p.search(c) for p in patterns) for c in codes], dtype=bool)
    birth_code = np.array([c.startswith(BIRTH_PREFIX) for c in codes], dtype=bool)
    drop = excluded_code[code] if len(code) else np.zeros(0, dtype=bool)
    report["excluded"] = _per_code(codes, code[drop])
    report["n_excluded_rows"] = int(drop.sum())
    # infinite numbers are an error, as on the long-table path
    bad = np.isinf(number)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise MEDSError(f"data shard {job.path}: {int(bad.sum())} infinite numeric_value(s), e.g. "
                        f"code {codes[code[row]]!r} of subject {int(subject[row])}")
    keep_rows = ~drop
    if not keep_rows.all():
        subject, time, code, number, text, is_static = (
            a[keep_rows] for a in (subject, time, code, number, text, is_static))

    # one deterministic order; exact duplicates side by side, then dropped
    code_rank = np.argsort(np.argsort(codes.astype(str), kind="stable")).astype(np.int32)[code] \
        if len(codes) else code
    text_rank = (np.argsort(np.argsort(texts.astype(str), kind="stable")).astype(np.int32)[
        np.maximum(text, 0)] if len(texts) else text)
    text_rank = np.where(text < 0, -1, text_rank)
    order = _sorted_rows(subject, time, code_rank, number, text_rank)
    subject, time, code, number, text, is_static = (
        a[order] for a in (subject, time, code, number, text, is_static))
    code_rank, text_rank = code_rank[order], text_rank[order]
    del order
    same = np.zeros(len(subject), dtype=bool)
    if len(subject) > 1:
        same[1:] = ((subject[1:] == subject[:-1]) & (time[1:] == time[:-1])
                    & (code_rank[1:] == code_rank[:-1]) & (text_rank[1:] == text_rank[:-1])
                    & ((number[1:] == number[:-1]) | (np.isnan(number[1:]) & np.isnan(number[:-1]))))
    report["n_duplicates_dropped"] = int(same.sum())
    if same.any():
        subject, time, code, number, text, is_static = (
            a[~same] for a in (subject, time, code, number, text, is_static))
    del code_rank, text_rank, same

    kind = np.where(~np.isnan(number), 0, np.where(text >= 0, 1, 2)).astype(np.int8)
    is_birth = birth_code[code] if len(code) else np.zeros(0, dtype=bool)
    kind[is_birth] = 0  # a birth row is the number "age at the prediction time"
    timed = ~is_static & ~is_birth
    # the samples of this shard's subjects
    mine = np.flatnonzero(np.isin(job.subject, subjects_found))
    s_subject, s_pred = job.subject[mine], job.prediction[mine]

    # timed rows: sorted by (subject, time); windows by searchsorted on one monotone key
    t_subject, t_time = subject[timed], time[timed]
    t_index = np.flatnonzero(timed)
    lo, hi, origin = _windows(t_subject, t_time, s_subject, s_pred, job.lookback_us)
    # static and birth rows of each sample's subject
    st_index = np.flatnonzero(is_static & ~is_birth)
    b_index = np.flatnonzero(is_birth)
    st_lo = np.searchsorted(subject[st_index], s_subject, "left")
    st_hi = np.searchsorted(subject[st_index], s_subject, "right")
    b_lo = np.searchsorted(subject[b_index], s_subject, "left")
    b_hi = np.searchsorted(subject[b_index], s_subject, "right")

    n_static, n_birth, n_timed = st_hi - st_lo, b_hi - b_lo, hi - lo
    lengths = n_static + n_birth + n_timed
    counted = job.count[mine]
    kept = job.keep[mine]

    # vocabulary counts over the counted samples' rows (every kind, every part)
    entry = (3 * code.astype(np.int64) + kind).astype(np.int32)
    n_entries = 3 * len(codes)
    entry_counts = np.zeros(n_entries, dtype=np.int64)
    class_pairs: list[np.ndarray] = []
    for part, a, b in ((st_index, st_lo, st_hi), (b_index, b_lo, b_hi), (t_index, lo, hi)):
        rows = part[_ranges(a[counted], b[counted])]
        entry_counts += np.bincount(entry[rows], minlength=n_entries)
        texted = rows[kind[rows] == 1]
        if len(texted):
            class_pairs.append(code[texted].astype(np.int64) * max(len(texts), 1) + text[texted])
    class_counts = _pair_counts(class_pairs, max(len(texts), 1))

    # the kept samples' events, sample by sample: static rows, birth (as age), then the window
    # in time order; each part scattered straight to its place
    lengths_kept = lengths[kept]
    offsets = np.zeros(len(lengths_kept) + 1, dtype=np.int64)
    np.cumsum(lengths_kept, out=offsets[1:])
    n_out = int(offsets[-1])
    out_time = np.zeros(n_out, dtype=np.float64)
    out_entry = np.zeros(n_out, dtype=np.int32)
    out_value = np.zeros(n_out, dtype=np.float32)
    out_text = np.full(n_out, -1, dtype=np.int32)
    before = offsets[:-1].copy()
    k_pred, k_origin = s_pred[kept], origin[kept]
    for name, part, a, b in (("static", st_index, st_lo, st_hi), ("birth", b_index, b_lo, b_hi),
                             ("timed", t_index, lo, hi)):
        a, b = a[kept], b[kept]
        rows = part[_ranges(a, b)]
        dest = _ranges(before, before + (b - a))
        before += b - a
        if name == "timed":
            owner = np.repeat(np.arange(len(a)), b - a)
            out_time[dest] = (time[rows] - k_origin[owner]) / _US_PER_HOUR
        row_kind = kind[rows]
        if name == "birth":
            owner = np.repeat(np.arange(len(a)), b - a)
            out_value[dest] = (k_pred[owner] - time[rows]) / _US_PER_YEAR
        else:
            out_value[dest] = np.where(row_kind == 2, np.float32(1.0), number[rows])
            out_text[dest] = np.where(row_kind == 1, text[rows], -1)
        out_entry[dest] = 3 * code[rows] + row_kind
    del before

    report["n_static_rows"] = int(n_static[kept].sum())
    report["n_after_prediction_time"] = int(_after(t_subject, t_time, s_subject[kept],
                                                   s_pred[kept]))
    return ShardResult(
        path=job.path, samples=mine[kept], lengths=lengths_kept.astype(np.int64),
        time=out_time, entry=out_entry, value=out_value, text=out_text,
        codes=codes, texts=texts, entry_counts=entry_counts, class_counts=class_counts,
        subjects_found=subjects_found, report=report)


def _per_code(codes: np.ndarray, code: np.ndarray) -> dict[str, int]:
    if not len(code):
        return {}
    found, n = np.unique(code, return_counts=True)
    return {str(codes[c]): int(k) for c, k in zip(found, n, strict=True)}


def _pair_counts(pairs: list[np.ndarray], n_texts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not pairs:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    found, n = np.unique(np.concatenate(pairs), return_counts=True)
    return found // n_texts, found % n_texts, n.astype(np.int64)


def _ranges(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``concatenate([arange(l, h) for l, h in zip(lo, hi)])``, vectorised."""
    lengths = np.maximum(hi - lo, 0)
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.cumsum(lengths)
    owner = np.repeat(np.arange(len(lo)), lengths)
    return np.arange(total, dtype=np.int64) - (ends - lengths)[owner] + lo[owner]


def _windows(t_subject, t_time, s_subject, s_pred, lookback_us):
    """Per sample: the first and one-past-last timed row in its window, and the window's
    origin (microseconds): ``[pred - lookback, pred]``, or from the subject's first timed
    row. Rows are sorted by (subject, time); samples by (subject, prediction time)."""
    n = len(s_subject)
    lo, hi = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    first_row = np.searchsorted(t_subject, s_subject, "left")
    end_row = np.searchsorted(t_subject, s_subject, "right")
    has = end_row > first_row
    if lookback_us is not None:
        origin = s_pred - lookback_us
    else:  # the subject's first timed event (or the prediction time, when it has none)
        origin = s_pred.copy()
        origin[has] = t_time[first_row[has]]
    if not len(t_subject):
        return lo, hi, origin
    # a key ordering (subject, time): rank * span + (time - the subject's first time), in
    # groups of subjects small enough that it never overflows int64
    first = _starts(t_subject)
    uniq = t_subject[first]
    rank = np.repeat(np.arange(len(first)), np.diff(np.append(first, len(t_subject))))
    base = t_time[first]
    top = np.maximum.reduceat(t_time, first)
    q = np.flatnonzero(has)
    q_rank = np.searchsorted(uniq, s_subject[q])
    np.maximum.at(top, q_rank, s_pred[q])
    span = int((top - base).max()) + 1
    per_group = max(1, _KEY_LIMIT // span)
    group = rank // per_group
    q_group = q_rank // per_group
    for g in np.unique(q_group):
        rows = slice(*np.searchsorted(group, [g, g + 1]))
        key = (rank[rows] % per_group) * span + (t_time[rows] - base[rank[rows]])
        mine = q_group == g
        qq, r = q[mine], q_rank[mine]
        at = (r % per_group) * span
        q_lo = at + np.maximum(origin[qq] - base[r], 0)
        q_hi = at + (s_pred[qq] - base[r])
        lo[qq] = rows.start + np.searchsorted(key, q_lo, "left")
        hi[qq] = np.where(s_pred[qq] < base[r], lo[qq],
                          rows.start + np.searchsorted(key, q_hi, "right"))
    return lo, np.maximum(hi, lo), origin


def _after(t_subject, t_time, s_subject, s_pred) -> int:
    """Timed rows of the kept samples' subjects after the last prediction time of their subject
    (left out of every window; counted in the report). Both inputs sorted by subject."""
    if not len(s_subject) or not len(t_subject):
        return 0
    first = _starts(s_subject)
    uniq, last = s_subject[first], np.maximum.reduceat(s_pred, first)
    lo = np.searchsorted(t_subject, uniq, "left")
    hi = np.searchsorted(t_subject, uniq, "right")
    rows = _ranges(lo, hi)
    owner = np.repeat(np.arange(len(uniq)), hi - lo)
    return int((t_time[rows] > last[owner]).sum())


def _starts(sorted_values: np.ndarray) -> np.ndarray:
    """Where each run of equal values starts (in a sorted array: each value's first row)."""
    if not len(sorted_values):
        return np.zeros(0, dtype=np.int64)
    change = np.flatnonzero(sorted_values[1:] != sorted_values[:-1]) + 1
    return np.concatenate([[0], change]).astype(np.int64)


def run_jobs(function: Callable[[Any], Any], jobs: Sequence[Any], n_jobs: int | None = 1,
             client: Any = None) -> Iterable[Any]:
    """``function`` over ``jobs``, results in job order: on a Dask ``client``'s workers when
    one is given, else through joblib in ``n_jobs`` processes (its default loky backend, or the
    backend active around the call, e.g. ``joblib.parallel_backend("dask")``; 1: here)."""
    if client is not None:
        futures = client.map(function, list(jobs), pure=False)
        for future in futures:
            yield future.result()
        return
    if n_jobs == 1 or len(jobs) <= 1:
        for job in jobs:
            yield function(job)
        return
    from joblib import Parallel, delayed

    yield from Parallel(n_jobs=n_jobs, prefer="processes", return_as="generator")(
        delayed(function)(job) for job in jobs)

