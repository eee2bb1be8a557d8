"""``grade .`` inside the download folder never grades its own outputs (rt20 F8).

The second run of ``grade . --feedback feedback --json results.json`` graded
``feedback/`` as a phantom student (a 0-point ``missing`` row).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.identity import collect_submissions
from tests.grading.test_lms_layouts import GOOD, grade, rows, write


def test_a_second_run_in_the_class_folder_grades_the_same_students(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "dl", {"kim_10061_900061_hw1.py": GOOD, "lee_10062_900062_hw1.py": GOOD})
    monkeypatch.chdir(d)
    outputs = ("--csv", "grades.csv", "--feedback", "feedback", "--json", "results.json", "--gradescope", "gs")
    got = []
    for _ in range(2):
        assert grade(".", "--model", "xor_1layer", "--no-cache", "--quiet", *outputs) == 0
        got.append([(r["student_id"], r["submission"]) for r in rows(d / "grades.csv")])
    assert got[1] == got[0] == [("10061", "kim_10061_900061_hw1.py"), ("10062", "lee_10062_900062_hw1.py")]
    err = capsys.readouterr().err
    assert err.count("not read as submissions: this run's own outputs 'feedback', 'gs'") == 1  # the second run only


def test_an_output_folder_given_among_the_students_is_skipped(tmp_path: Path) -> None:
    d = write(tmp_path / "dl", {"2023001 Kim/hw1.py": GOOD, "feedback/2023001.md": "x", "feedback/old.py": GOOD})
    subs = collect_submissions(sorted(d.iterdir()), skip=[d / "feedback"])
    assert [(s.identity, s.student_id) for s in subs] == [("2023001 Kim", "2023001")]
