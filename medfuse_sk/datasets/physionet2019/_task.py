"""The ``p19`` cohort: sepsis from the first 24 ICU hours of PhysioNet 2019 set A.

Built with :func:`medfuse_sk.data.make_window_task` from :func:`load_physionet2019`: the input
is the events of the first ``WINDOW`` hours (``t < 24``); the label is 1 when the first hour
labelled ``SepsisLabel = 1`` falls in ``[WINDOW, WINDOW + HORIZON)`` (the next 48 hours). Stays
labelled within the first 24 hours (the outcome was already visible) and stays whose record
ends before 24 hours are excluded; they are listed in ``report["excluded_stays"]``. The task of
docs/transfer.md and of ``benchmarks/transfer_report.py``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ...data import EXCLUSION_REASONS, make_window_task
from .._base import Cohort
from ._loader import load_physionet2019

__all__ = ["HORIZON", "TASK", "WINDOW", "load_sepsis_cohort"]

WINDOW, HORIZON = 24.0, 48.0
TASK = "sepsis labelled in the next 48 h, from the first 24 h (stays labelled earlier excluded)"


def load_sepsis_cohort(
    split: str | Sequence[str] = "train",
    data_dir: str | os.PathLike | None = None,
    **kwargs: Any,
) -> Cohort:
    """PhysioNet 2019 set A, first 24 h → sepsis within the next 48 h (the cohort ``p19``).

    Parameters
    ----------
    split : {"train", "val", "test", "all"} or list of them, default "train"
        The fixed split of set A shipped with the package.
    data_dir : str or path-like, optional
        As ``path`` of :func:`load_physionet2019`.
    **kwargs
        Passed to :func:`load_physionet2019` (``stay_ids=``, ``progress=``).

    Returns
    -------
    Cohort
        ``events`` cut to the window, ``labels`` of the task (named ``label``), the included
        ``stay_ids``; ``report`` holds the task's counts, the excluded stays by reason
        (``excluded_stays``) and the loader's report (``loader``).
    """
    data = load_physionet2019(data_dir, split=split, **kwargs)
    task = make_window_task(data.events, data.onset, window=WINDOW, horizon=HORIZON,
                            stay_end=data.end, warn=False)
    reasons = task.excluded["reason"]
    excluded = {r: reasons.index[reasons == r].tolist() for r in EXCLUSION_REASONS if (reasons == r).any()}
    report = {"cohort": "p19", "task": TASK, **task.report, "excluded_stays": excluded,
              "loader": data.report}
    stay_split = None if data.stay_split is None else data.stay_split.reindex(task.stay_ids)
    return Cohort(events=task.events, labels=task.labels, stay_ids=task.stay_ids, report=report,
                  categorical=data.categorical, split=data.split, stay_split=stay_split)
