"""The README and docs follow the code: every module path, dotted name and file they cite exists."""

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
DOTTED = re.compile(r"medfuse_sk(?:\.[A-Za-z_][A-Za-z_0-9]*)+")
FILES = re.compile(r"(?<![\w/.])((?:medfuse_sk|tests|benchmarks|kernels|docs)/[\w/.-]+\.(?:py|md|sh))")


#: Entry-point group names, which are spelled like modules.
ENTRY_POINT_GROUPS = {"medfuse_sk.models", "medfuse_sk.cohorts"}


def _resolves(dotted: str) -> bool:
    if dotted in ENTRY_POINT_GROUPS:
        return True
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for name in parts[i:]:
                obj = getattr(obj, name)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_dotted_name_in_the_docs_resolves(doc):
    text = doc.read_text()
    broken = sorted({d for d in DOTTED.findall(text) if not _resolves(d.rstrip("."))})
    assert not broken, f"{doc.name} names what the code no longer has: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_repository_file_the_docs_cite_exists(doc):
    cited = set(FILES.findall(doc.read_text()))
    missing = sorted(f for f in cited if not (ROOT / f).exists())
    assert not missing, f"{doc.name} cites files that do not exist: {missing}"
