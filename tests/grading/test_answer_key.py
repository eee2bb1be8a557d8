"""The reference solutions are out of the sandbox's reach, or the grader says what to chmod (rt19 F12).

At ``uid`` and ``process`` the sandbox shares the grader's filesystem: a
submission that copied the key from a world-readable clone, or from the wheel
in the Gradescope zip, renamed the packages and imported them got 4/4.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from gradcheck.grading.isolation import Isolation, Level, available_levels, readable_by_others
from gradcheck.grading.preflight import answer_key_exposure


@pytest.fixture()
def open_dir() -> Iterator[Path]:
    """A folder anyone may reach (pytest's own tmp_path sits in a folder only its owner may enter)."""
    d = Path(tempfile.mkdtemp(prefix="gradcheck-test-key-"))
    os.chmod(d, 0o755)
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_namespaces_never_warns_and_process_always_does(tmp_path: Path) -> None:
    assert answer_key_exposure(Isolation(Level.NAMESPACES)) is None
    warning = answer_key_exposure(Isolation(Level.PROCESS)) or ""
    assert "'process'" in warning and "reference_models" in warning


def test_uid_without_a_mount_namespace_names_what_to_chmod(open_dir: Path) -> None:
    wheel = open_dir / "gradcheck-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    os.chmod(wheel, 0o644)
    warning = answer_key_exposure(Isolation(Level.UID, mount_ns=False), [str(wheel)], scan=[]) or ""
    assert f"chmod -R o-rwx {wheel}" in warning
    os.chmod(wheel, 0o640)  # what the warning asks for
    assert not readable_by_others(str(wheel))
    assert str(wheel) not in (answer_key_exposure(Isolation(Level.UID, mount_ns=False), [str(wheel)], scan=[]) or "")


def test_readable_by_others_needs_every_folder_on_the_way(open_dir: Path) -> None:
    inner = open_dir / "a" / "b.py"
    inner.parent.mkdir()
    inner.write_text("x = 1\n")
    os.chmod(inner.parent, 0o755)
    os.chmod(inner, 0o644)
    assert readable_by_others(str(inner))
    os.chmod(inner.parent, 0o750)  # the file keeps its mode, but others cannot reach it
    assert not readable_by_others(str(inner))


@pytest.mark.parametrize("mount_ns", [True, False], ids=["mount-namespace", "permissions-only"])
def test_run_autograder_keeps_the_wheel_from_the_student_wherever_it_is_started(open_dir: Path, mount_ns: bool,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """The red team's 4.0 came from ``run_autograder`` started in ``/`` at uid: the wheel in ROOT/source was readable.

    Gradescope's containers rarely allow namespaces, so the run is pinned to ``uid``, with and without a mount namespace.
    """
    import dataclasses
    import zipfile

    from gradcheck.cli import main
    from gradcheck.grading import isolation
    from gradcheck.grading.autograder import run_gradescope

    if available_levels()[Level.UID] is not None:
        pytest.skip(f"uid isolation is not available here: {available_levels()[Level.UID]}")
    uid = isolation.resolve("uid")
    variant_covers = mount_ns
    if mount_ns and not uid.mount_ns:
        pytest.skip("no mount namespace here")
    if not mount_ns and isolation.expose_plan(isolation.python_paths()) is not None:
        # The interpreter lives where others cannot reach it (/root/.pyenv in CI): uid needs a mount namespace to
        # expose it at all. Keep that namespace but let it cover nothing else (no answer key, not the working
        # directory), so the wheel's own permissions are all that stand between the student and the key, as on a
        # Gradescope image with Python in /usr/local.
        if not uid.mount_ns:
            pytest.skip("the interpreter is hidden from other users and there is no mount namespace to expose it")
        expose_plan = isolation.expose_plan
        monkeypatch.setattr(isolation, "expose_plan", lambda paths, hide=(), keys=(): expose_plan(paths, [], []))
        mount_ns = True
    monkeypatch.setattr(isolation, "resolve", lambda *a, **k: dataclasses.replace(uid, mount_ns=mount_ns))
    toml = open_dir / "hw.toml"
    toml.write_text('model = "xor_2layer"\n', encoding="utf-8")
    assert main(["autograder", "gradescope", str(toml), "-o", str(open_dir / "autograder.zip")]) == 0
    root = open_dir / "autograder"
    (root / "submission").mkdir(parents=True)
    with zipfile.ZipFile(open_dir / "autograder.zip") as zf:
        zf.extractall(root / "source")
    for d in (root, root / "source", root / "submission"):
        os.chmod(d, 0o755)
    for f in (root / "source").iterdir():
        os.chmod(f, 0o644)  # as unzip leaves them
    (root / "submission" / "xor_2layer.py").write_text(
        "import glob, zipfile\n"
        "def backward(params, x, y):\n"
        "    got = []\n"
        f"    for w in glob.glob({str(root / 'source')!r} + '/*.whl'):\n"
        "        try:\n"
        "            got.append(len(zipfile.ZipFile(w).read('reference_models/xor.py')))\n"
        "        except Exception as e:\n"
        "            got.append(type(e).__name__)\n"
        "    raise RuntimeError('WHEEL %r' % got)\n", encoding="utf-8")
    monkeypatch.chdir("/")
    results = json.loads(run_gradescope(root, root / "source" / "assignment.toml").read_text(encoding="utf-8"))
    text = json.dumps(results)
    assert results["extra_data"]["isolation"] == "uid", text[:2000]
    if variant_covers:  # the working directory (ROOT) is covered: the wheel is out of sight
        assert "WHEEL []" in text or "WHEEL ['PermissionError']" in text, text[:2000]
    else:  # in sight, but its permissions refuse the sandbox's user
        assert "WHEEL ['PermissionError']" in text, text[:2000]
    assert os.getcwd() == "/"  # the caller's working directory is given back


def test_a_clone_in_beside_or_around_the_working_directory_is_found(tmp_path: Path) -> None:
    from gradcheck.grading.isolation import answer_key_paths

    clone = tmp_path / "teaching" / "gradcheck"
    (clone / "reference_models").mkdir(parents=True)
    (clone / "reference_models" / "__init__.py").write_text("")
    (clone / "gradcheck" / "grading").mkdir(parents=True)
    (clone / "pyproject.toml").write_text('[project]\nname = "gradcheck"\n')
    hw3 = tmp_path / "teaching" / "hw3"
    hw3.mkdir()
    inside = clone / "grading-runs"
    inside.mkdir()
    assert str(clone.resolve()) in answer_key_paths(str(hw3))  # beside the class folder
    assert str(clone.resolve()) in answer_key_paths(str(inside))  # a parent
    assert str(clone.resolve()) not in answer_key_paths(str(tmp_path))  # two levels down: not looked for


def test_an_environments_site_packages_is_no_clone(tmp_path: Path) -> None:
    """rt20 F5: after ``pip install .`` (not editable) site-packages holds both packages; it was taken for a clone and
    covered whole at ``uid``, numpy with it, so the child could not start. Only the two packages are keys there."""
    from gradcheck.grading import isolation

    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages"
    (site / "reference_models").mkdir(parents=True)
    (site / "reference_models" / "__init__.py").write_text("")
    (site / "gradcheck" / "grading").mkdir(parents=True)
    (site / "numpy").mkdir()
    assert not isolation._is_clone(str(site))
    assert str(site.resolve()) not in isolation.answer_key_paths(str(site / "numpy"))  # site-packages is cwd's parent
