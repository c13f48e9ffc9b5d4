"""Static checks, part of the test command: ruff (style, imports, likely bugs) and mypy (types)
on the packages, with the configuration in pyproject.toml / setup.cfg.  Skipped, saying why,
where the tools are not installed (they are in the ``test`` extra).  Also: shipped text cites
primary sources, never the team's internal notes."""

import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ["snn_dfa", "crossbar", "hwsim"]


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(pathlib.Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[test]')")
    return found


def test_ruff_is_clean():
    proc = subprocess.run([_tool("ruff"), "check", "--no-cache", *PACKAGES, "tests", "examples",
                           "benchmarks"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.slow
def test_mypy_is_clean(tmp_path):
    proc = subprocess.run([_tool("mypy"), "--cache-dir", str(tmp_path), *PACKAGES],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_type_ignore_says_why():
    """A ``# type: ignore[code]`` is followed by a comment giving the reason."""
    unexplained = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for n, line in enumerate(path.read_text().splitlines(), 1):
                if "type: ignore" in line:
                    rest = line.split("type: ignore", 1)[1]
                    if not rest.startswith("[") or "#" not in rest:
                        unexplained.append(f"{path.relative_to(ROOT)}:{n}")
    assert not unexplained, unexplained


#: Team-internal notes that do not ship with the project; shipped text must cite the primary
#: source (authors, year, venue or arXiv id, or the public repository and file) instead.
INTERNAL_NOTES = re.compile(r"(seed-papers|core-papers|comparable-tools|environment|anchors)\.md"
                            r"|shared/reference|/work/shared")
#: What ships: the packages, examples, benchmarks, docs, reports and top-level metadata.
SHIPPED_DIRS = ["snn_dfa", "crossbar", "hwsim", "examples", "benchmarks", "docs", "reports"]
SHIPPED_FILES = ["README.md", "setup.cfg", "pyproject.toml", "MANIFEST.in"]
TEXT_SUFFIXES = {".py", ".md", ".toml", ".cfg", ".txt", ".rst", ".html", ".json", ".csv"}


def _shipped_text_files():
    for name in SHIPPED_FILES:
        if (ROOT / name).is_file():
            yield ROOT / name
    for folder in SHIPPED_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.is_file() and path.suffix in TEXT_SUFFIXES and "__pycache__" not in path.parts:
                yield path


def test_shipped_files_do_not_cite_internal_notes():
    """A reader cannot follow a citation of a notes file that does not ship."""
    found = []
    for path in [*_shipped_text_files(), *sorted((ROOT / "tests").glob("*.py"))]:
        rel = path.relative_to(ROOT).as_posix()
        found += [f"{rel}:{n}" for n, line in
                  enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                  if INTERNAL_NOTES.search(line) and rel != "tests/test_static.py"]
    assert not found, found


def test_internal_notes_pattern_catches_citations():
    """The pattern matches the citation forms used so far and leaves primary sources alone."""
    for cited in ["(seed-papers.md §1.3)", "core-papers.md: -64.1 %", "see shared/reference",
                  "comparable-tools.md", "environment.md §8", "anchors.md §5.3"]:
        assert INTERNAL_NOTES.search(cited), cited
    for clean in ["Nøkland 2016, arXiv 1609.01596", "docs/privacy.md", "docs/sfdfa.md §3",
                  "lightonai/dfa-scales-to-modern-deep-learning, TinyDFA/tinydfa/dfa.py"]:
        assert not INTERNAL_NOTES.search(clean), clean
