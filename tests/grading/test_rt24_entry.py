"""rt24's findings on which file is graded: a driver that wraps ``backward`` (N1), an import taken for a
definition (N4), the graded file named in every feedback (N1) and a ``%%writefile`` said to have written
a file it could not write (N3)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from gradcheck.grading.autograder import _why, find_submission
from gradcheck.grading.identity import Entry, collect_submissions, defines
from gradcheck.grading.render_markdown import render_markdown
from gradcheck.grading.report_html import render_report
from gradcheck.grading.results import SubmissionResult

from tests.grading.test_lms_layouts import GOOD, SCALE, grade, rows, write
from tests.grading.test_rt23_lms import TEST_FILE
from tests.grading.test_sandbox import run_once
from tests.grading.test_sandbox import write as write_file

#: rt24's f3b/hw1-dain/train.py: a training step that adds weight decay to the module's gradient.
WRAPPER = ("import numpy as np\nimport hw1\n\ndef backward(params, x, y, wd=1e-2):\n    g = hw1.backward(params, x, y)\n"
           "    return {k: v + wd * params[k] for k, v in g.items()}\n")
#: rt24's f3b/hw1-eunbi/train.py: a driver that only imports the model's backward.
REEXPORT = "from hw1 import backward\n\ndef train(params, x, y, lr=0.1):\n    g = backward(params, x, y)\n    return g\n"
#: A layer library: its backward(dout, cache) is no answer to backward(params, x, y).
LAYERS = "def backward(dout, cache):\n    x, w = cache\n    return dout @ w.T, x.T @ dout\n"
XOR1 = Entry("backward", 3)  # xor_1layer's function style: backward(params, x, y)


# -- N1: a driver defining its own backward around the module's -------------------------------------------

def test_a_driver_wrapping_backward_is_refused_never_graded_in_place_of_the_module(tmp_path: Path) -> None:
    (sub,) = collect_submissions([write(tmp_path / "c" / "hw1-dain", {"hw1.py": GOOD, "train.py": WRAPPER}).parent], needs=XOR1)
    assert sub.path is None and sub.several == ("hw1.py", "train.py")
    assert sub.problem is not None and sub.problem.startswith("several candidate files in 'hw1-dain' (each defines 'backward'): hw1.py, train.py")
    assert "train.py imports hw1.py" in sub.problem and 'file = "NAME"' in sub.problem


def test_a_refusal_names_what_the_assignment_calls_never_its_entry_object(tmp_path: Path) -> None:
    (sub,) = collect_submissions([write(tmp_path / "c" / "x", {"hw1.py": REEXPORT, "util.py": "import numpy\n"}).parent], needs=XOR1)
    assert sub.problem is not None and sub.problem.startswith("none of the files in 'x' defines 'backward', which the assignment calls")


def test_the_name_most_of_the_class_has_decides_and_the_feedback_says_so(tmp_path: Path) -> None:
    # three classmates handed in hw1.py alone: dain's hw1.py is graded, and dain's feedback (en and ko) says why
    others = {f"hw1-{u}/hw1.py": GOOD for u in ("hoon", "mina", "jiwoo")}
    d = write(tmp_path / "class", {**others, "hw1-dain/hw1.py": GOOD, "hw1-dain/train.py": WRAPPER})
    for lang in ("en", "ko"):
        fb = tmp_path / f"fb_{lang}"
        rc = grade(d, "--model", "xor_1layer", "--id-pattern", "^hw1-(.+)$", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv",
                   "--feedback", fb, "--lang", lang)
        assert rc == 0
        assert {r["student_id"]: r["score"] for r in rows(tmp_path / "g.csv")} == {"dain": "2", "hoon": "2", "jiwoo": "2", "mina": "2"}
        text = (fb / "dain.md").read_text(encoding="utf-8")
        said = {"en": ("**Graded file:** `hw1.py`", "Graded hw1.py: of your files that define backward (hw1.py, train.py)"),
                "ko": ("**채점한 파일:** `hw1.py`", "hw1.py을(를) 채점했습니다: backward을(를) 정의한 파일(hw1.py, train.py)")}[lang]
        assert all(s in text for s in said), text
        assert said[1] not in (fb / "hoon.md").read_text(encoding="utf-8")  # only the student the class decided for
    rc = grade(d, "--model", "xor_1layer", "--id-pattern", "^hw1-(.+)$", "--no-cache", "--quiet", "--summary", tmp_path / "s.md")
    summary = (tmp_path / "s.md").read_text(encoding="utf-8")
    assert "| hw1-dain | graded the file named as most of the class's" in summary  # listed for a human look


def test_two_classmates_are_no_class_and_a_name_the_class_lacks_decides_nothing(tmp_path: Path) -> None:
    # with fewer than three graded hw1.py, or most of the class on another name, dain is refused as when alone
    few = write(tmp_path / "few", {"hw1-a/hw1.py": GOOD, "hw1-b/hw1.py": GOOD, "hw1-dain/hw1.py": GOOD, "hw1-dain/train.py": WRAPPER})
    other = write(tmp_path / "other", {**{f"hw1-{u}/model.py": GOOD for u in "abcd"}, "hw1-dain/hw1.py": GOOD, "hw1-dain/train.py": WRAPPER})
    for d in (few, other):
        dain = {s.identity: s for s in collect_submissions([d], needs=XOR1)}["hw1-dain"]
        assert dain.path is None and dain.several == ("hw1.py", "train.py")


@pytest.mark.parametrize("hw1", [GOOD, "import layers\n" + GOOD])  # layers.py imported by hw1.py, or beside it
def test_a_layer_backward_of_another_call_shape_is_a_helper_not_a_candidate(tmp_path: Path, hw1: str) -> None:
    d = write(tmp_path / "c" / "kim", {"hw1.py": hw1, "layers.py": LAYERS})
    (sub,) = collect_submissions([d.parent], needs=XOR1)
    assert sub.path == d / "hw1.py" and [f.name for f in sub.extra_files] == ["layers.py"]


@pytest.mark.parametrize(("layers", "why"), [
    ("import functools\n@functools.lru_cache\n" + LAYERS, "a decorator may change what it takes"),
    ("def backward(*args):\n    return args\n", "takes any number"),
])
def test_a_call_shape_the_source_cannot_rule_out_keeps_the_file_a_candidate(tmp_path: Path, layers: str, why: str) -> None:
    d = write(tmp_path / "c" / "kim", {"hw1.py": GOOD, "layers.py": layers})
    (sub,) = collect_submissions([d.parent], needs=XOR1)
    assert sub.path is None and sub.several == ("hw1.py", "layers.py"), why


def test_the_gradescope_autograder_refuses_a_wrapping_driver_and_tells_the_student_what_to_do(tmp_path: Path) -> None:
    d = write(tmp_path / "submission", {"hw1.py": GOOD, "train.py": WRAPPER, "tests/test_hw1.py": TEST_FILE})
    choice = find_submission(d, model="xor_1layer", needs=XOR1)
    assert choice.path is None and choice.reason == "several" and choice.candidates == ("hw1.py", "train.py")
    assert "Each defines backward: submit only the file with your answer" in _why(choice, None, "en")
    assert "모든 파일이 backward을(를) 정의합니다" in _why(choice, None, "ko")


# -- N4: an import defines nothing ------------------------------------------------------------------------

def test_a_driver_that_only_imports_backward_is_not_graded(tmp_path: Path) -> None:
    d = write(tmp_path / "c" / "hw1-eunbi", {"hw1.py": SCALE, "train.py": REEXPORT})
    (sub,) = collect_submissions([d.parent], needs=XOR1)
    assert sub.path == d / "hw1.py" and sub.graded_name == "hw1.py"


def test_a_package_module_is_graded_when_main_only_imports_from_it(tmp_path: Path) -> None:
    # rt24 late/f3/hw1-sora: main.py re-exports src/backprop.py's backward; src/backprop.py is graded, in the CLI too
    files = {"main.py": "from src.backprop import backward\nimport numpy as np\n", "src/__init__.py": "", "src/backprop.py": GOOD,
             "tests/test_backprop.py": "from src.backprop import backward\n"}
    d = write(tmp_path / "c" / "hw1-sora", files)
    (sub,) = collect_submissions([d.parent], needs=XOR1)
    assert sub.path == d / "src" / "backprop.py" and sub.graded_name == "src/backprop.py"
    rc = grade(d.parent, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv", "--feedback", tmp_path / "fb")
    assert rc == 0 and [r["score"] for r in rows(tmp_path / "g.csv")] == ["2"]
    assert "**Graded file:** `src/backprop.py`" in next((tmp_path / "fb").glob("*.md")).read_text(encoding="utf-8")


@pytest.mark.parametrize(("code", "defined"), [
    ("from hw1 import backward\n", False),
    ("from hw1 import *\n", False),
    ("import hw1\nbackward = hw1.backward\n", False),  # an alias of what an import brought in
    ("from hw1 import backward as bw\nbackward = bw\n", False),
    ("def _bw(params, x, y):\n    return params\nbackward = _bw\n", True),  # an alias of the file's own function
    ("backward = lambda params, x, y: params\n", True),
    ("import functools, hw1\nbackward = functools.partial(hw1.backward)\n", True),  # a new object: the file's own
    ("try:\n    from hw1 import backward\nexcept ImportError:\n    def backward(params, x, y):\n        return params\n", True),
])
def test_an_import_or_an_alias_of_one_is_no_definition(tmp_path: Path, code: str, defined: bool) -> None:
    assert defines(write_file(tmp_path, code, "train.py"), "backward") is defined


# -- the graded file in every feedback --------------------------------------------------------------------

def test_the_feedback_header_names_the_graded_file_in_markdown_and_html() -> None:
    r = SubmissionResult("hw1-sora", "xor_1layer", 0, 2.0, 2.0, graded_file="src/backprop.py")
    assert "**Graded file:** `src/backprop.py`" in render_markdown(r, lang="en")
    assert "**채점한 파일:** `src/backprop.py`" in render_markdown(r, lang="ko")
    assert "Graded file: <code>src/backprop.py</code>" in render_report([r], lang="en", plots=False)
    assert "채점한 파일: <code>src/backprop.py</code>" in render_report([r], lang="ko", plots=False)
    assert SubmissionResult.from_dict(r.to_dict()).graded_file == "src/backprop.py"
    odd = render_markdown(SubmissionResult("x", "xor_1layer", 0, 2.0, 2.0, graded_file="a`b.py"))
    assert "**Graded file:** `` a`b.py ``" in odd  # a backtick in the name keeps the code span whole


def test_every_layout_names_the_file_the_student_gave(tmp_path: Path) -> None:
    d = write(tmp_path / "canvas", {"kimminji_20001_555001_hw1-1.py": GOOD, "leejun_20002_555003_hw1.py": GOOD, "lone.py": GOOD})
    got = {s.student_id or s.identity: s.graded_name for s in collect_submissions([d], needs=XOR1)}
    assert got == {"20001": "hw1.py", "20002": "hw1.py", "lone.py": "lone.py"}  # Canvas's -1 is its re-upload mark, not the student's


# -- N3: %%writefile says "wrote" only after writing ------------------------------------------------------

def notebook(*cells: str) -> str:
    return json.dumps({"cells": [{"cell_type": "code", "source": c, "metadata": {}, "outputs": [], "execution_count": None} for c in cells],
                       "metadata": {}, "nbformat": 4, "nbformat_minor": 4})


def test_a_writefile_that_fails_says_it_did_not_write(tmp_path: Path) -> None:
    good = "def backward(params, x, y):\n    return {k: v * 0 for k, v in params.items()}"
    box, _ = run_once(write_file(tmp_path, notebook("%%writefile nodir/planted.py\nX = 1", "%%writefile mysig.py\nY = 2", good), "hw.ipynb"))
    notes = "\n".join(box.notes)
    assert "wrote the cell as nodir/planted.py" not in notes
    assert "hw.ipynb, code cell 1: did not write the cell to nodir/planted.py (%%writefile): FileNotFoundError" in notes
    assert "hw.ipynb, code cell 2: wrote the cell as mysig.py (%%writefile), as Jupyter does" in notes

