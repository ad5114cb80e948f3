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
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

__all__ = ["keep_freed_memory_for_reuse"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers


def keep_freed_memory_for_reuse(mmap_threshold: int = 32 * 2**20,
                                trim_threshold: int = 256 * 2**20) -> bool:
    """Serve blocks below ``mmap_threshold`` bytes from the heap; trim it only past
    ``trim_threshold`` free bytes (glibc ``mallopt``), here and, through the environment, in
    the processes started from here on. Returns False where glibc is absent."""
    if not sys.platform.startswith("linux"):
        return False
    os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", str(int(mmap_threshold)))
    os.environ.setdefault("MALLOC_TRIM_THRESHOLD_", str(int(trim_threshold)))
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, int(mmap_threshold))
                    and libc.mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)))
    except (OSError, AttributeError):
        return False
