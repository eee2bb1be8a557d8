"""Run an untrusted submission in a child process and get its gradients back.

A :class:`Sandbox` is a *session*: one child process per submission, started
once, which runs the submission's cells once and then answers many calls
(test points sent one by one, each twice for determinism, and the
re-calls of a property-based search shrinking a failure).

Isolation
---------
* A child process (``python -I``: no user site, no ``PYTHON*`` variables, the
  harness's directory not on ``sys.path``) in its own process group and a
  fresh temporary working directory (also ``HOME`` and ``TMPDIR``), deleted
  on :meth:`Sandbox.close`; a minimal environment (no inherited variables
  but ``PATH``); stdin is ``/dev/null``.
* Limits: ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` (soft: per call, hard: per
  session), ``RLIMIT_FSIZE``, no core dumps; a wall clock per call enforced
  by the parent, which kills the whole process group; stdout and stderr are
  read as they come and capped (beyond the cap: killed, verdict ``output``).
* ``gradcheck`` and ``reference_models`` cannot be imported in the child (a
  meta-path blocker installed before the submission runs; an attempt is the
  verdict ``forbidden`` even when the submission catches the ImportError).
* Results come back on a dedicated pipe (stdout belongs to the student) as
  a JSON header plus raw float64 bytes; the parent rebuilds every array with
  ``np.frombuffer`` and ``np.asarray(..., dtype=np.float64)``.  Never pickle.
* The parent trusts nothing the child computes about correctness: it gets
  the gradients, the forward output and copies of the inputs *as they are
  after the call*, and compares them itself (see ``docs/threat-model.md``).

Statuses
--------
``ok``, ``syntax``, ``missing``, ``error``, ``timeout``, ``memory``,
``output``, ``forbidden``, ``crash``, ``type`` (see :data:`STATUSES`).
``shape`` is not produced here: the caller decides it from the arrays.
After ``timeout``, ``output``, ``crash`` (and ``memory`` when the process
died of it) the session is dead: further calls return the same verdict at
once.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "sub.py").write_text("def backward(params, x, y):\\n    return {'w': 2 * params['w'] * x.sum()}\\n")
>>> with Sandbox(d / "sub.py", limits=Limits(wall_seconds=5)) as box:
...     r = box.call({"w": np.array([1.5])}, np.ones((2, 1)), np.zeros((2, 1)))
>>> box.load_status, r.status, r.grads["w"]
('ok', 'ok', array([6.]))
"""
from __future__ import annotations

import math
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import time
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from gradcheck.grading import _wire
from gradcheck.grading import isolation as _iso
from gradcheck.grading.isolation import Isolation, Level
from gradcheck.grading._wire import Key, ProtocolError
from gradcheck.grading.assignment import Limits, SubmissionSpec
from gradcheck.grading.loader import LoadedSubmission, load_submission, read_own_file, skipped_loop_hint
from gradcheck.grading.verdicts import CALL_STATUSES, CallStatus

__all__ = ["Limits", "CallResult", "Sandbox", "STATUSES", "DEAD_STATUSES", "CHILD_SCRIPT", "helper_name"]

#: Every status a verdict can have (:class:`gradcheck.grading.verdicts.CallStatus`).
STATUSES: tuple[str, ...] = CALL_STATUSES
#: Statuses after which the session is dead.
DEAD_STATUSES: frozenset[str] = frozenset({"timeout", "output", "crash"})
#: The child bootstrap.
CHILD_SCRIPT: Path = Path(__file__).with_name("_child.py")
#: The wire format, loaded by path in the child.
WIRE_SCRIPT: Path = Path(_wire.__file__)
#: The child's parent, which a submission may kill (``os.kill(os.getppid(), ...)``) without harm.
LAUNCHER_SCRIPT: Path = Path(__file__).with_name("_launcher.py")

_MAX_MESSAGE = 8000
#: Statuses the child may report itself (timeouts and bad output are the parent's to see).
_CHILD_STATUSES = frozenset(CALL_STATUSES) - {CallStatus.TIMEOUT.value, CallStatus.OUTPUT.value}
_MEMORY_HINTS = ("MemoryError", "Cannot allocate memory", "bad_alloc", "Unable to allocate", "out of memory")
_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


@dataclass(frozen=True)
class CallResult:
    """What one call of the submission produced.

    Attributes
    ----------
    status : str
        One of :data:`STATUSES`.
    message : str
        Empty for ``ok``; otherwise one explanation for the student (for
        ``error``, the exception and a traceback cut to the submission's frames).
    grads : dict of str to ndarray, or None
        float64 gradients keyed by *reference* parameter names (a gradient
        the submission did not return is absent); ``None`` unless ``ok``.
    forward : ndarray or None
        The forward pass's output, when it was checked and succeeded.
    after : dict of str to ndarray, or None
        The inputs as they were *after* the call, to detect mutation:
        ``"params.W1"``, ``"x"``, ``"y"`` for backward and
        ``"forward.params.W1"``, ``"forward.x"``, ``"forward.y"`` for the
        forward pass.  ``None`` when the process died.
    forward_status : str or None
        Status of the forward call (``None``: not checked).
    forward_message : str
    notes : tuple of str
        Observations that are not failures (a dict without one gradient ...).
    output : str
        What the submission printed during this call (capped).
    seconds : float
        Wall-clock time of the round trip.
    evaluations : dict
        What backward did that only a numerical gradient does, as the child
        counted it (see :func:`_evaluations`): ``forward_calls``,
        ``complex_values`` (non-negative int) and ``profiler_removed`` (bool).
    call : int
        The session's number of the call that failed (1: the first call):
        this one's, for a call that did not return ``ok`` (a ``memory`` the
        child caught too, rt24 N6); the one that ended the session, for a
        call after a :data:`DEAD_STATUSES` status; 0 for a call that returned.
    """

    status: str
    message: str
    grads: dict[str, np.ndarray] | None
    forward: np.ndarray | None
    after: dict[str, np.ndarray] | None
    forward_status: str | None = None
    forward_message: str = ""
    notes: tuple[str, ...] = ()
    output: str = ""
    seconds: float = 0.0
    evaluations: dict[str, Any] = field(default_factory=dict)
    call: int = 0


_AFTER_ROLES = {
    _wire.AFTER_PARAM: "params.",
    _wire.AFTER_INPUT: "",
    _wire.AFTER_FORWARD_PARAM: "forward.params.",
    _wire.AFTER_FORWARD_INPUT: "forward.",
}


def _after_label(key: Key) -> str:
    """The key of :attr:`CallResult.after` for an input sent back after a call (``"params.W1"``, ``"forward.x"``)."""
    return _AFTER_ROLES[key.role] + key.name


def _load_ends(meta: dict[str, Any]) -> bool:
    return meta.get("status") != "ok"


def _call_ends(meta: dict[str, Any]) -> bool:
    return meta.get("status") == "crash"


def _text(value: Any, limit: int = _MAX_MESSAGE) -> str:
    s = value if isinstance(value, str) else ""
    return s if len(s) <= limit else s[: limit - 20] + " ... (cut)"


def _texts(value: Any) -> tuple[str, ...]:
    return tuple(_text(v, 2000) for v in value[:200]) if isinstance(value, list) else ()


def _evaluations(value: Any) -> dict[str, Any]:
    """The child's counts, untrusted: non-negative ints (capped) and a bool, anything else dropped."""
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {k: min(v, 1 << 40) for k in ("forward_calls", "complex_values")
                           if type(v := value.get(k)) is int and v >= 0}
    if type(value.get("profiler_removed")) is bool:
        out["profiler_removed"] = value["profiler_removed"]
    return out


def _real_array(value: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(value)
    except Exception as exc:
        raise TypeError(f"{name} must be an array of real numbers, got {type(value).__name__} ({exc})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of real numbers, got dtype {a.dtype}")
    return np.array(a, dtype=np.float64, copy=True)


#: Processes the sandbox's uid may have at once (``RLIMIT_NPROC``, at the ``uid`` and ``namespaces`` levels).
DEFAULT_PROCESSES = 64
#: Largest total size of the helper files placed beside a submission.
MAX_HELPER_BYTES = 4 << 20


def helper_name(path: str | Path, base: str | Path) -> str:
    """Where a helper file goes in the sandbox's working directory: its path relative to ``base`` inside it, else its name.

    ``base`` is the graded file's folder: a module of a package the
    submission imports keeps its place (``lib/act.py``, rt23 F9), a helper
    beside the graded file (or a copy staged elsewhere) is its name.  No link
    is resolved.

    >>> helper_name("/c/kim/lib/act.py", "/c/kim"), helper_name("/c/kim/utils.py", "/c/kim"), helper_name("/tmp/s/utils.py", "/c/kim")
    ('lib/act.py', 'utils.py', 'utils.py')
    """
    try:
        return Path(os.path.abspath(path)).relative_to(os.path.abspath(base)).as_posix()
    except ValueError:
        return Path(path).name


def _helper_problem(p: Path, name: str, base: Path, taken: Sequence[str]) -> str | None:
    """Why the helper ``p`` (``name`` in the sandbox) is not placed: a link on its way, hidden, given twice; ``None``: fine."""
    on_the_way = [base.joinpath(*Path(name).parts[:i]) for i in range(1, len(Path(name).parts) + 1)]
    link = next((q for q in (p, *on_the_way) if q.is_symlink()), None)
    if link is not None:
        return f"{str(link)!r} is a symbolic link (to {os.readlink(link)!r}); links are not followed"
    if any(part.startswith(".") for part in Path(name).parts) or name in taken:
        return f"{name!r} is hidden or given twice"
    return None


def _read_helpers(paths: Sequence[str | Path], base: Path) -> list[list[str]]:
    """``[name, text]`` of each helper file (a module the submission imports, placed in its working directory by :func:`helper_name`)."""
    if isinstance(paths, (str, Path)) or not isinstance(paths, Sequence):
        raise TypeError(f"extra_files must be a sequence of paths, got extra_files={paths!r}")
    out: list[list[str]] = []
    total = 0
    for raw in paths:
        p = Path(raw)
        name = helper_name(p, base)
        problem = _helper_problem(p, name, base, [n for n, _ in out])
        if problem is not None:
            raise ValueError(f"extra_files: {problem}")
        if not p.is_file():
            raise FileNotFoundError(f"extra_files: {str(p)!r} is not a file")
        text = read_own_file(p).decode("utf-8", errors="replace")
        total += len(text)
        if total > MAX_HELPER_BYTES:
            raise ValueError(f"extra_files: more than {MAX_HELPER_BYTES} bytes in all")
        out.append([name, text])
    return out


def _harness_dirs() -> list[str]:
    """The directories of the answer key and of the harness, which the child refuses to open."""
    import reference_models

    return [str(Path(reference_models.__file__).resolve().parent), str(Path(__file__).resolve().parent.parent)]


def _rmtree(path: str) -> None:
    """Remove the tree at ``path``, even directories the submission made read-only; never touches anything outside it."""
    root = os.path.abspath(path)

    def fix(func: Any, p: str, exc: Any) -> None:
        err = exc[1] if isinstance(exc, tuple) else exc
        if isinstance(err, FileNotFoundError):
            return  # already gone (the launcher cleans up too)
        try:
            parent = os.path.dirname(os.path.abspath(p))
            if parent == root or parent.startswith(root + os.sep):
                os.chmod(parent, stat.S_IRWXU)
            if os.path.abspath(p) != root:
                os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    if not os.path.lexists(root):
        return
    if sys.version_info >= (3, 12):
        shutil.rmtree(root, onexc=fix)
    else:
        shutil.rmtree(root, onerror=fix)


@dataclass
class _Exchange:
    """The state of one request/answer exchange with the child."""

    pending: memoryview
    max_payload: int
    ends: Callable[[dict[str, Any]], bool]
    out_open: bool = True


class _Process:
    """The launcher process, its pipes, its uid lease: everything :meth:`shutdown` must release."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.out_fd = -1
        self.cmd_fd = -1
        self.res_fd = -1
        self.lifeline = -1  # closing it tells the launcher to kill everything and leave
        self.tmpdir: str | None = None
        self.lease: _iso.UidLease | None = None
        self.exit: tuple[int, float] | None = None  # (exit code, CPU seconds)
        self.killed = False
        self.supervised = False  # uid, namespaces: the launcher is out of the submission's reach

    def reap(self, *, block: bool) -> bool:
        if self.exit is not None:
            return True
        if self.proc is None:
            return False
        try:
            pid, status, usage = os.wait4(self.proc.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.exit = (self.proc.returncode if self.proc.returncode is not None else -1, 0.0)
            return True
        if pid == 0:
            return False
        code = os.waitstatus_to_exitcode(status)
        self.proc.returncode = code
        self.exit = (code, usage.ru_utime + usage.ru_stime)
        return True

    def kill(self) -> None:
        """End the sandbox: its launcher kills every process of it (lifeline), else SIGKILL to the launcher's group.

        At ``process`` too the launcher is given its chance first: it alone
        can kill the detached processes it adopted as a child subreaper.
        """
        if self.proc is None or self.exit is not None and self.killed:
            return
        if self.lifeline >= 0:
            os.close(self.lifeline)
            self.lifeline = -1
            deadline = time.monotonic() + 2.0
            while not self.reap(block=False) and time.monotonic() < deadline:
                time.sleep(0.002)
        try:
            if self.exit is None:
                os.killpg(self.proc.pid, signal.SIGKILL)  # before reaping, so the group id cannot be reused
                self.killed = True
                if self.supervised and self.lease is not None:  # the launcher could not finish: kill the uid from here
                    _iso.kill_uid(self.lease.uid, self.lease.gid)
        except (ProcessLookupError, PermissionError):
            pass
        self.reap(block=True)

    def shutdown(self) -> None:
        self.kill()
        if self.proc is not None and self.proc.stdout is not None:
            # through its file object, once: an os.close of the number followed by the file object's own close
            # when it is dropped closed the number twice, by then another thread's new pipe (seen under load)
            self.proc.stdout.close()
            self.out_fd = -1
        for name in ("out_fd", "cmd_fd", "res_fd", "lifeline"):
            fd = getattr(self, name)
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
                setattr(self, name, -1)
        if self.tmpdir is not None:
            _rmtree(self.tmpdir)
            self.tmpdir = None
        if self.lease is not None:  # only now: every process that ran as its uid is gone
            self.lease.release()
            self.lease = None


class Sandbox:
    """A session with one submission in its own child process.

    Parameters
    ----------
    path : str or Path
        The ``.py`` or ``.ipynb`` submission.
    spec : SubmissionSpec, optional
        The calling convention (default: ``backward(params, x, y) -> dict``,
        optional ``forward(params, x)``).
    limits : Limits, optional
    extra_files : sequence of str or Path
        Helper modules the submission imports, written into its working
        directory where :func:`helper_name` says (``lib/act.py`` for a
        package beside it); symbolic links are refused.
    seed : int
        Seeds the child's global ``np.random``, ``random`` and unseeded
        ``np.random.default_rng()`` once, before the submission loads: the
        same submission draws the same numbers on every run, and two calls
        still draw different ones (rt20 F4).

    Attributes
    ----------
    load_status : str
        ``ok`` or the verdict that ended the session while loading.
    load_message : str
    found_names : tuple of str
        Functions and classes the submission defined.
    notes : tuple of str
        What the loader skipped or rewrote, cells that failed, a missing forward.
    load_output : str
        What the submission printed while loading (capped).
    has_forward : bool
        Whether the forward pass is checked in each call.
    start_seconds : float
        Wall clock from spawning the child to its answer to ``load``.
    import_seconds : float
        The child's numpy import (part of ``start_seconds``).

    Notes
    -----
    Not thread-safe: use one sandbox per thread (sandboxes in different
    threads are independent).  Use as a context manager, or call
    :meth:`close`; a sandbox that is garbage-collected is closed too.
    """

    def __init__(
        self,
        path: str | Path,
        spec: SubmissionSpec | None = None,
        *,
        limits: Limits | None = None,
        isolation: "str | Level | Isolation" = _iso.AUTO,
        extra_files: Sequence[str | Path] = (),
        seed: int = 0,
    ) -> None:
        if not isinstance(path, (str, Path)):
            raise TypeError(f"path must be a str or Path, got path={path!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be an int >= 0, got seed={seed!r}")
        if spec is None:
            spec = SubmissionSpec()
        if not isinstance(spec, SubmissionSpec):
            raise TypeError(f"spec must be a SubmissionSpec, got spec={spec!r}")
        if limits is None:
            limits = Limits()
        if not isinstance(limits, Limits):
            raise TypeError(f"limits must be a Limits, got limits={limits!r}")
        self.path = Path(path)
        self.spec = spec
        self.limits = limits
        self._isolation = isolation if isinstance(isolation, Isolation) else _iso.resolve(isolation)
        self._helpers = _read_helpers(extra_files, self.path.parent)
        self._seed = seed
        self.load_status = "ok"
        self.load_message = ""
        self.load_facts: dict[str, Any] = {}  # for "missing": kind, name, owner, found, close (see _child.missing_facts)
        self.found_names: tuple[str, ...] = ()
        self.notes: tuple[str, ...] = ()
        self.load_output = ""
        self.has_forward = False
        # the module's small global numeric arrays, by name (read from the load answer, at most 4)
        self.module_globals: dict[str, np.ndarray] = {}
        self.start_seconds = 0.0
        self.import_seconds = 0.0
        self._p = _Process()
        self._finalizer = weakref.finalize(self, self._p.shutdown)
        self._dead: tuple[str, str] | None = None
        self._died_in = 0  # the call that ended the session (0: loading, or not ended)
        self._seq = 0
        self._out_total = 0
        self._phase_out: list[bytes] = []
        self._res_buf = bytearray()
        self._spec_json = spec.to_json()
        loaded = load_submission(self.path, skip_loops=spec.skip_loops, skip_main=spec.skip_main, max_source=self.limits.source_bytes)
        self.notes = loaded.notes
        self._skipped_loops = loaded.skipped_loops
        verdict = self._precheck(loaded)
        if verdict is not None:
            self._die(*verdict, load=True)
            return
        self._start(loaded)

    # -- public ------------------------------------------------------------------
    @property
    def isolation(self) -> Level:
        """The isolation level this sandbox runs at (see :mod:`gradcheck.grading.isolation`)."""
        return self._isolation.level

    @property
    def alive(self) -> bool:
        """Whether calls still reach the submission."""
        return self._dead is None

    def call(self, params: Mapping[str, Any], x: Any, y: Any) -> CallResult:
        """Call the submission's backward (and forward) at one point.

        Parameters
        ----------
        params : mapping of str to array-like
            Parameters keyed by reference names (arrays of real numbers).
        x, y : array-like
            The batch.

        Returns
        -------
        CallResult
        """
        if not isinstance(params, Mapping) or not params:
            raise TypeError(f"params must be a non-empty dict of str to arrays, got params={type(params).__name__}")
        p: dict[str, np.ndarray] = {}
        for k, v in params.items():
            if not isinstance(k, str) or not k:
                raise TypeError(f"params keys must be non-empty str, got key {k!r}")
            p[k] = _real_array(v, f"params[{k!r}]")
        xa, ya = _real_array(x, "x"), _real_array(y, "y")
        if self._dead is not None:
            return CallResult(self._dead[0], self._dead[1], None, None, None, call=self._died_in)
        t0 = time.monotonic()
        self._seq += 1
        total = sum(a.size for a in p.values()) + xa.size + ya.size
        max_elements = max(16 * total, 1 << 20)
        meta = {
            "op": "call",
            "seq": self._seq,
            "param_names": list(p),
            "spec": self._spec_json,
            "cpu_seconds": self.limits.cpu_seconds,
            "max_elements": max_elements,
        }
        frame = _wire.encode(meta, [(Key(_wire.PARAM, k), v) for k, v in p.items()] + [(Key(_wire.INPUT, "x"), xa), (Key(_wire.INPUT, "y"), ya)])
        max_payload = 8 * (4 * total + max_elements * (len(p) + 1)) + (1 << 20)
        self._phase_out = []
        outcome, rmeta, arrays = self._exchange(frame, t0 + self.limits.wall_seconds, max_payload, ends=_call_ends)
        output = self._phase_text()
        seconds = time.monotonic() - t0
        if outcome == "ok" and rmeta is not None and rmeta.get("seq") != self._seq:
            outcome = "protocol"
        if outcome != "ok" or rmeta is None or arrays is None:
            status, message = self._verdict(outcome, f"during call {self._seq}")
            self._die(status, message)
            return CallResult(status, message, None, None, None, output=output, seconds=seconds, call=self._died_in)
        status = str(rmeta.get("status"))
        if status not in _CHILD_STATUSES or status in ("syntax", "missing"):
            status, message = self._verdict("protocol", f"during call {self._seq}")
            self._die(status, message)
            return CallResult(status, message, None, None, None, output=output, seconds=seconds, call=self._died_in)
        message = self._explained(status, _text(rmeta.get("message")))
        f_status = rmeta.get("forward_status")
        if f_status is not None and f_status not in _CHILD_STATUSES:
            f_status = "crash"
        grads = {k.name: v for k, v in arrays.items() if k.role == _wire.GRAD} if status == "ok" else None
        after = {_after_label(k): v for k, v in arrays.items() if k.role in _AFTER_ROLES} or None
        result = CallResult(
            status,
            message,
            grads,
            arrays.get(Key(_wire.FORWARD, "")) if f_status == "ok" else None,
            after,
            f_status,
            self._explained(str(f_status), _text(rmeta.get("forward_message"))),
            _texts(rmeta.get("notes")),
            output, seconds, _evaluations(rmeta.get("evaluations")),
        )
        if status == "crash":
            self._die(status, message)
        return result if status == "ok" else replace(result, call=self._seq)

    def close(self) -> None:
        """Kill the child (and its process group), close the pipes, delete the working directory."""
        if self._dead is None:
            self._dead = ("crash", "the sandbox was closed")
        self._finalizer()

    def __enter__(self) -> "Sandbox":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "alive" if self.alive else f"dead ({self._dead[0] if self._dead else ''})"
        return f"Sandbox({str(self.path)!r}, load_status={self.load_status!r}, {state})"

    # -- loading -------------------------------------------------------------------
    def _precheck(self, loaded: LoadedSubmission) -> tuple[str, str] | None:
        name = self.path.name
        if loaded.error is not None:
            return loaded.error_verdict, f"{name}: {loaded.error}"
        if not loaded.cells or not any(c.source.strip() for c in loaded.cells):
            return "missing", f"{name} has no code: {self._expected()} was not found"
        runnable = [c for c in loaded.cells if c.syntax_error is None]
        if not runnable:
            first = loaded.cells[0]
            where = first.filename if loaded.kind == "ipynb" else name
            return "syntax", f"{where}: {first.syntax_error}"
        return None

    def _expected(self) -> str:
        s = self.spec
        return f"class {s.class_name} with method {s.backward}" if s.style == "class" else f"function {s.backward}"

    def _spawn(self) -> None:
        """Start the launcher (and through it the child) at this sandbox's isolation level."""
        lim = self.limits
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()
        life_r, life_w = os.pipe()
        self._p.cmd_fd, self._p.res_fd, self._p.lifeline = cmd_w, res_r, life_w
        self._p.supervised = self.isolation is not Level.PROCESS
        child_config = {
            "cmd_fd": cmd_r, "res_fd": res_w, "memory": lim.memory_bytes, "file_bytes": lim.file_bytes,
            "session_cpu": int(math.ceil(lim.session_cpu_seconds)), "load_cpu": float(max(lim.cpu_seconds, lim.load_seconds)),
            "harness_dirs": _harness_dirs(),
        }
        env = {"PATH": os.environ.get("PATH", os.defpath), "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MPLBACKEND": "Agg", **{v: "1" for v in _THREAD_VARS}}
        config_fds: tuple[int, ...] = ()
        try:
            launch = _iso.plan_launch(
                self._isolation,
                scripts={"launcher": LAUNCHER_SCRIPT, "child": CHILD_SCRIPT, "wire": WIRE_SCRIPT},
                child_config=child_config,
                env=env,
                launcher_config={"fds": [cmd_r, res_w], "lifeline": life_r},
                nproc=DEFAULT_PROCESSES,
                tmp_bytes=lim.file_bytes,
                hide=[str(self.path.resolve().parent), os.getcwd()],
            )
            self._p.tmpdir, self._p.lease, config_fds = launch.workdir, launch.lease, launch.fds
            lease_fds = (launch.lease.fd,) if launch.lease is not None else ()
            self._p.proc = subprocess.Popen(
                launch.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                cwd=launch.cwd,
                env=launch.env,
                pass_fds=(cmd_r, res_w, life_r, *lease_fds, *config_fds),
                start_new_session=True,
            )
        finally:
            for fd in (cmd_r, res_w, life_r, *config_fds):
                os.close(fd)

    def _start(self, loaded: LoadedSubmission) -> None:
        t0 = time.monotonic()
        lim = self.limits
        self._spawn()
        assert self._p.proc is not None and self._p.proc.stdout is not None
        self._p.out_fd = self._p.proc.stdout.fileno()
        for fd in (self._p.out_fd, self._p.cmd_fd, self._p.res_fd):
            os.set_blocking(fd, False)
        cells = [{"filename": c.filename, "source": c.source, "syntax_error": c.syntax_error} for c in loaded.cells]
        load = {"op": "load", "cells": cells, "spec": self._spec_json, "filename": self.path.name, "files": self._helpers, "seed": self._seed}
        frame = _wire.encode(load, [])
        outcome, meta, arrays = self._exchange(frame, t0 + lim.load_seconds, 1 << 20, ends=_load_ends)
        self.load_output = self._phase_text()
        self.start_seconds = time.monotonic() - t0
        if outcome != "ok" or meta is None:
            self._die(*self._verdict(outcome, "while loading the submission"), load=True)
            return
        status = meta.get("status")
        self.found_names = tuple(n for n in meta.get("found", []) if isinstance(n, str))[:200]
        self.notes = self.notes + _texts(meta.get("notes"))
        self.import_seconds = float(meta.get("import_seconds", 0.0) or 0.0)
        self.has_forward = bool(meta.get("has_forward"))
        self.module_globals = {k.name: a for k, a in (arrays or {}).items() if k.role == _wire.GLOBAL and np.isfinite(a).all()}
        if status not in _CHILD_STATUSES or status == "type":
            self._die(*self._verdict("protocol", "while loading the submission"), load=True)
        elif status != "ok":
            self.load_facts = _missing_facts(meta.get("missing"))
            self._die(status, self._explained(status, _text(meta.get("message"))), load=True)

    def _explained(self, status: str, message: str) -> str:
        """``message``, and which skipped top-level loop sets what an ``error`` names (see :func:`skipped_loop_hint`)."""
        hint = skipped_loop_hint(message, self._skipped_loops) if status == "error" else None
        return message if hint is None else f"{message}\n\n{hint}"

    # -- plumbing ------------------------------------------------------------------
    def _die(self, status: str, message: str, *, load: bool = False) -> None:
        if load:
            self.load_status, self.load_message = status, message
        if self._dead is None:
            self._dead = (status, message)
            self._died_in = 0 if load else self._seq
        self._p.kill()

    def _phase_text(self) -> str:
        return b"".join(self._phase_out).decode("utf-8", errors="replace")

    def _take_output(self, data: bytes) -> bool:
        """Keep ``data`` within the cap; True when the cap is exceeded."""
        room = self.limits.output_bytes - self._out_total
        if room > 0:
            self._phase_out.append(data[:room])
        self._out_total += len(data)
        return self._out_total > self.limits.output_bytes

    def _drain_output(self) -> bool:
        while self._p.out_fd >= 0:
            try:
                data = os.read(self._p.out_fd, 1 << 16)
            except (BlockingIOError, InterruptedError):
                return False
            if not data:
                return False
            if self._take_output(data):
                return True
        return False

    # Long: one select loop that must see every pipe event in one place (see its docstring);
    # helper sandbox is reworking sandbox.py this session.
    def _exchange(  # noqa: C901 - one select loop over the child's pipes: every limit and timeout path in one place, to audit together
        self, frame: bytes, deadline: float, max_payload: int, *, ends: Callable[[dict[str, Any]], bool]
    ) -> tuple[str, dict[str, Any] | None, dict[Key, np.ndarray] | None]:
        """Send ``frame``; read output and one result frame until ``deadline``.

        Returns ``(outcome, meta, arrays)`` with outcome ``ok``, ``timeout``,
        ``output``, ``died`` or ``protocol``.  ``ends(meta)`` says whether
        the child ends by design after this answer (a failed load, a crash):
        then its exit is expected, not a sign that the submission killed its
        launcher.  (Treating every exit after an answer as a death made a
        ``missing`` verdict turn into ``crash`` about one run in 40 under
        load: the child and the launcher had exited before the answer was read.)
        """
        p = self._p
        sel = selectors.DefaultSelector()
        ex = _Exchange(memoryview(frame), max_payload, ends)
        try:
            sel.register(p.out_fd, selectors.EVENT_READ, "out")
            sel.register(p.res_fd, selectors.EVENT_READ, "res")
            sel.register(p.cmd_fd, selectors.EVENT_WRITE, "cmd")
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return "timeout", None, None
                events = sel.select(min(remaining, 0.25))
                for key, _ in events:
                    handler = {"cmd": self._send_some, "out": self._read_output}.get(key.data, self._read_result)
                    done = handler(sel, ex)
                    if done is not None:
                        return done
                if not events and p.reap(block=False):
                    self._drain_output()
                    return "died", None, None
        finally:
            sel.close()

    def _send_some(self, sel: selectors.BaseSelector, ex: "_Exchange") -> None:
        """Write what the pipe takes of the pending command."""
        try:
            n = os.write(self._p.cmd_fd, ex.pending[: 1 << 16])
        except (BlockingIOError, InterruptedError):
            return None
        except (BrokenPipeError, ConnectionResetError):
            sel.unregister(self._p.cmd_fd)
            return None
        ex.pending = ex.pending[n:]
        if not ex.pending:
            sel.unregister(self._p.cmd_fd)
        return None

    def _read_output(self, sel: selectors.BaseSelector, ex: "_Exchange") -> "tuple[str, None, None] | None":
        """Take what the submission printed; ``output`` beyond the cap."""
        try:
            data = os.read(self._p.out_fd, 1 << 16)
        except (BlockingIOError, InterruptedError):
            return None
        if not data:
            sel.unregister(self._p.out_fd)
            ex.out_open = False
        elif self._take_output(data):
            return "output", None, None
        return None

    def _read_result(self, sel: selectors.BaseSelector, ex: "_Exchange") -> "tuple[str, dict[str, Any] | None, dict[Key, np.ndarray] | None] | None":
        """Read the result channel; the exchange's outcome once a whole frame (or the end) is there."""
        try:
            data = os.read(self._p.res_fd, 1 << 20)
        except (BlockingIOError, InterruptedError):
            return None
        if not data:
            if ex.out_open:
                self._drain_output()
            return "died", None, None
        self._res_buf += data
        try:
            got = _wire.decode(self._res_buf, ex.max_payload)
        except ProtocolError:
            return "protocol", None, None
        if got is None:
            return None
        meta, arrays, used = got
        del self._res_buf[:used]
        if self._drain_output():
            return "output", None, None
        if not ex.ends(meta) and self._p.reap(block=False):  # the launcher is gone: the submission killed it
            return "died", None, None
        return "ok", meta, arrays

    def _in_time(self, when: str) -> str:
        """That the calls before the one that ran out of time had finished in time (``""`` while loading, or at the first call)."""
        if "loading" in when or self._seq <= 1:
            return ""
        return "; call 1 had finished in time" if self._seq == 2 else f"; calls 1 to {self._seq - 1} had finished in time"

    def _verdict(self, outcome: str, when: str) -> tuple[str, str]:
        """Status and message for a session that ended with ``outcome``."""
        lim = self.limits
        p = self._p
        if outcome == "timeout":
            seconds = lim.load_seconds if "loading" in when else lim.wall_seconds
            return "timeout", f"the submission took longer than {seconds:g} s (wall clock) {when} and was stopped{self._in_time(when)}"
        if outcome == "output":
            return "output", (f"the submission printed more than {lim.output_bytes} bytes in all {when} and was stopped: the limit "
                              "covers everything it prints while it is graded (loading and every call), not one call")
        if outcome == "protocol":
            return "crash", f"the submission corrupted the grader's result channel {when}"
        deadline = time.monotonic() + 1.0
        while not p.reap(block=False) and time.monotonic() < deadline:
            time.sleep(0.005)
        if p.exit is None:
            p.kill()
            return "crash", f"the submission closed the grader's result channel {when}"
        code, cpu = p.exit or (-1, 0.0)
        if self.isolation is Level.NAMESPACES and 128 < code < 128 + 65:
            code = 128 - code  # pid 1 of a namespace cannot re-raise the child's signal on itself: 128 + signal
        tail = b"".join(self._phase_out)[-4000:].decode("utf-8", errors="replace")
        if code == -signal.SIGXCPU or (code == -signal.SIGKILL and cpu >= lim.session_cpu_seconds - 1):
            return "timeout", f"the submission used more than its CPU time ({lim.cpu_seconds:g} s per call) {when} and was stopped{self._in_time(when)}"
        if any(h in tail for h in _MEMORY_HINTS):
            return "memory", f"the submission ran out of memory (limit {lim.memory_bytes >> 20} MB) {when}"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return "crash", f"the process died of {name} {when}"
        if code == 70 and "Traceback" in tail:
            return "crash", f"the grader's child process failed {when}:\n{tail[-1500:]}"
        return "crash", f"the process exited with code {code} {when} (os._exit or another hard exit)"


def _missing_facts(raw: Any) -> dict[str, Any]:
    """The child's facts about what is missing, kept only as short strings and lists of them (it is not trusted)."""
    if not isinstance(raw, dict) or raw.get("kind") not in ("function", "class", "method"):
        return {}
    out: dict[str, Any] = {}
    for key in ("kind", "name", "owner"):
        if isinstance(raw.get(key), str):
            out[key] = raw[key][:100]
    for key in ("found", "close"):
        value = raw.get(key)
        out[key] = [v[:100] for v in value[:30] if isinstance(v, str)] if isinstance(value, list) else []
    return out
