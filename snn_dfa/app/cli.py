"""The snn-dfa command line.

Every failure the project raises on purpose (bad arguments, missing or corrupt data,
invalid configuration) is printed as one line on stderr with exit code 2; nothing
half-written is left in --out.  Long commands write one line per stage on stderr (tqdm bars
on a terminal); --quiet silences them.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from snn_dfa import __version__
from snn_dfa.errors import SnnDfaError

if TYPE_CHECKING:  # the progress module is imported only by the commands that run a job
    from snn_dfa.app.progress import Progress


def _our_errors() -> tuple[type[Exception], ...]:
    """The exceptions the project raises on purpose (imported late: a Ctrl-C during start-up
    must meet :func:`main`'s handler, not an import)."""
    from crossbar import CrossbarError
    from hwsim import HwsimError

    return (SnnDfaError, CrossbarError, HwsimError)

DESCRIPTION = (
    "snn-dfa simulates on-device learning of spiking neural networks on RRAM crossbar "
    "hardware: it pre-trains a spiking network for human activity recognition, deploys it "
    "on a simulated noisy crossbar chip, adapts it on the chip with BP, DFA and SFDFA, and "
    "estimates the energy, area and latency of every phase.")
EPILOG = """\
examples:
  snn-dfa demo                          the main job on its embedded default (runs/demo)
  snn-dfa config > my.toml              a documented configuration to edit
  snn-dfa run my.toml --out runs/mine   the same job from that file
  snn-dfa report runs/mine/results.h5   rebuild report and figures from a results file
  snn-dfa sweep sweep.toml --dry-run    list a sweep's points and estimate its time

Run 'snn-dfa COMMAND --help' for a command's options and defaults."""

DEMO_TIME = ("about 1 to 5 minutes on 2 cores (measured: 52 s from an empty cache on a "
             "quiet machine, data conversion and three pre-trainings included; 17 min on a "
             "heavily shared one); later runs reuse the cached pre-training")


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults in every option's help (not for on/off flags), descriptions and epilogs as
    written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or "(default:" in (action.help or ""):  # a flag, or said already
            return action.help
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        if kwargs.get("description"):  # wrapped here: the formatter keeps text as written
            kwargs["description"] = textwrap.fill(kwargs["description"], width=88)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:  # one line, exit 2 (argparse's code too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _progress(args: argparse.Namespace) -> Progress:
    from snn_dfa.app.progress import Progress

    return Progress(quiet=args.quiet)


def _print_summary(out_dir: Path) -> None:
    """The run's headline tables, read from its results file."""
    from snn_dfa.app.report import (
        RunView,
        accuracy_rows,
        comparison_rows,
        cost_rows,
        format_console,
        ranking_caveat,
    )
    from snn_dfa.app.results import read_results

    view = RunView.from_results(read_results(out_dir / "results.h5"))
    print("Accuracy on held-out windows (%), mean over subjects")
    print(format_console(*accuracy_rows(view)))
    caveat = ranking_caveat(view)
    if caveat:
        print(textwrap.fill(caveat, width=100))
    print()
    print("Costs of adaptation (hwsim), per learned window")
    print(format_console(*cost_rows(view)))
    header, rows = comparison_rows(view)
    if rows:
        print()
        print("Against BP, beside the wearable paper's claims for DFA")
        print(format_console(header, rows))
    print()
    print(f"report: {out_dir / 'report.md'} (and report.html, figures/, results.h5, log.txt)")


def _cmd_demo(args: argparse.Namespace) -> int:
    from snn_dfa.app.config import demo_config
    from snn_dfa.app.experiment import run

    result = run(demo_config(seed=args.seed), args.out, progress=_progress(args),
                 force=args.force)
    _print_summary(Path(result.out_dir))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    import dataclasses

    from snn_dfa.app.config import load_config
    from snn_dfa.app.experiment import run

    config = load_config(args.config)
    if args.seed is not None:
        config = dataclasses.replace(config, seed=args.seed)
    result = run(config, args.out, progress=_progress(args), force=args.force)
    _print_summary(Path(result.out_dir))
    return 0


def _cmd_config(args: argparse.Namespace) -> int:
    from snn_dfa.app.config import EXAMPLE

    print(EXAMPLE, end="")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from snn_dfa.app.report import rebuild_report

    print(f"report: {rebuild_report(args.results, args.out, force=args.force)}")
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    from snn_dfa.app.sweep import describe_sweep, load_sweep, run_sweep, summary_table

    sweep = load_sweep(args.sweep)
    if args.dry_run:
        print(describe_sweep(sweep, args.out, workers=args.workers))
        return 0
    result = run_sweep(sweep, args.out, scheduler=args.scheduler, workers=args.workers,
                       progress=_progress(args))
    print(f"{result.n_points} points: {result.n_skipped} finished earlier, {result.n_ran} ran "
          f"now, {len(result.failed)} failed")
    print(summary_table(result.table_h5))
    if result.failed:
        print(f"errors: {result.out_dir / 'errors'}")
    print(f"table: {result.table_csv} and {result.table_h5.name}; figures: "
          f"{result.out_dir / 'figures'}")
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


def _quiet(p: argparse.ArgumentParser) -> None:
    p.add_argument("--quiet", action="store_true",
                   help="no stage lines or progress bars on stderr (the run's log.txt is "
                   "written all the same)")


def _out_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument("--out", default=default, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="publish into an existing folder snn-dfa did not write (its files "
                        "are kept; see README, Outputs)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snn-dfa", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"snn-dfa {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands",
                                parser_class=_Parser)
    demo = sub.add_parser(
        "demo", help="the main job on its embedded default (real UCI HAPT data)",
        description="Pre-train the SFCN spiking network on UCI HAPT, deploy it on a noisy RRAM "
        "crossbar, adapt it on-device with BP, DFA and SFDFA on two held-out subjects, and cost "
        "every phase with hwsim. Writes results.h5, report.md, report.html, figures/ and "
        f"log.txt to --out and prints the headline tables. Takes {DEMO_TIME}.")
    demo.add_argument("--seed", type=int, default=0, help="one seed drives everything")
    _out_arguments(demo, "runs/demo")
    _quiet(demo)
    demo.set_defaults(func=_cmd_demo)
    runp = sub.add_parser(
        "run", help="the same job from a TOML configuration file",
        description="Run the job of 'snn-dfa demo' from CONFIG.toml ('snn-dfa config' prints "
        "a documented example with every default). Writes results.h5, report.md, report.html, "
        "figures/ and log.txt to --out.")
    runp.add_argument("config", type=Path, help="TOML configuration file")
    runp.add_argument("--seed", type=int, default=None,
                      help="override the file's seed (default: the file's)")
    _out_arguments(runp, "runs/run")
    _quiet(runp)
    runp.set_defaults(func=_cmd_run)
    cfg = sub.add_parser(
        "config", help="print a documented example configuration",
        description="Print a documented example configuration for 'snn-dfa run': every key "
        "with its default value and a comment. Redirect it to a file and edit it.")
    cfg.add_argument("--example", action="store_true",
                     help="print the example (what the command does anyway; kept for scripts)")
    cfg.set_defaults(func=_cmd_config)
    rep = sub.add_parser(
        "report", help="rebuild report and figures from a results file",
        description="Rebuild report.md, report.html and figures/ from a results.h5 of an "
        "earlier run, without re-running anything.")
    rep.add_argument("results", type=Path, help="results.h5 of an earlier run")
    rep.add_argument("--out", default=None, help="output folder (default: the folder of RESULTS)")
    rep.add_argument("--force", action="store_true",
                     help="publish into a folder snn-dfa did not write (its files are kept; "
                     "see README, Outputs)")
    rep.set_defaults(func=_cmd_report)
    sw = sub.add_parser(
        "sweep", help="run a design-space sweep of the job on Dask",
        description="Run the job of 'snn-dfa run' on every point of SWEEP.toml (a [base] "
        "configuration plus an [axes] grid and/or [random] samples) on dask.distributed; "
        "rerunning skips finished points. Writes points/, errors/, table.h5, table.csv and "
        "figures/ to --out and prints a summary table. --dry-run lists the points and "
        "estimates the time without running anything. Needs the extra: "
        "pip install 'snn-dfa[sweep]'. Exit code 1 when some points failed.")
    sw.add_argument("sweep", type=Path, help="TOML sweep file")
    sw.add_argument("--dry-run", action="store_true",
                    help="list the points and estimate the time; run nothing")
    sw.add_argument("--scheduler", default=None,
                    help="address of a running dask scheduler (default: a local cluster)")
    sw.add_argument("--workers", type=int, default=None,
                    help="worker processes of the local cluster (default: the CPU count)")
    sw.add_argument("--out", default="runs/sweep", help="output folder")
    _quiet(sw)
    sw.set_defaults(func=_cmd_sweep)
    ds = sub.add_parser(
        "datasets", help="list data sets, whether they are here, how to get them",
        description="List the data sets snn-dfa knows: whether each is available on this "
        "machine, where it is read from, and how to obtain the missing ones.")
    ds.set_defaults(func=_cmd_datasets)
    return parser


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; project errors: one line, exit 2; a failing file system: one line,
    exit 1; Ctrl-C at any moment: one line, exit 130."""
    try:
        from snn_dfa.app.runtime import tune_allocator

        tune_allocator()
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:  # a bare call: what this is and what it can do
            parser.print_help()
            return 0
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


def run() -> NoReturn:
    """The ``snn-dfa`` console command (and ``python -m snn_dfa``): :func:`main`, then exit.

    When interrupted nothing is left to clean up (staging folders are gone), so the process
    leaves at once: interpreter teardown (half-imported extension modules, their exit hooks)
    would otherwise turn the one line into a death by SIGINT.
    """
    code = main()
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(130)
    raise SystemExit(code)


if __name__ == "__main__":
    run()
