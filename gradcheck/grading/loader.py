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
    its first line (the body runs once); ``%%writefile [-a] NAME`` becomes a
    call that writes (appends) the body to ``NAME`` in the sandbox's working
    directory when the cell runs, as Jupyter does, so a later cell can import
    it (a name outside that directory, absolute or with ``..``, skips the
    cell: :func:`writefile_target`); the child notes that it wrote the file
    only when the write worked, else that it did not and why (rt24 N3: a
    folder that does not exist, or a link out of the sandbox's folder); any other cell magic (``%%bash``,
    ``%%html`` ...) skips the whole cell;
  - ``%time stmt`` and ``%timeit [-n N -r R] stmt`` become ``stmt`` (run once);
  - a line magic ``%matplotlib inline``, a shell escape ``!pip install x``
    and a help request ``np.dot?`` become ``pass`` (indentation kept);
    ``files = !ls`` becomes ``files = None``.

* Top-level ``for``/``while`` statements (``skip_loops``) and
  ``if __name__ == "__main__":`` blocks (``skip_main``) are replaced by
  blank lines, so line numbers in tracebacks stay right.  Each skip is a note.
  A *setup loop* is kept (see :func:`is_setup_loop`): a ``for`` over values
  written out in the source whose body only stores values, such as
  ``for name, f in [("sig", sigmoid)]: ACT[name] = f``.  It does no more
  work than the same statements written one after another, which the grader
  runs anyway; a training loop (a ``while``, an epoch count, a loop over the
  data, a call of the submission's own functions) is still skipped.  When an
  error names something a skipped loop sets, :func:`skipped_loop_hint` says
  which loop it was and how to stop skipping.
* ``display(...)`` and ``get_ipython()`` are provided by the child as no-ops.

A ``.py`` file is one cell.  A cell with a syntax error keeps its message
(``line 3: invalid syntax``); the child skips it.

Examples
--------
>>> code, notes, err = transform_source("%matplotlib inline\\nimport numpy as np\\nfor epoch in range(10000):\\n    pass\\n", filename="nb")
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

__all__ = ["Cell", "LoadedSubmission", "MAX_SOURCE_BYTES", "MAX_NOTEBOOK_BYTES", "SkippedLoop", "is_setup_loop", "own_callables", "skipped_loop_hint", "load_submission", "transform_source", "decode_source", "source_fingerprint", "read_own_file", "FALLBACK_ENCODINGS", "KEEP_BODY_CELL_MAGICS",
           "WRITEFILE_FUNCTION", "writefile_target"]

#: Cell magics whose body is run (once) with the magic line removed.
KEEP_BODY_CELL_MAGICS: frozenset[str] = frozenset({"time", "timeit", "capture", "prun"})

#: The function the child provides for a ``%%writefile`` cell: ``WRITEFILE_FUNCTION(name, text, append)``.
WRITEFILE_FUNCTION = "__gradcheck_writefile__"

_LINE_MAGIC = re.compile(r"^(\s*)(%|!)(.*)$")
_TIME_MAGIC = re.compile(r"^(\s*)%(?:time|timeit)\s+(.*)$")
_TIMEIT_OPTION = re.compile(r"^(?:-[nr]\s*\d+|-[a-z])\s+")
_ASSIGN_MAGIC = re.compile(r"^(\s*)([A-Za-z_][\w\s,]*?)\s*=\s*(%|!)(.*)$")
_HELP = re.compile(r"^(\s*)[\w.\[\]()]+\?{1,2}\s*$")
#: Default limit on the code a submission runs, in UTF-8 bytes: a ``.py`` file whole, a notebook's code
#: cells (``source_kb`` in the assignment's ``[limits]``: :attr:`gradcheck.grading.assignment.Limits.source_bytes`).
MAX_SOURCE_BYTES = 4 << 20
#: Largest notebook file read at all (saved figures count here, not in the source limit): a cap on what parsing
#: its JSON may cost the grader (a file of ``[0,0,0,...]`` makes a list four times its size), raised to the
#: source limit when that is larger.
MAX_NOTEBOOK_BYTES = 64 << 20


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
class SkippedLoop:
    """A top-level loop the loader blanked out.

    Attributes
    ----------
    filename : str
        The cell's name, as in notes and tracebacks.
    line, end_line : int
        The loop's first and last line in that cell.
    kind : str
        ``"for"`` or ``"while"``.
    names : frozenset of str
        The module-level names it would have bound or filled (``ACT`` for
        ``ACT[name] = f`` or ``ACT.update(...)``).
    """

    filename: str
    line: int
    end_line: int
    kind: str
    names: frozenset[str]


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
        UTF-8 ...): the sandbox turns it into the verdict ``error_verdict``.
    skipped_loops : tuple of SkippedLoop
        The top-level loops blanked out (``skip_loops``), for
        :func:`skipped_loop_hint`.
    error_verdict : str
        The verdict ``error`` earns: ``"syntax"``, or ``"too_large"`` for
        more code than the source limit (or a notebook file over
        :data:`MAX_NOTEBOOK_BYTES`).
    """

    path: str
    kind: str
    cells: tuple[Cell, ...]
    notes: tuple[str, ...] = ()
    error: str | None = None
    skipped_loops: tuple[SkippedLoop, ...] = ()
    error_verdict: str = "syntax"


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


def writefile_target(line: str) -> tuple[str, bool]:
    """The file a ``%%writefile`` line names, and whether ``-a`` appends to it.

    Parameters
    ----------
    line : str
        What follows ``%%writefile`` (IPython's options ``-a`` / ``--append``
        and one file name, quoted when it has spaces).

    Returns
    -------
    name : str
        A relative path inside the working directory (POSIX separators).
    append : bool

    Raises
    ------
    ValueError
        When the line is not ``[-a] NAME``, or ``NAME`` is not inside the
        working directory (absolute, ``~``, a drive, ``..``).

    Examples
    --------
    >>> writefile_target("-a lib/act.py"), writefile_target("'my sig.py'")
    (('lib/act.py', True), ('my sig.py', False))
    >>> writefile_target("../x.py")
    Traceback (most recent call last):
    ...
    ValueError: the file '../x.py' is not inside the sandbox's working folder (a relative path without ..)
    """
    import shlex
    from pathlib import PurePosixPath, PureWindowsPath

    try:
        words = shlex.split(line, posix=False)  # as IPython splits it: a backslash is a Windows separator, not an escape
    except ValueError as exc:
        raise ValueError(f"its line {line.strip()!r} cannot be read: {exc}") from None
    words = [w[1:-1] if len(w) > 1 and w[0] == w[-1] and w[0] in "'\"" else w for w in words]
    append = any(w in ("-a", "--append") for w in words)
    names = [w for w in words if w not in ("-a", "--append")]
    if len(names) != 1 or names[0].startswith("-"):
        raise ValueError(f"its line {line.strip()!r} is not [-a] NAME")
    name = names[0].replace("\\", "/")
    parts = PurePosixPath(name).parts
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).drive or name.startswith("~") or ".." in parts or not parts:
        raise ValueError(f"the file {name!r} is not inside the sandbox's working folder (a relative path without ..)")
    return str(PurePosixPath(*parts)), append


def _writefile(lines: list[str], first: int, filename: str, notes: list[str]) -> str | None:
    """A ``%%writefile`` cell as one call of :data:`WRITEFILE_FUNCTION` on its magic line (the line count kept); ``None``: skip it."""
    try:
        name, append = writefile_target(lines[first].strip()[len("%%writefile"):])
    except ValueError as exc:
        notes.append(f"{filename}: skipped a %%writefile cell: {exc}")
        return None
    body = "\n".join(lines[first + 1:])
    body += "" if body.endswith("\n") else "\n"
    code = [""] * len(lines)
    code[first] = f"{WRITEFILE_FUNCTION}({name!r}, {body!r}, {append}, {filename!r})"  # the child notes whether the write worked
    return "\n".join(code)


def _rewrite_ipython(source: str, filename: str, notes: list[str]) -> str | None:
    """Rewrite IPython syntax; ``None`` when the whole cell is to be skipped."""
    lines = source.split("\n")
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is not None and lines[first].lstrip().startswith("%%"):
        magic = lines[first].strip()[2:].split(None, 1)[0] if lines[first].strip()[2:] else ""
        if magic == "writefile":
            return _writefile(lines, first, filename, notes)
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


#: Builtins a setup loop may call: cheap, and none of them runs the submission's own code.
_SETUP_BUILTINS = frozenset({
    "getattr", "setattr", "hasattr", "len", "print", "str", "repr", "format", "int", "float", "bool", "complex",
    "tuple", "list", "dict", "set", "frozenset", "range", "enumerate", "zip", "sorted", "reversed", "isinstance",
    "min", "max", "abs", "round",
})
#: Method names a training loop calls, whatever the submission's own functions are called
#: (they may live in a helper module the loader does not read).
_TRAINING_METHODS = frozenset({"forward", "backward", "train", "fit", "step", "update", "predict", "loss"})
#: Methods that fill a container: a skipped loop calling ``ACT.update(...)`` sets ``ACT``.
_FILLING_METHODS = frozenset({"append", "extend", "insert", "update", "setdefault", "add"})
#: A setup loop runs its body at most this many times, nested loops included: a layer count or
#: a table's size, not an epoch count.
MAX_SETUP_RUNS = 100


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript, ast.Starred)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def own_callables(tree: ast.Module) -> frozenset[str]:
    """Names of what a cell defines and could call: top-level functions, classes, their methods, lambdas.

    >>> sorted(own_callables(ast.parse("def f(): pass\\nclass Net:\\n    def step(self): pass\\ng = lambda z: z\\n")))
    ['Net', 'f', 'g', 'step']
    """
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        if isinstance(node, ast.ClassDef):
            names.update(n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)))
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(names)


def _constant_int(node: ast.expr) -> int | None:
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _constant_int(node.operand)
        return None if inner is None else -inner
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    return None


def _length(node: ast.expr) -> int | None:
    """How many values an iterable written out in the source has; ``None`` when they are not written out."""
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return None if any(isinstance(e, ast.Starred) for e in node.elts) else len(node.elts)
    if isinstance(node, ast.Dict):
        return None if None in node.keys else len(node.keys)  # `{**table}` unpacks something not written out
    if isinstance(node, ast.Constant):
        return len(node.value) if isinstance(node.value, (str, bytes)) else None
    if not isinstance(node, ast.Call) or not all(isinstance(k.value, ast.Constant) for k in node.keywords):
        return None  # `sorted(..., key=train)` would call train
    f = node.func
    if isinstance(f, ast.Attribute):
        return _length(f.value) if f.attr in ("items", "keys", "values") and not node.args and isinstance(f.value, ast.Dict) else None
    if not isinstance(f, ast.Name) or not node.args:
        return None
    if f.id == "range":
        return _range_length(node.args)
    lengths = [_length(a) for a in node.args[:1 if f.id in ("enumerate", "sorted", "reversed") else None]]
    return min(lengths) if f.id in ("enumerate", "zip", "sorted", "reversed") and None not in lengths else None  # type: ignore[type-var]


def _range_length(args: list[ast.expr]) -> int | None:
    bounds = [_constant_int(a) for a in args]
    if len(bounds) > 3 or None in bounds or len(bounds) == 3 and bounds[2] == 0:
        return None
    if any(abs(b) > 1 << 32 for b in bounds):  # type: ignore[arg-type]  # len() of a range past ssize_t raises
        return None
    return len(range(*bounds))  # type: ignore[arg-type]


def _runs(loop: ast.For) -> int | None:
    """How many times a loop over written-out values runs a body, its nested loops' included; ``None``: unbounded."""
    n = _length(loop.iter)
    inner: list[int | None] = []
    stack: list[ast.AST] = [*loop.body, *loop.orelse]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.For):
            inner.append(_runs(node))
        elif not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(ast.iter_child_nodes(node))
    if n is None or None in inner:
        return None
    return n * (1 + sum(inner))  # type: ignore[arg-type]


def _run_nodes(node: ast.AST) -> list[ast.AST]:
    """Every node a statement runs when executed, not the bodies of the functions it defines."""
    out: list[ast.AST] = []
    stack = [node]
    while stack:
        n = stack.pop()
        out.append(n)
        if isinstance(n, ast.Lambda):
            stack.extend(n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
            stack.extend(n.decorator_list + n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
        else:
            stack.extend(ast.iter_child_nodes(n))
    return out


def _cheap_call(call: ast.Call, own: frozenset[str]) -> bool:
    f = call.func
    if isinstance(f, ast.Name):
        return f.id in _SETUP_BUILTINS and f.id not in own
    return isinstance(f, ast.Attribute) and f.attr not in own and f.attr not in _TRAINING_METHODS


def is_setup_loop(node: ast.stmt, own: frozenset[str] = frozenset()) -> bool:
    """Whether a top-level loop only sets things up, so the loader runs it.

    A setup loop is a ``for`` (never a ``while``) over values written out in
    the source (a list, tuple, set or dict display, a string, ``.items()`` of
    a dict display, ``enumerate``/``zip``/``sorted``/``reversed`` of those, or
    a ``range`` with constant bounds), whose nested loops are such loops too,
    which runs its body at most :data:`MAX_SETUP_RUNS` times in all, which
    updates nothing in place (no ``+=``: a training step does
    ``W -= lr * g``) and which calls only cheap builtins (``getattr``,
    ``print`` ...) and methods that are neither the submission's own
    (``own``) nor a training method (``forward``, ``backward``, ``train``,
    ``fit``, ``step`` ...).  Such a loop does no more than its body written
    out at most 100 times, straight-line code the grader runs anyway (under
    the usual load time limit).  Function bodies it defines (a ``lambda`` in
    its list) are not run by it and do not count.

    Examples
    --------
    >>> setup = lambda src: is_setup_loop(ast.parse(src).body[0], frozenset({"backward"}))
    >>> setup("for name, f in [('sig', lambda z: 1 / (1 + np.exp(-z)))]:\\n    ACT[name] = f")
    True
    >>> setup("for epoch in range(10000):\\n    g = backward(params, X, Y)")
    False
    >>> setup("for lr in [0.1, 0.01]:\\n    g = backward(params, X, Y)"), setup("for x in X:\\n    total = x")
    (False, False)
    """
    if not isinstance(node, ast.For):
        return False
    runs = _runs(node)
    if runs is None or runs > MAX_SETUP_RUNS:
        return False
    for n in _run_nodes(node):
        if isinstance(n, (ast.While, ast.AsyncFor, ast.AugAssign, ast.Await)):
            return False
        if isinstance(n, ast.Call) and not _cheap_call(n, own):
            return False
    return True


def _names_set(node: ast.stmt) -> frozenset[str]:
    """The module-level names a top-level statement binds or fills."""
    names: set[str] = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store):
            names.add(n.id)
        elif isinstance(n, (ast.Subscript, ast.Attribute)) and isinstance(n.ctx, (ast.Store, ast.Del)):
            names.add(_root_name(n) or "")
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in n.names)
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr in _FILLING_METHODS:
            names.add(_root_name(n.func.value) or "")
        elif isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == "setattr" and n.args:
            names.add(_root_name(n.args[0]) or "")
    names.discard("")
    return frozenset(names)


#: The exceptions a missing setup shows as: a name, key, index or attribute that is not there.
_LOOKUP_ERROR = re.compile(r"^(NameError|UnboundLocalError|KeyError|IndexError|AttributeError|TypeError)\b")
_IDENTIFIER = re.compile(r"[A-Za-z_]\w*")


def _error_names(message: str) -> set[str]:
    """Identifiers in a lookup error's source lines and the names quoted in its last line."""
    lines = [ln for ln in message.strip().splitlines() if ln.strip()]
    if not lines or not _LOOKUP_ERROR.match(lines[-1]):
        return set()
    code = [ln for ln in lines[:-1] if ln.startswith("    ") and ln.strip()[0] not in "~^"]
    quoted = re.findall(r"'([A-Za-z_]\w*)'", lines[-1])
    return {w for ln in code for w in _IDENTIFIER.findall(ln)} | set(quoted)


def skipped_loop_hint(message: str, loops: tuple[SkippedLoop, ...]) -> str | None:
    """Why an error may come from a skipped loop, or ``None`` when no skipped loop sets what it names.

    Parameters
    ----------
    message : str
        The error message: the submission's traceback, whose last line is the exception.
    loops : tuple of SkippedLoop
        The loops the loader skipped.

    Examples
    --------
    >>> loop = SkippedLoop("hw.py", 3, 4, "for", frozenset({"ACT", "name", "f"}))
    >>> print(skipped_loop_hint("  File 'hw.py', line 11, in backward\\n    s = ACT['sig']\\nKeyError: 'sig'", (loop,)))
    The grader did not run the top-level for loop at hw.py, line 3 (lines 3-4), which sets ACT: top-level loops are skipped (skip_loops) so that no training runs while grading. If the code above needs that loop, the instructor can set skip_loops = false in the assignment's [loading] table.
    >>> skipped_loop_hint("ZeroDivisionError: division by zero", (loop,)) is None
    True
    """
    words = _error_names(message)
    found = [(lp, sorted(lp.names & words)) for lp in loops if lp.names & words]
    if not found:
        return None
    where = "; ".join(f"the top-level {lp.kind} loop at {lp.filename}, line {lp.line} (lines {lp.line}-{lp.end_line}), which sets {', '.join(names)}" for lp, names in found)
    return (
        f"The grader did not run {where}: top-level loops are skipped (skip_loops) so that no training runs while grading. "
        "If the code above needs that loop, the instructor can set skip_loops = false in the assignment's [loading] table."
    )


def transform_source(
    source: str,
    *,
    filename: str,
    skip_loops: bool = True,
    skip_main: bool = True,
    own: frozenset[str] | None = None,
) -> tuple[str, tuple[str, ...], str | None]:
    """Rewrite one cell.

    Parameters
    ----------
    source : str
        The cell's code.
    filename : str
        Name used in notes and messages.
    skip_loops, skip_main : bool
        Blank out top-level ``for``/``while`` statements (but not setup
        loops, see :func:`is_setup_loop`) and ``if __name__ == "__main__":``
        blocks.
    own : frozenset of str, optional
        The submission's own functions and methods (:func:`own_callables`
        of every cell); by default those of this cell.

    Returns
    -------
    code : str
        The code to run (``""`` for a skipped cell magic).
    notes : tuple of str
    syntax_error : str or None
        The original cell's syntax error, when neither it nor its rewrite parses.
    """
    code, notes, err, _ = _transform(source, filename=filename, skip_loops=skip_loops, skip_main=skip_main, own=own)
    return code, notes, err


def _transform(
    source: str, *, filename: str, skip_loops: bool, skip_main: bool, own: frozenset[str] | None
) -> tuple[str, tuple[str, ...], str | None, tuple[SkippedLoop, ...]]:
    """:func:`transform_source`, and the loops it skipped."""
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got source={type(source).__name__}")
    if not isinstance(filename, str):
        raise TypeError(f"filename must be a str, got filename={filename!r}")
    notes: list[str] = []
    tree, err = _parse(source, filename)
    if tree is None:
        rewritten = _rewrite_ipython(source, filename, notes)
        if rewritten is None:
            return "", tuple(notes), None, ()
        tree, err2 = _parse(rewritten, filename)
        if tree is None:
            return source, tuple(notes), err, ()
        source = rewritten
    own = own_callables(tree) if own is None else own
    lines = source.split("\n")
    loops: list[SkippedLoop] = []
    for node in tree.body:
        start, end = node.lineno, node.end_lineno or node.lineno
        kind = "while" if isinstance(node, ast.While) else "for"
        what = None
        if skip_loops and isinstance(node, (ast.For, ast.AsyncFor, ast.While)):
            if is_setup_loop(node, own):
                notes.append(f"{filename}, line {start}: ran a top-level for loop (lines {start}-{end}): it only sets things up")
                continue
            what = f"a top-level {kind} loop"
            loops.append(SkippedLoop(filename, start, end, kind, _names_set(node)))
        elif skip_main and _is_main_guard(node):
            what = 'an `if __name__ == "__main__":` block'
        if what is None:
            continue
        for i in range(start - 1, min(end, len(lines))):
            lines[i] = ""
        notes.append(f"{filename}, line {start}: skipped {what} (lines {start}-{end})")
    return "\n".join(lines), tuple(notes), None, tuple(loops)


def _strip_outputs(data: object) -> None:
    """Empty every cell's outputs and drop its attachments, in place: the grader never uses them (saved figures)."""
    if not isinstance(data, dict):
        return
    worksheets = data.get("worksheets")
    sheets = [data, *(worksheets if isinstance(worksheets, list) else [])]  # nbformat 3 keeps its cells in worksheets
    for sheet in sheets:
        cells = sheet.get("cells") if isinstance(sheet, dict) else None
        for c in cells if isinstance(cells, list) else []:
            if isinstance(c, dict):
                if "outputs" in c:
                    c["outputs"] = []
                c.pop("attachments", None)


def _read_notebook(text: str) -> tuple[list[str], str | None]:
    """Code cell sources of a notebook, or an error message.

    The JSON is parsed first (for a clear message with line and column),
    and its outputs and attachments dropped; nbformat (optional: the
    ``grading`` extra) then upgrades old formats.  A notebook nbformat
    rejects is still read leniently from its JSON.
    """
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return [], f"the notebook is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}"
    except RecursionError:
        return [], "the notebook JSON is nested too deeply"
    _strip_outputs(data)
    text = json.dumps(data)
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


def load_submission(path: str | Path, *, skip_loops: bool = True, skip_main: bool = True,
                    max_source: int = MAX_SOURCE_BYTES) -> LoadedSubmission:
    """Read a ``.py`` or ``.ipynb`` submission into cells.

    A file ending in ``.ipynb``, or any file whose text starts with ``{``
    and parses as a notebook, is a notebook; anything else is Python.

    Parameters
    ----------
    path : str or Path
    skip_loops, skip_main : bool
        See :func:`transform_source`.
    max_source : int
        The most code, in UTF-8 bytes, the submission may have (a notebook's
        code cells; its outputs do not count): beyond it the file is not run
        (:attr:`LoadedSubmission.error_verdict` ``too_large``).

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
    if isinstance(max_source, bool) or not isinstance(max_source, int) or max_source < 1:
        raise ValueError(f"max_source must be an int >= 1 (bytes), got max_source={max_source!r}")
    raw = read_own_file(p)
    too_large = _too_large(p, kind, len(raw), max_source)
    if too_large is not None:
        return too_large
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
        code_bytes = sum(len(src.encode("utf-8", "surrogatepass")) for src in sources)
        if code_bytes > max_source:
            return _refused(p, kind, f"its code cells hold {code_bytes:,} bytes of code", max_source)
        names = [f"{p.name}, code cell {i + 1}" for i in range(len(sources))]
    cells: list[Cell] = []
    notes: list[str] = [f"{p.name}: {decode_note}"] if decode_note else []
    loops: list[SkippedLoop] = []
    trees = [_parse(src, name)[0] for src, name in zip(sources, names)]
    own = frozenset[str]().union(*(own_callables(t) for t in trees if t is not None))
    for i, (src, name) in enumerate(zip(sources, names)):
        code, cell_notes, err, cell_loops = _transform(src, filename=name, skip_loops=skip_loops, skip_main=skip_main, own=own)
        notes.extend(cell_notes)
        loops.extend(cell_loops)
        cells.append(Cell(i + 1, name, code, err))
    return LoadedSubmission(str(p), kind, tuple(cells), tuple(notes), None, tuple(loops))


def _too_large(p: Path, kind: str, size: int, max_source: int) -> LoadedSubmission | None:
    """The refusal of a file too large to read: a ``.py`` file over ``max_source``, a notebook over :data:`MAX_NOTEBOOK_BYTES`."""
    if kind == "ipynb":
        cap = max(MAX_NOTEBOOK_BYTES, max_source)
        if size > cap:
            return LoadedSubmission(str(p), kind, (), (), f"the notebook file is {size:,} bytes, outputs included; the grader reads "
                                    f"notebooks of at most {cap:,} bytes (clearing the outputs makes it smaller)", error_verdict="too_large")
        return None
    return _refused(p, kind, f"the file is {size:,} bytes", max_source) if size > max_source else None


def _refused(p: Path, kind: str, what: str, max_source: int) -> LoadedSubmission:
    return LoadedSubmission(str(p), kind, (), (), f"{what}; the limit is {max_source:,} bytes of code (source_kb in the "
                            "assignment's [limits])", error_verdict="too_large")


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
        h.update((ast.dump(tree) if tree is not None and tree.body else cell.source.strip()).encode("utf-8", "surrogatepass"))  # a lone surrogate a notebook holds (rt27 NP1)
        h.update(b"\0")
    return h.hexdigest()
