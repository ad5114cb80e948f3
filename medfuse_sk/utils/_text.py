"""Values as readable text in error messages and warnings."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["as_python", "examples"]


def as_python(value: Any) -> Any:
    """A numpy scalar as the Python scalar users typed (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def examples(values: Iterable, n: int = 5) -> str:
    """The first ``n`` of ``values`` as their reprs, then how many there are in all."""
    values = [as_python(v) for v in values]
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", … ({len(values)} in all)" if len(values) > n else "")
