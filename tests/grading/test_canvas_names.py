"""Canvas's download names read as Canvas writes them (rt20 F9).

instructure/canvas-lms ``lib/content_zipper.rb`` (``get_filename``): the file
is ``[sortable name downcased, "LATE" when late, id]`` joined by ``_``, the id
being the user id, or ``anon_`` + the anonymous id when the assignment is
graded anonymously (no name then); the anonymous id is
``SecureRandom.base58(5)`` (``lib/anonymity.rb``): five characters, never
``0``, ``O``, ``I`` or ``l``.  So ``anon_10042_...`` (a 0 in it) is the user
10042 whose name is "anon", and ``late_LATE_10043_...`` the late user 10043
whose name is "late".  The names and ids below are what those rules give,
written by hand.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path

from gradcheck.grading.identity import collect_submissions
from gradcheck.grading.lms import ID_PATTERNS, render_lms
from gradcheck.grading.results import SubmissionResult
from tests.grading.test_lms_layouts import GOOD, write


def _canvas_rows(subs: list, title: str = "HW1") -> list[list[str]]:
    results = [SubmissionResult(s.identity, "m", 0, 1.0, 2.0, student_id=s.student_id) for s in subs]
    text, skipped = render_lms(results, "canvas", title=title)
    assert skipped == []
    return [row[:2] for row in csv.reader(io.StringIO(text))][1:]


def test_a_student_named_anon_or_late_is_read_as_canvas_writes_them(tmp_path: Path) -> None:
    d = write(tmp_path / "canvas", {"anon_10042_900042_hw1.py": GOOD, "late_LATE_10043_900043_hw1.py": GOOD,
                                    "anon_LATE_40771_900044_hw1.py": GOOD, "kim_20001_900001_hw1.py": GOOD})
    subs = collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])
    assert _canvas_rows(subs) == [["anon", "10042"], ["anon", "40771"], ["kim", "20001"], ["late", "10043"]]


def test_a_real_anonymous_id_stays_anonymous(tmp_path: Path) -> None:
    d = write(tmp_path / "canvas", {"anon_Zk3Qp_900023_hw1.py": GOOD, "LATE_anon_12362_900022_hw1.py": GOOD})
    assert [s.student_id for s in collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])] == ["", ""]


def test_a_name_no_lms_writes_is_shown_whole(tmp_path: Path) -> None:
    # GitHub Classroom's hw1-USER folders with --id-pattern '^hw1-(.+)$': the Student column was "hw1-" for everyone
    d = write(tmp_path / "classroom", {"hw1-kimji/hw1.py": GOOD, "hw1-leesu/hw1.py": GOOD})
    subs = collect_submissions([d], id_pattern=r"^hw1-(.+)$")
    assert _canvas_rows(subs) == [["hw1-kimji", "kimji"], ["hw1-leesu", "leesu"]]
