"""Shared builders of the tests (a toy task, random spike buffers, an ODE oracle).

Tests import these with ``from helpers import ...``; no test imports another test module."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from scipy.integrate import solve_ivp

from snn_dfa.eventdriven.neuron import LIFParams, SpikeBuffer

#: The repository root (examples/ and reports/ live here).
ROOT = Path(__file__).resolve().parents[1]


def run_example(script: str, out: Path, *args: str, timeout: int = 600
                ) -> subprocess.CompletedProcess:
    """Run ``examples/<script> --quick --out <out> [args]`` in a fresh interpreter; fail the
    test with its stderr unless it exits 0."""
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / script), "--quick",
                           "--out", str(out), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc


#: A reduced real run of the main job (two subjects, a small network, one pre-training epoch).
SMALL = """
seed = 1
[data]
adapt_subjects = [2, 9]
adapt_fraction = 0.3
max_pretrain_windows = 400
[model]
channels = [8, 16]
[pretrain]
epochs = 1
"""


def toy_task(n: int = 240, steps: int = 24, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes told apart by which channel carries a burst (learnable, not trivial):
    ``X [n, steps, 3]`` float32, ``y [n]``."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    X = rng.normal(0, 0.5, (n, steps, 3)).astype(np.float32)
    X[np.arange(n), :, y] += 1.0
    return X, y


def random_buffer(rng: np.random.Generator, batch: int, n: int, k: int, t_max_s: float,
                  p_fire: float = 1.0, tangents: bool = False) -> SpikeBuffer:
    """Up to ``k`` uniform random spikes per channel in ``[0, t_max_s]``."""
    times = np.sort(rng.uniform(0.0, t_max_s, (batch, n, k)), axis=2)
    counts = rng.binomial(k, p_fire, (batch, n)).astype(np.int64)
    times = np.where(np.arange(k)[None, None, :] < counts[:, :, None], times, np.inf)
    tan = rng.standard_normal(times.shape) if tangents else None
    return SpikeBuffer.from_arrays(times, counts, tan)


def ode_spike_times(in_times: np.ndarray, in_weights: np.ndarray, params: LIFParams
                    ) -> np.ndarray:
    """Spike times of one neuron by numerical integration (DOP853, rtol 1e-13).

    Two decaying state variables ``p`` (time constant ``tau``) and ``q`` (``tau_s``) jump by
    ``w`` at each input; ``u = p - q``.  Threshold crossings are located by the solver's
    event detection; a spike subtracts the threshold from ``p``.
    """
    tau, tau_s, c = params.tau_mem_s, params.tau_syn_s, params.threshold
    order = np.argsort(in_times, kind="stable")
    events = list(zip(in_times[order], in_weights[order]))

    def rhs(_t, y):
        return [-y[0] / tau, -y[1] / tau_s]

    def crossing(_t, y):
        return y[0] - y[1] - c

    crossing.terminal = True
    crossing.direction = 1
    y = np.zeros(2)
    t = 0.0
    spikes: list[float] = []
    bounds = [t_e for t_e, _ in events] + [params.t_sim_s]
    for k, t_b in enumerate(bounds):
        while t < t_b and len(spikes) < params.max_n_spikes:
            sol = solve_ivp(rhs, (t, t_b), y, method="DOP853", rtol=1e-13, atol=1e-15,
                            events=crossing)
            if sol.t_events[0].size:
                t = float(sol.t_events[0][0])
                spikes.append(t)
                y = sol.y_events[0][0].copy()
                y[0] -= c
            else:
                y = sol.y[:, -1].copy()
                t = t_b
        t = t_b
        if k < len(events):
            y = y + events[k][1]
    return np.array(spikes)


def opacus_epsilon(q: float, z: float, steps: int, delta: float, orders) -> float:
    """The oracle for the privacy accountant: opacus's RDP analysis of ``steps`` Poisson-
    subsampled Gaussian steps (rate ``q``, multiplier ``z``) at ``orders``, converted at
    ``delta``."""
    import warnings

    from opacus.accountants.analysis.rdp import compute_rdp, get_privacy_spent

    rdp = compute_rdp(q=q, noise_multiplier=z, steps=steps, orders=list(orders))
    with warnings.catch_warnings():
        # opacus warns when the optimum sits on the grid's edge; the comparison stays valid
        # because both sides use the same orders.
        warnings.filterwarnings("ignore", message="Optimal order is the")
        eps, _ = get_privacy_spent(orders=list(orders), rdp=rdp, delta=delta)
    return float(eps)
