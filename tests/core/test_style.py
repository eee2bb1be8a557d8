"""House rules the linters do not check: a function over 60 lines says why it is long."""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAX_LINES = 60


def long_functions_without_a_reason(source: str) -> list[str]:
    """Functions whose body (docstring excluded) exceeds MAX_LINES with no ``# Long:`` comment above or inside."""
    lines = source.split("\n")
    out = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        first = node.body[0]
        has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)
        start = first.end_lineno + 1 if has_doc and first.end_lineno is not None else first.lineno
        end = node.end_lineno or node.lineno
        if end - start + 1 <= MAX_LINES:
            continue
        top = min([d.lineno for d in node.decorator_list] + [node.lineno])
        text = "\n".join(lines[max(0, top - 4):end])
        if "# Long:" not in text:
            out.append(f"{node.name} (line {node.lineno}, {end - start + 1} lines)")
    return out


def test_every_long_function_says_why() -> None:
    files = sorted((ROOT / "gradcheck").rglob("*.py")) + sorted((ROOT / "reference_models").rglob("*.py"))
    found = {str(p.relative_to(ROOT)): long_functions_without_a_reason(p.read_text(encoding="utf-8")) for p in files}
    assert {k: v for k, v in found.items() if v} == {}


def test_a_planted_long_function_is_caught() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_LINES + 1))
    assert long_functions_without_a_reason(f"def f():\n    '''doc'''\n{body}\n") == [f"f (line 1, {MAX_LINES + 1} lines)"]
    assert long_functions_without_a_reason(f"# Long: a table.\ndef f():\n{body}\n") == []
    assert long_functions_without_a_reason(f"def f():\n{body[:-12]}\n") == []
