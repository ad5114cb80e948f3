"""MEDS cohorts in the cohort registry: ``meds`` (any dataset and task folder) and named ones.

``load_cohort("meds", split="held_out", data_dir=DATA, task_dir=TASK, lookback=48)`` reads any
MEDS dataset and task (the folders may also come from ``$MEDFUSE_MEDS_DIR`` and
``$MEDFUSE_MEDS_TASK``); :func:`register_meds_cohort` gives one dataset + task a name of its
own (``load_cohort("eicu_mortality")``), with its reading options.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .._base import resolve_data_dir
from .._registry import register_cohort
from ._cohort import MEDSCohort, load_meds
from ._files import MEDS_SPLITS

__all__ = ["ENV_MEDS_DIR", "ENV_MEDS_TASK", "load_meds_cohort", "register_meds_cohort"]

#: Environment variables naming the MEDS dataset and task folders of the ``meds`` cohort.
ENV_MEDS_DIR = "MEDFUSE_MEDS_DIR"
ENV_MEDS_TASK = "MEDFUSE_MEDS_TASK"
_HOW = ("A MEDS cohort is a dataset folder (data/, metadata/) and a task folder (label files): "
        "pass data_dir= and task_dir= (on the command line --meds DIR --task DIR)")


def _is_dataset(path) -> bool:
    return (path / "data").is_dir()


def _is_task(path) -> bool:
    return path.is_file() or (path.is_dir() and any(path.rglob("*.parquet")))


def load_meds_cohort(split: str | Sequence[str] = "train", data_dir: str | os.PathLike | None = None,
                     task_dir: str | os.PathLike | None = None, **options: Any) -> MEDSCohort:
    """The registry's loader of the ``meds`` cohort: :func:`load_meds` with the folders from the
    arguments, else from ``$MEDFUSE_MEDS_DIR`` and ``$MEDFUSE_MEDS_TASK``."""
    data = resolve_data_dir("MEDS", data_dir, ENV_MEDS_DIR, has_data=_is_dataset,
                            expected="data/**/*.parquet and metadata/", how_to_get=_HOW)
    task = resolve_data_dir("MEDS task", task_dir, ENV_MEDS_TASK, has_data=_is_task,
                            expected="label files **/*.parquet", how_to_get=_HOW,
                            argument="task_dir")
    return load_meds(data, task, split=split, **options)


def register_meds_cohort(name: str, data_dir: str | os.PathLike, task_dir: str | os.PathLike, *,
                         task: str = "", description: str = "", replace: bool = False,
                         **options: Any) -> None:
    """Register one MEDS dataset and task under ``name``, with its reading options.

    ``load_cohort(name, split=...)`` then reads it with ``options`` (``lookback=48``,
    ``exclude=...``, ``min_count=...``: those of :func:`load_meds`); a ``data_dir`` or
    ``task_dir`` given to ``load_cohort`` replaces the registered folder, other keyword
    arguments replace the registered options.
    """
    def loader(split="train", data_dir=None, task_dir=None, **kwargs: Any) -> MEDSCohort:
        return load_meds_cohort(split, data_dir or default_data, task_dir or default_task,
                                **{**options, **kwargs})

    default_data, default_task = data_dir, task_dir
    loader.__doc__ = description or f"MEDS dataset {data_dir}, task {task_dir}"
    register_cohort(name, loader, task=task or f"the labels of {task_dir}", splits=MEDS_SPLITS,
                    description=description or f"MEDS dataset {data_dir}", replace=replace)


register_cohort("meds", load_meds_cohort, task="the labels of a MEDS task folder (task_dir=)",
                splits=MEDS_SPLITS,
                description="any MEDS dataset (data_dir=) and task (task_dir=); split words "
                            "train / tuning / held_out")
