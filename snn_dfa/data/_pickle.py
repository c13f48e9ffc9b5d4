"""A restricted unpickler for pickled pandas DataFrames, without pandas.

The UCI HAPT recordings ship as a gzip'd protocol-2 pickle written by an old pandas
(about 1.0-1.2): a dict ``{user id: [DataFrame, ...]}``.  Current pandas cannot read it, and
a plain ``pickle.load`` would run whatever callable the file names.  The unpickler here
resolves only the twelve globals that file uses, each to a harmless stand-in or to a
checked wrapper, and refuses every other global with :class:`~snn_dfa.errors.DataError`.
:func:`frame_columns` then rebuilds a frame's columns from its stored numpy blocks.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import IO, Any

import numpy as np

from snn_dfa.errors import DataError

# numpy's array-rebuilding function (numpy.core.multiarray._reconstruct before numpy 2,
# numpy._core.multiarray._reconstruct since), taken from the public pickling protocol.
_np_reconstruct: Callable[..., np.ndarray] = np.empty(0).__reduce__()[0]  # type: ignore[assignment]  # typeshed types __reduce__ loosely


class _StateHolder:
    """Stand-in for a pandas class: keeps the pickled state and nothing else."""

    state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _Frame(_StateHolder):
    """Stand-in for ``pandas.core.frame.DataFrame``."""


class _BlockManager(_StateHolder):
    """Stand-in for ``pandas.core.internals.managers.BlockManager``."""


class _Index(_StateHolder):
    """Stand-in for ``pandas.core.indexes.base.Index`` (labels in ``state['data']``)."""


class _RangeIndex(_StateHolder):
    """Stand-in for ``pandas.core.indexes.range.RangeIndex``."""


_STAND_INS = (_Frame, _BlockManager, _Index, _RangeIndex)


def _reconstructor(cls: type, base: type, state: Any) -> _StateHolder:
    # copyreg._reconstructor, limited to building an empty stand-in.
    if cls not in _STAND_INS or base is not object or state is not None:
        raise DataError(
            f"pickle asked copy_reg._reconstructor for {cls!r} (base {base!r}); "
            "only the pandas stand-ins are allowed"
        )
    return cls.__new__(cls)


def _new_index(cls: type, state: dict[str, Any]) -> _StateHolder:
    # pandas.core.indexes.base._new_Index(cls, d): an Index built from its state dict.
    if cls not in (_Index, _RangeIndex) or not isinstance(state, dict):
        raise DataError(f"pickle asked _new_Index for {cls!r}; expected an Index class")
    index = cls.__new__(cls)
    index.state = state
    return index


def _latin1_encode(text: str, encoding: str) -> bytes:
    # _codecs.encode as protocol 2 uses it for bytes: (str, "latin1") only.
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise DataError(f"pickle asked _codecs.encode with encoding {encoding!r}")
    return text.encode("latin1")


def _ndarray_reconstruct(subtype: type, shape: Any, dtype: Any) -> np.ndarray:
    # numpy.core.multiarray._reconstruct, limited to plain ndarrays.
    if subtype is not np.ndarray:
        raise DataError(f"pickle asked numpy _reconstruct for {subtype!r}; expected ndarray")
    return _np_reconstruct(subtype, shape, dtype)


#: Every global the unpickler resolves, keyed by the (module, name) the pickle names.
#: Protocol-2 pickles from Python 2-era code name ``copy_reg`` and ``__builtin__``.
ALLOWED_GLOBALS: dict[tuple[str, str], Callable[..., Any] | type] = {
    ("copy_reg", "_reconstructor"): _reconstructor,
    ("__builtin__", "object"): object,
    ("__builtin__", "slice"): slice,
    ("_codecs", "encode"): _latin1_encode,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("numpy.core.multiarray", "_reconstruct"): _ndarray_reconstruct,
    ("pandas.core.frame", "DataFrame"): _Frame,
    ("pandas.core.internals.managers", "BlockManager"): _BlockManager,
    ("pandas.core.indexes.base", "Index"): _Index,
    ("pandas.core.indexes.base", "_new_Index"): _new_index,
    ("pandas.core.indexes.range", "RangeIndex"): _RangeIndex,
}


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`ALLOWED_GLOBALS` and refuses the rest."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise DataError(
                f"pickle refers to the global {module}.{name}, which is not in the allowlist "
                f"of {len(ALLOWED_GLOBALS)} globals; refusing to load it"
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise DataError(f"pickle uses a persistent id {pid!r}; refusing to load it")


def restricted_load(stream: IO[bytes] | io.BufferedIOBase) -> Any:
    """Unpickle ``stream`` with :class:`RestrictedUnpickler`.

    Any failure (a refused global, a truncated or malformed stream) raises
    :class:`~snn_dfa.errors.DataError`.
    """
    try:
        return RestrictedUnpickler(stream, encoding="latin1").load()
    except DataError:
        raise
    except Exception as exc:  # pickle, EOF, gzip and numpy errors of a damaged file
        raise DataError(f"could not unpickle the data: {type(exc).__name__}: {exc}") from exc


def frame_columns(frame: Any) -> dict[str, np.ndarray]:
    """Columns of a stand-in DataFrame as ``{label: 1-D array}``.

    The old BlockManager state is ``(axes, block values, block item indexes, extra)``;
    each block holds a 2-D array whose rows are the columns named by its item index.
    """
    try:
        state = frame.state["_data"].state
        _axes, block_values, block_items = state[0], state[1], state[2]
        columns: dict[str, np.ndarray] = {}
        for values, items in zip(block_values, block_items, strict=True):
            labels = items.state["data"]
            if values.ndim != 2 or values.shape[0] != len(labels):
                raise ValueError(f"block of shape {values.shape} for {len(labels)} labels")
            for label, row in zip(labels, values, strict=True):
                columns[str(label)] = row
    except DataError:
        raise
    except Exception as exc:
        raise DataError(
            f"unexpected DataFrame layout in the pickle ({type(exc).__name__}: {exc})"
        ) from exc
    return columns
