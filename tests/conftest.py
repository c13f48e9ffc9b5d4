"""Shared fixtures of the test suite.

Hermetic by default: the data and pre-training caches of every test (and of the command-line
subprocesses they start, which inherit the environment) live in one temporary folder per
session (``$SNN_DFA_DATA_DIR``), never in the repository's ``datasets/cache``.  Builders that
several test modules use are in ``tests/helpers.py`` (``from helpers import ...``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from snn_dfa.data.cache import ENV_DATA_DIR


@pytest.fixture(autouse=True, scope="session")
def hermetic_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``$SNN_DFA_DATA_DIR`` pointed at a temporary folder for the whole session."""
    folder = str(tmp_path_factory.mktemp("snn-dfa-data"))
    patch = pytest.MonkeyPatch()
    patch.setenv(ENV_DATA_DIR, folder)
    yield folder
    patch.undo()
