"""Layers of the clock-driven spiking network.

Every layer maps a time-major sequence ``x [T, B, n_in]`` to ``y [T_out, B, n_out]``.

* :class:`Linear` and :class:`Conv1d` are *synaptic* layers: a weight matrix held by a
  :class:`~snn_dfa.engine.backends.SynapseBackend`, an optional bias, optional batch norm, and a
  population of LIF neurons (or a non-spiking integrator for a readout).  Their output is
  the spike train.
* :class:`Conv1d` convolves along time with channels as features: the current at step
  ``t`` is ``W @ [x[t - pad], ..., x[t - pad + k - 1]]`` over a zero-padded input, so the
  weight seen by the hardware is the unrolled ``[C_out, C_in * k]`` matrix.  ``padding=
  "causal"`` makes every output depend on the present and past only (streaming).
* :class:`AvgPool` / :class:`SumPool` pool along time; :class:`Flatten` turns the whole
  sequence into one step ``[1, B, T * n]`` (channel-major, as ``torch.flatten`` of
  ``[B, C, L]``) so a readout can see every time position.

``forward(x, record)`` returns the output and a cache (the input, and with ``record`` the
membranes) that ``backward`` consumes.  Layers are evaluated one after another over the
whole sequence; as no layer has recurrent weights this equals step-by-step simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from snn_dfa._validation import check_choice, check_scalar
from snn_dfa.engine import _kernels
from snn_dfa.engine.backends import DenseSynapses, SynapseBackend
from snn_dfa.engine.neurons import (
    LIFParams,
    LIFState,
    lif_backward,
    lif_jvp,
    lif_run,
    surrogate_slopes,
)
from snn_dfa.errors import ValidationError

Cache = dict[str, Any]


class Layer:
    """Base class: shape bookkeeping and the forward/backward contract."""

    n_in: int
    n_out: int

    def output_steps(self, steps: int) -> int:
        """Number of output time steps for ``steps`` input steps."""
        return steps

    def init(self, rng: np.random.Generator, dtype: np.dtype) -> None:
        """Allocate parameters (no-op for parameter-free layers)."""

    def forward(self, x: np.ndarray, record: bool = False) -> tuple[np.ndarray, Cache]:
        raise NotImplementedError

    def backward(self, cache: Cache, grad_y: np.ndarray | None
                 ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """Return ``dL/dx`` and the parameter gradients (a dict, empty if none); ``dL/dx`` is
        None where no gradient is needed below."""
        raise NotImplementedError

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        return {}


def _steps_out(steps: int, kernel: int, left: int, right: int, stride: int) -> int:
    """Output steps of a sliding window along time over the zero-padded input."""
    if steps + left + right < kernel:
        raise ValidationError(
            f"input of {steps} steps (padded to {steps + left + right}) is shorter than the "
            f"kernel size {kernel}"
        )
    return (steps + left + right - kernel) // stride + 1


def _parse_padding(padding: int | tuple[int, int] | str, kernel: int) -> tuple[int, int]:
    if isinstance(padding, str):
        check_choice("padding", padding, ["causal", "valid"])
        return (kernel - 1, 0) if padding == "causal" else (0, 0)
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        check_scalar("padding", int(padding), int, low=0)
        return int(padding), int(padding)
    if (
        isinstance(padding, tuple)
        and len(padding) == 2
        and all(isinstance(p, (int, np.integer)) and p >= 0 for p in padding)
    ):
        return int(padding[0]), int(padding[1])
    raise ValidationError(
        f"padding={padding!r}: expected 'causal', 'valid', an int >= 0 or a (left, right) pair"
    )


@dataclass
class BatchNorm:
    """Per-neuron batch normalisation of the synaptic current, statistics over ``(T, B)``.

    In training mode it normalises with the batch's statistics and updates running
    averages (``momentum`` as in torch); in evaluation mode it uses the running values.
    Deployment folds it into weights and thresholds (:meth:`SynapticLayer.fold_batch_norm`).
    """

    n: int
    eps: float = 1e-5
    momentum: float = 0.1

    def init(self, dtype: np.dtype) -> None:
        self.gamma = np.ones(self.n, dtype)
        self.beta = np.zeros(self.n, dtype)
        self.running_mean = np.zeros(self.n, dtype)
        self.running_var = np.ones(self.n, dtype)

    def scale_shift(self) -> tuple[np.ndarray, np.ndarray]:
        """The evaluation-mode affine map ``y = a * I + b`` per neuron."""
        a = self.gamma / np.sqrt(self.running_var + self.eps)
        return a, self.beta - a * self.running_mean


class SynapticLayer(Layer):
    """Weights + optional bias + optional batch norm + LIF neurons (shared logic)."""

    def __init__(self, n_in: int, n_out: int, neuron: LIFParams | None, bias: bool,
                 batch_norm: bool) -> None:
        check_scalar("n_in", n_in, int, low=1)
        check_scalar("n_out", n_out, int, low=1)
        if neuron is not None and not isinstance(neuron, LIFParams):
            raise ValidationError(f"neuron={neuron!r}: expected snn_dfa.engine.neurons.LIFParams")
        self.n_in = n_in
        self.n_out = n_out
        self.neuron = neuron if neuron is not None else LIFParams()
        self.use_bias = bool(bias)
        self.bn = BatchNorm(n_out) if batch_norm else None
        self.training = True
        self.synapses: SynapseBackend | None = None

    # -- parameters -------------------------------------------------------------------
    @property
    def fan_in(self) -> int:
        raise NotImplementedError

    def weight_shape(self) -> tuple[int, int]:
        """Shape of the matrix the hardware holds: ``[n_out, fan_in]``."""
        return (self.n_out, self.fan_in)

    def init(self, rng: np.random.Generator, dtype: np.dtype) -> None:
        bound = 1.0 / math.sqrt(self.fan_in)  # torch's default (Kaiming-uniform, a=sqrt(5))
        w = rng.uniform(-bound, bound, size=self.weight_shape()).astype(dtype)
        self.synapses = DenseSynapses(w, dtype)
        self.bias = (
            rng.uniform(-bound, bound, size=self.n_out).astype(dtype) if self.use_bias else None
        )
        self.threshold = np.full(self.n_out, self.neuron.threshold, dtype)
        if self.bn is not None:
            self.bn.init(dtype)

    def _require_init(self) -> SynapseBackend:
        if self.synapses is None:
            raise ValidationError(f"{type(self).__name__}: parameters not initialised")
        return self.synapses

    @property
    def parameters(self) -> dict[str, np.ndarray]:
        params = {"weight": self._require_init().get_weights()}
        if self.bias is not None:
            params["bias"] = self.bias
        if self.bn is not None:
            params["bn_gamma"] = self.bn.gamma
            params["bn_beta"] = self.bn.beta
        return params

    def apply_updates(self, updates: dict[str, np.ndarray]) -> None:
        """Add ``updates`` (same keys as the gradients) to the parameters."""
        for name, delta in updates.items():
            if name == "weight":
                self._require_init().apply_update(delta)
            elif name == "bias" and self.bias is not None:
                self.bias += delta
            elif name == "bn_gamma" and self.bn is not None:
                self.bn.gamma += delta
            elif name == "bn_beta" and self.bn is not None:
                self.bn.beta += delta
            else:
                raise ValidationError(f"update for unknown parameter {name!r}")

    def fold_batch_norm(self) -> None:
        """Fold evaluation-mode batch norm into the layer for deployment.

        For neurons with a positive scale ``a`` the scale goes into the threshold
        (``theta / a``, bias ``+ b / a``), leaving the weights (and so the conductances)
        unchanged: dividing the whole membrane by ``a`` gives identical spikes.  Neurons
        with ``a <= 0`` get it folded into their weight rows instead.  Exact for spiking
        layers; a non-spiking readout always folds into the weights.
        """
        if self.bn is None:
            return
        a, b = self.bn.scale_shift()
        syn = self._require_init()
        w = syn.get_weights()
        bias = self.bias if self.bias is not None else np.zeros(self.n_out, w.dtype)
        to_threshold = (a > 0) & np.full(self.n_out, self.neuron.spiking)
        new_w = np.where(to_threshold[:, None], w, w * a[:, None])
        new_bias = np.where(to_threshold, bias + b / np.where(to_threshold, a, 1), a * bias + b)
        self.threshold = np.where(to_threshold, self.threshold / np.where(to_threshold, a, 1),
                                  self.threshold).astype(w.dtype)
        syn.apply_update((new_w - w).astype(w.dtype))
        self.bias = new_bias.astype(w.dtype)
        self.use_bias = True
        self.bn = None

    # -- computation ------------------------------------------------------------------
    def _inputs_2d(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The operand of the matrix product, ``[T_out * B, fan_in]``, and ``T_out``."""
        raise NotImplementedError

    def _grad_input(self, grad_rows: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        """Map ``dL/d(operand rows) [T_out * B, fan_in]`` back to ``dL/dx``."""
        raise NotImplementedError

    def currents(self, x: np.ndarray, cache: Cache | None = None) -> np.ndarray:
        """Synaptic currents ``[T_out, B, n_out]`` (after bias and batch norm)."""
        self._require_init()
        rows, t_out = self._inputs_2d(x)
        return self.row_currents(rows, t_out, x.shape[1], cache)

    def row_currents(self, rows: np.ndarray, steps: int = 1, batch: int = 1,
                     cache: Cache | None = None) -> np.ndarray:
        """Currents ``[steps, batch, n_out]`` of operand rows ``[steps * batch, fan_in]``
        (inputs already unrolled, e.g. a streaming delay line), after bias and batch norm."""
        syn = self._require_init()
        if cache is not None:  # BPTT needs the operand again for the weight gradient
            cache["rows"] = rows
        current = syn.forward(rows).reshape(steps, batch, self.n_out)
        if self.bias is not None:
            current = current + self.bias
        if self.bn is not None:
            current = self._bn_forward(current, cache)
        return np.ascontiguousarray(current, dtype=rows.dtype)

    def _bn_forward(self, current: np.ndarray, cache: Cache | None) -> np.ndarray:
        bn = self.bn
        assert bn is not None
        if self.training:
            mean = current.mean(axis=(0, 1))
            var = current.var(axis=(0, 1))
            m = current.shape[0] * current.shape[1]
            bn.running_mean = ((1 - bn.momentum) * bn.running_mean + bn.momentum * mean).astype(
                current.dtype)
            unbiased = var * m / max(m - 1, 1)
            bn.running_var = ((1 - bn.momentum) * bn.running_var + bn.momentum * unbiased).astype(
                current.dtype)
            inv_std = 1.0 / np.sqrt(var + bn.eps)
            xhat = (current - mean) * inv_std
            if cache is not None:
                cache["bn_xhat"] = xhat
                cache["bn_inv_std"] = inv_std
            return bn.gamma * xhat + bn.beta
        a, b = bn.scale_shift()
        if cache is not None:
            cache["bn_eval_scale"] = a
        return current * a + b

    def _bn_backward(self, cache: Cache, grad: np.ndarray, grads: dict[str, np.ndarray]
                     ) -> np.ndarray:
        bn = self.bn
        assert bn is not None
        if "bn_eval_scale" in cache:  # running statistics: a fixed affine map
            return grad * cache["bn_eval_scale"]
        xhat_ = cache["bn_xhat"]
        inv_std = cache["bn_inv_std"]
        m = grad.shape[0] * grad.shape[1]
        grads["bn_gamma"] = (grad * xhat_).sum(axis=(0, 1))
        grads["bn_beta"] = grad.sum(axis=(0, 1))
        dxhat = grad * bn.gamma
        return (inv_std / m) * (
            m * dxhat - dxhat.sum(axis=(0, 1)) - xhat_ * (dxhat * xhat_).sum(axis=(0, 1))
        )

    def forward(self, x: np.ndarray, record: bool = False, state: LIFState | None = None
                ) -> tuple[np.ndarray, Cache]:
        cache: Cache = {"x": x}
        current = self.currents(x, cache if record else None)
        spikes, membranes, final = lif_run(current, self.neuron, self.threshold, state,
                                           record_membrane=record)
        cache["state"] = final
        if record:
            cache["u"] = membranes
            cache["s"] = spikes
            cache["ref0"] = None if state is None else state.refractory
        return spikes, cache

    def backward_currents(self, cache: Cache, grad_current: np.ndarray, input_grad: bool = True
                          ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """From ``dL/dI`` (after batch norm) to ``dL/dx`` and the parameter gradients.

        ``input_grad=False`` skips ``dL/dx`` (no transposed read of the synapses): DFA's
        hidden layers and the first layer of BPTT need none.
        """
        grads: dict[str, np.ndarray] = {}
        if self.bn is not None:
            grad_current = self._bn_backward(cache, grad_current, grads)
        if self.bias is not None:
            grads["bias"] = grad_current.sum(axis=(0, 1))
        x = cache["x"]
        rows = cache["rows"] if "rows" in cache else self._inputs_2d(x)[0]
        g2 = grad_current.reshape(-1, self.n_out)
        grads["weight"] = g2.T @ rows
        if not input_grad:
            return None, grads
        return self._grad_input(self._require_init().backward(g2), x.shape), grads

    def backward(self, cache: Cache, grad_y: np.ndarray | None,
                 grad_membrane: np.ndarray | None = None, input_grad: bool = True
                 ) -> tuple[np.ndarray | None, dict[str, np.ndarray]]:
        """BPTT: ``grad_y`` reaches the spikes, ``grad_membrane`` the membranes (readout)."""
        if "u" not in cache:
            raise ValidationError("backward needs a forward pass with record=True")
        grad_current = lif_backward(cache["u"], cache["s"], grad_membrane, grad_y, self.neuron,
                                    self.threshold, cache["ref0"])
        return self.backward_currents(cache, grad_current, input_grad)

    def tangent(self, cache: Cache, tangent_x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Forward-mode derivative: from the tangent of the input ``[T, B, n_in]`` to the
        tangents ``(du, ds)`` of membranes and spikes ``[T_out, B, n_out]`` (record=True)."""
        if "u" not in cache:
            raise ValidationError("tangents need a forward pass with record=True")
        rows, t_out = self._inputs_2d(tangent_x)
        d_current = self._require_init().forward(rows).reshape(t_out, tangent_x.shape[1],
                                                               self.n_out)
        if self.bn is not None:
            d_current = self._bn_tangent(cache, d_current)
        return lif_jvp(cache["u"], cache["s"], d_current, self.neuron, self.threshold,
                       cache["ref0"])

    def _bn_tangent(self, cache: Cache, d: np.ndarray) -> np.ndarray:
        bn = self.bn
        assert bn is not None
        if "bn_eval_scale" in cache:
            return d * cache["bn_eval_scale"]
        xhat, inv_std = cache["bn_xhat"], cache["bn_inv_std"]
        centred = d - d.mean(axis=(0, 1))
        return bn.gamma * inv_std * (centred - xhat * (d * xhat).mean(axis=(0, 1)))

    def surrogate_slopes(self, cache: Cache) -> np.ndarray:
        """``sigma'(u[t] - theta)`` times the refractory gate, ``[T, B, n_out]`` (DFA)."""
        if "u" not in cache:
            raise ValidationError("surrogate slopes need a forward pass with record=True")
        return surrogate_slopes(cache["u"], cache["s"], self.neuron, self.threshold,
                                cache["ref0"])


class Linear(SynapticLayer):
    """Fully connected synapses followed by LIF neurons.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features.
    neuron : LIFParams, optional
        Neuron parameters (default ``LIFParams()``); ``LIFParams.integrator()`` for a
        non-spiking readout.
    bias : bool
        Add a learnable bias current.
    batch_norm : bool
        Batch-normalise the current before the neurons.
    """

    def __init__(self, n_in: int, n_out: int, neuron: LIFParams | None = None,
                 bias: bool = False, batch_norm: bool = False) -> None:
        super().__init__(n_in, n_out, neuron, bias, batch_norm)

    @property
    def fan_in(self) -> int:
        return self.n_in

    def _inputs_2d(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        return x.reshape(-1, self.n_in), x.shape[0]

    def _grad_input(self, grad_rows: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        return grad_rows.reshape(x_shape)

    def __repr__(self) -> str:
        return f"Linear({self.n_in}, {self.n_out}, spiking={self.neuron.spiking})"


class Conv1d(SynapticLayer):
    """Convolution along time (channels are the features) followed by LIF neurons.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int
    padding : 'causal', 'valid', int or (left, right)
        Zero padding along time.  ``'causal'`` pads ``kernel_size - 1`` steps on the left.
    stride : int
        Step between output positions along time.
    neuron, bias, batch_norm :
        As for :class:`Linear`.

    The weight is stored as ``[out_channels, in_channels * kernel_size]`` (the crossbar
    matrix); :attr:`weight_4d` gives torch's ``[out, in, k]`` view.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int,
                 padding: int | tuple[int, int] | str = "causal", stride: int = 1,
                 neuron: LIFParams | None = None, bias: bool = False,
                 batch_norm: bool = False) -> None:
        check_scalar("kernel_size", kernel_size, int, low=1)
        check_scalar("stride", stride, int, low=1)
        super().__init__(in_channels, out_channels, neuron, bias, batch_norm)
        self.kernel_size = kernel_size
        self.stride = stride
        self.pad = _parse_padding(padding, kernel_size)

    @property
    def fan_in(self) -> int:
        return self.n_in * self.kernel_size

    @property
    def weight_3d(self) -> np.ndarray:
        """The weights as ``[out_channels, in_channels, kernel_size]`` (a copy)."""
        return self._require_init().get_weights().reshape(self.n_out, self.n_in,
                                                          self.kernel_size)

    def output_steps(self, steps: int) -> int:
        return (steps + sum(self.pad) - self.kernel_size) // self.stride + 1

    def _inputs_2d(self, x: np.ndarray) -> tuple[np.ndarray, int]:
        """The patches (im2col) ``[T_out * B, C_in * k]``, written in one pass by a kernel."""
        t_out = _steps_out(x.shape[0], self.kernel_size, *self.pad, self.stride)
        rows = np.empty((t_out * x.shape[1], self.fan_in), x.dtype)
        _kernels.im2col(np.ascontiguousarray(x), self.kernel_size, self.pad[0], self.stride,
                        rows)
        return rows, t_out

    def _grad_input(self, grad_rows: np.ndarray, x_shape: tuple[int, ...]) -> np.ndarray:
        out = np.empty(x_shape, grad_rows.dtype)
        _kernels.col2im(np.ascontiguousarray(grad_rows), self.kernel_size, self.pad[0],
                        self.stride, out)
        return out

    def __repr__(self) -> str:
        return (f"Conv1d({self.n_in}, {self.n_out}, kernel_size={self.kernel_size}, "
                f"padding={self.pad}, stride={self.stride})")


class _Pool(Layer):
    _average: bool

    def __init__(self, n: int, kernel_size: int, stride: int | None = None,
                 padding: int = 0) -> None:
        check_scalar("n", n, int, low=1)
        check_scalar("kernel_size", kernel_size, int, low=1)
        stride = kernel_size if stride is None else stride
        check_scalar("stride", stride, int, low=1)
        check_scalar("padding", padding, int, low=0)
        self.n_in = self.n_out = n
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding

    def output_steps(self, steps: int) -> int:
        return (steps + 2 * self.padding - self.kernel_size) // self.stride + 1

    def _divisor(self, dtype: np.dtype) -> np.floating:
        # zero padding counts in the average, as torch's count_include_pad=True
        return dtype.type(self.kernel_size if self._average else 1)

    def forward(self, x: np.ndarray, record: bool = False) -> tuple[np.ndarray, Cache]:
        t_out = _steps_out(x.shape[0], self.kernel_size, self.padding, self.padding, self.stride)
        y = np.empty((t_out,) + x.shape[1:], x.dtype)
        _kernels.pool_forward(np.ascontiguousarray(x), self.kernel_size, self.stride,
                              self.padding, self._divisor(x.dtype), y)
        return y, {"steps": x.shape[0]}

    def backward(self, cache: Cache, grad_y: np.ndarray | None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        assert grad_y is not None  # a layer above always sends its gradient to a pooling
        out = np.empty((cache["steps"],) + grad_y.shape[1:], grad_y.dtype)
        _kernels.pool_backward(np.ascontiguousarray(grad_y), self.kernel_size, self.stride,
                               self.padding, self._divisor(grad_y.dtype), out)
        return out, {}

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding})")


class AvgPool(_Pool):
    """Average pooling along time (``torch.nn.AvgPool1d`` with ``count_include_pad``)."""

    _average = True


class SumPool(_Pool):
    """Sum pooling along time: spike counts stay integers (no multi-level inputs)."""

    _average = False


class Flatten(Layer):
    """``[T, B, n] -> [1, B, n * T]``, channel-major like ``torch.flatten`` of ``[B, n, T]``."""

    def __init__(self, n: int, steps: int) -> None:
        check_scalar("n", n, int, low=1)
        check_scalar("steps", steps, int, low=1)
        self.n_in, self.steps = n, steps
        self.n_out = n * steps

    def output_steps(self, steps: int) -> int:
        if steps != self.steps:
            raise ValidationError(f"Flatten: expected {self.steps} input steps, got {steps}")
        return 1

    def forward(self, x: np.ndarray, record: bool = False) -> tuple[np.ndarray, Cache]:
        self.output_steps(x.shape[0])
        y = x.transpose(1, 2, 0).reshape(1, x.shape[1], self.n_out)
        return np.ascontiguousarray(y), {}

    def backward(self, cache: Cache, grad_y: np.ndarray | None
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        assert grad_y is not None  # a layer above always sends its gradient to a flatten
        g = grad_y.reshape(grad_y.shape[1], self.n_in, self.steps).transpose(2, 0, 1)
        return np.ascontiguousarray(g), {}

    def __repr__(self) -> str:
        return f"Flatten({self.n_in} x {self.steps} steps)"
