"""The grid Transformer: one token per step whose order enters through the sinusoidal
encoding only, learning, round trips, a grid search."""

import math

import pytest
import torch
from network_checks import TINY_GRID, check_grid_search, check_round_trips, held_out_auroc, task

from medfuse_sk.models import create_model
from medfuse_sk.models.transformer import GridTransformerModule, TransformerClassifier

SMALL = dict(d_model=16, dim_feedforward=16, n_heads=2, **TINY_GRID)


def _inputs(b=3, t=6, c=2):
    g = torch.Generator().manual_seed(0)
    return (torch.randn(b, t, c, generator=g), (torch.rand(b, t, c, generator=g) > 0.3).float(),
            torch.rand(b, t, c, generator=g) * 4)


def test_the_position_of_a_step_is_the_transformers_sinusoid():
    net = GridTransformerModule(2, 6, d_model=8, n_heads=2, dim_feedforward=8)
    for p in range(6):
        for i in range(4):
            angle = p / 10000 ** (2 * i / 8)
            assert net.position[p, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-6)
            assert net.position[p, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-6)


def test_step_order_enters_through_the_encoding_only_and_stays_do_not_mix():
    torch.manual_seed(0)
    net = GridTransformerModule(2, 6, d_model=8, n_heads=2, dim_feedforward=8).eval()
    values, mask, delta = _inputs()
    out = net(values, mask, delta)
    flipped = net(values.flip(1), mask.flip(1), delta.flip(1))
    assert not torch.allclose(out, flipped, atol=1e-4)
    net.position.zero_()  # without positions, a set of steps: the order no longer matters
    torch.testing.assert_close(net(values, mask, delta),
                               net(values.flip(1), mask.flip(1), delta.flip(1)))
    torch.testing.assert_close(net(values[1:2], mask[1:2], delta[1:2]),
                               net(values, mask, delta)[1:2])


def test_learns_the_u_shaped_task():
    model = TransformerClassifier(random_state=0, **SMALL).fit(*task())
    assert held_out_auroc(model) > 0.85


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("transformer", random_state=0,
                         **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search_and_a_clear_error_on_heads():
    check_grid_search(TransformerClassifier(random_state=0, **SMALL), {"n_layers": [1, 2]})
    with pytest.raises(ValueError, match="d_model=16 must be a multiple of n_heads=3"):
        TransformerClassifier(**{**SMALL, "n_heads": 3}).fit(*task(40))
