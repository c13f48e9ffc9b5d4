"""The run report: ``report.md``, a self-contained ``report.html`` and ``figures/*.png``.

Everything is computed from what ``results.h5`` holds (configuration, metrics, costs), so
``snn-dfa report RESULTS.h5`` rebuilds the same report without re-running anything.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

import hwsim
from hwsim.report import plot_area_breakdown, plot_energy_breakdown, plot_latency
from hwsim.sensitivity import SensitivityRow, format_sensitivity, sensitivity_from_dict
from snn_dfa.errors import DataError, ValidationError
from snn_dfa.rules import registry

PAPER = {"energy": 64.1, "area": 10.1, "latency": 2.1, "accuracy": 7.55}


_ASSUMPTIONS = ("leakage", "multibit_reads", "update_arithmetic", "periphery", "charge_storage")


def _f(v: Any) -> float:
    return float(np.asarray(v))


def _rules(config: Mapping[str, Any]) -> list[str]:
    return list(config["adapt"]["rules"])


def _figures(folder: Path, config: Mapping[str, Any], metrics: Mapping[str, Any],
             reports: Mapping[str, hwsim.CostReport]) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figs = folder / "figures"
    figs.mkdir(exist_ok=True)
    out = []
    rules = _rules(config)
    subjects = list(metrics["subjects"])
    fig, axes = plt.subplots(1, len(subjects), figsize=(5 * len(subjects), 3.6), squeeze=False)
    for ax, s in zip(axes[0], subjects):
        sm = metrics["subjects"][s]
        for rule in rules:
            steps = np.asarray(sm[rule]["stream_steps"])
            acc = np.asarray(sm[rule]["stream_correct"], float)
            ok = np.isfinite(acc)
            window = max(1, min(25, ok.sum() // 5))
            smooth = np.convolve(acc[ok], np.ones(window) / window, mode="valid")
            ax.plot(steps[ok][window - 1:], 100 * smooth, label=registry.label(rule))
            ax.axhline(100 * _f(sm[rule]["deployed_accuracy"]), ls=":", lw=1,
                       color=ax.lines[-1].get_color())
        ax.set_xlabel("window in the stream")
        ax.set_ylabel("prequential accuracy (%), moving mean")
        ax.set_title(f"subject {s} (dotted: held-out accuracy when deployed)", fontsize=9)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(figs / "accuracy_stream.png", dpi=100)
    plt.close(fig)
    out.append(("Accuracy along the adaptation stream", "figures/accuracy_stream.png"))

    ordered = [reports[r] for r in rules]
    for name, title, plot in (("energy.png", "Energy per phase and component", plot_energy_breakdown),
                              ("latency.png", "Latency per phase", plot_latency),
                              ("area.png", "Area breakdown", plot_area_breakdown)):
        fig = plot(ordered)
        fig.savefig(figs / name, dpi=100)
        plt.close(fig)
        out.append((title, f"figures/{name}"))

    before = np.asarray(metrics["conductance_before_uS"], float)
    after = np.asarray(metrics["conductance_after_uS"], float)
    fig, ax = plt.subplots(figsize=(6, 3.6))
    bins = np.linspace(min(before.min(), after.min()), max(before.max(), after.max()), 60).tolist()
    ax.hist(before, bins=bins, alpha=0.6, label="deployed")
    rule = metrics["conductance_after_rule"]
    rule = rule.decode() if isinstance(rule, bytes) else str(rule)
    ax.hist(after, bins=bins, alpha=0.6, label=f"after {registry.label(rule)} adaptation")
    ax.set_xlabel("conductance (uS)")
    ax.set_ylabel("devices")
    ax.set_yscale("log")
    ax.legend()
    fig.tight_layout()
    fig.savefig(figs / "conductance.png", dpi=100)
    plt.close(fig)
    out.append(("Conductances before and after adaptation (first subject)",
                "figures/conductance.png"))
    return out



def _chip_text(cb: dict) -> str:
    """The device model, converter ranges, time and update mode of a ``[crossbar]`` record
    (records written before these keys existed read as the relative model)."""
    model = cb.get("noise_model", "relative")
    if model == "relative":
        spread = f"programming spread {cb['prog_sigma_rel']} of the range (`relative` model)"
    else:
        scale = cb.get("prog_noise_scale", 1.0)
        spread = f"`{model}` programming spread and relaxation" + (
            f" x{scale}" if scale != 1.0 else "")
    parts = [spread]
    if "adc_range" in cb:
        rng = ("ADC range calibrated at the "
               f"{cb['calibration_percentile']}th percentile per {cb['calibration_scope']}"
               if cb["adc_range"] == "calibrated" else "ADC range = largest possible current")
        parts += [rng, f"{cb['time_at_deployment_s']:g} s after programming, "
                  f"{cb['window_period_s']:g} s per window", f"updates `{cb['update_mode']}`"]
    return ", ".join(parts)

def _markdown(config: Mapping[str, Any], metrics: Mapping[str, Any],
              summary: Mapping[str, Any], figures: list[tuple[str, str]],
              sensitivity: Mapping[str, Any] | None = None) -> str:
    rules = _rules(config)
    cb, data = config["crossbar"], config["data"]
    lines = [
        "# snn-dfa: on-device adaptation of a spiking HAR network on an RRAM crossbar",
        "",
        f"UCI HAPT, SFCN spiking network pre-trained on ideal weights "
        f"({config['pretrain']['epochs']} epoch(s), rule `{config['pretrain']['rule']}`); "
        f"deployed on `{cb['device']}` crossbars of {cb['array_size']}x{cb['array_size']} "
        f"({cb['adc_bits']}-bit ADC per {cb['columns_per_adc']} columns, IR drop "
        f"`{cb['ir_drop']}`, {_chip_text(cb)}, read noise "
        f"{cb['read_sigma_rel']}, write noise {cb['c2c_sigma_rel']}); adapted on-chip at batch 1 "
        f"(plain SGD, lr {config['adapt']['lr']}, {config['adapt']['epochs']} epoch(s), "
        f"{config['adapt']['order']} order) on subjects "
        f"{', '.join(map(str, data['adapt_subjects']))}: each subject's windows are cut into "
        f"blocks of {data['block_windows']}; {100 * data['adapt_fraction']:.0f} % of the blocks "
        f"adapt, the rest are the held-out test. Seed {config['seed']}. Costs: hwsim preset "
        f"`{config['hwsim']['tech']}` with the device's write pulse, feedback matrices in "
        f"{config['hwsim']['feedback_storage']}; costing assumptions (docs/hwsim.md): "
        + ", ".join(f"{k} = {config['hwsim'][k]}" for k in _ASSUMPTIONS if k in config["hwsim"])
        + ".",
        "",
        "## Accuracy (%)",
        "",
        f"Pre-training: `{config['pretrain']['rule']}` (\"matched\": each rule starts from a "
        "network trained with that rule). Ideal = pre-trained network on ideal weights; "
        "deployed = on the crossbar before adaptation; after = after on-chip adaptation; "
        "prequential = accuracy of the predictions made during adaptation, before each update.",
        "",
        "| subject | rule | ideal | deployed | after adaptation | prequential |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s, sm in metrics["subjects"].items():
        for r in rules:
            m = sm[r]
            lines.append(
                f"| {s} | {registry.label(r)} | {100 * _f(m['ideal_accuracy']):.2f} | "
                f"{100 * _f(m['deployed_accuracy']):.2f} | {100 * _f(m['final_accuracy']):.2f} | "
                f"{100 * _f(m['prequential_accuracy']):.2f} |")
    for r in rules:
        lines.append(
            f"| **mean** | {registry.label(r)} | {100 * _f(summary[f'{r}_ideal_accuracy']):.2f} | "
            f"{100 * _f(summary[f'{r}_deployed_accuracy']):.2f} | "
            f"{100 * _f(summary[f'{r}_final_accuracy']):.2f} | "
            f"{100 * _f(summary[f'{r}_prequential_accuracy']):.2f} |")
    lines += _privacy_lines(config, metrics, rules)
    cost_keys = ("energy_pJ_per_learned_window", "dynamic_energy_pJ_per_learned_window",
                 "static_energy_pJ_per_learned_window", "inference_energy_pJ_per_inference_window",
                 "latency_ns_per_learned_window", "area_um2",
                 "learning_store_bits_per_learned_window")
    lines += ["", "## Energy, area and latency of adaptation (hwsim)", "",
              ("Per learned window: its inference plus its learning phases; inference alone per "
               "inference window (every window of the stream, labelled or not). Static energy "
               "is the leakage of the units working in each phase (idle periphery "
               "power-gated)."),
              "",
              "| rule | " + " | ".join(cost_keys) + " |",
              "| --- |" + " ---: |" * len(cost_keys)]
    for r in rules:
        try:
            cells = [f"{_f(summary[f'{r}_{k}']):.4g}" for k in cost_keys]
        except KeyError:  # a results file from before these names were recorded
            continue
        lines.append(f"| {registry.label(r)} | " + " | ".join(cells) + " |")
    if sensitivity:
        lines += ["", "## Which costing assumptions move the ratios to BP", "",
                  ("Each row switches one assumption from the defaults (docs/hwsim.md, "
                   "\"Assumptions\"); ratios of energy per learned window, latency per learned "
                   "window and chip area. `*`: within 10 % of the paper's DFA/BP figure."), "",
                  format_sensitivity(_in_rule_order(sensitivity_from_dict(sensitivity),
                                                    rules))]
    compared = [r for r in rules if f"{r}_vs_bp_energy_ratio" in summary]
    if compared:
        lines += ["", "## Against the wearable paper's headline claims (DFA vs BP)", "",
                  "| quantity | paper (DFA vs BP) | " + " | ".join(
                      f"ours, {registry.label(r)} vs BP" for r in compared) + " |",
                  "| --- | ---: | " + " | ".join("---:" for _ in compared) + " |"]
        rows = [
            ("energy reduction (%)", f"up to {PAPER['energy']}",
             lambda r: f"{100 * (1 - _f(summary[f'{r}_vs_bp_energy_ratio'])):.1f}"),
            ("area reduction (%)", f"{PAPER['area']}",
             lambda r: f"{100 * (1 - _f(summary[f'{r}_vs_bp_area_ratio'])):.1f}"),
            ("latency reduction (x)", f"{PAPER['latency']}",
             lambda r: f"{_f(summary[f'{r}_vs_bp_latency_speedup']):.2f}"),
            ("error-delivery energy reduction (%)", "n/a",
             lambda r: f"{100 * (1 - _f(summary[f'{r}_vs_bp_delivery_energy_ratio'])):.1f}"),
            ("error-delivery latency reduction (x)", "n/a",
             lambda r: f"{_f(summary[f'{r}_vs_bp_delivery_latency_speedup']):.1f}"),
            ("accuracy gain after adaptation (points)", f"up to {PAPER['accuracy']}",
             lambda r: f"{_f(summary[f'{r}_vs_bp_accuracy_gain_pct']):+.2f}"),
        ]
        for name, paper, ours in rows:
            try:
                cells = [ours(r) for r in compared]
            except KeyError:  # a results file from before that figure was recorded
                continue
            lines.append(f"| {name} | {paper} | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Where ours differ: the paper's DFA_Sim settings, network, device data and adaptation "
            "protocol are unknown (only its abstract-level claims are available), so this run "
            "uses labelled defaults instead: SNN_HAR's SFCN, SpikeSim's 65 nm constants with "
            "the learning components of docs/hwsim.md, a synthetic NeuRRAM-style device model "
            "(not chip data) and UCI HAPT recordings in place of UCI-HAR. Energy and latency "
            "here cover one learned window (its inference, error, delivery and update); "
            "the paper's baseline definitions are not stated. The sensitivity table above "
            "shows how far each costing assumption moves the ratios. "
            "Ratios follow from these assumptions and from the counted events of this run, "
            "not from the paper's setup.",
        ]
    lines += [""]
    for title, path in figures:
        lines += [f"### {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)


def _privacy_lines(config: Mapping[str, Any], metrics: Mapping[str, Any],
                   rules: list[str]) -> list[str]:
    """The privacy spent per subject and rule (a ``[privacy]`` run only; docs/privacy.md)."""
    p = config.get("privacy", {})
    if not p.get("enabled"):
        return []
    text = (f"Differentially private adaptation (DP-DFA; DP-SGD for backprop): budget ε = "
            f"{p['epsilon']} at δ = {p['delta']} per wearer, adjacency add/remove one window; "
            f"Poisson rate {p['sampling_rate']}, projected error clipped to "
            f"{p['clip_backward']}, per-window layer update to "
            f"{p['clip_backward'] * p['clip_forward']:g}.")
    header = ("| subject | rule | ε spent | noise multiplier | steps | updates clipped (%) | "
              "after adaptation (%) |")
    lines = ["", "## Privacy spent per wearer", "", text, "", header,
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for s, sm in metrics["subjects"].items():
        for r in rules:
            m = sm[r]
            lines.append(f"| {s} | {registry.label(r)} | {_f(m['epsilon_spent']):.3f} | "
                         f"{_f(m['noise_multiplier']):.3f} | {int(_f(m['private_steps']))} | "
                         f"{100 * _f(m['clipped_fraction']):.1f} | "
                         f"{100 * _f(m['final_accuracy']):.2f} |")
    return lines


def _html(markdown: str, folder: Path) -> str:
    """A self-contained HTML page: tables rendered, figures embedded as base64."""
    body = []
    table: list[str] = []

    def flush_table() -> None:
        if not table:
            return
        rows = [r.strip().strip("|").split("|") for r in table if not set(r) <= set("|-: ")]
        body.append("<table>")
        for k, cells in enumerate(rows):
            tag = "th" if k == 0 else "td"
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c.strip()).replace('**', '')}"
                                         f"</{tag}>" for c in cells) + "</tr>")
        body.append("</table>")
        table.clear()

    for line in markdown.splitlines():
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("!["):
            path = line[line.rindex("](") + 2:-1]
            data = base64.b64encode((folder / path).read_bytes()).decode()
            body.append(f'<img src="data:image/png;base64,{data}" style="max-width:100%">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    flush_table()
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto}"
             "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>snn-dfa report</title>"
            f"<style>{style}</style></head><body>{''.join(body)}</body></html>")


def write_report(folder: Path, config: Mapping[str, Any], metrics: Mapping[str, Any],
                 summary: Mapping[str, Any], reports: Mapping[str, hwsim.CostReport],
                 sensitivity: Mapping[str, Any] | None = None) -> None:
    """Write ``report.md``, ``report.html`` and ``figures/`` into ``folder``.

    ``sensitivity`` is ``costs["sensitivity"]`` of results.h5 (rule/BP ratios per switched
    costing assumption), shown as a table when given.
    """
    figures = _figures(folder, config, metrics, reports)
    md = _markdown(config, metrics, summary, figures, sensitivity)
    (folder / "report.md").write_text(md)
    (folder / "report.html").write_text(_html(md, folder))


def rebuild_report(results_path: str | os.PathLike[str], force: bool = False) -> Path:
    """Rebuild the report next to ``results_path`` from the file alone.

    The folder is republished as a whole (:mod:`snn_dfa.app.outdir`): the files snn-dfa wrote
    there are kept, the report is replaced, files someone else added are kept; a folder that
    snn-dfa did not write and that already holds a report needs ``force``.
    """
    from snn_dfa.app.outdir import check_out, manifest, new_staging, publish
    from snn_dfa.app.results import read_results

    path = Path(results_path).absolute()
    res = read_results(path)
    try:
        config, metrics = res["config"], res["metrics"]
        summary = metrics["summary"]
        reports = {rule: hwsim.CostReport.from_dict(c) for rule, c in res["costs"].items()
                   if rule != "sensitivity"}
        for rule in _rules(config):
            metrics["subjects"], summary[f"{rule}_final_accuracy"], reports[rule]
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise DataError(f"{str(path)!r}: damaged results file: missing or malformed "
                        f"{_one_line(exc)}") from None
    folder = path.parent
    written = manifest(folder)
    report_files = ("report.md", "report.html", "figures")
    if written is None and not force and any((folder / n).exists() for n in report_files):
        raise ValidationError(f"{str(folder)!r}: holds a report snn-dfa did not write; pass "
                              "--force to write one beside it (the old one is kept)")
    check_out(folder, force=True)
    staging = new_staging(folder)
    try:
        for rel in sorted(written or ()):
            if rel.split(os.sep)[0] not in report_files and (folder / rel).is_file():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(folder / rel, staging / rel)
        write_report(staging, config, metrics, summary, reports,
                     res["costs"].get("sensitivity"))
        publish(staging, folder, force=True)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{str(path)!r}: damaged results file: {_one_line(exc)}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "report.md"


def _in_rule_order(rows: list[SensitivityRow], rules: list[str]) -> list[SensitivityRow]:
    """Columns in the configuration's rule order, as at run time (a results file gives them
    back in its own key order)."""
    return [dataclasses.replace(row, ratios={r: row.ratios[r] for r in sorted(
        row.ratios, key=lambda r: (rules.index(r) if r in rules else len(rules), r))})
            for row in rows]


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
