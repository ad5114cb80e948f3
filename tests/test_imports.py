"""The house's rules, read from the code's own imports: arrows run one way, and no subpackage
reaches into another's private modules or names."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "medfuse_sk"

#: Which parts of the library each part may import (top-level modules and first-level
#: subpackages). Anything not listed is an upward arrow. ``models`` → ``inspection`` is the
#: estimator's ``explain`` convenience method; ``inspection`` knows no model class.
ALLOWED = {
    "utils": set(),
    "kernels": set(),
    "data": {"utils"},
    "datasets": {"utils", "data"},
    "inspection": {"utils", "data"},
    "evaluation": {"utils"},
    "models": {"utils", "data", "kernels", "inspection"},
    "distributed": {"utils", "data", "models"},
    "io": {"utils", "data", "models", "distributed"},
    "ensemble": {"utils", "models"},
    "recipes": {"utils", "data", "datasets", "models", "evaluation", "ensemble"},
    "benchmark": {"utils", "data", "datasets", "models", "evaluation", "io", "recipes",
                  "ensemble"},
    "cli": {"utils", "data", "datasets", "models", "evaluation", "inspection", "io", "recipes",
            "distributed", "ensemble", "benchmark"},
    "__init__": {"data", "models"},
}


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    for path in (ROOT / "kernels").glob("*.py"):
        name = "medfuse_sk.kernels" + ("" if path.stem == "__init__" else f".{path.stem}")
        out[name] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path):
    """(imported module, names, line) of every import in ``module``, lazy ones included."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [a.name for a in node.names]
            # "from package import submodule" imports the submodule
            subs = [n for n in names if f"{target}.{n}" in MODULES]
            for n in subs:
                yield f"{target}.{n}", [], node.lineno
            rest = [n for n in names if n not in subs]
            if rest or not subs:
                yield target, rest, node.lineno
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, [], node.lineno


def _part(module: str) -> str:
    """The part of the library a module belongs to (first-level subpackage or top module)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


EDGES = [(m, t, names, line) for m, p in MODULES.items() for t, names, line in _imports(m, p)
         if t == "medfuse_sk" or t.startswith("medfuse_sk.")]


def test_every_part_is_in_the_table_of_allowed_arrows():
    assert {_part(m) for m in MODULES} == set(ALLOWED)


def _reads_version_only(names: list[str]) -> bool:
    """``from .. import __version__`` reads the package's version, not its contents."""
    return names == ["__version__"]


def test_arrows_run_one_way():
    wrong = [f"{m}:{line} imports {t} ({_part(m)} may import {sorted(ALLOWED[_part(m)])})"
             for m, t, names, line in EDGES
             if _part(t) != _part(m) and _part(t) not in ALLOWED[_part(m)]
             and not _reads_version_only(names)]
    assert not wrong, "\n".join(wrong)


def test_no_circle_between_parts():
    graph: dict[str, set[str]] = {}
    for m, t, names, _ in EDGES:
        if _part(t) != _part(m) and not _reads_version_only(names):
            graph.setdefault(_part(m), set()).add(_part(t))

    def reach(start: str) -> set[str]:
        seen, todo = set(), [start]
        while todo:
            for nxt in graph.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    circles = [p for p in graph if p in reach(p)]
    assert not circles, f"parts that import themselves through others: {circles} ({graph})"


def test_no_private_module_or_name_of_another_part():
    wrong = []
    for m, t, names, line in EDGES:
        if _part(t) == _part(m) or t == "medfuse_sk":
            continue
        private_path = [p for p in t.split(".") if p.startswith("_")]
        private_names = [n for n in names if n.startswith("_") and n != "__version__"]
        if private_path or private_names:
            wrong.append(f"{m}:{line} imports {t} {private_names or ''}")
    assert not wrong, "\n".join(wrong)


def test_data_code_knows_no_torch():
    heavy = [f"{m}:{line} imports {t}" for m, p in MODULES.items() if _part(m) in {"data", "utils"}
             for t, _, line in _imports(m, p) if t.split(".")[0] in {"torch", "skorch", "triton"}]
    assert not heavy, "\n".join(heavy)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if not m.endswith("__main__")))
def test_every_import_of_the_library_resolves(module):
    importlib.import_module(module)
    for target, names, line in _imports(module, MODULES[module]):
        if not target.startswith("medfuse_sk"):
            continue
        imported = importlib.import_module(target)
        missing = [n for n in names if n != "*" and not hasattr(imported, n)]
        assert not missing, f"{module}:{line}: {target} has no {missing}"


def test_at_most_twelve_modules_at_the_top_of_the_package():
    top = [p.name for p in PACKAGE.glob("*.py")]
    assert len(top) <= 12, top


#: Run in a fresh interpreter where ``import triton`` fails, as in the base install.
_WITHOUT_TRITON = """
import sys
sys.modules["triton"] = None  # `import triton` now raises ImportError: as if not installed
import medfuse_sk, medfuse_sk.models, medfuse_sk.cli, medfuse_sk.io, medfuse_sk.inspection
import medfuse_sk.recipes, medfuse_sk.ensemble, medfuse_sk.distributed, medfuse_sk.datasets
medfuse_sk.cli.build_parser()
from synthetic import TINY, u_shaped_task
from medfuse_sk import MedFuseClassifier

events, labels = u_shaped_task(60, seed=0)
clf = MedFuseClassifier(random_state=0, **TINY).fit(events, labels)
assert clf.predict_proba(events).shape == (60, 2) and clf.module_.embedding.kernel == "auto"
try:
    MedFuseClassifier(kernel="triton", **TINY).fit(events, labels)
except ImportError as exc:
    print(exc)
else:
    raise AssertionError("kernel='triton' fitted without triton")
"""


def test_the_base_install_fits_and_predicts_without_triton():
    """triton is the `gpu` extra: importing, fitting and predicting on the CPU never need it,
    and asking for the Triton kernel without it says how to install it."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
           "OMP_NUM_THREADS": "1"}
    env.pop("TRITON_INTERPRET", None)
    done = subprocess.run([sys.executable, "-c", _WITHOUT_TRITON], capture_output=True,
                          text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    message = done.stdout.strip()
    assert "kernel='triton' needs the triton package" in message
    assert "pip install 'medfuse-sk[gpu]'" in message and "pip install -e '.[gpu]'" in message
    assert "CUDA build of torch" in message


def test_install_hints_come_from_one_helper():
    """Messages name an extra through ``utils.install_hint`` (from an index and from a
    checkout), never with a spelled-out ``pip install 'medfuse-sk[...]'`` of their own."""
    from medfuse_sk.utils import install_hint

    assert install_hint("grud") == ("pip install 'medfuse-sk[grud]' "
                                    "(from a checkout: pip install -e '.[grud]')")
    spelled = []
    for module, path in MODULES.items():
        if module == "medfuse_sk.utils._install":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                           ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        spelled += [f"{module}:{node.lineno}" for node in ast.walk(tree)
                    if isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and "medfuse-sk[" in node.value and id(node) not in docstrings]
    assert not spelled, spelled
