"""Graph convolutional networks trained by BP, graph DFA and DFA-GNN (Zhao et al., NeurIPS 2024).

The GCN of the paper (arXiv 2406.02040): ``H^(l) = S X^(l)``, ``X^(l+1) = ReLU(H^(l) W^(l) +
b^(l))`` for the hidden layers, logits ``H^(L-1) W^(L-1) + b^(L-1)`` and ``Ŷ = sigmoid(logits)``
with a binary cross-entropy loss, where ``S = D̃^{-1/2}(A + I)D̃^{-1/2}``
(:func:`snn_dfa.data.normalized_adjacency`).  It trains with the DFA mechanism of
:mod:`snn_dfa.deep` (a feedback point after every hidden activation, one at the logits):

* ``rule="bp"``: backpropagation through the same graph;
* ``rule="dfa"``: graph DFA.  :class:`GraphProjector` sends the output error to the point after
  layer ``k`` (of ``L``) through the topology, ``δX^(k) = (Sᵀ)^{L-k} E B_k`` (the paper's
  ``B^(k)`` is ``B_kᵀ``), with ``L-k`` sparse products of the ``c``-column error, never a
  power of ``S``; autograd applies the ReLU derivative [assumption: the paper's equations omit
  it, its proof uses it] and forms ``ΔW^(k-1) = H^(k-1)ᵀ δ``.  All layers update at once.

Two switches give the paper's ablation (its Table 2), for either rule (BP with the error
generator is its Table 8):

* ``pseudo_errors``: the paper's error generator (EG) spreads the residuals of labelled nodes over
  the graph, ``Z ← (1-α) E + α S Z`` from ``Z = E`` for a fixed number of iterations, and gives
  every unlabelled node ``ê_j = η z_j / ‖z_j‖₁`` with ``η`` the mean ``‖e_i‖₁`` of the labelled
  nodes (:func:`pseudo_errors`);
* ``node_filter``: the node filter (NF) keeps a node only when exactly one entry of the corrected
  prediction ``Ŷ - Ê`` exceeds ``ϵ`` (:func:`node_filter`); the error rows of the other nodes are
  zeroed before the projection and the output layer's update, which equals filtering the rows of
  ``Ê``, ``S^k`` and ``H`` in the paper's update formulas.

The error the model backpropagates or projects is ``Ê / n_train`` (the gradient of the BCE loss
summed over classes and averaged over labelled nodes, :func:`output_error`) [assumption: the
paper does not state its loss normalisation; with Adam only the ratio to the L2 penalty matters].

Diagnostics (:func:`update_angles`, :func:`weight_angles`): the angle between each layer's
applied update and the true BP gradient of the training loss, and between the weights and the
feedback products the paper's theory predicts them to align with, ``W^(L-1) ∝ B_{L-1}`` and
``W^(k) ∝ B_k B_{k+1}ᵀ`` (its ``B^(k)ᵀ B^(k+1)``).
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np
import scipy.sparse as sp
import torch

from snn_dfa._validation import check_scalar, coerce_enum
from snn_dfa.data.graphs import (
    GraphData,
    NodeSplit,
    normalized_adjacency,
    row_normalize,
)
from snn_dfa.deep.mechanism import DFA, Mode
from snn_dfa.deep.projectors import Projector, RandomProjector, Shape
from snn_dfa.errors import ValidationError


class SparseMatrix:
    """A fixed sparse matrix ``A`` [n, m] for differentiable products ``A x``.

    Holds ``A`` and ``Aᵀ`` as torch CSR tensors (several times faster than COO on CPU): the
    forward is ``A x``, the backward ``Aᵀ g``.  Built from a scipy sparse matrix.
    """

    def __init__(self, matrix: sp.spmatrix, dtype: torch.dtype = torch.float32) -> None:
        a = sp.csr_matrix(matrix)
        self.scipy = a
        self.shape = a.shape
        self.csr = self._to_torch(a, dtype)
        self.csr_t = self._to_torch(a.T.tocsr(), dtype)

    @staticmethod
    def _to_torch(a: sp.csr_matrix, dtype: torch.dtype) -> torch.Tensor:
        a.sort_indices()
        with warnings.catch_warnings():  # torch's notice that CSR support is "beta"
            warnings.filterwarnings("ignore", "Sparse CSR tensor support is in beta",
                                    UserWarning)
            return torch.sparse_csr_tensor(torch.as_tensor(a.indptr.astype(np.int64)),
                                           torch.as_tensor(a.indices.astype(np.int64)),
                                           torch.as_tensor(a.data, dtype=dtype), a.shape,
                                           check_invariants=False)

    def __matmul__(self, x: torch.Tensor) -> torch.Tensor:
        """``A x`` for ``x`` [m, k], differentiable with respect to ``x``."""
        if torch.is_grad_enabled() and x.requires_grad:
            return _SparseMM.apply(self, x)
        return self.csr @ x

    @property
    def T(self) -> SparseMatrix:
        out = SparseMatrix.__new__(SparseMatrix)
        out.shape = self.shape[::-1]
        out.scipy = self.scipy.T.tocsr()
        out.csr, out.csr_t = self.csr_t, self.csr
        return out


class _SparseMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, a: SparseMatrix, x: torch.Tensor) -> torch.Tensor:
        ctx.a = a  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped
        return a.csr @ x

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> tuple[None, torch.Tensor]:
        return None, ctx.a.csr_t @ grad  # type: ignore[attr-defined]  # torch's FunctionCtx is untyped


def propagate(s_t: SparseMatrix, z: torch.Tensor, hops: int) -> torch.Tensor:
    """``(Sᵀ)^hops z`` by ``hops`` sparse products; ``s_t`` is ``Sᵀ`` [n, n], ``z`` [n, c]."""
    for _ in range(hops):
        z = s_t @ z
    return z


class GraphProjector:
    """Graph DFA feedback: point ``i`` of ``m`` (after hidden layer ``i+1`` of ``L = m+1``)
    receives ``(Sᵀ)^{m-i} E B_iᵀ``, where ``inner`` supplies the matrices ``B_i`` [d_i, c].

    The error is propagated first (``m`` sparse products of ``[n, c]``) and the stacked
    propagated errors are projected by ``inner`` in **one** call, so an inner projector that
    counts or simulates its projections (an optical one) sees one projection per step.

    Parameters
    ----------
    s_t : SparseMatrix [n, n]
        ``Sᵀ`` (``S.T``; equal to ``S`` for the symmetric normalised adjacency).
    inner : Projector, optional
        Default: Gaussian ``N(0, 1/d_i)`` entries (:class:`RandomProjector` with
        ``distribution="gaussian", scaling="fan"``), so that ``B_iᵀ B_i ≈ I`` as the paper's
        alignment argument assumes [assumption: the paper only says "random"].
    seed : int, optional
        Seed of the default inner projector.
    """

    def __init__(self, s_t: SparseMatrix, inner: Projector | None = None,
                 seed: int | None = None) -> None:
        if len(s_t.shape) != 2 or s_t.shape[0] != s_t.shape[1]:
            raise ValidationError(f"s_t: expected a square [n, n] matrix, got {tuple(s_t.shape)}")
        self.s_t = s_t
        self.inner: Projector = inner if inner is not None else RandomProjector(
            distribution="gaussian", scaling="fan", seed=seed)

    def build(self, shapes: Sequence[Shape], n_out: int) -> None:
        self._n_points = len(shapes)
        self.inner.build(shapes, n_out)

    def project(self, e: torch.Tensor) -> list[torch.Tensor]:
        n = e.shape[0]
        if n != self.s_t.shape[0]:
            raise ValidationError(f"GraphProjector: error with {n} rows for a graph of "
                                  f"{self.s_t.shape[0]} nodes")
        m = self._n_points
        hops, z = [], e
        for _ in range(m):
            z = propagate(self.s_t, z, 1)
            hops.append(z)
        # Point i needs m - i hops: stack [hop m, hop m-1, ..., hop 1] and project once.
        stacked = torch.cat(hops[::-1], dim=0)
        projected = self.inner.project(stacked)
        return [p[i * n:(i + 1) * n] for i, p in enumerate(projected)]

    @property
    def matrices(self) -> list[torch.Tensor]:
        """``B_i`` [d_i, c] per point (those of the inner projector)."""
        return list(self.inner.matrices)  # type: ignore[attr-defined]  # the inner projectors of this module all have matrices


def output_error(logits: torch.Tensor, labels: torch.Tensor, train: torch.Tensor) -> torch.Tensor:
    """``E = sigmoid(logits) - onehot(labels)`` on the training nodes, zero rows elsewhere.

    ``E / len(train)`` is the gradient of the BCE loss (summed over classes, averaged over the
    training nodes) with respect to the logits; shape [n, c].
    """
    e = torch.zeros_like(logits)
    target = torch.nn.functional.one_hot(labels[train], logits.shape[1]).to(logits.dtype)
    e[train] = torch.sigmoid(logits[train]) - target
    return e


def pseudo_errors(s: SparseMatrix, e: torch.Tensor, labelled: torch.Tensor, alpha: float,
                  n_iterations: int) -> torch.Tensor:
    """DFA-GNN's error generator (Zhao et al. 2024): pseudo-errors for unlabelled nodes.

    ``Z^(t+1) = (1-α) E + α S Z^(t)``, ``Z^(0) = E``, ``n_iterations`` times (label spreading
    of the residuals); then every unlabelled node ``j`` gets ``ê_j = η z_j / ‖z_j‖₁`` with
    ``η`` the mean ``‖e_i‖₁`` over the labelled nodes (a node whose ``z_j`` is zero, e.g. out
    of reach of every labelled node, keeps a zero error).  Labelled rows keep ``e_i``.

    Parameters
    ----------
    s : SparseMatrix [n, n]
        The propagation matrix ``S``.
    e : tensor [n, c]
        Residuals on labelled nodes, zero rows elsewhere.
    labelled : bool tensor [n]
    alpha : float in (0, 1)
        ``α = 1 / (1 + μ)``.
    n_iterations : int >= 1
    """
    check_scalar("alpha", alpha, float, low=0.0, high=1.0, low_inclusive=False,
                 high_inclusive=False)
    check_scalar("n_iterations", n_iterations, int, low=1)
    if labelled.dtype != torch.bool or labelled.shape != e.shape[:1]:
        raise ValidationError(f"labelled: expected a bool mask of shape ({e.shape[0]},), got "
                              f"{labelled.dtype} {tuple(labelled.shape)}")
    base = (1.0 - alpha) * e
    z = e
    for _ in range(n_iterations):
        z = base + alpha * (s @ z)
    eta = e[labelled].abs().sum(dim=1).mean()
    norm = z.abs().sum(dim=1, keepdim=True)
    scaled = torch.where(norm > 0, z * (eta / norm.clamp_min(torch.finfo(z.dtype).tiny)),
                         torch.zeros_like(z))
    return torch.where(labelled[:, None], e, scaled)


def node_filter(prediction: torch.Tensor, errors: torch.Tensor, threshold: float) -> torch.Tensor:
    """DFA-GNN's node filter: ``p_i = 1`` iff exactly one entry of ``(Ŷ - Ê)_i`` exceeds ``ϵ``.

    ``prediction`` is ``Ŷ = sigmoid(logits)`` [n, c], ``errors`` is ``Ê`` [n, c]; on a labelled
    node ``Ŷ - Ê`` is its one-hot label, which always passes (for ``0 ≤ ϵ < 1``).  Returns a
    bool mask [n].
    """
    check_scalar("threshold", threshold, float, low=0.0, high=1.0, high_inclusive=False)
    corrected = prediction - errors
    return (corrected > threshold).sum(dim=1) == 1


class GCN(torch.nn.Module):
    """The paper's GCN with ``n_layers`` graph convolutions on a fixed graph.

    Weights are stored as ``[in, out]`` (``H W``) with Glorot-uniform initialisation and zero
    biases (DGL ``GraphConv``'s defaults, the library the paper used).

    Parameters
    ----------
    s : SparseMatrix [n, n]
        Propagation matrix ``S``.
    features : scipy sparse matrix [n, f]
        Node features ``X^(0)``.
    n_classes, hidden, n_layers : int
    generator : torch.Generator, optional
        Draws the initial weights.
    """

    def __init__(self, s: SparseMatrix, features: sp.spmatrix, n_classes: int, hidden: int = 64,
                 n_layers: int = 3, generator: torch.Generator | None = None) -> None:
        super().__init__()
        check_scalar("hidden", hidden, int, low=1)
        check_scalar("n_layers", n_layers, int, low=1)
        self.s = s
        if features.shape[0] != s.shape[0]:
            raise ValidationError(f"features: expected {s.shape[0]} rows (one per node), got "
                                  f"shape {features.shape}")
        self.x0 = SparseMatrix(features)
        sizes = [features.shape[1]] + [hidden] * (n_layers - 1) + [n_classes]
        self.weights = torch.nn.ParameterList()
        self.biases = torch.nn.ParameterList()
        for n_in, n_out in itertools.pairwise(sizes):
            bound = math.sqrt(6.0 / (n_in + n_out))
            w = (torch.rand(n_in, n_out, generator=generator) * 2 - 1) * bound
            self.weights.append(torch.nn.Parameter(w))
            self.biases.append(torch.nn.Parameter(torch.zeros(n_out)))

    def forward(self, dfa: DFA) -> torch.Tensor:
        """Logits [n, c] (through ``dfa.output``); a feedback point after every hidden ReLU."""
        # S (X W) rather than (S X) W: the same product, with 4x fewer multiplications on Cora
        # (S X is denser than X).
        a = self.s @ (self.x0 @ self.weights[0]) + self.biases[0]
        for w, b in zip(list(self.weights)[1:], list(self.biases)[1:]):
            a = (self.s @ dfa.point(torch.relu(a))) @ w + b
        return dfa.output(a)


class Rule(str, Enum):
    """How the hidden layers of the GCN learn."""

    BP = "bp"
    DFA = "dfa"


@dataclass(frozen=True)
class GraphTrainConfig:
    """Settings of :func:`train_gcn`; defaults are the paper's Table 6 for Cora.

    Attributes
    ----------
    rule : {"bp", "dfa"}
    pseudo_errors, node_filter : bool
        The error generator and the node filter (the ablation's switches).
    hidden : int
        64 (Table 6).
    n_layers : int
        3 (the paper's GCN).
    epochs : int
        1000 (Table 6).
    lr : float
        Adam learning rate, 0.01 (Table 6 for Cora and CiteSeer).
    weight_decay : float
        L2 penalty in Adam, 5e-4 (Table 6 for Cora and CiteSeer).
    alpha, n_iterations : float, int
        Error generator: 0.1 and 50 for Cora, 0.01 and 200 for CiteSeer (Table 6).
    threshold : float
        Node filter ϵ, 0.5 (Table 6).
    diagnostics_every : int
        Record the alignment angles every this many epochs (0: never).
    """

    rule: Rule | str = Rule.DFA
    pseudo_errors: bool = True
    node_filter: bool = True
    hidden: int = 64
    n_layers: int = 3
    epochs: int = 1000
    lr: float = 0.01
    weight_decay: float = 5e-4
    alpha: float = 0.1
    n_iterations: int = 50
    threshold: float = 0.5
    diagnostics_every: int = 0


@dataclass
class GraphTrainResult:
    """What :func:`train_gcn` measured.

    Attributes
    ----------
    val_accuracy, test_accuracy, train_loss : ndarray [epochs]
        Before each epoch's update (accuracy as a fraction).
    best_epoch : int
        First epoch of the highest validation accuracy.
    test_at_best_val : float
        Test accuracy at ``best_epoch`` (model selection by validation).
    seconds_per_epoch : float
        Median wall time of one training epoch (forward, errors, backward, optimiser step;
        diagnostics excluded).
    kept_fraction : ndarray [epochs]
        Fraction of nodes the node filter kept (1 without it).
    diagnostics : list of dict
        ``{"epoch", "update_angle_deg": [...], "weight_angle_deg": [...]}`` per record.
    """

    val_accuracy: np.ndarray
    test_accuracy: np.ndarray
    train_loss: np.ndarray
    best_epoch: int
    test_at_best_val: float
    seconds_per_epoch: float
    kept_fraction: np.ndarray
    diagnostics: list[dict[str, object]] = field(default_factory=list)


@dataclass(frozen=True)
class GraphTensors:
    """A graph prepared for the GCN: ``S`` (= ``Sᵀ``), row-normalised features, labels."""

    s: SparseMatrix
    features: sp.csr_matrix
    labels: torch.Tensor
    n_classes: int

    @classmethod
    def from_graph(cls, graph: GraphData) -> GraphTensors:
        return cls(SparseMatrix(normalized_adjacency(graph.adjacency)),
                   row_normalize(graph.features).astype(np.float32),
                   torch.as_tensor(graph.labels, dtype=torch.int64), graph.n_classes)


def _angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    x, y = a.reshape(-1).double(), b.reshape(-1).double()
    denom = float(x.norm() * y.norm())
    if denom == 0:
        return math.nan
    return math.degrees(math.acos(max(-1.0, min(1.0, float(x @ y) / denom))))


def training_error(model: GCN, dfa: DFA, tensors: GraphTensors, train: torch.Tensor,
                   config: GraphTrainConfig) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One forward pass and the error the configured method sends back.

    Returns ``(output, error, kept)``: the output of ``dfa.output`` [n, c] (still attached to
    the graph), the error ``Ê / n_train`` (with EG and NF as configured) [n, c], and the
    fraction of nodes NF kept.
    """
    out = model(dfa)
    logits = out.detach()
    e = output_error(logits, tensors.labels, train)
    labelled = torch.zeros(e.shape[0], dtype=torch.bool)
    labelled[train] = True
    if config.pseudo_errors:
        e = pseudo_errors(tensors.s, e, labelled, config.alpha, config.n_iterations)
    kept = 1.0
    if config.node_filter:
        mask = node_filter(torch.sigmoid(logits), e, config.threshold)
        e = e * mask[:, None].to(e.dtype)
        kept = float(mask.double().mean())
    return out, e / train.numel(), kept


def update_angles(model: GCN, dfa: DFA, tensors: GraphTensors, train: torch.Tensor,
                  config: GraphTrainConfig) -> list[float]:
    """Angle (degrees) between each layer's update under ``config`` and the BP gradient of the
    true training loss (labelled nodes only), on the same weights; parameters' ``.grad`` are
    left untouched.  One entry per weight matrix, input layer first."""
    saved = [p.grad for p in model.parameters()]
    with dfa.using(mode=Mode.BP):
        out = model(dfa)
        e = output_error(out.detach(), tensors.labels, train) / train.numel()
        bp = torch.autograd.grad(out, list(model.weights), grad_outputs=e)
    mode = Mode.BP if coerce_enum(Rule, "rule", config.rule) is Rule.BP else Mode.DFA
    with dfa.using(mode=mode):
        out, e, _ = training_error(model, dfa, tensors, train, config)
        for p in model.parameters():
            p.grad = None
        out.backward(e)
        applied = [w.grad.clone() for w in model.weights]
    for p, g in zip(model.parameters(), saved):
        p.grad = g
    return [_angle_deg(a, b) for a, b in zip(applied, bp)]


def weight_angles(model: GCN, projector: GraphProjector) -> list[float]:
    """Angles (degrees) between ``W^(k)`` and the feedback product the theory aligns it with:
    ``B_k B_{k+1}ᵀ`` for the hidden-to-hidden weights and ``B_{L-1}`` for the output weights
    (point ``k`` is after hidden layer ``k+1``).  One entry per weight matrix after the first."""
    b = projector.matrices
    if not b:
        return []
    targets = [b[k - 1] @ b[k].T for k in range(1, len(b))] + [b[-1]]
    return [_angle_deg(w.detach(), t) for w, t in zip(list(model.weights)[1:], targets)]


def train_gcn(tensors: GraphTensors, split: NodeSplit, config: GraphTrainConfig = GraphTrainConfig(),
              seed: int = 0, projector: Projector | None = None) -> GraphTrainResult:
    """Train a GCN on one split with BP or graph DFA, with or without EG and NF.

    Full-batch (transductive): every epoch is one forward pass over the whole graph, one error,
    one update of every layer with Adam (L2 penalty ``weight_decay``).  ``seed`` draws the
    initial weights and the feedback matrices.  ``projector`` replaces the default inner
    projector of :class:`GraphProjector` (e.g. a fixed or optical one).
    """
    rule = coerce_enum(Rule, "rule", config.rule)
    check_scalar("epochs", config.epochs, int, low=1)
    check_scalar("lr", config.lr, float, low=0.0, low_inclusive=False)
    check_scalar("weight_decay", config.weight_decay, float, low=0.0)
    check_scalar("diagnostics_every", config.diagnostics_every, int, low=0)
    if rule is Rule.DFA and config.n_layers < 2:
        raise ValidationError(f"n_layers={config.n_layers}: DFA needs at least one hidden layer "
                              "(n_layers >= 2)")
    n = tensors.labels.shape[0]
    for name, idx in (("train", split.train), ("val", split.val), ("test", split.test)):
        if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
            raise ValidationError(f"split.{name}: expected non-empty node indices in [0, {n})")
    gen = torch.Generator().manual_seed(seed)
    model = GCN(tensors.s, tensors.features, tensors.n_classes, config.hidden, config.n_layers,
                generator=gen)
    graph_projector = GraphProjector(tensors.s, projector, seed=seed)
    dfa = DFA(graph_projector, mode=Mode.BP if rule is Rule.BP else Mode.DFA)
    if rule is Rule.BP:
        # Build the feedback matrices anyway, so weight_angles can report on BP too.
        graph_projector.build([(config.hidden,)] * (config.n_layers - 1), tensors.n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    train, val, test = (torch.as_tensor(i, dtype=torch.int64)
                        for i in (split.train, split.val, split.test))
    labels = tensors.labels
    epochs = config.epochs
    val_acc, test_acc, loss, kept = (np.zeros(epochs) for _ in range(4))
    times = np.zeros(epochs)
    diagnostics: list[dict[str, object]] = []
    for epoch in range(epochs):
        if config.diagnostics_every and epoch % config.diagnostics_every == 0:
            diagnostics.append({"epoch": epoch,
                                "update_angle_deg": update_angles(model, dfa, tensors, train,
                                                                  config),
                                "weight_angle_deg": weight_angles(model, graph_projector)})
        start = time.perf_counter()
        out, e, kept[epoch] = training_error(model, dfa, tensors, train, config)
        opt.zero_grad(set_to_none=True)
        out.backward(e)
        opt.step()
        times[epoch] = time.perf_counter() - start
        with torch.no_grad():
            logits = out.detach()
            pred = logits.argmax(dim=1)
            val_acc[epoch] = float((pred[val] == labels[val]).double().mean())
            test_acc[epoch] = float((pred[test] == labels[test]).double().mean())
            target = torch.nn.functional.one_hot(labels[train], tensors.n_classes).to(logits.dtype)
            loss[epoch] = float(torch.nn.functional.binary_cross_entropy_with_logits(
                logits[train], target, reduction="sum")) / train.numel()
    best = int(np.argmax(val_acc))
    return GraphTrainResult(val_acc, test_acc, loss, best, float(test_acc[best]),
                            float(np.median(times)), kept, diagnostics)
