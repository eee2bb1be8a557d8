"""Student files or folders given one by one (``grade downloads/*``) read as their folder is (rt20 F2).

A shell glob, or a few students' folders, named each student's entry of the
class folder; each was read as a class of its own: a Moodle student with only
online text had no row and no warning, the others lost their ids (an empty
Moodle import), and Canvas files of one student (a helper module, an older
upload) became rows of their own.  The expected gradebooks are the ones the
class folder gives, written out by hand here, and the glob form must give the
same bytes.
"""
from __future__ import annotations

import csv
from pathlib import Path

import pytest

from gradcheck.grading.identity import collect_submissions
from gradcheck.grading.lms import ID_PATTERNS
from tests.grading.test_lms_layouts import GOOD, HELPER_GOOD, SCALE, USES_HELPER, grade, rows, write

CANVAS = {
    "kimminji_20001_555001_hw1.py": USES_HELPER,
    "kimminji_20001_555002_helper.py": HELPER_GOOD,
    "choiwoo_20004_555006_hw1.py": SCALE,  # the older upload
    "choiwoo_20004_555007_hw1-1.py": GOOD,  # the newest: graded
    "parkseo_20003_555005_hw1.py": GOOD,
}
MOODLE = {
    "Kim Minsu_1001_assignsubmission_file_/hw1.py": USES_HELPER,
    "Kim Minsu_1001_assignsubmission_file_/helper.py": HELPER_GOOD,
    "Lee Jiwoo_1002_assignsubmission_file_/hw1.py": SCALE,
    "Park Su_1003_assignsubmission_onlinetext_/onlinetext.html": "<p>forgot the file</p>",
}


def _both(tmp_path: Path, d: Path, lms: str, err: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    """Grade ``d`` as a folder and as its entries; the outputs must be the same bytes (returns what the CSV holds)."""
    outs = []
    for form, paths in (("folder", [d]), ("glob", sorted(d.iterdir()))):
        out = tmp_path / form
        grade(*paths, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", lms, "--lms-file", out / "lms.csv",
              "--csv", out / "g.csv", "--feedback", out / "fb")
        outs.append(((out / "g.csv").read_bytes(), (out / "lms.csv").read_bytes(),
                     sorted(p.name for p in (out / "fb").iterdir()), err.readouterr().err))
    assert outs[1] == outs[0]
    return [(r["student_id"], r["submission"], r["score"]) for r in rows(tmp_path / "glob" / "g.csv")]


def test_canvas_files_given_one_by_one_are_grouped_as_in_their_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", CANVAS)
    got = _both(tmp_path, d, "canvas", capsys)
    assert got == [("20004", "choiwoo_20004_555007_hw1-1.py", "2"), ("20001", "kimminji_20001_555001_hw1.py", "2"),
                   ("20003", "parkseo_20003_555005_hw1.py", "2")]
    lms = [r[:2] + r[5:] for r in csv.reader((tmp_path / "glob" / "lms.csv").open(encoding="utf-8-sig"))][1:]
    assert lms == [["choiwoo", "20004", "2"], ["kimminji", "20001", "2"], ["parkseo", "20003", "2"]]


def test_moodle_folders_given_one_by_one_keep_every_student_and_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "moodle", MOODLE)
    got = _both(tmp_path, d, "moodle", capsys)
    assert got == [("1001", "Kim Minsu_1001_assignsubmission_file_", "2"), ("1002", "Lee Jiwoo_1002_assignsubmission_file_", "1"),
                   ("1003", "Park Su_1003_assignsubmission_onlinetext_", "0")]


def test_an_online_text_folder_given_alone_is_a_refused_row(tmp_path: Path) -> None:
    d = write(tmp_path / "moodle", MOODLE)
    (sub,) = collect_submissions([d / "Park Su_1003_assignsubmission_onlinetext_"], id_pattern=ID_PATTERNS["moodle"])
    assert (sub.identity, sub.student_id, sub.path) == ("Park Su_1003_assignsubmission_onlinetext_", "1003", None)
    assert "Moodle's online text" in " ".join(sub.notes)


def test_folders_named_with_an_id_are_students_and_class_folders_stay_classes(tmp_path: Path) -> None:
    write(tmp_path / "dl", {"2023001 Kim/hw1.py": GOOD, "2023001 Kim/helper.py": HELPER_GOOD, "2023002 Lee/hw1.py": GOOD})
    subs = collect_submissions(sorted((tmp_path / "dl").iterdir()), model="hw1")
    assert [(s.identity, s.student_id) for s in subs] == [("2023001 Kim", "2023001"), ("2023002 Lee", "2023002")]
    # two section folders (no id in their names, students inside): each read as a class, as before
    write(tmp_path / "sec", {"a/0042_kim.py": GOOD, "b/0043_lee.py": GOOD})
    subs = collect_submissions([tmp_path / "sec" / "a", tmp_path / "sec" / "b"])
    assert [(s.identity, s.student_id) for s in subs] == [("0042_kim.py", "0042"), ("0043_lee.py", "0043")]


def test_a_file_no_lms_named_among_the_glob_keeps_the_folder_reading(tmp_path: Path) -> None:
    # rt20 classA: one file not under Canvas's names made every identity a path, unlike grade FOLDER
    d = write(tmp_path / "canvas", {**CANVAS, "anon_xK3pQ9_900029_hw1.py": GOOD, "stray.py": GOOD})
    folder = [(s.identity, s.student_id) for s in collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])]
    glob = [(s.identity, s.student_id) for s in collect_submissions(sorted(d.iterdir()), id_pattern=ID_PATTERNS["canvas"])]
    assert glob == folder
    assert ("stray.py", "") in glob and ("kimminji_20001_555001_hw1.py", "20001") in glob
