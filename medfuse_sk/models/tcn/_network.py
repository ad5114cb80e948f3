"""The TCN network (Bai, Kolter & Koltun, 2018): residual blocks of causal dilated convolutions."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["TCNModule", "TemporalBlock", "CausalConv1d"]


class CausalConv1d(nn.Module):
    """A 1-d convolution whose output at step ``t`` reads inputs at ``t, t − d, ..., t − (k−1)d``
    only: left padding of ``(k − 1) · d`` zeros, no look into the future.

    Weight-normalised as in the TCN paper: the kernel of output channel ``o`` is
    ``g_o · v_o / ‖v_o‖`` (Salimans & Kingma), written out here rather than with torch's
    parametrizations, which cannot be pickled. Initialised as the TCN paper's code ends up:
    ``v`` as torch's default convolution (uniform in ``±1/√fan_in``) and ``g = ‖v‖`` (the
    code's later ``N(0, 0.01)`` draw writes to the recomputed weight and is lost).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 dilation: int) -> None:
        super().__init__()
        self.pad = (kernel_size - 1) * dilation
        self.dilation = dilation
        bound = (in_channels * kernel_size) ** -0.5
        self.v = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size)
                              .uniform_(-bound, bound))
        self.g = nn.Parameter(self.v.detach().flatten(1).norm(dim=1))
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))

    def weight(self) -> torch.Tensor:
        norm = self.v.flatten(1).norm(dim=1).clamp(min=1e-12)
        return self.v * (self.g / norm)[:, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, T)
        return nn.functional.conv1d(nn.functional.pad(x, (self.pad, 0)), self.weight(),
                                    self.bias, dilation=self.dilation)


class TemporalBlock(nn.Module):
    """Two causal convolutions (ReLU, dropout) and a residual connection (a 1×1 convolution
    where the widths differ)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(
            CausalConv1d(in_channels, out_channels, kernel_size, dilation), nn.ReLU(),
            nn.Dropout(dropout),
            CausalConv1d(out_channels, out_channels, kernel_size, dilation), nn.ReLU(),
            nn.Dropout(dropout))
        self.skip = (nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels
                     else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.net(x) + self.skip(x))


class TCNModule(nn.Module):
    """TCN over a grid: block ``i`` dilates by ``2^i``; the last step's output → one logit.

    Input per step: the scaled values, the observation mask and ``log(1 + δ)`` of the hours
    since each channel's previous observation (``3 · n_channels`` inputs, as the STraTS
    authors' TCN baseline reads values, mask and time since the last observation).

    Parameters
    ----------
    n_channels, n_steps : int
        Grid channels and steps (set by the estimator).
    hidden_size : int
        Channels of every block.
    n_layers : int
        Residual blocks; the receptive field is ``1 + 2 (k − 1)(2^n_layers − 1)`` steps.
    kernel_size : int
    dropout : float
    """

    def __init__(self, n_channels: int, n_steps: int, hidden_size: int = 64, n_layers: int = 4,
                 kernel_size: int = 4, dropout: float = 0.2) -> None:
        super().__init__()
        blocks = []
        for i in range(n_layers):
            blocks.append(TemporalBlock(3 * n_channels if i == 0 else hidden_size, hidden_size,
                                        kernel_size, 2 ** i, dropout))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(hidden_size, 1)

    def encode(self, values: torch.Tensor, mask: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        """Per-step outputs ``(B, T, hidden_size)``; step ``t`` depends on steps ``<= t`` only."""
        x = torch.cat([values, mask, torch.log1p(delta)], dim=-1)  # (B, T, 3C)
        return self.blocks(x.transpose(1, 2)).transpose(1, 2)

    def forward(self, values: torch.Tensor, mask: torch.Tensor,
                delta: torch.Tensor) -> torch.Tensor:
        return self.head(self.encode(values, mask, delta)[:, -1]).squeeze(-1)
