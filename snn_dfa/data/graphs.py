"""Citation graphs for node classification (Cora, CiteSeer), their splits and operators.

The two graphs ship with the project as plain NumPy archives in ``datasets/graphs/`` (card:
``datasets/graphs.md``), read with ``allow_pickle=False`` after their SHA-256 is checked.
From a source checkout (or an editable install) they are read where they are; a regular
install places them under ``<prefix>/share/snn-dfa/graphs`` (``data_files`` in setup.cfg).

* :func:`load_graph` (``load_cora``, ``load_citeseer``): a :class:`GraphData` with the
  symmetrised binary adjacency without self-loops, binary bag-of-words features and labels.
* :func:`random_split`: stratified random train/validation/test split by fractions
  (60/20/20 by default, the DFA-GNN paper's protocol).
* :func:`per_class_split`: the sparse regime, ``n_per_class`` labelled nodes per class
  (20 as in Kipf & Welling's split), then random validation and test sets (500 and 1000).
* :func:`normalized_adjacency`: S = D̃^{-1/2} (A + I) D̃^{-1/2}, sparse.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from snn_dfa._validation import (
    SeedLike,
    check_array,
    check_choice,
    check_random_state,
    check_scalar,
)
from snn_dfa.data.cache import verify_file
from snn_dfa.errors import DataError, ValidationError

#: Registry name -> (file name, SHA-256); the same values are in ``datasets/SHA256SUMS``.
GRAPH_FILES: dict[str, tuple[str, str]] = {
    "cora": ("cora.npz", "068e22d90c3849b4057dfb05851741428992af058efcd4e7ebb4186f3d581de2"),
    "citeseer": ("citeseer.npz",
                 "280278b21b434c047922e8389518861416fb3ad39389c27865ff0e6bbb0aaab7"),
}
ENV_GRAPHS_DIR = "SNN_DFA_GRAPHS_DIR"
HOW_TO_OBTAIN = (
    "the graphs ship with snn-dfa in datasets/graphs/ (restore them with `git checkout "
    "datasets/graphs`, or reinstall the package); set SNN_DFA_GRAPHS_DIR to read them elsewhere"
)
_ARRAYS = ("adj_data", "adj_indices", "adj_indptr", "adj_shape", "attr_data", "attr_indices",
           "attr_indptr", "attr_shape", "labels", "class_names", "node_names")


def graphs_dir() -> Path:
    """Folder holding the graph archives.

    ``$SNN_DFA_GRAPHS_DIR`` if set; else ``<repo>/datasets/graphs`` when snn_dfa runs from a
    source checkout; else ``<sys.prefix>/share/snn-dfa/graphs`` (a regular install).
    """
    env = os.environ.get(ENV_GRAPHS_DIR)
    if env:
        return Path(env).expanduser()
    repo = Path(__file__).resolve().parents[2] / "datasets" / "graphs"
    if repo.is_dir():
        return repo
    return Path(sys.prefix) / "share" / "snn-dfa" / "graphs"


def graph_path(name: str) -> Path:
    """Where the archive of graph ``name`` ("cora" or "citeseer") is looked for."""
    check_choice("name", name, GRAPH_FILES)
    return graphs_dir() / GRAPH_FILES[name][0]


@dataclass(frozen=True)
class GraphData:
    """An undirected node-classification graph.

    Attributes
    ----------
    adjacency : scipy.sparse.csr_matrix, float32 [n, n]
        Symmetric 0/1 adjacency without self-loops (citation links in either direction).
    features : scipy.sparse.csr_matrix, float32 [n, f]
        Binary bag-of-words node features.
    labels : ndarray, int64 [n]
        Class index of every node, 0..c-1.
    class_names : tuple of str [c]
    node_names : tuple of str [n]
        Identifiers of the source data (paper ids).
    name : str
    """

    adjacency: sp.csr_matrix
    features: sp.csr_matrix
    labels: np.ndarray
    class_names: tuple[str, ...]
    node_names: tuple[str, ...]
    name: str

    @property
    def n_nodes(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def n_edges(self) -> int:
        """Number of undirected edges (self-loops excluded)."""
        return int(self.adjacency.nnz // 2)

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


def load_graph(name: str, path: str | os.PathLike[str] | None = None) -> GraphData:
    """Load ``"cora"`` or ``"citeseer"`` after checking the archive's SHA-256.

    Parameters
    ----------
    name : {"cora", "citeseer"}
    path : path, optional
        The ``.npz`` archive (default :func:`graph_path`); its checksum must match all the same.

    Returns
    -------
    GraphData
        Cora: 2708 nodes, 5278 edges, 1433 features, 7 classes. CiteSeer: 3312 nodes, 4536
        edges, 3703 features, 6 classes (the 124 self-citations of the source are dropped).
    """
    check_choice("name", name, GRAPH_FILES)
    file = Path(path) if path is not None else graph_path(name)
    verify_file(file, GRAPH_FILES[name][1], HOW_TO_OBTAIN)
    with np.load(file, allow_pickle=False) as npz:
        missing = [k for k in _ARRAYS if k not in npz.files]
        if missing:
            raise DataError(f"{file}: missing arrays {missing}; expected {list(_ARRAYS)}")
        raw = {k: npz[k] for k in _ARRAYS}
    n = int(raw["adj_shape"][0])
    adj = sp.csr_matrix((raw["adj_data"], raw["adj_indices"], raw["adj_indptr"]),
                        shape=tuple(int(s) for s in raw["adj_shape"]))
    sym = ((adj + adj.T) > 0).astype(np.float32).tocsr()
    sym.setdiag(0)
    sym.eliminate_zeros()
    features = sp.csr_matrix((raw["attr_data"], raw["attr_indices"], raw["attr_indptr"]),
                             shape=tuple(int(s) for s in raw["attr_shape"]), dtype=np.float32)
    labels = raw["labels"].astype(np.int64)
    if features.shape[0] != n or labels.shape != (n,):
        raise DataError(f"{file}: {n} nodes in the adjacency but features {features.shape} and "
                        f"labels {labels.shape}")
    return GraphData(
        adjacency=sym, features=features, labels=labels,
        class_names=tuple(str(c) for c in raw["class_names"]),
        node_names=tuple(str(c) for c in raw["node_names"]), name=name,
    )


def load_cora() -> GraphData:
    """Cora (2708 nodes, 5278 edges, 1433 features, 7 classes); see :func:`load_graph`."""
    return load_graph("cora")


def load_citeseer() -> GraphData:
    """CiteSeer (3312 nodes, 4536 edges, 3703 features, 6 classes); see :func:`load_graph`."""
    return load_graph("citeseer")


@dataclass(frozen=True)
class NodeSplit:
    """Disjoint sorted node indices (int64) of the training, validation and test sets."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def _check_labels(labels: np.ndarray) -> np.ndarray:
    y = check_array("labels", labels, ndim=1, dtype=np.int64)
    if y.size == 0 or y.min() < 0:
        raise ValidationError(f"labels: expected non-negative class indices for at least one "
                              f"node, got {y.size} nodes with minimum {y.min() if y.size else None}")
    return y


def random_split(
    labels: np.ndarray,
    fractions: tuple[float, float, float] = (0.6, 0.2, 0.2),
    seed: SeedLike = 0,
) -> NodeSplit:
    """Stratified random split: each class is shuffled and cut by ``fractions``.

    Class k with n_k nodes gives round(f_train n_k) training and round(f_val n_k) validation
    nodes and the rest to test, so every class keeps its proportion in every set.

    Parameters
    ----------
    labels : int array [n]
    fractions : (train, val, test), positive, summing to 1
    seed : int or Generator
    """
    y = _check_labels(labels)
    if len(fractions) != 3 or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9:
        raise ValidationError(f"fractions={fractions!r}: expected three positive fractions "
                              "summing to 1")
    rng = check_random_state(seed)
    parts: list[list[np.ndarray]] = [[], [], []]
    for k in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == k))
        n_train = round(fractions[0] * idx.size)
        n_val = round(fractions[1] * idx.size)
        for part, chunk in zip(parts, np.split(idx, [n_train, n_train + n_val])):
            part.append(chunk)
    train, val, test = (np.sort(np.concatenate(p)) for p in parts)
    return NodeSplit(train, val, test)


def per_class_split(
    labels: np.ndarray,
    n_per_class: int = 20,
    n_val: int = 500,
    n_test: int = 1000,
    seed: SeedLike = 0,
) -> NodeSplit:
    """Sparse-label split: ``n_per_class`` random training nodes per class, then ``n_val``
    validation and ``n_test`` test nodes drawn at random from the remaining nodes.

    The defaults are the sizes of Kipf & Welling's (2017) Planetoid split (20 per class, 500,
    1000), drawn at random by seed rather than fixed.
    """
    y = _check_labels(labels)
    check_scalar("n_per_class", n_per_class, int, low=1)
    check_scalar("n_val", n_val, int, low=1)
    check_scalar("n_test", n_test, int, low=1)
    rng = check_random_state(seed)
    counts = np.bincount(y)
    if counts[counts > 0].min() < n_per_class:
        raise ValidationError(f"n_per_class={n_per_class}: the smallest class has only "
                              f"{counts[counts > 0].min()} nodes")
    train = np.concatenate([rng.choice(np.flatnonzero(y == k), n_per_class, replace=False)
                            for k in np.unique(y)])
    rest = rng.permutation(np.setdiff1d(np.arange(y.size), train))
    if rest.size < n_val + n_test:
        raise ValidationError(f"n_val + n_test = {n_val + n_test}: only {rest.size} nodes are "
                              "left after the training nodes")
    return NodeSplit(np.sort(train), np.sort(rest[:n_val]), np.sort(rest[n_val:n_val + n_test]))


def normalized_adjacency(adjacency: sp.spmatrix | np.ndarray,
                         self_loops: bool = True) -> sp.csr_matrix:
    """The GCN propagation matrix S = D̃^{-1/2} Ã D̃^{-1/2} with Ã = A + I (Kipf & Welling).

    Parameters
    ----------
    adjacency : sparse or dense [n, n]
        Symmetric non-negative adjacency without self-loops.
    self_loops : bool
        Add the identity (Ã = A + I); False normalises A itself (isolated nodes then get a
        zero row).

    Returns
    -------
    scipy.sparse.csr_matrix, float64 [n, n], symmetric
    """
    a = sp.csr_matrix(adjacency, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValidationError(f"adjacency: expected a square matrix, got shape {a.shape}")
    if a.nnz and a.data.min() < 0:
        raise ValidationError("adjacency: expected non-negative weights")
    if abs(a - a.T).sum() > 0:
        raise ValidationError("adjacency: expected a symmetric matrix (an undirected graph)")
    if self_loops:
        a = (a + sp.identity(a.shape[0], dtype=np.float64, format="csr")).tocsr()
    deg = np.asarray(a.sum(axis=1)).ravel()
    inv_sqrt = np.zeros_like(deg)
    np.divide(1.0, np.sqrt(deg), out=inv_sqrt, where=deg > 0)
    d = sp.diags(inv_sqrt)
    return (d @ a @ d).tocsr()


def row_normalize(features: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """Features scaled so that every non-zero row sums to 1 (Kipf & Welling's preprocessing)."""
    x = sp.csr_matrix(features, dtype=np.float64)
    rows = np.asarray(x.sum(axis=1)).ravel()
    scale = np.zeros_like(rows)
    np.divide(1.0, rows, out=scale, where=rows != 0)
    return (sp.diags(scale) @ x).tocsr()
