"""Discrete-time leaky integrate-and-fire (LIF) neurons and their surrogate gradients.

One LIF step, for membrane ``u`` (before reset), input current ``I`` and spikes ``s``::

    u[t] = beta * u[t-1] - rho[t-1] + g[t] * I[t]
    s[t] = H(u[t] - theta) * g[t]            (strict ">", as in snntorch)

where ``g[t]`` is 0 during a refractory period and 1 otherwise, and the reset term is

* ``Reset.SUBTRACT``: ``rho = s * theta * (beta if reset_decays else 1)``.  With
  ``reset_decays=True`` the threshold is subtracted at spike time and the result then decays
  (Brian2, Norse, SNN_HAR); with ``False`` the full threshold is subtracted at the next step,
  which is snntorch's ``Leaky(reset_mechanism="subtract")``.
* ``Reset.ZERO``: ``rho = s * beta * u``, i.e. the membrane restarts from zero (snntorch's
  ``reset_mechanism="zero"``).
* ``Reset.NONE``: no reset; with ``threshold = inf`` this is a non-spiking leaky integrator,
  which the readout layer uses.

The Heaviside has no derivative; BPTT replaces ``dH/du`` by a surrogate ``sigma'(u - theta)``.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from snn_dfa._validation import check_scalar
from snn_dfa.engine import _codes
from snn_dfa.errors import ValidationError


class Reset(enum.Enum):
    """How the membrane is reset after a spike."""

    SUBTRACT = _codes.RESET_SUBTRACT
    ZERO = _codes.RESET_ZERO
    NONE = _codes.RESET_NONE

    @classmethod
    def coerce(cls, value: Reset | str) -> Reset:
        if isinstance(value, cls):
            return value
        names = [m.name.lower() for m in cls]
        if isinstance(value, str) and value.lower() in names:
            return cls[value.upper()]
        raise ValidationError(f"reset={value!r}: expected one of {', '.join(map(repr, names))}")


class SurrogateKind(enum.Enum):
    """Surrogate derivative shapes, ``x = u - theta``.

    * ``FAST_SIGMOID`` (scale = slope k): ``1 / (k |x| + 1)^2``, snntorch's ``fast_sigmoid``.
    * ``TRIANGLE`` (scale = width gamma): ``max(0, gamma - |x|) / gamma^2``, SNN_HAR's surrogate.
    * ``ARCTAN`` (scale = alpha): ``(alpha / 2) / (1 + (pi alpha x / 2)^2)``, snntorch's ``atan``.
    """

    FAST_SIGMOID = _codes.SURROGATE_FAST_SIGMOID
    TRIANGLE = _codes.SURROGATE_TRIANGLE
    ARCTAN = _codes.SURROGATE_ARCTAN


_DEFAULT_SCALE = {
    SurrogateKind.FAST_SIGMOID: 25.0,
    SurrogateKind.TRIANGLE: 1.0,
    SurrogateKind.ARCTAN: 2.0,
}


@dataclass(frozen=True)
class Surrogate:
    """A surrogate derivative for the spike nonlinearity.

    Parameters
    ----------
    kind : SurrogateKind or str
        ``"fast_sigmoid"``, ``"triangle"`` or ``"arctan"``.
    scale : float or None
        Slope (fast sigmoid), width (triangle) or alpha (arctan); ``None`` takes the usual
        default (25, 1, 2).
    """

    kind: SurrogateKind = SurrogateKind.TRIANGLE
    scale: float | None = None

    def __post_init__(self) -> None:
        kind = self.kind
        if not isinstance(kind, SurrogateKind):
            names = [m.name.lower() for m in SurrogateKind]
            if not (isinstance(kind, str) and kind.lower() in names):
                raise ValidationError(
                    f"surrogate={kind!r}: expected one of {', '.join(map(repr, names))}"
                )
            kind = SurrogateKind[kind.upper()]
            object.__setattr__(self, "kind", kind)
        scale = _DEFAULT_SCALE[kind] if self.scale is None else self.scale
        check_scalar("surrogate scale", scale, (int, float), low=0.0, low_inclusive=False)
        object.__setattr__(self, "scale", float(scale))

    def derivative(self, x: np.ndarray) -> np.ndarray:
        """``sigma'(x)`` elementwise, ``x = u - theta`` (NumPy reference)."""
        k = float(self.scale)  # type: ignore[arg-type]  # __post_init__ replaces a None scale by the kind's default
        if self.kind is SurrogateKind.FAST_SIGMOID:
            return 1.0 / (k * np.abs(x) + 1.0) ** 2
        if self.kind is SurrogateKind.TRIANGLE:
            return np.maximum(0.0, k - np.abs(x)) / (k * k)
        return (k / 2.0) / (1.0 + (math.pi / 2.0 * k * x) ** 2)


@dataclass(frozen=True)
class LIFParams:
    """Parameters of a population of discrete-time LIF neurons (see the module docstring).

    Parameters
    ----------
    beta : float
        Membrane leak factor per time step, in [0, 1].  ``from_tau`` converts a time constant.
    threshold : float
        Firing threshold theta (> 0; ``inf`` for a non-spiking integrator).
    reset : Reset or str
        ``"subtract"`` (soft), ``"zero"`` (hard) or ``"none"``.
    reset_decays : bool
        For subtractive reset: whether the subtracted threshold decays with the membrane
        (True, Brian2/SNN_HAR) or is subtracted in full at the next step (False, snntorch).
    refractory_steps : int
        Steps after a spike during which the neuron ignores input and cannot fire.
    detach_reset : bool
        If True (snntorch's default) BPTT does not differentiate through the reset term.
    surrogate : Surrogate
        Surrogate derivative used by BPTT and by DFA's local term.
    """

    beta: float = 0.75
    threshold: float = 0.5
    reset: Reset = Reset.SUBTRACT
    reset_decays: bool = True
    refractory_steps: int = 0
    detach_reset: bool = True
    surrogate: Surrogate = field(default_factory=Surrogate)

    def __post_init__(self) -> None:
        check_scalar("beta", self.beta, (int, float), low=0.0, high=1.0)
        th = self.threshold
        if not (isinstance(th, (int, float)) and not isinstance(th, bool)) or not th > 0:
            raise ValidationError(f"threshold={th!r}: expected a number > 0 (or inf)")
        object.__setattr__(self, "reset", Reset.coerce(self.reset))
        if not math.isfinite(th) and self.reset is not Reset.NONE:
            raise ValidationError(
                f"threshold={th!r} with reset={self.reset.name.lower()!r}: a non-spiking "
                "integrator (infinite threshold) needs reset='none'"
            )
        check_scalar("refractory_steps", self.refractory_steps, int, low=0)
        if not isinstance(self.surrogate, Surrogate):
            raise ValidationError(
                f"surrogate={self.surrogate!r}: expected a snn_dfa.engine.neurons.Surrogate"
            )

    @classmethod
    def from_tau(cls, tau_mem_ms: float, dt_ms: float, **kwargs: object) -> LIFParams:
        """Build parameters from a membrane time constant: ``beta = exp(-dt / tau)``."""
        check_scalar("tau_mem_ms", tau_mem_ms, (int, float), low=0.0, low_inclusive=False)
        check_scalar("dt_ms", dt_ms, (int, float), low=0.0, low_inclusive=False)
        return cls(beta=math.exp(-dt_ms / tau_mem_ms), **kwargs)  # type: ignore[arg-type]  # the other LIFParams fields, checked by __post_init__

    @classmethod
    def integrator(cls, beta: float = 0.0) -> LIFParams:
        """A non-spiking leaky integrator (readout layers): no threshold, no reset."""
        return cls(beta=beta, threshold=math.inf, reset=Reset.NONE)

    @property
    def spiking(self) -> bool:
        return math.isfinite(self.threshold)


class LIFState(NamedTuple):
    """State carried between time steps, each ``[B, n]``.

    ``u`` is the membrane before reset, ``s`` the spikes of the last step, ``refractory``
    the number of refractory steps left.
    """

    u: np.ndarray
    s: np.ndarray
    refractory: np.ndarray

    @classmethod
    def zeros(cls, batch: int, n: int, dtype: np.dtype | type = np.float32) -> LIFState:
        return cls(
            np.zeros((batch, n), dtype),
            np.zeros((batch, n), dtype),
            np.zeros((batch, n), np.int32),
        )


def lif_step(
    current: np.ndarray, state: LIFState, params: LIFParams, threshold: np.ndarray | None = None
) -> tuple[np.ndarray, LIFState]:
    """One LIF time step in plain NumPy (the reference the numba kernel is tested against).

    Parameters
    ----------
    current : array [B, n]
        Input current ``I[t]``.
    state : LIFState
        State after step ``t - 1``.
    params : LIFParams
    threshold : array [n], optional
        Per-neuron thresholds overriding ``params.threshold`` (after batch-norm folding).

    Returns
    -------
    spikes : array [B, n] of 0/1 in the state dtype
    state : LIFState after step ``t``
    """
    dtype = state.u.dtype
    theta = np.asarray(params.threshold if threshold is None else threshold, dtype=dtype)
    beta = dtype.type(params.beta)
    if params.reset is Reset.SUBTRACT:
        rho = state.s * theta * (beta if params.reset_decays else dtype.type(1.0))
    elif params.reset is Reset.ZERO:
        rho = state.s * beta * state.u
    else:
        rho = np.zeros_like(state.u)
    gate = (state.refractory == 0).astype(dtype)
    u = beta * state.u - rho + gate * current
    s = (u > theta).astype(dtype) * gate
    ref = np.where(s > 0, params.refractory_steps, np.maximum(state.refractory - 1, 0))
    return s, LIFState(u, s, ref.astype(np.int32))


def _lif_codes(params: LIFParams) -> tuple[int, bool, int]:
    return params.reset.value, bool(params.reset_decays), int(params.refractory_steps)


def lif_run(
    current: np.ndarray,
    params: LIFParams,
    threshold: np.ndarray,
    state: LIFState | None = None,
    record_membrane: bool = False,
) -> tuple[np.ndarray, np.ndarray | None, LIFState]:
    """Run LIF neurons over a whole sequence with the numba kernel.

    Parameters
    ----------
    current : array [T, B, n], float
        Input currents; its dtype is the state dtype.
    params : LIFParams
    threshold : array [n]
        Per-neuron thresholds (``params.threshold`` broadcast, or folded values).
    state : LIFState, optional
        Initial state (zeros when omitted); not modified.
    record_membrane : bool
        Also return the membranes ``u [T, B, n]`` (needed by BPTT and DFA).

    Returns
    -------
    spikes : array [T, B, n] (0/1 in the state dtype)
    membranes : array [T, B, n] or None
    state : LIFState after the last step
    """
    from snn_dfa.engine import _kernels

    T, B, n = current.shape
    dtype = current.dtype
    if state is None:
        state = LIFState.zeros(B, n, dtype)
    u, s, ref = (np.array(a, copy=True) for a in state)
    spikes = np.empty_like(current)
    membranes = np.empty_like(current) if record_membrane else np.empty((0, 0, 0), dtype)
    reset, decays, refr = _lif_codes(params)
    beta, theta = dtype.type(params.beta), threshold.astype(dtype, copy=False)
    if refr == 0 and not ref.any():  # no refractory period: the branch-free kernel
        _kernels.lif_forward_plain(current, beta, theta, reset, decays, u, s, spikes, membranes,
                                   record_membrane)
    else:
        _kernels.lif_forward(current, beta, theta, reset, decays, refr, u, s, ref, spikes,
                             membranes, record_membrane)
    return spikes, (membranes if record_membrane else None), LIFState(u, s, ref)


def lif_backward(
    membranes: np.ndarray,
    spikes: np.ndarray,
    grad_membranes: np.ndarray | None,
    grad_spikes: np.ndarray | None,
    params: LIFParams,
    threshold: np.ndarray,
    refractory0: np.ndarray | None = None,
) -> np.ndarray:
    """BPTT through the LIF recursion: ``dL/dI [T, B, n]`` from gradients reaching the
    membranes ``u`` and/or the spikes ``s`` (each ``[T, B, n]`` or None for zero)."""
    from snn_dfa.engine import _kernels

    T, B, n = membranes.shape
    dtype = membranes.dtype
    out = np.empty_like(membranes)
    reset, decays, refr = _lif_codes(params)
    sg = params.surrogate
    beta, theta = dtype.type(params.beta), threshold.astype(dtype, copy=False)
    detach, kind, scale = bool(params.detach_reset), sg.kind.value, dtype.type(sg.scale)
    if refr == 0 and (refractory0 is None or not refractory0.any()):  # no gate to recompute
        none = np.empty((0, 0, 0), dtype)  # not read: its flag says the gradient is zero
        gu = none if grad_membranes is None else np.ascontiguousarray(grad_membranes, dtype)
        gs = none if grad_spikes is None else np.ascontiguousarray(grad_spikes, dtype)
        _kernels.lif_backward_plain(membranes, spikes, gu, gs, grad_membranes is not None,
                                    grad_spikes is not None, beta, theta, reset, decays,
                                    detach, kind, scale, out)
        return out
    zeros = np.zeros_like(membranes)
    grad_u = zeros if grad_membranes is None else np.ascontiguousarray(grad_membranes, dtype)
    grad_s = zeros if grad_spikes is None else np.ascontiguousarray(grad_spikes, dtype)
    ref0 = np.zeros((B, n), np.int32) if refractory0 is None else refractory0
    _kernels.lif_backward(membranes, spikes, grad_u, grad_s, beta, theta, reset, decays, refr,
                          ref0, detach, kind, scale, out)
    return out


def lif_jvp(
    membranes: np.ndarray,
    spikes: np.ndarray,
    tangent_current: np.ndarray,
    params: LIFParams,
    threshold: np.ndarray,
    refractory0: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Forward-mode derivative of the LIF recursion (surrogate spike derivative).

    From the tangent ``dI [T, B, n]`` of the input currents and the recorded membranes and
    spikes, the tangents ``(du, ds)`` of membranes and spikes, each ``[T, B, n]``.  It is
    the transpose of :func:`lif_backward`: ``<w, jvp(v)> = <vjp(w), v>``.
    """
    from snn_dfa.engine import _kernels

    T, B, n = membranes.shape
    dtype = membranes.dtype
    ref0 = np.zeros((B, n), np.int32) if refractory0 is None else refractory0
    tan_u, tan_s = np.empty_like(membranes), np.empty_like(membranes)
    reset, decays, refr = _lif_codes(params)
    sg = params.surrogate
    _kernels.lif_jvp(
        membranes, spikes, np.ascontiguousarray(tangent_current, dtype),
        dtype.type(params.beta), threshold.astype(dtype, copy=False), reset, decays, refr, ref0,
        bool(params.detach_reset), sg.kind.value, dtype.type(sg.scale), tan_u, tan_s,
    )
    return tan_u, tan_s


def refractory_gate(spikes: np.ndarray, params: LIFParams,
                    refractory0: np.ndarray | None = None) -> np.ndarray | None:
    """1 where a neuron could integrate and fire, 0 while refractory, ``[T, B, n]``; None
    when the neurons have no refractory period (the gate is all ones)."""
    if params.refractory_steps == 0 and (refractory0 is None or not refractory0.any()):
        return None
    T, B, n = spikes.shape
    gate = np.empty_like(spikes)
    ref = np.zeros((B, n), np.int64) if refractory0 is None else refractory0.astype(np.int64)
    for t in range(T):
        gate[t] = ref == 0
        ref = np.where(spikes[t] > 0, params.refractory_steps, np.maximum(ref - 1, 0))
    return gate


def surrogate_slopes(membranes: np.ndarray, spikes: np.ndarray, params: LIFParams,
                     threshold: np.ndarray, refractory0: np.ndarray | None = None) -> np.ndarray:
    """``sigma'(u[t] - theta)``, zero while refractory: the local factor DFA multiplies the
    projected error with, ``[T, B, n]``."""
    slopes = params.surrogate.derivative(membranes - threshold).astype(membranes.dtype)
    gate = refractory_gate(spikes, params, refractory0)
    return slopes if gate is None else slopes * gate
