"""The run report: ``report.md``, a self-contained ``report.html`` and ``figures/*.png``.

Everything is computed from what ``results.h5`` holds (configuration, metrics, costs): a run
writes its results file first and builds the report from the file read back, and
``snn-dfa report RESULTS.h5`` does the same without re-running anything.

Units, the same in the console, the tables, the figures and the results file:

- accuracy in percent (``*_accuracy_pct``); differences of accuracies in percentage points;
- energy and latency per learned window (a window the chip adapted on: its inference, error,
  delivery and update), with inference alone per inference window (every window of the
  stream, labelled or not), as hwsim's ``CostReport.summary`` defines them; energy in nJ and
  latency in us; the energy of the whole adaptation run in uJ, labelled "run total";
- area in mm^2; reductions against BP in percent of BP's figure, speed-ups as factors.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

import hwsim
from hwsim.sensitivity import format_sensitivity, sensitivity_from_dict
from snn_dfa.errors import DataError, ValidationError
from snn_dfa.rules import registry

PAPER = {"energy": 64.1, "area": 10.1, "latency": 2.1, "accuracy": 7.55}
#: The costing assumptions of ``[hwsim]`` the report states (docs/hwsim.md).
ASSUMPTIONS = ("leakage", "multibit_reads", "update_arithmetic", "periphery", "charge_storage")
PHASE_LABEL = {"inference": "inference", "error_compute": "error computation",
               "error_delivery": "error delivery", "weight_update": "weight update"}
#: Moving-mean window of the stream figure (windows), at most a fifth of the stream.
STREAM_WINDOW = 25

# Energy components in a few groups a reader tells apart at a glance (label, colour, members);
# every component of hwsim.ENERGY_COMPONENTS is in one group (tests/test_report.py).
ENERGY_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("crossbar reads (array, DAC, ADC, mux, shift-add)", "#1f77b4",
     ("array", "dac", "adc", "mux", "shift_add")),
    ("neurons, buffers, interconnect", "#ff7f0e",
     ("neuron", "temporal_buffer", "sram", "interconnect")),
    ("learning logic (update arithmetic, feedback, stores)", "#2ca02c",
     ("digital", "feedback", "update", "learning_store")),
    ("programming pulses", "#d62728", ("write",)),
    ("leakage (static)", "#7f7f7f", ("leakage",)),
)
AREA_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("crossbar arrays", "#1f77b4", ("array",)),
    ("periphery (DAC, ADC, mux, shift-add)", "#9467bd", ("dac", "adc", "mux", "shift_add")),
    ("neurons, buffers, interconnect", "#ff7f0e",
     ("neuron", "temporal_buffer", "sram", "interconnect")),
)
LEARNING_AREA = ("learning units", "#2ca02c")


def _f(v: Any) -> float:
    return float(np.asarray(v))


def _str(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


# --- quantities, each computed once ------------------------------------------------------------

def energy_nJ_per_window(report: hwsim.CostReport, phase: str,
                         components: Sequence[str] | None = None) -> float:
    """Energy of ``phase`` (of ``components``, all when None) per window of that phase (nJ):
    inference per inference window, a learning phase per learned window.  Summed over the
    phases this is the energy of one learned window."""
    comps = [None] if components is None else list(components)
    return sum(report.per_window_energy_pJ(phase, c) for c in comps) / 1e3


def adaptation_energy_nJ_per_learned_window(report: hwsim.CostReport) -> float:
    """Energy of the learning phases (error, delivery, update) per learned window (nJ)."""
    return sum(energy_nJ_per_window(report, p) for p in hwsim.PHASES if p != "inference")


def latency_us_per_learned_window(report: hwsim.CostReport, phase: str | None = None) -> float:
    """Latency of ``phase`` (per window of that phase; all phases of one learned window when
    None) in us."""
    if phase is None:
        return report.total_latency_ns / 1e3
    return float(report.latency_ns.get(phase, 0.0)) / 1e3


def _group_of(component: str, groups: Sequence[tuple[str, str, tuple[str, ...]]]) -> str:
    for label, _, members in groups:
        if component in members:
            return label
    raise DataError(f"component={component!r}: in none of the report's groups "
                    f"{[label for label, _, _ in groups]}")


def energy_by_group(report: hwsim.CostReport, phase: str) -> dict[str, float]:
    """nJ per window of ``phase`` of each :data:`ENERGY_GROUPS` group."""
    out: dict[str, float] = {}
    for comp, pj in report.energy_by("component", phase=phase).items():
        label = _group_of(comp, ENERGY_GROUPS)
        out[label] = out.get(label, 0.0) + pj / report.windows(phase) / 1e3
    return out


def area_by_group(report: hwsim.CostReport) -> dict[str, float]:
    """mm^2 of each :data:`AREA_GROUPS` group and of "learning units" (everything the rule
    adds)."""
    out: dict[str, float] = {}
    for (part, comp), um2 in report.area_um2.items():
        label = LEARNING_AREA[0] if part == "learning" else _group_of(comp, AREA_GROUPS)
        out[label] = out.get(label, 0.0) + um2 / 1e6
    return out


def moving_mean(correct: np.ndarray, window: int) -> np.ndarray:
    """Moving mean over ``window`` measured entries (NaN entries dropped first)."""
    ok = np.asarray(correct, float)
    ok = ok[np.isfinite(ok)]
    return np.convolve(ok, np.ones(window) / window, mode="valid")


def stream_window(n_measured: int) -> int:
    """The moving-mean window for a stream of ``n_measured`` windows (the stream figure uses
    the smallest over its streams)."""
    return max(1, min(STREAM_WINDOW, n_measured // 5))


# --- the results, as the report reads them -----------------------------------------------------

@dataclass(frozen=True)
class RunView:
    """A results file's content, with the cost reports rebuilt."""

    config: Mapping[str, Any]
    metrics: Mapping[str, Any]
    reports: Mapping[str, hwsim.CostReport]
    sensitivity: Mapping[str, Any] | None = None  # costs/sensitivity: ratios per assumption

    @property
    def rules(self) -> list[str]:
        return list(self.config["adapt"]["rules"])

    @property
    def subjects(self) -> list[str]:
        return list(self.metrics["subjects"])

    @property
    def summary(self) -> Mapping[str, Any]:
        return self.metrics["summary"]

    @classmethod
    def from_results(cls, res: Mapping[str, Any], where: str = "results") -> RunView:
        """From :func:`snn_dfa.app.results.read_results`; a file without the fields this report
        needs (written by an older version) raises DataError naming the first missing one."""
        metrics = res["metrics"]
        rules = list(res["config"]["adapt"]["rules"])
        needed = [f"{rules[0]}_final_accuracy_pct"]
        missing = [k for k in needed if k not in metrics.get("summary", {})]
        if "conductance_change_uS" not in metrics:
            missing.append("conductance_change_uS")
        if missing:
            raise DataError(f"{where}: no metrics {missing[0]!r}; written by an older "
                            "snn-dfa, re-run it to rebuild the report")
        reports = {r: hwsim.CostReport.from_dict(c) for r, c in res["costs"].items()
                   if r != "sensitivity"}
        return cls(res["config"], metrics, reports, res["costs"].get("sensitivity"))


# --- figures -----------------------------------------------------------------------------------

def _new_figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def figure_stream(view: RunView) -> Any:
    """Prequential accuracy along each subject's adaptation stream: one panel per subject on
    one y-scale, one shared legend."""
    from matplotlib.lines import Line2D

    subjects = view.subjects
    ncols = min(3, len(subjects))
    nrows = -(-len(subjects) // ncols)
    fig = _new_figure(4.2 * ncols, 2.9 * nrows + 0.9)
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=False, sharey=True)
    w = min(stream_window(int(np.isfinite(np.asarray(view.metrics["subjects"][s][r]
                                                     ["stream_correct"], float)).sum()))
            for s in subjects for r in view.rules)
    for k, ax in enumerate(axes.flat):
        if k >= len(subjects):
            ax.set_visible(False)
            continue
        s = subjects[k]
        sm = view.metrics["subjects"][s]
        for i, rule in enumerate(view.rules):
            colour = f"C{i}"
            acc = np.asarray(sm[rule]["stream_correct"], float)
            steps = np.asarray(sm[rule]["stream_steps"])[np.isfinite(acc)]
            ax.plot(steps[w - 1:], 100 * moving_mean(acc, w), color=colour, lw=1.3,
                    gid=f"stream:{s}:{rule}")
            ax.axhline(_f(sm[rule]["deployed_accuracy_pct"]), ls=":", lw=1.2, color=colour,
                       gid=f"deployed:{s}:{rule}")
            ax.plot([steps[-1]], [_f(sm[rule]["final_accuracy_pct"])], "D", color=colour,
                    markersize=6, markeredgecolor="black", gid=f"final:{s}:{rule}")
        ax.set_title(f"subject {s}")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        if k % ncols == 0:
            ax.set_ylabel("accuracy (%)")
        if k // ncols == nrows - 1:
            ax.set_xlabel("window of the adaptation stream")
    handles = [Line2D([], [], color=f"C{i}", lw=2, label=registry.label(r))
               for i, r in enumerate(view.rules)]
    handles += [Line2D([], [], color="grey", lw=1.3, label="prequential (predicted before "
                       "each update), moving mean"),
                Line2D([], [], color="grey", ls=":", lw=1.2,
                       label="held-out accuracy right after deployment"),
                Line2D([], [], color="grey", marker="D", ls="", markeredgecolor="black",
                       label="held-out accuracy after adaptation")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    fig.suptitle(f"Accuracy along the adaptation stream (moving mean over {w} windows)")
    return fig


def _phase_panels(view: RunView, title: str, ylabel: str,
                  values: Callable[[str, str], dict[str, float]],
                  colours: Mapping[str, str], legend: bool = True) -> Any:
    """One panel per phase, one stacked bar per rule; ``values(rule, phase)`` names the
    stacks (keys of ``colours``) and their heights."""
    from matplotlib.patches import Patch

    phases = list(hwsim.PHASES)
    fig = _new_figure(2.6 * len(phases) + 0.6, 4.4)
    axes = fig.subplots(1, len(phases), squeeze=False)[0]
    used: dict[str, str] = {}
    labels = [registry.label(r) for r in view.rules]
    for ax, phase in zip(axes, phases):
        bottom = np.zeros(len(view.rules))
        stacks = [values(r, phase) for r in view.rules]
        for name, colour in colours.items():
            heights = np.array([st.get(name, 0.0) for st in stacks])
            if heights.any():
                ax.bar(labels, heights, bottom=bottom, color=colour, width=0.65,
                       gid=f"{phase}:{name}")
                used[name] = colour
                bottom += heights
        for x, total in enumerate(bottom):
            ax.annotate(f"{total:.3g}", (x, total), ha="center", va="bottom", fontsize=8,
                        xytext=(0, 2), textcoords="offset points")
        ax.set_title(PHASE_LABEL.get(phase, phase))
        ax.set_ylim(0, 1.15 * bottom.max() if bottom.max() > 0 else 1)
        ax.tick_params(axis="x", labelsize=8)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel(ylabel)
    if legend and used:
        fig.legend(handles=[Patch(color=c, label=n) for n, c in used.items()],
                   loc="outside lower center", ncols=min(3, len(used)), fontsize=8)
    fig.suptitle(title)
    return fig


def figure_energy(view: RunView) -> Any:
    """Energy per learned window by phase and component group (nJ)."""
    colours = {label: colour for label, colour, _ in ENERGY_GROUPS}
    return _phase_panels(
        view, "Energy per learned window by phase (inference per window of the stream; each "
        "panel on its own scale)", "energy per window (nJ)",
        lambda rule, phase: energy_by_group(view.reports[rule], phase), colours)


def figure_latency(view: RunView) -> Any:
    """Latency per learned window by phase (us)."""
    colours = {registry.label(r): f"C{i}" for i, r in enumerate(view.rules)}

    def values(rule: str, phase: str) -> dict[str, float]:
        return {registry.label(rule): latency_us_per_learned_window(view.reports[rule], phase)}

    return _phase_panels(view, "Latency per learned window, by phase (each panel on its own "
                         "scale)", "latency per learned window (us)", values, colours,
                         legend=False)  # the bars are named on the axis


def figure_area(view: RunView) -> Any:
    """Chip area per rule by component group (mm^2), the learning units hatched."""
    from matplotlib.patches import Patch

    fig = _new_figure(6.2, 4.2)
    ax = fig.subplots()
    labels = [registry.label(r) for r in view.rules]
    groups = [(n, c) for n, c, _ in AREA_GROUPS] + [LEARNING_AREA]
    bottom = np.zeros(len(view.rules))
    handles = []
    for name, colour in groups:
        heights = np.array([area_by_group(view.reports[r]).get(name, 0.0) for r in view.rules])
        if heights.any():
            hatch = "//" if name == LEARNING_AREA[0] else None
            ax.bar(labels, heights, bottom=bottom, color=colour, hatch=hatch, width=0.6,
                   gid=f"area:{name}")
            handles.append(Patch(facecolor=colour, hatch=hatch, label=name))
            bottom += heights
    for x, total in enumerate(bottom):
        ax.annotate(f"{total:.3g}", (x, total), ha="center", va="bottom", fontsize=8,
                    xytext=(0, 2), textcoords="offset points")
    ax.set_ylim(0, 1.15 * bottom.max())
    ax.set_ylabel("chip area (mm$^2$)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(handles=handles[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title("Chip area, with the units each rule adds for learning")
    return fig


def figure_conductance(view: RunView) -> Any:
    """Per rule and layer, a histogram of the devices' conductance changes during adaptation
    (first subject; devices that did not change are counted in the panel title)."""
    changes = view.metrics["conductance_change_uS"]
    rules = [r for r in view.rules if r in changes]
    layers = list(changes[rules[0]])
    fig = _new_figure(2.7 * len(layers) + 0.4, 2.2 * len(rules) + 0.9)
    axes = fig.subplots(len(rules), len(layers), squeeze=False, sharex="col")
    for j, layer in enumerate(layers):
        limit = max(float(np.max(np.abs(changes[r][layer]), initial=0.0)) for r in rules) or 1.0
        bins = np.linspace(-limit, limit, 41)
        for i, rule in enumerate(rules):
            ax = axes[i, j]
            d = np.asarray(changes[rule][layer], float)
            moved = d[d != 0]
            ax.hist(moved, bins=bins, color=f"C{view.rules.index(rule)}", gid=f"{rule}:{layer}")
            if len(moved):
                ax.set_yscale("log")
            ax.set_title(f"{registry.label(rule)}, {layer}: {100 * len(moved) / max(d.size, 1):.1f} % "
                         "changed", fontsize=8)
            ax.tick_params(labelsize=7)
            if j == 0:
                ax.set_ylabel("devices", fontsize=8)
            if i == len(rules) - 1:
                ax.set_xlabel("conductance change (uS)", fontsize=8)
    subject = view.subjects[0]
    fig.suptitle(f"Conductance changes during adaptation, per rule and layer (subject "
                 f"{subject}; unchanged devices left out)")
    return fig


def figure_accuracy_energy(view: RunView) -> Any:
    """Held-out accuracy against the energy spent on learning per learned window: an arrow
    per rule from deployment (no learning energy) to after adaptation, subjects as dots."""
    fig = _new_figure(6.4, 4.4)
    ax = fig.subplots()
    xmax = 0.0
    for i, rule in enumerate(view.rules):
        colour = f"C{i}"
        x = adaptation_energy_nJ_per_learned_window(view.reports[rule])
        xmax = max(xmax, x)
        deployed = _f(view.summary[f"{rule}_deployed_accuracy_pct"])
        final = _f(view.summary[f"{rule}_final_accuracy_pct"])
        ax.annotate("", (x, final), (0, deployed),
                    arrowprops={"arrowstyle": "->", "color": colour, "lw": 1.5})
        ax.plot([0], [deployed], "o", color=colour, mfc="white", gid=f"deployed:{rule}")
        ax.plot([x], [final], "o", color=colour, markersize=8, label=registry.label(rule),
                gid=f"final:{rule}")
        subjects = [_f(view.metrics["subjects"][s][rule]["final_accuracy_pct"])
                    for s in view.subjects]
        ax.plot([x] * len(subjects), subjects, ".", color=colour, alpha=0.5,
                gid=f"subjects:{rule}")
    ax.set_xlim(0, 1.15 * xmax if xmax > 0 else 1)
    ax.set_ylim(0, 100)
    ax.set_xlabel("learning energy per learned window (nJ): error, delivery and update")
    ax.set_ylabel("held-out accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(title="large dot: mean after adaptation\nsmall dots: subjects\nopen circle: "
              "deployed", fontsize=8, title_fontsize=8, loc="best")
    ax.set_title("Accuracy gained against energy spent on learning")
    return fig


#: The report's figures: file name, title, builder.
FIGURES: tuple[tuple[str, str, Callable[[RunView], Any]], ...] = (
    ("accuracy_stream.png", "Accuracy along the adaptation stream", figure_stream),
    ("accuracy_energy.png", "Accuracy against learning energy", figure_accuracy_energy),
    ("energy.png", "Energy per learned window by phase", figure_energy),
    ("latency.png", "Latency per learned window by phase", figure_latency),
    ("area.png", "Chip area by component", figure_area),
    ("conductance.png", "Conductance changes during adaptation", figure_conductance),
)


def _figures(folder: Path, view: RunView) -> list[tuple[str, str]]:
    figs = folder / "figures"
    figs.mkdir(exist_ok=True)
    out = []
    for name, title, build in FIGURES:
        build(view).savefig(figs / name, dpi=110)
        out.append((title, f"figures/{name}"))
    return out


# --- tables ------------------------------------------------------------------------------------

def cost_rows(view: RunView) -> tuple[list[str], list[list[str]]]:
    """The cost table of the console and the report: header and one row per rule."""
    header = ["rule", "energy (nJ/learned window)", "of which learning (nJ)",
              "of which static (nJ)", "inference (nJ/inference window)",
              "latency (us/learned window)", "chip area (mm^2)", "run total energy (uJ)",
              "learned windows"]
    rows = []
    for r in view.rules:
        s = {k: _f(view.summary[f"{r}_{k}"]) for k in (
            "energy_pJ_per_learned_window", "adaptation_energy_pJ_per_learned_window",
            "static_energy_pJ_per_learned_window", "inference_energy_pJ_per_inference_window",
            "latency_ns_per_learned_window", "area_um2", "run_energy_pJ")}
        rows.append([registry.label(r), f"{s['energy_pJ_per_learned_window'] / 1e3:.2f}",
                     f"{s['adaptation_energy_pJ_per_learned_window'] / 1e3:.2f}",
                     f"{s['static_energy_pJ_per_learned_window'] / 1e3:.2f}",
                     f"{s['inference_energy_pJ_per_inference_window'] / 1e3:.2f}",
                     f"{s['latency_ns_per_learned_window'] / 1e3:.2f}",
                     f"{s['area_um2'] / 1e6:.3f}", f"{s['run_energy_pJ'] / 1e6:.3f}",
                     f"{view.reports[r].samples}"])
    return header, rows


def accuracy_rows(view: RunView) -> tuple[list[str], list[list[str]]]:
    """Mean accuracies (%) over subjects: header and one row per rule."""
    header = ["rule", "ideal (%)", "deployed (%)", "after adaptation (%)", "prequential (%)"]
    rows = [[registry.label(r)] + [f"{_f(view.summary[f'{r}_{k}_accuracy_pct']):.2f}"
                               for k in ("ideal", "deployed", "final", "prequential")]
            for r in view.rules]
    return header, rows


def comparison_rows(view: RunView) -> tuple[list[str], list[list[str]]]:
    """Ours against the wearable paper's claims (DFA vs BP); empty without BP."""
    s = view.summary
    compared = [r for r in view.rules if f"{r}_vs_bp_energy_ratio" in s]
    if not compared:
        return [], []
    header = ["quantity", "paper (DFA vs BP)"] + [f"ours, {registry.label(r)} vs BP"
                                                  for r in compared]
    spec = [
        ("energy per learned window, reduction (% of BP)", f"up to {PAPER['energy']}",
         lambda r: f"{100 * (1 - _f(s[f'{r}_vs_bp_energy_ratio'])):.1f}"),
        ("chip area, reduction (% of BP)", f"{PAPER['area']}",
         lambda r: f"{100 * (1 - _f(s[f'{r}_vs_bp_area_ratio'])):.1f}"),
        ("latency per learned window, speed-up (x)", f"{PAPER['latency']}",
         lambda r: f"{_f(s[f'{r}_vs_bp_latency_speedup']):.2f}"),
        ("error-delivery energy, reduction (% of BP)", "n/a",
         lambda r: f"{100 * (1 - _f(s[f'{r}_vs_bp_delivery_energy_ratio'])):.1f}"),
        ("error-delivery latency, speed-up (x)", "n/a",
         lambda r: f"{_f(s[f'{r}_vs_bp_delivery_latency_speedup']):.1f}"),
        ("accuracy after adaptation, gain (percentage points)", f"up to {PAPER['accuracy']}",
         lambda r: f"{_f(s[f'{r}_vs_bp_accuracy_gain_points']):+.2f}"),
    ]
    return header, [[name, paper] + [ours(r) for r in compared] for name, paper, ours in spec]


def format_console(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain aligned text table (first column left, the others right)."""
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    lines = []
    for row in [list(header), *rows]:
        cells = [str(c).ljust(w) if k == 0 else str(c).rjust(w)
                 for k, (c, w) in enumerate(zip(row, widths))]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return (["| " + " | ".join(header) + " |",
             "| --- | " + " | ".join("---:" for _ in header[1:]) + " |"]
            + ["| " + " | ".join(row) + " |" for row in rows])


def _chip_text(cb: Mapping[str, Any]) -> str:
    """The device model, converter ranges, time and update mode of a ``[crossbar]`` record
    (records written before these keys existed read as the relative model)."""
    model = cb.get("noise_model", "relative")
    if model == "relative":
        spread = f"programming spread {cb['prog_sigma_rel']} of the range (relative model)"
    else:
        scale = cb.get("prog_noise_scale", 1.0)
        spread = f"{model} programming spread and relaxation" + (
            f" x{scale}" if scale != 1.0 else "")
    parts = [spread]
    if "adc_range" in cb:
        rng = ("ADC range calibrated at the "
               f"{cb['calibration_percentile']}th percentile per {cb['calibration_scope']}"
               if cb["adc_range"] == "calibrated" else "ADC range = largest possible current")
        parts += [rng, f"{cb['time_at_deployment_s']:g} s after programming, "
                  f"{cb['window_period_s']:g} s per window", f"updates {cb['update_mode']}"]
    return ", ".join(parts)


def _lr_text(view: RunView) -> str:
    adapt = view.config["adapt"]
    by_rule = adapt.get("lr_by_rule", {})
    if not by_rule:
        return f"{adapt['lr']}"
    return ", ".join(f"{by_rule.get(r, adapt['lr'])} for {registry.label(r)}" for r in view.rules)


def _privacy_lines(view: RunView) -> list[str]:
    """The privacy spent per subject and rule (a ``[privacy]`` run only; docs/privacy.md)."""
    p = view.config.get("privacy", {})
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
    for s in view.subjects:
        for r in view.rules:
            m = view.metrics["subjects"][s][r]
            lines.append(f"| {s} | {registry.label(r)} | {_f(m['epsilon_spent']):.3f} | "
                         f"{_f(m['noise_multiplier']):.3f} | {int(_f(m['private_steps']))} | "
                         f"{100 * _f(m['clipped_fraction']):.1f} | "
                         f"{_f(m['final_accuracy_pct']):.2f} |")
    return lines


def ranking_caveat(view: RunView) -> str | None:
    """What one run can say about the ranking of its rules (None with a single rule)."""
    if len(view.rules) < 2:
        return None
    n = len(view.subjects)
    return (f"One run: seed {view.config['seed']}, {n} subject{'s' if n != 1 else ''}. "
            "Differences between rules here are a trend at most and cannot rank them; "
            "the study (reports/study.toml, docs/study.md) ranks them over 9 subjects x 5 "
            "seeds with paired intervals.")


def _markdown(view: RunView, figures: list[tuple[str, str]]) -> str:
    config = view.config
    cb, data = config["crossbar"], config["data"]
    lines = [
        "# snn-dfa: on-device adaptation of a spiking HAR network on an RRAM crossbar",
        "",
        f"UCI HAPT, SFCN spiking network pre-trained on ideal weights "
        f"({config['pretrain']['epochs']} epoch(s), rule \"{config['pretrain']['rule']}\"); "
        f"deployed on {cb['device']} crossbars of {cb['array_size']}x{cb['array_size']} "
        f"({cb['adc_bits']}-bit ADC per {cb['columns_per_adc']} columns, IR drop "
        f"\"{cb['ir_drop']}\", {_chip_text(cb)}, read noise "
        f"{cb['read_sigma_rel']}, write noise {cb['c2c_sigma_rel']}); adapted on-chip at batch 1 "
        f"(plain SGD, learning rate {_lr_text(view)}, {config['adapt']['epochs']} epoch(s), "
        f"{config['adapt']['order']} order) on subjects "
        f"{', '.join(map(str, data['adapt_subjects']))}: each subject's windows are cut into "
        f"blocks of {data['block_windows']}; {100 * data['adapt_fraction']:.0f} % of the blocks "
        f"adapt, the rest are the held-out test. Seed {config['seed']}. Costs: hwsim preset "
        f"{config['hwsim']['tech']} with the device's write pulse, feedback matrices in "
        f"{config['hwsim']['feedback_storage']}; costing assumptions (docs/hwsim.md): "
        + ", ".join(f"{k} = {config['hwsim'][k]}" for k in ASSUMPTIONS if k in config["hwsim"])
        + ".",
        "",
        "Units: accuracy in percent, differences of accuracy in percentage points; energy and "
        "latency per learned window (a window the chip predicted, then learned from: its "
        "inference plus its learning phases), inference alone per inference window (every "
        "window of the stream, labelled or not); energy in nJ, latency in us; run totals in "
        "uJ; area in mm^2.",
        "",
        "## Accuracy (%)",
        "",
        f"Pre-training: \"{config['pretrain']['rule']}\" (\"matched\": each rule starts from a "
        "network trained with that rule). Ideal = pre-trained network on ideal weights; "
        "deployed = on the crossbar before adaptation; after = after on-chip adaptation; "
        "prequential = accuracy of the predictions made during adaptation, before each update. "
        "All on each subject's held-out windows except prequential.",
        "",
        "| subject | rule | ideal (%) | deployed (%) | after adaptation (%) | prequential (%) |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s in view.subjects:
        for r in view.rules:
            m = view.metrics["subjects"][s][r]
            lines.append(f"| {s} | {registry.label(r)} | " + " | ".join(
                f"{_f(m[f'{k}_accuracy_pct']):.2f}"
                for k in ("ideal", "deployed", "final", "prequential")) + " |")
    _, acc = accuracy_rows(view)
    lines += [f"| mean | {row[0]} | " + " | ".join(row[1:]) + " |" for row in acc]
    caveat = ranking_caveat(view)
    lines += ["", f"**{caveat}**"] if caveat else []
    lines += _privacy_lines(view)
    lines += ["", "## Energy, latency and area of adaptation (hwsim)", "",
              "Energy and latency are per learned window; \"of which learning\" is the energy "
              "of error computation, error delivery and weight update (the rest is the "
              "inference of one window); static energy is the leakage of the units working in "
              "each phase (idle periphery power-gated); the run total covers every window of "
              "every subject's adaptation stream.", ""]
    lines += _md_table(*cost_rows(view))
    if view.sensitivity:
        table = format_sensitivity(sensitivity_from_dict(view.sensitivity)).replace("*", "\\*")
        lines += ["", "## Which costing assumptions move the ratios to BP", "",
                  "Each row switches one assumption from the defaults (docs/hwsim.md, "
                  "\"Assumptions\"); ratios of energy per learned window, latency per learned "
                  "window and chip area. An asterisk marks a DFA/BP ratio within 10 % of the "
                  "paper's figure.", "", table]
    header, rows = comparison_rows(view)
    if rows:
        lines += ["", "## Against the wearable paper's headline claims (DFA vs BP)", ""]
        lines += _md_table(header, rows)
        lines += [
            "",
            "Where ours differ: the paper's DFA_Sim settings, network, device data and adaptation "
            "protocol are unknown (only its abstract-level claims are available), so this run "
            "uses labelled defaults instead: SNN_HAR's SFCN, SpikeSim's 65 nm constants with "
            "the learning components documented in the hwsim guide, a synthetic NeuRRAM-style "
            "device model (not chip data) and UCI HAPT recordings in place of UCI-HAR. Energy "
            "and latency here cover one learned window (its inference, error, delivery and "
            "update); the paper's baseline definitions are not stated. The sensitivity table "
            "above shows how far each costing assumption moves the ratios. Ratios follow from "
            "these assumptions and from the counted events of this run, not from the paper's "
            "setup.",
        ]
    lines += ["", "## Figures", ""]
    for title, path in figures:
        lines += [f"### {title}", "", f"![{title}]({path})", ""]
    return "\n".join(lines)


def _html(markdown_text: str, folder: Path) -> str:
    """A self-contained HTML page of ``markdown_text``: figures embedded as base64 PNG."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"], output_format="html")

    def embed(match: re.Match[str]) -> str:
        data = base64.b64encode((folder / match.group(2)).read_bytes()).decode()
        return f'{match.group(1)}"data:image/png;base64,{data}"'

    body = re.sub(r'(<img [^>]*src=)"(figures/[^"]+\.png)"', embed, body)
    style = ("body{font-family:sans-serif;max-width:1100px;margin:auto;padding:0 1em;"
             "line-height:1.4}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px}"
             "img{max-width:100%}")
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>snn-dfa report</title><style>{style}</style></head>\n<body>\n{body}\n"
            "</body></html>\n")


def write_report(folder: Path, results: Mapping[str, Any], where: str = "results") -> None:
    """Write ``report.md``, ``report.html`` and ``figures/`` into ``folder`` from a results
    file's content (:func:`snn_dfa.app.results.read_results`)."""
    view = RunView.from_results(results, where)
    figures = _figures(folder, view)
    md = _markdown(view, figures)
    (folder / "report.md").write_text(md)
    (folder / "report.html").write_text(_html(md, folder))


def rebuild_report(results_path: str | os.PathLike[str],
                   out_dir: str | os.PathLike[str] | None = None, force: bool = False) -> Path:
    """Rebuild the report from a results file alone, into ``out_dir`` (default: the file's
    folder), published like a run's output (:mod:`snn_dfa.app.outdir`): complete or not at all,
    files snn-dfa did not write are kept.  Beside the results file, the files snn-dfa wrote
    there stay and only the report is replaced; a folder snn-dfa did not write that already
    holds a report needs ``force``.  A damaged results file raises DataError (one line)."""
    from snn_dfa.app.outdir import check_out, manifest, new_staging, publish
    from snn_dfa.app.results import read_results

    path = Path(results_path).absolute()
    res = read_results(path)
    folder = Path(out_dir).absolute() if out_dir is not None else path.parent
    beside = folder == path.parent
    report_files = ("report.md", "report.html", "figures")
    written = manifest(folder) if folder.is_dir() else None
    if beside and written is None and not force and any((folder / n).exists()
                                                         for n in report_files):
        raise ValidationError(f"{str(folder)!r}: holds a report snn-dfa did not write; pass "
                              "--force to write one beside it (the old one is kept)")
    folder = check_out(folder, force=force or beside)
    staging = new_staging(folder)
    try:
        for rel in sorted(written or ()) if beside else ():
            if rel.split(os.sep)[0] not in report_files and (folder / rel).is_file():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                _link_or_copy(folder / rel, staging / rel)
        write_report(staging, res, str(path))
        publish(staging, folder, force=force or beside)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise DataError(f"{str(path)!r}: damaged results file: "
                        f"{' '.join(str(exc).split()) or type(exc).__name__}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder / "report.md"


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
