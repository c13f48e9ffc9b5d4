"""Report text and matplotlib figures for one or more :class:`hwsim.estimate.CostReport`.

Figures are built on :class:`matplotlib.figure.Figure` directly (no pyplot state), so they
work headless; save them with ``fig.savefig(path)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from hwsim.errors import HwsimError
from hwsim.estimate import AREA_PARTS, ENERGY_COMPONENTS, CostReport
from hwsim.workload import PHASES


def _check_reports(reports: Sequence[CostReport]) -> list[CostReport]:
    reports = list(reports)
    if not reports or not all(isinstance(r, CostReport) for r in reports):
        raise HwsimError(f"reports={reports!r}: expected a non-empty sequence of CostReport")
    return reports


def _fmt(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.4g}"


TABLE_KEYS = (
    "energy_pJ_per_learned_window",
    "dynamic_energy_pJ_per_learned_window",
    "static_energy_pJ_per_learned_window",
    "inference_energy_pJ_per_inference_window",
    "error_compute_energy_pJ_per_learned_window",
    "error_delivery_energy_pJ_per_learned_window",
    "weight_update_energy_pJ_per_learned_window",
    "adaptation_energy_pJ_per_learned_window",
    "run_energy_pJ",
    "latency_ns_per_learned_window",
    "inference_latency_ns_per_inference_window",
    "error_compute_latency_ns_per_learned_window",
    "error_delivery_latency_ns_per_learned_window",
    "weight_update_latency_ns_per_learned_window",
    "area_um2",
    "learning_area_um2",
    "learning_store_bits_per_learned_window",
)
"""Rows of :func:`format_table`: :meth:`CostReport.summary` names, units included."""


def format_table(reports: Sequence[CostReport], baseline: CostReport | None = None) -> str:
    """A Markdown table of :data:`TABLE_KEYS` (the summary's names and units) and the ratios
    of the headline entries to ``baseline``."""
    reports = _check_reports(reports)
    header = ["quantity"] + [r.label for r in reports]
    summaries = [r.summary() for r in reports]
    rows = [[key] + [_fmt(s[key]) for s in summaries] for key in TABLE_KEYS]
    if baseline is not None:
        for key in (
            "energy_pJ_per_learned_window",
            "adaptation_energy_pJ_per_learned_window",
            "latency_ns_per_learned_window",
            "adaptation_latency_ns_per_learned_window",
            "area_um2",
            "learning_area_um2",
        ):
            rows.append(
                [f"{key} / {baseline.label}"] + [_fmt(r.ratio(baseline)[key]) for r in reports]
            )
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def plot_energy_breakdown(reports: Sequence[CostReport]) -> Figure:
    """Stacked bars of energy per component, one bar per (report, phase), in pJ per window of
    the phase (inference: per inference window; learning phases: per learned window)."""
    reports = _check_reports(reports)
    fig = Figure(figsize=(max(6.0, 1.2 * len(reports) * len(PHASES)) + 2.0, 4.5))
    ax = fig.add_subplot()
    labels = [f"{r.label}\n{p.replace('_', ' ')}" for r in reports for p in PHASES]
    bottom = np.zeros(len(labels))
    colors = colormaps["tab20"]
    for i, comp in enumerate(ENERGY_COMPONENTS):
        values = np.array(
            [r.per_window_energy_pJ(p, comp) for r in reports for p in PHASES]
        )
        if values.any():
            ax.bar(labels, values, bottom=bottom, label=comp, color=colors(i))
            bottom += values
    ax.set_ylabel("energy (pJ per window of the phase)")
    ax.set_title("Energy per phase and component")
    ax.tick_params(axis="x", labelsize=7)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_area_breakdown(reports: Sequence[CostReport]) -> Figure:
    """Stacked bars of area per component (learning units hatched), one bar per report, in um^2."""
    reports = _check_reports(reports)
    fig = Figure(figsize=(max(5.0, 1.5 * len(reports)) + 2.5, 4.5))
    ax = fig.add_subplot()
    labels = [r.label for r in reports]
    bottom = np.zeros(len(reports))
    keys = sorted(
        {k for r in reports for k in r.area_um2}, key=lambda k: (AREA_PARTS.index(k[0]), k[1])
    )
    colors = colormaps["tab20"]
    for i, (part, comp) in enumerate(keys):
        values = np.array([r.area_um2.get((part, comp), 0.0) for r in reports])
        if values.any():
            ax.bar(
                labels,
                values,
                bottom=bottom,
                label=f"{comp} ({part})",
                color=colors(i % 20),
                hatch="//" if part == "learning" else None,
            )
            bottom += values
    ax.set_ylabel("area (um^2)")
    ax.set_title("Area per component")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return fig


def plot_latency(reports: Sequence[CostReport]) -> Figure:
    """Grouped bars of latency per phase (ns per window of the phase), one group per phase."""
    reports = _check_reports(reports)
    fig = Figure(figsize=(7.0, 4.0))
    ax = fig.add_subplot()
    x = np.arange(len(PHASES))
    width = 0.8 / len(reports)
    for i, r in enumerate(reports):
        ax.bar(
            x + i * width, [r.latency_ns.get(p, 0.0) for p in PHASES], width, label=r.label
        )
    ax.set_xticks(x + width * (len(reports) - 1) / 2, [p.replace("_", " ") for p in PHASES])
    ax.set_ylabel("latency (ns per window of the phase)")
    ax.set_title("Latency per phase")
    ax.legend()
    fig.tight_layout()
    return fig
