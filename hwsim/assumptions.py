"""Costing assumptions: the accounting choices that move the DFA-vs-BP ratios, made explicit.

Counts say *what* happened; an :class:`Assumptions` says how it is carried out and priced.
Every choice applies in the same way to a workload from a run (the count path) and one from
shapes (:func:`hwsim.workload.shape_workload`).  The defaults are argued in docs/hwsim.md
("Assumptions"); :func:`hwsim.sensitivity.sensitivity_table` switches each one.
"""

from __future__ import annotations

from dataclasses import dataclass

from hwsim._validate import check_choice

LEAKAGE = ("gated", "always_on")
MULTIBIT_READS = ("bit_serial", "single_pass")
UPDATE_ARITHMETIC = ("spike_gated", "dense_mac")
PERIPHERY = ("shared", "duplicated")
STORAGE = ("all", "bp_only", "none")


@dataclass(frozen=True)
class Assumptions:
    """How counted work is carried out and priced.

    Parameters
    ----------
    leakage : {"gated", "always_on"}
        ``"gated"`` (default): a unit draws static power only in the phases in which it
        works (idle periphery is power-gated); ``"always_on"``: the whole leaking area
        leaks for the whole latency of every phase.
    multibit_reads : {"bit_serial", "single_pass"}
        ``"bit_serial"`` (default): a multi-level input (BP's errors, SFDFA's tangents,
        direct-encoded inputs) is applied one bit per pass, each pass an array activation
        with its conversions, as in ISAAC and SpikeSim; ``"single_pass"``: one activation
        through a multi-level DAC priced at ``Tech.dac_energy_pJ`` per line (0 in the
        SpikeSim preset, whose drivers are inside the crossbar energy).
    update_arithmetic : {"spike_gated", "dense_mac"}
        ``"spike_gated"`` (default): the outer product ``sum_t delta_t x_t^T`` with binary
        inputs is one addition per input spike and output (the counted ``update_adds`` and
        ``update_mults``); ``"dense_mac"``: a multiply and an add for every weight and step.
    periphery : {"shared", "duplicated"}
        BP's transposed reads use the column-side neurons and ADCs through a transposable
        design (NeuRRAM's TNSA; default ``"shared"``: only the row-side switches are extra),
        or row-side ADCs of their own (``"duplicated"``).
    charge_storage : {"all", "bp_only", "none"}
        Whose per-window learning store is charged (traffic and area): every rule's
        (default), BP's only (the accounting the audit found: DFA's per-step storage free),
        or nobody's.
    """

    leakage: str = "gated"
    multibit_reads: str = "bit_serial"
    update_arithmetic: str = "spike_gated"
    periphery: str = "shared"
    charge_storage: str = "all"

    def __post_init__(self) -> None:
        check_choice("Assumptions.leakage", self.leakage, LEAKAGE)
        check_choice("Assumptions.multibit_reads", self.multibit_reads, MULTIBIT_READS)
        check_choice("Assumptions.update_arithmetic", self.update_arithmetic, UPDATE_ARITHMETIC)
        check_choice("Assumptions.periphery", self.periphery, PERIPHERY)
        check_choice("Assumptions.charge_storage", self.charge_storage, STORAGE)

    def charges_store(self, rule: str) -> bool:
        """True if the learning store of ``rule`` is charged."""
        return self.charge_storage == "all" or (self.charge_storage == "bp_only" and rule == "bp")

    def to_dict(self) -> dict[str, str]:
        """Plain dict of the choices."""
        return {
            "leakage": self.leakage,
            "multibit_reads": self.multibit_reads,
            "update_arithmetic": self.update_arithmetic,
            "periphery": self.periphery,
            "charge_storage": self.charge_storage,
        }
