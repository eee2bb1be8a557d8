"""One student's several files, whatever the layout: an LMS's flat download, a folder, the paths given, Gradescope.

rt16 F15 (Canvas files of one student graded as two students), F17 (the Gradescope
autograder and ``--gradescope FILE.json`` refused an honest hw1.py + helper.py),
F20 (two Blackboard attempts of one student: two rows, no warning).
"""
from __future__ import annotations

import argparse
import csv
import json
import shutil
from pathlib import Path

import pytest

from gradcheck.grading import cli
from gradcheck.grading.autograder import find_submission
from gradcheck.grading.identity import collect_submissions
from gradcheck.grading.lms import ID_PATTERNS

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
SCALE = GOOD.replace("2 * (a - y) / len(y)", "(a - y)")  # half the gradient: 0.5 of each point (xor_1layer: 1 of 2)
# hw1.py holds nothing but the import: every gradient comes from the helper module
USES_HELPER = "from helper import backward\n"


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


# -- Canvas: every uploaded file flat, with the student's prefix -------------------------------------

CANVAS = {
    "kimminji_20001_555001_hw1.py": USES_HELPER,
    "kimminji_20001_555002_helper.py": GOOD,
    # late, and uploaded a second time: Canvas adds late_ and renames helper.py -> helper-1.py
    "leejun_late_20002_555003_hw1-1.py": USES_HELPER,
    "leejun_late_20002_555004_helper-1.py": SCALE,
    "parkseo_20003_555005_hw1.py": GOOD,
}


def test_canvas_files_of_one_student_are_one_submission(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", CANVAS)
    out = tmp_path / "out"
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "canvas", "--lms-file", out / "canvas.csv", "--csv", out / "g.csv") == 0
    got = {r["student_id"]: (r["submission"], r["verdict"], r["score"]) for r in rows(out / "g.csv")}
    assert got == {
        "20001": ("kimminji_20001_555001_hw1.py", "ok", "2"),  # helper.py imported as helper
        "20002": ("leejun_late_20002_555003_hw1-1.py", "ok", "1"),  # helper-1.py imported as helper (its own, SCALE)
        "20003": ("parkseo_20003_555005_hw1.py", "ok", "2"),
    }
    assert [r[:2] + r[5:] for r in csv.reader((out / "canvas.csv").open(encoding="utf-8-sig"))][1:] == [
        ["kimminji", "20001", "2"], ["leejun", "20002", "1"], ["parkseo", "20003", "2"]]
    assert "warning" not in capsys.readouterr().err


def test_canvas_reupload_is_graded_and_the_older_file_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rt19 F10: Canvas renames a second upload of xor_1layer.py to xor_1layer-1.py; the template's name picked the older one silently
    d = write(tmp_path / "canvas", {"leejun_20002_555002_xor_1layer.py": SCALE, "leejun_LATE_20002_555099_xor_1layer-1.py": GOOD,
                                    "kim_20001_555003_hw1.py": SCALE, "kim_20001_555004_hw1-1.py": SCALE, "kim_20001_555005_hw1-2.py": GOOD})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    got = {r["student_id"]: (r["submission"], r["score"]) for r in rows(tmp_path / "g.csv")}
    assert got == {"20001": ("kim_20001_555005_hw1-2.py", "2"), "20002": ("leejun_LATE_20002_555099_xor_1layer-1.py", "2")}
    err = capsys.readouterr().err
    assert "older attempts not graded: leejun_20002_555002_xor_1layer.py" in err
    assert "older attempts not graded: kim_20001_555003_hw1.py, kim_20001_555004_hw1-1.py" in err
    # the assignment names the file: its newest upload is graded
    c2 = write(tmp_path / "c2", {"leejun_20002_555002_hw1.py": SCALE, "leejun_20002_555099_hw1-1.py": GOOD})
    (sub,) = collect_submissions([c2], file_pattern="hw1.py")
    assert sub.path is not None and sub.path.name == "leejun_20002_555099_hw1-1.py" and sub.superseded == ("leejun_20002_555002_hw1.py",)


def test_a_name_that_mimics_another_student_is_not_merged_with_them(tmp_path: Path) -> None:
    d = write(tmp_path / "canvas", {"kimminji_20001_555001_hw1.py": GOOD, "choiyu_20005_555005_kimminji_20001_555001_hw1.py": GOOD})
    subs = collect_submissions([d])
    assert sorted((s.identity, s.student_id) for s in subs) == [
        ("choiyu_20005_555005_kimminji_20001_555001_hw1.py", "20005"), ("kimminji_20001_555001_hw1.py", "20001")]


def test_moodle_flat_download_is_grouped_too(tmp_path: Path) -> None:
    d = write(tmp_path / "moodle", {"Kim Minji_3001_assignsubmission_file_hw1.py": USES_HELPER,
                                    "Kim Minji_3001_assignsubmission_file_helper.py": GOOD})
    (sub,) = collect_submissions([d], id_pattern=r"_(\d+)_assignsubmission_")
    assert (sub.identity, sub.student_id, sub.helper_names) == ("Kim Minji_3001_assignsubmission_file_hw1.py", "3001", ("helper.py",))



# Canvas's own naming (instructure/canvas-lms lib/content_zipper.rb, get_filename and
# add_upload_submission): [sortable name downcased, "LATE" when late, user id] joined by "_", or
# "anon_ANONYMOUSID" instead of name and id when the assignment is graded anonymously, then
# "_FILEID_FILE".  So LATE follows the name, or comes first in an anonymous download.
CANVAS_FORMS = {
    "late after the name": {"ohsena_LATE_30001_700001_hw1.py": USES_HELPER, "ohsena_LATE_30001_700002_helper.py": GOOD},
    "late first (anonymous download)": {"LATE_anon_q7Rm2_700003_hw1.py": USES_HELPER, "LATE_anon_q7Rm2_700004_helper.py": GOOD},
    "anonymous": {"anon_Zt4Kx_700005_hw1.py": USES_HELPER, "anon_Zt4Kx_700006_helper.py": GOOD},
    "late first, lower case (a renamed download)": {"late_yunha_30002_700007_hw1.py": USES_HELPER, "late_yunha_30002_700008_helper.py": GOOD},
}


@pytest.mark.parametrize("form", CANVAS_FORMS)
def test_every_canvas_name_form_groups_a_students_files(tmp_path: Path, form: str) -> None:
    d = write(tmp_path / "canvas", CANVAS_FORMS[form])
    (sub,) = collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])
    assert sub.path is not None and sub.path.name.endswith("_hw1.py")
    assert sub.helper_names == ("helper.py",)
    # the user id when Canvas wrote one; an anonymous id is no user id for the import
    assert sub.student_id == {"late after the name": "30001", "late first, lower case (a renamed download)": "30002"}.get(form, "")


def test_a_file_left_out_of_the_lms_import_fails_the_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", {"late_yunha_30002_700007_hw1.py": USES_HELPER, "late_yunha_30002_700008_helper.py": GOOD,
                                    "hw1 (copy).py": GOOD})
    out = tmp_path / "out"
    status = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "canvas", "--lms-file", out / "canvas.csv", "--csv", out / "g.csv")
    assert sorted((r["student_id"], r["score"]) for r in rows(out / "g.csv")) == [("", "2"), ("30002", "2")]
    assert [r[:2] + r[5:] for r in csv.reader((out / "canvas.csv").open(encoding="utf-8-sig"))][1:] == [["yunha", "30002", "2"]]
    err = capsys.readouterr().err
    assert status == 1 and "'hw1 (copy).py' has no student id" in err and "left out of the canvas file" in err and "name_[LATE_]userid_fileid_FILE" in err


# -- Blackboard: attempts ----------------------------------------------------------------------------

BB = {
    "Homework 1_s2023001_attempt_2026-11-30-11-00-00_hw1.py": SCALE,
    "Homework 1_s2023001_attempt_2026-12-01-09-00-00_hw1.py": GOOD,
    "Homework 1_s2023001_attempt_2026-12-01-09-00-00.txt": "Name: S\n",
    "Homework 1_s2023002_attempt_2026-11-30-10-00-00_hw1.py": USES_HELPER,
    "Homework 1_s2023002_attempt_2026-11-30-10-00-00_helper.py": SCALE,
}


def test_blackboard_grades_the_latest_attempt_and_names_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "bb", BB)
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    got = [(r["student_id"], r["submission"], r["score"]) for r in rows(tmp_path / "g.csv")]
    assert got == [("2023001", "Homework 1_s2023001_attempt_2026-12-01-09-00-00_hw1.py", "2"),
                   ("2023002", "Homework 1_s2023002_attempt_2026-11-30-10-00-00_hw1.py", "1")]
    err = capsys.readouterr().err
    assert "older attempts not graded: Homework 1_s2023001_attempt_2026-11-30-11-00-00_hw1.py" in err


def test_one_student_id_on_two_rows_is_warned_about(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "class", {"2023001_hw1.py": GOOD, "2023001_hw1 (1).py": SCALE})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    assert len(rows(tmp_path / "g.csv")) == 2
    assert "student id 2023001 has 2 submissions ('2023001_hw1 (1).py', '2023001_hw1.py')" in capsys.readouterr().err


# -- one rule: a folder, the paths given, Gradescope -------------------------------------------------

LAYOUTS = {
    "helper": ({"hw1.py": USES_HELPER, "helper.py": GOOD}, None, "hw1.py"),
    "template name": ({"xor_1layer.py": GOOD, "scratch.py": "x = 1\n"}, None, "xor_1layer.py"),
    "named by the assignment": ({"hw1.py": GOOD, "old.ipynb": "{}"}, "hw1.py", "hw1.py"),
    "ambiguous": ({"a.py": GOOD, "b.py": GOOD}, None, None),
    "no match": ({"a.py": GOOD}, "hw1.py", None),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_the_folder_grader_and_the_gradescope_autograder_choose_alike(tmp_path: Path, layout: str) -> None:
    files, pattern, expected = LAYOUTS[layout]
    d = write(tmp_path / "submission", files)
    (folder,) = collect_submissions([d], file_pattern=pattern, model="xor_1layer", single=True)
    gs = find_submission(d, model="xor_1layer", file_pattern=pattern)
    assert (folder.path.name if folder.path else None) == (gs.path.name if gs.path else None) == expected
    assert sorted(f.name for f in folder.extra_files) == sorted(f.name for f in gs.helpers)


def test_gradescope_file_grades_the_paths_given_as_one_student(tmp_path: Path) -> None:
    d = write(tmp_path / "gsx", {"hw1.py": USES_HELPER, "helper.py": GOOD})
    target = tmp_path / "results" / "results.json"
    assert grade(d / "hw1.py", d / "helper.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--gradescope", target) == 0
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["score"] == 2 and data["extra_data"]["submission"].endswith("hw1.py")


def test_gradescope_file_is_written_when_the_run_stops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "results" / "results.json"
    assert grade(tmp_path / "missing.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--gradescope", target) == 2
    assert "no such file or directory" in capsys.readouterr().err
    data = json.loads(target.read_text(encoding="utf-8"))
    assert data["score"] == 0 and "autograder itself failed" in data["output"] and "missing.py" in data["output"]


@pytest.mark.slow
def test_run_autograder_grades_a_helper_module_submission(tmp_path: Path) -> None:
    from gradcheck.grading.autograder import run_gradescope

    root = tmp_path / "autograder"
    write(root / "submission", {"hw1.py": USES_HELPER, "helper.py": GOOD})
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n', encoding="utf-8")
    shutil.rmtree(root / "results", ignore_errors=True)
    data = json.loads(run_gradescope(root, tmp_path / "a.toml").read_text(encoding="utf-8"))
    assert data["score"] == 2 and data["extra_data"]["submission"] == "hw1.py"


def test_a_refusal_names_only_the_real_candidates_and_the_helpers_it_recognised(tmp_path: Path) -> None:
    # rt17 F18: two copies of the homework both import the helper; the helper is no candidate
    d = write(tmp_path / "gs", {"hw1.py": USES_HELPER, "hw1_before.py": USES_HELPER, "helper.py": GOOD})
    (sub,) = collect_submissions([d / "hw1.py", d / "hw1_before.py", d / "helper.py"], single=True)
    assert sub.path is None
    assert "candidate files in the files given: hw1.py, hw1_before.py;" in sub.problem
    assert "helper.py (imported by another file: a helper module)" in sub.problem
    gs = find_submission(d, model="xor_1layer")
    assert gs.path is None and gs.candidates == ("hw1.py", "hw1_before.py") and gs.helper_modules == ("helper.py",)


# -- Moodle in folders: one folder per submission plugin -----------------------------------------------


def test_moodle_file_and_online_text_folders_are_one_student(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rt19 F15: Moodle writes Name_ID_assignsubmission_file_/ and Name_ID_assignsubmission_onlinetext_/onlinetext.html
    # (mod/assign/locallib.php); the student was graded twice and the whole moodle file refused
    d = write(tmp_path / "moodle", {"Kim Minsu_1001_assignsubmission_file_/hw1.py": USES_HELPER,
                                    "Kim Minsu_1001_assignsubmission_file_/helper.py": GOOD,
                                    "Kim Minsu_1001_assignsubmission_onlinetext_/onlinetext.html": "<p>see my file</p>",
                                    "Lee Jiwoo_1002_assignsubmission_file_/hw1.py": SCALE,
                                    "Park Su_1003_assignsubmission_onlinetext_/onlinetext.html": "<p>forgot the file</p>"})
    out = tmp_path / "out"
    status = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "moodle", "--lms-file", out / "m.csv", "--csv", out / "g.csv")
    got = [(r["student_id"], r["submission"], r["score"]) for r in rows(out / "g.csv")]
    assert got == [("1001", "Kim Minsu_1001_assignsubmission_file_", "2"), ("1002", "Lee Jiwoo_1002_assignsubmission_file_", "1"),
                   ("1003", "Park Su_1003_assignsubmission_onlinetext_", "0")]
    assert [r[:2] + r[3:4] for r in csv.reader((out / "m.csv").open(encoding="utf-8-sig"))][1:] == [
        ["Participant 1001", "Kim Minsu", "2"], ["Participant 1002", "Lee Jiwoo", "1"], ["Participant 1003", "Park Su", "0"]]
    err = capsys.readouterr().err
    assert status == 0
    assert "'Kim Minsu_1001_assignsubmission_onlinetext_' not graded: Moodle's online text" in err
    assert "'Park Su_1003_assignsubmission_onlinetext_' not graded: Moodle's online text" in err


# -- students without an id: every one named, with why and what to do ------------------------------------


def test_anonymous_canvas_files_are_named_with_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", {"anon_Zk3Qp_900023_hw1.py": GOOD, "LATE_anon_12362_900022_hw1.py": GOOD, "kim_20001_900001_hw1.py": GOOD})
    out = tmp_path / "out"
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "canvas", "--lms-file", out / "c.csv") == 1
    err = capsys.readouterr().err
    for name in ("anon_Zk3Qp_900023_hw1.py", "LATE_anon_12362_900022_hw1.py"):
        line = next(x for x in err.splitlines() if repr(name) in x)
        assert "has no student id" in line and "anonymous" in line and "de-anonymise" in line and "left out of the canvas file" in line


def test_a_class_without_ids_is_said_once_naming_the_students(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rt19 F17: empty student ids, exit 0 and not a word; now one line names them with the --id-pattern that finds them (still exit 0: no import file)
    d = write(tmp_path / "class", {"hw1-kim/hw1.py": GOOD, "hw1-lee/hw1.py": GOOD})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "student id" in x]
    assert len(lines) == 1 and "none of the 2 submissions has a student id" in lines[0] and "--id-pattern REGEX" in lines[0]
    assert all(repr(sub.identity) in lines[0] for sub in collect_submissions([d]))
    found = sorted(s.student_id for s in collect_submissions([d], id_pattern="^hw1-(.+)$"))  # the suggested pattern does find them
    assert found == ["kim", "lee"]


def test_blackboard_usernames_are_ids_without_a_pattern(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rt23 F4: Blackboard's usernames are read built in (rt19 F17 needed an --id-pattern, which cut kim_j to j)
    d = write(tmp_path / "class", {"HW1_kim123_attempt_2026-11-30-23-59-00_hw1.py": GOOD, "HW1_lee55_attempt_2026-11-29-09-00-00_hw1.py": GOOD})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    assert "student id" not in capsys.readouterr().err
    assert [r["student_id"] for r in rows(tmp_path / "g.csv")] == ["kim123", "lee55"]


def test_a_large_class_without_ids_is_one_line_and_a_student_without_one_among_ids_is_named(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # a folder of 8 plain names: one warning (5 named, 3 counted), not 8; among files with ids, the odd one out is named
    d = write(tmp_path / "plain", {f"student{c}.py": GOOD for c in "abcdefgh"})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "student id" in x]
    assert len(lines) == 1 and "none of the 8 submissions" in lines[0] and "and 3 more" in lines[0]
    assert "'studenta.py'" in lines[0] and "'studenth.py'" not in lines[0]
    d = write(tmp_path / "mixed", {"20001_kim.py": GOOD, "20002_lee.py": GOOD, "park.py": GOOD})
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "m.csv") == 0
    lines = [x for x in capsys.readouterr().err.splitlines() if "student id" in x]
    assert len(lines) == 1 and "'park.py' has no student id" in lines[0]


# -- Moodle without folders: every plugin's files flat, Name_ID_assignsubmission_PLUGIN_FILE -----------------
# mod/assign/locallib.php (download_submissions, "downloadasfolders" off): clean_filename(prefix . '_' . subtype
# . '_' . type . '_' . name); assignsubmission_onlinetext's get_files gives 'onlinetext.html' (its
# 'onlinetextfilename' string) and the files embedded in the text under their own names.


def test_moodle_flat_online_text_is_named_as_in_the_folder_layout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "moodle", {"Kim Minsu_1001_assignsubmission_file_hw1.py": USES_HELPER,
                                    "Kim Minsu_1001_assignsubmission_file_helper.py": GOOD,
                                    "Kim Minsu_1001_assignsubmission_onlinetext_onlinetext.html": "<p>see my file</p>",
                                    "Lee Jiwoo_1002_assignsubmission_file_hw1.py": SCALE,
                                    "Park Su_1003_assignsubmission_onlinetext_onlinetext.html": "<p>forgot the file</p>",
                                    # a .py embedded in the online text is part of the text, as in the folder layout
                                    "Park Su_1003_assignsubmission_onlinetext_hw1.py": GOOD})
    out = tmp_path / "out"
    status = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "moodle", "--lms-file", out / "m.csv", "--csv", out / "g.csv")
    got = [(r["student_id"], r["score"]) for r in rows(out / "g.csv")]
    assert got == [("1001", "2"), ("1002", "1"), ("1003", "0")]  # Park Su is a row, never silently absent
    assert [r[0] for r in csv.reader((out / "m.csv").open(encoding="utf-8-sig"))][1:] == [
        "Participant 1001", "Participant 1002", "Participant 1003"]
    err = capsys.readouterr().err
    assert status == 0
    for name in ("Kim Minsu_1001_assignsubmission_onlinetext_onlinetext.html", "Park Su_1003_assignsubmission_onlinetext_onlinetext.html",
                 "Park Su_1003_assignsubmission_onlinetext_hw1.py"):
        assert f"{name!r} not graded: Moodle's online text" in err
    park = next(line for line in err.splitlines() if "Park Su_1003_assignsubmission_onlinetext_onlinetext.html' not graded" in line)
    assert "was not graded: no .py or .ipynb file" in park and "is graded" not in park


def test_moodle_flat_student_with_one_file_and_online_text_is_one_submission(tmp_path: Path) -> None:
    d = write(tmp_path / "moodle", {"Kim Minsu_1001_assignsubmission_file_hw1.py": GOOD,
                                    "Kim Minsu_1001_assignsubmission_onlinetext_onlinetext.html": "<p>hi</p>"})
    (sub,) = collect_submissions([d], id_pattern=ID_PATTERNS["moodle"])
    assert sub.path is not None and sub.path.name == "Kim Minsu_1001_assignsubmission_file_hw1.py" and sub.student_id == "1001"
    assert sub.notes == ("'Kim Minsu_1001_assignsubmission_onlinetext_onlinetext.html' not graded: Moodle's online text "
                         "(only .py and .ipynb files are graded; read it yourself)",)


# Canvas never writes "anon_LATE_" (content_zipper.rb get_filename: [name, "LATE", id] with id "anon_ANONID"
# and no name when anonymous, so "LATE_anon_"); a renamed download may.  It must never be split as anonymous id
# "LATE" (every late anonymous student one submission) nor as user "anon" with user id = the anonymous id
# (five base58 characters; "anon_LATE_40771", with a 0, is the late user 40771 named "anon": test_canvas_names.py).
def test_anon_late_order_is_read_as_an_anonymous_late_file(tmp_path: Path) -> None:
    d = write(tmp_path / "canvas", {"anon_LATE_12362_900023_hw1.py": USES_HELPER, "anon_LATE_12362_900024_helper.py": GOOD,
                                    "anon_LATE_4Q7x1_900031_hw1.py": USES_HELPER, "anon_LATE_4Q7x1_900032_helper.py": SCALE,
                                    "anon_late_Zk3Qp_900041_hw1.py": GOOD})
    subs = collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])
    got = sorted((s.path.name if s.path else None, s.helper_names, s.student_id) for s in subs)
    assert got == [("anon_LATE_12362_900023_hw1.py", ("helper.py",), ""), ("anon_LATE_4Q7x1_900031_hw1.py", ("helper.py",), ""),
                   ("anon_late_Zk3Qp_900041_hw1.py", (), "")]


# -- Canvas's -N inside a student's folder ----------------------------------------------------------------------
# Canvas (app/models/attachment.rb make_unique_filename) renames a second upload of hw1.py to hw1-1.py, and
# only its flat download shows that name, prefixed (lib/content_zipper.rb).  A folder of one student's files
# under Canvas's own names (the download sorted into folders) is graded as the flat download is; bare names
# in a folder are the student's own (Moodle renames to "hw1 (1).py", git and Gradescope keep names), so
# hw1-1.py there may be part 1-1 and is never taken for a re-upload.


def test_a_folder_of_canvas_named_files_grades_the_newest_upload_and_names_the_older(tmp_path: Path,
                                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "class", {"20001-kimminji/kimminji_20001_555001_hw1.py": SCALE, "20001-kimminji/kimminji_20001_555007_hw1-1.py": USES_HELPER,
                                   "20001-kimminji/kimminji_20001_555008_helper.py": GOOD,
                                   "20002-leejun/leejun_LATE_20002_555003_hw1.py": GOOD})
    # the ids are the folders' (rt26 F11: never the names of the files in a student's folder)
    subs = {s.identity: s for s in collect_submissions([d], id_pattern=r"^(\d+)-")}
    kim = subs["20001-kimminji"]
    assert kim.path is not None and kim.path.name == "kimminji_20001_555007_hw1-1.py" and kim.student_id == "20001"
    assert kim.superseded == ("kimminji_20001_555001_hw1.py",) and kim.helper_names == ("helper.py",)
    assert subs["20002-leejun"].student_id == "20002"
    out = tmp_path / "out"
    status = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "canvas", "--id-pattern", r"^(\d+)-", "--lms-file", out / "c.csv", "--csv", out / "g.csv")
    assert status == 0
    assert [(r["submission"], r["student_id"], r["score"]) for r in rows(out / "g.csv")] == [("20001-kimminji", "20001", "2"), ("20002-leejun", "20002", "2")]
    assert "'20001-kimminji' is the student's latest attempt; older attempts not graded: kimminji_20001_555001_hw1.py" in capsys.readouterr().err


def test_bare_dash_n_names_in_a_folder_are_refused_saying_why(tmp_path: Path) -> None:
    d = write(tmp_path / "class", {"kim/hw1.py": GOOD, "kim/hw1-1.py": SCALE})
    (sub,) = collect_submissions([d])
    assert sub.path is None and sub.problem is not None
    assert "several candidate files in 'kim': hw1-1.py, hw1.py" in sub.problem
    assert "hw1-1.py is not taken for a re-upload of hw1.py" in sub.problem


# -- identical files: every file a submission loads, not only the graded one --------------------------------------

HELPER_A = '''
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
'''
# the same code, renamed file, other comments and layout: the normalised source is the same
HELPER_B = "# my own work\nimport numpy as np\n\ndef backward(params,x,y):\n    z=x@params['W1']+params['b1']  # z\n" \
           "    a=1/(1+np.exp(-z))\n    d=2*(a-y)/len(y)*a*(1-a)\n    return {'W1':x.T@d,'b1':d.sum(0,keepdims=True)}\n"


def test_a_helper_module_copied_between_students_is_named_with_both_students_and_the_file(tmp_path: Path) -> None:
    d = write(tmp_path / "class", {"kim_20001/hw1.py": "from helper import backward\n", "kim_20001/helper.py": HELPER_A,
                                   "lee_20002/hw1.py": "from utils import backward  # mine\nX = 1\n", "lee_20002/utils.py": HELPER_B,
                                   "park_20003/hw1.py": "import consts\n" + GOOD, "park_20003/consts.py": "",
                                   "choi_20004/hw1.py": "import consts\n" + SCALE, "choi_20004/consts.py": "\n"})  # empty modules are no copied code
    out = tmp_path / "out"
    status = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--summary", out / "s.md", "--json", out / "r.json",
                   "--report", out / "r.html")
    assert status == 0
    summary = (out / "s.md").read_text(encoding="utf-8")
    assert "| kim_20001 (helper.py), lee_20002 (utils.py) | 2 |" in summary
    assert "| kim_20001 | identical to another submission |" in summary and "| lee_20002 | identical to another submission |" in summary
    assert "park_20003" not in summary.split("## Identical")[1] and "| park_20003 | identical" not in summary
    html = (out / "r.html").read_text(encoding="utf-8")
    assert "helper.py: The same file as lee_20002 (utils.py)." in html and "utils.py: The same file as kim_20001 (helper.py)." in html


def test_a_file_handed_out_to_the_class_is_named_once_and_flags_nobody() -> None:
    from gradcheck.grading.gradebook import class_summary, needs_review
    from gradcheck.grading.results import SubmissionResult

    def result(name: str, own: str, helpers: tuple[tuple[str, str], ...]) -> SubmissionResult:
        return SubmissionResult(name, "m", 0, 1.0, 1.0, source_hash=own, helper_hashes=helpers)

    # every student kept the course's utils.py (hash "u"); a and b also share plot.py ("p")
    rs = [result("a", "1", (("utils.py", "u"), ("plot.py", "p"))), result("b", "2", (("utils.py", "u"), ("plot.py", "p"))),
          result("c", "3", (("utils.py", "u"),)), result("d", "4", (("utils.py", "u"),)), result("e", "5", ())]
    assert [(r.submission, why) for r, why in needs_review(rs)] == [("a", "identical"), ("b", "identical")]
    assert class_summary(rs).identical == (("utils.py in 4 of 5 submissions: the same file, handed out? (not flagged for review)",),
                                           ("a (plot.py)", "b (plot.py)"))


# Canvas's text entry and website URL (lib/content_zipper.rb add_text_or_url: "#{called}_text.html" and
# "#{called}_link.html", with get_filename's name_[LATE_]id or [LATE_]anon_ID, no file id) were skipped silently.
def test_canvas_text_entry_and_url_are_named_and_the_student_is_a_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", {"kim_20001_555001_hw1.py": GOOD, "lee_20002_text.html": "<p>my code is below</p>",
                                    "park_LATE_20003_link.html": "<a href='https://colab.example/x'>", "anon_Zk3Qp_text.html": "<p>x</p>"})
    subs = {s.identity: s for s in collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])}
    assert sorted(subs) == ["anon_Zk3Qp_text.html", "kim_20001_555001_hw1.py", "lee_20002_text.html", "park_LATE_20003_link.html"]
    assert subs["lee_20002_text.html"].path is None and subs["lee_20002_text.html"].student_id == "20002"
    assert subs["lee_20002_text.html"].notes == ("'lee_20002_text.html' not graded: Canvas's text entry "
                                                 "(only .py and .ipynb files are graded; read it yourself)",)
    assert subs["park_LATE_20003_link.html"].notes == ("'park_LATE_20003_link.html' not graded: Canvas's website URL "
                                                       "(only .py and .ipynb files are graded; read it yourself)",)
    out = tmp_path / "out"
    grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--lms", "canvas", "--lms-file", out / "c.csv", "--csv", out / "g.csv")
    assert [(r["student_id"], r["score"]) for r in rows(out / "g.csv")] == [("", "0"), ("20001", "2"), ("20002", "0"), ("20003", "0")]
    err = capsys.readouterr().err
    assert "'lee_20002_text.html' was not graded: no .py or .ipynb file in the files of canvas student 20002; " \
           "'lee_20002_text.html' not graded: Canvas's text entry" in err


# -- files that are not code: named with the student, never a student silently absent -----------------------------


def test_files_that_are_not_code_are_named_and_a_student_with_none_is_a_row(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "canvas", {"kim_20001_555001_hw1.py": GOOD, "kim_20001_555002_report.pdf": "%PDF",
                                    "lee_20002_555003_hw1.zip": "PK",  # a zip handed in: not unpacked, so not graded
                                    "notes.txt": "the instructor's own file, nobody's submission"})
    subs = {s.identity: s for s in collect_submissions([d], id_pattern=ID_PATTERNS["canvas"])}
    assert sorted(subs) == ["kim_20001_555001_hw1.py", "lee_20002_555003_hw1.zip"]
    assert subs["kim_20001_555001_hw1.py"].notes == ("not graded, neither .py nor .ipynb: kim_20001_555002_report.pdf",)
    lee = subs["lee_20002_555003_hw1.zip"]
    assert lee.path is None and lee.student_id == "20002"
    assert lee.notes == ("not graded, neither .py nor .ipynb: lee_20002_555003_hw1.zip (a .zip is not unpacked: unpack it and grade again)",)
    f = write(tmp_path / "folders", {"park/hw1.py": GOOD, "park/README.md": "# hw1", "park/data/x.csv": "1,2"})
    (park,) = collect_submissions([f])
    assert park.path is not None and park.notes == ("not graded, neither .py nor .ipynb: README.md, data/x.csv",)
