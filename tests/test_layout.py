"""The package as installed: every subpackage listed, the kernels mapped from the top level."""

import sys
from pathlib import Path

import tomllib

import medfuse_sk

ROOT = Path(__file__).resolve().parents[1]


def test_the_kernels_install_as_medfuse_sk_kernels_from_the_top_level_folder():
    import medfuse_sk.kernels

    assert Path(medfuse_sk.kernels.__file__).resolve() == ROOT / "kernels" / "__init__.py"
    assert callable(medfuse_sk.kernels.mufuse_embedding)
    bare = sys.modules.get("kernels")  # the tests' own kernels/ folder may be a namespace here
    assert bare is None or getattr(bare, "__file__", None) is None, bare


def test_no_link_or_copy_of_the_kernels_inside_the_package():
    inside = ROOT / "medfuse_sk" / "kernels"
    assert not inside.exists() and not inside.is_symlink()


def test_every_package_folder_is_listed_for_installation():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "medfuse_sk").rglob("__init__.py")}
    assert found | {"medfuse_sk.kernels"} == listed
    assert config["package-dir"] == {"medfuse_sk.kernels": "kernels"}


def test_the_package_is_imported_from_this_checkout():
    assert Path(medfuse_sk.__file__).resolve().parent == ROOT / "medfuse_sk"
