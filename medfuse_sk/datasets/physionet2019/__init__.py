"""PhysioNet/CinC Challenge 2019 (sepsis), set A: the loader, the bundled sample; the cohort ``p19``."""

from .._registry import register_cohort
from ._loader import (
    CATEGORICAL,
    COLUMNS,
    STATIC,
    TIME_SERIES,
    PhysioNet2019,
    load_physionet2019,
    load_physionet2019_sample,
    stratified_split,
)
from ._task import HORIZON, TASK, WINDOW, load_sepsis_cohort

__all__ = ["CATEGORICAL", "COLUMNS", "HORIZON", "STATIC", "TASK", "TIME_SERIES", "WINDOW",
           "PhysioNet2019", "load_physionet2019", "load_physionet2019_sample",
           "load_sepsis_cohort", "stratified_split"]

register_cohort("p19", load_sepsis_cohort, task=TASK,
                description="PhysioNet/CinC Challenge 2019 set A: 20,336 ICU stays, the shipped "
                            "train/val/test split")
