"""pytest-benchmark view of the MuFuse kernel benchmark (CUDA only).

    python -m pytest benchmarks/test_bench_kernel.py -o addopts="" --benchmark-only

Fused Triton vs eager ``mufuse_reference`` vs ``torch.compile(mufuse_reference)``,
forward and forward+backward, 1M tokens, d_f = 144, k ∈ {1, 4}. The full sweep with
bandwidth, peak memory, JSON and plot is ``benchmarks/bench_kernel.py``.
"""

import os

import pytest
import torch

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    pytest.mark.skipif(os.environ.get("TRITON_INTERPRET") == "1",
                       reason="TRITON_INTERPRET=1: benchmark the compiled kernel only"),
]

N_TOKENS, N_FEATURES, D_F, HIDDEN = 1_048_576, 42, 144, 16


def _impl(name):
    from medfuse_sk.models import mufuse_reference

    if name == "triton":
        from medfuse_sk.kernels import mufuse_embedding

        return mufuse_embedding
    if name == "compile":
        return torch.compile(mufuse_reference, dynamic=False)
    return mufuse_reference


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("provider", ["triton", "eager", "compile"])
def test_mufuse_speed(benchmark, provider, k, mode):
    g = torch.Generator(device="cuda").manual_seed(0)
    d_v = D_F // k
    ids = torch.randint(0, N_FEATURES, (N_TOKENS,), generator=g, device="cuda")
    values = torch.randn(N_TOKENS, generator=g, device="cuda")
    times = torch.rand(N_TOKENS, generator=g, device="cuda") * 48
    params = [torch.randn(*shape, generator=g, device="cuda").requires_grad_()
              for shape in [(N_FEATURES, D_F), (HIDDEN,), (HIDDEN,), (d_v, HIDDEN), (d_v,),
                            (N_FEATURES, d_v), (N_FEATURES, d_v)]]
    grad_out = torch.randn(N_TOKENS, D_F, device="cuda")
    impl = _impl(provider)

    def step():
        if mode == "fwd":
            with torch.no_grad():
                impl(ids, values, times, *params)
        else:
            for p in params:
                p.grad = None
            impl(ids, values, times, *params).backward(grad_out)
        torch.cuda.synchronize()

    step()  # compile outside the timed rounds
    benchmark.extra_info.update(device=torch.cuda.get_device_name(), tokens=N_TOKENS, d_f=D_F)
    benchmark.pedantic(step, rounds=20, warmup_rounds=3)
