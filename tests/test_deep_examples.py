"""The deep DFA experiments (examples 50-54) in their --quick modes."""

import json

import pytest
from helpers import run_example

pytest.importorskip("torch")


def _run(script, tmp_path, timeout=600):
    run_example(script, tmp_path, timeout=timeout)
    return json.loads((tmp_path / "results.json").read_text())


def test_mlp_quick(tmp_path):
    res = _run("50_dfa_mlp.py", tmp_path)
    assert set(res) == {f"digits/{a}/{m}" for a in ("tanh", "relu")
                        for m in ("bp", "dfa", "readout")}
    for row in res.values():
        assert row["test_acc_pct"] > 50  # chance is 10 %
    cos = res["digits/tanh/dfa"]["alignment_update_cosine_by_epoch"]
    assert set(cos) == {"#0", "#1", "output"} and len(cos["#0"]) == 3
    assert all(v == pytest.approx(1.0) for v in cos["output"])
    # a second run resumes from the stored runs instead of training again
    assert _run("50_dfa_mlp.py", tmp_path) == res


def test_transformer_quick(tmp_path):
    res = _run("52_dfa_transformer.py", tmp_path)
    assert res["unigram_entropy_nats"] == pytest.approx(3.31, abs=0.005)
    for method in ("bp", "macro", "micro", "macro_ternary"):
        assert 0 < res[method]["val_loss_nats"] < 4.5  # log(65) = 4.17 at initialisation
    assert set(res["micro"]["final_alignment_update_cosine"]) == {"#0", "#1", "#2", "output"}


def test_lowrank_quick(tmp_path):
    res = _run("53_lowrank_ssa.py", tmp_path)
    assert res["ssa_r8"]["n_parameters"] < res["ssa_r16"]["n_parameters"] \
        < res["ssa_r32"]["n_parameters"] < res["dfa_dense"]["n_parameters"]
    assert res["ssa_r16"]["ortho_error_max"] < res["ssa_r16_no_ortho"]["ortho_error_max"]
    assert all(row["test_acc_pct"] > 30 for row in res.values())


@pytest.mark.slow
def test_cnn_rnn_quick(tmp_path):
    res = _run("51_dfa_cnn_rnn.py", tmp_path, timeout=900)
    assert {"fashion_mnist/cnn/hybrid", "fashion_mnist/rnn/sparse", "hapt/rnn/dfa"} <= set(res)
    assert set(res["fashion_mnist/cnn/modular"]["final_alignment_update_cosine"]) == \
        {"#0", "#1", "output"}


def test_snntorch_dfa_quick(tmp_path):
    res = _run("54_snntorch_dfa_har.py", tmp_path)
    for method in ("bptt", "dfa"):
        # the converted engine network emits the same spikes: the same test accuracy
        assert res[method]["engine_test_acc_pct"] == pytest.approx(res[method]["test_acc_pct"])
    assert set(res["dfa"]["final_alignment_update_cosine"]) == {"layer0", "output"}
