"""Where a network runs: ``device="auto"`` resolved to the machine's device.

A torch estimator's ``device`` parameter may be ``"auto"`` (CUDA when torch sees a GPU, else
the CPU) or any torch device. The parameter keeps what the user gave, so that ``clone`` and
``get_params`` give ``"auto"`` back; ``fit`` resolves it once and keeps the answer in the
fitted attribute ``device_`` (a string such as ``"cpu"``, ``"cuda"`` or ``"cuda:1"``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

__all__ = ["AUTO_DEVICE", "resolve_device", "on_resolved_device"]

#: The ``device`` value that follows the machine.
AUTO_DEVICE = "auto"


def resolve_device(device: Any) -> str:
    """The concrete device of a ``device`` parameter, as a string.

    Parameters
    ----------
    device : "auto", str or torch.device
        ``"auto"``: ``"cuda"`` when ``torch.cuda.is_available()``, else ``"cpu"``; any other
        value is a torch device, returned as its name (``torch.device("cuda", 1)`` →
        ``"cuda:1"``).

    Returns
    -------
    str
    """
    if isinstance(device, str) and device == AUTO_DEVICE:
        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(torch.device(device))


@contextlib.contextmanager
def on_resolved_device(estimator: Any) -> Iterator[None]:
    """Run the block with ``estimator.device`` set to ``estimator.device_`` (the resolved
    device: what skorch and torch need), and give the parameter its own value back after.

    Blocks may nest; the outermost one restores the parameter. An estimator without
    ``device_`` (pickled before it existed) runs on ``device`` resolved now.
    """
    requested = estimator.device
    resolved = getattr(estimator, "device_", None)
    estimator.device = resolve_device(requested) if resolved is None else resolved
    try:
        yield
    finally:
        estimator.device = requested
