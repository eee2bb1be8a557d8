"""Child bootstrap of the grading sandbox.

Run by :class:`gradcheck.grading.sandbox.Sandbox` as::

    python -I -B -X utf8 _child.py fd:N

(``N``: a descriptor holding the configuration's JSON, read and closed by
:func:`read_config` before anything else: the pipe descriptors, the limits and the harness's
directories) in a fresh working directory, in its own session.  It never
imports the harness: the wire format (``_wire.py``, beside this file) is
loaded *by path*, with numpy, before anything else; then a meta-path blocker
refuses ``gradcheck`` and ``reference_models`` (an attempt is the verdict
``forbidden``).  An audit hook (which, unlike the blocker, a submission
cannot remove) refuses the same imports and opening any file in the harness's
directories (compared after resolving symlinks) before the submission runs.

A process the submission forks is never allowed to speak for it: a fork
that returns from student code, calls ``os._exit`` or reaches the result
channel exits at once (``os._exit`` for real), so it can neither send a
result frame nor read the grader's commands.

Cosmetic packages a notebook imports for display only (``tqdm``,
``matplotlib``, ``seaborn``, ``IPython``, ``ipywidgets``, ``google.colab``)
are replaced by do-nothing stand-ins *when they are not installed*, with a
note, so a correct backward pass is not lost to a progress bar.

Sequence (:func:`main`): set the resource limits, load the wire module (and
numpy), install the blocker, read the ``load`` frame, run the cells
(:func:`load`), answer, then answer ``call`` frames (:func:`call`) until
``close`` or end of file.  The state of the conversation is one
:class:`Session`; every step is a small top-level function of it.

Nothing this process says is trusted: the parent rebuilds every array from
raw bytes with its own numpy and makes every comparison itself.
"""
from __future__ import annotations

import errno
import json
import math
import os
import resource
import sys
import time
from typing import Any, Callable

BLOCKED_ROOTS = ("gradcheck", "reference_models")
_MAX_MESSAGE = 8000
_MAX_FRAMES = 12
#: At most this many of the module's global arrays, each of at most this many entries, go back
#: with the load answer (for the grader's "uses a global instead of its argument" check).
_MAX_GLOBALS = 4
_MAX_GLOBAL_SIZE = 4096
#: Keys of a gradient the submission may use for a parameter ``s``: ``s``, ``ds``, ``d_s``, ``grad_s``, ``s_grad``.
GRAD_KEY_FORMS = ("{}", "d{}", "d_{}", "grad_{}", "{}_grad")

#: Top-level packages that compute derivatives for their caller (symbolic or automatic differentiation,
#: numerical differentiation libraries).  The grader does not forbid them (only the harness is); a submission
#: that imports one gets a note naming it, for the instructor to judge (rt26 F3).
DIFFERENTIATING = frozenset({
    "sympy", "symengine", "torch", "jax", "jaxlib", "autograd", "tensorflow", "keras", "theano", "aesara", "pytensor",
    "mxnet", "chainer", "paddle", "mlx", "tinygrad", "casadi", "numdifftools", "findiff",
})

_os_read = os.read
_os_write = os.write
_real_exit = os._exit
_perf = time.perf_counter
_setprofile = sys.setprofile  # the submission may replace sys.setprofile; the grader keeps the real one
_getprofile = sys.getprofile
_W: Any = None  # the wire module, loaded by path in main()


def load_wire(path: str) -> Any:
    """Load ``_wire.py`` from ``path`` without the import system's name lookup (and without ``sys.modules``)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_gradcheck_wire", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class ForbiddenImport(ImportError):
    """Raised by the blocker for an import of the harness."""


class HardExit(BaseException):
    """Raised by the patched ``os._exit`` so the child can report it."""

    def __init__(self, code: object) -> None:
        super().__init__(code)
        self.code = code


#: Display-only packages replaced by a stand-in when they are not installed.
COSMETIC_ROOTS = ("tqdm", "matplotlib", "seaborn", "IPython", "ipywidgets", "google.colab", "plotly", "pylab")


class _Stub:
    """A do-nothing stand-in for any object of a cosmetic package.

    Calling it returns its first argument when that is iterable (``tqdm(range(3))``
    iterates the range), else another stand-in; every attribute is a
    stand-in; it iterates as empty, works as a context manager and a decorator.
    """

    _name: str

    def __init__(self, name: str = "stub") -> None:
        object.__setattr__(self, "_name", name)

    def __call__(self, *args: object, **kwargs: object) -> object:
        if args and (hasattr(args[0], "__iter__") or callable(args[0])) and not isinstance(args[0], (str, bytes)):
            return args[0]
        if self._name.endswith("trange") and args and isinstance(args[0], int):
            return range(*args)  # type: ignore[call-overload]
        if self._name.endswith("subplots"):  # fig, ax = plt.subplots()
            return _Stub("figure"), _Stub("axes")
        return _Stub(self._name + "()")

    def __getattr__(self, name: str) -> object:
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return _Stub(f"{self._name}.{name}")

    def __setattr__(self, name: str, value: object) -> None:
        pass

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __enter__(self) -> object:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getitem__(self, key: object) -> object:
        return _Stub(f"{self._name}[]")

    def __len__(self) -> int:
        return 0

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return f"<stand-in {self._name}>"


class CosmeticFinder:
    """Last on ``sys.meta_path``: a stand-in module for a display-only package that is not installed."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.used: list[str] = []

    def _cosmetic(self, fullname: str) -> bool:
        return any(fullname == r or fullname.startswith(r + ".") for r in self.roots)

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> object:
        if not self._cosmetic(fullname):
            return None
        import importlib.machinery

        root = fullname.partition(".")[0]
        if root not in self.used:
            self.used.append(root)
        return importlib.machinery.ModuleSpec(fullname, self, is_package=True)  # type: ignore[arg-type]

    def create_module(self, spec: object) -> object:
        return None

    def exec_module(self, module: object) -> None:
        name = module.__name__  # type: ignore[attr-defined]
        module.__path__ = []  # type: ignore[attr-defined]
        module.__getattr__ = lambda attr: _Stub(f"{name}.{attr}")  # type: ignore[attr-defined]


class TypeProblem(Exception):
    """A returned value is not what the calling convention asks for."""


class Blocker:
    """A meta-path finder that refuses the harness's packages and records attempts."""

    def __init__(self, roots: tuple[str, ...]) -> None:
        self.roots = roots
        self.attempts: list[tuple[str, str]] = []

    def find_spec(self, fullname: str, path: object = None, target: object = None) -> None:
        if fullname.partition(".")[0] in self.roots:
            self.attempts.append(("import", fullname))
            raise ForbiddenImport(f"importing {fullname!r} is not allowed in a submission")
        return None

    def find_module(self, fullname: str, path: object = None) -> None:  # pre-3.4 protocol, for old callers
        return self.find_spec(fullname, path)


def set_limits(memory: int, file_bytes: int, session_cpu: int, load_cpu: float) -> None:
    """Address space, file size, core dumps and CPU (soft: this phase, hard: the session)."""
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_bytes, file_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (session_cpu, session_cpu))
    set_cpu_budget(load_cpu)


def set_cpu_budget(seconds: float) -> None:
    """Soft ``RLIMIT_CPU`` = CPU used so far + ``seconds`` (never above the hard limit)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    used = usage.ru_utime + usage.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = max(1, math.ceil(used + seconds))
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def read_exact(fd: int, n: int) -> bytes:
    chunks: list[bytes] = []
    while n > 0:
        data = _os_read(fd, min(n, 1 << 20))
        if not data:
            raise EOFError("the grader closed the command pipe")
        chunks.append(data)
        n -= len(data)
    return b"".join(chunks)


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = _os_write(fd, view[: 1 << 20])
        view = view[n:]



# -- the session -------------------------------------------------------------------------
class Session:
    """Everything the child knows between frames: channels, limits, guards, the submission's namespace."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.cmd_fd = int(config["cmd_fd"])
        self.res_fd = int(config["res_fd"])
        self.memory = int(config["memory"])
        self.nproc = int(config.get("nproc", 0))
        self.main_pid = os.getpid()
        self.harness_dirs = tuple(os.path.join(os.path.realpath(d), "") for d in config.get("harness_dirs", ()))
        self.allowed_files = {os.path.realpath(__file__), os.path.realpath(config["wire"])}
        self.blocker = Blocker(BLOCKED_ROOTS)
        self.cosmetic = CosmeticFinder(COSMETIC_ROOTS)
        self.audited: list[tuple[str, str]] = []  # the audit hook's own record (not reachable through sys.meta_path)
        self.imported: set[str] = set()  # top-level names of every import the audit hook saw
        self.preloaded: frozenset[str] = frozenset()  # top-level modules loaded before the submission ran
        self.noted: set[str] = set()  # packages of DIFFERENTIATING already named in a note
        self.in_hook = False
        self.student_files: set[str] = set()
        self.workdir = os.path.join(os.getcwd(), "")  # the sandbox's own folder: every module in it is the student's
        self.ns: dict[str, Any] | None = None
        self.has_forward = False
        self.import_seconds = 0.0
        import reprlib

        self.repr = reprlib.Repr()
        self.repr.maxstring = 60
        self.repr.maxother = 60

    def is_fork(self) -> bool:
        return os.getpid() != self.main_pid

    def leave_if_fork(self) -> None:
        """A process the submission forked never reaches the grader's channels."""
        if self.is_fork():
            flush_std()
            _real_exit(0)

    def fake_exit(self, code: object = 0) -> None:
        """``os._exit`` for the submission: a real exit in a fork, :class:`HardExit` in the session."""
        if self.is_fork():
            _real_exit(code if isinstance(code, int) and 0 <= code < 256 else 1)
        raise HardExit(code)

    def audit(self, event: str, args: tuple[Any, ...]) -> None:
        """The audit hook: refuses importing the harness and opening its files (symlinks resolved)."""
        if self.in_hook or event not in ("import", "open"):
            return
        self.in_hook = True
        try:
            if event == "import":
                if args and isinstance(args[0], str):
                    self.imported.add(args[0].partition(".")[0])
                check_import(self, args[0] if args else None)
            elif self.harness_dirs and args and isinstance(args[0], (str, bytes)):
                check_open(self, args[0] if isinstance(args[0], str) else os.fsdecode(args[0]))
        finally:
            self.in_hook = False


def check_import(s: Session, name: object) -> None:
    if isinstance(name, str) and name.partition(".")[0] in BLOCKED_ROOTS:
        s.audited.append(("import", name))
        raise ForbiddenImport(f"importing {name!r} is not allowed in a submission")


def differentiating_notes(s: Session) -> list[str]:
    """A note naming the packages of :data:`DIFFERENTIATING` the submission imported since the last note (each named once).

    Seen by the audit hook's ``import`` events and in ``sys.modules`` (a module
    loaded by path and placed there by hand raises no event).
    """
    loaded = {name.partition(".")[0] for name in list(sys.modules) if isinstance(name, str)} - s.preloaded
    new = sorted(((loaded | s.imported) & DIFFERENTIATING) - s.noted)
    if not new:
        return []
    s.noted.update(new)
    tried = [n for n in new if n not in loaded]  # an import that failed (not installed here), or one removed from sys.modules
    did = ", ".join(n for n in new if n in loaded) or None
    what = " and ".join(w for w in (did and f"imported {did}", tried and f"tried to import {', '.join(tried)}") if w)
    return [f"the submission {what}, which can compute derivatives (symbolic or automatic differentiation): "
            "the grader does not forbid it and grades a backward pass it computes like a hand-written one; the instructor "
            "decides whether that counts"]


def check_open(s: Session, path: str) -> None:
    full = os.path.realpath(path)
    if full.startswith(s.harness_dirs) and full not in s.allowed_files:
        s.audited.append(("open", path))
        raise PermissionError(f"opening {path!r} is not allowed in a submission")


def flush_std() -> None:
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()  # type: ignore[union-attr]
        except BaseException:
            pass


# -- framing -------------------------------------------------------------------------------
def read_frame(s: Session) -> tuple[dict[str, Any], dict[Any, Any]]:
    """The grader's next command (trusted: the grader wrote it)."""
    head = read_exact(s.cmd_fd, _W.HEADER.size)
    _, jlen, plen = _W.HEADER.unpack(head)
    buf = bytearray(head + read_exact(s.cmd_fd, jlen + plen))
    try:
        got = _W.decode(buf, plen)
    except _W.ProtocolError as exc:
        raise EOFError(f"bad frame from the grader: {exc}") from None
    assert got is not None
    return got[0], got[1]


def send(s: Session, meta: dict[str, Any], arrays: list[tuple[Any, Any]] | tuple[()] = ()) -> None:
    s.leave_if_fork()
    flush_std()
    write_all(s.res_fd, _W.encode(meta, arrays))


# -- describing what the submission did ------------------------------------------------------------
def clip(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 40] + f"\n... ({len(text)} characters, cut)"


def describe(s: Session, value: object) -> str:
    try:
        if isinstance(value, _W.np.ndarray):
            return f"an array of dtype {value.dtype} and shape {tuple(value.shape)}"
        if value is None:
            return "None (is a `return` missing?)"
        if isinstance(value, (list, tuple)):
            return f"a {type(value).__name__} of {len(value)} items"
        if isinstance(value, _Mapping):
            return f"a {type(value).__name__} with keys {s.repr.repr(list(value.keys()))}"
        return f"a {type(value).__name__} ({s.repr.repr(value)})"
    except BaseException:
        return f"a {type(value).__name__}"


#: Why ``input()`` ends in an ``EOFError`` (a submission reading its standard input).
_NO_INPUT = "the submission read its standard input (input()?): nothing is typed while it is graded, its stdin is /dev/null"


def is_student_file(s: Session, filename: str) -> bool:
    """Whether a frame's file is the student's: a cell, or a module in the working folder (a helper, a package, a %%writefile)."""
    if filename in s.student_files:
        return True
    return filename.startswith(s.workdir) and os.path.realpath(filename) not in s.allowed_files  # at uid the bootstrap is copied there


def shown_frame(s: Session, frame: Any) -> Any:
    """``frame`` with a helper module's file named as the student wrote it (``lib/act.py``, not the sandbox's folder)."""
    if frame.filename.startswith(s.workdir):
        frame.filename = frame.filename[len(s.workdir):]
    return frame


def student_traceback(s: Session, exc: BaseException) -> str:
    import traceback

    try:
        frames = [shown_frame(s, f) for f in traceback.extract_tb(exc.__traceback__) if is_student_file(s, f.filename)]
        if len(frames) > _MAX_FRAMES:
            omitted = len(frames) - _MAX_FRAMES
            shown = traceback.format_list(frames[:4]) + [f"  ... {omitted} more frames ...\n"] + traceback.format_list(frames[-(_MAX_FRAMES - 4):])
        else:
            shown = traceback.format_list(frames)
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        if isinstance(exc, EOFError):
            last += f"\n({_NO_INPUT})"
    except BaseException:
        return f"{type(exc).__name__} (the exception could not be formatted)"
    if not shown:
        return last
    return clip("Traceback (the submission's frames only):\n" + "".join(shown) + last)


def outcome_of(s: Session, exc: BaseException, what: str) -> tuple[str, str]:
    """The status and message for an exception that ended ``what``."""
    import traceback

    if isinstance(exc, TypeProblem):
        return "type", f"{what}: {exc}"
    if isinstance(exc, HardExit):
        return "crash", f"{what} called os._exit({exc.code!r}), which ends the process"
    if isinstance(exc, SystemExit):
        return "crash", f"{what} called sys.exit({exc.code!r}) (or exit()/quit()), which ends the process"
    if s.nproc and isinstance(exc, OSError) and exc.errno == errno.EAGAIN and forked_here(exc):
        return "crash", (
            f"{what} could not start another process: the sandbox's limit of {s.nproc} processes was reached "
            f"(RLIMIT_NPROC; a fork bomb?)\n" + student_traceback(s, exc)
        )
    if isinstance(exc, MemoryError):
        return "memory", f"{what} ran out of memory (MemoryError, limit {s.memory >> 20} MB)\n" + student_traceback(s, exc)
    if unmappable_library(exc):
        return "memory", (f"{what} ran out of memory: a compiled module could not be loaded, no address space being left under "
                          f"the memory limit of {s.memory >> 20} MB (\"failed to map segment from shared object\"); raise the "
                          "limit with --memory MB, or memory_mb in the assignment's [limits]\n" + student_traceback(s, exc))
    message = f"{what} raised {student_traceback(s, exc)}"
    if isinstance(exc, TypeError) and not any(is_student_file(s, f.filename) for f in traceback.extract_tb(exc.__traceback__)):
        message += f"\n(the grader calls it as {what}; see the assignment's calling convention)"
    return "error", message


#: What the dynamic loader says when it cannot mmap a shared library (ENOMEM under RLIMIT_AS; EPERM on a noexec mount).
_UNMAPPABLE = ": failed to map segment from shared object"


def unmappable_library(exc: BaseException) -> bool:
    """Whether ``exc`` is an import that failed for lack of address space.

    The loader's message (``PATH: failed to map segment from shared
    object``) is the same for a library on a ``noexec`` file system; that
    one is not memory, and is told apart by the mount's flags.
    """
    text = str(exc) if isinstance(exc, ImportError) else ""
    if _UNMAPPABLE not in text:
        return False
    path = text.split(_UNMAPPABLE, 1)[0]
    try:
        return not os.statvfs(path).f_flag & os.ST_NOEXEC
    except OSError:
        return True  # the file was found and opened by the loader: the mapping is what failed


def forked_here(exc: BaseException) -> bool:
    """Whether ``exc`` came from starting a process (``os.fork``, ``subprocess``, ``multiprocessing``)."""
    import traceback

    try:
        frames = traceback.extract_tb(exc.__traceback__)
    except BaseException:
        return False
    return any("fork" in (f.line or "") or f.name in ("_execute_child", "_launch", "_Popen") for f in frames[-3:])


def guarded(s: Session, fn: Callable[[], Any], what: str) -> tuple[str, str, Any]:
    """Run ``fn()``; map every way it can end to (status, message, value)."""
    del s.blocker.attempts[:]
    del s.audited[:]
    status, message, value = "ok", "", None
    try:
        value = fn()
    except BaseException as exc:
        status, message = outcome_of(s, exc, what)
    s.leave_if_fork()
    attempts = s.audited + s.blocker.attempts
    if attempts:
        status = "forbidden"
        kind, target = attempts[0]
        message = f"{what} tried to {kind} {target!r}: the grader's own packages are off limits"
        del s.blocker.attempts[:]
        del s.audited[:]
    return status, clip(message), value


# -- load ---------------------------------------------------------------------------------------
def importable_here() -> None:
    """Make the modules written into the working directory importable (it first on ``sys.path``, as Jupyter's ``''``)."""
    import importlib

    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    importlib.invalidate_caches()


def write_cell_file(name: str, text: str, append: bool) -> None:
    """A ``%%writefile [-a] NAME`` cell: its body into ``NAME`` in the working directory, importable (as in Jupyter).

    The grader's loader writes this call (``loader.WRITEFILE_FUNCTION``),
    only for a ``NAME`` inside the working directory (``loader.writefile_target``).
    """
    with open(name, "a" if append else "w", encoding="utf-8") as f:
        f.write(text)
    importable_here()


def place_files(files: list[Any]) -> None:
    """Write the helper files the grader sent (``[name, text]``) into the working directory, importable from there."""
    if files:
        importable_here()
    for name, text in files:
        parts = name.split("/") if isinstance(name, str) else [""]
        if not isinstance(text, str) or os.path.isabs(name) or any(not p or p.startswith(".") for p in parts):
            continue  # the grader sends relative paths without hidden parts or "..": anything else is not written
        if len(parts) > 1:
            os.makedirs(os.path.dirname(name), exist_ok=True)  # a package's module keeps its place: lib/act.py
        with open(name, "w", encoding="utf-8") as f:
            f.write(text)


def run_cell(s: Session, cell: dict[str, Any], problems: list[tuple[str, str]], notes: list[str]) -> str:
    """Run one cell in the submission's namespace; returns its status."""
    import linecache

    assert s.ns is not None
    name, src = cell["filename"], cell["source"]
    s.student_files.add(name)
    linecache.cache[name] = (len(src), None, src.splitlines(True), name)
    error = cell.get("syntax_error")
    if not error:
        try:
            code = compile(src, name, "exec", dont_inherit=True)
        except (SyntaxError, ValueError) as exc:
            error = f"line {getattr(exc, 'lineno', '?')}: {getattr(exc, 'msg', exc)}"
    if error:
        problems.append(("syntax", f"{name}: {error}"))
        notes.append(f"{name}: syntax error, the cell was not run: {error}")
        return "syntax"
    ns = s.ns
    status, message, _ = guarded(s, lambda: exec(code, ns), f"running {name}")
    if status not in ("ok", "forbidden"):
        problems.append((status, message))
        lines = message.strip().splitlines() or [status]
        notes.append(f"{name} did not finish ({status}): {lines[-1] if status == 'error' else lines[0]}")
    elif status == "forbidden":
        problems.insert(0, (status, message))
    return status


def new_namespace(filename: str) -> dict[str, Any]:
    import types

    module = types.ModuleType("submission")
    module.__file__ = filename
    ns = module.__dict__
    ns["display"] = lambda *a, **k: None
    ns["get_ipython"] = lambda: _IPythonStub()
    ns["__gradcheck_writefile__"] = write_cell_file
    sys.modules["submission"] = module
    return ns


def seed_randomness(seed: int) -> None:
    """Seed the generators a submission draws from without a seed of its own, once per session (rt20 F4).

    The global ``np.random`` and ``random``, and ``np.random.default_rng()``
    without a seed (each such call gets the next child of one seeded
    ``SeedSequence``): the same submission draws the same numbers on every
    run of the grader (its grade is reproducible), and two calls draw
    different ones (nondeterminism is still seen).  Not covered: a bit
    generator made without a seed (``np.random.PCG64()``,
    ``np.random.RandomState()``), ``random.Random()``, ``os.urandom``.
    """
    import functools
    import random

    import numpy as np

    random.seed(seed)
    np.random.seed(seed % 2**32)
    real = np.random.default_rng
    children = np.random.SeedSequence(seed)

    @functools.wraps(real)
    def default_rng(seed: Any = None) -> Any:
        return real(children.spawn(1)[0] if seed is None else seed)

    np.random.default_rng = default_rng


def load(s: Session, meta: dict[str, Any]) -> dict[str, Any]:
    """Run the submission's cells; the answer to the ``load`` frame."""
    s.preloaded = frozenset(name.partition(".")[0] for name in list(sys.modules))
    sys.addaudithook(s.audit)  # from here on, for good: the submission cannot remove it
    seed_randomness(int(meta.get("seed", 0)))
    spec = meta["spec"]
    place_files(meta.get("files", []))
    s.ns = new_namespace(meta.get("filename", "submission.py"))
    notes: list[str] = []
    problems: list[tuple[str, str]] = []
    for cell in meta["cells"]:
        if run_cell(s, cell, problems, notes) == "forbidden":
            found = found_names(s.ns or {})
            s.ns = None
            return {"status": "forbidden", "message": problems[0][1], "found": found, "notes": notes}
    for root in s.cosmetic.used:
        notes.append(f"the package {root!r} is not installed where the grader runs: a do-nothing stand-in was used (display only)")
    found = found_names(s.ns)
    missing, s.has_forward = required_missing(spec, s.ns, found, notes)
    if missing is None:
        return {"status": "ok", "message": "", "found": found, "notes": notes}
    facts = missing_facts(spec, s.ns, found)
    s.ns = None
    if problems:
        status, message = problems[0]
        # the file failed before it could define what is missing: that failure is the whole story
        return {"status": status, "message": message, "found": found, "notes": notes}
    return {"status": "missing", "message": missing, "found": found, "notes": notes, "missing": facts}


def close_names(name: str, names: list[str], spec: dict[str, Any]) -> list[str]:
    """Names like ``name``, never another name the assignment asks for (``forward`` is no typo of ``backward``)."""
    import difflib

    required = {spec.get("backward"), spec.get("forward"), spec.get("class_name")} - {name}
    return difflib.get_close_matches(name, [n for n in names if n not in required], n=3, cutoff=0.5)


def missing_facts(spec: dict[str, Any], ns: dict[str, Any], found: list[str]) -> dict[str, Any]:
    """What is missing, as facts the grader words in the student's language (kind, name, owner, found, close)."""
    def close(name: str, names: list[str]) -> list[str]:
        return close_names(name, names, spec)

    if spec["style"] == "class":
        cname = spec["class_name"]
        cls = ns.get(cname)
        if not callable(cls):
            return {"kind": "class", "name": cname, "found": found, "close": close(cname, found)}
        methods = [m for m in dir(cls) if not m.startswith("_") and callable(getattr(cls, m, None))]
        name = spec["backward"] if not hasattr(cls, spec["backward"]) else spec.get("forward") or ""
        return {"kind": "method", "name": name, "owner": cname, "found": methods, "close": close(name, methods)}
    name = spec["backward"] if not callable(ns.get(spec["backward"])) else spec.get("forward") or ""
    return {"kind": "function", "name": name, "found": found, "close": close(name, found)}


def found_names(ns: dict[str, Any]) -> list[str]:
    import inspect

    out = []
    for k, v in list(ns.items()):
        if k.startswith("_") or k in ("display", "get_ipython"):
            continue
        if (inspect.isfunction(v) or inspect.isclass(v)) and getattr(v, "__module__", None) == "submission":
            out.append(k)
    return out


def suggest(name: str, names: list[str], spec: dict[str, Any]) -> str:
    close = close_names(name, names, spec)
    return f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""


def class_missing(spec: dict[str, Any], ns: dict[str, Any], found: list[str], notes: list[str]) -> tuple[str | None, bool]:
    listing = ", ".join(found) if found else "nothing callable"
    fwd = spec.get("forward")
    cname = spec["class_name"]
    cls = ns.get(cname)
    if not callable(cls):
        return f"no class named {cname!r} was found; the submission defines: {listing}{suggest(cname, found, spec)}", False
    methods = [m for m in dir(cls) if not m.startswith("_") and callable(getattr(cls, m, None))]
    if not hasattr(cls, spec["backward"]):
        return (
            f"class {cname} has no method {spec['backward']!r}; its methods: "
            f"{', '.join(methods) or 'none'}{suggest(spec['backward'], methods, spec)}"
        ), False
    if not fwd:
        return None, False
    if hasattr(cls, fwd):
        return None, True
    if spec.get("require_forward"):
        return f"class {cname} has no method {fwd!r}; its methods: {', '.join(methods) or 'none'}{suggest(fwd, methods, spec)}", False
    notes.append(f"class {cname} has no method {fwd!r}: the forward pass is not checked")
    return None, False


def required_missing(spec: dict[str, Any], ns: dict[str, Any], found: list[str], notes: list[str]) -> tuple[str | None, bool]:
    """(what is missing, or None; whether the forward pass can be checked)."""
    if spec["style"] == "class":
        return class_missing(spec, ns, found, notes)
    listing = ", ".join(found) if found else "nothing callable"
    fwd = spec.get("forward")
    if not callable(ns.get(spec["backward"])):
        return f"no function named {spec['backward']!r} was found; the submission defines: {listing}{suggest(spec['backward'], found, spec)}", False
    if not fwd:
        return None, False
    if callable(ns.get(fwd)):
        return None, True
    if spec.get("require_forward"):
        return f"no function named {fwd!r} was found; the submission defines: {listing}{suggest(fwd, found, spec)}", False
    notes.append(f"no function named {fwd!r}: the forward pass is not checked")
    return None, False


# -- calls --------------------------------------------------------------------------------------
def to_array(s: Session, value: object, label: str, max_elements: int) -> Any:
    if value is None:
        raise TypeProblem(f"{label} is None (is a `return` missing?)")
    try:
        a = _W._asarray(value)
    except Exception as exc:
        raise TypeProblem(f"{label} is {describe(s, value)}, which is not an array of numbers ({type(exc).__name__})") from None
    if a.dtype.kind not in "biuf":
        raise TypeProblem(f"{label} is {describe(s, value)}, not an array of real numbers (dtype {a.dtype})")
    if a.size > max_elements:
        raise TypeProblem(f"{label} has {a.size} entries, far more than the parameters have")
    return _W._asarray(a, dtype="<f8")


# -- what only a numerical gradient does ----------------------------------------------------------
class Evaluations:
    """What one backward call did that backpropagation never does (red team rt16 F7).

    A gradient's values cannot tell a complex step or a Richardson-extrapolated
    stencil from backpropagation; the work can.  While backward runs, a
    profile hook counts the calls of the submission's own forward function
    in whole batches (``forward_calls``: the most in one call of backward,
    per sample for a per-sample assignment; a call on one sample of ``N``
    counts ``1/N``, :meth:`batch_share`) and the complex values any function returns, or
    a function of the submission holds when it returns (``complex_values``).
    The grader decides what the counts mean
    (:func:`gradcheck.evaluations.is_numerical`); it trusts none of them.
    """

    def __init__(self, s: Session, spec: dict[str, Any]) -> None:
        self.files = s.student_files
        self.forward = forward_code(s, spec)
        args = list(spec.get("forward_args") or ["params", "x"])
        # where x sits among the forward's positional arguments (after self for a method), or None
        self.x_position = args.index("x") + (spec["style"] == "class") if "x" in args else None
        self.forward_calls = 0
        self.complex_values = 0
        self.profiler_removed = False

    def batch_share(self, frame: Any, batch_size: int) -> float:
        """The part of the batch one forward call gets: 1 for all of ``x``, ``1/N`` for one sample.

        A backward that runs the forward once per sample has run it once
        in all; anything but an array counts as the whole batch.
        """
        code = frame.f_code
        if self.x_position is None or self.x_position >= code.co_argcount or batch_size <= 0:
            return 1.0
        value = frame.f_locals.get(code.co_varnames[self.x_position])
        return value.size / batch_size if type(value) is _W.np.ndarray else 1.0

    def run(self, fn: Callable[..., Any], args: list[Any], batch_size: int) -> Any:
        """``fn(*args)`` with the hook installed; ``batch_size``: entries of the ``x`` it is given."""
        calls = [0.0]
        fwd, files = self.forward, self.files

        def hook(frame: Any, event: str, arg: Any) -> None:
            if event == "call":
                if frame.f_code is fwd:
                    calls[0] += self.batch_share(frame, batch_size)
            elif event == "return":
                n = count_complex(arg)
                if frame.f_code.co_filename in files:
                    n += sum(count_complex(v) for v in list(frame.f_locals.values()))
                self.complex_values += n

        _setprofile(hook)
        try:
            return fn(*args)
        finally:
            self.profiler_removed = self.profiler_removed or _getprofile() is not hook
            _setprofile(None)
            self.forward_calls = max(self.forward_calls, round(calls[0]))

    def facts(self) -> dict[str, Any]:
        return {"forward_calls": self.forward_calls, "complex_values": self.complex_values, "profiler_removed": self.profiler_removed}


def forward_code(s: Session, spec: dict[str, Any]) -> Any:
    """The code object of the submission's forward function (or method), or ``None``."""
    name = spec.get("forward")
    if not name or s.ns is None:
        return None
    try:
        fn = getattr(s.ns.get(spec["class_name"]), name, None) if spec["style"] == "class" else s.ns.get(name)
        code = getattr(getattr(fn, "__func__", fn), "__code__", None)
    except BaseException:  # a hostile class attribute: no count (the complex check still runs)
        return None
    return code if type(code) is type(forward_code.__code__) else None


def count_complex(value: Any) -> int:
    """Complex numbers or complex arrays in ``value`` (and, one level down, in a dict, list or tuple of them).

    Exact types only: nothing the submission defined runs here.
    """
    t = type(value)
    if t is dict:
        return sum(_is_complex(v) for v in list(value.values()))
    if t is list or t is tuple:
        return sum(_is_complex(v) for v in value[:64])
    return _is_complex(value)


def _is_complex(value: Any) -> int:
    t = type(value)
    if t is _W.np.ndarray:
        return int(value.dtype.kind == "c")
    return int(t is complex or t is _W.np.complex128 or t is _W.np.complex64)


class Call:
    """One ``call`` frame: the calling convention, the reference parameter names, the arrays, the notes."""

    def __init__(self, s: Session, meta: dict[str, Any], arrays: dict[Any, Any]) -> None:
        self.s = s
        self.spec: dict[str, Any] = meta["spec"]
        self.refs: list[str] = list(meta["param_names"])
        self.max_el = int(meta["max_elements"])
        self.arrays = arrays
        self.notes: list[str] = []
        self.out: list[tuple[Any, Any]] = []
        self.evaluations = Evaluations(s, self.spec)

    def fresh(self) -> dict[str, Any]:
        """New copies of the inputs for one call of the submission."""
        K, a = _W.Key, self.arrays
        return {
            "params": {r: a[K(_W.PARAM, r)].copy() for r in self.refs},
            "x": a[K(_W.INPUT, "x")].copy(),
            "y": a[K(_W.INPUT, "y")].copy(),
        }

    def label(self, which: str) -> str:
        spec = self.spec
        return spec[which] if spec["style"] == "function" else f"{spec['class_name']}.{spec[which]}"

    def after(self, inputs: dict[str, Any], *, forward: bool) -> None:
        """Send the inputs back as they are after the call (the grader detects mutation)."""
        param_role, input_role = (_W.AFTER_FORWARD_PARAM, _W.AFTER_FORWARD_INPUT) if forward else (_W.AFTER_PARAM, _W.AFTER_INPUT)
        for r in self.refs:
            self.out.append((_W.Key(param_role, r), inputs["params"][r]))
        for b in _W.BATCH_NAMES:
            self.out.append((_W.Key(input_role, b), inputs[b]))
        d, before = inputs.get("dict"), inputs.get("dict_before") or {}
        if d is not None and (set(d) != set(before) or any(d.get(k) is not v for k, v in before.items())):
            who = "the forward pass" if forward else "backward"
            self.notes.append(f"{who} changed the params dict it was given (entries added, removed or replaced)")


def invoke(c: Call, which: str, inputs: dict[str, Any]) -> Any:
    """Call the submission's ``which`` (``backward`` or ``forward``) on ``inputs``."""
    spec, refs = c.spec, c.refs
    names = spec["names"]
    arg_names = spec["args"] if which == "backward" else spec["forward_args"]
    pdict = {names.get(r, r): inputs["params"][r] for r in refs}
    inputs["dict"] = pdict
    inputs["dict_before"] = dict(pdict)
    assert c.s.ns is not None
    def arguments(names_: list[str]) -> list[Any]:
        return [pdict if a == "params" else inputs[a] if a in _W.BATCH_NAMES else inputs["params"][a] for a in names_]

    if spec["style"] == "class":
        obj = c.s.ns[spec["class_name"]](*spec["init_args"], **spec["init_kwargs"])
        for r in refs:
            setattr(obj, names.get(r, r), inputs["params"][r])
        if which == "backward" and spec.get("forward_first") and c.s.has_forward:
            prime_forward(obj, spec["forward"], arguments(spec["forward_args"]))
        fn = getattr(obj, spec[which])
    else:
        fn = c.s.ns[spec[which]]
    if which == "backward":
        return c.evaluations.run(fn, arguments(arg_names), int(getattr(inputs["x"], "size", 0)))
    return fn(*arguments(arg_names))


def prime_forward(obj: Any, method: str, args: list[Any]) -> None:
    """A training loop's order: ``forward`` on the instance, then backward may use what it kept.

    A failure here is not reported: the forward check reports the forward
    pass on its own, and a backward that needed its values fails then.
    """
    try:
        getattr(obj, method)(*args)
    except Exception:  # noqa: BLE001 - see the docstring
        pass


def per_sample(c: Call, which: str, inputs: dict[str, Any], what: str) -> Any:
    """Call ``which`` once per sample (1-D rows ``x[i]``, ``y[i]``, views of the inputs).

    Backward: the sum of the samples' gradients, by reference name (the
    grader weighs it as the model's loss weighs samples).  Forward: the
    samples' outputs stacked.
    """
    n = len(inputs["x"])
    if which == "forward":
        rows = [to_array(c.s, invoke(c, which, {**inputs, "x": inputs["x"][i]}), f"{what}'s output for sample {i}", c.max_el)
                for i in range(n)]
        return _W._asarray(rows, dtype="<f8")  # the private reference: numpy.stack may be patched
    total: dict[str, Any] = {}
    order: list[str] = []
    for i in range(n):
        row = {**inputs, "x": inputs["x"][i], "y": inputs["y"][i]}
        for ref, g in gradients(c, invoke(c, which, row), what):
            if ref not in total:
                order.append(ref)
                total[ref] = g.copy()
            elif g.shape != total[ref].shape:
                raise TypeProblem(f"the gradient for {ref} has shape {g.shape} for sample {i} but {total[ref].shape} before")
            else:
                total[ref] = total[ref] + g
    return [(ref, total[ref]) for ref in order]


def grads_from_dict(c: Call, value: Any, order: list[str], what: str) -> list[tuple[str, Any]]:
    names = c.spec["names"]
    if c.spec["returns"] != "dict":
        c.notes.append(f"{what} returned a dict where the assignment asks for a tuple ({', '.join(order)}); read by key")
    out: list[tuple[str, Any]] = []
    missing = []
    for ref in order:
        stem = names.get(ref, ref)
        for cand in (form.format(stem) for form in GRAD_KEY_FORMS):
            if cand in value:
                out.append((ref, to_array(c.s, value[cand], f"the gradient for {ref} (key {cand!r})", c.max_el)))
                break
        else:
            missing.append(ref)
    if len(missing) == len(order):
        raise TypeProblem(
            f"returned a dict with keys {c.s.repr.repr(list(value.keys()))}; none of them names a gradient "
            f"(expected the keys {', '.join(names.get(r, r) for r in order)})"
        )
    if missing:
        c.notes.append(f"the returned dict has no gradient for {', '.join(missing)}")
    return out


def gradients(c: Call, value: Any, what: str) -> list[tuple[str, Any]]:
    """The gradients in what backward returned, keyed by reference names (raises :class:`TypeProblem`)."""
    returns = c.spec["returns"]
    names = c.spec["names"]
    order = c.refs if returns in ("dict", "tuple") else list(returns)
    if isinstance(value, _Mapping):
        return grads_from_dict(c, value, order, what)
    if returns == "dict":
        raise TypeProblem(f"returned {describe(c.s, value)}; expected a dict of gradients keyed by {', '.join(names.get(r, r) for r in order)}")
    if len(order) == 1 and not isinstance(value, (tuple, list)):
        value = (value,)
    if not isinstance(value, (tuple, list)):
        raise TypeProblem(f"returned {describe(c.s, value)}; expected a tuple of {len(order)} gradients ({', '.join(order)})")
    if len(value) != len(order):
        raise TypeProblem(f"returned a {type(value).__name__} of {len(value)} items; expected {len(order)} gradients ({', '.join(order)})")
    return [(ref, to_array(c.s, v, f"the gradient for {ref} (item {i + 1})", c.max_el)) for i, (ref, v) in enumerate(zip(order, value))]


def call(s: Session, meta: dict[str, Any], arrays: dict[Any, Any]) -> tuple[dict[str, Any], list[tuple[Any, Any]]]:
    """Answer one ``call`` frame: backward (and forward) at one point."""
    set_cpu_budget(float(meta["cpu_seconds"]))
    c = Call(s, meta, arrays)
    bw = c.label("backward")
    inputs = c.fresh()
    if c.spec.get("per_sample"):
        status, message, grads = guarded(s, lambda: per_sample(c, "backward", inputs, bw), f"{bw}({', '.join(c.spec['args'])}), one sample at a time")
    else:
        status, message, grads = guarded(s, lambda: gradients(c, invoke(c, "backward", inputs), bw), f"{bw}({', '.join(c.spec['args'])})")
    if status == "ok":
        c.out.extend((_W.Key(_W.GRAD, r), a) for r, a in grads)
    c.after(inputs, forward=False)
    result: dict[str, Any] = {"status": status, "message": message, "forward_status": None, "forward_message": "", "notes": c.notes,
                              "evaluations": c.evaluations.facts()}
    if status == "crash" or not s.has_forward:
        return result, c.out
    fw = c.label("forward")
    f_inputs = c.fresh()
    if c.spec.get("per_sample"):
        def run_forward() -> Any:
            return per_sample(c, "forward", f_inputs, fw)
    else:
        def run_forward() -> Any:
            return to_array(s, invoke(c, "forward", f_inputs), f"{fw}'s output", c.max_el)
    f_status, f_message, f_value = guarded(s, run_forward, f"{fw}({', '.join(c.spec['forward_args'])})")
    result["forward_status"], result["forward_message"] = f_status, f_message
    if f_status == "ok":
        c.out.append((_W.Key(_W.FORWARD, ""), f_value))
    c.after(f_inputs, forward=True)
    return result, c.out


def module_arrays(ns: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The module's small global numeric arrays (plain ndarrays only, never anything else), bounded."""
    out: list[tuple[Any, Any]] = []
    for name, value in list(ns.items()):
        if len(out) >= _MAX_GLOBALS:
            break
        if (
            type(value) is _W.np.ndarray and isinstance(name, str) and not name.startswith("_")
            and value.dtype.kind in "iuf" and 1 <= value.ndim <= 2 and 0 < value.size <= _MAX_GLOBAL_SIZE
        ):
            out.append((_W.Key(_W.GLOBAL, name[:100]), _W._asarray(value, dtype="<f8")))
    return out


# -- the conversation ---------------------------------------------------------------------------
def serve(s: Session) -> None:
    """Answer the ``load`` frame, then ``call`` frames until ``close``, end of file or a crash."""
    meta, _ = read_frame(s)
    t1 = _perf()
    answer = load(s, meta)
    answer["notes"] = [*answer["notes"], *differentiating_notes(s)]
    answer.update(import_seconds=s.import_seconds, load_seconds=_perf() - t1, has_forward=s.has_forward)
    send(s, answer, module_arrays(s.ns) if s.ns is not None else ())
    if s.ns is None:
        return
    while True:
        meta, arrays = read_frame(s)
        if meta.get("op") != "call":
            return
        result, out = call(s, meta, arrays)
        result["seq"] = meta.get("seq")
        result["notes"] = [*result["notes"], *differentiating_notes(s)]
        try:
            send(s, result, out)
        except MemoryError:
            send(s, {"status": "memory", "message": "the results did not fit in memory", "seq": meta.get("seq"), "notes": []})
        if result["status"] == "crash":
            return


def install_guards(s: Session) -> None:
    """The blocker, the stand-ins, the patched exits (the audit hook comes with the ``load`` frame)."""
    sys.meta_path.insert(0, s.blocker)
    for name in list(sys.modules):
        if name.partition(".")[0] in BLOCKED_ROOTS:
            del sys.modules[name]
    sys.meta_path.append(s.cosmetic)  # type: ignore[arg-type]
    os._exit = s.fake_exit  # type: ignore[assignment]
    try:
        import posix

        posix._exit = s.fake_exit  # type: ignore[assignment]
    except ImportError:
        pass
    sys.argv = ["submission"]


def read_config(arg: str) -> dict[str, Any]:
    """The configuration named on the command line: ``fd:N``, a descriptor holding its JSON, read and closed.

    Never the JSON itself: a command line is readable by every user (rt26 L10; the grader's
    ``isolation.config_fd`` writes it; ``_launcher.py`` and ``_child.py`` each have this copy: neither imports anything of the harness).
    """
    if not arg.startswith("fd:"):
        raise ValueError(f"the configuration must be given as fd:N, got {arg[:40]!r}")
    fd = int(arg[3:])
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return json.loads(b"".join(chunks))


def main(argv: list[str]) -> None:
    global _W, _Mapping
    config = read_config(argv[1])
    for fd in (int(config["cmd_fd"]), int(config["res_fd"])):
        os.set_inheritable(fd, False)  # the submission's own subprocesses do not get the channels
    set_limits(int(config["memory"]), int(config["file_bytes"]), int(config["session_cpu"]), float(config["load_cpu"]))
    if config.get("site"):  # run with -S (namespaces): the packages bound into the sandbox (.pth files too, as site does), exit()/quit()
        import site

        site.setquit()
        for d in config["site"]:
            site.addsitedir(d)
    t0 = _perf()
    import collections.abc

    _W = load_wire(config["wire"])  # numpy comes with it, before the blocker and the submission
    _Mapping = collections.abc.Mapping
    s = Session(config)
    s.import_seconds = _perf() - t0
    install_guards(s)
    try:
        serve(s)
    except EOFError:
        return


_Mapping: Any = None


class _IPythonStub:
    """What ``get_ipython()`` returns: every method is a no-op returning ``None``."""

    def __getattr__(self, name: str) -> object:
        return lambda *args, **kwargs: None


if __name__ == "__main__":
    _status = 0
    try:
        main(sys.argv)
    except BaseException:  # a failure of the bootstrap itself: show it, exit 70 (EX_SOFTWARE)
        import traceback

        traceback.print_exc()
        _status = 70
    finally:
        for _stream in (sys.__stdout__, sys.__stderr__):
            try:
                _stream.flush()  # type: ignore[union-attr]
            except BaseException:
                pass
        _real_exit(_status)
