"""74 — On-chip adaptation of the spiking HAR network with an optical DFA projector.

The main job (`snn-dfa run`: SFCN pre-trained on the UCI-HAR training subjects of UCI HAPT,
deployed on the default noisy RRAM chip, adapted on-chip at batch 1 to held-out wearers) with
``adapt.rules = ["dfa", "optical_dfa"]``: digital DFA against DFA whose projection runs on the
simulated optical co-processor (``snn_dfa.rules.optical``; the ``[optical]`` defaults: error
ternarised at 0.25, four camera frames per window, 8-bit camera, 1000 photons per unit
intensity, 750 frames/s).  Pre-training is "matched" (the demo's): each rule adapts the network
it pre-trained, DFA with its random matrices, optical DFA with the OPU of the run's seed (the
same device in the cloud and beside the chip).  Launay et al. (arXiv 2012.06373, 2020) train
with the OPU in the loop; here the spiking network's on-chip adaptation is the new part.

Reported per wearer and seed: held-out accuracy after deployment and after adaptation (paired
rule differences with the hierarchical bootstrap of ``snn_dfa.stats``), the OPU's camera
frames per learned window from its frame counter (unlabelled windows are not learned), the
OPU time per window (frames / frame rate) and its energy per window at
``hwsim.photonic.LIGHTON_OPU``'s power.

Settings: the demo configuration with the study's nine held-out wearers and 2 seeds (the
study: 5); nothing else reduced.  ``--variants`` adds sensitivity runs of optical DFA alone
(:data:`VARIANTS`: an ideal camera; a 30x smaller step), paired with the main runs' DFA.
Resumable: a run whose results file exists is not rerun.

Run:
    nice -n 19 python examples/74_optical_har.py --out runs/74_optical_har
    python examples/74_optical_har.py --quick --out /tmp/q74   (a reduced network, 1 wearer)
"""

from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.photonic import LIGHTON_OPU
from snn_dfa import stats
from snn_dfa.app import experiment
from snn_dfa.app.config import RunConfig, config_from_dict, demo_config
from snn_dfa.app.results import read_results
from snn_dfa.engine.losses import loss_and_grad
from snn_dfa.rules import optical
from snn_dfa.rules.learning import alignment

RULES = ["dfa", "optical_dfa"]
#: sensitivity runs of optical DFA alone, paired with the main runs' DFA (same seed, subjects,
#: chip and stream): an ideal camera (no shot noise, no quantisation: the update is digital DFA
#: with a ternarised error, tests/test_optical_rule.py) and a 30x smaller step (the feedback
#: diagnostic below finds optical DFA's hidden updates tens of times DFA's, relative to BP's)
VARIANTS: dict[str, dict[str, Any]] = {
    "ideal_camera": {"adapt": {"rules": ["optical_dfa"]},
                     "optical": {"photons_per_unit": 0.0, "bit_depth": 0}},
    "lr_1e-5": {"adapt": {"rules": ["optical_dfa"], "lr_by_rule": {"optical_dfa": 1e-5}}},
}
SUBJECTS = [2, 4, 9, 10, 12, 13, 18, 20, 24]  # reports/study.toml's held-out wearers
SEEDS = (0, 1)
#: the chip's side of a learned window, from the main job's hwsim costing (both rules)
CHIP_KEYS = ("_energy_pJ_per_learned_window", "_error_delivery_energy_pJ_per_learned_window",
             "_latency_ns_per_learned_window")
QUICK = {"data": {"adapt_subjects": [2], "adapt_fraction": 0.1, "max_pretrain_windows": 120},
         "model": {"channels": [4, 8]}, "pretrain": {"epochs": 1}, "adapt": {"epochs": 1},
         "crossbar": {"calibration_windows": 8}}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def config_for(seed: int, quick: bool, variant: str | None = None) -> RunConfig:
    base = _merge(demo_config().to_dict(),
                  {"seed": seed, "data": {"adapt_subjects": SUBJECTS}, "adapt": {"rules": RULES}})
    if quick:
        base = _merge(base, QUICK)
    return config_from_dict(_merge(base, VARIANTS[variant]) if variant else base)


def feedback_diagnostic(seed: int, quick: bool, n_windows: int = 64) -> dict[str, Any]:
    """What each rule's feedback does to the hidden layers, on its pre-trained (ideal)
    network and the first wearer's first ``n_windows`` labelled adaptation windows at batch 1:
    the norm of the hidden layers' weight gradients, their ratio to backprop's and their
    cosine with it (per layer, mean over windows), and for optical DFA how often the
    ternarised error is zero or a lone -1 at the true class."""
    cfg = config_for(seed, quick)
    x_tr, y_tr, subjects, _ = experiment.prepare_data(cfg)
    sub = subjects[0]
    idx = np.flatnonzero(sub.y_adapt >= 0)[:n_windows]
    out: dict[str, Any] = {"subject": sub.subject, "windows": len(idx)}
    ideal = config_for(seed, quick, "ideal_camera")
    # the ideal camera on optical DFA's own pre-trained network: the same device (matrices)
    for name, rule_name, rule_cfg in (("dfa", "dfa", cfg), ("optical_dfa", "optical_dfa", cfg),
                                      ("optical_dfa_ideal_camera", "optical_dfa", ideal)):
        net, feedback, _ = experiment.pretrained(cfg, rule_name, x_tr, y_tr, None)
        rule = experiment.adaptation_rule(rule_cfg, rule_name, net, feedback)
        hidden = net.synaptic_layers[:-1]
        norms, ratios, cosines, zero, lone = [], [], [], 0, 0
        for i in idx:
            z, trace = net.forward(np.ascontiguousarray(sub.x_adapt[i][:, None, :]), record=True)
            _, e = loss_and_grad(z, np.array([sub.y_adapt[i]]))
            g, b = rule.gradients(net, trace, e), net.backward(trace, e)
            n_g = [float(np.linalg.norm(g[li]["weight"])) for li in hidden]
            n_b = [float(np.linalg.norm(b[li]["weight"])) for li in hidden]
            norms.append(n_g)
            ratios.append([a / max(c, 1e-30) for a, c in zip(n_g, n_b)])
            cos = alignment(g, b)
            cosines.append([cos[li] for li in hidden])
            t = optical.ternarise(e.astype(np.float64), cfg.optical.threshold)[0]
            zero += int(not t.any())
            lone += int(t.sum() == -1 and t[sub.y_adapt[i]] == -1 and np.count_nonzero(t) == 1)
        moved = np.array([n[0] > 0 for n in norms])  # windows whose update is not zero
        out[name] = {"hidden_update_norm": np.mean(norms, 0).tolist(),
                          "hidden_update_norm_over_bp": np.mean(ratios, 0).tolist(),
                          "hidden_cosine_with_bp": np.mean(cosines, 0).tolist(),
                          "updating_fraction": float(moved.mean()),
                          "when_updating": {
                              "hidden_update_norm_over_bp": np.mean(
                                  np.array(ratios)[moved], 0).tolist(),
                              "hidden_cosine_with_bp": np.mean(
                                  np.array(cosines)[moved], 0).tolist()}}
        if rule_name == "optical_dfa":
            out[name] |= {"ternary_zero_fraction": zero / len(idx),
                          "ternary_lone_true_class_fraction": lone / len(idx)}
            # what the OPU delivers for a zero error: its camera's bias and noise, against
            # the spread of one +-1 entry's projection (the matrix's standard deviation)
            opu = rule.projector.opu
            reps = np.array([opu.ternary(np.zeros((1, opu.n_in), np.int8))[0]
                             for _ in range(len(idx))])
            spread = float(opu.linear_matrix.std())
            out[name]["zero_error_projection"] = {
                "bias_rms_over_entry": float(np.sqrt((reps.mean(0) ** 2).mean())) / spread,
                "noise_std_over_entry": float(reps.std(0).mean()) / spread}
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("runs/74_optical_har"))
    ap.add_argument("--quick", action="store_true", help="a reduced network, for the tests")
    ap.add_argument("--seeds", type=int, nargs="+", default=None,
                    help=f"seeds to run and summarise (default {list(SEEDS)}; quick: 0)")
    ap.add_argument("--variants", nargs="*", choices=list(VARIANTS), default=[],
                    help="sensitivity runs of optical DFA alone, paired with the main runs")
    ap.add_argument("--variant-seeds", type=int, nargs="+", default=None,
                    help="seeds of the variants (default: those of the main runs)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    seeds = tuple(args.seeds) if args.seeds else (SEEDS[:1] if args.quick else SEEDS)
    rows = []
    chip: dict[int, dict[str, float]] = {}
    for seed in seeds:
        cfg = config_for(seed, args.quick)
        folder = args.out / f"seed{seed}"
        if not (folder / "results.h5").exists():
            experiment.run(cfg, folder)
        res = read_results(folder / "results.h5")
        chip[seed] = {k: float(v) for k, v in res["metrics"]["summary"].items()
                      if k.endswith(CHIP_KEYS)}
        for subject, sm in res["metrics"]["subjects"].items():
            row: dict[str, Any] = {"seed": seed, "subject": int(subject)}
            for rule in RULES:
                row[f"{rule}_deployed_pct"] = float(sm[rule]["deployed_accuracy_pct"])
                row[f"{rule}_final_pct"] = float(sm[rule]["final_accuracy_pct"])
            frames = float(sm["optical_dfa"]["opu_frames_per_learned_window"])
            row["opu_frames_per_window"] = frames  # per learned (labelled) window
            row["opu_ms_per_window"] = 1e3 * frames / cfg.optical.frame_rate_hz
            rows.append(row)
            print(f"seed {seed} subject {subject}: "
                  + "  ".join(f"{r} {row[f'{r}_deployed_pct']:.1f} -> {row[f'{r}_final_pct']:.1f} %"
                              for r in RULES)
                  + f"  OPU {row['opu_frames_per_window']:.2f} frames/window", flush=True)
    subjects = sorted({r["subject"] for r in rows})

    def table(key: str, among: tuple[int, ...] = seeds) -> np.ndarray:  # [subjects, seeds]
        return np.array([[next(r[key] for r in rows if r["subject"] == s and r["seed"] == k)
                          for k in among] for s in subjects])

    summary: dict[str, Any] = {"seeds": list(seeds), "subjects": subjects, "rows": rows}
    for rule in RULES:
        for what in ("deployed", "final"):
            iv = stats.bootstrap_interval(table(f"{rule}_{what}_pct"))
            summary[f"{rule}_{what}_pct"] = {"mean": iv.mean, "low": iv.low, "high": iv.high}
    for what in ("deployed", "final"):
        cmp = stats.paired_comparison(table(f"optical_dfa_{what}_pct"), table(f"dfa_{what}_pct"),
                                      ("optical_dfa", "dfa"))
        d = cmp.difference
        summary[f"optical_minus_dfa_{what}_points"] = {"mean": d.mean, "low": d.low,
                                                       "high": d.high, "verdict": cmp.verdict}
        print(f"optical DFA - DFA, {what}: {d.format()} points ({cmp.verdict})")
    vseeds = tuple(args.variant_seeds) if args.variant_seeds else seeds
    for variant in args.variants:
        final = {}
        for seed in vseeds:
            folder = args.out / f"{variant}_seed{seed}"
            if not (folder / "results.h5").exists():
                experiment.run(config_for(seed, args.quick, variant), folder)
            res = read_results(folder / "results.h5")
            for subject, sm in res["metrics"]["subjects"].items():
                final[(int(subject), seed)] = float(sm["optical_dfa"]["final_accuracy_pct"])
        tab = np.array([[final[(s, k)] for k in vseeds] for s in subjects])
        iv = stats.bootstrap_interval(tab)
        cmp = stats.paired_comparison(tab, table("dfa_final_pct", vseeds),
                                      (f"optical_dfa[{variant}]", "dfa"))
        d = cmp.difference
        summary[f"variant_{variant}"] = {
            "final_pct": {"mean": iv.mean, "low": iv.low, "high": iv.high},
            "minus_dfa_final_points": {"mean": d.mean, "low": d.low, "high": d.high,
                                       "verdict": cmp.verdict},
            "seeds": list(vseeds), "final_by_subject_seed": tab.tolist()}
        print(f"optical DFA [{variant}]: final {iv.format()} %; minus DFA {d.format()} points "
              f"({cmp.verdict})")
    summary["feedback_diagnostic"] = diag = feedback_diagnostic(seeds[0], args.quick)
    for rule in (*RULES, "optical_dfa_ideal_camera"):
        when = diag[rule]["when_updating"]
        print(f"{rule}: updates on {100 * diag[rule]['updating_fraction']:.0f} % of windows; "
              "there, hidden update norm / BP's "
              + ", ".join(f"{v:.2f}" for v in when["hidden_update_norm_over_bp"])
              + "; cosine with BP "
              + ", ".join(f"{v:.2f}" for v in when["hidden_cosine_with_bp"]))
    frames = float(np.mean([r["opu_frames_per_window"] for r in rows]))
    opu_s = frames / LIGHTON_OPU.frame_rate_Hz
    summary["opu"] = {"frames_per_window": frames, "ms_per_window": 1e3 * opu_s,
                      "energy_J_per_window": opu_s * LIGHTON_OPU.power_W,
                      "frame_rate_Hz": LIGHTON_OPU.frame_rate_Hz,
                      "power_W": LIGHTON_OPU.power_W}
    summary["chip_by_seed"] = chip
    summary["chip_mean"] = {k: float(np.mean([c[k] for c in chip.values()])) for k in chip[seeds[0]]}
    print(f"OPU: {frames:.2f} frames, {1e3 * opu_s:.2f} ms and "
          f"{opu_s * LIGHTON_OPU.power_W:.3f} J per learned window")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
