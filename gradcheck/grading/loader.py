"""Turn a submission file (``.py`` or ``.ipynb``) into cells of plain Python.

Runs in the grader's process and never executes anything: it reads the
file, splits a notebook into its code cells, rewrites IPython syntax, blanks
out long-running top-level statements and records syntax errors.  The
sandbox's child process then runs the cells one by one.

What happens to a cell
----------------------
* A cell that parses as Python is kept as is.  Only a cell that does not
  parse is rewritten for IPython syntax, so a ``%`` inside a string of a
  valid cell is never touched:

  - a cell magic ``%%time``, ``%%timeit``, ``%%capture``, ``%%prun`` loses
    its first line (the body runs once); any other cell magic (``%%bash``,
    ``%%writefile``, ``%%html`` ...) skips the whole cell;
  - ``%time stmt`` and ``%timeit [-n N -r R] stmt`` become ``stmt`` (run once);
  - a line magic ``%matplotlib inline``, a shell escape ``!pip install x``
    and a help request ``np.dot?`` become ``pass`` (indentation kept);
    ``files = !ls`` becomes ``files = None``.

* Top-level ``for``/``while`` statements (``skip_loops``) and
  ``if __name__ == "__main__":`` blocks (``skip_main``) are replaced by
  blank lines, so line numbers in tracebacks stay right.  Each skip is a note.
* ``display(...)`` and ``get_ipython()`` are provided by the child as no-ops.

A ``.py`` file is one cell.  A cell with a syntax error keeps its message
(``line 3: invalid syntax``); the child skips it.

Examples
--------
>>> code, notes, err = transform_source("%matplotlib inline\\nimport numpy as np\\nfor i in range(9):\\n    pass\\n", filename="nb")
>>> code.splitlines()
['pass', 'import numpy as np', '', '']
>>> err is None, len(notes)
(True, 2)
"""
from __future__ import annotations

import ast
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Cell", "LoadedSubmission", "load_submission", "transform_source", "decode_source", "source_fingerprint", "read_own_file", "FALLBACK_ENCODINGS", "KEEP_BODY_CELL_MAGICS"]

#: Cell magics whose body is run (once) with the magic line removed.
KEEP_BODY_CELL_MAGICS: frozenset[str] = frozenset({"time", "timeit", "capture", "prun"})

_LINE_MAGIC = re.compile(r"^(\s*)(%|!)(.*)$")
_TIME_MAGIC = re.compile(r"^(\s*)%(?:time|timeit)\s+(.*)$")
_TIMEIT_OPTION = re.compile(r"^(?:-[nr]\s*\d+|-[a-z])\s+")
_ASSIGN_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w\s,]*?)\s*=\s*(%|!)(.*)$")
_HELP = re.compile(r"^(\s*)[\w.\[\]()]+\?{1,2}\s*$")
_MAX_SOURCE = 4 << 20


@dataclass(frozen=True)
class Cell:
    """One unit of code the child runs.

    Attributes
    ----------
    number : int
        1-based position among the code cells (1 for a ``.py`` file).
    filename : str
        The name tracebacks show: ``"sub.py"`` or ``"sub.ipynb, code cell 4"``.
    source : str
        The code to run (rewritten; same line count as the original).
    syntax_error : str or None
        ``"line 3: invalid syntax"`` when the cell cannot be compiled.
    """

    number: int
    filename: str
    source: str
    syntax_error: str | None = None


@dataclass(frozen=True)
class LoadedSubmission:
    """A submission read from disk.

    Attributes
    ----------
    path : str
    kind : str
        ``"py"`` or ``"ipynb"``.
    cells : tuple of Cell
    notes : tuple of str
        What was skipped or rewritten, one sentence each.
    error : str or None
        Why the file could not be read at all (broken notebook JSON, not
        UTF-8 ...): the sandbox turns it into the verdict ``syntax``.
    """

    path: str
    kind: str
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()
    error: str | None = None


def _syntax_message(exc: BaseException) -> str:
    if isinstance(exc, SyntaxError):
        text = (exc.text or "").strip()
        where = f"line {exc.lineno}" if exc.lineno else "unknown line"
        return f"{where}: {exc.msg}" + (f" ({text[:120]})" if text else "")
    return f"{type(exc).__name__}: {exc}"


def _parse(source: str, filename: str) -> tuple[ast.Module | None, str | None]:
    try:
        return ast.parse(source, filename=filename), None
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        return None, _syntax_message(exc)


def _rewrite_ipython(source: str, filename: str, notes: list[str]) -> str | None:
    """Rewrite IPython syntax; ``None`` when the whole cell is to be skipped."""
    lines = source.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()[2:].split(None, 1)[0] if lines[first].strip()[2:] else ""
        if magic not in KEEP_BODY_CELL_MAGICS:
            notes.append(f"{filename}: skipped a %%{magic} cell")
            return None
        lines[first] = ""
        notes.append(f"{filename}: ran the body of a %%{magic} cell once")
    changed = 0
    for i, line in enumerate(lines):
        m = _ASSIGN_MAGIC.match(line)
        if m:
            lines[i] = f"{m.group(1)}{m.group(2).strip()} = None"
            changed += 1
            continue
        m = _TIME_MAGIC.match(line)
        if m and m.group(2).strip():  # `%time g = f(x)`: the statement runs once (later cells may use `g`)
            stmt = m.group(2)
            while _TIMEIT_OPTION.match(stmt):
                stmt = _TIMEIT_OPTION.sub("", stmt, count=1)
            lines[i] = f"{m.group(1)}{stmt}"
            changed += 1
            continue
        m = _LINE_MAGIC.match(line)
        if m:
            lines[i] = f"{m.group(1)}pass"
            changed += 1
            continue
        if _HELP.match(line):
            lines[i] = f"{_HELP.match(line).group(1)}pass"  # type: ignore[union-attr]
            changed += 1
    if changed:
        notes.append(f"{filename}: ignored {changed} IPython magic/shell line(s)")
    return "\n".join(lines)


def _is_main_guard(node: ast.stmt) -> bool:
    if not isinstance(node, ast.If) or not isinstance(node.test, ast.Compare):
        return False
    t = node.test
    if len(t.ops) != 1 or not isinstance(t.ops[0], ast.Eq):
        return False
    sides = [t.left, t.comparators[0]]
    has_name = any(isinstance(s, ast.Name) and s.id == "__name__" for s in sides)
    has_main = any(isinstance(s, ast.Constant) and s.value == "__main__" for s in sides)
    return has_name and has_main


def transform_source(
    source: str,
    *,
    filename: str,
    skip_loops: bool = True,
    skip_main: bool = True,
) -> tuple[str, tuple[str, ...], str | None]:
    """Rewrite one cell.

    Parameters
    ----------
    source : str
        The cell's code.
    filename : str
        Name used in notes and messages.
    skip_loops, skip_main : bool
        Blank out top-level ``for``/``while`` statements and
        ``if __name__ == "__main__":`` blocks.

    Returns
    -------
    code : str
        The code to run (``""`` for a skipped cell magic).
    notes : tuple of str
    syntax_error : str or None
        The original cell's syntax error, when neither it nor its rewrite parses.
    """
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got source={type(source).__name__}")
    if not isinstance(filename, str):
        raise TypeError(f"filename must be a str, got filename={filename!r}")
    notes: list[str] = []
    tree, err = _parse(source, filename)
    if tree is None:
        rewritten = _rewrite_ipython(source, filename, notes)
        if rewritten is None:
            return "", tuple(notes), None
        tree, err2 = _parse(rewritten, filename)
        if tree is None:
            return source, tuple(notes), err
        source = rewritten
    lines = source.split("\n")
    for node in tree.body:
        what = None
        if skip_loops and isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            what = f"a top-level {'while' if isinstance(node, ast.While) else 'for'} loop"
        elif skip_main and _is_main_guard(node):
            what = 'an `if __name__ == "__main__":` block'
        if what is None:
            continue
        start, end = node.lineno, node.end_lineno or node.lineno
        for i in range(start - 1, min(end, len(lines))):
            lines[i] = ""
        notes.append(f"{filename}, line {start}: skipped {what} (lines {start}-{end})")
    return "\n".join(lines), tuple(notes), None


def _read_notebook(text: str) -> tuple[list[str], str | None]:
    """Code cell sources of a notebook, or an error message.

    The JSON is parsed first (for a clear message with line and column);
    nbformat (optional: the ``grading`` extra) then upgrades old formats.
    A notebook nbformat rejects is still read leniently from its JSON.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], f"the notebook is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return [], "the notebook JSON is nested too deeply"
    try:
        import nbformat
    except ImportError:
        nbformat = None  # type: ignore[assignment]
    if nbformat is not None and isinstance(data, dict) and ("cells" in data or "worksheets" in data):
        try:
            import warnings

            with warnings.catch_warnings():  # e.g. MissingIDFieldWarning: the student's notebook, not the grader's problem
                warnings.simplefilter("ignore")
                nb = nbformat.reads(text, as_version=4)
            return [str(c.get("source", "")) for c in nb.cells if c.get("cell_type") == "code"], None
        except Exception:  # nbformat raises many kinds (ValidationError, KeyError ...): read the JSON ourselves
            pass
    cells = data.get("cells") if isinstance(data, dict) else None
    if cells is None and isinstance(data, dict) and isinstance(data.get("worksheets"), list):  # nbformat 3
        cells = [c for ws in data["worksheets"] if isinstance(ws, dict) for c in ws.get("cells", [])]
    if not isinstance(cells, list):
        return [], "the file is JSON but not a notebook: it has no list of cells"
    out: list[str] = []
    for c in cells:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        src = c.get("source", c.get("input", ""))
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        out.append(src if isinstance(src, str) else "")
    return out, None


_COOKIE = re.compile(r"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")  # PEP 263
#: Encodings tried, in order, for a file that declares none and is not UTF-8
#: (cp949: what Korean Windows editors save; Latin-1 decodes any bytes).
FALLBACK_ENCODINGS: tuple[str, ...] = ("cp949", "latin-1")


def decode_source(raw: bytes, *, python: bool = True) -> tuple[str | None, str | None, str | None]:
    """Decode a submission's bytes as Python does, with fallbacks.

    A Python file is decoded as the interpreter decodes it: a UTF-8 BOM, or a
    PEP 263 coding cookie in its first two lines, else UTF-8.  A file that
    declares nothing and is not UTF-8 is decoded with
    :data:`FALLBACK_ENCODINGS` in turn, with a note saying which.  A file
    whose declared encoding is unknown or does not decode it is what Python
    rejects too: no text, and the error.

    Returns
    -------
    text : str or None
    note : str or None
        Set when a fallback encoding was used.
    error : str or None
        Set when ``text`` is None.

    Examples
    --------
    >>> decode_source("# -*- coding: cp949 -*-\\nx = '한글'\\n".encode("cp949"))[0].splitlines()[1]
    "x = '한글'"
    >>> text, note, _ = decode_source("x = '한글'\\n".encode("cp949"))
    >>> text == "x = '한글'\\n", note
    (True, 'not UTF-8 and no coding declaration: read as cp949')
    >>> decode_source(b"# coding: nonsense\\nx = 1\\n")[2]
    'the file declares an encoding Python does not know: unknown encoding: nonsense'
    """
    import codecs
    import io
    import tokenize

    head = raw.split(b"\n", 2)[:2]
    explicit = raw.startswith(codecs.BOM_UTF8) or (python and any(_COOKIE.match(line.decode("latin-1")) for line in head))
    declared = "utf-8-sig"
    if python:
        try:
            declared = tokenize.detect_encoding(io.BytesIO(raw).readline)[0]
        except SyntaxError as exc:
            msg = str(getattr(exc, "msg", exc))
            if "unknown encoding" in msg:
                return None, None, f"the file declares an encoding Python does not know: {msg}"
            if explicit:
                return None, None, f"the file's encoding cannot be read: {msg}"
    try:
        return raw.decode(declared), None, None
    except (UnicodeDecodeError, LookupError) as exc:
        if explicit:
            where = f" (byte {exc.start})" if isinstance(exc, UnicodeDecodeError) else ""
            return None, None, f"the file is not valid {declared} text{where}, the encoding it declares"
    for enc in FALLBACK_ENCODINGS:
        try:
            return raw.decode(enc), f"not UTF-8 and no coding declaration: read as {enc}", None
        except UnicodeDecodeError:
            continue
    return None, None, "the file is not text in UTF-8, cp949 or Latin-1"  # pragma: no cover - Latin-1 decodes every byte


def read_own_file(path: str | Path) -> bytes:
    """The bytes of a regular file, never through a symbolic link (its last component is not followed).

    Every student file the grader reads (the graded file, its helper modules)
    is read here: a link would hand the sandbox a file the student does not
    own (a classmate's, the answer key, a file only the grader may read).

    Raises
    ------
    OSError
        When ``path`` is a symbolic link (``ELOOP``), missing, or not a regular file.
    """
    import stat

    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
            raise OSError(f"{str(path)!r} is not a regular file")
        return f.read()


def load_submission(path: str | Path, *, skip_loops: bool = True, skip_main: bool = True) -> LoadedSubmission:
    """Read a ``.py`` or ``.ipynb`` submission into cells.

    A file ending in ``.ipynb``, or any file whose text starts with ``{``
    and parses as a notebook, is a notebook; anything else is Python.

    Parameters
    ----------
    path : str or Path
    skip_loops, skip_main : bool
        See :func:`transform_source`.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist (a problem of the caller, not of the
        submission).  Every problem *of the file* is reported in
        :attr:`LoadedSubmission.error` instead.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got path={path!r}")
    p = Path(path)
    kind = "ipynb" if p.suffix.lower() == ".ipynb" else "py"
    if p.is_symlink():
        return LoadedSubmission(str(p), kind, (), (), f"the file is a symbolic link (to {os.readlink(p)!r}), which the grader does not follow")
    if not p.is_file():
        raise FileNotFoundError(f"no submission file at path={str(p)!r}")
    raw = read_own_file(p)
    if len(raw) > _MAX_SOURCE:
        return LoadedSubmission(str(p), kind, (), (), f"the file is {len(raw)} bytes; the limit is {_MAX_SOURCE}")
    text, decode_note, decode_error = decode_source(raw, python=kind == "py")
    if text is None:
        return LoadedSubmission(str(p), kind, (), (), decode_error)
    if kind == "py" and text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
            if isinstance(data, dict) and "cells" in data:
                kind = "ipynb"
        except (json.JSONDecodeError, RecursionError):
            pass
    if kind == "py":
        sources = [text]
        names = [p.name]
    else:
        sources, error = _read_notebook(text)
        if error is not None:
            return LoadedSubmission(str(p), kind, (), (), error)
        names = [f"{p.name}, code cell {i + 1}" for i in range(len(sources))]
    cells: list[Cell] = []
    notes: list[str] = [f"{p.name}: {decode_note}"] if decode_note else []
    for i, (src, name) in enumerate(zip(sources, names)):
        code, cell_notes, err = transform_source(src, filename=name, skip_loops=skip_loops, skip_main=skip_main)
        notes.extend(cell_notes)
        cells.append(Cell(i + 1, name, code, err))
    return LoadedSubmission(str(p), kind, tuple(cells), tuple(notes), None)


def source_fingerprint(loaded: LoadedSubmission) -> str:
    """SHA-256 of a submission's normalised source: its code cells' syntax trees.

    Comments, blank lines, spacing, quotes and notebook outputs do not count,
    so two students who hand in the same code differently formatted (or one
    as ``.py`` and one as ``.ipynb``) have the same fingerprint.  A cell that
    does not parse counts with its text, stripped.

    >>> a = LoadedSubmission("a.py", "py", (Cell(1, "a.py", "x = 1  # mine\\n"),))
    >>> b = LoadedSubmission("b.py", "py", (Cell(1, "b.py", "\\n\\nx=1\\n"),))
    >>> source_fingerprint(a) == source_fingerprint(b)
    True
    """
    import hashlib

    h = hashlib.sha256()
    for cell in loaded.cells:
        tree, _ = _parse(cell.source, cell.filename)
        h.update((ast.dump(tree) if tree is not None and tree.body else cell.source.strip()).encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()
