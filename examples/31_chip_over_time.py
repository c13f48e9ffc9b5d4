"""31 — The measured chip: deployed accuracy against time since programming, ADC bits and
stuck-at fraction, for networks pre-trained with each rule (issue 13).

The SFCN networks pre-trained by the main pipeline with BP, DFA and SFDFA (the cache of
``snn-dfa demo``) are deployed on the default chip: NeuRRAM-style HfO2 cells with the
conductance-dependent programming spread and relaxation of Wan et al. (Nature 608, 2022, as
fitted by IBM aihwkit's ``ReRamWan2022NoiseModel``), 64x64 arrays, 6-bit ADCs calibrated at
the 99.9th percentile of a calibration batch, IR drop, 1 % read noise.  Accuracy without
adaptation on the demo subjects' held-out windows (mean over subjects):

* against time since programming, 1 s to one week (beyond the fits' 2 days the spread is
  extrapolated in log time; those points are marked);
* against ADC bits (4 to 8) and the fraction of stuck cells (half stuck at G_min, half at
  G_max), at 1 s;
* for the chip of the old defaults (relative spread 0.3 of the range, ADC range = largest
  possible current), for reference;
* hardware-aware pre-training: the BP network pre-trained with the chip's weight error in
  every forward pass, against plain pre-training, on the same chip (1 s, 1 day, 1 week).

Usage::

    python examples/31_chip_over_time.py            # full (tens of minutes on a loaded machine)
    python examples/31_chip_over_time.py --quick    # tiny network and data (the test)

Writes ``results.json``, ``summary.md`` and ``chip_over_time.png`` to ``--out`` (default
``runs/31_chip_over_time``).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import warnings
from pathlib import Path

import numpy as np

from crossbar import CrossbarWarning
from snn_dfa.app.config import RunConfig
from snn_dfa.app.experiment import accuracy, calibration_windows, prepare_data, pretrained
from snn_dfa.app.hardware import deploy

TIMES_S = [1.0, 60.0, 3600.0, 86400.0, 172800.0, 604800.0]
ADC_BITS = [4, 5, 6, 8]
STUCK = [0.0, 0.01, 0.03, 0.1]
AWARE_TIMES_S = [1.0, 86400.0, 604800.0]
QUICK_TIMES_S = [1.0, 86400.0, 604800.0]
QUICK_ADC_BITS = [4, 6]
QUICK_STUCK = [0.0, 0.1]


def quick_config(config: RunConfig) -> RunConfig:
    return dataclasses.replace(
        config,
        data=dataclasses.replace(config.data, adapt_subjects=(2,), max_pretrain_windows=300),
        model=dataclasses.replace(config.model, channels=(8, 16)),
        pretrain=dataclasses.replace(config.pretrain, epochs=1),
        crossbar=dataclasses.replace(config.crossbar, calibration_windows=16),
    )


def deployed(folded, config: RunConfig, subjects, x_cal, times=(1.0,)) -> dict:
    """Mean (over subjects) and per-subject accuracy of the deployed network at ``times``;
    ``extrapolated`` marks times past the fitted data (a CrossbarWarning was raised)."""
    per_time: dict[float, list[float]] = {t: [] for t in times}
    extrapolated = set()
    for sub in subjects:
        net = copy.deepcopy(folded)
        arrays = deploy(net, config.crossbar, config.seed, calibration=x_cal)
        for t in times:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", CrossbarWarning)
                for a in arrays.values():  # cached conductances are re-evaluated here
                    a.set_time(max(t, a.time_s))
                per_time[t].append(accuracy(net, sub.x_test, sub.y_test))
            if any(issubclass(w.category, CrossbarWarning) and "beyond the last fitted"
                   in str(w.message) for w in caught):
                extrapolated.add(t)
    return {"times_s": list(times),
            "accuracy": [float(np.mean(per_time[t])) for t in times],
            "per_subject": [per_time[t] for t in times],
            "extrapolated": [t in extrapolated for t in times]}


def with_crossbar(config: RunConfig, **changes) -> RunConfig:
    return dataclasses.replace(config, crossbar=dataclasses.replace(config.crossbar, **changes))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/31_chip_over_time"))
    args = parser.parse_args()
    config = quick_config(RunConfig()) if args.quick else RunConfig()
    times = QUICK_TIMES_S if args.quick else TIMES_S
    adc_bits = QUICK_ADC_BITS if args.quick else ADC_BITS
    stuck = QUICK_STUCK if args.quick else STUCK
    x_train, y_train, subjects, _ = prepare_data(config)
    x_cal = calibration_windows(config, x_train)
    results: dict = {"subjects": [s.subject for s in subjects], "rules": {}}
    old = with_crossbar(config, noise_model="relative", prog_sigma_rel=0.3, adc_range="max",
                        read_sigma_rel=0.02, update_mode="nearest")
    for rule in config.adapt.rules:
        net, _, _ = pretrained(config, rule, x_train, y_train, None, progress=False)
        folded = copy.deepcopy(net)
        folded.fold_batch_norm()
        r: dict = {"ideal": float(np.mean([accuracy(folded, s.x_test, s.y_test)
                                           for s in subjects]))}
        r["time"] = deployed(folded, config, subjects, x_cal, times)
        r["adc_bits"] = {"values": adc_bits, "accuracy": [
            deployed(folded, with_crossbar(config, adc_bits=b), subjects, x_cal)["accuracy"][0]
            for b in adc_bits]}
        r["stuck_fraction"] = {"values": stuck, "accuracy": [
            deployed(folded, with_crossbar(config, sa0_fraction=f / 2, sa1_fraction=f / 2),
                     subjects, x_cal)["accuracy"][0] for f in stuck]}
        r["old_default_chip"] = deployed(folded, old, subjects, x_cal)["accuracy"][0]
        results["rules"][rule] = r
        print(f"{rule}: ideal {100 * r['ideal']:.1f} %, deployed at 1 s "
              f"{100 * r['time']['accuracy'][0]:.1f} %, old default chip "
              f"{100 * r['old_default_chip']:.1f} %", flush=True)

    base = config.adapt.rules[0]
    aware_config = dataclasses.replace(
        config, pretrain=dataclasses.replace(config.pretrain, noise_aware=True))
    aware, _, _ = pretrained(aware_config, base, x_train, y_train, None, progress=False)
    folded_aware = copy.deepcopy(aware)
    folded_aware.fold_batch_norm()
    aware_times = QUICK_TIMES_S if args.quick else AWARE_TIMES_S
    results["noise_aware"] = {
        "rule": base,
        "ideal": float(np.mean([accuracy(folded_aware, s.x_test, s.y_test) for s in subjects])),
        "aware": deployed(folded_aware, config, subjects, x_cal, aware_times),
        "plain": {"times_s": aware_times, "accuracy": [
            results["rules"][base]["time"]["accuracy"][times.index(t)] for t in aware_times]},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    (args.out / "summary.md").write_text(summary(results))
    plot(results, args.out / "chip_over_time.png")
    print(summary(results))


def _pct(v: float) -> str:
    return f"{100 * v:.1f}"


def summary(results: dict) -> str:
    """Markdown tables of the results (accuracies in %, mean over subjects)."""
    rules = results["rules"]
    first = next(iter(rules.values()))
    lines = [f"Subjects {results['subjects']}; accuracy (%) without adaptation, mean over "
             "subjects. `*`: time beyond the fitted data (2 days), extrapolated.", ""]
    times = first["time"]["times_s"]
    marks = ["*" if e else "" for e in first["time"]["extrapolated"]]
    lines += ["| pre-trained with | ideal | old default chip | "
              + " | ".join(f"{_duration(t)}{m}" for t, m in zip(times, marks)) + " |",
              "|---" * (3 + len(times)) + "|"]
    for rule, r in rules.items():
        lines.append(f"| {rule} | {_pct(r['ideal'])} | {_pct(r['old_default_chip'])} | "
                     + " | ".join(_pct(a) for a in r["time"]["accuracy"]) + " |")
    lines += ["", "| pre-trained with | " + " | ".join(
        f"ADC {b} bits" for b in first["adc_bits"]["values"]) + " | " + " | ".join(
        f"stuck {100 * f:g} %" for f in first["stuck_fraction"]["values"]) + " |",
        "|---" * (1 + len(first["adc_bits"]["values"]) + len(first["stuck_fraction"]["values"]))
        + "|"]
    for rule, r in rules.items():
        lines.append(f"| {rule} | " + " | ".join(_pct(a) for a in r["adc_bits"]["accuracy"])
                     + " | " + " | ".join(_pct(a) for a in r["stuck_fraction"]["accuracy"])
                     + " |")
    na = results["noise_aware"]
    lines += ["", f"Noise-aware pre-training ({na['rule']}), same chip:", "",
              "| pre-training | ideal | " + " | ".join(
                  _duration(t) for t in na["aware"]["times_s"]) + " |",
              "|---" * (2 + len(na["aware"]["times_s"])) + "|",
              f"| plain | {_pct(rules[na['rule']]['ideal'])} | "
              + " | ".join(_pct(a) for a in na["plain"]["accuracy"]) + " |",
              f"| noise-aware | {_pct(na['ideal'])} | "
              + " | ".join(_pct(a) for a in na["aware"]["accuracy"]) + " |", ""]
    return "\n".join(lines)


def _duration(t: float) -> str:
    for unit, s in (("week", 604800.0), ("day", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if t >= s:
            n = t / s
            return f"{n:g} {unit}{'s' if unit in ('week', 'day') and n != 1 else ''}"
    return f"{t:g} s"


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axs = plt.subplots(1, 3, figsize=(12, 3.6))
    for rule, r in results["rules"].items():
        t = np.array(r["time"]["times_s"])
        line, = axs[0].semilogx(t, 100 * np.array(r["time"]["accuracy"]), marker="o",
                                label=rule)
        ext = np.array(r["time"]["extrapolated"])
        axs[0].scatter(t[ext], 100 * np.array(r["time"]["accuracy"])[ext], s=80,
                       facecolors="none", edgecolors=line.get_color())
        axs[0].axhline(100 * r["ideal"], color=line.get_color(), ls=":", lw=1)
        axs[1].plot(r["adc_bits"]["values"], 100 * np.array(r["adc_bits"]["accuracy"]),
                    marker="o", color=line.get_color())
        axs[2].plot(100 * np.array(r["stuck_fraction"]["values"]),
                    100 * np.array(r["stuck_fraction"]["accuracy"]), marker="o",
                    color=line.get_color())
    na = results["noise_aware"]
    axs[0].semilogx(na["aware"]["times_s"], 100 * np.array(na["aware"]["accuracy"]),
                    marker="s", ls="--", color="k", label=f"{na['rule']}, noise-aware")
    axs[0].axvline(172800.0, color="grey", lw=0.8)
    axs[0].set_xlabel("time since programming (s); grey: last fitted time")
    axs[1].set_xlabel("ADC bits (at 1 s)")
    axs[2].set_xlabel("stuck cells (%) (at 1 s)")
    axs[0].set_ylabel("accuracy without adaptation (%)")
    axs[0].legend(fontsize=8)
    fig.suptitle("SFCN on the measured chip (Wan 2022 spread and relaxation); dotted: ideal "
                 "weights; open circles: extrapolated")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    main()
