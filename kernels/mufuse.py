"""MuFuse numerical-token embedding as one fused Triton op (forward and backward).

Per token ``n`` with feature ``f``, value ``x`` and time ``t`` (notation of ``SPEC.md``)::

    hidden = act(x * w1 + b1)                       (h,)    act: tanh | relu
    u      = hidden @ w2.T + b2                     (d_v,)
    v      = alpha[f] * u + beta[f]                 (d_v,)
    g      = sigmoid(v)          (gate="sigmoid")   or  g = v  (gate="none")
    z[j]   = table[f, j] * g[j // k] + PE(t)[j]     (d_f,)  k = d_f / d_v

``PE(t)[2i] = sin(t * w_i)``, ``PE(t)[2i + 1] = cos(t * w_i)``, ``w_i = 10000^(-2i / d_f)``.

Layout of the work
------------------
Both kernels tile *tokens × output columns*: a program owns ``BLOCK_N`` tokens and
``BLOCK_D`` consecutive columns of ``d_f`` (masked when ``d_f`` is not a multiple, e.g. 144).
For output column ``j`` the gate index is ``c = j // k``; the program gathers the rows
``w2[c]``, ``b2[c]``, ``alpha[f, c]``, ``beta[f, c]`` *per column*, so the gate broadcast
(``repeat_interleave``) costs nothing and any integer ``k`` (1 … d_f) is the same code.
``u`` is recomputed per column from the tiny projector (``h`` multiply-adds per output
element, done as a ``tl.dot`` of the ``(BLOCK_N, h)`` hidden tile with the gathered
``(h, BLOCK_D)`` slice of ``w2``); the output is written exactly once.

Backward
--------
Only the inputs are saved. The backward kernel recomputes ``hidden``, ``u``, ``v``, ``g``
per tile and forms::

    d_table[f, j]   += dz * g                        (per-feature rows)
    dv               = dz * e * g * (1 - g)   (sigmoid)  |  dz * e   (none)
    d_alpha[f, c]   += dv * u ;  d_beta[f, c] += dv  (per-feature rows)
    du               = dv * alpha[f, c]
    d_b2[c] += du ; d_w2[c, :] += du * hidden ;  dhidden = du @ w2g
    dpre = dhidden * act'(pre) ;  d_w1 += dpre * x ;  d_b1 += dpre

*Per-feature rows* (table, alpha, beta) are scatter-added with fp32 ``atomic_add``. To keep
atomic traffic low, the launcher first sorts the tokens by feature id (``torch.sort``; the
kernel reads tokens through the permutation): a tile whose tokens all share one feature
(the common case once sorted) is reduced in registers and adds one row per column; a tile
that straddles features falls back to one atomic per element (always correct, sorted or
not). Atomic order is not fixed, so these gradients are not bit-reproducible run to run.

*Shared weights* (w1, b1, w2, b2) are reduced over all tokens: the backward grid is
persistent (each program walks a strided list of token tiles), accumulates its partial sums
in registers and writes one partial per program; the launcher sums the partials with torch
and folds the ``k`` columns of each gate into ``d_w2`` / ``d_b2``. ``dhidden`` is linear in
the columns, so column tiles add up exactly.

Everything is accumulated in fp32; the output has the table's dtype and each gradient its
parameter's dtype. Gradients of ``feature_ids``, ``values`` and ``times`` are ``None``.

Launch
------
``launch_config`` picks tiles, warps and stages from ``d_f`` and ``h``, chosen so that neither
kernel spills registers on sm_80 or sm_90 in fp32, bf16 or fp16 (``medfuse_sk.kernels.aot``
compiles them ahead of time without a GPU; ``tests/test_kernels_compile.py`` checks it).
Launches run under the tensors' CUDA device (Triton launches on the current one); the
frequency vector and the SM count are cached per device.

This module imports only ``torch`` and ``triton``.
"""

from __future__ import annotations

import contextlib
import functools
import math

import torch
import triton
import triton.language as tl

__all__ = ["MuFuseFunction", "mufuse_forward", "mufuse_backward", "mufuse_embedding"]

GATES = ("sigmoid", "none")
ACTIVATIONS = ("tanh", "relu")
_TIME_BASE = 10000.0


# --------------------------------------------------------------------------- kernels
@triton.jit
def _tanh(x):
    # tanh without libdevice: sign(x) * (1 - e) / (1 + e), e = exp(-2|x|) (no overflow).
    e = tl.exp(-2.0 * tl.abs(x))
    t = (1.0 - e) / (1.0 + e)
    return tl.where(x < 0, -t, t)


@triton.jit
def _hidden(x, w1, b1, ACT_TANH: tl.constexpr):
    """(BLOCK_N,) values, (BLOCK_H,) weights -> pre-activation and activation (BLOCK_N, BLOCK_H)."""
    pre = x[:, None] * w1[None, :] + b1[None, :]
    if ACT_TANH:
        hid = _tanh(pre)
    else:
        hid = tl.maximum(pre, 0.0)
    return pre, hid


@triton.jit
def _gates(alpha_ptr, beta_ptr, f, gate, u, mask, DV, GATE_SIGMOID: tl.constexpr):
    """The per-feature affine of the projected values and the gate function:
    the ``(BLOCK_N, BLOCK_D)`` offsets into ``alpha``/``beta``, ``alpha[f]`` and the gates."""
    pg = f[:, None] * DV + gate[None, :]
    a = tl.load(alpha_ptr + pg, mask=mask, other=0.0).to(tl.float32)
    b = tl.load(beta_ptr + pg, mask=mask, other=0.0).to(tl.float32)
    v = a * u + b
    if GATE_SIGMOID:
        g = tl.sigmoid(v)
    else:
        g = v
    return pg, a, g


@triton.jit
def _mufuse_fwd_kernel(
    ids_ptr, val_ptr, time_ptr, table_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
    alpha_ptr, beta_ptr, omega_ptr, out_ptr,
    N, D, DV, K,
    H: tl.constexpr,
    HAS_TIME: tl.constexpr, GATE_SIGMOID: tl.constexpr, ACT_TANH: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_d = tl.program_id(1)
    tok = pid_n * BLOCK_N + tl.arange(0, BLOCK_N)
    col = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    mask_n = tok < N
    mask_d = col < D
    mask = mask_n[:, None] & mask_d[None, :]
    gate = col // K  # gate index of each output column

    f = tl.load(ids_ptr + tok, mask=mask_n, other=0).to(tl.int64)
    x = tl.load(val_ptr + tok, mask=mask_n, other=0.0).to(tl.float32)
    # u[n, j] = b2[j // K] + sum_h act(x[n] w1[h] + b1[h]) w2[j // K, h]: h rank-1 updates
    # (an fp32 tl.dot here costs ~2x the registers for no gain: h is tiny). A loop, not
    # tl.static_range: unrolled, the compiler keeps all h hidden columns and w2 slices live
    # (sm_90 fp32, 32 x 64 tile: 239 registers unrolled, 147 as a loop).
    u = tl.zeros((BLOCK_N, BLOCK_D), dtype=tl.float32)
    u += tl.load(b2_ptr + gate, mask=mask_d, other=0.0).to(tl.float32)[None, :]
    for j in tl.range(0, H):
        pre_j = x * tl.load(w1_ptr + j).to(tl.float32) + tl.load(b1_ptr + j).to(tl.float32)
        if ACT_TANH:
            hid_j = _tanh(pre_j)
        else:
            hid_j = tl.maximum(pre_j, 0.0)
        w2_j = tl.load(w2_ptr + gate * H + j, mask=mask_d, other=0.0).to(tl.float32)
        u += hid_j[:, None] * w2_j[None, :]

    pg, a, g = _gates(alpha_ptr, beta_ptr, f, gate, u, mask, DV, GATE_SIGMOID)
    e = tl.load(table_ptr + f[:, None] * D + col[None, :], mask=mask, other=0.0).to(tl.float32)
    z = e * g
    if HAS_TIME:
        t = tl.load(time_ptr + tok, mask=mask_n, other=0.0).to(tl.float32)
        omega = tl.load(omega_ptr + col, mask=mask_d, other=0.0)
        phase = t[:, None] * omega[None, :]
        even = (col % 2) == 0
        z += tl.where(even[None, :], tl.sin(phase), tl.cos(phase))
    out_offs = tok.to(tl.int64)[:, None] * D + col[None, :]
    tl.store(out_ptr + out_offs, z.to(out_ptr.dtype.element_ty), mask=mask)


@triton.jit
def _mufuse_bwd_kernel(
    order_ptr, ids_ptr, val_ptr, table_ptr, w1_ptr, b1_ptr, w2_ptr, b2_ptr,
    alpha_ptr, beta_ptr, dout_ptr,
    dtable_ptr, dalpha_ptr, dbeta_ptr,       # (F, D), (F, DV), (F, DV) fp32, atomics
    pw2_ptr, pb2_ptr, pw1_ptr, pb1_ptr,      # per-program partials, fp32
    N, D, DV, K, H, NUM_TILES, D_PAD,
    USE_ORDER: tl.constexpr, GATE_SIGMOID: tl.constexpr, ACT_TANH: tl.constexpr,
    BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_H: tl.constexpr,
):
    pid_n = tl.program_id(0)
    pid_d = tl.program_id(1)
    n_prog = tl.num_programs(0)
    n_col_tiles = tl.num_programs(1)
    col = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    hh = tl.arange(0, BLOCK_H)
    mask_d = col < D
    mask_h = hh < H
    gate = col // K

    w1 = tl.load(w1_ptr + hh, mask=mask_h, other=0.0).to(tl.float32)
    b1 = tl.load(b1_ptr + hh, mask=mask_h, other=0.0).to(tl.float32)
    w2g = tl.load(w2_ptr + gate[None, :] * H + hh[:, None],
                  mask=mask_h[:, None] & mask_d[None, :], other=0.0).to(tl.float32)
    b2g = tl.load(b2_ptr + gate, mask=mask_d, other=0.0).to(tl.float32)

    acc_w2 = tl.zeros((BLOCK_H, BLOCK_D), dtype=tl.float32)  # d_w2 by (hidden, column)
    acc_b2 = tl.zeros((BLOCK_D,), dtype=tl.float32)
    acc_w1 = tl.zeros((BLOCK_H,), dtype=tl.float32)
    acc_b1 = tl.zeros((BLOCK_H,), dtype=tl.float32)

    for tile in range(pid_n, NUM_TILES, n_prog):
        pos = tile * BLOCK_N + tl.arange(0, BLOCK_N)
        mask_n = pos < N
        if USE_ORDER:
            tok = tl.load(order_ptr + pos, mask=mask_n, other=0).to(tl.int64)
        else:
            tok = pos.to(tl.int64)
        mask = mask_n[:, None] & mask_d[None, :]
        f = tl.load(ids_ptr + tok, mask=mask_n, other=0).to(tl.int64)
        x = tl.load(val_ptr + tok, mask=mask_n, other=0.0).to(tl.float32)

        # recompute the forward
        pre, hid = _hidden(x, w1, b1, ACT_TANH)
        hid = tl.where(mask_h[None, :] & mask_n[:, None], hid, 0.0)
        u = tl.dot(hid, w2g, input_precision="ieee") + b2g[None, :]
        pg, a, g = _gates(alpha_ptr, beta_ptr, f, gate, u, mask, DV, GATE_SIGMOID)
        pe = f[:, None] * D + col[None, :]
        e = tl.load(table_ptr + pe, mask=mask, other=0.0).to(tl.float32)
        dz = tl.load(dout_ptr + tok[:, None] * D + col[None, :], mask=mask, other=0.0)
        dz = dz.to(tl.float32)

        de = dz * g
        dv = dz * e
        if GATE_SIGMOID:
            dv = dv * g * (1.0 - g)
        da = dv * u
        du = dv * a

        # per-feature rows: one atomic row when the tile holds one feature, else per element
        f_lo = tl.min(tl.where(mask_n, f, 9223372036854775807), axis=0)
        f_hi = tl.max(tl.where(mask_n, f, -1), axis=0)
        if f_lo == f_hi:
            row_t = dtable_ptr + f_lo * D
            row_p = f_lo * DV + gate
            tl.atomic_add(row_t + col, tl.sum(de, axis=0), mask=mask_d, sem="relaxed")
            tl.atomic_add(dalpha_ptr + row_p, tl.sum(da, axis=0), mask=mask_d, sem="relaxed")
            tl.atomic_add(dbeta_ptr + row_p, tl.sum(dv, axis=0), mask=mask_d, sem="relaxed")
        else:
            tl.atomic_add(dtable_ptr + pe, de, mask=mask, sem="relaxed")
            tl.atomic_add(dalpha_ptr + pg, da, mask=mask, sem="relaxed")
            tl.atomic_add(dbeta_ptr + pg, dv, mask=mask, sem="relaxed")

        # shared projector: partial sums over this program's tokens
        acc_b2 += tl.sum(du, axis=0)
        acc_w2 += tl.dot(tl.trans(hid), du, input_precision="ieee")
        dhid = tl.dot(du, tl.trans(w2g), input_precision="ieee")  # (BLOCK_N, BLOCK_H)
        if ACT_TANH:
            dpre = dhid * (1.0 - hid * hid)
        else:
            dpre = tl.where(pre > 0.0, dhid, 0.0)
        dpre = tl.where(mask_n[:, None] & mask_h[None, :], dpre, 0.0)
        acc_w1 += tl.sum(dpre * x[:, None], axis=0)
        acc_b1 += tl.sum(dpre, axis=0)

    # partials: pw2 (P, BLOCK_H, D_PAD), pb2 (P, D_PAD), pw1/pb1 (P, n_col_tiles, BLOCK_H)
    pcol = pid_d * BLOCK_D + tl.arange(0, BLOCK_D)
    tl.store(pw2_ptr + pid_n * BLOCK_H * D_PAD + hh[:, None] * D_PAD + pcol[None, :], acc_w2)
    tl.store(pb2_ptr + pid_n * D_PAD + pcol, acc_b2)
    slot = (pid_n * n_col_tiles + pid_d) * BLOCK_H + hh
    tl.store(pw1_ptr + slot, acc_w1)
    tl.store(pb1_ptr + slot, acc_b1)


# --------------------------------------------------------------------------- launchers
def _block_d(d_f: int, widest: int) -> int:
    """Widest power-of-two column tile (16..``widest``) that pads ``d_f`` by at most 1/8."""
    for p in (128, 64, 32):
        if p <= widest and triton.cdiv(d_f, p) * p * 8 <= d_f * 9:
            return p
    return 16


# Launch configuration, measured by compiling for sm_80 and sm_90 in fp32, bf16 and fp16
# (docs/kernel.md, ``python -m medfuse_sk.kernels.aot``); ``tests/test_kernels_compile.py``
# holds the launcher to it. Forward: 16 elements of the (tokens × columns) tile per thread at
# 4 warps (120-150 registers); 32 took 215 (half the resident warps), 64 spilled 652 bytes.
# Backward: 16 tokens (tl.dot's minimum) × at most 64 columns, the shared-weight accumulator
# BLOCK_H × BLOCK_D ≤ 1024 elements, one pipeline stage (the loop gathers through the feature
# sort; pipelining only holds the next tile's addresses): 140-215 registers; 128 × 32 spilled
# 628 bytes. ``maxnreg`` = 255, the hardware's limit, caps nothing: without it ptxas spilled
# 8-24 bytes in some variants at 72-168 registers, trading spills for occupancy.
_NUM_WARPS = 4
_FWD_PER_THREAD = 16
_BWD_BLOCK_N = 16
_BWD_STAGES = 1
_MAXNREG = 255
_BWD_ACC = 1024  # BLOCK_H × BLOCK_D: the d_w2 accumulator and the resident w2 slice


def launch_config(d_f: int, h: int, backward: bool) -> dict:
    """Tiles, warps and stages the launchers use for width ``d_f`` and projector width ``h``.

    The same rule holds for fp32, bf16 and fp16 (everything is computed in fp32 registers; the
    dtype changes only the loads and stores), so the dtype is not a key. No autotuning: the
    backward accumulates with atomics, which an autotuner's repeated trial launches would add
    up more than once.
    """
    block_h = max(16, triton.next_power_of_2(h))
    if backward:
        block_d = _block_d(d_f, widest=max(16, min(64, _BWD_ACC // block_h)))
        return {"BLOCK_N": _BWD_BLOCK_N, "BLOCK_D": block_d, "BLOCK_H": block_h,
                "num_warps": _NUM_WARPS, "num_stages": _BWD_STAGES, "maxnreg": _MAXNREG}
    block_d = _block_d(d_f, widest=128)
    block_n = max(16, _FWD_PER_THREAD * 32 * _NUM_WARPS // block_d)
    return {"BLOCK_N": block_n, "BLOCK_D": block_d, "num_warps": _NUM_WARPS, "maxnreg": _MAXNREG}


def _check(feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta, gate, activation):
    if gate not in GATES:
        raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
    if table.dim() != 2 or w2.dim() != 2:
        raise ValueError(f"table and w2 must be 2-D, got {tuple(table.shape)}, {tuple(w2.shape)}")
    n_feat, d_f = table.shape
    d_v, h = w2.shape
    if d_f % d_v:
        raise ValueError(f"d_f={d_f} is not a multiple of d_v={d_v}")
    n = feature_ids.shape[0]
    expect = {
        "feature_ids": (feature_ids, (n,)), "values": (values, (n,)),
        "w1": (w1, (h,)), "b1": (b1, (h,)), "b2": (b2, (d_v,)),
        "alpha": (alpha, (n_feat, d_v)), "beta": (beta, (n_feat, d_v)),
    }
    if times is not None:
        expect["times"] = (times, (n,))
    for name, (tensor, shape) in expect.items():
        if tuple(tensor.shape) != shape:
            raise ValueError(f"{name} must have shape {shape}, got {tuple(tensor.shape)}")
    if feature_ids.dtype.is_floating_point or feature_ids.dtype == torch.bool:
        raise TypeError(f"feature_ids must be an integer tensor, got {feature_ids.dtype}")
    devices = {t.device for t in (feature_ids, values, table, w1, b1, w2, b2, alpha, beta)}
    if times is not None:
        devices.add(times.device)
    if len(devices) != 1:
        raise ValueError(f"all tensors must be on one device, got {sorted(map(str, devices))}")
    if n:
        in_range = (feature_ids.min() >= 0) & (feature_ids.max() < n_feat)
        if feature_ids.is_cuda:
            torch._assert_async(in_range, "feature_ids out of range [0, F)")
        elif not bool(in_range):
            raise IndexError(f"feature_ids must lie in [0, {n_feat}), got "
                             f"[{int(feature_ids.min())}, {int(feature_ids.max())}]")


@functools.lru_cache(maxsize=64)
def _omega(d_f: int, device: torch.device) -> torch.Tensor:
    """Per-column frequency ``10000^(-2(j // 2) / d_f)`` (fp32), computed as the reference does
    (a GPU ``tl.exp`` is an approximation); made once per width and device, then reused."""
    i = torch.arange(d_f, device=device) // 2
    return torch.exp(i.to(torch.float32) * (-2.0 * math.log(_TIME_BASE) / d_f))


@functools.lru_cache(maxsize=16)
def _sm_count(device: torch.device) -> int:
    return torch.cuda.get_device_properties(device).multi_processor_count


def _on_device(device: torch.device):
    """Make ``device`` current for a launch: Triton launches on the current CUDA device and
    stream, so tensors on ``cuda:1`` would otherwise run on ``cuda:0``."""
    return torch.cuda.device(device) if device.type == "cuda" else contextlib.nullcontext()


def _forward_launch(feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta, out,
                    gate="sigmoid", activation="tanh", config: dict | None = None):
    """``(grid, args, kwargs)`` of the forward kernel's launch (no launch, no GPU needed)."""
    n, d_f = feature_ids.shape[0], table.shape[1]
    d_v, h = w2.shape
    cfg = dict(launch_config(d_f, h, backward=False), **(config or {}))
    cfg.pop("BLOCK_H", None)
    grid = (triton.cdiv(n, cfg["BLOCK_N"]), triton.cdiv(d_f, cfg["BLOCK_D"]))
    args = (feature_ids, values, times if times is not None else values, table,
            w1, b1, w2, b2, alpha, beta, _omega(d_f, table.device), out,
            n, d_f, d_v, d_f // d_v)
    kwargs = dict(H=h, HAS_TIME=times is not None, GATE_SIGMOID=gate == "sigmoid",
                  ACT_TANH=activation == "tanh", **cfg)
    return grid, args, kwargs


def mufuse_forward(feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta,
                   gate="sigmoid", activation="tanh", config: dict | None = None):
    """Launch the forward kernel. Returns the (N, d_f) tokens in ``table.dtype``."""
    n, d_f = feature_ids.shape[0], table.shape[1]
    out = torch.empty((n, d_f), dtype=table.dtype, device=table.device)
    if n == 0:
        return out
    grid, args, kwargs = _forward_launch(feature_ids, values, times, table, w1, b1, w2, b2,
                                         alpha, beta, out, gate, activation, config)
    with _on_device(table.device):
        _mufuse_fwd_kernel[grid](*args, **kwargs)
    return out


def _num_programs(num_tiles: int, n_col_tiles: int, device: torch.device) -> int:
    if device.type == "cuda":
        sms = _sm_count(device)
        return max(1, min(num_tiles, triton.cdiv(8 * sms, n_col_tiles)))
    return max(1, min(num_tiles, 4))  # interpreter: a few programs, each walking tiles


def _backward_launch(grad_out, feature_ids, values, table, w1, b1, w2, b2, alpha, beta,
                     gate="sigmoid", activation="tanh", sort_by_feature: bool = True,
                     config: dict | None = None):
    """``(grid, args, kwargs, buffers)`` of the backward kernel's launch (no launch, no GPU
    needed); ``buffers`` holds the fp32 gradient rows and per-program partials it fills."""
    n = feature_ids.shape[0]
    n_feat, d_f = table.shape
    d_v, h = w2.shape
    dev = table.device
    f32 = torch.float32
    cfg = dict(launch_config(d_f, h, backward=True), **(config or {}))
    block_n, block_d, block_h = cfg["BLOCK_N"], cfg["BLOCK_D"], cfg["BLOCK_H"]
    num_tiles = triton.cdiv(n, block_n)
    n_col_tiles = triton.cdiv(d_f, block_d)
    d_pad = n_col_tiles * block_d
    n_prog = _num_programs(num_tiles, n_col_tiles, dev)
    buffers = {
        "dtable": torch.zeros((n_feat, d_f), dtype=f32, device=dev),
        "dalpha": torch.zeros((n_feat, d_v), dtype=f32, device=dev),
        "dbeta": torch.zeros((n_feat, d_v), dtype=f32, device=dev),
        "pw2": torch.empty((n_prog, block_h, d_pad), dtype=f32, device=dev),
        "pb2": torch.empty((n_prog, d_pad), dtype=f32, device=dev),
        "pw1": torch.empty((n_prog, n_col_tiles, block_h), dtype=f32, device=dev),
        "pb1": torch.empty((n_prog, n_col_tiles, block_h), dtype=f32, device=dev),
    }
    order = torch.sort(feature_ids)[1] if sort_by_feature else feature_ids
    args = (order, feature_ids, values, table, w1, b1, w2, b2, alpha, beta, grad_out,
            *buffers.values(), n, d_f, d_v, d_f // d_v, h, num_tiles, d_pad)
    kwargs = dict(USE_ORDER=sort_by_feature, GATE_SIGMOID=gate == "sigmoid",
                  ACT_TANH=activation == "tanh", **cfg)
    return (n_prog, n_col_tiles), args, kwargs, buffers


def mufuse_backward(grad_out, feature_ids, values, table, w1, b1, w2, b2, alpha, beta,
                    gate="sigmoid", activation="tanh", sort_by_feature: bool = True,
                    config: dict | None = None):
    """Gradients ``(d_table, d_w1, d_b1, d_w2, d_b2, d_alpha, d_beta)``, each in its dtype."""
    n = feature_ids.shape[0]
    n_feat, d_f = table.shape
    d_v, h = w2.shape
    if n == 0:
        f32, dev = torch.float32, table.device
        zeros = [torch.zeros_like(p) for p in (w1, b1, w2, b2)]
        return (torch.zeros((n_feat, d_f), dtype=f32, device=dev).to(table.dtype), *zeros,
                torch.zeros_like(alpha), torch.zeros_like(beta))
    grid, args, kwargs, buf = _backward_launch(grad_out, feature_ids, values, table, w1, b1, w2,
                                               b2, alpha, beta, gate, activation,
                                               sort_by_feature, config)
    with _on_device(table.device):
        _mufuse_bwd_kernel[grid](*args, **kwargs)
    k = d_f // d_v
    dw2 = buf["pw2"].sum(0)[:h, :d_f].reshape(h, d_v, k).sum(-1).t()  # (d_v, h)
    db2 = buf["pb2"].sum(0)[:d_f].reshape(d_v, k).sum(-1)
    dw1 = buf["pw1"].sum((0, 1))[:h]
    db1 = buf["pb1"].sum((0, 1))[:h]
    return (buf["dtable"].to(table.dtype), dw1.to(w1.dtype), db1.to(b1.dtype), dw2.to(w2.dtype),
            db2.to(b2.dtype), buf["dalpha"].to(alpha.dtype), buf["dbeta"].to(beta.dtype))


# --------------------------------------------------------------------------- autograd
class MuFuseFunction(torch.autograd.Function):
    """Fused MuFuse tokens; the backward recomputes from the saved inputs only."""

    @staticmethod
    def forward(ctx, feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta,
                gate="sigmoid", activation="tanh"):
        out = mufuse_forward(feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta,
                             gate, activation)
        ctx.save_for_backward(feature_ids, values, table, w1, b1, w2, b2, alpha, beta)
        ctx.gate, ctx.activation = gate, activation
        return out

    @staticmethod
    def backward(ctx, grad_out):
        feature_ids, values, table, w1, b1, w2, b2, alpha, beta = ctx.saved_tensors
        grads = mufuse_backward(grad_out.contiguous(), feature_ids, values, table, w1, b1, w2,
                                b2, alpha, beta, ctx.gate, ctx.activation)
        grads = [g if need else None for g, need in zip(grads, ctx.needs_input_grad[3:10],
                                                          strict=True)]
        return (None, None, None, *grads, None, None)


def mufuse_embedding(
    feature_ids: torch.Tensor,
    values: torch.Tensor,
    times: torch.Tensor | None,
    table: torch.Tensor,
    w1: torch.Tensor,
    b1: torch.Tensor,
    w2: torch.Tensor,
    b2: torch.Tensor,
    alpha: torch.Tensor,
    beta: torch.Tensor,
    gate: str = "sigmoid",
    activation: str = "tanh",
) -> torch.Tensor:
    """Numerical MuFuse tokens, fused Triton kernel; same signature and semantics as
    ``medfuse_sk.models.medfuse.mufuse_reference``.

    Shapes: ``feature_ids`` (N,) int, ``values`` (N,), ``times`` (N,) or None,
    ``table`` (F, d_f), ``w1``/``b1`` (h,), ``w2`` (d_v, h), ``b2`` (d_v,),
    ``alpha``/``beta`` (F, d_v). Returns (N, d_f) in ``table.dtype`` (fp32 accumulation).
    Differentiable in ``table, w1, b1, w2, b2, alpha, beta``; ids, values, times are data.
    """
    _check(feature_ids, values, times, table, w1, b1, w2, b2, alpha, beta, gate, activation)
    args = [t.contiguous() for t in (feature_ids, values)]
    args.append(times.contiguous() if times is not None else None)
    args += [t.contiguous() for t in (table, w1, b1, w2, b2, alpha, beta)]
    return MuFuseFunction.apply(*args, gate, activation)
