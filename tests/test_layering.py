"""The layering of docs/architecture.md: crossbar and hwsim are ours and never import snn_dfa
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


# -- inside snn_dfa: engine < rules < eventdriven < app (docs/architecture.md) ---------------

#: subpackage -> module prefixes it must never import (torch lives in snn_dfa.deep only)
_INSIDE = {
    "engine": ("snn_dfa.rules", "snn_dfa.eventdriven", "snn_dfa.app", "snn_dfa.deep",
               "crossbar", "hwsim", "torch"),
    "rules": ("snn_dfa.eventdriven", "snn_dfa.app", "snn_dfa.deep", "crossbar", "hwsim",
              "torch"),
    "eventdriven": ("snn_dfa.app", "snn_dfa.deep", "crossbar", "hwsim", "torch"),
    "data": ("snn_dfa.engine", "snn_dfa.rules", "snn_dfa.eventdriven", "snn_dfa.app",
             "snn_dfa.deep", "crossbar", "hwsim", "torch"),
}


def _imported_modules(path: pathlib.Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0, f"{path}: relative import"
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def _hits(names: set[str], forbidden: tuple[str, ...]) -> set[str]:
    return {n for n in names for f in forbidden if n == f or n.startswith(f + ".")}


@pytest.mark.parametrize("sub", sorted(_INSIDE))
def test_subpackages_respect_the_layering(sub):
    for path in (ROOT / "snn_dfa" / sub).rglob("*.py"):
        assert not _hits(_imported_modules(path), _INSIDE[sub]), path
    code = (f"import sys, pkgutil, importlib, snn_dfa.{sub} as p\n"
            f"for m in pkgutil.walk_packages(p.__path__, 'snn_dfa.{sub}.'):\n"
            "    importlib.import_module(m.name)\n"
            f"bad = {list(_INSIDE[sub])!r}\n"
            "print(sorted(k for k in sys.modules if any(k == b or k.startswith(b + '.') "
            "for b in bad)))")
    out = subprocess.run([sys.executable, "-W", "ignore", "-c", code], capture_output=True,
                         text=True, cwd=ROOT, check=True).stdout.strip()
    assert out == "[]"


def test_only_the_application_imports_crossbar_and_hwsim():
    for path in (ROOT / "snn_dfa").rglob("*.py"):
        if path.relative_to(ROOT / "snn_dfa").parts[0] != "app":
            assert not _hits(_imported_modules(path), ("crossbar", "hwsim")), path


def test_old_import_paths_are_the_moved_modules():
    import importlib

    from snn_dfa import _moved

    for old, new in _moved.MOVED.items():
        assert importlib.import_module(old) is importlib.import_module(new)
    from snn_dfa.models import sfcn  # the README's import of before the regrouping
    from snn_dfa.sfdfa.neuron import LIFParams

    assert sfcn.__module__ == "snn_dfa.engine.models"
    assert LIFParams.__module__ == "snn_dfa.eventdriven.neuron"
