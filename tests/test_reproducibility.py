"""Reproducibility: what the seed fixes exactly, and what the BLAS thread count may change.

The float reductions of the batched weight gradients and tangents are matrix products whose
summation order OpenBLAS chooses by thread count. The forward pass does not depend on it
(spikes and readouts are identical); gradients and tangents agree to float32 rounding. A
spiking network amplifies such rounding over a long training run (a spike flips), so runs
with different thread counts are equal in distribution, not bit for bit: docs/engine.md,
"Reproducibility". The thread counts are recorded in every results file.
"""

from datetime import UTC, datetime

import numpy as np
import pytest
import threadpoolctl

from snn_dfa.learning import make_rule
from snn_dfa.losses import loss_and_grad
from snn_dfa.models import sfcn
from snn_dfa.results import provenance

EPS32 = float(np.finfo(np.float32).eps)


def _step(threads: int) -> dict:
    with threadpoolctl.threadpool_limits(threads, user_api="blas"):
        net = sfcn(n_channels=9, n_classes=6, steps=64, seed=0)
        x = np.random.default_rng(0).normal(size=(64, 32, 9)).astype(np.float32)
        z, trace = net.forward(x, record=True)
        _, dz = loss_and_grad(z, np.arange(32) % 6)
        rule = make_rule("sfdfa", net, seed=1)
        return {"z": z, "bptt": net.backward(trace, dz),
                "sfdfa": rule.gradients(net, trace, dz),
                "feedback": [m.copy() for m in rule.projector.matrices]}


@pytest.fixture(scope="module")
def one_and_two():
    return _step(1), _step(2)


def test_same_thread_count_is_bit_identical():
    a, b = _step(2), _step(2)
    np.testing.assert_array_equal(a["z"], b["z"])
    for ga, gb in zip(a["bptt"], b["bptt"]):
        for k in ga:
            np.testing.assert_array_equal(ga[k], gb[k])


def test_forward_does_not_depend_on_the_thread_count(one_and_two):
    a, b = one_and_two
    np.testing.assert_array_equal(a["z"], b["z"])


@pytest.mark.parametrize("what", ["bptt", "sfdfa"])
def test_gradients_agree_to_float32_rounding_across_thread_counts(one_and_two, what):
    a, b = one_and_two
    for ga, gb in zip(a[what], b[what]):
        for k in ga:
            scale = float(np.abs(ga[k]).max()) or 1.0
            # a reduction over T*B = 2048 terms: rounding of order sqrt(n) eps relative
            assert float(np.abs(ga[k] - gb[k]).max()) <= 64 * EPS32 * scale, k
    for fa, fb in zip(a["feedback"], b["feedback"]):
        np.testing.assert_allclose(fa, fb, rtol=0, atol=64 * EPS32 * float(np.abs(fa).max()))


def test_results_record_the_thread_counts():
    p = provenance(0, datetime.now(UTC))
    assert p["blas_threads"] >= 1 and p["numba_threads"] >= 1
