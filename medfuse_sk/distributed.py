"""Data-parallel training: one network fit spread over N processes (torch DDP).

:class:`DataParallelMixin` gives any skorch network model of the library data-parallel
training; :class:`DistributedMedFuseClassifier` is MedFuse with it (registered as
``medfuse_distributed``).

Launch one process per device with ``torchrun`` (or ``accelerate launch``, which sets the same
environment); every process runs the same script on the same data::

    torchrun --nproc_per_node 4 -m medfuse_sk.cli fit events.parquet labels.csv --out model/
    torchrun --nproc_per_node 4 train.py        # a script that fits DistributedMedFuseClassifier

How the work is shared: every training batch is the batch a single-process fit with the same
``batch_size`` and ``random_state`` would draw (rank 0's batch order is broadcast); each process
computes the loss of its share of that batch's stays (every N-th stay), and
:class:`torch.nn.parallel.DistributedDataParallel` averages the gradients. Each share's loss is
weighted by its size (stays, or total ``sample_weight``), so the averaged gradient is the
gradient of the whole batch's mean loss:
the fit follows the single-process fit (same steps, learning-rate schedule and early stopping) up
to floating-point summation order, and finishes in about 1/N of the time when the devices are
busy. Validation and prediction are not split: every process scores the whole validation set
(identical results, so early stopping stops every process at the same epoch). Only rank 0
prints the epoch table; :func:`~medfuse_sk.io.save_model` writes only on rank 0.

Differences from a single-process fit: dropout and token dropout draw their masks per process
(same distribution, other masks); a batch with fewer stays than processes (the remainder of a
small data set) is merged into the batch before it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from .models import (
    BinaryLoss,
    MedFuseClassifier,
    MedFuseEnsemble,
    MedFuseModule,
    register_model,
    resolve_device,
)

__all__ = ["DataParallelMixin", "DistributedMedFuseClassifier", "init_from_environment",
           "is_main_process", "shard_batches"]

_LOADER_KEYS = ("num_workers", "pin_memory", "timeout", "worker_init_fn", "multiprocessing_context",
                "generator", "prefetch_factor", "persistent_workers", "pin_memory_device")


def init_from_environment(device: str = "cpu") -> bool:
    """Join the process group a launcher (torchrun, accelerate launch) describes in the environment.

    Parameters
    ----------
    device : str
        ``"cuda..."`` uses the NCCL backend and this process's ``LOCAL_RANK`` GPU; anything else
        the gloo backend (CPU).

    Returns
    -------
    bool
        True when this process is one of several (``WORLD_SIZE`` > 1) and the group is ready.
    """
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size() > 1
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return False
    cuda = str(device).startswith("cuda")
    if cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
    dist.init_process_group(backend="nccl" if cuda else "gloo")
    return True


def is_main_process() -> bool:
    """True in a single-process run and in the process of rank 0 of a distributed one (also
    before the process group is joined: a launcher's ``RANK`` says which process this is)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return int(os.environ.get("RANK", "0")) == 0


def _world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def shard_batches(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This process's share of every batch: stays ``rank, rank + N, ...`` of each one.

    Batches hold stays sorted by length, so taking every N-th stay gives each process a
    similar amount of work. A batch with fewer than ``world_size`` stays is first merged into
    the batch before it (or after it, when it is the first), so that every process has a
    share of every batch.
    """
    merged: list[list[int]] = []
    pending: list[int] = []
    for batch in batches:
        batch = list(batch)
        if len(batch) < world_size:
            if merged:
                merged[-1] = merged[-1] + batch
            else:
                pending += batch
            continue
        merged.append(pending + batch)
        pending = []
    if pending:
        if not merged:
            raise ValueError(f"{len(pending)} training stays cannot be shared by {world_size} "
                             "processes: every process needs at least one stay per batch")
        merged[-1] = merged[-1] + pending
    return [batch[rank::world_size] for batch in merged]


class DataParallelMixin:
    """Data-parallel training for a skorch network model, when launched in several processes.

    Put it first among the bases: ``class DistributedX(DataParallelMixin, XClassifier)``. In a
    single process the model is unchanged. When a launcher started several processes
    (``WORLD_SIZE`` > 1) ``fit`` joins their process group (gloo on CPU, NCCL on CUDA, one GPU
    per ``LOCAL_RANK``), and each process trains on its share of every batch with gradients
    averaged (see the module docstring).

    What the model must offer (as :class:`~medfuse_sk.MedFuseClassifier` does): skorch's
    ``NeuralNet`` training loop, a training ``DataLoader`` with a ``batch_sampler`` (its
    batches are shared out), a ``random_state`` and a ``device``; batches that are dicts may
    carry ``"sample_weight"``.

    ``random_state`` must be an integer in a multi-process run: every process must draw the
    same validation split. All processes must be given the same stays and labels (checked).
    A fitted model is an ordinary single-process model: it predicts, pickles and saves as the
    model without the mixin does.
    """

    def fit(self, X: Any, y: Any, **fit_params):
        if init_from_environment(resolve_device(self.device)):
            world = dist.get_world_size()
            if not isinstance(self.random_state, (int, np.integer)):
                raise ValueError(f"random_state must be an integer when training in {world} "
                                 f"processes (got {self.random_state!r}): every process must "
                                 "draw the same validation split")
        return super().fit(X, y, **fit_params)

    # -- one process of several --------------------------------------------------------------
    def _distributed(self) -> bool:
        return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1

    def initialize_callbacks(self):
        super().initialize_callbacks()
        if self._distributed() and not is_main_process():
            for _, callback in self.callbacks_:
                if hasattr(callback, "sink"):
                    callback.sink = _silent
        return self

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        if not self._distributed():
            return super().partial_fit(X, y, classes=classes, **fit_params)
        if not self.initialized_:
            self.initialize()
        _check_same_data(self._fingerprint(X, y))
        # one GPU per process: init_from_environment made LOCAL_RANK's GPU the current one
        device_ids = [torch.cuda.current_device()] if _on_cuda() else None
        # wrapping broadcasts rank 0's weights and buffers to every process; object.__setattr__
        # because skorch would register a module attribute as one of the net's own modules
        ddp = DistributedDataParallel(self.module_, device_ids=device_ids,
                                      find_unused_parameters=True)
        object.__setattr__(self, "_ddp", ddp)
        try:
            return super().partial_fit(X, y, classes=classes, **fit_params)
        finally:
            object.__setattr__(self, "_ddp", None)

    @staticmethod
    def _fingerprint(X: Any, y: Any) -> list[float]:
        lengths = np.asarray(getattr(X, "lengths", [len(X)]), dtype=np.float64)
        labels = np.asarray(y, dtype=np.float64) if y is not None else np.zeros(1)
        return [float(len(lengths)), float(lengths.sum()), float(labels.sum()),
                float((labels * np.arange(1, len(labels) + 1)).sum())]

    def infer(self, x, **fit_params):
        ddp = getattr(self, "_ddp", None)
        if ddp is None or not torch.is_grad_enabled():
            return super().infer(x, **fit_params)
        plain, self.module_ = self.module_, ddp  # training steps go through DDP's gradient hooks
        try:
            return super().infer(x, **fit_params)
        finally:
            self.module_ = plain

    def get_iterator(self, dataset, training: bool = False):
        loader = super().get_iterator(dataset, training=training)
        if not training or not self._distributed():
            return loader
        rank, world = _world()
        batches = [list(map(int, b)) for b in loader.batch_sampler]
        shared = [batches if rank == 0 else None]
        dist.broadcast_object_list(shared, src=0)  # every process follows rank 0's batch order
        kwargs = {key: getattr(loader, key) for key in _LOADER_KEYS if hasattr(loader, key)}
        if not kwargs.get("num_workers"):
            kwargs.pop("prefetch_factor", None)
            kwargs["persistent_workers"] = False
        return DataLoader(loader.dataset, batch_sampler=shard_batches(shared[0], rank, world),
                          collate_fn=loader.collate_fn, **kwargs)

    def get_loss(self, y_pred, y_true, *args, training: bool = False, **kwargs):
        loss = super().get_loss(y_pred, y_true, *args, training=training, **kwargs)
        if not (training and self._distributed() and torch.is_grad_enabled()):
            return loss
        # DDP averages the processes' gradients; weighting each share's mean loss by its size
        # (its stays, or their total sample_weight) makes that average the gradient of the
        # whole batch's mean loss
        X = kwargs.get("X", args[0] if args else None)
        weight = X.get("sample_weight") if isinstance(X, dict) else None
        mine = float(len(y_true)) if weight is None else float(weight.sum())
        total = torch.tensor([mine], dtype=torch.float64, device=_comm_device())
        dist.all_reduce(total)
        return loss * (mine * dist.get_world_size() / max(total.item(), 1e-300))

    def train_step(self, batch, **fit_params):
        step = super().train_step(batch, **fit_params)
        if self._distributed():  # record the whole batch's loss, the same in every process
            loss = step["loss"].detach().to(_comm_device()).clone()
            dist.all_reduce(loss)
            step["loss"] = (loss / dist.get_world_size()).to(step["loss"].device)
        return step

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_ddp", None)
        return state


class DistributedMedFuseClassifier(DataParallelMixin, MedFuseClassifier):
    """:class:`MedFuseClassifier` that trains data-parallel when launched in several processes.

    Same parameters and behaviour as :class:`MedFuseClassifier`; in a single process it *is*
    one. See :class:`DataParallelMixin` and the module docstring.
    """


register_model("medfuse_distributed", DistributedMedFuseClassifier,
               parameter_classes=(MedFuseModule, MedFuseEnsemble, BinaryLoss),
               description="MedFuse trained data-parallel when launched in several processes "
                           "(torchrun); a plain MedFuse fit in one")


def _silent(*_: Any, **__: Any) -> None:
    """Epoch-table sink of the processes other than rank 0."""


def _on_cuda() -> bool:
    return dist.get_backend() == "nccl"


def _comm_device() -> torch.device:
    """Where collective tensors live: the current GPU for NCCL, the CPU for gloo."""
    return torch.device("cuda", torch.cuda.current_device()) if _on_cuda() else torch.device("cpu")


def _check_same_data(fingerprint: list[float]) -> None:
    mine = torch.tensor(fingerprint, dtype=torch.float64, device=_comm_device())
    theirs = [torch.zeros_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(theirs, mine)
    differ = [r for r, t in enumerate(theirs) if not torch.equal(t, theirs[0])]
    if differ:
        raise ValueError(f"processes {differ} were given other training stays or labels than "
                         "rank 0: every process must fit on the same data")
