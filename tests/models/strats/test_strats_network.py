"""STraTS' defining steps, the continuous value embedding and the triplet embedding, against
independent numpy computations."""

import numpy as np
import pytest
import torch

from medfuse_sk.models.strats import ContinuousValueEmbedding, StratsModule, TripletEmbedding
from medfuse_sk.models.strats._network import FusionAttention


def _np(t):
    return t.detach().double().numpy()


def _cve(module, s):
    """W2 · tanh(W1 s + b1), written in numpy from the module's weights."""
    w1, b1, w2 = _np(module.hidden.weight)[:, 0], _np(module.hidden.bias), _np(module.out.weight)
    return np.tanh(np.asarray(s, dtype=float)[..., None] * w1 + b1) @ w2.T


def test_continuous_value_embedding_is_a_scalar_ffn():
    torch.manual_seed(0)
    cve = ContinuousValueEmbedding(64)
    assert cve.hidden.out_features == 8 and cve.out.bias is None  # 1 -> floor(sqrt(64)) -> 64
    s = torch.tensor([[-3.0, 0.0, 0.25], [1.5, 7.0, -0.5]])
    np.testing.assert_allclose(_np(cve(s)), _cve(cve, s.numpy()), rtol=1e-5, atol=1e-6)
    assert ContinuousValueEmbedding(50).hidden.out_features == 7
    # not a lookup: nearby values get nearby embeddings, a smooth function of the scalar
    near = cve(torch.tensor([1.0, 1.001]))
    assert torch.linalg.norm(near[0] - near[1]) < 1e-2


def test_triplet_embedding_sums_feature_value_and_time():
    torch.manual_seed(0)
    emb = TripletEmbedding(5, 16)
    f = torch.tensor([[0, 3, 3, 4]])
    x = torch.tensor([[0.2, -1.0, 2.0, 0.0]])
    t = torch.tensor([[-1.0, -0.5, 0.3, 1.0]])
    want = _np(emb.variable.weight)[f.numpy()] + _cve(emb.value, x.numpy()) + _cve(emb.time, t.numpy())
    np.testing.assert_allclose(_np(emb(f, x, t)), want, rtol=1e-5, atol=1e-6)


def test_the_module_embeds_triplets_with_times_scaled_to_minus_one_one():
    torch.manual_seed(0)
    module = StratsModule(4, 3, d_model=16, n_heads=4, time_scale=40.0).eval()
    seen = {}
    module.embedding.register_forward_hook(lambda m, args, out: seen.update(args=args, out=out))
    feature = torch.tensor([[1, 2, 3]])
    category = torch.tensor([[-1, 2, -1]])  # the second token: class 2 of a categorical feature
    module(feature, torch.tensor([[0.5, 0.0, -2.0]]), torch.tensor([[0.0, 10.0, 40.0]]),
           torch.ones(1, 3, dtype=torch.bool), category=category)
    variable, value, time = seen["args"]
    assert variable.tolist() == [[1, 4 + 2, 3]]  # a class is a variable of its own, value 1
    np.testing.assert_allclose(value.numpy(), [[0.5, 1.0, -2.0]])
    np.testing.assert_allclose(time.numpy(), [[-1.0, -0.5, 1.0]])
    want = (_np(module.embedding.variable.weight)[[1, 6, 3]] + _cve(module.embedding.value, [0.5, 1.0, -2.0])
            + _cve(module.embedding.time, [-1.0, -0.5, 1.0]))
    np.testing.assert_allclose(_np(seen["out"])[0], want, rtol=1e-5, atol=1e-6)


def test_fusion_attention_is_a_softmax_over_observed_triplets():
    torch.manual_seed(0)
    pool = FusionAttention(6)
    x = torch.randn(2, 4, 6)
    mask = torch.tensor([[True, True, False, True], [True, False, False, False]])
    score = np.tanh(_np(x) @ _np(pool.proj.weight).T + _np(pool.proj.bias)) @ _np(pool.score.weight)[0]
    want = []
    for b in range(2):
        s = np.where(mask[b].numpy(), score[b], -np.inf)
        w = np.exp(s - s.max())
        want.append((w / w.sum()) @ _np(x)[b])
    np.testing.assert_allclose(_np(pool(x, mask)), np.array(want), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("static", [(), (1,)])
def test_padding_does_not_change_a_stay_and_statics_leave_the_sequence(static):
    torch.manual_seed(0)
    module = StratsModule(5, 0, d_model=8, n_heads=2, static_features=static).eval()
    f, x, t = torch.tensor([[1, 2, 3, 2]]), torch.tensor([[0.4, 1.0, -1.0, 0.2]]), \
        torch.tensor([[0.0, 1.0, 5.0, 9.0]])
    base = module(f, x, t, torch.ones(1, 4, dtype=torch.bool))
    padded = module(torch.cat([f, torch.tensor([[3]])], 1), torch.cat([x, torch.tensor([[50.0]])], 1),
                    torch.cat([t, torch.tensor([[2.0]])], 1), torch.tensor([[True] * 4 + [False]]))
    torch.testing.assert_close(padded, base)
    if static:
        seen = {}
        module.fusion.register_forward_hook(lambda m, args, out: seen.update(mask=args[1]))
        module(f, x, t, torch.ones(1, 4, dtype=torch.bool))
        assert seen["mask"].tolist() == [[False, True, True, True]]  # feature 1 is static


def test_variable_dropout_drops_whole_features_in_training_only():
    torch.manual_seed(0)
    module = StratsModule(30, 0, d_model=8, n_heads=2, dropout=0.5)
    seen = []
    module.fusion.register_forward_hook(lambda m, args, out: seen.append(args[1]))
    f = torch.arange(1, 30).repeat(2).view(1, -1)  # every feature twice
    x, t, m = torch.zeros_like(f, dtype=torch.float), torch.zeros_like(f, dtype=torch.float), f > 0
    module(f, x, t, m)
    kept = seen[-1][0]
    assert 0 < kept.sum() < m.sum()
    assert torch.equal(kept[:29], kept[29:])  # both tokens of a feature go together
    module.eval()
    module(f, x, t, m)
    assert seen[-1].all()


def test_forecasting_head_feeds_the_classifier():
    torch.manual_seed(0)
    module = StratsModule(5, 0, d_model=8, n_heads=2, forecast=True).eval()
    args = (torch.tensor([[1, 2]]), torch.tensor([[0.1, 0.2]]), torch.tensor([[1.0, 2.0]]),
            torch.ones(1, 2, dtype=torch.bool))
    forecast = module.forecast(*args)
    assert forecast.shape == (1, 5)
    torch.testing.assert_close(module(*args), module.head(forecast).squeeze(-1))
    with pytest.raises(RuntimeError, match="forecast"):
        StratsModule(5, 0, d_model=8, n_heads=2).forecast(*args)
