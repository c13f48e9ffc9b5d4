"""Optical DFA on a photonic co-processor against electronic BP and DFA: time and energy per step.

An analytic model [assumption: ours, after the throughput arguments of Launay et al. 2020,
arXiv 2012.06373, and Wang et al. 2024, arXiv 2409.12965] of one training step of a
fully connected network with widths ``n_0 -> n_1 -> ... -> n_L`` (``n_L = c`` outputs) at batch
``M``, with every constant in a frozen preset naming its source:

* **electronic BP** (on :class:`ElectronicTech`, a GPU): forward ``2 M Σ n_{l-1} n_l`` FLOPs,
  weight gradients the same, and the error's way down ``2 M Σ_{l≥2} n_{l-1} n_l``;
* **electronic DFA**: forward, weight gradients, and the projection ``2 M c Σ_{hidden} n_l``
  instead of the way down (parallel over layers, but the FLOPs are the same whatever the order);
* **optical DFA**: forward and weight gradients on the GPU; the projection on the OPU
  (:class:`OpticalTech`): every example's ternarised error is two binary inputs, each taking
  ``frames_per_binary`` camera frames (2 in ``snn_dfa.rules.optical``'s holographic scheme),
  tiled when ``c`` exceeds the mirrors or ``Σ n_l`` the pixels; plus the transfer of the camera
  frames (``camera_bits`` per pixel) and inputs over the host link.  The GPU waits for the
  projection (the updates need it): times add.

Energy: the GPU's ``power_W`` over its busy time (FLOPs at ``utilisation`` of peak), the OPU's
``power_W`` over its frames [assumption: idle power of the waiting GPU and host not counted].
This is a model of *when* optics pays, not a measurement: the OPU does a fixed
``max_inputs x max_outputs`` projection per frame at a fixed frame rate, so it wins only when
the per-example projection ``c Σ n_l`` is large (wide outputs, e.g. a language model's
vocabulary, and many wide layers), as Wang et al. (2024) argue for very large models.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hwsim._validate import check_int, check_real
from hwsim.errors import HwsimError


@dataclass(frozen=True)
class OpticalTech:
    """A photonic random-projection co-processor (LightOn OPU class)."""

    name: str = "lighton-opu"
    frame_rate_Hz: float = 750.0
    power_W: float = 30.0
    max_inputs: int = 1_000_000
    max_outputs: int = 1_000_000
    frames_per_binary: int = 2
    camera_bits: int = 8
    host_link_GBps: float = 12.0
    sources: dict[str, str] = field(default_factory=lambda: {
        "frame_rate_Hz": "[assumption, derived] 1500 TeraOPS (Wang et al. 2024; Launay et al. "
                         "2020) for a 10^6 x 10^6 projection = 2e12 operations per frame",
        "power_W": "Wang et al. 2024, arXiv 2409.12965: 1500 TeraOPS under 30 W",
        "max_inputs": "Launay et al. 2020 / Wang et al. 2024: about 10^6 x 10^6 (summary)",
        "max_outputs": "Launay et al. 2020 / Wang et al. 2024: about 10^6 x 10^6 (summary)",
        "frames_per_binary": "snn_dfa.rules.optical: holographic linear mode, F1 and F2 per "
                             "binary input (LightOn documents its linear mode as ~5x slower "
                             "than the intensity mode; set 5 for that)",
        "camera_bits": "lightonml returns uint8 intensities",
        "host_link_GBps": "[assumption] PCIe 3.0 x16, 15.75 GB/s raw, ~12 GB/s effective",
    })

    def __post_init__(self) -> None:
        for name in ("frame_rate_Hz", "power_W", "host_link_GBps"):
            check_real(name, getattr(self, name), strict=True)
        for name in ("max_inputs", "max_outputs", "frames_per_binary", "camera_bits"):
            check_int(name, getattr(self, name))


@dataclass(frozen=True)
class ElectronicTech:
    """A GPU doing the electronic parts (and the whole of electronic BP / DFA)."""

    name: str = "v100-fp32"
    peak_TFLOPS: float = 15.7
    utilisation: float = 0.5
    power_W: float = 300.0
    sources: dict[str, str] = field(default_factory=lambda: {
        "peak_TFLOPS": "NVIDIA Tesla V100 SXM2 datasheet: 15.7 TFLOPS fp32",
        "utilisation": "[assumption] half of peak on dense layers",
        "power_W": "NVIDIA Tesla V100 SXM2 datasheet: 300 W board power",
    })

    def __post_init__(self) -> None:
        check_real("peak_TFLOPS", self.peak_TFLOPS, strict=True)
        check_real("power_W", self.power_W, strict=True)
        if not 0 < self.utilisation <= 1:
            raise HwsimError(f"utilisation={self.utilisation!r}: expected a value in (0, 1]")

    @property
    def flops_per_s(self) -> float:
        return self.peak_TFLOPS * 1e12 * self.utilisation


LIGHTON_OPU = OpticalTech()
V100 = ElectronicTech()


@dataclass(frozen=True)
class StepCost:
    """Time (s) and energy (J) of one training step, with the parts that make them up."""

    method: str
    time_s: float
    energy_J: float
    parts_s: dict[str, float]


def _widths(widths: Sequence[int]) -> list[int]:
    w = [check_int(f"widths[{i}]", n) for i, n in enumerate(widths)]
    if len(w) < 3:
        raise HwsimError(f"widths={list(widths)!r}: expected input, at least one hidden layer "
                         "and the output")
    return w


def step_costs(widths: Sequence[int], batch: int, optical: OpticalTech = LIGHTON_OPU,
               gpu: ElectronicTech = V100) -> dict[str, StepCost]:
    """Time and energy of one step of BP, DFA and optical DFA (see the module docstring).

    Parameters
    ----------
    widths : [n_0, n_1, ..., n_L]
        Input, hidden and output widths (``n_L = c``).
    batch : int
        Examples per step ``M``.
    """
    w = _widths(widths)
    m = check_int("batch", batch)
    c, hidden = w[-1], w[1:-1]
    pairs = list(itertools.pairwise(w))
    forward = 2.0 * m * sum(a * b for a, b in pairs)
    wgrad = forward
    down = 2.0 * m * sum(a * b for a, b in pairs[1:])
    projection = 2.0 * m * c * sum(hidden)
    rate = gpu.flops_per_s

    def electronic(method: str, flops: dict[str, float]) -> StepCost:
        parts = {k: v / rate for k, v in flops.items()}
        t = sum(parts.values())
        return StepCost(method, t, t * gpu.power_W, parts)

    bp = electronic("bp", {"forward": forward, "weight_gradients": wgrad, "backward_chain": down})
    dfa = electronic("dfa", {"forward": forward, "weight_gradients": wgrad,
                             "projection": projection})
    tiles = math.ceil(c / optical.max_inputs) * math.ceil(sum(hidden) / optical.max_outputs)
    frames = m * 2 * optical.frames_per_binary * tiles
    t_opu = frames / optical.frame_rate_Hz
    link_bytes = frames * min(sum(hidden), optical.max_outputs) * optical.camera_bits / 8 \
        + m * 2 * c / 8
    t_link = link_bytes / (optical.host_link_GBps * 1e9)
    t_gpu = (forward + wgrad) / rate
    opt = StepCost("optical_dfa", t_gpu + t_opu + t_link,
                   t_gpu * gpu.power_W + t_opu * optical.power_W,
                   {"forward": forward / rate, "weight_gradients": wgrad / rate,
                    "opu_frames": t_opu, "transfer": t_link})
    return {"bp": bp, "dfa": dfa, "optical_dfa": opt}


def crossover_width(depth: int, n_classes: int, n_in: int, batch: int,
                    against: str = "dfa", optical: OpticalTech = LIGHTON_OPU,
                    gpu: ElectronicTech = V100, max_width: int = 1 << 24) -> int | None:
    """Smallest hidden width (all ``depth`` hidden layers equal) at which optical DFA's step is
    faster than ``against`` ("bp" or "dfa"); None if not reached up to ``max_width``.

    Widths are scanned in powers of two for the first faster one, then bisected in the last
    interval; the OPU time steps up each time ``depth * width`` passes a multiple of
    ``max_outputs`` (tiling), so a later crossing back is possible and not reported.
    """
    if against not in ("bp", "dfa"):
        raise HwsimError(f"against={against!r}: expected 'bp' or 'dfa'")
    check_int("depth", depth)

    def faster(n: int) -> bool:
        costs = step_costs([n_in, *[n] * depth, n_classes], batch, optical, gpu)
        return costs["optical_dfa"].time_s < costs[against].time_s

    if faster(1):
        return 1
    hi = 2
    while hi <= max_width and not faster(hi):
        hi *= 2
    if hi > max_width:
        return None
    lo = hi // 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if faster(mid) else (mid, hi)
    return hi
