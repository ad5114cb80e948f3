"""The compiled MuFuse kernel on a CUDA device: fp32, bf16, fp16, forward and gradients.

Tolerances follow flash-attention's rule (``STYLE.md``): the kernel's error against a
high-precision reference must stay within a small multiple of the error PyTorch itself
makes in the same precision, ``max|out − ref_hi| ≤ c·max|out_torch − ref_hi| + ε``.
``ref_hi`` runs ``mufuse_reference`` on upcast copies of the very same (rounded) inputs:
fp64 for fp32 tests, fp32 for bf16/fp16 tests. This file must not set TRITON_INTERPRET.
"""

import os

import pytest
import torch

from medfuse_sk.models import mufuse_reference

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                       reason="TRITON_INTERPRET=1 is set: these tests check the compiled kernel"),
]

PARAMS = ("table", "w1", "b1", "w2", "b2", "alpha", "beta")
C = 2.0  # allowed multiple of PyTorch's own error

SHAPES = {
    # name: (N, F, d_f, k, times, op kwargs)
    "1e5-d144-k1": (100_000, 42, 144, 1, True, {}),
    "1e5-d144-k4": (100_000, 42, 144, 4, True, {}),
    "1e5-d144-k3-none": (100_000, 42, 144, 3, True, {"gate": "none"}),
    "1e5-d64-k4-vocab5000": (100_000, 5000, 64, 4, True, {}),
    "4099-d256-k4-relu": (4099, 42, 256, 4, True, {"activation": "relu"}),
    "777-d144-k144-notime": (777, 42, 144, 144, False, {}),
    "1-token-d144-k2": (1, 42, 144, 2, True, {}),
}
DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def make(n, n_feat, d_f, k, times, dtype, h=16, seed=0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    d_v = d_f // k

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, device="cuda") * scale).to(dtype)

    data = {
        "feature_ids": torch.randint(0, n_feat, (n,), generator=g, device="cuda"),
        "values": rnd(n),
        "times": (torch.rand(n, generator=g, device="cuda") * 48).to(dtype) if times else None,
    }
    params = {
        "table": rnd(n_feat, d_f), "w1": rnd(h), "b1": rnd(h, scale=0.5),
        "w2": rnd(d_v, h, scale=h**-0.5), "b2": rnd(d_v, scale=0.5),
        "alpha": (1 + 0.5 * torch.randn(n_feat, d_v, generator=g, device="cuda")).to(dtype),
        "beta": rnd(n_feat, d_v, scale=0.5),
    }
    grad_out = rnd(n, d_f)
    return data, params, grad_out


def run(fn, data, params, grad_out, dtype, **kw):
    cast = {k: (v.to(dtype) if v is not None and v.is_floating_point() else v)
            for k, v in data.items()}
    leaves = {k: v.to(dtype).requires_grad_() for k, v in params.items()}
    out = fn(cast["feature_ids"], cast["values"], cast["times"], *leaves.values(), **kw)
    (out * grad_out.to(dtype)).sum().backward()
    return out.detach(), {k: v.grad for k, v in leaves.items()}


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_kernel_error_within_pytorch_error(shape, dtype_name):
    from medfuse_sk.kernels import mufuse_embedding

    n, n_feat, d_f, k, times, op_kw = SHAPES[shape]
    dtype = DTYPES[dtype_name]
    hi = torch.float64 if dtype == torch.float32 else torch.float32
    data, params, grad_out = make(n, n_feat, d_f, k, times, dtype)

    out_hi, g_hi = run(mufuse_reference, data, params, grad_out, hi, **op_kw)
    out_pt, g_pt = run(mufuse_reference, data, params, grad_out, dtype, **op_kw)
    out, g = run(mufuse_embedding, data, params, grad_out, dtype, **op_kw)

    assert out.dtype == dtype and out.shape == (n, d_f)
    pairs = [("output", out, out_pt, out_hi)] + [
        (f"grad {p}", g[p], g_pt[p], g_hi[p]) for p in PARAMS]
    # ε: a few ulps of the largest reference value (fp32 sums over 1e5 tokens may differ in
    # order from PyTorch's, and PyTorch's own error can be near zero by luck)
    eps = (8 if dtype == torch.float32 else 1) * torch.finfo(dtype).eps
    for name, mine, torch_lowp, ref in pairs:
        assert mine.dtype == dtype, name
        scale = max(1.0, ref.abs().max().item())
        err = (mine.to(hi) - ref).abs().max().item()
        err_pt = (torch_lowp.to(hi) - ref).abs().max().item()
        assert err <= C * err_pt + eps * scale, f"{name}: kernel {err:.3g} vs torch {err_pt:.3g}"


def test_empty_batch_cuda():
    from medfuse_sk.kernels import mufuse_embedding

    data, params, _ = make(0, 42, 144, 4, True, torch.float32)
    leaves = {k: v.requires_grad_() for k, v in params.items()}
    out = mufuse_embedding(*data.values(), *leaves.values())
    assert out.shape == (0, 144)
    out.sum().backward()
    assert all(torch.count_nonzero(p.grad) == 0 for p in leaves.values())


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("d_f", [64, 144])
def test_launched_kernels_do_not_spill(d_f, dtype_name):
    """On the real device: the kernels the launcher compiles report no spilled registers
    (the ahead-of-time check in test_kernels_compile.py, confirmed by the driver's numbers)."""
    from medfuse_sk.kernels import mufuse

    dtype = DTYPES[dtype_name]
    data, params, grad_out = make(5000, 42, d_f, 1, True, dtype)
    out = torch.empty(5000, d_f, dtype=dtype, device="cuda")
    grid, args, kwargs = mufuse._forward_launch(*data.values(), *params.values(), out)
    fwd = mufuse._mufuse_fwd_kernel[grid](*args, **kwargs)
    grid, args, kwargs, _ = mufuse._backward_launch(grad_out, data["feature_ids"],
                                                    data["values"], *params.values())
    bwd = mufuse._mufuse_bwd_kernel[grid](*args, **kwargs)
    torch.cuda.synchronize()
    for name, kernel in (("forward", fwd), ("backward", bwd)):
        assert kernel.n_spills == 0, (name, kernel.n_regs, kernel.n_spills)


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two CUDA devices")
def test_tensors_on_second_device_launch_there():
    """The device guard: with cuda:0 current, tensors on cuda:1 are computed on cuda:1."""
    from medfuse_sk.kernels import mufuse_embedding

    data, params, grad_out = make(3000, 42, 144, 4, True, torch.float32)
    data = {k: (v.to("cuda:1") if v is not None else None) for k, v in data.items()}
    params = {k: v.to("cuda:1") for k, v in params.items()}
    grad_out = grad_out.to("cuda:1")
    with torch.cuda.device(0):
        out_ref, g_ref = run(mufuse_reference, data, params, grad_out, torch.float64)
        out, g = run(mufuse_embedding, data, params, grad_out, torch.float32)
    assert out.device == torch.device("cuda:1")
    torch.testing.assert_close(out.double(), out_ref, rtol=1e-4, atol=1e-4)
    for p in PARAMS:
        assert g[p].device == torch.device("cuda:1"), p
        scale = max(1.0, g_ref[p].abs().max().item())
        torch.testing.assert_close(g[p].double(), g_ref[p], rtol=1e-4, atol=1e-4 * scale)
