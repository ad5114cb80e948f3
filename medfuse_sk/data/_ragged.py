"""Per-stay ragged storage: flat numpy columns plus offsets, indexable by stay.

``RaggedStays`` is the common base of :class:`~medfuse_sk.events.EventSet` and
:class:`~medfuse_sk.tokenize.TokenSet`. Rows (events or tokens) of stay ``i`` live in
``columns[name][offsets[i]:offsets[i + 1]]``. Indexing with integers, slices or boolean
masks selects stays, which is what scikit-learn's splitters and ``_safe_indexing`` do.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np


def gather_rows(offsets: np.ndarray, stays: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flat row indices of ``stays`` (in that order) and the new offsets.

    Vectorised: no Python loop over stays or rows.
    """
    starts = offsets[stays]
    lengths = offsets[stays + 1] - starts
    new_offsets = np.zeros(len(stays) + 1, dtype=np.int64)
    np.cumsum(lengths, out=new_offsets[1:])
    total = int(new_offsets[-1])
    # row r of the output belongs to output stay s(r); its source is starts[s] + (r - new_offsets[s])
    owner = np.repeat(np.arange(len(stays)), lengths)
    rows = np.arange(total, dtype=np.int64) - new_offsets[owner] + starts[owner]
    return rows, new_offsets


class RaggedStays:
    """Stays with a variable number of rows each, stored as flat columns and offsets.

    Parameters
    ----------
    stay_ids : array-like of shape (n_stays,)
        Identifier of each stay, unique.
    offsets : array-like of int of shape (n_stays + 1,)
        Row ``offsets[i]:offsets[i + 1]`` of every column belongs to stay ``i``.
    columns : mapping of str to ndarray
        Flat per-row columns, each of length ``offsets[-1]``.
    """

    _column_names: tuple[str, ...] = ()

    def __init__(
        self, stay_ids: np.ndarray, offsets: np.ndarray, columns: Mapping[str, np.ndarray]
    ) -> None:
        self.stay_ids = np.asarray(stay_ids)
        self.offsets = np.asarray(offsets, dtype=np.int64)
        self.columns = {name: np.asarray(col) for name, col in columns.items()}
        n_rows = int(self.offsets[-1]) if len(self.offsets) else 0
        if len(self.offsets) != len(self.stay_ids) + 1:
            raise ValueError(
                f"offsets must have n_stays + 1 = {len(self.stay_ids) + 1} entries, "
                f"got {len(self.offsets)}"
            )
        for name, col in self.columns.items():
            if len(col) != n_rows:
                raise ValueError(f"column {name!r} has {len(col)} rows, expected {n_rows}")

    # -- sizes -------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.stay_ids)

    @property
    def shape(self) -> tuple[int]:
        """``(n_stays,)``: scikit-learn counts samples with ``shape[0]``."""
        return (len(self.stay_ids),)

    @property
    def n_rows(self) -> int:
        return int(self.offsets[-1])

    @property
    def lengths(self) -> np.ndarray:
        """Number of rows of each stay."""
        return np.diff(self.offsets)

    def row_stay_index(self) -> np.ndarray:
        """Position (0..n_stays-1) of the stay each flat row belongs to."""
        return np.repeat(np.arange(len(self)), self.lengths)

    # -- selection ---------------------------------------------------------------------
    def __getitem__(self, key):
        # sklearn's _array_indexing calls X[key, ...]
        if isinstance(key, tuple):
            if len(key) == 2 and key[1] is Ellipsis:
                key = key[0]
            else:
                raise IndexError(f"{type(self).__name__} is indexed by stay only")
        stays = np.arange(len(self))[key]
        if np.ndim(stays) == 0:
            stays = np.asarray([stays])
        return self.take(stays)

    def take(self, stays: np.ndarray) -> RaggedStays:
        """A new container with the given stay positions, in that order."""
        stays = np.asarray(stays, dtype=np.int64)
        rows, offsets = gather_rows(self.offsets, stays)
        out = copy.copy(self)
        out.stay_ids = self.stay_ids[stays]
        out.offsets = offsets
        out.columns = {name: col[rows] for name, col in self.columns.items()}
        return out

    def __repr__(self) -> str:
        return f"<{type(self).__name__}: {len(self)} stays, {self.n_rows} rows>"
