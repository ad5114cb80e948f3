"""Learning-rate schedule for :class:`~medfuse_sk.estimator.MedFuseClassifier` (a skorch callback)."""

from __future__ import annotations

import math

from skorch.callbacks import Callback

__all__ = ["WarmupCosine", "SCHEDULES"]

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
