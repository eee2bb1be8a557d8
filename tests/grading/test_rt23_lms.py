"""rt23's LMS and submission findings: the graded file (F3), Blackboard usernames (F4, F6),
long non-ASCII names (F5) and a class zip given as the folder (F7)."""
from __future__ import annotations

import argparse
import csv
import zipfile
from pathlib import Path

import pytest

from gradcheck.grading import cli
from gradcheck.grading.identity import Submission, output_names, safe_name

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
SCALE = GOOD.replace("2 * (a - y) / len(y)", "(a - y)")  # half the gradient: 1 of xor_1layer's 2 points
#: Every file system the grader writes to takes names of at most 255 bytes.
NAME_MAX = 255


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


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
