"""The class gradebook (CSV) and the class summary.

The CSV has one row per submission: ``submission``, ``model``, ``score``,
``max_score``, ``verdict``, ``diagnoses`` (codes joined by ``;``) and one
column per parameter holding the points earned for it.  The summary counts,
over the class, the score distribution, how many submissions share each
diagnosis and each parameter's pass rate.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> ok = ParameterResult("W1", "passed", "correct", "", 1.0, 1.0)
>>> bad = ParameterResult("W1", "failed", "sign", "", 0.25, 1.0)
>>> rs = [SubmissionResult("a.py", "m", 0, 1.0, 1.0, ("correct",), (ok,)),
...       SubmissionResult("b.py", "m", 0, 0.25, 1.0, ("sign",), (bad,))]
>>> print(render_csv(rs).strip())
submission,model,score,max_score,verdict,diagnoses,W1
a.py,m,1,1,ok,correct,1
b.py,m,0.25,1,ok,sign,0.25
>>> s = class_summary(rs)
>>> s.pass_rates["W1"], s.diagnosis_counts["sign"]
(0.5, 1)
"""
from __future__ import annotations

import csv
import io
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

from gradcheck.grading import i18n
from gradcheck.grading.verdicts import CODES
from gradcheck.grading.render_markdown import escape_cell, format_points
from gradcheck.grading.results import SubmissionResult

__all__ = ["BINS", "ClassSummary", "gradebook_rows", "render_csv", "write_csv", "class_summary", "render_summary"]

#: Score bins as fractions of the maximum: ``[lo, hi)``, the last one is exactly full marks.
BINS: tuple[tuple[str, float, float], ...] = (
    ("0%", 0.0, 1e-12),
    ("0-25%", 1e-12, 0.25),
    ("25-50%", 0.25, 0.5),
    ("50-75%", 0.5, 0.75),
    ("75-100%", 0.75, 1.0 - 1e-12),
    ("100%", 1.0 - 1e-12, float("inf")),
)


def _check(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    items = list(results)
    for i, r in enumerate(items):
        if not isinstance(r, SubmissionResult):
            raise TypeError(f"results[{i}] must be a SubmissionResult, got {type(r).__name__}")
    return items


def _param_names(results: Sequence[SubmissionResult]) -> list[str]:
    names: list[str] = []
    for r in results:
        for p in r.parameters:
            if p.name not in names:
                names.append(p.name)
    return names


def gradebook_rows(results: Iterable[SubmissionResult]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the gradebook (strings, ready for :mod:`csv`)."""
    items = _check(results)
    names = _param_names(items)
    header = ["submission", "model", "score", "max_score", "verdict", "diagnoses"] + names
    rows = []
    for r in items:
        points = {p.name: format_points(p.points) for p in r.parameters}
        rows.append(
            [r.submission, r.model, format_points(r.score), format_points(r.max_score), r.verdict, ";".join(r.diagnoses)]
            + [points.get(n, "") for n in names]
        )
    return header, rows


def render_csv(results: Iterable[SubmissionResult]) -> str:
    """The gradebook as CSV text."""
    header, rows = gradebook_rows(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; also makes the writer quote a lone "\r"
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def write_csv(results: Iterable[SubmissionResult], path: str | os.PathLike[str]) -> Path:
    """Write the gradebook to ``path`` (UTF-8 with BOM, so spreadsheets read Korean)."""
    path = Path(path)
    path.write_text(render_csv(results), encoding="utf-8-sig", newline="")
    return path


@dataclass(frozen=True)
class ClassSummary:
    """Class statistics.

    Attributes
    ----------
    n : int
        Submissions.
    mean, median, minimum, maximum : float
        Of the scores (0 when ``n == 0``).
    max_score : float
        The largest maximum score seen.
    distribution : tuple of (str, int)
        Submissions per score bin (:data:`BINS`, fractions of each one's maximum).
    diagnosis_counts : dict of str to int
        Submissions with each diagnosis at least once (codes in report order).
    pass_rates : dict of str to float
        Fraction of the submissions with that parameter that passed it.
    title : str
        The assignment's title (the first one the results carry; empty if none).
    isolation : str
        The sandbox isolation levels the results were graded at (comma-separated; empty if none says).
    """

    n: int
    mean: float
    median: float
    minimum: float
    maximum: float
    max_score: float
    distribution: tuple[tuple[str, int], ...]
    diagnosis_counts: dict[str, int]
    pass_rates: dict[str, float]
    title: str = ""
    isolation: str = ""


def class_summary(results: Iterable[SubmissionResult]) -> ClassSummary:
    """Summarise the class (see :class:`ClassSummary`)."""
    items = _check(results)
    scores = [r.score for r in items]
    counts = {label: 0 for label, _, _ in BINS}
    for r in items:
        frac = r.score / r.max_score if r.max_score > 0 else 0.0
        for label, lo, hi in BINS:
            if lo <= frac < hi:
                counts[label] += 1
                break
    seen: dict[str, int] = {}
    for r in items:
        for code in set(r.diagnoses):
            seen[code] = seen.get(code, 0) + 1
    order = {c: i for i, c in enumerate(CODES)}
    diag = dict(sorted(seen.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0])))
    rates: dict[str, float] = {}
    for name in _param_names(items):
        with_param = [p for r in items for p in r.parameters if p.name == name]
        rates[name] = sum(p.passed for p in with_param) / len(with_param)
    return ClassSummary(
        n=len(items),
        mean=statistics.fmean(scores) if scores else 0.0,
        median=float(statistics.median(scores)) if scores else 0.0,
        minimum=min(scores, default=0.0),
        maximum=max(scores, default=0.0),
        max_score=max((r.max_score for r in items), default=0.0),
        distribution=tuple(counts.items()),
        diagnosis_counts=diag,
        pass_rates=rates,
        title=next((r.title for r in items if r.title), ""),
        isolation=", ".join(sorted({r.isolation for r in items if r.isolation})),
    )


def render_summary(summary: ClassSummary, *, fmt: str = "text", lang: str = "en") -> str:
    """The summary as plain text (with bars) or Markdown.

    >>> s = ClassSummary(2, 0.5, 0.5, 0.0, 1.0, 1.0, (("0%", 1), ("100%", 1)), {"sign": 1}, {"W1": 0.5})
    >>> "| W1 | 50% |" in render_summary(s, fmt="markdown")
    True
    """
    if fmt not in ("text", "markdown"):
        raise ValueError(f"fmt must be 'text' or 'markdown', got fmt={fmt!r}")
    t = lambda key: i18n.text(key, lang=lang)  # noqa: E731
    head = [
        (t("ui.submissions"), str(summary.n)),
        (t("ui.mean"), f"{format_points(round(summary.mean, 4))} / {format_points(summary.max_score)}"),
        (t("ui.median"), format_points(summary.median)),
        *([(t("ui.isolation"), summary.isolation)] if summary.isolation else []),
    ]
    sections = [
        (t("ui.distribution"), [(label, str(n), n) for label, n in summary.distribution]),
        (t("ui.diagnosis_counts"), [(code, str(n), n) for code, n in summary.diagnosis_counts.items()]),
        (t("ui.pass_rates"), [(name, f"{rate:.0%}", round(rate * summary.n)) for name, rate in summary.pass_rates.items()]),
    ]
    if fmt == "markdown":
        heading = f"{t('ui.summary_title')}: {summary.title}" if summary.title else t("ui.summary_title")
        lines = [f"# {escape_cell(heading)}", ""] + [f"- **{k}:** {v}" for k, v in head] + [""]
        for title, rows in sections:
            lines += [f"## {title}", "", "| | |", "|---|---|"] + [f"| {escape_cell(a)} | {b} |" for a, b, _ in rows] + [""]
        return "\n".join(lines)
    lines = [f"{t('ui.summary_title')}: {summary.title}" if summary.title else t("ui.summary_title"), ""] + [f"{k}: {v}" for k, v in head] + [""]
    for title, rows in sections:
        lines.append(title)
        width = max((len(a) for a, _, _ in rows), default=0)
        top = max((n for _, _, n in rows), default=0)
        for a, b, n in rows:
            bar = "#" * (round(30 * n / top) if top else 0)
            lines.append(f"  {a.ljust(width)}  {b.rjust(5)}  {bar}")
        lines.append("")
    return "\n".join(lines)
