"""MEDS-Tab, the MEDS community's tabular baseline: the ``meds-tab`` package (0.2.0) run as its
own commands in a virtualenv of its own, on MEDS input only.

meds-tab pins an older ``meds-evaluation`` than this library's MEDS tools, so it never shares
their environment: the first fit builds a virtualenv in ``$MEDFUSE_MEDS_TAB_ENV`` (default
``$MEDFUSE_CACHE/meds-tab-0.2.0``, else ``~/.cache/medfuse_sk/meds-tab-0.2.0``) with
``$MEDFUSE_MEDS_TAB_PYTHON`` (default: the running interpreter) and ``pip install
meds-tab==0.2.0``; later fits reuse it. :class:`MEDSTabClassifier` says what a fit and a
prediction run; ``docs/benchmark.md`` ("MEDS-Tab") how the benchmark uses it.
"""

from .._registry import register_model
from ._environment import (
    ENV_VARIABLE,
    MEDS_TAB_VERSION,
    PYTHON_VARIABLE,
    REQUIREMENTS,
    MEDSTabEnvironment,
    MEDSTabError,
    ensure_environment,
    environment_dir,
)
from ._estimator import AGGREGATIONS, WINDOW_SIZES, MEDSTabClassifier, make_meds_tab

__all__ = ["AGGREGATIONS", "ENV_VARIABLE", "MEDS_TAB_VERSION", "PYTHON_VARIABLE", "REQUIREMENTS",
           "WINDOW_SIZES", "MEDSTabClassifier", "MEDSTabEnvironment", "MEDSTabError",
           "ensure_environment", "environment_dir", "make_meds_tab"]

register_model("meds_tab", make_meds_tab, classes=(MEDSTabClassifier,),
               description="MEDS-Tab: the meds-tab package's tabularization and XGBoost, in its "
                           "own virtualenv, on MEDS input only")
