"""The Gradescope autograder zip, run in a temporary root that mimics /autograder."""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gradcheck.cli import main
from gradcheck.grading.autograder import (
    ROOT_ENV,
    build_gradescope_zip,
    build_wheel,
    find_submission,
    grader_mismatch,
)

SUBMISSIONS = Path(__file__).parent / "submissions"
PARTIAL = SUBMISSIONS / "xor_2layer__partial__db1_loop_two_units.py"
ASSIGNMENT = 'title = "XOR backprop, week 3"\nmodel = "xor_2layer"\nseed = 7\n\n[gradescope]\nvisibility = "after_due_date"\nstdout_visibility = "visible"\n'
TOP = {"score", "execution_time", "output", "output_format", "visibility", "stdout_visibility", "tests", "extra_data"}
TEST = {"score", "max_score", "status", "name", "number", "output", "output_format", "tags", "visibility"}


@pytest.fixture()
def autograder_zip(tmp_path: Path) -> Path:
    toml = tmp_path / "hw3.toml"
    toml.write_text(ASSIGNMENT, encoding="utf-8")
    assert main(["autograder", "gradescope", str(toml), "-o", str(tmp_path / "out" / "autograder.zip")]) == 0
    return tmp_path / "out" / "autograder.zip"


def _mock_root(tmp_path: Path, zip_path: Path, files: dict[str, Path | str]) -> Path:
    root = tmp_path / "autograder"
    (root / "submission").mkdir(parents=True)
    (root / "results").mkdir()
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(root / "source")
    for name, src in files.items():
        target = root / "submission" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(src, Path):
            shutil.copy(src, target)
        else:
            target.write_text(src, encoding="utf-8")
    return root


def _run_autograder(root: Path) -> dict:
    env = {**os.environ, ROOT_ENV: str(root), "GRADCHECK_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (root / "results").iterdir()) == ["results.json"]
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert set(data) <= TOP and {"score", "tests"} <= set(data)
    for t in data["tests"]:
        assert set(t) == TEST and t["status"] in ("passed", "failed")
    return data


def test_zip_holds_the_scripts_the_assignment_and_a_wheel(autograder_zip: Path) -> None:
    with zipfile.ZipFile(autograder_zip) as zf:
        names = zf.namelist()
        assert names[:3] == ["setup.sh", "run_autograder", "assignment.toml"]
        assert len(names) == 4 and names[3].startswith("gradcheck-") and names[3].endswith("-py3-none-any.whl")
        assert zf.read("assignment.toml").decode() == ASSIGNMENT
        for script in ("setup.sh", "run_autograder"):
            mode = zf.getinfo(script).external_attr >> 16
            assert mode & stat.S_IXUSR, script
        setup = zf.read("setup.sh").decode()
        assert f'"$SOURCE/{names[3]}[grading]"' in setup  # installs the bundled wheel, not an index's gradcheck
    with zipfile.ZipFile(autograder_zip) as zf, zipfile.ZipFile(zf.open(names[3])) as wheel:
        inside = wheel.namelist()
    assert "gradcheck/grading/_child.py" in inside and "reference_models/study.py" in inside
    assert not any("__pycache__" in n for n in inside)


def test_zip_is_reproducible(tmp_path: Path) -> None:
    toml = tmp_path / "a.toml"
    toml.write_text(ASSIGNMENT, encoding="utf-8")
    one = build_gradescope_zip(toml, tmp_path / "1.zip").read_bytes()
    two = build_gradescope_zip(toml, tmp_path / "2.zip").read_bytes()
    assert one == two


def test_run_autograder_grades_the_submission(tmp_path: Path, autograder_zip: Path) -> None:
    root = _mock_root(tmp_path, autograder_zip, {"hw3.py": PARTIAL})
    data = _run_autograder(root)
    # the corpus file gets db1 wrong in one of its three entries: 1/3 of its point
    assert data["score"] == pytest.approx(3 + 1 / 3, abs=1e-6)
    assert sum(t["max_score"] for t in data["tests"]) == 4
    assert [t["name"].split(": ")[1] for t in data["tests"]][:4] == ["dW1", "db1", "dW2", "db2"]
    assert data["visibility"] == "after_due_date" and data["stdout_visibility"] == "visible"
    assert {t["visibility"] for t in data["tests"]} == {"after_due_date"}
    assert data["extra_data"]["seed"] == 7 and data["extra_data"]["title"] == "XOR backprop, week 3"
    assert "XOR backprop, week 3" in data["output"] and "7" in data["output"]


def test_the_grader_that_runs_is_compared_with_the_wheel(tmp_path: Path, autograder_zip: Path) -> None:
    """rt20 F7: run_autograder falls back to python3, which graded with a foreign copy of gradcheck and said nothing."""
    root = _mock_root(tmp_path, autograder_zip, {})
    wheel = next((root / "source").glob("*.whl"))
    assert grader_mismatch(wheel) == []  # the wheel was built from the package running these tests
    changed = tmp_path / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(changed, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename.endswith(".dist-info/RECORD"):
                data = data.replace(b"gradcheck/check.py,sha256=", b"gradcheck/check.py,sha256=X")
            dst.writestr(item, data)
    assert grader_mismatch(changed) == ["gradcheck/check.py"]
    shutil.copy(changed, wheel)
    env = {**os.environ, ROOT_ENV: str(root), "GRADCHECK_PYTHON": sys.executable}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True, text=True,
                          timeout=300, check=False)
    assert "gradcheck: grading with gradcheck 0." in proc.stdout, proc.stdout
    assert "is not the one in" in proc.stdout and "gradcheck/check.py" in proc.stdout and "GRADCHECK_PYTHON" in proc.stdout, proc.stdout


def test_run_autograder_picks_the_template_name_among_helpers(tmp_path: Path, autograder_zip: Path) -> None:
    good = SUBMISSIONS / "xor_2layer__correct__dict.py"
    root = _mock_root(tmp_path, autograder_zip, {"xor_2layer.py": good, "notes/scratch.py": "x = 1\n"})
    data = _run_autograder(root)
    assert data["score"] == 4 and data["extra_data"]["submission"] == "xor_2layer.py"


@pytest.mark.parametrize(
    ("files", "expect"),
    [
        ({}, "no .py or .ipynb"),
        ({"a.py": "x = 1\n", "b.ipynb": "{}"}, "a.py, b.ipynb"),
    ],
    ids=["empty", "ambiguous"],
)
def test_run_autograder_without_one_file_gives_zero_and_says_why(tmp_path: Path, autograder_zip: Path, files: dict, expect: str) -> None:
    root = _mock_root(tmp_path, autograder_zip, files)
    data = _run_autograder(root)
    assert data["score"] == 0 and [t["max_score"] for t in data["tests"]] == [4.0]
    assert expect in data["tests"][0]["output"] and "xor_2layer.py" in data["tests"][0]["output"]


def test_run_autograder_writes_results_when_the_grader_fails(tmp_path: Path, autograder_zip: Path) -> None:
    root = _mock_root(tmp_path, autograder_zip, {"hw3.py": PARTIAL})
    # a broken installation: the reference models cannot be imported in the grading process
    shim = tmp_path / "shim"
    (shim / "reference_models").mkdir(parents=True)
    (shim / "reference_models" / "__init__.py").write_text("raise RuntimeError('broken install')\n")
    env = {**os.environ, ROOT_ENV: str(root), "GRADCHECK_PYTHON": sys.executable, "PYTHONPATH": str(shim)}
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True, text=True, timeout=120, check=False)
    assert "broken install" in proc.stdout  # the traceback, for the instructor
    assert sorted(p.name for p in (root / "results").iterdir()) == ["results.json"]
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 0 and "autograder itself failed" in data["output"]


def test_bad_assignment_writes_no_zip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    toml = tmp_path / "bad.toml"
    toml.write_text('model = "xor_2layer"\n[gradescope]\nvisibility = "everyone"\n', encoding="utf-8")
    assert main(["autograder", "gradescope", str(toml), "-o", str(tmp_path / "a.zip")]) == 2
    err = capsys.readouterr().err
    assert "[gradescope] visibility" in err and "'everyone'" in err
    assert not (tmp_path / "a.zip").exists()


def test_find_submission_ignores_hidden_files_and_checkpoints(tmp_path: Path) -> None:
    (tmp_path / ".ipynb_checkpoints").mkdir()
    (tmp_path / ".ipynb_checkpoints" / "hw-checkpoint.ipynb").write_text("{}")
    (tmp_path / "._hw.py").write_text("")
    (tmp_path / "hw.py").write_text("")
    choice = find_submission(tmp_path, model="xor_2layer")
    assert choice.path == tmp_path / "hw.py" and choice.candidates == ("hw.py",)


@pytest.mark.slow
def test_wheel_installs_without_an_index(tmp_path: Path) -> None:
    wheel = build_wheel(tmp_path / "dist")
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    code = ("import gradcheck, reference_models, gradcheck.grading.autograder as a;"
            "print(gradcheck.__file__); print(reference_models.get('xor_2layer').name)")
    out = subprocess.run([sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); {code}"],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout.splitlines()
    assert out[0].startswith(str(target)) and out[1] == "xor_2layer"
    dist_info = [p for p in target.iterdir() if p.name.endswith(".dist-info")]
    assert len(dist_info) == 1
    assert "gradcheck = gradcheck.cli:main" in (dist_info[0] / "entry_points.txt").read_text()
    assert "Provides-Extra: grading" in (dist_info[0] / "METADATA").read_text()


def test_run_autograder_runs_student_code_as_another_uid(tmp_path: Path, autograder_zip: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the uid level needs root, as on Gradescope")
    root = _mock_root(tmp_path, autograder_zip, {"hw3.py": SUBMISSIONS / "xor_2layer__correct__dict.py"})
    data = _run_autograder(root)
    assert data["extra_data"]["isolation"] in ("uid", "namespaces") and data["score"] == 4


def test_run_autograder_refuses_to_grade_below_the_required_isolation(tmp_path: Path, autograder_zip: Path) -> None:
    root = _mock_root(tmp_path, autograder_zip, {"hw3.py": PARTIAL})
    env = {**os.environ, ROOT_ENV: str(root), "GRADCHECK_PYTHON": sys.executable, "GRADCHECK_REQUIRE_ISOLATION": "bogus-level"}
    subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, cwd=root, capture_output=True, text=True, timeout=120, check=False)
    data = json.loads((root / "results" / "results.json").read_text(encoding="utf-8"))
    assert data["score"] == 0 and "autograder itself failed" in data["tests"][0]["output"]


FAKE_PYTHON3 = """#!/bin/sh
# Debian/Ubuntu's python3 without python3-venv: the venv module answers --help, creating a venv fails (no ensurepip)
echo "python3 $*" >> "$LOG"
if [ "$1 $2 $3" = "-m venv --help" ]; then exit 0; fi
if [ "$1 $2" = "-m venv" ]; then [ -e "$FAKE/installed" ] || exit 1; exit 0; fi
exit 0
"""
# apt-get: an image's package lists are empty until `apt-get update`; install fails before it
FAKE_APT = """#!/bin/sh
echo "apt-get $*" >> "$LOG"
case "$1" in update) touch "$FAKE/updated" ;; install) [ -e "$FAKE/updated" ] || exit 100; touch "$FAKE/installed" ;; esac
"""


def test_setup_installs_python3_venv_where_the_venv_module_lacks_ensurepip(autograder_zip: Path, tmp_path: Path) -> None:
    # rt19 F21: `python3 -m venv --help` passed on such an image, apt-get never ran, and the venv creation then failed
    with zipfile.ZipFile(autograder_zip) as zf:
        setup = zf.read("setup.sh").decode()
    guard = setup.split("python3 -m venv /opt/gradcheck")[0]  # up to the real venv: this machine's /opt stays untouched
    fake = tmp_path / "bin"
    fake.mkdir()
    for name, text in (("python3", FAKE_PYTHON3), ("apt-get", FAKE_APT)):
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    (tmp_path / "guard.sh").write_text(guard)
    log = tmp_path / "log"
    env = {"PATH": f"{fake}:/usr/bin:/bin", "LOG": str(log), "FAKE": str(fake)}
    proc = subprocess.run(["bash", str(tmp_path / "guard.sh")], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    calls = [line.split()[:2] for line in log.read_text().splitlines() if line.startswith("apt-get")]
    assert calls == [["apt-get", "update"], ["apt-get", "install"]]
    assert (fake / "installed").exists()
