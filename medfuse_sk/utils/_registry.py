"""A registry by name: what the model registry and the cohort registry share.

Names are checked once, a second registration of a name is refused unless asked for, a lookup
of an unknown name suggests the closest one and lists the rest, and on the first lookup the
packages that register entries (this library's and, through an entry-point group, any other
package's) are imported.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from typing import Generic, TypeVar

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries of one kind (``what``: "model", "cohort") by name.

    Parameters
    ----------
    what : str
        What an entry is, for messages.
    entry_point_group : str
        The group through which other packages add entries (a module whose import registers).
    builtin : iterable of str
        Packages of this library imported before the first lookup.
    """

    def __init__(self, what: str, entry_point_group: str, builtin: Iterable[str] = ()) -> None:
        self.what = what
        self.entry_point_group = entry_point_group
        self.builtin = tuple(builtin)
        self._entries: dict[str, T] = {}
        self._loaded = False

    def add(self, name: str, entry: T, *, replace: bool = False,
            same: Callable[[T], bool] = lambda old: False) -> None:
        """Register ``entry`` as ``name``; ``same(old)`` says a repeat registration is harmless
        (the same object registered again, as a reloaded module does)."""
        if not (isinstance(name, str) and name and name.replace("_", "a").isalnum()
                and name == name.lower()):
            raise ValueError(f"a {self.what} name is lower-case letters, digits and _, got "
                             f"{name!r}")
        old = self._entries.get(name)
        if old is not None and not replace and not same(old):
            raise ValueError(f"a {self.what} named {name!r} is already registered ({old!r}); "
                             "pass replace=True to replace it")
        self._entries[name] = entry

    def remove(self, name: str) -> None:
        self._entries.pop(name, None)

    def _load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for package in self.builtin:
            importlib.import_module(package)
        for entry in entry_points(group=self.entry_point_group):
            entry.load()

    def get(self, name: str) -> T:
        """The entry of ``name``; a KeyError suggests the closest name and lists them all."""
        self._load()
        if name not in self._entries:
            close = difflib.get_close_matches(str(name), list(self._entries), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise KeyError(f"no {self.what} named {name!r}{hint}; registered: {self.names()}")
        return self._entries[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(self._entries)

    def values(self) -> Iterator[T]:
        self._load()
        return iter(list(self._entries.values()))
