import os
import sys

try:
    from snn_dfa.app.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python imports the command line: one line too
    print("snn-dfa: interrupted", file=sys.stderr)
    raise SystemExit(130) from None

code = main()
if code == 130:  # interrupted: nothing is left to clean up (staging folders are gone), and
    # leaving at once keeps interpreter teardown (half-imported extension modules, their
    # exit hooks) from turning the one line into a death by SIGINT
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(130)
raise SystemExit(code)
