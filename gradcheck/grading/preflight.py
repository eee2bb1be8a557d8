"""Preflight of ``gradcheck grade``: can the grader's own sandboxed child work under the configured limits?

Before anyone is graded, one trivial submission (its backward returns zeros)
is loaded and called at every test point in a sandbox with the run's limits and isolation.
The grader's child imports numpy and its wire module before any student code
runs, so a memory limit too small for that import, or a per-call timeout too
short for one round trip of a trivial call, would otherwise turn into a
``crash`` or ``timeout`` verdict for every student, correct ones included.
Such a failure is the configuration's, not a student's: :func:`preflight`
returns an error naming the limit and what to change, and the command stops
before grading or writing anything.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Sequence

__all__ = ["preflight", "answer_key_exposure"]

#: A trivial call may take at most this fraction of the per-call timeout: a correct student's call does more
#: work than returning zeros, so a timeout the trivial call barely meets would time out correct students.
_MARGIN = 0.5

_TRIVIAL = "import numpy as np\n\n\ndef backward(params, x, y):\n    return {k: np.zeros_like(v) for k, v in params.items()}\n"


def preflight(model: Any, limits: Any, *, isolation: str = "auto", seed: int = 0) -> str | None:
    """Run a trivial submission once under ``limits``; ``None`` when it works, else the error to stop with.

    Parameters
    ----------
    model : reference model
        Its test points (:func:`gradcheck.grading.pipeline.make_points`) are the trivial calls' arguments:
        each call must end within half the per-call timeout.
    limits : Limits
        The run's limits (memory, per-call timeout, load timeout).
    isolation : str
        The run's resolved isolation level.
    seed : int
        Seeds the test point.

    Returns
    -------
    str or None
        ``None``, or a message naming the limit that is too small and what to do.
    """
    from gradcheck.grading.pipeline import make_points
    from gradcheck.grading.sandbox import Sandbox

    points = make_points(model, seed=seed)
    with tempfile.TemporaryDirectory(prefix="gradcheck-preflight-") as tmp:
        path = Path(tmp) / "preflight.py"
        path.write_text(_TRIVIAL, encoding="utf-8")
        with Sandbox(path, limits=limits, isolation=isolation) as box:
            if box.load_status != "ok":
                return _explain(box.load_status, box.load_message, limits, loading=True, memory=_memory_is_why(path, limits, isolation))
            for point in points:
                result = box.call(point.params, point.x, point.y)
                if result.status == "ok" and result.seconds > limits.wall_seconds * _MARGIN:
                    return _explain("timeout", "", limits, loading=False, memory=False)
                if result.status != "ok":
                    return _explain(result.status, result.message, limits, loading=False, memory=result.status == "memory")
    return None


def _memory_is_why(path: Path, limits: Any, isolation: str) -> bool:
    """Whether the trivial submission at ``path``, which failed to load, loads with the default memory limit."""
    from dataclasses import replace

    from gradcheck.grading.assignment import Limits
    from gradcheck.grading.sandbox import Sandbox

    default = Limits().memory_bytes
    if limits.memory_bytes >= default:
        return False
    with Sandbox(path, limits=replace(limits, memory_bytes=default), isolation=isolation) as box:
        return box.load_status == "ok"


def _explain(status: str, message: str, limits: Any, *, loading: bool, memory: bool) -> str:
    """The error for a trivial submission that ended with ``status`` (loading it, or in its one call); ``memory``: the memory limit is why."""
    mb = limits.memory_bytes >> 20
    if memory:
        return (f"the memory limit of {mb} MB (--memory, or memory_mb in the assignment) is too small for the grader's own "
                f"process to import numpy and load a trivial submission, before any student code runs: raise --memory "
                f"(the default is {1 << 10} MB; at least a few hundred MB is safe)")
    if status == "timeout" and loading:
        return (f"the load timeout of {limits.load_seconds:g} s (load_seconds in the assignment) is too short for the grader's "
                "own process to start and load a trivial submission: raise it")
    if status == "timeout":
        return (f"the per-call timeout of {limits.wall_seconds:g} s (--timeout, or the assignment's limit) is too short for the "
                "grader to call a trivial submission (one returning zeros) with half of it to spare: correct students "
                "would time out: raise --timeout")
    stage = "loading" if loading else "calling"
    return (f"the grader's own sandboxed process failed {stage} a trivial submission, before any student code ran ({status}): "
            f"{message}{_unimportable(message)}")


def _unimportable(message: str) -> str:
    """What to do when the sandbox could not import a package the grader needs (rt20 F5: only a traceback was shown)."""
    import re

    import numpy

    found = re.search(r"No module named '([\w.]+)'", message)
    if found is None:
        return ""
    return (f"\nThe sandbox's user cannot import {found.group(1)!r}, which this interpreter imports from "
            f"{os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))}: every folder on the way must be readable "
            "and searchable by other users (chmod o+rX), or grade at another --isolation level (see docs/threat-model.md)")


#: How many paths a warning names before it says how many more there are.
_NAMED = 8


def answer_key_exposure(iso: Any, extra: Sequence[str] = (), *, scan: Sequence[str] | None = None) -> str | None:
    """A warning when the sandbox's user can read the reference solutions at ``iso``'s level; ``None`` when it cannot.

    At ``uid`` and ``process`` the sandbox shares the grader's filesystem.  A
    submission that copies the reference models from a readable clone or
    wheel, renames the packages and imports them earns full marks with the
    exact backward (rt19 F12); the child's audit hook only refuses Python's
    own ``open`` of the installed copy.  ``namespaces`` shows none of them,
    and ``uid`` with a mount namespace covers the ones
    :func:`gradcheck.grading.isolation.answer_key_paths` finds; otherwise
    only file permissions keep them out, so each path the sandbox's user
    (no group, "others") can read is named with the ``chmod`` that hides it.
    ``extra``: more paths of the solutions (the autograder's wheel).

    Copies elsewhere (other users' clones, build folders, wheels: a
    submission loads them file by file, by path, rt26 F5) are looked for
    too at ``uid`` (:func:`gradcheck.grading.isolation.readable_copies`,
    outside :data:`~gradcheck.grading.isolation.SHARED_TMP` when a mount
    namespace covers those) and named the same way, but for the folders a
    mount namespace covers (:func:`gradcheck.grading.isolation.uncovered_copies`).

    Parameters
    ----------
    iso : Isolation
        The run's resolved isolation.
    extra : sequence of str
        Further files or folders that hold the solutions.
    scan : sequence of str, optional
        The folders to look for copies in (default:
        :func:`~gradcheck.grading.isolation.scan_roots`, every top-level folder but the system's).
    """
    from gradcheck.grading import isolation
    from gradcheck.grading.isolation import Level, answer_key_paths, readable_by_others

    if iso.level is Level.NAMESPACES:
        return None
    covers = iso.level is Level.UID and iso.mount_ns
    covered = [*isolation.SHARED_TMP, *answer_key_paths()] if covers else []
    keys = [] if covers and not extra else [*answer_key_paths(), *extra]
    if iso.level is Level.PROCESS:
        return (f"WARNING: at isolation 'process' the submissions run as your own user and can read the reference solutions "
                f"({', '.join(keys)}): a submission that copies and imports them gets full marks. Grade at 'uid' or "
                "'namespaces' (see docs/threat-model.md)")
    open_ = [k for k in keys if readable_by_others(k)]
    copies = _copies(scan, covered=[*covered, *open_], shared_tmp_covered=covers)
    copies = [c for c in copies if not (covers and os.path.isdir(c))]  # with a mount namespace, a folder found is covered
    if not open_ and not copies:
        return None
    more = len(copies) - _NAMED
    open_ += copies[:_NAMED]  # every key the grader knows of is named; of the copies found, the first few
    where = ("copies of the reference solutions that isolation 'uid' does not cover (it covers /tmp, /var/tmp, the "
             "submissions' folder and every copy of the source it finds, not a wheel)" if covers else
             "the reference solutions at isolation 'uid' (no mount namespace here to cover them)")
    return (f"WARNING: the sandbox's user can read {where}: {', '.join(open_)}" + (f" and {more} more found" if more > 0 else "")
            + ". A submission that copies and imports them, or loads them by path, gets full marks. Before grading, run: "
            + "; ".join(f"chmod -R o-rwx {k}" for k in open_) + (f"; and the same for the {more} more" if more > 0 else "")
            + " (or grade at 'namespaces'; see docs/threat-model.md)")


def _copies(scan: Sequence[str] | None, *, covered: Sequence[str], shared_tmp_covered: bool) -> list[str]:
    """Readable copies of the answer key in ``scan`` (default: every top-level folder but the system's, and, when a
    mount namespace covers them, but :data:`~gradcheck.grading.isolation.SHARED_TMP`), none under ``covered``."""
    from gradcheck.grading.isolation import readable_copies, scan_roots, uncovered_copies

    if scan is not None:
        found = readable_copies(list(scan))
    else:
        found = uncovered_copies() if shared_tmp_covered else readable_copies(scan_roots())
    tops = [os.path.realpath(c) for c in covered]
    return [c for c in found if not any(c == t or c.startswith(t.rstrip("/") + "/") for t in tops)]
