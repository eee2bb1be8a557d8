"""rt23's LMS and submission findings: the graded file (F3), Blackboard usernames (F4, F6),
long non-ASCII names (F5) and a class zip given as the folder (F7)."""
from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from gradcheck.grading.assignment import parse_assignment
from gradcheck.grading.autograder import _why, find_submission
from gradcheck.grading.identity import Submission, collect_submissions, output_names, safe_name

from tests.grading.test_lms_layouts import GOOD, SCALE, grade, rows, write

#: Every file system the grader writes to takes names of at most 255 bytes.
NAME_MAX = 255


# -- F5: a long Korean name ---------------------------------------------------------------------------

def test_a_long_korean_name_is_cut_by_bytes_and_stays_apart() -> None:
    a, b = "가" * 90 + "A.py", "가" * 90 + "B.py"  # 274 bytes each; they differ only after any cut
    names = output_names([Submission(a, None), Submission(b, None)])
    assert len(set(names)) == 2
    for n in names:  # the longest file a writer makes of it: .NAME.json.PID.tmp
        assert len(f".{n}.json.4194304.tmp".encode()) <= NAME_MAX
        assert n.startswith("가" * 60)  # cut on a character boundary: the name still reads as the student's
    assert safe_name("kim.py") == "kim.py"  # a short name is as it was


def test_long_korean_names_get_all_their_outputs(tmp_path: Path) -> None:
    d = write(tmp_path / "kor", {"가" * 80 + ".py": GOOD, "나" * 82 + "/hw1.py": SCALE, "short.py": GOOD})
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv",
               "--feedback", tmp_path / "fb", "--gradescope", tmp_path / "gs")
    assert rc == 0
    assert len(list((tmp_path / "fb").glob("*.md"))) == 3
    assert len(list((tmp_path / "gs").glob("*.json"))) == 3


def test_one_file_that_cannot_be_written_never_stops_the_others(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "c", {"a.py": GOOD, "b.py": SCALE, "c.py": GOOD})
    (tmp_path / "fb" / "b.py.md").mkdir(parents=True)  # b's feedback cannot be written: a folder is in its place
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--feedback", tmp_path / "fb", "--gradescope", tmp_path / "gs")
    assert rc == 1
    assert sorted(p.name for p in (tmp_path / "fb").iterdir() if p.is_file()) == ["a.py.md", "c.py.md"]
    assert len(list((tmp_path / "gs").glob("*.json"))) == 3  # written after the feedback
    assert "cannot write the output of 'b.py'" in capsys.readouterr().err


# -- F7: the class's zip given as the folder ----------------------------------------------------------

@pytest.mark.parametrize("name", ["canvas_class.zip", "submissions"])  # a zip by its name, or by its bytes alone
def test_a_zip_of_the_class_is_refused_never_graded_as_python(tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]) -> None:
    z = tmp_path / name
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("kim_10001_555_hw1.py", GOOD)
    rc = grade(z, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv")
    assert rc == 2
    assert not (tmp_path / "g.csv").exists()
    assert f"'{z}' is a zip archive" in capsys.readouterr().err


def test_a_students_zip_given_among_the_entries_is_still_their_row(tmp_path: Path) -> None:
    d = write(tmp_path / "d", {"kim_10001_555_hw1.py": GOOD})
    with zipfile.ZipFile(d / "lee_10002_556_hw1.zip", "w") as f:
        f.writestr("hw1.py", GOOD)
    rc = grade(*sorted(d.iterdir()), "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv")
    assert rc == 0
    assert [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("10001", "2"), ("10002", "0")]


# -- F3: the graded file among a student's several ----------------------------------------------------

TEST_FILE = "from hw1 import backward\n\ndef test_runs():\n    assert backward is not None\n"
GITHUB = {"README.md": "# hw1\n", ".github/workflows/classroom.yml": "name: Autograding\n", "tests/test_hw1.py": TEST_FILE}


def test_github_classroom_repos_grade_hw1_never_the_test_file(tmp_path: Path) -> None:
    d = write(tmp_path / "ghc", {**{f"hw1-alice/{k}": v for k, v in GITHUB.items()}, "hw1-alice/hw1.py": GOOD,
                                 **{f"hw1-bob/{k}": v for k, v in GITHUB.items()}, "hw1-bob/hw1.py": SCALE})
    rc = grade(d, "--model", "xor_1layer", "--id-pattern", "^hw1-(.+)$", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv")
    assert rc == 0
    assert [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("alice", "2"), ("bob", "1")]


def test_a_driver_that_imports_the_model_is_not_graded(tmp_path: Path) -> None:
    d = write(tmp_path / "lay", {"20290001_a/model.py": GOOD, "20290001_a/train.py": "import model\nprint(model.backward)\n",
                                 "20290002_b/model.py": SCALE, "20290002_b/train.py": "from model import backward\nprint(backward)\n"})
    subs = {s.identity: s for s in collect_submissions([d], needs="backward")}
    assert subs["20290001_a"].path is not None and subs["20290001_a"].path.name == "model.py"
    # rt24 N4: train.py binds backward by an import, which defines nothing: model.py is graded, train.py is its helper
    assert subs["20290002_b"].path is not None and subs["20290002_b"].path.name == "model.py"


@pytest.mark.parametrize(("files", "said"), [
    ({"hw1.py": GOOD, "scratch.py": SCALE}, "several candidate files in 'x' (each defines 'backward'): hw1.py, scratch.py"),
    ({"hw1.py": "def forward(params, x):\n    return x\n", "util.py": "import numpy\n"},
     "none of the files in 'x' defines 'backward', which the assignment calls: hw1.py, util.py"),
    ({"tests/test_hw1.py": TEST_FILE, "hw1_test.py": TEST_FILE, "conftest.py": ""},
     "no .py or .ipynb file in 'x' but test files, which are never graded: conftest.py, hw1_test.py, tests/test_hw1.py"),
])
def test_a_student_the_rule_cannot_decide_is_refused_naming_the_candidates(tmp_path: Path, files: dict[str, str], said: str) -> None:
    (sub,) = collect_submissions([write(tmp_path / "c" / "x", files).parent], needs="backward")
    assert sub.path is None and sub.problem is not None
    assert sub.problem.startswith(said)
    assert 'file = "NAME"' in sub.problem  # the setting that decides


def test_the_class_style_needs_its_class(tmp_path: Path) -> None:
    spec = parse_assignment({"model": "study_2layer", "submission": {"style": "class", "class": "Neural_Network",
                                                                     "backward": "cost_function_prime", "init_args": [2, 1, 3]}}).spec
    d = write(tmp_path / "s", {"net.py": "class Neural_Network:\n    pass\n", "run.py": "import net\nnn = net.Neural_Network()\n",
                               "plot.py": "x = 1\n"})
    assert find_submission(d, model="study_2layer", needs=spec.entry_name).path == d / "net.py"


def test_the_gradescope_autograder_grades_hw1_of_a_github_classroom_repo(tmp_path: Path) -> None:
    d = write(tmp_path / "submission", {**GITHUB, "hw1.py": GOOD})
    choice = find_submission(d, model="xor_1layer", needs="backward")
    assert choice.path == d / "hw1.py"
    refused = find_submission(write(tmp_path / "t", {"tests/test_hw1.py": TEST_FILE}), model="xor_1layer", needs="backward")
    assert refused.path is None and refused.reason == "tests"
    assert "only test files (tests/test_hw1.py)" in _why(refused, None, "en")


# -- F4, F6: Blackboard's usernames and its text submissions ------------------------------------------

def receipt(user: str, typed: str = "") -> str:
    """A Blackboard attempt's receipt, as its "Download assignment" writes it."""
    field = typed or "There is no student submission text data for this assignment."
    return (f"Name: Some One ({user})\nAssignment: Homework 1\nDate Submitted: Saturday, May 4, 2024 10:00:00 AM KST\n"
            f"Current Grade: Needs Grading\n\nSubmission Field:\n{field}\n\nComments:\nThere are no student comments for this assignment.\n\n"
            "Files:\n\tOriginal filename: hw1.py\n")


T1, T2 = "2024-05-01-10-00-00", "2024-05-04-10-00-00"


@pytest.mark.parametrize(("assignment", "users", "with_receipts"), [
    ("HW1", ("kim_j", "park_j"), False),  # rt23's: the old pattern made both "j"
    ("Homework_1", ("kim_j", "lee"), False),  # the assignment's name has "_" too: the part all names share
    ("HW 1", ("kim_j", "kim_s"), True),  # usernames sharing "kim_": only the receipts tell
])
def test_blackboard_usernames_with_underscores_are_the_ids(tmp_path: Path, assignment: str, users: tuple[str, str],
                                                          with_receipts: bool) -> None:
    files = {f"{assignment}_{u}_attempt_{T1}_hw1.py": GOOD for u in users}
    files |= {f"{assignment}_{u}_attempt_{T1}.txt": receipt(u) for u in users if with_receipts}
    subs = collect_submissions([write(tmp_path / "bb", files)])
    assert sorted(s.student_id for s in subs) == sorted(users)
    assert all(not s.notes for s in subs)  # an empty receipt is no text to read


def test_an_override_on_an_id_two_students_share_is_applied_to_neither(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = write(tmp_path / "bb", {f"HW1_kim_j_attempt_{T1}_hw1.py": GOOD, f"HW1_park_j_attempt_{T1}_hw1.py": SCALE})
    ov = write(tmp_path, {"ov.csv": "student_id,parameter,score,reason\nj,total,2,late excuse for kim_j\n"}) / "ov.csv"
    rc = grade(d, "--model", "xor_1layer", "--id-pattern", "_([^_]+)_attempt_", "--overrides", ov, "--no-cache", "--quiet",
               "--csv", tmp_path / "g.csv")
    assert rc == 1
    assert [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("j", "2"), ("j", "1")]  # park_j keeps 1
    assert "overrides line 2: 'j' names 2 submissions" in capsys.readouterr().err
    # by the built-in usernames the same override, written for kim_j, is kim_j's alone
    ov.write_text("student_id,parameter,score,reason\nkim_j,total,1.5,late excuse\n")
    assert grade(d, "--model", "xor_1layer", "--overrides", ov, "--no-cache", "--quiet", "--csv", tmp_path / "g.csv") == 0
    assert [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("kim_j", "1.5"), ("park_j", "1")]


def test_blackboard_text_submissions_are_named_and_every_student_is_a_row(tmp_path: Path) -> None:
    d = write(tmp_path / "bb", {
        f"HW1_textp_attempt_{T2}.txt": receipt("textp", GOOD),  # the code pasted into the Submission Field only
        f"HW1_tonly_attempt_{T1}_hw1.py": SCALE, f"HW1_tonly_attempt_{T1}.txt": receipt("tonly"),
        f"HW1_tonly_attempt_{T2}.txt": receipt("tonly", "please grade my first attempt"),  # a later attempt, text only
        f"HW1_jdoe_attempt_{T1}_hw1.py": GOOD, f"HW1_jdoe_attempt_{T1}.txt": receipt("jdoe"),
    })
    subs = {s.student_id: s for s in collect_submissions([d])}
    assert sorted(subs) == ["jdoe", "textp", "tonly"]
    textp, tonly = subs["textp"], subs["tonly"]
    assert textp.path is None and textp.problem is not None and "no .py or .ipynb file" in textp.problem
    assert textp.notes == (f"'HW1_textp_attempt_{T2}.txt' not graded: Blackboard's submission text (only .py and .ipynb files are graded; "
                           "read it yourself)",)
    assert tonly.path is not None and tonly.path.name == f"HW1_tonly_attempt_{T1}_hw1.py"
    assert tonly.notes[0].startswith(f"graded attempt {T1}, not the latest: the later attempts hold no .py or .ipynb file "
                                     f"(HW1_tonly_attempt_{T2}.txt)")
    assert f"'HW1_tonly_attempt_{T2}.txt' not graded: Blackboard's submission text" in tonly.notes[1]
    assert tonly.superseded == () and subs["jdoe"].notes == ()
