"""Threads of a fit: as many as the idle cores allow, fixed by MEDFUSE_NUM_THREADS, restored."""

import os
import subprocess
import sys
import time

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


def test_the_first_fit_lifts_a_fixed_mmap_threshold_once(monkeypatch):
    from medfuse_sk.models import _threads

    calls = []
    monkeypatch.setattr(_threads, "lift_fixed_mmap_threshold", lambda: calls.append(1))
    monkeypatch.setattr(_threads._state, "lifted_mmap", False)
    for _ in range(2):
        with chosen_threads():
            pass
    assert calls == [1]
