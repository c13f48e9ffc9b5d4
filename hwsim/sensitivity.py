"""Which accounting choices move the DFA/BP and SFDFA/BP ratios: one row per switched assumption.

:func:`sensitivity_table` prices the same workloads (from a run or from shapes) under the
default :class:`~hwsim.assumptions.Assumptions` and with each choice switched, and returns
the ratios of every rule to BP: energy per learned window, latency per learned window and
chip area.  :data:`PAPER_RATIOS` are the wearable paper's headline figures (DFA vs BP:
64.1 % less energy, 10.1 % less area, 2.1x lower latency) for comparison.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from hwsim.arch import Architecture
from hwsim.assumptions import Assumptions
from hwsim.errors import HwsimError
from hwsim.estimate import CostReport, estimate
from hwsim.schedule import Schedule
from hwsim.tech import Tech
from hwsim.workload import Workload

QUANTITIES = {
    "energy": "energy_pJ_per_learned_window",
    "latency": "latency_ns_per_learned_window",
    "area": "area_um2",
}
"""Ratio name -> :meth:`CostReport.summary` entry it divides."""

PAPER_RATIOS = {"energy": 1 - 0.641, "latency": 1 / 2.1, "area": 1 - 0.101}
"""DFA / BP in the wearable paper (Bhattacharjee, Shi, Chen, Wang & Panda 2025, arXiv
2502.06736, abstract: -64.1 % energy, 2.1x latency, -10.1 % area; configuration and
definitions unknown)."""

PAPER_TOLERANCE = 0.10
"""A ratio "reproduces" the paper's if it is within 10 % (relative) of it."""


@dataclass(frozen=True)
class Case:
    """One row of the table: a name, what it switches and how."""

    key: str
    label: str
    assumptions: Assumptions
    swap_feedback_storage: bool = False


def default_cases(base: Assumptions | None = None) -> tuple[Case, ...]:
    """The default row, one row per switched assumption, and the audited accounting."""
    b = Assumptions() if base is None else base
    r = dataclasses.replace
    flip = {
        "leakage": {"gated": "always_on", "always_on": "gated"},
        "multibit_reads": {"bit_serial": "single_pass", "single_pass": "bit_serial"},
        "update_arithmetic": {"spike_gated": "dense_mac", "dense_mac": "spike_gated"},
        "periphery": {"shared": "duplicated", "duplicated": "shared"},
        "charge_storage": {"all": "bp_only", "bp_only": "all", "none": "all"},
    }

    def switched(name: str) -> Case:
        value = flip[name][getattr(b, name)]
        return Case(name, f"{name} = {value}", r(b, **{name: value}))

    audited = Assumptions(leakage="always_on", multibit_reads="single_pass",
                          update_arithmetic="dense_mac", periphery="duplicated",
                          charge_storage="bp_only")
    return (
        Case("default", "defaults", b),
        switched("leakage"),
        switched("multibit_reads"),
        switched("update_arithmetic"),
        switched("periphery"),
        Case("feedback_storage", "B in the other store (SRAM <-> crossbar)", b,
             swap_feedback_storage=True),
        switched("charge_storage"),
        Case("charge_storage_none", "charge_storage = none", r(b, charge_storage="none")),
        Case("audited", "all five as audited (always-on leakage, single pass, dense MAC, "
             "duplicated periphery, BP's store only)", audited),
    )


@dataclass(frozen=True)
class SensitivityRow:
    """Ratios of each rule to BP under one case.

    ``ratios[rule][quantity]`` with quantity in :data:`QUANTITIES`.
    """

    key: str
    label: str
    ratios: Mapping[str, Mapping[str, float]]

    def reproduces(self, rule: str, quantity: str) -> bool:
        """True if ``rule``/BP for ``quantity`` is within :data:`PAPER_TOLERANCE` of the paper."""
        value, target = self.ratios[rule][quantity], PAPER_RATIOS[quantity]
        return math.isfinite(value) and abs(value / target - 1.0) <= PAPER_TOLERANCE


def _swap(arch: Architecture) -> Architecture:
    lu = arch.learning
    other = "crossbar" if lu.feedback_storage == "sram" else "sram"
    return arch.with_learning(dataclasses.replace(lu, feedback_storage=other))


def sensitivity_table(
    cases: Mapping[str, tuple[Workload, Architecture]],
    tech: Tech,
    base: Assumptions | None = None,
    schedule: Schedule | None = None,
    rows: Sequence[Case] | None = None,
    baseline: str = "bp",
) -> list[SensitivityRow]:
    """Ratios of every rule to BP with each assumption switched.

    Parameters
    ----------
    cases : mapping rule name -> (workload, architecture)
        Must contain ``baseline`` and at least one other rule.
    tech : Tech
    base : Assumptions, optional
        The defaults the rows switch from.
    schedule : Schedule, optional
    rows : sequence of Case, optional
        Defaults to :func:`default_cases`.
    baseline : str
        The key of BP in ``cases``; the other rules are divided by it.

    Returns
    -------
    list of SensitivityRow, in the order of ``rows``.
    """
    if baseline not in cases or len(cases) < 2:
        raise HwsimError(
            f"cases={sorted(cases)}: expected {baseline!r} and at least one other rule"
        )
    out = []
    for case in default_cases(base) if rows is None else rows:
        reports: dict[str, CostReport] = {}
        for rule, (work, arch) in cases.items():
            swap = case.swap_feedback_storage and arch.learning.feedback_alignment
            arch = _swap(arch) if swap else arch
            reports[rule] = estimate(work, arch, tech, schedule, rule, case.assumptions)
        bp = reports[baseline].summary()
        ratios = {}
        for rule, rep in reports.items():
            if rule == baseline:
                continue
            mine = rep.summary()
            ratios[rule] = {q: mine[k] / bp[k] if bp[k] else math.nan
                            for q, k in QUANTITIES.items()}
        out.append(SensitivityRow(case.key, case.label, ratios))
    return out


def format_sensitivity(rows: Sequence[SensitivityRow]) -> str:
    """Markdown table: one row per case, ``rule/BP`` energy, latency and area columns.

    A ``*`` marks a DFA/BP ratio within 10 % of the paper's; the paper's row comes last.
    """
    if not rows:
        raise HwsimError("rows=[]: expected at least one SensitivityRow")
    rules = list(rows[0].ratios)
    header = ["assumption switched"] + [
        f"{rule.upper()}/BP {q}" for rule in rules for q in QUANTITIES
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row.label]
        for rule in rules:
            for q in QUANTITIES:
                mark = "*" if rule == "dfa" and row.reproduces(rule, q) else ""
                cells.append(f"{row.ratios[rule][q]:.3f}{mark}")
        lines.append("| " + " | ".join(cells) + " |")
    paper = ["paper (DFA/BP, configuration unknown)"]
    for rule in rules:
        paper += [f"{PAPER_RATIOS[q]:.3f}" if rule == "dfa" else "-" for q in QUANTITIES]
    lines.append("| " + " | ".join(paper) + " |")
    return "\n".join(lines)


def sensitivity_to_dict(rows: Sequence[SensitivityRow]) -> dict[str, dict[str, object]]:
    """``{case key: {"label": str, "<rule>_over_bp_<quantity>_ratio": float}}`` for HDF5."""
    out: dict[str, dict[str, object]] = {}
    for row in rows:
        entry: dict[str, object] = {"label": row.label}
        for rule, values in row.ratios.items():
            for q, v in values.items():
                entry[f"{rule}_over_bp_{q}_ratio"] = float(v)
        out[row.key] = entry
    return out


def sensitivity_from_dict(data: Mapping[str, Mapping[str, object]]) -> list[SensitivityRow]:
    """Inverse of :func:`sensitivity_to_dict` (also as read back from HDF5: bytes, 0-d arrays);
    rows in the order of :func:`default_cases`, unknown cases after them."""
    order = [c.key for c in default_cases()]

    def text(v: object) -> str:
        v = np.asarray(v).item()
        return v.decode() if isinstance(v, bytes) else str(v)

    rows = []
    for key in sorted(data, key=lambda k: (order.index(k) if k in order else len(order), k)):
        entry = data[key]
        ratios: dict[str, dict[str, float]] = {}
        for name, value in entry.items():
            if name == "label":
                continue
            rule, rest = name.split("_over_bp_", 1)
            ratios.setdefault(rule, {})[rest.removesuffix("_ratio")] = float(np.asarray(value))
        rows.append(SensitivityRow(key, text(entry["label"]), ratios))
    return rows
