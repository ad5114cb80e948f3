"""Split names of the fixed splits shipped with the dataset loaders."""

from __future__ import annotations

from collections.abc import Sequence

SPLITS = ("train", "val", "test")


def resolve_splits(split: str | Sequence[str], splits: Sequence[str] = SPLITS) -> tuple[str, ...]:
    """``split`` (a name, ``"all"`` or a list of them) as the tuple of split names it means,
    in order and without repeats; an unknown or empty request is a ``ValueError``."""
    names = [split] if isinstance(split, str) else list(split)
    choices = ", ".join(repr(s) for s in splits)
    out: list[str] = []
    for name in names:
        if name == "all":
            out.extend(splits)
        elif name in splits:
            out.append(name)
        else:
            raise ValueError(f"unknown split {name!r}; use {choices}, 'all' or a list of them")
    if not out:
        raise ValueError(f"`split` is empty; use {choices}, 'all' or a list of them")
    return tuple(dict.fromkeys(out))
