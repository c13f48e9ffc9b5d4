"""Pulse-based in-situ updates: the exponential pulse-response model, write noise, write-verify.

Pulse response (the exponential model of NeuroSim and many device papers).  With
``P = n_pulses_full_range`` and nonlinearity ``nu`` a potentiation (LTP, SET) pulse train
moves a cell along

    G_ltp(p) = g_min + g_range * (1 - exp(-nu p / P)) / (1 - exp(-nu)),   0 <= p <= P,

and a depression (LTD, RESET) train along the mirrored curve

    G_ltd(p) = g_max - g_range * (1 - exp(-nu_d p / P)) / (1 - exp(-nu_d)).

``nu -> 0`` is the linear limit ``G = g_min + g_range p / P``.  A cell at conductance ``G``
receiving ``n`` pulses sits at ``p = G^-1(G)`` on the relevant curve and moves to
``G(p + gain * n)`` (saturating at the ends), where ``gain`` is its device-to-device step
factor.  Cycle-to-cycle write noise adds ``c2c_sigma_rel * g_range * sqrt(n) * z``; the
result is clipped to ``[g_min, g_max]``.

Open-loop control: the number of pulses for a requested change ``dG`` is
``round(dG / (g_range / P))`` (the controller assumes a linear device), so nonlinearity and
asymmetry show up as errors.  Write-verify then reads the cell (with read noise) and applies
``sign(err) * max(1, round(|err| / (g_range / P) * damping))`` correction pulses, halving a
cell's ``damping`` (initially 1) whenever its error changes sign, until the cell is within
``verify_tolerance_rel * g_range`` of its target or ``verify_max_iterations`` rounds have
passed.  A tolerance below half the local pulse step cannot be met; such cells stop at the
iteration limit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossbar._checks import check_choice, check_int, check_real
from crossbar.devices import DeviceParams
from crossbar.errors import CrossbarError

UPDATE_MODES = ("accumulate", "stochastic", "coincidence", "nearest", "reprogram")
IN_SITU_MODES = ("accumulate", "stochastic", "coincidence", "nearest")


@dataclass(frozen=True)
class UpdateConfig:
    """How ``apply_update`` writes to the cells.

    In the four in-situ modes a requested change ``dW`` becomes a signed whole number of
    device pulses per weight, ``r = dW / w_pulse`` (``w_pulse``: the weight one pulse moves in
    the linear limit); they differ in how ``r`` becomes an integer ``k``:

    * ``"accumulate"`` (default): a per-weight digital accumulator ``chi += r`` transfers
      ``k = trunc(chi)`` whole pulses once ``|chi| >= 1`` and keeps the remainder
      (mixed-precision training, Nandakumar et al., Front. Neurosci. 14:406, 2020), so no
      update is lost; cost: one accumulator read and write per weight per update, memory of
      one word per weight;
    * ``"stochastic"``: stochastic rounding, ``k = floor(r) + Bernoulli(r - floor(r))``
      (unbiased: ``E[k] = r``); one random draw per weight per update, no memory;
    * ``"coincidence"``: the stochastic pulse-coincidence outer-product update of resistive
      processing units (Gokmen & Vlasov, Front. Neurosci. 10:333, 2016): for each rank-one
      term ``c a b^T`` of the request, every row and column line sends ``bit_length``
      stochastic pulses with probabilities ``|a_i| alpha`` and ``|b_j| beta``
      (``alpha beta bit_length = c``); a cell moves one pulse (of sign ``sign(a_i b_j)``) per
      coincidence, so ``E[k] = r``.  A term whose largest count exceeds ``bit_length`` is
      split into ``ceil(max |r| / bit_length)`` rounds; a general ``dW`` is decomposed by its
      SVD (use ``CrossbarArray.apply_outer_update`` to pass the factors directly);
    * ``"nearest"``: ``k = round(r)``: a change below half a pulse is lost every time
      (kept to show that loss).

    Attributes
    ----------
    mode : {"accumulate", "stochastic", "coincidence", "nearest", "reprogram"}
        The four in-situ modes above, or ``"reprogram"``: a digital shadow copy of the
        weights accumulates ``dW`` and cells whose quantised level changes are re-programmed
        to their new target (with programming variation; the mode for bit slicing).
    bit_length : int
        ``"coincidence"`` only: stochastic pulses per line per round (``BL >= 1``;
        Gokmen & Vlasov 2016 use BL = 10 in their baseline).
    c2c_sigma_rel : float
        Cycle-to-cycle write noise per sqrt(pulse), fraction of the conductance range.
    d2d_step_sigma_rel : float
        Device-to-device spread of the pulse step (relative; drawn once per cell).
    write_verify : bool
        Read back and correct after open-loop pulses (in-situ modes only).
    verify_tolerance_rel : float
        Accepted error of write-verify, fraction of the conductance range (``> 0``).
    verify_max_iterations : int
        Maximum verify-and-correct rounds (``>= 1``).
    """

    mode: str = "accumulate"
    bit_length: int = 10
    c2c_sigma_rel: float = 0.0
    d2d_step_sigma_rel: float = 0.0
    write_verify: bool = False
    verify_tolerance_rel: float = 0.01
    verify_max_iterations: int = 10

    def __post_init__(self) -> None:
        check_choice("mode", self.mode, UPDATE_MODES)
        check_int("bit_length", self.bit_length, low=1)
        check_real("c2c_sigma_rel", self.c2c_sigma_rel, low=0.0)
        check_real("d2d_step_sigma_rel", self.d2d_step_sigma_rel, low=0.0)
        if not isinstance(self.write_verify, bool):
            raise CrossbarError(f"write_verify={self.write_verify!r}: expected a bool")
        if not check_real("verify_tolerance_rel", self.verify_tolerance_rel) > 0:
            raise CrossbarError(
                f"verify_tolerance_rel={self.verify_tolerance_rel!r}: expected a value > 0"
            )
        check_int("verify_max_iterations", self.verify_max_iterations, low=1)


def _shape(u: np.ndarray, nu: float) -> np.ndarray:
    """``(1 - exp(-nu u)) / (1 - exp(-nu))`` for ``u`` in [0, 1] (``u`` when ``nu = 0``)."""
    if nu == 0:
        return u
    return -np.expm1(-nu * u) / -np.expm1(-nu)


def _shape_inv(y: np.ndarray, nu: float) -> np.ndarray:
    """Inverse of :func:`_shape` for ``y`` in [0, 1]."""
    if nu == 0:
        return y
    return -np.log1p(y * np.expm1(-nu)) / nu


def pulse_response(
    g_uS: np.ndarray, n_pulses: np.ndarray, gain: np.ndarray | float, device: DeviceParams
) -> np.ndarray:
    """Deterministic conductance after ``n_pulses`` (positive: LTP, negative: LTD) pulses.

    Parameters
    ----------
    g_uS : array
        Present conductances (µS), within the device range.
    n_pulses : array, same shape
        Signed pulse counts.
    gain : array or float
        Device-to-device pulse-step factors (1 for a nominal cell).

    Returns
    -------
    array
        New conductances, within ``[g_min_uS, g_max_uS]``.
    """
    g = np.asarray(g_uS, dtype=np.float64)
    n = np.asarray(n_pulses, dtype=np.float64)
    steps = np.broadcast_to(gain, g.shape) * n / float(device.n_pulses_full_range)
    y = np.clip((g - device.g_min_uS) / device.g_range_uS, 0.0, 1.0)
    y_new = y.copy()
    up, dn = n > 0, n < 0
    # LTP: position along the rising curve.
    nu = device.nonlinearity_ltp
    y_new[up] = _shape(np.clip(_shape_inv(y[up], nu) + steps[up], 0.0, 1.0), nu)
    # LTD: position along the falling curve, measured from g_max.
    nu = device.nonlinearity_ltd
    y_new[dn] = 1.0 - _shape(np.clip(_shape_inv(1.0 - y[dn], nu) - steps[dn], 0.0, 1.0), nu)
    return device.g_min_uS + device.g_range_uS * y_new


def pulses_for_change(dg_uS: np.ndarray, device: DeviceParams) -> np.ndarray:
    """Open-loop pulse count ``round(dG / (g_range / P))`` (signed ints, as float array)."""
    step = device.g_range_uS / device.n_pulses_full_range
    return np.rint(np.asarray(dg_uS, dtype=np.float64) / step)


def apply_pulses(
    g_uS: np.ndarray,
    n_pulses: np.ndarray,
    gain: np.ndarray | float,
    device: DeviceParams,
    c2c_sigma_rel: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """:func:`pulse_response` plus cycle-to-cycle noise ``c2c * g_range * sqrt(|n|) * z``."""
    g_new = pulse_response(g_uS, n_pulses, gain, device)
    if c2c_sigma_rel == 0:
        return g_new
    sigma = c2c_sigma_rel * device.g_range_uS * np.sqrt(np.abs(n_pulses))
    g_new = g_new + sigma * rng.standard_normal(g_new.shape)
    return np.clip(g_new, device.g_min_uS, device.g_max_uS)


def program_with_pulses(
    g_uS: np.ndarray,
    g_target_uS: np.ndarray,
    gain: np.ndarray | float,
    device: DeviceParams,
    config: UpdateConfig,
    read_sigma_rel: float,
    stuck: np.ndarray,
    rng: np.random.Generator,
    n_open_loop: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move cells toward targets with open-loop pulses and, if configured, write-verify.

    Parameters
    ----------
    g_uS, g_target_uS : arrays, same shape
        Present and wanted conductances (µS).
    gain : array or float
        Pulse-step factor per cell.
    read_sigma_rel : float
        Read noise of the verify reads.
    stuck : bool array
        Cells that do not respond to pulses (they still receive and count them).
    n_open_loop : array, optional
        Signed open-loop pulse counts; default ``round((target - g) / (g_range / P))``.
        Write-verify (if on) only acts on cells with a non-zero count.

    Returns
    -------
    g_new : array
        Conductances after programming.
    pulses : int64 array
        Pulses each cell received.
    verify_reads : int64 array
        Verify reads of each cell.

    Notes
    -----
    Without write-verify ``CrossbarArray`` runs the compiled equivalent
    (:func:`crossbar._kernels.program_pulsed_cells` and the two kernels before it, with the
    same draws, ``log1p`` and ``expm1`` from NumPy); this is their reference.
    """
    g_target = np.clip(g_target_uS, device.g_min_uS, device.g_max_uS)
    n = pulses_for_change(g_target - g_uS, device) if n_open_loop is None else n_open_loop
    g_new = np.where(stuck, g_uS, apply_pulses(g_uS, n, gain, device, config.c2c_sigma_rel, rng))
    pulses = np.abs(n).astype(np.int64)
    reads = np.zeros(np.shape(g_uS), dtype=np.int64)
    if not config.write_verify:
        return g_new, pulses, reads
    tol = config.verify_tolerance_rel * device.g_range_uS
    active = n != 0
    damping = np.ones(np.shape(g_uS))
    prev_sign = np.zeros(np.shape(g_uS))
    for _ in range(config.verify_max_iterations):
        if not active.any():
            break
        reads += active
        g_read = g_new * (1.0 + read_sigma_rel * rng.standard_normal(g_new.shape))
        err = np.where(active, g_target - g_read, 0.0)
        active = np.abs(err) > tol
        if not active.any():
            break
        # Halve a cell's correction each time its error changes sign (overshoot).
        sign = np.sign(err)
        damping = np.where(active & (sign * prev_sign < 0), damping / 2, damping)
        prev_sign = np.where(active, sign, prev_sign)
        n = np.where(
            active,
            sign * np.maximum(1.0, np.rint(np.abs(pulses_for_change(err, device)) * damping)),
            0.0,
        )
        g_moved = apply_pulses(g_new, n, gain, device, config.c2c_sigma_rel, rng)
        g_new = np.where(stuck, g_new, g_moved)
        pulses += np.abs(n).astype(np.int64)
    return g_new, pulses, reads


def whole_pulses(
    request: np.ndarray,
    mode: str,
    rng: np.random.Generator,
    accumulator: np.ndarray | None = None,
) -> np.ndarray:
    """Signed whole pulse counts for a request ``r`` (in pulses) in mode ``"nearest"``,
    ``"stochastic"`` or ``"accumulate"`` (the last updates ``accumulator`` in place).

    Returns a float array of integers, the shape of ``request``.  ``CrossbarArray`` runs
    the compiled equivalent (:func:`crossbar._kernels.whole_pulse_targets`, fused with the
    open-loop pulses); this is its reference (``tests/test_crossbar_kernels.py``).
    """
    r = np.asarray(request, dtype=np.float64)
    if mode == "nearest":
        return np.rint(r)
    if mode == "stochastic":
        low = np.floor(r)
        return low + (rng.random(r.shape) < r - low)
    if mode == "accumulate":
        if accumulator is None or accumulator.shape != r.shape:
            raise CrossbarError(f"accumulator: expected an array of shape {r.shape}")
        accumulator += r
        k = np.trunc(accumulator)
        accumulator -= k
        return k
    raise CrossbarError(f"mode={mode!r}: expected 'nearest', 'stochastic' or 'accumulate'")


def coincidence_pulses(
    a: np.ndarray, b: np.ndarray, bit_length: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """Stochastic pulse-coincidence update of the rank-one request ``r = a b^T`` (in pulses).

    Parameters
    ----------
    a : array [n_out]
        Column-line (output) factor.
    b : array [n_in]
        Row-line (input) factor.
    bit_length : int
        Pulses per line per round (BL).

    Returns
    -------
    k : array [n_out, n_in]
        Signed coincidence counts (integers as float64); ``E[k] = a b^T`` exactly.
    rounds : int
        Rounds of ``bit_length`` cycles used (0 for a zero request).

    Notes
    -----
    With ``A = max |a|``, ``B = max |b|`` and ``n = A B`` the largest expected count,
    ``R = ceil(n / BL)`` rounds each encode ``r / R``: line probabilities
    ``p_i = |a_i| m / A`` and ``q_j = |b_j| m / B`` with ``m = sqrt(n / (BL R)) <= 1``, so
    ``BL R E[p_i q_j] = |a_i b_j|``.  Each cycle draws one bit per line; a cell counts the
    cycles in which both its lines fire (``X^T Y``).
    """
    av = np.asarray(a, dtype=np.float64)
    bv = np.asarray(b, dtype=np.float64)
    amax, bmax = float(np.abs(av).max(initial=0.0)), float(np.abs(bv).max(initial=0.0))
    n_max = amax * bmax
    if n_max == 0:
        return np.zeros((av.size, bv.size)), 0
    rounds = max(1, int(np.ceil(n_max / bit_length - 1e-12)))
    m = np.sqrt(n_max / (bit_length * rounds))
    p = np.minimum(np.abs(av) * (m / amax), 1.0)
    q = np.minimum(np.abs(bv) * (m / bmax), 1.0)
    cycles = bit_length * rounds
    x_bits = (rng.random((cycles, av.size)) < p).astype(np.float64)
    y_bits = (rng.random((cycles, bv.size)) < q).astype(np.float64)
    counts = x_bits.T @ y_bits
    return np.sign(av)[:, None] * np.sign(bv)[None, :] * counts, rounds
