"""Network builders for the tasks snn-dfa ships with."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from snn_dfa._validation import SeedLike, check_choice, check_keys, check_scalar
from snn_dfa.engine.layers import AvgPool, Conv1d, Flatten, Layer, Linear, SumPool
from snn_dfa.engine.network import Readout, SpikingNetwork
from snn_dfa.engine.neurons import LIFParams, Surrogate
from snn_dfa.errors import ValidationError


def sfcn(
    n_channels: int = 9,
    n_classes: int = 6,
    steps: int = 128,
    *,
    channels: Sequence[int] = (32, 64, 128),
    kernel_size: int = 8,
    padding: int | str = 4,
    pool: str = "avg",
    batch_norm: bool = True,
    beta: float = 0.75,
    threshold: float = 0.5,
    surrogate: str = "triangle",
    surrogate_scale: float | None = None,
    seed: SeedLike = None,
    dtype: Any = np.float32,
) -> SpikingNetwork:
    """The spiking fully-convolutional HAR network (SFCN) of SNN_HAR (Li et al. 2023).

    ``len(channels)`` blocks of Conv1d along time (no bias) -> batch norm -> LIF (soft
    reset) -> pooling (kernel 2, stride 2, padding 1), then flatten and a non-spiking
    linear readout.  The defaults are SNN_HAR's UCI-HAR settings (Li et al. 2023,
    arXiv 2212.02233, and its code Intelligent-Computing-Lab-Yale/SNN_HAR:
    threshold 0.5, decay 0.75, triangle surrogate of width 1, padding 4), which give
    128 -> 129 -> 65 -> 66 -> 34 -> 35 -> 18 steps.  ``padding="causal"`` and
    ``pool="sum"`` give a streaming, spike-count-preserving variant for hardware.
    SNN_HAR's dropout (0.35 after block 1) is left out: it regularises training only.
    """
    check_scalar("n_channels", n_channels, int, low=1)
    check_scalar("n_classes", n_classes, int, low=2)
    check_scalar("steps", steps, int, low=1)
    check_choice("pool", pool, ["avg", "sum", "none"])
    neuron = LIFParams(beta=beta, threshold=threshold,
                       surrogate=Surrogate(surrogate, surrogate_scale))  # type: ignore[arg-type]  # __post_init__ takes a name
    layers: list[Layer] = []
    c_in, t = n_channels, steps
    for c_out in channels:
        check_scalar("channels", c_out, int, low=1)
        conv = Conv1d(c_in, c_out, kernel_size, padding=padding, neuron=neuron,
                      batch_norm=batch_norm)
        layers.append(conv)
        t = conv.output_steps(t)
        if pool != "none":
            p = (AvgPool if pool == "avg" else SumPool)(c_out, 2, 2, padding=1)
            layers.append(p)
            t = p.output_steps(t)
        if t < 1:
            raise ValidationError(f"steps={steps}: too short for {len(channels)} blocks")
        c_in = c_out
    layers.append(Flatten(c_in, t))
    layers.append(Linear(c_in * t, n_classes, neuron=LIFParams.integrator(), bias=True))
    return SpikingNetwork(layers, readout=Readout.LAST_MEMBRANE, seed=seed, dtype=dtype)


def mlp(
    n_in: int,
    n_classes: int,
    steps: int = 1,
    *,
    hidden: Sequence[int] = (128,),
    beta: float = 0.9,
    threshold: float = 1.0,
    surrogate: str = "fast_sigmoid",
    surrogate_scale: float | None = None,
    readout: str = "spike_count",
    seed: SeedLike = None,
    dtype: Any = np.float32,
) -> SpikingNetwork:
    """A fully connected spiking network ``n_in -> hidden... -> n_classes`` (all LIF)."""
    check_scalar("n_in", n_in, int, low=1)
    neuron = LIFParams(beta=beta, threshold=threshold,
                       surrogate=Surrogate(surrogate, surrogate_scale))  # type: ignore[arg-type]  # __post_init__ takes a name
    sizes = [n_in, *hidden, n_classes]
    last = Readout.coerce(readout)
    layers: list[Layer] = [Linear(a, b, neuron=neuron) for a, b in zip(sizes[:-2], sizes[1:-1])]
    out_neuron = neuron if last is Readout.SPIKE_COUNT else LIFParams.integrator(beta)
    layers.append(Linear(sizes[-2], sizes[-1], neuron=out_neuron))
    return SpikingNetwork(layers, readout=last, seed=seed, dtype=dtype)


MODELS: dict[str, Callable[..., SpikingNetwork]] = {"sfcn": sfcn, "mlp": mlp}


def build_model(name: str, n_in: int, n_classes: int, steps: int, params: dict[str, Any] | None,
                seed: SeedLike, dtype: Any = np.float32) -> SpikingNetwork:
    """Build a registered model by name, rejecting unknown parameters with a hint."""
    check_choice("model", name, sorted(MODELS))
    params = dict(params or {})
    import inspect

    allowed = [p for p in inspect.signature(MODELS[name]).parameters
               if p not in ("n_channels", "n_in", "n_classes", "steps", "seed", "dtype")]
    check_keys(f"model_params for {name!r}", params, allowed)
    return MODELS[name](n_in, n_classes, steps, seed=seed, dtype=dtype, **params)
