"""The mTAN network (Shukla & Marlin, ICLR 2021), encoder-classifier form (mTAND-Enc).

One stay's observations ``(feature, value, time)`` are read at ``n_ref_points`` reference
times spread evenly over ``[0, 1]`` (times are divided by ``time_scale``, the longest training
time, as mTAN divides by 48 h). At each reference time ``r`` and for each channel ``c`` (a
feature) the multi-time attention module forms

    ``v[r, c] = Σ_i softmax_{i : f_i = c}(q_r · k_i / √d_k) · x_i``     (the value channel)
    ``m[r, c] = 1 if channel c is observed in the stay, else 0``        (the mask channel)

with ``q_r = W_q φ(r)`` and ``k_i = W_k φ(t_i)`` from the learned time embedding
``φ(t) = [w₀ t + b₀, sin(W t + b)]``; the softmax runs separately over each channel's
observations (mTAN's per-feature masks), and a channel never observed gives 0 in both. The
``2 · n_channels`` numbers per head and reference time go through a linear layer to
``n_hidden``, a GRU reads the reference times in order, and its last state goes through the
classifier ``n_hidden → 300 → 300 → 1`` (ReLU), as in the authors' ``enc_mtan_classif``.

Categorical tokens become channels of their own, one per (feature, class) pair, with value 1.

:func:`multi_time_attention` works on the flat tokens (no dense time × feature grid): the
per-channel softmax is one ``(B, H, R, L)`` score tensor, per-channel maxima (for a stable
exponent) and two batched products with the one-hot channel matrix.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LearnedTimeEmbedding", "MultiTimeAttention", "MTANModule", "multi_time_attention",
           "token_channels"]


class LearnedTimeEmbedding(nn.Module):
    """mTAN's learned time embedding: ``φ(t) = [w₀ t + b₀, sin(W t + b)]``, ``dim`` wide
    (one linear and ``dim - 1`` periodic entries)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 2:
            raise ValueError(f"the time embedding needs embed_time >= 2, got {dim}")
        self.linear = nn.Linear(1, 1)
        self.periodic = nn.Linear(1, dim - 1)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        t = t.unsqueeze(-1)
        return torch.cat([self.linear(t), torch.sin(self.periodic(t))], dim=-1)


def multi_time_attention(query: torch.Tensor, key: torch.Tensor, channel: torch.Tensor,
                         value: torch.Tensor, mask: torch.Tensor, n_channels: int) -> torch.Tensor:
    """Per-channel attention from reference times to observation times.

    Parameters
    ----------
    query : (H, R, d_k) projected reference-time embeddings, one set per head
    key : (B, H, L, d_k) projected observation-time embeddings
    channel : (B, L) int, the channel (feature) of each observation
    value : (B, L) float, the observed values
    mask : (B, L) bool, True where an observation is real (not padding)
    n_channels : int

    Returns
    -------
    (B, H, R, 2 · n_channels): per head and reference time, each channel's attention-weighted
    value (softmax of ``q·k/√d_k`` over that channel's observations only), then each
    channel's mask entry (1 where the stay observed the channel, else 0; a channel never
    observed also gives value 0).
    """
    scores = torch.einsum("hrd,bhld->bhrl", query, key) / math.sqrt(query.shape[-1])
    scores = scores.masked_fill(~mask[:, None, None, :], float("-inf"))
    index = channel[:, None, None, :].expand_as(scores)
    # the largest score of each channel, subtracted before exp (softmax does not change)
    top = torch.full((*scores.shape[:3], n_channels), float("-inf"), dtype=scores.dtype,
                     device=scores.device)
    top = top.scatter_reduce(-1, index, scores.detach(), reduce="amax")
    top = top.gather(-1, index)
    weights = torch.exp(scores - torch.where(torch.isfinite(top), top, torch.zeros_like(top)))
    onehot = F.one_hot(channel, n_channels).to(scores.dtype) * mask.unsqueeze(-1)  # (B, L, C)
    den = weights @ onehot.unsqueeze(1)  # (B, H, R, C)
    num = weights @ (onehot * value.unsqueeze(-1)).unsqueeze(1)
    seen = den > 0
    averaged = torch.where(seen, num / torch.where(seen, den, torch.ones_like(den)),
                           torch.zeros_like(num))
    return torch.cat([averaged, seen.to(averaged.dtype)], dim=-1)


class MultiTimeAttention(nn.Module):
    """mTAN's multi-time attention module: projections of the time embeddings per head,
    :func:`multi_time_attention`, and the linear map of the heads' ``H · 2C`` numbers per
    reference time to ``n_hidden``."""

    def __init__(self, n_channels: int, embed_time: int, n_heads: int, n_hidden: int) -> None:
        super().__init__()
        if embed_time % n_heads:
            raise ValueError(f"embed_time={embed_time} must be a multiple of n_heads={n_heads}")
        self.n_channels = n_channels
        self.n_heads = n_heads
        self.query = nn.Linear(embed_time, embed_time)
        self.key = nn.Linear(embed_time, embed_time)
        self.out = nn.Linear(2 * n_channels * n_heads, n_hidden)

    def forward(self, reference: torch.Tensor, times: torch.Tensor, channel: torch.Tensor,
                value: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``reference`` (R, E) and ``times`` (B, L, E) embedded → ``(B, R, n_hidden)``."""
        h = self.n_heads
        q = self.query(reference).view(reference.shape[0], h, -1).transpose(0, 1)
        b, length, _ = times.shape
        k = self.key(times).view(b, length, h, -1).transpose(1, 2)
        att = multi_time_attention(q, k, channel, value, mask, self.n_channels)
        return self.out(att.transpose(1, 2).reshape(b, reference.shape[0], -1))


def token_channels(feature: torch.Tensor, value: torch.Tensor, category: torch.Tensor | None,
                   n_features: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Channel and value of each token: a numerical token's channel is its feature id; a
    categorical token (``category >= 0``) has channel ``n_features + class id`` and value 1."""
    if category is None:
        return feature, value
    is_cat = category >= 0
    channel = torch.where(is_cat, n_features + category.clamp(min=0), feature)
    return channel, torch.where(is_cat, torch.ones_like(value), value)


class MTANModule(nn.Module):
    """mTAND-Enc: learned time embedding → multi-time attention at reference points → GRU →
    classifier; one logit per stay.

    Parameters
    ----------
    n_features : int
        Feature vocabulary size (the tokenizer's).
    n_categories : int, default 0
        Class vocabulary size: categorical tokens get one channel per class.
    n_ref_points : int, default 128
        Reference times, evenly over ``[0, 1]`` (the authors' ``linspace(0, 1, 128)``).
    embed_time : int, default 128
        Width of the learned time embedding.
    n_heads : int, default 1
    n_hidden : int, default 256
        Output width of the attention module and the GRU's state.
    classifier_hidden : int, default 300
        Width of the classifier's two hidden layers.
    time_scale : float, default 48.0
        Times (hours) are divided by it, so that the training stays span ``[0, 1]``.
    """

    def __init__(self, n_features: int, n_categories: int = 0, *, n_ref_points: int = 128,
                 embed_time: int = 128, n_heads: int = 1, n_hidden: int = 256,
                 classifier_hidden: int = 300, time_scale: float = 48.0) -> None:
        super().__init__()
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        self.n_features = n_features
        self.n_channels = n_features + n_categories
        self.time_scale = float(time_scale)
        self.time_embedding = LearnedTimeEmbedding(embed_time)
        self.register_buffer("reference", torch.linspace(0.0, 1.0, n_ref_points),
                             persistent=False)
        self.attention = MultiTimeAttention(self.n_channels, embed_time, n_heads, n_hidden)
        self.gru = nn.GRU(n_hidden, n_hidden, batch_first=True)
        self.classifier = nn.Sequential(
            nn.Linear(n_hidden, classifier_hidden), nn.ReLU(),
            nn.Linear(classifier_hidden, classifier_hidden), nn.ReLU(),
            nn.Linear(classifier_hidden, 1))

    def forward(self, feature: torch.Tensor, value: torch.Tensor, time: torch.Tensor,
                mask: torch.Tensor, category: torch.Tensor | None = None,
                **_: torch.Tensor) -> torch.Tensor:
        """Padded tokens ``(B, L)`` and ``mask`` (True = observed) → logits ``(B,)``."""
        channel, value = token_channels(feature.long(), value, category, self.n_features)
        keys = self.time_embedding(time.to(value.dtype) / self.time_scale)
        reference = self.time_embedding(self.reference.to(value.dtype))
        out = self.attention(reference, keys, channel, value, mask.bool())
        _, state = self.gru(out)
        return self.classifier(state[-1]).squeeze(-1)
