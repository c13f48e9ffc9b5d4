"""Event counts per tile: plain records that hwsim turns into energy, area and latency.

A *tile* is one block of the weight matrix (at most ``tile_rows`` inputs by ``tile_cols``
outputs).  It holds ``n_physical_arrays = n_slices * n_polarities`` crossbars of that size
(one per bit slice and, for differential pairs, one for ``G+`` and one for ``G-``), all
driven by the same row drivers.

Definitions (all plain Python ints, summed over the batch):

* ``mvms``: forward reads, one per input vector per physical array;
* ``active_rows``: rows driven with a non-zero input, summed over forward reads of all
  physical arrays;
* ``transposed_reads``: backward (column-driven) reads, one per error vector per physical array;
* ``active_columns``: columns driven with a non-zero value in transposed reads, summed as above;
* ``adc_conversions``: one per sensed line per read per bit slice (the ``G+``/``G-`` or
  reference subtraction is analog, before the ADC);
* ``dac_conversions``: one per driven line per read per bit slice for non-binary inputs
  (forward or transposed); binary spikes need none;
* ``programming_pulses``: write pulses applied to cells of the tile (in-situ updates,
  write-verify corrections, re-programming);
* ``verify_reads``: single-cell reads of write-verify;
* ``cells_programmed``: cells written to a target level when weights are (re)mapped.
"""

from __future__ import annotations

import numpy as np

#: The event counts of a tile, in the order of the columns of :attr:`CrossbarCounters.counts`.
EVENT_FIELDS = (
    "mvms",
    "active_rows",
    "transposed_reads",
    "active_columns",
    "adc_conversions",
    "dac_conversions",
    "programming_pulses",
    "verify_reads",
    "cells_programmed",
)
_GEOMETRY_FIELDS = ("tile_row", "tile_col", "rows", "cols", "n_physical_arrays")


class TileCounters:
    """Counts of one tile (see the module docstring for the definitions).

    The geometry (``tile_row``, ``tile_col``, ``rows``, ``cols``, ``n_physical_arrays``) is
    fixed; every name in :data:`EVENT_FIELDS` is an int attribute.  Inside a
    :class:`CrossbarCounters` the counts live in one row of its array, so that an array
    updates the counts of all its tiles with one vectorised operation.
    """

    EVENT_FIELDS = EVENT_FIELDS

    def __init__(self, tile_row: int, tile_col: int, rows: int, cols: int,
                 n_physical_arrays: int) -> None:
        self.tile_row, self.tile_col = tile_row, tile_col
        self.rows, self.cols, self.n_physical_arrays = rows, cols, n_physical_arrays
        self._counts = np.zeros(len(EVENT_FIELDS), dtype=np.int64)

    def reset(self) -> None:
        """Zero every event count (the geometry fields stay)."""
        self._counts[:] = 0

    def as_dict(self) -> dict[str, int]:
        """A plain ``dict`` of all fields."""
        out = {name: int(getattr(self, name)) for name in _GEOMETRY_FIELDS}
        out.update(zip(EVENT_FIELDS, map(int, self._counts)))
        return out

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v}" for k, v in self.as_dict().items())
        return f"TileCounters({inner})"


def _event_property(i: int, name: str) -> property:
    def get(self: TileCounters) -> int:
        return int(self._counts[i])

    def set(self: TileCounters, value: int) -> None:
        self._counts[i] = value

    return property(get, set, doc=f"``{name}`` count (see the module docstring).")


for _i, _name in enumerate(EVENT_FIELDS):
    setattr(TileCounters, _name, _event_property(_i, _name))


class CrossbarCounters:
    """Counters of every tile of one :class:`~crossbar.array.CrossbarArray`.

    Attributes
    ----------
    tiles : list[TileCounters]
        Row-major over ``(tile_row, tile_col)``: ``tile_row`` indexes input blocks,
        ``tile_col`` output blocks.
    counts : int64 array [n_tiles, len(EVENT_FIELDS)]
        The same counts as one array (row ``i`` is ``tiles[i]``; the tiles are views of it).
    updates : int
        Calls of ``apply_update``.
    """

    def __init__(self, tiles: list[TileCounters], updates: int = 0) -> None:
        self.tiles = list(tiles)
        self.counts = np.zeros((len(self.tiles), len(EVENT_FIELDS)), dtype=np.int64)
        for i, t in enumerate(self.tiles):
            self.counts[i] = t._counts
            t._counts = self.counts[i]
        self.updates = updates

    def __getstate__(self) -> dict[str, object]:
        return {"tiles": self.tiles, "counts": self.counts, "updates": self.updates}

    def __setstate__(self, state: dict[str, object]) -> None:
        # copies and pickles re-link every tile to its row of the (copied) array
        self.__dict__.update(state)
        for i, t in enumerate(self.tiles):
            t._counts = self.counts[i]

    def reset(self) -> None:
        """Zero all event counts."""
        self.counts[:] = 0
        self.updates = 0

    def totals(self) -> dict[str, int]:
        """Event counts summed over tiles, plus ``updates``."""
        out = dict(zip(EVENT_FIELDS, map(int, self.counts.sum(axis=0))))
        out["updates"] = self.updates
        return out

    def as_dict(self) -> dict[str, object]:
        """``{"updates": int, "tiles": [dict, ...]}`` of plain ints."""
        return {"updates": self.updates, "tiles": [t.as_dict() for t in self.tiles]}


# Field names, for consumers that want to check a record without importing the classes.
TILE_FIELDS = _GEOMETRY_FIELDS + EVENT_FIELDS
