"""Values as readable text in error messages and warnings."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["as_python", "closest", "examples"]


def as_python(value: Any) -> Any:
    """A numpy scalar as the Python scalar users typed (for readable messages)."""
    return value.item() if isinstance(value, np.generic) else value


def examples(values: Iterable, n: int = 5) -> str:
    """The first ``n`` of ``values`` as their reprs, then how many there are in all."""
    values = [as_python(v) for v in values]
    shown = ", ".join(repr(v) for v in values[:n])
    return shown + (f", … ({len(values)} in all)" if len(values) > n else "")


def closest(name: Any, candidates: Iterable[Any], n: int = 3) -> list[Any]:
    """The ``candidates`` that ``name`` most likely meant, best first (for "did you mean").

    Those equal to ``name`` but for case come first, alone when there are any; else up to
    ``n`` close spellings (:func:`difflib.get_close_matches`, compared case-insensitively).
    Values are compared as text, so ``1`` matches ``"1"``; the candidates are returned as
    given.
    """
    by_text: dict[str, list[Any]] = {}
    for candidate in candidates:
        by_text.setdefault(str(as_python(candidate)).lower(), []).append(as_python(candidate))
    text = str(as_python(name)).lower()
    if text in by_text:
        return list(by_text[text])
    return [c for close in difflib.get_close_matches(text, list(by_text), n=n)
            for c in by_text[close]][:n]
