"""The package works from a checkout that is not installed, as from an installed wheel."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# a fresh interpreter with the editable install's import hooks removed: only the checkout
# on sys.path can provide medfuse_sk
_CHECKOUT_ONLY = """
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in getattr(f, "__module__", "")]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in getattr(h, "__module__", "")]
sys.path_importer_cache.clear()
sys.path.insert(0, {root!r})
import medfuse_sk.kernels
from medfuse_sk.embedding import MuFuseEmbedding
print(medfuse_sk.kernels.__file__)
print(callable(medfuse_sk.kernels.mufuse_embedding))
"""


def test_kernels_import_from_a_checkout_that_is_not_installed():
    out = subprocess.run([sys.executable, "-c", _CHECKOUT_ONLY.format(root=str(ROOT))],
                         capture_output=True, text=True, cwd="/", timeout=120)
    assert out.returncode == 0, out.stderr
    path, ok = out.stdout.split()
    assert Path(path).resolve() == ROOT / "kernels" / "__init__.py" and ok == "True"


def test_the_kernels_link_points_at_the_one_copy_of_the_kernels():
    link = ROOT / "medfuse_sk" / "kernels"
    assert link.is_symlink() and link.resolve() == ROOT / "kernels"
