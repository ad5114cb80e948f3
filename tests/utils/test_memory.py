"""The glibc allocator settings reach the processes started after them (the voting workers)."""

import json
import os
import subprocess
import sys

import pytest

from medfuse_sk.utils import keep_freed_memory_for_reuse
from medfuse_sk.utils._memory import started_with

VARIABLES = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings: Linux only")
def test_settings_apply_here_and_in_processes_started_afterwards(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert keep_freed_memory_for_reuse(mmap_threshold=2**24, trim_threshold=2**27) is True
    child = subprocess.run(
        [sys.executable, "-c", f"import os; print([os.environ.get(n) for n in {VARIABLES!r}])"],
        capture_output=True, text=True, check=True)
    assert child.stdout.strip() == str([str(2**24), str(2**27)])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings: Linux only")
def test_a_users_own_settings_are_kept(monkeypatch):
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    keep_freed_memory_for_reuse()
    assert os.environ["MALLOC_MMAP_THRESHOLD_"] == "65536"
    assert os.environ["MALLOC_TRIM_THRESHOLD_"] == str(256 * 2**20)


def test_the_start_environment_is_read_not_os_environ(monkeypatch):
    path = os.environ.get("PATH")
    monkeypatch.setenv("PATH", "/changed/after/start")
    assert started_with("PATH") == path  # /proc/self/environ: as the process began
    assert started_with("NO_SUCH_VARIABLE_HERE") is None


# 20 cycles of malloc, touch and free of a 4 MB block: page faults, before and after the lift
_FAULTS = """
import ctypes, json, resource
from medfuse_sk.utils import lift_fixed_mmap_threshold
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype, libc.free.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
def faults(size=4 << 20):
    began = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        block = libc.malloc(size); ctypes.memset(block, 1, size); libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - began
before = faults()
lifted = lift_fixed_mmap_threshold()
print(json.dumps([before, lifted, faults()]))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc settings: Linux only")
@pytest.mark.parametrize("start", [{"MALLOC_TRIM_THRESHOLD_": str(2**28)}, {},
                                   {"MALLOC_TRIM_THRESHOLD_": str(2**28),
                                    "MALLOC_MMAP_THRESHOLD_": str(2**25)}])
def test_a_fixed_mmap_threshold_is_lifted_only_where_the_process_started_with_it(start):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    child = subprocess.run([sys.executable, "-c", _FAULTS], env={**env, **start},
                           capture_output=True, text=True, check=True)
    before, lifted, after = json.loads(child.stdout.strip().splitlines()[-1])
    if start == {"MALLOC_TRIM_THRESHOLD_": str(2**28)}:
        # every 4 MB block was mapped afresh (1,024 pages each); after the lift, reused
        assert lifted is True and before > 15_000 and after < 1_000
    else:
        assert lifted is False and after < 1_000  # glibc's own threshold, or the user's
