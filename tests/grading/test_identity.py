"""Who handed in what: LMS layouts, student ids, identical files, never a lost or merged student."""
from __future__ import annotations

import argparse
import csv
import json

import pytest

from gradcheck.grading import cli
from gradcheck.grading.identity import DEFAULT_ID_PATTERN, Submission, collect_submissions, output_names, student_id

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
SCALE = GOOD.replace("2 * (a - y) / len(y)", "(a - y)")
# the same algorithm with its sigmoid in a helper module next to it
USES_HELPER = """
import numpy as np
from utils import sigmoid
def backward(params, x, y):
    a = sigmoid(x @ params["W1"] + params["b1"])
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
HELPER = "import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n"


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def rows(path):
    return list(csv.DictReader(path.open(encoding="utf-8-sig")))


def test_student_ids():
    assert student_id("0042_김철수 (1).py", r"^(\d+)") == "0042"  # leading zeros kept
    assert student_id("김철수_0042.py", r"^(\d+)") == ""
    assert student_id("김철수_0042_hw3.py", r"_(\d{4})_") == "0042"
    assert student_id("s12.py", r"\d+") == "12"  # no group: the whole match


def test_output_names_never_collide():
    subs = [Submission("7_a.py", None, "7"), Submission("7_a (1).py", None, "7"), Submission("A.py", None), Submission("a.py", None)]
    names = output_names(subs)
    assert len({n.lower() for n in names}) == 4


@pytest.fixture
def export(tmp_path):
    """An LMS export: one file per student and one folder per student, side by side."""
    d = tmp_path / "export"
    d.mkdir()
    (d / "20230001_김철수.py").write_text(GOOD, encoding="utf-8")
    (d / "20230002_이영희 (1).py").write_text(GOOD, encoding="utf-8")  # the same file as 20230001's
    (d / "0042 Park Ji.py").write_text(SCALE)
    folder = d / "20230003_최민수"
    folder.mkdir()
    (folder / "hw3.py").write_text(USES_HELPER)
    (folder / "utils.py").write_text(HELPER)
    two = d / "20230004_정수진"
    two.mkdir()
    (two / "hw3.py").write_text(GOOD)
    (two / "hw3_old.ipynb").write_text(notebook(SCALE))  # an older version, also defining backward
    return d


def notebook(source: str) -> str:
    """A notebook of one code cell."""
    cell = {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}
    return json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def test_collect_layouts(export):
    subs = {s.identity: s for s in collect_submissions([export])}
    assert set(subs) == {"0042 Park Ji.py", "20230001_김철수.py", "20230002_이영희 (1).py", "20230003_최민수", "20230004_정수진"}
    assert subs["0042 Park Ji.py"].student_id == "0042"
    helper = subs["20230003_최민수"]
    assert helper.path is not None and helper.path.name == "hw3.py" and [f.name for f in helper.extra_files] == ["utils.py"]
    refused = subs["20230004_정수진"]
    assert refused.path is None and "hw3.py" in refused.problem and "hw3_old.ipynb" in refused.problem
    # the assignment names the file: that one is graded, the other is not a candidate any more
    named = {s.identity: s for s in collect_submissions([export], file_pattern="hw3.py")}
    assert named["20230004_정수진"].path.name == "hw3.py" and named["20230004_정수진"].problem is None
    glob = {s.identity: s for s in collect_submissions([export], file_pattern="hw3*.ipynb")}
    assert glob["20230004_정수진"].path.name == "hw3_old.ipynb"
    assert glob["20230003_최민수"].path is None and "no file matching" in glob["20230003_최민수"].problem


def test_a_class_export_every_student_one_row(export, tmp_path, capsys):
    out = tmp_path / "out"
    argv = [export, "--model", "xor_1layer", "--cache", tmp_path / "cache", "--jobs", "2", "--quiet",
            "--csv", out / "g.csv", "--feedback", out / "fb", "--gradescope", out / "gs", "--json", out / "r.json"]
    assert grade(*argv) == 0
    assert "20230004_정수진" in capsys.readouterr().err  # the refused student is named on stderr
    first = {r["submission"]: r for r in rows(out / "g.csv")}
    assert len(first) == 5
    assert {k: (v["student_id"], v["score"], v["max_score"]) for k, v in first.items()} == {
        "20230001_김철수.py": ("20230001", "2", "2"),
        "20230002_이영희 (1).py": ("20230002", "2", "2"),  # identical file, own row
        "0042 Park Ji.py": ("0042", "1", "2"),
        "20230003_최민수": ("20230003", "2", "2"),  # its helper module (utils.py) was importable
        "20230004_정수진": ("20230004", "0", "2"),  # refused (two candidates), same max_score as everyone
    }
    assert first["20230004_정수진"]["verdict"] == "missing"
    fb = sorted(p.name for p in (out / "fb").iterdir())
    assert fb == ["0042.md", "20230001.md", "20230002.md", "20230003.md", "20230004.md"]
    assert sorted(p.name for p in (out / "gs").iterdir()) == [n.replace(".md", ".json") for n in fb]
    refused = json.loads((out / "gs" / "20230004.json").read_text(encoding="utf-8"))
    assert refused["score"] == 0 and "hw3_old.ipynb" in json.dumps(refused, ensure_ascii=False)
    # the cached re-run: the same five students, neither merged nor dropped
    assert grade(*argv) == 0
    again = {r["submission"]: r for r in rows(out / "g.csv")}
    assert again == first


def test_files_named_on_the_command_line_keep_their_paths(tmp_path):
    for who in ("0007_kim", "0008_lee"):
        (tmp_path / "export" / who).mkdir(parents=True)
        (tmp_path / "export" / who / "hw3.py").write_text(GOOD)
    files = sorted((tmp_path / "export").glob("*/hw3.py"))
    assert grade(*files, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv", "--feedback", tmp_path / "fb") == 0
    got = [(r["student_id"], r["submission"]) for r in rows(tmp_path / "g.csv")]
    assert got == [("0007", str(files[0])), ("0008", str(files[1]))]
    assert sorted(p.name for p in (tmp_path / "fb").iterdir()) == ["0007.md", "0008.md"]


def test_gradescope_results_json_is_a_file_when_a_submission_has_two_candidates(tmp_path):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "hw3.py").write_text(GOOD)
    (sub / "hw3.ipynb").write_text(notebook(SCALE))  # both define backward
    target = tmp_path / "results" / "results.json"
    assert grade(sub, "--model", "xor_1layer", "--no-cache", "--quiet", "--gradescope", target) == 0
    assert target.is_file()
    data = json.loads(target.read_text())
    assert data["score"] == 0 and "hw3.ipynb" in json.dumps(data)  # refused, with the candidates listed
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n[submission]\nfile = "hw3.py"\n')
    assert grade(sub, "--assignment", tmp_path / "a.toml", "--no-cache", "--quiet", "--gradescope", target) == 0
    assert json.loads(target.read_text())["score"] == 2.0


def test_regrade_errors_grades_again_only_errors(tmp_path, monkeypatch):
    d = tmp_path / "subs"
    d.mkdir()
    (d / "good.py").write_text(GOOD)
    (d / "raises.py").write_text("def backward(params, x, y):\n    import helper_not_installed\n")
    cache = tmp_path / "cache"
    assert grade(d, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1") == 0
    graded = []
    real = cli.grade_job
    monkeypatch.setattr(cli, "grade_job", lambda job: graded.append(job.identity) or real(job))
    assert grade(d, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1") == 0
    assert graded == []
    assert grade(d, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1", "--regrade", "errors") == 0
    assert graded == ["raises.py"]
    assert grade(d, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1", "--regrade", "all") == 0
    assert sorted(graded[1:]) == ["good.py", "raises.py"]


def test_helper_modules_are_importable(tmp_path):
    d = tmp_path / "class" / "0001_kim"
    d.mkdir(parents=True)
    (d / "hw3.py").write_text(USES_HELPER)
    (d / "utils.py").write_text(HELPER)
    assert grade(d.parent, "--model", "xor_1layer", "--no-cache", "--quiet", "--json", tmp_path / "r.json") == 0
    (r,) = json.loads((tmp_path / "r.json").read_text())
    assert (r["submission"], r["student_id"], r["verdict"], r["score"]) == ("0001_kim", "0001", "ok", 2.0)


def test_summary_says_what_it_counts_and_what_needs_a_look(tmp_path, capsys):
    d = tmp_path / "class"
    d.mkdir()
    (d / "01_a.py").write_text(GOOD)
    (d / "02_b.py").write_text("# my own work, honest\n" + GOOD.replace("    ", "  ").replace('"', "'"))  # the same code, reformatted
    (d / "03_c.py").write_text(SCALE)
    (d / "04_d.py").write_text("def backward(params, x, y):\n    raise RuntimeError('x')\n")
    (tmp_path / "a.toml").write_text('title = "HW3: backprop"\nmodel = "xor_1layer"\nseed = 5\n')
    assert grade(d, "--assignment", tmp_path / "a.toml", "--no-cache", "--jobs", "1", "--summary", tmp_path / "s.md") == 0
    md = (tmp_path / "s.md").read_text(encoding="utf-8")
    stdout = capsys.readouterr().out
    for text in (md, stdout):
        assert "HW3: backprop" in text and "Seed" in text and "5" in text and "Isolation level" in text
        assert "gradcheck 0." in text and "numpy" in text
        assert "on at least one parameter" in text  # what the diagnosis counts mean
    assert "- **Full marks:** 2" in md and "- **Ran (no runtime failure):** 3" in md
    review = md.split("## Submissions that need a human look")[1].split("##")[0]
    assert "| 01_a.py | identical to another submission |" in review and "| 02_b.py |" in review
    assert "| 04_d.py | error |" in review and "03_c.py" not in review
    assert "| 01_a.py, 02_b.py | 2 |" in md


@pytest.mark.parametrize(("name", "expected"), [
    ("류건우_2023210866_assignsubmission_file_hw3.py", "2023210866"),  # Moodle's download names
    ("강채원_2022202947", "2022202947"),
    ("송가은 (2022297975)", "2022297975"),
    ("0042_김철수 (1).py", "0042"),  # a leading run keeps its zeros, whatever its length
    ("hw3 (1).py", ""),  # a copy number is not an id
    ("홍길동 2023.py", ""),  # nor a four-digit year
])
def test_the_default_id_pattern_finds_lms_student_numbers(name: str, expected: str) -> None:
    assert student_id(name, DEFAULT_ID_PATTERN) == expected


def test_a_sanitised_name_never_takes_another_students_own_name():
    # rt19 F9: 'kim min.py' was written as kim_min.py.md and the real kim_min.py's feedback went to kim_min.py-4.md
    names = ["kim min.py", "kim<min.py", "kim?min.py", "kim_min.py"]
    got = dict(zip(names, output_names([Submission(n, None) for n in names])))
    assert got["kim_min.py"] == "kim_min.py"
    assert len({v.lower() for v in got.values()}) == 4
    # stable: the same student gets the same name whatever the order of the class
    back = dict(zip(names[::-1], output_names([Submission(n, None) for n in names[::-1]])))
    assert back == got
