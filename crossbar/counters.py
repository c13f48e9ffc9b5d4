"""Event counts per tile: plain records that hwsim turns into energy, area and latency.

A *tile* is one block of the weight matrix (at most ``tile_rows`` inputs by ``tile_cols``
outputs).  Each bit slice of a tile needs ``n_polarities * cols`` physical columns (a
differential pair is two adjacent columns); they are laid out on crossbars of ``tile_cols``
columns, so a tile occupies ``n_physical_arrays = n_slices * ceil(n_polarities * cols /
tile_cols)`` physical crossbars (:func:`physical_arrays`): a full tile of differential pairs
needs two, a tile of at most ``tile_cols / 2`` outputs one, as hwsim maps it.

Definitions (all plain Python ints, summed over the batch).  A *read* is one input vector
applied to one physical array, whatever the input's precision; how a multi-level read is
carried out (bit-serial passes or a multi-level DAC) is a costing choice made in hwsim, which
is why the multi-level reads are counted apart:

* ``mvms``: forward reads, one per input vector per physical array;
* ``active_rows``: rows driven with a non-zero input, summed over forward reads of all
  physical arrays;
* ``adc_conversions``: forward conversions, one per sensed line (output) per read per bit
  slice (the ``G+``/``G-`` or reference subtraction is analog, before the ADC);
* ``multilevel_mvms``, ``multilevel_active_rows``, ``multilevel_adc_conversions``: the part of
  the three above caused by non-binary (multi-level) input vectors;
* ``transposed_reads``: backward (column-driven) reads, one per error vector per physical
  array (error vectors are multi-level);
* ``active_columns``: columns driven with a non-zero value in transposed reads (both columns
  of a differential pair, every slice);
* ``transposed_adc_conversions``: transposed conversions, one per sensed row per read per
  physical array (the pairs of a tile spread over its arrays, whose row currents are
  converted separately and added digitally);
* ``dac_conversions``: multi-level line drives (forward or transposed), one per driven line
  with a non-zero input per read per physical array (forward) or slice (transposed); binary
  spikes need none;
* ``programming_pulses``: write pulses applied to cells of the tile (in-situ updates,
  write-verify corrections, re-programming);
* ``verify_reads``: single-cell reads of write-verify;
* ``cells_programmed``: cells written to a target level when weights are (re)mapped;
* ``accumulator_reads``, ``accumulator_writes``: word accesses of the per-weight digital
  update accumulator (``UpdateConfig(mode="accumulate")``: one read and one write per weight
  per update); ``transfers``: weights whose accumulator sent whole pulses to the cells;
* ``rounding_draws``: random numbers drawn for stochastic rounding (one per weight per
  update, ``mode="stochastic"``);
* ``pulse_cycles``: update cycles of the stochastic pulse-coincidence update, per physical
  array (``mode="coincidence"``: bit length times rounds per rank-one term, times the tile's
  physical arrays, like ``mvms``; all lines of an array fire in parallel in a cycle);
  ``stochastic_bits``: stochastic pulse bits generated for it
  (one per row and column line per cycle).
"""

from __future__ import annotations

import math

import numpy as np

from crossbar._kernels import record_read_counts

#: The event counts of a tile, in the order of the columns of :attr:`CrossbarCounters.counts`.
EVENT_FIELDS = (
    "mvms",
    "active_rows",
    "adc_conversions",
    "multilevel_mvms",
    "multilevel_active_rows",
    "multilevel_adc_conversions",
    "transposed_reads",
    "active_columns",
    "transposed_adc_conversions",
    "dac_conversions",
    "programming_pulses",
    "verify_reads",
    "cells_programmed",
    "accumulator_reads",
    "accumulator_writes",
    "transfers",
    "rounding_draws",
    "pulse_cycles",
    "stochastic_bits",
)
_GEOMETRY_FIELDS = ("tile_row", "tile_col", "rows", "cols", "n_physical_arrays")
_COLUMN = {name: i for i, name in enumerate(EVENT_FIELDS)}
#: the columns record_read_counts writes, in its order
_READ_COLUMNS = np.array([_COLUMN[name] for name in (
    "mvms", "active_rows", "adc_conversions", "multilevel_mvms", "multilevel_active_rows",
    "multilevel_adc_conversions", "transposed_reads", "active_columns",
    "transposed_adc_conversions", "dac_conversions")], dtype=np.int64)


def physical_arrays(cols: int, tile_cols: int, n_slices: int, n_polarities: int) -> int:
    """Physical crossbars of ``tile_cols`` columns that a tile of ``cols`` outputs occupies.

    ``n_slices * ceil(n_polarities * cols / tile_cols)``: the columns of a differential pair
    sit side by side, so a tile with at most ``tile_cols / n_polarities`` outputs fits on one
    crossbar per slice.
    """
    return n_slices * math.ceil(n_polarities * cols / tile_cols)


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
        self._phys = np.array([t.n_physical_arrays for t in self.tiles], dtype=np.int64)

    def __getstate__(self) -> dict[str, object]:
        return {"tiles": self.tiles, "counts": self.counts, "updates": self.updates}

    def __setstate__(self, state: dict[str, object]) -> None:
        # copies and pickles re-link every tile to its row of the (copied) array
        self.__dict__.update(state)
        for i, t in enumerate(self.tiles):
            t._counts = self.counts[i]
        self._phys = np.array([t.n_physical_arrays for t in self.tiles], dtype=np.int64)

    @property
    def physical_arrays(self) -> np.ndarray:
        """Physical crossbars of every tile, int array ``[n_tiles]``."""
        return self._phys

    def reset(self) -> None:
        """Zero all event counts."""
        self.counts[:] = 0
        self.updates = 0

    def record_read(
        self,
        batch: int,
        active_lines: np.ndarray,
        n_sense: np.ndarray,
        n_slices: int,
        n_polarities: int,
        transposed: bool,
        multilevel: bool,
    ) -> None:
        """Count ``batch`` reads of every tile (the definitions of the module docstring).

        Parameters
        ----------
        batch : int
            Input vectors applied.
        active_lines : int array [n_tiles]
            Non-zero entries of the input vectors on each tile's driven lines (rows forward,
            outputs transposed), summed over the batch.
        n_sense : int array [n_tiles]
            Lines each tile senses per read and slice (outputs forward, inputs transposed).
        n_slices, n_polarities : int
            Bit slices, and columns per weight and slice (2 for differential pairs).
        transposed : bool
        multilevel : bool
            True if the inputs are not binary (a DAC or bit-serial drive is needed).
        """
        # forward: per physical array one read of each vector, its non-zero entries drive
        # rows, every sensed output is converted per slice (and multi-level inputs count
        # apart); transposed: per physical array one read, both columns of a pair in every
        # slice driven, every sensed row converted per physical array; multi-level drives
        # need a DAC conversion each
        record_read_counts(self.counts, self._phys, int(batch),
                           np.asarray(active_lines, dtype=np.int64),
                           np.asarray(n_sense, dtype=np.int64), int(n_slices),
                           int(n_polarities), bool(transposed), bool(multilevel), _READ_COLUMNS)

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
