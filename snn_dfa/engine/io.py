"""A network file: architecture and trained arrays of a :class:`SpikingNetwork` in one ``.npz``.

The file holds plain arrays only (read with ``allow_pickle=False``): the state of
:meth:`SpikingNetwork.state_dict` under its own keys, and ``__architecture__``, a JSON string
listing the layers (type and constructor arguments, the neuron parameters of synaptic layers),
the readout and the dtype.  It is how a network trained elsewhere reaches the pipeline, e.g. an
snntorch network converted by ``snn_dfa.deep.snntorch_bridge.to_engine`` and then run on the
crossbar chain by ``snn-dfa run`` with ``[model] file = "net.npz"``.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Layer, Linear, SumPool
from snn_dfa.engine.network import SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.errors import DataError

FORMAT_VERSION = 1


def _neuron(p: LIFParams) -> dict[str, Any]:
    return {"beta": p.beta, "threshold": p.threshold, "reset": p.reset.name.lower(),
            "reset_decays": p.reset_decays, "refractory_steps": p.refractory_steps,
            "detach_reset": p.detach_reset,
            "surrogate": {"kind": p.surrogate.kind.name.lower(), "scale": p.surrogate.scale}}


def _layer_spec(layer: Layer) -> dict[str, Any]:
    if isinstance(layer, Linear):
        return {"type": "Linear", "n_in": layer.n_in, "n_out": layer.n_out,
                "bias": layer.use_bias, "batch_norm": layer.bn is not None,
                "neuron": _neuron(layer.neuron)}
    if isinstance(layer, Conv1d):
        return {"type": "Conv1d", "in_channels": layer.n_in, "out_channels": layer.n_out,
                "kernel_size": layer.kernel_size, "padding": list(layer.pad),
                "stride": layer.stride, "bias": layer.use_bias,
                "batch_norm": layer.bn is not None, "neuron": _neuron(layer.neuron)}
    if isinstance(layer, (AvgPool, SumPool)):
        return {"type": type(layer).__name__, "n": layer.n_in, "kernel_size": layer.kernel_size,
                "stride": layer.stride, "padding": layer.padding}
    if isinstance(layer, Flatten):
        return {"type": "Flatten", "n": layer.n_in, "steps": layer.steps}
    raise DataError(f"save_network: layer {type(layer).__name__} has no file form")


def _build_layer(spec: dict[str, Any]) -> Layer:
    spec = dict(spec)
    kind = spec.pop("type")
    if "neuron" in spec:
        n = dict(spec.pop("neuron"))
        sg = n.pop("surrogate")
        spec["neuron"] = LIFParams(**n, surrogate=Surrogate(sg["kind"], sg["scale"]))
    if kind == "Conv1d":
        spec["padding"] = tuple(spec["padding"])
    table: dict[str, type[Layer]] = {"Linear": Linear, "Conv1d": Conv1d, "AvgPool": AvgPool,
                                     "SumPool": SumPool, "Flatten": Flatten}
    if kind not in table:
        raise DataError(f"network file: unknown layer type {kind!r}")
    return table[kind](**spec)  # type: ignore[call-arg]  # arguments as written by _layer_spec


def save_network(network: SpikingNetwork, path: str | os.PathLike[str]) -> None:
    """Write ``network`` (architecture, weights, biases, thresholds, batch norm) to ``path``."""
    arch = {"format": FORMAT_VERSION, "layers": [_layer_spec(layer) for layer in network.layers],
            "readout": network.readout.value, "dtype": network.dtype.name}
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    with open(tmp, "wb") as fh:
        np.savez(fh, __architecture__=np.array(json.dumps(arch)),
                 **network.state_dict())  # type: ignore[arg-type]  # numpy's stub reads **arrays as allow_pickle
    os.replace(tmp, path)


def load_network(path: str | os.PathLike[str]) -> SpikingNetwork:
    """Read a file written by :func:`save_network`; raises :class:`DataError` when it is
    missing, not such a file, or inconsistent."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"network file {path} does not exist")
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as f:
            arch = json.loads(str(f["__architecture__"]))
            state = {k: f[k] for k in f.files if k != "__architecture__"}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(f"network file {path}: not a network written by save_network ({exc})") \
            from exc
    if arch.get("format") != FORMAT_VERSION:
        raise DataError(f"network file {path}: format {arch.get('format')!r}, expected "
                        f"{FORMAT_VERSION}")
    try:
        net = SpikingNetwork([_build_layer(s) for s in arch["layers"]], readout=arch["readout"],
                             seed=0, dtype=arch["dtype"])
        net.load_state_dict(state)
    except (TypeError, KeyError, ValueError) as exc:
        raise DataError(f"network file {path}: inconsistent ({exc})") from exc
    return net
