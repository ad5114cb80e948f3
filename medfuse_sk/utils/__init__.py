"""Small helpers every subpackage may use: readable values in messages, file hashes, the
process's memory allocator settings, one way to look inside a Pipeline or an ensemble, a
registry by name, and the install hint of an optional part. Nothing here knows of events,
models or torch."""

from ._hashing import sha256_file
from ._install import install_hint
from ._memory import keep_freed_memory_for_reuse, lift_fixed_mmap_threshold
from ._registry import Registry
from ._text import as_python, closest, examples
from ._unwrap import Unwrapped, find_estimators, unwrap

__all__ = ["Registry", "Unwrapped", "as_python", "closest", "examples", "find_estimators",
           "install_hint", "keep_freed_memory_for_reuse", "lift_fixed_mmap_threshold", "sha256_file",
           "unwrap"]
