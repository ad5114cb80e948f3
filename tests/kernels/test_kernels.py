"""The fused MuFuse Triton kernel against the PyTorch reference (``mufuse_reference``).

On a machine without CUDA the kernels run in Triton's interpreter: ``TRITON_INTERPRET=1``
is set here, at the top, before ``triton`` or ``medfuse_sk.kernels`` is imported (triton's
own ``tl.*`` helpers and our kernels pick interpreter or compiler when they are decorated,
at import). The variable is put back as it was once the imports are done, so other test
modules see the environment they expect, and an autouse fixture sets it again around each
test here. With CUDA present the same tests run the compiled kernels on the GPU in fp32;
the low-precision checks live in ``test_kernels_gpu.py``.
"""

import os
import sys

import pytest
import torch

CUDA = torch.cuda.is_available() and os.environ.get("TRITON_INTERPRET") != "1"
_PREVIOUS = os.environ.get("TRITON_INTERPRET")
if not CUDA:  # must precede the first import of triton and of medfuse_sk.kernels
    if "triton" in sys.modules and _PREVIOUS != "1":
        pytest.skip("triton was imported before TRITON_INTERPRET=1 could be set and there is "
                    "no CUDA device; run this file in its own pytest process",
                    allow_module_level=True)
    os.environ["TRITON_INTERPRET"] = "1"

pytest.importorskip("triton")

import medfuse_sk.kernels  # noqa: E402
from medfuse_sk.kernels import mufuse_embedding  # noqa: E402
from medfuse_sk.kernels.mufuse import mufuse_backward  # noqa: E402

from medfuse_sk.models.medfuse import MuFuseEmbedding, mufuse_reference, resolve_kernel  # noqa: E402

if not CUDA:
    if _PREVIOUS is None:
        del os.environ["TRITON_INTERPRET"]
    else:
        os.environ["TRITON_INTERPRET"] = _PREVIOUS


@pytest.fixture(autouse=True)
def _interpreter_on(monkeypatch):
    if not CUDA:
        monkeypatch.setenv("TRITON_INTERPRET", "1")


DEVICE = "cuda" if CUDA else "cpu"
PARAMS = ("table", "w1", "b1", "w2", "b2", "alpha", "beta")


def make_inputs(n, n_feat, d_f, k, h=16, times=True, seed=0, ids=None, dtype=torch.float32):
    """Random tokens and parameters (params leave α=1, β=0 so gates depend on f and x)."""
    g = torch.Generator().manual_seed(seed)
    d_v = d_f // k
    if ids is None:
        ids = torch.randint(0, n_feat, (n,), generator=g)
    data = {
        "feature_ids": ids,
        "values": torch.randn(n, generator=g),
        "times": torch.rand(n, generator=g) * 48.0 if times else None,
    }
    params = {
        "table": torch.randn(n_feat, d_f, generator=g),
        "w1": torch.randn(h, generator=g),
        "b1": torch.randn(h, generator=g) * 0.5,
        "w2": torch.randn(d_v, h, generator=g) / h**0.5,
        "b2": torch.randn(d_v, generator=g) * 0.5,
        "alpha": 1.0 + 0.5 * torch.randn(n_feat, d_v, generator=g),
        "beta": 0.5 * torch.randn(n_feat, d_v, generator=g),
    }
    data = {k_: (v.to(DEVICE) if v is not None else None) for k_, v in data.items()}
    params = {k_: v.to(DEVICE, dtype) for k_, v in params.items()}
    return data, params


def run(fn, data, params, grad_out, **kw):
    """Forward, backward with ``grad_out``; returns output and gradients by parameter name."""
    leaves = {name: p.clone().requires_grad_() for name, p in params.items()}
    out = fn(data["feature_ids"], data["values"], data["times"], *leaves.values(), **kw)
    (out * grad_out).sum().backward()
    return out.detach(), {name: p.grad for name, p in leaves.items()}


def assert_close(actual, expected, name, tol=1e-5):
    """fp32: abs error ≤ tol · max(1, |expected|_max) (sums over many tokens grow)."""
    scale = max(1.0, expected.abs().max().item()) if expected.numel() else 1.0
    assert actual.shape == expected.shape, name
    assert actual.dtype == expected.dtype, name
    torch.testing.assert_close(actual, expected, rtol=tol, atol=tol * scale, msg=name)


def check_against_reference(data, params, **kw):
    n, d_f = data["feature_ids"].shape[0], params["table"].shape[1]
    grad_out = torch.randn(n, d_f, generator=torch.Generator().manual_seed(1)).to(DEVICE)
    out_ref, g_ref = run(mufuse_reference, data, params, grad_out, **kw)
    out, g = run(mufuse_embedding, data, params, grad_out, **kw)
    assert_close(out, out_ref, "output")
    for name in PARAMS:
        assert g[name] is not None, name
        assert_close(g[name], g_ref[name], f"grad {name}")


CASES = {
    # name: (N, F, d_f, k, kwargs for make_inputs, kwargs for the op)
    "normal-k1": (256, 42, 64, 1, {}, {}),
    "normal-k4": (256, 42, 64, 4, {}, {}),
    "ragged-tokens": (157, 42, 64, 4, {}, {}),
    "d144-k1": (130, 42, 144, 1, {}, {}),
    "d144-k2": (130, 42, 144, 2, {}, {}),
    "d144-k3": (130, 42, 144, 3, {}, {}),
    "d144-k4": (130, 42, 144, 4, {}, {}),
    "d144-k144": (130, 42, 144, 144, {}, {}),
    "gate-none": (200, 42, 64, 4, {}, {"gate": "none"}),
    "relu": (200, 42, 64, 2, {}, {"activation": "relu"}),
    "none-relu-no-time": (200, 42, 144, 3, {"times": False},
                          {"gate": "none", "activation": "relu"}),
    "no-time": (200, 42, 64, 1, {"times": False}, {}),
    "hidden-5": (100, 42, 48, 3, {"h": 5}, {}),
    "tiny-width": (70, 5, 6, 2, {"h": 3}, {}),
    "few-features": (333, 2, 64, 4, {}, {}),  # sorted tiles hold one feature: row-reduced path
    "single-token": (1, 42, 144, 4, {}, {}),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_matches_reference(case):
    n, n_feat, d_f, k, make_kw, op_kw = CASES[case]
    data, params = make_inputs(n, n_feat, d_f, k, **make_kw)
    check_against_reference(data, params, **op_kw)


def test_large_vocabulary_repeated_ids():
    """5000 features, ids repeated many times and scattered (atomics on shared rows)."""
    g = torch.Generator().manual_seed(3)
    hot = torch.randint(0, 5000, (12,), generator=g)
    ids = torch.cat([hot[torch.randint(0, 12, (300,), generator=g)],
                     torch.randint(0, 5000, (100,), generator=g), torch.tensor([4999, 0])])
    ids = ids[torch.randperm(ids.numel(), generator=g)]
    data, params = make_inputs(ids.numel(), 5000, 64, 4, ids=ids)
    check_against_reference(data, params)


def test_int32_ids():
    data, params = make_inputs(90, 42, 64, 4)
    data["feature_ids"] = data["feature_ids"].int()
    check_against_reference(data, params)


def test_empty_batch():
    data, params = make_inputs(0, 42, 144, 4)
    leaves = {name: p.clone().requires_grad_() for name, p in params.items()}
    out = mufuse_embedding(data["feature_ids"], data["values"], data["times"], *leaves.values())
    assert out.shape == (0, 144) and out.dtype == torch.float32
    out.sum().backward()
    for name, p in leaves.items():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert torch.count_nonzero(p.grad) == 0, name


def test_sorted_and_unsorted_backward_agree():
    """The feature sort is only a speed heuristic: both paths give the same gradients."""
    data, params = make_inputs(300, 7, 144, 3)
    grad_out = torch.randn(300, 144, generator=torch.Generator().manual_seed(2)).to(DEVICE)
    args = (grad_out, data["feature_ids"], data["values"], *params.values())
    sorted_ = mufuse_backward(*args, sort_by_feature=True)
    unsorted = mufuse_backward(*args, sort_by_feature=False)
    for name, a, b in zip(PARAMS, sorted_, unsorted, strict=True):
        assert_close(a, b, name)


def test_small_blocks_many_programs():
    """Force tiny tiles: many column tiles and several token tiles per persistent program."""
    data, params = make_inputs(150, 42, 144, 4)
    grad_out = torch.randn(150, 144, generator=torch.Generator().manual_seed(4)).to(DEVICE)
    cfg = {"BLOCK_N": 16, "BLOCK_D": 16}
    args = (data["feature_ids"], data["values"], *params.values())
    with torch.no_grad():
        out_ref = mufuse_reference(data["feature_ids"], data["values"], data["times"],
                                   *params.values())
    out = medfuse_sk.kernels.mufuse_forward(data["feature_ids"], data["values"], data["times"],
                                            *params.values(), config=cfg)
    assert_close(out, out_ref, "output")
    _, g_ref = run(mufuse_reference, data, params, grad_out)
    grads = mufuse_backward(grad_out, *args, config=cfg)
    for name, g in zip(PARAMS, grads, strict=True):
        assert_close(g, g_ref[name], f"grad {name}")


def test_no_grad_inference_and_partial_requires_grad():
    data, params = make_inputs(64, 42, 64, 4)
    with torch.no_grad():
        out = mufuse_embedding(*data.values(), *params.values())
        ref = mufuse_reference(*data.values(), *params.values())
    assert_close(out, ref, "output")
    table = params["table"].clone().requires_grad_()
    rest = [params[name] for name in PARAMS[1:]]
    mufuse_embedding(*data.values(), table, *rest).sum().backward()
    table_ref = params["table"].clone().requires_grad_()
    mufuse_reference(*data.values(), table_ref, *rest).sum().backward()
    assert_close(table.grad, table_ref.grad, "grad table")


def test_fp16_within_pytorch_error():
    """fp16 (the interpreter's only low precision): error ≤ 2× PyTorch's own fp16 error."""
    data, params = make_inputs(96, 42, 64, 4)
    grad_out = torch.randn(96, 64, generator=torch.Generator().manual_seed(5)).to(DEVICE)
    data16 = {k: (v.half() if v is not None and v.is_floating_point() else v)
              for k, v in data.items()}
    params16 = {k: v.half() for k, v in params.items()}
    data32 = {k: (v.float() if v is not None and v.is_floating_point() else v)
              for k, v in data16.items()}
    out_ref, g_ref = run(mufuse_reference, data32, {k: v.float() for k, v in params16.items()},
                         grad_out)
    out_pt, g_pt = run(mufuse_reference, data16, params16, grad_out.half())
    out, g = run(mufuse_embedding, data16, params16, grad_out.half())
    assert out.dtype == torch.float16
    pairs = [("output", out, out_pt, out_ref)]
    pairs += [(f"grad {n}", g[n], g_pt[n], g_ref[n]) for n in PARAMS]
    for name, mine, torch_lowp, ref in pairs:
        assert mine.dtype == torch.float16, name
        err = (mine.float() - ref).abs().max().item()
        err_pt = (torch_lowp.float() - ref).abs().max().item()
        assert err <= 2 * err_pt + 1e-3 * max(1.0, ref.abs().max().item()), (name, err, err_pt)


def test_validation_errors():
    data, params = make_inputs(8, 4, 12, 3)
    bad_w2 = torch.randn(5, 16, device=DEVICE)
    args = dict(params, w2=bad_w2, b2=torch.randn(5, device=DEVICE),
                alpha=torch.randn(4, 5, device=DEVICE), beta=torch.randn(4, 5, device=DEVICE))
    with pytest.raises(ValueError, match="multiple of d_v"):
        mufuse_embedding(*data.values(), *args.values())
    with pytest.raises(ValueError, match="gate"):
        mufuse_embedding(*data.values(), *params.values(), gate="softmax")
    with pytest.raises(ValueError, match="activation"):
        mufuse_embedding(*data.values(), *params.values(), activation="gelu")
    if not CUDA:
        bad_ids = data["feature_ids"].clone()
        bad_ids[0] = 4
        with pytest.raises(IndexError, match="feature_ids"):
            mufuse_embedding(bad_ids, data["values"], data["times"], *params.values())


# --------------------------------------------------------------------- through the module
@pytest.mark.parametrize("k,gate", [(4, "sigmoid"), (1, "none")])
def test_module_triton_matches_torch(k, gate):
    """``MuFuseEmbedding(kernel="triton")`` = ``kernel="torch"`` on a padded (B, L) batch that
    mixes numerical tokens, categorical tokens and padding (feature 0, value 0)."""
    torch.manual_seed(0)
    n_feat, n_cat, d = 42, 7, 64
    kw = dict(n_features=n_feat, n_categories=n_cat, d_model=d, partition_factor=k, gate=gate)
    ref = MuFuseEmbedding(kernel="torch", **kw).to(DEVICE)
    tri = MuFuseEmbedding(kernel="triton", **kw).to(DEVICE)
    with torch.no_grad():  # move α, β off their (1, 0) start so every gradient is non-trivial
        ref.alpha.add_(0.3 * torch.randn_like(ref.alpha))
        ref.beta.add_(0.3 * torch.randn_like(ref.beta))
    tri.load_state_dict(ref.state_dict())

    g = torch.Generator().manual_seed(6)
    b, length = 5, 23
    lengths = torch.tensor([23, 17, 9, 1, 12])
    valid = torch.arange(length)[None, :] < lengths[:, None]
    feature = torch.randint(1, n_feat, (b, length), generator=g)
    value = torch.randn(b, length, generator=g)
    time = torch.rand(b, length, generator=g).mul(48).sort(dim=1).values
    category = torch.full((b, length), -1)
    is_cat = (torch.rand(b, length, generator=g) < 0.2) & valid
    category[is_cat] = torch.randint(0, n_cat, (int(is_cat.sum()),), generator=g)
    feature[~valid], value[~valid], time[~valid] = 0, 0.0, 0.0
    batch = [t.to(DEVICE) for t in (feature, value, time, category)]
    grad_out = torch.randn(b, length, d, generator=g).to(DEVICE)

    outs = []
    for module in (ref, tri):
        module.zero_grad()
        out = module(*batch)
        (out * grad_out).sum().backward()
        outs.append(out.detach())
    assert_close(outs[1], outs[0], "output")
    grads_ref = dict(ref.named_parameters())
    for name, p in tri.named_parameters():
        assert p.grad is not None, name
        assert_close(p.grad, grads_ref[name].grad, f"grad {name}")


def test_module_keeps_padding_and_categorical_tokens_out_of_the_kernel(monkeypatch):
    """With ``mask``, the kernel sees only observed numerical tokens; padded rows are zeros and
    observed rows (and all gradients, padding carrying no gradient) are what they were."""
    torch.manual_seed(0)
    kw = dict(n_features=30, n_categories=5, d_model=48, partition_factor=3, gate="sigmoid")
    ref = MuFuseEmbedding(kernel="torch", **kw).to(DEVICE)
    tri = MuFuseEmbedding(kernel="triton", **kw).to(DEVICE)
    tri.load_state_dict(ref.state_dict())
    g = torch.Generator().manual_seed(8)
    lengths = torch.tensor([14, 3, 9, 1])
    valid = torch.arange(14)[None, :] < lengths[:, None]
    feature = torch.randint(1, 30, (4, 14), generator=g)
    value = torch.randn(4, 14, generator=g)
    time = torch.rand(4, 14, generator=g).mul(48)
    category = torch.full((4, 14), -1)
    is_cat = (torch.rand(4, 14, generator=g) < 0.25) & valid
    category[is_cat] = torch.randint(0, 5, (int(is_cat.sum()),), generator=g)
    feature[~valid], value[~valid], time[~valid] = 0, 0.0, 0.0
    batch = [t_.to(DEVICE) for t_ in (feature, value, time, category)]
    grad_out = torch.randn(4, 14, 48, generator=g).to(DEVICE) * valid[..., None].to(DEVICE)

    seen = []
    kernel = medfuse_sk.kernels.mufuse_embedding

    def spy(feature_ids, *args, **kwargs):
        seen.append(feature_ids.shape[0])
        return kernel(feature_ids, *args, **kwargs)

    monkeypatch.setattr(medfuse_sk.kernels, "mufuse_embedding", spy)
    out = tri(*batch, mask=valid.to(DEVICE))
    assert seen == [int((valid & ~is_cat).sum())]
    (out * grad_out).sum().backward()
    out_ref = ref(*batch)  # no mask: every token embedded, categorical rows overwritten
    (out_ref * grad_out).sum().backward()
    v = valid.to(DEVICE)
    assert torch.count_nonzero(out[~v]) == 0
    assert_close(out[v].detach(), out_ref[v].detach(), "observed rows")
    grads_ref = dict(ref.named_parameters())
    for name, p in tri.named_parameters():
        assert_close(p.grad, grads_ref[name].grad, f"grad {name}")


def test_resolve_kernel_switch(monkeypatch):
    assert resolve_kernel("auto", "cpu") == "torch"
    assert resolve_kernel("torch", "cpu") == "torch"
    monkeypatch.setenv("TRITON_INTERPRET", "1")
    assert resolve_kernel("triton", "cpu") == "triton"
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        resolve_kernel("triton", "cpu")
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="TRITON_INTERPRET"):
        resolve_kernel("triton", "cpu")


def test_classifier_with_triton_kernel_matches_torch():
    """The estimator's ``kernel`` switch end to end: fit and predict through the fused kernel."""
    import numpy as np
    from synthetic import u_shaped_task

    from medfuse_sk import MedFuseClassifier

    events, labels = u_shaped_task(n_stays=48, seed=3, events_per_stay=6)
    kw = dict(d_model=16, partition_factor=4, n_heads=2, n_layers=1, max_epochs=2,
              batch_size=16, valid_size=0, random_state=0, verbose=0, device=DEVICE)
    proba = {kernel: MedFuseClassifier(kernel=kernel, **kw).fit(events, labels)
             .predict_proba(events)[:, 1] for kernel in ("torch", "triton")}
    assert np.std(proba["torch"]) > 1e-4  # the fit moved the predictions apart
    np.testing.assert_allclose(proba["triton"], proba["torch"], rtol=1e-4, atol=1e-5)
