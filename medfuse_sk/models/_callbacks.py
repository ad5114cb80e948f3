"""Training callbacks of :class:`~medfuse_sk.MedFuseClassifier` (skorch):
learning-rate schedule, weight averaging, and an epoch table without colour codes in logs."""

from __future__ import annotations

import math
import os
import sys

import torch
from skorch.callbacks import Callback, LRScheduler, PrintLog
from torch.optim.lr_scheduler import LambdaLR

__all__ = ["PlainPrintLog", "WarmupCosine", "WarmupCosineLR", "WeightAverage", "SCHEDULES"]

#: Learning-rate schedules of :class:`WarmupCosineLR`.
SCHEDULES = ("constant", "cosine")


class WarmupCosine:
    """Learning-rate multiplier of training step ``s`` (a ``LambdaLR`` ``lr_lambda``).

    ``min(1, (s + 1) / W) · (m + (1 - m) · (1 + cos(π s / S)) / 2)`` with ``W`` the warm-up
    steps, ``S`` the total steps and ``m = min_ratio``; with ``schedule="constant"`` only the
    warm-up factor applies. A class rather than a closure so that a fitted net pickles.
    """

    def __init__(self, schedule: str, warmup_steps: float, total_steps: int,
                 min_ratio: float = 0.0) -> None:
        self.schedule = schedule
        self.warmup_steps = warmup_steps
        self.total_steps = max(1, total_steps)
        self.min_ratio = min_ratio

    def __call__(self, step: int) -> float:
        factor = min(1.0, (step + 1) / self.warmup_steps) if self.warmup_steps > 0 else 1.0
        if self.schedule == "cosine":
            progress = min(step / self.total_steps, 1.0)
            m = self.min_ratio
            factor *= m + (1.0 - m) * 0.5 * (1.0 + math.cos(math.pi * progress))
        return factor


class WarmupCosineLR(LRScheduler):
    """skorch's ``LRScheduler`` running a ``LambdaLR`` of :class:`WarmupCosine`, per batch.

    Stepping and the per-batch ``event_lr`` record in the history are skorch's. One thing
    differs: the schedule is built at the first epoch instead of at ``on_train_begin``,
    because its length in steps (the fit's epochs, ``n_epochs_``, × batches per epoch) depends on the size of
    the training split, which skorch makes only after ``on_train_begin``.

    Parameters
    ----------
    schedule : {"constant", "cosine"}
    warmup_epochs : float
        Length of the linear warm-up, in epochs (0: none).
    min_ratio : float, default 0.0
        Final learning rate as a share of ``lr`` (cosine only).
    """

    def __init__(self, schedule: str = "cosine", warmup_epochs: float = 0.0,
                 min_ratio: float = 0.0, event_name: str | None = "event_lr") -> None:
        super().__init__(policy=LambdaLR, monitor=None, event_name=event_name,
                         step_every="batch")
        self.schedule = schedule
        self.warmup_epochs = warmup_epochs
        self.min_ratio = min_ratio

    @property
    def kwargs(self) -> dict:
        return {"lr_lambda": getattr(self, "lr_lambda_", None)}

    def initialize(self):
        if self.schedule not in SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        self.lr_lambda_ = None
        return super().initialize()

    def on_train_begin(self, net, **kwargs):
        self.lr_scheduler_ = None
        self.batch_idx_ = 0

    def on_epoch_begin(self, net, dataset_train=None, **kwargs):
        if self.lr_scheduler_ is not None:
            return
        batch_size = net.get_params_for("iterator_train").get("batch_size", net.batch_size)
        per_epoch = max(1, math.ceil(len(dataset_train) / batch_size))
        self.lr_lambda_ = WarmupCosine(self.schedule, self.warmup_epochs * per_epoch,
                                       getattr(net, "n_epochs_", net.max_epochs) * per_epoch,
                                       self.min_ratio)
        self.lr_scheduler_ = self._get_scheduler(net, self.policy_, last_epoch=-1,
                                                 **self.kwargs)


class WeightAverage(Callback):
    """Exponential moving average of the weights, used for validation and for the final model.

    After the ``n``-th training batch ``shadow ← (1 − w) · shadow + w · weights`` with
    ``w = max(1 − decay, 1 / n)``: the plain mean of the weights so far for the first
    ``1 / (1 − decay)`` batches, an exponential moving average after. The random
    initialisation never enters the average, so a short run (a small cohort: few batches)
    is not pulled back towards it; on a long run this is the usual EMA. The
    validation pass of each epoch runs on the averaged weights (swapped in at its first
    batch), so early stopping judges and keeps the averaged model; the next epoch trains on
    from the raw weights. Without a validation split the averaged weights become the model
    at the end.

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
        self.n_averaged_ = 0
        return self

    def _parameters(self, net) -> list[torch.Tensor]:
        return [p for p in net.module_.parameters() if p.requires_grad]

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.shadow_ = [p.detach().clone() for p in self._parameters(net)]
        self.raw_ = None
        self.n_averaged_ = 0

    @torch.no_grad()
    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        if not training:  # a validation batch: judge the averaged weights
            self.swap_in(net)

    @torch.no_grad()
    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if training:
            self.n_averaged_ += 1
            torch._foreach_lerp_(self.shadow_, [p.detach() for p in self._parameters(net)],
                                 max(1.0 - self.decay, 1.0 / self.n_averaged_))

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


class PlainPrintLog(PrintLog):
    """skorch's epoch table, coloured only on a terminal.

    skorch's ``PrintLog`` colours each column's best value with ANSI escape codes, which
    land as ``\\x1b[32m...\\x1b[0m`` in a redirected log or a notebook's saved output. This
    table colours them only when it prints to standard output, standard output is a
    terminal and the ``NO_COLOR`` environment variable is unset; otherwise every value is
    plain text. Parameters as ``PrintLog``'s.
    """

    def _colour(self) -> bool:
        return (self.sink is print and sys.stdout.isatty()
                and not os.environ.get("NO_COLOR"))

    def format_row(self, row, key, color):
        if not self._colour():  # the best value unmarked rather than wrapped in escape codes
            row = {k: v for k, v in row.items() if k != key + "_best"}
        return super().format_row(row, key, color)
