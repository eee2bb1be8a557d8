"""``gradcheck grade --scheduler ADDRESS``: grade a batch on a Dask distributed cluster.

Each submission is one task: the task carries the submission's files (and
the assignment's text) as bytes, so workers need no shared file system,
only the same gradcheck; on its worker the task writes them to a private
temporary folder and grades them in a sandbox there, exactly as a local run
does (same identity, file names and hashes, so the same result).  Only the
coordinating process (the one running ``gradcheck grade``) writes outputs
and the cache: tasks return plain data.  A worker whose gradcheck, Python or
numpy version differs from the coordinator's is refused for that task
(the result would not be the one the cache key promises).

Needs the ``[distributed]`` extra (``dask[distributed]``).

Examples
--------
A task runs the same anywhere, here in this process:

>>> import pathlib, tempfile
>>> from gradcheck.grading.cli import GradingJob
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "0042_kim.py").write_text("def backward(params, x, y):\\n    return {}\\n")
>>> job = GradingJob(str(d / "0042_kim.py"), (), "0042_kim.py", "0042", "xor_1layer", 0, None, {}, "en", False)
>>> r = grade_portable(portable(job))
>>> r["submission"], r["student_id"], r["score"], r["max_score"]
('0042_kim.py', '0042', 0.0, 2.0)
"""
from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any, Callable

__all__ = ["PortableJob", "portable", "grade_portable", "preflight_on_cluster", "run_on_cluster", "CONNECT_SECONDS"]

#: How long to try reaching the scheduler before giving up.
CONNECT_SECONDS = 20.0


@dataclass(frozen=True)
class PortableJob:
    """A grading job with its files inside (see the module docstring).

    ``job`` is the :class:`gradcheck.grading.cli.GradingJob` (paths as on the
    coordinator); ``files`` the graded file then its helpers, as
    ``(name, bytes)``, a helper named by its place beside the graded file
    (:func:`gradcheck.grading.sandbox.helper_name`: ``lib/act.py``);
    ``assignment_text`` the assignment file's bytes.
    """

    job: Any
    files: tuple[tuple[str, bytes], ...]
    assignment_text: bytes | None
    versions: dict[str, str]


def portable(job: Any) -> PortableJob:
    """Pack ``job``'s files (read on the coordinator)."""
    from gradcheck.grading.cache import versions

    from gradcheck.grading.sandbox import helper_name

    paths = [Path(job.path), *map(Path, job.extra_files)]
    files = tuple((helper_name(p, paths[0].parent), p.read_bytes()) for p in paths)  # a package's lib/act.py keeps its place
    text = Path(job.assignment).read_bytes() if job.assignment else None
    return PortableJob(job, files, text, versions())


def grade_portable(task: PortableJob) -> dict[str, Any]:
    """Run on a worker: unpack into a private folder, grade, return the result as a dict."""
    from gradcheck.parallel import WORKERS_ENV
    from gradcheck.grading.cache import versions

    here = versions()
    if here != task.versions:
        raise RuntimeError(f"this worker runs {here}, the coordinator {task.versions}: install the same versions on every worker")
    os.environ[WORKERS_ENV] = "1"  # the cluster's tasks already fill the worker's CPUs
    from gradcheck.grading import cli

    folder = tempfile.mkdtemp(prefix="gradcheck-task-")
    try:
        written = []
        for name, data in task.files:
            parts = PurePosixPath(name).parts
            if not parts or PurePosixPath(name).is_absolute() or ".." in parts:
                raise ValueError(f"the task holds the file name {name!r}, which is not a relative path inside its folder")
            target = Path(folder).joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            written.append(str(target))
        assignment = None
        if task.assignment_text is not None:
            assignment = str(Path(folder) / "assignment.toml")
            Path(assignment).write_bytes(task.assignment_text)
        local = replace(task.job, path=written[0], extra_files=tuple(written[1:]), assignment=assignment)
        return cli.grade_job(local)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _connect(address: str) -> Any:
    """A client of the Dask scheduler at ``address``; ``OSError`` naming it when it cannot be reached."""
    from distributed import Client

    try:
        return Client(address, timeout=CONNECT_SECONDS)
    except (OSError, TimeoutError) as exc:
        raise OSError(f"cannot reach the Dask scheduler at {address!r}: {exc}") from None


def preflight_here(assignment: Any, limits: Any, isolation: str, seed: int, coordinator: dict[str, str]) -> str | None:
    """Run on a worker: :func:`gradcheck.grading.preflight.preflight` there, or why this worker cannot grade."""
    from gradcheck.grading.cache import versions
    from gradcheck.grading.preflight import preflight

    here = versions()
    if here != coordinator:
        return f"this worker runs {here}, the coordinator {coordinator}: install the same versions on every worker"
    try:
        return preflight(assignment.reference_model(), limits, isolation=isolation, seed=seed)
    except Exception as exc:  # noqa: BLE001 - e.g. the isolation level resolved on the coordinator is missing here
        return f"{type(exc).__name__}: {exc}"


def preflight_on_cluster(address: str, assignment: Any, limits: Any, *, isolation: str, seed: int) -> str | None:
    """The grading preflight on every worker of the cluster at ``address`` (its machines may differ from this one).

    Returns ``None`` when every worker's sandboxed child works under ``limits``, else the first
    failing worker's error, naming the worker.  Raises ``OSError`` when the scheduler cannot be
    reached, ``ImportError`` without ``dask[distributed]``.
    """
    from gradcheck.grading.cache import versions

    with _connect(address) as client:
        found = client.run(preflight_here, assignment, limits, isolation, seed, versions())
    if not found:
        return f"the Dask scheduler at {address!r} has no workers: start some (dask worker {address}) and run again"
    for worker, error in sorted(found.items()):
        if error is not None:
            return f"on the cluster's worker {worker}: {error}"
    return None


def run_on_cluster(
    todo: list[tuple[int, Any]],
    address: str,
    done: Callable[[int, Any, "dict[str, Any] | None", str], None],
    advance: Callable[[str], None],
) -> None:
    """Grade ``todo`` (``(index, GradingJob)`` pairs) on the Dask scheduler at ``address``.

    ``done`` is called in this process for each finished job, in completion
    order; a task that fails (a lost worker, a version mismatch) is a
    failure of that job alone.

    Raises
    ------
    ImportError
        Without ``dask[distributed]``.
    OSError
        When the scheduler cannot be reached.
    """
    from distributed import as_completed

    with _connect(address) as client:
        futures = {}
        for i, job in todo:
            fut = client.submit(grade_portable, portable(job), pure=False, key=f"gradcheck-{i}-{os.getpid()}-{id(job)}")
            futures[fut] = (i, job)
        for fut in as_completed(list(futures)):
            i, job = futures.pop(fut)
            try:
                data, error = fut.result(), ""
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                data, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=2)}"
            done(i, job, data, error)
            advance(job.identity)
