"""One fit of one model, in a worker process limited to a number of threads.

The benchmark starts its workers with ``spawn`` (a fresh interpreter: no state, threads or
locks inherited from the parent), the thread variables of OpenMP, MKL, OpenBLAS and numexpr set
before anything is imported, ``threadpoolctl`` limits and ``torch.set_num_threads`` applied at
start, and every ``n_jobs``-like parameter of the model set to the same number. The data come
from one pickle the parent wrote, read once per worker.

A unit measures its fit and predict wall and CPU seconds (``resource.getrusage``: all threads
of the process, and its finished child processes) and the peak resident memory of the process
during fit and predict: the kernel's high-water mark (``VmHWM``) is reset before the fit through
``/proc/self/clear_refs`` (Linux); elsewhere the peak since the worker started is reported and
flagged. Child processes' memory is not in that peak (``children_peak_rss_mb`` is recorded).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import signal
import threading
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["THREAD_VARIABLES", "THREAD_PARAMETERS", "FitTimeLimit", "init_worker", "run_unit",
           "limit_threads", "ping", "time_limit"]

#: Environment variables that fix a native thread pool's size at its start.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "BLIS_NUM_THREADS")
#: Model parameters that set a number of threads or processes (scikit-learn, XGBoost, LightGBM).
THREAD_PARAMETERS = ("n_jobs", "nthread", "num_threads", "thread_count")

_DATA: dict[str, Any] = {}
_LIMITS: list[Any] = []


def _load(path: str) -> Any:
    if path not in _DATA:
        with open(path, "rb") as handle:
            _DATA[path] = pickle.load(handle)
    return _DATA[path]


def init_worker(threads: int, data_path: str | None) -> None:
    """Worker start: thread limits for everything native, then the data."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    from threadpoolctl import threadpool_limits

    _LIMITS.append(threadpool_limits(threads))
    try:
        import torch

        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)
    except (ImportError, RuntimeError):
        pass
    if data_path is not None:
        _load(data_path)


def ping(ready: str, workers: int, timeout: float = 600.0) -> int:
    """A worker's answer that it started (its process id), given once ``workers`` workers
    have started: one ping per worker, submitted together, makes the pool start them all
    before the first fit (a pool that starts workers on demand would otherwise give a fast
    first worker several fits while the second is still importing)."""
    folder = Path(ready)
    (folder / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout
    while len(list(folder.iterdir())) < workers and time.monotonic() < deadline:
        time.sleep(0.02)
    return os.getpid()


def limit_threads(model: Any, threads: int) -> dict[str, Any]:
    """Set every thread-count parameter of ``model`` (nested ones too) to ``threads``; the
    parameters set, with their values before. A parameter left at None keeps its library's
    default (one job in scikit-learn; the process's OpenMP threads, limited at the worker's
    start, elsewhere)."""
    params = model.get_params(deep=True)
    found = {k: v for k, v in params.items()
             if k.rsplit("__", 1)[-1] in THREAD_PARAMETERS and v is not None}
    if found:
        model.set_params(**dict.fromkeys(found, threads))
    return found


def _quiet(model: Any) -> None:
    params = model.get_params(deep=True)
    loud = [k for k, v in params.items()
            if k.rsplit("__", 1)[-1] == "verbose" and isinstance(v, (bool, int)) and v]
    if loud:
        model.set_params(**dict.fromkeys(loud, 0))


def _memory() -> dict[str, float] | None:
    """Resident and peak resident memory of this process in MB, from /proc (Linux)."""
    try:
        with open("/proc/self/status") as handle:
            lines = dict(line.split(":", 1) for line in handle if ":" in line)
        return {"rss": int(lines["VmRSS"].split()[0]) / 1024,
                "peak": int(lines["VmHWM"].split()[0]) / 1024}
    except (OSError, KeyError, ValueError):
        return None


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _cpu() -> float:
    """CPU seconds of this process and of its finished child processes (a model that runs
    commands, such as meds_tab, spends its time in them)."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


class FitTimeLimit(TimeoutError):
    """A unit ran past the benchmark's ``time_limit``."""


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[bool]:
    """Raise :class:`FitTimeLimit` in this thread once ``seconds`` have passed (a real-time
    alarm, ``SIGALRM``: it interrupts Python code between native calls, e.g. between training
    batches). Yields whether the limit is enforced: not without a limit, off the main thread
    or where the platform has no ``SIGALRM``."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield False
        return

    def _expired(signum: int, frame: Any) -> None:
        raise FitTimeLimit(f"ran past the time limit of {seconds:g} s (--time-limit)")

    previous = signal.signal(signal.SIGALRM, _expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield True
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_unit(unit: dict[str, Any], data: Any = None) -> dict[str, Any]:
    """Build, fit and score one model; never raises for the model's own errors.

    Parameters
    ----------
    unit : dict
        ``factory`` (the registry's), ``name``, ``setting`` (parameters set on the built model),
        ``seed``, ``threads``, ``data`` (the pickle's path, when ``data`` is not given),
        ``fit_rows`` / ``score_rows`` (positions in the training stays, for a tuning fit; None:
        fit on every training stay and score the scored stays), ``time_limit`` (seconds for
        fit and predict together, or None: a unit past it fails with :class:`FitTimeLimit`).
    data : BenchmarkData, optional
        In-process runs pass the data itself.

    Returns
    -------
    dict
        ``status`` (``ok`` / ``failed``), ``proba`` (list of floats, on success), ``error`` and
        ``traceback`` (on failure), ``fit_wall_s``, ``fit_cpu_s``, ``predict_wall_s``,
        ``predict_cpu_s``, ``peak_rss_mb``, ``rss_before_mb``, ``peak_scope``, ``threads``,
        ``thread_parameters``, ``torch_threads``, ``native_threads`` (threadpoolctl's pools),
        ``pid``, ``started`` and ``finished`` (epoch seconds), ``time_limit_enforced``, and
        ``children_peak_rss_mb`` (the largest child process the worker waited for, since it
        started) when there was one.
    """
    from ._grids import apply_setting

    out: dict[str, Any] = {"pid": os.getpid(), "threads": unit["threads"], "started": time.time()}
    stage = "building the model"
    try:
        data = data if data is not None else _load(unit["data"])
        model = unit["factory"](random_state=unit["seed"])
        apply_setting(model, unit["setting"], unit["name"])
        out["thread_parameters"] = sorted(limit_threads(model, unit["threads"]))
        _quiet(model)
        if unit.get("fit_rows") is None:
            X_fit, y_fit, X_score = data.X_train, data.y_train, data.X_eval
        else:
            X_fit = data.X_train[unit["fit_rows"]]
            X_score = data.X_train[unit["score_rows"]]
            y_fit = data.y_train.loc[X_fit.stay_ids]
        try:
            import torch

            out["torch_threads"] = torch.get_num_threads()
        except ImportError:
            pass
        from threadpoolctl import threadpool_info

        out["native_threads"] = {f"{pool['internal_api']} ({Path(pool['filepath']).name})":
                                 pool["num_threads"] for pool in threadpool_info()}
        reset = _reset_peak()
        before = _memory()
        with time_limit(unit.get("time_limit")) as out["time_limit_enforced"]:
            stage = "fit"
            wall, cpu = time.perf_counter(), _cpu()
            model.fit(X_fit, y_fit)
            out["fit_wall_s"] = time.perf_counter() - wall
            out["fit_cpu_s"] = _cpu() - cpu
            stage = "predict_proba"
            wall, cpu = time.perf_counter(), _cpu()
            proba = model.predict_proba(X_score)
            out["predict_wall_s"] = time.perf_counter() - wall
            out["predict_cpu_s"] = _cpu() - cpu
        after = _memory()
        import numpy as np

        proba = np.asarray(proba, dtype=np.float64)
        proba = proba[:, 1] if proba.ndim == 2 else proba
        if proba.shape != (len(X_score),):
            raise ValueError(f"predict_proba returned shape {np.shape(proba)} for "
                             f"{len(X_score)} stays")
        if not np.isfinite(proba).all():
            raise ValueError(f"predict_proba returned {int((~np.isfinite(proba)).sum())} "
                             "NaN or infinite probabilities")
        if after is not None and before is not None:
            out.update(peak_rss_mb=after["peak"], rss_before_mb=before["rss"],
                       peak_scope="fit and predict" if reset else "since the worker started")
        else:
            out.update(peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                       rss_before_mb=None, peak_scope="since the worker started")
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if children:  # the largest child process this worker has waited for, since it started
            out["children_peak_rss_mb"] = children
        out.update(status="ok", proba=proba.tolist(), finished=time.time())
    except Exception as exc:  # the model's failure is a result, not the benchmark's end
        message = " ".join(str(exc).split())
        out.update(status="failed", error=f"{type(exc).__name__} in {stage}: {message}"[:500],
                   traceback=traceback.format_exc())
    return out
