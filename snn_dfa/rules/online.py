"""Online (streaming) adaptation at batch 1: predict, record, then update.

Windows of one subject arrive in recording order.  For each window the network predicts
(prequential evaluation: the prediction is scored before the window is learned from), then
the rule's gradient becomes an update through the optimiser and the synapse backend.
Unlabelled windows (label < 0: transitions, unlabelled stretches) are predicted and
skipped for learning.  ``update_every=k`` accumulates ``k`` labelled windows per update
(mini-batch timing); ``1`` updates after every window.

Per-step metrics are kept by :class:`MetricLog`, whose memory is bounded whatever the
stream length: past ``max_points`` entries, neighbouring bins are merged (averaged), so a
long stream keeps a uniformly down-sampled curve plus exact totals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from snn_dfa._validation import check_array, check_scalar
from snn_dfa.engine.layers import SynapticLayer
from snn_dfa.engine.losses import Loss, loss_and_grad
from snn_dfa.engine.network import SpikingNetwork, Trace
from snn_dfa.engine.optim import Optimizer
from snn_dfa.errors import ValidationError
from snn_dfa.rules.learning import BPTT, Grads, Rule, alignment


class MetricLog:
    """A bounded record of per-step values.

    Each metric is kept as at most ``max_points`` bins of ``width`` consecutive steps
    (sum and count of the measured values).  When the bins fill up, neighbours are merged
    and ``width`` doubles, so memory stays bounded while the curve covers the whole stream.
    NaN means "not measured at this step" and is left out of sums and counts.

    Parameters
    ----------
    max_points : int
        Bins kept per metric (an even number >= 2).
    """

    def __init__(self, max_points: int = 4096) -> None:
        check_scalar("max_points", max_points, int, low=2)
        if max_points % 2:
            raise ValidationError(f"max_points={max_points}: expected an even number")
        self.max_points = max_points
        self.width = 1
        self.n_steps = 0
        self._sum: dict[str, np.ndarray] = {}
        self._cnt: dict[str, np.ndarray] = {}

    def _bins(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        if key not in self._sum:
            self._sum[key] = np.zeros(self.max_points)
            self._cnt[key] = np.zeros(self.max_points, np.int64)
        return self._sum[key], self._cnt[key]

    def append(self, values: dict[str, float]) -> None:
        """Record one step's values."""
        b = self.n_steps // self.width
        if b >= self.max_points:  # merge neighbouring bins, double the width
            for key in self._sum:
                for arr in (self._sum[key], self._cnt[key]):
                    half = arr.reshape(-1, 2).sum(axis=1)
                    arr[:] = 0
                    arr[: half.size] = half
            self.width *= 2
            b = self.n_steps // self.width
        for key, v in values.items():
            if not np.isnan(v):
                s, c = self._bins(key)
                s[b] += v
                c[b] += 1
        self.n_steps += 1

    def total(self, key: str) -> tuple[float, int]:
        """Exact sum and count of ``key`` over the whole stream."""
        if key not in self._sum:
            return 0.0, 0
        return float(self._sum[key].sum()), int(self._cnt[key].sum())

    def mean(self, key: str) -> float:
        """Exact mean of ``key`` over the stream (NaN when never measured)."""
        s, n = self.total(key)
        return s / n if n else float("nan")

    @property
    def keys(self) -> list[str]:
        return sorted(self._sum)

    def curve(self, key: str) -> tuple[np.ndarray, np.ndarray]:
        """``(first step of each bin, bin mean)``; bins without a measurement are NaN."""
        used = -(-self.n_steps // self.width)
        s, c = self._bins(key) if key in self._sum else (np.zeros(used), np.zeros(used))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = np.where(c[:used] > 0, s[:used] / np.maximum(c[:used], 1), np.nan)
        return np.arange(used) * self.width, means


def _rates(network: SpikingNetwork, trace: Any) -> dict[str, float]:
    out = {}
    for i in network.synaptic_layers[:-1]:
        out[f"rate_layer{i}"] = float(trace.caches[i]["s"].mean())
    return out


class OnlineAdapter:
    """Prequential online adaptation of ``network`` with ``rule`` at batch 1.

    Parameters
    ----------
    network : SpikingNetwork
    rule : Rule
        :class:`~snn_dfa.rules.learning.BPTT`, :class:`~snn_dfa.rules.learning.DFA`, ...
    optimizer : Optimizer
    loss : Loss or str
    update_every : int
        Labelled windows per update (1: after every window).
    measure_alignment : bool
        Also compute the BPTT gradient of every window and log the cosine between the
        rule's update direction and it, per layer (costly: one extra backward pass).
    max_points : int
        Memory bound of the metric log.
    on_phase : callable, optional
        Called with ``"inference"``, ``"error_delivery"``, ``"weight_update"`` as each phase
        of a window starts and with ``None`` when the window is done (hardware accounting).
    on_window : callable, optional
        Called with ``(trace, learned)`` after every window (hardware accounting).
    """

    def __init__(self, network: SpikingNetwork, rule: Rule, optimizer: Optimizer,
                 loss: Loss | str = Loss.CROSS_ENTROPY, update_every: int = 1,
                 measure_alignment: bool = False, max_points: int = 4096,
                 on_phase: Callable[[str | None], None] | None = None,
                 on_window: Callable[[Trace, bool], None] | None = None) -> None:
        check_scalar("update_every", update_every, int, low=1)
        self.network, self.rule, self.optimizer = network, rule, optimizer
        self.loss = Loss.coerce(loss)
        self.update_every = update_every
        self.measure_alignment = bool(measure_alignment)
        self.log = MetricLog(max_points=max_points)
        self._acc: Grads | None = None
        self._n_acc = 0
        self._on_phase = on_phase or (lambda name: None)
        self._on_window = on_window

    def _check_window(self, x: Any) -> np.ndarray:
        arr = check_array("x", x, ndim=(2, 3), dtype=self.network.dtype)
        if arr.ndim == 3:
            if arr.shape[0] != 1:
                raise ValidationError(f"x: online adaptation is batch 1, got shape {arr.shape}")
            arr = arr[0]
        return np.ascontiguousarray(arr[:, None, :])  # [T, 1, C]

    def partial_fit(self, x: Any, y: int) -> int:
        """Predict window ``x [T, C]``, then learn from it if ``y >= 0``; returns the
        prediction (a class index)."""
        net = self.network
        xt = self._check_window(x)
        if not isinstance(y, (int, np.integer)) or y >= net.n_classes:
            raise ValidationError(f"y={y!r}: expected a class index < {net.n_classes} or -1")
        net.train(False)
        labelled = y >= 0
        self._on_phase("inference")
        z, trace = net.forward(xt, record=labelled or self._on_window is not None)
        pred = int(np.argmax(z[0]))
        values: dict[str, float] = {"labelled": float(labelled)}
        if not labelled:
            self._on_phase(None)
            if self._on_window is not None:
                self._on_window(trace, False)
            values |= {"correct": float("nan"), "loss": float("nan")}
            self.log.append(values)
            return pred
        loss, grad_z = loss_and_grad(z, np.array([y]), self.loss)
        self._on_phase("error_delivery")
        grads = self.rule.gradients(net, trace, grad_z)
        values |= {"correct": float(pred == y), "loss": loss, **_rates(net, trace)}
        if self.measure_alignment and not isinstance(self.rule, BPTT):
            for li, cos in enumerate(alignment(grads, net.backward(trace, grad_z))):
                if cos is not None and isinstance(net.layers[li], SynapticLayer):
                    values[f"alignment_layer{li}"] = cos
        self._accumulate(grads)
        if self._n_acc >= self.update_every:
            self._on_phase("weight_update")
            updates = self.optimizer.step(self._acc)  # type: ignore[arg-type]  # _accumulate has set _acc once _n_acc > 0
            net.apply_updates(updates)
            values["update_norm"] = float(np.sqrt(sum(
                float((u.astype(np.float64) ** 2).sum()) for layer in updates
                for u in layer.values())))
            self._acc, self._n_acc = None, 0
        self._on_phase(None)
        if self._on_window is not None:
            self._on_window(trace, True)
        self.log.append(values)
        return pred

    def _accumulate(self, grads: Grads) -> None:
        scale = 1.0 / self.update_every
        if self._acc is None:
            self._acc = [{k: g * scale for k, g in layer.items()} for layer in grads]
        else:
            for acc, layer in zip(self._acc, grads):
                for k, g in layer.items():
                    acc[k] += g * scale
        self._n_acc += 1

    def run(self, X: Any, y: Any, progress: bool = False, desc: str = "adapt") -> MetricLog:
        """Adapt over a stream ``X [N, T, C]`` with labels ``y [N]`` (-1: unlabelled)."""
        run_stream(self.partial_fit, X, y, self.network.dtype, progress, desc)
        return self.log


def run_stream(partial_fit: Callable[[np.ndarray, int], int], X: Any, y: Any,
               dtype: np.dtype, progress: bool = False, desc: str = "adapt") -> None:
    """Feed a stream ``X [N, T, C]``, ``y [N]`` (-1: unlabelled) window by window to
    ``partial_fit(x [T, C], label)`` (the run loop of every online learner)."""
    X = check_array("X", X, ndim=3, dtype=dtype)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValidationError(f"y: expected shape ({X.shape[0]},), got {y.shape}")
    for i in tqdm(range(X.shape[0]), disable=not progress, desc=desc, unit="window"):
        partial_fit(X[i], int(y[i]))
