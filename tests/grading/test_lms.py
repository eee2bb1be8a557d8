"""Grades into the LMS (--lms) and manual overrides (--overrides)."""
from __future__ import annotations

import argparse
import csv
import json

import pytest

from gradcheck.grading import cli
from gradcheck.grading.overrides import OverridesError, parse_overrides

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
SCALE = GOOD.replace("2 * (a - y) / len(y)", "(a - y)")


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def read(path):
    return list(csv.reader(path.open(encoding="utf-8-sig", newline="")))


def test_moodle_worksheet_from_a_moodle_download(tmp_path):
    d = tmp_path / "download"
    for name, src in (("김 철수_12345_assignsubmission_file_", GOOD), ("Lee Su_00231_assignsubmission_file_", SCALE)):
        (d / name).mkdir(parents=True)
        (d / name / "hw3.py").write_text(src)
    out = tmp_path / "moodle.csv"
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "moodle", "--lms-file", out) == 0
    table = read(out)
    assert [row[:5] for row in table] == [
        ["Identifier", "Full name", "Email address", "Grade", "Maximum Grade"],
        ["Participant 00231", "Lee Su", "", "1", "2"],
        ["Participant 12345", "김 철수", "", "2", "2"],
    ]
    assert table[0][5] == "Feedback comments"  # the score and the main diagnosis (rt20 F10)
    assert table[1][5].startswith("1/2: W1 is the exact gradient times 1.5") and table[2][5].startswith("2/2")


def test_canvas_import_from_a_canvas_download(tmp_path, capsys):
    d = tmp_path / "submissions"
    d.mkdir()
    (d / "kimji_12345_678_hw3.py").write_text(GOOD)
    (d / "leesu_LATE_23456_789_hw3-1.py").write_text(SCALE)
    (d / "stray.py").write_text(GOOD)  # no user id: left out, named, and the run fails (exit 1)
    (tmp_path / "a.toml").write_text('title = "HW3 backprop"\nmodel = "xor_1layer"\n')
    out = tmp_path / "canvas.csv"
    assert grade(d, "--assignment", tmp_path / "a.toml", "--no-cache", "--quiet", "--lms", "canvas", "--lms-file", out) == 1
    assert read(out) == [
        ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", "HW3 backprop"],
        ["kimji", "12345", "", "", "", "2"],
        ["leesu", "23456", "", "", "", "1"],
    ]
    assert "'stray.py' has no student id" in capsys.readouterr().err


def test_lms_file_without_lms_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "a.py").write_text(GOOD)
    out = tmp_path / "grades.csv"
    assert grade(tmp_path / "a.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--lms-file", out) == 2
    err = capsys.readouterr().err
    assert "--lms-file" in err and "--lms canvas|moodle" in err
    assert not out.exists()


def test_overrides_survive_the_cache_and_show_in_every_report(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    (d / "0001_kim.py").write_text(SCALE)
    (d / "0002_lee.py").write_text(GOOD)
    ov = tmp_path / "overrides.csv"
    ov.write_text("student_id,parameter,score,reason\n0001,W1,1,the 1/N was in the handout's errata\n0002,total,1.5,late penalty\n", encoding="utf-8")
    out = tmp_path / "out"

    def run(*extra):
        argv = [d, "--model", "xor_1layer", "--cache", tmp_path / "cache", "--quiet", "--json", out / "r.json", "--csv", out / "g.csv",
                "--feedback", out / "fb", "--gradescope", out / "gs", "--summary", out / "s.md", *extra]
        assert grade(*argv) == 0
        return {r["student_id"]: r for r in json.loads((out / "r.json").read_text(encoding="utf-8"))}

    graded = run()
    assert (graded["0001"]["score"], graded["0002"]["score"]) == (1.0, 2.0)  # b1 scale 0.5 + W1 scale 0.5
    for _ in range(2):  # the first run fills the cache, the second reads it: overrides apply to both
        got = run("--overrides", ov)
        assert (got["0001"]["score"], got["0002"]["score"]) == (1.5, 1.5)
        assert got["0001"]["overrides"] == [{"parameter": "W1", "original": 0.5, "score": 1.0, "reason": "the 1/N was in the handout's errata"}]
        assert got["0002"]["overrides"][0]["parameter"] == "total" and got["0002"]["max_score"] == 2.0
        rows = {r["student_id"]: r for r in csv.DictReader((out / "g.csv").open(encoding="utf-8-sig"))}
        assert rows["0001"]["overrides"] == "W1: 0.5 -> 1 (the 1/N was in the handout's errata)" and rows["0001"]["W1"] == "1"
        assert "Manual override" in (out / "fb" / "0001.md").read_text(encoding="utf-8")
        assert "Manual override" in (out / "gs" / "0002.json").read_text(encoding="utf-8")
        assert json.loads((out / "gs" / "0002.json").read_text())["score"] == 1.5
    again = run()  # the file is gone: the grader's own scores are back
    assert (again["0001"]["score"], again["0002"]["score"]) == (1.0, 2.0) and again["0001"]["overrides"] == []


@pytest.mark.parametrize(
    "text, match",
    [
        ("student_id,score,reason\n1,1,x\n", "missing column"),
        ("student_id,parameter,score,reason\n1,W9,1,x\n", "parameter must be one of"),
        ("student_id,parameter,score,reason\n1,W1,-1,x\n", "score must be a number >= 0"),
        ("student_id,parameter,score,reason\n1,W1,1,\n", "reason is empty"),
        ("student_id,parameter,score,reason\n1,W1,1,x\n1,W1,0,y\n", "a second override"),
    ],
)
def test_bad_overrides_are_one_clear_error(text, match):
    with pytest.raises(OverridesError, match=match):
        parse_overrides(text, parameters=["W1", "b1"])


def test_an_override_above_the_points_is_refused(tmp_path, capsys):
    (tmp_path / "0001_kim.py").write_text(GOOD)
    ov = tmp_path / "o.csv"
    ov.write_text("student_id,parameter,score,reason\n0001,W1,5,generous\n")
    assert grade(tmp_path / "0001_kim.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--overrides", ov) == 1
    assert "above its 1 points" in capsys.readouterr().err


def test_one_student_on_two_rows_leaves_only_them_out_of_the_import():
    # rt19 F15: one student's layout refused the import of the whole class (ValueError, no file at all)
    from gradcheck.grading.lms import render_lms
    from gradcheck.grading.results import SubmissionResult

    rs = [SubmissionResult("Kim_1001_assignsubmission_file_", "m", 0, 2.0, 2.0, student_id="1001"),
          SubmissionResult("Kim_1001_assignsubmission_onlinetext_", "m", 0, 0.0, 2.0, student_id="1001"),
          SubmissionResult("Lee_1002_assignsubmission_file_", "m", 0, 1.0, 2.0, student_id="1002")]
    text, skipped = render_lms(rs, "moodle", title="t")
    assert [r[0] for r in csv.reader(text.splitlines())][1:] == ["Participant 1002"]
    assert [r.submission for r, _ in skipped] == [rs[0].submission, rs[1].submission]
    assert all("student id 1001 has 2 submissions" in why and "by hand" in why for _, why in skipped)
