"""Every Python snippet in README.md runs as written (and its tests pass).

A snippet is a fenced ``python`` block.  Each runs in a fresh namespace;
the functions it defines whose names start with ``test_`` are then called,
with the plugin's ``assert_gradients`` fixture where they ask for it, so a
snippet's own assertions and hypothesis tests are exercised too.
"""
from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from gradcheck.pytest_plugin import GradientAsserter

README = Path(__file__).resolve().parents[2] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


def test_the_readme_has_snippets():
    assert len(SNIPPETS) >= 5


@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs_as_written(index: int) -> None:
    namespace: dict = {"__name__": f"readme_snippet_{index}"}
    exec(compile(SNIPPETS[index], f"README.md snippet {index}", "exec"), namespace)  # noqa: S102 - the README is ours
    fixtures = {"assert_gradients": GradientAsserter({"mode": "full", "seed": 0})}
    for name, fn in list(namespace.items()):
        if name.startswith("test_") and callable(fn):
            wanted = [p for p in inspect.signature(fn).parameters if p in fixtures]
            fn(**{p: fixtures[p] for p in wanted})
