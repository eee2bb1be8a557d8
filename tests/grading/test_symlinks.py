"""Symbolic links in a student's files are never followed (rt19 F13, F13b).

A student controls the links in their folder (git, tar and unzip keep them):
``notes.py -> ../hw1-alice/xor_2layer.py`` ran a classmate's code, a link to a
file only the grader may read put its text in the feedback, and links to the
installed packages handed the sandbox the answer key.  Each test builds one
such folder and checks that the submission is refused with the link named,
and that nothing the link points to is read.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradcheck.grading.autograder import ROOT_ENV, find_submission
from gradcheck.grading.identity import collect_submissions
from gradcheck.grading.loader import load_submission, read_own_file
from gradcheck.grading.sandbox import _read_helpers

SUBMISSIONS = Path(__file__).parent / "submissions"
CORRECT = (SUBMISSIONS / "xor_2layer__correct__dict.py").read_text(encoding="utf-8")
#: Mallory's graded file runs whatever her helper module holds.
RUNS_NOTES = "exec(open(__file__.replace('xor_2layer.py', 'notes.py')).read())\n"
SECRET = "TOP-SECRET-ONLY-THE-GRADER-READS-THIS"


def _class(tmp_path: Path) -> Path:
    """A class folder with honest alice and a secret file outside it."""
    klass = tmp_path / "class"
    (klass / "hw1-alice").mkdir(parents=True)
    (klass / "hw1-alice" / "xor_2layer.py").write_text(CORRECT, encoding="utf-8")
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    return klass


def _by_identity(klass: Path) -> dict:
    return {s.identity: s for s in collect_submissions([klass], model="xor_2layer")}


def test_a_link_to_a_classmates_file_refuses_the_submission(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    mallory = klass / "hw1-mallory"
    mallory.mkdir()
    (mallory / "xor_2layer.py").write_text(RUNS_NOTES, encoding="utf-8")
    (mallory / "notes.py").symlink_to("../hw1-alice/xor_2layer.py")
    subs = _by_identity(klass)
    assert subs["hw1-alice"].path is not None and subs["hw1-alice"].problem is None
    m = subs["hw1-mallory"]
    assert m.path is None and m.extra_files == ()
    assert "'notes.py' -> '../hw1-alice/xor_2layer.py'" in (m.problem or "") and "symbolic link" in (m.problem or "")


def test_a_link_to_a_file_outside_the_class_is_never_read(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    mallory = klass / "hw1-mallory"
    mallory.mkdir()
    (mallory / "xor_2layer.py").write_text(RUNS_NOTES, encoding="utf-8")
    (mallory / "notes.py").symlink_to(tmp_path / "secret.txt")
    m = _by_identity(klass)["hw1-mallory"]
    assert m.path is None and SECRET not in (m.problem or "")
    # the readers below the collection refuse a link too (a caller of the Python API may pass one)
    with pytest.raises(ValueError, match="symbolic link"):
        _read_helpers([mallory / "notes.py"], mallory)
    with pytest.raises(OSError):
        read_own_file(mallory / "notes.py")
    loaded = load_submission(mallory / "notes.py")
    assert loaded.cells == () and "symbolic link" in (loaded.error or "")


def test_a_link_to_a_folder_is_not_walked(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    eve = klass / "hw1-eve"
    eve.mkdir()
    (eve / "xor_2layer.py").write_text("from stuff.xor_2layer import backward\n", encoding="utf-8")
    (eve / "stuff").symlink_to(klass / "hw1-alice")
    (klass / "hw1-bob").symlink_to("hw1-alice")  # a whole student folder that is a link
    subs = _by_identity(klass)
    assert subs["hw1-eve"].path is None and "'stuff' ->" in (subs["hw1-eve"].problem or "")
    assert subs["hw1-bob"].path is None and "'hw1-bob' -> 'hw1-alice'" in (subs["hw1-bob"].problem or "")
    assert subs["hw1-alice"].path is not None  # the link is its own row, never alice's twin


def test_a_link_inside_a_helper_module_folder_refuses_the_submission(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    lib = klass / "hw1-mallory" / "mylib"
    lib.mkdir(parents=True)
    (klass / "hw1-mallory" / "xor_2layer.py").write_text("from mylib.core import backward\n", encoding="utf-8")
    (lib / "__init__.py").write_text("", encoding="utf-8")
    (lib / "core.py").symlink_to("../../hw1-alice/xor_2layer.py")
    m = _by_identity(klass)["hw1-mallory"]
    assert m.path is None and "'mylib/core.py' -> '../../hw1-alice/xor_2layer.py'" in (m.problem or "")


def test_flat_downloads_refuse_a_linked_file_and_its_students_group(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    (klass / "kim_11111_1_xor_2layer.py").write_text("from helper import backward\n", encoding="utf-8")
    (klass / "kim_11111_2_helper.py").symlink_to("hw1-alice/xor_2layer.py")
    (klass / "lee.py").symlink_to("hw1-alice/xor_2layer.py")
    subs = _by_identity(klass)
    kim = next(s for s in subs.values() if s.student_id == "11111")
    assert kim.path is None and "kim_11111_2_helper.py" in (kim.problem or "")
    assert subs["lee.py"].path is None and "'lee.py' -> 'hw1-alice/xor_2layer.py'" in (subs["lee.py"].problem or "")


def test_a_linked_file_named_on_the_command_line_or_for_gradescope_json_is_refused(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    (klass / "hw1-mallory").mkdir()
    link = klass / "hw1-mallory" / "xor_2layer.py"
    link.symlink_to("../hw1-alice/xor_2layer.py")
    assert collect_submissions([link])[0].path is None
    single = collect_submissions([klass / "hw1-mallory"], single=True, model="xor_2layer")[0]
    assert single.path is None and "symbolic link" in (single.problem or "")


def test_find_submission_of_the_autograder_refuses_links(tmp_path: Path) -> None:
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "xor_2layer.py").write_text(RUNS_NOTES, encoding="utf-8")
    (sub / "notes.py").symlink_to(tmp_path / "secret.txt")
    choice = find_submission(sub, model="xor_2layer")
    assert choice.path is None and choice.reason == "links" and choice.helpers == ()


def test_gradcheck_grade_never_runs_the_linked_file(tmp_path: Path) -> None:
    """End to end at the default isolation: mallory's row is 0 and refused, the secret is in no output."""
    klass = _class(tmp_path)
    mallory = klass / "hw1-mallory"
    mallory.mkdir()
    (mallory / "xor_2layer.py").write_text("raise RuntimeError('LEAK ' + open(__file__.replace('xor_2layer.py', 'notes.py')).read())\n",
                                            encoding="utf-8")
    (mallory / "notes.py").symlink_to(tmp_path / "secret.txt")
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "gradcheck", "grade", str(klass), "--model", "xor_2layer", "--no-cache", "--json", str(out)],
                          capture_output=True, text=True, timeout=600, check=False, env={**os.environ})
    text = out.read_text(encoding="utf-8")
    assert SECRET not in text and SECRET not in proc.stdout + proc.stderr
    rows = {r["submission"]: r for r in json.loads(text)["results"]} if "results" in json.loads(text) else None
    assert rows is None or rows["hw1-mallory"]["score"] == 0
    assert "symbolic link" in proc.stderr


def test_run_autograder_does_not_follow_links(tmp_path: Path) -> None:
    from gradcheck.cli import main

    toml = tmp_path / "hw.toml"
    toml.write_text('model = "xor_2layer"\n', encoding="utf-8")
    assert main(["autograder", "gradescope", str(toml), "-o", str(tmp_path / "autograder.zip")]) == 0
    import zipfile

    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(tmp_path / "autograder.zip") as zf:
        zf.extractall(root / "source")
    (tmp_path / "secret.txt").write_text(SECRET, encoding="utf-8")
    (root / "submission" / "xor_2layer.py").write_text("raise RuntimeError(open('notes.py').read())\n", encoding="utf-8")
    (root / "submission" / "notes.py").symlink_to(tmp_path / "secret.txt")
    env = {**os.environ, ROOT_ENV: str(root), "GRADCHECK_PYTHON": sys.executable, "GRADCHECK_REQUIRE_ISOLATION": "process"}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False)
    results = (root / "results" / "results.json").read_text(encoding="utf-8")
    assert SECRET not in results and json.loads(results)["score"] == 0
    assert "symbolic links" in results and "notes.py" in results


def test_grade_submission_refuses_a_link(tmp_path: Path) -> None:
    from gradcheck.grading.pipeline import grade_submission

    (tmp_path / "real.py").write_text(CORRECT, encoding="utf-8")
    (tmp_path / "link.py").symlink_to("real.py")
    with pytest.raises(ValueError, match="symbolic link"):
        grade_submission(tmp_path / "link.py", "xor_2layer")
    with pytest.raises(ValueError, match="symbolic link"):
        grade_submission(tmp_path / "real.py", "xor_2layer", extra_files=[tmp_path / "link.py"])


def test_moodle_plugin_folders_with_a_link_are_refused(tmp_path: Path) -> None:
    klass = _class(tmp_path)
    files = klass / "Kim Ji_12345_assignsubmission_file_"
    files.mkdir()
    (files / "xor_2layer.py").write_text(RUNS_NOTES, encoding="utf-8")
    (files / "notes.py").symlink_to("../hw1-alice/xor_2layer.py")
    (klass / "Kim Ji_12345_assignsubmission_onlinetext_").mkdir()
    kim = next(s for s in collect_submissions([klass], model="xor_2layer") if s.student_id == "12345")
    assert kim.path is None and "notes.py' -> '../hw1-alice/xor_2layer.py'" in (kim.problem or "")


# -- hard links: no LMS zip holds one (zip has no link entry); tar, cp -al and backup snapshots make them ---------
# A hard link is no pointer to follow: both names are one regular file, read as such (O_NOFOLLOW, copied into the
# sandbox), so it is graded as its content.  Two students' files that are one file on disk (an archive that joined
# them) are named, each with the other, on top of the identical-files check.


def test_one_file_on_disk_under_two_students_is_graded_and_named_with_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    klass = _class(tmp_path)
    (klass / "hw1-bob").mkdir()
    os.link(klass / "hw1-alice" / "xor_2layer.py", klass / "hw1-bob" / "xor_2layer.py")  # tar's LNKTYPE entry, extracted
    (klass / "hw1-carol").mkdir()
    (tmp_path / "backup.py").write_text(CORRECT, encoding="utf-8")
    os.link(tmp_path / "backup.py", klass / "hw1-carol" / "xor_2layer.py")  # a snapshot's second name, outside the class: nobody's
    subs = {s.identity: s for s in collect_submissions([klass])}
    assert all(s.path is not None for s in subs.values())  # graded, never refused: the content is the student's file
    assert subs["hw1-alice"].notes == ("'xor_2layer.py' is one file on disk with 'xor_2layer.py' of 'hw1-bob' (a hard link, which tar "
                                       "or cp -al makes and no LMS's zip holds): graded as its content; decide by hand whose work it is",)
    assert subs["hw1-bob"].notes == ("'xor_2layer.py' is one file on disk with 'xor_2layer.py' of 'hw1-alice' (a hard link, which tar "
                                     "or cp -al makes and no LMS's zip holds): graded as its content; decide by hand whose work it is",)
    assert subs["hw1-carol"].notes == ()
    status = subprocess.run([sys.executable, "-m", "gradcheck", "grade", str(klass), "--model", "xor_2layer", "--no-cache", "--quiet",
                             "--json", str(tmp_path / "r.json")], capture_output=True, text=True, cwd=Path(__file__).parents[2])
    assert status.returncode == 0, status.stderr
    scores = {r["submission"]: (r["score"], r["max_score"]) for r in json.loads((tmp_path / "r.json").read_text())}
    assert len({scores[n] for n in ("hw1-alice", "hw1-bob", "hw1-carol")}) == 1 and scores["hw1-alice"][0] == scores["hw1-alice"][1]
    assert "'hw1-bob' is graded; 'xor_2layer.py' is one file on disk with 'xor_2layer.py' of 'hw1-alice'" in status.stderr
