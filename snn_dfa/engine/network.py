"""A spiking network: a sequence of layers with a readout, forward simulation and BPTT.

Inputs are time-major ``x [T, B, n_in]`` (float32 by default).  The last layer is a
synaptic layer whose neurons give the readout ``z [B, n_classes]``:

* ``Readout.SPIKE_COUNT``: spikes summed over time,
* ``Readout.MEAN_MEMBRANE``: membrane averaged over time,
* ``Readout.LAST_MEMBRANE``: membrane at the last step.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snn_dfa._validation import SeedLike, check_array, check_random_state, coerce_enum
from snn_dfa.engine.layers import Cache, Layer, SynapticLayer
from snn_dfa.errors import ValidationError


class Readout(enum.Enum):
    """How the last layer's activity becomes class scores."""

    SPIKE_COUNT = "spike_count"
    MEAN_MEMBRANE = "mean_membrane"
    LAST_MEMBRANE = "last_membrane"

    @classmethod
    def coerce(cls, value: Readout | str) -> Readout:
        return coerce_enum(cls, "readout", value)


@dataclass
class Trace:
    """What a forward pass recorded.

    Attributes
    ----------
    caches : list of dict
        Per layer: the input ``x`` and, for synaptic layers recorded, membranes ``u`` and
        spikes ``s`` (each ``[T_l, B, n_l]``).
    output : array [B, n_classes]
        The readout ``z``.
    """

    caches: list[Cache]
    output: np.ndarray
    recorded: bool = field(default=False)

    def spikes(self, layer: int) -> np.ndarray:
        """Spikes ``[T_l, B, n_l]`` of synaptic layer ``layer`` (record=True only)."""
        return self._get(layer, "s")

    def membranes(self, layer: int) -> np.ndarray:
        """Membranes ``[T_l, B, n_l]`` (before reset) of synaptic layer ``layer``."""
        return self._get(layer, "u")

    def _get(self, layer: int, key: str) -> np.ndarray:
        cache = self.caches[layer]
        if key not in cache:
            raise ValidationError(
                f"layer {layer}: nothing recorded under {key!r} (forward with record=True, "
                "and only synaptic layers have neurons)"
            )
        return cache[key]


class SpikingNetwork:
    """A feed-forward spiking network.

    Parameters
    ----------
    layers : list of Layer
        ``layers[i].n_out`` must equal ``layers[i + 1].n_in``; the last must be synaptic.
    readout : Readout or str
    seed : int, Generator or None
        Drives weight initialisation.
    dtype : numpy dtype
        State and weight dtype (float32 by default; float64 for gradient checks).
    """

    def __init__(self, layers: list[Layer], readout: Readout | str = Readout.MEAN_MEMBRANE,
                 seed: SeedLike = None, dtype: Any = np.float32) -> None:
        if not layers or not all(isinstance(layer, Layer) for layer in layers):
            raise ValidationError(f"layers={layers!r}: expected a non-empty list of Layer")
        for i, (a, b) in enumerate(zip(layers, layers[1:])):
            if a.n_out != b.n_in:
                raise ValidationError(
                    f"layers[{i}] has {a.n_out} outputs but layers[{i + 1}] expects {b.n_in}"
                )
        if not isinstance(layers[-1], SynapticLayer):
            raise ValidationError(
                f"the last layer must be Linear or Conv1d (it gives the readout), got "
                f"{type(layers[-1]).__name__}"
            )
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise ValidationError(f"dtype={dtype!r}: expected float32 or float64")
        self.layers = list(layers)
        self.readout = Readout.coerce(readout)
        rng = check_random_state(seed)
        for layer in self.layers:
            layer.init(rng, self.dtype)

    @property
    def n_in(self) -> int:
        return self.layers[0].n_in

    @property
    def n_classes(self) -> int:
        return self.layers[-1].n_out

    @property
    def synaptic_layers(self) -> list[int]:
        """Indices of the layers with weights and neurons."""
        return [i for i, layer in enumerate(self.layers) if isinstance(layer, SynapticLayer)]

    def output_steps(self, steps: int) -> list[int]:
        """Time steps at each layer's output for an input of ``steps`` steps."""
        out = []
        for layer in self.layers:
            steps = layer.output_steps(steps)
            if steps < 1:
                raise ValidationError(f"{layer!r} leaves no time steps")
            out.append(steps)
        return out

    def train(self, mode: bool = True) -> SpikingNetwork:
        """Batch norm uses batch statistics in training mode, running ones otherwise."""
        for layer in self.layers:
            if isinstance(layer, SynapticLayer):
                layer.training = mode
        return self

    def check_input(self, x: Any) -> np.ndarray:
        """Validate and coerce an input sequence to ``[T, B, n_in]`` of the network dtype."""
        arr = check_array("x", x, ndim=3, dtype=self.dtype)
        if arr.shape[2] != self.n_in:
            raise ValidationError(
                f"x: expected {self.n_in} input features on the last axis of [T, B, n_in], "
                f"got shape {arr.shape}"
            )
        if arr.shape[0] < 1 or arr.shape[1] < 1:
            raise ValidationError(f"x: expected at least one step and one sample, got {arr.shape}")
        self.output_steps(arr.shape[0])
        return arr

    def forward(self, x: Any, record: bool = False) -> tuple[np.ndarray, Trace]:
        """Simulate ``x [T, B, n_in]``; return the readout ``z [B, n_classes]`` and a trace.

        With ``record=True`` every synaptic layer keeps its membranes and spikes (what
        BPTT and DFA need); otherwise only the last layer does, for the readout.
        """
        h = self.check_input(x)
        caches = []
        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            h, cache = layer.forward(h, record=record or i == last)
            caches.append(cache)
        z = self._readout(caches[-1])
        return z, Trace(caches, z, record)

    def _readout(self, cache: Cache) -> np.ndarray:
        if self.readout is Readout.SPIKE_COUNT:
            return cache["s"].sum(axis=0)
        if self.readout is Readout.MEAN_MEMBRANE:
            return cache["u"].mean(axis=0)
        return cache["u"][-1].copy()

    def readout_gradient(self, trace: Trace, grad_z: np.ndarray
                         ) -> tuple[np.ndarray | None, np.ndarray | None]:
        """Spread ``dL/dz [B, n_classes]`` over the last layer's time steps.

        Returns ``(dL/ds, dL/du)``, each ``[T_L, B, n_classes]`` or None.
        """
        u = trace.caches[-1]["u"]
        steps = u.shape[0]
        g = np.ascontiguousarray(grad_z, dtype=self.dtype)
        if self.readout is Readout.SPIKE_COUNT:
            return np.broadcast_to(g, u.shape).copy(), None
        if self.readout is Readout.MEAN_MEMBRANE:
            return None, np.broadcast_to(g / steps, u.shape).copy()
        grad_u = np.zeros_like(u)
        grad_u[-1] = g
        return None, grad_u

    def backward(self, trace: Trace, grad_z: np.ndarray) -> list[dict[str, np.ndarray]]:
        """Exact BPTT (with the surrogate): parameter gradients per layer.

        ``trace`` must come from ``forward(..., record=True)``.
        """
        if not trace.recorded:
            raise ValidationError("backward needs a trace from forward(x, record=True)")
        grad_z = check_array("grad_z", grad_z, shape=trace.output.shape, dtype=self.dtype)
        grad_s, grad_u = self.readout_gradient(trace, grad_z)
        grads: list[dict[str, np.ndarray]] = [{} for _ in self.layers]
        last = self.layers[-1]
        assert isinstance(last, SynapticLayer)
        first = self.synaptic_layers[0]
        g, grads[-1] = last.backward(trace.caches[-1], grad_s, grad_u,
                                     input_grad=len(self.layers) > 1)
        for i in range(len(self.layers) - 2, -1, -1):
            layer = self.layers[i]
            if isinstance(layer, SynapticLayer):  # nothing below the first synapses learns
                g, grads[i] = layer.backward(trace.caches[i], g, input_grad=i > first)
            else:
                g, grads[i] = layer.backward(trace.caches[i], g)
            if g is None:
                break
        return grads

    def jvp(self, trace: Trace, perturbations: dict[int, np.ndarray]) -> np.ndarray:
        """Forward-mode directional derivative of the readout (surrogate derivatives).

        ``perturbations[i] [B, n_i]`` perturbs the spikes of synaptic layer ``i``: every
        spike the neuron emits carries ``xi`` as its tangent (``ds_i[t] += xi * s_i[t]``),
        on top of the tangent arriving from below.  Returns ``dz [B, n_classes]``, the sum
        over the perturbed layers of (readout Jacobian) x (perturbation), as one pass.
        """
        if not trace.recorded:
            raise ValidationError("jvp needs a trace from forward(x, record=True)")
        if not perturbations:
            raise ValidationError("perturbations: expected at least one perturbed layer")
        first = min(perturbations)
        tangent: np.ndarray | None = None
        du = None
        for i, layer in enumerate(self.layers):
            if i < first:
                continue
            cache = trace.caches[i]
            if isinstance(layer, SynapticLayer):
                if tangent is None:
                    s = cache["s"]
                    du, tangent = np.zeros_like(s), np.zeros_like(s)
                else:
                    du, tangent = layer.tangent(cache, tangent)
                if i in perturbations:
                    xi = check_array(f"perturbations[{i}]", perturbations[i],
                                     shape=(cache["s"].shape[1], layer.n_out), dtype=self.dtype)
                    tangent = tangent + xi[None] * cache["s"]
            else:
                if tangent is None:
                    raise ValidationError(f"perturbations: layer {i} is not synaptic")
                tangent = layer.forward(tangent)[0]
        assert du is not None and tangent is not None
        if self.readout is Readout.SPIKE_COUNT:
            return tangent.sum(axis=0)
        if self.readout is Readout.MEAN_MEMBRANE:
            return du.mean(axis=0)
        return du[-1].copy()

    def apply_updates(self, updates: list[dict[str, np.ndarray]]) -> None:
        """Add per-layer parameter updates (the optimiser's output) to the network."""
        if len(updates) != len(self.layers):
            raise ValidationError(
                f"updates: expected one dict per layer ({len(self.layers)}), got {len(updates)}"
            )
        for layer, upd in zip(self.layers, updates):
            if upd:
                if not isinstance(layer, SynapticLayer):
                    raise ValidationError(f"{layer!r} has no parameters to update")
                layer.apply_updates(upd)

    def fold_batch_norm(self) -> None:
        """Fold every batch norm into weights and thresholds (deployment form)."""
        for layer in self.layers:
            if isinstance(layer, SynapticLayer):
                layer.fold_batch_norm()

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every array that defines the trained network (weights, biases, thresholds, batch
        norm parameters and running statistics), keyed ``"<layer>.<name>"``."""
        state = {}
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, SynapticLayer):
                continue
            state[f"{i}.weight"] = layer.parameters["weight"]
            state[f"{i}.threshold"] = layer.threshold.copy()
            if layer.bias is not None:
                state[f"{i}.bias"] = layer.bias.copy()
            if layer.bn is not None:
                for name in ("gamma", "beta", "running_mean", "running_var"):
                    state[f"{i}.bn_{name}"] = getattr(layer.bn, name).copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state_dict` output into a network of the same architecture."""
        expected = self.state_dict()
        if set(state) != set(expected):
            missing, extra = set(expected) - set(state), set(state) - set(expected)
            raise ValidationError(
                f"state: does not fit this network (missing {sorted(missing)}, "
                f"unexpected {sorted(extra)})"
            )
        for key, value in state.items():
            if np.shape(value) != expected[key].shape:
                raise ValidationError(
                    f"state[{key!r}]: expected shape {expected[key].shape}, got {np.shape(value)}"
                )
        for i, layer in enumerate(self.layers):
            if not isinstance(layer, SynapticLayer):
                continue
            syn = layer.synapses
            assert syn is not None
            syn.set_weights(np.asarray(state[f"{i}.weight"], dtype=self.dtype))
            layer.threshold = np.array(state[f"{i}.threshold"], dtype=self.dtype)
            if layer.bias is not None:
                layer.bias = np.array(state[f"{i}.bias"], dtype=self.dtype)
            if layer.bn is not None:
                for name in ("gamma", "beta", "running_mean", "running_var"):
                    setattr(layer.bn, name, np.array(state[f"{i}.bn_{name}"], dtype=self.dtype))

    def get_params(self) -> list[dict[str, np.ndarray]]:
        """Copies of every layer's parameters (weights as ``[n_out, fan_in]``)."""
        return [{k: np.array(v, copy=True) for k, v in layer.parameters.items()}
                for layer in self.layers]

    def __repr__(self) -> str:
        inner = ",\n  ".join(map(repr, self.layers))
        return f"SpikingNetwork(\n  {inner},\n  readout={self.readout.value!r})"
