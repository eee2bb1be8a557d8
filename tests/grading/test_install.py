"""The documented install: ``pip install ".[grading]"`` into a fresh venv grades a submission.

Slow (a venv and a pip install, from the package index or its cache): CI runs
it; deselect locally with ``-m "not slow"``.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""


def _copy_repo(dest: Path) -> None:
    """The files git tracks (a fresh clone's view, without this checkout's build leftovers)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = Path(raw.decode())
        src = ROOT / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


@pytest.mark.slow
def test_grading_extra_installs_everything_grade_needs(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout to copy the tracked files from")
    repo = tmp_path / "repo"
    _copy_repo(repo)
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True, symlinks=True)
    py = env_dir / "bin" / "python"
    pip = subprocess.run([str(py), "-m", "pip", "install", "-q", f"{repo}[grading]"], capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stdout + pip.stderr
    version = subprocess.run([str(env_dir / "bin" / "gradcheck"), "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and version.stdout.startswith("gradcheck 0.") and "numpy" in version.stdout, version
    subs = tmp_path / "subs"
    subs.mkdir()
    (subs / "good.py").write_text(GOOD)
    (subs / "sign.py").write_text(GOOD.replace("2 * (a - y)", "2 * (y - a)"))  # a failure: hypothesis shrinks it
    out = tmp_path / "r.json"
    graded = subprocess.run(
        [str(env_dir / "bin" / "gradcheck"), "grade", str(subs), "--model", "xor_1layer", "--no-cache", "--quiet", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    good, sign = sorted(json.loads(out.read_text()), key=lambda r: r["submission"])
    assert (good["verdict"], good["score"], good["max_score"]) == ("ok", 2.0, 2.0), good
    assert (sign["verdict"], sign["diagnoses"], sign["counterexample"] is not None) == ("ok", ["sign"], True), sign
    _same_grades_at_uid(env_dir, subs, tmp_path, [good, sign])
    # the pytest self-check runs from the same install
    selfcheck = subprocess.run(
        [str(py), "-m", "pytest", "-q", "-p", "no:cacheprovider", "--gradcheck-submission", str(subs / "good.py"), "--gradcheck-model", "xor_1layer"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert selfcheck.returncode == 0, selfcheck.stdout + selfcheck.stderr
    assert sys.executable != str(py)


def _same_grades_at_uid(env_dir: Path, subs: Path, tmp_path: Path, expected: list[dict]) -> None:
    """Gradescope's level, from the same non-editable install (rt20 F5: its site-packages was taken for a clone of the
    answer key and covered whole, numpy with it: 'No module named numpy', nobody graded)."""
    from gradcheck.grading.isolation import Level, available_levels

    if available_levels()[Level.UID] is not None:
        return
    out = tmp_path / "uid.json"
    graded = subprocess.run(
        [str(env_dir / "bin" / "gradcheck"), "grade", str(subs), "--model", "xor_1layer", "--no-cache", "--quiet",
         "--isolation", "uid", "--json", str(out)],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert graded.returncode == 0, graded.stdout + graded.stderr
    got = sorted(json.loads(out.read_text()), key=lambda r: r["submission"])
    assert [(r["score"], r["diagnoses"]) for r in got] == [(r["score"], r["diagnoses"]) for r in expected], got
