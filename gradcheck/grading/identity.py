"""Who handed in what: submissions found on the command line, each with its identity.

A submission is identified by its path relative to the folder given on the
command line (a file named on the command line: the path as given), and by
a student id taken from that path when one is found; never by its content,
so two students who hand in the same file get a row each.

Layouts of ``grade DIR`` (what LMS exports look like):

* **one file per student**: every ``.py`` / ``.ipynb`` file directly in
  ``DIR`` is a submission, identified by its file name;
* **one folder per student**: every (non-hidden) folder in ``DIR`` is one
  submission, identified by the folder's name.  The graded file is the one
  the assignment names (``file = "hw3.py"`` or a glob such as ``"hw3*.py"``
  in ``[submission]``), else the only ``.py`` / ``.ipynb`` in the folder
  that no other one imports (``from utils import sigmoid`` makes
  ``utils.py`` a helper); with several candidates left and no name, the
  student is refused with a message listing them (never a silent pick).  The folder's other ``.py``
  files are helper modules the graded file may import.

The student id is the first match of ``--id-pattern`` (its first group when
it has one; with several, the first that matched) in the identity's first
component; the default, :data:`DEFAULT_ID_PATTERN`, takes a leading run of
digits (``"2023001234_홍길동"`` -> ``"2023001234"``, leading zeros kept), else
the first run of five or more digits anywhere (``"홍길동_2023001234_assignsubmission_file_hw3.py"``,
as Moodle names files, or ``"홍길동 (2023001234)"``).

Examples
--------
>>> student_id("0042_김철수 (1).py", DEFAULT_ID_PATTERN)
'0042'
>>> student_id("류건우_2023210866_assignsubmission_file_hw3.py", DEFAULT_ID_PATTERN)
'2023210866'
>>> student_id("송가은 (2022297975)/hw.py", DEFAULT_ID_PATTERN)
'2022297975'
>>> student_id("hw3 (1).py", DEFAULT_ID_PATTERN)
''
>>> student_id("alice.py", DEFAULT_ID_PATTERN)
''
>>> safe_name("2023 홍길동/hw3 (1).py")
'2023_홍길동__hw3_(1).py'
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterable, Sequence

__all__ = [
    "SUFFIXES",
    "DEFAULT_ID_PATTERN",
    "Submission",
    "SubmissionsError",
    "collect_submissions",
    "student_id",
    "safe_name",
    "output_names",
]

#: File types that can be graded.
SUFFIXES: tuple[str, ...] = (".py", ".ipynb")
#: Default ``--id-pattern``: a leading run of digits.
DEFAULT_ID_PATTERN = r"^(\d+)|(?<!\d)(\d{5,})(?!\d)"
#: Folders inside a student's folder that never hold submission files.
_IGNORED_DIRS = frozenset({"__pycache__", ".ipynb_checkpoints", "__MACOSX"})


class SubmissionsError(ValueError):
    """A problem with the paths given (a usage error)."""


@dataclass(frozen=True)
class Submission:
    """One student's submission.

    Attributes
    ----------
    identity : str
        The path relative to the folder given (POSIX separators), or the
        path as given for a file named on the command line.
    path : Path or None
        The file to grade (``None`` when the submission is refused).
    student_id : str
        Taken from ``identity`` by the id pattern (``""``: none found).
    extra_files : tuple of Path
        Helper modules next to the graded file, importable by it.
    problem : str or None
        Why no file can be graded (several candidates, none at all).
    """

    identity: str
    path: Path | None
    student_id: str = ""
    extra_files: tuple[Path, ...] = ()
    problem: str | None = None


def student_id(identity: str, pattern: str | re.Pattern[str]) -> str:
    """The student id in ``identity`` (its first path component), or ``""``.

    >>> student_id("subs/x.py", r"\\d+")
    ''
    >>> student_id("s_123_hw.py", r"_(\\d+)_")
    '123'
    """
    rx = re.compile(pattern) if isinstance(pattern, str) else pattern
    first = PurePosixPath(identity).parts[0] if identity else ""
    m = rx.search(first)
    if m is None:
        return ""
    return next((g for g in m.groups() if g is not None), m.group(0))


_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|\s]+")


def safe_name(identity: str) -> str:
    """A file name made from an identity (path separators and unsafe characters replaced)."""
    parts = [(_UNSAFE.sub("_", p).strip("._") or "_") for p in PurePosixPath(identity).parts]
    return "__".join(parts)[:200]


def output_names(submissions: Sequence[Submission]) -> list[str]:
    """A distinct output file stem per submission: the student id where one was found
    (and no one else has it), else the identity without the folders all identities
    share; never two alike (also on case-insensitive file systems).

    >>> subs = [Submission("01_a.py", None, "01"), Submission("01_a (1).py", None, "01"), Submission("b.py", None)]
    >>> output_names(subs)
    ['01_a.py', '01_a_(1).py', 'b.py']
    >>> output_names([Submission("/tmp/x/export/kim/hw3.py", None), Submission("/tmp/x/export/lee/hw3.py", None)])
    ['kim__hw3.py', 'lee__hw3.py']
    """
    parts = [PurePosixPath(s.identity).parts for s in submissions]
    common = 0  # folders every identity starts with say nothing about who it is: dropped
    while parts and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    short = ["/".join(p[common:]) for p in parts]
    counts: dict[str, int] = {}
    for s in submissions:
        if s.student_id:
            counts[s.student_id] = counts.get(s.student_id, 0) + 1
    names: list[str] = []
    taken: set[str] = set()
    for s, ident in zip(submissions, short):
        stem = s.student_id if s.student_id and counts[s.student_id] == 1 else safe_name(ident)
        name, k = stem, 2
        while name.lower() in taken:  # case-insensitive file systems
            name, k = f"{stem}-{k}", k + 1
        taken.add(name.lower())
        names.append(name)
    return names


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name not in _IGNORED_DIRS


def _folder_files(folder: Path) -> list[Path]:
    out: list[Path] = []
    for p in sorted(folder.iterdir()):
        if not _visible(p):
            continue
        if p.is_dir():
            out += _folder_files(p)
        elif p.is_file():
            out.append(p)
    return out


def _imports(path: Path) -> set[str]:
    """Top-level module names a ``.py`` or ``.ipynb`` file imports (nothing when it does not parse)."""
    import ast

    from gradcheck.grading.loader import load_submission

    try:
        cells = load_submission(path).cells
    except (OSError, ValueError):
        return set()
    names: set[str] = set()
    for cell in cells:
        try:
            tree = ast.parse(cell.source)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _not_imported(candidates: list[Path]) -> list[Path]:
    """The candidates no other candidate imports (a module another one imports is a helper)."""
    imported: set[str] = set()
    for f in candidates:
        imported |= {n for n in _imports(f) if n != f.stem}
    return [f for f in candidates if not (f.suffix.lower() == ".py" and f.stem in imported)]


def _pick(folder: Path, file_pattern: str | None) -> tuple[Path | None, tuple[Path, ...], str | None]:
    """The graded file of a student's folder, its helper modules, or why there is none."""
    files = _folder_files(folder)
    candidates = [f for f in files if f.suffix.lower() in SUFFIXES]
    rel = {f: f.relative_to(folder).as_posix() for f in files}
    if file_pattern:
        named = [f for f in files if fnmatch.fnmatchcase(rel[f], file_pattern) or fnmatch.fnmatchcase(f.name, file_pattern)]
        if len(named) == 1:
            chosen = named[0]
        elif not named:
            listing = ", ".join(rel[f] for f in candidates) or "none"
            return None, (), f"no file matching {file_pattern!r} (the assignment's file) in {folder.name!r}; its .py/.ipynb files: {listing}"
        else:
            return None, (), f"several files match {file_pattern!r} (the assignment's file) in {folder.name!r}: {', '.join(rel[f] for f in named)}; grade one by hand"
    elif len(candidates) == 1:
        chosen = candidates[0]
    elif len(_not_imported(candidates)) == 1:  # the others are its helper modules
        chosen = _not_imported(candidates)[0]
    elif not candidates:
        return None, (), f"no .py or .ipynb file in {folder.name!r}"
    else:
        listing = ", ".join(rel[f] for f in candidates)
        return None, (), (
            f"several candidate files in {folder.name!r}: {listing}; name the graded one with "
            f'file = "NAME" (or a glob) in the assignment\'s [submission] table'
        )
    helpers = tuple(f for f in files if f != chosen and f.suffix.lower() == ".py" and f.parent == chosen.parent)
    return chosen, helpers, None


def collect_submissions(
    paths: Iterable[str | Path],
    *,
    id_pattern: str = DEFAULT_ID_PATTERN,
    file_pattern: str | None = None,
    single: bool = False,
) -> list[Submission]:
    """The submissions named by ``paths`` (see the module docstring).

    Parameters
    ----------
    paths : iterable of str or Path
        Files and folders, as given on the command line.
    id_pattern : str
        Regular expression for the student id.
    file_pattern : str, optional
        The assignment's ``file``: the graded file's name or a glob.
    single : bool
        Every path together is one student's submission (a folder given
        is that student's folder: Gradescope's ``/autograder/submission``).

    Raises
    ------
    SubmissionsError
        For a path that does not exist, a bad ``id_pattern``, or nothing to grade.
    """
    try:
        rx = re.compile(id_pattern)
    except re.error as exc:
        raise SubmissionsError(f"--id-pattern {id_pattern!r} is not a regular expression: {exc}") from None
    given = [Path(p) for p in paths]
    for p in given:
        if not p.exists():
            raise SubmissionsError(f"no such file or directory: {str(p)!r}")
    if single:
        return [_single(given, rx, file_pattern)]
    out: list[Submission] = []
    seen: set[Path] = set()

    def add(sub: Submission, key: Path) -> None:
        if key not in seen:
            seen.add(key)
            out.append(sub)

    for p in given:
        if p.is_file():
            add(Submission(p.as_posix(), p, _id_of_file(p, rx)), p.resolve())
            continue
        for entry in sorted(p.iterdir()):
            if not _visible(entry):
                continue
            ident = entry.name
            sid = student_id(ident, rx)
            if entry.is_file() and entry.suffix.lower() in SUFFIXES:
                add(Submission(ident, entry, sid), entry.resolve())
            elif entry.is_dir():
                chosen, helpers, problem = _pick(entry, file_pattern)
                add(Submission(ident, chosen, sid, helpers, problem), entry.resolve())
    if not out:
        raise SubmissionsError(f"no .py or .ipynb submissions found in {', '.join(map(str, given))}")
    return out


def _id_of_file(p: Path, rx: re.Pattern[str]) -> str:
    """A file named on the command line: the id in its name, else in the nearest folder's."""
    for part in reversed(p.parts):
        sid = student_id(part, rx)
        if sid:
            return sid
    return ""


def _single(paths: list[Path], rx: re.Pattern[str], file_pattern: str | None) -> Submission:
    if len(paths) == 1 and paths[0].is_dir():
        folder = paths[0]
        chosen, helpers, problem = _pick(folder, file_pattern)
        ident = folder.name or folder.as_posix()
        return Submission(ident, chosen, student_id(ident, rx), helpers, problem)
    if len(paths) == 1:
        p = paths[0]
        return Submission(p.as_posix(), p, _id_of_file(p, rx))
    raise SubmissionsError(f"one submission (a Gradescope results.json) is one file or one folder, got {len(paths)} paths")
