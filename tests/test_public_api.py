"""The names users stand on: what ``medfuse_sk`` and its subpackages offer by name."""

import importlib

import pytest

import medfuse_sk

#: Every name importable from ``medfuse_sk`` before the package was split into subpackages
#: (commit ba46bed): none may go.
TOP_LEVEL = ["EventSet", "EventTokenizer", "MedFuseClassifier", "TokenSet", "__version__"]

#: The public face of each subpackage (its ``__all__``) must resolve.
SUBPACKAGES = ["data", "datasets", "models", "inspection", "evaluation", "io", "recipes", "cli",
               "utils", "ensemble", "distributed"]


@pytest.mark.parametrize("name", TOP_LEVEL)
def test_every_top_level_name_of_before_the_move_is_still_there(name):
    assert hasattr(medfuse_sk, name)


def test_the_top_level_names_are_the_classes_of_their_subpackages():
    from medfuse_sk.data import EventSet, EventTokenizer, TokenSet
    from medfuse_sk.models import MedFuseClassifier

    assert (medfuse_sk.EventSet, medfuse_sk.EventTokenizer, medfuse_sk.TokenSet,
            medfuse_sk.MedFuseClassifier) == (EventSet, EventTokenizer, TokenSet, MedFuseClassifier)


@pytest.mark.parametrize("sub", SUBPACKAGES)
def test_each_public_face_exports_what_it_lists(sub):
    module = importlib.import_module(f"medfuse_sk.{sub}")
    names = getattr(module, "__all__", None)
    assert names, f"medfuse_sk.{sub} has no __all__"
    missing = [n for n in names if not hasattr(module, n)]
    assert not missing, missing
    assert len(set(names)) == len(names), "a name listed twice"


#: Run in a fresh interpreter: what importing the parts without a network loads.
_LAZY_TORCH = """
import sys
import medfuse_sk, medfuse_sk.datasets.meds, medfuse_sk.datasets.meds._shards
print("torch" in sys.modules, "MedFuseClassifier" in dir(medfuse_sk))
"""


def test_the_top_level_imports_torch_only_when_the_network_is_asked_for():
    """MEDS shard workers import ``medfuse_sk.datasets.meds`` in each process: torch (seconds
    a process) comes in only with ``MedFuseClassifier`` (PEP 562's module ``__getattr__``; the
    tests above get it from ``medfuse_sk``)."""
    import os
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _LAZY_TORCH], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "True"]  # no torch; the lazy name is listed
    assert set(medfuse_sk.__all__) <= set(dir(medfuse_sk))
    with pytest.raises(AttributeError, match="has no attribute 'MedFuseClasifier'"):
        medfuse_sk.MedFuseClasifier  # noqa: B018
