"""Markdown feedback for one student: score, one line per parameter, notes.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> p = ParameterResult("W1", "failed", "sign", "W1 has the wrong sign | really.", 0.25, 1.0)
>>> md = render_markdown(SubmissionResult("a.py", "xor_1layer", 0, 0.25, 1.0, ("sign",), (p,)))
>>> "| W1 | failed | 0.25 / 1 | `sign` | W1 has the wrong sign \\\\| really. |" in md
True
"""
from __future__ import annotations

import json
import re
from typing import Any

from gradcheck.grading import i18n
from gradcheck.grading.results import SubmissionResult

__all__ = ["render_markdown", "format_points", "escape_cell", "whole_file_failure", "code_block"]


#: Characters that end a line for Markdown renderers or :meth:`str.splitlines`.
_LINE_BREAKS = frozenset("\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029")


def format_points(x: float) -> str:
    """Points without trailing zeros (``1``, ``0.25``).

    >>> format_points(2.0), format_points(0.125)
    ('2', '0.125')
    """
    return f"{x:.6g}"


def escape_cell(text: str) -> str:
    """Make ``text`` safe inside one Markdown table cell, heading or list item (pipes, newlines, raw HTML).

    ``<``, ``>`` and ``&`` become entities, which every Markdown renderer shows
    as the characters: a file named ``kim_40004_1_<svg onload=alert(4)>.py``
    is text, never HTML run by a previewer or an LMS page (rt26 L1).

    >>> escape_cell("kim_<svg onload=alert(4)>.py | a & b")
    'kim_&lt;svg onload=alert(4)&gt;.py \\\\| a &amp; b'
    """
    text = str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = text.replace("\\", "\\\\").replace("|", "\\|")
    return "".join(" " if ch in _LINE_BREAKS or (ord(ch) < 32) else ch for ch in text)


def whole_file_failure(result: SubmissionResult, row: Any) -> bool:
    """Whether ``row`` only repeats the run's verdict (the whole file failed, not this parameter)."""
    return result.verdict != "ok" and row.diagnosis == result.verdict


def code_block(text: str) -> list[str]:
    """``text`` as a fenced Markdown code block (a fence longer than any backtick run inside)."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return [fence, *text.splitlines(), fence]


def _note(text: str) -> list[str]:
    """A note: one line as a list item; a first line and a traceback as the item and a code block."""
    head, _, rest = text.partition("\n")
    if not rest.strip():
        return [f"- {escape_cell(head)}"]
    return [f"- {escape_cell(head)}", "", *("  " + ln if ln else "" for ln in code_block(rest)), ""]


def _compact(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 2000 else text[:1997] + "..."


def render_markdown(result: SubmissionResult, *, lang: str | None = None) -> str:
    """The feedback page for one submission.

    Parameters
    ----------
    result : SubmissionResult
    lang : {"en", "ko"}, optional
        Language of the labels (default: the result's; the messages are
        in the language they were graded in).
    """
    if not isinstance(result, SubmissionResult):
        raise TypeError(f"result must be a SubmissionResult, got {type(result).__name__}")
    lang = i18n.check_lang(lang or result.lang)
    t = lambda key: i18n.text(key, lang=lang)  # noqa: E731
    lines = [
        f"# {t('ui.feedback_title')}: {escape_cell(result.submission)}",
        "",
        *([f"**{t('ui.assignment')}:** {escape_cell(result.title)}  "] if result.title else []),
        f"**{t('ui.model')}:** `{result.model}`  ",
        f"**{t('ui.seed')}:** {result.seed}  ",
        *([f"**{t('ui.isolation')}:** {result.isolation}  "] if result.isolation else []),
        f"**{t('ui.score')}:** {format_points(result.score)} / {format_points(result.max_score)}",
        "",
    ]
    rows = list(result.parameters) + ([result.forward] if result.forward is not None else [])
    if rows:
        lines += [
            f"| {t('ui.parameter')} | {t('ui.status')} | {t('ui.points')} | {t('ui.diagnosis')} | {t('ui.message')} |",
            "|---|---|---|---|---|",
        ]
        for p in rows:
            name = t("ui.forward") if p is result.forward else p.name
            status = t(f"ui.{p.status}")
            message = t("ui.see_below") if whole_file_failure(result, p) else p.message
            lines.append(
                f"| {escape_cell(name)} | {status} | {format_points(p.points)} / {format_points(p.max_points)} | `{p.diagnosis}` | {escape_cell(message)} |"
            )
        lines.append("")
    notes = [d.message + f" (-{format_points(d.points)})" for d in result.deductions] + list(result.messages)
    if result.verdict != "ok" and result.messages:
        head, _, rest = result.messages[0].partition("\n")
        lines += [f"## {t('ui.run_failed')}", "", escape_cell(head), ""] + (code_block(rest) + [""] if rest.strip() else [])
        notes = notes[: len(result.deductions)] + notes[len(result.deductions) + 1:]
    if notes:
        lines += [f"## {t('ui.notes')}", ""] + [ln for n in notes for ln in _note(n)] + [""]
    cx = result.counterexample
    if cx is not None:
        lines += [
            f"## {t('ui.counterexample')} (d{cx.param})",
            "",
            "```",
            f"{t('ui.input')}: x = {_compact(cx.x)}",
            f"{t('ui.input')}: y = {_compact(cx.y)}",
            *[f"{t('ui.input')}: {k} = {_compact(v)}" for k, v in cx.params.items()],
            f"{t('ui.expected')}: d{cx.param} = {_compact(cx.expected)}",
            f"{t('ui.got')}: d{cx.param} = {_compact(cx.got)}",
            "```",
            "",
        ]
    return "\n".join(lines)
