"""Tests of ``gradcheck grade`` (gradcheck.grading.cli), with real sandboxes."""
from __future__ import annotations

import argparse
import csv
import json
import re
import xml.etree.ElementTree as ET

import pytest

# the grade command prints its progress and report with rich (the grading extra)
pytest.importorskip("rich")

from gradcheck.grading import cli

HANGUL = re.compile("[\uac00-\ud7a3]")

SUB = """
import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def backward(params, x, y):
    z1 = x @ params["W1"] + params["b1"]
    a1 = sigmoid(z1)
    dz1 = OUTPUT_ERROR * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True)}
"""


@pytest.fixture
def subs(tmp_path):
    d = tmp_path / "subs"
    d.mkdir()
    (d / "good.py").write_text(SUB.replace("OUTPUT_ERROR", "2 * (a1 - y) / len(y)"))
    (d / "notebook.py").write_text(SUB.replace("OUTPUT_ERROR", "(a1 - y)"))
    (d / "broken.py").write_text("def backward(params, x, y)\n    return {}\n")
    (d / "notes.txt").write_text("not a submission")
    return d


def _notebook(path, source):
    nbformat = pytest.importorskip("nbformat")

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 과제"), nbformat.v4.new_code_cell("%matplotlib inline"), nbformat.v4.new_code_cell(source)]
    nbformat.write(nb, str(path))


def test_notebooks_in_a_directory_are_graded(tmp_path):
    d = tmp_path / "nbs"
    d.mkdir()
    _notebook(d / "sign.ipynb", SUB.replace("OUTPUT_ERROR", "-2 * (a1 - y) / len(y)"))
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--json", tmp_path / "r.json") == 0
    (r,) = json.loads((tmp_path / "r.json").read_text())
    assert (r["submission"], r["diagnoses"], r["score"]) == ("sign.ipynb", ["sign"], 0.5)


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def test_directory_with_every_output(subs, tmp_path, capsys):
    out = tmp_path / "out"
    rc = grade(
        subs, "--model", "xor_1layer", "--jobs", "2", "--cache", tmp_path / "cache",
        "--csv", out / "grades.csv", "--json", out / "results.json", "--junit", out / "junit.xml",
        "--feedback", out / "feedback", "--gradescope", out / "gradescope", "--summary", out / "summary.md",
    )  # fmt: skip
    assert rc == 0
    stdout = capsys.readouterr().out
    assert "good.py" in stdout and "Class summary" in stdout
    rows = {r["submission"]: r for r in csv.DictReader((out / "grades.csv").open(encoding="utf-8-sig"))}
    assert set(rows) == {"good.py", "notebook.py", "broken.py"}
    assert (rows["good.py"]["score"], rows["notebook.py"]["score"], rows["broken.py"]["score"]) == ("2", "1", "0")
    assert rows["notebook.py"]["diagnoses"] == "scale" and rows["broken.py"]["verdict"] == "syntax"
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert [d["submission"] for d in data] == ["broken.py", "good.py", "notebook.py"]
    assert ET.parse(out / "junit.xml").getroot().get("tests") == "7"
    assert sorted(p.name for p in (out / "feedback").iterdir()) == ["broken.py.md", "good.py.md", "notebook.py.md"]
    gs = json.loads((out / "gradescope" / "notebook.py.json").read_text(encoding="utf-8"))
    assert gs["score"] == 1.0 and [t["status"] for t in gs["tests"]] == ["failed", "failed"]
    assert "| scale | 1 |" in (out / "summary.md").read_text(encoding="utf-8")


def test_resume_uses_the_cache_and_notices_changes(subs, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    assert grade(subs, "--model", "xor_1layer", "--cache", cache, "--quiet", "--json", tmp_path / "first.json") == 0
    assert len(list(cache.glob("*.json"))) == 3
    graded = []
    real = cli.grade_job
    monkeypatch.setattr(cli, "grade_job", lambda job: graded.append(job.identity) or real(job))
    assert grade(subs, "--model", "xor_1layer", "--cache", cache, "--quiet", "--json", tmp_path / "again.json") == 0
    assert graded == []  # everything came from the cache ...
    strip = lambda rs: [{k: v for k, v in r.items() if k != "duration"} for r in rs]  # noqa: E731
    assert strip(json.loads((tmp_path / "again.json").read_text())) == strip(json.loads((tmp_path / "first.json").read_text()))
    (subs / "good.py").write_text((subs / "good.py").read_text() + "\n# edited\n")
    assert grade(subs, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1") == 0
    assert graded == ["good.py"]  # ... but a changed file is graded again,
    assert grade(subs, "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1", "--seed", "3") == 0
    assert sorted(graded[1:]) == ["broken.py", "good.py", "notebook.py"]  # and so is every file under another seed
    for entry in cache.glob("*.json"):
        entry.write_text("{damaged")
    assert grade(subs / "notebook.py", "--model", "xor_1layer", "--cache", cache, "--quiet", "--jobs", "1") == 0
    assert graded[-1] == str(subs / "notebook.py")


def test_a_tampered_or_foreign_cache_entry_is_ignored_and_regraded(subs, tmp_path, monkeypatch, capsys):
    from gradcheck.grading.cache import ResultCache, key_path
    from gradcheck.grading.results import SubmissionResult

    cache = tmp_path / "cache"
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet") == 0
    assert key_path().stat().st_mode & 0o777 == 0o600 and key_path().parent.stat().st_mode & 0o777 == 0o700  # the grader's alone
    assert not [p for p in cache.iterdir() if p.suffix != ".json"]  # nothing but entries in the cache directory: no key there
    (entry,) = cache.glob("*.json")
    data = json.loads(entry.read_text())
    body = json.loads(data["result"])
    body["score"] = 99.0  # a forged grade, with the old (now wrong) HMAC
    data["result"] = json.dumps(body)
    entry.write_text(json.dumps(data))
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet", "--json", tmp_path / "r.json") == 0
    assert json.loads((tmp_path / "r.json").read_text())[0]["score"] == 2.0
    # an entry made under another grader's key (another user, another machine) is ignored too
    ours = str(key_path().parent.parent)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "another-user"))
    other = tmp_path / "other"
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", other, "--quiet") == 0
    (foreign,) = other.glob("*.json")
    forged = json.loads(foreign.read_text())
    body = json.loads(forged["result"])
    body["score"] = 77.0
    ResultCache(other).put(foreign.stem, SubmissionResult.from_dict(body), json.loads(forged["inputs"]))  # signed with that user's key
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", other, "--quiet", "--json", tmp_path / "r.json") == 0
    assert json.loads((tmp_path / "r.json").read_text())[0]["score"] == 77.0  # the right key: accepted (the check is not vacuous)
    monkeypatch.setenv("XDG_STATE_HOME", ours)
    (entry,) = cache.glob("*.json")
    entry.write_text(foreign.read_text())
    graded = []
    real = cli.grade_job
    monkeypatch.setattr(cli, "grade_job", lambda job: graded.append(job.identity) or real(job))
    capsys.readouterr()
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet", "--json", tmp_path / "r.json") == 0
    assert json.loads((tmp_path / "r.json").read_text())[0]["score"] == 2.0 and len(graded) == 1
    err = capsys.readouterr().err
    assert err.count("1 cached result in") == 1 and "not signed with your cache key" in err, err


def test_a_grader_failure_is_exit_1_and_spares_the_others(subs, tmp_path, monkeypatch, capsys):
    real = cli.grade_job

    def flaky(job):
        if job.path.endswith("good.py"):
            raise RuntimeError("grader bug")
        return real(job)

    monkeypatch.setattr(cli, "grade_job", flaky)
    rc = grade(subs, "--model", "xor_1layer", "--jobs", "1", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv")
    assert rc == 1
    assert "grading 'good.py'" in capsys.readouterr().err
    rows = list(csv.DictReader((tmp_path / "g.csv").open(encoding="utf-8-sig")))
    # the grader's failure is good.py's row (0, "error", needs a human look), never a missing row (rt26 F8)
    assert [(r["submission"], r["verdict"]) for r in rows] == [("broken.py", "syntax"), ("good.py", "error"), ("notebook.py", "ok")]
    assert rows[1]["score"] == "0"


def test_korean_feedback_and_single_gradescope_file(subs, tmp_path):
    rc = grade(subs / "notebook.py", "--model", "xor_1layer", "--lang", "ko", "--no-cache", "--quiet",
               "--feedback", tmp_path / "fb", "--gradescope", tmp_path / "results.json")  # fmt: skip
    assert rc == 0
    assert HANGUL.search((tmp_path / "fb" / "notebook.py.md").read_text(encoding="utf-8"))
    gs = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert gs["score"] == 1.0 and HANGUL.search(gs["tests"][0]["output"])


def test_assignment_limits_and_timeout(tmp_path):
    (tmp_path / "loop.py").write_text("def backward(params, x, y):\n    while True:\n        pass\n")
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n[points]\nW1 = 3\n')
    rc = grade(tmp_path / "loop.py", "--assignment", tmp_path / "a.toml", "--timeout", "0.5", "--no-cache", "--quiet", "--json", tmp_path / "r.json")
    assert rc == 0
    (r,) = json.loads((tmp_path / "r.json").read_text())
    assert (r["verdict"], r["score"], r["max_score"]) == ("timeout", 0.0, 4.0)
    assert "0.5 s" in r["messages"][0]  # --timeout overrides the assignment's limit


@pytest.mark.parametrize(
    "argv, match",
    [
        (["missing.py", "--model", "xor_1layer"], "no such file"),
        (["SUBS"], "--model"),
        (["SUBS", "--assignment", "nope.toml"], "no such assignment"),
        (["SUBS", "--assignment", "BAD"], "model"),
        (["SUBS", "--model", "xor_2layer", "--assignment", "GOOD"], "contradicts"),
        (["EMPTY", "--model", "xor_1layer"], "no .py or .ipynb"),
    ],
)
def test_usage_errors_exit_2(argv, match, subs, tmp_path, capsys):
    (tmp_path / "bad.toml").write_text('model = "no_such_model"\n')
    (tmp_path / "good.toml").write_text('model = "xor_1layer"\n')
    (tmp_path / "empty").mkdir()
    names = {"SUBS": subs, "BAD": tmp_path / "bad.toml", "GOOD": tmp_path / "good.toml", "EMPTY": tmp_path / "empty"}
    assert grade(*[names.get(a, a) for a in argv], "--no-cache") == 2
    assert match in capsys.readouterr().err


def test_argument_types():
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command"))
    for bad in (["--jobs", "0"], ["--timeout", "-1"], ["--seed", "-2"], ["--lang", "fr"], ["--memory", "x"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["grade", "a.py", *bad])
    args = parser.parse_args(["grade", "a.py", "--model", "m"])
    assert args.func is cli.run and args.jobs is None and args.cache is None  # the user's own cache


KILLS_WORKER = """
import os, signal
import numpy as np
# the launcher is this process's parent; the grading worker is the launcher's parent
_worker = int(open(f"/proc/{os.getppid()}/stat").read().rsplit(")", 1)[1].split()[1])
os.kill(_worker, signal.SIGKILL)
def backward(params, x, y):
    return {k: np.zeros_like(v) for k, v in params.items()}
"""


@pytest.mark.parametrize("level", ["process", "auto"])
def test_a_submission_killing_its_grading_worker_does_not_stop_the_others(tmp_path, capsys, level, monkeypatch):
    """Every submission gets exactly one row: the one that destroys its worker a ``crash``; no sandbox directory is left."""
    import tempfile
    import time

    scratch = tmp_path / "scratch"  # the sandboxes' directories (process level: on the grader's disk)
    scratch.mkdir()
    if level == "process":
        monkeypatch.setattr(tempfile, "tempdir", str(scratch))
        monkeypatch.setenv("TMPDIR", str(scratch))  # the pool's workers are fresh interpreters: they read it
    d = tmp_path / "class"
    d.mkdir()
    (d / "a_kills_worker.py").write_text(KILLS_WORKER)
    for name in ("b_good.py", "c_good.py", "d_good.py"):
        (d / name).write_text(SUB.replace("OUTPUT_ERROR", "2 * (a1 - y) / len(y)"))
    status = grade(d, "--model", "xor_1layer", "--jobs", "2", "--no-cache", "--quiet", "--no-shrink", "--json", tmp_path / "r.json", "--isolation", level)
    results = json.loads((tmp_path / "r.json").read_text())
    assert [(r["submission"], r["score"]) for r in results] == [("a_kills_worker.py", 0.0), ("b_good.py", 2.0), ("c_good.py", 2.0), ("d_good.py", 2.0)]
    assert results[0]["verdict"] == "crash" and status == 0
    if results[0]["isolation"] == "process":  # it reached the worker (at the stronger levels the worker is out of its reach)
        assert "grading worker process died" in " ".join(results[0]["messages"])
    time.sleep(0.5)  # the launchers of the killed worker's sandboxes clean up after it
    assert [p.name for p in scratch.iterdir() if p.name.startswith("gradcheck-sandbox-")] == []


def test_pool_workers_do_not_fork_numerics_of_their_own(monkeypatch):
    """With --jobs N the pool already fills the CPUs: its workers' engine runs in one process."""
    import os

    from gradcheck import engine
    from gradcheck.grading import _pool
    from multiprocessing.connection import Connection

    monkeypatch.setenv("GRADCHECK_WORKERS", "4")  # restored after the test
    jobs_r, jobs_w = os.pipe()
    results_r, results_w = os.pipe()
    os.close(jobs_w)  # no job: the worker says ready and leaves at end of file
    _pool.worker_main(jobs_r, results_w)  # what each worker runs, here in this process
    with Connection(results_r, writable=False) as results:
        assert results.recv() == ("ready", os.getpid())
    assert os.environ["GRADCHECK_WORKERS"] == "1"
    assert engine._workers(None, engine.PARALLEL_MIN_VALUES) == 1


def test_the_pool_never_forks_the_grading_process_while_the_progress_bar_thread_runs(subs, tmp_path, monkeypatch):
    """Its workers are started by fork and exec (safe beside any thread), never by a plain fork of this process."""
    import os

    def no_fork():
        raise AssertionError("os.fork() of the grading process")

    monkeypatch.setattr(os, "fork", no_fork)
    rc = grade(subs, "--model", "xor_1layer", "--jobs", "2", "--no-cache", "--json", tmp_path / "r.json")  # not --quiet: the bar's thread runs
    assert rc == 0
    results = json.loads((tmp_path / "r.json").read_text())
    assert [(r["submission"], r["score"]) for r in results] == [("broken.py", 0.0), ("good.py", 2.0), ("notebook.py", 1.0)]  # as in test_directory_with_every_output


def test_new_grading_code_under_the_same_version_is_not_served_old_grades(subs, tmp_path, monkeypatch):
    # `git pull` in a clone, or an installed copy edited in place, keeps the version number: the cache key
    # must follow the code itself, or a re-grade serves the old code's grades
    from gradcheck.grading import cache as cache_module

    cache = tmp_path / "cache"
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet") == 0
    graded = []
    real = cli.grade_job
    monkeypatch.setattr(cli, "grade_job", lambda job: graded.append(job.identity) or real(job))
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet") == 0
    assert graded == []  # the same code: from the cache
    monkeypatch.setattr(cache_module, "code_hash", lambda: "0" * 64)  # what another copy of the code hashes to
    assert grade(subs / "good.py", "--model", "xor_1layer", "--cache", cache, "--quiet") == 0
    assert graded == [str(subs / "good.py")]


def test_the_code_hash_changes_with_one_byte_of_the_grading_code(tmp_path):
    import shutil
    import subprocess
    import sys

    import gradcheck
    import reference_models
    from gradcheck.grading.cache import code_hash, versions_line

    for package in (gradcheck, reference_models):
        src = __import__("pathlib").Path(package.__file__).parent
        shutil.copytree(src, tmp_path / src.name, ignore=shutil.ignore_patterns("__pycache__"))
    probe = "from gradcheck.grading.cache import code_hash; print(code_hash())"
    env = {"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}

    def hashed() -> str:
        return subprocess.run([sys.executable, "-c", probe], env=env, cwd=tmp_path, capture_output=True, text=True,
                              check=True).stdout.strip()

    assert hashed() == code_hash()  # a byte-identical copy: the same code, wherever it lies
    target = tmp_path / "reference_models" / "xor.py"
    target.write_bytes(target.read_bytes() + b" ")
    assert hashed() not in (code_hash(), "")
    assert f"(code {code_hash()[:12]})" in versions_line()


def test_a_grade_made_without_the_notebook_data_is_not_served_once_it_is_there(tmp_path, monkeypatch):
    # rt23 F1: a grade cached with no mnist.npz (random points only) was served after GRADCHECK_MNIST was set
    import shutil
    from pathlib import Path

    import numpy as np

    subs = tmp_path / "subs"
    subs.mkdir()
    shutil.copy(Path(__file__).parent / "submissions" / "mnist_relu__correct__layer_deltas.py", subs / "alice.py")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.keras/datasets/mnist.npz
    monkeypatch.delenv("GRADCHECK_MNIST", raising=False)
    cache = tmp_path / "cache"
    assert grade(subs, "--model", "mnist_relu", "--cache", cache, "--quiet", "--summary", tmp_path / "none.md") == 0
    assert "**Notebook data:** none on this machine" in (tmp_path / "none.md").read_text(encoding="utf-8")
    graded = []
    real = cli.grade_job
    monkeypatch.setattr(cli, "grade_job", lambda job: graded.append(job.identity) or real(job))
    assert grade(subs, "--model", "mnist_relu", "--cache", cache, "--quiet") == 0
    assert graded == []  # the same data (none): from the cache
    rng = np.random.default_rng(0)
    fake = tmp_path / "mnist.npz"
    np.savez(fake, x_train=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), y_train=rng.integers(0, 10, 12),
             x_test=rng.integers(0, 256, (3, 28, 28), dtype=np.uint8), y_test=rng.integers(0, 10, 3))
    monkeypatch.setenv("GRADCHECK_MNIST", str(fake))
    assert grade(subs, "--model", "mnist_relu", "--cache", cache, "--quiet", "--summary", tmp_path / "mnist.md") == 0
    assert graded == ["alice.py"]  # now with a notebook point: graded again
    assert "**Notebook data:** sha256:" in (tmp_path / "mnist.md").read_text(encoding="utf-8")
