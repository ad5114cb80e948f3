"""A Transformer encoder over the steps of a regular grid (Vaswani et al., 2017)."""

from __future__ import annotations

import torch
from torch import nn

from ..medfuse import time_encoding

__all__ = ["GridTransformerModule"]


class GridTransformerModule(nn.Module):
    """Transformer encoder on a grid: one token per step, mean over the steps, a head.

    Input per step: the scaled values, the observation mask and ``log(1 + δ)`` (hours since
    each channel's last observation), mapped linearly to ``d_model``, plus the sinusoidal
    positional encoding of the step. Steps without any observation stay in the sequence
    (their mask says so); the pooled vector is the mean over all steps.

    Parameters
    ----------
    n_channels, n_steps : int
        Grid channels and steps (set by the estimator).
    d_model, n_layers, n_heads, dim_feedforward : int
    dropout : float
        Dropout in the encoder layers.
    head_dropout : float
        Dropout in the head ``d_model → d_model / 2 → 1``.
    norm_first : bool
        Pre-LayerNorm layers instead of post-LayerNorm.
    """

    def __init__(self, n_channels: int, n_steps: int, d_model: int = 144, n_layers: int = 1,
                 n_heads: int = 1, dim_feedforward: int = 144, dropout: float = 0.1,
                 head_dropout: float = 0.45, norm_first: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"Transformer: d_model={d_model} must be a multiple of "
                             f"n_heads={n_heads}")
        self.embed = nn.Linear(3 * n_channels, d_model)
        self.register_buffer("position", time_encoding(torch.arange(n_steps, dtype=torch.float32),
                                                     d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, n_heads, dim_feedforward, dropout,
                                           activation="gelu", batch_first=True,
                                           norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.Linear(d_model, d_model // 2), nn.GELU(),
                                  nn.Dropout(head_dropout), nn.Linear(d_model // 2, 1))

    def forward(self, values: torch.Tensor, mask: torch.Tensor,
                delta: torch.Tensor) -> torch.Tensor:
        x = self.embed(torch.cat([values, mask, torch.log1p(delta)], dim=-1)) + self.position
        return self.head(self.encoder(x).mean(dim=1)).squeeze(-1)
