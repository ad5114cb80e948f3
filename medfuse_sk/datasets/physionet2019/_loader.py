"""PhysioNet/CinC Challenge 2019 ("P19"): early prediction of sepsis from hourly ICU records.

Loader for the challenge's training sets (``training_setA/``, ``training_setB/``: one ``.psv``
file per ICU stay, or their ``.tar.gz`` read in place) into the long event table used by
:class:`~medfuse_sk.EventSet`, a small real slice of set A shipped with the package, and a fixed
stratified split of set A.

Data, license and citation
--------------------------
Creative Commons Attribution 4.0 International (CC BY 4.0). Cite:

    Reyna MA, Josef CS, Jeter R, Shashikumar SP, Westover MB, Nemati S, Clifford GD, Sharma A.
    Early Prediction of Sepsis From Clinical Data: the PhysioNet/Computing in Cardiology
    Challenge 2019. Critical Care Medicine 48(2):210-217 (2020).
    https://doi.org/10.1097/CCM.0000000000004145

Record format
-------------
Pipe-separated, one header line of 41 columns (:data:`COLUMNS`), then one line per ICU hour.
A missing value is the literal ``NaN``. ``ICULOS`` is the hour since ICU admission (1 = the
first hour), ``SepsisLabel`` is 1 from 6 hours before clinical sepsis onset onwards.

What the loader makes of it
---------------------------
- **Time**: an hourly row with ``ICULOS = h`` gets time ``h - 1`` hours: the start of the ICU
  hour it summarises, so the first ICU hour is ``t = 0`` and "the first 24 hours" are the
  events with ``t < 24`` (rows ``ICULOS`` 1..24).
- **Events**: one event per observed cell of the 34 vital signs and labs (:data:`TIME_SERIES`);
  ``NaN`` cells produce no event. ``ICULOS`` is the time, not a feature; ``SepsisLabel`` is the
  label, not a feature.
- **Static fields** (:data:`STATIC`: ``Age``, ``Gender``, ``Unit1``, ``Unit2``,
  ``HospAdmTime``) are constant within a stay in the data; each becomes one event per stay at
  ``t = 0`` (ICU admission), with the stay's first non-``NaN`` value; a field ``NaN`` for the whole
  stay (``Unit1``/``Unit2`` in 9,522 stays of set A) produces no event. Stays in which a
  static field changes are counted in ``report["n_static_changes"]`` (0 in set A).
- **Categorical**: ``Gender``, ``Unit1`` and ``Unit2`` are 0/1 codes, listed in
  ``categorical`` (pass it to ``EventSet.from_long(categorical=...)``).
- **Onset**: ``onset`` holds, per stay, the time of the first hour labelled 1 (that is, the
  hour of clinical onset minus 6 h, as the challenge labels), ``NaN`` when no hour is;
  ``labels`` is 1 when a stay has any labelled hour. A per-stay label is only fair for inputs
  that stop before ``onset``: see :func:`medfuse_sk.data.make_window_task` and the cohort
  ``p19`` (:func:`~medfuse_sk.datasets.load_cohort`), built with it.
- ``start`` / ``end`` per stay: the time of the first row and the end of the last row's hour
  (``= last ICULOS``). ``ICULOS`` starts later than 1 in 7,497 stays of set A.

No value is cleaned or changed. Stay ids are the numbers of the file names (``p000001.psv`` →
1).

Fixed split of set A
--------------------
``splits/p19_setA_split.csv`` (``stay_id,split``) assigns each of the 20,336 stays of set A to
``train`` (64 %), ``val`` (16 %) or ``test`` (20 %), stratified on three classes (no sepsis;
first labelled hour within the first 24 h; later), drawn with seed 0 by :func:`stratified_split`.
"""

from __future__ import annotations

import gzip
import io
import os
import re
import sys
import tarfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._base import Cohort, resolve_data_dir
from .._splits import resolve_splits

__all__ = [
    "CATEGORICAL",
    "COLUMNS",
    "STATIC",
    "TIME_SERIES",
    "PhysioNet2019",
    "load_physionet2019",
    "load_physionet2019_sample",
    "stratified_split",
]

TIME_SERIES = (
    "HR", "O2Sat", "Temp", "SBP", "MAP", "DBP", "Resp", "EtCO2", "BaseExcess", "HCO3", "FiO2",
    "pH", "PaCO2", "SaO2", "AST", "BUN", "Alkalinephos", "Calcium", "Chloride", "Creatinine",
    "Bilirubin_direct", "Glucose", "Lactate", "Magnesium", "Phosphate", "Potassium",
    "Bilirubin_total", "TroponinI", "Hct", "Hgb", "PTT", "WBC", "Fibrinogen", "Platelets",
)  # fmt: skip
STATIC = ("Age", "Gender", "Unit1", "Unit2", "HospAdmTime")
CATEGORICAL = ("Gender", "Unit1", "Unit2")
COLUMNS = (*TIME_SERIES, *STATIC, "ICULOS", "SepsisLabel")
SETS = ("A", "B")
SPLITS = ("train", "val", "test")

_HEADER = "|".join(COLUMNS).encode()
_N_SERIES, _N_STATIC = len(TIME_SERIES), len(STATIC)
_ICULOS, _LABEL = len(COLUMNS) - 2, len(COLUMNS) - 1
_HERE = Path(__file__).resolve().parent.parent  # the datasets package: data/, splits/
_SPLIT_FILE = _HERE / "splits" / "p19_setA_split.csv"
_SAMPLE_ARCHIVE = _HERE / "data" / "p19_sample_setA.tar.gz"
_RECORD_NAME = re.compile(r"(?:^|/)p(\d+)\.psv$")
_PROGRESS_EVERY = 5000
ENV_DATA_DIR = "MEDFUSE_P19_DIR"
CACHE_FOLDER = "physionet2019"


@dataclass(repr=False, kw_only=True)
class PhysioNet2019(Cohort):
    """ICU stays of PhysioNet 2019 as a long event table with per-stay sepsis onset: a
    :class:`Cohort`.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per observed cell: ``stay_id`` (int64), ``time`` (float64, hours since ICU
        admission, ``ICULOS - 1``), ``feature`` (categorical of str), ``value`` (float64).
        Grouped by stay in ``stay_ids`` order, sorted by time within a stay; the static fields
        come first, at time 0.
    labels : pandas.Series
        1 when the stay has any hour with ``SepsisLabel`` 1 (int8), indexed by ``stay_id``,
        named ``sepsis``. Not a fair target for inputs that reach ``onset``: the cohort
        ``p19`` (:func:`~medfuse_sk.datasets.load_cohort`) is the fair task.
    onset : pandas.Series
        Time (hours) of the first hour labelled 1, ``NaN`` for stays without sepsis.
    start, end : pandas.Series
        Time of each stay's first hourly row, and the end of its last hour (last ``ICULOS``).
    stay_ids : numpy.ndarray
        The stays (int64), in increasing order.
    report : dict
        Counts: stays, rows, events, NaN cells, features never observed, ...
    categorical : tuple of str
        Features whose values are class codes (``Gender``, ``Unit1``, ``Unit2``).
    static : tuple of str
        The per-stay fields, one event each at time 0.
    split : tuple of str
        The split(s) of the shipped split file that were loaded, if any.
    stay_split : pandas.Series or None
        The shipped split of each stay when ``split`` was given, else None.
    """

    onset: pd.Series
    start: pd.Series
    end: pd.Series
    categorical: tuple[str, ...] = CATEGORICAL
    static: tuple[str, ...] = STATIC

    def _repr_extra(self) -> dict[str, Any]:
        return {"sets": "+".join(self.report.get("sets", [])) or "?"}


# --------------------------------------------------------------------------------------------
# finding and reading the record files
# --------------------------------------------------------------------------------------------


def _sources(path: Path, sets: tuple[str, ...]) -> list[Path]:
    """The folders/archives to read: ``path`` itself, or ``training_setX[.tar.gz]`` inside it."""
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise FileNotFoundError(f"no PhysioNet 2019 data at {path}: no such file or folder")
    if any(_RECORD_NAME.search(e.name) for e in os.scandir(path)):
        return [path]  # a training_setX folder itself
    found = []
    for letter in sets:
        folder, archive = path / f"training_set{letter}", path / f"training_set{letter}.tar.gz"
        if folder.is_dir():
            found.append(folder)
        elif archive.is_file():
            found.append(archive)
        else:
            raise FileNotFoundError(
                f"no PhysioNet 2019 set {letter} in {path}: expected training_set{letter}/ "
                f"(folder of .psv files) or training_set{letter}.tar.gz"
            )
    return found


def _resolve_path(path: str | os.PathLike | None) -> Path:
    """``path``, else ``$MEDFUSE_P19_DIR``, else the download cache."""
    return resolve_data_dir(
        "PhysioNet 2019", path, ENV_DATA_DIR, cache=CACHE_FOLDER, argument="path",
        expected="training_setA/ or training_setA.tar.gz, or one of those itself",
        how_to_get="The data are at https://physionet.org/content/challenge-2019/1.0.0/ "
                   "(CC BY 4.0).")


def _record_id(name: str) -> int | None:
    match = _RECORD_NAME.search(name)
    return int(match.group(1)) if match else None


def _iter_source(source: Path) -> Iterator[tuple[int, str, bytes]]:
    """``(stay id, file name, bytes)`` of every ``pNNNNNN.psv`` in a folder or archive."""
    if source.is_dir():
        entries = sorted((e for e in os.scandir(source) if _record_id(e.name) is not None),
                         key=lambda e: e.name)
        for entry in entries:
            yield _record_id(entry.name), entry.path, Path(entry.path).read_bytes()
        return
    raw = source.read_bytes()
    if raw[:2] == b"\x1f\x8b":  # gzip: one decompression in memory beats tarfile's small reads
        raw = gzip.decompress(raw)
    try:
        archive = tarfile.open(fileobj=io.BytesIO(raw), mode="r:*")
    except (tarfile.TarError, OSError) as exc:
        raise ValueError(f"{source} is not a readable tar archive ({exc})") from exc
    with archive:
        for member in archive:
            rid = _record_id(member.name) if member.isfile() else None
            if rid is not None:
                handle = archive.extractfile(member)
                yield rid, f"{source}:{member.name}", handle.read() if handle else b""


def _read(sources: list[Path], wanted: set[int] | None,
          progress: bool) -> tuple[np.ndarray, list[bytes]]:
    """Stay ids and record bodies (header checked and removed), in increasing id order."""
    ids: list[int] = []
    bodies: list[bytes] = []
    seen: dict[int, str] = {}
    for source in sources:
        began, n_files = time.perf_counter(), 0
        for rid, name, text in _iter_source(source):
            n_files += 1
            if wanted is not None and rid not in wanted:
                continue
            if rid in seen:
                raise ValueError(f"stay {rid} appears twice: {seen[rid]} and {name}")
            seen[rid] = name
            header, _, body = text.partition(b"\n")
            if header.rstrip(b"\r") != _HEADER:
                raise ValueError(
                    f"{name}: unexpected header {header[:120]!r}...; PhysioNet 2019 record files "
                    f"start with the 41 columns {'|'.join(COLUMNS[:4])}|...|SepsisLabel"
                )
            if body and not body.endswith(b"\n"):
                body += b"\n"
            ids.append(rid)
            bodies.append(body)
            if progress and n_files % _PROGRESS_EVERY == 0:
                print(f"medfuse_sk: {source.name}: {n_files:,} files read "
                      f"({time.perf_counter() - began:.1f} s)", file=sys.stderr)
        if progress:
            print(f"medfuse_sk: {source.name}: {n_files:,} files read "
                  f"({time.perf_counter() - began:.1f} s)", file=sys.stderr)
    order = np.argsort(np.asarray(ids, dtype=np.int64), kind="stable")
    return np.asarray(ids, dtype=np.int64)[order], [bodies[i] for i in order]


def _parse(bodies: list[bytes], ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All hourly rows as one float array ``(n_rows, 41)`` and the row count of each stay."""
    counts = np.fromiter((b.count(b"\n") for b in bodies), dtype=np.int64, count=len(bodies))
    blob = b"".join(bodies)
    if not blob:
        return np.empty((0, len(COLUMNS))), counts
    try:
        table = pd.read_csv(io.BytesIO(blob), sep="|", header=None, dtype=np.float64,
                            engine="c", skip_blank_lines=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"could not parse PhysioNet 2019 record files ({exc}): every line must "
                         "hold 41 '|'-separated numbers or NaN") from exc
    if table.shape != (counts.sum(), len(COLUMNS)):
        raise ValueError(f"record files parsed into {table.shape[0]:,} rows of "
                         f"{table.shape[1]} columns, expected {counts.sum():,} rows of 41")
    rows = table.to_numpy()
    owner = np.repeat(np.arange(len(ids)), counts)
    bad = np.isnan(rows[:, _ICULOS]) | np.isnan(rows[:, _LABEL])
    if bad.any():
        raise ValueError(f"ICULOS or SepsisLabel missing in {int(bad.sum())} rows, e.g. stay "
                         f"{int(ids[owner[np.flatnonzero(bad)[0]]])}")
    return rows, counts


# --------------------------------------------------------------------------------------------
# hourly rows → long events
# --------------------------------------------------------------------------------------------


def _first_per_stay(mask: np.ndarray, starts: np.ndarray, n_rows: int) -> np.ndarray:
    """Per stay, the first row index where ``mask`` is True (``n_rows`` where it never is)."""
    position = np.where(mask, np.arange(len(mask)), n_rows)
    if len(starts) == 0:
        return np.empty(0, dtype=np.int64)
    first = np.minimum.reduceat(position, np.minimum(starts, max(len(mask) - 1, 0)))
    empty = np.diff(np.append(starts, len(mask))) == 0
    first[empty] = n_rows
    return first


def _to_long(rows: np.ndarray, counts: np.ndarray, ids: np.ndarray,
             report: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    n_rows = len(rows)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    starts = offsets[:-1]
    owner = np.repeat(np.arange(len(ids)), counts)
    hours = rows[:, _ICULOS] - 1.0
    same_stay = owner[1:] == owner[:-1]
    if (np.diff(hours)[same_stay] <= 0).any():
        first = int(ids[owner[1:][same_stay & (np.diff(hours) <= 0)][0]])
        raise ValueError(f"ICULOS does not increase within stay {first}")

    # time series: one event per observed cell, row-major so time-ordered within a stay
    series = rows[:, :_N_SERIES]
    row, column = np.nonzero(~np.isnan(series))
    # static fields: the first observed value of each stay, at t = 0
    static_rows, static_cols = [], []
    n_changes = 0
    for j in range(_N_STATIC):
        col = rows[:, _N_SERIES + j]
        observed = ~np.isnan(col)
        first = _first_per_stay(observed, starts, n_rows)
        has = first < n_rows
        static_rows.append(first[has])
        static_cols.append(np.full(int(has.sum()), _N_SERIES + j))
        changed = observed & (col != col[np.minimum(first, max(n_rows - 1, 0))[owner]])
        n_changes += len(np.unique(owner[changed]))
    s_row, s_col = np.concatenate(static_rows), np.concatenate(static_cols)

    stay_pos = np.concatenate([owner[s_row], owner[row]])
    order = np.argsort(stay_pos, kind="stable")  # statics first within a stay, then rows
    all_row, all_col = np.concatenate([s_row, row])[order], np.concatenate([s_col, column])[order]
    times = np.concatenate([np.zeros(len(s_row)), hours[row]])[order]
    names = list(TIME_SERIES + STATIC)
    events = pd.DataFrame({
        "stay_id": ids[stay_pos[order]],
        "time": times,
        "feature": pd.Categorical.from_codes(all_col, categories=names),
        "value": rows[all_row, all_col],
    })
    events["feature"] = events["feature"].cat.remove_unused_categories()

    labelled = _first_per_stay(rows[:, _LABEL] == 1, starts, n_rows)
    has_label = labelled < n_rows
    onset = np.full(len(ids), np.nan)
    onset[has_label] = hours[labelled[has_label]]
    nonempty = counts > 0
    start = np.full(len(ids), np.nan)
    end = np.full(len(ids), np.nan)
    start[nonempty] = hours[starts[nonempty]]
    end[nonempty] = hours[offsets[1:][nonempty] - 1] + 1.0
    never = [name for k, name in enumerate(TIME_SERIES) if not (column == k).any()]
    report.update(
        n_stays=int(len(ids)),
        n_rows=int(n_rows),
        n_events=int(len(events)),
        n_static_events=int(len(s_row)),
        n_nan_cells=int(np.isnan(rows[:, :_ICULOS]).sum()),
        n_sepsis=int(has_label.sum()),
        n_labelled_rows=int((rows[:, _LABEL] == 1).sum()),
        n_labelled_from_first_row=int((has_label & (labelled == starts)).sum()),
        n_starting_after_first_hour=int((start[nonempty] > 0).sum()),
        n_static_changes=int(n_changes),
        never_observed=never,
    )
    per_stay = {"onset": onset, "start": start, "end": end, "any": has_label}
    return events, per_stay


# --------------------------------------------------------------------------------------------
# split
# --------------------------------------------------------------------------------------------


def stratified_split(onset: pd.Series, fractions: Sequence[float] = (0.64, 0.16, 0.20),
                     seed: int = 0, early: float = 24.0) -> pd.Series:
    """Assign stays to ``train``/``val``/``test``, stratified on when sepsis is labelled.

    The strata are: no labelled hour; first labelled hour before ``early`` hours; later.
    Within each stratum the stays are shuffled with ``seed`` and cut by ``fractions``.

    Parameters
    ----------
    onset : pandas.Series
        Per-stay first labelled hour (``NaN``: none), indexed by stay id.
    fractions : three floats summing to 1, default (0.64, 0.16, 0.20)
    seed : int, default 0
    early : float, default 24.0

    Returns
    -------
    pandas.Series
        ``split`` per stay id, in the order of ``onset``.
    """
    fractions = np.asarray(fractions, dtype=float)
    if fractions.shape != (3,) or not np.isclose(fractions.sum(), 1.0) or (fractions < 0).any():
        raise ValueError(f"fractions must be three non-negative shares summing to 1, got "
                         f"{fractions.tolist()}")
    value = onset.to_numpy(dtype=float)
    stratum = np.where(np.isnan(value), 0, np.where(value < early, 1, 2))
    rng = np.random.default_rng(seed)
    out = np.empty(len(value), dtype=object)
    for s in range(3):
        members = rng.permutation(np.flatnonzero(stratum == s))
        cuts = np.round(np.cumsum(fractions)[:2] * len(members)).astype(int)
        for name, part in zip(SPLITS, np.split(members, cuts)):
            out[part] = name
    return pd.Series(out, index=onset.index, name="split")


@cache
def _split_table() -> pd.Series:
    table = pd.read_csv(_SPLIT_FILE, dtype={"stay_id": "int64", "split": "str"})
    return table.set_index("stay_id")["split"]


def _resolve_split(split: str | Sequence[str] | None) -> tuple[str, ...]:
    return () if split is None else resolve_splits(split, SPLITS)


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def load_physionet2019(
    path: str | os.PathLike | None = None,
    sets: str | Sequence[str] = "A",
    *,
    split: str | Sequence[str] | None = None,
    stay_ids: Iterable[int] | None = None,
    progress: bool = True,
) -> PhysioNet2019:
    """Load PhysioNet 2019 ICU stays as a long event table with per-stay sepsis onset.

    Parameters
    ----------
    path : str or path-like, optional
        A folder holding ``training_setA/`` (folder of ``.psv`` files) or
        ``training_setA.tar.gz`` (likewise for B), or such a folder or archive itself. The
        archive is read in place, never unpacked to disk. If None: the folder in the
        environment variable ``MEDFUSE_P19_DIR``, else the download cache folder
        ``physionet2019`` (:func:`~medfuse_sk.datasets.default_cache_dir`); a clear error
        naming each when none holds data.
    sets : "A", "B" or a list of them, default "A"
        Which training sets to read when ``path`` is the folder above them.
    split : {"train", "val", "test", "all"}, list of them, or None, default None
        Keep only the stays of the fixed split of set A shipped with the package (see the
        module docstring). None keeps every stay read.
    stay_ids : iterable of int, optional
        Keep only these stays; an id that is not found is an error naming it.
    progress : bool, default True
        Print progress lines (files read, time) to stderr.

    Returns
    -------
    PhysioNet2019
        ``events``, ``labels``, ``onset``, ``start``, ``end``, ``stay_ids``, ``report``,
        ``categorical``, ``static``.

    Raises
    ------
    FileNotFoundError
        No data at ``path``.
    ValueError
        Malformed files (wrong header, unparsable lines, ICULOS not increasing), unknown
        ``split``, ``stay_ids`` not found, or a ``split`` requested for stays outside set A.
    """
    began = time.perf_counter()
    letters = (sets,) if isinstance(sets, str) else tuple(sets)
    letters = tuple(s.upper() for s in letters)
    unknown = [s for s in letters if s not in SETS]
    if unknown or not letters:
        raise ValueError(f"sets must be 'A', 'B' or a list of them, got {sets!r}")
    splits = _resolve_split(split)
    wanted: set[int] | None = None
    if stay_ids is not None:
        wanted = {int(i) for i in stay_ids}
    if splits:
        table = _split_table()
        in_split = set(table.index[table.isin(splits)].tolist())
        wanted = in_split if wanted is None else wanted & in_split
    root = _resolve_path(path)
    sources = _sources(root, letters)
    ids, bodies = _read(sources, wanted, progress)
    if stay_ids is not None:
        requested = {int(i) for i in stay_ids}
        if splits:
            requested &= wanted
        absent = sorted(requested.difference(ids.tolist()))
        if absent:
            raise ValueError(f"{len(absent)} of the requested stay_ids were not found in "
                             f"{', '.join(map(str, sources))}: {absent[:10]}")
    if splits:
        outside = np.setdiff1d(ids, _split_table().index.to_numpy())
        if len(outside):
            raise ValueError(f"split={split!r} refers to the shipped split of set A, but "
                             f"{len(outside)} stays read are not in it: {outside[:10].tolist()}")
    report: dict[str, Any] = {"path": str(root), "sets": list(letters),
                              "sources": [str(s) for s in sources]}
    rows, counts = _parse(bodies, ids)
    del bodies
    events, per_stay = _to_long(rows, counts, ids, report)
    index = pd.Index(ids, name="stay_id")
    report["seconds"] = round(time.perf_counter() - began, 3)
    if progress:
        print(f"medfuse_sk: PhysioNet 2019: {len(ids):,} stays, {report['n_events']:,} events "
              f"({report['seconds']:.1f} s)", file=sys.stderr)
    return PhysioNet2019(
        events=events,
        labels=pd.Series(per_stay["any"].astype(np.int8), index=index, name="sepsis"),
        onset=pd.Series(per_stay["onset"], index=index, name="onset"),
        start=pd.Series(per_stay["start"], index=index, name="start"),
        end=pd.Series(per_stay["end"], index=index, name="end"),
        stay_ids=ids,
        report=report,
        split=splits,
        stay_split=_split_table().reindex(index).rename("split") if splits else None,
    )


def load_physionet2019_sample(progress: bool = False) -> PhysioNet2019:
    """A small real slice of PhysioNet 2019 set A shipped with the package (no download).

    ``data/p19_sample_setA.tar.gz`` holds 200 of set A's record files, byte for byte, in the
    challenge's layout (``training_setA/pNNNNNN.psv``): 100 stays without sepsis, 50 whose
    first labelled hour lies in the first 24 h, 50 later, drawn at random (seed 0) from the
    train part of the shipped split. CC BY 4.0, see ``data/p19_NOTICE.txt``.
    """
    data = load_physionet2019(_SAMPLE_ARCHIVE, progress=progress)
    data.split = ("sample",)
    return data


def _write_sample(path: str | os.PathLike, out: str | os.PathLike = _SAMPLE_ARCHIVE,
                  n: Sequence[int] = (100, 50, 50), seed: int = 0) -> Path:
    """Rebuild the packaged sample from set A (``python -m medfuse_sk.datasets.physionet2019
    SOURCE``): members copied byte for byte, archive packed deterministically."""
    full = load_physionet2019(path, progress=False)
    split = _split_table().reindex(full.stay_ids)
    onset = full.onset.to_numpy()
    stratum = np.where(np.isnan(onset), 0, np.where(onset < 24, 1, 2))
    rng = np.random.default_rng(seed)
    chosen = []
    for s, k in enumerate(n):
        pool = full.stay_ids[(stratum == s) & (split.to_numpy() == "train")]
        chosen.extend(rng.choice(pool, size=k, replace=False).tolist())
    chosen_set = set(chosen)
    files = {rid: text for source in _sources(Path(path), ("A",))
             for rid, _, text in _iter_source(source) if rid in chosen_set}
    out = Path(out)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for rid in sorted(files):
            info = tarfile.TarInfo(f"training_setA/p{rid:06d}.psv")
            info.size, info.mtime, info.mode = len(files[rid]), 0, 0o644
            archive.addfile(info, io.BytesIO(files[rid]))
    with open(out, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9,
                                               mtime=0, filename="") as gz:
        gz.write(buffer.getvalue())
    return out


def _write_split(path: str | os.PathLike, out: str | os.PathLike = _SPLIT_FILE) -> Path:
    """Rebuild the shipped split of set A from the full set."""
    full = load_physionet2019(path, progress=False)
    split = stratified_split(full.onset)
    split.reset_index().to_csv(out, index=False)
    return Path(out)


if __name__ == "__main__":  # rebuild the shipped split and sample: SOURCE [--split]
    source = sys.argv[1]
    if "--split" in sys.argv:
        print(_write_split(source))
    print(_write_sample(source))
