"""Parameter specs: one entry per parameter, read by an estimator for its signature, its
docstring and scikit-learn's parameter validation.

A spec is a ``dict`` of name → :class:`Param` (default, scikit-learn constraints, where the
parameter goes, documentation). :func:`constraints`, :func:`signature` and :func:`docstring`
derive an estimator's ``_parameter_constraints``, ``__init__.__signature__`` and numpydoc
``Parameters`` entries from it, so adding a parameter is adding one entry. MedFuse's spec is
``medfuse/_params.py``. No torch import here.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sklearn.utils._param_validation import Options

__all__ = ["Param", "Satisfies", "constraints", "signature", "docstring"]


class Satisfies(Options):
    """A constraint given by a predicate and the words that describe it.

    scikit-learn's ``make_constraint`` passes ``Options`` instances through unchanged, so
    this subclass is how a check that is neither a type, a range nor a set of options (a
    sequence of fusion names, a torch device) joins the same validation and error message.
    """

    def __init__(self, predicate: Callable[[Any], bool], description: str) -> None:
        super().__init__(object, set())
        self.predicate = predicate
        self.description = description

    def is_satisfied_by(self, val: Any) -> bool:
        try:
            return bool(self.predicate(val))
        except Exception:  # a predicate that cannot judge the value rejects it
            return False

    def __str__(self) -> str:
        return self.description


@dataclass(frozen=True)
class Param:
    """One parameter: default, allowed values, destination, documentation.

    ``to`` says where the value goes; MedFuse uses ``"module"`` (the network), ``"skorch"``
    (skorch's own ``NeuralNet`` argument) and ``"estimator"`` (read by the estimator).
    """

    default: Any
    constraints: list
    doc: str
    to: str = "estimator"
    kind: str = ""  # the type as the docstring names it


def constraints(spec: Mapping[str, Param]) -> dict[str, list]:
    """``_parameter_constraints`` for scikit-learn's validation."""
    return {name: list(p.constraints) for name, p in spec.items()}


def signature(spec: Mapping[str, Param], first: Iterable[inspect.Parameter] = ()) -> inspect.Signature:
    """An ``__init__`` signature: ``first``, then every spec parameter (keyword-only, with its
    default), then ``**kwargs`` (for skorch's prefixed arguments)."""
    keyword = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=p.default)
               for name, p in spec.items()]
    rest = inspect.Parameter("kwargs", inspect.Parameter.VAR_KEYWORD)
    return inspect.Signature([*first, *keyword, rest])


def docstring(spec: Mapping[str, Param], names: Iterable[str] | None = None) -> str:
    """The numpydoc ``Parameters`` entries of ``names`` (default: the whole spec, in order)."""
    lines = []
    for name in spec if names is None else names:
        p = spec[name]
        lines.append(f"    {name} : {p.kind or 'object'}, default {p.default!r}")
        lines.append(textwrap.fill(p.doc, width=96, initial_indent=" " * 8,
                                   subsequent_indent=" " * 8, break_on_hyphens=False))
    return "\n".join(lines)
