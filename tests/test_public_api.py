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
