"""The restricted unpickler: allowlisted globals only, checked wrappers, clear errors."""

from __future__ import annotations

import io
import os
import pickle

import pytest

from snn_dfa.data._pickle import ALLOWED_GLOBALS, frame_columns, restricted_load
from snn_dfa.errors import DataError


class _RunsCommand:
    def __reduce__(self):
        return (os.system, ("echo should-never-run",))


class _CallsEval:
    def __reduce__(self):
        return (eval, ("1 + 1",))


@pytest.mark.parametrize("payload", [_RunsCommand(), _CallsEval()])
@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_refuses_globals_outside_the_allowlist(payload, protocol):
    data = pickle.dumps({1: [payload]}, protocol=protocol)
    with pytest.raises(DataError, match="not in the allowlist"):
        restricted_load(io.BytesIO(data))


def test_plain_containers_load():
    data = pickle.dumps({1: [1.5, "a", (2, None)]}, protocol=2)
    assert restricted_load(io.BytesIO(data)) == {1: [1.5, "a", (2, None)]}


# Hand-written protocol-0 pickles that reach allowlisted callables with bad arguments.
_ABUSES = {
    "reconstructor with a non-object base": (
        b"ccopy_reg\n_reconstructor\n(cpandas.core.frame\nDataFrame\nc__builtin__\nslice\nNtR."
    ),
    "reconstructor of a builtin": (
        b"ccopy_reg\n_reconstructor\n(c__builtin__\nslice\nc__builtin__\nobject\nNtR."
    ),
    "codecs with another encoding": b"c_codecs\nencode\n(Vabc\nVrot13\ntR.",
    "numpy reconstruct of a stand-in": (
        b"cnumpy.core.multiarray\n_reconstruct\n(cpandas.core.frame\nDataFrame\n(I0\ntVb\ntR."
    ),
    "new index of a non-index": (
        b"cpandas.core.indexes.base\n_new_Index\n(cpandas.core.frame\nDataFrame\n(dtR."
    ),
}


@pytest.mark.parametrize("name", sorted(_ABUSES))
def test_allowlisted_callables_check_their_arguments(name):
    with pytest.raises(DataError, match="pickle asked"):
        restricted_load(io.BytesIO(_ABUSES[name]))


def test_allowlist_is_the_documented_twelve():
    assert len(ALLOWED_GLOBALS) == 12
    assert all(not module.startswith(("os", "subprocess", "builtins")) for module, _ in
               ALLOWED_GLOBALS)


def test_truncated_stream_is_a_data_error():
    data = pickle.dumps({1: list(range(100))}, protocol=2)
    with pytest.raises(DataError, match="could not unpickle"):
        restricted_load(io.BytesIO(data[: len(data) // 2]))


def test_frame_columns_rejects_an_unexpected_layout():
    with pytest.raises(DataError, match="unexpected DataFrame layout"):
        frame_columns(object())
