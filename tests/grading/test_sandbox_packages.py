"""What a submission can import beside numpy (rt26 F3), and the copies of the answer key it can reach (rt26 F5).

F3: at ``namespaces`` the child saw the base interpreter's whole prefix, so ``sys.path.append('<base>/lib/python3.X/
site-packages'); import sympy`` gave it the base's packages from a clean virtual environment, and a backward
differentiated by sympy got 4/4 with no note.  F5: at ``uid`` every world-readable clone on the machine (most under
``/tmp``) was the answer key, loaded file by file, with no warning.
"""
from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

import pytest

from gradcheck.grading import isolation
from gradcheck.grading.isolation import Isolation, Level
from gradcheck.grading.preflight import answer_key_exposure
from tests.grading.test_answer_key import open_dir  # noqa: F401 - a fixture: a folder anyone may reach
from tests.grading.test_grade_pipeline import GOOD
from tests.grading.test_isolation import levels, need, run

BASE_SITE = os.path.realpath(sysconfig.get_path("purelib", vars={"base": sys.base_prefix, "platbase": sys.base_prefix}))


# -- F3: the base interpreter's packages -------------------------------------------------------------------------
def test_a_virtual_environment_hides_the_base_interpreters_packages_at_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "prefix", "/nonexistent/venv")  # as in a venv made without --system-site-packages
    monkeypatch.setattr(isolation, "site_dirs", lambda: ["/nonexistent/venv/lib/site-packages"])
    assert isolation.base_site_dirs() == [BASE_SITE]
    plan = isolation.root_plan(uid=0, gid=0, files={}, tmp_bytes=1 << 20, sources=[])
    assert BASE_SITE in plan["covers"]  # bound with the base prefix, then covered with an empty tmpfs
    monkeypatch.setattr(isolation, "site_dirs", lambda: [BASE_SITE])  # --system-site-packages: the environment uses them
    assert isolation.base_site_dirs() == [] and BASE_SITE not in isolation.root_plan(uid=0, gid=0, files={}, tmp_bytes=1 << 20, sources=[])["covers"]


@pytest.mark.skipif(os.path.realpath(sys.prefix) == os.path.realpath(sys.base_prefix), reason="the grader runs from no virtual environment")
@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_from_a_virtual_environment_the_child_cannot_list_the_base_packages(tmp_path: Path, level: str) -> None:
    need(level)
    body = f"    try:\n        print('BASE', len(os.listdir({BASE_SITE!r})))\n    except OSError as exc:\n        print('BASE', exc)\n"
    _, r = run(tmp_path, level, body)
    assert r.status == "ok", r.message
    assert "BASE 0" in r.output or "BASE [Errno" in r.output, r.output


#: A backward that brings in packages named like differentiating ones: one while loading, one lazily in backward, one
#: loaded "by path" and placed in sys.modules by hand (no import event).
IMPORTS = """
import sys, types
sys.modules["autograd"] = types.ModuleType("autograd")
"""
LAZY = "    sys.modules.setdefault('jax', types.ModuleType('jax'))\n"


def test_a_package_that_differentiates_is_named_in_a_note(tmp_path: Path) -> None:
    from gradcheck.grading.pipeline import grade_submission

    code = IMPORTS + GOOD.replace("OUTPUT_ERROR", "2 * (a2 - y) / len(y)").replace("    MUTATE\n", LAZY)
    path = tmp_path / "sym.py"
    path.write_text(code)
    r = grade_submission(path, "xor_2layer", isolation="process")
    assert (r.verdict, r.score) == ("ok", 4.0), r.messages
    notes = [m for m in r.messages if "can compute derivatives" in m]
    assert len(notes) == 2 and "imported autograd," in notes[0] and "imported jax," in notes[1], r.messages
    assert "does not forbid" in notes[0]
    path.write_text(GOOD.replace("OUTPUT_ERROR", "2 * (a2 - y) / len(y)").replace("MUTATE", "pass"))
    assert not any("derivatives" in m for m in grade_submission(path, "xor_2layer", isolation="process").messages)


# -- F5: copies of the answer key ---------------------------------------------------------------------------------
def _clone(root: Path, mode: int = 0o755) -> Path:
    """A folder holding ``reference_models/__init__.py``, as a clone or an environment's packages does."""
    pkg = root / "clone" / "reference_models"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("KEY = 1\n")
    for d in (root / "clone", pkg):
        os.chmod(d, mode)
    os.chmod(pkg / "__init__.py", 0o644)
    return pkg


def test_readable_copies_are_found_and_unreachable_ones_are_not(open_dir: Path) -> None:  # noqa: F811
    pkg = _clone(open_dir / "a")
    os.chmod(open_dir / "a", 0o755)
    wheel = open_dir / "gradcheck-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    os.chmod(wheel, 0o644)
    hidden = _clone(open_dir / "b", mode=0o755)
    os.chmod(open_dir / "b", 0o700)  # the sandbox's user cannot enter it
    assert isolation.readable_copies([str(open_dir)]) == sorted([str(pkg), str(wheel)])
    assert str(hidden) not in isolation.readable_copies([str(open_dir)])


def test_uid_warns_of_the_copies_it_does_not_cover(open_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    pkg = _clone(open_dir)
    wheel = open_dir / "gradcheck-0.1.0-py3-none-any.whl"
    wheel.write_bytes(b"PK")
    os.chmod(wheel, 0o644)
    covering = Isolation(Level.UID, mount_ns=True)
    assert str(open_dir).startswith(isolation.SHARED_TMP)  # under /tmp: covered, so no warning for it
    assert answer_key_exposure(covering, scan=[str(open_dir)]) is None
    monkeypatch.setattr(isolation, "SHARED_TMP", ())  # as if it were elsewhere (/work, /home)
    warning = answer_key_exposure(covering, scan=[str(open_dir)]) or ""
    assert f"chmod -R o-rwx {wheel}" in warning and "loads them by path" in warning
    assert str(pkg) not in warning  # a folder: covered with the mount namespace
    warning = answer_key_exposure(Isolation(Level.UID, mount_ns=False), scan=[str(open_dir)]) or ""
    assert f"chmod -R o-rwx {pkg}" in warning and f"chmod -R o-rwx {wheel}" in warning  # nothing is covered
    assert answer_key_exposure(Isolation(Level.NAMESPACES), scan=[str(open_dir)]) is None


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_a_world_readable_copy_in_tmp_is_out_of_the_sandboxs_view(tmp_path: Path, level: str, open_dir: Path) -> None:  # noqa: F811
    need(level)
    if level == "uid" and not isolation.resolve("uid").mount_ns:
        pytest.skip("no mount namespace here: /tmp cannot be covered at uid (the grader warns instead)")
    pkg = _clone(open_dir)
    body = f"    try:\n        print('KEY', open({str(pkg / '__init__.py')!r}).read())\n    except OSError as exc:\n        print('KEY', type(exc).__name__)\n"
    _, r = run(tmp_path, level, body)
    assert r.status == "ok", r.message
    assert "KEY = 1" not in r.output and "KEY " in r.output, r.output


@pytest.mark.parametrize("level", levels("uid", "namespaces"))
def test_a_copy_the_grader_finds_outside_tmp_is_out_of_the_sandboxs_view(
    tmp_path: Path, level: str, open_dir: Path, monkeypatch: pytest.MonkeyPatch  # noqa: F811
) -> None:
    need(level)
    if level == "uid" and not isolation.resolve("uid").mount_ns:
        pytest.skip("no mount namespace here: copies cannot be covered at uid (the grader warns instead)")
    pkg = _clone(open_dir)
    monkeypatch.setattr(isolation, "SHARED_TMP", ())  # /tmp in view, as /work or /home is: only the cover of the copy hides it
    monkeypatch.setattr(isolation, "uncovered_copies", lambda: [str(pkg)])
    body = f"    try:\n        print('KEY', open({str(pkg / '__init__.py')!r}).read())\n    except OSError as exc:\n        print('KEY', type(exc).__name__)\n"
    _, r = run(tmp_path, level, body)
    assert r.status == "ok", r.message
    assert "KEY = 1" not in r.output and "KEY " in r.output, r.output
