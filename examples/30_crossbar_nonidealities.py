"""30 — Accuracy of the trained HAR spiking network against each crossbar non-ideality (issue 6).

The SFCN network pre-trained with BPTT by the main pipeline (the same cache as ``snn-dfa
demo``) is folded and programmed into crossbars with one non-ideality at a time swept over
its strength, everything else ideal-ish (quantised 4-bit devices, no noise, no IR drop, 8-bit
ADC), and evaluated without adaptation on the held-out UCI-HAR test subjects' windows.

Axes: programming (device-to-device) spread, read noise, stuck-at-off and stuck-at-on device
fractions, ADC bits, and word/bit-line wire resistance (exact-in-the-loop fast IR-drop model,
the preset's 0.35 ohm per segment times a factor).

Usage::

    python examples/30_crossbar_nonidealities.py            # full (about 5 minutes)
    python examples/30_crossbar_nonidealities.py --quick    # reduced (a minute), slow test

Writes ``results.json`` and ``nonidealities.png`` to ``--out`` (default
``runs/30_crossbar_nonidealities``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from pathlib import Path

import numpy as np

import crossbar
from snn_dfa.app.config import CrossbarSection, RunConfig
from snn_dfa.app.experiment import prepare_data, pretrained
from snn_dfa.app.hardware import deploy
from snn_dfa.data import Normalizer, load_hapt, subject_split

BASE = CrossbarSection(noise_model="relative", prog_sigma_rel=0.0, read_sigma_rel=0.0,
                       c2c_sigma_rel=0.0, adc_bits=8, adc_range="max",
                       ir_drop="none")
AXES = {
    "prog_sigma_rel": [0.0, 0.05, 0.1, 0.2, 0.3, 0.5],
    "read_sigma_rel": [0.0, 0.02, 0.05, 0.1, 0.2],
    "sa0_fraction": [0.0, 0.01, 0.03, 0.1],
    "sa1_fraction": [0.0, 0.01, 0.03, 0.1],
    "adc_bits": [8, 6, 5, 4, 3],
    "wire_resistance_x": [0.0, 1.0, 10.0, 30.0],
}
QUICK_AXES = {"prog_sigma_rel": [0.0, 0.3], "adc_bits": [8, 4], "wire_resistance_x": [0.0, 10.0]}


def accuracy(net, x: np.ndarray, y: np.ndarray) -> float:
    correct = 0
    for s in range(0, len(y), 128):
        z, _ = net.forward(np.ascontiguousarray(x[s:s + 128].transpose(1, 0, 2)))
        correct += int(np.sum(np.argmax(z, axis=1) == y[s:s + 128]))
    return correct / len(y)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/30_crossbar_nonidealities"))
    args = parser.parse_args()
    config = RunConfig()
    if args.quick:
        config = dataclasses.replace(config, data=dataclasses.replace(
            config.data, max_pretrain_windows=600), pretrain=dataclasses.replace(
            config.pretrain, epochs=1))
    x_train, y_train, _, _ = prepare_data(config)
    ideal, _, _ = pretrained(config, "bptt", x_train, y_train, None, progress=False)
    folded = copy.deepcopy(ideal)
    folded.fold_batch_norm()

    windows = load_hapt()
    train, test = subject_split(windows)
    labelled = train.y >= 0
    norm = Normalizer().fit(train.X[labelled])
    x_test, y_test = norm.transform(test.X), test.y
    if args.quick:
        keep = np.random.default_rng(0).choice(len(y_test), 400, replace=False)
        x_test, y_test = x_test[keep], y_test[keep]

    results: dict = {"ideal_accuracy": accuracy(folded, x_test, y_test), "axes": {}}
    print(f"ideal weights: {100 * results['ideal_accuracy']:.2f} %")
    preset = crossbar.get_preset(BASE.device)
    for axis, values in (QUICK_AXES if args.quick else AXES).items():
        accs = []
        for v in values:
            section, device = BASE, preset
            if axis == "wire_resistance_x":
                section = dataclasses.replace(BASE, ir_drop="fast" if v > 0 else "none")
                device = dataclasses.replace(
                    preset, r_wire_row_ohm=max(v, 1e-12) * preset.r_wire_row_ohm,
                    r_wire_col_ohm=max(v, 1e-12) * preset.r_wire_col_ohm)
            else:
                section = dataclasses.replace(BASE, **{axis: v})
            net = copy.deepcopy(folded)
            deploy(net, section, seed=config.seed, device=device)
            accs.append(accuracy(net, x_test, y_test))
            print(f"{axis} = {v}: {100 * accs[-1]:.2f} %", flush=True)
        results["axes"][axis] = {"values": values, "accuracy": accs}

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    plot(results, args.out / "nonidealities.png")
    print(f"written {args.out / 'results.json'} and {args.out / 'nonidealities.png'}")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    axes = results["axes"]
    fig, axs = plt.subplots(1, len(axes), figsize=(3.2 * len(axes), 3.2), squeeze=False)
    for ax, (name, r) in zip(axs[0], axes.items()):
        ax.plot(range(len(r["values"])), 100 * np.array(r["accuracy"]), marker="o")
        ax.axhline(100 * results["ideal_accuracy"], color="grey", ls="--", lw=1)
        ax.set_xticks(range(len(r["values"])), [str(v) for v in r["values"]], fontsize=8)
        ax.set_xlabel(name)
        ax.set_ylim(0, 100)
    axs[0][0].set_ylabel("test accuracy (%), no adaptation")
    fig.suptitle("SFCN on the crossbar: one non-ideality at a time (dashed: ideal weights)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
