"""The ``snn-dfa`` command line.

Every failure the project raises on purpose (bad arguments, missing or corrupt data,
invalid configuration) is printed as one line on stderr with exit code 2; nothing
half-written is left in ``--out``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from snn_dfa.errors import SnnDfaError

if TYPE_CHECKING:  # the experiment (numba, h5py) is imported only by the commands that run it
    from snn_dfa.app.experiment import RunResult


def _our_errors() -> tuple[type[Exception], ...]:
    """The exceptions the project raises on purpose (imported late: a Ctrl-C during start-up
    must meet :func:`main`'s handler, not an import)."""
    from crossbar import CrossbarError
    from hwsim import HwsimError

    return (SnnDfaError, CrossbarError, HwsimError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's code too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _print_summary(result: RunResult) -> None:
    from snn_dfa.rules import registry

    summary = result.summary
    rules = [r for r in registry.names() if f"{r}_final_accuracy" in summary]
    print("accuracy (%) on held-out windows, mean over subjects; costs per learned "
          "window (its inference included)")
    print(f"{'rule':<11}{'ideal':>7}{'deployed':>10}{'after':>8}{'prequential':>13}"
          f"{'energy nJ':>11}{'area mm2':>10}{'latency us':>12}")
    for r in rules:
        print(f"{registry.label(r):<11}{100 * summary[f'{r}_ideal_accuracy']:>7.2f}"
              f"{100 * summary[f'{r}_deployed_accuracy']:>10.2f}"
              f"{100 * summary[f'{r}_final_accuracy']:>8.2f}"
              f"{100 * summary[f'{r}_prequential_accuracy']:>13.2f}"
              f"{summary[f'{r}_energy_pJ_per_learned_window'] / 1e3:>11.2f}"
              f"{summary[f'{r}_area_um2'] / 1e6:>10.3f}"
              f"{summary[f'{r}_latency_ns_per_learned_window'] / 1e3:>12.2f}")
    for r in rules:
        if f"{r}_vs_bp_energy_ratio" in summary:
            print(f"{registry.label(r)} vs BP: energy {100 * (1 - summary[f'{r}_vs_bp_energy_ratio']):.1f} % "
                  f"lower, area {100 * (1 - summary[f'{r}_vs_bp_area_ratio']):.1f} % lower, latency "
                  f"{summary[f'{r}_vs_bp_latency_speedup']:.2f}x lower, accuracy "
                  f"{summary[f'{r}_vs_bp_accuracy_gain_pct']:+.2f} points "
                  "(paper: 64.1 %, 10.1 %, 2.1x, up to 7.55); error delivery alone: "
                  f"{100 * (1 - summary[f'{r}_vs_bp_delivery_energy_ratio']):.1f} % less energy, "
                  f"{summary[f'{r}_vs_bp_delivery_latency_speedup']:.1f}x faster")
    print(f"report: {Path(result.out_dir) / 'report.md'}")


def _cmd_demo(args: argparse.Namespace) -> int:
    from snn_dfa.app.config import demo_config
    from snn_dfa.app.experiment import run

    _print_summary(run(demo_config(seed=args.seed), args.out, progress=sys.stderr.isatty(),
                       force=args.force))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from snn_dfa.app.config import load_config
    from snn_dfa.app.experiment import run

    config = load_config(args.config)
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    _print_summary(run(config, args.out, progress=sys.stderr.isatty(), force=args.force))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from snn_dfa.app.config import EXAMPLE

    print(EXAMPLE, end="")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from snn_dfa.app.report import rebuild_report

    print(f"report: {rebuild_report(args.results, force=args.force)}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from snn_dfa.app.sweep import load_sweep, run_sweep

    sweep = load_sweep(args.sweep)
    result = run_sweep(sweep, args.out, scheduler=args.scheduler, workers=args.workers,
                       progress=sys.stderr.isatty())
    print(f"{result.n_points} points: {result.n_skipped} finished earlier, {result.n_ran} ran now, "
          f"{len(result.failed)} failed")
    if result.failed:
        print(f"errors: {result.out_dir / 'errors'}")
    print(f"table: {result.table_csv} and {result.table_h5.name}")
    return 1 if result.failed else 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from snn_dfa.data import registry

    rows = registry()
    width = max(len(r.name) for r in rows)
    for r in rows:
        state = "available" if r.available else "missing"
        print(f"{r.name:<{width}}  {state:<9}  {r.description}")
        print(f"{'':<{width}}  {'':<9}  location: {r.location}")
        if not r.available:
            print(f"{'':<{width}}  {'':<9}  how to obtain: {r.how_to_obtain}")
    return 0


def _out_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--out", default=default, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="publish into an existing folder snn-dfa did not write (its files "
                        "are kept; see README, Outputs)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snn-dfa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="the embedded default job on real data (UCI HAPT)",
                          description="Pre-train the SFCN spiking network on UCI HAPT, deploy it "
                          "on a noisy RRAM crossbar, adapt it on-device with BP, DFA and SFDFA on "
                          "held-out subjects, and cost every phase with hwsim; writes results.h5, "
                          "report.md, report.html and figures/ to --out.")
    demo.add_argument("--seed", type=int, default=0, help="one seed drives everything")
    _out_arguments(demo, "runs/demo")
    demo.set_defaults(func=_cmd_demo)
    runp = sub.add_parser("run", help="the same pipeline from a TOML configuration file",
                          description="Run the pipeline of `snn-dfa demo` from CONFIG.toml "
                          "(`snn-dfa config --example` prints a documented example).")
    runp.add_argument("config", type=Path, help="TOML configuration file")
    runp.add_argument("--seed", type=int, default=None, help="override the file's seed")
    _out_arguments(runp, "runs/run")
    runp.set_defaults(func=_cmd_run)
    cfg = sub.add_parser("config", help="print a documented example configuration")
    cfg.add_argument("--example", action="store_true", required=True,
                     help="print the example (the defaults, with comments)")
    cfg.set_defaults(func=_cmd_config)
    rep = sub.add_parser("report", help="rebuild report and figures from a results file")
    rep.add_argument("results", type=Path, help="results.h5 of an earlier run")
    rep.add_argument("--force", action="store_true",
                     help="write the report beside a results file in a folder snn-dfa did not "
                     "write (its files are kept; see README, Outputs)")
    rep.set_defaults(func=_cmd_report)
    sw = sub.add_parser("sweep", help="run a design-space sweep of the pipeline on Dask",
                        description="Run the pipeline of `snn-dfa run` on every point of "
                        "SWEEP.toml (a [base] config plus [axes] grid and/or [random] samples) "
                        "on dask.distributed; rerunning skips finished points. Writes points/, "
                        "errors/, table.h5, table.csv and figures/ to --out. Needs the extra: "
                        "pip install 'snn-dfa[sweep]'. Exit code 1 when some points failed.")
    sw.add_argument("sweep", type=Path, help="TOML sweep file")
    sw.add_argument("--scheduler", default=None,
                    help="address of a running dask scheduler (default: a local cluster)")
    sw.add_argument("--workers", type=int, default=None,
                    help="worker processes of the local cluster (default: CPU count)")
    sw.add_argument("--out", default="runs/sweep", help="output folder")
    sw.set_defaults(func=_cmd_sweep)
    ds = sub.add_parser("datasets", help="list data sets, whether they are here, how to get them")
    ds.set_defaults(func=_cmd_datasets)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; project errors: one line, exit 2; a failing file system: one line,
    exit 1; Ctrl-C at any moment: one line, exit 130."""
    try:
        args = build_parser().parse_args(argv)
        try:
            return int(args.func(args))
        except Exception as exc:
            if isinstance(exc, _our_errors()):
                print(f"snn-dfa: error: {_one_line(exc)}", file=sys.stderr)
                return 2
            if isinstance(exc, OSError):
                print(f"snn-dfa: error: {_one_line(exc)}", file=sys.stderr)
                return 1
            raise
    except KeyboardInterrupt:
        print("snn-dfa: interrupted; no partial results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
