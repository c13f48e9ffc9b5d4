"""Architecture description: layer -> arrays / tiles mapping, and which learning units exist.

Mapping (weight-stationary, every layer has its own arrays, as in SpikeSim and ISAAC):

- a linear layer needs ``rows = n_in`` and a convolution ``rows = n_in * kernel_elems`` (im2col);
  it needs ``cols = n_out * columns_per_weight`` (2 for differential conductance pairs);
- ``row_blocks = ceil(rows / array_rows)``, ``col_blocks = ceil(cols / array_cols)``,
  ``arrays = row_blocks * col_blocks``;
- the two columns of a differential pair are subtracted in the analog domain before the ADC
  (as ``crossbar`` counts conversions), so an array has ``array_cols / columns_per_weight``
  sense lines and ``ceil(array_cols / (columns_per_weight * cols_per_adc))`` ADCs;
- ``tiles = ceil(sum of arrays / arrays_per_tile)`` over all layers (layers share tiles).

Learning units (:class:`LearningUnits`) add, depending on the rule: DFA/SFDFA feedback-matrix
storage (SRAM or crossbars of their own) and per-layer traces; BP transposed-read periphery
(row-side ADCs and column drivers) and BPTT storage; all rules digital lanes and write drivers.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from hwsim._validate import check_choice, check_int
from hwsim.errors import HwsimError

LAYER_KINDS = ("linear", "conv")
RULES = ("none", "dfa", "sfdfa", "bp")
FEEDBACK_STORAGE = ("sram", "crossbar")
UPDATE_MODES = ("digital", "mixed_precision", "stochastic_pulse")


@dataclass(frozen=True)
class LayerShape:
    """Shape of one layer.

    Parameters
    ----------
    name : str
    kind : {"linear", "conv"}
    n_in : int
        Input features (linear) or input channels (conv).
    n_out : int
        Output features (linear) or output channels (conv).
    kernel_elems : int
        Kernel elements (``k`` for Conv1d, ``k*k`` for Conv2d); 1 for linear layers.
    out_positions : int
        Output positions per time step (``L_out`` or ``H_out*W_out``); 1 for linear layers.
    input_bits : int, optional
        Bits of the layer's multi-level inference inputs (e.g. 2 for spikes summed or averaged
        over a pooling window of 2 or 3); None: ``Architecture.input_bits``.
    """

    name: str
    kind: str
    n_in: int
    n_out: int
    kernel_elems: int = 1
    out_positions: int = 1
    input_bits: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise HwsimError(f"LayerShape.name={self.name!r}: expected a non-empty string")
        check_choice(f"LayerShape({self.name}).kind", self.kind, LAYER_KINDS)
        for attr in ("n_in", "n_out", "kernel_elems", "out_positions"):
            check_int(f"LayerShape({self.name}).{attr}", getattr(self, attr))
        if self.input_bits is not None:
            check_int(f"LayerShape({self.name}).input_bits", self.input_bits)
        if self.kind == "linear" and (self.kernel_elems != 1 or self.out_positions != 1):
            raise HwsimError(
                f"LayerShape({self.name}): kind='linear' with kernel_elems={self.kernel_elems}, "
                f"out_positions={self.out_positions}; expected 1 and 1 (use kind='conv')"
            )

    @property
    def rows(self) -> int:
        """Crossbar rows the layer needs: ``n_in * kernel_elems``."""
        return self.n_in * self.kernel_elems

    @property
    def neurons(self) -> int:
        """Neurons per time step: ``n_out * out_positions``."""
        return self.n_out * self.out_positions


@dataclass(frozen=True)
class LearningUnits:
    """Which on-chip learning hardware exists.

    Parameters
    ----------
    rule : {"none", "dfa", "sfdfa", "bp"}
    n_classes : int
        Output classes ``C`` (the error vector's length).
    feedback_storage : {"sram", "crossbar"}
        Where DFA/SFDFA keep ``B_l`` (``n_l x C``); ignored for BP.
    feedback_bits, trace_bits, delta_bits : int
        Precision of B entries, of stored surrogate slopes, and of errors driven into the
        arrays (bit-serial transposed reads take ``delta_bits`` passes).
    lanes_per_layer : int
        Multiply-add lanes of each layer's digital learning unit.
    update_mode : {"digital", "mixed_precision", "stochastic_pulse"}
        How weights change: a digital gradient per window turned into programming pulses;
        a persistent digital accumulator (``accumulator_bits`` per weight) with sparse
        transfers; or in-array stochastic pulse coincidence (no digital gradient).
    accumulator_bits : int
        Bits of one gradient accumulator (a row buffer, or the persistent accumulator)
        [assumption: 16; Nandakumar et al. 2020 keep the accumulator in high precision
        without fixing a width].
    """

    rule: str = "none"
    n_classes: int = 1
    feedback_storage: str = "sram"
    feedback_bits: int = 8
    trace_bits: int = 8
    delta_bits: int = 8
    lanes_per_layer: int = 8
    update_mode: str = "digital"
    accumulator_bits: int = 16

    def __post_init__(self) -> None:
        check_choice("LearningUnits.rule", self.rule, RULES)
        check_choice("LearningUnits.update_mode", self.update_mode, UPDATE_MODES)
        check_choice("LearningUnits.feedback_storage", self.feedback_storage, FEEDBACK_STORAGE)
        for attr in ("n_classes", "feedback_bits", "trace_bits", "delta_bits", "lanes_per_layer",
                     "accumulator_bits"):
            check_int(f"LearningUnits.{attr}", getattr(self, attr))

    @property
    def digital_gradient(self) -> bool:
        """True if the weight gradient is formed digitally (False: stochastic pulse
        coincidence forms the outer product in the array)."""
        return self.update_mode != "stochastic_pulse"

    @property
    def feedback_alignment(self) -> bool:
        """True for DFA and SFDFA (layer-parallel error delivery through ``B_l``)."""
        return self.rule in ("dfa", "sfdfa")


@dataclass(frozen=True)
class LayerMapping:
    """Arrays one layer occupies."""

    row_blocks: int
    col_blocks: int
    feedback_row_blocks: int = 0
    """Row blocks of this layer's ``B_l`` crossbars (DFA/SFDFA with crossbar storage; else 0)."""
    feedback_col_blocks: int = 0

    @property
    def arrays(self) -> int:
        """Weight arrays: ``row_blocks * col_blocks``."""
        return self.row_blocks * self.col_blocks

    @property
    def feedback_arrays(self) -> int:
        """Arrays holding ``B_l``: ``feedback_row_blocks * feedback_col_blocks``."""
        return self.feedback_row_blocks * self.feedback_col_blocks


@dataclass(frozen=True)
class Architecture:
    """A chip: layer shapes, crossbar geometry, periphery and learning units.

    Parameters
    ----------
    layers : sequence of LayerShape
    array_rows, array_cols : int
        Crossbar size (SpikeSim: 64 x 64).
    adc_bits : int
    cols_per_adc : int
        Sense lines multiplexed onto one ADC (SpikeSim: 8).
    columns_per_weight : int
        Columns per weight (2: differential pair for signed weights [assumption]).
    arrays_per_tile : int
        Arrays sharing a tile's buffer, H-tree port, shift-add units and neuron units.
    neurons_per_tile : int
        LIF update units per tile.
    membrane_bits : int
        Bits of one stored membrane potential.
    tile_buffer_bits : int
        Input/output SRAM buffer per tile (SpikeSim: 64 x 128).
    spike_packet_bits : int
        Bits one spike occupies on the H-tree (address event).
    input_bits : int
        Precision of multi-level forward inputs (direct-encoded sensor values, SFDFA
        tangents): bit-serial reads take ``input_bits`` passes [assumption: 8].
    learning : LearningUnits
    """

    layers: tuple[LayerShape, ...]
    array_rows: int = 64
    array_cols: int = 64
    adc_bits: int = 4
    cols_per_adc: int = 8
    columns_per_weight: int = 2
    arrays_per_tile: int = 8
    neurons_per_tile: int = 8
    membrane_bits: int = 8
    tile_buffer_bits: int = 64 * 128
    spike_packet_bits: int = 16
    input_bits: int = 8
    learning: LearningUnits = field(default_factory=LearningUnits)

    def __post_init__(self) -> None:
        if isinstance(self.layers, LayerShape) or not isinstance(self.layers, Sequence):
            raise HwsimError(
                f"Architecture.layers={self.layers!r}: expected a sequence of LayerShape"
            )
        layers = tuple(self.layers)
        if not layers or not all(isinstance(layer, LayerShape) for layer in layers):
            raise HwsimError(
                f"Architecture.layers={self.layers!r}: expected a non-empty sequence of LayerShape"
            )
        names = [layer.name for layer in layers]
        if len(set(names)) != len(names):
            raise HwsimError(f"Architecture.layers names {names}: expected unique names")
        object.__setattr__(self, "layers", layers)
        for attr in (
            "array_rows",
            "array_cols",
            "adc_bits",
            "cols_per_adc",
            "columns_per_weight",
            "arrays_per_tile",
            "neurons_per_tile",
            "membrane_bits",
            "tile_buffer_bits",
            "spike_packet_bits",
            "input_bits",
        ):
            check_int(f"Architecture.{attr}", getattr(self, attr))
        if not isinstance(self.learning, LearningUnits):
            raise HwsimError(f"Architecture.learning={self.learning!r}: expected LearningUnits")

    def with_learning(self, learning: LearningUnits) -> Architecture:
        """The same chip with other learning units (e.g. to compare rules)."""
        return dataclasses.replace(self, learning=learning)

    def layer(self, name: str) -> LayerShape:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        names = [layer.name for layer in self.layers]
        raise HwsimError(f"layer {name!r}: not in the architecture; expected one of {names}")

    def inference_input_bits(self, layer: LayerShape) -> int:
        """Bit-serial passes of a multi-level inference input of ``layer``."""
        return self.input_bits if layer.input_bits is None else layer.input_bits

    def mapping(self, layer: LayerShape) -> LayerMapping:
        """Arrays that ``layer`` occupies (see the module docstring)."""
        col_blocks = math.ceil(layer.n_out * self.columns_per_weight / self.array_cols)
        is_hidden = layer.name != self.layers[-1].name
        lu = self.learning
        if lu.feedback_alignment and lu.feedback_storage == "crossbar" and is_hidden:
            # B_l^T (C x n_l) is stored like a weight matrix: the C error values drive the rows
            return LayerMapping(
                row_blocks=math.ceil(layer.rows / self.array_rows),
                col_blocks=col_blocks,
                feedback_row_blocks=math.ceil(lu.n_classes / self.array_rows),
                feedback_col_blocks=col_blocks,
            )
        return LayerMapping(
            row_blocks=math.ceil(layer.rows / self.array_rows), col_blocks=col_blocks
        )

    @property
    def adcs_per_array(self) -> int:
        """ADCs on the column side: ``ceil(array_cols / (columns_per_weight * cols_per_adc))``.

        A differential pair is one sense line (analog subtraction before the ADC).
        """
        return math.ceil(self.array_cols / (self.columns_per_weight * self.cols_per_adc))

    @property
    def weight_arrays(self) -> int:
        """Weight arrays over all layers."""
        return sum(self.mapping(layer).arrays for layer in self.layers)

    @property
    def feedback_arrays(self) -> int:
        """Feedback-matrix arrays over all layers (0 unless B is held in crossbars)."""
        return sum(self.mapping(layer).feedback_arrays for layer in self.layers)

    @property
    def tiles(self) -> int:
        """Tiles: ``ceil(weight_arrays / arrays_per_tile)``."""
        return math.ceil(self.weight_arrays / self.arrays_per_tile)

    @property
    def hidden_layers(self) -> tuple[LayerShape, ...]:
        """All layers but the output layer (those that receive a projected error in DFA)."""
        return self.layers[:-1]


def dense_update_macs(arch: Architecture, layer_index: int, time_steps: int) -> float:
    """Multiply-adds of a dense outer product over one window: ``R N P T``."""
    layer = arch.layers[layer_index]
    return float(layer.rows * layer.n_out * layer.out_positions * time_steps)
