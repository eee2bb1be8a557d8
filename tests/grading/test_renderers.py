"""Tests of the result data model, the renderers and the gradebook."""
from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import xml.etree.ElementTree as ET

import pytest

from gradcheck.grading.gradebook import class_summary, render_csv, render_summary, write_csv
from gradcheck.grading.lms import render_lms
from gradcheck.grading.render_gradescope import gradescope_results, write_gradescope
from gradcheck.grading.render_json import load_results, render_json
from gradcheck.grading.render_junit import render_junit
from gradcheck.grading.render_markdown import render_markdown
from gradcheck.grading.render_text import render_text
from gradcheck.grading.results import Counterexample, Deduction, ParameterResult, SubmissionResult
from gradcheck.grading.safetext import safe_text

HANGUL = re.compile("[\uac00-\ud7a3]")


def P(name, code, points, max_points=1.0, message=None, **detail):
    status = "passed" if code in ("correct", "precision") else "failed"
    return ParameterResult(name, status, code, message or f"{name}: {code}", points, max_points, detail)


@pytest.fixture
def results():
    good = SubmissionResult("alice.py", "xor_2layer", 7, 4.0, 4.0, ("correct",), tuple(P(n, "correct", 1.0) for n in ("W1", "b1", "W2", "b2")), duration=1.2)
    mixed = SubmissionResult(
        "bob|<&>.ipynb",
        "xor_2layer",
        7,
        2.25,
        4.0,
        ("correct", "scale", "partial", "mutation"),
        (
            P("W1", "scale", 0.5, message="W1 is the exact gradient times 2.5 | <b> & \x01"),
            P("b1", "correct", 1.0),
            P("W2", "partial", 0.75, n_wrong=1, fraction_correct=float("nan")),
            P("b2", "correct", 1.0),
        ),
        deductions=(Deduction("mutation", "x", "The submission changed its argument x in place.", 1.0),),
        counterexample=Counterexample("W2", [[0.0, 1.0]], [[1.0]], {"W1": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]}, [[0.1], [0.2], [0.3]], [[0.1], [0.2], [0.4]], "partial"),
        messages=("두 번째\n줄",),
        duration=2.5,
    )
    dead = SubmissionResult(
        "carol.py", "xor_2layer", 7, 0.0, 4.0, ("timeout",), tuple(P(n, "timeout", 0.0) for n in ("W1", "b1", "W2", "b2")), verdict="timeout", messages=("The submission did not finish within the time limit of 5 s.",), duration=5.0
    )
    return [good, mixed, dead]


# -- data model ------------------------------------------------------------------


def test_round_trip_and_required_keys(results):
    for r in results:
        d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
        assert {"submission", "model", "score", "max_score", "diagnoses", "parameters", "seed"} <= set(d)
        for p in d["parameters"]:
            assert {"name", "status", "diagnosis", "message"} <= set(p)
        assert SubmissionResult.from_dict(d) == r
    assert results[1].to_dict()["parameters"][2]["detail"]["fraction_correct"] == "nan"


def test_result_checks():
    with pytest.raises(ValueError, match="status='ok'"):
        ParameterResult("W", "ok", "correct", "", 1.0, 1.0)
    with pytest.raises(ValueError, match="max_points=-1"):
        ParameterResult("W", "passed", "correct", "", 1.0, -1)
    with pytest.raises(ValueError, match="missing keys"):
        SubmissionResult.from_dict({"submission": "a"})
    with pytest.raises(KeyError, match="W9"):
        SubmissionResult("a", "m", 0, 0.0, 0.0).parameter("W9")


# -- JSON --------------------------------------------------------------------------


def test_json_is_a_list_that_loads_back(results):
    text = render_json(results)
    data = json.loads(text)
    assert isinstance(data, list) and [d["submission"] for d in data] == ["alice.py", "bob|<&>.ipynb", "carol.py"]
    assert data[1]["diagnoses"] == ["correct", "scale", "partial", "mutation"]
    assert "두 번째" in text  # not escaped to \\u
    assert load_results(text) == results
    with pytest.raises(TypeError, match=r"results\[0\]"):
        render_json([{"submission": "x"}])


# -- Gradescope ---------------------------------------------------------------------

TOP = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests", "extra_data"}
TEST = {"score", "max_score", "status", "name", "number", "output", "output_format", "tags", "visibility"}


def test_gradescope_schema(results, tmp_path):
    for r in results:
        gs = gradescope_results(r)
        assert set(gs) == TOP
        assert gs["score"] == r.score and isinstance(gs["execution_time"], int)
        assert gs["output_format"] in ("text", "html", "simple_format", "md", "ansi")
        for t in gs["tests"]:
            assert set(t) == TEST
            assert t["status"] in ("passed", "failed") and isinstance(t["tags"], list)
        numbers = [t["number"] for t in gs["tests"]]
        assert len(set(numbers)) == len(numbers)
    gs = gradescope_results(results[1], visibility="after_published")
    assert [t["score"] for t in gs["tests"]] == [0.5, 1.0, 0.75, 1.0, -1.0]
    assert sum(t["score"] for t in gs["tests"]) == results[1].score
    assert gs["tests"][0]["tags"] == ["scale"] and gs["tests"][0]["visibility"] == "after_published"
    path = write_gradescope(results[0], tmp_path / "results.json")
    assert json.loads(path.read_text(encoding="utf-8"))["score"] == 4.0
    with pytest.raises(ValueError, match="visibility='public'"):
        gradescope_results(results[0], visibility="public")


# -- JUnit --------------------------------------------------------------------------


def test_junit_is_valid_xml_with_right_counts(results):
    root = ET.fromstring(render_junit(results))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("14", "7", "1")
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["alice.py", "bob|<&>.ipynb", "carol.py"]
    bob = suites[1]
    fails = bob.findall("testcase/failure")
    assert [f.get("type") for f in fails] == ["scale", "partial", "mutation"]
    assert fails[0].get("message") == "W1 is the exact gradient times 2.5 | <b> & \\x01"  # the control made visible (rt26 F6)
    assert suites[2].find("testcase/error").get("type") == "timeout"
    props = {p.get("name"): p.get("value") for p in bob.findall("properties/property")}
    assert props["score"] == "2.25" and props["seed"] == "7"


# -- Markdown and text -------------------------------------------------------------


def test_markdown_feedback(results):
    md = render_markdown(results[1])
    assert "**Score:** 2.25 / 4" in md
    assert "W1 is the exact gradient times 2.5 \\| &lt;b&gt; &amp;" in md  # text, never raw HTML (rt26 L1)
    assert "## Smallest failing example (dW2)" in md and "got: dW2 = [[0.1], [0.2], [0.4]]" in md
    assert "- The submission changed its argument x in place. (-1)" in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    assert rows and all(line.count(" | ") == 4 for line in rows)  # escaped pipes split no cell
    ko = render_markdown(results[1], lang="ko")
    assert "**점수:** 2.25 / 4" in ko and "가장 작은 반례" in ko


def test_text_report(results):
    pytest.importorskip("rich")
    text = render_text(results)
    for name in ("alice.py", "bob|<&>.ipynb", "carol.py", "W1 is the exact gradient times 2.5", "2.25 / 4", "timeout"):
        assert name in text
    assert "\x1b[" not in text
    assert "\x1b[" in render_text(results, color=True)
    assert HANGUL.search(render_text(results, lang="ko"))
    with pytest.raises(ValueError, match="width=10"):
        render_text(results, width=10)


# -- gradebook -----------------------------------------------------------------------


def test_csv_gradebook(results, tmp_path):
    rows = list(csv.reader(io.StringIO(render_csv(results))))
    assert rows[0] == ["student_id", "submission", "model", "score", "max_score", "verdict", "diagnoses", "W1", "b1", "W2", "b2", "overrides"]
    assert rows[2] == ["", "bob|<&>.ipynb", "xor_2layer", "2.25", "4", "ok", "correct;scale;partial;mutation", "0.5", "1", "0.75", "1", ""]
    assert rows[3][5] == "timeout" and len(rows) == 4
    path = write_csv(results, tmp_path / "grades.csv")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")


FORMULAS = ['=HYPERLINK("evil.example")', "+1+2", "-2+3", "@SUM(A1)", "\tx", "\r=1", "-", "-inf"]


@pytest.mark.parametrize("name", FORMULAS)
def test_a_cell_a_spreadsheet_would_run_is_text_in_every_csv(name):
    # OWASP "CSV Injection": file names come from students
    r = SubmissionResult(f"{name}_12345_678_hw1.py", "m", 0, 0.5, 1.0, ("scale",), (P("W1", "scale", 0.5),), student_id="12345")
    shown = name.replace("\r", "\\x0d")  # a result shows a carriage return as a visible escape (rt26 F6): then no formula
    quoted = ("'" if shown[:1] in "=+-@\t" else "") + shown
    gradebook = list(csv.reader(io.StringIO(render_csv([r]), newline="")))
    assert gradebook[1][1] == f"{quoted}_12345_678_hw1.py"
    canvas = list(csv.reader(io.StringIO(render_lms([r], "canvas", title=name)[0], newline="")))
    assert canvas[0][5] == "'" + name and canvas[1][0] == quoted  # the title is the instructor's text, as given
    moodle_r = SubmissionResult(f"{name}_12345_assignsubmission_file_", "m", 0, 0.5, 1.0, student_id="12345")
    moodle = list(csv.reader(io.StringIO(render_lms([moodle_r], "moodle", title="t")[0], newline="")))
    assert moodle[1][1] == quoted


def test_numbers_stay_numbers_in_the_csv():
    r = SubmissionResult("a.py", "m", 0, 0.25, 1.0, ("sign",), (P("W1", "sign", 0.25),), student_id="-7")
    rows = list(csv.reader(io.StringIO(render_csv([r]), newline="")))
    assert rows[1][:5] == ["-7", "a.py", "m", "0.25", "1"]


def test_class_summary(results):
    s = class_summary(results)
    assert (s.n, s.mean, s.median, s.minimum, s.maximum, s.max_score) == (3, pytest.approx(6.25 / 3), 2.25, 0.0, 4.0, 4.0)
    assert dict(s.distribution) == {"0%": 1, "0-25%": 0, "25-50%": 0, "50-75%": 1, "75-100%": 0, "100%": 1}
    assert s.diagnosis_counts == {"correct": 2, "scale": 1, "partial": 1, "mutation": 1, "timeout": 1}
    assert s.pass_rates == {"W1": 1 / 3, "b1": 2 / 3, "W2": 1 / 3, "b2": 2 / 3}
    text = render_summary(s)
    assert "Submissions: 3" in text and re.search(r"timeout\s+1\s+#+", text)
    md = render_summary(s, fmt="markdown", lang="ko")
    assert "| b1 | 67% |" in md and "전체 요약" in md
    with pytest.raises(ValueError, match="fmt='html'"):
        render_summary(s, fmt="html")
    empty = class_summary([])
    assert empty.n == 0 and empty.mean == 0.0


# -- any text a student can produce ----------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40), st.text(max_size=40), st.floats(0, 10, allow_nan=False))
def test_property_any_text_survives_every_format(name, message, points):
    p = ParameterResult(name or "W", "failed", "wrong", message, min(points, 1.0), 1.0)
    r = SubmissionResult(name, "m", 0, p.points, 1.0, ("wrong",), (p,), messages=(message,), verdict="error")
    assert load_results(render_json([r])) == [r]
    root = ET.fromstring(render_junit([r]))
    assert root.find("testsuite/testcase/failure") is not None
    gs = gradescope_results(r)
    name, message = safe_text(name), safe_text(message)  # what a result holds of a student's text (tested in test_rt26_outputs)
    assert json.loads(json.dumps(gs))["tests"][0]["output"] == message
    rows = list(csv.reader(io.StringIO(render_csv([r]), newline="")))
    assert len(rows) == 2
    assert rows[1][1] == name or (rows[1][1] == "'" + name and name[:1] in "=+-@\t")  # a would-be formula is text
    md = render_markdown(r)
    table = [line for line in md.splitlines() if line.startswith("| ")]
    assert len(table) == 2 and all(line.count(" | ") >= 4 for line in table)
    if importlib.util.find_spec("rich") is None:  # the text report needs the grading extra
        return
    assert name.replace("\n", "") in render_text([r], width=400).replace("\n", "") or not name.isprintable()
