"""Direct Feedback Alignment for torch models (needs the ``deep`` extra: ``torch==2.13.0``).

The only subpackage that imports torch; ``import snn_dfa`` and the spiking engines never load it.

* :class:`DFA`, :class:`Mode`, :func:`ternarise` (``mechanism``): feedback points after hidden
  activations and one at the output; modes DFA, BP pass-through and readout-only; one
  projection per step.
* :class:`Projector` and its implementations (``projectors``): :class:`RandomProjector` (shared
  and sliced, or one per point; uniform or Gaussian; fan scaling; fixed non-zeros per row),
  :class:`FixedProjector` (given matrices), :class:`PeriodicConvProjector` (Han et al.'s
  dilated-convolution feedback for feature maps).  Any object with ``build`` and ``project``
  plugs in (an optical or private projector).
* :func:`alignment` and :func:`record_factors` (``diagnostics``): per-point angle between the
  DFA update and the BP gradient; per-example gradient factors for DP clipping.
* ``graph``: GCNs trained by BP, graph DFA and DFA-GNN (Zhao et al. 2024: error generator and
  node filter, each switchable); :class:`GraphProjector` sends the error through the topology
  before any inner projector.
"""

from snn_dfa.deep.diagnostics import Factors, PointAlignment, alignment, record_factors
from snn_dfa.deep.graph import (
    GCN,
    GraphProjector,
    GraphTensors,
    GraphTrainConfig,
    train_gcn,
)
from snn_dfa.deep.mechanism import DFA, Mode, ternarise
from snn_dfa.deep.projectors import (
    FixedProjector,
    PeriodicConvProjector,
    Projector,
    RandomProjector,
    sparse_row_masks,
)

__all__ = [
    "DFA",
    "GCN",
    "Factors",
    "FixedProjector",
    "GraphProjector",
    "GraphTensors",
    "GraphTrainConfig",
    "Mode",
    "PeriodicConvProjector",
    "PointAlignment",
    "Projector",
    "RandomProjector",
    "alignment",
    "record_factors",
    "sparse_row_masks",
    "ternarise",
    "train_gcn",
]
