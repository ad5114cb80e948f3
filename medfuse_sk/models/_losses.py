"""Binary losses on logits: weighted binary cross-entropy or focal loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BinaryLoss", "LOSSES"]

#: Losses of :class:`BinaryLoss`.
LOSSES = ("bce", "focal")


class BinaryLoss(nn.Module):
    """Loss on one logit per stay.

    Parameters
    ----------
    loss : {"bce", "focal"}, default "bce"
    pos_weight : float or None
        Weight of positive stays (``n_negative / n_positive`` balances the classes).
    focal_gamma : float, default 2.0
        Focusing exponent of the focal loss.
    focal_alpha : float, default 0.5
        Positive-class weight of the focal loss (0.5 = unweighted, as the authors' code).
    """

    def __init__(self, loss: str = "bce", pos_weight: float | None = None,
                 focal_gamma: float = 2.0, focal_alpha: float = 0.5) -> None:
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {loss!r}")
        self.loss = loss
        self.pos_weight = pos_weight
        self.focal_gamma = focal_gamma
        self.focal_alpha = focal_alpha

    def forward(self, logits: torch.Tensor, target: torch.Tensor,
                sample_weight: torch.Tensor | None = None) -> torch.Tensor:
        """Mean loss over the stays of a batch, weighted by ``sample_weight`` if given.

        ``logits`` (B,) or (B, n_models) of an ensemble (a stay's loss is the mean of the
        members'). With weights the loss is ``Σ w_i l_i / Σ w_i``: an integer weight counts
        a stay that many times, a weight of 0 leaves it out.
        """
        per_stay = self.per_stay(logits, target)
        if sample_weight is None:
            return per_stay.mean()
        w = sample_weight.to(per_stay.dtype)
        return (w * per_stay).sum() / w.sum().clamp(min=torch.finfo(per_stay.dtype).tiny)

    def per_stay(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Unreduced loss ``(B,)``: one value per stay."""
        target = target.to(logits.dtype)
        if logits.dim() == 2:
            target = target.unsqueeze(1).expand_as(logits)
        if self.loss == "bce":
            weight = None if self.pos_weight is None else logits.new_tensor(self.pos_weight)
            loss = F.binary_cross_entropy_with_logits(logits, target, pos_weight=weight,
                                                      reduction="none")
        else:
            ce = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            p_true = torch.exp(-ce)
            alpha = self.focal_alpha * target + (1 - self.focal_alpha) * (1 - target)
            if self.pos_weight is not None:
                alpha = alpha * (1 + (self.pos_weight - 1) * target)
            loss = 2 * alpha * (1 - p_true) ** self.focal_gamma * ce
        return loss.mean(dim=1) if loss.dim() == 2 else loss
