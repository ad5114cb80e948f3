"""The model registry: every model the library (or another package) offers, by name.

Persistence, ensembles, recipes, explanations and the command line read this registry instead
of naming classes, so a new model is one folder and one :func:`register_model` call:

>>> @register_model("tiny", classes=(TinyClassifier,))      # doctest: +SKIP
... def make_tiny(random_state=0, **params):
...     return TinyClassifier(random_state=random_state, **params)

``create_model("tiny", max_epochs=3)`` then builds it, ``medfuse fit ... --model tiny`` fits
it, and a model folder may name ``TinyClassifier``. Other packages register theirs through the
``medfuse_sk.models`` entry-point group (a module whose import calls :func:`register_model`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..utils import Registry

__all__ = ["ModelSpec", "register_model", "unregister_model", "create_model", "get_model",
           "available_models", "registered_classes", "registered_parameter_classes",
           "ENTRY_POINT_GROUP"]

#: The entry-point group through which other packages add models.
ENTRY_POINT_GROUP = "medfuse_sk.models"
#: The models of this package register on its import; the library's other parts that add
#: models (``medfuse_sk.recipes``, ``medfuse_sk.distributed``) come in through the same
#: entry-point group as another package's (pyproject.toml), so this module names none of them.
_BUILTIN = ("medfuse_sk.models",)


@dataclass(frozen=True)
class ModelSpec:
    """One registered model.

    Attributes
    ----------
    name : str
        The registry name (``medfuse``, ``xgboost``, ...).
    factory : callable
        ``factory(random_state=..., **params)`` returns a new, unfitted estimator that takes a
        long table or an :class:`~medfuse_sk.data.EventSet` in ``fit`` and ``predict_proba``.
    classes : tuple of type
        Estimator classes a saved model folder of this model may name (safe files load only
        registered classes).
    parameter_classes : tuple of type
        Classes that may appear as parameter values in a saved folder (a network module, a
        loss class).
    description : str
        One line, shown by ``medfuse fit --help`` and :func:`available_models`.
    """

    name: str
    factory: Callable[..., Any]
    classes: tuple[type, ...] = ()
    parameter_classes: tuple[type, ...] = ()
    description: str = ""
    extras: tuple[str, ...] = field(default=())

    def __call__(self, **params: Any) -> Any:
        return self.factory(**params)


_MODELS: Registry[ModelSpec] = Registry("model", ENTRY_POINT_GROUP, _BUILTIN)


def register_model(
    name: str,
    factory: Callable[..., Any] | None = None,
    *,
    classes: Iterable[type] = (),
    parameter_classes: Iterable[type] = (),
    description: str = "",
    extras: Iterable[str] = (),
    replace: bool = False,
):
    """Register ``factory`` under ``name``; usable as a decorator.

    Parameters
    ----------
    name : str
        Lower-case letters, digits and underscores.
    factory : callable, optional
        Returns a new estimator; ``random_state`` and the model's parameters are passed as
        keywords. A class is a factory too. Omitted: returns a decorator.
    classes, parameter_classes : iterable of type
        What a saved model folder of this model may name (see :class:`ModelSpec`). A class
        given as ``factory`` is added to ``classes``.
    description : str
    extras : iterable of str
        Optional dependencies (``pip install 'medfuse-sk[EXTRA]'``) the model needs.
    replace : bool, default False
        Replace an existing registration of ``name`` instead of refusing it.
    """
    def decorate(f: Callable[..., Any]) -> Callable[..., Any]:
        own = tuple(classes) + ((f,) if isinstance(f, type) else ())
        doc = description or (f.__doc__ or "").strip().split("\n")[0]
        _MODELS.add(name, ModelSpec(name, f, tuple(dict.fromkeys(own)), tuple(parameter_classes),
                                    doc, tuple(extras)),
                    replace=replace, same=lambda old: old.factory is f)
        return f

    return decorate if factory is None else decorate(factory)


def unregister_model(name: str) -> None:
    """Remove ``name`` from the registry (for tests and interactive work)."""
    _MODELS.remove(name)


def get_model(name: str) -> ModelSpec:
    """The registration of ``name``; the error suggests the closest name and lists them."""
    return _MODELS.get(name)


def create_model(name: str, **params: Any) -> Any:
    """A new, unfitted estimator of the model registered as ``name``."""
    return get_model(name).factory(**params)


def available_models() -> list[str]:
    """The registered names, sorted."""
    return _MODELS.names()


def registered_classes() -> dict[str, type]:
    """Every estimator class a saved model may name, by class name."""
    return {cls.__name__: cls for spec in _MODELS.values() for cls in spec.classes}


def registered_parameter_classes() -> dict[str, type]:
    """Every class a saved model may hold as a parameter value, by ``module.qualname``."""
    return {f"{cls.__module__}.{cls.__qualname__}": cls
            for spec in _MODELS.values() for cls in spec.parameter_classes}
