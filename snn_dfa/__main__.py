import sys

try:
    from snn_dfa.app.cli import run
except KeyboardInterrupt:  # Ctrl-C while Python imports the command line: one line too
    print("snn-dfa: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

run()
