"""Small helpers every subpackage may use: readable values in messages, file hashes, the
process's memory allocator settings, one way to look inside a Pipeline or an ensemble, and a
registry by name. Nothing here knows of events, models or torch."""

from ._hashing import sha256_file
from ._memory import keep_freed_memory_for_reuse
from ._registry import Registry
from ._text import as_python, examples
from ._unwrap import Unwrapped, find_estimators, unwrap

__all__ = ["Registry", "Unwrapped", "as_python", "examples", "find_estimators",
           "keep_freed_memory_for_reuse", "sha256_file", "unwrap"]
