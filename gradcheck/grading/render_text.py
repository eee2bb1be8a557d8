"""The terminal report, with :mod:`rich`: one table per submission.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> p = ParameterResult("W1", "passed", "correct", "W1 is correct.", 1.0, 1.0)
>>> text = render_text([SubmissionResult("a.py", "xor_1layer", 0, 1.0, 1.0, ("correct",), (p,))])
>>> "a.py" in text and "W1 is correct." in text and "1 / 1" in text
True
"""
from __future__ import annotations

import io
import json
from typing import Any, Iterable

from gradcheck._validate import check_int
from gradcheck.grading import i18n
from gradcheck.grading.render_markdown import format_points, whole_file_failure
from gradcheck.grading.results import SubmissionResult

__all__ = ["render_text", "print_report"]

_STYLE = {"passed": "green", "failed": "red"}


def _short(value: object, limit: int = 300) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _table(result: SubmissionResult, lang: str) -> Any:  # a rich.table.Table (rich is imported lazily)
    from rich.table import Table
    from rich.text import Text

    t = lambda key: i18n.text(key, lang=lang)  # noqa: E731
    head = f"{result.title}: " if result.title else ""
    iso = f", {t('ui.isolation')} {result.isolation}" if result.isolation else ""
    title = f"{head}{result.submission}  [{result.model}, {t('ui.seed')} {result.seed}{iso}]  {t('ui.score')}: {format_points(result.score)} / {format_points(result.max_score)}"
    table = Table(title=Text(title), title_justify="left", show_lines=False, expand=False)
    for key in ("ui.parameter", "ui.status", "ui.points", "ui.diagnosis", "ui.message"):
        table.add_column(t(key), overflow="fold")
    rows = list(result.parameters) + ([result.forward] if result.forward is not None else [])
    for p in rows:
        name = t("ui.forward") if p is result.forward else p.name
        table.add_row(
            Text(name),
            Text(t(f"ui.{p.status}"), style=_STYLE[p.status]),
            Text(f"{format_points(p.points)} / {format_points(p.max_points)}"),
            Text(p.diagnosis),
            Text(t("ui.see_below") if whole_file_failure(result, p) else p.message),
        )
    for d in result.deductions:
        table.add_row(Text(d.param), Text(t("ui.deduction"), style="yellow"), Text(f"-{format_points(d.points)}"), Text(d.code), Text(d.message))
    return table


def print_report(results: Iterable[SubmissionResult], *, console: Any = None, lang: str | None = None) -> None:  # console: a rich.Console
    """Print the report for ``results`` on ``console`` (default: a new stdout console)."""
    from rich.console import Console
    from rich.text import Text

    console = console or Console()
    for i, r in enumerate(results):
        if not isinstance(r, SubmissionResult):
            raise TypeError(f"results[{i}] must be a SubmissionResult, got {type(r).__name__}")
        lg = i18n.check_lang(lang or r.lang)
        console.print(_table(r, lg))
        for m in r.messages:
            console.print(Text("  " + m))
        cx = r.counterexample
        if cx is not None:
            t = lambda key: i18n.text(key, lang=lg)  # noqa: E731
            console.print(Text(f"  {t('ui.counterexample')} (d{cx.param}):", style="bold"))
            for label, value in ((f"{t('ui.input')} x", cx.x), (f"{t('ui.input')} y", cx.y), (t("ui.expected"), cx.expected), (t("ui.got"), cx.got)):
                console.print(Text(f"    {label}: {_short(value)}"))
        console.print()


def render_text(results: Iterable[SubmissionResult], *, lang: str | None = None, width: int = 120, color: bool = False) -> str:
    """The report as a string (plain unless ``color``).

    Parameters
    ----------
    results : iterable of SubmissionResult
    lang : {"en", "ko"}, optional
    width : int
        Columns of the virtual terminal.
    color : bool
        Keep ANSI colour codes.
    """
    from rich.console import Console

    check_int(width, "width", min_value=40)
    buf = io.StringIO()
    console = Console(file=buf, width=width, force_terminal=color, color_system="standard" if color else None, highlight=False)
    print_report(results, console=console, lang=lang)
    return buf.getvalue()
