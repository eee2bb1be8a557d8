"""Spread independent float64 computations over forked worker processes.

The numerical engine's passes are many small numpy operations, which hold
the GIL for most of their time: threads do not run them in parallel (two
threads measured 10-30% *slower* than one on mnist_relu).  Processes do.
:func:`run_split` forks ``workers - 1`` children that inherit the whole
state (the model, the cached activations) copy-on-write, so nothing is
pickled or re-imported; each child computes its share of the tasks and
sends the raw float64 results back through a pipe.  The parent computes a
share too.

Forking is only used where it is safe and worth it:

* on Linux (``os.fork`` of a process using Apple's frameworks is unsafe);
* when the calling process runs no other thread than numpy's own
  BLAS/OpenMP pool workers (:func:`can_fork`): a child inherits only the
  forking thread, and a lock held by another thread at fork time (an import
  lock, a logging handler's lock, a native runtime's mutex: JAX, torch)
  would stay locked in the child forever.  Native threads count: they are
  read from ``/proc/self/task``, and numpy's pools are identified with
  ``threadpoolctl`` (a dependency; were it missing, every extra thread would count as foreign).
  OpenBLAS re-creates its workers in a child through its ``atfork``
  handlers; Python 3.12's ``DeprecationWarning`` about forking a
  multi-threaded process is silenced for them alone;
* when the caller asks for more than one worker.

Where another thread runs, :func:`run_split` uses *warm* workers instead:
fresh interpreters (``python -c``, started by fork and exec, which is safe
with threads) that import numpy and gradcheck once and then serve every
later :func:`run_split` of this process, until it exits (a worker reads
its commands from a pipe and leaves at end of file, so it never outlives
its parent).  The work (``run`` and the tasks) travels pickled; work that
cannot be pickled, or that a worker cannot unpickle (a model class defined
in ``__main__``), runs in the caller.  A fresh interpreter imports the
caller's modules afresh, so module-level state changed at run time is not
its own: three tasks of each worker's share are computed in the caller too
and must agree bit for bit, or the share is recomputed there (with a
:class:`GradcheckWorkerWarning`).  The engine therefore uses them only when
``workers`` asks for them (its default there is one process).  Not
multiprocessing's fork server: it re-runs the caller's unguarded
``__main__`` script in each worker.  (Nor does the grading pool use it:
its workers are fresh interpreters of its own entry point,
:mod:`gradcheck.grading._pool`.)

A child that dies (killed, out of memory), raises, or is still running
:data:`PATIENCE` times as long as the parent took for its own share (plus
:data:`GRACE_S`) is not fatal: it is killed and its share is computed again
in the parent, so the result never depends on it.
Results are bit-identical to a serial run whatever the start method: every
task is computed by the same code on the same data (inherited, or unpickled
bit for bit).
"""
from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import multiprocessing
import os
import pickle
import select
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import warnings
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from gradcheck._validate import check_int
from gradcheck.errors import GradcheckValueError

__all__ = ["WORKERS_ENV", "GradcheckWorkerWarning", "available_cpus", "can_fork", "ready_warm_workers", "run_split", "workers_from_env"]

T = TypeVar("T")

#: Environment variable that sets the default number of processes
#: (``1``: never fork), e.g. for a CI job or a grading pool.
WORKERS_ENV = "GRADCHECK_WORKERS"


def workers_from_env() -> int | None:
    """The process count ``$GRADCHECK_WORKERS`` sets, or ``None`` when it is unset or blank.

    >>> import os; os.environ.pop(WORKERS_ENV, None) and None
    >>> workers_from_env() is None
    True
    """
    env = os.environ.get(WORKERS_ENV, "").strip()
    if not env:
        return None
    if not env.isdigit() or int(env) < 1:
        raise GradcheckValueError(f"{WORKERS_ENV} must be a positive integer, got {WORKERS_ENV}={env!r}")
    return int(env)

#: A child may take this many times as long as the parent's own share ...
PATIENCE = 10.0
#: ... plus this many seconds, before it is killed and its share recomputed.
GRACE_S = 5.0

_OK = b"k"
_FAILED = b"e"
_READY = b"r"
#: Seconds a warm worker may take to start (import numpy and gradcheck) when ``workers`` asks for it.
WARM_START_S = 60.0


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one).

    Examples
    --------
    >>> available_cpus() >= 1
    True
    """
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def numpy_pool_threads() -> int | None:
    """Worker threads numpy's own BLAS/OpenMP pools run now, or ``None`` when they cannot be identified.

    The pools are identified with ``threadpoolctl`` (a dependency of the
    package; ``None`` if it cannot be imported): those of libraries that numpy
    ships (under ``numpy/`` or ``numpy.libs/``) or that numpy's build
    configuration names as its BLAS.  A pool of ``n`` threads runs ``n - 1``
    workers beside the calling thread.  OpenBLAS stops its workers before
    every fork and starts them again on its next threaded product, so for
    OpenBLAS the count is read from the library itself (``blas_server_avail``,
    ``blas_num_threads``); a pool whose live count cannot be read makes the
    answer ``None``.
    """
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return None
    root = os.path.dirname(os.path.abspath(np.__file__))
    roots = (root + os.sep, root + ".libs" + os.sep)
    try:
        blas = str(np.show_config(mode="dicts")["Build Dependencies"]["blas"].get("name", "")).lower()
    except Exception:  # noqa: BLE001 - an older numpy without the dict form: rely on the paths
        blas = ""
    total = 0
    for info in threadpool_info():
        path = os.path.abspath(str(info.get("filepath", "")))
        internal = str(info.get("internal_api", "")).lower()
        if not (path.startswith(roots) or (info.get("user_api") == "blas" and internal and internal in blas)):
            continue
        if int(info.get("num_threads", 1)) <= 1:
            continue
        live = _openblas_workers(path) if internal == "openblas" else None
        if live is None:
            return None
        total += live
    return total


def _openblas_workers(path: str) -> int | None:
    """Worker threads an OpenBLAS library runs right now (``None``: its state cannot be read)."""
    try:
        lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_NOLOAD", 0) | ctypes.RTLD_LOCAL)
        avail = ctypes.c_int.in_dll(lib, "blas_server_avail").value
        threads = ctypes.c_int.in_dll(lib, "blas_num_threads").value
    except (OSError, ValueError):
        return None
    return max(0, threads - 1) if avail else 0


def foreign_threads() -> int | None:
    """OS threads of this process other than the calling thread and numpy's pools (``None``: unknown).

    Native threads count too (a library's own pool, a JAX or torch runtime):
    ``threading`` does not see them, ``/proc/self/task`` does.
    """
    pools = numpy_pool_threads()
    if pools is None:
        return None
    try:
        n = len(os.listdir("/proc/self/task"))
    except OSError:
        return None
    return n - 1 - pools if n - 1 >= pools else None


def can_fork() -> bool:
    """Is :func:`run_split` allowed to fork here?

    Linux, no other Python thread, and no other native thread than numpy's
    own BLAS/OpenMP pools (:func:`foreign_threads`): a child inherits only
    the forking thread, and a lock another thread holds at fork time stays
    locked in the child forever.
    """
    return (sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1
            and foreign_threads() == 0)


def start_method() -> str | None:
    """The safe multiprocessing start method here: ``"fork"``, ``"forkserver"`` or ``None`` (not at all).

    ``"fork"`` where :func:`can_fork`; else, on Linux, ``"forkserver"``: the
    workers are forked from a separate single-threaded server process
    (started once, by fork and exec), so no thread of this process can hold
    a lock in them; the tasks then travel pickled.
    """
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return None
    if can_fork():
        return "fork"
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else None


def run_split(
    tasks: Sequence[T],
    run: Callable[[T], np.ndarray],
    sizes: Sequence[int],
    *,
    workers: int,
) -> list[np.ndarray]:
    """``[run(task) for task in tasks]``, with the tasks spread over ``workers`` processes.

    Parameters
    ----------
    tasks : sequence
        Independent tasks; ``run`` must not depend on what other tasks did.
    run : callable
        ``run(task)`` returns a float64 array of ``sizes[i]`` values
        (any shape; it comes back flat).
    sizes : sequence of int
        The number of values each task returns, known in advance.
    workers : int
        Processes to use, the caller's included.  With 1, everything runs
        in the caller; where :func:`can_fork` is false, the others are warm
        workers (waited for while they start; work they cannot take runs
        in the caller).

    Returns
    -------
    list of ndarray
        One flat float64 array per task, in the order of ``tasks``.

    Examples
    --------
    >>> out = run_split([1, 2, 3], lambda k: np.full(k, float(k)), [1, 2, 3], workers=2)
    >>> [a.tolist() for a in out]
    [[1.0], [2.0, 2.0], [3.0, 3.0, 3.0]]
    """
    check_int(workers, "workers", min_value=1)
    if len(sizes) != len(tasks):
        raise GradcheckValueError(f"sizes must have one entry per task ({len(tasks)}), got {len(sizes)}")
    serial = lambda share: [_flat(run(tasks[i]), sizes[i]) for i in share]
    shares = _shares(sizes, min(int(workers), len(tasks)))
    method = start_method() if len(shares) > 1 else None
    if method == "forkserver":
        return _run_warm(run, tasks, sizes, shares, serial)
    if method is None:
        return serial(range(len(tasks)))
    return _gather([(share, _fork(functools.partial(serial, share))) for share in shares[1:]], shares[0], sizes, serial)


def _gather(children: list[tuple[list[int], _Child | None]], own: list[int], sizes: Sequence[int],
            serial: Callable[[Sequence[int]], list[np.ndarray]], *, verify: bool = False) -> list[np.ndarray]:
    """Compute ``own`` here, then collect each child's share (recomputed here when it fails or is late).

    ``verify``: the children are not forks of this process (warm workers),
    so a few tasks of each share are computed here too and must agree bit
    for bit (:func:`_agrees`); a share that does not is recomputed here.
    """
    results: dict[int, np.ndarray] = {}
    try:
        for share, child in children:
            if child is None:
                results.update(zip(share, serial(share)))
        children = [(share, child) for share, child in children if child is not None]
        start = time.monotonic()
        results.update(zip(own, serial(own)))
        deadline = time.monotonic() + PATIENCE * (time.monotonic() - start) + GRACE_S
        for share, child in children:
            assert child is not None
            lengths = [sizes[i] for i in share]
            values = child.collect(sum(lengths), deadline)
            child.reap()
            parts = None if values is None else np.split(values, np.cumsum(lengths)[:-1])
            if parts is None or (verify and not _agrees(share, parts, serial)):
                parts = serial(share)
            results.update(zip(share, parts))
    finally:
        for _, child in children:
            if child is not None:
                child.reap()
    return [results[i] for i in range(len(sizes))]


class GradcheckWorkerWarning(UserWarning):
    """A worker process computed other values than this process would: its work was redone here."""


def _agrees(share: list[int], parts: list[np.ndarray], serial: Callable[[Sequence[int]], list[np.ndarray]]) -> bool:
    """Do the first, middle and last task of a worker's share, computed here, equal its values bit for bit?

    A fresh interpreter imports the caller's modules afresh: module-level
    state the caller changed at run time (a global set after import, a
    monkeypatch) is not the worker's, and its numbers would silently be
    another model's.  A disagreement is said (:class:`GradcheckWorkerWarning`).
    """
    picks = sorted({0, len(share) // 2, len(share) - 1})
    here = serial([share[j] for j in picks])
    if all(np.array_equal(a, parts[j], equal_nan=True) for a, j in zip(here, picks)):
        return True
    warnings.warn("a worker process (a fresh interpreter, used because another thread runs here) computed other "
                  "values than this process for the same tasks, so its share was computed here instead: module-level "
                  "state changed after import (a global, a monkeypatch) is not seen by a fresh interpreter; "
                  "pass workers=1 to skip the workers", GradcheckWorkerWarning, stacklevel=2)
    return False


def _flat(value: np.ndarray, size: int) -> np.ndarray:
    out = np.ascontiguousarray(value, dtype=np.float64).reshape(-1)
    if out.size != size:
        raise GradcheckValueError(f"a task returned {out.size} values, expected {size}")
    return out


def _shares(sizes: Sequence[int], workers: int) -> list[list[int]]:
    """Split task indices into ``workers`` lists of about equal total size (greedy, largest first)."""
    if workers <= 1:
        return [list(range(len(sizes)))]
    loads = [0] * workers
    shares: list[list[int]] = [[] for _ in range(workers)]
    for i in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        w = loads.index(min(loads))
        shares[w].append(i)
        loads[w] += sizes[i]
    return [sorted(s) for s in shares if s]


class _Child:
    """A worker: its results come through ``collect`` (``None``: recompute), ``reap`` ends it (idempotent)."""

    def collect(self, n_values: int, deadline: float) -> np.ndarray | None:
        raise NotImplementedError

    def reap(self) -> None:
        raise NotImplementedError


class _Forked(_Child):
    def __init__(self, pid: int, fd: int) -> None:
        self.pid, self.fd, self.done = pid, fd, False

    def collect(self, n_values: int, deadline: float) -> np.ndarray | None:
        return _collect(self.fd, n_values, deadline)

    def reap(self) -> None:
        if not self.done:
            self.done = True
            _reap(self.pid, self.fd)


class _Warm:
    """A warm worker: a fresh interpreter started once, serving every :func:`run_split` of this process.

    It reads one command line at a time from its stdin (the path of a
    pickled work file and the task indices of its share) and answers on
    its stdout with a status byte, an 8-byte length and the raw float64
    values (or a traceback).  At end of file on stdin (this process closed
    it, or died) it exits.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process, self.ready = process, False

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, timeout: float) -> bool:
        """True once the worker has said it is ready (waiting at most ``timeout`` seconds for it)."""
        if not self.ready and self.alive():
            assert self.process.stdout is not None
            fd = self.process.stdout.fileno()
            if select.select([fd], [], [], timeout)[0]:
                self.ready = os.read(fd, 1) == _READY
                if not self.ready:
                    self.kill()
        return self.ready and self.alive()

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class _Job(_Child):
    """One share of one :func:`run_split`, sent to a warm worker."""

    def __init__(self, worker: _Warm) -> None:
        self.worker, self.done = worker, False

    def collect(self, n_values: int, deadline: float) -> np.ndarray | None:
        assert self.worker.process.stdout is not None
        fd = self.worker.process.stdout.fileno()
        head = _read_exactly(fd, 9, deadline)
        data = None if head is None else _read_exactly(fd, int.from_bytes(head[1:], "big"), deadline)
        self.done = data is not None  # else late or dead: :meth:`reap` kills it, a new one starts when needed
        if head is None or data is None or head[:1] != _OK or len(data) != 8 * n_values:
            return None
        return np.frombuffer(data, dtype=np.float64).copy()

    def reap(self) -> None:
        if not self.done:  # no whole answer read (late, dead, or an error here): in an unknown state
            self.done = True
            self.worker.kill()


def _read_exactly(fd: int, n: int, deadline: float) -> bytes | None:
    """``n`` bytes from ``fd``, or ``None`` at end of file or when ``deadline`` passes first."""
    chunks, got = [], 0
    while got < n:
        if not select.select([fd], [], [], max(0.0, deadline - time.monotonic()))[0]:
            return None
        data = os.read(fd, min(n - got, 1 << 20))
        if not data:
            return None
        chunks.append(data)
        got += len(data)
    return b"".join(chunks)


_warm: list[_Warm] = []
_warm_owner: list[int] = []  # the pid that started them: a forked child of this process never uses them
_warm_lock = threading.Lock()


def _warm_workers(n: int) -> list[_Warm]:
    """Up to ``n`` warm workers of this process, started now where missing (ready or not)."""
    if _warm_owner != [os.getpid()]:
        _warm[:], _warm_owner[:] = [], [os.getpid()]
    _warm[:] = [w for w in _warm if w.alive()]
    while len(_warm) < n:
        worker = _start_warm()
        if worker is None:
            break
        _warm.append(worker)
    return _warm[:n]


def ready_warm_workers(n: int) -> int:
    """How many of ``n`` warm workers are ready now; those missing are started, without waiting for them.

    Lets a caller that will pass ``workers=`` where forking is unsafe start
    them ahead of time.  0 where :func:`run_split` would fork instead, off
    Linux, or when ``n < 1``.
    """
    if n < 1 or start_method() != "forkserver" or not _warm_lock.acquire(blocking=False):
        return 0
    try:
        return sum(w.wait_ready(0.0) for w in _warm_workers(n))
    finally:
        _warm_lock.release()


_WARM_MAIN = "from gradcheck.parallel import _warm_main; _warm_main()"


def _start_warm() -> _Warm | None:
    """Start one warm worker (fork and exec of this interpreter); ``None`` if it cannot start."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if isinstance(p, str) and p),
               **{WORKERS_ENV: "1"})
    try:
        process = subprocess.Popen([sys.executable, "-c", _WARM_MAIN], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, close_fds=True)
    except OSError:
        return None
    return _Warm(process)


@atexit.register
def _stop_warm() -> None:
    """Workers leave at end of file on their stdin; stop them with this process, not after it."""
    if _warm_owner == [os.getpid()]:
        for worker in _warm:
            worker.kill()


def _run_warm(run: Callable[[Any], np.ndarray], tasks: Sequence[Any], sizes: Sequence[int],
              shares: list[list[int]], serial: Callable[[Sequence[int]], list[np.ndarray]]) -> list[np.ndarray]:
    """:func:`run_split` over warm workers; serial when the work cannot be pickled or another thread uses them."""
    payload = _payload(run, tasks, sizes)
    if payload is None or not _warm_lock.acquire(blocking=False):
        return serial(range(len(tasks)))
    fd, path = tempfile.mkstemp(prefix="gradcheck-work-", suffix=".pickle")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
        workers = _warm_workers(len(shares) - 1)
        children: list[tuple[list[int], _Child | None]] = []
        for i, share in enumerate(shares[1:]):
            worker = workers[i] if i < len(workers) else None
            children.append((share, _send(worker, path, share) if worker is not None else None))
        return _gather(children, shares[0], sizes, serial, verify=True)
    finally:
        _warm_lock.release()
        with contextlib.suppress(OSError):
            os.unlink(path)


def _send(worker: _Warm, path: str, share: list[int]) -> _Child | None:
    """Give ``worker`` its share of the work in ``path``; ``None`` when it is not ready or cannot take it."""
    if not worker.wait_ready(WARM_START_S):
        worker.kill()
        return None
    assert worker.process.stdin is not None
    try:
        worker.process.stdin.write(f"{path}\t{','.join(map(str, share))}\n".encode())
        worker.process.stdin.flush()
    except OSError:
        worker.kill()
        return None
    return _Job(worker)


def _payload(run: Callable[[Any], np.ndarray], tasks: Sequence[Any], sizes: Sequence[int]) -> bytes | None:
    """The work, pickled for a warm worker, after this process's ``sys.path``; ``None`` when it cannot be pickled."""
    try:
        return (pickle.dumps(list(p for p in sys.path if isinstance(p, str)), protocol=pickle.HIGHEST_PROTOCOL)
                + pickle.dumps((run, list(tasks), list(sizes)), protocol=pickle.HIGHEST_PROTOCOL))
    except Exception:  # noqa: BLE001 - lambdas, closures, open files: whatever pickle refuses
        return None


def _warm_main() -> None:
    """In a warm worker: say ready, then answer each command line from stdin until end of file."""
    out = os.fdopen(os.dup(1), "wb")  # the answers' channel; what the work prints goes to /dev/null instead
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    out.write(_READY)
    out.flush()
    for line in sys.stdin.buffer:
        status, data = _answer(*line.decode().rstrip("\n").split("\t"))
        out.write(status + len(data).to_bytes(8, "big") + data)
        out.flush()


def _answer(path: str, share_text: str) -> tuple[bytes, bytes]:
    """One warm-worker job: status and raw values (or a traceback); the work is freed on return."""
    try:
        with open(path, "rb") as f:
            paths = pickle.load(f)
            sys.path[:] = paths + [p for p in sys.path if p not in paths]
            run, tasks, sizes = pickle.load(f)
        share = [int(i) for i in share_text.split(",")]
        return _OK, b"".join(_flat(run(tasks[i]), sizes[i]).tobytes() for i in share)
    except BaseException:  # noqa: BLE001 - the parent recomputes the share
        return _FAILED, traceback.format_exc().encode("utf-8", "replace")


def _fork(compute: Callable[[], list[np.ndarray]]) -> _Child:
    """Fork a child that runs ``compute`` and writes its results to a pipe."""
    read, write = os.pipe()
    with warnings.catch_warnings():
        # Python >= 3.12 warns whenever the process has several OS threads;
        # here those are only the BLAS pool's (see the module docstring).
        warnings.simplefilter("ignore", DeprecationWarning)
        pid = os.fork()
    if pid == 0:  # the child: never returns into the caller's stack
        code = 1
        try:
            os.close(read)
            try:
                payload = _OK + b"".join(a.tobytes() for a in compute())
            except BaseException:  # noqa: BLE001 - the parent recomputes the share
                payload = _FAILED + traceback.format_exc().encode("utf-8", "replace")
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return _Forked(pid, read)


def _collect(fd: int, n_values: int, deadline: float) -> np.ndarray | None:
    """The child's values, or ``None`` when it failed, died or missed ``deadline`` (the caller recomputes)."""
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            return None
        data = os.read(fd, 1 << 20)
        if not data:
            break
        chunks.append(data)
    data = b"".join(chunks)
    if data[:1] != _OK or len(data) != 1 + 8 * n_values:
        return None
    return np.frombuffer(data, dtype=np.float64, offset=1).copy()


def _reap(pid: int, fd: int) -> None:
    """Close the pipe and wait for the child, killing it first (it has either
    written everything it will ever write or is to be given up on)."""
    os.close(fd)
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        pass
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass
