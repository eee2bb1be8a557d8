"""Layers import downwards only: the core never imports the grader.

The core is ``gradcheck/`` outside ``grading/`` and ``tools/``, plus
``reference_models/``; the command line (``cli.py``, ``__main__.py``) and
the pytest plugin are glue on top of both layers and may import either.
The imports are read from the source with :mod:`ast` (every ``import``
statement, also those inside functions), so an import that only runs on
some path is caught too.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GLUE = {"cli.py", "__main__.py", "pytest_plugin.py"}
UPPER = ("gradcheck.grading", "gradcheck.tools")


def core_modules() -> list[Path]:
    core = [p for p in (ROOT / "gradcheck").glob("*.py") if p.name not in GLUE]
    return sorted(core + list((ROOT / "reference_models").rglob("*.py")))


def imported_names(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line (``from gradcheck import grading`` counts)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = ".".join(path.relative_to(root).with_suffix("").parts[:-1])
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            out += [(node.lineno, f"{base}.{alias.name}") for alias in node.names] + [(node.lineno, base)]
    return out


def upward_imports(path: Path, root: Path = ROOT) -> list[str]:
    return [f"{path.relative_to(root)}:{line} imports {name}" for line, name in imported_names(path, root)
            if any(name == up or name.startswith(up + ".") for up in UPPER)]


def test_the_core_is_what_we_think():
    names = {p.relative_to(ROOT).as_posix() for p in core_modules()}
    assert {"gradcheck/diagnose.py", "gradcheck/mistakes.py", "gradcheck/engine.py", "reference_models/__init__.py"} <= names
    assert not any(n.startswith("gradcheck/grading/") for n in names)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_core_module_never_imports_the_grader(path: Path) -> None:
    assert upward_imports(path) == []


@pytest.mark.parametrize("source", [
    "from gradcheck.grading import i18n\n",
    "import gradcheck.grading.sandbox\n",
    "from gradcheck import grading\n",
    "def f():\n    from .grading.pipeline import grade_submission\n",
    "from .tools import benchplot\n",
])
def test_a_planted_upward_import_is_caught(tmp_path: Path, source: str) -> None:
    (tmp_path / "gradcheck").mkdir()
    planted = tmp_path / "gradcheck" / "planted.py"
    planted.write_text(source, encoding="utf-8")
    assert upward_imports(planted, tmp_path), source
    planted.write_text("from gradcheck import messages\nfrom .engine import estimate_gradients\n", encoding="utf-8")
    assert upward_imports(planted, tmp_path) == []
