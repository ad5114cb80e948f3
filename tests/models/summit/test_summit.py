"""SUMMIT: SCANE tokens (x · E[f] + PE(t)) against an independent computation; padding left
out; learning, round trips, a grid search; its recipe's defaults."""

import math

import numpy as np
import torch
from network_checks import check_grid_search, check_round_trips, held_out_auroc, task

from medfuse_sk.data import EventTokenizer
from medfuse_sk.models import create_model
from medfuse_sk.models.summit import SummitClassifier, SummitModule

SMALL = dict(d_model=16, dim_feedforward=16, lr=3e-3, max_epochs=8, batch_size=32,
             valid_size=0.0, verbose=0)


def _sinusoid(t, dim):
    """PE(t)[2i] = sin(t ω_i), PE(t)[2i+1] = cos(t ω_i), ω_i = 10000^(-2i/dim)."""
    out = np.zeros((len(t), dim))
    for i in range(dim // 2):
        omega = 10000.0 ** (-2 * i / dim)
        out[:, 2 * i] = np.sin(np.asarray(t) * omega)
        out[:, 2 * i + 1] = np.cos(np.asarray(t) * omega)
    return out


def test_a_token_is_its_value_times_its_feature_embedding_plus_its_time():
    torch.manual_seed(0)
    module = SummitModule(5, 0, d_model=8, dim_feedforward=8).eval()
    seen = {}
    module.layers[0].register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    feature, value = torch.tensor([[1, 4, 1, 0]]), torch.tensor([[0.5, -2.0, 0.0, 9.0]])
    time, mask = torch.tensor([[0.0, 3.0, 47.5, 1.0]]), torch.tensor([[True, True, True, False]])
    module(feature, value, time, mask)
    table = module.embedding.feature_table.weight.detach().double().numpy()
    want = value[0, :3, None].double().numpy() * table[[1, 4, 1]] + _sinusoid([0.0, 3.0, 47.5], 8)
    np.testing.assert_allclose(seen["x"][0, :3].detach().double().numpy(), want, rtol=1e-5,
                               atol=1e-6)
    assert torch.all(seen["x"][0, 3] == 0)  # padding makes no token
    # a value of 0 leaves only the time: SCANE scales, it does not shift
    np.testing.assert_allclose(seen["x"][0, 2].detach().numpy(), _sinusoid([47.5], 8)[0],
                               atol=1e-6)


def test_padding_does_not_change_a_stay():
    torch.manual_seed(0)
    module = SummitModule(5, 0, d_model=8, dim_feedforward=8).eval()
    f, x, t = torch.tensor([[1, 2, 3]]), torch.tensor([[0.4, 1.0, -1.0]]), torch.tensor([[0., 1., 5.]])
    base = module(f, x, t, torch.ones(1, 3, dtype=torch.bool))
    padded = module(torch.cat([f, torch.tensor([[4]])], 1), torch.cat([x, torch.tensor([[80.0]])], 1),
                    torch.cat([t, torch.tensor([[2.0]])], 1), torch.tensor([[True, True, True, False]]))
    torch.testing.assert_close(padded, base)


def test_the_recipe_is_table_4_and_the_authors_code_base():
    model = create_model("summit")
    assert (model.d_model, model.n_layers, model.lr, model.max_epochs) == (144, 1, 3e-5, 350)
    assert (model.n_heads, model.dim_feedforward, model.loss, model.batch_size) == (1, 144, "focal", 256)
    assert isinstance(model.tokenizer, EventTokenizer) and model.tokenizer.window == 2.0
    assert math.isclose(model.head_dropout, 0.45)


def test_learns_the_u_shaped_task():
    model = SummitClassifier(random_state=0, **SMALL).fit(*task(300))
    assert held_out_auroc(model) > 0.85


def test_clone_pickle_and_safe_files(tmp_path):
    model = create_model("summit", random_state=0, **{**SMALL, "max_epochs": 2}).fit(*task(120))
    check_round_trips(model, tmp_path)


def test_grid_search():
    check_grid_search(SummitClassifier(random_state=0, **SMALL), {"n_heads": [1, 2]})


def test_heads_must_divide_the_width():
    import pytest
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="d_model=16 must be a multiple of n_heads=3"):
        SummitClassifier(**{**SMALL, "n_heads": 3}).fit(*task(40))
