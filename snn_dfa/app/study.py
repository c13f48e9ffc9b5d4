"""The adaptation study: a sweep of named scenarios x seeds, read back as paired tables and
reported with intervals.

A study is an ordinary sweep file (``snn-dfa sweep``) with ``[scenarios]`` and a ``seed`` axis;
every point runs all rules on all adaptation subjects, so for each scenario and rule the
held-out accuracy forms a table ``[subjects, seeds]`` whose cells are paired across rules (same
subject, seed, chip, stream). :func:`collect_study` reads those tables from the finished
points; :func:`write_study` writes ``study.csv`` (one row per scenario, seed, subject and
rule), ``report.md``, ``report.html`` and ``figures/study_*.png``:

- per scenario, each rule's accuracy deployed and after adaptation, mean and 95 % interval
  (hierarchical bootstrap over subjects, then seeds: :mod:`snn_dfa.stats`);
- paired differences of every rule against backprop and against no adaptation, and the
  verdict "beats" only where the paired interval excludes zero;
- costs per learned window of each rule and the ratios to backprop.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hwsim.sensitivity import (
    PAPER_RATIOS,
    PAPER_TOLERANCE,
    SensitivityRow,
    format_sensitivity,
    sensitivity_from_dict,
)
from snn_dfa.app.sweep import SCENARIO, Sweep, point_done
from snn_dfa.errors import DataError
from snn_dfa.rules.registry import baseline, get_rule
from snn_dfa.stats import Interval, bootstrap_interval, paired_comparison

#: The wearable paper's headline claims for DFA against BP after on-chip adaptation of a HAR
#: network on non-ideal RRAM crossbars (configuration, dataset of the maximum and baseline
#: definitions are not stated): the claim's text and the DFA/BP ratio it implies.
PAPER_CLAIMS = {"energy": ("64.1 % lower", PAPER_RATIOS["energy"]),
                "latency": ("2.1x lower", PAPER_RATIOS["latency"]),
                "area": ("10.1 % lower", PAPER_RATIOS["area"]),
                "accuracy": ("up to +7.55 points", 7.55)}


@dataclass(frozen=True)
class StudyData:
    """Accuracy tables of a study, aligned across rules.

    ``accuracy[(scenario, rule, "deployed" | "final")]`` is ``[subjects, seeds]`` in percent;
    ``costs[(scenario, rule, name)]`` is ``[seeds]`` (one value per point: costs are over all
    subjects' streams); ``subjects`` and ``seeds`` give the row and column labels;
    ``sensitivity`` is the cost-assumption table of the first finished point of the first
    scenario (None if no point finished or BP did not run).
    """

    scenarios: tuple[str, ...]
    rules: tuple[str, ...]
    subjects: tuple[int, ...]
    seeds: tuple[int, ...]
    accuracy: Mapping[tuple[str, str, str], np.ndarray]
    costs: Mapping[tuple[str, str, str], np.ndarray]
    n_points: int
    n_done: int
    sensitivity: Sequence[SensitivityRow] | None = None


#: cost columns of the study: its name -> (the point summary's key suffix, scale to its unit)
COSTS = {
    "energy_nJ_per_learned_window": ("energy_pJ_per_learned_window", 1e-3),
    "adaptation_energy_nJ_per_learned_window": ("adaptation_energy_pJ_per_learned_window", 1e-3),
    "latency_us_per_learned_window": ("latency_ns_per_learned_window", 1e-3),
    "area_mm2": ("area_um2", 1e-6),
}


def _point_values(res: Mapping[str, Any], rules: Sequence[str]
                  ) -> tuple[dict[tuple[int, str, str], float], dict[tuple[str, str], float]]:
    """Per (subject, rule, stage) accuracy in percent, and per (rule, cost) of one point."""
    acc = {}
    for subject, sm in res["metrics"]["subjects"].items():
        for rule in rules:
            for stage in ("deployed", "final"):
                acc[(int(subject), rule, stage)] = float(sm[rule][f"{stage}_accuracy_pct"])
    summary = res["metrics"]["summary"]
    costs = {}
    for rule in rules:
        for name, (key, scale) in COSTS.items():
            value = float(summary.get(f"{rule}_{key}", np.nan))
            costs[(rule, name)] = scale * value if math.isfinite(value) else np.nan
    return acc, costs


def collect_study(sweep: Sweep, out_dir: str | Path) -> StudyData:
    """Read every finished point of a study sweep into aligned tables.

    Raises
    ------
    DataError
        The sweep has no ``[scenarios]`` or no ``seed`` axis, or its points disagree on the
        rules or subjects (then no paired table exists).
    """
    from snn_dfa.app.results import read_results

    if SCENARIO not in sweep.axes or "seed" not in sweep.axes:
        raise DataError("a study needs [scenarios] and a 'seed' axis in its sweep file; "
                        f"this sweep's axes are {list(sweep.axes)}")
    out = Path(out_dir)
    scenarios = tuple(dict.fromkeys(p.values[SCENARIO] for p in sweep.points))
    seeds = tuple(sorted({int(p.values["seed"]) for p in sweep.points}))
    rules = tuple(get_rule(r).name for r in sweep.base.adapt.rules)
    subjects = tuple(sweep.base.data.adapt_subjects)
    acc: dict[tuple[str, str, str], np.ndarray] = {
        (sc, r, st): np.full((len(subjects), len(seeds)), np.nan)
        for sc in scenarios for r in rules for st in ("deployed", "final")}
    costs: dict[tuple[str, str, str], np.ndarray] = {}
    sensitivity: list[SensitivityRow] | None = None
    done = 0
    for p in sweep.points:
        if not point_done(out / "points" / p.key, p.key):
            continue
        if (tuple(get_rule(r).name for r in p.config.adapt.rules) != rules
                or tuple(p.config.data.adapt_subjects) != subjects):
            raise DataError(f"study point {p.key}: rules or subjects differ from the base; "
                            "a study compares rules on the same subjects in every point")
        res = read_results(out / "points" / p.key / "results.h5")
        values, point_costs = _point_values(res, rules)
        sc, col = p.values[SCENARIO], seeds.index(int(p.values["seed"]))
        for (subject, rule, stage), v in values.items():
            acc[(sc, rule, stage)][subjects.index(subject), col] = v
        for (rule, name), v in point_costs.items():
            costs.setdefault((sc, rule, name), np.full(len(seeds), np.nan))[col] = v
        if sensitivity is None and sc == scenarios[0] and "sensitivity" in res["costs"]:
            sensitivity = sensitivity_from_dict(res["costs"]["sensitivity"])
        done += 1
    return StudyData(scenarios, rules, subjects, seeds, acc, costs, len(sweep.points), done,
                     sensitivity)


def _complete(table: np.ndarray) -> np.ndarray:
    """The seeds (columns) every subject has finished."""
    return table[:, np.all(np.isfinite(table), axis=0)]


@dataclass(frozen=True)
class ScenarioSummary:
    """One scenario's intervals and paired comparisons."""

    scenario: str
    n_seeds: int
    deployed: Mapping[str, Interval]
    final: Mapping[str, Interval]
    gain: Mapping[str, Interval]  # final - deployed, paired (points)
    vs_baseline: Mapping[str, Interval]  # final - baseline's final, paired (points)


def summarise(data: StudyData, seed: int = 0) -> list[ScenarioSummary]:
    """Intervals per scenario and rule over the seeds every subject finished."""
    base = baseline().name
    out = []
    for sc in data.scenarios:
        dep = {r: _complete(data.accuracy[(sc, r, "deployed")]) for r in data.rules}
        fin = {r: _complete(data.accuracy[(sc, r, "final")]) for r in data.rules}
        n = min(t.shape[1] for t in fin.values())
        if n == 0:
            continue
        dep = {r: t[:, :n] for r, t in dep.items()}
        fin = {r: t[:, :n] for r, t in fin.items()}
        out.append(ScenarioSummary(
            sc, n,
            {r: bootstrap_interval(t, seed=seed) for r, t in dep.items()},
            {r: bootstrap_interval(t, seed=seed) for r, t in fin.items()},
            {r: paired_comparison(fin[r], dep[r], (r, "deployed"), seed=seed).difference
             for r in data.rules},
            {r: paired_comparison(fin[r], fin[base], (r, base), seed=seed).difference
             for r in data.rules if r != base and base in fin}))
    return out


def _verdict(iv: Interval, a: str, b: str) -> str:
    if iv.low > 0:
        return f"{a} beats {b}"
    if iv.high < 0:
        return f"{b} beats {a}"
    return "no difference shown"


def study_csv(data: StudyData) -> str:
    """One row per scenario, seed, subject and rule (accuracies in percent)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["scenario", "seed", "subject", "rule", "deployed_accuracy_pct",
                "final_accuracy_pct"])
    for sc in data.scenarios:
        for j, seed in enumerate(data.seeds):
            for i, subject in enumerate(data.subjects):
                for r in data.rules:
                    d = data.accuracy[(sc, r, "deployed")][i, j]
                    f = data.accuracy[(sc, r, "final")][i, j]
                    if math.isfinite(d) and math.isfinite(f):
                        w.writerow([sc, seed, subject, r, repr(float(d)), repr(float(f))])
    return buf.getvalue()


def study_markdown(data: StudyData, summaries: Sequence[ScenarioSummary],
                   scenario_notes: Mapping[str, str] | None = None) -> str:
    """The study's report: intervals, paired verdicts and cost ratios per scenario."""
    base = baseline()
    notes = scenario_notes or {}
    lines = ["# The DFA-vs-BP adaptation study", ""]
    lines.append(f"{data.n_done} of {data.n_points} points finished: "
                 f"{len(data.scenarios)} scenario{'s' * (len(data.scenarios) != 1)} x "
                 f"{len(data.seeds)} seed{'s' * (len(data.seeds) != 1)}, "
                 f"{len(data.subjects)} held-out subjects ({', '.join(map(str, data.subjects))}).")
    if data.n_done < data.n_points:
        lines.append("")
        lines.append("**Partial:** the intervals below use only the seeds every subject of a "
                     "scenario finished.")
    lines += ["", "Accuracy is the held-out accuracy of each subject's test windows, in "
              "percent; differences are in points. Intervals are 95 % hierarchical bootstrap "
              "intervals (subjects, then seeds within subjects). Differences are paired (same "
              "subject, seed, chip and stream); a rule beats another only where the paired "
              "interval excludes zero."]
    n_comparisons = sum(len(s.vs_baseline) for s in summaries)
    if n_comparisons > 1:
        lines[-1] += (f" The report compares {n_comparisons} rule-scenario pairs against "
                      f"{base.label}; at 95 % each, about {0.05 * n_comparisons:.1f} verdicts "
                      "would say \"beats\" by chance alone if no rule differed, so one verdict "
                      "on its own is a lead to test again, not a finding.")
    lines.append("")
    for s in summaries:
        lines.append(f"## Scenario `{s.scenario}`")
        if s.scenario in notes:
            lines += ["", notes[s.scenario]]
        lines += ["", f"{s.n_seeds} seeds x {len(data.subjects)} subjects.", "",
                  f"| rule | deployed (%) | after adaptation (%) | gain (points) | "
                  f"vs {base.label} (points) | verdict |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for r in data.rules:
            label = get_rule(r).label
            vs = s.vs_baseline.get(r)
            lines.append(
                f"| {label} | {s.deployed[r].format()} | {s.final[r].format()} | "
                f"{s.gain[r].format()} | {vs.format() if vs else '-'} | "
                f"{_verdict(vs, label, base.label) if vs else '-'} |")
        lines.append("")
        cost_rows = []
        e_b = _mean_cost(data, s.scenario, base.name, "energy_nJ_per_learned_window")
        l_b = _mean_cost(data, s.scenario, base.name, "latency_us_per_learned_window")
        for r in data.rules:
            e, a, lat = (_mean_cost(data, s.scenario, r, name) for name in (
                "energy_nJ_per_learned_window", "adaptation_energy_nJ_per_learned_window",
                "latency_us_per_learned_window"))
            if not math.isfinite(e):
                continue  # a rule that never learns has no learned window
            ratio = (f"{e / e_b:.3f} | {l_b / lat:.2f}x" if math.isfinite(e_b) and
                     math.isfinite(l_b) else "- | -")
            cost_rows.append(f"| {get_rule(r).label} | {e:.1f} | {a:.1f} | {lat:.2f} | {ratio} |")
        if cost_rows:
            lines += [f"| rule | energy per learned window, inference included (nJ) | "
                      f"adaptation energy per learned window (nJ) | latency per learned window "
                      f"(us) | energy / {base.label} | speed-up over {base.label} |",
                      "| --- | --- | --- | --- | --- | --- |", *cost_rows, ""]
    return "\n".join(lines) + "\n"


def _mean_cost(data: StudyData, scenario: str, rule: str, name: str) -> float:
    v = data.costs.get((scenario, rule, name))
    return float(np.mean(v[np.isfinite(v)])) if v is not None and np.isfinite(v).any() \
        else float("nan")


def claims_markdown(data: StudyData, summaries: Sequence[ScenarioSummary]) -> str:
    """The paper's four headline claims (DFA against BP) beside the study's figures, and the
    cost-assumption table they are read against; empty if DFA or BP is not in the study."""
    base = baseline().name
    if "dfa" not in data.rules or base not in data.rules or not summaries:
        return ""
    first = summaries[0].scenario
    names = {"energy": "energy_nJ_per_learned_window",
             "latency": "latency_us_per_learned_window", "area": "area_mm2"}
    lines = ["## The paper's headline claims beside ours", "",
             f"Costs are DFA/BP ratios per learned window in scenario `{first}` under the "
             "default accounting; a ratio reproduces the paper's where it lies within "
             f"{100 * PAPER_TOLERANCE:.0f} % of it. The last column names the scenarios (other "
             "chips or update schemes, same accounting) and the single switched accounting "
             "assumptions (the sensitivity table below) under which it does. The accuracy "
             "claim counts as reproduced where DFA beats BP (paired interval above zero) and "
             "the interval reaches +7.55 points.", "",
             "| claim (DFA against BP) | paper | ours | reproduced | where it is reproduced "
             "(within the tolerance) |", "| --- | --- | --- | --- | --- |"]

    def ratio(q: str, scenario: str) -> float:
        return (_mean_cost(data, scenario, "dfa", names[q])
                / _mean_cost(data, scenario, base, names[q]))

    def close(value: float, target: float) -> bool:
        return math.isfinite(value) and abs(value / target - 1) <= PAPER_TOLERANCE

    for q, (text, target) in PAPER_CLAIMS.items():
        if q == "accuracy":
            continue
        r0 = ratio(q, first)
        ours = (f"{r0:.3f} ({100 * (1 - r0):.1f} % lower)" if q != "latency"
                else f"{r0:.3f} ({1 / r0:.2f}x lower)")
        where = [f"scenario `{s.scenario}` ({ratio(q, s.scenario):.3f})" for s in summaries
                 if close(ratio(q, s.scenario), target)]
        where += [r.label for r in data.sensitivity or () if r.reproduces("dfa", q)]
        lines.append(f"| {q} | {text} (ratio {target:.3f}) | {ours} | "
                     f"{'yes' if close(r0, target) else 'no'} | "
                     f"{'; '.join(where) or 'nowhere'} |")
    diffs = [(s.scenario, s.vs_baseline["dfa"]) for s in summaries if "dfa" in s.vs_baseline]
    best_sc, best = max(diffs, key=lambda d: d[1].mean)
    lines.append(
        f"| accuracy after adaptation | {PAPER_CLAIMS['accuracy'][0]} | best scenario "
        f"`{best_sc}`: {best.format()} points (DFA - BP, paired) | "
        f"{'yes' if best.low > 0 and best.high >= PAPER_CLAIMS['accuracy'][1] else 'no'} | "
        "per scenario: " + "; ".join(f"`{sc}` {iv.mean:+.1f}" for sc, iv in diffs) + " |")
    if data.sensitivity:
        lines += ["", "Cost ratios of every rule to BP with one accounting assumption switched "
                  f"(scenario `{first}`, seed {data.seeds[0]}; `*`: within the tolerance of "
                  "the paper's DFA/BP ratio):", "",
                  format_sensitivity(data.sensitivity).replace("*", "\\*")]
    return "\n".join(lines) + "\n"


def study_figures(data: StudyData, summaries: Sequence[ScenarioSummary], folder: Path
                  ) -> list[Path]:
    """``study_accuracy.png`` (deployed -> after, per rule and scenario, with intervals),
    ``study_differences.png`` (paired differences to backprop) and
    ``study_accuracy_vs_energy.png`` (accuracy after adaptation against energy per learned
    window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder.mkdir(parents=True, exist_ok=True)
    base = baseline()
    colors = {r: f"C{k % 10}" for k, r in enumerate(data.rules)}
    written = []

    def save(fig: Any, name: str) -> None:
        fig.tight_layout()
        fig.savefig(folder / name, dpi=120)
        plt.close(fig)
        written.append(folder / name)

    if not summaries:
        return written
    n = len(summaries)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.6 * rows), sharey=True,
                             squeeze=False)
    for ax, s in zip(axes.ravel(), summaries):
        for k, r in enumerate(data.rules):
            d, f = s.deployed[r], s.final[r]
            ax.errorbar(k - 0.12, d.mean, [[d.mean - d.low], [d.high - d.mean]], fmt="o",
                        mfc="white", color=colors[r], capsize=3)
            ax.errorbar(k + 0.12, f.mean, [[f.mean - f.low], [f.high - f.mean]], fmt="o",
                        color=colors[r], capsize=3)
            ax.plot([k - 0.12, k + 0.12], [d.mean, f.mean], color=colors[r], lw=1)
        ax.set_xticks(range(len(data.rules)), [get_rule(r).label for r in data.rules],
                      rotation=20)
        ax.set_title(f"{s.scenario} ({s.n_seeds} seeds)")
        ax.grid(axis="y", alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("held-out accuracy (%)")
    for ax in axes.ravel()[n:]:
        ax.set_visible(False)
    fig.suptitle("open: deployed, filled: after adaptation; bars: 95 % intervals", fontsize=9)
    save(fig, "study_accuracy.png")

    others = [r for r in data.rules if r != base.name]
    if base.name in data.rules and others:
        fig, ax = plt.subplots(figsize=(6.4, 0.5 + 0.32 * n * len(others) + 0.3 * n))
        y, ticks, labels = 0.0, [], []
        for s in summaries:
            for r in others:
                iv = s.vs_baseline[r]
                ax.errorbar(iv.mean, y, xerr=[[iv.mean - iv.low], [iv.high - iv.mean]],
                            fmt="o", color=colors[r], capsize=3)
                ticks.append(y)
                labels.append(f"{s.scenario}: {get_rule(r).label}")
                y -= 1
            y -= 0.6
        ax.axvline(0, color="black", lw=1)
        ax.set_yticks(ticks, labels, fontsize=8)
        ax.set_xlabel(f"accuracy after adaptation minus {base.label}'s (points, paired)")
        ax.grid(axis="x", alpha=0.3)
        save(fig, "study_differences.png")

    markers = dict(zip(data.scenarios, "osD^vP*X"))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for s in summaries:
        for r in data.rules:
            e = _mean_cost(data, s.scenario, r, "adaptation_energy_nJ_per_learned_window")
            if not math.isfinite(e):
                continue
            f = s.final[r]
            ax.errorbar(e, f.mean, [[f.mean - f.low], [f.high - f.mean]],
                        fmt=markers[s.scenario], color=colors[r], capsize=3)
    for r in data.rules:
        ax.plot([], [], "s", color=colors[r], label=get_rule(r).label)
    for sc in data.scenarios:
        ax.plot([], [], markers[sc], color="gray", label=sc)
    right = ax.get_xlim()[1]
    ax.set_xlim(-0.03 * right, right)  # energy starts at zero; a margin shows the controls
    ax.set_xlabel("adaptation energy per learned window (nJ)")
    ax.set_ylabel("held-out accuracy after adaptation (%)")
    ax.legend(fontsize=8, ncol=2, loc="lower center")
    ax.grid(alpha=0.3)
    save(fig, "study_accuracy_vs_energy.png")
    return written


def write_study(sweep: Sweep, out_dir: str | Path, seed: int = 0) -> list[Path]:
    """Write ``study.csv``, ``report.md``, ``report.html`` and the study figures into the sweep's
    output folder (from its finished points; nothing is run)."""
    from snn_dfa.app.report import _html
    from snn_dfa.app.sweep import _write_atomic

    out = Path(out_dir)
    data = collect_study(sweep, out)
    summaries = summarise(data, seed)
    notes = {name: ", ".join(f"`{k}` = {v!r}" for k, v in settings.items()) or "the base setup"
             for name, settings in sweep.spec.get("scenarios", {}).items()}
    figures = study_figures(data, summaries, out / "figures")
    markdown = study_markdown(data, summaries, notes)
    claims = claims_markdown(data, summaries)
    markdown += ("\n" + claims) if claims else ""
    adapt = sweep.base.adapt
    rates = ", ".join(f"{get_rule(r).label} {adapt.lr_for(r):g}" for r in data.rules)
    markdown += ("\n## Settings\n\nSGD step per rule: " + rates + (
        " (per-rule values from the step-size search)." if adapt.lr_by_rule else
        " (one shared value: the step-size search has not been run, so no rule is tuned)."))
    markdown += f" Adaptation: {adapt.epochs} pass(es) over each subject's adaptation windows.\n"
    markdown += "\n" + "\n".join(f"![{p.stem}](figures/{p.name})" for p in figures) + "\n"
    _write_atomic(out / "study.csv", study_csv(data).encode())
    _write_atomic(out / "report.md", markdown.encode())
    _write_atomic(out / "report.html", _html(markdown, out).encode())
    return [out / "study.csv", out / "report.md", out / "report.html", *figures]
