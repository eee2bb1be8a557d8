"""``gradcheck autograder gradescope``: a Gradescope autograder zip for an assignment.

The zip holds, at its root (Gradescope's autograder specification):

``setup.sh``
    Run once when Gradescope builds the image: installs Python and the
    bundled wheel of gradcheck (``gradcheck-VERSION-py3-none-any.whl``, built
    from this installation, so gradcheck itself needs no package index; its
    dependencies come from PyPI) into ``/opt/gradcheck``.
``run_autograder``
    Run for every submission: grades the one submission file found in
    ``ROOT/submission`` with the assignment and writes exactly one
    ``ROOT/results/results.json``, even when grading itself fails.  ``ROOT``
    is ``$GRADCHECK_AUTOGRADER_ROOT``, default ``/autograder``; the Python
    used is ``$GRADCHECK_PYTHON``, else ``/opt/gradcheck/bin/python``, else
    ``python3``.  Student code runs with the strongest isolation the machine
    offers and never below an unprivileged uid (``$GRADCHECK_REQUIRE_ISOLATION``
    changes that floor, e.g. to ``process`` to try the zip as a normal user):
    below it, results.json gives 0 and says the autograder failed.
``assignment.toml``
    The assignment, as given.  Its ``seed`` and ``lang`` decide the test
    points and the language of the feedback, its ``[gradescope]`` table the
    visibility of the results.

Which file is graded: the same rule as ``gradcheck grade`` applies to a
student's folder (:func:`gradcheck.grading.identity.choose_file`, searched
recursively, hidden files and notebook checkpoints ignored): the file the
assignment names (``file``), else, never a test file (``tests/test_hw1.py``),
the only ``.py`` or ``.ipynb``, else the only one defining what the assignment
calls (``backward``, or the class; an import defines nothing, so ``hw1.py``
doing ``from helper import f`` makes ``helper.py`` a helper module, put beside
it), of several such the ones whose ``def`` can take the assignment's call, else the one named like
the template (``MODEL.py`` or ``MODEL.ipynb``); otherwise none (a ``train.py``
defining its own ``backward`` around ``hw1.backward`` beside ``hw1.py``: there
is no class here to say which name is usual), and results.json says why, lists
the candidates and tells the student how to submit.  The results page names
the graded file in its header.

Examples
--------
>>> import io, zipfile, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "hw.toml").write_text('model = "xor_2layer"\\n')
>>> z = build_gradescope_zip(d / "hw.toml", d / "autograder.zip")
>>> sorted(n for n in zipfile.ZipFile(z).namelist() if not n.endswith(".whl"))
['assignment.toml', 'run_autograder', 'setup.sh']
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import io
import json
import os
import sys
import time
import traceback
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

__all__ = [
    "grader_mismatch",
    "DEFAULT_REQUIRE",
    "DEFAULT_ROOT",
    "PACKAGES",
    "REQUIRE_ENV",
    "ROOT_ENV",
    "SubmissionChoice",
    "build_gradescope_zip",
    "build_wheel",
    "find_submission",
    "register",
    "run",
    "run_gradescope",
]

#: Environment variable naming the autograder root (Gradescope's is ``/autograder``).
ROOT_ENV = "GRADCHECK_AUTOGRADER_ROOT"
DEFAULT_ROOT = "/autograder"
#: Environment variable naming the weakest isolation run_autograder accepts (default :data:`DEFAULT_REQUIRE`).
REQUIRE_ENV = "GRADCHECK_REQUIRE_ISOLATION"
#: An unprivileged uid at least (Gradescope runs the autograder as root, so it is always available there).
DEFAULT_REQUIRE = "uid"
#: The top-level packages the wheel carries.
PACKAGES: tuple[str, ...] = ("gradcheck", "reference_models")
#: A fixed timestamp for every zip entry, so the same sources give the same bytes.
_EPOCH = (1980, 1, 1, 0, 0, 0)

_SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image.
set -euo pipefail
SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Debian/Ubuntu ship the venv module without ensurepip (that is python3-venv), so
# `python3 -m venv --help` passes where creating a venv fails: create one to know.
probe="$(mktemp -d)"
if ! command -v python3 >/dev/null || ! python3 -m venv "$probe/venv" >/dev/null 2>&1; then
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-venv python3-pip
fi
rm -rf "$probe"
python3 -m venv /opt/gradcheck
/opt/gradcheck/bin/python -m pip install --upgrade pip
# gradcheck comes from the wheel in this zip; its dependencies from PyPI.
/opt/gradcheck/bin/python -m pip install "$SOURCE/@WHEEL@[grading]"
/opt/gradcheck/bin/gradcheck --help >/dev/null
"""

_RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this for every submission. It writes exactly one
# $ROOT/results/results.json, whatever the submission does.
ROOT="${@ROOT_ENV@:-@DEFAULT_ROOT@}"
PY="${GRADCHECK_PYTHON:-}"
if [ -z "$PY" ]; then
    if [ -x /opt/gradcheck/bin/python ]; then PY=/opt/gradcheck/bin/python; else PY=python3; fi
fi
exec "$PY" -m gradcheck.grading.autograder gradescope-run --root "$ROOT" --assignment "$ROOT/source/assignment.toml"
"""


# -- the wheel ---------------------------------------------------------------------------


def _b64_digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")


def _package_files(package: str) -> list[tuple[str, Path]]:
    """``(archive name, path)`` of every file of an importable package, sorted."""
    import importlib

    mod = importlib.import_module(package)
    root = Path(mod.__file__ or "").parent
    out = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo"):
            out.append((f"{package}/{p.relative_to(root).as_posix()}", p))
    return out


def _project_table() -> dict[str, Any] | None:
    """``[project]`` of the source tree's pyproject.toml, when gradcheck runs from one."""
    import gradcheck

    pyproject = Path(gradcheck.__file__).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file():
        return None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
    return project if project.get("name") == "gradcheck" else None


def _metadata_and_entry_points() -> tuple[str, str, str]:
    """(version, METADATA text, entry_points.txt text) of this gradcheck."""
    project = _project_table()
    if project is not None:
        lines = ["Metadata-Version: 2.1", f"Name: {project['name']}", f"Version: {project['version']}"]
        if "requires-python" in project:
            lines.append(f"Requires-Python: {project['requires-python']}")
        lines += [f"Requires-Dist: {d}" for d in project.get("dependencies", [])]
        for extra, deps in project.get("optional-dependencies", {}).items():
            lines.append(f"Provides-Extra: {extra}")
            lines += [f"Requires-Dist: {d.split(';')[0].strip()}; extra == \"{extra}\"" for d in deps]
        groups = {"console_scripts": project.get("scripts", {}), **project.get("entry-points", {})}
        eps = "".join(f"[{g}]\n" + "".join(f"{k} = {v}\n" for k, v in items.items()) + "\n" for g, items in groups.items() if items)
        return str(project["version"]), "\n".join(lines) + "\n", eps
    import importlib.metadata as md

    dist = md.distribution("gradcheck")
    meta: Any = dist.metadata  # an email.message.Message underneath
    text = "".join(f"{k}: {v}\n" for k, v in meta.items() if k != "Description")
    return dist.version, text, dist.read_text("entry_points.txt") or ""


def build_wheel(dest: str | os.PathLike[str]) -> Path:
    """Write a pure-Python wheel of this gradcheck (with ``reference_models``) into ``dest``.

    Built from the installed (or checked-out) packages directly, without a
    build backend or a package index, with fixed timestamps: the same
    sources give the same bytes.

    Returns
    -------
    Path
        The wheel, ``dest/gradcheck-VERSION-py3-none-any.whl``.
    """
    version, metadata, entry_points = _metadata_and_entry_points()
    info = f"gradcheck-{version}.dist-info"
    files: list[tuple[str, bytes]] = []
    for package in PACKAGES:
        files += [(name, path.read_bytes()) for name, path in _package_files(package)]
    files.append((f"{info}/METADATA", metadata.encode("utf-8")))
    files.append((f"{info}/WHEEL", b"Wheel-Version: 1.0\nGenerator: gradcheck.grading.autograder\nRoot-Is-Purelib: true\nTag: py3-none-any\n"))
    files.append((f"{info}/entry_points.txt", entry_points.encode("utf-8")))
    files.append((f"{info}/top_level.txt", "".join(p + "\n" for p in PACKAGES).encode("ascii")))
    record = "".join(f"{name},sha256={_b64_digest(data)},{len(data)}\n" for name, data in files) + f"{info}/RECORD,,\n"
    files.append((f"{info}/RECORD", record.encode("utf-8")))
    out = Path(dest) / f"gradcheck-{version}-py3-none-any.whl"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files:
            zf.writestr(_entry(name, 0o644), data)
    return out


def _entry(name: str, mode: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.external_attr = (0o100000 | mode) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


# -- the zip -----------------------------------------------------------------------------


def build_gradescope_zip(assignment: str | os.PathLike[str], out: str | os.PathLike[str]) -> Path:
    """Write the Gradescope autograder zip for the assignment file ``assignment`` to ``out``.

    Raises
    ------
    FileNotFoundError
        When ``assignment`` does not exist.
    gradcheck.grading.assignment.AssignmentError
        When it is not a valid assignment (checked before anything is written).
    """
    from gradcheck.grading.assignment import load_assignment

    if not isinstance(assignment, (str, os.PathLike)):
        raise TypeError(f"assignment must be a path, got assignment={assignment!r}")
    if not isinstance(out, (str, os.PathLike)):
        raise TypeError(f"out must be a path, got out={out!r}")
    src = Path(assignment)
    load_assignment(src)  # refuse a broken assignment here, not on Gradescope
    out = Path(out)
    buf = io.BytesIO()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        wheel = build_wheel(tmp)
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(_entry("setup.sh", 0o755), _SETUP_SH.replace("@WHEEL@", wheel.name))
            zf.writestr(_entry("run_autograder", 0o755), _RUN_AUTOGRADER.replace("@ROOT_ENV@", ROOT_ENV).replace("@DEFAULT_ROOT@", DEFAULT_ROOT))
            zf.writestr(_entry("assignment.toml", 0o644), src.read_bytes())
            zf.writestr(_entry(wheel.name, 0o644), wheel.read_bytes())
    from gradcheck.grading.atomic import write_atomic

    write_atomic(out, buf.getvalue())
    return out


# -- on Gradescope -----------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionChoice:
    """Which file of a submission folder is graded.

    Attributes
    ----------
    path : Path or None
        The file, or ``None`` when there is no single one.
    candidates : tuple of str
        Every ``.py``/``.ipynb`` file found (relative paths), sorted; when
        refused with several, only the ones left by the rule; when refused
        for symbolic links (reason ``"links"``), the links, ``'name' -> 'target'``.
    helpers : tuple of Path
        The helper modules beside ``path`` (the student's other ``.py`` files there).
    reason : str or None
        Why there is none (:class:`gradcheck.grading.identity.Choice`).
    helper_modules : tuple of str
        When refused with several: the files recognised as helper modules.
    """

    path: Path | None
    candidates: tuple[str, ...]
    helpers: tuple[Path, ...] = ()
    reason: str | None = None
    helper_modules: tuple[str, ...] = ()


def find_submission(folder: str | os.PathLike[str], *, model: str, file_pattern: str | None = None,
                    needs: Any = None) -> SubmissionChoice:
    """The file to grade in ``folder`` and its helpers (see the module docstring for the rule; ``needs``: what the
    assignment calls, :attr:`~gradcheck.grading.assignment.SubmissionSpec.entry_name` or its
    :class:`~gradcheck.grading.identity.Entry`).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> for n in ("utils.py", "xor_2layer.py"): _ = (d / n).write_text("")
    >>> find_submission(d, model="xor_2layer").path.name
    'xor_2layer.py'
    >>> _ = (d / "xor_2layer.ipynb").write_text("{}")
    >>> find_submission(d, model="xor_2layer").candidates
    ('utils.py', 'xor_2layer.ipynb', 'xor_2layer.py')
    >>> find_submission(d, model="xor_2layer").path is None
    True
    """
    from gradcheck.grading.identity import choose_file, pick_in_folder

    folder = Path(folder)
    if folder.is_dir():
        c = pick_in_folder(folder, "the submission", file_pattern=file_pattern, model=model, needs=needs)
    else:
        c = choose_file([], "the submission", file_pattern=file_pattern, model=model, needs=needs)
    return SubmissionChoice(c.path, c.candidates, tuple(f for f, _ in c.helpers), c.reason, c.helper_modules)


_NO_FILE = {
    "en": "No submission to grade: {why} Submit one .py or .ipynb file (or name it {model}.py or {model}.ipynb).",
    "ko": "채점할 제출물이 없습니다: {why} .py 또는 .ipynb 파일 하나를 제출하세요 (또는 파일 이름을 {model}.py나 {model}.ipynb로 하세요).",
}
_NONE_FOUND = {"en": "the submission has no .py or .ipynb file.", "ko": "제출물에 .py나 .ipynb 파일이 없습니다."}
_SEVERAL = {"en": "the submission has several candidate files ({names}).", "ko": "제출물에 후보 파일이 여러 개 있습니다 ({names})."}
_HELPERS_SEEN = {"en": " {names}: no {needs} the assignment can call, taken as helper modules.",
                 "ko": " {names}: 과제가 호출할 수 있는 {needs}이(가) 없으므로 보조 모듈로 보았습니다."}
_IMPORTED_SEEN = {"en": " {names}: imported by another file, taken as helper modules.", "ko": " {names}: 다른 파일이 import하므로 보조 모듈로 보았습니다."}
_ONE_ANSWER = {"en": " Each defines {needs}: submit only the file with your answer, or make the others (a training script) import it "
                     "without defining {needs} themselves (e.g. from hw1 import {needs}).",
               "ko": " 모든 파일이 {needs}을(를) 정의합니다: 답이 든 파일만 제출하거나, 나머지 파일(학습 스크립트 등)은 {needs}을(를) "
                     "직접 정의하지 말고 import만 하세요 (예: from hw1 import {needs})."}
_NO_MATCH = {"en": "the assignment grades a file named {pattern}; the submission has {names}.",
             "ko": "이 과제는 {pattern} 이름의 파일을 채점합니다; 제출물에는 {names}이(가) 있습니다."}
_LINKS = {"en": "the submission holds symbolic links, which the grader does not follow ({names}); submit the files themselves.",
          "ko": "제출물에 심볼릭 링크가 있습니다 ({names}). 채점기는 링크를 따라가지 않으니 파일 자체를 제출하세요."}
_SEVERAL_MATCH = {"en": "several files of the submission are named {pattern} ({names}).", "ko": "제출물에 {pattern} 이름의 파일이 여러 개 있습니다 ({names})."}
_ONLY_TESTS = {"en": "the submission has only test files ({names}), which are never graded.",
               "ko": "제출물에 테스트 파일({names})만 있습니다. 테스트 파일은 채점하지 않습니다."}
_UNDEFINED = {"en": "none of the submission's files ({names}) defines {needs}, which the assignment calls.",
              "ko": "제출물의 어느 파일({names})도 과제가 호출하는 {needs}을(를) 정의하지 않습니다."}
_GRADER_FAILED = {
    "en": "The autograder itself failed, not your submission; your instructor has been shown the error. {error}",
    "ko": "제출물이 아니라 자동 채점기 자체에 오류가 났습니다. 담당 교수자에게 오류가 전달되었습니다. {error}",
}


def _max_score(assignment: Any) -> float:
    from gradcheck.grading.scoring import ScoringPolicy

    policy = ScoringPolicy.from_mapping(assignment.scoring_options())
    names = list(assignment.reference_model().param_shapes)
    return round(sum(policy.max_points(n) for n in names) + policy.forward_points, 6)


def _zero(assignment: Any, text: str, tag: str, seconds: float) -> dict[str, Any]:
    """results.json giving 0 of the assignment's maximum, with ``text`` for the student."""
    title = assignment.title or assignment.model
    return {
        "score": 0.0,
        "execution_time": round(seconds),
        "output": f"# {title}\n\n{text}\n",
        "output_format": "md",
        "visibility": assignment.visibility,
        "stdout_visibility": assignment.stdout_visibility,
        "tests": [
            {
                "score": 0.0,
                "max_score": _max_score(assignment),
                "status": "failed",
                "name": f"{assignment.model}: {tag}",
                "number": "1.1",
                "output": text,
                "output_format": "text",
                "tags": [tag],
                "visibility": assignment.visibility,
            }
        ],
    }


def _write_results(results_dir: Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as ``results.json`` (atomically); its strings may quote the submission's file names, so they go through
    :func:`~gradcheck.grading.safetext.safe_tree` (a non-UTF-8 name must not cost the student the file: rt26 F12)."""
    from gradcheck.grading.safetext import safe_tree

    from gradcheck.grading.atomic import write_atomic

    return write_atomic(results_dir / "results.json", json.dumps(safe_tree(data), indent=2, ensure_ascii=False, allow_nan=False))


def _print_traceback() -> None:
    """The current exception's traceback on stdout (Gradescope shows it to the instructor), its text made safe to print."""
    from gradcheck.grading.safetext import safe_text

    print(safe_text(traceback.format_exc()))


def _hide_answer_key(root: Path) -> None:
    """Keep the reference solutions from the student's code, wherever ``run_autograder`` was started (rt19 F12).

    The wheel in ``ROOT/source`` holds them, and so does the installed copy
    in the autograder's own environment.  The grader runs from ``ROOT``: at
    ``uid`` with a mount namespace the working directory is covered (the
    red team's 4.0 came from a run started in ``/``), the installed copy is
    covered too (:func:`gradcheck.grading.isolation.answer_key_paths`); and,
    for a sandbox without a mount namespace, the wheels lose every
    permission of "others", as does the installed copy when it lives in this
    interpreter's own environment (``/opt/gradcheck``: never a source tree
    an instructor works in).  What the sandbox's user can still read is
    printed to stdout (:func:`gradcheck.grading.preflight.answer_key_exposure`).
    """
    from gradcheck.grading.isolation import answer_key_paths

    owned = [*(root / "source").glob("*.whl")]
    if getattr(os, "geteuid", lambda: 1)() == 0:
        prefix = os.path.realpath(sys.prefix)
        owned += [Path(k) for k in answer_key_paths() if k.startswith(prefix + os.sep)]
    for p in owned:
        try:
            os.chmod(p, os.stat(p).st_mode & ~0o007)
        except OSError as exc:
            print(f"gradcheck: could not hide {p} from the sandbox: {exc}")


def grader_mismatch(wheel: Path) -> list[str]:
    """The files of ``wheel``'s ``gradcheck`` and ``reference_models`` that the running grader does not have as the wheel has them.

    ``run_autograder`` falls back to ``python3`` when ``/opt/gradcheck`` is
    missing (a local trial), which may import any other copy of gradcheck
    (rt20 F7: a developer's worktree graded, and nothing said so).  Each
    file is compared by the SHA-256 the wheel's ``RECORD`` gives it.
    """
    import csv
    import importlib.util
    import io
    import zipfile

    with zipfile.ZipFile(wheel) as zf:
        record = next(n for n in zf.namelist() if n.endswith(".dist-info/RECORD"))
        rows = list(csv.reader(io.StringIO(zf.read(record).decode("utf-8"))))
    roots: dict[str, Path] = {}
    for package in ("gradcheck", "reference_models"):
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin is not None:
            roots[package] = Path(spec.origin).parent
    differ = []
    for name, digest, *_ in rows:
        top = name.split("/", 1)[0]
        if top not in ("gradcheck", "reference_models") or not digest.startswith("sha256="):
            continue
        local = roots[top] / name.split("/", 1)[1] if top in roots else None
        if local is None or not local.is_file() or "sha256=" + _b64_digest(local.read_bytes()) != digest:
            differ.append(name)
    return differ


def _say_which_grader(root: Path) -> None:
    """Print the grader's version and place; warn when it is not the one the zip's wheel holds (rt20 F7)."""
    import gradcheck

    where = os.path.dirname(os.path.realpath(gradcheck.__file__ or ""))
    print(f"gradcheck: grading with gradcheck {gradcheck.__version__} from {where} ({sys.executable})")
    for wheel in sorted((root / "source").glob("*.whl")):
        differ = grader_mismatch(wheel)
        if differ:
            print(f"gradcheck: WARNING: this gradcheck is not the one in {wheel.name}: {len(differ)} of its files differ "
                  f"(first: {', '.join(differ[:3])}); run_autograder uses $GRADCHECK_PYTHON, else /opt/gradcheck/bin/python "
                  "(which setup.sh installs), else python3: set GRADCHECK_PYTHON to the interpreter that installed the wheel")


def run_gradescope(root: str | os.PathLike[str], assignment: str | os.PathLike[str]) -> Path:
    """Grade ``root/submission`` and write ``root/results/results.json``; return its path.

    Exactly one results.json is written whatever happens: a submission that
    fails is a verdict; no file, or no single file, to grade gives 0 with
    the reason; an error of the grader itself (a broken installation or
    assignment) gives 0 with a note, and the traceback goes to stdout, which
    Gradescope shows the instructor.
    """
    root = Path(root).absolute()
    here = os.getcwd()
    with contextlib.suppress(OSError):  # the grader's working directory is covered at uid: ROOT, never where run_autograder started
        os.chdir(root)
    try:
        return _run_in_root(root, Path(assignment).absolute())
    except Exception as exc:  # noqa: BLE001 - the last resort: Gradescope gets its results.json whatever failed (rt26 F12)
        _print_traceback()
        text = _GRADER_FAILED["en"].format(error=f"({type(exc).__name__})")
        return _write_results(root / "results", {"score": 0.0, "output": text, "output_format": "text", "tests": []})
    finally:
        os.chdir(here)


def _run_in_root(root: Path, assignment: Path) -> Path:
    from gradcheck.grading.assignment import load_assignment

    start = time.monotonic()
    results_dir = root / "results"
    try:
        _say_which_grader(root)
        _hide_answer_key(root)
        a = load_assignment(assignment)
        _max_score(a)  # the reference model must load too
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json whatever fails
        _print_traceback()
        text = _GRADER_FAILED["en"].format(error=f"({type(exc).__name__})")
        return _write_results(results_dir, {"score": 0.0, "output": text, "output_format": "text", "tests": []})
    return _grade_into(root, a, results_dir, start)


def _why(choice: SubmissionChoice, pattern: str | None, lang: str, needs: str | None = "backward") -> str:
    """Why no file of the submission is graded, for the student (``needs``: what the assignment calls)."""
    names = ", ".join(choice.candidates)
    if choice.reason in ("tests", "undefined"):
        return (_ONLY_TESTS if choice.reason == "tests" else _UNDEFINED)[lang].format(names=names, needs=needs)
    if choice.reason == "no_match":
        return _NO_MATCH[lang].format(pattern=pattern, names=names or "-")
    if choice.reason == "links":
        more = f" +{len(choice.candidates) - 5}" if len(choice.candidates) > 5 else ""
        return _LINKS[lang].format(names=", ".join(choice.candidates[:5]) + more)
    if choice.reason == "several_match":
        return _SEVERAL_MATCH[lang].format(pattern=pattern, names=names)
    if not choice.candidates:
        return _NONE_FOUND[lang]
    seen = (_HELPERS_SEEN if needs else _IMPORTED_SEEN)[lang].format(names=", ".join(choice.helper_modules), needs=needs) if choice.helper_modules else ""
    return _SEVERAL[lang].format(names=names) + seen + (_ONE_ANSWER[lang].format(needs=needs) if needs else "")


def _grade_into(root: Path, a: Any, results_dir: Path, start: float) -> Path:
    from gradcheck.grading.pipeline import grade_submission
    from gradcheck.grading.render_gradescope import gradescope_results
    from gradcheck.grading.identity import Entry
    from gradcheck.grading.safetext import safe_text

    choice = find_submission(root / "submission", model=a.model, file_pattern=a.file, needs=Entry.of(a.spec))
    if choice.path is None:
        text = _NO_FILE[a.lang].format(why=_why(choice, a.file, a.lang, a.spec.entry_name), model=a.model)
        print(safe_text(f"gradcheck: grading no file ({choice.reason}; candidates: {', '.join(choice.candidates) or 'none'})"))
        return _write_results(results_dir, _zero(a, text, "missing", time.monotonic() - start))
    graded = choice.path.relative_to(root / "submission").as_posix()
    print(safe_text(f"gradcheck: grading {choice.path} (candidates: {', '.join(choice.candidates)}; helper modules: "
                    f"{', '.join(h.name for h in choice.helpers) or 'none'})"))
    try:
        from gradcheck.grading.isolation import resolve
        from gradcheck.grading.preflight import answer_key_exposure

        # student code never runs with the grader's uid: refuse rather than grade weaker than REQUIRE_ENV
        iso = resolve("auto", require=os.environ.get(REQUIRE_ENV) or DEFAULT_REQUIRE)
        print(f"gradcheck: isolation {iso.level.value}")
        exposed = answer_key_exposure(iso, [str(w) for w in (root / "source").glob("*.whl")])
        if exposed:
            print(f"gradcheck: {exposed}")
        result = grade_submission(choice.path, assignment=a, seed=a.seed, lang=a.lang, isolation=iso.level.value, extra_files=choice.helpers)
        result = replace(result, graded_file=graded)  # the student's results page says which file it graded
        data = gradescope_results(result, visibility=a.visibility, stdout_visibility=a.stdout_visibility)
        data["extra_data"]["isolation"] = result.isolation
    except Exception as exc:  # noqa: BLE001 - Gradescope must get a results.json whatever fails
        _print_traceback()
        text = _GRADER_FAILED[a.lang].format(error=f"({type(exc).__name__})")
        data = _zero(a, text, "error", time.monotonic() - start)
    return _write_results(results_dir, data)


# -- command line --------------------------------------------------------------------------


def register(subparsers: Any) -> None:
    """Add ``autograder`` (with ``gradescope`` and the internal ``gradescope-run``)."""
    p = subparsers.add_parser("autograder", help="build an autograder for a course platform (Gradescope)",
                              description="Build an autograder package for an assignment file.")
    sub = p.add_subparsers(dest="platform", metavar="PLATFORM", required=True)
    gs = sub.add_parser("gradescope", help="write the Gradescope autograder zip",
                        description="Write setup.sh, run_autograder, the assignment and a wheel of gradcheck into one zip "
                        "to upload as a Gradescope programming assignment's autograder.")
    gs.add_argument("assignment", metavar="ASSIGNMENT.toml", help="the assignment file")
    gs.add_argument("-o", "--output", default="autograder.zip", metavar="ZIP", help="the zip to write (default autograder.zip)")
    gs.set_defaults(func=run)
    r = sub.add_parser("gradescope-run", help="(run by run_autograder) grade ROOT/submission into ROOT/results/results.json")
    r.add_argument("--root", default=os.environ.get(ROOT_ENV, DEFAULT_ROOT), help=f"autograder root (default ${ROOT_ENV} or {DEFAULT_ROOT})")
    r.add_argument("--assignment", required=True, metavar="FILE")
    r.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run ``gradcheck autograder ...``: 0 on success, 2 for a bad assignment."""
    from gradcheck.grading.assignment import AssignmentError

    try:
        if args.platform == "gradescope":
            path = build_gradescope_zip(args.assignment, args.output)
        else:
            path = run_gradescope(args.root, args.assignment)
    except (FileNotFoundError, AssignmentError) as exc:
        print(f"gradcheck autograder: error: {exc}", file=sys.stderr)
        return 2
    print(path)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gradcheck.grading.autograder ...`` (what run_autograder calls)."""
    parser = argparse.ArgumentParser(prog="gradcheck autograder")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return int(run(parser.parse_args(["autograder", *(argv if argv is not None else sys.argv[1:])])))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
