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

from crossbar import CrossbarError
from hwsim import HwsimError
from snn_dfa.errors import SnnDfaError

_OUR_ERRORS = (SnnDfaError, CrossbarError, HwsimError)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse's code too)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _cmd_demo(args: argparse.Namespace) -> int:
    from snn_dfa.experiment import PretrainConfig, run_pretrain

    config = PretrainConfig(seed=args.seed, epochs=args.epochs,
                            max_train_windows=args.max_train_windows)
    result = run_pretrain(config, args.out, progress=sys.stderr.isatty())
    print(f"UCI HAPT, SFCN spiking network, BPTT {config.epochs} epoch(s), seed {config.seed}")
    print(f"  train windows {result.n_train}, test windows {result.n_test}, "
          f"training {result.train_seconds:.1f} s")
    print(f"  test accuracy {100 * result.test_accuracy:.2f} %")
    for name, acc in result.per_class_accuracy.items():
        print(f"    {name:<20}{100 * acc:6.1f} %")
    print(f"report: {Path(result.out_dir) / 'report.md'}")
    return 0


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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="snn-dfa", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    demo = sub.add_parser("demo", help="the embedded default job on real data (UCI HAPT)",
                          description="Pre-train the SFCN spiking network with BPTT on UCI HAPT "
                          "training subjects, evaluate on the test subjects, write results.h5, "
                          "report.md and figures to --out.")
    demo.add_argument("--seed", type=int, default=0, help="one seed drives everything")
    demo.add_argument("--out", type=Path, default=Path("runs/demo"), help="output folder")
    demo.add_argument("--epochs", type=int, default=2, help="BPTT training epochs")
    demo.add_argument("--max-train-windows", type=int, default=None,
                      help="subsample the training windows (quick runs)")
    demo.set_defaults(func=_cmd_demo)
    ds = sub.add_parser("datasets", help="list data sets, whether they are here, how to get them")
    ds.set_defaults(func=_cmd_datasets)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except _OUR_ERRORS as exc:
        print(f"snn-dfa: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("snn-dfa: interrupted; no partial results were kept", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
