"""PhysioNet/CinC Challenge 2012 ("P12"): in-hospital mortality from the first 48 ICU hours.

Loader for PhysioNet's release ``challenge-2012/1.0.0`` into a long event table and a small
real sample shipped with the package.

Data, license and citation
--------------------------
The data are published by PhysioNet under the Open Data Commons Attribution License v1.0
(ODC-By 1.0); attribution is required. Cite:

    Silva I, Moody G, Scott DJ, Celi LA, Mark RG. Predicting In-Hospital Mortality of ICU
    Patients: The PhysioNet/Computing in Cardiology Challenge 2012. Comput Cardiol.
    2012;39:245-248.

and PhysioNet (Goldberger et al., Circulation 2000;101(23):e215-e220).

Release layout read by :func:`load_physionet2012`
-------------------------------------------------
``set-a.tar.gz``, ``set-b.tar.gz``, ``set-c.tar.gz`` (members ``set-X/<RecordID>.txt``, read
straight from the archive, never unpacked to disk) or the unpacked folders ``set-X/`` (preferred
when both exist), and optionally ``Outcomes-X.txt``. One record file holds the lines
``Time,Parameter,Value`` of one ICU stay, ``Time`` being ``HH:MM`` since admission.

Split membership and labels come from the split listfiles shipped in this package
(``splits/{train,val,test}_listfile.csv``: the standard fixed stratified split of the 12,000
stays, 7,680 / 1,920 / 2,400), so labels exist even without the Outcomes files. When an
``Outcomes-X.txt`` is present it is used to skip archives holding none of the requested stays and
to cross-check the labels (a disagreement is warned about).

What the loader does to the raw lines, always
---------------------------------------------
- The ``RecordID`` line at ``00:00`` is an identifier, not a feature: dropped.
- Descriptors (``Age``, ``Gender``, ``Height``, ``ICUType``, ``Weight``) equal to ``-1`` at
  ``00:00`` mean "missing": dropped, counted per feature in ``report["missing_descriptor"]``.
- Lines with an empty ``Parameter`` (set-c has 2,403, e.g. ``10:45,,1.9``) are dropped and
  counted in ``report["n_empty_parameter"]``; lines with an empty value likewise in
  ``report["n_missing_value"]``.
- A stay whose record holds no time series (12 in the release) is still present in
  ``stay_ids`` and ``labels``, with whatever descriptors it has.

Cleaning rule (``clean=True``, the default)
-------------------------------------------
A value is physiologically impossible, and its event dropped, when it is

- negative, for any variable;
- ``Temp`` below 15 °C (this also catches the recording artefacts 0 and -17.8);
- ``Weight`` <= 0 kg;
- ``Height`` outside [100, 250] cm;
- ``pH`` outside [6, 8] (catches values such as 0, 7.35 recorded as 735, ...).

Zeros are kept everywhere else: 0 is plausible in arrest for ``HR``, ``MAP``, ``NIMAP``,
``SysABP``, ``NISysABP``, ``DiasABP``, ``NIDiasABP`` and ``RespRate``, and common for ``Urine``.
Drops are counted per feature in ``report["implausible"]``. With ``clean=False`` every value is
kept; only the ``RecordID`` line, ``-1`` descriptors and empty parameters/values are dropped.

Download: :func:`~medfuse_sk.datasets.fetch_physionet2012` (``_download.py``) fetches the release
into a cache folder and checks it; :func:`load_physionet2012` reads that folder when given no
other.
"""

from __future__ import annotations

import io
import os
import re
import sys
import tarfile
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .._base import Cohort, default_cache_dir, resolve_data_dir
from .._splits import resolve_splits

__all__ = [
    "BASE_URL",
    "CATEGORICAL",
    "DESCRIPTORS",
    "TIME_SERIES",
    "PhysioNet2012",
    "load_physionet2012",
    "load_sample",
]

SETS = ("a", "b", "c")
DESCRIPTORS = ("Age", "Gender", "Height", "ICUType", "Weight")
CATEGORICAL = ("Gender", "ICUType")
TIME_SERIES = (
    "Albumin", "ALP", "ALT", "AST", "Bilirubin", "BUN", "Cholesterol", "Creatinine", "DiasABP",
    "FiO2", "GCS", "Glucose", "HCO3", "HCT", "HR", "K", "Lactate", "Mg", "MAP", "MechVent", "Na",
    "NIDiasABP", "NIMAP", "NISysABP", "PaCO2", "PaO2", "pH", "Platelets", "RespRate", "SaO2",
    "SysABP", "Temp", "TroponinI", "TroponinT", "Urine", "WBC", "Weight",
)  # fmt: skip

BASE_URL = "https://physionet.org/files/challenge-2012/1.0.0/"


ENV_DATA_DIR = "MEDFUSE_P12_DIR"
CACHE_FOLDER = "physionet2012"
_HERE = Path(__file__).resolve().parent.parent  # the datasets package: data/, splits/
_SPLIT_DIR = _HERE / "splits"
_SAMPLE_DIR = _HERE / "data"
_SAMPLE_EVENTS = "p12_sample_events.csv.gz"
_SAMPLE_LABELS = "p12_sample_labels.csv"
_LABEL_COLUMN = "In-hospital_death"
_RECORD_NAME = re.compile(r"(?:^|/)(\d+)\.txt$")
_HOW_TO_GET = (
    "Get the data with `medfuse_sk.datasets.fetch_physionet2012()` (downloads PhysioNet's "
    "challenge-2012/1.0.0 release into the cache folder), or download set-a/b/c.tar.gz and "
    f"Outcomes-a/b/c.txt from {BASE_URL} yourself and pass their folder as `data_dir` or in the "
    f"environment variable {ENV_DATA_DIR}."
)


@dataclass(repr=False, kw_only=True)
class PhysioNet2012(Cohort):
    """ICU stays of PhysioNet 2012 as a long event table with labels: a :class:`Cohort`.

    Attributes
    ----------
    events : pandas.DataFrame
        One row per observation, columns ``stay_id`` (int64), ``time`` (float64, hours since
        ICU admission), ``feature`` (categorical of str) and ``value`` (float64). Rows are grouped by stay in
        the order of ``stay_ids`` and sorted by time within a stay. Descriptors are the rows of
        :data:`DESCRIPTORS` at time 0 (a later ``Weight`` is a measurement).
    labels : pandas.Series
        In-hospital death (int8, 0/1) indexed by ``stay_id``, named ``in_hospital_death``,
        in split-listfile order.
    stay_ids : numpy.ndarray
        The stays, in the order of ``labels``; stays without any event are included.
    missing : numpy.ndarray
        Requested stays whose record file was not found.
    report : dict
        Counts of what loading and cleaning did (see the module docstring).
    categorical : tuple of str
        Features whose (numeric) values are category codes.
    split : tuple of str
        The split(s) loaded, or the sample subset.
    stay_split : pandas.Series
        The standard split of each stay (for the sample: ``train`` or ``val``, where its stays
        were drawn from).
    descriptors : tuple of str
        The per-stay descriptors, rows at time 0.
    """

    missing: np.ndarray
    categorical: tuple[str, ...] = CATEGORICAL
    descriptors: tuple[str, ...] = DESCRIPTORS

    def _repr_extra(self) -> dict[str, Any]:
        return {"missing": len(self.missing)}


# --------------------------------------------------------------------------------------------
# split listfiles and data folders
# --------------------------------------------------------------------------------------------


@cache
def _listfile(split: str) -> pd.DataFrame:
    table = pd.read_csv(_SPLIT_DIR / f"{split}_listfile.csv", usecols=["RecordID", _LABEL_COLUMN])
    return table.astype({"RecordID": "int64", _LABEL_COLUMN: "int8"})


def _requested(
    splits: tuple[str, ...], stay_ids: Iterable[int] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Requested ids, their labels and the split index of each, in listfile order."""
    tables = [_listfile(s) for s in splits]
    ids = np.concatenate([t["RecordID"].to_numpy() for t in tables])
    labels = np.concatenate([t[_LABEL_COLUMN].to_numpy() for t in tables])
    which = np.repeat(np.arange(len(splits)), [len(t) for t in tables])
    if stay_ids is not None:
        wanted = np.unique(np.asarray(list(stay_ids), dtype=np.int64))
        unknown = np.setdiff1d(wanted, ids)
        if len(unknown):
            raise ValueError(
                f"{len(unknown)} of the requested `stay_ids` are not in split "
                f"{'+'.join(splits)}: {unknown[:10].tolist()}"
            )
        keep = np.isin(ids, wanted)
        ids, labels, which = ids[keep], labels[keep], which[keep]
    return ids, labels, which


def _default_cache_dir() -> Path:
    return default_cache_dir(CACHE_FOLDER)


def _set_source(root: Path, letter: str) -> Path | None:
    folder = root / f"set-{letter}"
    if folder.is_dir():
        return folder
    archive = root / f"set-{letter}.tar.gz"
    return archive if archive.is_file() else None


def _has_data(root: Path) -> bool:
    return root.is_dir() and any(_set_source(root, s) is not None for s in SETS)


def _resolve_data_dir(data_dir: str | os.PathLike | None) -> Path:
    """``data_dir``, else ``$MEDFUSE_P12_DIR``, else the download cache; each must hold data."""
    return resolve_data_dir(
        "PhysioNet 2012", data_dir, ENV_DATA_DIR, cache=CACHE_FOLDER, has_data=_has_data,
        expected="set-a.tar.gz, set-b.tar.gz, set-c.tar.gz (or unpacked set-a/, set-b/, set-c/ "
                 "folders)", how_to_get=_HOW_TO_GET)


def _outcomes(root: Path, letter: str) -> pd.DataFrame | None:
    path = root / f"Outcomes-{letter}.txt"
    if not path.is_file():
        return None
    return pd.read_csv(path, usecols=["RecordID", _LABEL_COLUMN]).astype("int64")


# --------------------------------------------------------------------------------------------
# reading record files
# --------------------------------------------------------------------------------------------


def _record_id(name: str) -> int | None:
    match = _RECORD_NAME.search(name)
    return int(match.group(1)) if match else None


def _iter_archive(path: Path) -> Iterator[tuple[int, tarfile.TarFile, tarfile.TarInfo]]:
    with tarfile.open(path, "r:*") as archive:
        for member in archive:
            rid = _record_id(member.name) if member.isfile() else None
            if rid is not None:
                yield rid, archive, member


def _read_source(source: Path, need: set[int], stop_when_done: bool) -> dict[int, bytes]:
    """Record texts of the stays in ``need`` found in one set folder or archive."""
    found: dict[int, bytes] = {}
    if source.is_dir():
        for entry in os.scandir(source):
            rid = _record_id(entry.name)
            if rid in need and entry.is_file():
                found[rid] = Path(entry.path).read_bytes()
        return found
    for rid, archive, member in _iter_archive(source):
        if rid in need and rid not in found:
            handle = archive.extractfile(member)
            found[rid] = handle.read() if handle is not None else b""
            if stop_when_done and len(found) == len(need):
                break
    return found


def _read_records(root: Path, ids: np.ndarray, progress: bool) -> dict[int, bytes]:
    remaining = set(ids.tolist())
    records: dict[int, bytes] = {}
    for letter in SETS:
        source = _set_source(root, letter)
        if source is None or not remaining:
            continue
        outcomes = _outcomes(root, letter)
        if outcomes is not None:  # the Outcomes file says which stays this set holds
            need = remaining & set(outcomes["RecordID"].tolist())
            if not need:
                continue
        else:
            need = set(remaining)
        start = time.perf_counter()
        found = _read_source(source, need, stop_when_done=outcomes is not None)
        records.update(found)
        remaining -= found.keys()
        if progress:
            print(
                f"medfuse_sk: read {len(found):,} records from {source.name} "
                f"({time.perf_counter() - start:.1f} s)",
                file=sys.stderr,
            )
    return records


def _strip_header(text: bytes) -> bytes:
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    if text.startswith(b"Time"):
        cut = text.find(b"\n")
        text = b"" if cut < 0 else text[cut + 1 :]
    if text and not text.endswith(b"\n"):
        text += b"\n"
    return text


def _parse(ids: np.ndarray, texts: list[bytes]) -> pd.DataFrame:
    """One table of raw lines ``stay_id, time, feature, value`` from record texts.

    All files are joined and parsed by one ``pd.read_csv`` call; ``HH:MM`` is split into two
    numeric columns by turning ``:`` into ``,``.
    """
    bodies = [_strip_header(t) for t in texts]
    counts = np.fromiter((b.count(b"\n") for b in bodies), dtype=np.int64, count=len(bodies))
    blob = b"".join(bodies).replace(b":", b",")
    if not blob:
        table = pd.DataFrame({"hh": [], "mm": [], "feature": [], "value": []})
    else:
        try:
            table = pd.read_csv(
                io.BytesIO(blob),
                header=None,
                names=["hh", "mm", "feature", "value"],
                dtype={"hh": "float64", "mm": "float64", "feature": "category", "value": "float64"},
                skip_blank_lines=False,
                engine="c",
            )
        except (ValueError, pd.errors.ParserError) as exc:
            raise ValueError(
                f"could not parse PhysioNet 2012 record files ({exc}); every line must read "
                "'HH:MM,Parameter,Value'"
            ) from exc
    if len(table) != counts.sum():
        raise ValueError("record files could not be split into lines consistently")
    return pd.DataFrame(
        {
            "stay_id": np.repeat(ids, counts),
            "time": (table["hh"].to_numpy() * 60.0 + table["mm"].to_numpy()) / 60.0,
            "feature": table["feature"],
            "value": table["value"].to_numpy(),
        }
    )


# --------------------------------------------------------------------------------------------
# quirks and cleaning
# --------------------------------------------------------------------------------------------


def _implausible(feature: pd.Series, value: np.ndarray) -> np.ndarray:
    """Boolean mask of physiologically impossible values (the rule of the module docstring)."""
    bad = value < 0
    bad |= (feature == "Temp").to_numpy() & (value < 15)
    bad |= (feature == "Weight").to_numpy() & (value <= 0)
    bad |= (feature == "Height").to_numpy() & ((value < 100) | (value > 250))
    bad |= (feature == "pH").to_numpy() & ((value < 6) | (value > 8))
    return bad


def _per_feature(feature: pd.Series, mask: np.ndarray) -> dict[str, int]:
    counts = feature[mask].value_counts()
    return {str(k): int(v) for k, v in sorted(counts.items(), key=lambda kv: str(kv[0])) if v}


def _apply_quirks(
    raw: pd.DataFrame, clean: bool, report: dict[str, Any]
) -> tuple[pd.DataFrame, int]:
    """Drop non-feature lines, missing descriptors and (with ``clean``) impossible values."""
    feature, value = raw["feature"], raw["value"].to_numpy()
    blank = np.isnan(raw["time"].to_numpy()) & feature.isna().to_numpy()  # empty lines
    is_id = (feature == "RecordID").to_numpy()
    id_mismatch = int((value[is_id] != raw["stay_id"].to_numpy()[is_id]).sum())
    empty = feature.isna().to_numpy() & ~blank
    no_value = np.isnan(value) & ~empty & ~is_id & ~blank
    descriptor = feature.isin(DESCRIPTORS).to_numpy() & (raw["time"].to_numpy() == 0)
    missing_descriptor = descriptor & (value == -1)
    drop = blank | is_id | empty | no_value | missing_descriptor
    report.update(
        n_lines=int(len(raw) - blank.sum()),
        n_record_id_lines=int(is_id.sum()),
        n_empty_parameter=int(empty.sum()),
        n_missing_value=int(no_value.sum()),
        n_missing_descriptor=int(missing_descriptor.sum()),
        missing_descriptor=_per_feature(feature, missing_descriptor),
    )
    implausible = np.zeros(len(raw), dtype=bool)
    if clean:
        implausible = _implausible(feature, value) & ~drop
        drop |= implausible
    report.update(n_implausible=int(implausible.sum()), implausible=_per_feature(feature, implausible))
    return raw[~drop], id_mismatch


def _n_without_series(events: pd.DataFrame, stay_ids: np.ndarray) -> int:
    descriptor = events["feature"].isin(DESCRIPTORS).to_numpy() & (events["time"].to_numpy() == 0)
    with_series = np.unique(events["stay_id"].to_numpy()[~descriptor])
    return int(len(stay_ids) - np.isin(stay_ids, with_series).sum())


def _check_outcome_labels(root: Path, labels: pd.Series) -> None:
    tables = [t for t in (_outcomes(root, s) for s in SETS) if t is not None]
    if not tables:
        return
    outcome = pd.concat(tables).drop_duplicates("RecordID").set_index("RecordID")[_LABEL_COLUMN]
    common = labels.index.intersection(outcome.index)
    differ = common[labels[common].to_numpy() != outcome[common].to_numpy()]
    if len(differ):
        warnings.warn(
            f"{len(differ)} labels in the Outcomes files of {root} differ from the split listfiles "
            f"shipped with medfuse_sk (the listfile labels are used): {differ[:10].tolist()}",
            UserWarning,
            stacklevel=3,
        )


def _missing_message(
    missing: np.ndarray, ids: np.ndarray, which: np.ndarray, splits: tuple[str, ...], root: Path
) -> str:
    is_missing = np.isin(ids, missing)
    per_split = ", ".join(
        f"{int(is_missing[which == k].sum()):,} of {int((which == k).sum()):,} in split '{name}'"
        for k, name in enumerate(splits)
        if is_missing[which == k].any()
    )
    first = ids[is_missing][:10].tolist()
    return (
        f"{len(missing):,} requested PhysioNet 2012 record files are missing in {root} "
        f"({per_split}); first missing stay ids: {first}. The complete release holds all 12,000 "
        "records; use on_missing='warn' to load the records that exist."
    )


# --------------------------------------------------------------------------------------------
# public API
# --------------------------------------------------------------------------------------------


def load_physionet2012(
    data_dir: str | os.PathLike | None = None,
    split: str | Sequence[str] = "train",
    *,
    stay_ids: Iterable[int] | None = None,
    on_missing: str = "raise",
    clean: bool = True,
    progress: bool = True,
) -> PhysioNet2012:
    """Load PhysioNet 2012 ICU stays of a standard split as a long event table.

    Parameters
    ----------
    data_dir : str or path-like, optional
        Folder of the PhysioNet release (``set-X.tar.gz`` archives or unpacked ``set-X/``
        folders, optionally ``Outcomes-X.txt``). If None: the folder in the environment
        variable ``MEDFUSE_P12_DIR``, else the download cache of
        :func:`~medfuse_sk.datasets.fetch_physionet2012`; a clear error when none
        holds data.
    split : {"train", "val", "test", "all"} or list of them, default "train"
        Standard fixed split (listfiles shipped with the package); "all" is all three.
    stay_ids : iterable of int, optional
        Load only these stays (all must belong to ``split``); the listfile order is kept.
    on_missing : {"raise", "warn", "ignore"}, default "raise"
        What to do when record files of requested stays are absent: raise a
        ``FileNotFoundError`` naming them, warn and load the others, or load the others silently.
        Missing stays get no label and are listed in ``missing``.
    clean : bool, default True
        Drop physiologically impossible values (rule in the module docstring).
    progress : bool, default True
        Print one line per archive or folder read to stderr.

    Returns
    -------
    PhysioNet2012
        ``events``, ``labels``, ``stay_ids``, ``missing``, ``report``, ``categorical``.

    Raises
    ------
    FileNotFoundError
        No data found, or records missing with ``on_missing="raise"``.
    ValueError
        Unknown split, unknown ``stay_ids`` or malformed record files.
    """
    if on_missing not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_missing must be 'raise', 'warn' or 'ignore', got {on_missing!r}")
    splits = resolve_splits(split)
    ids, labels, which = _requested(splits, stay_ids)
    root = _resolve_data_dir(data_dir)
    records = _read_records(root, ids, progress)

    found = np.fromiter((i in records for i in ids.tolist()), dtype=bool, count=len(ids))
    missing = ids[~found]
    if len(missing) and on_missing != "ignore":
        message = _missing_message(missing, ids, which, splits, root)
        if on_missing == "raise":
            raise FileNotFoundError(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    ids, labels, which = ids[found], labels[found], which[found]

    report: dict[str, Any] = {"data_dir": str(root), "clean": bool(clean)}
    raw = _parse(ids, [records[i] for i in ids.tolist()])
    events, id_mismatch = _apply_quirks(raw, clean, report)
    if id_mismatch:
        warnings.warn(
            f"{id_mismatch} record files hold a RecordID line different from their file name; "
            "the file name is used",
            UserWarning,
            stacklevel=2,
        )
    events = _sorted(events, ids)
    label_series = pd.Series(
        labels.astype(np.int8), index=pd.Index(ids, name="stay_id"), name="in_hospital_death"
    )
    _check_outcome_labels(root, label_series)
    report.update(
        n_stays=int(len(ids)),
        n_missing_records=int(len(missing)),
        n_events=int(len(events)),
        n_stays_without_time_series=_n_without_series(events, ids),
    )
    return PhysioNet2012(
        events=events,
        labels=label_series,
        stay_ids=ids.copy(),
        missing=missing,
        report=report,
        split=splits,
        stay_split=pd.Series(np.asarray(splits, dtype=object)[which],
                             index=pd.Index(ids, name="stay_id"), name="split"),
    )


def _sorted(events: pd.DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """Stays in ``ids`` order (already so), time-sorted within a stay; fresh index and dtypes."""
    stay = events["stay_id"].to_numpy()
    t = events["time"].to_numpy()
    ordered = np.all((np.diff(t) >= 0) | (stay[1:] != stay[:-1])) if len(t) > 1 else True
    if not ordered:
        position = pd.Index(ids).get_indexer(stay)
        events = events.iloc[np.lexsort((t, position))]
    events = events.reset_index(drop=True)
    events["feature"] = _as_category(events["feature"])
    return events.astype({"stay_id": "int64", "time": "float64", "value": "float64"})


def _as_category(feature: pd.Series) -> pd.Series:
    """Feature names as a categorical of strings holding only the names that occur.

    3.4 million names of the train split take about 6 MB this way instead of about 200 MB
    as Python strings.
    """
    if not isinstance(feature.dtype, pd.CategoricalDtype):
        feature = feature.astype("category")
    feature = feature.cat.remove_unused_categories()
    return feature.cat.rename_categories([str(c) for c in feature.cat.categories])


def load_sample(subset: str = "train") -> PhysioNet2012:
    """A small real sample of PhysioNet 2012 shipped with the package (no download needed).

    1,000 stays of the standard train split and 500 stays of the standard validation split,
    each drawn stratified at random (seed 0), cleaned as by ``load_physionet2012(clean=True)``.
    None of the sample comes from the test split. Built by ``benchmarks/make_sample.py``. Data
    under ODC-By 1.0; see the module docstring for the citation.

    Parameters
    ----------
    subset : {"train", "val", "all"}, default "train"
        "train": the 1,000 train-split stays; "val": the 500 validation-split stays, held out
        from "train" (the demo scores them); "all": both, train first. "test" is a deprecated
        name of "val" (a ``FutureWarning``; it returned these validation stays, never test
        stays).

    Returns
    -------
    PhysioNet2012
        ``split`` is ``("sample-train",)``, ``("sample-val",)`` or ``("sample-all",)``;
        ``stay_split`` gives each stay's standard split (``"train"`` or ``"val"``).
    """
    if subset == "test":
        warnings.warn("load_sample('test') is deprecated and will be removed in 0.3: the sample's "
                      "held-out stays come from the validation split, not the test split; use "
                      "load_sample('val') (the same stays)", FutureWarning, stacklevel=2)
        subset = "val"
    if subset not in ("train", "val", "all"):
        raise ValueError(f"subset must be 'train', 'val' or 'all', got {subset!r}")
    events, labels = _sample_tables()
    if subset != "all":
        labels = labels[labels["subset"] == subset]
    ids = labels["stay_id"].to_numpy(dtype=np.int64)
    standard_split = labels["subset"].to_numpy(dtype=object)  # the standard split: train or val
    events = events[events["stay_id"].isin(ids)].reset_index(drop=True)
    events["feature"] = _as_category(events["feature"])
    label_series = pd.Series(
        labels["in_hospital_death"].to_numpy(dtype=np.int8),
        index=pd.Index(ids, name="stay_id"),
        name="in_hospital_death",
    )
    report = {
        "source": "medfuse_sk packaged sample",
        "clean": True,
        "n_stays": int(len(ids)),
        "n_missing_records": 0,
        "n_events": int(len(events)),
        "n_stays_without_time_series": _n_without_series(events, ids),
    }
    return PhysioNet2012(
        events=events,
        labels=label_series,
        stay_ids=ids,
        missing=np.array([], dtype=np.int64),
        report=report,
        split=(f"sample-{subset}",),
        stay_split=pd.Series(standard_split, index=pd.Index(ids, name="stay_id"), name="split"),
    )


def _sample_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = pd.read_csv(_SAMPLE_DIR / _SAMPLE_LABELS, dtype={"subset": "str"})
    raw = pd.read_csv(
        _SAMPLE_DIR / _SAMPLE_EVENTS,
        dtype={"stay_id": "int64", "minute": "int64", "feature": "category", "value": "float64"},
    )
    events = pd.DataFrame(
        {
            "stay_id": raw["stay_id"].to_numpy(),
            "time": raw["minute"].to_numpy() / 60.0,
            "feature": raw["feature"],
            "value": raw["value"].to_numpy(),
        }
    )
    order = pd.Index(labels["stay_id"]).get_indexer(events["stay_id"])
    if (order < 0).any():
        raise ValueError("packaged sample is inconsistent: events of unlabelled stays")
    events = events.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)
    return events, labels
