"""Static checks, part of the test command: ruff (style, imports, likely bugs) and mypy (types)
on the packages, with the configuration in pyproject.toml / setup.cfg.  Skipped, saying why,
where the tools are not installed (they are in the ``test`` extra)."""

import pathlib
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
