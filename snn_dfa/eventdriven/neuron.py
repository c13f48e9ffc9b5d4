"""Event-driven leaky integrate-and-fire neurons with an exponential synapse, solved exactly.

A neuron ``i`` receiving spikes ``t_j^z`` through weights ``w_ij`` has the membrane

    u_i(t) = sum_j w_ij sum_z [exp(-(t - t_j^z)/tau) - exp(-(t - t_j^z)/tau_s)]
             - c sum_k exp(-(t - t_i^k)/tau),       tau = 2 tau_s,

and spikes when ``u_i`` reaches the threshold ``c``; each spike subtracts ``c`` with a kernel
decaying at ``tau`` (so ``u = 0`` right after a spike).  Because ``tau = 2 tau_s`` the
crossing time solves a quadratic in ``x = exp(t / tau)``, so spike times are exact up to
rounding, with no time step.  Each neuron keeps at most ``max_n_spikes`` spikes per sample
(a bounded buffer, 30 in the authors' configurations); after that it stays silent.

Spike trains are :class:`SpikeBuffer` records, ``[B, n, K]`` time arrays padded with ``inf``.
Source of the model and constants: Bacho & Chu, SFDFA (arXiv 2403.08804) and the authors'
public code (Florian-BACHO/SFDFA, package ``online_bats``): its neuron model and its
Fashion-MNIST configuration.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snn_dfa._validation import check_array, check_choice, check_scalar
from snn_dfa.errors import ValidationError
from snn_dfa.eventdriven import _kernels

IMPLEMENTATIONS = ("numba", "reference")
#: ``"exact"``: the implicit derivative; ``"published"``: what the authors' public kernel
#: (Florian-BACHO/SFDFA, ``Inference/compute_spike_times_std_new.cu``, the file its wrapper
#: loads) computes instead (docs/sfdfa.md, sections 2 and 3)
VARIANTS = ("exact", "published")


@dataclass(frozen=True)
class LIFParams:
    """Parameters of one layer of event-driven LIF neurons.

    Defaults are the authors' Fashion-MNIST hidden layer (the authors' SFDFA code).

    Attributes
    ----------
    tau_syn_s : float
        Synaptic time constant ``tau_s`` in seconds (0.130 s); the membrane constant is
        ``tau_mem_s = 2 tau_syn_s``.
    threshold_hat : float
        The configured ``THRESHOLD_HAT`` (0.2 hidden, 0.7 output); the threshold applied to
        ``u`` is ``threshold = threshold_hat / tau_mem_s`` as in the authors' code.
    t_sim_s : float
        End of the simulated interval in seconds (0.2 s); ``inf`` simulates until the last
        crossing.
    max_n_spikes : int
        Capacity of each neuron's spike buffer per sample (30).
    """

    tau_syn_s: float = 0.130
    threshold_hat: float = 0.2
    t_sim_s: float = 0.200
    max_n_spikes: int = 30

    def __post_init__(self) -> None:
        check_scalar("tau_syn_s", self.tau_syn_s, (int, float), low=0.0, low_inclusive=False)
        check_scalar("threshold_hat", self.threshold_hat, (int, float), low=0.0,
                     low_inclusive=False)
        if not (isinstance(self.t_sim_s, (int, float)) and self.t_sim_s > 0.0):
            raise ValidationError(f"t_sim_s={self.t_sim_s!r}: expected a number > 0 (or inf)")
        check_scalar("max_n_spikes", self.max_n_spikes, int, low=1)

    @property
    def tau_mem_s(self) -> float:
        """Membrane (and reset) time constant ``tau = 2 tau_s`` in seconds."""
        return 2.0 * self.tau_syn_s

    @property
    def threshold(self) -> float:
        """Threshold ``c = threshold_hat / tau_mem_s`` applied to the membrane."""
        return self.threshold_hat / self.tau_mem_s


@dataclass(frozen=True)
class SpikeBuffer:
    """Spike trains of ``n`` neurons for ``B`` samples.

    Attributes
    ----------
    times_s : float64 [B, n, K]
        Spike times in seconds, ascending in the first ``counts[b, i]`` entries of each row,
        ``inf`` after them.
    counts : int64 [B, n]
        Number of spikes per neuron and sample.
    tangents : float64 [B, n, K] or None
        Directional derivative of each spike time (forward-mode tangent), if tracked.
    """

    times_s: np.ndarray
    counts: np.ndarray
    tangents: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """``(B, n)``."""
        return self.counts.shape  # type: ignore[return-value]  # numpy types shapes as tuple[int, ...]; counts is 2-D

    @classmethod
    def from_arrays(cls, times_s: np.ndarray, counts: np.ndarray | None = None,
                    tangents: np.ndarray | None = None) -> SpikeBuffer:
        """Validate and build a buffer.

        Parameters
        ----------
        times_s : array [B, n, K]
            Spike times; entries that are ``inf`` (or beyond ``counts``) are padding.
        counts : int array [B, n] or None
            Number of valid spikes per row; by default the number of finite entries.
        tangents : array [B, n, K] or None
        """
        times = check_array("times_s", times_s, ndim=3, dtype=np.float64, finite=False)
        if np.isnan(times).any():
            raise ValidationError("times_s: contains NaN; use inf for padding")
        finite = np.isfinite(times)
        if counts is None:
            cnt = finite.sum(axis=2).astype(np.int64)
        else:
            cnt = check_array("counts", counts, shape=times.shape[:2], dtype=np.int64)
            if (cnt < 0).any() or (cnt > times.shape[2]).any():
                raise ValidationError(
                    f"counts: expected values in [0, {times.shape[2]}], got range "
                    f"[{cnt.min()}, {cnt.max()}]")
        slot = np.arange(times.shape[2])
        valid = slot[None, None, :] < cnt[:, :, None]
        if not (finite == valid).all():
            raise ValidationError(
                "times_s: expected finite times in the first counts[b, i] slots of each row "
                "and inf after them")
        if (times[valid] < 0.0).any():
            raise ValidationError(f"times_s: expected times >= 0, got min {times[valid].min()}")
        if (np.diff(np.where(valid, times, 0.0), axis=2)[valid[:, :, 1:]] < 0.0).any():
            raise ValidationError("times_s: expected ascending spike times within each row")
        tan = None
        if tangents is not None:
            tan = check_array("tangents", tangents, shape=times.shape, dtype=np.float64,
                              finite=False)
            tan = np.where(valid, tan, 0.0)
            if not np.isfinite(tan).all():
                raise ValidationError("tangents: contains NaN or infinite value(s)")
        return cls(times, cnt, tan)


@dataclass(frozen=True)
class EligibilityRows:
    """The eligibility ``sum_m dt_im / dw_ij`` ``[B, n_out, n_in]`` stored by rows.

    A neuron that never spikes in a sample, and a channel that the sample never delivers
    before the end of the simulation, have an eligibility of exactly 0; only the rest is
    stored: one row per (sample, neuron that spiked), over the channels the sample received.

    Attributes
    ----------
    values : float64 [R, A]
        Row ``r``: the eligibility of neuron ``neuron[r]`` in sample ``s = sample[r]`` for
        the channels ``channels[s, :n_active[s]]`` (entries beyond ``n_active[s]`` unused).
    sample, neuron : int64 [R]
        Rows in ascending ``(sample, neuron)`` order.
    channels : int64 [B, A]
    n_active : int64 [B]
    shape : tuple (B, n_out, n_in)
    """

    values: np.ndarray
    sample: np.ndarray
    neuron: np.ndarray
    channels: np.ndarray
    n_active: np.ndarray
    shape: tuple[int, int, int]

    @classmethod
    def from_dense(cls, eligibility: np.ndarray) -> EligibilityRows:
        """Rows of a dense ``[B, n_out, n_in]`` array: every nonzero (or NaN) ``(b, i)``
        row, over all channels."""
        elig = np.ascontiguousarray(eligibility, dtype=np.float64)
        B, n_out, n_in = elig.shape
        sample, neuron = np.nonzero((elig != 0.0).any(axis=2))
        return cls(elig[sample, neuron], sample.astype(np.int64), neuron.astype(np.int64),
                   np.tile(np.arange(n_in, dtype=np.int64), (B, 1)),
                   np.full(B, n_in, np.int64), (B, n_out, n_in))

    def dense(self) -> np.ndarray:
        """The full float64 array ``[B, n_out, n_in]``."""
        out = np.zeros(self.shape)
        _kernels.eligibility_rows_to_dense(self.values, self.sample, self.neuron,
                                           self.channels, self.n_active, out)
        return out


@dataclass(frozen=True)
class LayerOutput:
    """What :func:`simulate_layer` returns.

    Attributes
    ----------
    spikes : SpikeBuffer
        Output spike trains ``[B, n_out, max_n_spikes]`` (with tangents if tracked).
    eligibility_rows : EligibilityRows or None
        The eligibility below, stored by rows (what training uses).
    """

    spikes: SpikeBuffer
    eligibility_rows: EligibilityRows | None

    @property
    def eligibility(self) -> np.ndarray | None:
        """float64 ``[B, n_out, n_in]`` or None: ``sum_m dt_im / dw_ij``, the exact
        derivative of the sum of neuron ``i``'s spike times with respect to ``w_ij``,
        including later spikes' dependence on earlier ones through the reset (see
        :mod:`snn_dfa.eventdriven.gradients`); built from :attr:`eligibility_rows`."""
        return None if self.eligibility_rows is None else self.eligibility_rows.dense()


def simulate_layer(
    inputs: SpikeBuffer,
    weights: np.ndarray,
    params: LIFParams,
    *,
    perturbation: np.ndarray | None = None,
    track_tangents: bool = False,
    eligibility: bool = False,
    denominator: str = "exact",
    tangent: str = "exact",
    implementation: str = "numba",
) -> LayerOutput:
    """Simulate one fully connected layer of event-driven LIF neurons.

    Parameters
    ----------
    inputs : SpikeBuffer [B, n_in, K_in]
        Input spike times (and their tangents when ``track_tangents``; missing tangents are 0).
    weights : array [n_out, n_in]
    params : LIFParams
    perturbation : array [B, n_out] or None
        Forward-mode perturbation ``u``: added to the tangent of each neuron's first spike
        (the neuron's first spike is seen downstream delayed by ``u``).  Implies
        ``track_tangents``.
    track_tangents : bool
        Propagate exact tangents of the spike times (forward mode).
    eligibility : bool
        Also return ``sum_m dt_im / dw_ij`` per sample.
    denominator : {"exact", "published"}
        ``"exact"`` divides the eligibility by ``a - c x^2`` (implicit differentiation);
        ``"published"`` divides by ``a``, as the authors' public kernel does.
    tangent : {"exact", "published"}
        ``"exact"``: exact forward-mode tangents.  ``"published"``: the authors' stand-in, a
        spike's tangent is ``sum_j w_ij * tangent_j`` over the input spikes received since
        the neuron's previous spike (no exponentials, no denominator; the sum restarts at
        every spike), plus ``perturbation`` on the first spike.
    implementation : {"numba", "reference"}
        The numba kernel or the plain (slow) reference.

    Returns
    -------
    LayerOutput
    """
    if not isinstance(inputs, SpikeBuffer):
        raise ValidationError(f"inputs: expected a SpikeBuffer, got {type(inputs).__name__}")
    if not isinstance(params, LIFParams):
        raise ValidationError(f"params: expected LIFParams, got {type(params).__name__}")
    check_choice("implementation", implementation, IMPLEMENTATIONS)
    check_choice("denominator", denominator, VARIANTS)
    check_choice("tangent", tangent, VARIANTS)
    public_den, standin = denominator == "published", tangent == "published"
    B, n_in = inputs.shape
    w = check_array("weights", weights, ndim=2, dtype=np.float64)
    if w.shape[1] != n_in:
        raise ValidationError(
            f"weights: expected shape (n_out, {n_in}) to match the {n_in} input channels, "
            f"got {w.shape}")
    n_out = w.shape[0]
    use_perturbation = perturbation is not None
    if use_perturbation:
        pert = check_array("perturbation", perturbation, shape=(B, n_out), dtype=np.float64)
        track_tangents = True
    else:
        pert = np.zeros((B, n_out))
    input_tangents = inputs.tangents is not None
    in_tan = inputs.tangents if input_tangents else np.zeros_like(inputs.times_s)
    K = params.max_n_spikes
    tau_s, c, t_sim = float(params.tau_syn_s), params.threshold, float(params.t_sim_s)
    if implementation == "reference":
        out_t, out_tan, out_cnt, elig = _kernels.layer_forward_reference(
            inputs.times_s, inputs.counts, in_tan, w, tau_s, c, t_sim, K,
            pert if use_perturbation else None, bool(track_tangents), bool(eligibility),
            public_den, standin)
        rows = EligibilityRows.from_dense(elig) if eligibility else None
    else:
        ev_t, ev_j, ev_tan, n_ev = _kernels.flatten_events(inputs.times_s, inputs.counts,
                                                           in_tan)
        out_t = np.full((B, n_out, K), np.inf)
        out_tan = np.zeros((B, n_out, K))
        out_cnt = np.zeros((B, n_out), np.int64)
        # rows are written one after the other; np.empty leaves the unused tail untouched
        n_ch = max(int((inputs.counts > 0).sum(axis=1).max()) if B else 0, 1)
        shape = (B * n_out, n_ch) if eligibility else (1, 1)
        values = np.empty(shape)
        sample = np.empty(shape[0], np.int64)
        neuron = np.empty(shape[0], np.int64)
        channels = np.empty((B, n_ch) if eligibility else (1, 1), np.int64)
        n_active = np.zeros(B if eligibility else 1, np.int64)
        n_rows = _kernels.layer_forward(
            ev_t, ev_j, ev_tan, n_ev, np.ascontiguousarray(w.T), tau_s, c, t_sim, pert,
            use_perturbation, bool(track_tangents), input_tangents, bool(eligibility),
            public_den, standin, out_t, out_tan, out_cnt, values, sample, neuron, channels,
            n_active)
        rows = EligibilityRows(values[:n_rows], sample[:n_rows], neuron[:n_rows], channels,
                               n_active, (B, n_out, n_in)) if eligibility else None
    spikes = SpikeBuffer(out_t, out_cnt, out_tan if track_tangents else None)
    return LayerOutput(spikes, rows)
