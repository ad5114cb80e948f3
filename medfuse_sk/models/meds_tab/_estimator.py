"""MEDS-Tab as an estimator: the ``meds-tab`` package's own commands, run in their own
virtualenv, on the samples ``fit`` and ``predict_proba`` are given."""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ...data import EventSet
from ...utils import examples
from .._base import BaseEventClassifier
from ._environment import MEDSTabEnvironment, MEDSTabError, ensure_environment, run_step, step_environment

__all__ = ["MEDSTabClassifier", "make_meds_tab", "meds_samples", "align_predictions",
           "split_subjects", "pipeline_commands", "WINDOW_SIZES", "AGGREGATIONS", "INFO_KEY"]

#: meds-tab's default windows and aggregations (``configs/tabularization/default.yaml``).
WINDOW_SIZES = ("1d", "7d", "30d", "365d", "full")
AGGREGATIONS = ("static/present", "static/first", "code/count", "value/count", "value/sum",
                "value/sum_sqd", "value/min", "value/max")
_STATIC = {"static/present", "static/first"}
#: The key of ``EventSet.info`` under which ``load_meds`` records where the stays came from.
INFO_KEY = "meds"
#: The task name given to meds-tab (it only names folders).
TASK = "task"
_RUNNER = Path(__file__).with_name("_runner.py")
#: XGBoost parameters the estimator passes to meds-tab's launcher when set.
_XGB_PARAMS = ("eta", "max_depth", "min_child_weight", "subsample")


@dataclass(frozen=True)
class _Layout:
    """The folders of one meds-tab run inside a work folder."""

    root: Path

    @property
    def data(self) -> Path:       # input_dir: data/<split>/<shard>.parquet
        return self.root / "data"

    @property
    def labels(self) -> Path:     # input_label_dir: labels/<split>/<shard>.parquet
        return self.root / "labels"

    @property
    def output(self) -> Path:     # output_dir: metadata/codes.parquet, tabularize/
        return self.root / "output"

    @property
    def model(self) -> Path:      # output_model_dir
        return self.root / "model"


def meds_samples(X: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The MEDS sample (``subject_id``, ``prediction_time``) of each stay of ``X``, in the
    order of ``X.stay_ids``, and the source it was read from (``data_dir``, ``exclude``).

    Raises
    ------
    TypeError
        ``X`` is not an :class:`EventSet` that :func:`~medfuse_sk.datasets.meds.load_meds`
        built (a long table, or events built otherwise): meds-tab reads the MEDS dataset itself.
    ValueError
        Stays of ``X`` that the recorded samples do not hold.
    """
    source = getattr(X, "info", {}).get(INFO_KEY) if isinstance(X, EventSet) else None
    if not isinstance(source, dict) or "samples" not in source:
        kind = ("an EventSet without a MEDS source" if isinstance(X, EventSet)
                else f"a {type(X).__name__}")
        raise TypeError(
            "meds_tab runs on MEDS input only: it needs the EventSet that load_meds builds "
            "(medfuse ... --meds DIR --task DIR), which records the MEDS dataset and each "
            f"stay's subject and prediction time in EventSet.info[{INFO_KEY!r}]; got {kind}. "
            "meds-tab reads the MEDS dataset itself; write other data as MEDS first "
            "(medfuse_sk.datasets.meds.write_meds)")
    table = source["samples"]
    stays = pd.Index(X.stay_ids)
    absent = stays.difference(table.index)
    if len(absent):
        raise ValueError(f"{len(absent)} stay(s) of X have no MEDS sample in "
                         f"EventSet.info[{INFO_KEY!r}]['samples']: {examples(absent.tolist())}")
    samples = table.loc[stays, ["subject_id", "prediction_time"]].copy()
    samples["subject_id"] = samples["subject_id"].astype(np.int64)
    samples["prediction_time"] = pd.to_datetime(samples["prediction_time"]).astype("datetime64[us]")
    return samples, source


def split_subjects(subjects: np.ndarray, labels: np.ndarray, share: float,
                   seed: int) -> np.ndarray:
    """Which samples go to meds-tab's ``tuning`` split: a ``share`` of the subjects, drawn with
    ``seed`` within each class of the subject's label (positive if any of its samples is), so
    that no subject is in both splits. Returns a boolean mask over the samples."""
    subjects = np.asarray(subjects)
    labels = np.asarray(labels).astype(bool)
    unique, inverse = np.unique(subjects, return_inverse=True)
    positive = np.zeros(len(unique), dtype=bool)
    np.logical_or.at(positive, inverse, labels)
    rng = np.random.default_rng(seed)
    chosen = np.zeros(len(unique), dtype=bool)
    for cls in (False, True):
        members = np.flatnonzero(positive == cls)
        if len(members) < 2:
            continue
        k = min(max(int(round(share * len(members))), 1), len(members) - 1)
        chosen[rng.choice(members, size=k, replace=False)] = True
    if not chosen.any() or chosen.all():
        raise ValueError(f"meds_tab needs subjects for both its train and tuning splits; the "
                         f"{len(unique)} training subject(s) ({int(positive.sum())} with a "
                         "positive sample) cannot be split")
    return chosen[inverse]


def align_predictions(samples: pd.DataFrame, predictions: pd.DataFrame) -> np.ndarray:
    """The probability of each row of ``samples`` (``subject_id``, ``prediction_time``) from
    meds-tab's ``predictions`` (the same keys and ``predicted_boolean_probability``), in the
    order of ``samples``.

    Raises
    ------
    MEDSTabError
        A sample with no prediction, or a key predicted twice.
    """
    keys = ["subject_id", "prediction_time"]
    got = predictions[[*keys, "predicted_boolean_probability"]].copy()
    got["subject_id"] = got["subject_id"].astype(np.int64)
    got["prediction_time"] = pd.to_datetime(got["prediction_time"]).astype("datetime64[us]")
    twice = got.duplicated(keys)
    if twice.any():
        first = got[twice].iloc[0]
        raise MEDSTabError(f"meds_tab: meds-tab predicted {int(twice.sum())} sample(s) twice, e.g. "
                           f"subject {first['subject_id']} at {first['prediction_time']}")
    wanted = samples[keys].reset_index(drop=True)
    merged = wanted.merge(got, on=keys, how="left", validate="many_to_one")
    missing = merged["predicted_boolean_probability"].isna().to_numpy()
    if missing.any():
        rows = merged[missing].head(5)
        named = ", ".join(f"subject {s} at {t}" for s, t in rows[keys].itertuples(index=False))
        raise MEDSTabError(f"meds_tab: meds-tab returned no prediction for {int(missing.sum())} "
                           f"of {len(samples)} sample(s), e.g. {named} (a subject without any "
                           "row in the MEDS data?)")
    return merged["predicted_boolean_probability"].to_numpy(np.float64)


def _hydra_list(values: Sequence[str]) -> str:
    return "[" + ",".join(values) + "]"


def pipeline_commands(env: MEDSTabEnvironment, layout: _Layout, params: dict[str, Any], *,
                      seed: int, fitting: bool) -> list[tuple[str, list[str]]]:
    """The meds-tab commands of a fit (``fitting``: describe, both tabularizations, the
    XGBoost launcher) or of a prediction (both tabularizations with the fit's code list), as
    (name, argv) pairs."""
    tabularization = [
        f"tabularization.min_code_inclusion_count={params['min_code_inclusion_count']}",
        f"tabularization.window_sizes={_hydra_list(params['window_sizes'])}",
        f"tabularization.aggs={_hydra_list(params['aggs'])}",
    ]
    where = [f"input_dir={layout.data}", f"output_dir={layout.output}"]
    labelled = [*where, f"input_label_dir={layout.labels}", *tabularization]
    commands: list[tuple[str, list[str]]] = []
    if fitting:
        commands.append(("meds-tab-describe", [env.command("meds-tab-describe"), *where]))
    commands += [
        ("meds-tab-tabularize-static", [env.command("meds-tab-tabularize-static"), *labelled]),
        ("meds-tab-tabularize-time-series",
         [env.command("meds-tab-tabularize-time-series"), *labelled]),
    ]
    if not fitting:
        return commands
    launcher = [env.command("meds-tab-xgboost")]
    sweep = params["n_trials"] is not None
    if sweep:
        launcher.append("--multirun")
    launcher += [*where, f"output_model_dir={layout.model}", f"task_name={TASK}",
                 f"input_tabularized_cache_dir={layout.output / 'tabularize'}",
                 f"input_label_cache_dir={layout.labels}",
                 f"tabularization.window_sizes={_hydra_list(params['window_sizes'])}",
                 f"tabularization.aggs={_hydra_list(params['aggs'])}",
                 # fixed in a sweep too (a fixed value leaves the search space): meds-tab's
                 # space draws it from 10 to 10^6, which leaves small data without codes
                 f"tabularization.min_code_inclusion_count={params['min_code_inclusion_count']}",
                 f"model_launcher.model.nthread={params['threads']}",
                 f"+model_launcher.model.seed={seed}"]
    if sweep:
        # meds-tab's own search space (configs/model_launcher/xgboost.yaml) over XGBoost's
        # parameters, the rounds and early stopping; one trial at a time, in this process,
        # the sampler seeded
        launcher += [f"hydra.sweeper.n_trials={params['n_trials']}", "hydra.sweeper.n_jobs=1",
                     "hydra.launcher.n_jobs=1", f"hydra.sweeper.sampler.seed={seed}",
                     "delete_below_top_k=1"]
    else:
        launcher += [
            f"model_launcher.training_params.num_boost_round={params['num_boost_round']}",
            f"model_launcher.training_params.early_stopping_rounds="
            f"{params['early_stopping_rounds']}"]
        launcher += [f"+model_launcher.model.{name}={params[name]}" for name in _XGB_PARAMS
                     if params[name] is not None]
    commands.append(("meds-tab-xgboost", launcher))
    return commands


class MEDSTabClassifier(BaseEventClassifier):
    """MEDS-Tab (Oufattole et al., 2024): the ``meds-tab`` package's tabularization (code counts
    and value count/sum/sum of squares/min/max over windows of 1 d, 7 d, 30 d, 365 d and the full
    history, static presence and first values) and its XGBoost launcher, run as its own
    commands in a virtualenv of their own, on the MEDS samples it is given.

    ``fit(X, y)`` takes the :class:`~medfuse_sk.data.EventSet` that
    :func:`~medfuse_sk.datasets.meds.load_meds` built (``medfuse ... --meds DIR --task DIR``);
    it reads from it only which samples (subject, prediction time) the stays are and where the
    MEDS dataset lies, and takes the labels from ``y``. It lays out a MEDS dataset of those
    samples' subjects only (the rows of the dataset's shards, the codes the reading excluded
    left out) with meds-tab's splits: ``train`` and ``tuning`` (a ``tuning_size`` share of the
    subjects, drawn with ``random_state`` within each class; meds-tab stops boosting, and
    sweeps, on it), ``held_out`` a copy of ``tuning`` (meds-tab's launcher insists on one). It
    then runs ``meds-tab-describe`` (code counts of those subjects), ``meds-tab-tabularize-static``
    and ``meds-tab-tabularize-time-series`` (at the label times only, ``input_label_dir``) and
    ``meds-tab-xgboost`` (one run with meds-tab's defaults, or its optuna sweep with
    ``n_trials``). No sample outside ``X`` is read, so a benchmark's scored split never takes
    part in a fit. ``predict_proba(X)`` lays out ``X``'s samples as ``held_out``, tabularizes
    them with the fit's code counts (so the features are the fit's), and predicts them with the
    fitted booster through meds-tab's own ``XGBoostModel``.

    The virtualenv is built on the first fit (about a minute; see
    :mod:`medfuse_sk.models.meds_tab` for its folder and the environment variables). Each fit or
    prediction works in a temporary folder, removed afterwards unless ``keep_work``.

    Parameters
    ----------
    n_trials : int or None, default None
        None: one run of meds-tab's XGBoost launcher with its default settings and the
        parameters below. An integer: meds-tab's optuna sweep (``--multirun``) of that many
        trials over its own search space (XGBoost's ``eta``, ``lambda``, ``alpha``,
        ``subsample``, ``min_child_weight``, ``max_depth``, the rounds and early stopping; the
        code inclusion count stays ``min_code_inclusion_count``), chosen by AUROC on the tuning
        subjects; the XGBoost parameters below must then stay None.
    eta, max_depth, min_child_weight, subsample : number or None, default None
        XGBoost parameters passed to meds-tab's launcher; None keeps XGBoost's defaults
        (meds-tab sets none of them).
    num_boost_round, early_stopping_rounds : int, default 1000, 5
        Boosting rounds at most, and rounds without improvement of the tuning subjects' log
        loss before stopping (meds-tab's defaults).
    min_code_inclusion_count : int, default 10
        Codes seen fewer times among the training subjects are left out (meds-tab's default).
    window_sizes : sequence of str, default ("1d", "7d", "30d", "365d", "full")
        meds-tab's windows back from each prediction time (``full``: the whole history).
    aggs : sequence of str, default all eight of meds-tab's aggregations
        ``static/present``, ``static/first``, ``code/count``, ``value/count``, ``value/sum``,
        ``value/sum_sqd``, ``value/min``, ``value/max``; at least one that is not static.
    tuning_size : float, default 0.1
        Share of the training subjects in meds-tab's ``tuning`` split.
    n_jobs : int, default 1
        Threads of XGBoost (``nthread``), polars and OpenMP in meds-tab's commands.
    random_state : int or None, default None
        Draws the tuning subjects and seeds XGBoost (``seed``) and, with ``n_trials``, the
        sweep's sampler. None: a seed drawn from torch's generator (as every model here).
    work_dir : str or None, default None
        Where the temporary work folders go (default: the system's temporary folder).
    keep_work : bool, default False
        Keep the work folders (their paths are in ``work_dirs_``) for inspection.
    verbose : int, default 1
        Progress lines on stderr (one per meds-tab step, with its seconds); 0: none.

    Attributes
    ----------
    classes_ : ndarray ``[0, 1]``
    seed_ : int
        The seed the fit ran with.
    booster_ : str
        The fitted XGBoost booster in XGBoost's JSON format.
    config_ : str
        meds-tab's configuration of the chosen run (YAML), including the code list it used.
    codes_metadata_ : str
        meds-tab-describe's ``codes.parquet`` of the training subjects (base64): predictions
        tabularize with it, so that their features are the fit's.
    tuning_auc_ : float
        meds-tab's AUROC on the tuning subjects (0 when they hold one class).
    n_features_ : int
        Columns of meds-tab's feature matrix.
    staged_ : dict
        Samples, subjects, rows and excluded rows of the fit's ``train`` and ``tuning`` splits.
    environment_ : dict
        The virtualenv's folder and package versions.
    timings_ : dict
        Seconds of each step of the fit.
    work_dirs_ : list of str
        The work folders kept (``keep_work``).

    Notes
    -----
    Where the scikit-learn contract cannot hold:

    - ``fit`` and ``predict_proba`` take MEDS input only (a ``TypeError`` otherwise): meds-tab
      reads the MEDS dataset's files, not the events of ``X``; the reading options of
      ``load_meds`` other than the excluded codes (``lookback``, the vocabulary) do not apply.
    - ``sample_weight`` is refused: meds-tab's launcher has no weights.
    - The MEDS dataset must still be at the same path when ``predict_proba`` runs.
    - The fitted state is plain text (the booster's JSON, the configuration, the code counts),
      so ``pickle`` and the library's safe model files both hold it; ``clone`` and
      ``get_params``/``set_params`` work as for any estimator.
    - The fit's CPU time is spent in child processes (``resource.RUSAGE_CHILDREN``).
    """

    _input = "events"

    def __init__(self, n_trials: int | None = None, eta: float | None = None,
                 max_depth: int | None = None, min_child_weight: float | None = None,
                 subsample: float | None = None, num_boost_round: int = 1000,
                 early_stopping_rounds: int = 5, min_code_inclusion_count: int = 10,
                 window_sizes: Sequence[str] = WINDOW_SIZES, aggs: Sequence[str] = AGGREGATIONS,
                 tuning_size: float = 0.1, n_jobs: int = 1, random_state: int | None = None,
                 work_dir: str | None = None, keep_work: bool = False, verbose: int = 1) -> None:
        self.n_trials = n_trials
        self.eta = eta
        self.max_depth = max_depth
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.num_boost_round = num_boost_round
        self.early_stopping_rounds = early_stopping_rounds
        self.min_code_inclusion_count = min_code_inclusion_count
        self.window_sizes = window_sizes
        self.aggs = aggs
        self.tuning_size = tuning_size
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.work_dir = work_dir
        self.keep_work = keep_work
        self.verbose = verbose

    # -- parameters ----------------------------------------------------------------------------
    def _check_params(self) -> None:
        def positive_int(name: str, low: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")

        if self.n_trials is not None:
            positive_int("n_trials")
            fixed = [n for n in _XGB_PARAMS if getattr(self, n) is not None]
            if fixed:
                raise ValueError(f"n_trials={self.n_trials} runs meds-tab's own sweep, which "
                                 f"sets {', '.join(fixed)} itself; leave them None, or "
                                 "n_trials=None for one run with them")
        positive_int("num_boost_round")
        positive_int("early_stopping_rounds")
        positive_int("min_code_inclusion_count", 0)
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool) \
                or (self.n_jobs < 1 and self.n_jobs != -1):
            raise ValueError(f"n_jobs must be an integer >= 1 (or -1: every core), got "
                             f"{self.n_jobs!r}")
        for name in ("eta", "subsample"):
            value = getattr(self, name)
            if value is not None and not (isinstance(value, (int, float)) and 0 < value <= 1):
                raise ValueError(f"{name} must lie in (0, 1] or be None, got {value!r}")
        if self.max_depth is not None:
            positive_int("max_depth")
        if self.min_child_weight is not None and not (
                isinstance(self.min_child_weight, (int, float)) and self.min_child_weight >= 0):
            raise ValueError(f"min_child_weight must be >= 0 or None, got {self.min_child_weight!r}")
        if not isinstance(self.tuning_size, (int, float)) or not 0 < self.tuning_size < 1:
            raise ValueError(f"tuning_size must lie in (0, 1), got {self.tuning_size!r}")
        windows = [self.window_sizes] if isinstance(self.window_sizes, str) else self.window_sizes
        if not windows or not all(isinstance(w, str) and w and "," not in w for w in windows):
            raise ValueError(f"window_sizes must be a non-empty list of meds-tab windows such as "
                             f"'1d', '7d', 'full'; got {self.window_sizes!r}")
        aggs = [self.aggs] if isinstance(self.aggs, str) else list(self.aggs)
        unknown = [a for a in aggs if a not in AGGREGATIONS]
        if unknown or not aggs:
            raise ValueError(f"aggs: unknown meds-tab aggregation(s) {unknown}; choose from "
                             f"{', '.join(AGGREGATIONS)}" if unknown else "aggs is empty")
        if not set(aggs) - _STATIC:
            raise ValueError(f"aggs {aggs} are all static; meds-tab needs at least one of "
                             f"{', '.join(a for a in AGGREGATIONS if a not in _STATIC)}")

    def _params(self) -> dict[str, Any]:
        windows = [self.window_sizes] if isinstance(self.window_sizes, str) else list(self.window_sizes)
        aggs = [self.aggs] if isinstance(self.aggs, str) else list(self.aggs)
        threads = self.n_jobs if self.n_jobs != -1 else (os.cpu_count() or 1)
        return {"n_trials": self.n_trials, "num_boost_round": int(self.num_boost_round),
                "early_stopping_rounds": int(self.early_stopping_rounds),
                "min_code_inclusion_count": int(self.min_code_inclusion_count),
                "window_sizes": windows, "aggs": aggs, "threads": int(threads),
                **{name: getattr(self, name) for name in _XGB_PARAMS}}

    # -- plumbing --------------------------------------------------------------------------------
    def _say(self, line: str) -> None:
        if self.verbose:
            print(line, file=sys.stderr, flush=True)

    def _work(self, kind: str) -> Path:
        if self.work_dir is not None:
            Path(self.work_dir).mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"meds-tab-{kind}-", dir=self.work_dir))

    def _done_with(self, work: Path) -> None:
        if self.keep_work:
            self.work_dirs_ = [*getattr(self, "work_dirs_", []), str(work)]
            self._say(f"meds_tab: work folder kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    def _run(self, env: MEDSTabEnvironment, name: str, argv: list[str], work: Path,
             timings: dict[str, float] | None = None) -> subprocess.CompletedProcess:
        started = time.perf_counter()
        self._say(f"meds_tab: {name} ...")
        done = run_step(name, argv, env=step_environment(env.path, self._params()["threads"]),
                        cwd=work, progress=self._say if self.verbose else None)
        if timings is not None:
            timings[name] = round(time.perf_counter() - started, 3)
        return done

    def _stage(self, env: MEDSTabEnvironment, source: dict[str, Any], parts: dict[str, pd.DataFrame],
               layout: _Layout, timings: dict[str, float] | None = None) -> dict[str, Any]:
        """Lay out ``parts`` (split → samples with ``boolean_value``) as a MEDS dataset meds-tab
        reads, through ``_runner.py stage`` in the virtualenv."""
        data_dir = Path(source["data_dir"])
        shards = sorted(p for p in (data_dir / "data").rglob("*.parquet") if p.is_file())
        if not shards:
            raise FileNotFoundError(f"meds_tab: no parquet shards under {data_dir / 'data'} (the "
                                    "MEDS dataset X was read from); is it still there?")
        files = {}
        for split, part in parts.items():
            path = layout.root / f"samples-{split}.parquet"
            part[["subject_id", "prediction_time", "boolean_value"]].to_parquet(path, index=False)
            files[split] = str(path)
        request = {"out": str(layout.root), "shards": [str(p) for p in shards],
                   "exclude": list(source.get("exclude", [])), "parts": files,
                   "report": str(layout.root / "stage-report.json")}
        path = layout.root / "stage-request.json"
        path.write_text(json.dumps(request, indent=1))
        self._run(env, "staging the samples' MEDS rows", [str(env.python), str(_RUNNER), "stage",
                                                           str(path)], layout.root, timings)
        report = json.loads(Path(request["report"]).read_text())
        for split in parts:
            lost = report[split]["n_subjects_without_rows"]
            if lost:
                raise MEDSTabError(
                    f"meds_tab: {lost} subject(s) of the {split} samples have no row in "
                    f"{data_dir / 'data'}: {examples(report[split]['subjects_without_rows'])}; "
                    "meds-tab cannot describe a subject without data")
        return report

    # -- fit and predict -------------------------------------------------------------------------
    def _fit(self, X: EventSet, y: np.ndarray, sample_weight: np.ndarray | None) -> None:
        if sample_weight is not None:
            raise ValueError("meds_tab takes no sample_weight: meds-tab's XGBoost launcher has "
                             "no sample weights")
        samples, source = meds_samples(X)
        samples["boolean_value"] = y.astype(bool)
        tuning = split_subjects(samples["subject_id"].to_numpy(), y, self.tuning_size, self.seed_)
        started = time.perf_counter()
        timings: dict[str, float] = {}
        env = ensure_environment(self._say if self.verbose else None)
        if env.built_now:
            timings["building the environment"] = round(time.perf_counter() - started, 3)
        self.environment_ = {"path": str(env.path), **env.versions}
        params = self._params()
        work = self._work("fit")
        try:
            layout = _Layout(work)
            report = self._stage(env, source, {"train": samples[~tuning], "tuning": samples[tuning]},
                                 layout, timings)
            commands = pipeline_commands(env, layout, params, seed=self.seed_, fitting=True)
            for name, argv in commands[:1]:  # describe: the train and tuning subjects only
                self._run(env, name, argv, work, timings)
            for kind in ("data", "labels"):  # held_out: the launcher insists on one
                shutil.copytree(work / kind / "tuning", work / kind / "held_out")
            for name, argv in commands[1:]:
                self._run(env, name, argv, work, timings)
            self._read_fit(layout)
        finally:
            self._done_with(work)
        self.staged_ = {split: {k: v for k, v in report[split].items()
                                if k in ("samples", "subjects", "rows")}
                        for split in ("train", "tuning")}
        self.staged_["excluded_rows"] = dict(report.get("excluded", {}))
        self.timings_ = timings
        self._say(f"meds_tab: fitted on {self.staged_['train']['samples']} samples "
                  f"(+{self.staged_['tuning']['samples']} tuning), {self.n_features_} features, "
                  f"tuning AUROC {self.tuning_auc_:.3f} ({time.perf_counter() - started:.0f} s)")

    def _read_fit(self, layout: _Layout) -> None:
        """The chosen run's booster, configuration and AUROC, and describe's code counts."""
        best = sorted(layout.model.glob("*/best_trial/xgboost.json"))
        found = best or sorted(layout.model.glob("*/sweep_results/*/xgboost.json"))
        if not found:
            raise MEDSTabError(
                f"meds_tab: meds-tab-xgboost wrote no model under {layout.model} (no code passed "
                f"min_code_inclusion_count={self.min_code_inclusion_count}? meds-tab then "
                "returns without training)")
        if len(found) > 1 and not best:
            raise MEDSTabError(f"meds_tab: meds-tab-xgboost wrote {len(found)} models and no "
                               f"best_trial: {', '.join(map(str, found[:3]))}")
        trial = found[0].parent
        self.booster_ = found[0].read_text()
        self.config_ = (trial / "config.log").read_text()
        performance = pd.read_csv(trial / "performance.log")
        self.tuning_auc_ = float(performance["tuning_auc"].iloc[0])
        codes = layout.output / "metadata" / "codes.parquet"
        self.codes_metadata_ = base64.b64encode(codes.read_bytes()).decode("ascii")
        learner = json.loads(self.booster_)["learner"]["learner_model_param"]
        self.n_features_ = int(learner["num_feature"])

    def _predict_proba(self, X: EventSet) -> np.ndarray:
        samples, source = meds_samples(X)
        if len(samples) == 0:
            return np.zeros((0, 2))
        env = ensure_environment(self._say if self.verbose else None)
        params = self._params()
        work = self._work("predict")
        try:
            layout = _Layout(work)
            unique = samples.drop_duplicates(["subject_id", "prediction_time"]).copy()
            unique["boolean_value"] = False  # meds-tab's reader wants a label; none is used
            self._stage(env, source, {"held_out": unique}, layout)
            metadata = layout.output / "metadata"
            metadata.mkdir(parents=True)
            (metadata / "codes.parquet").write_bytes(base64.b64decode(self.codes_metadata_))
            config, booster = work / "config.yaml", work / "xgboost.json"
            config.write_text(self.config_)
            booster.write_text(self.booster_)
            for name, argv in pipeline_commands(env, layout, params, seed=self.seed_,
                                                fitting=False):
                self._run(env, name, argv, work)
            request = {"config": str(config), "booster": str(booster),
                       "output_dir": str(layout.output), "labels": str(layout.labels),
                       "input_dir": str(layout.data), "threads": params["threads"],
                       "predictions": str(work / "predictions.parquet"),
                       "report": str(work / "predict-report.json")}
            path = work / "predict-request.json"
            path.write_text(json.dumps(request, indent=1))
            self._run(env, "predicting with meds-tab's XGBoostModel",
                      [str(env.python), str(_RUNNER), "predict", str(path)], work)
            predictions = pd.read_parquet(request["predictions"])
        finally:
            self._done_with(work)
        positive = align_predictions(samples, predictions)
        return np.column_stack([1.0 - positive, positive])


def make_meds_tab(random_state: int | None = 0, **params: Any) -> MEDSTabClassifier:
    """MEDS-Tab (the meds-tab package's tabularization and XGBoost, in its own virtualenv) on
    MEDS input."""
    return MEDSTabClassifier(random_state=random_state, **params)

