"""Micro-benchmark of the fused MuFuse Triton kernel against eager and compiled PyTorch.

One command on a CUDA machine::

    python benchmarks/bench_kernel.py --out benchmarks/results

times ``medfuse_sk.kernels.mufuse_embedding`` (fused Triton), ``mufuse_reference`` (eager)
and ``torch.compile(mufuse_reference)``, forward and forward+backward, over tokens
∈ {64K, 1M, 4M} × d_f ∈ {64, 144, 256} × k ∈ {1, 4} (F = 42 features, h = 16), with
``triton.testing.do_bench`` (median and 20/80 % quantiles), the achieved bandwidth on the
minimal traffic against the device's peak, and the peak memory of each case. It prints a
table and writes ``kernel_bench_<device>.json`` and ``kernel_bench_<device>.png`` under
``--out``.

Minimal bytes per case (parameters are negligible): forward reads ids (int64), values and
times and writes the ``N × d_f`` output; forward+backward adds reading ids and values again
and the ``N × d_f`` output gradient.

``--smoke`` runs a tiny case on CPU through Triton's interpreter (no ``do_bench`` there:
``time.perf_counter``) only to prove the script runs; its timings mean nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path

import torch

F_FEATURES, HIDDEN = 42, 16
PROVIDERS = ("triton", "eager", "compile")
MODES = ("fwd", "fwd+bwd")
QUANTILES = [0.5, 0.2, 0.8]


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="benchmarks/results", help="folder for JSON and PNG")
    p.add_argument("--tokens", type=int, nargs="+", default=[65_536, 1_048_576, 4_194_304])
    p.add_argument("--dims", type=int, nargs="+", default=[64, 144, 256], help="d_f values")
    p.add_argument("--ks", type=int, nargs="+", default=[1, 4], help="partition factors k")
    p.add_argument("--dtype", choices=("fp32", "bf16", "fp16"), default="fp32")
    p.add_argument("--providers", nargs="+", choices=PROVIDERS, default=list(PROVIDERS))
    p.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    p.add_argument("--smoke", action="store_true",
                   help="tiny CPU run through TRITON_INTERPRET=1 to check the script itself")
    return p.parse_args(argv)


# --------------------------------------------------------------------------- device facts
PEAK_BW = [  # (pattern on torch.cuda.get_device_name, bytes/s), first match wins
    (r"H200", 4.8e12),
    (r"H100.*PCIe", 2.0e12),
    (r"H100.*NVL", 3.9e12),
    (r"H100", 3.35e12),  # SXM (e.g. "NVIDIA H100 80GB HBM3")
]


def device_slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-").lower()


def peak_bandwidth(name: str) -> tuple[float, str]:
    """Peak DRAM bandwidth (bytes/s) and where it came from."""
    for pattern, bw in PEAK_BW:
        if re.search(pattern, name, re.IGNORECASE):
            return bw, f"datasheet ({pattern})"
    from triton.testing import do_bench

    n = 256 * 2**20  # 1 GiB of fp32
    src = torch.empty(n, device="cuda")
    dst = torch.empty_like(src)
    ms = do_bench(lambda: dst.copy_(src), quantiles=None)
    torch.cuda.empty_cache()
    return 2 * n * 4 / (ms * 1e-3), "measured device-to-device copy"


# --------------------------------------------------------------------------- cases
def make_case(n, d_f, k, dtype, device, seed=0):
    g = torch.Generator(device=device).manual_seed(seed)
    d_v = d_f // k

    def rnd(*shape, scale=1.0):
        return (torch.randn(*shape, generator=g, device=device) * scale).to(dtype)

    data = (
        torch.randint(0, F_FEATURES, (n,), generator=g, device=device),
        rnd(n),
        (torch.rand(n, generator=g, device=device) * 48).to(dtype),
    )
    params = [rnd(F_FEATURES, d_f), rnd(HIDDEN), rnd(HIDDEN), rnd(d_v, HIDDEN, scale=0.25),
              rnd(d_v), (1 + 0.1 * torch.randn(F_FEATURES, d_v, generator=g, device=device))
              .to(dtype), rnd(F_FEATURES, d_v, scale=0.1)]
    for p in params:
        p.requires_grad_(True)
    return data, params


def min_bytes(n, d_f, dtype, mode) -> int:
    esize = torch.empty((), dtype=dtype).element_size()
    fwd = n * (8 + 2 * esize) + n * d_f * esize  # ids, values, times; output
    if mode == "fwd":
        return fwd
    return fwd + n * (8 + esize) + n * d_f * esize  # ids, values; output gradient


def make_fn(impl, data, params, mode, grad_out):
    if mode == "fwd":
        def fn():
            with torch.no_grad():
                return impl(*data, *params)
    else:
        def fn():
            impl(*data, *params).backward(grad_out)
    return fn


def providers(names):
    from medfuse_sk.kernels import mufuse_embedding

    from medfuse_sk.models import mufuse_reference

    table = {"triton": mufuse_embedding, "eager": mufuse_reference}
    if "compile" in names:
        table["compile"] = torch.compile(mufuse_reference, dynamic=False)
    return {name: table[name] for name in names}


# --------------------------------------------------------------------------- GPU run
def run_gpu(args) -> dict:
    from triton.testing import do_bench

    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[args.dtype]
    name = torch.cuda.get_device_name()
    peak_bw, bw_source = peak_bandwidth(name)
    impls = providers(args.providers)
    rows = []
    for n in args.tokens:
        for d_f in args.dims:
            for k in args.ks:
                if d_f % k:
                    continue
                for mode in args.modes:
                    for prov, impl in impls.items():
                        rows.append(bench_one(do_bench, impl, prov, n, d_f, k, mode, dtype,
                                              peak_bw))
                        print_row(rows[-1])
    from medfuse_sk.kernels.mufuse import launch_config

    configs = {str(d_f): {mode: launch_config(d_f, HIDDEN, backward=mode == "bwd")
                          for mode in ("fwd", "bwd")} for d_f in args.dims}
    return {
        "device": name, "peak_bandwidth_Bps": peak_bw, "peak_bandwidth_source": bw_source,
        "dtype": args.dtype, "features": F_FEATURES, "hidden": HIDDEN, "launch_config": configs,
        "torch": torch.__version__, "triton": _triton_version(), "rows": rows,
        "timer": "triton.testing.do_bench, ms, quantiles (0.5, 0.2, 0.8)",
    }


def bench_one(do_bench, impl, prov, n, d_f, k, mode, dtype, peak_bw) -> dict:
    row = {"provider": prov, "tokens": n, "d_f": d_f, "k": k, "mode": mode}
    try:
        row.update(_measure(do_bench, impl, n, d_f, k, mode, dtype, peak_bw))
    except torch.cuda.OutOfMemoryError:
        row["error"] = "out of memory"
    torch.cuda.empty_cache()
    return row


def _measure(do_bench, impl, n, d_f, k, mode, dtype, peak_bw) -> dict:
    data, params = make_case(n, d_f, k, dtype, "cuda")
    grad_out = torch.randn(n, d_f, device="cuda", dtype=dtype)
    fn = make_fn(impl, data, params, mode, grad_out)
    fn()  # compile / first-call work outside the timed region
    torch.cuda.synchronize()
    for p in params:
        p.grad = None
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    med, q20, q80 = do_bench(fn, quantiles=QUANTILES, grad_to_none=params)
    nbytes = min_bytes(n, d_f, dtype, mode)
    gbps = nbytes / (med * 1e-3) / 1e9
    return {"ms": med, "ms_q20": q20, "ms_q80": q80, "bytes": nbytes, "gbps": gbps,
            "pct_peak_bw": 100 * gbps * 1e9 / peak_bw, "peak_mem_mb": peak / 2**20,
            "extra_mem_mb": (peak - base) / 2**20}


HEADER = (f"{'provider':>8} {'tokens':>9} {'d_f':>4} {'k':>3} {'mode':>8} {'median ms':>10} "
          f"{'q20':>8} {'q80':>8} {'GB/s':>8} {'%peak':>6} {'peak MB':>9}")


def _fmt(value, width: int, spec: str) -> str:
    return f"{'-':>{width}}" if value is None else f"{value:>{width}{spec}}"


def print_row(r: dict) -> None:
    line = f"{r['provider']:>8} {r['tokens']:>9} {r['d_f']:>4} {r['k']:>3} {r['mode']:>8}"
    if "error" in r:
        print(f"{line} {r['error']:>10}", flush=True)
        return
    line += (f" {r['ms']:>10.4f} {_fmt(r.get('ms_q20'), 8, '.4f')}"
             f" {_fmt(r.get('ms_q80'), 8, '.4f')}"
             f" {r['gbps']:>8.2f} {_fmt(r.get('pct_peak_bw'), 6, '.1f')}"
             f" {_fmt(r.get('peak_mem_mb'), 9, '.1f')}")
    if "max_abs_diff_vs_eager" in r:
        line += f"   max|out - eager| = {r['max_abs_diff_vs_eager']:.2e}"
    print(line, flush=True)


# --------------------------------------------------------------------------- CPU smoke
def run_smoke(args) -> dict:
    """Tiny case in the interpreter; checks the plumbing and the kernel's agreement."""
    impls = providers([p for p in args.providers if p != "compile"])
    rows = []
    n, dims, ks = 300, (64, 144), (1, 4)
    for d_f in dims:
        for k in ks:
            for mode in args.modes:
                data, params = make_case(n, d_f, k, torch.float32, "cpu")
                grad_out = torch.randn(n, d_f)
                with torch.no_grad():
                    ref = impls["eager"](*data, *params) if "eager" in impls else None
                for prov, impl in impls.items():
                    fn = make_fn(impl, data, params, mode, grad_out)
                    fn()  # warm-up
                    times = []
                    for _ in range(3):
                        for p in params:
                            p.grad = None
                        t0 = time.perf_counter()
                        fn()
                        times.append(1e3 * (time.perf_counter() - t0))
                    med = statistics.median(times)
                    nbytes = min_bytes(n, d_f, torch.float32, mode)
                    row = {"provider": prov, "tokens": n, "d_f": d_f, "k": k, "mode": mode,
                           "ms": med, "bytes": nbytes, "gbps": nbytes / (med * 1e-3) / 1e9}
                    if ref is not None and mode == "fwd":
                        with torch.no_grad():
                            row["max_abs_diff_vs_eager"] = (impl(*data, *params) - ref).abs()\
                                .max().item()
                    rows.append(row)
                    print_row(row)
    return {"device": f"cpu ({platform.processor() or platform.machine()}), Triton interpreter",
            "dtype": "fp32", "features": F_FEATURES, "hidden": HIDDEN,
            "torch": torch.__version__, "triton": _triton_version(), "rows": rows,
            "timer": "time.perf_counter, median of 3, ms (smoke test: not a measurement)"}


# --------------------------------------------------------------------------- output
def _triton_version() -> str:
    import triton

    return triton.__version__


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["rows"] if "ms" in r]
    modes = sorted({r["mode"] for r in rows}, key=MODES.index)
    dims = sorted({r["d_f"] for r in rows})
    fig, axes = plt.subplots(len(modes), len(dims), figsize=(4.2 * len(dims), 3.4 * len(modes)),
                             squeeze=False, sharey="row")
    for i, mode in enumerate(modes):
        for j, d_f in enumerate(dims):
            ax = axes[i][j]
            for prov in PROVIDERS:
                for k, style in zip(sorted({r["k"] for r in rows}), ("-o", "--s", ":^"),
                                    strict=False):
                    pts = sorted((r["tokens"], r["gbps"]) for r in rows if r["provider"] == prov
                                 and r["d_f"] == d_f and r["k"] == k and r["mode"] == mode)
                    if pts:
                        ax.plot(*zip(*pts, strict=True), style, label=f"{prov} k={k}")
            if "peak_bandwidth_Bps" in result:
                ax.axhline(result["peak_bandwidth_Bps"] / 1e9, color="grey", lw=0.8,
                           label="peak bandwidth")
            ax.set_xscale("log")
            ax.set_title(f"{mode}, d_f={d_f}")
            ax.set_xlabel("tokens")
            if j == 0:
                ax.set_ylabel("achieved GB/s (minimal bytes)")
            ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"MuFuse embedding, {result['device']}, {result['dtype']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    args = parse_args(argv)
    cuda = torch.cuda.is_available()
    if args.smoke and not cuda:
        os.environ.setdefault("TRITON_INTERPRET", "1")  # before triton is imported
    elif not cuda:
        print("no CUDA device: use --smoke for the CPU interpreter check", file=sys.stderr)
        return 2
    print(HEADER)
    if args.smoke and not cuda:
        result = run_smoke(args)
        slug = "cpu-interpreter-smoke"
    else:
        if args.smoke:  # a quick GPU check of the full path
            args.tokens, args.dims = [65_536], [144]
        result = run_gpu(args)
        slug = device_slug(result["device"]) + ("" if args.dtype == "fp32" else f"-{args.dtype}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"kernel_bench_{slug}.json"
    json_path.write_text(json.dumps(result, indent=2))
    png_path = out / f"kernel_bench_{slug}.png"
    plot(result, png_path)
    bw = result.get("peak_bandwidth_Bps")
    print(f"device: {result['device']}"
          + (f", peak {bw / 1e12:.2f} TB/s ({result['peak_bandwidth_source']})" if bw else ""))
    print(f"wrote {json_path} and {png_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
