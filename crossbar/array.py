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

from dataclasses import dataclass, field

import contextlib
import functools
from collections.abc import Iterator

import numpy as np

from crossbar._checks import (
    SeedLike,
    as_float_array,
    check_choice,
    check_int,
    check_random_state,
    check_real,
)
from crossbar.counters import CrossbarCounters, TileCounters
from crossbar.devices import DeviceParams, get_preset
from crossbar.errors import CrossbarError
from crossbar.gpr import GPRNoiseModel
from crossbar.irdrop import FAST_IR_FALLBACKS, ExactIRDropSolver, fast_effective_conductance
from crossbar.mapping import (
    MappingConfig,
    check_mapping_device,
    conductances_to_levels,
    levels_to_conductances,
    levels_to_weights,
    tile_slices,
    weight_scales,
    weights_to_levels,
)
from crossbar.noise import (
    FAULT_NONE,
    NoiseConfig,
    apply_faults,
    drift,
    programming_noise,
    read_noise_std,
    relaxed,
    sample_faults,
    wan2022_programming_noise,
)
from crossbar.periphery import (
    PeripheryConfig,
    adc_quantize,
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
    whole_pulses,
)

IR_DROP_MODES = ("none", "fast", "exact")


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
        return cls(**changes)  # type: ignore[arg-type]


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
        self._row_blocks = tile_slices(self._shape[1], self.config.tile_rows)
        self._col_blocks = tile_slices(self._shape[0], self.config.tile_cols)
        n_phys = m.n_slices * m.n_polarities
        self.counters = CrossbarCounters(
            [
                TileCounters(r, c, rb.stop - rb.start, cb.stop - cb.start, n_phys)
                for r, rb in enumerate(self._row_blocks)
                for c, cb in enumerate(self._col_blocks)
            ]
        )
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
        self._collecting: dict[str, object] | None = None
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
        self._levels = weights_to_levels(w, m, self.device, self._scales)
        self._shadow = w.copy()
        target = levels_to_conductances(self._levels, self.device)
        self._intended = target
        self._g_prog = self._program(target)
        self._g_anchor = target
        self._t_prog = np.full(self._cell_shape, self.time_s)
        self._z_relax = self._relax_draws(self._cell_shape)
        # Digital accumulator of sub-pulse updates, in pulses per weight ("accumulate").
        self._acc = np.zeros(self._shape)
        for t, rb, cb in self._tiles():
            t.cells_programmed += int(np.prod(self._cell_shape[:2])) * t.rows * t.cols
        self._invalidate()

    def set_time(self, time_s: float) -> None:
        """Move the clock to ``time_s`` seconds (``>=`` the present time): cells relax.

        Ages beyond the fitted data (2 days for ``"wan2022"``) warn when conductances are
        next evaluated.
        """
        t = check_real("time_s", time_s)
        if t < self._time_s:
            raise CrossbarError(
                f"time_s={time_s!r}: expected a finite time >= the present time {self._time_s} s"
            )
        self._time_s = t
        self._invalidate()

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
        scaled = dv * self._scales.astype(self._cdtype)
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
                self._read(xv * self._scales.astype(self._cdtype), True)
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
        seen: dict[object, list[np.ndarray]] = {}
        self._collecting = {"transposed": transposed, "seen": seen}
        try:
            yield self
        finally:
            self._collecting = None
        per = self.config.periphery
        pct = per.calibration_percentile
        inputs = seen.pop("x", [])
        if per.dac_range == "calibrated" and inputs:
            mags = np.concatenate(inputs)
            fs = float(np.percentile(mags, pct))
            self._dac_fs[transposed] = fs if fs > 0 else (float(mags.max()) or 1.0)
        if per.adc_range != "calibrated" or not seen:
            return
        currents = {key: np.concatenate(v) for key, v in seen.items()}
        for k in range(self.config.mapping.n_slices):
            keys = [key for key in currents if key[1] == k]  # type: ignore[index]
            if per.calibration_scope == "layer":
                pooled = float(np.percentile(np.concatenate([currents[c] for c in keys]), pct))
                values = {key: pooled for key in keys}
            else:
                values = {key: float(np.percentile(currents[key], pct)) for key in keys}
            for (i, kk), fs in values.items():  # type: ignore[misc]
                self._adc_fs[(transposed, i, kk)] = (
                    fs if fs > 0 else self._max_full_scale(i, transposed)
                )

    def _max_full_scale(self, tile_index: int, transposed: bool) -> float:
        """Largest possible column current of a tile, in ``v_read * level_step`` units."""
        t = self.counters.tiles[tile_index]
        n_drive = t.cols if transposed else t.rows
        return n_drive * self.device.g_range_uS / self.device.level_step_uS

    def _read(self, x: np.ndarray, transposed: bool) -> np.ndarray:
        """Tiled read in normalised units: inputs in ``v_read``, conductances in levels.

        Row voltages are ``v_read * xn``; currents are carried as ``I / (v_read * level_step)``
        so that no full-size array is rescaled twice.  During :meth:`calibration` (in its
        direction) the ADC is bypassed and magnitudes are recorded per ``(tile, slice)``.
        """
        dev, per = self.device, self.config.periphery
        m = self.config.mapping
        batch = x.shape[0]
        binary = is_binary(x)
        collect = None
        if self._collecting is not None and self._collecting["transposed"] == transposed:
            collect = self._collecting["seen"]
            if not binary:
                collect.setdefault("x", []).append(np.abs(x).ravel())  # type: ignore[union-attr]
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
                xn = np.clip(x / fs, -1.0, 1.0)
                norm = np.full(batch, fs)
            xn = dac_quantize(xn, per.dac_bits).astype(self._cdtype, copy=False)
        else:
            xn, norm = normalise_inputs(x)
            xn = dac_quantize(xn, per.dac_bits).astype(self._cdtype, copy=False)
        nnz = np.count_nonzero(xn, axis=0)
        n_out_total = self._shape[1] if transposed else self._shape[0]
        out = np.zeros((batch, n_out_total), dtype=self._cdtype)
        n_phys = m.n_slices * m.n_polarities
        base = float(dev.n_levels)
        read_sigma = self.config.noise.read_sigma_rel
        out_model = self.config.gpr_output_model
        levels_full = dev.g_range_uS / dev.level_step_uS
        for i_tile, (t, rb, cb) in enumerate(self._tiles()):
            drive, sense = (cb, rb) if transposed else (rb, cb)
            x_t = xn[:, drive]
            n_drive, n_sense = x_t.shape[1], sense.stop - sense.start
            d_mats, g_sq = self._tile_matrices(t, rb, cb, transposed)
            x_sq = x_t**2 if read_sigma > 0 else None
            for k in range(m.n_slices):
                cur = x_t @ d_mats[k]
                if x_sq is not None:
                    std = read_noise_std(x_sq, g_sq[k], read_sigma)
                    cur += std * self._rng.standard_normal(cur.shape)
                if out_model is not None:
                    i_max = n_drive * levels_full
                    cur = (out_model.sample(cur / i_max, self._rng) * i_max).astype(
                        self._cdtype, copy=False
                    )
                if collect is not None:
                    collect.setdefault((i_tile, k), []).append(np.abs(cur).ravel())  # type: ignore[union-attr]
                else:
                    cur = adc_quantize(cur, per.adc_bits, self._full_scale(i_tile, k, transposed))
                if k:
                    cur *= base**k
                out[:, sense] += cur
            active = int(nnz[drive].sum())
            if transposed:
                t.transposed_reads += batch * n_phys
                t.active_columns += active * n_phys
            else:
                t.mvms += batch * n_phys
                t.active_rows += active * n_phys
            t.adc_conversions += batch * n_sense * m.n_slices
            if not binary:
                t.dac_conversions += batch * n_drive * m.n_slices
        if norm is not None:
            out *= norm[:, None]
        if not transposed:
            out *= self._scales.astype(self._cdtype)
        return out

    def _full_scale(self, tile_index: int, k: int, transposed: bool) -> float:
        """ADC full scale of a tile and slice (normalised units)."""
        per = self.config.periphery
        if per.adc_bits is None:
            return 1.0  # unused by an ideal ADC
        if per.adc_range == "calibrated":
            fs = self._adc_fs.get((transposed, tile_index, k))
            if fs is not None:
                return fs
            if not transposed:
                raise CrossbarError(
                    "adc_range='calibrated': expected calibrate(x) before forward reads"
                )
            # Transposed reads without a calibration batch of errors: largest possible range.
            return self._max_full_scale(tile_index, transposed)
        return per.adc_full_scale_fraction * self._max_full_scale(tile_index, transposed)

    def _tiles(self):  # type: ignore[no-untyped-def]
        """``(counters, row block, column block)`` of every tile."""
        i = 0
        for rb in self._row_blocks:
            for cb in self._col_blocks:
                yield self.counters.tiles[i], rb, cb
                i += 1

    def _tile_matrices(
        self, t: TileCounters, rb: slice, cb: slice, transposed: bool
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Per slice: difference matrix (drive x sense, after IR drop) and summed squared
        conductances, both in units of ``level_step_uS`` (and its square)."""
        key = (t.tile_row, t.tile_col, transposed)
        if key in self._cache:
            return self._cache[key]
        g = self._g_now()[:, :, cb, rb]  # [S, P, cols, rows]
        m, dev = self.config.mapping, self.device
        d_mats, g_sq = [], []
        step, cd = dev.level_step_uS, self._cdtype
        for k in range(m.n_slices):
            cells = [g[k, p] if transposed else g[k, p].T for p in range(m.n_polarities)]
            eff = [self._ir(c, transposed) for c in cells]
            if m.scheme == "differential":
                diff = eff[0] - eff[1]
                sq = cells[0] ** 2 + cells[1] ** 2
            else:
                g_ref = dev.g_min_uS + ((dev.n_levels - 1) // 2) * step
                diff = eff[0] - g_ref
                sq = cells[0] ** 2
            d_mats.append(np.ascontiguousarray(diff / step, dtype=cd))
            g_sq.append(np.ascontiguousarray(sq / step**2, dtype=cd))
        self._cache[key] = (d_mats, g_sq)
        return d_mats, g_sq

    def _ir(self, g_uS: np.ndarray, transposed: bool) -> np.ndarray:
        """Effective conductances (µS) of one physical array, driven along its first axis."""
        mode = self.config.ir_drop
        if mode == "none":
            return g_uS
        dev = self.device
        r = {
            "r_row_ohm": dev.r_wire_col_ohm if transposed else dev.r_wire_row_ohm,
            "r_col_ohm": dev.r_wire_row_ohm if transposed else dev.r_wire_col_ohm,
            "r_driver_ohm": dev.r_sense_ohm if transposed else dev.r_driver_ohm,
            "r_sense_ohm": dev.r_driver_ohm if transposed else dev.r_sense_ohm,
        }
        g_S = g_uS * 1e-6
        if mode == "fast":
            cfg = self.config
            return (
                fast_effective_conductance(
                    g_S,
                    tol=cfg.ir_fast_tolerance,
                    max_iter=cfg.ir_fast_max_iterations,
                    on_failure=cfg.ir_fast_fallback,
                    **r,
                )
                * 1e6
            )
        return ExactIRDropSolver(g_S, **r).transfer_matrix() * 1e6

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

    def _relax_draws(self, shape: tuple[int, ...]) -> np.ndarray:
        noise = self.config.noise
        strength = noise.relax_sigma_rel if noise.noise_model == "relative" else noise.prog_noise_scale
        if strength == 0:
            return np.zeros(shape)
        return self._rng.standard_normal(shape)

    def _g_now(self) -> np.ndarray:
        if self._g_cache is None:
            noise = self.config.noise
            age = self.time_s - self._t_prog
            if noise.noise_model == "relative":
                g = drift(self._g_prog, age, self._z_relax, self.device, noise)
            else:
                g = relaxed(
                    self._g_prog,
                    self._g_anchor,
                    age,
                    self._z_relax,
                    self.device,
                    noise.prog_noise_scale,
                )
            self._g_cache = apply_faults(g, self._faults, self.device)
        return self._g_cache

    def _invalidate(self) -> None:
        self._g_cache: np.ndarray | None = None
        self._cache: dict[tuple[int, int, bool], tuple[list[np.ndarray], list[np.ndarray]]] = {}

    # ------------------------------------------------------------------ updates
    def apply_update(self, dw: np.ndarray) -> None:
        """``W += dw`` as device pulses (or re-programming): ``dw [n_out, n_in]``.

        In the in-situ modes the request becomes whole pulses per weight (see
        :class:`~crossbar.update.UpdateConfig`); the counters record the pulses and, per
        mode, accumulator reads and writes and transfers, rounding draws, or coincidence
        cycles and stochastic bits.
        """
        dwv = as_float_array("dw", dw, ndim=2, shape=self._shape)
        self.counters.updates += 1
        mode = self.config.update.mode
        if mode == "reprogram":
            self._finish_update(*self._update_reprogram(dwv))
            return
        request = dwv / self._weight_per_pulse()[:, None]
        if mode == "coincidence":
            u, sv, vt = np.linalg.svd(request, full_matrices=False)
            keep = sv > sv[0] * 1e-12 if sv.size and sv[0] > 0 else np.zeros(sv.size, bool)
            self._apply_coincidence([(u[:, i] * sv[i], vt[i]) for i in np.flatnonzero(keep)])
            return
        k = whole_pulses(request, mode, self._rng, self._acc)
        for t, rb, cb in self._tiles():
            n_weights = t.rows * t.cols
            if mode == "accumulate":
                t.accumulator_reads += n_weights
                t.accumulator_writes += n_weights
                t.transfers += int(np.count_nonzero(k[cb, rb]))
            elif mode == "stochastic":
                t.rounding_draws += n_weights
        self._finish_update(*self._update_pulses(k * self._weight_per_pulse()[:, None]))

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
        for t, _, _ in self._tiles():
            t.pulse_cycles += cycles
            t.stochastic_bits += cycles * (t.rows + t.cols)
        self._finish_update(*self._update_pulses(k * self._weight_per_pulse()[:, None]))

    def _weight_per_pulse(self) -> np.ndarray:
        """Weight one pulse moves in the linear limit, per output ``[n_out]``."""
        dev = self.device
        return self._scales * (dev.g_range_uS / dev.n_pulses_full_range) / dev.level_step_uS

    def _finish_update(self, pulses: np.ndarray, reads: np.ndarray, changed: np.ndarray) -> None:
        """Restart the clock of changed cells, count pulses and verify reads."""
        if changed.any():
            self._t_prog = np.where(changed, self.time_s, self._t_prog)
            self._z_relax = np.where(changed, self._relax_draws(self._cell_shape), self._z_relax)
        self._pulse_count += pulses
        for t, rb, cb in self._tiles():
            t.programming_pulses += int(pulses[:, :, cb, rb].sum())
            t.verify_reads += int(reads[:, :, cb, rb].sum())
        self._invalidate()

    def _update_pulses(self, dw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Open-loop pulses from the change of the *intended* conductances, then verify.

        ``dw`` is a whole number of pulses per weight (the modes round before).  The
        controller keeps the conductances it intends each cell to have (no read needed):
        the intended weight plus ``dw`` is re-mapped to its canonical cells (the pair's other
        cell at ``g_min``), clipped to the representable range, and every cell receives
        ``round(change / (g_range / P))`` pulses.  Without write-verify the intended state
        advances by the pulses sent; with it, the intended state becomes the target.
        """
        dev, m, upd = self.device, self.config.mapping, self.config.update
        unquantised = MappingConfig(scheme=m.scheme, scaling=m.scaling, quantize=False)
        w_int = levels_to_weights(conductances_to_levels(self._intended, dev), m, dev, self._scales)
        new_levels = weights_to_levels(w_int + dw, unquantised, dev, self._scales)
        target = levels_to_conductances(new_levels, dev)
        n0 = pulses_for_change(target - self._intended, dev)
        stuck = self._faults != FAULT_NONE
        g = self._g_now()
        g_new, pulses, reads = program_with_pulses(
            g, target, self._gain, dev, upd, self.config.noise.read_sigma_rel, stuck, self._rng, n0
        )
        if upd.write_verify:
            self._intended = np.where(n0 != 0, target, self._intended)
        else:
            step = dev.g_range_uS / dev.n_pulses_full_range
            self._intended = np.clip(self._intended + n0 * step, dev.g_min_uS, dev.g_max_uS)
        changed = (pulses > 0) & ~stuck
        self._g_prog = np.where(changed, g_new, self._g_prog)
        self._g_anchor = np.where(changed, g_new, self._g_anchor)
        return pulses, reads, changed

    def _update_reprogram(self, dw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
        self._g_anchor = np.where(changed, target, self._g_anchor)
        self._intended = target
        self._levels = levels
        n_changed = changed.sum(axis=(0, 1))
        for t, rb, cb in self._tiles():
            t.cells_programmed += int(n_changed[cb, rb].sum())
        return pulses, np.zeros_like(pulses), changed
