"""SAnD: its dense interpolation against the paper's Algorithm 1 written as a loop, its
restricted causal attention, learning, round trips, a grid search."""

import numpy as np
import pytest
import torch
from network_checks import TINY_GRID, check_grid_search, check_round_trips, held_out_auroc, task

from medfuse_sk.models import create_model
from medfuse_sk.models.sand import SAnDClassifier, SAnDModule, dense_interpolation_weights

SMALL = dict(hidden_size=32, n_layers=1, n_heads=2, factor=2, **TINY_GRID)


def _algorithm_1(states: np.ndarray, factor: int) -> np.ndarray:
    """SAnD's Algorithm 1, as printed: for t = 1..T, s = M·t/T; for m = 1..M,
    w = (1 − |s − m| / M)²; u_m += w · s_t."""
    n_steps, width = states.shape
    u = np.zeros((factor, width))
    for t in range(1, n_steps + 1):
        s = factor * t / n_steps
        for m in range(1, factor + 1):
            w = (1 - abs(s - m) / factor) ** 2
            u[m - 1] += w * states[t - 1]
    return u


@pytest.mark.parametrize("n_steps, factor", [(24, 12), (7, 3), (5, 8), (1, 1)])
def test_dense_interpolation_is_algorithm_1(n_steps, factor):
    states = np.random.default_rng(0).normal(size=(2, n_steps, 5))
    torch.manual_seed(0)
    net = SAnDModule(2, n_steps, hidden_size=4, n_layers=1, n_heads=1, factor=factor)
    got = net.interpolate(torch.as_tensor(states, dtype=torch.float32)).double().numpy()
    for b in range(2):
        np.testing.assert_allclose(got[b], _algorithm_1(states[b], factor), rtol=1e-5, atol=1e-6)
    assert dense_interpolation_weights(n_steps, factor).shape == (n_steps, factor)


def test_attention_reads_the_last_window_steps_only():
    torch.manual_seed(0)
    net = SAnDModule(2, 12, hidden_size=8, n_layers=2, n_heads=2, window=3, dropout=0.0).eval()
    g = torch.Generator().manual_seed(1)
    values, mask = torch.randn(1, 12, 2, generator=g), torch.ones(1, 12, 2)
    delta = torch.zeros(1, 12, 2)
    before = net.encode(values, mask, delta)
    changed = values.clone()
    changed[:, 5] += 3.0
    after = net.encode(changed, mask, delta)
    moved = [bool((after[0, t] - before[0, t]).abs().max() > 1e-6) for t in range(12)]
    # two layers of a 3-step window: step 5 reaches steps 5 .. 11 (5 + 2·3), nothing earlier
    assert moved == [False] * 5 + [True] * 7
    net_one = SAnDModule(2, 12, hidden_size=8, n_layers=1, n_heads=2, window=3, dropout=0.0).eval()
    a, b = net_one.encode(values, mask, delta), net_one.encode(changed, mask, delta)
    assert [bool((a[0, t] - b[0, t]).abs().max() > 1e-6) for t in range(12)] == \
        [False] * 5 + [True] * 4 + [False] * 3


def test_learns_the_u_shaped_task():
    model = SAnDClassifier(random_state=0, **SMALL).fit(*task())
    assert held_out_auroc(model) > 0.85


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("sand", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search_and_a_clear_error_on_heads():
    check_grid_search(SAnDClassifier(random_state=0, **SMALL), {"factor": [2, 4]})
    with pytest.raises(ValueError, match="hidden_size=32 must be a multiple of n_heads=3"):
        SAnDClassifier(**{**SMALL, "n_heads": 3}).fit(*task(40))
