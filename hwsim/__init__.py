"""Energy / area / latency estimator for inference and on-device adaptation on RRAM crossbars.

Consumes plain workload records (counts per layer and phase); imports neither snn_dfa nor crossbar.

Typical use::

    arch = Architecture(layers=(LayerShape("fc1", "linear", 64, 128), ...),
                        learning=LearningUnits("dfa", n_classes=6))
    report = estimate(shape_workload(arch, time_steps=20), arch, SPIKESIM_65NM)
    report.ratio(other_report)  # e.g. DFA / BP
"""

from hwsim.arch import Architecture, LayerMapping, LayerShape, LearningUnits
from hwsim.assumptions import Assumptions
from hwsim.components import with_device_writes
from hwsim.errors import HwsimError
from hwsim.estimate import CostReport, chip_area_um2, estimate
from hwsim.schedule import Schedule, phase_latency_ns
from hwsim.spikesim import VGG9_CIFAR10, SpikeSimNetwork, spikesim
from hwsim.tech import (
    PRESETS,
    SPIKESIM_65NM,
    SPIKESIM_65NM_FP32,
    Tech,
    get_preset,
    load_tech,
    tech_from_dict,
)
from hwsim.workload import (
    LEARNING_PHASES,
    PHASES,
    Activity,
    Counts,
    LayerWorkload,
    Workload,
    counts_from_crossbar,
    shape_workload,
)

__all__ = [
    "LEARNING_PHASES",
    "PHASES",
    "PRESETS",
    "SPIKESIM_65NM",
    "SPIKESIM_65NM_FP32",
    "VGG9_CIFAR10",
    "Activity",
    "Architecture",
    "Assumptions",
    "CostReport",
    "Counts",
    "HwsimError",
    "LayerMapping",
    "LayerShape",
    "LayerWorkload",
    "LearningUnits",
    "Schedule",
    "SpikeSimNetwork",
    "Tech",
    "Workload",
    "chip_area_um2",
    "counts_from_crossbar",
    "estimate",
    "get_preset",
    "load_tech",
    "phase_latency_ns",
    "shape_workload",
    "spikesim",
    "tech_from_dict",
    "with_device_writes",
]
