"""Cohorts: one type (:class:`Cohort`), one way to find data, and a registry of named cohorts.

``load_cohort("p12", split="val")`` loads a registered cohort with its task's labels
(:func:`available_cohorts` lists them); each source has its own folder: PhysioNet/CinC
Challenge 2012 (loader, packaged sample, checked download) and 2019 (loader, packaged sample,
the sepsis task). A new cohort is a loader returning a :class:`Cohort` and one
:func:`register_cohort` call (docs/contributing.md).
"""

from ._base import ENV_CACHE, Cohort, default_cache_dir, resolve_data_dir
from ._registry import (
    COHORT_ENTRY_POINT_GROUP,
    SPLIT_ALIASES,
    CohortSpec,
    available_cohorts,
    get_cohort,
    load_cohort,
    register_cohort,
    unregister_cohort,
)
from .meds import MEDSCohort, load_meds, register_meds_cohort, write_meds, write_predictions
from .physionet2012 import ChecksumError, PhysioNet2012, fetch_physionet2012, load_physionet2012, load_sample
from .physionet2019 import PhysioNet2019, load_physionet2019, load_physionet2019_sample, load_sepsis_cohort

__all__ = [
    "COHORT_ENTRY_POINT_GROUP",
    "ENV_CACHE",
    "SPLIT_ALIASES",
    "ChecksumError",
    "Cohort",
    "CohortSpec",
    "MEDSCohort",
    "PhysioNet2012",
    "PhysioNet2019",
    "available_cohorts",
    "default_cache_dir",
    "fetch_physionet2012",
    "get_cohort",
    "load_cohort",
    "load_meds",
    "load_physionet2012",
    "load_physionet2019",
    "load_physionet2019_sample",
    "load_sample",
    "load_sepsis_cohort",
    "register_cohort",
    "register_meds_cohort",
    "resolve_data_dir",
    "unregister_cohort",
    "write_meds",
    "write_predictions",
]
