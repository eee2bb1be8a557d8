"""Moodle's ``Feedback comments``: the score and the main diagnosis, or why nothing was graded (rt20 F10).

The column was always empty, even on 0-point rows, and the feedback of a
student who wrote only online text did not say the online text is not graded.
"""
from __future__ import annotations

import csv
from pathlib import Path

from tests.grading.test_lms_layouts import GOOD, SCALE, grade, write


def test_every_worksheet_row_says_the_score_and_why(tmp_path: Path) -> None:
    d = write(tmp_path / "moodle", {"Kim Minsu_1001_assignsubmission_file_/hw1.py": GOOD,
                                    "Lee Jiwoo_1002_assignsubmission_file_/hw1.py": SCALE,
                                    "Park Su_1003_assignsubmission_onlinetext_/onlinetext.html": "<p>forgot the file</p>"})
    out = tmp_path / "out"
    grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "moodle", "--lms-file", out / "m.csv", "--feedback", out / "fb")
    comments = {r["Identifier"]: r["Feedback comments"] for r in csv.DictReader((out / "m.csv").open(encoding="utf-8-sig"))}
    assert comments["Participant 1001"].startswith("2/2")
    assert comments["Participant 1002"].startswith("1/2: ")  # SCALE: half the gradient, 1 of 2 points
    assert "the factor" in comments["Participant 1002"] or "times" in comments["Participant 1002"]
    assert comments["Participant 1003"].startswith("0/2: no .py or .ipynb file in 'Park Su_1003_assignsubmission_onlinetext_'")
    assert "Moodle's online text" in comments["Participant 1003"]
    assert all("\n" not in c and len(c) < 400 for c in comments.values())
    assert "Moodle's online text" in (out / "fb" / "1003.md").read_text(encoding="utf-8")
