"""The glibc allocator settings reach the processes started after them (the voting workers)."""

import os
import subprocess
import sys

import pytest

from medfuse_sk.utils import keep_freed_memory_for_reuse

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
