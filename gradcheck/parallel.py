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
* when the calling process runs no other Python thread: a child inherits
  only the forking thread, and a lock held by another thread at fork time
  (an import lock, a logging handler's lock) would stay locked in the
  child forever.  The only other threads then are the BLAS library's idle
  workers, which OpenBLAS re-creates in a child through its ``atfork``
  handlers; Python 3.12's ``DeprecationWarning`` about forking a
  multi-threaded process is silenced for them alone;
* when the caller asks for more than one worker.

A child that dies (killed, out of memory), raises, or is still running
:data:`PATIENCE` times as long as the parent took for its own share (plus
:data:`GRACE_S`) is not fatal: it is killed and its share is computed again
in the parent, so the result never depends on it.
Results are bit-identical to a serial run: every task is computed by the
same code on the same inherited data.
"""
from __future__ import annotations

import os
import select
import sys
import time
import threading
import traceback
import warnings
from typing import Callable, Sequence, TypeVar

import numpy as np

from gradcheck._validate import check_int
from gradcheck.errors import GradcheckValueError

__all__ = ["WORKERS_ENV", "available_cpus", "can_fork", "run_split", "workers_from_env"]

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


def can_fork() -> bool:
    """Is :func:`run_split` allowed to fork here (Linux, no other Python thread)?"""
    return sys.platform.startswith("linux") and hasattr(os, "fork") and threading.active_count() == 1


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
        Processes to use, the caller's included.  With 1, or where
        :func:`can_fork` is false, everything runs in the caller.

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
    if len(shares) <= 1 or not can_fork():
        return serial(range(len(tasks)))
    children = []
    results: dict[int, np.ndarray] = {}
    reaped: set[int] = set()
    try:
        for share in shares[1:]:
            children.append((share, _fork(lambda share=share: serial(share))))
        start = time.monotonic()
        results.update(zip(shares[0], serial(shares[0])))
        deadline = time.monotonic() + PATIENCE * (time.monotonic() - start) + GRACE_S
        for share, (pid, fd) in children:
            lengths = [sizes[i] for i in share]
            values = _collect(fd, sum(lengths), deadline)
            _reap(pid, fd)
            reaped.add(pid)
            parts = serial(share) if values is None else np.split(values, np.cumsum(lengths)[:-1])
            results.update(zip(share, parts))
    finally:
        for _, (pid, fd) in children:
            if pid not in reaped:
                _reap(pid, fd)
    return [results[i] for i in range(len(tasks))]


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


def _fork(compute: Callable[[], list[np.ndarray]]) -> tuple[int, int]:
    """Fork a child that runs ``compute`` and writes its results to a pipe; return ``(pid, read end)``."""
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
            except BaseException:
                payload = _FAILED + traceback.format_exc().encode("utf-8", "replace")
            with os.fdopen(write, "wb") as pipe:
                pipe.write(payload)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    return pid, read


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
