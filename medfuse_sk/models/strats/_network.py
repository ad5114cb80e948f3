"""The STraTS network (Tipirneni & Reddy, TKDD 2022), as the authors' PyTorch re-implementation
(``sindhura97/STraTS``) builds it.

Each observation is a triplet ``(feature f, value x, time t)``; its embedding is the sum

    ``e = E[f] + CVE_value(x) + CVE_time(t)``,

where a continuous value embedding ``CVE(s) = W₂ · tanh(W₁ s + b₁)`` (``1 → ⌊√d⌋ → d``, no
output bias) maps a scalar to ``d`` dimensions; value and time have one CVE each, times are
scaled to ``[-1, 1]`` by ``time_scale``. A Transformer without LayerNorm (the
re-implementation: residuals averaged, ``(x + sublayer(x)) / 2``, GELU feed-forward ``2d``)
contextualises the triplets, a fusion self-attention (``softmax(uᵀ tanh(W c + b))`` over the
observed triplets) pools them, and the static descriptors (``static_features``: value, given
or not, class) pass through their own ``D → 2d → d`` tanh network; both halves go to the
head. In training, every feature of a stay is dropped whole with probability ``dropout``
(the re-implementation's variable dropout).

With ``forecast=True`` the network also has STraTS' forecasting head (``2d → n_features``:
the value of every feature in the window after a cut-off time), and the classifier reads
the forecast: ``logit = w · forecast(z) + b``, as the re-implementation fine-tunes a
pre-trained model.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..medfuse._network import latest_of_feature, static_descriptors

__all__ = ["ContinuousValueEmbedding", "TripletEmbedding", "StratsLayer", "FusionAttention",
           "StratsModule"]


class ContinuousValueEmbedding(nn.Module):
    """CVE: ``W₂ · tanh(W₁ s + b₁)`` of a scalar ``s``, ``1 → hidden → dim`` (no output bias).

    ``hidden`` defaults to ``⌊√dim⌋``; weights are Xavier-uniform, ``b₁ = 0``, as the
    authors initialise them.
    """

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = int(math.sqrt(dim)) if hidden is None else hidden
        self.hidden = nn.Linear(1, hidden)
        self.out = nn.Linear(hidden, dim, bias=False)
        nn.init.xavier_uniform_(self.hidden.weight)
        nn.init.zeros_(self.hidden.bias)
        nn.init.xavier_uniform_(self.out.weight)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Scalars of any shape ``S`` → ``S + (dim,)``."""
        return self.out(torch.tanh(self.hidden(s.unsqueeze(-1))))


class TripletEmbedding(nn.Module):
    """``E[f] + CVE_value(x) + CVE_time(t)``: one ``dim``-wide vector per observation."""

    def __init__(self, n_variables: int, dim: int) -> None:
        super().__init__()
        self.variable = nn.Embedding(n_variables, dim)
        self.value = ContinuousValueEmbedding(dim)
        self.time = ContinuousValueEmbedding(dim)

    def forward(self, variable: torch.Tensor, value: torch.Tensor,
                time: torch.Tensor) -> torch.Tensor:
        return self.variable(variable) + self.value(value) + self.time(time)


class StratsLayer(nn.Module):
    """One block of the re-implementation's Transformer: multi-head attention (with dropout on
    the attention weights), ``x = (x + attention) / 2``, then a GELU feed-forward of width
    ``2 · dim``, ``x = (x + ff) / 2``; no LayerNorm."""

    def __init__(self, dim: int, n_heads: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"d_model={dim} must be a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.out = nn.Linear(dim, dim, bias=False)
        self.ff1 = nn.Linear(dim, 2 * dim)
        self.ff2 = nn.Linear(2 * dim, dim)
        self.dropout = dropout
        self.attention_dropout = attention_dropout

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(
            q, k, v, attn_mask=mask[:, None, None, :],
            dropout_p=self.attention_dropout if self.training else 0.0)
        a = F.dropout(self.out(a.transpose(1, 2).reshape(b, n, d)), self.dropout, self.training)
        x = (x + a) / 2
        ff = F.dropout(self.ff2(F.gelu(self.ff1(x))), self.dropout, self.training)
        return (x + ff) / 2


class FusionAttention(nn.Module):
    """STraTS' pooling: weights ``softmax(uᵀ tanh(W c + b))`` over the observed triplets."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        score = self.score(torch.tanh(self.proj(x))).squeeze(-1).masked_fill(~mask, float("-inf"))
        return torch.einsum("bl,bld->bd", score.softmax(dim=-1), x)


def _at_least_one(kept: torch.Tensor, fallback: torch.Tensor) -> torch.Tensor:
    """``kept``, except that a stay left with no token keeps ``fallback``'s."""
    empty = ~kept.any(dim=1, keepdim=True)
    return torch.where(empty, fallback, kept)


class StratsModule(nn.Module):
    """STraTS: triplet embedding → Transformer → fusion attention ⊕ static branch → logit.

    Parameters
    ----------
    n_features : int
        Feature vocabulary size; categorical tokens get variables of their own, one per
        class (``n_features + class id``), with value 1.
    n_categories : int, default 0
    d_model : int, default 64
    n_layers : int, default 2
    n_heads : int, default 16
    dropout : float, default 0.2
        Dropout of the triplet embeddings and in every block, and the probability of dropping
        a whole feature of a stay in training.
    attention_dropout : float, default 0.2
    static_features : sequence of int, default ()
        Vocabulary ids of the static descriptors: they leave the sequence and enter the
        static branch (their value, whether given, their class).
    time_scale : float, default 48.0
        Times (hours) become ``2 t / time_scale - 1``.
    forecast : bool, default False
        Build the forecasting head (pre-training, and classification from the forecast).
    """

    def __init__(self, n_features: int, n_categories: int = 0, *, d_model: int = 64,
                 n_layers: int = 2, n_heads: int = 16, dropout: float = 0.2,
                 attention_dropout: float = 0.2, static_features: tuple[int, ...] = (),
                 time_scale: float = 48.0, forecast: bool = False) -> None:
        super().__init__()
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.n_features = n_features
        self.n_categories = n_categories
        self.time_scale = float(time_scale)
        self.dropout = dropout
        self.embedding = TripletEmbedding(n_features + n_categories, d_model)
        self.layers = nn.ModuleList(StratsLayer(d_model, n_heads, dropout, attention_dropout)
                                    for _ in range(n_layers))
        self.fusion = FusionAttention(d_model)
        self.static_features = tuple(int(i) for i in static_features)
        width = d_model
        self.static_branch = None
        if self.static_features:
            slot = torch.full((n_features,), -1, dtype=torch.long)
            slot[list(self.static_features)] = torch.arange(len(self.static_features))
            self.register_buffer("static_slot", slot, persistent=False)
            self.static_classes = max(n_categories, 1)  # static_descriptors needs one
            n_in = 2 * len(self.static_features) + self.static_classes
            self.static_branch = nn.Sequential(nn.Linear(n_in, 2 * d_model), nn.Tanh(),
                                               nn.Linear(2 * d_model, d_model))
            width += d_model
        self.forecast_head = nn.Linear(width, n_features) if forecast else None
        self.head = nn.Linear(n_features if forecast else width, 1)

    def represent(self, feature: torch.Tensor, value: torch.Tensor, time: torch.Tensor,
                  mask: torch.Tensor, category: torch.Tensor | None = None) -> torch.Tensor:
        """One vector per stay: the pooled triplets ⊕ the static branch ``(B, width)``."""
        feature, mask = feature.long(), mask.bool()
        if category is None:
            category = torch.full_like(feature, -1)
        is_cat = category >= 0
        variable = torch.where(is_cat, self.n_features + category.clamp(min=0), feature)
        value = torch.where(is_cat, torch.ones_like(value), value)
        sequence = mask
        parts = []
        if self.static_branch is not None:
            latest = latest_of_feature(feature, mask, self.n_features)
            static = static_descriptors(feature, value, category, mask & latest,
                                        self.static_slot, len(self.static_features),
                                        self.static_classes)
            sequence = _at_least_one(mask & (self.static_slot[feature] < 0), mask)
        if self.training and self.dropout > 0:
            dropped = torch.rand(feature.shape[0], self.n_features + self.n_categories,
                                 device=feature.device) < self.dropout
            sequence = _at_least_one(sequence & ~dropped.gather(1, variable), sequence)
        t = 2.0 * time.to(value.dtype) / self.time_scale - 1.0
        x = F.dropout(self.embedding(variable, value, t), self.dropout, self.training)
        for layer in self.layers:
            x = layer(x, sequence)
        parts.append(self.fusion(x, sequence))
        if self.static_branch is not None:
            parts.append(self.static_branch(static))
        return torch.cat(parts, dim=-1)

    def forecast(self, feature: torch.Tensor, value: torch.Tensor, time: torch.Tensor,
                 mask: torch.Tensor, category: torch.Tensor | None = None,
                 **_: torch.Tensor) -> torch.Tensor:
        """Forecast of every feature's value ``(B, n_features)`` (needs ``forecast=True``)."""
        if self.forecast_head is None:
            raise RuntimeError("this StratsModule has no forecasting head (forecast=False)")
        return self.forecast_head(self.represent(feature, value, time, mask, category))

    def forward(self, feature: torch.Tensor, value: torch.Tensor, time: torch.Tensor,
                mask: torch.Tensor, category: torch.Tensor | None = None,
                **_: torch.Tensor) -> torch.Tensor:
        """Padded tokens ``(B, L)`` and ``mask`` (True = observed) → logits ``(B,)``."""
        z = self.represent(feature, value, time, mask, category)
        if self.forecast_head is not None:
            z = self.forecast_head(z)
        return self.head(z).squeeze(-1)
