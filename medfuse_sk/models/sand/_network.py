"""The SAnD network (Song et al., 2018, "Attend and Diagnose"): masked self-attention over a
grid with positional encoding, dense interpolation of the sequence, one logit."""

from __future__ import annotations

import torch
from torch import nn

from ..medfuse import time_encoding

__all__ = ["SAnDModule", "dense_interpolation_weights"]


def dense_interpolation_weights(n_steps: int, factor: int) -> torch.Tensor:
    """SAnD's dense interpolation (Algorithm 1 of the paper) as a ``(T, M)`` matrix ``W``:
    ``u_m = Σ_t W[t, m] s_t`` with ``W[t, m] = (1 − |s − m| / M)²``, ``s = M t / T``,
    ``t = 1 .. T``, ``m = 1 .. M`` (column ``m − 1``, row ``t − 1``)."""
    t = torch.arange(1, n_steps + 1, dtype=torch.float64)[:, None]
    m = torch.arange(1, factor + 1, dtype=torch.float64)[None, :]
    return ((1.0 - (factor * t / n_steps - m).abs() / factor) ** 2).float()


class _Block(nn.Module):
    """Post-norm block: masked multi-head self-attention, then a position-wise feed-forward
    of 1×1 convolutions (width ``2 d``), each with dropout and a residual."""

    def __init__(self, d: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.attention = nn.MultiheadAttention(d, n_heads, dropout=dropout, batch_first=True)
        self.feed_forward = nn.Sequential(nn.Linear(d, 2 * d), nn.ReLU(), nn.Linear(2 * d, d))
        self.norm1, self.norm2 = nn.LayerNorm(d), nn.LayerNorm(d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, blocked: torch.Tensor) -> torch.Tensor:
        a, _ = self.attention(x, x, x, attn_mask=blocked, need_weights=False)
        x = self.norm1(x + self.dropout(a))
        return self.norm2(x + self.dropout(self.feed_forward(x)))


class SAnDModule(nn.Module):
    """SAnD over a grid.

    Input per step: scaled values, observation mask and ``log(1 + δ)`` (hours since each
    channel's last observation), embedded by a 1×1 convolution (a linear map per step) to
    ``hidden_size``, plus the sinusoidal positional encoding of the step; ``n_layers``
    self-attention blocks in which step ``t`` attends to steps ``t − window .. t`` only (the
    paper's causal, restricted mask); dense interpolation of the ``T`` outputs into
    ``factor`` vectors; their concatenation → one logit.

    Parameters
    ----------
    n_channels, n_steps : int
        Grid channels and steps (set by the estimator).
    hidden_size, n_layers, n_heads : int
    window : int
        Attention looks back this many steps (``r`` in the paper).
    factor : int
        Dense interpolation factor ``M``.
    dropout : float
    """

    def __init__(self, n_channels: int, n_steps: int, hidden_size: int = 64, n_layers: int = 4,
                 n_heads: int = 4, window: int = 24, factor: int = 12,
                 dropout: float = 0.2) -> None:
        super().__init__()
        if hidden_size % n_heads:
            raise ValueError(f"SAnD: hidden_size={hidden_size} must be a multiple of "
                             f"n_heads={n_heads}")
        self.embed = nn.Linear(3 * n_channels, hidden_size)
        self.register_buffer("position", time_encoding(torch.arange(n_steps, dtype=torch.float32),
                                                     hidden_size), persistent=False)
        steps = torch.arange(n_steps)
        allowed = (steps[None, :] <= steps[:, None]) & (steps[None, :] >= steps[:, None] - window)
        self.register_buffer("blocked", ~allowed, persistent=False)  # True: may not attend
        self.register_buffer("interpolation", dense_interpolation_weights(n_steps, factor),
                             persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(_Block(hidden_size, n_heads, dropout) for _ in range(n_layers))
        self.head = nn.Linear(factor * hidden_size, 1)

    def encode(self, values: torch.Tensor, mask: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """The attention stack's outputs ``(B, T, hidden_size)``."""
        x = self.embed(torch.cat([values, mask, torch.log1p(delta)], dim=-1)) + self.position
        x = self.dropout(x)
        for block in self.blocks:
            x = block(x, self.blocked)
        return x

    def interpolate(self, states: torch.Tensor) -> torch.Tensor:
        """Dense interpolation ``(B, T, d)`` → ``(B, M, d)``."""
        return torch.einsum("btd,tm->bmd", states, self.interpolation)

    def forward(self, values: torch.Tensor, mask: torch.Tensor,
                delta: torch.Tensor) -> torch.Tensor:
        u = self.interpolate(self.encode(values, mask, delta))
        return self.head(u.flatten(1)).squeeze(-1)
