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
* ``cells_programmed``: cells written to a target level when weights are (re)mapped;
* ``accumulator_reads``, ``accumulator_writes``: word accesses of the per-weight digital
  update accumulator (``UpdateConfig(mode="accumulate")``: one read and one write per weight
  per update); ``transfers``: weights whose accumulator sent whole pulses to the cells;
* ``rounding_draws``: random numbers drawn for stochastic rounding (one per weight per
  update, ``mode="stochastic"``);
* ``pulse_cycles``: update cycles of the stochastic pulse-coincidence update
  (``mode="coincidence"``: bit length times rounds per rank-one term; all lines fire in
  parallel in a cycle); ``stochastic_bits``: stochastic pulse bits generated for it
  (one per row and column line per cycle).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class TileCounters:
    """Counts of one tile (see the module docstring for the definitions)."""

    tile_row: int
    tile_col: int
    rows: int
    cols: int
    n_physical_arrays: int
    mvms: int = 0
    active_rows: int = 0
    transposed_reads: int = 0
    active_columns: int = 0
    adc_conversions: int = 0
    dac_conversions: int = 0
    programming_pulses: int = 0
    verify_reads: int = 0
    cells_programmed: int = 0
    accumulator_reads: int = 0
    accumulator_writes: int = 0
    transfers: int = 0
    rounding_draws: int = 0
    pulse_cycles: int = 0
    stochastic_bits: int = 0

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
        "accumulator_reads",
        "accumulator_writes",
        "transfers",
        "rounding_draws",
        "pulse_cycles",
        "stochastic_bits",
    )

    def reset(self) -> None:
        """Zero every event count (the geometry fields stay)."""
        for name in self.EVENT_FIELDS:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        """A plain ``dict`` of all fields."""
        return asdict(self)


@dataclass
class CrossbarCounters:
    """Counters of every tile of one :class:`~crossbar.array.CrossbarArray`.

    Attributes
    ----------
    tiles : list[TileCounters]
        Row-major over ``(tile_row, tile_col)``: ``tile_row`` indexes input blocks,
        ``tile_col`` output blocks.
    updates : int
        Calls of ``apply_update``.
    """

    tiles: list[TileCounters]
    updates: int = 0

    def reset(self) -> None:
        """Zero all event counts."""
        for t in self.tiles:
            t.reset()
        self.updates = 0

    def totals(self) -> dict[str, int]:
        """Event counts summed over tiles, plus ``updates``."""
        out = {
            name: sum(getattr(t, name) for t in self.tiles) for name in TileCounters.EVENT_FIELDS
        }
        out["updates"] = self.updates
        return out

    def as_dict(self) -> dict[str, object]:
        """``{"updates": int, "tiles": [dict, ...]}`` of plain ints."""
        return {"updates": self.updates, "tiles": [t.as_dict() for t in self.tiles]}


# Field names, for consumers that want to check a record without importing dataclasses.
TILE_FIELDS = tuple(f.name for f in fields(TileCounters))
