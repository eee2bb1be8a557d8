"""A student id is the one the LMS wrote, never one in a part of the name the student chose.

rt26 F1 (a Moodle full name ending ``_55555_assignsubmission_file_`` took a classmate's id),
F2 (a Blackboard file name holding ``_attempt_TIMESTAMP_`` garbled the username), F11 (a file
named with a Canvas id inside a GitHub Classroom folder gave the folder that id).
"""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.identity import DEFAULT_ID_PATTERN, collect_submissions, student_id
from gradcheck.grading.lms import ID_PATTERNS

from tests.grading.test_lms_layouts import GOOD, SCALE, grade, rows, write
from tests.grading.test_rt23_lms import T1, T2

# participant 10001 set his Moodle full name so; 55555 is a classmate
ATTACKER = "Kim Jiwoo_55555_assignsubmission_file_"
PATTERNS = [DEFAULT_ID_PATTERN, ID_PATTERNS["moodle"]]


# -- F1: Moodle ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_moodle_folders_id_is_the_one_that_ends_its_name(tmp_path: Path, pattern: str) -> None:
    d = write(tmp_path / "class", {f"{ATTACKER}_10001_assignsubmission_file_/hw1.py": SCALE,
                                   "Lee Su_55555_assignsubmission_file_/hw1.py": GOOD})
    assert sorted(s.student_id for s in collect_submissions([d], id_pattern=pattern)) == ["10001", "55555"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_digit_run_in_a_moodle_full_name_is_not_the_id(tmp_path: Path, pattern: str) -> None:
    d = write(tmp_path / "class", {"Kim 55555_10001_assignsubmission_file_/hw1.py": GOOD})
    assert [s.student_id for s in collect_submissions([d], id_pattern=pattern)] == ["10001"]


@pytest.mark.parametrize("name", [
    f"{ATTACKER}_10001_assignsubmission_file_hw1.py",  # the full name holds an id
    "Kim_10001_assignsubmission_file_x_55555_assignsubmission_file_hw1.py",  # the file's own name holds one
])
@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_flat_moodle_name_with_two_ids_has_none_and_joins_no_one(tmp_path: Path, name: str, pattern: str) -> None:
    d = write(tmp_path / "class", {name: SCALE, "Lee Su_55555_assignsubmission_file_hw1.py": GOOD})
    subs = {s.identity: s for s in collect_submissions([d], id_pattern=pattern)}
    assert subs[name].student_id == "" and subs[name].path is not None and subs[name].path.name == name
    assert subs["Lee Su_55555_assignsubmission_file_hw1.py"].student_id == "55555"


def test_a_flat_moodle_name_copying_a_classmates_is_not_grouped_with_their_files(tmp_path: Path) -> None:
    lee, mine = "Lee Su_55555_assignsubmission_file_hw1.py", "Lee Su_55555_assignsubmission_file__10001_assignsubmission_file_hw1.py"
    d = write(tmp_path / "class", {lee: GOOD, "Lee Su_55555_assignsubmission_file_notes.txt": "", mine: SCALE})
    subs = {s.identity: s for s in collect_submissions([d])}
    assert set(subs) == {lee, mine}
    assert subs[lee].path is not None and subs[lee].path.name == lee and subs[lee].student_id == "55555"
    assert subs[mine].path is not None and subs[mine].path.name == mine and subs[mine].student_id == ""


def test_the_moodle_import_gets_the_grade_in_the_students_own_row(tmp_path: Path) -> None:
    d = write(tmp_path / "class", {f"{ATTACKER}_10001_assignsubmission_file_/hw1.py": SCALE})
    out = tmp_path / "out"
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "moodle", "--lms-file", out / "m.csv",
                 "--csv", out / "g.csv") == 0
    assert [r["student_id"] for r in rows(out / "g.csv")] == ["10001"]
    assert [(r["Identifier"], r["Full name"]) for r in rows(out / "m.csv")] == [("Participant 10001", ATTACKER)]


def test_a_digit_run_in_a_canvas_name_is_not_the_id() -> None:
    assert student_id("kim55555_10001_70001_hw1.py", DEFAULT_ID_PATTERN) == "10001"
    assert student_id("kim_10001_70001_x_55555_hw1.py", DEFAULT_ID_PATTERN) == "10001"


def test_a_pattern_given_that_finds_no_moodle_id_stands() -> None:
    assert student_id("2023001 Kim_10001_assignsubmission_file_", r"^(\d+)") == "2023001"


# -- F2: Blackboard -----------------------------------------------------------------------------------------------

def test_a_blackboard_id_is_cut_at_the_first_attempt(tmp_path: Path) -> None:
    own = f"kimj_attempt_{T2}_hw1.py"  # the file name choi uploaded
    d = write(tmp_path / "class", {f"HW1_choi_attempt_{T1}_{own}": GOOD, f"HW1_kimj_attempt_{T1}_hw1.py": GOOD,
                                   f"HW1_park_attempt_{T1}_hw1.py": GOOD, f"HW1_choi_attempt_{T1}_x_attempt_{T2}.txt": "mine"})
    subs = {s.student_id: s for s in collect_submissions([d])}
    assert sorted(subs) == ["choi", "kimj", "park"]
    assert subs["choi"].path is not None and subs["choi"].path.name == f"HW1_choi_attempt_{T1}_{own}"
    assert subs["choi"].notes == ("not graded, neither .py nor .ipynb: " f"HW1_choi_attempt_{T1}_x_attempt_{T2}.txt",)


# -- F11: a student's own folder ----------------------------------------------------------------------------------

def test_a_file_named_with_an_id_in_a_folder_without_one_gives_no_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "class", {"hw1-kim/hw1.py": GOOD, "hw1-mallory/lee_55555_70001_hw1.py": SCALE,
                                   "hw1-20230001/kim_20230002_70002_hw1.py": GOOD})
    assert {s.identity: s.student_id for s in collect_submissions([d])} == {"hw1-kim": "", "hw1-mallory": "", "hw1-20230001": "20230001"}
    out = tmp_path / "out"
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", out / "g.csv") == 0
    assert "'hw1-mallory' has no student id" in capsys.readouterr().err
