"""The MuFuse kernels compiled ahead of time for sm_80 and sm_90, without a GPU.

Each variant is compiled by Triton's own compiler (``triton.compile`` with a ``GPUTarget``)
from exactly the launch the launcher would make: ``medfuse_sk.kernels.aot`` builds it with the
launchers' ``_forward_launch`` / ``_backward_launch`` (so with ``launch_config``'s tiles,
warps and stages) and specialises the arguments as Triton's runtime does. The test fails if a
kernel does not compile, or if ``cuobjdump -res-usage`` reports local memory (STACK > 0: the
registers spilled, or a local array) or ``ptxas -v`` reports spill stores or loads, or more
than 255 registers are used.

The compile runs in a child process: this test process may already hold ``triton`` in
interpreter mode (``tests/test_kernels.py`` sets ``TRITON_INTERPRET=1``), and Triton picks
interpreter or compiler when it is imported.

One representative variant runs by default (sm_90, fp32, d_f = 144, both kernels; about 10 s
of compiling on a 2-core CPU); the full matrix (sm_80 and sm_90 × fp32, bf16, fp16 ×
d_f ∈ {64, 144}, plus the other gate, activation, k, h and no-time paths) is marked
``compile_matrix``: ``pytest tests/test_kernels_compile.py -m compile_matrix``.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import subprocess
import sys

import pytest

if importlib.util.find_spec("triton") is None:  # not imported here: see the module docstring
    pytest.skip("needs the triton package", allow_module_level=True)

ARCHS = (80, 90)
DTYPES = ("fp32", "bf16", "fp16")
WIDTHS = (64, 144)
DEFAULT = (90, "fp32", 144)
MAX_REGISTERS = 255  # per thread on sm_80 and sm_90


@functools.cache
def compile_variant(arch: int, dtype: str, d_f: int, extra: tuple[str, ...] = ()) -> dict:
    """Compile forward and backward in a fresh interpreter-free process; rows by kernel."""
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env.setdefault("TRITON_DEFAULT_FP_FUSION", "1")  # Triton 3.9's default, without its warning
    cmd = [sys.executable, "-m", "medfuse_sk.kernels.aot", "--arch", str(arch), "--dtype", dtype,
           "--d-f", str(d_f), "--kernel", "fwd", "bwd", *extra]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (
        f"compiling for sm_{arch} {dtype} d_f={d_f} {' '.join(extra)} failed:\n{proc.stderr[-4000:]}")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return {row["kernel"]: row for row in rows}


def assert_no_spill(row: dict) -> None:
    what = (f"{row['kernel']} sm_{row['arch']} {row['dtype']} d_f={row['d_f']} "
            f"config {row['config']}: REG {row['reg']} STACK {row['stack']}, ptxas spill "
            f"stores {row['spill_stores']} B, loads {row['spill_loads']} B")
    print(f"{what}, compiled in {row['seconds']} s")
    assert row["config"].get("BLOCK_N") and row["config"].get("BLOCK_D"), what
    assert row["spill_stores"] == 0 and row["spill_loads"] == 0, f"spills registers: {what}"
    assert row["stack"] == 0, f"uses local memory: {what}"
    assert 0 < row["reg"] <= MAX_REGISTERS, what


@pytest.mark.parametrize("kernel", ["fwd", "bwd"])
def test_default_variant_compiles_without_spilling(kernel):
    row = compile_variant(*DEFAULT)[kernel]
    assert_no_spill(row)


MATRIX = [(a, dt, w) for a in ARCHS for dt in DTYPES for w in WIDTHS if (a, dt, w) != DEFAULT]


@pytest.mark.compile_matrix
@pytest.mark.parametrize("kernel", ["fwd", "bwd"])
@pytest.mark.parametrize("arch,dtype,d_f", MATRIX, ids=[f"sm{a}-{dt}-d{w}" for a, dt, w in MATRIX])
def test_matrix_compiles_without_spilling(arch, dtype, d_f, kernel):
    row = compile_variant(arch, dtype, d_f)[kernel]
    assert_no_spill(row)


PATHS = {  # the other code paths of the kernels, at the paper's width on sm_90
    "gate-none": ("--gate", "none"),
    "relu-no-time": ("--activation", "relu", "--no-time"),
    "k4": ("--k", "4"),
    "h32": ("--h", "32"),
}


@pytest.mark.compile_matrix
@pytest.mark.parametrize("kernel", ["fwd", "bwd"])
@pytest.mark.parametrize("path", list(PATHS))
def test_other_paths_compile_without_spilling(path, kernel):
    row = compile_variant(90, "fp32", 144, PATHS[path])[kernel]
    assert_no_spill(row)
