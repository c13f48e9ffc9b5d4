"""Citation graphs: shipped archives, checksums, splits and the GCN propagation matrix."""

import configparser
import pathlib
import shutil

import numpy as np
import pytest
import scipy.sparse as sp

from snn_dfa.data import (
    graphs,
    load_citeseer,
    load_cora,
    load_graph,
    normalized_adjacency,
    per_class_split,
    random_split,
    registry,
    row_normalize,
)
from snn_dfa.errors import DataError, ValidationError

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("loader, counts", [
    (load_cora, (2708, 5278, 1433, 7)),
    (load_citeseer, (3312, 4536, 3703, 6)),
])
def test_shipped_graphs_have_the_published_sizes(loader, counts):
    g = loader()
    assert (g.n_nodes, g.n_edges, g.n_features, g.n_classes) == counts
    a = g.adjacency
    assert abs(a - a.T).sum() == 0 and a.diagonal().sum() == 0
    assert set(np.unique(a.data)) == {1.0} and set(np.unique(g.features.data)) == {1.0}
    assert g.labels.dtype == np.int64 and set(np.unique(g.labels)) == set(range(counts[3]))
    assert len(g.node_names) == counts[0]


def test_graphs_are_read_from_the_repository_not_the_shared_folder():
    assert graphs.graphs_dir() == REPO / "datasets" / "graphs"
    assert graphs.graph_path("cora").is_file()


def test_altered_archive_is_refused(tmp_path):
    bad = tmp_path / "cora.npz"
    shutil.copy(graphs.graph_path("cora"), bad)
    with open(bad, "r+b") as fh:
        fh.seek(1000)
        byte = fh.read(1)
        fh.seek(1000)
        fh.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(DataError, match="checksum"):
        load_graph("cora", bad)
    with pytest.raises(DataError, match="missing data file"):
        load_graph("cora", tmp_path / "absent.npz")
    with pytest.raises(ValidationError, match="name='pubmed'"):
        load_graph("pubmed")


def test_graphs_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(graphs.ENV_GRAPHS_DIR, str(tmp_path))
    assert graphs.graph_path("citeseer") == tmp_path / "citeseer.npz"
    rows = {r.name: r for r in registry()}
    assert not rows["citeseer"].available
    monkeypatch.delenv(graphs.ENV_GRAPHS_DIR)
    rows = {r.name: r for r in registry()}
    assert rows["cora"].available and rows["citeseer"].available
    assert rows["cora"].loader == "snn_dfa.data.load_cora"


def test_regular_installs_get_the_archives():
    cfg = configparser.ConfigParser()
    cfg.read(REPO / "setup.cfg")
    files = [f.strip() for f in cfg["options.data_files"]["share/snn-dfa/graphs"].split(",")]
    assert {pathlib.Path(f).name for f in files} >= {"cora.npz", "citeseer.npz"}
    assert all((REPO / f).is_file() for f in files)
    manifest = (REPO / "MANIFEST.in").read_text()
    assert "datasets/graphs/*.npz" in manifest


def test_random_split_is_stratified_disjoint_and_seeded():
    y = load_cora().labels
    s = random_split(y, seed=3)
    parts = np.concatenate([s.train, s.val, s.test])
    assert np.array_equal(np.sort(parts), np.arange(y.size))
    for k in range(7):
        n_k = np.sum(y == k)
        assert np.sum(y[s.train] == k) == round(0.6 * n_k)
        assert np.sum(y[s.val] == k) == round(0.2 * n_k)
    assert abs(s.train.size - 0.6 * y.size) <= 7
    again = random_split(y, seed=3)
    assert np.array_equal(again.train, s.train) and np.array_equal(again.test, s.test)
    assert not np.array_equal(random_split(y, seed=4).train, s.train)
    with pytest.raises(ValidationError, match="fractions"):
        random_split(y, (0.5, 0.2, 0.2))


def test_per_class_split_takes_twenty_labels_per_class():
    y = load_citeseer().labels
    s = per_class_split(y, seed=0)
    assert np.array_equal(np.bincount(y[s.train]), np.full(6, 20))
    assert (s.val.size, s.test.size) == (500, 1000)
    assert not (set(s.train) & set(s.val) or set(s.train) & set(s.test) or set(s.val) & set(s.test))
    with pytest.raises(ValidationError, match="n_per_class=300"):
        per_class_split(y, n_per_class=300)
    with pytest.raises(ValidationError, match="n_val"):
        per_class_split(y, n_val=3000)


def test_normalized_adjacency_of_a_path_by_hand():
    # Path 0-1-2 plus an isolated node 3. With self-loops the degrees are 2, 3, 2, 1:
    # S_ij = (A + I)_ij / sqrt(d_i d_j).
    a = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]], float))
    r6 = 1 / np.sqrt(6)
    expected = np.array([[1 / 2, r6, 0, 0], [r6, 1 / 3, r6, 0], [0, r6, 1 / 2, 0], [0, 0, 0, 1]])
    s = normalized_adjacency(a)
    assert sp.issparse(s)
    np.testing.assert_allclose(s.toarray(), expected, rtol=1e-15, atol=0)
    without = normalized_adjacency(a, self_loops=False).toarray()
    np.testing.assert_allclose(without[:3, :3], [[0, 1 / np.sqrt(2), 0],
                                                 [1 / np.sqrt(2), 0, 1 / np.sqrt(2)],
                                                 [0, 1 / np.sqrt(2), 0]], rtol=1e-15)
    assert not without[3].any()


def test_normalized_adjacency_against_a_dense_computation_on_cora():
    a = load_cora().adjacency
    s = normalized_adjacency(a)
    dense = a.toarray().astype(np.float64) + np.eye(a.shape[0])
    d = dense.sum(1)
    np.testing.assert_allclose(s.toarray(), dense / np.sqrt(np.outer(d, d)), rtol=1e-12, atol=0)
    # Its top eigenvector is sqrt(degree) with eigenvalue 1.
    v = np.sqrt(d)
    np.testing.assert_allclose(s @ v, v, rtol=1e-12)


def test_bad_adjacency_and_row_normalisation():
    with pytest.raises(ValidationError, match="square"):
        normalized_adjacency(np.zeros((2, 3)))
    with pytest.raises(ValidationError, match="symmetric"):
        normalized_adjacency(np.array([[0, 1], [0, 0]]))
    x = row_normalize(sp.csr_matrix(np.array([[1, 1, 0, 2], [0, 0, 0, 0]], float))).toarray()
    np.testing.assert_allclose(x, [[0.25, 0.25, 0, 0.5], [0, 0, 0, 0]])
