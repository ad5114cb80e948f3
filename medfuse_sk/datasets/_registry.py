"""The cohort registry: every cohort the library (or another package) offers, by name.

Recipes, the command line and the benchmarks load a cohort by name instead of naming loaders,
so a new cohort is one folder (a loader returning a :class:`~medfuse_sk.datasets.Cohort`) and
one :func:`register_cohort` call:

>>> @register_cohort("mimic_mortality", task="in-hospital death from the first 24 h")  # doctest: +SKIP
... def load_mimic_mortality(split="train", data_dir=None, **kwargs):
...     ...  # return a Cohort of the stays of `split`

``load_cohort("mimic_mortality", split="val")`` then loads it. Other packages register theirs
through the ``medfuse_sk.cohorts`` entry-point group (a module whose import calls
:func:`register_cohort`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..utils import Registry
from ._base import Cohort
from ._splits import SPLITS

__all__ = ["COHORT_ENTRY_POINT_GROUP", "SPLIT_ALIASES", "CohortSpec", "available_cohorts",
           "get_cohort", "load_cohort", "register_cohort", "unregister_cohort"]

#: The entry-point group through which other packages add cohorts.
COHORT_ENTRY_POINT_GROUP = "medfuse_sk.cohorts"
#: MEDS split words and the library's: they map one to one.
SPLIT_ALIASES = {"tuning": "val", "held_out": "test"}


@dataclass(frozen=True)
class CohortSpec:
    """One registered cohort.

    Attributes
    ----------
    name : str
        The registry name (``p12``, ``p19``, ...).
    loader : callable
        ``loader(split=..., data_dir=..., **kwargs)`` returns a :class:`Cohort` of the stays of
        ``split`` with the labels of ``task``.
    task : str
        One line: what is predicted, from what (``"in-hospital death from the first 48 h"``).
    splits : tuple of str
        The split names the loader knows (train, tuning, held-out, in that order).
    description : str
        One line on the data, shown by :func:`available_cohorts` users and ``--help``.
    """

    name: str
    loader: Callable[..., Cohort]
    task: str = ""
    splits: tuple[str, ...] = SPLITS
    description: str = ""


#: This package's cohorts register on its import (each folder's ``__init__``).
_COHORTS: Registry[CohortSpec] = Registry("cohort", COHORT_ENTRY_POINT_GROUP,
                                          ("medfuse_sk.datasets",))


def register_cohort(
    name: str,
    loader: Callable[..., Cohort] | None = None,
    *,
    task: str = "",
    splits: Iterable[str] = SPLITS,
    description: str = "",
    replace: bool = False,
):
    """Register ``loader`` under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        Lower-case letters, digits and underscores.
    loader : callable, optional
        ``loader(split=..., data_dir=..., **kwargs)`` returning a :class:`Cohort`; ``split``
        is one of ``splits``, ``"all"`` or a list of them; ``data_dir`` None means the loader
        finds its data itself (:func:`~medfuse_sk.datasets.resolve_data_dir`). Omitted: returns
        a decorator.
    task : str
        What the labels are, from which part of the stay.
    splits : iterable of str, default ("train", "val", "test")
    description : str
        One line on the data; default the first line of the loader's docstring.
    replace : bool, default False
        Replace an existing registration of ``name`` instead of refusing it.
    """
    def decorate(f: Callable[..., Cohort]) -> Callable[..., Cohort]:
        doc = description or (f.__doc__ or "").strip().split("\n")[0]
        _COHORTS.add(name, CohortSpec(name, f, task, tuple(splits), doc), replace=replace,
                     same=lambda old: old.loader is f)
        return f

    return decorate if loader is None else decorate(loader)


def unregister_cohort(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive work)."""
    _COHORTS.remove(name)


def available_cohorts() -> list[str]:
    """The registered cohort names, sorted."""
    return _COHORTS.names()


def get_cohort(name: str) -> CohortSpec:
    """The registration of ``name``; the error suggests the closest name and lists them."""
    return _COHORTS.get(name)


def load_cohort(
    name: str,
    split: str | Sequence[str] = "train",
    data_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Cohort:
    """Load the stays of ``split`` of the cohort registered as ``name``, with its task's labels.

    Parameters
    ----------
    name : str
        A registered name (:func:`available_cohorts`): ``p12``, ``p19``, ...
    split : str or list of str, default "train"
        One of the cohort's splits (``train``, ``val``, ``test``; the MEDS words ``tuning``
        and ``held_out`` mean ``val`` and ``test``), ``"all"`` or a list of them.
    data_dir : str or path-like, optional
        The data's folder; None: the loader's environment variable, else the download cache.
    **kwargs
        Passed to the loader (for example ``stay_ids=`` or ``progress=False``).

    Returns
    -------
    Cohort
    """
    spec = get_cohort(name)
    if isinstance(split, str):
        split = SPLIT_ALIASES.get(split, split) if split not in spec.splits else split
    else:
        split = [SPLIT_ALIASES.get(s, s) if s not in spec.splits else s for s in split]
    cohort = spec.loader(split=split, data_dir=data_dir, **kwargs)
    if not isinstance(cohort, Cohort):
        raise TypeError(f"the loader of cohort {name!r} ({spec.loader!r}) returned "
                        f"{type(cohort).__name__}, not a Cohort")
    return cohort
