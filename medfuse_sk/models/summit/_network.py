"""The SUMMIT network (Huang et al., 2024: SCAlable Numerical Embedding + Transformer encoder).

Each observed numerical value becomes one token, its feature's embedding scaled by the
(standardised) value — SCANE, ``z = x · E[f]`` — plus the sinusoidal encoding of its time;
a categorical value joins its feature's embedding with a class embedding
(``W [E[f]; C[class]] + b``). Missing values make no token (the attention's padding mask
leaves them out). A post-LayerNorm Transformer encoder reads the tokens, a mean over the
observed tokens pools them, and a head ``d → d/2 → 1`` (GELU, dropout) gives the logit.

The token embedding is the library's :class:`~medfuse_sk.models.MuFuseEmbedding` with
``fusion="scane"`` (the MedFuse paper's App. E: SCANE is MuFuse with ``d_v = 1``, no
projector, no gate), the encoder layer MedFuse's :class:`~medfuse_sk.models.EncoderLayer`.
Where the SUMMIT paper is silent, the shapes follow the authors' shared code base
(``dragonriderjjj/MedFuse``: one attention head, feed-forward as wide as the model, head
halving the width with dropout 0.45), as ``docs/peers.md`` says.
"""

from __future__ import annotations

import torch
from torch import nn

from ..medfuse import ByteDropout, EncoderLayer, MuFuseEmbedding

__all__ = ["SummitModule"]


class SummitModule(nn.Module):
    """SCANE tokens + time encoding → Transformer encoder → mean over observed tokens → logit.

    Parameters
    ----------
    n_features, n_categories : int
        Vocabulary sizes (the tokenizer's).
    d_model : int, default 144
    n_layers : int, default 1
    n_heads : int, default 1
    dim_feedforward : int, default 144
    dropout : float, default 0.1
        Dropout in the encoder (after attention and in the feed-forward block).
    head_dropout : float, default 0.45
    time_encoding : bool, default True
        Add the sinusoidal encoding of each token's time (hours).
    """

    def __init__(self, n_features: int, n_categories: int = 0, *, d_model: int = 144,
                 n_layers: int = 1, n_heads: int = 1, dim_feedforward: int = 144,
                 dropout: float = 0.1, head_dropout: float = 0.45,
                 time_encoding: bool = True) -> None:
        super().__init__()
        self.embedding = MuFuseEmbedding(n_features, n_categories, d_model, fusion="scane",
                                         time_encoding=time_encoding, kernel="torch")
        self.layers = nn.ModuleList(EncoderLayer(d_model, n_heads, dim_feedforward, dropout)
                                    for _ in range(n_layers))
        self.head = nn.Sequential(nn.Linear(d_model, d_model // 2), nn.GELU(),
                                  ByteDropout(head_dropout), nn.Linear(d_model // 2, 1))

    def forward(self, feature: torch.Tensor, value: torch.Tensor, time: torch.Tensor,
                mask: torch.Tensor, category: torch.Tensor | None = None,
                **_: torch.Tensor) -> torch.Tensor:
        """Padded tokens ``(B, L)`` and ``mask`` (True = observed) → logits ``(B,)``."""
        mask = mask.bool()
        x = self.embedding(feature, value, time, category, mask=mask)
        attn_mask = mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attn_mask)
        weights = mask.unsqueeze(-1).to(x.dtype)
        pooled = (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
        return self.head(pooled).squeeze(-1)
