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
    "cli": {"utils", "data", "datasets", "models", "evaluation", "inspection", "io", "recipes",
            "distributed", "ensemble"},
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
