"""Shared fixtures of the test suite.

Hermetic by default: the data and pre-training caches of every test (and of the command-line
subprocesses they start, which inherit the environment) live in one temporary folder per
session (``$SNN_DFA_DATA_DIR``), never in the repository's ``datasets/cache``; hypothesis keeps
no example database and pytest no cache folder (``-p no:cacheprovider`` in setup.cfg); no test
binds a fixed port.  (numba's compiled-kernel cache stays beside the kernels, git-ignored.)  Builders that
several test modules use are in ``tests/helpers.py`` (``from helpers import ...``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hypothesis import settings

from snn_dfa.data.cache import ENV_DATA_DIR

# hypothesis keeps no example database (it would be written into the repository)
settings.register_profile("hermetic", database=None)
settings.load_profile("hermetic")


@pytest.fixture(autouse=True, scope="session")
def hermetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$SNN_DFA_DATA_DIR`` pointed at a temporary folder for the whole session."""
    folder = str(tmp_path_factory.mktemp("snn-dfa-data"))
    patch = pytest.MonkeyPatch()
    patch.setenv(ENV_DATA_DIR, folder)
    yield folder
    patch.undo()


#: the main job's tiny mode: seconds on 2 cores, every code path of a full run
TINY = {
    "seed": 1,
    "data": {"adapt_subjects": [2], "adapt_fraction": 0.1, "max_pretrain_windows": 120},
    "model": {"channels": [4, 8]},
    "pretrain": {"epochs": 1},
    "adapt": {"epochs": 1},
}


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory):
    """One run of the main job's tiny mode with every registered rule (shared by the tests
    that need a real results folder); returns the ``RunResult``."""
    from snn_dfa.app import experiment
    from snn_dfa.app.config import config_from_dict
    from snn_dfa.rules import registry

    config = config_from_dict({**TINY, "adapt": {**TINY["adapt"],
                                                 "rules": list(registry.names())}})
    root = tmp_path_factory.mktemp("tiny-run")
    return experiment.run(config, root / "out", cache_dir=root / "cache")
