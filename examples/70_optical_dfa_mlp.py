"""70 — Optical DFA: an MLP trained with a simulated OPU as the feedback projector (issue 23).

After Launay et al. 2020 (photonic co-processor for DFA, arXiv 2012.06373):
a 64-256-256-10 tanh MLP on scikit-learn's digits (8 x 8, 1437 training / 360 test images,
stratified by seed) trained with

* ``bp``: backpropagation;
* ``dfa``: exact DFA with the OPU's effective real feedback matrix (``OPU.linear_matrix``);
* ``dfa_ternary``: the same matrix fed the ternarised error (threshold ``THRESHOLD``);
* ``optical_ideal``: the simulated OPU with an ideal camera (equals ``dfa_ternary`` up to
  rounding: a consistency check of the holographic path);
* ``optical_8bit``: 8-bit camera, no shot noise, and ``optical_8bit_gG``: 8-bit camera with
  ``G`` detected photons per unit intensity (shot noise grows as ``G`` falls).

SGD with momentum 0.9, lr 0.01 (as TinyDFA's MNIST example, lightonai/dfa-scales-to-modern-
deep-learning, TinyDFA/mnist_example.py, which uses batch 128), batch 64 [assumption],
``EPOCHS`` = 15 epochs, 3 seeds.  Reported: test accuracy (mean, min, max over seeds), the cosine
between each hidden layer's DFA update and the BP gradient on a fixed batch after training
(``snn_dfa.deep.alignment``), camera frames per training step and the OPU time they take at
its frame rate (750 frames/s [assumption], derived from the 1500 TeraOPS at 10^6 x 10^6 of
Wang et al. 2024, arXiv 2409.12965).

Usage::

    python examples/70_optical_dfa_mlp.py            # full run (~20 min on a busy core)
    python examples/70_optical_dfa_mlp.py --quick    # seconds: 1 seed, 1 epoch, 5 methods

Writes ``results.json`` and ``summary.md`` to ``--out`` (default ``runs/70_optical_dfa_mlp``).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import train_test_split

from snn_dfa.data import load_digits
from snn_dfa.deep import DFA, FixedProjector, Mode, alignment
from snn_dfa.deep.optical import OpticalProjector
from snn_dfa.rules.optical import FRAME_RATE_HZ, OPU, Camera

SEEDS = (0, 1, 2)
EPOCHS = 15
BATCH = 64
LR = 0.01
MOMENTUM = 0.9
HIDDEN = (256, 256)
#: Ternarisation threshold on the per-example error [assumption]: the TinyDFA fork's 0.1 makes
#: every wrong class with p > 0.1 a +1 at initialisation (p = 1/10 for all ten classes), a signal
#: shared by all examples that drove the hidden weights up and training to chance in our runs;
#: 0.25 (the fork's DP script uses 0.15) keeps mostly the true class's -1 early on.
THRESHOLD = 0.25
BUDGETS = (1000.0, 100.0, 10.0)
QUICK = {"seeds": (0,), "epochs": 1,
         "methods": ("bp", "dfa", "dfa_ternary", "optical_ideal", "optical_8bit_g100")}


def methods() -> dict[str, dict]:
    out: dict[str, dict] = {"bp": {}, "dfa": {}, "dfa_ternary": {"ternarise": THRESHOLD},
                            "optical_ideal": {"camera": Camera(bit_depth=None)},
                            "optical_8bit": {"camera": Camera()}}
    for g in BUDGETS:
        out[f"optical_8bit_g{g:g}"] = {"camera": Camera(photons_per_unit=g)}
    return out


class MLP(torch.nn.Module):
    def __init__(self, sizes: tuple[int, ...], dfa: DFA) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(torch.nn.Linear(a, b)
                                          for a, b in itertools.pairwise(sizes))
        self.dfa = dfa

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.layers[:-1]:
            x = self.dfa.point(torch.tanh(layer(x)))
        return self.dfa.output(self.layers[-1](x))


def run(name: str, spec: dict, seed: int, data: tuple, epochs: int) -> dict:
    x_tr, y_tr, x_te, y_te = data
    torch.manual_seed(seed)
    n_classes = 10
    # The feedback every DFA variant shares: the OPU's effective linear matrix for this seed.
    reference = OPU(n_classes, sum(HIDDEN), camera=Camera(bit_depth=None), seed=seed)
    b_full = reference.linear_matrix.T  # [sum n_l, c]
    b = [b_full[:HIDDEN[0]], b_full[HIDDEN[0]:]]
    if name == "bp":
        dfa = DFA(mode=Mode.BP)
    elif name.startswith("optical"):
        dfa = DFA(OpticalProjector(THRESHOLD, spec["camera"], seed=seed))
    else:
        dfa = DFA(FixedProjector(b), ternarise=spec.get("ternarise"))
    model = MLP((x_tr.shape[1], *HIDDEN, n_classes), dfa)
    opt = torch.optim.SGD(model.parameters(), lr=LR, momentum=MOMENTUM)
    gen = torch.Generator().manual_seed(seed)
    steps = 0
    for _ in range(epochs):
        order = torch.randperm(x_tr.shape[0], generator=gen)
        for i in range(0, len(order), BATCH):
            idx = order[i:i + BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x_tr[idx]), y_tr[idx]).backward()
            opt.step()
            steps += 1
    if name.startswith("optical"):
        opu = dfa.projector.feedback.opu  # type: ignore[attr-defined]
        train_frames = opu.frames - opu.calibration_frames
    with torch.no_grad(), dfa.using(mode=Mode.BP):
        acc = float((model(x_te).argmax(1) == y_te).double().mean())
    rec = {"method": name, "seed": seed, "test_accuracy": acc, "steps": steps}
    if name != "bp":
        probe = slice(0, 256)
        points = alignment(dfa, model.parameters(), lambda: torch.nn.functional.cross_entropy(
            model(x_tr[probe]), y_tr[probe]))
        rec["update_cosine"] = {p.key: p.update_cosine for p in points}
    if name.startswith("optical"):
        rec["training_frames"] = train_frames
        rec["frames_per_step"] = train_frames / steps
        rec["opu_seconds_per_step"] = rec["frames_per_step"] / FRAME_RATE_HZ
    return rec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/70_optical_dfa_mlp"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    seeds, epochs = (QUICK["seeds"], QUICK["epochs"]) if args.quick else (SEEDS, EPOCHS)
    chosen = {k: v for k, v in methods().items() if not args.quick or k in QUICK["methods"]}
    digits = load_digits()
    x = digits.X.reshape(len(digits.X), -1).astype(np.float32) / digits.max_value
    runs = []
    for seed in seeds:
        x_tr, x_te, y_tr, y_te = train_test_split(x, digits.y, test_size=0.2, random_state=seed,
                                                  stratify=digits.y)
        data = (torch.as_tensor(x_tr), torch.as_tensor(y_tr), torch.as_tensor(x_te),
                torch.as_tensor(y_te))
        for name, spec in chosen.items():
            rec = run(name, spec, seed, data, epochs)
            runs.append(rec)
            print(f"{name:22s} seed {seed}: {100 * rec['test_accuracy']:.2f} %", flush=True)
    summary = {}
    for name in chosen:
        sel = [r for r in runs if r["method"] == name]
        acc = [100 * r["test_accuracy"] for r in sel]
        row = {"accuracy_pct_mean": float(np.mean(acc)), "accuracy_pct_min": float(np.min(acc)),
               "accuracy_pct_max": float(np.max(acc))}
        if "update_cosine" in sel[0]:
            for key in sel[0]["update_cosine"]:
                row[f"cosine_{key}"] = float(np.mean([r["update_cosine"][key] for r in sel]))
        if "frames_per_step" in sel[0]:
            row["frames_per_step"] = float(np.mean([r["frames_per_step"] for r in sel]))
            row["opu_seconds_per_step"] = float(np.mean([r["opu_seconds_per_step"] for r in sel]))
        summary[name] = row
    meta = {"command": "python examples/70_optical_dfa_mlp.py" + (" --quick" if args.quick
                                                                   else ""),
            "seeds": list(seeds), "epochs": epochs, "batch": BATCH, "load": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps({"meta": meta, "summary": summary,
                                                       "runs": runs}, indent=1))
    keys = sorted({k for row in summary.values() for k in row if k.startswith("cosine_")})
    lines = [f"# Optical DFA on digits ({meta['command']})", "",
             "| method | test accuracy % (mean [min, max]) | " + " | ".join(keys)
             + " | frames / step | OPU s / step |",
             "| --- | --- |" + " --- |" * len(keys) + " --- | --- |"]
    for name, row in summary.items():
        cos = " | ".join(f"{row[k]:.3f}" if k in row else "–" for k in keys)
        frames = (f"{row['frames_per_step']:.0f} | {row['opu_seconds_per_step']:.3f}"
                  if "frames_per_step" in row else "– | –")
        lines.append(f"| {name} | {row['accuracy_pct_mean']:.2f} [{row['accuracy_pct_min']:.2f}, "
                     f"{row['accuracy_pct_max']:.2f}] | {cos} | {frames} |")
    (args.out / "summary.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
