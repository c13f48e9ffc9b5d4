"""Step-by-step online DFA whose memory does not grow with the window length.

:class:`~snn_dfa.rules.online.OnlineAdapter` simulates a window layer by layer and keeps the
whole recorded trace, as BPTT must.  DFA needs no past states: this module simulates one
time step at a time and keeps only, per synaptic layer,

* the LIF state and, for a causal Conv1d, a delay line of the last ``k`` inputs;
* for ``timing="window"``, eligibility traces ``E_l[i, j] = sum_t sigma'_i[t] x_j[t]``
  (the size of ``W_l``), so that at the end of the window, when the error ``e`` is known,
  ``dW_l[i, j] = (B_l e)_i E_l[i, j]``: exactly the gradient of
  :class:`~snn_dfa.rules.learning.DFA` on the recorded trace;
* for ``timing="step"`` (fully online), nothing: at every step the running readout gives an
  error ``e[t]`` and every layer updates at once with ``dW_l = (B_l e[t] * sigma'[t]) x[t]^T``.

The output layer uses its true local gradient through an input trace
``eps_j[t] = beta eps_j[t-1] + x_j[t]`` (exact for an integrator readout and for a spiking
output whose reset is detached from the gradient).

Supported networks: Linear and causal, stride-1 Conv1d synaptic layers (no pooling or
flatten, which need the whole window), batch norm in evaluation mode (folded or not).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from snn_dfa._validation import check_array, check_choice
from snn_dfa.engine.layers import Conv1d, SynapticLayer
from snn_dfa.engine.losses import Loss, loss_and_grad
from snn_dfa.engine.network import Readout, SpikingNetwork
from snn_dfa.engine.neurons import LIFState, Reset, lif_run
from snn_dfa.engine.optim import Optimizer
from snn_dfa.errors import ValidationError
from snn_dfa.rules.feedback import FeedbackProjector
from snn_dfa.rules.online import MetricLog, run_stream


class _LayerState:
    """Per-layer streaming state of one window (batch 1)."""

    def __init__(self, layer: SynapticLayer, dtype: np.dtype, traces: bool) -> None:
        self.lif = LIFState.zeros(1, layer.n_out, dtype)
        k = layer.kernel_size if isinstance(layer, Conv1d) else 1
        self.delay = np.zeros((k, layer.n_in), dtype)  # rows: x[t-k+1], ..., x[t]
        self.elig = np.zeros(layer.weight_shape(), dtype) if traces else None
        self.elig_bias = np.zeros(layer.n_out, dtype) if traces else None

    def traces(self) -> tuple[np.ndarray, np.ndarray]:
        """The eligibility traces ``(E [n_out, fan_in], E_bias [n_out])`` (kept when the
        window learns from them)."""
        assert self.elig is not None and self.elig_bias is not None
        return self.elig, self.elig_bias


def _synaptic(layers: list) -> list[SynapticLayer]:
    """``layers`` as synaptic layers (a streamable network has no others)."""
    assert all(isinstance(layer, SynapticLayer) for layer in layers)
    return layers


def _check_streamable(network: SpikingNetwork) -> None:
    for i, layer in enumerate(network.layers):
        if not isinstance(layer, SynapticLayer):
            raise ValidationError(
                f"layers[{i}] is {type(layer).__name__}: streaming DFA runs Linear and causal "
                "Conv1d layers only (pooling and flatten need the whole window)"
            )
        if isinstance(layer, Conv1d) and (layer.pad != (layer.kernel_size - 1, 0)
                                          or layer.stride != 1):
            raise ValidationError(
                f"layers[{i}]: streaming needs padding='causal' and stride 1, got "
                f"padding={layer.pad}, stride={layer.stride}"
            )
    out = network.layers[-1]
    assert isinstance(out, SynapticLayer)
    if out.neuron.spiking and (out.neuron.reset is Reset.ZERO or not out.neuron.detach_reset
                               or out.neuron.refractory_steps):
        raise ValidationError(
            "output layer: the streaming output trace is exact for an integrator or a spiking "
            "output with a detached subtractive reset and no refractory period"
        )


class StreamingDFA:
    """Online DFA at batch 1, simulated step by step with memory independent of ``T``.

    Parameters
    ----------
    network : SpikingNetwork
        A streamable network (see the module docstring); it is switched to evaluation mode.
    projector : FeedbackProjector
        ``B_l`` for the hidden synaptic layers.
    optimizer : Optimizer
    timing : {"window", "step"}
        One update per window (eligibility traces) or one per time step.
    loss : Loss or str
    max_points : int
        Memory bound of the metric log.
    """

    def __init__(self, network: SpikingNetwork, projector: FeedbackProjector,
                 optimizer: Optimizer, timing: str = "window",
                 loss: Loss | str = Loss.CROSS_ENTROPY, max_points: int = 4096) -> None:
        _check_streamable(network)
        check_choice("timing", timing, ["window", "step"])
        self.network, self.projector, self.optimizer = network, projector, optimizer
        self.timing = timing
        self.loss = Loss.coerce(loss)
        self.log = MetricLog(max_points=max_points)
        network.train(False)

    # -- one time step ------------------------------------------------------------------
    def _step(self, states: list[_LayerState], x_t: np.ndarray
              ) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
        """Advance every layer one step; returns per layer the operand row, the local
        slope factor ``sigma' * bn_scale`` and the membrane (each ``[n]``)."""
        h = x_t
        rows_all, slopes_all, mems = [], [], []
        for layer, st in zip(self.network.layers, states):
            assert isinstance(layer, SynapticLayer)
            st.delay[:-1] = st.delay[1:]
            st.delay[-1] = h
            rows = np.ascontiguousarray(st.delay.T).reshape(1, -1)  # (C_in, k) order
            gate = (st.lif.refractory[0] == 0).astype(h.dtype)
            current = layer.row_currents(rows)[0, 0]  # evaluation mode: running statistics
            spikes, mem, st.lif = lif_run(current[None, None], layer.neuron, layer.threshold,
                                          st.lif, record_membrane=True)
            assert mem is not None  # recorded
            u = mem[0, 0]
            scale = self._bn_scale(layer)
            slope = layer.neuron.surrogate.derivative(u - layer.threshold) * gate * scale
            rows_all.append(rows[0])
            slopes_all.append(slope.astype(h.dtype))
            mems.append(u)
            h = spikes[0, 0]
        return rows_all, slopes_all, mems

    @staticmethod
    def _bn_scale(layer: SynapticLayer) -> np.ndarray | float:
        return layer.bn.scale_shift()[0] if layer.bn is not None else 1.0

    # -- one window ---------------------------------------------------------------------
    def partial_fit(self, x: Any, y: int) -> int:
        """Run window ``x [T, C]`` step by step and learn from it (``y < 0``: predict only).

        Returns the prediction of the whole window's readout (made before the window's
        update with ``timing="window"``; after its per-step updates with ``"step"``).
        """
        net = self.network
        x = check_array("x", x, ndim=2, dtype=net.dtype)
        if x.shape[1] != net.n_in:
            raise ValidationError(f"x: expected shape (T, {net.n_in}), got {x.shape}")
        if not isinstance(y, (int, np.integer)) or y >= net.n_classes:
            raise ValidationError(f"y={y!r}: expected a class index < {net.n_classes} or -1")
        learn = y >= 0
        window = self.timing == "window" and learn
        states = [_LayerState(layer, net.dtype, window) for layer in _synaptic(net.layers[:-1])]
        out = net.layers[-1]
        assert isinstance(out, SynapticLayer)
        st_out = _LayerState(out, net.dtype, learn)
        states.append(st_out)
        eps = np.zeros(out.fan_in, net.dtype)  # output-layer input trace
        eps_bias = 0.0
        readout = np.zeros(net.n_classes, np.float64)
        update_sq = 0.0
        for t in range(x.shape[0]):
            rows, slopes, mems = self._step(states, x[t])
            eps = out.neuron.beta * eps + rows[-1]
            eps_bias = out.neuron.beta * eps_bias + 1.0
            z_t = self._readout_step(readout, mems[-1], st_out, t)
            if not learn:
                continue
            self._output_trace(st_out, slopes[-1], eps, eps_bias, out)
            if window:
                for st, r, sl in zip(states[:-1], rows[:-1], slopes[:-1]):
                    elig, elig_bias = st.traces()
                    elig += np.outer(sl, r)
                    elig_bias += sl
            else:
                _, e = loss_and_grad(z_t[None].astype(net.dtype), np.array([y]), self.loss)
                hidden = [(r, sl) for r, sl in zip(rows[:-1], slopes[:-1])]
                update_sq += self._update(e[0], hidden, st_out, t + 1)
        z = readout / x.shape[0] if net.readout is Readout.MEAN_MEMBRANE else readout
        pred = int(np.argmax(z))
        values: dict[str, float] = {"labelled": float(learn)}
        if learn:
            loss, e = loss_and_grad(z[None].astype(net.dtype), np.array([y]), self.loss)
            values |= {"correct": float(pred == y), "loss": loss}
            if window:
                hidden = [st.traces() for st in states[:-1]]
                update_sq = self._update(e[0], hidden, st_out, x.shape[0])
            values["update_norm"] = float(np.sqrt(update_sq))
        self.log.append(values)
        return pred

    def _readout_step(self, acc: np.ndarray, mem: np.ndarray, st: _LayerState, t: int
                      ) -> np.ndarray:
        """Accumulate the readout; return the readout of the window so far."""
        ro = self.network.readout
        if ro is Readout.SPIKE_COUNT:
            acc += st.lif.s[0]
            return acc.copy()
        if ro is Readout.MEAN_MEMBRANE:
            acc += mem
            return acc / (t + 1)
        acc[:] = mem
        return acc.copy()

    def _output_trace(self, st: _LayerState, slope: np.ndarray, eps: np.ndarray,
                      eps_bias: float, out: SynapticLayer) -> None:
        """Keep ``st.elig`` such that ``dz_t/dW_out`` follows from it (see ``_update``)."""
        if self.network.readout is Readout.SPIKE_COUNT:
            gain = slope  # dz/dW = sum_t sigma'_i[t] eps_j[t]
        else:
            gain = np.broadcast_to(np.asarray(self._bn_scale(out), eps.dtype), slope.shape)
        elig, elig_bias = st.traces()
        if self.network.readout is Readout.LAST_MEMBRANE:
            elig[:] = np.outer(gain, eps)
            elig_bias[:] = gain * eps_bias
        else:
            elig += np.outer(gain, eps)
            elig_bias += gain * eps_bias

    def _update(self, e: np.ndarray, hidden: list[tuple[np.ndarray, np.ndarray]],
                st_out: _LayerState, steps: int) -> float:
        """Apply one DFA update from error ``e [n_classes]``; return its squared norm.

        ``hidden`` holds per hidden layer either the window's eligibility ``(E, E_bias)``
        or one step's ``(x[t], sigma'[t])`` (then ``dW = (B e * sigma') x^T``).
        """
        net = self.network
        projections = self.projector.project_all(e[None].astype(net.dtype))
        grads = []
        for layer, (a, b), proj in zip(_synaptic(net.layers[:-1]), hidden, projections):
            p = proj[0]
            if a.ndim == 2:  # eligibility traces
                dw, db = p[:, None] * a, p * b
            else:  # one step: a = operand row, b = slopes
                delta = p * b
                dw, db = np.outer(delta, a), delta
            grads.append(self._layer_grads(layer, dw, db))
        scale = 1.0 / steps if net.readout is Readout.MEAN_MEMBRANE else 1.0
        (out,) = _synaptic(net.layers[-1:])
        elig, elig_bias = st_out.traces()
        grads.append(self._layer_grads(out, (e * scale)[:, None] * elig, e * scale * elig_bias))
        upd = self.optimizer.step(grads)
        net.apply_updates(upd)
        return sum(float((u.astype(np.float64) ** 2).sum()) for layer in upd for u in layer.values())

    @staticmethod
    def _layer_grads(layer: SynapticLayer, dw: np.ndarray, db: np.ndarray
                     ) -> dict[str, np.ndarray]:
        grads = {"weight": dw.astype(layer.threshold.dtype)}
        if layer.bias is not None:
            grads["bias"] = db.astype(layer.threshold.dtype)
        return grads

    def run(self, X: Any, y: Any, progress: bool = False, desc: str = "adapt") -> MetricLog:
        """Adapt over a stream ``X [N, T, C]``, ``y [N]`` (-1: unlabelled)."""
        run_stream(self.partial_fit, X, y, self.network.dtype, progress, desc)
        return self.log
