"""A MEDS dataset and a task → a :class:`MEDSCohort`: one stay per (subject, prediction time).

``load_meds(data_dir, task_dir, split="train", lookback=48)`` reads the task's labels, keeps the
samples of ``split`` (by ``metadata/subject_splits.parquet``), prepares the shards (in parallel
processes, or on a Dask cluster), fits the vocabulary on the training samples and builds the
samples' events straight into an :class:`~medfuse_sk.data.EventSet` — the input of every model.
"""

from __future__ import annotations

import logging
import os
import time as clock
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...data import EventSet, event_order_moves
from ...utils import examples
from .._base import Cohort
from .._registry import SPLIT_ALIASES
from ._files import (
    MEDS_SPLITS,
    MEDSError,
    binary_labels,
    data_shards,
    meds_split,
    read_labels,
    read_subject_splits,
)
from ._shards import ShardJob, prepare_shard, run_jobs
from ._vocabulary import UNKNOWN_FEATURE, MEDSVocabulary

__all__ = ["DEFAULT_EXCLUDE", "MEDSCohort", "load_meds", "meds_options", "predictions_table"]

logger = logging.getLogger("medfuse_sk.datasets.meds")

#: Codes left out by default (regular expressions, searched case-insensitively): death and
#: discharge codes give the label of mortality tasks away when an ETL dates them at a coarser
#: resolution than the prediction time (MIMIC-IV's date of death at midnight) or writes them as
#: static rows (tests/datasets/meds/test_leakage.py shows both leaking without these defaults).
DEFAULT_EXCLUDE = (r"^MEDS_DEATH", r"DISCHARGE")
_US_PER_HOUR = 3_600_000_000


def _lookback_us(lookback: float | str | timedelta | pd.Timedelta | None) -> int | None:
    """The look-back in microseconds: numbers are hours; strings and timedeltas carry a unit."""
    if lookback is None:
        return None
    if isinstance(lookback, bool):
        raise ValueError(f"lookback must be hours (a number), a duration ('48h') or None, got "
                         f"{lookback!r}")
    if isinstance(lookback, (int, float, np.integer, np.floating)):
        value = int(round(float(lookback) * _US_PER_HOUR))
    else:
        try:
            value = int(pd.Timedelta(lookback) / pd.Timedelta(1, "us"))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"lookback must be hours (a number), a duration ('48h', '2d') or "
                             f"None, got {lookback!r}") from exc
    if value <= 0:
        raise ValueError(f"lookback must be positive, got {lookback!r}")
    return value


@dataclass(repr=False, kw_only=True, eq=False)
class MEDSCohort(Cohort):
    """Samples of a MEDS task: one stay per (subject, prediction time), with its events.

    A :class:`~medfuse_sk.datasets.Cohort`: ``stay_ids``, ``labels``, ``report``,
    ``categorical``, ``split``, ``stay_split`` as for every cohort, and
    :meth:`to_event_set` returns the events already built (no long table in between). The
    long table ``events`` is made from them the first time it is read.

    Attributes
    ----------
    samples : pandas.DataFrame
        Indexed by ``stay_id`` (in the order of ``stay_ids``): ``subject_id``,
        ``prediction_time`` and the task's label column (``boolean_value``, ...), as in the
        label files — what :meth:`predictions` writes back.
    event_set : EventSet
        The samples' events; times are hours since the start of the look-back window (or the
        subject's first event), static rows at 0. Within a sample, rows are in time order and
        rows at one time by feature id, as :meth:`EventSet.from_long` orders them; the rows of
        one feature at one time (rare) keep the order of the shards: static rows first, numbers
        ascending, texts in text order. Its ``info["meds"]`` records the source for
        models that read the MEDS files themselves (``meds_tab``): ``data_dir``, ``exclude``
        and ``samples`` (``subject_id``, ``prediction_time`` by stay id); subsets keep it.
    vocabulary : MEDSVocabulary
        The features the codes became (fitted on the training samples).
    options : dict
        The reading options (``lookback_hours``, ``exclude``, ``sample_ids``, ``label``), so
        that another split is read the same way: ``load_meds(..., **cohort.options,
        vocabulary=cohort.vocabulary)``.
    data_dir, task_dir : pathlib.Path
    """

    samples: pd.DataFrame
    event_set: EventSet
    vocabulary: MEDSVocabulary
    options: dict[str, Any] = field(default_factory=dict)
    data_dir: Path | None = None
    task_dir: Path | None = None

    def to_event_set(self, **kwargs: Any) -> EventSet:
        """The samples' events as an :class:`EventSet` (built when the cohort was loaded;
        ``kwargs`` rebuild it from the long table through ``EventSet.from_long``)."""
        if kwargs:
            return super().to_event_set(**kwargs)
        return self.event_set

    def predictions(self, probability: Any, threshold: float = 0.5) -> pd.DataFrame:
        """The samples' predictions in meds-evaluation's format (:func:`predictions_table`)."""
        return predictions_table(self.samples, probability, threshold=threshold)

    def __repr__(self) -> str:  # without building the long table
        n_pos = int(self.labels.sum()) if len(self.labels) else 0
        subjects = int(self.samples["subject_id"].nunique()) if len(self.samples) else 0
        return (f"MEDSCohort(split={'+'.join(self.split) or 'all'}, stays={len(self.stay_ids)}, "
                f"subjects={subjects}, positive={n_pos}, events={self.event_set.n_rows}, "
                f"features={len(self.vocabulary)})")

    def summary(self) -> str:
        """What loading did, in a few lines (the ``report`` in words)."""
        r = self.report
        lines = [f"{r['n_samples']:,} samples of {r['n_subjects']:,} subjects "
                 f"({r['n_positive']:,} positive), {r['n_events']:,} events of "
                 f"{r['n_features']:,} features, split {'+'.join(self.split)}",
                 f"{r['n_samples_without_events']:,} samples have no events up to their "
                 "prediction time (kept: they still get a prediction)",
                 f"{r['n_excluded_rows']:,} rows of excluded codes left out "
                 f"(patterns {', '.join(r['exclude']) or 'none'})",
                 f"{r['n_unknown_events']:,} events of rare or unseen codes "
                 + ("in <unknown>" if self.vocabulary.unknown else "dropped")]
        return "\n".join(lines)


def _events_property():
    """``events``: the long table, made from the event set the first time it is read."""
    def get(self):
        table = self.__dict__.get("_events")
        if table is None:
            table = self.event_set.to_long()
            self.__dict__["_events"] = table
        return table

    def put(self, value):
        self.__dict__["_events"] = value

    return property(get, put, doc="The events as a long table (stay_id, time, feature, value).")


MEDSCohort.events = _events_property()


def predictions_table(samples: pd.DataFrame, probability: Any, threshold: float = 0.5) -> pd.DataFrame:
    """Predictions in meds-evaluation's format: the label columns, then
    ``predicted_boolean_value`` (bool) and ``predicted_boolean_probability`` (float64).

    Parameters
    ----------
    samples : DataFrame
        ``subject_id``, ``prediction_time`` and the label column (a :class:`MEDSCohort`'s
        ``samples``), one row per prediction.
    probability : array-like of shape (n,) or (n, 2)
        The positive class's probability per sample (a ``predict_proba`` output is accepted).
    threshold : float, default 0.5
        ``predicted_boolean_value`` is ``probability >= threshold``.
    """
    p = np.asarray(probability, dtype=np.float64)
    if p.ndim == 2 and p.shape[1] == 2:
        p = p[:, 1]
    if p.ndim != 1 or len(p) != len(samples):
        raise ValueError(f"probability must hold one number per sample ({len(samples)}), got "
                         f"shape {np.shape(probability)}")
    if not np.isfinite(p).all() or (p < 0).any() or (p > 1).any():
        raise ValueError("probability must lie in [0, 1] with no NaN")
    columns = ["subject_id", "prediction_time"] + [
        c for c in ("boolean_value", "integer_value", "float_value", "categorical_value")
        if c in samples.columns]
    out = samples[columns].reset_index(drop=True).copy()
    out["subject_id"] = out["subject_id"].astype(np.int64)
    out["prediction_time"] = out["prediction_time"].astype("datetime64[us]")
    if "boolean_value" in out:
        out["boolean_value"] = out["boolean_value"].astype(bool)
    out["predicted_boolean_value"] = p >= threshold
    out["predicted_boolean_probability"] = p
    return out


def meds_options(cohort: MEDSCohort) -> dict[str, Any]:
    """The reading options and fitted vocabulary of ``cohort`` as plain JSON (for a model
    folder); ``load_meds(..., **read_back)`` reads another split the same way, where
    ``read_back`` is this dict with its vocabulary turned back by
    :meth:`MEDSVocabulary.from_dict`."""
    return {**cohort.options, "vocabulary": cohort.vocabulary.to_dict()}


def _sample_ids(labels: pd.DataFrame, how: str) -> tuple[np.ndarray, str]:
    if how not in ("auto", "subject", "index"):
        raise ValueError(f"sample_ids must be 'auto', 'subject' or 'index', got {how!r}")
    one_each = not labels["subject_id"].duplicated().any()
    if how == "subject" and not one_each:
        twice = labels["subject_id"][labels["subject_id"].duplicated()]
        raise MEDSError(f"sample_ids='subject' needs one prediction time per subject; subjects "
                        f"{examples(pd.unique(twice))} have several (use sample_ids='index')")
    if how == "subject" or (how == "auto" and one_each):
        return labels["subject_id"].to_numpy(np.int64), "subject"
    return np.arange(len(labels), dtype=np.int64), "index"


def _resolve_split(split: str | Sequence[str], known: Iterable[str]) -> tuple[str, ...]:
    names = [split] if isinstance(split, str) else list(split)
    known = list(dict.fromkeys([*MEDS_SPLITS, *known]))
    out: list[str] = []
    for name in names:
        if name == "all":
            out.extend(known)
            continue
        word = meds_split(name)
        if word not in known:
            raise ValueError(f"unknown split {name!r}; this dataset's splits are "
                             f"{', '.join(map(repr, known))} (val and test mean tuning and "
                             "held_out), or 'all'")
        out.append(word)
    if not out:
        raise ValueError("`split` is empty; use train, tuning, held_out, 'all' or a list")
    return tuple(dict.fromkeys(out))


def load_meds(
    data_dir: str | os.PathLike,
    task_dir: str | os.PathLike,
    split: str | Sequence[str] = "train",
    *,
    lookback: float | str | timedelta | None = None,
    exclude: Sequence[str] = DEFAULT_EXCLUDE,
    min_count: int = 1,
    max_features: int | None = None,
    unknown: bool = True,
    vocabulary: MEDSVocabulary | Mapping[str, Any] | None = None,
    label: str | None = None,
    sample_ids: str = "auto",
    n_jobs: int | None = 1,
    client: Any = None,
    progress: bool = False,
) -> MEDSCohort:
    """Read a MEDS dataset and a task as one stay per (subject, prediction time).

    Each sample's events are its subject's rows with ``time <= prediction_time`` (an event at
    the prediction time is kept, as the standard says) and, with ``lookback``, ``time >=
    prediction_time - lookback``; its static rows (null time) at time 0. Times are hours
    since the start of the look-back window, or since the subject's first timed event without
    one: never negative. Rows with a ``numeric_value`` become numerical events, rows with text
    categorical events, bare rows presence events (:class:`MEDSVocabulary` says how a code
    mixing them keeps each kind). A ``MEDS_BIRTH`` row becomes the subject's age in years at
    the prediction time (a static numerical token named after the code).

    Parameters
    ----------
    data_dir : str or path-like
        The MEDS dataset: ``data/**/*.parquet``, ``metadata/subject_splits.parquet``.
    task_dir : str or path-like
        The task's label files (``**/*.parquet``; closed schema: ``subject_id``,
        ``prediction_time`` and one label column), or one label file.
    split : str or list of str, default "train"
        ``train``, ``tuning``, ``held_out`` (``val`` and ``test`` mean the last two), another
        split the dataset defines, ``"all"`` or a list. A subject's samples are all in its
        split.
    lookback : float (hours), str ("48h", "2d"), timedelta or None, default None
        How far before each prediction time events are read; None: the subject's whole past.
    exclude : sequence of str, default :data:`DEFAULT_EXCLUDE`
        Regular expressions (searched case-insensitively in each code): matching codes are
        left out everywhere, counted per code in ``report["excluded"]``. ``()`` keeps all.
    min_count, max_features, unknown :
        Vocabulary control (:class:`MEDSVocabulary`), fitted on the training samples only.
    vocabulary : MEDSVocabulary or its ``to_dict()``, optional
        A fitted vocabulary to read with (that of the training cohort): a held-out split is
        then read exactly as the training split was. Default: fitted on this dataset's
        ``train`` samples (read for it when ``split`` does not include them).
    label : str, optional
        The label column, when the label files fill several.
    sample_ids : {"auto", "subject", "index"}, default "auto"
        The stay ids: the subject ids when every subject has one prediction time ("auto"
        then does so), else the sample's position in the task's labels sorted by subject
        and prediction time (the same whichever split is read).
    n_jobs : int or None, default 1
        Shards prepared in this many processes through joblib (-1: one per CPU core); inside
        ``joblib.parallel_backend("dask")`` they go to that Dask cluster. Each worker process
        imports medfuse-sk once (seconds): worth it for shards that take longer than that.
    client : dask.distributed.Client, optional
        Prepare the shards on this Dask cluster's workers instead (they need medfuse-sk
        installed and the dataset's folder at the same path).
    progress : bool, default False
        Log a line per shard (logger ``medfuse_sk.datasets.meds``, level INFO).

    Returns
    -------
    MEDSCohort
        ``split`` and ``stay_split`` in the library's words, as for every cohort (``val``
        for ``tuning``, ``test`` for ``held_out``). ``report`` counts what reading did:
        ``n_samples_without_events`` (prediction times with no data before them: kept, with no
        events), ``excluded`` (rows per excluded
        code), ``n_duplicates_dropped``, ``n_unknown_events``, ``n_events``, ...

    Raises
    ------
    MEDSError
        Label files outside the closed label schema (an extra column, nulls, a key of the
        wrong type), a shard with a missing or mistyped column, subjects of the labels absent
        from the data or from the splits, a subject in two shards, a non-binary task.
    FileNotFoundError
        A folder that is not a MEDS dataset or task.
    """
    started = clock.perf_counter()
    lookback_us = _lookback_us(lookback)
    exclude = tuple(str(p) for p in exclude)
    data_dir, task_dir = Path(data_dir).expanduser(), Path(task_dir).expanduser()
    shards = data_shards(data_dir)
    labels = read_labels(task_dir, label)
    label_column = labels.attrs["label"]
    y_all = binary_labels(labels, task_dir)
    ids_all, id_kind = _sample_ids(labels, sample_ids)
    splits_table = read_subject_splits(data_dir)
    wanted = _resolve_split(split, [] if splits_table is None else pd.unique(splits_table))

    subject = labels["subject_id"].to_numpy(np.int64)
    if splits_table is None:
        if set(wanted) != set(MEDS_SPLITS) and not (isinstance(split, str) and split == "all"):
            raise MEDSError(f"{data_dir / 'metadata' / 'subject_splits.parquet'} does not exist, "
                            f"so split {split!r} is unknown; pass split='all' to read every "
                            "sample")
        sample_split = np.full(len(labels), "train", dtype=object)
    else:
        sample_split = splits_table.reindex(subject).to_numpy(dtype=object)
        no_split = pd.isna(sample_split)
        if no_split.any():
            raise MEDSError(f"task {task_dir}: {int(no_split.sum())} samples of subjects "
                            f"{examples(pd.unique(subject[no_split]))} have no split in "
                            f"{data_dir / 'metadata' / 'subject_splits.parquet'}")
    keep = np.isin(sample_split, wanted)
    if isinstance(vocabulary, Mapping):
        vocabulary = MEDSVocabulary.from_dict(vocabulary)
    fit_vocabulary = vocabulary is None or not vocabulary.fitted
    if vocabulary is None:
        vocabulary = MEDSVocabulary(min_count=min_count, max_features=max_features,
                                    unknown=unknown)
    count = (sample_split == "train") if fit_vocabulary else np.zeros(len(labels), dtype=bool)
    if fit_vocabulary and not count.any():
        raise MEDSError(f"task {task_dir}: no sample of split 'train' to fit the vocabulary on; "
                        "pass the vocabulary of a training cohort (vocabulary=...)")
    needed = keep | count
    jobs = [ShardJob(path=str(p), subject=subject[needed],
                     prediction=labels["prediction_time"].to_numpy("datetime64[us]")
                     .astype(np.int64)[needed],
                     keep=keep[needed], count=count[needed], lookback_us=lookback_us,
                     exclude=exclude) for p in shards]
    position = np.flatnonzero(needed)  # job sample → label row

    results = []
    for k, result in enumerate(run_jobs(prepare_shard, jobs, n_jobs=n_jobs, client=client)):
        results.append(result)
        if progress:
            logger.info("shard %d/%d %s: %d rows read, %d samples", k + 1, len(jobs),
                        result.path, result.report["n_rows_read"], len(result.samples))
    _check_subjects(results, subject[needed], task_dir, data_dir)

    if fit_vocabulary:
        vocabulary.fit(*_counts(results))
    event_set, unknown_events, dropped = _assemble(results, vocabulary, position, keep,
                                                   ids_all, labels)
    kept_rows = np.flatnonzero(keep)
    stay_ids = ids_all[kept_rows]
    samples = labels.iloc[kept_rows][["subject_id", "prediction_time", label_column]]
    samples.index = pd.Index(stay_ids, name="stay_id")
    samples.attrs = {"label": label_column}
    y = pd.Series(y_all[kept_rows], index=pd.Index(stay_ids, name="stay_id"), name=label_column)
    lengths = np.diff(event_set.offsets)
    report = _report(results, lengths, samples, y, vocabulary, exclude, lookback_us,
                     unknown_events, dropped, len(shards), started, data_dir, task_dir)
    if report["n_samples_without_events"]:
        logger.info("%d of %d samples have no events up to their prediction time (kept)",
                    report["n_samples_without_events"], report["n_samples"])
    options = {"lookback_hours": None if lookback_us is None else lookback_us / _US_PER_HOUR,
               "exclude": list(exclude), "sample_ids": sample_ids, "label": label_column}
    report["sample_ids"] = id_kind
    # where the stays came from, for models that read the MEDS files themselves (meds_tab); it
    # travels with every subset of the event set (EventSet.take keeps info)
    event_set.info["meds"] = {"data_dir": str(data_dir.absolute()), "exclude": list(exclude),
                              "samples": samples[["subject_id", "prediction_time"]].copy()}
    return MEDSCohort(
        events=None, labels=y, stay_ids=stay_ids, report=report,
        categorical=tuple(vocabulary.categorical), split=tuple(_library_word(s) for s in wanted),
        stay_split=pd.Series([_library_word(s) for s in sample_split[kept_rows]],
                             index=pd.Index(stay_ids, name="stay_id"), name="split", dtype=object),
        samples=samples, event_set=event_set, vocabulary=vocabulary, options=options,
        data_dir=data_dir, task_dir=task_dir)


def _library_word(split: str) -> str:
    """A split in the library's words, as every cohort's ``split`` and ``stay_split``:
    ``tuning`` → ``val``, ``held_out`` → ``test``."""
    return SPLIT_ALIASES.get(split, split)


def _check_subjects(results, wanted_subjects: np.ndarray, task_dir: Path, data_dir: Path) -> None:
    """Every subject of the labels has rows in exactly one shard."""
    found = [r.subjects_found for r in results]
    every = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
    uniq, n = np.unique(every, return_counts=True)
    if (n > 1).any():
        s = int(uniq[n > 1][0])
        where = [r.path for r in results if np.isin(s, r.subjects_found)]
        raise MEDSError(f"subject {s} has rows in several shards ({', '.join(where)}); MEDS keeps "
                        f"each subject in exactly one shard ({int((n > 1).sum())} such subjects)")
    absent = np.setdiff1d(np.unique(wanted_subjects), uniq)
    if len(absent):
        raise MEDSError(f"task {task_dir}: {len(absent)} subjects of the labels have no rows in "
                        f"the data of {data_dir}: {examples(absent)}; is the task cut from this "
                        "dataset?")


def _counts(results) -> tuple[pd.DataFrame, pd.DataFrame]:
    frames, classes = [], []
    for r in results:
        nz = np.flatnonzero(r.entry_counts)
        frames.append(pd.DataFrame({"code": r.codes[nz // 3], "kind": nz % 3,
                                    "count": r.entry_counts[nz]}))
        code, text, n = r.class_counts
        if len(n):
            classes.append(pd.DataFrame({"code": r.codes[code], "text": r.texts[text],
                                         "count": n}))
    counts = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        {"code": [], "kind": [], "count": []})
    class_counts = pd.concat(classes, ignore_index=True) if classes else pd.DataFrame(
        {"code": [], "text": [], "count": []})
    return counts, class_counts


def _assemble(results, vocabulary: MEDSVocabulary, position: np.ndarray, keep: np.ndarray,
              ids_all: np.ndarray, labels: pd.DataFrame) -> tuple[EventSet, int, int]:
    """The kept samples' events, in the order of the labels, as one EventSet: each shard's
    rows put in the events' order and scattered straight into place (one copy of the events,
    no long table), then let go (the shard results keep their reports and counts, not their
    rows)."""
    kept_rows = np.flatnonzero(keep)
    slot = np.full(len(keep), -1, dtype=np.int64)
    slot[kept_rows] = np.arange(len(kept_rows))
    lengths = np.zeros(len(kept_rows), dtype=np.int64)
    for r in results:
        lengths[slot[position[r.samples]]] = r.lengths
    # rows of unknown entries are dropped when unknown=False: count them first
    maps = [vocabulary.entry_ids(r.codes) for r in results]
    dropped_per = []
    for r, m in zip(results, maps, strict=True):
        gone = m[r.entry] < 0
        dropped_per.append(gone)
        if gone.any():
            owner = np.repeat(np.arange(len(r.samples)), r.lengths)
            lengths[slot[position[r.samples]]] -= np.bincount(owner[gone], minlength=len(r.samples))
    offsets = np.zeros(len(kept_rows) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    n = int(offsets[-1])
    columns = {"time": np.empty(n, dtype=np.float64), "feature": np.empty(n, dtype=np.int32),
               "value": np.empty(n, dtype=np.float64), "category": np.empty(n, dtype=np.int32)}
    unknown_id = len(vocabulary.features) if vocabulary.unknown else -2
    n_unknown = 0
    _, all_classes = vocabulary.class_ids(np.zeros(0, dtype=np.int64), np.zeros(0, object))
    for r, m, gone in zip(results, maps, dropped_per, strict=True):
        feature = m[r.entry]
        keep_row = ~gone
        n_unknown += int((feature == unknown_id).sum())
        owner = np.repeat(np.arange(len(r.samples), dtype=np.int32), r.lengths)  # sample of a row
        any_gone = bool(gone.any())
        row_lengths = r.lengths - (np.bincount(owner[gone], minlength=len(r.samples))
                                   if any_gone else 0)
        starts = offsets[slot[position[r.samples]]]
        dest = _dest(starts, row_lengths)
        if any_gone:
            feature, owner = feature[keep_row], owner[keep_row]
        time = r.time[keep_row] if any_gone else r.time
        value = (r.value[keep_row] if any_gone else r.value).astype(np.float64)
        text = r.text[keep_row] if any_gone else r.text
        category = np.full(len(feature), -1, dtype=np.int32)
        texted = text >= 0
        texted &= feature != unknown_id
        value[feature == unknown_id] = 1.0
        if texted.any():
            pairs = feature[texted].astype(np.int64) * max(len(r.texts), 1) + text[texted]
            uniq, inverse = np.unique(pairs, return_inverse=True)
            ids, _ = vocabulary.class_ids(uniq // max(len(r.texts), 1),
                                          r.texts[uniq % max(len(r.texts), 1)])
            category[texted] = ids[inverse]
            value[texted] = np.nan
        # the events' order (EventSet.from_long's): a sample's rows at one time by feature id,
        # not by code as in the shard, so that the tokenizer has nothing to sort; the rows of
        # one feature at one time keep the shard's order
        moves = event_order_moves(owner, time, feature)
        if moves is not None:
            for column in (time, feature, value, category):
                column[moves[0]] = column[moves[1]]
        columns["time"][dest] = time
        columns["feature"][dest] = feature
        columns["value"][dest] = value
        columns["category"][dest] = category
        del feature, value, text, category, texted, dest, owner, time, moves
        r.time, r.entry, r.value, r.text = (np.empty(0, dtype=a.dtype)
                                            for a in (r.time, r.entry, r.value, r.text))
    stay_ids = ids_all[kept_rows]
    event_set = EventSet(stay_ids, offsets, columns, np.asarray(vocabulary.names, dtype=object),
                         np.asarray(all_classes, dtype=object), vocabulary.categorical,
                         column_names={"stay": "stay_id", "time": "time", "feature": "feature",
                                       "value": "value"},
                         info={"n_missing_values": 0, "n_duplicates_dropped": int(sum(
                             r.report["n_duplicates_dropped"] for r in results))})
    return event_set, n_unknown, int(sum(int(g.sum()) for g in dropped_per))


def _dest(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    lengths = np.asarray(lengths, dtype=np.int64)
    total = int(lengths.sum())
    owner = np.repeat(np.arange(len(starts)), lengths)
    ends = np.cumsum(lengths)
    return np.arange(total, dtype=np.int64) - (ends - lengths)[owner] + starts[owner]


def _report(results, lengths, samples, y, vocabulary, exclude, lookback_us, n_unknown, n_dropped,
            n_shards, started, data_dir, task_dir) -> dict[str, Any]:
    excluded: dict[str, int] = {}
    for r in results:
        for code, k in r.report["excluded"].items():
            excluded[code] = excluded.get(code, 0) + k
    empty = lengths == 0
    return {
        "data_dir": str(data_dir), "task_dir": str(task_dir),
        "n_samples": int(len(samples)),
        "n_subjects": int(samples["subject_id"].nunique()),
        "n_positive": int(y.sum()),
        "n_events": int(lengths.sum()),
        "n_features": len(vocabulary),
        "n_samples_without_events": int(empty.sum()),
        "samples_without_events": [
            f"subject {int(s)} at {t}" for s, t in
            samples[empty][["subject_id", "prediction_time"]].head(10).itertuples(index=False)],
        "n_rows_read": int(sum(r.report["n_rows_read"] for r in results)),
        "n_static_rows": int(sum(r.report["n_static_rows"] for r in results)),
        "n_excluded_rows": int(sum(excluded.values())),
        "excluded": dict(sorted(excluded.items(), key=lambda kv: -kv[1])),
        "exclude": list(exclude),
        "n_duplicates_dropped": int(sum(r.report["n_duplicates_dropped"] for r in results)),
        "n_after_last_prediction_time": int(sum(r.report["n_after_prediction_time"]
                                                for r in results)),
        "n_unknown_events": int(n_unknown),
        "n_unknown_dropped": int(n_dropped),
        "unknown_feature": UNKNOWN_FEATURE if vocabulary.unknown else None,
        "lookback_hours": None if lookback_us is None else lookback_us / _US_PER_HOUR,
        "n_shards": int(n_shards),
        "seconds": round(clock.perf_counter() - started, 3),
    }
