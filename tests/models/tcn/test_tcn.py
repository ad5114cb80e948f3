"""TCN: causal dilated convolutions (a future step never changes a past output; the receptive
field is exactly that of dilations 1, 2, 4, ...), learning, round trips, a grid search."""

import pytest
import torch
from network_checks import TINY_GRID, check_grid_search, check_round_trips, held_out_auroc, task

from medfuse_sk.models import create_model
from medfuse_sk.models.tcn import TCNClassifier, TCNModule

SMALL = dict(hidden_size=16, n_layers=2, **TINY_GRID)


def _inputs(seed=0, b=2, t=40, c=3):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(b, t, c, generator=g), (torch.rand(b, t, c, generator=g) > 0.5).float(),
            torch.rand(b, t, c, generator=g) * 5)


@pytest.mark.parametrize("kernel_size, n_layers", [(2, 3), (4, 2), (3, 4)])
def test_a_future_step_never_changes_a_past_output_and_the_receptive_field_is_exact(
        kernel_size, n_layers):
    torch.manual_seed(0)
    net = TCNModule(3, 40, hidden_size=8, n_layers=n_layers, kernel_size=kernel_size).eval()
    for p in net.parameters():  # large weights: no reachable change may vanish under a ReLU
        torch.nn.init.uniform_(p, 0.5, 1.5)
    values, mask, delta = _inputs()
    reach = 2 * (kernel_size - 1) * (2 ** n_layers - 1)  # two convolutions per block, 2^i apart
    last = 39
    before = net.encode(values, mask, delta)
    for changed in (20, last - reach, last - reach - 1):
        if changed < 0:
            continue
        v2 = values.clone()
        v2[:, changed] += 10.0
        after = net.encode(v2, mask, delta)
        # no output before the changed step moves ...
        torch.testing.assert_close(after[:, :changed], before[:, :changed], rtol=0, atol=0)
        # ... the changed step's own output does, and the last output exactly within the reach
        assert not torch.equal(after[:, changed], before[:, changed])
        within = last - changed <= reach
        assert torch.equal(after[:, last], before[:, last]) is not within


def test_learns_the_u_shaped_task():
    model = TCNClassifier(random_state=0, **SMALL).fit(*task())
    assert held_out_auroc(model) > 0.85


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("tcn", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search():
    search = check_grid_search(TCNClassifier(random_state=0, **SMALL), {"kernel_size": [2, 3]})
    kernel = search.best_estimator_.module_.blocks[0].net[0].v.shape[-1]
    assert kernel == search.best_params_["kernel_size"]
