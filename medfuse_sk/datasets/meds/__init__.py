"""MEDS in and out: a MEDS dataset and a task as a cohort, predictions in meds-evaluation's
format, and any labelled cohort written as a MEDS dataset plus a task.

Reading: :func:`load_meds` (or ``load_cohort("meds", split=..., data_dir=DATA, task_dir=TASK)``,
or a name given by :func:`register_meds_cohort`) returns a :class:`MEDSCohort`: one stay per
(subject, prediction time); its events up to and including the prediction time, within an
optional look-back; static rows as static features; numbers as numerical features, text as
categorical ones, bare codes as presence tokens; leaking codes left out
(:data:`DEFAULT_EXCLUDE`); splits from ``metadata/subject_splits.parquet``; the vocabulary
(:class:`MEDSVocabulary`) fitted on the training split only. Shards are read one by one and
prepared in parallel processes (``n_jobs``) or on a Dask cluster (``client``).

Writing: :func:`write_predictions` (label columns + ``predicted_boolean_value`` +
``predicted_boolean_probability`` as float64, meds-evaluation's format), :func:`write_meds`
(any labelled cohort, EventSet or long table as a MEDS dataset and task) and
:func:`validate_meds` (the ``meds`` package's own schemas).

Bad input raises :class:`MEDSError`, naming the file, column, code or subject at fault.

The field's tools, run from Python: the eICU ETL (:func:`run_eicu_etl`) and ACES
(:func:`run_aces`), with the configurations shipped in ``configs/``.
"""

from ._cohort import DEFAULT_EXCLUDE, MEDSCohort, load_meds, meds_options, predictions_table
from ._files import LABEL_COLUMNS, MEDS_SPLITS, SPLIT_WORDS, MEDSError, meds_split, read_labels
from ._pipelines import (
    EICU_DEMO_EVENT_CONFIG,
    EICU_DEMO_SKIPPED_TABLES,
    MORTALITY_48H_TASK,
    PipelineError,
    PipelineRun,
    config_tables,
    prepare_eicu_mortality,
    run_aces,
    run_eicu_etl,
    shipped_config,
)
from ._registry import ENV_MEDS_DIR, ENV_MEDS_TASK, load_meds_cohort, register_meds_cohort
from ._vocabulary import OTHER_CLASS, PRESENT_SUFFIX, TEXT_SUFFIX, UNKNOWN_FEATURE, MEDSVocabulary
from ._write import DEFAULT_START, MEDSExport, validate_meds, write_meds, write_predictions

__all__ = [
    "DEFAULT_EXCLUDE", "DEFAULT_START", "EICU_DEMO_EVENT_CONFIG", "EICU_DEMO_SKIPPED_TABLES",
    "ENV_MEDS_DIR", "ENV_MEDS_TASK", "LABEL_COLUMNS", "MEDS_SPLITS", "MORTALITY_48H_TASK",
    "OTHER_CLASS", "PRESENT_SUFFIX", "SPLIT_WORDS", "TEXT_SUFFIX", "UNKNOWN_FEATURE",
    "MEDSCohort", "MEDSError", "MEDSExport", "MEDSVocabulary", "PipelineError", "PipelineRun",
    "config_tables", "load_meds", "load_meds_cohort", "meds_options", "meds_split",
    "predictions_table", "prepare_eicu_mortality", "read_labels", "register_meds_cohort",
    "run_aces", "run_eicu_etl", "shipped_config", "validate_meds", "write_meds",
    "write_predictions",
]
