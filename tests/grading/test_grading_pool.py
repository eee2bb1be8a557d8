"""The grading pool: its workers are the grader's own processes, and their failure is never a student's.

The scripts run in a fresh interpreter (``subprocess``): what is under test
is how the pool starts from a caller's ``__main__``, which pytest's own
process would hide.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rich")

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def backward(params, x, y):
    z1 = x @ params["W1"] + params["b1"]
    a1 = sigmoid(z1)
    dz1 = 2 * (a1 - y) / len(y) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True)}
"""

#: An instructor's script as the red team wrote it: another thread runs, and no ``if __name__ == "__main__":``.
UNGUARDED = """
import sys, threading, time
with open("runs.txt", "a") as f:
    f.write(__name__ + "\\n")
stop = threading.Event()
threading.Thread(target=lambda: stop.wait(60), daemon=True).start()
from gradcheck.cli import main
try:
    rc = main(["grade", "subs", "--model", "xor_1layer", "--jobs", "2", "--no-cache", "--quiet", "--json", "r.json"])
except SystemExit as e:
    rc = e.code
stop.set()
sys.exit(rc)
"""


def _class(tmp_path: Path, n: int = 4) -> None:
    subs = tmp_path / "subs"
    subs.mkdir()
    for i in range(n):
        (subs / f"{i}_good.py").write_text(GOOD)


def _run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "script.py").write_text(script)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "script.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


def test_an_unguarded_script_with_a_thread_running_is_graded_correctly(tmp_path):
    """The pool never re-runs the caller's script: every good submission gets full marks, exit status 0.

    (It did: the fork server's workers re-imported the script, died in
    multiprocessing's bootstrapping check, and every student got a ``crash``
    row with score 0, exit status 0.)  The expected score, 2 of 2, is the
    xor_1layer assignment's two parameters, both correct.
    """
    _class(tmp_path)
    proc = _run(tmp_path, UNGUARDED)
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((tmp_path / "r.json").read_text())
    assert [(r["submission"], r["verdict"], r["score"]) for r in results] == [(f"{i}_good.py", "ok", 2.0) for i in range(4)]
    assert (tmp_path / "runs.txt").read_text().split() == ["__main__"]  # the script ran once, as itself
    assert "RuntimeError" not in proc.stderr
