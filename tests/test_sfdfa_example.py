"""The Fashion-MNIST SFDFA / DFA experiment script in its reduced mode (slow; needs data)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "examples" / "10_sfdfa_fashion_mnist.py"
DATA = Path("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")


@pytest.mark.slow
@pytest.mark.skipif(not DATA.exists(), reason="Fashion-MNIST IDX files absent: "
                    "apt-get install dataset-fashion-mnist")
def test_fashion_mnist_example_quick(tmp_path):
    spec = importlib.util.spec_from_file_location("sfdfa_fashion_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "res.json"
    results = module.main(["--quick", "--out", str(out)])
    assert out.exists()
    assert [r["rule"] for r in results] == ["sfdfa", "dfa"]
    for r in results:
        assert r["epochs_done"] == 1.0 and r["n_train"] == 300 and r["n_test"] == 200
        assert 0.0 <= r["curve"][-1]["test_acc"] <= 100.0
        assert np.isfinite(r["curve"][-1]["batch_loss"])
        assert r["curve"][-1]["batch_loss"] < r["first_batch_loss"]
