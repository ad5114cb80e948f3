"""Training callbacks of :class:`~medfuse_sk.estimator.MedFuseClassifier` (skorch):
learning-rate schedule and weight averaging."""

from __future__ import annotations

import math

import torch
from skorch.callbacks import Callback

__all__ = ["WarmupCosine", "WeightAverage", "SCHEDULES"]

SCHEDULES = ("constant", "cosine")


class WarmupCosine(Callback):
    """Linear warm-up, then cosine decay to ``min_ratio · lr`` at the last epoch, per batch.

    The learning rate of training step ``s`` of ``S = max_epochs · batches_per_epoch`` is
    ``lr · min(1, (s + 1) / W) · (m + (1 - m) · (1 + cos(π s / S)) / 2)`` with ``W`` the
    warm-up steps and ``m = min_ratio``. With ``schedule="constant"`` only the warm-up applies.

    Parameters
    ----------
    schedule : {"constant", "cosine"}
    warmup_epochs : float
        Length of the linear warm-up, in epochs (0: none).
    min_ratio : float, default 0.0
        Final learning rate as a share of ``lr`` (cosine only).
    """

    def __init__(self, schedule: str = "cosine", warmup_epochs: float = 0.0,
                 min_ratio: float = 0.0) -> None:
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.min_ratio = min_ratio

    def initialize(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.warmup_epochs < 0:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        self.step_ = 0
        self.batches_per_epoch_ = None
        return self

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.step_ = 0

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        self.batches_per_epoch_ = max(1, math.ceil(len(dataset_train) / net.batch_size))

    def factor(self, step: int, max_epochs: int) -> float:
        """Multiplier of the base learning rate at training step ``step``."""
        per_epoch = self.batches_per_epoch_ or 1
        total = max(1, max_epochs * per_epoch)
        warmup = self.warmup_epochs * per_epoch
        factor = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
        if self.schedule == "cosine":
            progress = min(step / total, 1.0)
            m = self.min_ratio
            factor *= m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        lr = net.lr * self.factor(self.step_, net.max_epochs)
        for group in net.optimizer_.param_groups:
            group["lr"] = lr
        self.step_ += 1


class WeightAverage(Callback):
    """Exponential moving average of the weights, used for validation and for the final model.

    After every training batch ``shadow ← decay · shadow + (1 − decay) · weights``. The
    validation pass of each epoch runs on the averaged weights (the estimator swaps them in),
    so early stopping judges and keeps the averaged model; the next epoch trains on from the
    raw weights. Without a validation split the averaged weights become the model at the end.

    Parameters
    ----------
    decay : float in (0, 1)
        ``0.99`` averages over roughly the last 100 batches.
    """

    def __init__(self, decay: float) -> None:
        self.decay = decay

    def initialize(self):
        if not 0.0 < self.decay < 1.0:
            raise ValueError(f"weight_averaging must lie in (0, 1) or be None, got {self.decay!r}")
        self.shadow_ = None
        self.raw_ = None
        return self

    def _parameters(self, net) -> list[torch.Tensor]:
        return [p for p in net.module_.parameters() if p.requires_grad]

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.shadow_ = [p.detach().clone() for p in self._parameters(net)]
        self.raw_ = None

    @torch.no_grad()
    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            torch._foreach_lerp_(self.shadow_, [p.detach() for p in self._parameters(net)],
                                 1.0 - self.decay)

    @torch.no_grad()
    def swap_in(self, net) -> None:
        """Put the averaged weights into the module (keeping the raw ones aside)."""
        if self.shadow_ is None or self.raw_ is not None:
            return
        params = self._parameters(net)
        self.raw_ = [p.detach().clone() for p in params]
        for p, s in zip(params, self.shadow_, strict=True):
            p.copy_(s)

    @torch.no_grad()
    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if self.raw_ is not None:  # train on from the raw weights
            for p, r in zip(self._parameters(net), self.raw_, strict=True):
                p.copy_(r)
            self.raw_ = None

    def on_train_end(self, net, X=None, y=None, **kwargs):
        self.swap_in(net)  # no-op when validation already swapped them in
