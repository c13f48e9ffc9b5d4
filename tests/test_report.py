"""What a user sees: stage lines when stderr is a file, the command line's help, version and
bare call, every figure and table of a tiny run against the numbers of its results.h5 (read
with h5py directly), and report.html in a real headless browser."""

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from snn_dfa import __version__
from snn_dfa.app import report
from snn_dfa.app.cli import main
from snn_dfa.app.progress import Progress
from snn_dfa.app.results import read_results
from snn_dfa.rules import registry

REPO = Path(__file__).resolve().parents[1]
TINY = """
seed = 2
[data]
adapt_subjects = [2, 9]
adapt_fraction = 0.2
max_pretrain_windows = 200
[model]
channels = [4, 8]
[pretrain]
epochs = 1
[adapt]
epochs = 1
"""
PHASES = ("inference", "error_compute", "error_delivery", "weight_update")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny run as a user runs it with its output going to files (no terminal)."""
    folder = tmp_path_factory.mktemp("tiny")
    (folder / "tiny.toml").write_text(TINY)
    out = folder / "out"
    with open(folder / "stderr.txt", "w") as err, open(folder / "stdout.txt", "w") as std:
        proc = subprocess.run([sys.executable, "-m", "snn_dfa", "run", str(folder / "tiny.toml"),
                               "--out", str(out)], stdout=std, stderr=err, cwd=folder,
                              env=os.environ | {"PYTHONPATH": str(REPO)}, timeout=900)
    assert proc.returncode == 0, (folder / "stderr.txt").read_text()
    return folder, out


def _h5(out):
    return h5py.File(out / "results.h5", "r")


def _view(out):
    return report.RunView.from_results(read_results(out / "results.h5"))


# --- progress ------------------------------------------------------------------------------------

def test_stage_lines_reach_a_redirected_stderr(tiny):
    folder, out = tiny
    err = (folder / "stderr.txt").read_text()
    lines = err.splitlines()
    assert all(line.startswith("snn-dfa [") for line in lines), err  # nothing else, no bars
    assert "\r" not in err
    expected = ["data: loading UCI HAPT windows", "data: 200 pre-training windows",
                "pre-training with BP (BPTT)", "pre-training with DFA", "pre-training with SFDFA",
                "subject 2, BP (BPTT): deployed on the crossbar",
                "subject 2, DFA: adapting on-chip, 1 epoch(s)", "subject 9, SFDFA: adapted",
                "costing: energy, area and latency", "writing results.h5", "done in"]
    positions = [next(i for i, line in enumerate(lines) if e in line) for e in expected]
    assert positions == sorted(positions)  # in the order the run does them
    for rule in ("BP (BPTT)", "DFA", "SFDFA"):  # trained now (epoch count) or from the cache
        assert re.search(rf"pre-training with {re.escape(rule)}: (epoch 1/1 done|taken from "
                         "the cache)", err)
    log = (out / "log.txt").read_text().splitlines()
    assert [line.split("  ", 2)[2] for line in log] == [
        line.split("] ", 1)[1] for line in lines[:len(log)]]  # the same lines, with times
    assert "done in" in lines[-1] and len(log) == len(lines) - 1


def test_progress_lines_bars_and_quiet():
    stream = io.StringIO()  # not a terminal: lines, no bars
    p = Progress(stream=stream)
    assert not p.bars
    with p.bar(3, "x", "item") as bar:
        bar.update(3)
    p.stage("a stage")
    assert re.fullmatch(r"snn-dfa \[\d+ s\] a stage\n", stream.getvalue())
    quiet = Progress(stream=io.StringIO(), quiet=True)
    quiet.stage("silent")
    assert quiet.stream.getvalue() == "" and "silent" in quiet.log_text()


# --- the command line ----------------------------------------------------------------------------

def test_version_and_bare_call(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out == f"snn-dfa {__version__}\n"
    assert main([]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("usage: snn-dfa")
    for command in ("demo", "run", "config", "report", "sweep", "datasets"):
        assert re.search(rf"^\s+{command}\s+\S", printed, re.M), command  # listed, described
    assert "`" not in printed


@pytest.mark.parametrize("command", ["demo", "run", "config", "report", "sweep", "datasets"])
def test_every_command_has_a_description_and_shows_defaults(command, capsys):
    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = capsys.readouterr().out
    usage, _, rest = text.partition("\n\n")
    description = rest.split("\n\n")[0]
    assert len(description) > 60 and "`" not in text, text
    for option in re.findall(r"^  (--\w[\w-]*)(?: [A-Z_]+)?\s+(.*?)(?=^  -|\Z)", text, re.M | re.S):
        if option[0] not in ("--help", "--quiet", "--example", "--dry-run", "--force"):  # flags
            assert "(default:" in option[1], option


def test_demo_help_gives_default_out_and_time(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: runs/demo)" in text and "minutes on 2 cores" in text


def test_config_prints_the_example_without_flags(capsys):
    from snn_dfa.app.config import EXAMPLE

    assert main(["config"]) == 0
    assert capsys.readouterr().out == EXAMPLE


# --- figures and tables against results.h5 --------------------------------------------------------

def _gid(fig, gid):
    found = [a for ax in fig.axes for a in ax.get_children() if a.get_gid() == gid]
    assert found, gid
    return found


def _bar_heights(fig, gid):
    return [p.get_height() for p in _gid(fig, gid)]


def test_stream_figure_is_the_files_stream(tiny):
    _, out = tiny
    view = _view(out)
    fig = report.figure_stream(view)
    with _h5(out) as f:
        lengths = [np.isfinite(f[f"metrics/subjects/{s}/{r}/stream_correct"][()]).sum()
                   for s in ("2", "9") for r in ("bp", "dfa", "sfdfa")]
        w = max(1, min(25, min(lengths) // 5))
        for s in ("2", "9"):
            for rule in ("bp", "dfa", "sfdfa"):
                g = f[f"metrics/subjects/{s}/{rule}"]
                correct = g["stream_correct"][()]
                measured = correct[np.isfinite(correct)]
                expected = 100 * np.array([measured[i:i + w].mean()
                                           for i in range(len(measured) - w + 1)])
                line = _gid(fig, f"stream:{s}:{rule}")[0]
                np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-12)
                assert line.get_xdata()[0] == g["stream_steps"][()][np.isfinite(correct)][w - 1]
                deployed = _gid(fig, f"deployed:{s}:{rule}")[0].get_ydata()
                assert deployed[0] == g["deployed_accuracy_pct"][()]
                assert _gid(fig, f"final:{s}:{rule}")[0].get_ydata()[0] == g[
                    "final_accuracy_pct"][()]
    assert f"moving mean over {w} windows" in fig._suptitle.get_text()


def _energy_nJ(f, rule, phase, components):
    """nJ per window of ``phase`` (inference: per inference window, the others per learned
    window) of ``components``, from the raw cost tree."""
    g = f[f"costs/{rule}/energy_pJ/{phase}"]
    total = sum(float(g[c][layer][()]) for c in g if c in components for layer in g[c])
    windows = f[f"costs/{rule}/{'inference_windows' if phase == 'inference' else 'samples'}"]
    return total / float(windows[()]) / 1e3


def test_energy_latency_area_figures_are_the_files_costs(tiny):
    _, out = tiny
    view = _view(out)
    energy, latency = report.figure_energy(view), report.figure_latency(view)
    area, tradeoff = report.figure_area(view), report.figure_accuracy_energy(view)
    rules = ("bp", "dfa", "sfdfa")
    with _h5(out) as f:
        for phase in PHASES:
            drawn = 0
            for label, _, members in report.ENERGY_GROUPS:
                expected = [_energy_nJ(f, r, phase, members) for r in rules]
                if any(expected):
                    np.testing.assert_allclose(_bar_heights(energy, f"{phase}:{label}"),
                                               expected, rtol=1e-9)
                    drawn += 1
            assert drawn >= 1
            lat = [f[f"costs/{r}/latency_ns/{phase}"][()] / 1e3 for r in rules]
            heights = [_bar_heights(latency, f"{phase}:{registry.label(r)}")[k]
                       for k, r in enumerate(rules)]
            np.testing.assert_allclose(heights, lat, rtol=1e-12)
        # the energy bars of a rule add up to its energy per learned window
        for k, r in enumerate(rules):
            total = sum(_energy_nJ(f, r, p, list(f[f"costs/{r}/energy_pJ/{p}"])) for p in PHASES)
            assert total == pytest.approx(
                float(f[f"metrics/summary/{r}_energy_pJ_per_learned_window"][()]) / 1e3)
            learn = sum(_energy_nJ(f, r, p, list(f[f"costs/{r}/energy_pJ/{p}"]))
                        for p in PHASES[1:])
            x = _gid(tradeoff, f"final:{r}")[0].get_xdata()[0]
            assert x == pytest.approx(learn, rel=1e-12)
            y = _gid(tradeoff, f"final:{r}")[0].get_ydata()[0]
            assert y == f[f"metrics/summary/{r}_final_accuracy_pct"][()]
            learning_area = sum(float(v[()]) for v in f[f"costs/{r}/area_um2/learning"].values())
            assert _bar_heights(area, "area:learning units")[k] == pytest.approx(
                learning_area / 1e6, rel=1e-12)
            stacked = sum(p.get_height() for a in area.axes[0].containers
                          for p in [a.patches[k]])
            assert stacked == pytest.approx(f[f"metrics/summary/{r}_area_um2"][()] / 1e6, rel=1e-9)


def test_conductance_figure_counts_the_files_changes(tiny):
    _, out = tiny
    fig = report.figure_conductance(_view(out))
    with _h5(out) as f:
        g = f["metrics/conductance_change_uS"]
        for rule in ("bp", "dfa", "sfdfa"):
            for layer in g[rule]:
                d = g[rule][layer][()]
                hist = _gid(fig, f"{rule}:{layer}")
                assert sum(p.get_height() for p in hist) == np.count_nonzero(d)


def _md_tables(md):
    """Every Markdown table of ``md`` as a list of rows of cells (header first)."""
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            if not set(line) <= set("|-: "):
                current.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif current:
            tables.append(current)
            current = []
    return tables


def test_report_and_console_tables_are_the_files_numbers(tiny):
    folder, out = tiny
    md = (out / "report.md").read_text()
    console = (folder / "stdout.txt").read_text()
    accuracy, costs, *_, comparison = _md_tables(md)  # the sensitivity table in between
    labels = {"BP (BPTT)": "bp", "DFA": "dfa", "SFDFA": "sfdfa"}
    with _h5(out) as f:
        s = f["metrics/summary"]
        for row in accuracy[1:]:
            subject, rule = row[0], labels[row[1]]
            keys = ("ideal", "deployed", "final", "prequential")
            src = s if subject == "mean" else f[f"metrics/subjects/{subject}/{rule}"]
            prefix = f"{rule}_" if subject == "mean" else ""
            assert row[2:] == [f"{src[f'{prefix}{k}_accuracy_pct'][()]:.2f}" for k in keys]
            if subject == "mean":
                assert re.search(r"^" + re.escape(row[1]) + r"\s+" + r"\s+".join(
                    re.escape(c) for c in row[2:]) + r"$", console, re.M)
        assert costs[0][1] == "energy (nJ/learned window)"
        for row in costs[1:]:
            r = labels[row[0]]
            learned = float(f[f"costs/{r}/samples"][()])
            inferred = float(f[f"costs/{r}/inference_windows"][()])
            e = {p: sum(float(v[()]) for c in f[f"costs/{r}/energy_pJ/{p}"].values()
                        for v in c.values()) for p in PHASES}
            learning = sum(e[p] for p in PHASES[1:]) / learned
            static = sum(sum(float(v[()]) for v in f[f"costs/{r}/energy_pJ/{p}"]["leakage"]
                             .values()) / (inferred if p == "inference" else learned)
                         for p in PHASES if "leakage" in f[f"costs/{r}/energy_pJ/{p}"])
            assert row[1] == f"{(e['inference'] / inferred + learning) / 1e3:.2f}"
            assert row[2] == f"{learning / 1e3:.2f}"
            assert row[3] == f"{static / 1e3:.2f}"
            assert row[4] == f"{e['inference'] / inferred / 1e3:.2f}"
            lat = sum(float(v[()]) for v in f[f"costs/{r}/latency_ns"].values())
            assert row[5] == f"{lat / 1e3:.2f}"
            area = sum(float(v[()]) for part in f[f"costs/{r}/area_um2"].values()
                       for v in part.values())
            assert row[6] == f"{area / 1e6:.3f}"
            assert row[7] == f"{sum(e.values()) / 1e6:.3f}"
            assert row[8] == f"{int(learned)}"
            assert re.search(r"^" + re.escape(row[0]) + r"\s+" + r"\s+".join(
                re.escape(c) for c in row[1:]) + r"$", console, re.M)
        gain = {row[0]: row[2:] for row in comparison[1:]}
        key = "accuracy after adaptation, gain (percentage points)"
        assert gain[key] == [f"{s[f'{r}_vs_bp_accuracy_gain_points'][()]:+.2f}"
                             for r in ("dfa", "sfdfa")]
        assert gain[key][0] == (
            f"{s['dfa_final_accuracy_pct'][()] - s['bp_final_accuracy_pct'][()]:+.2f}")


def test_one_run_says_it_cannot_rank_the_rules(tiny):
    folder, out = tiny
    view = _view(out)
    caveat = report.ranking_caveat(view)
    assert caveat is not None and f"{len(view.subjects)} subject" in caveat
    assert "cannot rank" in caveat and "reports/study.toml" in caveat
    assert f"**{caveat}**" in (out / "report.md").read_text()
    console = " ".join((folder / "stdout.txt").read_text().split())
    assert caveat in console  # wrapped on the terminal, the same words


def test_report_to_another_folder_is_the_same(tiny, tmp_path, capsys):
    _, out = tiny
    assert main(["report", str(out / "results.h5"), "--out", str(tmp_path / "again")]) == 0
    assert (tmp_path / "again" / "report.md").read_text() == (out / "report.md").read_text()
    assert sorted(p.name for p in (tmp_path / "again" / "figures").iterdir()) == sorted(
        name for name, _, _ in report.FIGURES)


# --- report.html in a browser ---------------------------------------------------------------------

_CHECK = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const text = document.body.innerText;
  document.body.setAttribute('data-check', JSON.stringify({
    images: imgs.length,
    loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
    tables: document.querySelectorAll('table').length,
    markdown: ['![', '](', '**', '| ---', '```', '`', '### '].filter(m => text.includes(m))}));
});
</script></body>"""


def test_report_html_renders_in_headless_chromium(tiny, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("headless chromium is not installed (Debian: apt-get install chromium)")
    _, out = tiny
    page = tmp_path / "report.html"  # the report plus a probe that reads the rendered page
    page.write_text((out / "report.html").read_text().replace("</body>", _CHECK))
    flags = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
             "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    check = json.loads(re.search(r'data-check="([^"]*)"', dom).group(1).replace("&quot;", '"'))
    assert check["images"] == len(report.FIGURES) == check["loaded"]
    assert check["tables"] == 4 and check["markdown"] == []  # accuracy, costs, sensitivity, BP
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,3000",
                    (out / "report.html").as_uri()], capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 20_000  # a rendered page, not a blank one


# --- the user guide's code ----------------------------------------------------------------------

def test_the_guides_plotting_code_runs_on_a_real_run(tiny, tmp_path, monkeypatch):
    """Every Python block of docs/guide.md's plotting section, on the tiny run's results.h5 and
    on a table.csv written by the sweep's own writer from that run's summary."""
    import matplotlib

    from snn_dfa.app import sweep as sweep_module

    matplotlib.use("Agg")
    _, out = tiny
    guide = (REPO / "docs" / "guide.md").read_text()
    section = guide.split("## 5.")[1].split("\n## ")[0]
    blocks = re.findall(r"```python\n(.*?)```", section, re.S)
    assert len(blocks) == 3
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "demo").symlink_to(out)
    summary = read_results(out / "results.h5")["metrics"]["summary"]
    table = {"key": np.array(["k"], dtype=object), "status": np.array(["done"], dtype=object),
             "crossbar.prog_sigma_rel": np.array([0.3])}
    table |= {k: np.array([float(v)]) for k, v in summary.items()}
    (tmp_path / "runs" / "sweep").mkdir()
    (tmp_path / "runs" / "sweep" / "table.csv").write_bytes(sweep_module._table_csv(table))
    monkeypatch.chdir(tmp_path)
    for block in blocks:
        exec(compile(block, "guide.md", "exec"), {})
        import matplotlib.pyplot as plt

        plt.close("all")
    for name in ("accuracy_by_subject.png", "stream_subject2.png", "accuracy_vs_spread.png"):
        assert (tmp_path / name).stat().st_size > 5_000


def test_every_energy_component_is_in_exactly_one_group():
    from hwsim.estimate import ENERGY_COMPONENTS

    members = [c for _, _, group in report.ENERGY_GROUPS for c in group]
    assert sorted(members) == sorted(ENERGY_COMPONENTS)  # each once, none left out
    colours = [colour for _, colour, _ in report.ENERGY_GROUPS]
    assert len(set(colours)) == len(colours) <= 6  # a few colours a reader tells apart
