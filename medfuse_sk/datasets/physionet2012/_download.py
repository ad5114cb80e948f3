"""Download PhysioNet's PhysioNet 2012 release into a cache folder and verify it.

:func:`fetch_physionet2012` fetches ``set-{a,b,c}.tar.gz`` and ``Outcomes-{a,b,c}.txt`` from
PhysioNet; :func:`~medfuse_sk.datasets.physionet2012.load_physionet2012` reads the folder.

Download and checksums (:func:`fetch_physionet2012`)
----------------------------------------------------
The three ``Outcomes-X.txt`` files are checked against their SHA-256 in :data:`SHA256` (taken
from copies byte-identical to PhysioNet's files). PhysioNet's own SHA-256 of the three
``set-X.tar.gz`` archives is not recorded here (it could not be confirmed when this module was
written; the copies available to the authors are deterministic repacks with different archive
hashes). Instead each archive is checked by *content*: it must hold 4,000 records, and the records
of the train and validation stays (9,600 of the 12,000) must match the digests in
:data:`CONTENT_SHA256` (see :func:`content_digest`). The records of the 2,400 test stays are
therefore only checked for presence, not content. If you know PhysioNet's archive hashes, set
``SHA256["set-a.tar.gz"] = "<hex>"`` (etc.) before fetching and the whole file is checked too.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import warnings
from pathlib import Path

from ...utils import sha256_file
from ._loader import BASE_URL, SETS, _default_cache_dir, _iter_archive, _listfile

__all__ = ["CONTENT_SHA256", "FILES", "SHA256", "ChecksumError", "content_digest",
           "fetch_physionet2012"]

FILES = tuple(f"set-{s}.tar.gz" for s in SETS) + tuple(f"Outcomes-{s}.txt" for s in SETS)
RECORDS_PER_SET = 4000

#: Expected SHA-256 of whole downloaded files; ``None`` means "not known, check by content".
SHA256: dict[str, str | None] = {
    "set-a.tar.gz": None,
    "set-b.tar.gz": None,
    "set-c.tar.gz": None,
    "Outcomes-a.txt": "d55b228a0e63e33d1e88893acb63a481b651d50c981f518047d094eae8b39129",
    "Outcomes-b.txt": "b758dc1f07a8a955edde73bbd9c84ab3cc4316700d69153992c3315b68850cfa",
    "Outcomes-c.txt": "12912ef277eea62acf058d4d02222bc2be6c466ad7b1a2a6564decf789bee97d",
}
#: :func:`content_digest` of each archive's train/val records (PhysioNet's record files).
CONTENT_SHA256: dict[str, str] = {
    "set-a.tar.gz": "127530d0060c6874d30f20fd7d92c509d3f6a0ebe1656e3c91f11737a9b45f4a",
    "set-b.tar.gz": "3bb096d43e97143d4bb15958f7eb6ac7c519fc1ca5febe1306fd212449c20ab7",
    "set-c.tar.gz": "ebca66042a878c5165df3b81f57b92f5325f18d9d67856f4e9f4d4883809935d",
}


class ChecksumError(OSError):
    """A downloaded or cached file does not have the expected content."""


def _download(url: str, dest: Path) -> None:
    """Download ``url`` to ``dest`` (replaced in tests to stay offline)."""
    request = urllib.request.Request(url, headers={"User-Agent": "medfuse-sk"})
    with urllib.request.urlopen(request, timeout=60) as response, open(dest, "wb") as out:
        shutil.copyfileobj(response, out, length=1 << 20)


def content_digest(archive: str | os.PathLike) -> tuple[str, int]:
    """Digest of the train/val record files in a ``set-X.tar.gz``, and its record count.

    The digest is the SHA-256 of the lines ``<RecordID>:<sha256 of the record file>\\n`` over the
    records of train and validation stays, in increasing RecordID order. It does not depend on
    how the archive was packed (order, timestamps, compression), only on the record files.

    Parameters
    ----------
    archive : str or path-like
        A ``set-X.tar.gz`` of the PhysioNet 2012 release.

    Returns
    -------
    digest : str
        Hex SHA-256 as described above.
    n_records : int
        Number of record files in the archive (all splits).
    """
    known = set(_listfile("train")["RecordID"].tolist()) | set(
        _listfile("val")["RecordID"].tolist()
    )
    hashes: dict[int, str] = {}
    n_records = 0
    for rid, tar, member in _iter_archive(Path(archive)):
        n_records += 1
        if rid in known:
            handle = tar.extractfile(member)
            hashes[rid] = hashlib.sha256(handle.read() if handle else b"").hexdigest()
    lines = "".join(f"{rid}:{hashes[rid]}\n" for rid in sorted(hashes))
    return hashlib.sha256(lines.encode()).hexdigest(), n_records


def _verify(path: Path, name: str) -> None:
    """Raise :class:`ChecksumError` (after deleting ``path``) if its content is not expected."""
    expected = SHA256.get(name)
    if expected is not None:
        actual = sha256_file(path)
    else:
        actual, n_records = content_digest(path)
        expected = CONTENT_SHA256[name]
        if n_records != RECORDS_PER_SET and actual == expected:
            actual = f"{actual} but {n_records} records instead of {RECORDS_PER_SET}"
    if actual != expected:
        path.unlink(missing_ok=True)
        kind = "SHA-256" if SHA256.get(name) else "content digest (see content_digest)"
        raise ChecksumError(
            f"checksum mismatch for {name}: expected {kind} {expected}, got {actual}; "
            f"the file was deleted. Retry the download, or check {BASE_URL}{name}."
        )


def _fetch_one(name: str, dest: Path) -> None:
    url = BASE_URL + name
    partial = dest.with_name(dest.name + ".part")
    try:
        _download(url, partial)
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, ConnectionError) as exc:
        partial.unlink(missing_ok=True)
        reason = getattr(exc, "reason", exc)
        raise ConnectionError(
            f"could not download {url} ({reason}). Check the network connection, or download "
            f"{', '.join(FILES)} from {BASE_URL} by hand into {dest.parent} (or any folder "
            "passed as `data_dir`)."
        ) from exc
    _verify(partial, name)
    partial.replace(dest)


def fetch_physionet2012(
    cache_dir: str | os.PathLike | None = None, *, force: bool = False
) -> Path:
    """Download PhysioNet's ``challenge-2012/1.0.0`` release into a cache folder and check it.

    Fetches ``set-a.tar.gz``, ``set-b.tar.gz``, ``set-c.tar.gz`` and ``Outcomes-{a,b,c}.txt``
    from ``https://physionet.org/files/challenge-2012/1.0.0/``. Files already in the cache are
    checked and kept unless ``force``; a cached file that fails the check is downloaded again.
    How files are checked is described in the module docstring (whole-file SHA-256 for the
    Outcomes files, per-record content digests for the archives).

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Target folder. Default ``$MEDFUSE_CACHE/physionet2012`` if ``MEDFUSE_CACHE`` is set,
        else ``~/.cache/medfuse_sk/physionet2012``.
    force : bool, default False
        Download again even if the files are cached and valid.

    Returns
    -------
    pathlib.Path
        The folder, usable as ``data_dir`` of :func:`load_physionet2012`.

    Raises
    ------
    ConnectionError
        The network or PhysioNet cannot be reached.
    ChecksumError
        A downloaded file has unexpected content; it is deleted and the error names the file,
        the expected and the actual hash.
    """
    root = Path(cache_dir).expanduser() if cache_dir is not None else _default_cache_dir()
    root.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        dest = root / name
        if dest.is_file() and not force:
            try:
                _verify(dest, name)
                continue
            except ChecksumError as exc:
                warnings.warn(f"{exc} Downloading it again.", UserWarning, stacklevel=2)
        _fetch_one(name, dest)
    return root
