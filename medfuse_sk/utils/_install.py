"""How to install an optional part of the library, said once for every message that needs it."""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "install_hint"]

#: The name of the package on an index (PyPI).
DISTRIBUTION = "medfuse-sk"


def install_hint(*extras: str) -> str:
    """The commands that install the optional dependencies ``extras``, from an index and from a
    checkout of the repository.

    >>> install_hint("grud")
    "pip install 'medfuse-sk[grud]' (from a checkout: pip install -e '.[grud]')"
    """
    if not extras:
        raise ValueError("install_hint needs at least one extra")
    names = ",".join(extras)
    return f"pip install '{DISTRIBUTION}[{names}]' (from a checkout: pip install -e '.[{names}]')"
