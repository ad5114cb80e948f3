"""``medfuse benchmark``: registered models ranked on one cohort under one protocol.

:func:`run_benchmark` fits every named model on the same training stays (the defaults and at
most 8 settings of a documented grid, :data:`GRIDS`, chosen on an inner validation share of the
training stays), scores the same held-out stays with several seeds, and writes a table (AUPRC
and AUROC with bootstrap intervals, calibration, time, memory), paired bootstrap tests against
the best model, subgroup metrics, predictions, figures and a protocol record. Each finished fit
is written at once, so an interrupted run resumes where it stopped. :class:`BenchmarkData`
holds the two parts of the data; :func:`select_models` resolves ``all``.
"""

from ._data import SUBGROUP_ALIASES, BenchmarkData, subgroup_labels
from ._engine import BenchmarkResult, run_benchmark
from ._grids import FIXED, GRIDS, MAX_SETTINGS, apply_setting, grid_settings
from ._models import missing_extras, select_models

__all__ = ["FIXED", "GRIDS", "MAX_SETTINGS", "SUBGROUP_ALIASES", "BenchmarkData",
           "BenchmarkResult", "apply_setting", "grid_settings", "missing_extras", "run_benchmark",
           "select_models", "subgroup_labels"]
