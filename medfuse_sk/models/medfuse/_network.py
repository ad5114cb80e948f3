"""The MedFuse network: token embedding → Transformer encoder → pooling → head → one logit."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._embedding import MuFuseEmbedding
from ._params import DEFAULTS, POOLINGS, check_fusion

__all__ = ["MedFuseModule", "MedFuseEnsemble", "EncoderLayer", "ByteDropout", "POOLINGS"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class _ScaleKept(torch.autograd.Function):
    """``x · keep · scale``, saving the boolean ``keep`` (1 byte per entry) for backward."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, keep: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.save_for_backward(keep)
        ctx.scale = scale
        return x * keep.to(x.dtype).mul_(scale)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (keep,) = ctx.saved_tensors
        return grad * keep.to(grad.dtype).mul_(ctx.scale), None, None


class ByteDropout(nn.Module):
    """Dropout whose mask is drawn as random bytes: 8 per 64-bit draw.

    On CPU, ``torch.nn.Dropout`` samples one Bernoulli variable per element and that sampling
    dominated the training profile; this draws a quarter of the random words and compares each
    byte with ``round(256 p)``. The drop probability is therefore ``p`` rounded to a multiple
    of 1/256 (0.1 becomes 26/256 ≈ 0.102); the kept entries are scaled by ``1 / (1 - p)``
    with that rounded ``p``, so the expectation is unchanged. The mask is kept for backward as
    booleans (1 byte per entry, not 4). Uses torch's default generator, so
    ``torch.manual_seed`` makes it reproducible.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout must lie in [0, 1), got {p!r}")
        self.threshold = round(p * 256)
        self.p = self.threshold / 256

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.threshold == 0:
            return x
        n = x.numel()
        words = torch.randint(_INT64_MIN, _INT64_MAX, ((n + 7) // 8,), dtype=torch.int64,
                              device=x.device)
        keep = words.view(torch.uint8)[:n].view(x.shape) >= self.threshold
        return _ScaleKept.apply(x, keep, 1.0 / (1.0 - self.p))

    def extra_repr(self) -> str:
        return f"p={self.p:.4f}"


class EncoderLayer(nn.Module):
    """Transformer encoder layer on PyTorch's fused ``scaled_dot_product_attention``.

    Dropout is applied after attention and in the feed-forward block, never to the
    attention weights: that would force the slow non-fused attention path.
    """

    def __init__(self, d_model: int, n_heads: int, dim_feedforward: int, dropout: float,
                 norm_first: bool = False) -> None:
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model={d_model} must be a multiple of n_heads={n_heads}")
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)
        self.ff1 = nn.Linear(d_model, dim_feedforward)
        self.ff2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout = ByteDropout(dropout)
        self.norm_first = norm_first

    def _attend(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.n_heads, d // self.n_heads).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)
        return self.dropout(self.out(a.transpose(1, 2).reshape(b, n, d)))

    def _feed_forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.ff2(self.dropout(F.gelu(self.ff1(x)))))

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        if self.norm_first:
            x = x + self._attend(self.norm1(x), attn_mask)
            return x + self._feed_forward(self.norm2(x))
        x = self.norm1(x + self._attend(x, attn_mask))
        return self.norm2(x + self._feed_forward(x))


class MedFuseModule(nn.Module):
    """MedFuse: MuFuse token embedding, Transformer encoder, pooling over observed tokens.

    Parameters
    ----------
    Defaults are those of the estimator's parameter spec (:data:`medfuse_sk.models.DEFAULTS`),
    so a module built directly is the model the estimator documents.

    n_features, n_categories : int
        Vocabulary sizes (learned by the tokenizer).
    d_model : int
        Token width ``d_f`` (and the encoder's width).
    **embedding
        ``partition_factor``, ``fusion``, ``gate``, ``value_hidden``, ``activation``,
        ``time_encoding``, ``kernel``, ``projector_gain``, ``beta_init``: passed to
        :class:`~medfuse_sk.models.MuFuseEmbedding`.
    n_layers, n_heads : int
    dim_feedforward : int or None
        Feed-forward width; ``None`` means ``2 * d_model``.
    dropout : float
    norm_first : bool
        Pre-LayerNorm layers instead of the original post-LayerNorm.
    pooling : {"mean", "cls", "attention", "mean+attention", "latest", "mean+latest"}
        Mean over observed tokens only; a learned summary token prepended to each
        stay; attention pooling (softmax of a learned score per observed token); the mean
        over each feature's most recent token (the current state of every variable); or two
        of them side by side.
    series_summary : bool, default False
        Add a branch that reads, per feature, how often it was observed (log count of
        tokens), its latest value, how long before the stay's last token it was last seen
        (log hours) and whether it was seen at all; a linear layer maps these
        ``4 · n_features`` numbers to ``d_model`` and the result joins the pooled vector.
        Measurement frequency and recency carry signal (sicker patients are measured more
        often) that mean pooling over tokens dilutes.
    static_features : sequence of int, default ()
        Vocabulary ids of static descriptors (age, sex, unit type ...; the estimator's
        ``static_branch`` finds them). When given, a branch reads each one's latest token:
        its value (numerical features), whether it was given, and, over the class
        vocabulary, which class it holds (categorical features); a linear layer maps these
        ``2 · n_static + n_categories`` numbers to ``d_model`` and the result joins the
        pooled vector. Their tokens stay in the sequence.
    """

    def __init__(
        self,
        n_features: int,
        n_categories: int = 0,
        *,
        d_model: int = DEFAULTS["d_model"],
        n_layers: int = DEFAULTS["n_layers"],
        n_heads: int = DEFAULTS["n_heads"],
        dim_feedforward: int | None = DEFAULTS["dim_feedforward"],
        dropout: float = DEFAULTS["dropout"],
        norm_first: bool = DEFAULTS["norm_first"],
        pooling: str = DEFAULTS["pooling"],
        series_summary: bool = DEFAULTS["series_summary"],
        static_features: tuple[int, ...] = (),
        **embedding,
    ) -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        self.embedding = MuFuseEmbedding(n_features, n_categories, d_model, **embedding)
        ff = dim_feedforward or 2 * d_model
        self.layers = nn.ModuleList(
            EncoderLayer(d_model, n_heads, ff, dropout, norm_first) for _ in range(n_layers))
        self.final_norm = nn.LayerNorm(d_model) if norm_first else nn.Identity()
        self.pooling = pooling
        if pooling == "cls":
            self.summary = nn.Parameter(torch.zeros(1, 1, d_model))
        if "attention" in pooling:
            self.attention_score = nn.Sequential(
                nn.Linear(d_model, d_model // 2), nn.Tanh(), nn.Linear(d_model // 2, 1))
        pooled_width = 2 * d_model if "+" in pooling else d_model
        self.n_features = n_features
        self.series_summary = None
        if series_summary:
            self.series_summary = nn.Sequential(
                nn.Linear(4 * n_features, d_model), nn.GELU(), ByteDropout(dropout))
            pooled_width += d_model
        self.static_features = tuple(int(i) for i in static_features)
        self.n_categories = n_categories
        self.static_branch = None
        if self.static_features:
            slot = torch.full((n_features,), -1, dtype=torch.long)
            slot[list(self.static_features)] = torch.arange(len(self.static_features))
            self.register_buffer("static_slot", slot, persistent=False)
            self.static_branch = nn.Sequential(
                nn.Linear(2 * len(self.static_features) + n_categories, d_model), nn.GELU(),
                ByteDropout(dropout))
            pooled_width += d_model
        self.head = nn.Sequential(
            nn.Linear(pooled_width, d_model // 2), nn.GELU(), ByteDropout(dropout),
            nn.Linear(d_model // 2, 1))

    def forward(self, feature: torch.Tensor, value: torch.Tensor, category: torch.Tensor,
                time: torch.Tensor, mask: torch.Tensor,
                latest: torch.Tensor | None = None) -> torch.Tensor:
        """Padded token tensors ``(B, L)`` and ``mask`` (True = observed) → logits ``(B,)``.

        ``latest`` marks each stay's most recent token of every feature (``"latest"``
        pooling, the summary branch); the collate function of
        :class:`~medfuse_sk.batching.TokenDataset` makes it, and without it it is computed
        here (:func:`latest_of_feature`).
        """
        x = self.embedding(feature, value, time, category, mask=mask)
        observed = mask
        needs_latest = (self.series_summary is not None or self.static_branch is not None
                        or "latest" in self.pooling)
        if latest is None and needs_latest:
            latest = latest_of_feature(feature, mask, self.n_features)
        if self.pooling == "cls":
            x = torch.cat([self.summary.expand(x.shape[0], -1, -1), x], dim=1)
            mask = torch.cat([mask.new_ones(mask.shape[0], 1), mask], dim=1)
        attn_mask = mask[:, None, None, :]
        for layer in self.layers:
            x = layer(x, attn_mask)
        x = self.final_norm(x)
        pooled = self._pool(x, mask, latest)
        if self.series_summary is not None:
            summary = series_summary(feature, value, category, time, observed, latest,
                                     self.n_features)
            pooled = torch.cat([pooled, self.series_summary(summary)], dim=-1)
        if self.static_branch is not None:
            static = static_descriptors(feature, value, category, observed & latest,
                                        self.static_slot, len(self.static_features),
                                        self.n_categories)
            pooled = torch.cat([pooled, self.static_branch(static)], dim=-1)
        return self.head(pooled).squeeze(-1)

    def _pool(self, x: torch.Tensor, mask: torch.Tensor,
              latest: torch.Tensor | None) -> torch.Tensor:
        """One vector per stay from the observed tokens only."""
        if self.pooling == "cls":
            return x[:, 0]
        parts = []
        if self.pooling in ("mean", "mean+attention", "mean+latest"):
            parts.append(_masked_mean(x, mask))
        if "latest" in self.pooling:
            if latest is None:
                raise ValueError(f"pooling={self.pooling!r} needs the `latest` token mask")
            parts.append(_masked_mean(x, latest & mask))
        if "attention" in self.pooling:
            score = self.attention_score(x).squeeze(-1).masked_fill(~mask, float("-inf"))
            parts.append(torch.einsum("bl,bld->bd", score.softmax(-1), x))
        return torch.cat(parts, dim=-1) if len(parts) > 1 else parts[0]


class MedFuseEnsemble(nn.Module):
    """``n_models`` independently initialised :class:`MedFuseModule` s trained side by side.

    ``forward`` returns the members' logits ``(B, n_models)``; the loss averages the members'
    losses and the predicted probability is the mean of the members' probabilities (a deep
    ensemble: the members differ by their initial weights and dropout draws). The members
    share everything outside the networks: one tokenisation, one batch order, one pass over
    the data.

    ``fusion`` may name one fusion for every member or give a sequence of fusions: member
    ``i`` then uses ``fusion[i % len(fusion)]`` (a heterogeneous ensemble, whose members
    make different mistakes), and ``n_models`` must be a multiple of its length.
    """

    def __init__(self, n_models: int = 2, fusion: str | tuple[str, ...] = "mufuse",
                 **module_kwargs) -> None:
        super().__init__()
        if int(n_models) != n_models or n_models < 2:
            raise ValueError(f"an ensemble needs n_models >= 2, got {n_models!r}")
        fusions = check_fusion(fusion)
        if n_models % len(fusions):
            raise ValueError(f"n_models={n_models} must be a multiple of the number of fusions "
                             f"{fusions!r}")
        self.fusions = tuple(fusions[i % len(fusions)] for i in range(n_models))
        self.members = nn.ModuleList(MedFuseModule(fusion=f, **module_kwargs)
                                     for f in self.fusions)

    def forward(self, **batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([member(**batch) for member in self.members], dim=1)


def latest_of_feature(feature: torch.Tensor, mask: torch.Tensor,
                      n_features: int | None = None) -> torch.Tensor:
    """``(B, L)`` True at each stay's last observed token of every feature (tokens are in time
    order within a stay, so that is the feature's last position); padding is never marked.
    ``n_features`` (the vocabulary size) spares reading the largest code off the device."""
    b, length = feature.shape
    position = torch.arange(length, device=feature.device).expand(b, length)
    where = torch.where(mask, position, torch.full_like(position, -1))
    if n_features is not None:
        width = n_features
    else:
        width = int(feature.max().item()) + 1 if feature.numel() else 1
    last = torch.full((b, width), -1, dtype=position.dtype, device=feature.device)
    last = last.scatter_reduce(1, feature, where, reduce="amax")
    return mask & (last.gather(1, feature) == position)


def series_summary(feature: torch.Tensor, value: torch.Tensor, category: torch.Tensor,
                   time: torch.Tensor, mask: torch.Tensor, latest: torch.Tensor | None,
                   n_features: int) -> torch.Tensor:
    """Per stay and feature: log token count, latest value, log hours since it was last seen
    (before the stay's last token), seen at all → ``(B, 4 · n_features)``.

    Padding never counts; categorical tokens count but have no value (0).
    """
    if latest is None:
        raise ValueError("series_summary needs the `latest` token mask")
    b = feature.shape[0]
    observed = mask.to(value.dtype)
    last = (latest & mask).to(value.dtype)
    numeric = (category < 0).to(value.dtype)
    t_end = time.masked_fill(~mask, float("-inf")).amax(dim=1, keepdim=True).clamp(min=0)
    zeros = value.new_zeros(b, n_features)
    count = zeros.scatter_add(1, feature, observed)
    latest_value = zeros.scatter_add(1, feature, value * last * numeric)
    since = zeros.scatter_add(1, feature, (t_end - time).clamp(min=0) * last)
    seen = (count > 0).to(value.dtype)
    return torch.cat([torch.log1p(count), latest_value, torch.log1p(since), seen], dim=1)


def static_descriptors(feature: torch.Tensor, value: torch.Tensor, category: torch.Tensor,
                       latest: torch.Tensor, slot: torch.Tensor, n_static: int,
                       n_categories: int) -> torch.Tensor:
    """Per stay: each static feature's value and whether it was given, then the class
    indicators of its categorical static tokens → ``(B, 2 · n_static + n_categories)``.

    ``slot`` maps a vocabulary id to its static position (-1: not static); ``latest`` (the
    observed latest token of every feature) picks one token per feature. A categorical
    token's value is 0; a numerical token has no class.
    """
    b = feature.shape[0]
    position = slot[feature]
    picked = (latest & (position >= 0)).to(value.dtype)
    where = position.clamp(min=0)
    numeric = (category < 0).to(value.dtype)
    zeros = value.new_zeros(b, n_static)
    values = zeros.scatter_add(1, where, value * picked * numeric)
    given = zeros.scatter_add(1, where, picked)
    classes = value.new_zeros(b, n_categories).scatter_add(
        1, category.clamp(min=0), picked * (1 - numeric))
    return torch.cat([values, given, classes], dim=1)


def _masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(x.dtype)
    return (x * weights).sum(1) / weights.sum(1).clamp(min=1.0)
