"""Which registered models a benchmark runs: the names asked for, or ``all`` that apply.

``all`` means every registered model whose optional dependencies (its registry ``extras``) are
installed and that applies to the data; each one left out is named with the reason. A model
named explicitly is always run (a failure is then reported in its row).
"""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["select_models", "missing_extras", "applies", "NOT_IN_ALL"]

#: Registered models that ``all`` leaves out whatever the data, with the reason.
NOT_IN_ALL = {"medfuse_distributed": "the medfuse model for data-parallel launches: in one "
                                     "process it is medfuse again"}
#: Registered models that apply to some data only: the data description's test and the reason.
_ONLY_FOR = {
    "medfuse_recommended": (lambda d: d.get("source") == "cohort" and d.get("name") == "p12",
                            "its settings are P12's (48 h, P12's series); applies to --cohort p12"),
    "meds_tab": (lambda d: d.get("source") == "meds", "runs on MEDS input only (--meds DIR --task DIR)"),
}
_DISTRIBUTION = "medfuse-sk"


def missing_extras(extras: Sequence[str]) -> list[str]:
    """The requirements of the library's ``extras`` that are not installed."""
    try:
        requires = importlib.metadata.requires(_DISTRIBUTION) or []
    except importlib.metadata.PackageNotFoundError:
        return []
    missing: list[str] = []
    for extra in extras:
        for requirement in requires:
            marker = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", requirement)
            if marker is None or marker.group(1) != extra:
                continue
            name = re.split(r"[\s;<>=!~\[]", requirement, maxsplit=1)[0]
            try:
                importlib.metadata.version(name)
            except importlib.metadata.PackageNotFoundError:
                missing.append(name)
    return sorted(set(missing))


def applies(name: str, spec: Any, description: Mapping[str, Any]) -> str | None:
    """None when the registered model ``name`` applies to data described by ``description``,
    else the reason it does not. A registration may say so itself: a ``applies_to`` attribute,
    a callable taking the description and returning True or the reason."""
    own = getattr(spec, "applies_to", None)
    if callable(own):
        verdict = own(description)
        return None if verdict is True or verdict is None else str(verdict or "does not apply")
    if name in _ONLY_FOR:
        test, reason = _ONLY_FOR[name]
        return None if test(description) else reason
    return None


def select_models(names: Sequence[str], description: Mapping[str, Any]
                  ) -> tuple[list[str], dict[str, str]]:
    """The models to run and those ``all`` left out (name → reason).

    Raises
    ------
    KeyError
        An unknown name (the message suggests the closest and lists the registered ones).
    ValueError
        ``all`` together with other names, or a name given twice.
    """
    from ..models import available_models, get_model
    from ..utils import install_hint

    names = list(names)
    if not names:
        raise ValueError("name at least one model, or all")
    if "all" in names:
        if len(names) > 1:
            raise ValueError(f"all means every registered model; give it alone, not with "
                             f"{', '.join(n for n in names if n != 'all')}")
        chosen, skipped = [], {}
        for name in available_models():
            spec = get_model(name)
            reason = NOT_IN_ALL.get(name) or applies(name, spec, description)
            missing = missing_extras(spec.extras)
            if missing and reason is None:
                reason = f"not installed: {', '.join(missing)}; {install_hint(*spec.extras)}"
            if reason is None:
                chosen.append(name)
            else:
                skipped[name] = reason
        return chosen, skipped
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ValueError(f"model(s) named twice: {', '.join(repeated)}")
    for name in names:
        get_model(name)  # an unknown name fails here, before any data are read
    return names, {}
