"""``gradcheck grade`` stops before grading anyone when the grader's own child cannot work under the run's limits.

A memory limit too small for the child to import numpy, or a per-call timeout too short for one
trivial call, is the configuration's failure: a clear error and exit status 2, no gradebook; never a
``crash`` or ``timeout`` verdict for every student.
"""
from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("rich")

from gradcheck.grading import cli

GOOD = """
import numpy as np
def backward(params, x, y):
    a1 = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
    dz1 = 2 * (a1 - y) / len(y) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True)}
"""


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


@pytest.fixture
def good(tmp_path):
    (tmp_path / "good.py").write_text(GOOD)
    return tmp_path / "good.py"


# 64 MB: the red team's value (numpy's shared libraries cannot even be mapped); the timeout of 1 ms is
# far below one round trip to a fresh process through pipes.
@pytest.mark.parametrize(
    "limit, words",
    [(["--memory", "64"], ["64 MB", "--memory", "numpy"]), (["--timeout", "0.001"], ["0.001 s", "--timeout"])],
)
def test_limit_too_small_for_the_grader_is_an_error_not_verdicts(good, tmp_path, capsys, limit, words):
    csv = tmp_path / "g.csv"
    rc = grade(good, "--model", "xor_1layer", *limit, "--no-cache", "--quiet", "--csv", csv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert not csv.exists()
    assert all(w in err for w in words), err
    assert "nothing was written" in err


def test_memory_limit_of_the_assignment_file_is_checked_too(good, tmp_path, capsys):
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n[limits]\nmemory_mb = 64\n')
    csv = tmp_path / "g.csv"
    rc = grade(good, "--assignment", tmp_path / "a.toml", "--no-cache", "--quiet", "--csv", csv)
    err = capsys.readouterr().err
    assert rc == 2 and not csv.exists()
    assert "64 MB" in err and "memory_mb" in err, err


def test_a_student_exhausting_a_workable_limit_is_still_that_students_verdict(good, tmp_path):
    hog = tmp_path / "hog.py"
    hog.write_text("import numpy as np\ndef backward(params, x, y):\n    return {'W1': np.ones(10**9)}\n")  # 8 GB
    json_out = tmp_path / "r.json"
    rc = grade(good, hog, "--model", "xor_1layer", "--memory", "300", "--no-cache", "--quiet", "--json", json_out)
    assert rc == 0

    verdicts = {r["submission"].rsplit("/", 1)[-1]: (r["verdict"], r["score"] == r["max_score"]) for r in json.loads(json_out.read_text())}
    assert verdicts == {"hog.py": ("memory", False), "good.py": ("ok", True)}, verdicts



def test_a_package_the_sandbox_cannot_import_is_named_with_what_to_do() -> None:
    """rt20 F5: the sandbox could not import numpy and the instructor saw a bare traceback."""
    import os

    import numpy

    from gradcheck.grading.assignment import Limits
    from gradcheck.grading.preflight import _explain

    trace = 'Traceback (most recent call last):\n  File "_wire.py", line 37\nModuleNotFoundError: No module named \'numpy\''
    text = _explain("crash", trace, Limits(), loading=True, memory=False)
    site = os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))
    assert "cannot import 'numpy'" in text and site in text and "chmod o+rX" in text and "--isolation" in text, text
    assert "cannot import" not in _explain("crash", "Segmentation fault", Limits(), loading=True, memory=False)
