"""The class gradebook (CSV) and the class summary.

The CSV has one row per submission: ``student_id`` (empty when none was
found), ``submission`` (its identity), ``model``, ``score``,
``max_score``, ``verdict``, ``diagnoses`` (codes joined by ``;``), one
column per parameter holding the points earned for it, and ``overrides``
(manual decisions applied, ``W2: 0 -> 1 (reason)``; empty when none).  A cell
a spreadsheet would run as a formula is written as text (:func:`csv_cell`).  The summary counts,
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
student_id,submission,model,score,max_score,verdict,diagnoses,W1,overrides
,a.py,m,1,1,ok,correct,1,
,b.py,m,0.25,1,ok,sign,0.25,
>>> s = class_summary(rs)
>>> s.pass_rates["W1"], s.diagnosis_counts["sign"]
(0.5, 1)
"""
from __future__ import annotations

import csv
import io
import os
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Sequence

from gradcheck.grading import i18n
from gradcheck.grading.atomic import write_atomic
from gradcheck.grading.cache import versions_line
from gradcheck.grading.render_markdown import escape_cell, format_points
from gradcheck.grading.results import SubmissionResult
from gradcheck.grading.verdicts import CODES

__all__ = ["BINS", "REVIEW_VERDICTS", "REVIEW_LABELS", "FORMULA_STARTS", "csv_cell", "csv_text", "identical_files", "identical_groups", "handed_out", "file_label", "needs_review", "ClassSummary", "gradebook_rows", "render_csv", "write_csv", "check_results", "class_summary", "data_line", "render_summary"]

#: Score bins as fractions of the maximum: ``[lo, hi)``, the last one is exactly full marks.
BINS: tuple[tuple[str, float, float], ...] = (
    ("0%", 0.0, 1e-12),
    ("0-25%", 1e-12, 0.25),
    ("25-50%", 0.25, 0.5),
    ("50-75%", 0.5, 0.75),
    ("75-100%", 0.75, 1.0 - 1e-12),
    ("100%", 1.0 - 1e-12, float("inf")),
)


#: First characters that make a spreadsheet read a cell as a formula (OWASP, "CSV Injection").
FORMULA_STARTS: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r")


_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def _is_number(text: str) -> bool:
    """A plain decimal number (``-0.5``, ``1e-3``), which a spreadsheet reads as a number, never a formula."""
    return _NUMBER.fullmatch(text) is not None


def csv_cell(value: str) -> str:
    """``value`` as a spreadsheet shows it as text: a leading ``'`` when it would start a formula.

    File and folder names come from students, so a submission named
    ``=HYPERLINK(...)`` must not become a live formula when the instructor
    opens the CSV.  A number (``-0.5``) is left as it is.

    >>> csv_cell("=1+2"), csv_cell("@SUM(A1)"), csv_cell("-0.5"), csv_cell("-inf"), csv_cell("kim")
    ("'=1+2", "'@SUM(A1)", '-0.5', "'-inf", 'kim')
    """
    if value.startswith(FORMULA_STARTS) and not _is_number(value):
        return "'" + value
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """RFC 4180 CSV text (CRLF) of ``header`` and ``rows``, every cell through :func:`csv_cell`.

    Every CSV gradcheck writes (the gradebook, the LMS import files) is made here.
    """
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")  # RFC 4180; also makes the writer quote a lone "\r"
    w.writerow([csv_cell(c) for c in header])
    w.writerows([csv_cell(c) for c in row] for row in rows)
    return buf.getvalue()


def check_results(results: Iterable[SubmissionResult]) -> list[SubmissionResult]:
    """``results`` as a list, each checked to be a :class:`SubmissionResult` (a named ``TypeError`` otherwise)."""
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
    items = check_results(results)
    names = _param_names(items)
    header = ["student_id", "submission", "model", "score", "max_score", "verdict", "diagnoses"] + names + ["overrides"]
    rows = []
    for r in items:
        points = {p.name: format_points(p.points) for p in r.parameters}
        rows.append(
            [r.student_id, r.submission, r.model, format_points(r.score), format_points(r.max_score), r.verdict, ";".join(r.diagnoses)]
            + [points.get(n, "") for n in names]
            + ["; ".join(f"{o.parameter}: {format_points(o.original)} -> {format_points(o.score)} ({o.reason})" for o in r.overrides)]
        )
    return header, rows


def render_csv(results: Iterable[SubmissionResult]) -> str:
    """The gradebook as CSV text."""
    header, rows = gradebook_rows(results)
    return csv_text(header, rows)


def write_csv(results: Iterable[SubmissionResult], path: str | os.PathLike[str]) -> Path:
    """Write the gradebook to ``path`` (UTF-8 with BOM, so spreadsheets read Korean).

    Atomically (a temporary file, then a rename): a failure leaves the old
    gradebook, or none, never an empty or partial one (rt26 F12).
    """
    return write_atomic(path, render_csv(results), encoding="utf-8-sig", newline="")


#: Run verdicts that deserve a human look: the cause may be the sandbox, the
#: machine or an unusual but legitimate submission, not a wrong gradient.
REVIEW_VERDICTS: tuple[str, ...] = ("error", "crash", "timeout", "memory", "output", "forbidden", "missing", "too_large")

for _key, _messages in {
    "ui.full_marks": {"en": "Full marks", "ko": "만점"},
    "ui.ran": {"en": "Ran (no runtime failure)", "ko": "실행됨 (실행 오류 없음)"},
    "ui.verdict_counts": {"en": "Submissions per run verdict", "ko": "실행 결과별 제출물 수"},
    "ui.diagnosis_counts_note": {"en": "Submissions with each diagnosis on at least one parameter (a submission counts once per diagnosis)",
                                 "ko": "매개변수 하나 이상에서 각 진단을 받은 제출물 수 (제출물 하나는 진단마다 한 번만 셉니다)"},
    "ui.pass_rates_note": {"en": "Pass rate per parameter (submissions whose gradient of it is correct)",
                           "ko": "매개변수별 통과율 (그 기울기가 정확한 제출물의 비율)"},
    "ui.identical_groups": {"en": "Identical files (same code once comments and layout are ignored; a helper module in brackets)",
                            "ko": "똑같은 파일 (주석과 서식을 빼면 같은 코드, 괄호 안은 보조 모듈)"},
    "ui.isolation": {"en": "Isolation level", "ko": "격리 수준"},
    "ui.review_identical": {"en": "identical to another submission", "ko": "다른 제출물과 똑같음"},
    "ui.review_older_attempt": {"en": "an older attempt graded: the later ones hold no .py or .ipynb file (does a later one count?)",
                                "ko": "이전 시도를 채점함: 이후 시도에는 코드 파일이 없음 (이후 시도를 인정해야 하나요?)"},
    "ui.review_file_by_class": {"en": "graded the file named as most of the class's: another of the student's files defines what the "
                                      "assignment calls too (is that one the answer?)",
                                "ko": "반 학생 대부분과 같은 이름의 파일을 채점함: 학생의 다른 파일도 과제가 호출하는 것을 정의함 (그 파일이 답인가요?)"},
    "ui.review_id_guessed": {"en": "student id guessed from the Blackboard file name (no receipt .txt): check it before an import",
                             "ko": "블랙보드 파일 이름에서 추측한 학생 번호 (영수증 파일 없음): 성적을 올리기 전에 확인하세요"},
}.items():
    i18n.register_template(_key, _messages)


#: The words of each review reason that is no verdict code (:func:`needs_review`), as ``ui.`` templates.
REVIEW_LABELS: dict[str, str] = {"identical": "ui.review_identical", "older_attempt": "ui.review_older_attempt",
                                 "id_guessed": "ui.review_id_guessed", "file_by_class": "ui.review_file_by_class"}


#: A helper module the same in more than this share of the class (and in at least
#: :data:`HANDED_OUT_MIN` submissions) is taken for a file the course handed out: named
#: once in the summary, nobody flagged for review (a copy between two students is not a
#: majority of the class).
HANDED_OUT_SHARE = 0.5
HANDED_OUT_MIN = 3

_Files = list[tuple[SubmissionResult, str]]


def identical_files(results: Sequence[SubmissionResult]) -> list[_Files]:
    """Groups of one file (the same normalised source) loaded by two or more submissions, in input order.

    Every file a submission loads counts: the graded one (``source_hash``, or
    the file's SHA-256 for a result from an older cache), named ``""``, and
    each helper module (``helper_hashes``), named by its file name; so
    ``kim/helper.py`` copied to ``lee/utils.py`` is found.

    >>> rs = [SubmissionResult("a", "m", 0, 1.0, 1.0, source_hash="x", helper_hashes=(("u.py", "h"),)),
    ...       SubmissionResult("b", "m", 0, 1.0, 1.0, source_hash="y", helper_hashes=(("v.py", "h"),))]
    >>> [[(r.submission, name) for r, name in g] for g in identical_files(rs)]
    [[('a', 'u.py'), ('b', 'v.py')]]
    """
    groups: dict[str, _Files] = {}
    for r in results:
        own = r.source_hash or r.file_hash
        for name, key in ((("", own),) if own else ()) + r.helper_hashes:
            groups.setdefault(key, []).append((r, name))
    return [g for g in groups.values() if len({id(r) for r, _ in g}) > 1]


def handed_out(group: _Files, n: int) -> bool:
    """Whether a group of :func:`identical_files` is a helper module the course handed out (:data:`HANDED_OUT_SHARE`)."""
    holders = len({id(r) for r, _ in group})
    return all(name for _, name in group) and holders >= HANDED_OUT_MIN and holders > HANDED_OUT_SHARE * n


def file_label(result: SubmissionResult, name: str) -> str:
    """A file of :func:`identical_files` for the instructor: the submission, and the helper module's name in brackets."""
    return f"{result.submission} ({name})" if name else result.submission


def identical_groups(results: Sequence[SubmissionResult]) -> list[list[SubmissionResult]]:
    """The submissions of each group of :func:`identical_files` a person should look at (not a handed-out file), in input order.

    >>> rs = [SubmissionResult(n, "m", 0, 1.0, 1.0, source_hash=h) for n, h in (("a", "x"), ("b", "y"), ("c", "x"))]
    >>> [[r.submission for r in g] for g in identical_groups(rs)]
    [['a', 'c']]
    """
    out = []
    for g in identical_files(results):
        if not handed_out(g, len(results)):
            out.append(list({id(r): r for r, _ in g}.values()))
    return out


def needs_review(results: Sequence[SubmissionResult]) -> list[tuple[SubmissionResult, str]]:
    """``(result, reason)`` for every submission a person should look at, in input order.

    The reason is the run verdict (:data:`REVIEW_VERDICTS`) or ``"identical"``
    when another submission has the same normalised source; then one row for
    each of the result's own :attr:`~SubmissionResult.review` codes (an older
    Blackboard attempt graded, a guessed student id: :data:`REVIEW_LABELS`).

    >>> rs = [SubmissionResult("a.py", "m", 0, 0.0, 1.0, verdict="timeout", review=("id_guessed",)),
    ...       SubmissionResult("b.py", "m", 0, 1.0, 1.0, file_hash="f"),
    ...       SubmissionResult("c.py", "m", 0, 1.0, 1.0, file_hash="f")]
    >>> [(r.submission, why) for r, why in needs_review(rs)]
    [('a.py', 'timeout'), ('a.py', 'id_guessed'), ('b.py', 'identical'), ('c.py', 'identical')]
    """
    same = {id(r) for group in identical_groups(results) for r in group}
    out = []
    for r in results:
        if r.verdict in REVIEW_VERDICTS:
            out.append((r, r.verdict))
        elif id(r) in same:
            out.append((r, "identical"))
        out += [(r, code) for code in r.review]
    return out


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
        Submissions with each diagnosis on at least one parameter (codes in
        report order); a submission counts once per diagnosis, so these do
        not add up to ``n``.
    pass_rates : dict of str to float
        Fraction of the submissions with that parameter that passed it.
    title : str
        The assignment's title (the first one the results carry; empty if none).
    full_marks : int
        Submissions with the maximum score.
    verdict_counts : dict of str to int
        Submissions per run verdict (``ok``: it ran; these add up to ``n``).
    seeds : tuple of int
        The seeds of the test points (one, unless results of several runs are mixed).
    isolation : str
        The sandbox's isolation level (empty when not known).
    versions : str
        gradcheck (and its code's hash), Python and numpy versions of the grader.
    data : str
        The notebook data the submissions were called at
        (:func:`~gradcheck.grading.pipeline.notebook_data_identity`: a hash, or
        ``none`` when this machine has none, e.g. no MNIST); empty when not known.
    review : tuple of (str, str)
        ``(submission, reason)`` for every submission that needs a human look.
    identical : tuple of tuple of str
        Groups of files with the same normalised source (:func:`identical_files`,
        each named by :func:`file_label`); a handed-out helper module is one sentence.
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
    full_marks: int = 0
    verdict_counts: dict[str, int] = field(default_factory=dict)
    seeds: tuple[int, ...] = ()
    isolation: str = ""
    versions: str = ""
    data: str = ""
    review: tuple[tuple[str, str], ...] = ()
    identical: tuple[tuple[str, ...], ...] = ()


def data_line(data: str, t: Callable[[str], str]) -> str:
    """``data`` (:attr:`ClassSummary.data`) as the summaries show it: the hash's first 12 digits, or what ``none`` means.

    >>> data_line("sha256:" + "ab" * 32, str), data_line("none", lambda key: key)
    ('sha256:abababababab', 'ui.data_none')
    """
    return t("ui.data_none") if data == "none" else data[:19]


def class_summary(results: Iterable[SubmissionResult], *, isolation: str = "", data: str = "") -> ClassSummary:
    """Summarise the class (see :class:`ClassSummary`).

    >>> rs = [SubmissionResult("a.py", "m", 3, 2.0, 2.0, source_hash="h"), SubmissionResult("b.py", "m", 3, 0.0, 2.0, verdict="crash")]
    >>> s = class_summary(rs, isolation="process")
    >>> s.full_marks, s.verdict_counts, s.seeds, s.review
    (1, {'crash': 1, 'ok': 1}, (3,), (('b.py', 'crash'),))
    """
    items = check_results(results)
    scores = [r.score for r in items]
    counts = {label: 0 for label, _, _ in BINS}
    for r in items:
        frac = r.score / r.max_score if r.max_score > 0 else 0.0
        for label, lo, hi in BINS:
            if lo <= frac < hi:
                counts[label] += 1
                break
    seen: dict[str, int] = {}
    verdicts: dict[str, int] = {}
    for r in items:
        for code in set(r.diagnoses):
            seen[code] = seen.get(code, 0) + 1
        verdicts[r.verdict] = verdicts.get(r.verdict, 0) + 1
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
        full_marks=sum(r.passed for r in items),
        verdict_counts=dict(sorted(verdicts.items())),
        seeds=tuple(sorted({r.seed for r in items})),
        isolation=isolation or ", ".join(sorted({r.isolation for r in items if r.isolation})),
        versions=versions_line(),
        data=data,
        review=tuple((r.submission, why) for r, why in needs_review(items)),
        identical=_identical_rows(items),
    )


def _identical_rows(items: Sequence[SubmissionResult]) -> tuple[tuple[str, ...], ...]:
    """The summary's identical files: each group's files (:func:`file_label`), a handed-out file as one sentence."""
    rows: list[tuple[str, ...]] = []
    for g in identical_files(items):
        if handed_out(g, len(items)):
            names = ", ".join(sorted({name for _, name in g}))
            holders = len({id(r) for r, _ in g})
            rows.append((f"{names} in {holders} of {len(items)} submissions: the same file, handed out? (not flagged for review)",))
        else:
            rows.append(tuple(file_label(r, name) for r, name in g))
    return tuple(rows)


def _summary_head(summary: ClassSummary, t: Callable[[str], str]) -> list[tuple[str, str]]:
    head = [
        (t("ui.submissions"), str(summary.n)),
        (t("ui.full_marks"), str(summary.full_marks)),
        (t("ui.ran"), str(summary.verdict_counts.get("ok", 0))),
        (t("ui.mean"), f"{format_points(round(summary.mean, 4))} / {format_points(summary.max_score)}"),
        (t("ui.median"), format_points(summary.median)),
        (t("ui.seed"), ", ".join(map(str, summary.seeds)) or "-"),
    ]
    if summary.isolation:
        head.append((t("ui.isolation"), summary.isolation))
    if summary.versions:
        head.append((t("ui.versions"), summary.versions))
    if summary.data:
        head.append((t("ui.data"), data_line(summary.data, t)))
    return head


def _summary_sections(summary: ClassSummary, t: Callable[[str], str]) -> list[tuple[str, list[tuple[str, str, int]]]]:
    review_label = {why: t(key) for why, key in REVIEW_LABELS.items()}
    sections = [
        (t("ui.distribution"), [(label, str(n), n) for label, n in summary.distribution]),
        (t("ui.verdict_counts"), [(v, str(n), n) for v, n in summary.verdict_counts.items()]),
        (t("ui.diagnosis_counts_note"), [(code, str(n), n) for code, n in summary.diagnosis_counts.items()]),
        (t("ui.pass_rates_note"), [(name, f"{rate:.0%}", round(rate * summary.n)) for name, rate in summary.pass_rates.items()]),
        (t("ui.needs_review"), [(name, review_label.get(why, why), 0) for name, why in summary.review]),
        (t("ui.identical_groups"), [(", ".join(g), str(len(g)), 0) for g in summary.identical]),
    ]
    return [(title, rows) for title, rows in sections if rows or title == t("ui.needs_review")]


def render_summary(summary: ClassSummary, *, fmt: str = "text", lang: str = "en") -> str:
    """The summary as plain text (with bars) or Markdown: what each number counts is said next to it.

    >>> s = ClassSummary(2, 0.5, 0.5, 0.0, 1.0, 1.0, (("0%", 1), ("100%", 1)), {"sign": 1}, {"W1": 0.5})
    >>> "| W1 | 50% |" in render_summary(s, fmt="markdown")
    True
    """
    if fmt not in ("text", "markdown"):
        raise ValueError(f"fmt must be 'text' or 'markdown', got fmt={fmt!r}")
    t = lambda key: i18n.text(key, lang=lang)  # noqa: E731
    head = _summary_head(summary, t)
    sections = _summary_sections(summary, t)
    heading = f"{t('ui.summary_title')}: {summary.title}" if summary.title else t("ui.summary_title")
    if fmt == "markdown":
        lines = [f"# {escape_cell(heading)}", ""] + [f"- **{k}:** {escape_cell(v)}" for k, v in head] + [""]
        for title, rows in sections:
            lines += [f"## {title}", ""]
            if not rows:
                lines += [t("ui.nothing_to_review"), ""]
                continue
            lines += ["| | |", "|---|---|"] + [f"| {escape_cell(a)} | {escape_cell(b)} |" for a, b, _ in rows] + [""]
        return "\n".join(lines)
    lines = [heading, ""] + [f"{k}: {v}" for k, v in head] + [""]
    for title, rows in sections:
        lines.append(title)
        if not rows:
            lines += ["  " + t("ui.nothing_to_review"), ""]
            continue
        width = max((len(a) for a, _, _ in rows), default=0)
        top = max((n for _, _, n in rows), default=0)
        for a, b, n in rows:
            bar = "#" * (round(30 * n / top) if top else 0)
            lines.append(f"  {a.ljust(width)}  {b.rjust(5)}  {bar}".rstrip())
        lines.append("")
    return "\n".join(lines)
