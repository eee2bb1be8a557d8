"""Helper modules in a package folder beside the graded file (rt23 F9): found, copied with their layout, compared.

A student who keeps ``sigmoid`` in ``lib/act.py`` and writes ``from lib.act
import sigmoid`` (or ``import lib.act``) is graded as the code runs on their
machine; the folder's place in the sandbox is the one beside the graded file.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest

import reference_models
from gradcheck.grading import cli
from gradcheck.grading.assignment import Limits
from gradcheck.grading.identity import collect_submissions, pick_in_folder
from gradcheck.grading.sandbox import CallResult, Sandbox

BODY = """
def backward(params, x, y):
    a = sigmoid(x @ params["W1"] + params["b1"])
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
FROM_PACKAGE = "import numpy as np\nfrom lib.act import sigmoid\n" + BODY
IMPORT_PACKAGE = "import numpy as np\nimport lib.act\nsigmoid = lib.act.sigmoid\n" + BODY
ACT = "import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\n"
LIMITS = Limits(wall_seconds=5, cpu_seconds=4, memory_bytes=1 << 30, load_seconds=20)


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


def test_a_package_the_graded_file_imports_is_graded_with_it_and_compared(tmp_path: Path) -> None:
    # rt23 F9: `from lib.act import` (a package with __init__.py) and `import lib.act` (a namespace package) both run
    d = write(tmp_path / "class", {"kim_20001/hw1.py": FROM_PACKAGE, "kim_20001/lib/__init__.py": "", "kim_20001/lib/act.py": ACT,
                                   "lee_20002/hw1.py": IMPORT_PACKAGE, "lee_20002/lib/act.py": "# mine\n" + ACT})
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n[submission]\nfile = "hw1.py"\n')
    out = tmp_path / "out"
    assert grade(d, "--assignment", tmp_path / "a.toml", "--no-cache", "--quiet", "--jobs", "1", "--csv", out / "g.csv",
                 "--summary", out / "s.md") == 0
    rows = list(csv.DictReader((out / "g.csv").open(encoding="utf-8-sig")))
    assert [(r["submission"], r["verdict"], r["score"]) for r in rows] == [("kim_20001", "ok", "2"), ("lee_20002", "ok", "2")]
    summary = (out / "s.md").read_text(encoding="utf-8")
    assert "| kim_20001 (lib/act.py), lee_20002 (lib/act.py) | 2 |" in summary  # the copy is seen, by its place


def test_only_imported_packages_are_taken_with_their_own_imports_and_never_renamed(tmp_path: Path) -> None:
    d = write(tmp_path / "kim", {"hw1.py": FROM_PACKAGE, "lib/__init__.py": "from .act import sigmoid\n", "lib/act.py": "import core\n",
                                 "core/sig.py": ACT, "tests/test_hw1.py": "import hw1\n", "data/notes.txt": "x"})
    choice = pick_in_folder(d, "kim", file_pattern="hw1.py")
    assert [n for _, n in choice.helpers] == ["core/sig.py", "lib/__init__.py", "lib/act.py"]  # tests/ is imported by nobody
    (sub,) = collect_submissions([d.parent], file_pattern="hw1.py")
    assert [f.relative_to(d).as_posix() for f in sub.extra_files] == ["core/sig.py", "lib/__init__.py", "lib/act.py"]
    assert sub.helper_names == ()  # nothing to stage under another name: each keeps its place


def _call(sub: Path, extra: list[Path]) -> tuple[Sandbox, CallResult]:
    m = reference_models.get("xor_1layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 4)
    with Sandbox(sub, limits=LIMITS, extra_files=extra) as box:
        return box, box.call(p, x, y)


def test_the_sandbox_places_a_package_module_where_it_is_imported_from(tmp_path: Path) -> None:
    d = write(tmp_path, {"hw1.py": FROM_PACKAGE, "lib/__init__.py": "", "lib/act.py": ACT})
    box, r = _call(d / "hw1.py", [d / "lib/__init__.py", d / "lib/act.py"])
    assert (box.load_status, r.status) == ("ok", "ok"), box.load_message


def test_a_package_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    # a link on the way to a module would hand the sandbox someone else's file, as a linked module would
    write(tmp_path / "alice", {"lib/act.py": ACT})
    d = write(tmp_path / "kim", {"hw1.py": FROM_PACKAGE})
    os.symlink(tmp_path / "alice" / "lib", d / "lib")
    with pytest.raises(ValueError, match="symbolic link"):
        _call(d / "hw1.py", [d / "lib/act.py"])


def test_a_cluster_task_keeps_the_package_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gradcheck.grading import distributed
    from gradcheck.parallel import WORKERS_ENV

    d = write(tmp_path, {"hw1.py": FROM_PACKAGE, "lib/act.py": ACT, "utils.py": ACT})
    job = cli.GradingJob(str(d / "hw1.py"), (str(d / "lib/act.py"), str(d / "utils.py")), identity="kim", student_id="", model="xor_1layer",
                         seed=0, assignment=None, limits={}, lang="en", shrink=False)
    task = distributed.portable(job)
    assert [n for n, _ in task.files] == ["hw1.py", "lib/act.py", "utils.py"]
    seen: list[list[str]] = []

    def grade_job(local: cli.GradingJob) -> dict[str, object]:
        root = Path(local.path).parent
        seen.append([Path(f).relative_to(root).as_posix() for f in local.extra_files] + [json.dumps((root / "lib/act.py").exists())])
        return {}

    monkeypatch.setenv(WORKERS_ENV, "1")
    monkeypatch.setattr(cli, "grade_job", grade_job)
    distributed.grade_portable(task)
    assert seen == [["lib/act.py", "utils.py", "true"]]


def test_a_package_module_and_a_helper_of_the_same_name_are_both_in_the_cache_key(tmp_path: Path) -> None:
    # lib/act.py and act.py are two files: a change of either one grades again
    hw1 = FROM_PACKAGE.replace("from lib.act", "import act\nfrom lib.act").replace('{"W1": x.T @ d', '{"W1": act.SCALE * x.T @ d')
    d = write(tmp_path / "class", {"kim_20001/hw1.py": hw1, "kim_20001/act.py": "SCALE = 1\n", "kim_20001/lib/act.py": ACT})
    (tmp_path / "a.toml").write_text('model = "xor_1layer"\n[submission]\nfile = "hw1.py"\n')
    cache, out = tmp_path / "cache", tmp_path / "g.csv"
    scores = []
    for scale in ("1", "2"):
        (d / "kim_20001/act.py").write_text(f"SCALE = {scale}\n")
        assert grade(d, "--assignment", tmp_path / "a.toml", "--cache", cache, "--quiet", "--jobs", "1", "--csv", out) == 0
        scores += [r["diagnoses"] for r in csv.DictReader(out.open(encoding="utf-8-sig"))]
    assert scores == ["correct", "scale;correct"]  # the second run: dW1 twice too large, not the first run's cached grade


@pytest.mark.parametrize("level", ["process", "uid", "namespaces"])
def test_a_traceback_shows_the_helper_modules_frames_as_the_student_named_them(tmp_path: Path, level: str) -> None:
    # the error is in lib/act.py: the student sees that frame, named as in their folder, and none of the grader's
    from gradcheck.grading.isolation import Level, available_levels

    why = available_levels()[Level.parse(level)]
    if why is not None:
        pytest.skip(f"{level} isolation is not available here: {why}")
    d = write(tmp_path, {"hw1.py": FROM_PACKAGE, "lib/act.py": "def sigmoid(z):\n    return 1 / undefined_name\n"})
    m = reference_models.get("xor_1layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 4)
    with Sandbox(d / "hw1.py", limits=LIMITS, isolation=level, extra_files=[d / "lib/act.py"]) as box:
        r = box.call(p, x, y)
    assert r.status == "error" and 'File "hw1.py", line 5, in backward' in r.message, r.message
    assert 'File "lib/act.py", line 2, in sigmoid\n    return 1 / undefined_name' in r.message, r.message
    assert "_child" not in r.message and "gradcheck" not in r.message and r.message.count('File "') == 2, r.message
