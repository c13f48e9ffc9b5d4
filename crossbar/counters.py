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
  per read per bit slice; binary spikes need none;
* ``programming_pulses``: write pulses applied to cells of the tile (in-situ updates,
  write-verify corrections, re-programming);
* ``verify_reads``: single-cell reads of write-verify;
* ``cells_programmed``: cells written to a target level when weights are (re)mapped.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields


def physical_arrays(cols: int, tile_cols: int, n_slices: int, n_polarities: int) -> int:
    """Physical crossbars of ``tile_cols`` columns that a tile of ``cols`` outputs occupies.

    ``n_slices * ceil(n_polarities * cols / tile_cols)``: the columns of a differential pair
    sit side by side, so a tile with at most ``tile_cols / n_polarities`` outputs fits on one
    crossbar per slice.
    """
    return n_slices * math.ceil(n_polarities * cols / tile_cols)


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
    adc_conversions: int = 0
    multilevel_mvms: int = 0
    multilevel_active_rows: int = 0
    multilevel_adc_conversions: int = 0
    transposed_reads: int = 0
    active_columns: int = 0
    transposed_adc_conversions: int = 0
    dac_conversions: int = 0
    programming_pulses: int = 0
    verify_reads: int = 0
    cells_programmed: int = 0

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
    )

    def record_read(
        self,
        batch: int,
        active_lines: int,
        n_sense: int,
        n_slices: int,
        n_polarities: int,
        transposed: bool,
        multilevel: bool,
    ) -> None:
        """Count ``batch`` reads of this tile (see the module docstring).

        Parameters
        ----------
        batch : int
            Input vectors applied.
        active_lines : int
            Non-zero entries of the input vectors on the driven lines of this tile (rows
            forward, outputs transposed), summed over the batch.
        n_sense : int
            Lines sensed per read and slice (outputs forward, inputs transposed).
        n_slices, n_polarities : int
            Bit slices and columns per weight and slice (2 for differential pairs).
        transposed : bool
        multilevel : bool
            True if the inputs are not binary (a DAC or bit-serial drive is needed).
        """
        phys = self.n_physical_arrays
        conversions = batch * n_sense * n_slices
        if transposed:
            self.transposed_reads += batch * phys
            self.active_columns += active_lines * n_polarities * n_slices
            self.transposed_adc_conversions += batch * n_sense * phys
            drives = active_lines * n_polarities * n_slices
        else:
            self.mvms += batch * phys
            self.active_rows += active_lines * phys
            self.adc_conversions += conversions
            drives = active_lines * phys
            if multilevel:
                self.multilevel_mvms += batch * phys
                self.multilevel_active_rows += active_lines * phys
                self.multilevel_adc_conversions += conversions
        if multilevel:
            self.dac_conversions += drives

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
