"""One way to look inside a fitted model: a Pipeline's steps, a voting or stacking ensemble's
members, down to the estimators that do the work."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Unwrapped", "unwrap", "find_estimators"]


@dataclass
class Unwrapped:
    """The parts of a model.

    Attributes
    ----------
    final : estimator
        The last step of a Pipeline, else the model itself.
    steps : list of (name, estimator)
        The Pipeline's steps before ``final`` (empty for a plain estimator).
    members : list of (name, estimator)
        The members of ``final`` when it is a voting or stacking ensemble (the fitted ones,
        ``named_estimators_``, once fitted; members set to ``"drop"`` left out), else ``[]``.
    """

    final: Any
    steps: list[tuple[str, Any]] = field(default_factory=list)
    members: list[tuple[str, Any]] = field(default_factory=list)

    @property
    def transformer(self) -> Any:
        """The step right before ``final`` (a tokenizer, say), or None."""
        return self.steps[-1][1] if self.steps else None


def _is_pipeline(model: Any) -> bool:
    from sklearn.pipeline import Pipeline

    return isinstance(model, Pipeline)


def _members(model: Any) -> list[tuple[str, Any]]:
    from sklearn.ensemble import StackingClassifier, VotingClassifier

    if not isinstance(model, (VotingClassifier, StackingClassifier)):
        return []
    fitted = getattr(model, "named_estimators_", None)
    pairs = fitted.items() if fitted is not None else model.estimators
    return [(name, est) for name, est in pairs if not isinstance(est, str)]  # "drop"


def unwrap(model: Any) -> Unwrapped:
    """The final estimator of ``model``, the steps before it and its ensemble members."""
    if _is_pipeline(model):
        steps = list(model.steps)
        final = steps[-1][1]
        return Unwrapped(final, steps[:-1], _members(final))
    return Unwrapped(model, [], _members(model))


def find_estimators(model: Any, match: Callable[[Any], bool] | type,
                    prefix: str = "") -> list[tuple[str, Any]]:
    """Every estimator inside ``model`` (itself, a Pipeline's steps, an ensemble's members,
    recursively) that ``match`` accepts — a class or a predicate — with its path
    (``"step."``, ``"member."``; ``""`` for the model itself)."""
    accept = (lambda est: isinstance(est, match)) if isinstance(match, type) else match
    if accept(model):
        return [(prefix, model)]
    found: list[tuple[str, Any]] = []
    parts = list(model.steps) if _is_pipeline(model) else _members(model)
    for name, est in parts:
        found += find_estimators(est, accept, f"{prefix}{name}.")
    return found
