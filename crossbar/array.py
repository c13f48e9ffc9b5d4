"""``CrossbarArray``: a weight matrix held on tiled RRAM crossbars, read forward and transposed.

It satisfies snn_dfa's ``SynapseBackend`` protocol structurally (``shape``, ``forward``,
``backward``, ``apply_update``, ``get_weights``) without importing snn_dfa.

Read path of one tile (``rows`` inputs by ``cols`` outputs; see :mod:`crossbar.mapping`)::

    inputs --(binary: V = v_read x | else: normalise, DAC)--> row voltages V [M, rows]
    --> column currents  V @ D_k  with D_k = G+_k - G-_k (or G_k - G_ref), after IR drop
    --> + read noise --> ADC (per column) --> / (v_read * level_step) --> shift-add over slices
    --> * scale, * input norm --> partial sums added digitally over the tiles of a column block

The transposed read drives the columns with the (scaled) error and senses the rows of the
same conductances; for IR drop the roles of rows and columns swap (the column lines are
driven through ``r_sense_ohm`` and the row lines sensed through ``r_driver_ohm``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from crossbar._checks import (
    SeedLike,
    as_float_array,
    check_choice,
    check_int,
    check_random_state,
    check_real,
)
from crossbar._kernels import (
    IR_N_STATS,
    IR_STAT_CHANGED_CELLS,
    IR_STAT_COLD,
    IR_STAT_DENSE,
    IR_STAT_SPARSE,
    IR_STAT_SUBSTITUTIONS,
    MODE_ACCUMULATE,
    MODE_NEAREST,
    MODE_STOCHASTIC,
    clamped_ages,
    digitise_and_sum,
    fast_ir_incremental,
    fast_ir_tiles,
    nonzero_per_block,
    open_loop_pulses,
    program_pulsed_cells,
    pulse_moves,
    pulse_positions,
    refresh_read_entries,
    relax_cells,
    stack_inputs,
    surely_due,
    whole_pulse_targets,
)
from crossbar.counters import EVENT_FIELDS, CrossbarCounters, TileCounters, physical_arrays
from crossbar.devices import DeviceParams, get_preset
from crossbar.errors import CrossbarError
from crossbar.gpr import GPRNoiseModel
from crossbar.irdrop import FAST_IR_FALLBACKS, ExactIRDropSolver, fast_ir_unchecked
from crossbar.mapping import (
    MappingConfig,
    check_mapping_device,
    conductances_to_levels,
    levels_to_conductances,
    levels_to_weights,
    max_level_count,
    tile_slices,
    weight_scales,
    weights_to_levels,
)
from crossbar.noise import (
    FAULT_NONE,
    WAN2022_FIT_LOG_T,
    WAN2022_FITS,
    NoiseConfig,
    WAN2022_G_REF_uS,
    apply_faults,
    drift,
    programming_noise,
    relaxed,
    sample_faults,
    wan2022_fit_values,
    wan2022_programming_noise,
    wan2022_sigma_uS,
    warn_beyond_fits,
)
from crossbar.periphery import (
    PeripheryConfig,
    dac_quantize,
    is_binary,
    normalise_inputs,
)
from crossbar.update import (
    IN_SITU_MODES,
    UpdateConfig,
    coincidence_pulses,
    program_with_pulses,
    pulses_for_change,
)

IR_DROP_MODES = ("none", "fast", "exact")
IR_FAST_UPDATES = ("incremental", "full")
# Incremental IR-drop updates follow the changed lines while their cross covers at most this
# share of an array; beyond it substitutions over the whole array (from the previous
# solution) are cheaper [assumption: measured on 64x64 arrays, see docs/crossbar.md].
IR_CROSS_FRACTION = 0.5
_WHOLE_PULSE_MODES = {"accumulate": MODE_ACCUMULATE, "stochastic": MODE_STOCHASTIC,
                      "nearest": MODE_NEAREST}
# The Wan 2022 fit polynomials in time order (rows), and log10 of 1 s as noise.wan2022_sigma_uS
# computes it, for the compiled fit values of program_pulsed_cells.
_WAN2022_COEF = np.array([WAN2022_FITS[t] for t in sorted(WAN2022_FITS)], dtype=np.float64)
_LOG_T_1S = float(np.log10(np.maximum(np.asarray(1.0), 1.0)))
# The last fitted time of the Wan 2022 fits: older cells warn (noise.warn_beyond_fits).
_LAST_FIT_S = float(max(WAN2022_FITS))


def _flat(a: np.ndarray) -> np.ndarray:
    """A 1-d view of a C-contiguous array (for kernels that write through it)."""
    if not a.flags.c_contiguous:
        raise CrossbarError("internal: expected a C-contiguous state array")
    return a.reshape(-1)


def _stack_inputs(x: np.ndarray, blocks: int, size: int,
                  square: bool) -> tuple[np.ndarray, np.ndarray]:
    """``x [M, n]`` -> ``[blocks, M, size]``, each block a run of ``size`` columns (zero
    padded at the end), C-contiguous (NumPy's stacked matmul is 2-7x slower on a strided
    view, measured at M = 35 to 16,512), and its squares if ``square`` (else an empty
    array), written in one pass."""
    xs = np.empty((blocks, x.shape[0], size), dtype=x.dtype)
    x_sq = np.empty_like(xs) if square else xs[:0]
    stack_inputs(np.ascontiguousarray(x), xs, x_sq)
    return xs, x_sq


def _stacked_matmul(xs: np.ndarray, mats: np.ndarray) -> np.ndarray:
    """``xs [blocks, M, size] @ mats[k] [blocks, size, sense]`` for every slice ``k``, as
    ``[blocks, S, M, sense]`` (one slice: the product itself, viewed with a slice axis)."""
    if mats.shape[0] == 1:
        return np.matmul(xs, mats[0])[:, None]
    out = np.empty((xs.shape[0], mats.shape[0], xs.shape[1], mats.shape[3]), dtype=mats.dtype)
    for k in range(mats.shape[0]):
        np.matmul(xs, mats[k], out=out[:, k])
    return out


# placeholders of digitise_and_sum's optional operands: no draws, no norms or scales
_NO_DRAWS = np.empty((0, 0, 0, 0))
_NO_NORMS = np.empty(0)


@dataclass
class _Calibration:
    """What a calibration records: its read direction, the magnitudes of non-binary inputs,
    and per ``(tile, slice)`` the magnitudes of the column currents."""

    transposed: bool
    inputs: list[np.ndarray] = field(default_factory=list)
    currents: dict[tuple[int, int], list[np.ndarray]] = field(default_factory=dict)


@dataclass
class _IRState:
    """Incremental fast-IR-drop state of one read direction (see
    :func:`crossbar._kernels.fast_ir_incremental`): per physical array ``(slice, polarity,
    tile)``, in the kernel's layout (driven lines first), ``T`` and the ``G`` it belongs to
    (S; each ``[rows, cols]`` array row-major in a run of ``size`` entries), the bound
    ``sigma`` on its drops' staleness and whether the state exists."""

    t: np.ndarray
    g: np.ndarray
    sigma: np.ndarray
    valid: np.ndarray

    @classmethod
    def empty(cls, arrays: tuple[int, int, int], size: int) -> _IRState:
        shape = (*arrays, size)
        return cls(np.zeros(shape), np.zeros(shape), np.zeros(arrays),
                   np.zeros(arrays, dtype=np.bool_))


@dataclass(frozen=True)
class CrossbarConfig:
    """Everything about a crossbar except the device: mapping, non-idealities, periphery.

    Attributes
    ----------
    mapping : MappingConfig
    noise : NoiseConfig
    periphery : PeripheryConfig
    update : UpdateConfig
    ir_drop : {"none", "fast", "exact"}
        Wire resistance ignored, the fast fixed-point model, or exact nodal solve (the
        transfer matrix of each array is computed once per conductance state).
    ir_fast_tolerance : float
        Relative tolerance the fast model iterates to (``> 0``; see
        :func:`crossbar.irdrop.fast_effective_conductance`).
    ir_fast_max_iterations : int
        Substitutions the fast model may take (``>= 1``).
    ir_fast_fallback : {"exact", "raise"}
        When the fast model does not converge (not contracting, or out of iterations): warn
        and use the exact solve, or raise.
    ir_fast_update : {"incremental", "full"}
        How the fast model follows conductance changes.  ``"full"``: every physical array
        holding a changed cell is solved again from ``T = G``.  ``"incremental"``: its
        previous solution is updated along the changed rows and columns, with a bound on
        the deviation kept per array; when the bound would exceed ``ir_fast_tolerance *
        max(G)`` (the full solve's own tolerance), or many cells changed, the array is
        re-solved by substitutions from its previous solution
        (:func:`crossbar._kernels.fast_ir_incremental`).  Results stay within
        ``ir_fast_tolerance * max(G)`` of the full solve's, not bit-identical to them.
    tile_rows, tile_cols : int
        Largest array: inputs per tile and outputs per tile.
    gpr_model : GPRNoiseModel or None
        ``noise.noise_model="gpr"`` only: the fitted model programming errors are drawn
        from (``None``: fitted once to the shipped table).
    gpr_output_model : GPRNoiseModel or None
        If given (fitted on normalised ``(ideal, measured)`` column outputs), every column
        current of every read is replaced by a draw from it, before the ADC.  Currents are
        normalised by the tile's largest possible current (``rows * v_read * g_range``), so
        the model's inputs lie in ``[-1, 1]``.  It acts on top of the other enabled effects.
    """

    mapping: MappingConfig = field(default_factory=MappingConfig)
    noise: NoiseConfig = field(default_factory=NoiseConfig)
    periphery: PeripheryConfig = field(default_factory=PeripheryConfig)
    update: UpdateConfig = field(default_factory=UpdateConfig)
    ir_drop: str = "none"
    ir_fast_tolerance: float = 1e-6
    ir_fast_max_iterations: int = 100
    ir_fast_fallback: str = "exact"
    ir_fast_update: str = "incremental"
    tile_rows: int = 128
    tile_cols: int = 128
    gpr_model: GPRNoiseModel | None = field(default=None, compare=False)
    gpr_output_model: GPRNoiseModel | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        for name, kind in (
            ("mapping", MappingConfig),
            ("noise", NoiseConfig),
            ("periphery", PeripheryConfig),
            ("update", UpdateConfig),
        ):
            if not isinstance(getattr(self, name), kind):
                raise CrossbarError(f"{name}={getattr(self, name)!r}: expected a {kind.__name__}")
        check_choice("ir_drop", self.ir_drop, IR_DROP_MODES)
        if not check_real("ir_fast_tolerance", self.ir_fast_tolerance) > 0:
            raise CrossbarError(
                f"ir_fast_tolerance={self.ir_fast_tolerance!r}: expected a value > 0"
            )
        check_int("ir_fast_max_iterations", self.ir_fast_max_iterations, low=1)
        check_choice("ir_fast_fallback", self.ir_fast_fallback, FAST_IR_FALLBACKS)
        check_choice("ir_fast_update", self.ir_fast_update, IR_FAST_UPDATES)
        check_int("tile_rows", self.tile_rows, low=1)
        check_int("tile_cols", self.tile_cols, low=1)
        for name in ("gpr_model", "gpr_output_model"):
            model = getattr(self, name)
            if model is not None and not isinstance(model, GPRNoiseModel):
                raise CrossbarError(f"{name}={model!r}: expected a GPRNoiseModel or None")
        if self.gpr_model is not None and self.noise.noise_model != "gpr":
            raise CrossbarError(
                f"noise_model={self.noise.noise_model!r}: expected 'gpr' when gpr_model is set"
            )
        if self.update.mode in IN_SITU_MODES and self.mapping.n_slices > 1:
            raise CrossbarError(
                f"n_slices={self.mapping.n_slices}: in-situ updates (mode="
                f"{self.update.mode!r}) need one slice; use UpdateConfig(mode='reprogram') "
                "with bit slicing"
            )

    @classmethod
    def ideal(cls, **changes: object) -> CrossbarConfig:
        """No quantisation, no noise, ideal periphery, no IR drop (an exact matrix)."""
        changes.setdefault("mapping", MappingConfig(quantize=False))
        changes.setdefault("noise", NoiseConfig.ideal())
        return cls(**changes)  # type: ignore[arg-type]  # field overrides, checked by __post_init__


@functools.lru_cache(maxsize=1)
def _default_gpr_model() -> GPRNoiseModel:
    """The GPR model fitted once to the shipped table (``noise_model="gpr"`` default)."""
    return GPRNoiseModel.from_csv()


class CrossbarArray:
    """A weight matrix ``W [n_out, n_in]`` programmed into tiled RRAM crossbars.

    Parameters
    ----------
    weights : array [n_out, n_in]
        Weights to program.
    device : str or DeviceParams
        Device preset name (see :data:`crossbar.devices.PRESETS`) or a record.
    config : CrossbarConfig, optional
        Mapping, non-idealities, periphery, updates, IR drop and tile size (default: the
        device's levels, the measured ``"wan2022"`` programming error and relaxation,
        accumulated pulse updates, ideal periphery, no IR drop).
    seed : int, numpy.random.Generator or None
        Source of all randomness.
    dtype : numpy dtype
        Dtype of returned arrays.  Reads compute in float32 when it is float32 and in
        float64 otherwise; mapping, noise and updates always use float64.

    Attributes
    ----------
    counters : CrossbarCounters
        Event counts per tile (reset with :meth:`reset_counters`).
    time_s : float
        Present time (read-only; see :meth:`set_time`); cells age from the moment they were
        programmed (an array is programmed at time 0 when created).
    """

    def __init__(
        self,
        weights: np.ndarray,
        device: str | DeviceParams = "neurram_hfo2",
        config: CrossbarConfig | None = None,
        *,
        seed: SeedLike = None,
        dtype: np.dtype | type = np.float32,
    ) -> None:
        self.device = get_preset(device)
        self.config = CrossbarConfig() if config is None else config
        if not isinstance(self.config, CrossbarConfig):
            raise CrossbarError(f"config={config!r}: expected a CrossbarConfig")
        check_mapping_device(self.config.mapping, self.device)
        self.dtype = np.dtype(dtype)
        # Reads compute in float32 when float32 results are asked for, else in float64.
        self._cdtype = np.float32 if self.dtype == np.float32 else np.float64
        self._rng = check_random_state(seed)
        w = as_float_array("weights", weights, ndim=2)
        if 0 in w.shape:
            raise CrossbarError(f"weights: expected a non-empty matrix, got shape {w.shape}")
        self._shape = (int(w.shape[0]), int(w.shape[1]))
        m = self.config.mapping
        self._cell_shape = (m.n_slices, m.n_polarities) + self._shape
        # bit slices' weights in the digital shift-add (n_levels ** slice)
        self._slice_weights = float(self.device.n_levels) ** np.arange(m.n_slices,
                                                                        dtype=np.float64)
        self._row_blocks = tile_slices(self._shape[1], self.config.tile_rows)
        self._col_blocks = tile_slices(self._shape[0], self.config.tile_cols)
        tc = self.config.tile_cols
        self.counters = CrossbarCounters(
            [
                TileCounters(r, c, rb.stop - rb.start, cb.stop - cb.start,
                             physical_arrays(cb.stop - cb.start, tc, m.n_slices, m.n_polarities))
                for r, rb in enumerate(self._row_blocks)
                for c, cb in enumerate(self._col_blocks)
            ]
        )
        # Tile geometry as arrays (tiles row-major over (row block, column block)), for
        # counting the events of every tile with one vectorised operation.
        self._tile_rows = np.array([t.rows for t in self.counters.tiles], dtype=np.int64)
        self._tile_cols = np.array([t.cols for t in self.counters.tiles], dtype=np.int64)
        self._tile_cells = self._tile_rows * self._tile_cols
        self._row_bounds = np.array([b.start for b in self._row_blocks] + [self._shape[1]])
        self._col_bounds = np.array([b.start for b in self._col_blocks] + [self._shape[0]])
        self._event_column = {name: i for i, name in enumerate(EVENT_FIELDS)}
        # per read direction: the drive block (row blocks forward, column blocks
        # transposed) of each driven line, their number, and the drive block of each tile
        # (_count_read)
        n_cb = len(self._col_blocks)
        tiles = np.arange(len(self.counters.tiles))
        self._drive_blocks = {
            False: (np.arange(self._shape[1]) // self.config.tile_rows,
                    len(self._row_blocks), tiles // n_cb),
            True: (np.arange(self._shape[0]) // self.config.tile_cols, n_cb, tiles % n_cb)}
        # The cells' coordinates for the compiled refresh of read entries
        # (refresh_read_entries): the first tile of each input's row block and each output's
        # column block within it, and per read direction each driven line's block and row
        # in the stacked read matrices (see _stack: forward, the inputs drive in blocks of
        # tile_rows; transposed, the outputs in blocks of tile_cols).
        n_out, n_in = self._shape
        self._tile_of_input = np.arange(n_in) // self.config.tile_rows * n_cb
        self._tile_of_output = np.arange(n_out) // self.config.tile_cols
        self._drive_rows: dict[bool, tuple[np.ndarray, np.ndarray]] = {}
        for transposed, n, tile in ((False, n_in, self.config.tile_rows),
                                    (True, n_out, self.config.tile_cols)):
            lines = np.arange(n)
            self._drive_rows[transposed] = (lines // min(tile, n), lines % min(tile, n))
        # The IR-drop resistances of each read direction (rows and columns swap roles in a
        # transposed read: the column lines are driven, the row lines sensed).
        dev = self.device
        self._ir_resistances = {
            False: (dev.r_wire_row_ohm, dev.r_wire_col_ohm, dev.r_driver_ohm, dev.r_sense_ohm),
            True: (dev.r_wire_col_ohm, dev.r_wire_row_ohm, dev.r_sense_ohm, dev.r_driver_ohm),
        }
        noise = self.config.noise
        self._faults = sample_faults(
            self._cell_shape, noise.sa0_fraction, noise.sa1_fraction, self._rng
        )
        sig = self.config.update.d2d_step_sigma_rel
        self._gain = (
            np.ones(self._cell_shape)
            if sig == 0
            else np.maximum(0.0, 1.0 + sig * self._rng.standard_normal(self._cell_shape))
        )
        self._pulse_count = np.zeros(self._cell_shape, dtype=np.int64)
        self._time_s = 0.0
        self._gpr = (
            (self.config.gpr_model or _default_gpr_model())
            if noise.noise_model == "gpr"
            else None
        )
        # Calibrated full scales: ADC per (transposed, tile index, slice), DAC per direction.
        self._adc_fs: dict[tuple[bool, int, int], float] = {}
        self._dac_fs: dict[bool, float] = {}
        # ADC steps per (transposed, calibrating), built from the full scales above by
        # _adc_steps and forgotten whenever a calibration sets them
        self._adc_step_cache: dict[tuple[bool, bool], np.ndarray] = {}
        # While calibrating: the direction, the input magnitudes and, per (tile, slice), the
        # column-current magnitudes seen.
        self._collecting: _Calibration | None = None
        # derived state, rebuilt on demand: present conductances, and per read direction
        # (transposed?) the IR-drop effective conductances, difference and square matrices,
        # and which physical arrays' IR-drop corrections wait for the next read
        # ([n_slices, n_polarities, n_tiles], see _refresh_cells)
        self._g_cache: np.ndarray | None = None
        self._read_cache: dict[bool, tuple[np.ndarray | None, np.ndarray, np.ndarray | None]]
        self._read_cache = {}
        self._ir_stale: dict[bool, np.ndarray] = {}
        # incremental fast IR drop: state per read direction, and counts (see ir_update_counts)
        self._ir_states: dict[bool, _IRState] = {}
        self._ir_counts = np.zeros(IR_N_STATS, dtype=np.int64)
        # with the conductance cache: when each cell was evaluated, the time before which it
        # is surely not due for re-evaluation, and the earliest of those (see set_time)
        self._t_eval = np.empty(0)
        self._t_due = np.empty(0)
        self._next_due = float("inf")
        # what _refresh_cells passes for a read direction whose entries it does not write,
        # and its constants: level step, its square, offset reference, differential?
        empty = np.empty((0, 0, 0, 0), dtype=self._cdtype)
        no_lines = np.empty(0, dtype=np.int64)
        self._no_entries = (empty, empty, np.empty((0, 0, 0), dtype=bool), no_lines, no_lines)
        step = self.device.level_step_uS
        self._entry_constants = (
            step, step**2, self.device.g_min_uS + ((self.device.n_levels - 1) // 2) * step,
            m.scheme == "differential")
        self.set_weights(w)

    # ------------------------------------------------------------------ state
    @property
    def shape(self) -> tuple[int, int]:
        """``(n_out, n_in)``."""
        return self._shape

    @property
    def time_s(self) -> float:
        """Present time (seconds); advance it with :meth:`set_time`."""
        return self._time_s

    @property
    def scales(self) -> np.ndarray:
        """Weight per level of the least-significant slice, per output ``[n_out]``."""
        return self._scales.copy()

    @property
    def faults(self) -> np.ndarray:
        """Fault map ``[n_slices, n_polarities, n_out, n_in]`` (0 ok, 1 SA0, 2 SA1)."""
        return self._faults.copy()

    @property
    def pulse_counts(self) -> np.ndarray:
        """Programming pulses received by each cell so far (endurance), same shape as faults."""
        return self._pulse_count.copy()

    @property
    def conductances_uS(self) -> np.ndarray:
        """Present conductances (µS) ``[n_slices, n_polarities, n_out, n_in]`` (a copy)."""
        return self._g_now().copy()

    def set_weights(self, weights: np.ndarray) -> None:
        """Map ``weights`` anew and program every cell (programming variation applies).

        The update accumulator is cleared; calibrated ranges are kept (call
        :meth:`calibrate` again if the weights changed much).
        """
        w = as_float_array("weights", weights, ndim=2, shape=self._shape)
        m = self.config.mapping
        self._scales = weight_scales(w, m, self.device)
        self._scales_c = self._scales.astype(self._cdtype)  # in the reads' dtype
        self._levels = weights_to_levels(w, m, self.device, self._scales)
        self._shadow = w.copy()
        target = levels_to_conductances(self._levels, self.device)
        self._intended = target
        self._g_prog = self._program(target)
        self._g_anchor = target.copy()
        self._anchor_fits = self._fit_values(self._g_anchor)
        self._t_prog = np.full(self._cell_shape, self.time_s)
        self._z_relax = self._relax_draws(self._cell_shape)
        # Digital accumulator of sub-pulse updates, in pulses per weight ("accumulate").
        self._acc = np.zeros(self._shape)
        self._count("cells_programmed", int(np.prod(self._cell_shape[:2])) * self._tile_cells)
        self._invalidate()

    def set_time(self, time_s: float) -> None:
        """Move the clock to ``time_s`` seconds (``>=`` the present time): cells relax.

        Cells are re-evaluated when their age has grown by more than
        ``config.noise.time_step_decades`` since their last evaluation. Ages beyond the fitted
        data (2 days for ``"wan2022"``) warn when conductances are evaluated.
        """
        t = check_real("time_s", time_s)
        if t < self._time_s:
            raise CrossbarError(
                f"time_s={time_s!r}: expected a finite time >= the present time {self._time_s} s"
            )
        self._time_s = t
        if self._g_cache is None or not self._ages_matter():
            return
        step = self.config.noise.time_step_decades
        if step == 0:
            self._invalidate()
            return
        if t <= self._next_due:  # no cell can be due (see _due_times)
            return
        # re-evaluate only the cells whose age grew by more than the resolution since their
        # last evaluation (recently programmed cells often, old ones rarely); the due times
        # pick the candidates, the test on log ages decides (taken only where it is not
        # surely passed by a margin, see surely_due)
        t_prog, t_eval, t_due = _flat(self._t_prog), _flat(self._t_eval), _flat(self._t_due)
        due = np.flatnonzero(t > t_due)
        late = surely_due(due, t, t_prog, t_eval, 10.0**step * (1.0 + 1e-6))
        if not late.all():
            unsure = ~late
            tp, te = t_prog[due[unsure]], t_eval[due[unsure]]
            late[unsure] = (np.log10(np.maximum(t - tp, 1.0))
                            - np.log10(np.maximum(te - tp, 1.0))) > step
            due = due[late]
        if due.size:
            self._refresh_cells(due)
        self._next_due = float(t_due.min())

    def _due_times(self, t_prog: np.ndarray, t_eval: np.ndarray) -> np.ndarray:
        """Times before which cells programmed at ``t_prog`` and evaluated at ``t_eval`` are
        surely not due for re-evaluation: ``log10(max(t - t_prog, 1)) - log10(max(t_eval -
        t_prog, 1)) > time_step_decades`` needs ``t - t_prog > 10**step * max(t_eval -
        t_prog, 1)``; the factor ``1 - 1e-6`` keeps rounding of the logarithms on the safe
        side (:meth:`set_time` applies the exact test to the cells past their due time)."""
        return t_prog + np.maximum(t_eval - t_prog, 1.0) * self._due_factor()

    def _due_factor(self) -> float:
        return 10.0 ** self.config.noise.time_step_decades * (1.0 - 1e-6)

    def _ages_matter(self) -> bool:
        """Whether conductances change with time (relaxation or drift present)."""
        noise = self.config.noise
        return self._relax_strength() != 0 or (
            noise.noise_model == "relative" and noise.drift_nu != 0)

    def __repr__(self) -> str:
        m = self.config.mapping
        return (
            f"CrossbarArray(shape={self._shape}, device={self.device.name!r}, "
            f"scheme={m.scheme!r}, n_slices={m.n_slices}, tiles={len(self.counters.tiles)}, "
            f"ir_drop={self.config.ir_drop!r}, time_s={self._time_s})"
        )

    def summary(self) -> dict[str, object]:
        """Plain description of the hardware for cost models (hwsim): no arrays, no objects.

        Keys: ``n_out``, ``n_in``, ``device``, ``g_min_uS``, ``g_max_uS``, ``n_levels``,
        ``v_read_V``, ``v_write_V``, ``t_pulse_ns``, ``scheme``, ``n_slices``,
        ``n_polarities``, ``tile_rows``, ``tile_cols``, ``n_tiles``, ``dac_bits``,
        ``adc_bits``, ``columns_per_adc``, ``ir_drop``, ``write_verify``, ``noise_model``,
        ``adc_range``, ``dac_range``, ``calibration_percentile``, ``calibration_scope``,
        ``update_mode``, ``bit_length`` (pulses per line per round, coincidence mode; 0
        otherwise) and ``accumulator_words`` (digital accumulator words held: one per weight
        in accumulate mode, else 0).
        """
        dev, m, per = self.device, self.config.mapping, self.config.periphery
        upd = self.config.update
        return {
            "n_out": self._shape[0],
            "n_in": self._shape[1],
            "device": dev.name,
            "g_min_uS": dev.g_min_uS,
            "g_max_uS": dev.g_max_uS,
            "n_levels": dev.n_levels,
            "v_read_V": dev.v_read_V,
            "v_write_V": dev.v_write_V,
            "t_pulse_ns": dev.t_pulse_ns,
            "scheme": m.scheme,
            "n_slices": m.n_slices,
            "n_polarities": m.n_polarities,
            "tile_rows": self.config.tile_rows,
            "tile_cols": self.config.tile_cols,
            "n_tiles": len(self.counters.tiles),
            "dac_bits": per.dac_bits,
            "adc_bits": per.adc_bits,
            "columns_per_adc": per.columns_per_adc,
            "ir_drop": self.config.ir_drop,
            "write_verify": upd.write_verify,
            "noise_model": self.config.noise.noise_model,
            "adc_range": per.adc_range,
            "dac_range": per.dac_range,
            "calibration_percentile": per.calibration_percentile,
            "calibration_scope": per.calibration_scope,
            "update_mode": upd.mode,
            "bit_length": upd.bit_length if upd.mode == "coincidence" else 0,
            "accumulator_words": self._shape[0] * self._shape[1] if upd.mode == "accumulate" else 0,
        }

    def reset_counters(self) -> None:
        """Zero all event counts."""
        self.counters.reset()

    def get_weights(self) -> np.ndarray:
        """Effective weights ``[n_out, n_in]``: what the present conductances represent.

        Includes programming variation, faults, drift and update history; excludes the read
        path (read noise, IR drop, DAC/ADC).
        """
        levels = conductances_to_levels(self._g_now(), self.device)
        w = levels_to_weights(levels, self.config.mapping, self.device, self._scales)
        return w.astype(self.dtype)

    # ------------------------------------------------------------------ reads
    def forward(self, x: np.ndarray) -> np.ndarray:
        """``x @ W.T`` through the crossbar: ``x [M, n_in]`` -> ``[M, n_out]``."""
        xv = as_float_array("x", x, ndim=2, shape=(None, self._shape[1]), dtype=self._cdtype)
        return self._read(xv, transposed=False).astype(self.dtype, copy=False)

    def backward(self, d: np.ndarray) -> np.ndarray:
        """``d @ W`` by a transposed read of the same arrays: ``d [M, n_out]`` -> ``[M, n_in]``."""
        dv = as_float_array("d", d, ndim=2, shape=(None, self._shape[0]), dtype=self._cdtype)
        scaled = dv * self._scales_c
        return self._read(scaled, transposed=True).astype(self.dtype, copy=False)

    def calibrate(self, x: np.ndarray, *, transposed: bool = False) -> None:
        """Set the calibrated ADC / DAC full scales from a calibration batch.

        ``x [M, n_in]`` (or errors ``[M, n_out]`` with ``transposed=True``) is read once
        through the array inside :meth:`calibration`; see there.
        """
        n = self._shape[0] if transposed else self._shape[1]
        xv = as_float_array("x", x, ndim=2, shape=(None, n), dtype=self._cdtype)
        with self.calibration(transposed=transposed):
            if transposed:
                self._read(xv * self._scales_c, True)
            else:
                self._read(xv, False)

    @contextlib.contextmanager
    def calibration(self, *, transposed: bool = False) -> Iterator[CrossbarArray]:
        """Calibrate the converters from the reads made inside the ``with`` block.

        Done once when the array is deployed, as chips calibrate their converter references
        after programming (so that a whole network can be calibrated by one forward pass
        of a calibration batch).  Inside the block, reads in the chosen direction bypass the
        ADC and record the magnitudes of the column currents (and of non-binary inputs); on
        leaving it, each calibrated range becomes the ``calibration_percentile``-th
        percentile of the magnitudes seen (per tile and slice, or per array and slice; see
        :class:`~crossbar.periphery.PeripheryConfig`).  A range measured as zero falls back to
        the largest possible one.  The reads are counted as reads.
        """
        if self._collecting is not None:
            raise CrossbarError("calibration: expected no calibration already in progress")
        seen = _Calibration(transposed)
        self._collecting = seen
        try:
            yield self
        finally:
            self._collecting = None
        self._adc_step_cache = {}
        per = self.config.periphery
        pct = per.calibration_percentile
        if per.dac_range == "calibrated" and seen.inputs:
            mags = np.concatenate(seen.inputs)
            fs = float(np.percentile(mags, pct))
            self._dac_fs[transposed] = fs if fs > 0 else (float(mags.max()) or 1.0)
        if per.adc_range != "calibrated" or not seen.currents:
            return
        currents = {key: np.concatenate(v) for key, v in seen.currents.items()}
        for k in range(self.config.mapping.n_slices):
            keys = [key for key in currents if key[1] == k]
            if per.calibration_scope == "layer":
                pooled = float(np.percentile(np.concatenate([currents[c] for c in keys]), pct))
                values = {key: pooled for key in keys}
            else:
                values = {key: float(np.percentile(currents[key], pct)) for key in keys}
            for (i, kk), fs in values.items():
                self._adc_fs[(transposed, i, kk)] = (
                    fs if fs > 0 else self._max_full_scale(i, transposed)
                )

    def _max_full_scale(self, tile: int, transposed: bool) -> float:
        """Largest possible column current of a tile, in ``v_read * level_step`` units."""
        n_drive = self._tile_cols[tile] if transposed else self._tile_rows[tile]
        return float(n_drive) * self.device.g_range_uS / self.device.level_step_uS

    def _sense_tiles(self, transposed: bool) -> list[tuple[int, int, slice]]:
        """``(drive block, tile index, sense slice)`` of every tile of a stacked read."""
        n_cb = len(self._col_blocks)
        out = []
        if transposed:
            for c in range(n_cb):
                for r, rb in enumerate(self._row_blocks):
                    out.append((c, r * n_cb + c, rb))
        else:
            for r in range(len(self._row_blocks)):
                for c, cb in enumerate(self._col_blocks):
                    out.append((r, r * n_cb + c, cb))
        return out

    def _adc_steps(self, transposed: bool, n_slices: int, n_sense: int, n_codes: int,
                   calibrating: bool) -> np.ndarray:
        """ADC step (full scale / codes) per drive block, slice and sensed line,
        ``[blocks, n_slices, n_sense]``: from the largest possible current of each block
        (``adc_range="max"``, or while calibrating) or the calibrated range of each tile.
        Kept per direction until a calibration changes the ranges (the other inputs are
        fixed by the configuration and the shape)."""
        cached = self._adc_step_cache.get((transposed, calibrating))
        if cached is None:
            cached = self._adc_step_values(transposed, self._block_sizes(transposed),
                                           n_slices, n_sense, n_codes, calibrating)
            self._adc_step_cache[(transposed, calibrating)] = cached
        return cached

    def _adc_step_values(self, transposed: bool, drive: np.ndarray, n_slices: int,
                         n_sense: int, n_codes: int, calibrating: bool) -> np.ndarray:
        """What :meth:`_adc_steps` returns, computed."""
        per = self.config.periphery
        levels_full = self.device.g_range_uS / self.device.level_step_uS
        codes = max(n_codes, 1)
        shape = (drive.size, n_slices, n_sense)
        if per.adc_range != "calibrated" or per.adc_bits is None or calibrating:
            fs = per.adc_full_scale_fraction * drive * levels_full
            return np.ascontiguousarray(
                np.broadcast_to((fs / codes)[:, None, None], shape), dtype=self._cdtype)
        fs = np.empty(shape)
        for b, tile, sl in self._sense_tiles(transposed):
            for k in range(n_slices):
                value = self._adc_fs.get((transposed, tile, k))
                if value is None:
                    if not transposed:
                        raise CrossbarError(
                            "adc_range='calibrated': expected calibrate(x) before forward reads"
                        )
                    # Transposed reads without a calibration batch of errors: largest range.
                    value = self._max_full_scale(tile, transposed)
                fs[b, k, sl] = value
        return (fs / codes).astype(self._cdtype)

    def _read(self, x: np.ndarray, transposed: bool) -> np.ndarray:
        """Read of every tile at once, in normalised units: inputs in ``v_read``,
        conductances in levels.

        Row voltages are ``v_read * xn``; currents are carried as ``I / (v_read * level_step)``
        so that no full-size array is rescaled twice.  The tiles that share drive lines (a
        block of inputs, or of outputs for a transposed read) are read together: one stacked
        matrix product per slice, ``[blocks, M, drive] @ [blocks, drive, sense]``, gives the
        partial sums of every tile, which are digitised per tile and added over the blocks.
        """
        per = self.config.periphery
        batch = x.shape[0]
        binary = is_binary(x)
        collect = None
        if self._collecting is not None and self._collecting.transposed == transposed:
            collect = self._collecting
            if not binary:
                collect.inputs.append(np.abs(x).ravel())
        if binary:
            xn, norm = x, None
        elif per.dac_range == "calibrated":
            fs = self._dac_fs.get(transposed)
            if fs is None and collect is None and not transposed:
                raise CrossbarError(
                    "dac_range='calibrated': expected calibrate(x) before forward reads"
                )
            if fs is None:
                xn, norm = normalise_inputs(x)
            else:
                xn, norm = np.clip(x / fs, -1.0, 1.0), np.full(batch, fs)
            xn = dac_quantize(xn, per.dac_bits).astype(self._cdtype, copy=False)
        else:
            xn, norm = normalise_inputs(x)
            xn = dac_quantize(xn, per.dac_bits).astype(self._cdtype, copy=False)
        d_mats, g_sq = self._read_matrices(transposed)
        n_slices, blocks, size, sense = d_mats.shape
        read_sigma = self.config.noise.read_sigma_rel
        noise = read_sigma > 0
        # [blocks, M, size], and the squares of real inputs for the read noise
        xs, x_sq = _stack_inputs(xn, blocks, size, noise and not binary)
        cur = _stacked_matmul(xs, d_mats)  # [blocks, n_slices, M, sense]
        var, z = cur[:0], _NO_DRAWS  # placeholders when noiseless
        if noise:  # read noise: std = read_sigma * sqrt(x^2 @ G^2) per column and tile
            assert g_sq is not None  # built whenever read_sigma_rel > 0
            var = _stacked_matmul(xs if binary else x_sq, g_sq)
            z = self._rng.standard_normal(cur.shape)
        out_model = self.config.gpr_output_model
        if out_model is not None or collect is not None:
            if noise:
                cur = (cur + (read_sigma * np.sqrt(var)) * z).astype(self._cdtype)
                noise = False
        if out_model is not None:
            levels_full = self.device.g_range_uS / self.device.level_step_uS
            i_max = (self._block_sizes(transposed) * levels_full)[:, None, None, None]
            cur = (out_model.sample(cur / i_max, self._rng) * i_max).astype(self._cdtype)
        if collect is not None:  # calibration: ADC bypassed, magnitudes recorded per tile
            for b, tile, sl in self._sense_tiles(transposed):
                for k in range(n_slices):
                    collect.currents.setdefault((tile, k), []).append(
                        np.abs(cur[b, k, :, sl]).ravel()
                    )
        bits = per.adc_bits
        n_codes = 0 if bits is None else 2 ** (bits - 1) - 1
        step = self._adc_steps(transposed, n_slices, sense, n_codes, collect is not None)
        out = np.empty((batch, sense), dtype=self._cdtype)
        # noise, ADC per tile, the digital sum over blocks and slices and the scaling back
        # (input norms; forward reads: the weight scales), in one pass
        digitise_and_sum(cur, var, z, read_sigma, noise, step,
                         bits is not None and collect is None, n_codes, self._slice_weights,
                         _NO_NORMS if norm is None else norm,
                         _NO_NORMS if transposed else self._scales_c, out)
        self._count_read(xn, batch, binary, transposed)
        return out

    def _count_read(self, xn: np.ndarray, batch: int, binary: bool, transposed: bool) -> None:
        """Add one read of ``batch`` vectors to the counters of every tile."""
        m = self.config.mapping
        # active lines per drive block, then per tile
        block_of_line, n_blocks, tile_block = self._drive_blocks[transposed]
        active = nonzero_per_block(xn, block_of_line, n_blocks)[tile_block]
        sense = self._tile_rows if transposed else self._tile_cols
        self.counters.record_read(batch, active, sense, m.n_slices, m.n_polarities, transposed,
                                  multilevel=not binary)

    def _count(self, event: str, per_tile: np.ndarray | int) -> None:
        """Add ``per_tile`` (one value per tile, or one for all) to an event count."""
        self.counters.counts[:, self._event_column[event]] += per_tile

    def _block_sizes(self, transposed: bool) -> np.ndarray:
        """Driven lines of each drive block (column blocks for transposed reads)."""
        blocks = self._col_blocks if transposed else self._row_blocks
        return np.array([b.stop - b.start for b in blocks], dtype=np.float64)

    def _read_matrices(self, transposed: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Difference matrices (after IR drop) and summed squared conductances of every tile,
        stacked by drive block, in units of ``level_step_uS`` (and its square).

        Shapes ``[n_slices, blocks, size, sense]``: for forward reads the blocks are the row
        blocks (``size = tile_rows`` inputs, ``sense = n_out``), for transposed reads the
        column blocks (``size = tile_cols`` outputs, ``sense = n_in``); a last, smaller
        block is padded with zeros.  Built once per conductance state and then kept up to
        date by :meth:`_refresh_cells` after updates (tile by tile for IR drop).
        """
        if self._read_cache.get(transposed) is None:
            g = self._g_now()
            eff = None
            if self.config.ir_drop != "none":
                eff = np.empty_like(g)
                n_tiles = len(self.counters.tiles)
                jobs = np.array([(k, p, tile) for tile in range(n_tiles)
                                 for k in range(g.shape[0]) for p in range(g.shape[1])])
                if self._ir_incremental():
                    rows, cols = (self._col_blocks, self._row_blocks) if transposed else \
                        (self._row_blocks, self._col_blocks)
                    self._ir_states[transposed] = _IRState.empty(
                        (*g.shape[:2], n_tiles), max(b.stop - b.start for b in rows)
                        * max(b.stop - b.start for b in cols))
                self._ir_tiles(g, eff, jobs, transposed, None)
                self._ir_stale[transposed] = np.zeros((*g.shape[:2], n_tiles), dtype=bool)
            d_mats = self._difference_stack(g if eff is None else eff, transposed)
            g_sq = self._square_stack(g, transposed)
            self._read_cache[transposed] = (eff, d_mats, g_sq)
        eff, d_mats, g_sq = self._read_cache[transposed]
        stale = self._ir_stale.get(transposed)
        if stale is not None and stale.any():
            assert eff is not None  # stale arrays are marked only when IR drop is modelled
            self._ir_tiles(self._g_now(), eff, np.argwhere(stale), transposed, d_mats)
            stale[:] = False
        return d_mats, g_sq

    def _tile_slices(self, tile: int) -> tuple[slice, slice]:
        """``(output slice, input slice)`` of a tile in the ``[n_out, n_in]`` matrix."""
        n_cb = len(self._col_blocks)
        return self._col_blocks[tile % n_cb], self._row_blocks[tile // n_cb]

    def _ir_tiles(self, g: np.ndarray, eff: np.ndarray, jobs: np.ndarray, transposed: bool,
                  d_mats: np.ndarray | None) -> None:
        """Effective conductances of the physical arrays ``jobs [J, 3]`` (rows ``(slice,
        polarity, tile)``) into ``eff`` at the cells' positions, and, if given, those tiles'
        entries of the stacked difference matrices ``d_mats``."""
        dev = self.device
        step = dev.level_step_uS
        g_ref = dev.g_min_uS + ((dev.n_levels - 1) // 2) * step
        differential = self.config.mapping.scheme == "differential"
        if self.config.ir_drop == "fast":
            failed = np.zeros(jobs.shape[0], dtype=np.int8)
            args = (g, eff, jobs, self._row_bounds, self._col_bounds, len(self._col_blocks),
                    transposed, *self._ir_resistances[transposed],
                    self.config.ir_fast_max_iterations, self.config.ir_fast_tolerance,
                    np.empty((0, 0, 0, 0), self._cdtype) if d_mats is None else d_mats,
                    step, g_ref, differential, failed)
            if self._ir_incremental():
                st = self._ir_states[transposed]
                fast_ir_incremental(*args, st.t, st.g, st.sigma, st.valid,
                                    IR_CROSS_FRACTION, self._ir_counts)
            else:
                fast_ir_tiles(*args)
            if not failed.any():
                return
            # arrays where the iteration did not converge: warn and solve exactly (or raise)
            jobs = jobs[failed.astype(bool)]
        n_cb = len(self._col_blocks)
        for k, p, tile in jobs.tolist():
            cb, rb = self._tile_slices(tile)
            cells = g[k, p, cb, rb]  # [cols, rows]: transposed reads drive the columns
            eff[k, p, cb, rb] = (self._ir(cells, transposed) if transposed
                                 else self._ir(cells.T, transposed).T)
        if d_mats is None:
            return
        for k, _, tile in jobs.tolist():
            cb, rb = self._tile_slices(tile)
            diff = self._difference(eff, k, cb, rb) / step  # [cols, rows]
            if transposed:
                d_mats[k, tile % n_cb, : cb.stop - cb.start, rb] = diff
            else:
                d_mats[k, tile // n_cb, : rb.stop - rb.start, cb] = diff.T

    def _ir_incremental(self) -> bool:
        """Whether the fast IR-drop model is updated incrementally (see CrossbarConfig)."""
        return self.config.ir_drop == "fast" and self.config.ir_fast_update == "incremental"

    @property
    def ir_update_counts(self) -> dict[str, int]:
        """What the incremental fast IR-drop model did so far (both read directions):
        ``cold`` arrays solved from scratch, ``dense`` re-solved by substitutions from their
        previous solution, ``sparse`` updated along the changed lines within the bound,
        ``changed_cells`` seen, ``substitutions`` run by cold and dense solves.  All zero
        unless ``ir_drop="fast"`` and ``ir_fast_update="incremental"``."""
        names = {IR_STAT_COLD: "cold", IR_STAT_DENSE: "dense", IR_STAT_SPARSE: "sparse",
                 IR_STAT_CHANGED_CELLS: "changed_cells",
                 IR_STAT_SUBSTITUTIONS: "substitutions"}
        return {name: int(self._ir_counts[i]) for i, name in names.items()}

    def _difference_stack(self, eff: np.ndarray, transposed: bool) -> np.ndarray:
        """``(G+ - G-) / step`` (or ``(G - G_ref) / step``) per slice, stacked (see above)."""
        m, dev = self.config.mapping, self.device
        step = dev.level_step_uS
        if m.scheme == "differential":
            diff = eff[:, 0] - eff[:, 1]
        else:
            diff = eff[:, 0] - (dev.g_min_uS + ((dev.n_levels - 1) // 2) * step)
        return self._stack(diff / step, transposed)

    def _square_stack(self, g: np.ndarray, transposed: bool) -> np.ndarray | None:
        """Summed squared conductances of the cells read together / step**2 (read noise)."""
        if self.config.noise.read_sigma_rel == 0:
            return None
        sq = g[:, 0] ** 2 + g[:, 1] ** 2 if g.shape[1] == 2 else g[:, 0] ** 2
        return self._stack(sq / self.device.level_step_uS**2, transposed)

    def _stack(self, a: np.ndarray, transposed: bool) -> np.ndarray:
        """``a [S, n_out, n_in]`` -> ``[S, blocks, size, sense]`` in the compute dtype."""
        if not transposed:
            a = a.transpose(0, 2, 1)  # [S, n_in, n_out]: inputs drive
        size = (self.config.tile_cols if transposed else self.config.tile_rows)
        size = min(size, a.shape[1])
        blocks = -(-a.shape[1] // size)
        out = np.zeros((a.shape[0], blocks * size, a.shape[2]), dtype=self._cdtype)
        out[:, : a.shape[1]] = a
        return out.reshape(a.shape[0], blocks, size, a.shape[2])

    def _ir(self, g_uS: np.ndarray, transposed: bool) -> np.ndarray:
        """Effective conductances (µS) of one physical array, driven along its first axis."""
        mode = self.config.ir_drop
        if mode == "none":
            return g_uS
        r = self._ir_resistances[transposed]
        g_S = g_uS * 1e-6
        if mode == "fast":
            cfg = self.config
            return fast_ir_unchecked(
                g_S, r, cfg.ir_fast_tolerance, cfg.ir_fast_max_iterations, cfg.ir_fast_fallback
            ) * 1e6
        return ExactIRDropSolver(
            g_S, r_row_ohm=r[0], r_col_ohm=r[1], r_driver_ohm=r[2], r_sense_ohm=r[3]
        ).transfer_matrix() * 1e6

    # ------------------------------------------------------------------ cells
    def _program(self, target_uS: np.ndarray) -> np.ndarray:
        """Programmed conductances for targets under the configured noise model (µS)."""
        noise = self.config.noise
        if noise.noise_model == "relative":
            return programming_noise(target_uS, self.device, noise.prog_sigma_rel, self._rng)
        if noise.noise_model == "wan2022":
            return wan2022_programming_noise(
                target_uS, self.device, noise.prog_noise_scale, self._rng
            )
        assert self._gpr is not None
        mean, std = self._gpr.predict(target_uS)
        return mean + noise.prog_noise_scale * std * self._rng.standard_normal(mean.shape)

    def _fit_values(self, anchor_uS: np.ndarray) -> np.ndarray:
        """Relaxation-fit values of cells programmed to ``anchor_uS`` (``"wan2022"`` and
        ``"gpr"``): the spreads of the fitted times and, last, the 1 s spread,
        ``[n_fits + 1, *anchor.shape]``; they depend on the anchor only, so they are
        computed when cells are programmed, not at every re-evaluation (:meth:`_aged`)."""
        if self.config.noise.noise_model == "relative":
            return np.empty((0, *anchor_uS.shape))
        g_max = self.device.g_max_uS
        fits = wan2022_fit_values(anchor_uS, g_max)
        s_1 = wan2022_sigma_uS(anchor_uS, 1.0, g_max, warn=False, fits=fits)
        return np.concatenate([fits, s_1[None]])

    def _relax_strength(self) -> float:
        noise = self.config.noise
        return noise.relax_sigma_rel if noise.noise_model == "relative" else noise.prog_noise_scale

    def _relax_draws(self, shape: tuple[int, ...]) -> np.ndarray:
        if self._relax_strength() == 0:
            return np.zeros(shape)
        return self._rng.standard_normal(shape)

    def _aged(self, cells: np.ndarray | None = None) -> np.ndarray:
        """Conductances at the present time (before faults) of every cell, or of the cells
        at flat indices ``cells``: the noise model's relaxation from the programmed state."""
        def pick(a: np.ndarray) -> np.ndarray:
            return a if cells is None else a.reshape(-1)[cells]

        noise, dev = self.config.noise, self.device
        age = self.time_s - pick(self._t_prog)
        if noise.noise_model == "relative":
            return drift(pick(self._g_prog), age, pick(self._z_relax), dev, noise)
        fits = self._anchor_fits.reshape(self._anchor_fits.shape[0], -1)
        fits = self._anchor_fits if cells is None else fits[:, cells]
        return relaxed(pick(self._g_prog), pick(self._g_anchor), age, pick(self._z_relax), dev,
                       noise.prog_noise_scale, fits=fits[:-1], sigma_1s_uS=fits[-1])

    def _g_now(self) -> np.ndarray:
        if self._g_cache is None:
            self._g_cache = apply_faults(self._aged(), self._faults, self.device)
            self._t_eval = np.full(self._cell_shape, self.time_s)
            self._t_due = self._due_times(self._t_prog, self._t_eval)
            self._next_due = float(self._t_due.min())
        return self._g_cache

    def _invalidate(self) -> None:
        """Forget every derived conductance state (after a change of all cells or of time)."""
        self._g_cache = None
        self._read_cache = {}
        self._ir_stale = {}

    def _refresh_cells(self, cells: np.ndarray) -> None:
        """Bring the cached conductances and read matrices up to date after the cells at
        flat indices ``cells`` (of the cell array) were programmed or re-evaluated.

        Everything is recomputed from the cells with the operations of a full rebuild, so
        the caches stay exactly what a rebuild would give: present conductances and the
        read matrices' entries of those cells now; the IR-drop effective conductances of
        every physical array (tile, slice, polarity) that holds one of them are marked
        stale and recomputed once, by the next read in their direction
        (:meth:`_read_matrices`), however many refreshes came between.  When a quarter or
        more of the cells change, the read matrices are rebuilt whole (same values).
        """
        g = self._g_cache
        if g is None:
            return
        whole = 4 * cells.size >= g.size
        entries = (self._no_entries, self._no_entries) if whole else self._entry_targets()
        geometry = (self._tile_of_input, self._tile_of_output, *self._entry_constants)
        noise, dev = self.config.noise, self.device
        if noise.noise_model != "relative" and self._relax_strength() != 0:
            # the relaxed conductances and their read entries, in one compiled pass (same
            # operations as _aged and refresh_read_entries)
            t_prog = _flat(self._t_prog)
            age = np.empty(cells.size)
            oldest = clamped_ages(cells, self.time_s, t_prog, age)
            if oldest > _LAST_FIT_S:
                warn_beyond_fits(np.array([oldest]))
            fits = self._anchor_fits
            due = relax_cells(
                cells, np.log10(age), _flat(self._g_prog), _flat(self._z_relax),
                fits.reshape(fits.shape[0], -1), _flat(self._faults), WAN2022_FIT_LOG_T,
                noise.prog_noise_scale, dev.g_max_uS / WAN2022_G_REF_uS, dev.g_min_uS,
                dev.g_max_uS, self.time_s, self._due_factor(), t_prog, g,
                _flat(self._t_eval), _flat(self._t_due), entries, *geometry)
        else:
            _flat(g)[cells] = apply_faults(self._aged(cells), _flat(self._faults)[cells], dev)
            _flat(self._t_eval)[cells] = self.time_s
            due_times = self._due_times(_flat(self._t_prog)[cells], _flat(self._t_eval)[cells])
            _flat(self._t_due)[cells] = due_times
            due = float(due_times.min(initial=np.inf))
            if not whole:
                refresh_read_entries(cells, g, entries, *geometry)
        self._next_due = min(self._next_due, due)
        if whole:
            for transposed, (eff, _, _) in list(self._read_cache.items()):
                d_mats = self._difference_stack(g, transposed) if eff is None else \
                    self._read_cache[transposed][1]
                self._read_cache[transposed] = (eff, d_mats, self._square_stack(g, transposed))
                if eff is not None:
                    self._ir_stale[transposed][:] = True

    def _entry_targets(self) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
        """What the compiled refresh writes per read direction (forward, transposed), as
        ``refresh_read_entries`` takes it: the squares (read noise), the differences
        (without IR drop; with it, the physical arrays' stale marks instead), and the
        driven lines' blocks and rows; empty arrays for what is not cached."""
        targets = []
        for transposed in (False, True):
            cached = self._read_cache.get(transposed)
            if cached is None:
                targets.append(self._no_entries)
                continue
            eff, d_mats, g_sq = cached
            empty, _, no_marks, _, _ = self._no_entries
            targets.append((empty if g_sq is None else g_sq, empty if eff is not None else d_mats,
                            no_marks if eff is None else self._ir_stale[transposed],
                            *self._drive_rows[transposed]))
        return targets[0], targets[1]

    def _difference(self, a: np.ndarray, k: Any, o: Any, i: Any) -> np.ndarray:
        """``G+ - G-`` (or ``G - G_ref``) of slice ``k`` at outputs ``o``, inputs ``i``."""
        if self.config.mapping.scheme == "differential":
            return a[k, 0, o, i] - a[k, 1, o, i]
        dev = self.device
        return a[k, 0, o, i] - (dev.g_min_uS + ((dev.n_levels - 1) // 2) * dev.level_step_uS)

    def _tile_of(self, o: np.ndarray, i: np.ndarray) -> np.ndarray:
        """Tile index of the cells at outputs ``o`` and inputs ``i``."""
        n_cb = len(self._col_blocks)
        return (i // self.config.tile_rows) * n_cb + o // self.config.tile_cols

    # ------------------------------------------------------------------ updates
    def apply_update(self, dw: np.ndarray) -> None:
        """``W += dw`` as device pulses (or re-programming): ``dw [n_out, n_in]``.

        In the in-situ modes the request becomes whole pulses per weight (see
        :class:`~crossbar.update.UpdateConfig`); the counters record the pulses and, per
        mode, accumulator reads and writes and transfers, rounding draws, or coincidence
        cycles and stochastic bits.
        """
        mode = self.config.update.mode
        # the whole-pulse kernel divides each entry in float64 whatever its float dtype, so
        # a float32 request is validated as it is, not copied to float64 first
        single = mode in _WHOLE_PULSE_MODES and getattr(dw, "dtype", None) == np.float32
        dwv = as_float_array("dw", dw, ndim=2, shape=self._shape,
                             dtype=np.float32 if single else np.float64)
        self.counters.updates += 1
        if mode == "reprogram":
            cells, pulses, reads, changed, g_new = self._update_reprogram(dwv)
            self._finish_update(cells, pulses, reads, changed, g_new,
                                anchor=self._intended.flat[cells])
            return
        w_pulse = self._weight_per_pulse()
        if mode == "coincidence":
            u, sv, vt = np.linalg.svd(dwv / w_pulse[:, None], full_matrices=False)
            keep = sv > sv[0] * 1e-12 if sv.size and sv[0] > 0 else np.zeros(sv.size, bool)
            self._apply_coincidence([(u[:, i] * sv[i], vt[i]) for i in np.flatnonzero(keep)])
            return
        if mode == "accumulate":
            self._count("accumulator_reads", self._tile_cells)
            self._count("accumulator_writes", self._tile_cells)
        elif mode == "stochastic":
            self._count("rounding_draws", self._tile_cells)
        # whole pulses (update.whole_pulses: the rounding draws come first) and the
        # open-loop pulses they cause, in one compiled pass over the weights
        uniforms = self._rng.random(self._shape) if mode == "stochastic" else np.empty((0, 0))
        transfers = np.zeros(len(self.counters.tiles), dtype=np.int64)
        cells, n0, target = whole_pulse_targets(
            self._intended[0], dwv, w_pulse, self._scales, _WHOLE_PULSE_MODES[mode], self._acc,
            uniforms, *self._open_loop_constants(), self.config.tile_rows,
            self.config.tile_cols, len(self._col_blocks), transfers)
        if mode == "accumulate":
            self._count("transfers", transfers)
        self._program_pulses(cells, n0, target)

    def apply_outer_update(self, x: np.ndarray, d: np.ndarray, scale: float = 1.0) -> None:
        """``W += scale * d.T @ x`` from its factors: ``x [M, n_in]``, ``d [M, n_out]``.

        In ``"coincidence"`` mode each of the ``M`` rank-one terms is one stochastic
        pulse-coincidence update driven by the factors themselves (no SVD); in every other
        mode this is ``apply_update(scale * d.T @ x)``.
        """
        xv = as_float_array("x", x, ndim=2, shape=(None, self._shape[1]))
        dv = as_float_array("d", d, ndim=2, shape=(xv.shape[0], self._shape[0]))
        sc = check_real("scale", scale)
        if self.config.update.mode != "coincidence":
            self.apply_update(sc * dv.T @ xv)
            return
        self.counters.updates += 1
        a = sc * dv / self._weight_per_pulse()[None, :]
        self._apply_coincidence([(a[i], xv[i]) for i in range(xv.shape[0])])

    def _apply_coincidence(self, terms: list[tuple[np.ndarray, np.ndarray]]) -> None:
        """Pulse-coincidence updates of rank-one requests ``a b^T`` (in pulses)."""
        bl = self.config.update.bit_length
        k = np.zeros(self._shape)
        cycles = 0
        for a, b in terms:
            counts, rounds = coincidence_pulses(a, b, bl, self._rng)
            k += counts
            cycles += rounds * bl
        self._count("pulse_cycles", cycles * self.counters.physical_arrays)
        self._count("stochastic_bits", cycles * (self._tile_rows + self._tile_cols))
        self._program_pulses(*open_loop_pulses(
            self._intended[0], k * self._weight_per_pulse()[:, None], self._scales,
            *self._open_loop_constants()))

    def _open_loop_constants(self) -> tuple[float, float, float, float, float, float, bool]:
        """The mapping's constants the open-loop kernels take after the weights: ``g_min``,
        ``g_max``, level step, conductance per pulse (µS), the largest level count, the
        offset level and whether the mapping is differential."""
        dev, m = self.device, self.config.mapping
        return (dev.g_min_uS, dev.g_max_uS, dev.level_step_uS,
                dev.g_range_uS / dev.n_pulses_full_range, max_level_count(m, dev),
                float((dev.n_levels - 1) // 2), m.scheme == "differential")

    def _weight_per_pulse(self) -> np.ndarray:
        """Weight one pulse moves in the linear limit, per output ``[n_out]``."""
        dev = self.device
        return self._scales * (dev.g_range_uS / dev.n_pulses_full_range) / dev.level_step_uS

    def _finish_update(self, cells: np.ndarray, pulses: np.ndarray, reads: np.ndarray,
                       changed: np.ndarray, g_new: np.ndarray,
                       anchor: np.ndarray | None = None) -> None:
        """Count pulses and verify reads; programmed cells restart their clock, with a fresh
        relaxation draw, from ``anchor`` (the conductance the relaxation fit is evaluated
        at: their new conductance after pulses, their target when re-programmed)."""
        if cells.size == 0:
            return
        self._pulse_count.flat[cells] += pulses
        _, _, o, i = np.unravel_index(cells, self._cell_shape)
        tiles = self._tile_of(o, i)
        n_tiles = len(self.counters.tiles)
        self._count("programming_pulses", np.bincount(tiles, pulses, n_tiles).astype(np.int64))
        if reads.any():
            self._count("verify_reads", np.bincount(tiles, reads, n_tiles).astype(np.int64))
        done = cells[changed]
        if done.size:
            self._g_prog.flat[done] = g_new[changed]
            self._g_anchor.flat[done] = (g_new if anchor is None else anchor)[changed]
            if self._anchor_fits.size:
                fits = self._anchor_fits.reshape(self._anchor_fits.shape[0], -1)
                fits[:, done] = self._fit_values(self._g_anchor.flat[done])
            self._t_prog.flat[done] = self.time_s
            if self._relax_strength() != 0:
                _flat(self._z_relax)[done] = self._relax_draws((done.size,))
            self._refresh_cells(done)

    def _program_pulses(self, cells: np.ndarray, n0: np.ndarray, target: np.ndarray) -> None:
        """Open-loop pulses ``n0`` to the cells at flat indices ``cells`` (their *intended*
        conductances' change, see :func:`crossbar._kernels.open_loop_pulses`), then verify.

        The controller keeps the conductances it intends each cell to have (no read needed):
        the intended weight plus a whole number of pulses per weight (the update modes round
        before) is re-mapped to its canonical cells (the pair's other cell at ``g_min``),
        clipped to the representable range, and every cell receives ``round(change /
        (g_range / P))`` pulses.  Without write-verify the intended state advances by the
        pulses sent; with it, the intended state becomes the target.

        Only the cells that receive pulses are programmed (and draw write noise).  Without
        write-verify the pulse model (:func:`crossbar.update.apply_pulses`) and the
        bookkeeping of :meth:`_finish_update` run compiled, with the random draws and the
        ``log1p``/``expm1`` of the pulse curves taken by NumPy in the same order and amount.
        """
        dev, upd = self.device, self.config.update
        if cells.size == 0:
            return
        if upd.write_verify:
            stuck = self._faults.flat[cells] != FAULT_NONE
            g_new, pulses, reads = program_with_pulses(
                self._g_now().flat[cells], target, self._gain.flat[cells], dev, upd,
                self.config.noise.read_sigma_rel, stuck, self._rng, n0,
            )
            self._intended.flat[cells] = target
            self._finish_update(cells, pulses, reads, (pulses > 0) & ~stuck, g_new)
            return
        g = _flat(self._g_now())
        gain = _flat(self._gain)
        nu_ltp, nu_ltd = dev.nonlinearity_ltp, dev.nonlinearity_ltd
        em_ltp = float(np.expm1(-nu_ltp)) if nu_ltp else 0.0
        em_ltd = float(np.expm1(-nu_ltd)) if nu_ltd else 0.0
        y, steps, arg = np.empty(cells.size), np.empty(cells.size), np.empty(cells.size)
        pulse_positions(cells, n0, g, gain, dev.g_min_uS, dev.g_range_uS,
                        float(dev.n_pulses_full_range), em_ltp, em_ltd, nu_ltp == 0,
                        nu_ltd == 0, y, steps, arg)
        moved = np.empty(cells.size)
        pulse_moves(n0, y, steps, np.log1p(arg), nu_ltp, nu_ltd, nu_ltp == 0, nu_ltd == 0,
                    moved)
        c2c = upd.c2c_sigma_rel
        z = self._rng.standard_normal(cells.size) if c2c != 0 else np.empty(0)
        tile_pulses = np.zeros(len(self.counters.tiles), dtype=np.int64)
        fits = (self._anchor_fits.reshape(self._anchor_fits.shape[0], -1)
                if self._anchor_fits.size else np.empty((0, 0)))
        done = program_pulsed_cells(
            cells, n0, moved, np.expm1(moved), z, em_ltp, em_ltd, nu_ltp == 0, nu_ltd == 0,
            dev.g_min_uS, dev.g_max_uS, dev.g_range_uS, c2c * dev.g_range_uS,
            dev.g_range_uS / dev.n_pulses_full_range, _flat(self._faults), g,
            _flat(self._intended), _flat(self._pulse_count), self.config.tile_rows,
            self.config.tile_cols, len(self._col_blocks), self._shape[1], self._shape[0],
            tile_pulses, _flat(self._g_prog), _flat(self._g_anchor), _flat(self._t_prog),
            self.time_s, fits, _WAN2022_COEF, WAN2022_FIT_LOG_T, _LOG_T_1S, dev.g_max_uS,
            dev.g_max_uS / WAN2022_G_REF_uS)
        self._count("programming_pulses", tile_pulses)
        if done.size:
            if self._relax_strength() != 0:
                _flat(self._z_relax)[done] = self._relax_draws((done.size,))
            self._refresh_cells(done)

    def _update_reprogram(
        self, dw: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        dev, m = self.device, self.config.mapping
        self._shadow += dw
        levels = weights_to_levels(self._shadow, m, dev, self._scales)
        changed = levels != self._levels
        target = levels_to_conductances(levels, dev)
        pulses = np.where(
            changed,
            np.maximum(1.0, np.abs(pulses_for_change(target - self._g_now(), dev))),
            0.0,
        ).astype(np.int64)
        self._g_prog = np.where(changed, self._program(target), self._g_prog)
        self._intended = target
        self._levels = levels
        cells = np.flatnonzero(changed)
        _, _, o, i = np.unravel_index(cells, self._cell_shape)
        self._count("cells_programmed",
                    np.bincount(self._tile_of(o, i), minlength=len(self.counters.tiles)))
        return (cells, pulses.flat[cells], np.zeros(cells.size, np.int64),
                np.ones(cells.size, bool), self._g_prog.flat[cells])
