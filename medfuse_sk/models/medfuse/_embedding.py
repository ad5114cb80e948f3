"""Token embeddings: MuFuse and the paper's fusion variants (the PyTorch reference math).

Notation follows ``SPEC.md``: feature table ``E`` (F × d_f), shared value projector
``φ(x) = W₂·act(W₁·x + b₁) + b₂`` (1 → h → d_v), per-feature affine ``α, β`` (F × d_v),
gate ``g = sigmoid(α[f] ⊙ φ(x) + β[f])`` broadcast over ``k = d_f / d_v`` contiguous
blocks, ``z = E[f] ⊙ repeat_interleave(g, k)``, then ``token = z + PE(t)``.

:func:`mufuse_reference` is the one PyTorch statement of the numerical MuFuse token; the
Triton kernel (``medfuse_sk.kernels``) computes the same thing in one pass and is tested
against it. :class:`MuFuseEmbedding` picks between them with its ``kernel`` switch.
"""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from ...utils import install_hint
from ._params import ACTIVATIONS, DEFAULTS, GATES, KERNELS, check_fusion

__all__ = ["time_encoding", "mufuse_reference", "MuFuseEmbedding", "resolve_kernel"]

_TIME_BASE = 10000.0


def time_encoding(times: torch.Tensor, dim: int) -> torch.Tensor:
    """Interleaved sinusoid of real-valued times: ``PE[2i] = sin(t·ω_i)``, ``PE[2i+1] = cos``.

    ``ω_i = 10000^(-2i/dim)``. Returns shape ``times.shape + (dim,)`` in ``times``' dtype.
    """
    dtype = torch.promote_types(times.dtype, torch.float32)  # fp32 at least, fp64 if given
    i = torch.arange(dim, device=times.device) // 2
    omega = torch.exp(i.to(dtype) * (-2.0 * math.log(_TIME_BASE) / dim))
    phase = times.to(dtype).unsqueeze(-1) * omega
    even = (torch.arange(dim, device=times.device) % 2) == 0
    return torch.where(even, torch.sin(phase), torch.cos(phase)).to(times.dtype)


def _activate(x: torch.Tensor, activation: str) -> torch.Tensor:
    return torch.tanh(x) if activation == "tanh" else torch.relu(x)


def mufuse_reference(
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
    """Numerical MuFuse tokens, eager PyTorch. Shapes: N tokens, F features, h hidden.

    Parameters
    ----------
    feature_ids : (N,) int
    values : (N,) float, already scaled
    times : (N,) float or None (no time encoding)
    table : (F, d_f) feature embeddings ``E``
    w1, b1 : (h,) first projector layer (``Linear(1, h)`` weight flattened, bias)
    w2, b2 : (d_v, h), (d_v,) second projector layer
    alpha, beta : (F, d_v) per-feature affine
    gate : "sigmoid" (the paper) or "none" (the authors' released code: raw affine gates)
    activation : "tanh" or "relu", the projector's non-linearity

    Returns
    -------
    (N, d_f) tensor: ``E[f] ⊙ repeat_interleave(gate(α[f]⊙φ(x)+β[f]), d_f/d_v) + PE(t)``
    """
    d_f, d_v = table.shape[1], w2.shape[0]
    if d_f % d_v:
        raise ValueError(f"d_f={d_f} is not a multiple of d_v={d_v}")
    hidden = _activate(values.unsqueeze(-1) * w1 + b1, activation)  # (N, h)
    u = hidden @ w2.t() + b2  # (N, d_v)
    v = alpha[feature_ids] * u + beta[feature_ids]
    g = torch.sigmoid(v) if gate == "sigmoid" else v
    z = table[feature_ids] * g.repeat_interleave(d_f // d_v, dim=-1)
    if times is not None:
        z = z + time_encoding(times, d_f).to(z.dtype)
    return z


def resolve_kernel(kernel: str, device: torch.device | str) -> str:
    """``"torch"`` or ``"triton"`` for a requested ``kernel`` on ``device``.

    ``"auto"`` picks Triton for CUDA tensors when ``triton`` is installed (CUDA builds of
    torch bring it) and the reference elsewhere; off-GPU it never imports ``triton``.
    ``"triton"`` without the package is an ``ImportError`` saying how to install it; off-GPU
    it runs only in Triton's interpreter (``TRITON_INTERPRET=1``), otherwise it is an error
    saying so.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    on_cuda = torch.device(device).type == "cuda"
    if kernel == "torch":
        return "torch"
    if kernel == "auto":
        return "triton" if (on_cuda and _triton_available()) else "torch"
    if not _triton_available():
        raise ImportError(f"kernel='triton' needs the triton package, which is not installed: "
                          f"{install_hint('gpu')}, or install a CUDA build of torch, which "
                          "brings it; kernel='auto' runs without it")
    if not on_cuda and os.environ.get("TRITON_INTERPRET") != "1":
        raise RuntimeError(
            f"kernel='triton' needs CUDA tensors (got device {torch.device(device)}); on CPU set "
            "TRITON_INTERPRET=1 before importing triton to run it in Triton's interpreter, "
            "or use kernel='torch'/'auto'"
        )
    return "triton"


def _triton_available() -> bool:
    try:
        import triton  # noqa: F401
    except ImportError:
        return False
    return True


def _value_projector(hidden: int, out: int, activation: str) -> nn.Sequential:
    act = nn.Tanh() if activation == "tanh" else nn.ReLU()
    return nn.Sequential(nn.Linear(1, hidden), act, nn.Linear(hidden, out))


class MuFuseEmbedding(nn.Module):
    """Embed tokens ``(feature id, value, class id, time)`` into ``d_model`` vectors.

    Defaults are the estimator's (:data:`medfuse_sk.models.DEFAULTS`: raw gates from
    ``beta_init=1``, ``k = 1``); SPEC's equations are ``gate="sigmoid", beta_init=0.0``.

    Parameters
    ----------
    n_features : int
        Vocabulary size (feature ids ``0 .. n_features-1``).
    n_categories : int
        Class vocabulary size for categorical tokens (0 disables them).
    d_model : int
        ``d_f``, the token width.
    partition_factor : int
        ``k``: each value gate scales a block of ``k`` feature-embedding entries;
        ``d_v = d_model / k``. Ignored when ``value_dim`` is given.
    value_dim : int, optional
        ``d_v`` directly; ``d_model`` must be a multiple of it.
    fusion : {"mufuse", "add", "concat", "scane"}
        How a numerical value meets its feature embedding (``SPEC.md``, fusion variants).
    gate : {"sigmoid", "none"}
        MuFuse's gate function: the paper's sigmoid, or the raw affine output as in the
        authors' released code.
    value_hidden : int
        Hidden width ``h`` of the value projector.
    activation : {"tanh", "relu"}
    time_encoding : bool
        Add the sinusoidal encoding of the token's time.
    kernel : {"auto", "torch", "triton"}
        Implementation of the numerical MuFuse path (see :func:`resolve_kernel`).
    projector_gain : float
        Multiplies the initial weights of the projector's output layer. With PyTorch's
        default init, ``φ(x)`` varies by about ±0.3, so sigmoid gates start near 0.5 and
        hardly depend on the value; a gain of 3–4 lets them span about 0.2–0.8 from the start.
    beta_init : float
        Initial value of the per-feature shift ``β`` (SPEC: 0). With ``gate="none"``,
        ``beta_init=1`` starts every gate at about 1, so a token starts as its feature
        embedding and the value modulates it (``z = e + e ⊙ (αφ(x))``); with 0 the token
        starts as ``e ⊙ φ(x)``, a small value-scaled copy.
    """

    def __init__(
        self,
        n_features: int,
        n_categories: int,
        d_model: int,
        partition_factor: int = DEFAULTS["partition_factor"],
        value_dim: int | None = None,
        fusion: str = DEFAULTS["fusion"],
        gate: str = DEFAULTS["gate"],
        value_hidden: int = DEFAULTS["value_hidden"],
        activation: str = DEFAULTS["activation"],
        time_encoding: bool = DEFAULTS["time_encoding"],
        kernel: str = DEFAULTS["kernel"],
        projector_gain: float = DEFAULTS["projector_gain"],
        beta_init: float = DEFAULTS["beta_init"],
    ) -> None:
        super().__init__()
        check_fusion(fusion, several=False)
        if gate not in GATES:
            raise ValueError(f"gate must be one of {GATES}, got {gate!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if value_dim is None:
            if int(partition_factor) != partition_factor or partition_factor < 1:
                raise ValueError(
                    f"partition_factor must be a positive integer, got {partition_factor!r}")
            if d_model % partition_factor:
                raise ValueError(
                    f"d_model={d_model} is not a multiple of partition_factor={partition_factor}:"
                    " each of the d_v gates must scale a whole block of k = d_model / d_v entries")
            value_dim = d_model // int(partition_factor)
        elif value_dim < 1 or d_model % value_dim:
            raise ValueError(
                f"d_model={d_model} (d_f) is not a multiple of value_dim={value_dim} (d_v): "
                "the partition factor k = d_f / d_v must be a positive integer")
        if kernel not in KERNELS:
            raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
        self.d_model = d_model
        self.value_dim = value_dim
        self.partition_factor = d_model // value_dim
        self.fusion, self.gate, self.activation = fusion, gate, activation
        self.use_time = time_encoding
        self.kernel = kernel

        self.feature_table = nn.Embedding(n_features, d_model)
        if fusion == "mufuse":
            self.projector = _value_projector(value_hidden, value_dim, activation)
            self.alpha = nn.Parameter(torch.ones(n_features, value_dim))
            self.beta = nn.Parameter(torch.full((n_features, value_dim), float(beta_init)))
        elif fusion == "add":
            self.projector = _value_projector(value_hidden, d_model, activation)
        elif fusion == "concat":
            self.projector = _value_projector(value_hidden, value_dim, activation)
            self.concat_proj = nn.Linear(d_model + value_dim, d_model)
        if fusion != "scane" and projector_gain != 1.0:
            with torch.no_grad():
                self.projector[2].weight.mul_(projector_gain)
        self.n_categories = n_categories
        if n_categories > 0:
            self.class_table = nn.Embedding(n_categories, d_model)
            self.class_proj = nn.Linear(2 * d_model, d_model)

    def extra_repr(self) -> str:
        return (f"fusion={self.fusion}, d_f={self.d_model}, d_v={self.value_dim}, "
                f"k={self.partition_factor}, gate={self.gate}, kernel={self.kernel}")

    # -- numerical tokens ----------------------------------------------------------------
    def _numeric(self, f: torch.Tensor, x: torch.Tensor, t: torch.Tensor | None) -> torch.Tensor:
        e = self.feature_table.weight
        if self.fusion == "mufuse":
            lin1, lin2 = self.projector[0], self.projector[2]
            args = (f, x, t, e, lin1.weight.reshape(-1), lin1.bias, lin2.weight, lin2.bias,
                    self.alpha, self.beta, self.gate, self.activation)
            if resolve_kernel(self.kernel, x.device) == "triton":
                from ...kernels import mufuse_embedding
                return mufuse_embedding(*args)
            return mufuse_reference(*args)
        if self.fusion == "add":
            z = e[f] + self.projector(x.unsqueeze(-1))
        elif self.fusion == "concat":
            z = self.concat_proj(torch.cat([e[f], self.projector(x.unsqueeze(-1))], dim=-1))
        else:  # scane
            z = x.unsqueeze(-1) * e[f]
        return z if t is None else z + time_encoding(t, self.d_model).to(z.dtype)

    def value_tokens(self, feature: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        """Embeddings of numerical tokens ``(feature, value)`` without their time encoding:
        what the fusion makes of a value (1-D inputs → ``(n, d_model)``)."""
        return self._numeric(feature.reshape(-1).long(), value.reshape(-1), None)

    def forward(
        self,
        feature: torch.Tensor,
        value: torch.Tensor,
        time: torch.Tensor,
        category: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Tokens of any leading shape ``S`` → embeddings of shape ``S + (d_model,)``.

        ``category`` holds class ids for categorical tokens and -1 for numerical ones;
        ``mask`` (True = observed), when given, leaves padding out: its rows are zeros.
        Only numerical observed tokens enter the numerical path (the fused kernel).
        """
        shape = feature.shape
        f, x = feature.reshape(-1).long(), value.reshape(-1)
        t = time.reshape(-1).to(x.dtype) if self.use_time else None
        observed = None if mask is None else mask.reshape(-1).bool()
        is_cat = None
        if category is not None and self.n_categories > 0:
            is_cat = category.reshape(-1) >= 0
            is_cat = is_cat if observed is None else is_cat & observed
        numeric = observed  # rows for the numerical path; None: all of them
        if is_cat is not None:
            numeric = ~is_cat if observed is None else observed & ~is_cat
        if numeric is None:
            z = self._numeric(f, x, t)
        else:
            rows = torch.nonzero(numeric).squeeze(1)
            z_num = self._numeric(f[rows], x[rows], None if t is None else t[rows])
            z = z_num.new_zeros((f.shape[0], self.d_model)).index_put_((rows,), z_num)
        if is_cat is not None:
            c = category.reshape(-1)
            rows = torch.nonzero(is_cat).squeeze(1)
            if rows.numel():
                pair = torch.cat([self.feature_table(f[rows]), self.class_table(c[rows].long())], -1)
                z_cat = self.class_proj(pair)
                if t is not None:
                    z_cat = z_cat + time_encoding(t[rows], self.d_model).to(z_cat.dtype)
                z = z.index_put((rows,), z_cat.to(z.dtype))
        return z.reshape(*shape, self.d_model)
