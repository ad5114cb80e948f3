"""TokenSet → padded torch batches: dataset, vectorised collate, length-bucketed sampler."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from ..data import TokenSet, gather_rows

__all__ = ["TokenDataset", "TokenDropoutCollate", "LengthBucketSampler",
           "base_dataset_and_indices", "ordered_batches"]


class TokenDataset(Dataset):
    """Stays of a :class:`TokenSet` (and labels, and per-stay weights) for a DataLoader.

    ``dataset[i]`` is just ``i``: :meth:`collate` builds a whole padded batch from the flat
    token arrays at once, so no per-token Python work happens. With ``sample_weight`` the
    batch dict carries a ``"sample_weight"`` entry, which the estimator hands to the loss.
    """

    def __init__(self, tokens: TokenSet, y: np.ndarray | None = None,
                 sample_weight: np.ndarray | None = None) -> None:
        self.tokens = tokens
        self.y = None if y is None else np.asarray(y, dtype=np.float32)
        self.sample_weight = (None if sample_weight is None
                              else np.asarray(sample_weight, dtype=np.float32))
        c = tokens.columns
        self._feature = c["feature"].astype(np.int64)
        self._value = c["value"].astype(np.float32)
        self._category = c["category"].astype(np.int64)
        self._time = c["time"].astype(np.float32)

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, i: int) -> int:
        return i

    @property
    def lengths(self) -> np.ndarray:
        return self.tokens.lengths

    def collate(self, indices: Sequence[int], token_dropout: float = 0.0,
                seed: int | None = None) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        """Padded tensors ``(B, L)`` for the stays ``indices``, and their labels.

        A stay without tokens gets one token of feature 0 (``"<empty>"``) so that attention
        and pooling stay defined and it still gets a prediction. ``token_dropout`` (training
        only) leaves out each token with that probability, drawn with ``seed`` (a stay keeps
        at least its last token): an augmentation that shows the model a different subset of
        each stay's observations every epoch.
        """
        stays = np.asarray(indices, dtype=np.int64)
        rows, offsets = gather_rows(self.tokens.offsets, stays)
        lengths = np.diff(offsets)
        owner = np.repeat(np.arange(len(stays)), lengths)
        if token_dropout > 0 and len(rows):
            keep = np.random.default_rng(seed).random(len(rows)) >= token_dropout
            keep[offsets[1:][lengths > 0] - 1] = True
            rows, owner = rows[keep], owner[keep]
            lengths = np.bincount(owner, minlength=len(stays))
            offsets = np.zeros(len(stays) + 1, dtype=np.int64)
            np.cumsum(lengths, out=offsets[1:])
        width = max(int(lengths.max(initial=0)), 1)
        position = np.arange(len(rows)) - offsets[owner]

        def padded(flat: np.ndarray, fill, dtype) -> torch.Tensor:
            out = np.full((len(stays), width), fill, dtype=dtype)
            out[owner, position] = flat[rows]
            return torch.from_numpy(out)

        batch = {
            "feature": padded(self._feature, 0, np.int64),
            "value": padded(self._value, 0.0, np.float32),
            "category": padded(self._category, -1, np.int64),
            "time": padded(self._time, 0.0, np.float32),
            "mask": torch.from_numpy(np.arange(width) < np.maximum(lengths, 1)[:, None]),
            "latest": torch.from_numpy(_latest_of_feature(owner, position, self._feature[rows],
                                                          lengths, width)),
        }
        if self.sample_weight is not None:
            batch["sample_weight"] = torch.from_numpy(self.sample_weight[stays])
        y = (torch.zeros(len(stays)) if self.y is None
             else torch.from_numpy(self.y[stays]))
        return batch, y


class TokenDropoutCollate:
    """``collate_fn`` of training batches with token dropout, reproducible from ``seed``.

    Each batch draws its own dropout seed from a generator seeded with ``seed``: in the main
    process (``num_workers=0``) from ``seed`` itself, in DataLoader worker ``w`` from
    ``(seed, w)``, so workers never repeat each other's draws. A class, not a closure, so
    that it also travels to workers started with ``spawn``.
    """

    def __init__(self, dataset: TokenDataset, token_dropout: float, seed: int) -> None:
        self.dataset = dataset
        self.token_dropout = token_dropout
        self.seed = seed
        self._rng: np.random.Generator | None = None

    def __call__(self, indices: Sequence[int]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        if self._rng is None:
            worker = torch.utils.data.get_worker_info()
            self._rng = np.random.default_rng(self.seed if worker is None
                                              else [self.seed, worker.id])
        return self.dataset.collate(indices, self.token_dropout, int(self._rng.integers(2**63)))


def _latest_of_feature(owner: np.ndarray, position: np.ndarray, feature: np.ndarray,
                       lengths: np.ndarray, width: int) -> np.ndarray:
    """``(B, L)`` mask of each stay's most recent token of every feature (tokens are in time
    order within a stay, so the latest is the last position of that feature); a stay without
    tokens gets its ``"<empty>"`` token."""
    latest = np.zeros((len(lengths), width), dtype=bool)
    if len(owner):
        key = owner * (int(feature.max()) + 1) + feature
        _, from_end = np.unique(key[::-1], return_index=True)
        last = len(key) - 1 - from_end
        latest[owner[last], position[last]] = True
    latest[lengths == 0, 0] = True
    return latest


def base_dataset_and_indices(dataset: Dataset) -> tuple[TokenDataset, np.ndarray]:
    """Unwrap (possibly nested) ``Subset``s down to the dataset that makes the batches (a
    TokenDataset, or another with ``lengths`` and ``collate`` such as the grid layout's
    ``GridDataset``) and its stay indices."""
    indices = np.arange(len(dataset))
    while isinstance(dataset, Subset):
        indices = np.asarray(dataset.indices)[indices]
        dataset = dataset.dataset
    if not (hasattr(dataset, "lengths") and hasattr(dataset, "collate")):
        raise TypeError(f"expected a TokenDataset (or a dataset with lengths and collate, "
                        f"such as GridDataset), got {type(dataset).__name__}")
    return dataset, indices


def ordered_batches(n: int, batch_size: int) -> list[list[int]]:
    """Positions ``0 .. n-1`` in input order, cut into batches of ``batch_size`` (evaluation:
    predictions come back aligned with the stays)."""
    return [list(range(i, min(i + batch_size, n))) for i in range(0, n, batch_size)]


class LengthBucketSampler:
    """Batches of stays of similar length, in random order.

    Sort positions by length plus a little multiplicative noise, cut into batches, shuffle
    the batches. Padding stays small while every epoch sees different batches.

    Parameters
    ----------
    lengths : ndarray
        Token count of each position of the dataset being iterated.
    batch_size : int
    seed : int
        Seed of this epoch's order.
    noise : float, default 0.1
        Relative jitter of the lengths before sorting.
    """

    def __init__(self, lengths: np.ndarray, batch_size: int, seed: int, noise: float = 0.1):
        self.lengths = np.asarray(lengths)
        self.batch_size = int(batch_size)
        self.seed = seed
        self.noise = noise

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng(self.seed)
        jitter = 1.0 + rng.uniform(-self.noise, self.noise, size=len(self.lengths))
        order = np.argsort(self.lengths * jitter, kind="stable")
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b].tolist()

    def __len__(self) -> int:
        return -(-len(self.lengths) // self.batch_size)
