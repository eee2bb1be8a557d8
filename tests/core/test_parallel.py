"""Forked workers: same results as a serial run, and no failure of a child is fatal."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Self

import numpy as np
import pytest

import reference_models as rm
from gradcheck import engine, parallel
from gradcheck.engine import estimate_gradients
from gradcheck.parallel import can_fork, run_split

needs_fork = pytest.mark.skipif(not can_fork(), reason="run_split forks only on Linux without other Python threads")


def pid_task(k: int) -> np.ndarray:
    """``k`` copies of the pid of the process that ran it."""
    return np.full(k, float(os.getpid()))


def logged_task(task: tuple[str, int]) -> np.ndarray:
    """``k`` copies of ``k`` (the same in every process, as the warm workers' check needs), with the pid of the
    process that ran it and of its parent appended to the file ``path``."""
    path, k = task
    with open(path, "a") as f:
        f.write(f"{os.getpid()} {os.getppid()}\n")
    return np.full(k, float(k))


def ran(path: Path) -> list[tuple[int, int]]:
    """``(pid, parent pid)`` of every task :func:`logged_task` logged in ``path``."""
    return [tuple(map(int, line.split())) for line in path.read_text().splitlines()]  # type: ignore[misc]


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_results_in_task_order_for_any_worker_count(workers: int) -> None:
    sizes = [5, 1, 7, 3, 3, 9, 2]
    out = run_split(list(range(len(sizes))), lambda i: np.arange(sizes[i]) + 100.0 * i, sizes, workers=workers)
    assert [a.tolist() for a in out] == [(np.arange(s) + 100.0 * i).tolist() for i, s in enumerate(sizes)]


@needs_fork
def test_children_do_part_of_the_work_and_are_reaped(tmp_path: Path) -> None:
    log = tmp_path / "ran"
    out = run_split([(str(log), 3)] * 8, logged_task, [3] * 8, workers=2)
    assert [a.tolist() for a in out] == [[3.0] * 3] * 8
    pids = {pid for pid, _ in ran(log)}
    assert os.getpid() in pids and len(pids) == 2
    child = (pids - {os.getpid()}).pop()
    if can_fork():
        assert gone(child)
    else:  # torch, imported by an earlier test, runs threads: a warm worker did it, and stays for the next call
        assert child in [w.process.pid for w in parallel._warm]


@needs_fork
def test_a_child_that_raises_is_recomputed_here() -> None:
    parent = os.getpid()

    def run(k: int) -> np.ndarray:
        if os.getpid() != parent:
            raise RuntimeError("only in the child")
        return np.full(k, 1.0)

    out = run_split([2] * 6, run, [2] * 6, workers=2)
    assert all(a.tolist() == [1.0, 1.0] for a in out)


@needs_fork
def test_a_child_that_dies_is_recomputed_here() -> None:
    parent = os.getpid()

    def run(k: int) -> np.ndarray:
        if os.getpid() != parent:
            os.kill(os.getpid(), 9)
        return np.full(k, 2.0)

    out = run_split([1] * 4, run, [1] * 4, workers=2)
    assert [a.tolist() for a in out] == [[2.0]] * 4


@needs_fork
def test_a_child_that_hangs_is_killed_after_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "PATIENCE", 0.0)
    monkeypatch.setattr(parallel, "GRACE_S", 0.5)
    parent = os.getpid()

    def run(k: int) -> np.ndarray:
        if os.getpid() != parent:
            time.sleep(600)
        return np.full(k, float(os.getpid()))

    start = time.monotonic()
    out = run_split([1] * 4, run, [1] * 4, workers=2)
    assert {int(a[0]) for a in out} == {parent}
    assert time.monotonic() - start < 60  # not the child's 600 s


def test_an_error_of_every_task_reaches_the_caller() -> None:
    def run(k: int) -> np.ndarray:
        raise ValueError(f"task {k} is broken")

    with pytest.raises(ValueError, match="is broken"):
        run_split([1, 2, 3, 4], run, [1, 2, 3, 4], workers=2)


@needs_fork
def test_no_fork_while_another_python_thread_runs(tmp_path: Path) -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork() and parallel.start_method() == "forkserver"
        run_split([(str(tmp_path / "out"), 2)] * 6, logged_task, [2] * 6, workers=2)
        # work that cannot be pickled runs here alone
        run_split([(str(tmp_path / "here"), 2)] * 6, lambda task: logged_task(task), [2] * 6, workers=2)
    finally:
        stop.set()
        other.join()
    parents = {parent for _, parent in ran(tmp_path / "out")}
    # this process's share has this process's parent; the other share ran in a worker this process
    # started by fork and exec (a fresh interpreter), never in a fork of this threaded process
    assert parents == {os.getppid(), os.getpid()}
    assert {pid for pid, _ in ran(tmp_path / "here")} == {os.getpid()}


class NativeThread:
    """A thread started by C code (``pthread_create`` running libc's ``sleep``): invisible to ``threading``."""

    def __enter__(self) -> Self:
        import ctypes

        self.libc = ctypes.CDLL(None)
        self.tid = ctypes.c_ulong()
        sleep = ctypes.cast(self.libc.sleep, ctypes.c_void_p)
        assert self.libc.pthread_create(ctypes.byref(self.tid), None, sleep, ctypes.c_void_p(600)) == 0
        return self

    def __exit__(self, *exc: object) -> None:
        self.libc.pthread_cancel(self.tid)
        self.libc.pthread_join(self.tid, None)


@needs_fork
def test_a_foreign_native_thread_means_no_fork_and_the_check_completes_bit_identical(tmp_path: Path) -> None:
    model = rm.get("mnist_relu", n_in=60, hidden=30, n_out=10)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 16)
    serial = estimate_gradients(model, params, x, y, workers=1)
    before = parallel.foreign_threads()  # 0, unless an earlier test left a native thread behind
    python_threads = threading.active_count()  # 1, unless an earlier test left one (dask's IO loop, after tests/grading)
    assert before is not None
    with NativeThread():
        assert threading.active_count() == python_threads  # threading does not see it ...
        assert parallel.foreign_threads() == before + 1  # ... /proc/self/task does, numpy's pool told apart
        assert not can_fork() and parallel.start_method() == "forkserver"
        run_split([(str(tmp_path / "ran"), 2)] * 6, logged_task, [2] * 6, workers=2)
        spread = estimate_gradients(model, params, x, y, workers=2)
        from gradcheck import check_model

        assert check_model(model, params, x, y, workers=2).passed
    assert len({pid for pid, _ in ran(tmp_path / "ran")}) == 2
    for k in params:
        for field in ("value", "error", "lower", "upper", "kink"):
            assert np.array_equal(getattr(serial[k], field), getattr(spread[k], field)), (k, field)
    assert parallel.foreign_threads() == before  # the thread is gone


@needs_fork
def test_numpy_pool_is_identified_also_while_openblas_has_stopped_it_for_a_fork(tmp_path: Path) -> None:
    pytest.importorskip("threadpoolctl")
    np.ones((128, 128)) @ np.ones((128, 128))  # a threaded product: the pool runs
    before = parallel.foreign_threads()  # 0, unless an earlier test left a native thread behind
    n = len(os.listdir("/proc/self/task"))
    assert before is not None and parallel.numpy_pool_threads() == n - 1 - before
    run_split([(str(tmp_path / "ran"), 1)] * 2, logged_task, [1, 1], workers=2)  # forks where it may: OpenBLAS stops its workers first
    assert parallel.numpy_pool_threads() == len(os.listdir("/proc/self/task")) - 1 - before
    with NativeThread():  # not hidden by a stopped pool
        assert parallel.foreign_threads() == before + 1 and not can_fork()


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-1, ValueError), (True, TypeError), (2.0, TypeError),
                                        ("2", TypeError), (None, TypeError)])
def test_workers_must_be_a_positive_int(bad: object, error: type) -> None:
    with pytest.raises(error, match=f"workers must be an int >= 1, got workers={bad!r}"):
        run_split([1], pid_task, [1], workers=bad)  # type: ignore[arg-type]


def test_sizes_must_match_tasks_and_results() -> None:
    with pytest.raises(ValueError, match="sizes must have one entry per task"):
        run_split([1, 2], pid_task, [1], workers=1)
    with pytest.raises(ValueError, match="returned 2 values, expected 3"):
        run_split([2], pid_task, [3], workers=1)


# -- the engine on top of it ---------------------------------------------

def mnist_point(n: int = 9):
    model = rm.get("mnist_relu", n_in=30, hidden=12, n_out=5)
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, n)
    return model, params, x, y


@pytest.mark.parametrize("workers", [2, 3])
def test_engine_values_do_not_depend_on_workers(workers: int) -> None:
    model, params, x, y = mnist_point()
    one = estimate_gradients(model, params, x, y, workers=1)
    many = estimate_gradients(model, params, x, y, workers=workers)
    for k in params:
        for field in ("value", "error", "lower", "upper", "kink"):
            np.testing.assert_array_equal(getattr(one[k], field), getattr(many[k], field), err_msg=f"{k}.{field}")


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (True, TypeError), (1.5, TypeError)])
def test_engine_rejects_bad_workers(bad: object, error: type) -> None:
    model, params, x, y = mnist_point()
    with pytest.raises(error, match=f"workers must be None or an int >= 1, got workers={bad!r}"):
        estimate_gradients(model, params, x, y, workers=bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_check_model_rejects_bad_workers_up_front(mode: str) -> None:
    model = rm.get("mnist_relu", n_in=80, hidden=14, n_out=5)  # fast mode: both tensors > SMALL, probed only
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 4)
    from gradcheck import check_model

    with pytest.raises(ValueError, match="workers must be None or an int >= 1, got workers=0"):
        check_model(model, params, x, y, mode=mode, workers=0)


def test_default_workers_only_for_big_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GRADCHECK_WORKERS", raising=False)
    monkeypatch.setattr(engine, "can_fork", lambda: True)
    assert engine._workers(None, engine.PARALLEL_MIN_VALUES - 1) == 1
    big = engine._workers(None, engine.PARALLEL_MIN_VALUES)
    assert big == min(parallel.available_cpus(), engine.AUTO_WORKERS)
    assert engine._workers(3, 1) == 3




def test_environment_sets_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADCHECK_WORKERS", "1")
    assert engine._workers(None, engine.PARALLEL_MIN_VALUES) == 1
    monkeypatch.setenv("GRADCHECK_WORKERS", "3")
    assert engine._workers(None, 1) == 3
    assert engine._workers(2, 1) == 2  # an explicit argument wins


@pytest.mark.parametrize("bad", ["0", "two", "-1", "1.5"])
def test_bad_environment_value_is_named(monkeypatch: pytest.MonkeyPatch, bad: str) -> None:
    monkeypatch.setenv("GRADCHECK_WORKERS", bad)
    with pytest.raises(ValueError, match=f"GRADCHECK_WORKERS must be a positive integer, got GRADCHECK_WORKERS={bad!r}"):
        engine._workers(None, 1)


UNGUARDED_SCRIPT = """
import ctypes, sys
import numpy as np
import reference_models as rm
from gradcheck import check_model

# no `if __name__ == "__main__":` guard, as most scripts and notebooks have none
libc = ctypes.CDLL(None)
tid = ctypes.c_ulong()
assert libc.pthread_create(ctypes.byref(tid), None, ctypes.cast(libc.sleep, ctypes.c_void_p),
                           ctypes.c_void_p(600)) == 0
model = rm.get("mnist_relu", n_in=60, hidden=30, n_out=10)
rng = np.random.default_rng(0)
params = model.init_params(rng)
x, y = model.example_batch(rng, 16)
print("RUNS", flush=True)
assert check_model(model, params, x, y, workers=2).passed
print("PASSED", flush=True)
"""


@needs_fork
def test_an_unguarded_script_with_a_native_thread_is_checked_once(tmp_path: Path) -> None:
    """Workers must not re-run the caller's ``__main__`` (multiprocessing's fork server did: BrokenPipeError)."""
    script = tmp_path / "user_script.py"
    script.write_text(UNGUARDED_SCRIPT)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, env=env, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["RUNS", "PASSED"]  # the script ran once: no worker re-ran it


# -- warm workers: where a foreign thread forbids forking ------------------------------

def printing_task(task: tuple[str, int]) -> np.ndarray:
    """:func:`logged_task` that also prints (to the stdout a warm worker answers on, were it not redirected)."""
    print("some output of the work " * 4000)  # past any buffer: it reaches the descriptor at once
    return logged_task(task)


def ready_warm(n: int) -> int:
    deadline = time.monotonic() + 60
    while (ready := parallel.ready_warm_workers(n)) < n and time.monotonic() < deadline:
        time.sleep(0.05)
    return ready


@needs_fork
def test_warm_workers_start_once_and_serve_every_later_call(tmp_path: Path) -> None:
    with NativeThread(), warnings.catch_warnings():
        warnings.simplefilter("error", parallel.GradcheckWorkerWarning)  # the checked tasks agree
        assert not can_fork()
        assert ready_warm(1) == 1
        first = run_split([(str(tmp_path / "first"), 1)] * 6, printing_task, [1] * 6, workers=2)
        second = run_split([(str(tmp_path / "second"), 1)] * 6, logged_task, [1] * 6, workers=2)
        still = parallel.ready_warm_workers(1), [w.process.pid for w in parallel._warm]
    worker = still[1][0]  # a split in two uses the first (earlier tests may have started more)
    # the same worker both times (what the work printed did not cost it its answer), and still there
    pids = [{pid for pid, _ in ran(tmp_path / name)} for name in ("first", "second")]
    assert pids[0] == pids[1] == {os.getpid(), worker} and still[0] == 1
    assert [a.tolist() for a in first + second] == [[1.0]] * 12


def test_no_default_workers_where_forking_is_unsafe(monkeypatch: pytest.MonkeyPatch) -> None:
    # warm workers import the user's modules afresh (module state set at run time is not theirs): asked for only
    monkeypatch.delenv("GRADCHECK_WORKERS", raising=False)
    monkeypatch.setattr(engine, "can_fork", lambda: False)
    assert engine._workers(None, 100 * engine.PARALLEL_MIN_VALUES) == 1
    assert engine._workers(2, 1) == 2  # asked for: still given


#: Read by :func:`scaled_task`; a test changes it at run time, which a fresh interpreter does not see.
SCALE = 1.0


def scaled_task(k: int) -> np.ndarray:
    return np.full(k, SCALE)


@needs_fork
def test_a_warm_worker_that_computes_otherwise_is_caught_and_its_share_redone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys.modules[__name__], "SCALE", 2.0)  # the worker imports this module with 1.0
    with NativeThread():
        assert ready_warm(1) == 1
        with pytest.warns(parallel.GradcheckWorkerWarning, match="module-level state changed after import"):
            out = run_split([1] * 8, scaled_task, [1] * 8, workers=2)
    assert [a.tolist() for a in out] == [[2.0]] * 8


@needs_fork
def test_a_dead_or_hung_warm_worker_is_replaced_and_its_share_recomputed(monkeypatch: pytest.MonkeyPatch,
                                                                         tmp_path: Path) -> None:
    monkeypatch.setattr(parallel, "PATIENCE", 0.0)
    monkeypatch.setattr(parallel, "GRACE_S", 0.5)
    with NativeThread():
        assert ready_warm(1) == 1
        dead = parallel._warm[0].process.pid
        os.kill(dead, 9)
        after_death = run_split([(str(tmp_path / "after"), 1)] * 4, logged_task, [1] * 4, workers=2)
        assert ready_warm(1) == 1
        hung = parallel._warm[0].process.pid
        out = run_split([(str(tmp_path / "hung"), os.getpid())] * 4, sleepy_task, [1] * 4, workers=2)  # sleeps 600 s
        assert ready_warm(1) == 1
        fresh = parallel._warm[0].process.pid
    assert [a.tolist() for a in after_death] == [[1.0]] * 4
    assert [a.tolist() for a in out] == [[1.0]] * 4 and {pid for pid, _ in ran(tmp_path / "hung")} == {os.getpid()}
    assert len({dead, hung, fresh}) == 3 and gone(hung)


def sleepy_task(task: tuple[str, int]) -> np.ndarray:
    """:func:`logged_task` of one value, but a process other than the test's (``task[1]``) sleeps 600 s first."""
    path, test_pid = task
    if os.getpid() != test_pid:
        time.sleep(600)
    return logged_task((path, 1))


def test_the_plain_install_brings_what_identifies_numpys_pools() -> None:
    """``pip install .`` alone must be able to fork workers: threadpoolctl is a core dependency.

    A red team's documented install (no extras) never forked (every thread counted as foreign) and
    ran the full check at 126-176x the plain loop where the README promises about 240x.
    """
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())["project"]
    names = {re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower() for req in project["dependencies"]}
    assert "threadpoolctl" in names, project["dependencies"]
