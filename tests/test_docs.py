"""The README and docs follow the code: every module path, dotted name and file they cite exists."""

import importlib
import re
from pathlib import Path

import pytest
from synthetic import cut_sample

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


def _readme_code(heading: str) -> str:
    """The first Python block of the README section ``## heading``."""
    section = (ROOT / "README.md").read_text().split(f"\n## {heading}\n", 1)[1].split("\n## ")[0]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_snippet_on_the_bundled_data_runs(monkeypatch, capsys):
    """The "Try it on the bundled data" code as printed, on a cut of the sample and with a tiny
    network (the full run is `medfuse demo`'s, checked by tests/cli/test_cli.py)."""
    import functools

    import medfuse_sk

    cut_sample(monkeypatch, 80, 60)
    monkeypatch.setattr(medfuse_sk, "MedFuseClassifier", functools.partial(
        medfuse_sk.MedFuseClassifier, max_epochs=1, d_model=16, n_heads=2, verbose=0))
    code = _readme_code("Try it on the bundled data")
    assert 'load_sample("val")' in code
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "stay_id" in out and re.search(r"^AUPRC 0\.\d{3}  AUROC 0\.\d{3}$", out, re.MULTILINE)
