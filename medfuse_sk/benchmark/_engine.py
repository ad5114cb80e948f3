"""The benchmark: every model under one protocol, resumable, one fit per worker process.

The protocol, for each model (a registry name):

1. **Tuning** (once per model, with the first seed): the training stays are split once,
   stratified, into an inner fitting part and an inner validation share (``inner_valid``, 20 %
   by default, drawn with the first seed); the model's defaults and at most 8 settings of its
   grid (:mod:`._grids`) are fitted on the inner part and scored by AUPRC on the inner share. The
   best setting (ties: the earlier, so the defaults win a tie) is chosen. The scored split is
   never seen.
2. **Fits**: the chosen setting is fitted on every training stay with each seed and predicts
   the scored stays.

Every finished unit (a tuning fit or a seed's fit) is written to ``DIR/runs/<model>/`` at once
(a JSON record, and the predictions as ``.npy``), under a name holding its seed and a hash of
its setting. A rerun reads them and fits only what is missing; a failed unit is kept as failed
(``retry_failed`` runs it again). ``DIR/protocol.json`` holds the data's fingerprint: a rerun on
other data or with another inner share is refused.

Units run in ``jobs`` worker processes (``spawn``), each limited to ``threads`` threads
(:mod:`._worker`): on two cores, two models fit side by side, one per core, without OpenMP
pools fighting over the cores. A worker that dies (out of memory, a crash in native code) fails
its unit after one retry; the rest go on.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ._data import BenchmarkData, BenchmarkResult, Plan
from ._grids import MAX_SETTINGS, check_pins, describe_setting, pinned_settings, setting_key

__all__ = ["run_benchmark", "BenchmarkResult", "Plan"]


def _write_json(path: Path, content: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(content, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return repr(value)


def _unit_path(out: Path, model: str, kind: str, seed: int, key: str) -> Path:
    return out / "runs" / model / f"{kind}-seed{seed}-{key}.json"


def _read_record(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None  # half-written by a killed run: fitted again
    if record.get("status") == "ok" and record.get("predictions"):
        npy = path.with_name(record["predictions"])
        if not npy.exists():
            return None
        record["proba"] = np.load(npy)
    return record


def _protocol_key(data: BenchmarkData, inner_valid: float) -> dict[str, Any]:
    return {"data": data.fingerprint(), "inner_valid": float(inner_valid)}


def _check_folder(out: Path, key: dict[str, Any]) -> None:
    protocol = out / "protocol.json"
    if protocol.exists():
        try:
            old = json.loads(protocol.read_text()).get("fingerprint")
        except json.JSONDecodeError:
            old = None
        if old is not None and old != key:
            changed = ["other data (another fingerprint)" if k == "data"
                       else f"another {k} ({old.get(k)!r} there, {key[k]!r} now)"
                       for k in key if old.get(k) != key[k]]
            raise ValueError(f"--out {out} holds a benchmark of {' and '.join(changed)}; choose "
                             "another folder, or delete it to start over")
    elif out.exists() and any(p.name not in ("runs", ".cache") for p in out.iterdir()):
        raise ValueError(f"--out {out} is not empty and holds no benchmark (no protocol.json); "
                         "choose a new or empty folder")


def _history(out: Path) -> list[dict[str, Any]]:
    """The earlier runs into ``out`` (command, start, end, units fitted), oldest first."""
    try:
        return list(json.loads((out / "protocol.json").read_text()).get("history", []))
    except (OSError, json.JSONDecodeError):
        return []


def _inner_split(y: np.ndarray, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    fit, score = train_test_split(np.arange(len(y)), test_size=share, stratify=y,
                                  random_state=seed)
    return np.sort(fit), np.sort(score)


def _plan_models(names: Sequence[str], seed: int, max_settings: int,
                 pinned: Mapping[str, Mapping[str, Any]]) -> dict[str, Plan]:
    from ..models import get_model

    plans: dict[str, Plan] = {}
    for name in names:
        spec = get_model(name)
        plan = Plan(name, factory=spec.factory, description=spec.description,
                    extras=tuple(spec.extras), pinned=dict(pinned.get(name, {})))
        plans[name] = plan
        try:
            model = spec.factory(random_state=seed)
        except Exception as exc:  # not installed: reported in the model's row
            plan.error = f"{type(exc).__name__} building the model: {' '.join(str(exc).split())}"
            continue
        check_pins(name, model, plan.pinned)  # the user's to fix: raises, before any fit
        try:
            plan.settings = pinned_settings(name, model, plan.pinned, max_settings)
        except Exception as exc:  # a bad grid: reported in the model's row
            plan.error = f"{type(exc).__name__} building the model: {' '.join(str(exc).split())}"
    return plans


def _choose(plan: Plan) -> dict[str, Any] | None:
    """The tuned setting: best inner AUPRC, ties to the earlier (defaults first)."""
    if not plan.needs_tuning:
        return plan.settings[0]  # the defaults, with any pins
    best, best_value = None, -np.inf
    for setting in plan.settings:
        record = plan.tune.get(setting_key(setting))
        if record is None:
            return None  # not finished
        value = record.get("inner_auprc")
        if record.get("status") == "ok" and value is not None and value > best_value:
            best, best_value = setting, value
    if best is None:  # every setting failed: fit the defaults, whose failure is then reported
        best = plan.settings[0]
    return best


class _Runner:
    """Schedules units on worker processes (or in this process) and records each at once."""

    def __init__(self, data: BenchmarkData, out: Path, plans: dict[str, Plan], seeds: list[int],
                 inner: tuple[np.ndarray, np.ndarray], jobs: int, threads: int,
                 in_process: bool, retry_failed: bool, progress: Callable[[str], None],
                 time_limit: float | None = None) -> None:
        self.data, self.out, self.plans, self.seeds = data, out, plans, seeds
        self.time_limit = time_limit
        self.inner, self.jobs, self.threads = inner, jobs, threads
        self.in_process, self.retry_failed, self.progress = in_process, retry_failed, progress
        self.queue: deque[dict[str, Any]] = deque()
        self.fitted = 0
        self.total = 0
        self.done = 0
        self.data_path: str | None = None

    # -- planning -------------------------------------------------------------------------
    def _known(self, path: Path) -> dict[str, Any] | None:
        record = _read_record(path)
        if record is not None and record.get("status") != "ok" and self.retry_failed:
            return None
        return record

    def _unit(self, plan: Plan, kind: str, seed: int, setting: dict[str, Any]) -> dict[str, Any]:
        unit = {"kind": kind, "name": plan.name, "factory": plan.factory, "seed": seed,
                "setting": setting, "key": setting_key(setting), "threads": self.threads,
                "fit_rows": None, "score_rows": None, "time_limit": self.time_limit}
        if kind == "tune":
            unit["fit_rows"], unit["score_rows"] = self.inner
        return unit

    def _queue_fits(self, plan: Plan, front: bool = False) -> None:
        plan.chosen = _choose(plan)
        key = setting_key(plan.chosen)
        new = []
        for seed in self.seeds:
            record = self._known(_unit_path(self.out, plan.name, "fit", seed, key))
            if record is not None:
                plan.fits[seed] = record
            else:
                new.append(self._unit(plan, "fit", seed, plan.chosen))
        if front:
            self.queue.extendleft(reversed(new))
        else:
            self.queue.extend(new)
        self.total += len(new)

    def plan(self) -> None:
        tuning_seed = self.seeds[0]
        for plan in self.plans.values():
            if plan.error is not None:
                continue
            if not plan.needs_tuning:
                plan.tune = {}
                self._queue_fits(plan)
                continue
            for setting in plan.settings:
                key = setting_key(setting)
                record = self._known(_unit_path(self.out, plan.name, "tune", tuning_seed, key))
                if record is not None:
                    plan.tune[key] = record
                else:
                    self.queue.append(self._unit(plan, "tune", tuning_seed, setting))
                    self.total += 1
            if len(plan.tune) == len(plan.settings):
                self._queue_fits(plan)
            else:  # fits wait for the tuning; count them now for the progress lines
                self.total += len(self.seeds)

    # -- recording ------------------------------------------------------------------------
    def _record(self, unit: dict[str, Any], result: dict[str, Any]) -> None:
        from ..evaluation import binary_metrics

        plan = self.plans[unit["name"]]
        record = {k: v for k, v in result.items() if k != "proba"}
        record.update(kind=unit["kind"], model=unit["name"], seed=unit["seed"],
                      setting=unit["setting"], key=unit["key"])
        path = _unit_path(self.out, unit["name"], unit["kind"], unit["seed"], unit["key"])
        path.parent.mkdir(parents=True, exist_ok=True)
        self.done += 1
        self.fitted += 1
        counter = f"[{self.done}/{self.total}]"
        where = (f"tuning {list(map(setting_key, plan.settings)).index(unit['key']) + 1}/"
                 f"{len(plan.settings)} ({describe_setting(unit['setting'])})"
                 if unit["kind"] == "tune" else f"seed {unit['seed']}")
        if result["status"] == "ok":
            proba = np.asarray(result["proba"])
            if unit["kind"] == "tune":
                y = self.data.y_train.to_numpy()[unit["score_rows"]]
                m = binary_metrics(y, proba, n_bootstrap=0)
                record.update(inner_auprc=m["auprc"]["value"], inner_auroc=m["auroc"]["value"],
                              n_fit=len(unit["fit_rows"]), n_score=len(unit["score_rows"]))
                said = f"inner AUPRC {m['auprc']['value']:.3f}"
            else:
                npy = path.with_suffix(".npy")
                np.save(npy, proba)
                record["predictions"] = npy.name
                m = binary_metrics(self.data.y_eval.to_numpy(), proba, n_bootstrap=0)
                record.update(auprc=m["auprc"]["value"], auroc=m["auroc"]["value"])
                said = f"AUPRC {m['auprc']['value']:.3f}, AUROC {m['auroc']['value']:.3f}"
            self.progress(f"{counter} {unit['name']} {where}: {said} (fit "
                          f"{result['fit_wall_s']:.1f} s, peak {result['peak_rss_mb']:.0f} MB)")
        else:
            self.progress(f"{counter} {unit['name']} {where}: FAILED, {result['error']}")
        _write_json(path, record)
        if result["status"] == "ok" and unit["kind"] == "fit":
            record["proba"] = np.asarray(result["proba"])
        if unit["kind"] == "tune":
            plan.tune[unit["key"]] = record
            if len(plan.tune) == len(plan.settings):
                self.total -= len(self.seeds)  # counted as waiting; now queued for real
                self._queue_fits(plan, front=True)
                self.progress(f"{plan.name}: tuned on {len(unit['score_rows'])} inner validation "
                              f"stays, chose {describe_setting(plan.chosen)}")
        else:
            plan.fits[unit["seed"]] = record

    # -- running --------------------------------------------------------------------------
    def _write_data(self) -> None:
        cache = self.out / ".cache"
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / "data.pkl"
        with open(path, "wb") as handle:
            pickle.dump(self.data, handle, protocol=pickle.HIGHEST_PROTOCOL)
        self.data_path = str(path)

    def _task(self, unit: dict[str, Any]) -> dict[str, Any]:
        return {**unit, "data": self.data_path}

    def run(self) -> None:
        if not self.queue:
            return
        if self.in_process:
            while self.queue:
                unit = self.queue.popleft()
                from ._worker import run_unit

                self._record(unit, run_unit(unit, self.data))
            return
        self._write_data()
        try:
            with _thread_environment(self.threads):
                self._run_pool()
        finally:
            shutil.rmtree(self.out / ".cache", ignore_errors=True)

    def _pool(self, start: int) -> Any:
        """A pool of ``jobs`` workers, ``start`` of them started and ready now."""
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor
        from concurrent.futures.process import BrokenProcessPool

        from ._worker import init_worker, ping

        pool = ProcessPoolExecutor(max_workers=self.jobs,
                                   mp_context=multiprocessing.get_context("spawn"),
                                   initializer=init_worker,
                                   initargs=(self.threads, self.data_path))
        ready = Path(tempfile.mkdtemp(prefix="ready-", dir=self.out / ".cache"))
        try:  # a worker that cannot start is the benchmark's failure, not a model's
            for future in [pool.submit(ping, str(ready), start) for _ in range(start)]:
                future.result()
        except BrokenProcessPool as exc:
            pool.shutdown(wait=False, cancel_futures=True)
            raise RuntimeError(
                "the benchmark's worker processes could not start (they are spawned: a script "
                "that calls run_benchmark must do so under `if __name__ == '__main__':`); "
                "in_process=True fits in this process instead") from exc
        return pool

    def _run_pool(self) -> None:
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        from ._worker import run_unit

        pool = None
        running: dict[Any, dict[str, Any]] = {}
        try:
            while self.queue or running:
                # a unit whose worker died once runs alone: if it dies again, it was the cause
                while (self.queue and len(running) < self.jobs
                       and not any(u.get("isolated") for u in running.values())
                       and not (self.queue[0].get("isolated") and running)):
                    unit = self.queue.popleft()
                    pool = pool or self._pool(min(self.jobs, len(self.queue) + 1))
                    running[pool.submit(run_unit, self._task(unit))] = unit
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                broken = []
                for future in finished:
                    unit = running.pop(future)
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        broken.append(unit)
                        continue
                    except Exception as exc:  # e.g. a factory that cannot be pickled
                        result = {"status": "failed", "threads": self.threads,
                                  "error": f"{type(exc).__name__} sending the fit to a worker "
                                           f"process: {' '.join(str(exc).split())}"[:500]}
                    self._record(unit, result)
                if not broken:
                    continue
                broken += list(running.values())  # their worker pool is gone too
                running.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = None
                again = [u for u in broken if not u.get("isolated")]
                if again:
                    self.progress(f"a worker process died during "
                                  f"{', '.join(map(_name, again))}; each runs again, alone")
                for unit in reversed(again):
                    unit["isolated"] = True
                    self.queue.appendleft(unit)
                for unit in broken:
                    if unit not in again:
                        self._record(unit, {"status": "failed", "threads": self.threads,
                                            "error": "the worker process died (killed, e.g. out "
                                                     "of memory, or a crash in native code)"})
        except BaseException:
            if pool is not None:
                _stop(pool)
            raise
        if pool is not None:
            pool.shutdown(wait=True)


def _name(unit: dict[str, Any]) -> str:
    return f"{unit['name']} ({'tuning' if unit['kind'] == 'tune' else 'seed'} {unit['seed']})"


def _stop(pool: Any) -> None:
    """End a pool at once (an interrupted benchmark): cancel what waits, end the workers."""
    processes = list(getattr(pool, "_processes", {}).values())  # no public handle on them
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()


class _thread_environment:
    """The thread variables set for the workers' start (spawned workers inherit them)."""

    def __init__(self, threads: int) -> None:
        from ._worker import THREAD_VARIABLES

        self.values = dict.fromkeys(THREAD_VARIABLES, str(threads))
        self.saved: dict[str, str | None] = {}

    def __enter__(self) -> None:
        for name, value in self.values.items():
            self.saved[name] = os.environ.get(name)
            os.environ[name] = value

    def __exit__(self, *exc: Any) -> None:
        for name, value in self.saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def run_benchmark(
    data: BenchmarkData,
    models: Sequence[str],
    out: str | os.PathLike,
    *,
    seeds: Sequence[int] = (0, 1, 2),
    subgroups: Sequence[str] = (),
    max_settings: int = MAX_SETTINGS,
    inner_valid: float = 0.2,
    n_bootstrap: int = 1000,
    jobs: int = 2,
    threads: int = 1,
    retry_failed: bool = False,
    time_limit: float | None = None,
    pinned: Mapping[str, Mapping[str, Any]] | None = None,
    in_process: bool = False,
    skipped: dict[str, str] | None = None,
    command: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> BenchmarkResult:
    """Fit ``models`` under one protocol and write the benchmark's files into ``out``.

    Parameters
    ----------
    data : BenchmarkData
        Training and scored stays.
    models : sequence of str
        Registry names (:func:`~medfuse_sk.benchmark.select_models` resolves ``all``).
    out : path
        The benchmark's folder; a folder of an earlier run of the same data is resumed.
    seeds : sequence of int, default (0, 1, 2)
        ``random_state`` of each fit; the first one also draws the inner validation share and
        seeds the tuning fits.
    subgroups : sequence of str
        Static features of the scored stays to report groups of (:func:`subgroup_labels`).
    max_settings : int, default 8
        Grid settings tried besides the defaults (0: defaults only).
    inner_valid : float, default 0.2
        Share of the training stays the tuning scores on.
    n_bootstrap : int, default 1000
        Resamples of the scored stays for the intervals and the paired tests (seed 0: the same
        resamples for every model).
    jobs, threads : int, default 2 and 1
        Worker processes, and threads each.
    retry_failed : bool, default False
        Run units again that a previous run recorded as failed.
    time_limit : float, optional
        Seconds one fit (with its prediction) may take; a unit past it is recorded as failed
        ("ran past the time limit") and the rest go on. ``retry_failed`` with a larger limit
        runs it again.
    pinned : dict, optional
        Model name → parameters set on every fit of that model, its defaults and each grid
        setting (they win over the grid): a smaller budget such as ``{"mtan": {"max_epochs":
        12}}`` where a model's published settings cost too much. Recorded in ``protocol.json``
        and shown in the table's setting column; pinned fits are files of their own.
    in_process : bool, default False
        Fit in this process, one unit after another (for tests and debugging; no thread limits).
    skipped : dict, optional
        Models ``all`` left out and why, for the record.
    command : str, optional
        The command line, for the record.
    progress : callable, optional
        Receives one line per event (default: print to stderr).

    Returns
    -------
    BenchmarkResult
    """
    from ._report import write_report

    started = time.time()
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, at least one; got {seeds}")
    if not 0 < inner_valid < 1:
        raise ValueError(f"inner_valid must lie in (0, 1), got {inner_valid!r}")
    if jobs < 1 or threads < 1:
        raise ValueError(f"jobs and threads must be at least 1; got jobs={jobs}, threads={threads}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be a positive number of seconds, got {time_limit!r}")
    pinned = {name: dict(pins) for name, pins in (pinned or {}).items() if pins}
    stray = sorted(set(pinned) - set(models))
    if stray:
        raise ValueError(f"pinned parameters for {', '.join(stray)}, which this run does not fit "
                         f"(models: {', '.join(models)})")
    out = Path(out)
    key = _protocol_key(data, inner_valid)
    _check_folder(out, key)
    from ._report import subgroup_frame_inputs

    groups = subgroup_frame_inputs(data, subgroups)  # a bad descriptor fails before any fit
    plans = _plan_models(models, seeds[0], max_settings, pinned)  # a bad pin fails here
    out.mkdir(parents=True, exist_ok=True)
    inner = _inner_split(data.y_train.to_numpy(), inner_valid, seeds[0])
    runner = _Runner(data, out, plans, seeds, inner, jobs, threads, in_process, retry_failed, say,
                     time_limit)
    runner.plan()
    settings = {"models": list(models), "seeds": seeds, "max_settings": max_settings,
                "inner_valid": inner_valid, "n_bootstrap": n_bootstrap, "jobs": jobs,
                "threads": threads, "subgroups": list(subgroups), "time_limit": time_limit,
                "pinned": pinned}
    from ._report import protocol_record

    history = _history(out)
    _write_json(out / "protocol.json", {**protocol_record(
        data, plans, settings, key, skipped or {}, command, started, finished=None,
        n_inner=(len(inner[0]), len(inner[1]))), "history": history})
    n_done = sum(len(p.tune) + len(p.fits) for p in plans.values())
    failed = {name: plan.error for name, plan in plans.items() if plan.error}
    for name, error in failed.items():
        say(f"{name}: cannot run: {error}")
    say(f"{len(plans)} model(s), seeds {' '.join(map(str, seeds))}: {runner.total} fit(s) to run, "
        f"{n_done} already done in {out}"
        + ("" if not runner.total else
           (" (in this process)" if in_process else
            f" ({min(jobs, runner.total)} worker process(es) × {threads} thread(s))")))
    runner.run()
    result = write_report(data, plans, out, seeds=seeds, groups=groups, n_bootstrap=n_bootstrap,
                          skipped=skipped, progress=say)
    record = protocol_record(data, plans, settings, key, skipped or {}, command, started,
                             finished=time.time(), n_inner=(len(inner[0]), len(inner[1])))
    history.append({k: record[k] for k in ("command", "started", "finished")}
                   | {"fitted": runner.fitted, "wall_s": round(time.time() - started, 1)})
    _write_json(out / "protocol.json", {**record, "history": history})
    result.fitted = runner.fitted
    return result
