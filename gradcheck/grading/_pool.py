"""The local grading pool of ``gradcheck grade --jobs N``: workers that are the grader's own processes.

Each worker is a fresh interpreter started by fork and exec of
``sys.executable`` running :func:`worker_main` (``python -c``, with the
caller's ``sys.path``), so it is safe whatever threads the caller runs (the
progress bar's, the instructor's own) and the caller's ``__main__`` is never
imported again.  (:mod:`multiprocessing`'s spawn and fork server re-run the
caller's script in every worker: a script calling ``gradcheck.cli.main`` at
import time, without ``if __name__ == "__main__":``, made each worker die in
multiprocessing's bootstrapping check, and every submission was recorded as
a crash.)  Jobs and results travel pickled over two pipes per worker
(:class:`multiprocessing.connection.Connection`); a worker grades one job
at a time and leaves at end of file on its job pipe.

Two failures are told apart, because only one of them is a student's:

* a worker that dies *while grading* a submission may have been killed by
  that submission (its sandbox can reach the worker at the weakest
  isolation level) or run out of memory: :func:`run_pool` returns it among
  the broken items, and the caller grades it again alone, where a second
  death is that submission's ``crash``;
* a worker that exits, or does not answer within :data:`READY_S`, *before it
  is ready* (it cannot import the grader, the interpreter cannot start) has
  run no student code: :class:`PoolError`, which stops the whole command.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Callable

__all__ = ["PoolError", "run_pool", "worker_main", "READY_S"]

#: Seconds a new worker has to import the grader and say it is ready (a few normally; generous for a loaded machine).
READY_S = 120.0
#: Seconds a worker has to leave after its job pipe is closed, before it is killed.
LEAVE_S = 10.0

_MAIN = "import sys, json; sys.path[:] = json.loads(sys.argv[3]); from gradcheck.grading._pool import worker_main; worker_main(int(sys.argv[1]), int(sys.argv[2]))"

Item = tuple[int, Any]
Done = Callable[[int, Any, "dict[str, Any] | None", str], None]


class PoolError(RuntimeError):
    """The grading workers themselves failed before running any submission: the machinery's failure, no student's."""


def worker_main(read_fd: int, write_fd: int) -> None:
    """In a worker: say ready (or why not), then grade each job received until end of file.

    Parameters
    ----------
    read_fd, write_fd : int
        The worker's ends of its job pipe and its result pipe.
    """
    from gradcheck.parallel import WORKERS_ENV

    for fd in (read_fd, write_fd):  # no process this one starts (a sandbox) may hold them
        os.set_inheritable(fd, False)
    jobs, results = Connection(read_fd, writable=False), Connection(write_fd, readable=False)
    os.environ[WORKERS_ENV] = "1"  # the pool already fills the CPUs: the engine must not fork more
    try:
        from gradcheck.grading.cli import grade_job
    except BaseException:  # noqa: BLE001 - whatever stops the grader loading is the report
        results.send(("failed", traceback.format_exc()))
        return
    results.send(("ready", os.getpid()))
    while True:
        try:
            job = jobs.recv()
        except EOFError:
            return
        try:
            results.send((grade_job(job), ""))
        except Exception as exc:  # noqa: BLE001 - one submission never stops the others
            results.send((None, f"{type(exc).__name__}: {exc}"))


@dataclass
class _Worker:
    process: subprocess.Popen[bytes]
    jobs: Connection
    results: Connection
    item: Item | None = None


def run_pool(items: list[Item], jobs: int, done: Done) -> list[Item]:
    """Grade ``items`` (``(index, job)`` pairs) in ``jobs`` worker processes.

    Parameters
    ----------
    items : list of (int, GradingJob)
        The jobs, each with the index ``done`` receives back.
    jobs : int
        Workers to run (at most one per item).
    done : callable
        ``done(index, job, result_dict_or_None, error)`` for every job graded,
        called in this thread.

    Returns
    -------
    list of (int, GradingJob)
        The items whose worker died while grading them, in index order.

    Raises
    ------
    PoolError
        A worker could not start, or exited before it was ready.
    """
    queue: deque[Item] = deque(items)
    workers: list[_Worker] = []
    broken: list[Item] = []
    try:
        workers.extend(_start() for _ in range(min(jobs, len(items))))
        for w in workers:
            _ready(w)
        while queue or any(w.item is not None for w in workers):
            workers = [w if w.process.poll() is None else _replace(w, queue) for w in workers]
            for w in workers:
                if w.item is None:
                    _give(w, queue, broken)
            busy: dict[Any, _Worker] = {w.results: w for w in workers if w.item is not None}
            for conn in wait(list(busy)) if busy else []:
                _collect(busy[conn], done, broken)
    except BaseException:
        for w in workers:
            w.process.kill()
        raise
    finally:
        for w in workers:
            _stop(w)
    return sorted(broken, key=lambda it: it[0])


def _collect(w: _Worker, done: Done, broken: list[Item]) -> None:
    """The result ``w`` sent, to ``done``; or, when ``w`` died before sending it, its item into ``broken``."""
    assert w.item is not None
    i, job = w.item
    w.item = None
    try:
        data, error = w.results.recv()
    except (EOFError, OSError):
        broken.append((i, job))
        w.process.kill()  # (it is dead, or about to be: its pipe is closed)
        w.process.wait()
        return
    done(i, job, data, error)


def _give(w: _Worker, queue: deque[Item], broken: list[Item]) -> None:
    """The next item of ``queue`` to ``w``; one it could not receive (it died since its last job) is broken."""
    if not queue:
        return
    w.item = queue.popleft()
    try:
        w.jobs.send(w.item[1])
    except OSError:
        broken.append(w.item)
        w.item = None
        w.process.kill()
        w.process.wait()


def _replace(w: _Worker, queue: deque[Item]) -> _Worker:
    """A dead worker's successor (ready), or the dead one when no job is left for it."""
    _stop(w)
    if not queue:
        return w
    new = _start()
    _ready(new)
    return new


def _start() -> _Worker:
    """A new worker process, not yet known to be ready."""
    to_child, jobs_end = os.pipe()
    results_end, from_child = os.pipe()
    paths = json.dumps([p for p in sys.path if isinstance(p, str)])
    try:
        process = subprocess.Popen([sys.executable, "-c", _MAIN, str(to_child), str(from_child), paths],
                                   pass_fds=(to_child, from_child), stdin=subprocess.DEVNULL, close_fds=True)
    except OSError as exc:
        os.close(jobs_end)
        os.close(results_end)
        raise PoolError(f"the grading workers could not start: running {sys.executable!r} failed: {exc}") from None
    finally:
        os.close(to_child)
        os.close(from_child)
    return _Worker(process, Connection(jobs_end, readable=False), Connection(results_end, writable=False))


def _ready(w: _Worker) -> None:
    """Wait for ``w`` to say it is ready; :class:`PoolError` naming the cause when it does not."""
    try:
        message = w.results.recv() if w.results.poll(READY_S) else ("timeout", "")
    except (EOFError, OSError):
        message = ("died", "")
    if message[0] == "ready":
        return
    w.process.kill()
    status = w.process.wait()
    raise PoolError(_not_ready(message, status))


def _not_ready(message: tuple[str, str], status: int) -> str:
    """Why a worker was not ready, and what to do about it."""
    head = "the grading workers could not start, so no submission was graded by them (this is not the students' doing): "
    if message[0] == "failed":
        return f"{head}a worker could not load the grader:\n{message[1].rstrip()}\nCheck that {sys.executable!r} can run `import gradcheck.grading.cli`."
    if message[0] == "timeout":
        return f"{head}a worker did not load the grader within {READY_S:.0f} s; the machine may be overloaded: try again, or with fewer --jobs."
    how = f"was killed by {signal.Signals(-status).name}" if status < 0 else f"exited with status {status}"
    return (f"{head}a worker ({sys.executable} -c ...) {how} before it was ready; its error output, if any, is above. "
            "If it ran out of memory, try fewer --jobs; --jobs 1 grades without workers.")


def _stop(w: _Worker) -> None:
    """Close ``w``'s pipes; it leaves at end of file (killed after :data:`LEAVE_S`)."""
    for conn in (w.jobs, w.results):
        if not conn.closed:
            conn.close()
    try:
        w.process.wait(LEAVE_S)
    except subprocess.TimeoutExpired:
        w.process.kill()
        w.process.wait()
