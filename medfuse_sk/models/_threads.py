"""How many threads a fit or a prediction gives torch: as many as the idle cores allow.

torch runs its CPU work on a pool of OpenMP threads, one per core by default. Those threads
spin-wait for each other at the end of every parallel step; when another busy process holds
one of the cores, each step waits for a thread the operating system has descheduled, and a
fit slows five- to tenfold instead of twofold (docs/performance.md, "Beside a busy
neighbour"). One thread never waits for another.

So every fit and prediction of the library's torch models runs with :func:`choose_threads`
threads: torch's own setting, less one for every core another process keeps busy when the work
starts (read from the kernel's count of runnable tasks on Linux), and at least one. Alone, a
fit keeps every core; beside a neighbour, it steps aside instead of collapsing. Set the
environment variable ``MEDFUSE_NUM_THREADS`` to fix the number (results are reproducible for a
given ``random_state`` *and* thread count: floating-point sums differ in their last bits
between thread counts). The library's own parallel paths (a search's or an ensemble's worker
processes) get one share of the cores each through ``OMP_NUM_THREADS``, which torch reads as
its own setting.

The first fit or prediction of a process also lifts glibc's mmap threshold where the process
started with it fixed at 128 kB (Dask's workers: a fit there cost 1.6 times the CPU;
:func:`~medfuse_sk.utils.lift_fixed_mmap_threshold`).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

import torch

from ..utils import lift_fixed_mmap_threshold

__all__ = ["ENV_THREADS", "choose_threads", "busy_cores_elsewhere", "chosen_threads"]

#: Environment variable that fixes the number of torch threads of every fit and prediction.
ENV_THREADS = "MEDFUSE_NUM_THREADS"

_SAMPLES = 3
_SAMPLE_GAP_S = 0.01


def _running_tasks() -> int | None:
    """Runnable tasks on the machine now (``procs_running`` of ``/proc/stat``); None off Linux."""
    try:
        with open("/proc/stat", encoding="ascii") as stat:
            for line in stat:
                if line.startswith("procs_running"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _own_running_threads() -> int:
    """This process's threads that are running or runnable now (state ``R``)."""
    count = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for task in tasks:
        try:
            with open(f"/proc/self/task/{task}/stat", encoding="ascii") as stat:
                # the state follows the command name, which is in parentheses
                if stat.read().rsplit(")", 1)[1].split()[0] == "R":
                    count += 1
        except (OSError, IndexError):
            continue
    return max(count, 1)


def busy_cores_elsewhere() -> int | None:
    """How many cores other processes keep busy now; None where it cannot be read (not Linux).

    The smallest of a few readings 10 ms apart, so that a moment's blip does not count.
    """
    readings = []
    for sample in range(_SAMPLES):
        if sample:
            time.sleep(_SAMPLE_GAP_S)
        running = _running_tasks()
        if running is None:
            return None
        readings.append(max(running - _own_running_threads(), 0))
    return min(readings)


def _available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_threads() -> int:
    """The number of torch threads for the work about to start.

    ``MEDFUSE_NUM_THREADS`` when set; else torch's current setting (its default is one per
    core; ``OMP_NUM_THREADS`` or ``torch.set_num_threads`` change it), lowered to the cores
    that no other process keeps busy, and at least one.

    Returns
    -------
    int
    """
    fixed = os.environ.get(ENV_THREADS, "").strip()
    if fixed:
        try:
            value = int(fixed)
        except ValueError:
            raise ValueError(f"{ENV_THREADS}={fixed!r}: expected a whole number of threads, "
                             f"e.g. {ENV_THREADS}=1") from None
        if value < 1:
            raise ValueError(f"{ENV_THREADS}={fixed!r}: expected at least 1 thread")
        return value
    wanted = torch.get_num_threads()
    if wanted == 1:
        return 1
    busy = busy_cores_elsewhere()
    if busy is None:
        return wanted
    return max(1, min(wanted, _available_cores() - busy))


@contextlib.contextmanager
def chosen_threads() -> Iterator[int]:
    """Run the block with :func:`choose_threads` torch threads; torch's setting after it is
    what it was before. Yields the number chosen. Blocks may nest: an inner block keeps the
    outer block's choice."""
    before = torch.get_num_threads()
    if getattr(_state, "depth", 0):
        _state.depth += 1
        try:
            yield before
        finally:
            _state.depth -= 1
        return
    if not _state.lifted_mmap:
        _state.lifted_mmap = True
        lift_fixed_mmap_threshold()
    threads = choose_threads()
    _state.depth = 1
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        _state.depth = 0
        torch.set_num_threads(before)


class _State:
    depth = 0
    lifted_mmap = False


_state = _State()
