"""Every student gets a row and every output is written, whatever a submission's text or the grader does (rt26 F12, F6, F8, L1).

F12: one lone surrogate (a student's ``raise ValueError("\\ud800")``, an honest CP949 file
name) stopped every output of the class.  F6: exception text and file names reached the
instructor's terminal and the Markdown with raw ESC sequences and bidi overrides.  L1: raw
HTML from file names in the Markdown outputs.  F8: a global ``X = 1e308`` made the grader
raise while grading one submission, which then had no row anywhere.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest

from gradcheck.errors import GradcheckValueError
from gradcheck.grading import pipeline
from gradcheck.grading.results import ParameterResult, SubmissionResult
from gradcheck.grading.safetext import safe_text
from tests.grading.test_lms_layouts import GOOD, grade, rows, write

#: What Python makes of the CP949 bytes of "과제1" in a file name (surrogateescape): the file is named with these bytes.
CP949_NAME = b"kim_10001_1_\xb0\xfa\xc1\xa61.py"
#: ... and how every output shows it: each undecodable byte as a visible escape, the rest as it was.
CP949_SHOWN = "kim_10001_1_\\udcb0\\udcfa\\udcc1\\udca61.py"
OSC52 = "\x1b]52;c;cm0gLXJmIH4vY291cnNlCg==\x1b\\"  # sets the clipboard to "rm -rf ~/course" in terminals that honour it
FAKE_LINE = "\x1b[1A\x1b[2K\x1b[32mall gradients correct\x1b[0m"  # moves up, erases the line, prints a lie
SURROGATE = 'def backward(params, x, y):\n    raise ValueError("\\ud800")\n'
RLO = "\u202e"  # right-to-left override: "hw1.py" written backwards reads as "hw1.py"
ESCAPES = "def backward(params, x, y):\n    raise ValueError(" + repr(OSC52 + FAKE_LINE + " " + RLO + "yp.1wh") + ")\n"
#: rt26 F8: a sign slip (the gradient of -loss) in a file that also has huge global data of x's and y's shapes
GLOBAL_OVERFLOW = "import numpy as np\nX = np.full((4, 2), 1e308)\nY = np.full((4, 1), -1e308)\n" + GOOD.replace("2 * (a - y)", "2 * (y - a)")
SVG = "kim_40004_1_<svg onload=alert(4)>.py"


def _named(folder: Path, name: bytes) -> Path:
    """``folder / name`` for a file name of raw bytes (what an unzip of a Windows zip makes)."""
    return Path(os.fsdecode(os.fsencode(folder) + b"/" + name))


# -- the one rule ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "shown"), [
    ("\x1b]52;c;cm0g\x1b\\", "\\x1b]52;c;cm0g\\x1b\\"),  # ESC (C0)
    ("a\x07b\x00c\x7f", "a\\x07b\\x00c\\x7f"),  # BEL, NUL, DEL
    ("\x9b2K", "\\x9b2K"),  # C1 CSI: one byte that is ESC [ to many terminals
    ("over\rwritten", "over\\x0dwritten"),  # a lone carriage return overwrites the line
    ("exe.\u202ecod", "exe.\\u202ecod"),  # right-to-left override
    ("\u2066a\u2069", "\\u2066a\\u2069"),  # isolates
    ("\ud800", "\\ud800"),  # a lone surrogate
    (os.fsdecode(CP949_NAME), CP949_SHOWN),  # undecodable bytes of a file name
    ("김지우 hw1.py\n\tline 2", "김지우 hw1.py\n\tline 2"),  # text, newlines and tabs are kept
    ("line 1\r\nline 2", "line 1\nline 2"),  # a Windows line ending is a newline
])
def test_safe_text_makes_every_unsafe_character_a_visible_escape(raw: str, shown: str) -> None:
    assert safe_text(raw) == shown
    assert safe_text(shown) == shown  # idempotent: results are rebuilt from results (cache, replace)
    shown.encode("utf-8")  # never raises


def test_safe_text_refuses_what_is_not_text() -> None:
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        safe_text(b"kim.py")  # type: ignore[arg-type]


def test_every_result_object_holds_safe_text() -> None:
    p = ParameterResult("W1", "failed", "error", "raised \ud800" + FAKE_LINE, 0.0, 1.0, {"error": "\x1b]8;;http://evil\x1b\\"})
    r = SubmissionResult(os.fsdecode(CP949_NAME), "xor_1layer", 0, 0.0, 1.0, ("error",), (p,), verdict="error",
                         messages=("\u202e" + OSC52,), student_id="10001\x1b", helper_hashes=(("h\udcb0.py", "abc"),))
    text = json.dumps(r.to_dict(), ensure_ascii=False)
    text.encode("utf-8")  # the old result: UnicodeEncodeError, and no output for the class
    assert "\x1b" not in text and "\u202e" not in text
    assert r.submission == CP949_SHOWN and r.student_id == "10001\\x1b" and r.helper_hashes == (("h\\udcb0.py", "abc"),)
    assert r.parameters[0].message == "raised \\ud800\\x1b[1A\\x1b[2K\\x1b[32mall gradients correct\\x1b[0m"
    assert r.parameters[0].detail == {"error": "\\x1b]8;;http://evil\\x1b\\"}
    assert SubmissionResult.from_dict(r.to_dict()) == r


# -- a class with every kind of hostile or odd text: one run, all outputs -----------------------------------------


@pytest.fixture(scope="module")
def hostile_class(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("rt26")
    d = write(base / "class", {"evil_83001_1_hw1.py": SURROGATE, "ansi_92001_1_hw1.py": ESCAPES, SVG: GOOD,
                               "glob2_99002_1_hw1.py": GLOBAL_OVERFLOW, "ok_83002_1_hw1.py": GOOD})
    _named(d, CP949_NAME).write_text(GOOD, encoding="utf-8")
    out = base / "out"
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        rc = grade(d, "--model", "xor_1layer", "--no-cache", "--jobs", "1", "--csv", out / "g.csv", "--json", out / "r.json",
                   "--summary", out / "s.md", "--report", out / "r.html", "--feedback", out / "fb", "--junit", out / "j.xml",
                   "--lms", "canvas", "--lms-file", out / "canvas.csv")
    return {"rc": rc, "out": out, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


@pytest.mark.slow
def test_a_lone_surrogate_or_a_cp949_name_never_stops_the_class_outputs(hostile_class: dict[str, Any]) -> None:
    out = hostile_class["out"]
    assert hostile_class["rc"] == 0, hostile_class["stderr"]
    got = {r["student_id"]: (r["submission"], r["verdict"]) for r in rows(out / "g.csv")}
    assert got["83001"] == ("evil_83001_1_hw1.py", "error")
    assert got["10001"] == (CP949_SHOWN, "ok")  # the instructor can still find the file
    assert len(got) == 6
    assert [r["submission"] for r in json.loads((out / "r.json").read_text(encoding="utf-8"))].count(CP949_SHOWN) == 1
    assert len(list((out / "fb").glob("*.md"))) == 6
    for name in ("s.md", "r.html", "j.xml", "canvas.csv"):
        assert (out / name).stat().st_size > 0, name
    assert not [p.name for p in out.iterdir() if p.name.endswith(".tmp")]  # no stray temporary file


@pytest.mark.slow
def test_no_escape_sequence_or_bidi_override_reaches_the_terminal_or_markdown(hostile_class: dict[str, Any]) -> None:
    out = hostile_class["out"]
    feedback = (out / "fb" / "92001.md").read_text(encoding="utf-8")
    for where, text in (("stdout", hostile_class["stdout"]), ("stderr", hostile_class["stderr"]), ("feedback", feedback),
                        ("summary", (out / "s.md").read_text(encoding="utf-8")), ("report", (out / "r.html").read_text(encoding="utf-8"))):
        assert "\x1b" not in text and "\u202e" not in text, where
    assert "\\x1b]52;c;cm0gLXJmIH4vY291cnNlCg==" in hostile_class["stdout"]  # shown, not obeyed
    assert "\\x1b]52;c;cm0gLXJmIH4vY291cnNlCg==" in feedback and "\\u202eyp.1wh" in feedback


@pytest.mark.slow
def test_a_file_name_is_never_raw_html_in_the_markdown(hostile_class: dict[str, Any]) -> None:
    out = hostile_class["out"]
    feedback = (out / "fb" / "40004.md").read_text(encoding="utf-8")
    assert feedback.startswith("# Backpropagation feedback: kim_40004_1_&lt;svg onload=alert(4)&gt;.py\n")
    for text in (feedback, (out / "s.md").read_text(encoding="utf-8")):
        assert "<svg" not in text


@pytest.mark.slow
def test_a_global_that_overflows_the_reference_is_no_global_finding_and_the_student_keeps_his_row(hostile_class: dict[str, Any]) -> None:
    out = hostile_class["out"]
    (row,) = [r for r in rows(out / "g.csv") if r["student_id"] == "99002"]
    # the sign slip is graded as one (0.25 of each parameter's point, scoring.py's table): 2 parameters of xor_1layer
    assert (row["verdict"], row["diagnoses"], row["score"]) == ("ok", "sign", "0.5")
    assert "99002" in (out / "canvas.csv").read_text(encoding="utf-8-sig")
    assert "RuntimeWarning" not in hostile_class["stderr"]


# -- an exception of the grader itself is that submission's row ---------------------------------------------------


def _failing_for(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``grade_submission`` raise (a bug of the grader) for the submission ``name`` only."""
    real = pipeline.grade_submission

    def grade_submission(path: Any, *args: Any, **kwargs: Any) -> SubmissionResult:
        if Path(path).name == name:
            raise GradcheckValueError("reference for 'W1' must be finite, got 2 non-finite entries")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "grade_submission", grade_submission)


@pytest.mark.slow
def test_a_grader_exception_is_the_submissions_error_row_never_a_missing_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                             capsys: pytest.CaptureFixture[str]) -> None:
    _failing_for("lee_20002_1_hw1.py", monkeypatch)
    d = write(tmp_path / "c", {"kim_20001_1_hw1.py": GOOD, "lee_20002_1_hw1.py": GOOD})
    out = tmp_path / "out"
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--jobs", "1", "--csv", out / "g.csv", "--summary", out / "s.md",
               "--feedback", out / "fb", "--lms", "canvas", "--lms-file", out / "canvas.csv")
    assert rc == 1  # the run says the grader failed
    got = {r["student_id"]: (r["verdict"], r["score"]) for r in rows(out / "g.csv")}
    assert got == {"20001": ("ok", "2"), "20002": ("error", "0")}
    assert "lee" in (out / "canvas.csv").read_text(encoding="utf-8-sig")  # 0 imported, never the old grade kept
    summary = (out / "s.md").read_text(encoding="utf-8")
    assert "| lee_20002_1_hw1.py | error |" in summary.split("## Submissions that need a human look")[1]
    feedback = (out / "fb" / "20002.md").read_text(encoding="utf-8")
    assert "The grader itself failed while grading this submission; this is no verdict on the code" in feedback
    assert "reference for 'W1' must be finite" in feedback
    assert "grading 'lee_20002_1_hw1.py' failed" in capsys.readouterr().err


@pytest.mark.slow
def test_gradescope_file_says_the_grader_failed_when_it_raises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _failing_for("hw1.py", monkeypatch)
    target = tmp_path / "results" / "results.json"
    assert grade(write(tmp_path / "s", {"hw1.py": GOOD}) / "hw1.py", "--model", "xor_1layer", "--no-cache", "--quiet",
                 "--gradescope", target) == 1
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["score"] == 0 and data["extra_data"]["verdict"] == "error"
    assert "The grader itself failed" in data["output"]


# -- one output that cannot be written never stops the others -----------------------------------------------------


def _canned(path: Any, *args: Any, **kwargs: Any) -> SubmissionResult:
    """A result without running anything: these tests are about writing."""
    p = ParameterResult("W1", "passed", "correct", "W1 is correct.", 1.0, 1.0)
    return SubmissionResult(Path(path).name, "xor_1layer", 0, 1.0, 1.0, ("correct",), (p,))


def test_a_class_output_that_fails_never_stops_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(pipeline, "grade_submission", _canned)
    d = write(tmp_path / "c", {"kim_20001_1_hw1.py": GOOD, "lee_20002_1_hw1.py": GOOD})
    (tmp_path / "r.json").mkdir()  # --json cannot be written: a folder is in its place
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--jobs", "1", "--json", tmp_path / "r.json", "--csv", tmp_path / "g.csv",
               "--summary", tmp_path / "s.md")
    assert rc == 1
    assert len(rows(tmp_path / "g.csv")) == 2 and (tmp_path / "s.md").is_file()
    assert f"cannot write --json {tmp_path / 'r.json'}" in capsys.readouterr().err


def test_one_students_file_that_fails_for_any_reason_never_stops_the_others(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                            capsys: pytest.CaptureFixture[str]) -> None:
    import gradcheck.grading.render_markdown as md

    real = md.render_markdown

    def render_markdown(result: SubmissionResult, **kwargs: Any) -> str:
        if result.student_id == "20002":
            raise ValueError("a renderer's bug")  # not an OSError: the old loop let it stop every later file
        return real(result, **kwargs)

    monkeypatch.setattr(pipeline, "grade_submission", _canned)
    monkeypatch.setattr(md, "render_markdown", render_markdown)
    d = write(tmp_path / "c", {"kim_20001_1_hw1.py": GOOD, "lee_20002_1_hw1.py": GOOD, "park_20003_1_hw1.py": GOOD})
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--jobs", "1", "--feedback", tmp_path / "fb")
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == ["20001.md", "20003.md"]
    assert "cannot write the output of 'lee_20002_1_hw1.py': ValueError: a renderer's bug" in capsys.readouterr().err


# -- the Gradescope autograder ------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(("files", "score"), [({"hw1.py": SURROGATE}, 0.0), ({CP949_NAME: GOOD}, 2.0)])
def test_the_autograder_writes_results_json_whatever_the_text(tmp_path: Path, files: dict[Any, str], score: float,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck.grading.autograder import run_gradescope

    raw = io.BytesIO()
    log = io.TextIOWrapper(raw, encoding="utf-8", errors="strict")  # run_autograder's stdout: a pipe, strict UTF-8
    monkeypatch.setattr("sys.stdout", log)

    sub = tmp_path / "submission"
    sub.mkdir()
    for name, text in files.items():
        (_named(sub, name) if isinstance(name, bytes) else sub / name).write_text(text, encoding="utf-8")
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n', encoding="utf-8")
    data = json.loads(run_gradescope(tmp_path, tmp_path / "a.toml").read_text(encoding="utf-8"))
    assert data["score"] == score, data.get("output")
    log.flush()
    if CP949_NAME in files:  # the log names the file graded, escaped
        assert CP949_SHOWN.encode() in raw.getvalue()
