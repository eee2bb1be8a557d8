"""Who handed in what: submissions found on the command line, each with its identity.

A submission is identified by its path relative to the folder given on the
command line (a file named on the command line: the path as given), and by
a student id taken from that path when one is found; never by its content,
so two students who hand in the same file get a row each.

Layouts of ``grade DIR`` (what LMS exports look like):

* **one file per student**: every ``.py`` / ``.ipynb`` file directly in
  ``DIR`` is a submission, identified by its file name;
* **an LMS's flat download** (:data:`FLAT_NAMES`): the files of one student
  are one submission, identified by the graded file's name.  Canvas names
  each uploaded file ``name_[late_]userid_fileid_FILE`` (``FILE-1.py`` when
  the name was used before: the highest ``-N`` is the newest upload, graded,
  and the older ones are listed in ``superseded``; Canvas's ``lib/content_zipper.rb`` writes
  ``LATE`` after the name, and ``[LATE_]anon_ID_fileid_FILE`` when the
  assignment is graded anonymously (ID: five base58 characters): those files are grouped by the
  anonymous id and have no user id (``anon_10042_...``, a 0 in it, is the user 10042 whose
  sortable name is "anon"); a leading ``late_`` before a name is
  accepted too (``late_LATE_10043_...`` is the student "late"), and ``anon_LATE_``, which Canvas never writes, is read as
  ``LATE_anon_``; a text entry or website URL, ``name_userid_text.html`` /
  ``_link.html``, is named in ``notes``, never graded), Moodle without folders
  ``Full Name_12345_assignsubmission_file_FILE`` (its online text,
  ``..._assignsubmission_onlinetext_onlinetext.html`` and the files embedded
  in the text, is the student's too: named in ``notes``, never graded, and a
  student with only online text is refused, never absent), Blackboard
  ``Assignment Name_username_attempt_YYYY-MM-DD-HH-MM-SS_FILE`` and the
  attempt's receipt ``..._attempt_YYYY-MM-DD-HH-MM-SS.txt`` (the username on
  it is the student id when the id pattern finds none: :func:`_blackboard_users`;
  text typed in its Submission Field is named in ``notes``, never graded);
  files of one student's latest Blackboard attempt with a file are graded
  (a later attempt without one is named in ``notes``), older attempts are
  listed in ``superseded`` (and warned about), never graded as a second row.  The
  graded file is chosen by the rule below among the files' own names, and
  the others are helper modules, imported by their own names
  (``kim_123_456_helper.py`` as ``helper``: see :func:`staged`);
* **one folder per student**: every (non-hidden) folder in ``DIR`` is one
  submission, identified by the folder's name; a folder holding only one
  student's files under an LMS's flat names (a Canvas download sorted into
  folders) is graded as that flat download is (the newest ``-N`` upload, the
  older ones in ``superseded``), while bare names in a folder are the
  student's own (``hw1-1.py`` beside ``hw1.py`` may be part 1-1: several
  candidates, refused saying so).  Moodle's download in folders
  writes one folder per student *and submission plugin*
  (:data:`MOODLE_FOLDER`, ``Full Name_12345_assignsubmission_file_`` and
  ``..._onlinetext_/onlinetext.html``): a student's folders are one
  submission, grouped by the participant id and identified by the file
  plugin's folder; the online text is not graded and says so in ``notes``.

Students' entries given one by one (``grade downloads/*``: the files an LMS
named, Moodle's plugin folders, and with several paths a folder of one
student's LMS-named files or a folder named with a student id) are read as
``grade downloads`` reads them (:func:`_is_entry`, :func:`_given_entries`):
the same students, ids and grouping.

One rule chooses the graded file of a student who handed in several
(:func:`choose_file`, also the Gradescope autograder's): the file the
assignment names (``file = "hw3.py"`` or a glob such as ``"hw3*.py"`` in
``[submission]``); else, never a test file (``test_*.py``, ``*_test.py``,
``conftest.py``, anything in ``tests/``: GitHub Classroom's repos hold them),
the only ``.py`` / ``.ipynb``; else of those that define what the assignment
calls (its ``backward``, or its class), the only one; else the only one no
other one imports (``from utils import sigmoid`` makes ``utils.py`` a
helper), else the one named like the template's skeleton (``MODEL.py`` /
``MODEL.ipynb``); with several candidates left, or none defining it, the
student is refused with a message listing them and naming ``file =``
(never a silent pick).  The other ``.py`` files
beside the graded one are helper modules it may import.

The student id is the first match of ``--id-pattern`` (its first group when
it has one; with several, the first that matched) in the identity's first
component, except in an LMS's name, where it is the id the LMS wrote, never
one in the parts the student chose (:func:`_lms_id`: Moodle's full and file
names, Canvas's name; in a student's folder, the files' names are all the
student's and give no id); the default, :data:`DEFAULT_ID_PATTERN`, takes a leading run of
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

import ast
import contextlib
import fnmatch
import hashlib
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Iterable, Iterator, Sequence

__all__ = [
    "SUFFIXES",
    "DEFAULT_ID_PATTERN",
    "MOODLE_ID_PATTERN",
    "Submission",
    "REVIEW_CODES",
    "SubmissionsError",
    "collect_submissions",
    "student_id",
    "safe_name",
    "NAME_BYTES",
    "output_names",
    "FLAT_NAMES",
    "Choice",
    "choose_file",
    "defines",
    "is_test_file",
    "pick_in_folder",
    "folder_files",
    "folder_links",
    "link_problem",
    "staged",
    "MOODLE_FOLDER",
    "online_text_note",
    "skipped_outputs",
    "not_code_note",
]

#: File types that can be graded.
SUFFIXES: tuple[str, ...] = (".py", ".ipynb")
#: Default ``--id-pattern``: a leading run of digits.
DEFAULT_ID_PATTERN = r"^(\d+)|(?<!\d)(\d{5,})(?!\d)"
#: ``--lms moodle``'s ``--id-pattern``: the participant id Moodle writes before ``assignsubmission_``.
MOODLE_ID_PATTERN = r"_(\d+)_assignsubmission_"
#: The id patterns that, in an LMS's name, find the id the LMS wrote, never one in the name's student-written parts (:func:`_lms_id`).
_LMS_AWARE = frozenset({DEFAULT_ID_PATTERN, MOODLE_ID_PATTERN})
#: Why a submission needs a human look whatever its grade (:attr:`Submission.review`): an older Blackboard
#: attempt graded because the later ones hold no code; a student id guessed from a Blackboard file name.
REVIEW_CODES: tuple[str, ...] = ("older_attempt", "id_guessed")
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
    helper_names : tuple of str
        The names ``extra_files`` are imported by, when those differ from
        the files' names (an LMS's flat download); empty otherwise.  See
        :func:`staged`.
    superseded : tuple of str
        Files of the student's older attempts or uploads, not graded
        (Blackboard's attempts, Canvas's re-uploads ``hw1-1.py``).
    notes : tuple of str
        What else of the student's was not graded, and why (a sentence
        each: Moodle's online text).
    review : tuple of str
        Why a person should look at this submission whatever its grade
        (:data:`REVIEW_CODES`: ``"older_attempt"``, a Blackboard attempt
        older than the latest is graded; ``"id_guessed"``, the student id
        is a guess, see ``id_guess``).
    id_guess : str
        When the student id is a Blackboard username guessed from the file
        name (no receipt, no ``--blackboard-assignment``, and the cut is
        ambiguous: :func:`_blackboard_users`): the part of the name cut off
        as the assignment's (``"HW1_kim_"``); ``""`` otherwise.
    """

    identity: str
    path: Path | None
    student_id: str = ""
    extra_files: tuple[Path, ...] = ()
    problem: str | None = None
    helper_names: tuple[str, ...] = ()
    superseded: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    review: tuple[str, ...] = ()
    id_guess: str = ""


def student_id(identity: str, pattern: str | re.Pattern[str]) -> str:
    """The student id in ``identity`` (its first path component), or ``""``.

    The id is the group named ``student`` when ``pattern`` has one (as
    :data:`FLAT_NAMES`' patterns do), else its first group that matched,
    else the whole match.

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
    if "student" in rx.groupindex:  # an LMS's name (FLAT_NAMES): its user id, none in an anonymous download
        return m["student"] or ""
    group = next((i for i, g in enumerate(m.groups(), 1) if g is not None), 0)
    lms = _lms_id(first, m.span(group), rx.pattern in _LMS_AWARE)
    return m.group(group) if lms is None else lms


def _lms_id(name: str, span: tuple[int, int], anywhere: bool) -> str | None:
    """The id an LMS wrote in ``name`` (Moodle's participant id, Canvas's user id) when the id pattern's find ``span`` is a
    Moodle id, or, ``anywhere`` (the default pattern, ``--lms``'s), wherever it is; ``None``: not an LMS's name, the find stands.

    The rest of an LMS's name is the student's (a full name, a file name): an id found there is no one's.

    >>> _lms_id("kim55555_10001_70001_hw1.py", (3, 8), True), _lms_id("kim55555_10001_70001_hw1.py", (3, 8), False)
    ('10001', None)
    """
    moodle = _moodle_id(name, span, anywhere)
    if moodle is not None or not anywhere:
        return moodle
    canvas = dict(FLAT_NAMES)["canvas"].match(name)
    return None if canvas is None else canvas["student"] or ""


#: Where Moodle writes a participant id: ``_12345_assignsubmission_PLUGIN_`` (overlapping finds: a full name may end so).
_MOODLE_ID = re.compile(r"(?=(_(\d+)_assignsubmission_[a-z0-9]+_))")


def _moodle_id(name: str, span: tuple[int, int], anywhere: bool = False) -> str | None:
    """The participant id Moodle wrote in ``name`` when the id pattern's find ``span`` is one of its ``_ID_assignsubmission_``
    ids (``anywhere``: wherever it is), else ``None`` (the pattern's find stands).

    The full name before it and, without folders, the file name after it are
    the student's (Moodle lets students edit their name): the id is the one
    that ends a folder's name, else the only one; with several in a file's
    name, which Moodle wrote cannot be told, and the id is ``""``.

    >>> _moodle_id("Kim Jiwoo_55555_assignsubmission_file__10001_assignsubmission_file_", (10, 15))
    '10001'
    >>> _moodle_id("Kim_10001_assignsubmission_file_x_55555_assignsubmission_file_hw1.py", (4, 9))
    ''
    >>> _moodle_id("Kim_10001_assignsubmission_file_hw1.py", (4, 9)), _moodle_id("20230001_Kim.py", (0, 8))
    ('10001', None)
    """
    found = list(_MOODLE_ID.finditer(name))
    if not found or not anywhere and not any(m.span(2) == span for m in found):
        return None
    last = found[-1]
    if len(found) == 1 or last.start() + len(last[1]) == len(name):
        return last[2]
    return ""


_UNSAFE = re.compile(r"[\x00-\x1f/\\:*?\"<>|\s]+")


#: The most UTF-8 bytes of a name :func:`safe_name` makes: file systems allow 255 bytes, and the writers add
#: a suffix (``.md``, ``.json``), the temporary file's ``.NAME.PID.tmp`` and output_names' ``-1a2b3c4d``.
NAME_BYTES = 200


def safe_name(identity: str) -> str:
    """A file name made from an identity (path separators and unsafe characters replaced), at most :data:`NAME_BYTES` bytes.

    A longer name is cut on a character boundary (``가`` is 3 bytes in UTF-8)
    and ends with a hash of the whole identity, so two names that differ only
    after the cut stay apart.

    >>> name = safe_name("가" * 80 + ".py")  # 243 bytes: 63 syllables (189 bytes) and "-" and 8 hex digits are left
    >>> len(name.encode()), name[60:]
    (198, '가가가-cf4820a9')
    """
    parts = [(_UNSAFE.sub("_", p).strip("._") or "_") for p in PurePosixPath(identity).parts]
    name = "__".join(parts)
    if len(name.encode()) <= NAME_BYTES:
        return name
    tag = "-" + hashlib.sha256(identity.encode()).hexdigest()[:8]
    return name.encode()[:NAME_BYTES - len(tag)].decode("utf-8", "ignore") + tag


def output_names(submissions: Sequence[Submission]) -> list[str]:
    """A distinct output file stem per submission: the student id where one was found
    (and no one else has it), else the identity without the folders all identities
    share; never two alike (also on case-insensitive file systems).

    A name that had to be changed to be a file name (``kim min.py`` ->
    ``kim_min.py``) never takes another submission's unchanged name: the
    unchanged names are given first, and a changed one that collides gets a
    suffix made from its full original name (``kim_min.py-3f1a2b9c``), so
    whose file is whose never depends on the order of the class.

    >>> subs = [Submission("01_a.py", None, "01"), Submission("01_a (1).py", None, "01"), Submission("b.py", None)]
    >>> output_names(subs)
    ['01_a.py', '01_a_(1).py', 'b.py']
    >>> output_names([Submission("/tmp/x/export/kim/hw3.py", None), Submission("/tmp/x/export/lee/hw3.py", None)])
    ['kim__hw3.py', 'lee__hw3.py']
    >>> output_names([Submission("kim min.py", None), Submission("kim_min.py", None)])
    ['kim_min.py-58641095', 'kim_min.py']
    """
    wanted = _wanted_names(submissions)
    names: dict[int, str] = {}
    taken: set[str] = set()
    # unchanged names first: a sanitised name never takes another student's own name
    for i in sorted(range(len(wanted)), key=lambda i: wanted[i][1]):
        stem, changed = wanted[i]
        name = stem
        if name.lower() in taken:  # case-insensitive file systems
            name = f"{stem}-{hashlib.sha256(submissions[i].identity.encode()).hexdigest()[:8]}"
        k = 2
        while name.lower() in taken:
            name, k = f"{stem}-{k}", k + 1
        taken.add(name.lower())
        names[i] = name
    return [names[i] for i in range(len(wanted))]


def _wanted_names(submissions: Sequence[Submission]) -> list[tuple[str, bool]]:
    """Each submission's preferred stem (its unique id, else its identity without the shared folders) and whether it was changed."""
    parts = [PurePosixPath(s.identity).parts for s in submissions]
    common = 0  # folders every identity starts with say nothing about who it is: dropped
    while parts and all(len(p) > common + 1 and p[common] == parts[0][common] for p in parts):
        common += 1
    counts: dict[str, int] = {}
    for s in submissions:
        if s.student_id:
            counts[s.student_id] = counts.get(s.student_id, 0) + 1
    out: list[tuple[str, bool]] = []
    for s, p in zip(submissions, parts):
        own = s.student_id if s.student_id and counts[s.student_id] == 1 else "/".join(p[common:])
        stem = safe_name(own)
        out.append((stem, stem != own))
    return out


def _visible(p: Path) -> bool:
    return not p.name.startswith(".") and p.name not in _IGNORED_DIRS


def folder_files(folder: Path) -> list[Path]:
    """Every visible regular file under ``folder`` (no hidden files, ``__pycache__``, notebook checkpoints or ``__MACOSX``), sorted.

    Symbolic links are never followed nor listed (:func:`folder_links` lists them).
    """
    out: list[Path] = []
    for p in sorted(folder.iterdir()):
        if not _visible(p) or p.is_symlink():
            continue
        if p.is_dir():
            out += folder_files(p)
        elif p.is_file():
            out.append(p)
    return out


def folder_links(folder: Path) -> list[str]:
    """Every visible symbolic link under ``folder`` (at any depth, never followed), as ``'name' -> 'target'``, sorted.

    A student controls the links in their folder (git, tar and unzip keep
    them): a link to a classmate's file, to a file only the grader's user
    may read, or to the installed answer key would put that file's text in
    the sandbox as if the student had written it.  So a student's files are
    only regular files, and a folder holding links is refused, naming them
    (:func:`link_problem`).
    """
    out: list[str] = []
    pending = [folder]
    while pending:
        for p in sorted(pending.pop().iterdir()):
            if _visible(p) and p.is_symlink():
                out.append(_link_text(p, folder))
            elif _visible(p) and p.is_dir():
                pending.append(p)
    return sorted(out)


def _link_text(link: Path, folder: Path | None = None) -> str:
    """``'name' -> 'target'`` of a symbolic link (its target as written, never resolved)."""
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    name = link.name if folder is None else link.relative_to(folder).as_posix()
    return f"{name!r} -> {target!r}"


#: Links named in a refusal (a folder of 75 links to the installed packages is named by its first few).
_LINKS_SHOWN = 5


def link_problem(where: str, links: Sequence[str]) -> str:
    """The refusal of a submission that is, or holds, symbolic links (the grader never follows one)."""
    shown = ", ".join(links[:_LINKS_SHOWN]) + (f" and {len(links) - _LINKS_SHOWN} more" if len(links) > _LINKS_SHOWN else "")
    return (f"{where} holds symbolic links, which the grader does not follow: {shown}; "
            "hand in the files themselves (a link to another file is not the student's own work)")


def _trees(path: Path) -> list[ast.Module]:
    """The parsed code cells of a ``.py`` or ``.ipynb`` file (none when it cannot be read; a cell that does not parse is left out)."""
    from gradcheck.grading.loader import load_submission

    try:
        cells = load_submission(path).cells
    except (OSError, ValueError):
        return []
    trees: list[ast.Module] = []
    for cell in cells:
        try:
            trees.append(ast.parse(cell.source))
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
    return trees


def _imports(path: Path) -> set[str]:
    """Top-level module names a ``.py`` or ``.ipynb`` file imports (nothing when it does not parse)."""
    names: set[str] = set()
    for tree in _trees(path):
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
    return names


def _module_level(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    """The statements run when a module runs: ``body`` and the blocks of its ``if``, ``try``, ``with`` and loops, not functions' or classes'."""
    for node in body:
        yield node
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for field in ("body", "orelse", "finalbody"):
                yield from _module_level([n for n in getattr(node, field, ()) if isinstance(n, ast.stmt)])
            for handler in getattr(node, "handlers", ()):
                yield from _module_level(handler.body)


def _bound(node: ast.stmt) -> set[str]:
    """The module-level names one statement binds (``*``: a star import may bind any)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, (ast.AnnAssign, ast.AugAssign)) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def defines(path: Path, name: str) -> bool:
    """Whether the file ``path`` binds ``name`` when it runs: a ``def``, ``class``, assignment or import at module level.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "a.py").write_text("from model import backward\\n"); _ = (d / "b.py").write_text("import model\\nmodel.backward(1)\\n")
    >>> defines(d / "a.py", "backward"), defines(d / "b.py", "backward")
    (True, False)
    """
    return any(name in _bound(node) or "*" in _bound(node) for tree in _trees(path) for node in _module_level(tree.body))


#: Files a test runner collects, never a student's answer (GitHub Classroom's ``tests/test_hw1.py``, pytest's ``conftest.py``).
_TEST_FILE = re.compile(r"^(?:test_.*|.*_test|conftest)\.(?:py|ipynb)$", re.IGNORECASE)
_TEST_DIRS = frozenset({"test", "tests"})


def is_test_file(name: str) -> bool:
    """Whether ``name`` (relative to the student's folder) is a test file: ``test_*.py``, ``*_test.py``, ``conftest.py`` or in ``tests/``.

    >>> [is_test_file(n) for n in ("tests/helpers.py", "test_hw1.py", "hw1_test.ipynb", "conftest.py", "hw1.py", "latest.py")]
    [True, True, True, True, False, False]
    """
    p = PurePosixPath(name)
    return bool(_TEST_FILE.match(p.name)) or any(part.lower() in _TEST_DIRS for part in p.parts[:-1])


def _stem(name: str) -> str:
    return PurePosixPath(name).stem


def _not_imported(candidates: Sequence[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The candidates no other candidate imports (a module another one imports is a helper)."""
    imported: set[str] = set()
    for f, name in candidates:
        imported |= {n for n in _imports(f) if n != _stem(name)}
    return [(f, name) for f, name in candidates if not (name.lower().endswith(".py") and _stem(name) in imported)]


@dataclass(frozen=True)
class Choice:
    """Which of one student's files is graded (:func:`choose_file`).

    Attributes
    ----------
    path : Path or None
        The graded file (``None``: refused).
    name : str
        Its name among the student's files (``""`` when refused).
    helpers : tuple of (Path, str)
        The helper modules and the names they are imported by; the modules
        of a package folder the graded file imports under their paths
        relative to its folder (``lib/act.py``, :func:`_packages`).
    candidates : tuple of str
        The names of every ``.py`` / ``.ipynb`` file, sorted; when refused
        with several, only the ones the rule left (not the helper modules).
    helper_modules : tuple of str
        When refused with several: the ``.py`` files recognised as helper
        modules (another file imports them), sorted.
    older : tuple of Path
        With ``renamed``: the files an upload of the same name replaced
        (Canvas's ``hw1.py`` beside ``hw1-1.py``), never graded nor imported.
    reason : str or None
        Why none is graded: ``"none"`` (no candidate), ``"several"``,
        ``"no_match"`` or ``"several_match"`` (the assignment's ``file``),
        ``"links"`` (symbolic links among the files: ``candidates`` then
        names them, :func:`pick_in_folder`).
    problem : str or None
        The same as a sentence for the instructor.
    """

    path: Path | None
    name: str = ""
    helpers: tuple[tuple[Path, str], ...] = ()
    candidates: tuple[str, ...] = ()
    reason: str | None = None
    problem: str | None = None
    helper_modules: tuple[str, ...] = ()
    older: tuple[Path, ...] = ()


def _chosen(files: Sequence[tuple[Path, str]], file_pattern: str | None, model: str | None,
            needs: str | None) -> tuple[list[tuple[Path, str]], str]:
    """The files the rule leaves (one: the graded file) and the reason when it is not one."""
    code = [(f, n) for f, n in files if PurePosixPath(n).suffix.lower() in SUFFIXES]
    if file_pattern:
        named = [(f, n) for f, n in files if fnmatch.fnmatchcase(n, file_pattern) or fnmatch.fnmatchcase(PurePosixPath(n).name, file_pattern)]
        return named, "no_match" if not named else "several_match"
    candidates = [(f, n) for f, n in code if not is_test_file(n)]
    if len(candidates) <= 1:
        return candidates, "tests" if code else "none"
    if needs:  # a driver (train.py) or a scratch file that defines none of it is never the answer
        candidates = [(f, n) for f, n in candidates if defines(f, needs)]
        if len(candidates) <= 1:
            return candidates, "undefined"
    top = _not_imported(candidates)  # the others are its helper modules
    if len(top) == 1 or not model:
        return top, "several"
    named = [(f, n) for f, n in top if _stem(n) == model]  # the name the template's skeleton has
    return (named if len(named) == 1 else top), "several"


def choose_file(files: Sequence[tuple[Path, str]], where: str, *, file_pattern: str | None = None, model: str | None = None,
                renamed: bool = False, needs: str | None = None) -> Choice:
    """The graded file of one student's ``files`` (``(path, name)``: the name relative to the student's folder).

    The one rule for every layout (a student's folder, an LMS's flat download
    grouped by student, a Gradescope submission): the file the assignment
    names (``file_pattern``, a name or a glob); else, of the ``.py`` /
    ``.ipynb`` files that are no test files (:func:`is_test_file`: GitHub
    Classroom's ``tests/test_hw1.py`` is never graded), the only one; else of
    those that define ``needs`` (:func:`defines`; the assignment's backward
    function or class, :attr:`~gradcheck.grading.assignment.SubmissionSpec.entry_name`:
    a ``train.py`` that only imports the model is no candidate), the only one;
    else the only one no other one imports; else the one named like the
    template's skeleton (``MODEL.py`` / ``MODEL.ipynb``); else none (refused
    naming the candidates and ``file =``, never a silent pick).  The ``.py``
    files beside the graded one are its helper modules.  ``where`` names the
    files in messages.

    ``renamed``: the names are Canvas's, where ``hw1-1.py`` is a later upload
    of ``hw1.py`` (``-2`` later still).  Of the names that differ only by
    that ``-N``, the highest N is the student's newest upload and the only
    one kept, under its own name (``hw1.py``); the others are
    :attr:`Choice.older` (never a silent pick of the older one).

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "hw.py").write_text("from helper import f\\n"); _ = (d / "helper.py").write_text("")
    >>> c = choose_file([(d / "helper.py", "helper.py"), (d / "hw.py", "hw.py")], "d")
    >>> c.name, [n for _, n in c.helpers]
    ('hw.py', ['helper.py'])
    """
    older: tuple[Path, ...] = ()
    if renamed:
        files, older = _newest(files)
    left, reason = _chosen(files, file_pattern, model, needs)
    names = tuple(sorted(n for _, n in files if PurePosixPath(n).suffix.lower() in SUFFIXES))
    if len(left) != 1 and reason == "several":  # the files another one imports are helpers, no candidates
        kept = tuple(sorted(n for _, n in left))
        imported = tuple(n for n in names if n not in kept and not is_test_file(n))
        return Choice(None, candidates=kept, reason=reason, problem=_several(where, kept, imported, needs), helper_modules=imported,
                      older=older)
    if len(left) != 1:
        problem = _problem(reason, where, names, [n for _, n in left], file_pattern, needs)
        return Choice(None, candidates=names, reason=reason, problem=problem, older=older)
    path, name = left[0]
    folder = PurePosixPath(name).parent
    helpers = tuple((f, PurePosixPath(n).name) for f, n in files if n != name and n.lower().endswith(".py") and PurePosixPath(n).parent == folder)
    return Choice(path, name, helpers + _packages(files, folder, [path, *(f for f, _ in helpers)]), names, older=older)


def _packages(files: Sequence[tuple[Path, str]], folder: PurePosixPath, importers: Sequence[Path]) -> tuple[tuple[Path, str], ...]:
    """The ``.py`` files of the package folders beside the graded file that it or its helpers import (rt23 F9).

    ``from lib.act import f`` or ``import lib.act`` takes every ``.py`` file
    under ``lib/`` (a package imports its own modules: ``from .x import y``),
    named by its path relative to ``folder`` (``lib/act.py``), the layout the
    sandbox keeps; the packages' own imports are followed too.  A folder
    nothing imports (``tests/``) is left out.
    """
    by_package: dict[str, list[tuple[Path, str]]] = {}
    for f, n in files:
        p = PurePosixPath(n)
        if n.lower().endswith(".py") and folder in p.parents and len(rel := p.relative_to(folder).parts) > 1:
            by_package.setdefault(rel[0], []).append((f, PurePosixPath(*rel).as_posix()))
    wanted: list[str] = []
    pending = list(importers)
    while pending:
        for m in sorted(_imports(pending.pop()) & set(by_package) - set(wanted)):
            wanted.append(m)
            pending += [f for f, _ in by_package[m]]
    return tuple(h for m in sorted(wanted) for h in by_package[m])


def _newest(files: Sequence[tuple[Path, str]]) -> tuple[list[tuple[Path, str]], tuple[Path, ...]]:
    """Canvas's re-uploads: per name without ``-N``, the file with the highest N (no suffix: 0), under that name; and the others.

    >>> kept, older = _newest([(Path("a/hw1.py"), "hw1.py"), (Path("a/hw1-1.py"), "hw1-1.py"), (Path("a/u-2.py"), "u-2.py")])
    >>> [(f.name, n) for f, n in kept], [f.name for f in older]
    ([('hw1-1.py', 'hw1.py'), ('u-2.py', 'u.py')], ['hw1.py'])
    """
    newest: dict[str, tuple[int, Path]] = {}
    for f, n in files:
        m = _RENAMED.search(n)
        k = int(m.group(0)[1:]) if m else 0
        own = _RENAMED.sub("", n)
        if own not in newest or k > newest[own][0]:
            newest[own] = (k, f)
    kept = [(f, own) for own, (_, f) in newest.items()]
    chosen = {f for f, _ in kept}
    return kept, tuple(f for f, _ in files if f not in chosen)


#: How a refusal says which setting decides.
_FILE_SETTING = 'name the graded one with file = "NAME" (or a glob) in the assignment\'s [submission] table'


def _problem(reason: str, where: str, names: Sequence[str], left: Sequence[str], file_pattern: str | None, needs: str | None) -> str:
    listing = ", ".join(names) or "none"
    if reason == "no_match":
        return f"no file matching {file_pattern!r} (the assignment's file) in {where}; its .py/.ipynb files: {listing}"
    if reason == "several_match":
        return f"several files match {file_pattern!r} (the assignment's file) in {where}: {', '.join(left)}; grade one by hand"
    if reason == "tests":
        return f"no .py or .ipynb file in {where} but test files, which are never graded: {listing}; {_FILE_SETTING}"
    if reason == "undefined":
        return f"none of the files in {where} defines {needs!r}, which the assignment calls: {listing}; {_FILE_SETTING}"
    return f"no .py or .ipynb file in {where}"


def _several(where: str, candidates: Sequence[str], helpers: Sequence[str], needs: str | None = None) -> str:
    """The refusal of several candidates, naming the files recognised as helper modules apart."""
    seen = f"; {', '.join(helpers)} (imported by another file: a helper module)" if helpers else ""
    each = f" (each defines {needs!r})" if needs else ""
    return f"several candidate files in {where}{each}: {', '.join(candidates)}{seen}{_dash_n_hint(candidates)}; {_FILE_SETTING}"


def _dash_n_hint(candidates: Sequence[str]) -> str:
    """Why ``hw1-1.py`` beside ``hw1.py`` is not taken for Canvas's re-upload: only the flat download's prefixed names are Canvas's.

    >>> _dash_n_hint(["hw1-1.py", "hw1.py", "utils.py"])
    " (hw1-1.py is not taken for a re-upload of hw1.py: Canvas's -N shows only in its own file names, name_userid_fileid_FILE)"
    """
    pairs = [(n, _RENAMED.sub("", n)) for n in candidates if _RENAMED.search(n) and _RENAMED.sub("", n) in candidates]
    if not pairs:
        return ""
    said = ", ".join(f"{n} is not taken for a re-upload of {own}" for n, own in pairs)
    return f" ({said}: Canvas's -N shows only in its own file names, name_userid_fileid_FILE)"


def pick_in_folder(folder: Path, where: str, *, file_pattern: str | None = None, model: str | None = None,
                   needs: str | None = None) -> Choice:
    """The graded file of a student's folder (:func:`choose_file`); refused (reason ``"links"``) when it holds symbolic links.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp())
    >>> _ = (d / "hw.py").write_text(""); (d / "notes.py").symlink_to("../alice/hw.py")
    >>> c = pick_in_folder(d, "the submission")
    >>> c.path, c.reason, c.candidates
    (None, 'links', ("'notes.py' -> '../alice/hw.py'",))
    """
    links = folder_links(folder)
    if links:
        return Choice(None, candidates=tuple(links), reason="links", problem=link_problem(where, links))
    return choose_file([(f, f.relative_to(folder).as_posix()) for f in folder_files(folder)], where, file_pattern=file_pattern, model=model, needs=needs)


def _pick(folder: Path, file_pattern: str | None, model: str | None = None, needs: str | None = None) -> Choice:
    """The graded file of a student's folder in a class folder (a folder that is itself a link is refused)."""
    if folder.is_symlink():
        return Choice(None, candidates=(_link_text(folder),), reason="links", problem=link_problem(repr(folder.name), [_link_text(folder)]))
    return pick_in_folder(folder, repr(folder.name), file_pattern=file_pattern, model=model, needs=needs)


def _submission(identity: str, sid: str, choice: Choice, **more: object) -> Submission:
    helpers = tuple(f for f, _ in choice.helpers)
    names = tuple(n for _, n in choice.helpers)
    renamed = names if any(f.name != PurePosixPath(n).name for f, n in choice.helpers) else ()  # a package's lib/act.py is not renamed
    return Submission(identity, choice.path, sid, helpers, choice.problem, helper_names=renamed, **more)  # type: ignore[arg-type]


#: Canvas's anonymous id (``Anonymity.generate_short_id``: ``SecureRandom.base58(5)``, no 0, O, I or l).
_ANON_ID = r"[1-9A-HJ-NP-Za-km-z]{5}(?![^_])"

#: Blackboard's attempt in its file names, ``_attempt_YYYY-MM-DD-HH-MM-SS``, and a character before the first one.
_ATTEMPT = r"_attempt_(?P<attempt>\d{4}(?:-\d{2}){5})"
_BEFORE_ATTEMPT = r"(?:(?!_attempt_\d{4}(?:-\d{2}){5}(?:_|\.txt$)).)"

#: One student's files in an LMS's flat download: the student (``student``), the file's own
#: name (``file``) and, for Blackboard, the attempt (``attempt``, a sortable timestamp).
FLAT_NAMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    # Canvas writes name_LATE_userid, or LATE_anon_ID (ID: 5 base58 characters, Anonymity.generate_short_id); anon_LATE_ID
    # (a renamed download) is the same, never anonymous id "LATE"; "anon" before a user id that is no anonymous id (a 0 in
    # it, another length) is a student's sortable name, as a leading "late_" that a name and user id follow ("late_LATE_")
    # an uploaded file _FILEID_FILE, or a text entry / website URL _text.html / _link.html (no file id; named, not graded)
    ("canvas", re.compile(rf"^(?i:late_)??(?:anon_(?i:late_)?(?P<anon>{_ANON_ID})|(?P<name>[^_]+)_(?i:late_)?(?P<student>\d+))"
                          r"_(?:\d+_(?P<file>.+)|(?P<entry>text|link)\.html)$")),
    # every submission plugin: assignsubmission_file_ (graded) and assignsubmission_onlinetext_ (named, not graded); a name
    # with two such ids is none (the full name before and the file name after are the student's: whose id, no one can tell)
    ("moodle", re.compile(r"^(?!(?:.*?_\d+_assignsubmission_[a-z0-9]+(?=_)){2})"
                          r"(?P<name>.+?)_(?P<student>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_(?P<file>.+)$")),
    # each attempt's files _FILE, and its receipt .txt (Name: Full Name (username), Submission Field: the typed text, Files:)
    # at the first _attempt_TIMESTAMP: what follows is the student's own file name (kimj_attempt_2099-..._hw1.py is a file)
    ("blackboard", re.compile(rf"^(?P<name>{_BEFORE_ATTEMPT}+)_(?P<student>[^_]+){_ATTEMPT}(?:_(?P<file>.+)|\.txt)$")),
)
#: Canvas renames a file whose name the student used before: ``hw1.py`` -> ``hw1-1.py``.
_RENAMED = re.compile(r"-\d+(?=\.[^.]+$)")


_Key = tuple[str, str, str]

#: What a student typed rather than uploaded, in an LMS's download: Moodle's online text without folders
#: (``mod/assign/locallib.php``, ``download_submissions``: ``Full Name_12345_assignsubmission_onlinetext_onlinetext.html``
#: and each file embedded in the text) or its folder ``..._assignsubmission_onlinetext_``; Canvas's text entry and website
#: URL (``lib/content_zipper.rb``, ``add_text_or_url``: ``name_[LATE_]userid_text.html``, ``..._link.html``).
_TEXT_ENTRIES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("Moodle's online text", re.compile(r"^.+?_\d+_assignsubmission_onlinetext_(?:.+)?$")),
    ("Canvas's text entry", re.compile(rf"^(?i:late_)??(?:anon_(?i:late_)?{_ANON_ID}|[^_]+_(?i:late_)?\d+)_text\.html$")),
    ("Canvas's website URL", re.compile(rf"^(?i:late_)??(?:anon_(?i:late_)?{_ANON_ID}|[^_]+_(?i:late_)?\d+)_link\.html$")),
    ("Blackboard's submission text", re.compile(rf"^{_BEFORE_ATTEMPT}+{_ATTEMPT}\.txt$")),
)


def _text_entry(name: str) -> str:
    """What ``name`` (a file, or a folder of Moodle's download in folders) holds if a student typed it in the LMS, else ``""``."""
    return next((kind for kind, rx in _TEXT_ENTRIES if rx.match(name)), "")


def _online_text(name: str) -> bool:
    """Whether ``name`` is a text the student typed in the LMS (:data:`_TEXT_ENTRIES`): the student's, never graded."""
    return bool(_text_entry(name))


def _code(path: Path) -> bool:
    """Whether ``path`` can be graded: a ``.py`` / ``.ipynb`` file that is not a text typed in the LMS."""
    return path.suffix.lower() in SUFFIXES and not _online_text(path.name)


def not_code_note(names: Sequence[str]) -> tuple[str, ...]:
    """The note naming a student's files that are neither ``.py`` nor ``.ipynb`` (one for all of them; none without any).

    >>> not_code_note(["report.pdf", "hw1.zip"])
    ('not graded, neither .py nor .ipynb: report.pdf, hw1.zip (a .zip is not unpacked: unpack it and grade again)',)
    """
    if not names:
        return ()
    zipped = " (a .zip is not unpacked: unpack it and grade again)" if any(n.lower().endswith(".zip") for n in names) else ""
    return (f"not graded, neither .py nor .ipynb: {', '.join(names)}{zipped}",)


def online_text_note(name: str) -> str:
    """The note naming a typed text (file or folder) that is not graded, the same in every layout."""
    return f"{name!r} not graded: {_text_entry(name) or 'a text typed in the LMS'} (only .py and .ipynb files are graded; read it yourself)"


def _flat_key(name: str) -> tuple[_Key, str, str] | None:
    """``((LMS, name, student), attempt, own file name)`` of a file an LMS named, else ``None``."""
    for lms, rx in FLAT_NAMES:
        m = rx.match(name)
        if m:
            found = m.groupdict()
            who = found["student"] or f"anon_{found.get('anon')}"  # Canvas's anonymous id when grading is anonymous
            own = found["file"] or (f"{found['entry']}.html" if found.get("entry") else "submission.txt")  # Blackboard's receipt
            return (lms, found["name"] or "", who), found.get("attempt") or "", own
    return None


def _own_names(files: Sequence[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The files' own names, without Canvas's ``-1`` where that leaves them distinct (``helper-1.py`` is imported as ``helper``)."""
    plain = [_RENAMED.sub("", n) for _, n in files]
    if len(set(plain)) == len(plain):
        return [(f, n) for (f, _), n in zip(files, plain)]
    return list(files)


def _graded_attempt(files: list[tuple[Path, str, str]]) -> tuple[str, tuple[str, ...]]:
    """The attempt graded, the latest holding a ``.py`` / ``.ipynb`` (else the latest), and a note naming the later ones, if any.

    A Blackboard attempt may be text only (its receipt ``.txt`` and no file):
    then an earlier attempt's code is graded, saying which and why.
    """
    attempts = sorted({attempt for _, attempt, _ in files}, reverse=True)
    graded = next((a for a in attempts if any(_code(f) for f, at, _ in files if at == a)), attempts[0])
    later = sorted(f.name for f, at, _ in files if at > graded)
    if not later:
        return graded, ()
    return graded, (f"graded attempt {graded}, not the latest: the later attempts hold no .py or .ipynb file ({', '.join(later)}); "
                    "if a later attempt counts, grade it by hand",)


def _typed(f: Path) -> bool:
    """Whether a text typed in the LMS is worth naming: any, but a Blackboard receipt whose Submission Field is empty."""
    return not _text_entry(f.name).startswith("Blackboard") or bool(_receipt(f)[1])


def _group(key: _Key, files: list[tuple[Path, str, str]], rx: re.Pattern[str], file_pattern: str | None,
           model: str | None, needs: str | None, user: _User | None = None) -> Submission:
    """One student's files of a flat LMS download as one submission: the latest attempt, graded by :func:`choose_file`.

    ``user``: the student id when ``rx`` finds none (a Blackboard username, :func:`_blackboard_users`).
    """
    user = user or _User()
    latest, later = _graded_attempt(files)
    mine = sorted((f, own) for f, attempt, own in files if attempt == latest)
    older = tuple(sorted(f.name for f, attempt, _ in files if attempt < latest))
    where = f"the files of {key[0]} student {user.name or key[2]}"
    links = [_link_text(f) for f, _ in mine if f.is_symlink()]
    if links:
        refused = Choice(None, candidates=tuple(links), reason="links", problem=link_problem(where, links))
        return _with_user(_submission(mine[0][0].name, "", refused, superseded=older), rx, user)
    notes = later + tuple(online_text_note(f.name) for f, at, _ in files if at >= latest and _online_text(f.name) and _typed(f))
    graded = [(f, own) for f, own in mine if not _online_text(f.name)]
    canvas = key[0] == "canvas"  # its -N names are later uploads (choose_file's renamed)
    choice = choose_file(graded if canvas else _own_names(graded), where, file_pattern=file_pattern, model=model, needs=needs, renamed=canvas)
    notes += not_code_note([f.name for f, _ in graded if not _code(f) and f != choice.path])
    ident = (choice.path or (graded or mine)[0][0]).name
    sub = _submission(ident, "", choice, superseded=older + tuple(sorted(f.name for f in choice.older)), notes=notes,
                      review=("older_attempt",) if later and choice.path is not None else ())
    return _with_user(sub, rx, user)


def _with_user(sub: Submission, rx: re.Pattern[str], user: _User) -> Submission:
    """``sub`` with its student id: what ``rx`` finds in its name, else the Blackboard username ``user`` (flagged when a guess)."""
    found = student_id(sub.identity, rx)
    if found or not user.name:
        return replace(sub, student_id=found)
    if not user.guess:
        return replace(sub, student_id=user.name)
    return replace(sub, student_id=user.name, id_guess=user.guess, review=sub.review + ("id_guessed",))


#: The most of a Blackboard receipt read: its head (name, text typed) is all the grader needs.
_RECEIPT_BYTES = 1 << 16
_RECEIPT_USER = re.compile(r"^Name:.*\((?P<user>[^()\s]+)\)\s*$", re.MULTILINE)
_RECEIPT_TEXT = re.compile(r"^Submission Field:\s*\n(?P<text>.*?)(?=^Comments:|^Files:|\Z)", re.MULTILINE | re.DOTALL)
#: What Blackboard writes in the Submission Field of an attempt with no text.
_NO_TEXT = "There is no student submission text data for this assignment."


def _receipt(path: Path) -> tuple[str, str]:
    """The username and the typed text of a Blackboard receipt (``""`` each when absent or unreadable).

    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "HW1_kim_j_attempt_2024-05-03-10-00-00.txt"
    >>> _ = p.write_text("Name: Kim J (kim_j)\\nAssignment: HW1\\n\\nSubmission Field:\\n" + _NO_TEXT + "\\n\\nComments:\\n")
    >>> _receipt(p)
    ('kim_j', '')
    """
    if not _text_entry(path.name).startswith("Blackboard") or path.is_symlink():
        return "", ""
    try:
        with path.open("rb") as f:
            text = f.read(_RECEIPT_BYTES).decode("utf-8", "replace")
    except OSError:
        return "", ""
    user, typed = _RECEIPT_USER.search(text), _RECEIPT_TEXT.search(text)
    body = typed["text"].strip() if typed else ""
    return (user["user"] if user else ""), ("" if body == _NO_TEXT else body)


@dataclass(frozen=True)
class _User:
    """A Blackboard student's username (``""``: none) and, when it is a guess, the part of the file name cut off before it."""

    name: str = ""
    guess: str = ""


def _blackboard_users(groups: dict[_Key, list[tuple[Path, str, str]]], assignment: str = "") -> dict[_Key, _User]:
    """Each Blackboard student's username, which may hold ``_`` as the assignment's name may.

    Blackboard names files ``Assignment Name_username_attempt_...``: the
    username is the one on the attempt's receipt (``Name: Kim J (kim_j)``)
    when it ends the name so; else what follows ``assignment_`` (the
    assignment's name as the instructor gave it, ``--blackboard-assignment``,
    else as the other students' receipts show it) when the name starts so;
    else what follows the ``_``-ended part all the
    folder's Blackboard names share (taken for the assignment's name:
    ``HW1_kim_j`` and ``HW1_park_j`` are ``kim_j`` and ``park_j``; of one
    student alone, the part after the last ``_``).

    That last cut is a guess (:attr:`_User.guess`) when the part cut off
    holds a ``_`` before its last one, so that the assignment's name may
    end earlier and the usernames be longer (``HW1_kim_j`` and ``HW1_kim_s``
    share ``HW1_kim_``: ``j`` and ``s``, or ``kim_j`` and ``kim_s``?), when
    nothing is shared, or when the name does not start with ``assignment_``.

    >>> keys = [("blackboard", "HW1_kim", u) for u in "js"]
    >>> [(u.name, u.guess) for u in _blackboard_users({k: [] for k in keys}).values()]
    [('j', 'HW1_kim_'), ('s', 'HW1_kim_')]
    >>> [u.name for u in _blackboard_users({k: [] for k in keys}, "HW1").values()]
    ['kim_j', 'kim_s']
    """
    heads = {key: f"{key[1]}_{key[2]}" for key in groups if key[0] == "blackboard"}
    shared = os.path.commonprefix(list(heads.values()))
    cut = shared.rfind("_") + 1
    told = {key: [u for u in (_receipt(f)[0] for f, _, _ in groups[key]) if u and head.endswith(f"_{u}")] for key, head in heads.items()}
    shown = {heads[key][:-len(names[0]) - 1] for key, names in told.items() if names}  # the assignment's name, as the receipts cut it
    assignment = assignment or (shown.pop() if len(shown) == 1 else "")
    users: dict[_Key, _User] = {}
    for key, head in heads.items():
        if told[key]:
            users[key] = _User(told[key][0])
        elif assignment and head.startswith(f"{assignment}_") and len(head) > len(assignment) + 1:
            users[key] = _User(head[len(assignment) + 1:])
        else:
            sure = bool(shared[:cut]) and "_" not in shared[:cut - 1] and not assignment
            users[key] = _User(head[cut:] or key[2], "" if sure else shared[:cut])
    return users


def _flat(entries: list[Path], rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None,
          blackboard_assignment: str = "") -> list[tuple[Submission, Path]]:
    """The submissions of a folder's files: one per file, except that an LMS's files of one student are one.

    ``blackboard_assignment``: the assignment's name as Blackboard writes it in the file names (:func:`_blackboard_users`).
    """
    groups: dict[_Key, list[tuple[Path, str, str]]] = {}
    for f in entries:
        k = _flat_key(f.name)
        if k is not None:
            groups.setdefault(k[0], []).append((f, k[1], k[2]))
    # a student's several files are one submission; so is a file that is no code alone (named, never graded, the student a row)
    grouped = {key: files for key, files in groups.items() if len(files) > 1 or any(not _code(f) for f, _, _ in files)}
    users = _blackboard_users(groups, blackboard_assignment)
    out: list[tuple[Submission, Path]] = []
    done: set[_Key] = set()
    for f in entries:
        k = _flat_key(f.name)
        if k is None or k[0] not in grouped:
            user = users.get(k[0], _User()) if k else _User()
            out.append((_with_user(_file_submission(f, f.name, ""), rx, user), _key(f)))
        elif k[0] not in done:
            done.add(k[0])
            out.append((_group(k[0], grouped[k[0]], rx, file_pattern, model, needs, users.get(k[0])), _key(f)))
    return out


def _key(entry: Path) -> Path:
    """The path that tells submissions apart: the folder resolved, the entry itself not (a link is not its target's twin)."""
    return entry.parent.resolve() / entry.name


def _file_submission(path: Path, identity: str, sid: str) -> Submission:
    """A submission of one file; refused when the file is a symbolic link (never followed: it may name a classmate's file)."""
    if path.is_symlink():
        return Submission(identity, None, sid, problem=link_problem(repr(path.name), [_link_text(path)]))
    return Submission(identity, path, sid)


def collect_submissions(
    paths: Iterable[str | Path],
    *,
    id_pattern: str = DEFAULT_ID_PATTERN,
    file_pattern: str | None = None,
    model: str | None = None,
    needs: str | None = None,
    single: bool = False,
    skip: Iterable[str | Path] = (),
    blackboard_assignment: str = "",
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
    model : str, optional
        The assignment's model: among several candidates, ``MODEL.py`` /
        ``MODEL.ipynb`` (the template's name) is the graded one.
    needs : str, optional
        What the assignment calls (its backward function or class): of a
        student's several files, only one that defines it is graded
        (:func:`choose_file`).
    single : bool
        Every path together is one student's submission (a folder given
        is that student's folder: Gradescope's ``/autograder/submission``).
    skip : iterable of str or Path
        Paths never read as submissions, given or found in a folder given
        (the run's own outputs: ``grade .`` writing ``feedback/`` there);
        the caller says so (:func:`skipped_outputs`).
    blackboard_assignment : str
        The assignment's name as Blackboard writes it at the start of its
        file names (``Homework 1`` in ``Homework 1_kim_j_attempt_...``):
        what follows it is the username, never a guess (``--blackboard-assignment``).

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
        if _zipped(p) and _flat_key(p.name) is None:  # a student's zip an LMS named is named in its row (not_code_note)
            raise SubmissionsError(f"{str(p)!r} is a zip archive (an LMS's download of the class), not a submission: unzip it first "
                                   f"(unzip {str(p)!r} -d FOLDER) and grade the folder")
    outputs = frozenset(Path(p).resolve() for p in skip)
    several = len(given) > 1  # students' entries named one by one (_is_entry)
    given = [p for p in given if p.resolve() not in outputs] or given  # an output named alone: an error below, as before
    if single:
        return [_single(given, rx, file_pattern, model, needs)]
    out: list[Submission] = []
    seen: set[Path] = set()
    for sub, key in _given_entries(given, rx, file_pattern, model, needs, several, blackboard_assignment):
        if key not in seen:
            seen.add(key)
            out.append(sub)
    read = {p for entries in _entry_groups(given, rx, several).values() for p in entries}
    for p in given:
        if p in read:
            continue
        for sub, key in _in_path(p, rx, file_pattern, model, needs, outputs, blackboard_assignment):
            if key not in seen:
                seen.add(key)
                out.append(sub)
    if not out:
        raise SubmissionsError(f"no .py or .ipynb submissions found in {', '.join(map(str, given))}")
    return _hard_links(out)


#: How a zip archive starts: a file's local header, or the end of an empty archive.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _zipped(p: Path) -> bool:
    """Whether the file ``p`` is a zip archive (by its name or its first bytes): never graded as code.

    >>> import tempfile, zipfile
    >>> z = Path(tempfile.mkdtemp()) / "class.py"
    >>> with zipfile.ZipFile(z, "w") as f:
    ...     f.writestr("kim_1_2_hw1.py", "")
    >>> _zipped(z), _zipped(z.parent)
    (True, False)
    """
    if not p.is_file():
        return False
    if p.suffix.lower() == ".zip":
        return True
    try:
        with p.open("rb") as f:
            return f.read(4) in _ZIP_MAGIC
    except OSError:
        return False


def _hard_links(submissions: list[Submission]) -> list[Submission]:
    """``submissions``, each file that is one file on disk with another submission's (a hard link) named in both ``notes``.

    No LMS's zip holds a hard link (zip has no such entry); tar, ``cp -al``
    and backup snapshots make them.  A hard link is no pointer to follow:
    both names are one regular file, graded as its content (unlike a
    symbolic link, :func:`link_problem`).  A second name outside the class
    (a snapshot) says nothing about who wrote it and is not named.
    """
    names: dict[tuple[int, int], list[tuple[int, Path]]] = {}
    for i, sub in enumerate(submissions):
        for f in ((sub.path,) if sub.path is not None else ()) + sub.extra_files:
            st = f.lstat()
            if st.st_nlink > 1:
                names.setdefault((st.st_dev, st.st_ino), []).append((i, f))
    notes: dict[int, list[str]] = {}
    for group in names.values():
        for i, f in group:
            notes.setdefault(i, []).extend(
                f"{f.name!r} is one file on disk with {g.name!r} of {submissions[j].identity!r} (a hard link, which tar or cp -al "
                "makes and no LMS's zip holds): graded as its content; decide by hand whose work it is" for j, g in group if j != i)
    return [replace(sub, notes=sub.notes + tuple(notes.get(i, ()))) for i, sub in enumerate(submissions)]


def skipped_outputs(paths: Iterable[str | Path], outputs: Iterable[str | Path]) -> list[str]:
    """The ``outputs`` that :func:`collect_submissions` would otherwise read: a path given, or an entry of a folder given.

    >>> import tempfile
    >>> d = Path(tempfile.mkdtemp()); (d / "feedback").mkdir()
    >>> skipped_outputs([d], [d / "feedback", d / "grades.csv", "elsewhere/x.json"]) == [(d / "feedback").as_posix()]
    True
    """
    given = {Path(p).resolve() for p in paths}
    out: list[str] = []
    for o in map(Path, outputs):
        if o.exists() and (o.resolve() in given or o.resolve().parent in given) and _visible(o) and _read_as_submission(o):
            out.append(o.as_posix())
    return out


def _read_as_submission(p: Path) -> bool:
    """Whether a path in a class folder would be read as (part of) a submission: a folder, or a file a student hands in."""
    return p.is_dir() or p.suffix.lower() in SUFFIXES or _flat_key(p.name) is not None


def _is_entry(p: Path, rx: re.Pattern[str], several: bool) -> bool:
    """Whether a path given is one entry of a class folder (a file an LMS named, one student's folder), not a folder of submissions.

    ``grade downloads/*`` names each student's file or folder: those are read as
    ``grade downloads`` reads them (:func:`_given_entries`).  An entry: a file
    (or a link to one) an LMS named (:data:`FLAT_NAMES`), Moodle's plugin folder
    (:data:`MOODLE_FOLDER`); with ``several`` paths given, also a folder of one
    student's LMS-named files, or a folder whose name has a student id and
    that holds neither folders nor files with ids of their own (one folder
    given alone is the class folder, as ever).  A link to a folder is read as before (refused).
    """
    if p.is_file() or p.is_symlink() and not p.is_dir():  # a link to a file is refused in its group (_flat)
        return _flat_key(p.name) is not None  # any file an LMS named for a student, as _in_path reads its folder
    if p.is_symlink():
        return False
    if MOODLE_FOLDER.match(p.name):
        return True
    if not several:
        return False
    if _one_students_keys(p) is not None:
        return True  # one student's files under an LMS's names (_lms_folder)
    own = [e for e in p.iterdir() if _visible(e) and (e.is_dir() or student_id(e.name, rx))]
    return bool(student_id(p.name, rx)) and not own


def _entry_groups(given: list[Path], rx: re.Pattern[str], several: bool) -> dict[Path, list[Path]]:
    """The entries given (:func:`_is_entry`) by their folder, with the other code files given from that folder
    (a name no LMS wrote beside the LMS's: one file, one student, as when the folder is given)."""
    groups: dict[Path, list[Path]] = {}
    for p in given:
        if _is_entry(p, rx, several):
            groups.setdefault(p.parent.resolve(), []).append(p)
    for p in given:
        code = (p.is_file() or p.is_symlink() and not p.is_dir()) and p.suffix.lower() in SUFFIXES
        if code and not _is_entry(p, rx, several) and p.parent.resolve() in groups:
            groups[p.parent.resolve()].append(p)
    return groups


def _given_entries(given: list[Path], rx: re.Pattern[str], file_pattern: str | None,
                   model: str | None, needs: str | None, several: bool, blackboard_assignment: str = "") -> list[tuple[Submission, Path]]:
    """The paths given that are entries of a class folder (:func:`_is_entry`), read as the class folder reads them.

    The entries of one folder are grouped and laid out together (a student's
    several files, Moodle's plugin folders, Canvas's re-uploads), identified
    by their names as in ``grade FOLDER``; with entries of several folders,
    or other paths given too, each identity starts with its folder as given.
    """
    groups = _entry_groups(given, rx, several)
    prefix = len(groups) > 1 or len(given) > sum(map(len, groups.values()))
    out: list[tuple[Submission, Path]] = []
    for entries in groups.values():
        files = [e for e in entries if e.is_file() or e.is_symlink() and not e.is_dir()]
        found = (_flat(files, rx, file_pattern, model, needs, blackboard_assignment)
                 + _folders([e for e in entries if e.is_dir()], rx, file_pattern, model, needs, blackboard_assignment))
        where = entries[0].parent.as_posix()
        out += sorted(((replace(s, identity=f"{where}/{s.identity}") if prefix else s, k) for s, k in found),
                      key=lambda item: item[0].identity)
    return out


def _in_path(p: Path, rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None,
             outputs: frozenset[Path] = frozenset(), blackboard_assignment: str = "") -> list[tuple[Submission, Path]]:
    """The submissions of one path given: a file, or a folder of files and student folders (but ``outputs``)."""
    if p.is_file() or p.is_symlink() and not p.is_dir():
        return [(_file_submission(p, p.as_posix(), _id_of_file(p, rx)), _key(p))]
    entries = [e for e in sorted(p.iterdir()) if _visible(e) and _key(e) not in outputs]
    # code files, and every file an LMS named for a student (a .pdf, a .zip, a typed text: named, never silently left out)
    files = [e for e in entries if (e.is_file() or e.is_symlink()) and (e.suffix.lower() in SUFFIXES or _flat_key(e.name) is not None)]
    out = _flat(files, rx, file_pattern, model, needs, blackboard_assignment)
    out += _folders([e for e in entries if e.is_dir() and e not in files], rx, file_pattern, model, needs, blackboard_assignment)
    return sorted(out, key=lambda item: item[0].identity)


#: Moodle's "Download all submissions" in folders (``mod/assign/locallib.php``, ``download_submissions``): one folder
#: per student and submission plugin, ``Full Name_PARTICIPANT_assignsubmission_PLUGIN_`` (``file``, ``onlinetext``).
MOODLE_FOLDER = re.compile(r"^(?P<name>.+?)_(?P<student>\d+)_assignsubmission_(?P<plugin>[a-z0-9]+)_$")


def _folders(dirs: list[Path], rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None,
             blackboard_assignment: str = "") -> list[tuple[Submission, Path]]:
    """One submission per student folder; a student's Moodle plugin folders (same name and participant id) are one."""
    out: list[tuple[Submission, Path]] = []
    moodle: dict[tuple[str, str], list[Path]] = {}
    for d in dirs:
        m = MOODLE_FOLDER.match(d.name)
        if m is None:
            sub = _lms_folder(d, rx, file_pattern, model, needs, blackboard_assignment) or _plain_folder(d, rx, file_pattern, model, needs)
            out.append((sub, _key(d)))  # a link: its own row
        else:
            moodle.setdefault((m["name"], m["student"]), []).append(d)
    return out + [_moodle_student(folders, rx, file_pattern, model, needs) for folders in moodle.values()]


def _plain_folder(folder: Path, rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None) -> Submission:
    """A student's folder as one submission (:func:`_pick`), its files that are no code named in ``notes``."""
    choice = _pick(folder, file_pattern, model, needs)
    files = [] if folder.is_symlink() else folder_files(folder)  # a linked folder is refused, never walked
    other = [f.relative_to(folder).as_posix() for f in files if not _code(f) and f != choice.path]
    return _submission(folder.name, student_id(folder.name, rx), choice, notes=not_code_note(other))


def _lms_folder(folder: Path, rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None,
                blackboard_assignment: str = "") -> Submission | None:
    """A folder holding only one student's files under an LMS's own flat names (a download sorted into folders), graded as
    that download is (:func:`_group`: Canvas's ``-N`` re-uploads, prefixed helper modules); ``None`` for any other folder."""
    if folder.is_symlink() or folder_links(folder):
        return None  # refused by _pick, naming the links
    found = _one_students_keys(folder)
    if found is None:
        return None
    key, files = found[0][1][0], [(f, k[1], k[2]) for f, k in found]
    sub = _group(key, files, rx, file_pattern, model, needs, _blackboard_users({key: files}, blackboard_assignment).get(key))
    # the folder's name tells who it is, never the names of the files in it: in a student's own folder (a GitHub
    # Classroom repo) they are the student's choice (lee_55555_70001_hw1.py in hw1-mallory is no one's id)
    return replace(sub, identity=folder.name, student_id=student_id(folder.name, rx), id_guess="",
                   review=tuple(c for c in sub.review if c != "id_guessed"))


def _one_students_keys(folder: Path) -> list[tuple[Path, tuple[_Key, str, str]]] | None:
    """The files of ``folder`` with their :func:`_flat_key` when all are one student's under an LMS's flat names, else ``None``."""
    files = folder_files(folder)
    keys = [_flat_key(f.name) if f.parent == folder else None for f in files]
    first = keys[0] if keys else None
    if first is None or any(k is None or k[0] != first[0] for k in keys):
        return None
    return [(f, k) for f, k in zip(files, keys) if k is not None]


def _moodle_student(folders: list[Path], rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None) -> tuple[Submission, Path]:
    """A student's Moodle plugin folders as one submission: the files of every plugin but the online text, which is named, not graded."""
    text = [d for d in folders if _online_text(d.name)]
    graded = [d for d in folders if d not in text]
    main = (graded or folders)[0]
    links = [_link_text(d) for d in folders if d.is_symlink()] + [f"{d.name}/{link}" for d in folders if not d.is_symlink() for link in folder_links(d)]
    if links:
        refused = Choice(None, candidates=tuple(links), reason="links", problem=link_problem(repr(main.name), links))
        return _submission(main.name, student_id(main.name, rx), refused), _key(main)
    found = [(f, d) for d in graded for f in folder_files(d)]
    files = [(f, f.relative_to(d).as_posix()) for f, d in found]
    choice = choose_file(files, repr(main.name), file_pattern=file_pattern, model=model, needs=needs)
    notes = tuple(online_text_note(d.name) for d in text)
    notes += not_code_note([f"{d.name}/{f.relative_to(d).as_posix()}" for f, d in found if not _code(f) and f != choice.path])
    return _submission(main.name, student_id(main.name, rx), choice, notes=notes), _key(main)


def _id_of_file(p: Path, rx: re.Pattern[str]) -> str:
    """A file named on the command line: the id in its name, else in the nearest folder's."""
    for part in reversed(p.parts):
        sid = student_id(part, rx)
        if sid:
            return sid
    return ""


def _single(paths: list[Path], rx: re.Pattern[str], file_pattern: str | None, model: str | None, needs: str | None) -> Submission:
    """Every path given as one student's submission (``--gradescope results.json``)."""
    if len(paths) == 1 and paths[0].is_file():
        p = paths[0]
        return _file_submission(p, p.as_posix(), _id_of_file(p, rx))
    if len(paths) == 1:
        folder = paths[0]
        ident = folder.name or folder.as_posix()
        return _submission(ident, student_id(ident, rx), pick_in_folder(folder, repr(ident), file_pattern=file_pattern, model=model, needs=needs))
    links = [_link_text(p) for p in paths if p.is_symlink()] + [link for p in paths if p.is_dir() for link in folder_links(p)]
    if links:
        return Submission(paths[0].as_posix(), None, problem=link_problem("the files given", links))
    files = [(f, f"{p.name}/{f.relative_to(p).as_posix()}") for p in paths if p.is_dir() for f in folder_files(p)]
    files += [(p, p.name) for p in paths if p.is_file()]
    if len({n for _, n in files}) < len(files):
        names = ", ".join(p.as_posix() for p in paths)
        return Submission(paths[0].as_posix(), None, problem=f"two of the files given have the same name ({names}); give one student's files")
    choice = choose_file(files, "the files given", file_pattern=file_pattern, model=model, needs=needs)
    chosen = choice.path or paths[0]
    return _submission(chosen.as_posix(), _id_of_file(chosen, rx), choice)


@contextlib.contextmanager
def staged(submissions: Sequence[Submission]) -> Iterator[list[Submission]]:
    """``submissions`` with every renamed helper module copied under the name it is imported by.

    An LMS's flat download prefixes each file (``kim_123_456_helper.py``);
    the graded file imports ``helper``.  The copies live in a temporary
    folder, removed on exit; a submission without renamed helpers is
    returned as it is.
    """
    with tempfile.TemporaryDirectory(prefix="gradcheck-helpers-") as tmp:
        out = []
        for i, sub in enumerate(submissions):
            if not sub.helper_names:
                out.append(sub)
                continue
            folder = Path(tmp) / str(i)
            folder.mkdir()
            copies = tuple(Path(shutil.copyfile(f, folder / name)) for f, name in zip(sub.extra_files, sub.helper_names))
            out.append(replace(sub, extra_files=copies))
        yield out
