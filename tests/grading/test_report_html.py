"""The HTML class report parses as HTML, loads nothing from the network and says what it claims."""
from __future__ import annotations

import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.grading.report_html import needs_review, render_report
from gradcheck.grading.results import Deduction, ParameterResult, SubmissionResult

VOID = {"meta", "br", "img", "hr", "input", "link", "path", "use", "rect", "stop", "circle", "line", "polyline", "polygon", "ellipse"}


class Page(HTMLParser):
    """Collects headings, tables, ids and every attribute; checks that tags nest."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.headings: list[tuple[str, str, str]] = []  # (tag, id, text)
        self.tables: list[list[list[str]]] = []
        self.attrs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self._heading: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]
        if tag in ("h1", "h2", "h3"):
            self._heading = [tag, dict(attrs).get("id") or "", ""]  # type: ignore[list-item]
        elif tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag in ("h1", "h2", "h3") and self._heading is not None:
            self.headings.append((self._heading[0], self._heading[1], self._heading[2].strip()))
            self._heading = None
        elif tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._heading is not None:
            self._heading[2] += data
        if self._cell is not None:
            self._cell.append(data)


def parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    page.close()
    assert not page.errors, page.errors[:3]
    assert page.stack == [], page.stack
    return page


def _p(name: str, code: str, points: float, message: str) -> ParameterResult:
    return ParameterResult(name, "passed" if code == "correct" else "failed", code, message, points, 1.0)


def _class() -> list[SubmissionResult]:
    ok = (_p("W1", "correct", 1, "W1 is correct."), _p("b1", "correct", 1, "b1 is correct."))
    title, seed = "Week 3: XOR <backprop>", 11
    return [
        SubmissionResult("alice.py", "xor_1layer", seed, 2.0, 2.0, ("correct",), ok, file_hash="aaa", title=title),
        SubmissionResult("bob.py", "xor_1layer", seed, 1.25, 2.0, ("correct", "sign"),
                         (ok[0], _p("b1", "sign", 0.25, "b1 has the wrong sign.")), file_hash="bbb", title=title),
        SubmissionResult("carol.py", "xor_1layer", seed, 0.0, 2.0, ("timeout",),
                         (_p("W1", "timeout", 0, "too slow"), _p("b1", "timeout", 0, "too slow")), verdict="timeout",
                         messages=("The submission did not finish within the time limit of 10 s.",), file_hash="ccc", title=title),
        SubmissionResult("dan.py", "xor_1layer", seed, 1.5, 2.0, ("correct", "mutation"), ok,
                         deductions=(Deduction("mutation", "x", "The submission changed its argument x.", 0.5),), file_hash="aaa", title=title),
    ]


def _table_after(page: Page, text: str, heading: str) -> list[list[str]]:
    """The first table after the heading with ``heading``'s id (by document order of tables)."""
    idx = next(i for i, h in enumerate(page.headings) if h[1] == heading)
    # every h2 section before the feedback has exactly one table; the header has one too
    return page.tables[idx]


def test_report_states_what_it_claims() -> None:
    results = _class()
    text = render_report(results, plots=False)
    page = parse(text)
    assert page.headings[0] == ("h1", "", "Week 3: XOR <backprop>")
    facts = {row[0]: row[1] for row in page.tables[0][1:]}
    assert facts["Seed"] == "11" and facts["Submissions"] == "4" and facts["Assignment"] == "Week 3: XOR <backprop>"
    assert facts["Versions"].startswith("gradcheck ") and "numpy" in facts["Versions"]
    ids = [h[1] for h in page.headings]
    assert ids[:6] == ["", "distribution", "diagnoses", "pass-rates", "review", "feedback"]
    dist = {row[0]: row[1] for row in _table_after(page, text, "distribution")[1:]}
    assert dist == {"0%": "1", "0-25%": "0", "25-50%": "0", "50-75%": "1", "75-100%": "1", "100%": "1"}
    diag = {row[0]: row[1] for row in _table_after(page, text, "diagnoses")[1:]}
    assert diag == {"correct": "3", "sign": "1", "mutation": "1", "timeout": "1"}
    rates = {row[0]: row[1] for row in _table_after(page, text, "pass-rates")[1:]}
    assert rates == {"W1": "75%", "b1": "50%"}
    review = _table_after(page, text, "review")[1:]
    assert [(r[0], r[1]) for r in review] == [("alice.py", "identical"), ("carol.py", "timeout"), ("dan.py", "identical")]
    assert review[0][2] == "The same file as dan.py."
    students = [h[2] for h in page.headings if h[0] == "h3"]
    assert [s.split(" ")[0] for s in students] == ["alice.py", "bob.py", "carol.py", "dan.py"]
    assert "b1 has the wrong sign." in text and "The submission changed its argument x." in text
    assert "Plots need matplotlib" in text and "<svg" not in text


def test_report_is_self_contained_with_plots() -> None:
    pytest.importorskip("matplotlib")
    text = render_report(_class(), lang="ko")
    page = parse(text)
    assert page.tags.count("svg") == 3 and "Plots need matplotlib" not in text and "그래프를 그리려면" not in text
    assert "script" not in page.tags and "link" not in page.tags and "img" not in page.tags and "iframe" not in page.tags
    for tag, key, value in page.attrs:
        if key in ("src", "href", "xlink:href", "action", "data"):
            assert value.startswith("#"), (tag, key, value)  # in-page links only
        if not key.startswith("xmlns"):  # namespace names are identifiers, never fetched
            assert "://" not in value, (tag, key, value)
    assert re.findall(r"url\((?!#)", text) == [] and "@import" not in text  # only in-page references (clip paths)
    assert [h[2] for h in page.headings[1:4]] == ["점수 분포", "진단별 제출물 수", "매개변수별 통과율"]


def test_report_without_matplotlib_has_tables_and_a_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    text = render_report(_class())
    assert "<svg" not in text and 'pip install "gradcheck[plot]"' in text.replace("&quot;", '"')
    with pytest.raises(ImportError, match="matplotlib"):
        render_report(_class(), plots=True)


def test_needs_review_lists_failed_runs_and_identical_files_only() -> None:
    flagged = [(r.submission, why) for r, why in needs_review(_class())]
    assert flagged == [("alice.py", "identical"), ("carol.py", "timeout"), ("dan.py", "identical")]


def test_grade_writes_the_report(tmp_path: Path) -> None:
    src = Path(__file__).parent / "submissions"
    d = tmp_path / "class"
    d.mkdir()
    shutil.copy(src / "xor_2layer__correct__dict.py", d / "alice.py")
    shutil.copy(src / "xor_2layer__correct__dict.py", d / "bob.py")
    shutil.copy(src / "xor_2layer__syntax__hostile_syntax_error.py", d / "carol.py")
    toml = tmp_path / "hw.toml"
    toml.write_text('title = "HW 2"\nmodel = "xor_2layer"\n', encoding="utf-8")
    out = tmp_path / "out" / "report.html"
    assert main(["grade", str(d), "--assignment", str(toml), "--report", str(out), "--quiet", "--no-cache", "--jobs", "1"]) == 0
    page = parse(out.read_text(encoding="utf-8"))
    assert page.headings[0][2] == "HW 2"
    review = _table_after(page, "", "review")[1:]
    assert [(r[0], r[1]) for r in review] == [("alice.py", "identical"), ("bob.py", "identical")]
    assert [h[2].split(" ")[0] for h in page.headings if h[0] == "h3"] == ["alice.py", "bob.py", "carol.py"]


@pytest.mark.parametrize(("lang", "label"), [("en", "Isolation level"), ("ko", "격리 수준")])
def test_report_states_the_isolation_level_as_the_summary_does(lang: str, label: str) -> None:
    # the instructor must see whether the grades are tamper-proof: the level each submission was graded at
    from gradcheck.grading.gradebook import class_summary, render_summary

    rs = [SubmissionResult(f"s{i}.py", "xor_1layer", 0, 1.0, 2.0, isolation="process") for i in range(2)]
    html = render_report(rs, lang=lang, plots=False)
    assert f"<td>{label}</td><td>process</td>" in html.replace("\n", "")
    assert f"{label}: process" in render_summary(class_summary(rs), fmt="text", lang=lang).replace("  ", " ")
