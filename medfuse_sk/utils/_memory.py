"""glibc allocator settings for training on CPU (the ``medfuse`` command applies them).

Training on length-bucketed batches allocates activations of a different size every batch. With
glibc's defaults many of these blocks (about 1–6 MB) are served by fresh ``mmap`` calls and given
back on free, so every batch page-faults its activations in again: one epoch of the P12 train
split plus its validation (``medfuse p12``, 2 cores) took 14.6 million minor page faults and
42 s of system time out of 76 s. Serving blocks below 32 MB from the heap and trimming the heap
only when 256 MB lie free at its top removes that churn (0.3 million faults, 2–4 s of system
time), at the price of a larger resident set: the heap keeps the high-water mark of the
activations (peak 1.54 GB instead of 0.93 GB for that run). See ``docs/performance.md``.

A library user can call :func:`keep_freed_memory_for_reuse` at the start of a training script,
or set ``MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=268435456`` in the environment
before Python starts. The function also puts those two variables in this process's
environment (where they are not set already), so the processes it starts afterwards — the
workers that fit voting members side by side (``medfuse p12``'s ``n_jobs``) — begin with the
same settings.

glibc raises its mmap threshold by itself as a program frees large blocks (up to 32 MB), so
activations come to be reused from the heap, unless the process started with
``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_`` set: either turns that adjustment off and
leaves the threshold at 128 kB. Dask's nannies start every worker with
``MALLOC_TRIM_THRESHOLD_=65536``; a fit there cost 1.6 times the CPU (docs/scaling.md).
:func:`lift_fixed_mmap_threshold` (called at a process's first fit or prediction) raises the
threshold again in such a process and leaves its trim setting alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory_for_reuse", "lift_fixed_mmap_threshold"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers
#: The environment this process started with (Linux), which is what the C library read.
_START_ENVIRON = "/proc/self/environ"
#: Variables that, set when a process starts, fix glibc's mmap threshold at its 128 kB default.
_FIXING = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory_for_reuse(mmap_threshold: int = 32 * 2**20,
                                trim_threshold: int = 256 * 2**20) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap; trim it only past
    ``trim_threshold`` free bytes (glibc ``mallopt``), here and, through the environment, in
    the processes started from here on. Returns False where glibc is absent."""
    if not sys.platform.startswith("linux"):
        return False
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(int(mmap_threshold)))
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(int(trim_threshold)))
    return _mallopt((_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim_threshold))


def lift_fixed_mmap_threshold(mmap_threshold: int = 32 * 2**20) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap, where this process started with
    ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_TOP_PAD_`` set and no ``MALLOC_MMAP_THRESHOLD_``
    (glibc's mmap threshold is then fixed at 128 kB: Dask's workers). Its trim setting is kept.

    Returns
    -------
    bool
        Whether the threshold was raised: False in every other process, and where glibc is
        absent.
    """
    if not sys.platform.startswith("linux") or started_with("MALLOC_MMAP_THRESHOLD_"):
        return False
    if not any(started_with(name) is not None for name in _FIXING):
        return False
    return _mallopt((_M_MMAP_THRESHOLD, mmap_threshold))


def started_with(name: str) -> str | None:
    """The value ``name`` had in this process's environment when it started (Linux: what the C
    library read), not ``os.environ`` now; None where it was unset or cannot be read."""
    try:
        with open(_START_ENVIRON, "rb") as environ:
            for entry in environ.read().split(b"\0"):
                key, _, value = entry.partition(b"=")
                if key == name.encode():
                    return value.decode(errors="replace")
    except OSError:
        return None
    return None


def _mallopt(*settings: tuple[int, int]) -> bool:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return all(bool(libc.mallopt(param, int(value))) for param, value in settings)
    except (OSError, AttributeError):
        return False
