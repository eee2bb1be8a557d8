"""The class report: one self-contained HTML file (``gradcheck grade --report report.html``).

Sections: the assignment's title, seed, model, isolation level (as the summary names it: whether the grades are tamper-proof) and versions; the score
histogram; the submissions per diagnosis; the pass rate per parameter; the
submissions that need a human look (a run that failed for a reason that
may not be the student's: ``error``, ``crash``, ``timeout``, ``memory``,
``output``, ``forbidden``, ``too_large``; and identical files); then each student's
feedback.  With matplotlib (``pip install "gradcheck[plot]"``) the three
distributions are also drawn, as inline SVG; without it the report has the
same tables and says how to get the plots.  Nothing is loaded from the
network: no scripts, no style sheets, no fonts, no images by address.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> ok = ParameterResult("W1", "passed", "correct", "W1 is correct.", 1.0, 1.0)
>>> page = render_report([SubmissionResult("a.py", "xor_1layer", 0, 1.0, 1.0, ("correct",), (ok,), title="HW 1")], plots=False)
>>> page.startswith("<!DOCTYPE html>") and "<title>HW 1" in page and "W1 is correct." in page
True
"""
from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from gradcheck.grading import i18n
from gradcheck.grading.atomic import write_atomic
from gradcheck.grading.cache import versions_line
from gradcheck.grading.gradebook import (
    REVIEW_LABELS,
    REVIEW_VERDICTS,
    ClassSummary,
    check_results,
    class_summary,
    data_line,
    file_label,
    handed_out,
    identical_files,
    identical_groups,
    needs_review,
)
from gradcheck.grading.render_markdown import format_points, whole_file_failure
from gradcheck.grading.results import SubmissionResult

__all__ = ["REVIEW_VERDICTS", "identical_groups", "needs_review", "render_report", "write_report"]

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans KR","Malgun Gothic",sans-serif;margin:2em auto;max-width:72em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}td.num{text-align:right}.passed{color:#17692f}.failed{color:#a11}
pre{background:#f6f6f6;padding:.6em;overflow-x:auto;white-space:pre-wrap}.note{background:#fff7d6;padding:.5em;border-left:4px solid #e0b000}
.bar{display:inline-block;height:.8em;background:#4a7bd0}figure{margin:0 0 1em}details{margin:.3em 0 1em}
"""


# -- plots -------------------------------------------------------------------------------


def _svg(draw: Any) -> str:
    """Run ``draw(ax)`` on a new figure and return the figure as inline SVG (no XML header)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with matplotlib.rc_context({"svg.hashsalt": "gradcheck", "svg.fonttype": "path"}):
        fig, ax = plt.subplots(figsize=(6.4, 2.8))
        try:
            draw(ax)
            fig.tight_layout()
            buf = io.StringIO()
            fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None})
        finally:
            plt.close(fig)
    text = buf.getvalue()
    # the RDF block only names the (empty) metadata vocabularies; drop it with the XML header
    return re.sub(r"<metadata>.*?</metadata>\s*", "", text[text.index("<svg"):], flags=re.DOTALL)


def _bar_plot(labels: Sequence[str], values: Sequence[float], *, ylabel: str, percent: bool = False) -> str:
    def draw(ax: Any) -> None:
        xs = list(range(len(labels)))
        ax.bar(xs, values, color="#4a7bd0")
        ax.set_xticks(xs)
        ax.set_xticklabels(labels, rotation=30 if len(labels) > 6 else 0, ha="right" if len(labels) > 6 else "center")
        ax.set_ylabel(ylabel)
        if percent:
            ax.set_ylim(0, 100)
        ax.spines[["top", "right"]].set_visible(False)

    return _svg(draw)


def _plots_available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# -- HTML --------------------------------------------------------------------------------


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], *, numeric: Sequence[int] = ()) -> str:
    """A table; cells are HTML already (escape before)."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _bar(n: float, top: float) -> str:
    width = 0 if top <= 0 else round(12 * n / top, 2)
    return f'<span class="bar" style="width:{width}em"></span>'


def _anchor(i: int) -> str:
    return f"s{i + 1}"


def _header(items: Sequence[SubmissionResult], summary: ClassSummary, t: Any) -> list[str]:
    title = summary.title or t("ui.report_title")
    seeds = sorted({r.seed for r in items})
    models = sorted({r.model for r in items})
    facts = [
        (t("ui.assignment"), _e(summary.title or "-")),
        (t("ui.model"), ", ".join(f"<code>{_e(m)}</code>" for m in models) or "-"),
        (t("ui.seed"), _e(", ".join(map(str, seeds)) or "-")),
        (t("ui.submissions"), str(summary.n)),
        (t("ui.mean"), f"{_e(format_points(round(summary.mean, 4)))} / {_e(format_points(summary.max_score))}"),
        (t("ui.median"), _e(format_points(summary.median))),
        *([(t("ui.isolation"), _e(summary.isolation))] if summary.isolation else []),  # as the summary says it
        (t("ui.versions"), _e(versions_line())),
        *([(t("ui.data"), _e(data_line(summary.data, t)))] if summary.data else []),
    ]
    return [f"<h1>{_e(title)}</h1>", _table([t("ui.fact"), ""], [[_e(k), v] for k, v in facts])]


def _distributions(summary: ClassSummary, t: Any, plots: bool) -> list[str]:
    out: list[str] = []
    if not plots:
        out.append(f'<p class="note">{_e(t("ui.no_plots"))}</p>')
    sections: list[tuple[str, str, list[tuple[str, float]], str, bool]] = [
        ("distribution", t("ui.distribution"), [(label, n) for label, n in summary.distribution], "n", False),
        ("diagnoses", t("ui.diagnosis_counts"), list(summary.diagnosis_counts.items()), "n", False),
        ("pass-rates", t("ui.pass_rates"), [(k, 100 * v) for k, v in summary.pass_rates.items()], "%", True),
    ]
    for ident, heading, rows, unit, percent in sections:
        out.append(f'<h2 id="{ident}">{_e(heading)}</h2>')
        if plots and rows:
            svg = _bar_plot([str(a) for a, _ in rows], [float(b) for _, b in rows], ylabel=unit, percent=percent)
            out.append(f'<figure class="plot">{svg}</figure>')
        top = max((b for _, b in rows), default=0)
        cells = [[f"<code>{_e(a)}</code>" if ident == "diagnoses" else _e(a), f"{b:.0f}%" if percent else str(b), _bar(b, top)] for a, b in rows]
        out.append(_table([_e(heading), _e(unit), ""], cells, numeric=(1,)))
    return out


def _review(items: Sequence[SubmissionResult], t: Any) -> list[str]:
    out = [f'<h2 id="review">{_e(t("ui.needs_review"))}</h2>']
    flagged = needs_review(items)
    if not flagged:
        return out + [f"<p>{_e(t('ui.nothing_to_review'))}</p>"]
    index = {id(r): i for i, r in enumerate(items)}
    rows = []
    for r, why in flagged:
        if why == "identical":
            detail = _e(" ".join(_twins(r, items, t)))
        elif why in REVIEW_LABELS:
            detail = _e(t(REVIEW_LABELS[why]))
        else:
            detail = f"<pre>{_e(r.messages[0])}</pre>" if r.messages else ""
        link = f'<a href="#{_anchor(index[id(r)])}">{_e(r.submission)}</a>'
        rows.append([link, f"<code>{_e(why)}</code>", detail])
    return out + [_table([_e(t("ui.submission")), _e(t("ui.reason")), _e(t("ui.message"))], rows)]


def _twins(r: SubmissionResult, items: Sequence[SubmissionResult], t: Any) -> list[str]:
    """Each file of ``r`` another submission has too, with theirs (a helper module named first: ``utils.py: The same file as ...``)."""
    out = []
    for g in identical_files(items):
        mine = [name for o, name in g if o is r]
        if mine and not handed_out(g, len(items)):
            others = ", ".join(file_label(o, name) for o, name in g if o is not r)
            said = t("ui.same_file_as").format(names=others)
            out += [f"{name}: {said}" if name else said for name in mine]
    return out


def _feedback(i: int, r: SubmissionResult, t: Any) -> list[str]:
    score = f"{format_points(r.score)} / {format_points(r.max_score)}"
    out = [f'<h3 id="{_anchor(i)}">{_e(r.submission)} <small>({_e(t("ui.score"))}: {_e(score)}, <code>{_e(r.verdict)}</code>)</small></h3>']
    if r.graded_file:
        out.append(f"<p>{_e(t('ui.graded_file'))}: <code>{_e(r.graded_file)}</code></p>")
    rows = []
    for p in list(r.parameters) + ([r.forward] if r.forward is not None else []):
        name = t("ui.forward") if p is r.forward else p.name
        status = f'<span class="{_e(p.status)}">{_e(t("ui." + p.status))}</span>'
        message = t("ui.see_below") if whole_file_failure(r, p) else p.message
        rows.append([_e(name), status, _e(f"{format_points(p.points)} / {format_points(p.max_points)}"), f"<code>{_e(p.diagnosis)}</code>", _e(message)])
    for d in r.deductions:
        rows.append([_e(d.param), _e(t("ui.deduction")), _e(f"-{format_points(d.points)}"), f"<code>{_e(d.code)}</code>", _e(d.message)])
    if rows:
        header = [t("ui.parameter"), t("ui.status"), t("ui.points"), t("ui.diagnosis"), t("ui.message")]
        out.append(_table([_e(h) for h in header], rows))
    if r.messages:
        out.append(f"<p><b>{_e(t('ui.notes'))}</b></p>" + "".join(f"<pre>{_e(m)}</pre>" for m in r.messages))
    cx = r.counterexample
    if cx is not None:
        lines = [f"x = {cx.x}", f"y = {cx.y}", *[f"{k} = {v}" for k, v in cx.params.items()],
                 f"{t('ui.expected')}: d{cx.param} = {cx.expected}", f"{t('ui.got')}: d{cx.param} = {cx.got}"]
        out.append(f"<details><summary>{_e(t('ui.counterexample'))} (d{_e(cx.param)})</summary><pre>{_e(chr(10).join(lines))}</pre></details>")
    return out


def render_report(results: Iterable[SubmissionResult], *, lang: str = "en", plots: bool | None = None, data: str = "") -> str:
    """The class report as one HTML page.

    Parameters
    ----------
    results : iterable of SubmissionResult
    lang : {"en", "ko"}
        Language of the labels (the feedback stays in the language it was graded in).
    plots : bool, optional
        Draw the plots (needs matplotlib); default: when matplotlib is installed.
    data : str
        The notebook data the run used (:attr:`~gradcheck.grading.gradebook.ClassSummary.data`); empty: not shown.

    Raises
    ------
    ImportError
        When ``plots=True`` and matplotlib is not installed.
    """
    i18n.check_lang(lang)
    items = check_results(results)
    if plots is None:
        plots = _plots_available()
    elif plots and not _plots_available():
        raise ImportError('plots=True needs matplotlib: pip install "gradcheck[plot]"')

    def t(key: str) -> str:
        return i18n.text(key, lang=lang)

    summary = class_summary(items, data=data)
    body = _header(items, summary, t) + _distributions(summary, t, bool(plots)) + _review(items, t)
    body.append(f'<h2 id="feedback">{_e(t("ui.feedback_all"))}</h2>')
    for i, r in enumerate(items):
        body += _feedback(i, r, t)
    title = summary.title or t("ui.report_title")
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)} - {_e(t('ui.report_title'))}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + "\n</body>\n</html>\n"
    )


def write_report(results: Iterable[SubmissionResult], path: str | os.PathLike[str], **options: Any) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8; atomically: a temporary file, then a rename)."""
    return write_atomic(path, render_report(results, **options))
