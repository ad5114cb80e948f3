"""The meds-tab virtualenv: where it lives, how it is built on first use, how its commands run.

meds-tab 0.2.0 pins ``meds-evaluation==0.0.3`` and pulls optuna 2.10 and hydra plugins, which
would downgrade this library's MEDS tools (``meds-evaluation`` 0.0.6), so it never shares
their environment. The first fit builds a virtualenv of its own:

1. the folder is ``$MEDFUSE_MEDS_TAB_ENV`` if set, else ``$MEDFUSE_CACHE/meds-tab-0.2.0``, else
   ``~/.cache/medfuse_sk/meds-tab-0.2.0``;
2. ``python -m venv`` with ``$MEDFUSE_MEDS_TAB_PYTHON`` if set, else the running interpreter
   (meds-tab needs Python 3.11 or later);
3. ``pip install meds-tab==0.2.0`` in it, with pip's own configuration and environment
   variables (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX`` for an offline build from
   a wheel folder);
4. a marker file (:data:`MARKER`) holding the requirements and the installed versions is
   written last: a folder without it is a build that did not finish, removed and built again.

Builds are serialised by a lock file beside the folder, so two benchmark workers starting at
once build it once. A folder that is not ours but holds meds-tab's commands (a virtualenv you
made yourself) is used as it is. Every step is a subprocess; one that fails raises
:class:`MEDSTabError` naming the command and the last lines of its output.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["ENV_VARIABLE", "PYTHON_VARIABLE", "MEDS_TAB_VERSION", "REQUIREMENTS", "MARKER",
           "MEDSTabError", "MEDSTabEnvironment", "environment_dir", "ensure_environment",
           "run_step"]

#: Environment variable naming the meds-tab virtualenv's folder.
ENV_VARIABLE = "MEDFUSE_MEDS_TAB_ENV"
#: Environment variable naming the Python interpreter the virtualenv is built with.
PYTHON_VARIABLE = "MEDFUSE_MEDS_TAB_PYTHON"
#: The library's cache root (``medfuse_sk.datasets.ENV_CACHE``; models may not import datasets).
CACHE_VARIABLE = "MEDFUSE_CACHE"
MEDS_TAB_VERSION = "0.2.0"
#: What the virtualenv holds; meds-tab brings the rest (XGBoost, polars, hydra, optuna).
REQUIREMENTS = (f"meds-tab=={MEDS_TAB_VERSION}",)
#: Written into the folder when its build finished.
MARKER = "medfuse-meds-tab.json"
_BUILDING = ".medfuse-meds-tab-building"
_MIN_PYTHON = (3, 11)
#: Packages whose versions a fitted model records.
_REPORTED = ("meds-tab", "xgboost", "polars", "numpy", "scipy", "hydra-core", "optuna",
             "meds", "meds-evaluation", "MEDS-transforms")
#: Lines of a failed step's output quoted in the error.
TAIL_LINES = 25


class MEDSTabError(RuntimeError):
    """A meds-tab step (or the build of its virtualenv) failed; the message names the command,
    its exit status and the last lines of its output."""


@dataclass
class MEDSTabEnvironment:
    """A ready meds-tab virtualenv."""

    path: Path
    versions: dict[str, str] = field(default_factory=dict)
    built_now: bool = False

    @property
    def bin(self) -> Path:
        return self.path / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / ("python.exe" if os.name == "nt" else "python")

    def command(self, name: str) -> str:
        """The path of one of the virtualenv's console scripts (``meds-tab-describe`` ...)."""
        return str(self.bin / name)


def environment_dir() -> Path:
    """The virtualenv's folder (see the module docstring)."""
    own = os.environ.get(ENV_VARIABLE)
    if own:
        return Path(own).expanduser().absolute()
    root = os.environ.get(CACHE_VARIABLE)
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "medfuse_sk"
    return (base / f"meds-tab-{MEDS_TAB_VERSION}").absolute()


def _tail(text: str, lines: int = TAIL_LINES) -> str:
    kept = [ln for ln in (text or "").splitlines() if ln.strip()]
    return "\n".join(kept[-lines:])


def step_environment(env_path: Path | None, threads: int | None = None,
                     base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment variables of a step: this process's, without anything that would make
    the virtualenv's Python read this one's packages, its ``bin`` first on PATH, hydra's full
    tracebacks on, and the thread pools (OpenMP, polars) at ``threads`` when given."""
    env = dict(os.environ if base is None else base)
    for name in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "__PYVENV_LAUNCHER__"):
        env.pop(name, None)
    if env_path is not None:
        folder = env_path / ("Scripts" if os.name == "nt" else "bin")
        env["VIRTUAL_ENV"] = str(env_path)
        env["PATH"] = os.pathsep.join([str(folder), env.get("PATH", "")])
    env["HYDRA_FULL_ERROR"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    if threads is not None:
        for name in ("OMP_NUM_THREADS", "POLARS_MAX_THREADS", "OPENBLAS_NUM_THREADS",
                     "MKL_NUM_THREADS"):
            env[name] = str(threads)
    return env


def run_step(name: str, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
             cwd: str | os.PathLike | None = None,
             progress: Callable[[str], None] | None = None,
             runner: Callable[..., subprocess.CompletedProcess] = subprocess.run
             ) -> subprocess.CompletedProcess:
    """Run one step; its output is captured (and kept in the error when it fails).

    Raises
    ------
    MEDSTabError
        The command could not start or exited non-zero: the message names the step, the
        command line, the exit status and the last :data:`TAIL_LINES` lines of its error output
        (of its standard output when the error output is empty).
    """
    shown = shlex.join(str(a) for a in argv)
    started = time.perf_counter()
    try:
        done = runner([str(a) for a in argv], capture_output=True, text=True, env=env, cwd=cwd)
    except OSError as exc:
        raise MEDSTabError(f"meds_tab: {name} could not start: {shown}\n{exc}") from exc
    if done.returncode != 0:
        tail = _tail(done.stderr) or _tail(done.stdout) or "(no output)"
        raise MEDSTabError(f"meds_tab: {name} failed (exit status {done.returncode}): {shown}\n"
                           f"--- the last lines of its output ---\n{tail}")
    if progress is not None:
        progress(f"meds_tab: {name} done ({time.perf_counter() - started:.1f} s)")
    return done


@contextmanager
def _locked(path: Path):
    """An exclusive lock on ``path`` (a file beside the virtualenv), held for the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            import fcntl
        except ImportError:  # Windows: no lock; concurrent first builds are then the user's care
            yield
            return
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_marker(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads((path / MARKER).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _interpreter() -> tuple[str, tuple[int, int] | None]:
    chosen = os.environ.get(PYTHON_VARIABLE)
    if not chosen:
        return sys.executable, tuple(sys.version_info[:2])
    try:
        done = subprocess.run([chosen, "-c", "import sys; print(*sys.version_info[:2])"],
                              capture_output=True, text=True)
    except OSError as exc:
        raise MEDSTabError(f"meds_tab: {PYTHON_VARIABLE}={chosen} cannot run ({exc}); point it "
                           f"at a Python {'.'.join(map(str, _MIN_PYTHON))}+ interpreter") from exc
    try:
        major, minor = map(int, done.stdout.split())
    except ValueError:
        return chosen, None
    return chosen, (major, minor)


def _versions(env: MEDSTabEnvironment) -> dict[str, str]:
    script = ("import importlib.metadata as m, json\nout = {}\n"
              f"for name in {list(_REPORTED)!r}:\n"
              "    try:\n        out[name] = m.version(name)\n"
              "    except m.PackageNotFoundError:\n        pass\nprint(json.dumps(out))")
    done = run_step("reading the meds-tab environment's versions", [env.python, "-c", script],
                    env=step_environment(env.path))
    return json.loads(done.stdout.strip().splitlines()[-1])


def _build(path: Path, progress: Callable[[str], None] | None) -> None:
    python, version = _interpreter()
    if version is not None and version < _MIN_PYTHON:
        raise MEDSTabError(
            f"meds_tab: meds-tab {MEDS_TAB_VERSION} needs Python "
            f"{'.'.join(map(str, _MIN_PYTHON))} or later, and {python} is "
            f"{'.'.join(map(str, version))}; set {PYTHON_VARIABLE} to a newer interpreter "
            f"(it only builds the meds-tab environment in {path})")
    if progress is not None:
        progress(f"meds_tab: building the meds-tab environment in {path} (once; about a minute "
                 f"with a registry: {' '.join(REQUIREMENTS)})")
    path.mkdir(parents=True, exist_ok=True)
    (path / _BUILDING).write_text(str(os.getpid()))
    base = step_environment(None)
    base.pop("VIRTUAL_ENV", None)
    run_step("python -m venv", [python, "-m", "venv", str(path)], env=base, progress=progress)
    env = MEDSTabEnvironment(path)
    run_step("pip install", [env.python, "-m", "pip", "install", "--disable-pip-version-check",
                             *REQUIREMENTS], env=step_environment(path), progress=progress)
    for script in ("meds-tab-describe", "meds-tab-tabularize-static",
                   "meds-tab-tabularize-time-series", "meds-tab-xgboost"):
        if not Path(env.command(script)).exists():
            raise MEDSTabError(f"meds_tab: pip installed {' '.join(REQUIREMENTS)} into {path} "
                               f"but its command {script} is missing")
    versions = _versions(env)
    (path / MARKER).write_text(json.dumps({"requirements": list(REQUIREMENTS),
                                           "python": python, "versions": versions}, indent=1))
    (path / _BUILDING).unlink(missing_ok=True)


def ensure_environment(progress: Callable[[str], None] | None = None) -> MEDSTabEnvironment:
    """The meds-tab virtualenv, built now if it is missing (see the module docstring).

    Raises
    ------
    MEDSTabError
        The build failed (the message holds pip's last lines), or the folder holds something
        else than a meds-tab virtualenv.
    """
    path = environment_dir()
    marker = _read_marker(path)
    if marker is not None and marker.get("requirements") == list(REQUIREMENTS):
        return MEDSTabEnvironment(path, dict(marker.get("versions", {})))
    with _locked(path.with_name(path.name + ".lock")):
        marker = _read_marker(path)  # another process may have built it meanwhile
        if marker is not None and marker.get("requirements") == list(REQUIREMENTS):
            return MEDSTabEnvironment(path, dict(marker.get("versions", {})))
        env = MEDSTabEnvironment(path)
        if marker is None and Path(env.command("meds-tab-xgboost")).exists() \
                and not (path / _BUILDING).exists():
            return MEDSTabEnvironment(path, _versions(env))  # a virtualenv made by hand
        if path.exists() and any(path.iterdir()):
            if marker is None and not (path / _BUILDING).exists():
                raise MEDSTabError(
                    f"meds_tab: {path} exists and is not a meds-tab virtualenv (no "
                    f"meds-tab-xgboost in it, no {MARKER}); empty it, or set {ENV_VARIABLE} "
                    "to another folder")
            shutil.rmtree(path)  # an unfinished build, or one of other requirements
        _build(path, progress)
        env = MEDSTabEnvironment(path, dict(_read_marker(path)["versions"]), built_now=True)
        return env
