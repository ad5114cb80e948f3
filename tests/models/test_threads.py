"""Threads of a fit: as many as the idle cores allow, fixed by MEDFUSE_NUM_THREADS, restored."""

import os
import subprocess
import sys
import time
import warnings

import pytest
import torch
from synthetic import TINY, u_shaped_task

from medfuse_sk import MedFuseClassifier
from medfuse_sk.models import ENV_THREADS, busy_cores_elsewhere, choose_threads, chosen_threads

linux = pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="reads /proc (Linux)")
BUSY = "import time\nend = time.time() + 20\nwhile time.time() < end: pass\n"


@pytest.fixture
def torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture
def neighbours():
    """One busy single-threaded process per core this process may use."""
    cores = len(os.sched_getaffinity(0))
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(cores)]
    time.sleep(0.5)
    yield cores
    for proc in procs:
        proc.kill()
        proc.wait()


def test_the_environment_variable_fixes_the_number(monkeypatch):
    monkeypatch.setenv(ENV_THREADS, "3")
    assert choose_threads() == 3
    with chosen_threads() as threads:
        assert threads == 3 and torch.get_num_threads() == 3


@pytest.mark.parametrize("value", ["two", "0"])
def test_a_wrong_environment_value_names_the_variable(monkeypatch, value):
    monkeypatch.setenv(ENV_THREADS, value)
    with pytest.raises(ValueError, match=f"{ENV_THREADS}={value!r}"):
        choose_threads()


def test_one_thread_asked_is_one_thread(monkeypatch, torch_threads):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    torch.set_num_threads(1)
    assert choose_threads() == 1


@linux
def test_beside_busy_neighbours_a_fit_steps_down_to_one_thread(monkeypatch, torch_threads,
                                                               neighbours):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    torch.set_num_threads(neighbours + 1)
    assert busy_cores_elsewhere() >= neighbours
    assert choose_threads() == 1


@linux
def test_never_more_than_torch_asks_for(monkeypatch, torch_threads):
    monkeypatch.delenv(ENV_THREADS, raising=False)
    torch.set_num_threads(2)
    assert 1 <= choose_threads() <= 2


def test_the_setting_comes_back_and_inner_blocks_keep_the_outer_choice(monkeypatch,
                                                                       torch_threads):
    monkeypatch.setenv(ENV_THREADS, "1")
    torch.set_num_threads(2)
    with chosen_threads() as outer:
        monkeypatch.setenv(ENV_THREADS, "3")
        with chosen_threads() as inner:
            assert inner == outer == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == 2


def test_a_fit_runs_with_the_chosen_threads_and_says_how_many(monkeypatch, torch_threads):
    monkeypatch.setenv(ENV_THREADS, "1")
    torch.set_num_threads(2)
    seen = []

    class Spy(MedFuseClassifier):
        def train_step(self, batch, **kwargs):
            seen.append(torch.get_num_threads())
            return super().train_step(batch, **kwargs)

    X, y = u_shaped_task(n_stays=60)
    clf = Spy(**{**TINY, "max_epochs": 1}, random_state=0).fit(X, y)
    assert clf.n_threads_ == 1 and set(seen) == {1}
    assert torch.get_num_threads() == 2



def test_the_start_environment_is_read_not_os_environ(monkeypatch):
    from medfuse_sk.models import _threads

    path = os.environ.get("PATH")
    monkeypatch.setenv("PATH", "/changed/after/start")
    assert _threads._started_with("PATH") == path  # /proc/self/environ: as the process began
    assert _threads._started_with("NO_SUCH_VARIABLE_HERE") is None


@pytest.mark.parametrize("start", [b"HOME=/root\0LANG=C\0", b"MALLOC_TRIM_THRESHOLD_=65536\0A=1\0"])
def test_a_process_started_with_malloc_trim_warns_once(start, tmp_path, monkeypatch):
    from medfuse_sk.models import _threads

    environ = tmp_path / "environ"
    environ.write_bytes(start)
    monkeypatch.setattr(_threads, "_START_ENVIRON", str(environ))
    monkeypatch.setattr(_threads._state, "warned_malloc", False)
    # set after the start, as a LocalCluster does in its client: glibc never read it
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            with chosen_threads():
                pass
    warned = [str(w.message) for w in caught if "MALLOC_TRIM_THRESHOLD_" in str(w.message)]
    if b"MALLOC" not in start:
        assert warned == []
    else:
        assert len(warned) == 1 and "MALLOC_TRIM_THRESHOLD_=65536" in warned[0]
        assert "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_" in warned[0]
