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


def _grade_in_process(tmp_path: Path, *extra: str) -> int:
    from gradcheck.cli import main

    return main(["grade", str(tmp_path / "subs"), "--model", "xor_1layer", "--jobs", "2", "--no-cache", "--quiet",
                 "--json", str(tmp_path / "r.json"), "--csv", str(tmp_path / "g.csv"), *extra])


@pytest.mark.parametrize(("plant", "cause"), [
    ("sys.modules['gradcheck.grading.cli'] = None; worker_main(", "a worker could not load the grader:\nTraceback"),  # its import fails
    ("import os; os._exit(7); worker_main(", "exited with status 7 before it was ready"),  # it dies at once
])
def test_workers_that_cannot_start_stop_the_command_and_blame_no_student(tmp_path, monkeypatch, capsys, plant, cause):
    """Exit status 1, the cause and what to do on stderr, and no gradebook: never a ``crash`` row per student."""
    from gradcheck.grading import _pool

    _class(tmp_path)
    monkeypatch.setattr(_pool, "_MAIN", _pool._MAIN.replace("worker_main(", plant))  # every worker fails before it is ready
    assert _grade_in_process(tmp_path) == 1
    err = capsys.readouterr().err
    assert "the grading workers could not start" in err and "not the students' doing" in err and cause in err
    assert "nothing was written; 0 of 4 submissions were graded" in err
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "g.csv").exists()


def test_a_replacement_worker_that_cannot_start_is_the_machinerys_failure_too(tmp_path, monkeypatch, capsys):
    """A submission kills its worker; the worker started to grade it again alone cannot start: an error, not a crash row."""
    from gradcheck.grading import _pool

    _class(tmp_path, 2)
    (tmp_path / "subs" / "0_good.py").write_text(KILLS_WORKER)
    real = _pool._start
    started = []

    def start():  # the pool's first two workers start; every later one fails
        started.append(1)
        if len(started) > 2:
            monkeypatch.setattr(_pool, "_MAIN", "import os; os._exit(7)")
        return real()

    monkeypatch.setattr(_pool, "_start", start)
    assert _grade_in_process(tmp_path, "--isolation", "process") == 1  # (stronger levels keep the worker out of its reach)
    err = capsys.readouterr().err
    assert "exited with status 7 before it was ready" in err and "1 of 2 submissions were graded" in err
    assert not (tmp_path / "g.csv").exists()


KILLS_WORKER = """
import os, signal
import numpy as np
# the launcher is this process's parent; the grading worker is the launcher's parent
_worker = int(open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(_worker, signal.SIGKILL)
def backward(params, x, y):
    return {k: np.zeros_like(v) for k, v in params.items()}
"""
