"""Benchmark of the event-driven SFDFA layer kernel.

1. Throughput: input spikes processed per second by one layer (forward pass with
   eligibility and tangents), numba kernel against the plain reference, measured in the same
   run on the same inputs.  The reference recomputes every sum from its definition, so its
   cost grows with the square of the number of events; two sizes are shown.
2. Encoded-input layer (Fashion-MNIST 784 -> 400, batch 50, perturbation and eligibility, as
   in training): inputs without tangents (the kernel skips the per-event tangent sums)
   against the same inputs with explicit zero tangents (the full path), same run, same
   result bit for bit.
3. Training batch (Fashion-MNIST 784-400-400-10, batch 50, the trainer's own weights after a
   few batches): CPU time per layer call and per batch (``partial_fit``), SFDFA and DFA, and
   test-set evaluation (``predict``).  With ``--before COMMIT`` the same measurement also runs
   on the package as it was at ``COMMIT`` (extracted with ``git archive`` into a temporary
   folder), child processes alternating before / after, so both come from one run.
4. Memory against window length, each point in a fresh process (peak resident-set growth
   during one call):
   a. a fixed number of input spikes spread over windows from 1 s to 10^4 s: memory does not
      depend on the duration (no time grid; exponentials are rebased, so long windows
      neither overflow nor need more state);
   b. delta-encoded random-walk IMU windows (6 channels, 50 Hz) of growing length: the
      number of events grows with the length, and memory grows with the event list only.
   The neuron state (per-neuron a, b, traces, per-synapse reset trace, bounded spike buffer)
   is independent of both.

Run:  python benchmarks/bench_sfdfa.py [--before COMMIT] [--only-training]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from snn_dfa.eventdriven import LIFParams, SpikeBuffer, delta_encode, simulate_layer

REPEATS = 3
MEM_LENGTHS = [256, 1024, 4096, 16384]    # samples per window (50 Hz: 5 s ... 5.5 min)
FIXED_EVENTS_WINDOWS_S = [1.0, 100.0, 10000.0]
FIXED_EVENTS = 20000                      # per sample, 4 samples, 12 channels
DT_S = 0.02
TRAIN_WARMUP = 5                          # batches before timing (compile, rates settle)
TRAIN_BATCHES = 20                        # timed batches per rule
EVAL_SAMPLES = 1000
ROOT = Path(__file__).resolve().parents[1]


def _inputs(rng, batch, n_in, k):
    t = np.sort(rng.uniform(0.0, 0.1, (batch, n_in, k)), axis=2)
    return SpikeBuffer.from_arrays(t, None, rng.standard_normal(t.shape))


def _rate(inputs, w, params, impl):
    kw = {"perturbation": np.zeros((inputs.shape[0], w.shape[0])), "eligibility": True,
              "implementation": impl}
    simulate_layer(inputs, w, params, **kw)  # compile / warm up
    best = np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        simulate_layer(inputs, w, params, **kw)
        best = min(best, time.perf_counter() - start)
    return inputs.counts.sum() / best


def throughput() -> list[dict]:
    rng = np.random.default_rng(0)
    params = LIFParams(threshold_hat=0.2, t_sim_s=0.2)
    rows = []
    for n_in, n_out, k in [(50, 20, 1), (100, 40, 2)]:
        inputs = _inputs(rng, 2, n_in, k)
        w = rng.uniform(-1.0, 1.0, (n_out, n_in)) * 2
        fast = _rate(inputs, w, params, "numba")
        slow = _rate(inputs, w, params, "reference")
        rows.append({"n_in": n_in, "n_out": n_out, "events_per_sample": n_in * k,
                     "numba_spikes_per_s": fast, "reference_spikes_per_s": slow,
                     "ratio": fast / slow})
    return rows


def input_layer_skip() -> dict:
    """CPU time of the 784 -> 400 input layer with and without the tangent sums."""
    from snn_dfa.data import load_fashion_mnist
    from snn_dfa.eventdriven import ttfs_encode
    rng = np.random.default_rng(0)
    images = load_fashion_mnist(split="train").X[:50]
    bare = ttfs_encode(images, 0.1)
    zeros = SpikeBuffer(bare.times_s, bare.counts, np.zeros_like(bare.times_s))
    w = rng.uniform(-1.0, 1.0, (400, 784))
    u = rng.standard_normal((50, 400))
    params = LIFParams(threshold_hat=0.2)
    best = {"skip": np.inf, "full": np.inf}
    for _ in range(REPEATS + 1):
        for name, inputs in (("skip", bare), ("full", zeros)):
            start = time.process_time()
            simulate_layer(inputs, w, params, perturbation=u, eligibility=True)
            best[name] = min(best[name], time.process_time() - start)
    return {"skip_ms": 1e3 * best["skip"], "full_ms": 1e3 * best["full"],
            "speedup": best["full"] / best["skip"]}


def _training_child() -> None:
    """Print per-layer, per-batch and evaluation CPU times (ms, medians) as JSON."""
    from snn_dfa.data import load_fashion_mnist
    from snn_dfa.eventdriven import SFDFATrainer, fashion_mnist_config, ttfs_encode
    from snn_dfa.eventdriven import trainer as trainer_module
    from snn_dfa.eventdriven.trainer import take
    n = 50 * (TRAIN_WARMUP + TRAIN_BATCHES)
    train = load_fashion_mnist(split="train")
    test = load_fashion_mnist(split="test")
    x, y = ttfs_encode(train.X[:n], 0.1), train.y[:n]
    x_test = ttfs_encode(test.X[:EVAL_SAMPLES], 0.1)
    layer_ms: dict[str, list[float]] = {}
    simulate = trainer_module.simulate_layer

    def timed(inputs, weights, params, **kw):
        start = time.process_time()
        out = simulate(inputs, weights, params, **kw)
        layer_ms.setdefault(f"{weights.shape[1]}->{weights.shape[0]}", []).append(
            1e3 * (time.process_time() - start))
        return out

    trainer_module.simulate_layer = timed
    result = {}
    for rule in ("sfdfa", "dfa"):
        model = SFDFATrainer(784, 10, fashion_mnist_config(rule), random_state=0)
        batch_ms = []
        for k in range(TRAIN_WARMUP + TRAIN_BATCHES):
            if k == TRAIN_WARMUP:
                layer_ms.clear()
            idx = np.arange(50 * k, 50 * (k + 1))
            start = time.process_time()
            model.partial_fit(take(x, idx), y[idx])
            batch_ms.append(1e3 * (time.process_time() - start))
        trainer_module.simulate_layer = simulate
        start = time.process_time()
        model.predict(x_test)
        eval_ms = 1e3 * (time.process_time() - start)
        trainer_module.simulate_layer = timed
        result[rule] = {"batch_ms": float(np.median(batch_ms[TRAIN_WARMUP:])),
                        "layers_ms": {k: float(np.median(v)) for k, v in layer_ms.items()},
                        "eval_ms_per_1000": eval_ms * 1000 / EVAL_SAMPLES}
    print(json.dumps(result))


def training(before: str | None, repeats: int = 2) -> dict[str, list[dict]]:
    """Training-batch times of this tree (and of ``before``), alternating child processes."""
    trees = {"after": str(ROOT)}
    with tempfile.TemporaryDirectory() as tmp:
        if before is not None:
            archive = subprocess.run(["git", "-C", str(ROOT), "archive", before, "snn_dfa"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
            trees = {"before": tmp, **trees}
        out: dict[str, list[dict]] = {name: [] for name in trees}
        for _ in range(repeats):
            for name, tree in trees.items():
                env = {**os.environ, "PYTHONPATH": tree, "OMP_NUM_THREADS": "1",
                       "OPENBLAS_NUM_THREADS": "1"}
                res = subprocess.run([sys.executable, __file__, "--training-child"], env=env,
                                     capture_output=True, text=True, check=True)
                out[name].append(json.loads(res.stdout.strip().splitlines()[-1]))
    return out


def _print_training(res: dict[str, list[dict]]) -> None:
    print(f"\nTraining batch, Fashion-MNIST 784-400-400-10, batch 50 (CPU ms, median of "
          f"{TRAIN_BATCHES} batches; evaluation per {EVAL_SAMPLES} test images)")
    for rule in ("sfdfa", "dfa"):
        for name, runs in res.items():
            for k, r in enumerate(runs):
                row = r[rule]
                layers = "  ".join(f"{key} {v:6.1f}" for key, v in row["layers_ms"].items())
                print(f"{rule:5s} {name:6s} #{k}: batch {row['batch_ms']:6.1f}   {layers}   "
                      f"eval {row['eval_ms_per_1000']:7.1f}")
        if "before" in res:
            ratio = np.median([r[rule]["batch_ms"] for r in res["before"]]) / \
                np.median([r[rule]["batch_ms"] for r in res["after"]])
            print(f"{rule:5s} batch speed-up (median of the runs): x{ratio:.2f}")


def _memory_child(mode: str, size: float) -> None:
    rng = np.random.default_rng(1)
    if mode == "delta":
        length = int(size)
        x = np.cumsum(rng.standard_normal((4, length, 6)), axis=1)
        inputs = delta_encode(x, threshold=1.0, dt_s=DT_S)
        window_s = length * DT_S
    else:
        window_s = size
        per_channel = FIXED_EVENTS // 12
        t = np.sort(rng.uniform(0.0, window_s, (4, 12, per_channel)), axis=2)
        inputs = SpikeBuffer.from_arrays(t)
    w = rng.uniform(-1.0, 1.0, (64, 12))
    params = LIFParams(t_sim_s=np.inf, max_n_spikes=30)
    small = SpikeBuffer.from_arrays(inputs.times_s[:, :, :2])
    simulate_layer(small, w, params, eligibility=True, track_tangents=True)  # load kernels
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    out = simulate_layer(inputs, w, params, eligibility=True, track_tangents=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"window_s": window_s,
                      "events": int(inputs.counts.sum()),
                      "input_kib": inputs.times_s.nbytes / 1024,
                      "rss_growth_kib": peak - base,
                      "output_spikes": int(out.spikes.counts.sum())}))


def memory(mode: str, sizes: list[float]) -> list[dict]:
    rows = []
    for size in sizes:
        res = subprocess.run([sys.executable, __file__, "--memory-child", mode, str(size)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", default=None,
                    help="also time the training batch on the package at this git commit")
    ap.add_argument("--only-training", action="store_true")
    args = ap.parse_args()
    _print_training(training(args.before))
    if args.only_training:
        return
    print("\nThroughput (input spikes / s, one layer, eligibility + tangents, best of "
          f"{REPEATS})")
    print(" n_in n_out events/sample      numba   reference   ratio")
    for r in throughput():
        print(f"{r['n_in']:5d} {r['n_out']:5d} {r['events_per_sample']:13d} "
              f"{r['numba_spikes_per_s']:10.3g} {r['reference_spikes_per_s']:11.3g} "
              f"{r['ratio']:7.0f}x")
    r = input_layer_skip()
    print(f"\nInput layer 784 -> 400, batch 50 (CPU ms, best of {REPEATS + 1}): without input "
          f"tangents {r['skip_ms']:.1f}, with zero tangents {r['full_ms']:.1f}, "
          f"speed-up {r['speedup']:.2f}x")
    header = " window (s)  events  input (KiB)  peak RSS growth (KiB)  out spikes"
    for title, mode, sizes in [
            (f"a. {FIXED_EVENTS} spikes per sample over longer windows", "fixed",
             FIXED_EVENTS_WINDOWS_S),
            ("b. delta-encoded random walks, 50 Hz", "delta", MEM_LENGTHS)]:
        print(f"\nMemory, {title} (4 samples, 12 input channels, 64 neurons, buffer 30)")
        print(header)
        for r in memory(mode, sizes):
            print(f"{r['window_s']:11.1f} {r['events']:7d} {r['input_kib']:12.1f} "
                  f"{r['rss_growth_kib']:22d} {r['output_spikes']:11d}")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--memory-child":
        _memory_child(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) == 2 and sys.argv[1] == "--training-child":
        _training_child()
    else:
        main()
