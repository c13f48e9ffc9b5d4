"""Old import paths of modules that moved into subpackages (issue 12), kept working.

``import snn_dfa.models`` (or ``from snn_dfa.models import sfcn``) gives the very module
``snn_dfa.engine.models``: one module object under two names, so classes, ``isinstance`` and
monkeypatching agree.  One finder on ``sys.meta_path`` serves every old name in ``MOVED`` and
its submodules (``snn_dfa.sfdfa.neuron`` -> ``snn_dfa.eventdriven.neuron``); new code imports
the new place.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import ModuleType

#: old module name -> new module name
MOVED: dict[str, str] = {
    **{f"snn_dfa.{m}": f"snn_dfa.engine.{m}" for m in (
        "neurons", "_kernels", "reference", "layers", "network", "models", "losses", "optim",
        "backends")},
    **{f"snn_dfa.{m}": f"snn_dfa.rules.{m}" for m in (
        "learning", "feedback", "online", "streaming", "estimator")},
    **{f"snn_dfa.{m}": f"snn_dfa.app.{m}" for m in (
        "config", "experiment", "hardware", "results", "report", "sweep", "cli")},
    "snn_dfa.sfdfa": "snn_dfa.eventdriven",
}


def new_name(old: str) -> str | None:
    """The module's new name if ``old`` (or the package holding it) moved, else None."""
    parts = old.split(".")
    for i in range(len(parts), 1, -1):
        moved = MOVED.get(".".join(parts[:i]))
        if moved is not None:
            return ".".join([moved, *parts[i:]])
    return None


class _Alias(importlib.abc.Loader):
    """Loads an old name as the module already imported under its new name."""

    def __init__(self, target: str) -> None:
        self.target = target
        self._spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self._spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # the import system stamped the alias spec on the shared module; give its own back
        module.__spec__ = self._spec


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):  # noqa: ANN001 - importlib's signature
        moved = new_name(fullname)
        if moved is None:
            return None
        return importlib.util.spec_from_loader(fullname, _Alias(moved))


def install() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
