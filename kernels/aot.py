"""Compile the MuFuse kernels ahead of time for an NVIDIA GPU that is not here.

The launch is built by the launchers' own ``_forward_launch`` / ``_backward_launch`` on small
CPU tensors of the requested dtype, so the tiles, warps and stages are exactly those a real call
would pick; the arguments are then specialised the way Triton's runtime specialises them (its
binder: dtypes, 16-byte alignment, integers equal to 1 or divisible by 16) and handed to
``triton.compile`` with a ``GPUTarget`` (``sm_80``, ``sm_90``, …). No GPU and no CUDA driver are
used. ``cuobjdump -res-usage`` (bundled with Triton) reads the registers and the stack (local
memory: spilled registers, or a local array such as the slow path of ``sin``) per thread
from the cubin; ``ptxas -v``, which Triton runs, tells the spill stores and loads apart.

Command line (run it *without* ``TRITON_INTERPRET=1``; the JSON goes to stdout)::

    python -m medfuse_sk.kernels.aot --arch 90 --dtype fp32 --d-f 144 --kernel fwd bwd

Uses Triton's runtime internals (``create_function_from_signature``, ``_pack_args``), written
against Triton 3.9.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
KERNELS = ("fwd", "bwd")


def _example(d_f: int, k: int, h: int, n: int, n_feat: int, dtype: torch.dtype, times: bool):
    """CPU tensors shaped and typed as a real call's (contents do not matter)."""
    d_v = d_f // k
    params = [torch.zeros(n_feat, d_f, dtype=dtype), torch.zeros(h, dtype=dtype),
              torch.zeros(h, dtype=dtype), torch.zeros(d_v, h, dtype=dtype),
              torch.zeros(d_v, dtype=dtype), torch.zeros(n_feat, d_v, dtype=dtype),
              torch.zeros(n_feat, d_v, dtype=dtype)]
    ids = torch.arange(n, dtype=torch.int64) % n_feat
    values = torch.zeros(n, dtype=dtype)
    t = torch.zeros(n, dtype=dtype) if times else None
    return ids, values, t, params


def launch(kernel: str, d_f: int, dtype: torch.dtype, k: int = 1, h: int = 16,
           n: int = 100_000, n_feat: int = 42, gate: str = "sigmoid", activation: str = "tanh",
           times: bool = True, config: dict | None = None):
    """``(jit_function, args, kwargs)`` that the launcher would use for this call."""
    from . import mufuse

    ids, values, t, params = _example(d_f, k, h, n, n_feat, dtype, times)
    if kernel == "fwd":
        out = torch.empty((n, d_f), dtype=dtype)
        _, args, kwargs = mufuse._forward_launch(ids, values, t, *params, out, gate, activation,
                                                 config)
        return mufuse._mufuse_fwd_kernel, args, kwargs
    if kernel == "bwd":
        grad_out = torch.zeros((n, d_f), dtype=dtype)
        _, args, kwargs, _ = mufuse._backward_launch(grad_out, ids, values, *params, gate,
                                                     activation, True, config)
        return mufuse._mufuse_bwd_kernel, args, kwargs
    raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")


def compile_for(fn, args, kwargs, arch: int, warp_size: int = 32):
    """Specialise ``args``/``kwargs`` as Triton's runtime does and compile for ``sm_<arch>``."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource, make_backend
    from triton.runtime.jit import JITFunction, create_function_from_signature

    if not isinstance(fn, JITFunction):
        raise RuntimeError(
            f"{getattr(fn, '__name__', fn)} is not a compiled-mode Triton kernel (was "
            "TRITON_INTERPRET=1 set when triton was imported?); run in a fresh process without it")
    target = GPUTarget("cuda", arch, warp_size)
    backend = make_backend(target)
    binder = create_function_from_signature(fn.signature, fn.params, backend)
    bound, specialization, _ = binder(*args, **kwargs)
    options, signature, constexprs, attrs = fn._pack_args(backend, kwargs, bound, specialization,
                                                          None)
    src = ASTSource(fn, signature, constexprs, attrs)
    return triton.compile(src, target=target, options=options.__dict__)


def cuobjdump() -> Path:
    import triton

    return Path(triton.__file__).parent / "backends" / "nvidia" / "bin" / "cuobjdump"


def resources(cubin: bytes) -> dict:
    """``{"reg": registers per thread, "stack": local-memory bytes per thread}`` of a cubin."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "kernel.cubin"
        path.write_bytes(cubin)
        text = subprocess.run([str(cuobjdump()), "-res-usage", str(path)], check=True,
                              capture_output=True, text=True).stdout
    found = re.search(r"REG:(\d+)\s+STACK:(\d+)", text)
    if not found:
        raise RuntimeError(f"cuobjdump -res-usage printed no REG/STACK line:\n{text}")
    return {"reg": int(found.group(1)), "stack": int(found.group(2))}


def check(kernel: str, arch: int, dtype_name: str, d_f: int, *, force: bool = True,
          **launch_kw) -> dict:
    """Compile one variant; its launch configuration, registers, stack and compile seconds."""
    from triton import knobs

    fn, args, kwargs = launch(kernel, d_f, DTYPES[dtype_name], **launch_kw)
    previous = knobs.compilation.always_compile, knobs.nvidia.dump_ptxas_log
    knobs.compilation.always_compile = force  # a cache hit would time nothing
    knobs.nvidia.dump_ptxas_log = True  # ptxas -v: spill stores and loads, apart from the stack
    log = io.StringIO()
    try:
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(log):
            compiled = compile_for(fn, args, kwargs, arch)
        seconds = time.perf_counter() - t0
    finally:
        knobs.compilation.always_compile, knobs.nvidia.dump_ptxas_log = previous
    spills = re.search(r"(\d+) bytes spill stores, (\d+) bytes spill loads", log.getvalue())
    if force and not spills:
        raise RuntimeError(f"no ptxas -v report in the compile log:\n{log.getvalue()}")
    config = {key: kwargs[key] for key in ("BLOCK_N", "BLOCK_D", "BLOCK_H", "num_warps",
                                           "num_stages", "maxnreg") if key in kwargs}
    return {"kernel": kernel, "arch": arch, "dtype": dtype_name, "d_f": d_f,
            **{key: launch_kw[key] for key in sorted(launch_kw)}, "config": config,
            **resources(compiled.asm["cubin"]),
            "spill_stores": int(spills.group(1)) if spills else None,
            "spill_loads": int(spills.group(2)) if spills else None, "seconds": round(seconds, 2)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--arch", type=int, nargs="+", default=[90], help="compute capability, e.g. 80 90")
    p.add_argument("--dtype", nargs="+", choices=list(DTYPES), default=["fp32"])
    p.add_argument("--d-f", type=int, nargs="+", default=[144])
    p.add_argument("--k", type=int, default=1, help="partition factor (d_v = d_f / k)")
    p.add_argument("--kernel", nargs="+", choices=KERNELS, default=list(KERNELS))
    p.add_argument("--h", type=int, default=16, help="projector hidden width")
    p.add_argument("--no-time", action="store_true", help="no time encoding")
    p.add_argument("--gate", choices=("sigmoid", "none"), default="sigmoid")
    p.add_argument("--activation", choices=("tanh", "relu"), default="tanh")
    p.add_argument("--config", type=json.loads, default=None,
                   help='override the launcher\'s choice, e.g. \'{"BLOCK_N": 64}\'')
    args = p.parse_args(argv)
    if os.environ.get("TRITON_INTERPRET") == "1":
        print("unset TRITON_INTERPRET: this compiles for a GPU", file=sys.stderr)
        return 2
    for arch in args.arch:
        for dtype in args.dtype:
            for d_f in args.d_f:
                for kernel in args.kernel:
                    row = check(kernel, arch, dtype, d_f, k=args.k, h=args.h,
                                times=not args.no_time, gate=args.gate,
                                activation=args.activation, config=args.config)
                    print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
