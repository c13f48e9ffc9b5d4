"""Report table and figures."""

import pytest

from hwsim import Architecture, HwsimError, LayerShape, LearningUnits, estimate, shape_workload
from hwsim.report import format_table, plot_area_breakdown, plot_energy_breakdown, plot_latency
from hwsim.workload import PHASES


@pytest.fixture(scope="module")
def reports():
    layers = (LayerShape("fc1", "linear", 64, 128), LayerShape("fc2", "linear", 128, 6))
    out = []
    for rule in ("dfa", "bp"):
        arch = Architecture(layers=layers, learning=LearningUnits(rule, n_classes=6))
        out.append(estimate(shape_workload(arch, 10), arch, label=rule.upper()))
    return out


def test_table_lists_phases_and_ratios(reports):
    dfa, bp = reports
    text = format_table(reports, baseline=bp)
    lines = text.splitlines()
    assert lines[0] == "| quantity | DFA | BP |"
    for p in PHASES[1:]:
        assert f"{p}_energy_pJ_per_learned_window" in text
        assert f"{p}_latency_ns_per_learned_window" in text
    assert "inference_energy_pJ_per_inference_window" in text
    row = next(line for line in lines if line.startswith("| latency_ns_per_learned_window / BP"))
    assert row.split("|")[2].strip() == f"{dfa.ratio(bp)['latency_ns_per_learned_window']:.4g}"
    assert row.split("|")[3].strip() == "1"


def test_figures(reports, tmp_path):
    fig = plot_energy_breakdown(reports)
    bars = fig.axes[0].patches
    nonzero = {c for r in reports for (_, c, _), v in r.energy_pJ.items() if v > 0}
    assert len(bars) == len(nonzero) * len(reports) * len(PHASES)
    fig.savefig(tmp_path / "energy.png")
    fig = plot_area_breakdown(reports)
    assert (
        len(fig.axes[0].patches)
        == len({k for r in reports for k, v in r.area_um2.items() if v > 0}) * 2
    )
    fig = plot_latency(reports)
    heights = [b.get_height() for b in fig.axes[0].patches]
    assert heights == pytest.approx([r.latency_ns[p] for r in reports for p in PHASES])
    fig.savefig(tmp_path / "latency.png")
    assert (tmp_path / "energy.png").stat().st_size > 0


def test_empty_reports_rejected():
    with pytest.raises(HwsimError, match="CostReport"):
        format_table([])
