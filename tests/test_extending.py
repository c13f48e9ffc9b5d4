"""docs/extending.md's worked examples run as written (a rule and a projector added from outside
the package)."""

import pathlib
import re

from snn_dfa.rules import registry

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def test_worked_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 3
    before = registry.names()
    namespace: dict = {}
    try:
        exec(compile("\n".join(blocks), str(DOC), "exec"), namespace)
        assert "sign_dfa" in registry.names()
    finally:  # the example's rule must not leak into other tests
        registry._RULES.pop("sign_dfa", None)
        registry._NAMES.pop("sign_dfa", None)
    assert registry.names() == before
