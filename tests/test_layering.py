"""The layering of DESIGN.md: crossbar and hwsim are ours and never import snn_dfa
(hwsim not crossbar either)."""

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("package", ["snn_dfa", "crossbar", "hwsim"])
def test_packages_import_from_this_repository(package):
    module = __import__(package)
    assert pathlib.Path(module.__file__).resolve().is_relative_to(ROOT / package)


def _imported_roots(package: str) -> set[str]:
    roots = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                roots |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package, forbidden", [("crossbar", {"snn_dfa", "hwsim"}),
                                                ("hwsim", {"snn_dfa", "crossbar"})])
def test_lower_layers_do_not_import_upper_ones(package, forbidden):
    assert not (_imported_roots(package) & forbidden)
    code = (f"import sys, {package}, pkgutil, importlib\n"
            f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
            "    importlib.import_module(m.name)\n"
            f"print(sorted(k for k in sys.modules if k.split('.')[0] in {sorted(forbidden)!r}))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_data_folders_are_not_packages():
    for folder in ("datasets", "reports"):
        assert not (ROOT / folder / "__init__.py").exists()
