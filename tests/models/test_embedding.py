"""The reference embedding against a from-scratch numpy reading of SPEC.md's formulas."""

import math

import numpy as np
import pytest
import torch

from medfuse_sk.models import MedFuseModule, MuFuseEmbedding, time_encoding


def spec_time_encoding(t, d):
    out = np.zeros(d)
    for j in range(d):
        i = j // 2
        omega = 10000 ** (-2 * i / d)
        out[j] = math.sin(t * omega) if j % 2 == 0 else math.cos(t * omega)
    return out


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def numpy_params(emb):
    return {k: v.detach().double().numpy() for k, v in emb.state_dict().items()}


def spec_token(p, fusion, f, x, t, d, d_v, gate="sigmoid"):
    """One numerical token, written out loop by loop from SPEC.md."""
    e = p["feature_table.weight"][f]
    pe = spec_time_encoding(t, d)
    if fusion == "scane":
        return x * e + pe
    w1, b1 = p["projector.0.weight"][:, 0], p["projector.0.bias"]
    w2, b2 = p["projector.2.weight"], p["projector.2.bias"]
    phi = w2 @ np.tanh(w1 * x + b1) + b2
    if fusion == "add":
        return e + phi + pe
    if fusion == "concat":
        return p["concat_proj.weight"] @ np.concatenate([e, phi]) + p["concat_proj.bias"] + pe
    v = p["alpha"][f] * phi + p["beta"][f]
    g = sigmoid(v) if gate == "sigmoid" else v
    k = d // d_v
    z = np.empty(d)
    for block in range(d_v):  # gate `block` scales entries block*k .. block*k+k-1
        z[block * k:(block + 1) * k] = g[block] * e[block * k:(block + 1) * k]
    return z + pe


def randomise(emb, seed=0):
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for param in emb.parameters():
            param.copy_(torch.randn(param.shape, generator=gen) * 0.7)


def test_time_encoding_matches_formula():
    t = torch.tensor([0.0, 1.0, 7.5, 47.0])
    got = time_encoding(t, 12).numpy()
    for row, ti in zip(got, t.tolist()):
        np.testing.assert_allclose(row, spec_time_encoding(ti, 12), atol=1e-6)


@pytest.mark.parametrize("fusion, k, gate", [
    ("mufuse", 1, "sigmoid"), ("mufuse", 2, "sigmoid"), ("mufuse", 4, "sigmoid"),
    ("mufuse", 12, "sigmoid"), ("mufuse", 3, "none"),
    ("add", 1, "sigmoid"), ("concat", 4, "sigmoid"), ("scane", 1, "sigmoid")])
def test_numerical_tokens_match_spec(fusion, k, gate):
    d = 12
    emb = MuFuseEmbedding(n_features=6, n_categories=0, d_model=d, partition_factor=k,
                          fusion=fusion, gate=gate, kernel="torch").double()
    randomise(emb)
    f = torch.tensor([[1, 5, 2], [0, 3, 3]])
    x = torch.tensor([[0.3, -1.2, 2.0], [0.0, 0.5, -0.5]], dtype=torch.float64)
    t = torch.tensor([[0.0, 3.5, 48.0], [1.0, 2.0, 9.0]], dtype=torch.float64)
    got = emb(f, x, t).detach().numpy()
    assert got.shape == (2, 3, d)
    p = numpy_params(emb)
    for b in range(2):
        for i in range(3):
            want = spec_token(p, fusion, int(f[b, i]), float(x[b, i]), float(t[b, i]), d, d // k,
                              gate)
            np.testing.assert_allclose(got[b, i], want, rtol=1e-10, atol=1e-10)


def test_k_equal_one_is_the_plain_hadamard_product():
    emb = MuFuseEmbedding(4, 0, 8, partition_factor=1, gate="sigmoid", time_encoding=False,
                          kernel="torch")
    randomise(emb)
    f, x = torch.tensor([1, 2, 3]), torch.tensor([0.1, -0.4, 2.0])
    with torch.no_grad():
        v = emb.alpha[f] * emb.projector(x[:, None]) + emb.beta[f]
        want = emb.feature_table.weight[f] * torch.sigmoid(v)
    torch.testing.assert_close(emb(f, x, torch.zeros(3)), want)


def test_categorical_tokens_are_concat_then_linear():
    d = 8
    emb = MuFuseEmbedding(n_features=5, n_categories=4, d_model=d, partition_factor=2,
                          gate="sigmoid", kernel="torch").double()
    randomise(emb, seed=3)
    f = torch.tensor([2, 4, 1])
    c = torch.tensor([-1, 3, 1])
    x = torch.tensor([0.7, 0.0, 0.0], dtype=torch.float64)
    t = torch.tensor([1.0, 2.0, 6.0], dtype=torch.float64)
    got = emb(f, x, t, c).detach().numpy()
    p = numpy_params(emb)
    np.testing.assert_allclose(got[0], spec_token(p, "mufuse", 2, 0.7, 1.0, d, d // 2))
    for row, (fi, ci, ti) in enumerate([(4, 3, 2.0), (1, 1, 6.0)], start=1):
        pair = np.concatenate([p["feature_table.weight"][fi], p["class_table.weight"][ci]])
        want = p["class_proj.weight"] @ pair + p["class_proj.bias"] + spec_time_encoding(ti, d)
        np.testing.assert_allclose(got[row], want, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("kwargs, message", [
    (dict(partition_factor=5), "d_model=12 is not a multiple of partition_factor=5"),
    (dict(value_dim=5), "d_model=12 \\(d_f\\) is not a multiple of value_dim=5 \\(d_v\\)"),
    (dict(fusion="mul"), "fusion must be one of"),
    (dict(gate="relu"), "gate must be one of"),
    (dict(kernel="cuda"), "kernel must be one of"),
])
def test_invalid_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        MuFuseEmbedding(4, 0, 12, **kwargs)


def test_padding_does_not_change_a_stays_prediction():
    torch.manual_seed(0)
    model = MedFuseModule(n_features=6, n_categories=3, d_model=16, partition_factor=4,
                          n_heads=4, dropout=0.0, pooling="mean", kernel="torch").eval()
    f = torch.tensor([[1, 2, 3]])
    x = torch.tensor([[0.5, -0.1, 1.0]])
    c = torch.tensor([[-1, 2, -1]])
    t = torch.tensor([[0.0, 1.0, 2.0]])
    alone = model(f, x, c, t, torch.ones(1, 3, dtype=torch.bool))
    pad = 5
    padded = model(torch.cat([f, torch.zeros(1, pad, dtype=torch.long)], 1),
                   torch.cat([x, torch.randn(1, pad)], 1),
                   torch.cat([c, -torch.ones(1, pad, dtype=torch.long)], 1),
                   torch.cat([t, torch.rand(1, pad)], 1),
                   torch.tensor([[True] * 3 + [False] * pad]))
    torch.testing.assert_close(alone, padded, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_forward_and_backward_shapes(pooling):
    model = MedFuseModule(n_features=6, n_categories=3, d_model=16, n_heads=2, pooling=pooling,
                          kernel="torch")
    mask = torch.tensor([[True, True, False], [True, False, False]])
    out = model(torch.tensor([[1, 2, 0], [0, 0, 0]]), torch.randn(2, 3),
                torch.tensor([[-1, 1, -1], [-1, -1, -1]]), torch.rand(2, 3), mask)
    assert out.shape == (2,) and torch.isfinite(out).all()
    out.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters()
               if not n.startswith("embedding.class"))
