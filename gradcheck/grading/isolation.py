"""Isolation levels of the grading sandbox: what the machine allows, and how to start a child at each.

Three levels, strongest first (see ``docs/threat-model.md``):

``namespaces``
    The child runs in new pid, mount, network, ipc and uts namespaces
    (util-linux ``unshare``) as an unprivileged uid of its own
    (util-linux ``setpriv``: no supplementary groups, no capabilities,
    ``no_new_privs``).  Its filesystem is the system's read-only
    directories, the interpreter and its installed packages (read-only, the
    same site-packages as at the other levels), its bootstrap and a
    private ``/tmp`` (its working directory): the grader's files, the other
    submissions, the harness and the grader's ``/proc`` are not in its view.
    When the sandbox ends, its pid namespace ends, and every process in it.
    Needs root (or, for a non-root grader, unprivileged user namespaces).
``uid``
    A separate unprivileged uid (from :data:`UID_RANGE`, locked so no two
    sandboxes share one), ``RLIMIT_NPROC`` on it, and at the end
    ``kill(-1)`` *as that uid*: exactly its processes die.  What a Docker
    container without ``CAP_SYS_ADMIN`` (Gradescope's) allows.  Needs root.
``process``
    Today's sandbox: the grader's own user, resource limits, its own
    session.  Works everywhere (macOS, Windows: this level only).

:func:`resolve` picks the level (``auto``: the strongest available) or
refuses with one message saying what is missing and how to get it.

Examples
--------
>>> Level.parse("uid") is Level.UID, Level.NAMESPACES > Level.PROCESS
(True, True)
>>> resolve("process").level is Level.PROCESS
True
"""
from __future__ import annotations

import contextlib
import enum
import fcntl
import os
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

__all__ = [
    "Level", "AUTO", "LEVEL_CHOICES", "answer_key_paths", "readable_by_others", "readable_copies", "scan_roots", "uncovered_copies", "SHARED_TMP", "UID_RANGE", "UID_RANGE_ENV", "IsolationUnavailable", "Isolation",
    "resolve", "available_levels", "UidLease", "lease_uid", "adopt_orphans",
]

#: The choice that means "the strongest level the machine allows".
AUTO = "auto"
#: Default range of uids sandboxes run as (first, last), overridable with :data:`UID_RANGE_ENV` ("60000-60999").
UID_RANGE: tuple[int, int] = (60000, 60999)
UID_RANGE_ENV = "GRADCHECK_UID_RANGE"
_LOCK_DIR = "/run/gradcheck-uids"


class Level(enum.Enum):
    """An isolation level; ordered, strongest greatest."""

    PROCESS = "process"
    UID = "uid"
    NAMESPACES = "namespaces"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank < other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank >= other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, Level):
            return NotImplemented
        return self.rank <= other.rank

    @classmethod
    def parse(cls, value: "str | Level", *, name: str = "isolation") -> "Level":
        """The level named ``value``; a clear ``ValueError`` naming ``name`` otherwise."""
        if isinstance(value, Level):
            return value
        for level in cls:
            if level.value == value:
                return level
        raise ValueError(f"{name} must be one of {', '.join(lv.value for lv in cls)}, got {name}={value!r}")


_RANK = {Level.PROCESS: 0, Level.UID: 1, Level.NAMESPACES: 2}
#: The values ``--isolation`` accepts.
LEVEL_CHOICES: tuple[str, ...] = (AUTO, Level.NAMESPACES.value, Level.UID.value, Level.PROCESS.value)


class IsolationUnavailable(RuntimeError):
    """The requested (or required) isolation level cannot be had on this machine; the message says why and how."""


@dataclass(frozen=True)
class Isolation:
    """A resolved level and the tools it uses (paths of ``unshare``/``setpriv``)."""

    level: Level
    unshare: str | None = None
    setpriv: str | None = None
    userns: bool = False  # a non-root grader: namespaces through an unprivileged user namespace
    mount_ns: bool = False  # uid: a mount namespace can hide the grader's directories and expose the interpreter


# -- what the machine allows ---------------------------------------------------------------------
_probe_lock = threading.Lock()
_probed: dict[Level, str | None] | None = None


def _is_root() -> bool:
    return sys.platform.startswith("linux") and os.geteuid() == 0


def _try(argv: list[str]) -> str | None:
    """None when ``argv`` succeeds; else the reason (its stderr)."""
    try:
        r = subprocess.run(argv, capture_output=True, timeout=10, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    return None if r.returncode == 0 else (r.stderr.decode(errors="replace").strip() or f"exit status {r.returncode}")


def _probe() -> dict[Level, str | None]:
    """For each level: None when available, else what is missing and how to get it."""
    out: dict[Level, str | None] = {Level.PROCESS: None}
    why: str | None
    if not sys.platform.startswith("linux"):
        why = f"the {sys.platform} platform has no Linux namespaces or per-uid sandboxes: only 'process' is available"
        out[Level.UID] = out[Level.NAMESPACES] = why
        return out
    unshare, setpriv = shutil.which("unshare"), shutil.which("setpriv")
    missing = [n for n, p in (("unshare", unshare), ("setpriv", setpriv)) if p is None]
    if missing:
        why = f"{' and '.join(missing)} not found: install util-linux (Debian/Ubuntu: apt-get install util-linux)"
        out[Level.UID] = out[Level.NAMESPACES] = why
        return out
    assert unshare is not None
    if _is_root():
        out[Level.UID] = None
        if expose_plan(python_paths()) and _try([unshare, "--mount", "true"]) is not None:
            out[Level.UID] = (
                f"the interpreter ({sys.executable}) is not readable by other users (a directory on its path, such as /root, "
                "has no search permission for others) and no mount namespace can be made to expose it; install Python in a "
                "world-readable place (/usr/local, /opt) or use --isolation process"
            )
        refused = _try([unshare, "--pid", "--fork", "--mount", "--net", "--ipc", "--uts", "--kill-child", "true"])
        out[Level.NAMESPACES] = None if refused is None else (
            f"the kernel refused new namespaces ({refused}); in Docker, run the container with --cap-add SYS_ADMIN "
            "(or --privileged), or use --isolation uid"
        )
        return out
    out[Level.UID] = "a separate uid needs the grader to run as root (in CI, Docker and Gradescope it does); run as root, or use --isolation namespaces"
    refused = _try([unshare, "--user", "--map-root-user", "--pid", "--fork", "--mount", "--net", "--ipc", "--uts", "--kill-child", "true"])
    out[Level.NAMESPACES] = None if refused is None else (
        f"unprivileged user namespaces are not allowed here ({refused}); enable them "
        "(sysctl kernel.unprivileged_userns_clone=1, or the distribution's AppArmor policy), or run the grader as root"
    )
    return out


def available_levels() -> dict[Level, str | None]:
    """Each level mapped to None (available) or the reason it is not (probed once per process)."""
    global _probed
    with _probe_lock:
        if _probed is None:
            _probed = _probe()
        return dict(_probed)


def resolve(requested: "str | Level" = AUTO, *, require: "str | Level | None" = None) -> Isolation:
    """The isolation to use for ``requested`` (``auto``: the strongest available), at least ``require``.

    Raises
    ------
    ValueError
        For a name that is not a level.
    IsolationUnavailable
        When the level asked for, or the one required, is not available; the
        message says what is missing and how to get it.
    """
    minimum = Level.parse(require, name="require_isolation") if require is not None else Level.PROCESS
    levels = available_levels()
    if requested == AUTO:
        level = max(lv for lv, why in levels.items() if why is None)
    else:
        level = Level.parse(requested)
        if levels[level] is not None:
            raise IsolationUnavailable(f"isolation level {level.value!r} is not available on this machine: {levels[level]}")
    if level < minimum and requested != AUTO:  # both given, and they disagree: the options conflict
        raise IsolationUnavailable(f"--isolation {level.value} is weaker than --require-isolation {minimum.value}: "
                                   f"ask for {minimum.value!r} or stronger, or drop one of the two options")
    if level < minimum:
        raise IsolationUnavailable(
            f"isolation level {minimum.value!r} is required but the strongest this machine allows is {level.value!r}: "
            f"{levels[minimum]}"
        )
    if level is Level.PROCESS:
        return Isolation(level)
    unshare = shutil.which("unshare")
    mount_ns = level is Level.UID and unshare is not None and _mount_ns_ok(unshare)
    return Isolation(level, unshare, shutil.which("setpriv"), userns=not _is_root(), mount_ns=mount_ns)


_mount_ok: list[bool] = []


def _mount_ns_ok(unshare: str) -> bool:
    with _probe_lock:
        if not _mount_ok:
            _mount_ok.append(_try([unshare, "--mount", "true"]) is None)
        return _mount_ok[0]


# -- uids ------------------------------------------------------------------------------------------
def uid_range() -> tuple[int, int]:
    """The configured uid range (:data:`UID_RANGE_ENV`, else :data:`UID_RANGE`)."""
    raw = os.environ.get(UID_RANGE_ENV)
    if not raw:
        return UID_RANGE
    try:
        first, last = (int(v) for v in raw.split("-"))
    except ValueError:
        raise ValueError(f"{UID_RANGE_ENV} must be FIRST-LAST (e.g. 60000-60999), got {raw!r}") from None
    if not 1000 <= first <= last < 2**31:
        raise ValueError(f"{UID_RANGE_ENV} must be FIRST-LAST with 1000 <= FIRST <= LAST, got {raw!r}")
    return first, last


class UidLease:
    """An exclusive uid (and gid of the same number) for one sandbox; the lock is an ``flock`` on a root-only file.

    The lock file descriptor is handed to the launcher too, so the uid stays
    taken until every process that could still run as it is gone.
    """

    def __init__(self, uid: int, fd: int) -> None:
        self.uid = uid
        self.gid = uid
        self.fd = fd

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


_next = [0]


def lease_uid() -> UidLease:
    """Take a free uid of the range (shared by every grader on this machine through lock files)."""
    first, last = uid_range()
    os.makedirs(_LOCK_DIR, mode=0o700, exist_ok=True)
    n = last - first + 1
    start = (os.getpid() * 7919 + _next[0]) % n
    _next[0] += 1
    for i in range(n):
        uid = first + (start + i) % n
        fd = os.open(f"{_LOCK_DIR}/{uid}", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return UidLease(uid, fd)
    raise IsolationUnavailable(f"all {n} sandbox uids {first}-{last} are in use; widen {UID_RANGE_ENV}")


def kill_uid(uid: int, gid: int) -> None:
    """SIGKILL every process of ``uid``: util-linux ``setpriv`` runs ``kill -9 -1`` *as that uid*, which reaches exactly its processes.

    (A subprocess rather than a fork of this process, which may be threaded.)
    """
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return
    for _ in range(2):
        subprocess.run([setpriv, f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "kill", "-9", "-1"], capture_output=True, timeout=10)


# -- orphans at ``process`` ------------------------------------------------------------------------------
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37
#: Seconds :func:`adopt_orphans` spends killing what it adopted before it gives up (a fork bomb racing it).
ORPHANS_S = 10.0
#: Seconds an adopted launcher has to end by itself (kill its sandbox, remove its directory) before it is killed.
ORPHANS_GRACE_S = 2.0


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (``/proc/PID/stat``: the field after the command's closing parenthesis)."""
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_bytes().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 1 and int(fields[1]) == pid:
                out.add(int(d.name))
    return out


def _reap_exited(pids: set[int]) -> set[int]:
    """Reap those of ``pids`` that have ended; the ones still running."""
    running = set()
    for pid in pids:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == 0:
                running.add(pid)
        except ChildProcessError:
            pass
    return running


def _is_launcher(pid: int) -> bool:
    """Whether ``pid`` runs a sandbox's launcher (``_launcher.py`` on its command line)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return any(os.path.basename(a) == b"_launcher.py" for a in argv)  # masquerading buys a hostile process the grace, no more


def _kill_adopted(keep: set[int]) -> None:
    """Reap every child of this process not in ``keep``; SIGKILL them, in rounds, until none is left.

    An adopted launcher (its worker was killed: its lifeline is closed) has
    :data:`ORPHANS_GRACE_S` to kill its sandbox and remove its directory
    itself; anything else is killed at once.
    """
    import signal
    import time

    start = time.monotonic()
    while time.monotonic() < start + ORPHANS_S:
        adopted = _reap_exited(_children(os.getpid()) - keep)
        if not adopted:
            return
        for pid in adopted:
            if time.monotonic() > start + ORPHANS_GRACE_S or not _is_launcher(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        time.sleep(0.01)


@contextlib.contextmanager
def adopt_orphans(level: "Level | str") -> Iterator[None]:
    """At ``process`` on Linux: the calling (grading) process adopts the sandboxes' orphans and kills them on leaving.

    A submission at ``process`` can kill its launcher (its own parent, the
    same user); the detached processes it started then go to the nearest
    child subreaper, this process, instead of init, and are SIGKILLed when
    the block ends (before the grader writes any output).  Children this
    process had before are left alone; the subreaper flag is restored.
    Other levels and systems: nothing (their launcher is out of reach).
    """
    if Level.parse(level) is not Level.PROCESS or not sys.platform.startswith("linux"):
        yield
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    before = ctypes.c_int(0)
    libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(before), 0, 0, 0)
    keep = _children(os.getpid())
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    try:
        yield
    finally:
        _kill_adopted(keep)
        libc.prctl(PR_SET_CHILD_SUBREAPER, before.value, 0, 0, 0)


# -- what the child needs to see -------------------------------------------------------------------------
def _reachable(path: str) -> bool:
    """Whether "others" can reach ``path``: search permission on every ancestor, read on the path."""
    p = Path(path)
    try:
        for parent in reversed(p.parents):
            if not os.stat(parent).st_mode & 0o001:
                return False
        return bool(os.stat(p).st_mode & 0o004)
    except OSError:
        return False


def _hidden_ancestor(path: str) -> str | None:
    """The highest ancestor of ``path`` that "others" cannot search, if any."""
    for parent in reversed(Path(path).parents):
        try:
            if not os.stat(parent).st_mode & 0o001:
                return str(parent)
        except OSError:
            return None
    return None


def python_paths() -> list[str]:
    """The interpreter's own prefix, the venv (if any) and numpy's directories: what the child must read."""
    import numpy

    paths = {os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)}
    site = os.path.dirname(os.path.dirname(os.path.realpath(numpy.__file__)))
    paths.add(site)
    return sorted(paths)


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip("/") + "/")


def expose_plan(paths: list[str], hide: list[str] = (), keys: list[str] = ()) -> list[tuple[str, list[str]]] | None:  # type: ignore[assignment]
    """For ``uid``: directories to cover with an empty read-only tmpfs, each with the paths to bind back.

    Covered: the highest directory on the way to each of ``paths`` that
    others cannot search (``/root``, mode 0700, when Python lives there), and
    each directory of ``hide`` (the submission's folder, the grader's working
    directory).  Paths of ``paths`` inside a covered directory are bound back
    read-only.  Then each of ``keys`` (:func:`answer_key_paths`) the child
    could still see is covered too, even inside a directory it needs (the
    installed ``reference_models`` beside numpy): mounted last, on top of the
    paths bound back.  None when there is nothing to cover.
    """
    covers: dict[str, list[str]] = {}
    for p in paths:
        hidden = _hidden_ancestor(p)
        if hidden is not None:
            covers.setdefault(hidden, [])
    for h in hide:
        h = os.path.realpath(h)
        if h != "/" and os.path.isdir(h):
            covers.setdefault(h, [])
    tops: list[str] = []
    for c in sorted(covers, key=len):
        if not any(_inside(c, t) for t in tops):
            tops.append(c)
    plan = [(t, sorted(p for p in paths if _inside(p, t) and p != t)) for t in tops]
    plan = [(t, back) for t, back in plan if not any(_inside(t, p) for p in paths)]  # never cover what the child needs
    plan += _key_covers(paths, [t for t, _ in plan], keys)
    return plan or None


def _key_covers(paths: list[str], tops: list[str], keys: list[str]) -> list[tuple[str, list[str]]]:
    """The answer key's covers (:func:`expose_plan`): each key in view (under no cover, or under a path bound back)."""
    out: list[tuple[str, list[str]]] = []
    for k in sorted({os.path.realpath(k) for k in keys}, key=len):
        hidden = any(_inside(k, t) for t in tops) and not any(_inside(k, p) for p in paths)
        if not hidden and os.path.isdir(k) and not any(_inside(k, o) for o, _ in out):
            out.append((k, sorted(p for p in paths if _inside(p, k) and p != k)))
    return out


def _is_clone(folder: str) -> bool:
    """Whether ``folder`` is a source tree of this project (it holds the answer key: ``reference_models``).

    A source tree has the project's ``pyproject.toml`` beside the two
    packages.  An environment's ``site-packages`` holds the same two
    packages after a non-editable install, and is no clone: covering it
    hid numpy from the child, and ``uid`` could grade nothing from a
    wheel's install (rt20 F5; the installed packages are keys of their own).
    """
    return (os.path.isfile(os.path.join(folder, "reference_models", "__init__.py"))
            and os.path.isdir(os.path.join(folder, "gradcheck", "grading"))
            and os.path.isfile(os.path.join(folder, "pyproject.toml"))
            and os.path.realpath(folder) not in site_dirs())


def answer_key_paths(cwd: str | None = None) -> list[str]:
    """Where the grader's reference solutions are on this machine, as far as it can tell (real paths, sorted).

    The ``reference_models`` and ``gradcheck`` packages the grader imports
    (the installed copy, or a source tree's); the source tree they come
    from, when they do (an editable install: its ``.git`` holds the key
    too); and every source tree of this project that is ``cwd``, one of
    its parents (an instructor grading inside their clone) or a folder
    beside ``cwd`` (the clone next to the class folder).  At ``uid``
    with a mount namespace each is covered with an empty tmpfs, at
    ``namespaces`` the installed copy is (the rest is never in view); below
    that, file permissions alone keep them from the sandbox's user
    (:func:`readable_by_others`).  A clone elsewhere cannot be found.
    """
    import reference_models

    import gradcheck

    found = {os.path.dirname(os.path.realpath(m.__file__ or "")) for m in (reference_models, gradcheck)}
    here = os.path.realpath(cwd if cwd is not None else os.getcwd())
    near = [os.path.dirname(os.path.dirname(os.path.realpath(gradcheck.__file__ or ""))), here, *(str(p) for p in Path(here).parents)]
    if here != "/":
        near += _subfolders(os.path.dirname(here))  # a clone beside the class folder (~/teaching/gradcheck, ~/teaching/hw3)
    for folder in near:
        if folder and folder != "/" and _is_clone(folder):
            found.add(os.path.realpath(folder))
    return sorted(found)


#: World-writable folders covered at ``uid`` with a mount namespace (the child's working folder, and a virtual
#: environment there, bound back): every user's copies of the project there (clones, build folders, environments in
#: ``/tmp``) are out of view (rt26 F5).  The child's ``TMPDIR`` is its working folder.
SHARED_TMP: tuple[str, ...] = ("/tmp", "/var/tmp")
#: Top-level folders :func:`readable_copies` never looks in (the system's; ``/proc``, ``/sys`` are not files).
_NOT_SCANNED = frozenset({"/proc", "/sys", "/dev", "/run", "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                          "/etc", "/boot", "/var", "/snap", "/nix"})
#: How deep :func:`readable_copies` looks below each top-level folder, and how many folders it opens at most.
SCAN_DEPTH = 4
SCAN_FOLDERS = 20000


def scan_roots(covered: "tuple[str, ...] | list[str]" = ()) -> list[str]:
    """The top-level folders :func:`readable_copies` looks in: every one but the system's and ``covered``, plus ``/var/tmp``."""
    tops = [e.path for e in _scandir("/") if e.is_dir(follow_symlinks=False) and e.path not in _NOT_SCANNED]
    return sorted(t for t in [*tops, "/var/tmp"] if t not in covered and readable_by_others(t))


def readable_copies(roots: "list[str] | tuple[str, ...]", *, depth: int = SCAN_DEPTH, budget: int = SCAN_FOLDERS) -> list[str]:
    """Copies of the answer key the sandbox's user can read: folders holding ``reference_models/__init__.py`` (a clone,
    a build folder, an environment's packages) and ``gradcheck-*.whl`` wheels, up to ``depth`` folders below each root.

    Only folders others can search are entered (what the sandbox's user can reach); hidden folders are skipped;
    at most ``budget`` folders are opened.  Real paths, sorted.
    """
    found: set[str] = set()
    todo = [(os.path.realpath(r), 0) for r in roots]
    while todo and budget > 0:
        folder, level = todo.pop()
        budget -= 1
        for e in _scandir(folder):
            if e.name.startswith(".") or e.is_symlink():
                continue
            if e.is_file() and e.name.startswith("gradcheck-") and e.name.endswith(".whl") and readable_by_others(e.path):
                found.add(e.path)
            elif e.is_dir() and e.name == "reference_models" and readable_by_others(os.path.join(e.path, "__init__.py")):
                found.add(e.path)
            elif e.is_dir() and level < depth and e.stat().st_mode & 0o001:
                todo.append((e.path, level + 1))
    return sorted(found)


_found: list[list[str]] = []


def uncovered_copies() -> list[str]:
    """The readable copies (:func:`readable_copies`) outside :data:`SHARED_TMP`, looked for once per process.

    At ``uid`` with a mount namespace each folder among them is covered with an
    empty tmpfs too (:func:`plan_launch`); a wheel, a file, is only named in the
    grader's warning (``preflight.answer_key_exposure``).
    """
    with _probe_lock:
        if not _found:
            _found.append(readable_copies(scan_roots(SHARED_TMP)))
        return list(_found[0])


def _scandir(folder: str) -> list[os.DirEntry[str]]:
    try:
        return list(os.scandir(folder))
    except OSError:
        return []


def _subfolders(folder: str) -> list[str]:
    try:
        return [e.path for e in os.scandir(folder) if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def readable_by_others(path: str) -> bool:
    """Whether a user with no relation to ``path``'s owner or group (the sandbox's uid) can read a file under it.

    Every directory on the way must be searchable by others, and ``path``
    itself readable (and, for a directory, searchable) by others.
    """
    import stat

    real = os.path.realpath(path)
    try:
        for parent in reversed(Path(real).parents):
            if not os.stat(parent).st_mode & stat.S_IXOTH:
                return False
        mode = os.stat(real).st_mode
    except OSError:
        return False
    need = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
    return mode & need == need


def numpy_dirs() -> list[str]:
    """numpy's package directory and the shared libraries bundled beside it (``numpy.libs``)."""
    import numpy

    pkg = os.path.dirname(os.path.realpath(numpy.__file__))
    site = os.path.dirname(pkg)
    out = [pkg]
    for name in os.listdir(site):
        if name.startswith("numpy") and name.endswith(".libs"):
            out.append(os.path.join(site, name))
    return out


def site_dirs() -> list[str]:
    """The site-packages directories a ``python -I`` child of this interpreter sees (no user site).

    What the child has at ``uid`` and ``process``; at ``namespaces`` each is bound
    read-only at its own path, so every level imports the same installed packages.
    """
    import site

    return [os.path.realpath(d) for d in site.getsitepackages() if os.path.isdir(d)]


def base_site_dirs() -> list[str]:
    """The base interpreter's own site-packages when this interpreter is a virtual environment's that does not use them.

    A virtual environment made without ``--system-site-packages`` imports
    only its own packages; at ``namespaces`` the child sees the base
    interpreter's whole prefix (its standard library), and these are
    covered there so that the child has the environment's packages only.
    Empty outside a virtual environment (the base's packages are then the
    :func:`site_dirs`).
    """
    import sysconfig

    if os.path.realpath(sys.prefix) == os.path.realpath(sys.base_prefix):
        return []
    base = {"base": sys.base_prefix, "platbase": sys.base_prefix, "installed_base": sys.base_prefix, "installed_platbase": sys.base_prefix}
    found = {os.path.realpath(sysconfig.get_path(k, vars=base)) for k in ("purelib", "platlib")}
    used = set(site_dirs())
    return sorted(d for d in found if os.path.isdir(d) and d not in used)


#: Where the ``namespaces`` view has its own mounts (tmpfs ``/tmp``, ``/proc``, ``/dev``, the bootstrap).
_NS_OWN = ("/tmp", "/proc", "/dev", "/run/gradcheck")


def ns_site_binds() -> list[tuple[str, str]]:
    """Each of :func:`site_dirs` and where the ``namespaces`` view shows it: at its own path, or, when that
    path is under one of the view's own mounts (a virtual environment in ``/tmp``), under
    ``/run/gradcheck/sites/N`` (a fresh clone's venv in /tmp saw no package but numpy)."""
    return [(d, f"{NS_HOME}/sites/{i}" if any(_inside(d, top) for top in _NS_OWN) else d) for i, d in enumerate(site_dirs())]


def ns_site_dirs() -> list[str]:
    """Where the ``namespaces`` view shows the :func:`site_dirs` (:func:`ns_site_binds`), for the child's ``sys.path``."""
    return [shown for _, shown in ns_site_binds()]


SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")


def root_plan(*, uid: int, gid: int, files: dict[str, str], tmp_bytes: int, sources: list[str]) -> dict[str, Any]:
    """For ``namespaces``: the child's whole filesystem view (see ``_launcher.build_root``).

    The interpreter is run from its real prefix (bound at the same path, read-only), with
    ``-S``; numpy is bound under ``/run/gradcheck/site``, and the site-packages
    directories of :func:`site_dirs` at their own paths (read-only), for the child to add.
    """
    prefix = os.path.realpath(sys.base_prefix)
    binds = [(d, d) for d in SYSTEM_DIRS if not prefix.startswith(d + "/")]
    binds.append((prefix, prefix))
    for d in numpy_dirs():
        binds.append((d, "/run/gradcheck/site/" + os.path.basename(d)))
    binds.extend((d, shown) for d, shown in ns_site_binds() if not _inside(d, prefix))
    # the answer key installed beside the packages the child imports: in view, so covered (a `cat` in a subprocess
    # reads what the child's audit hook refuses to open); and the base interpreter's own packages, which a virtual
    # environment's interpreter does not use (rt26 F3: `sys.path.append(...)` gave the child the base's sympy)
    hidden = [*answer_key_paths("/"), *base_site_dirs()]
    covers = sorted({shown + key[len(src):] for src, shown in binds for key in hidden if _inside(key, src) and key != src})
    return {
        "base": _mount_base(sources),
        "binds": binds,
        "covers": covers,
        "files": files,
        "tmp_bytes": tmp_bytes,
        "uid": uid,
        "gid": gid,
    }


def _mount_base(sources: list[str]) -> str:
    """A directory to build the new root on: one that holds none of the bind sources."""
    for cand in ("/mnt", "/media", "/srv", "/opt", "/tmp", "/var/tmp"):
        if os.path.isdir(cand) and not any(s == cand or s.startswith(cand + "/") for s in sources):
            return cand
    raise IsolationUnavailable("no directory to build the sandbox's root on (/mnt, /srv, /opt, /tmp all hold the interpreter)")


# -- how to start a child ---------------------------------------------------------------------------------
#: Where the child's bootstrap lives inside the ``namespaces`` view.
NS_HOME = "/run/gradcheck"
#: uid and gid of the child inside a user namespace (a non-root grader).
NS_USER = 1000


@dataclass
class Launch:
    """The command that starts the launcher, and what the grader must clean up after it."""

    argv: list[str]
    env: dict[str, str]
    cwd: str
    workdir: str | None  # a host directory the grader removes at the end (``None`` at ``namespaces``)
    lease: UidLease | None
    child_workdir: str  # the child's working directory, as the child sees it
    fds: tuple[int, ...] = ()  # the launcher's and the child's configuration (:func:`config_fd`): to pass, then close


def config_fd(config: dict[str, Any]) -> int:
    """A descriptor to read ``config`` from (JSON, from its start): an unnamed file only its holders can read.

    A command line is readable by every user (``/proc/PID/cmdline``): the
    launcher's and the child's configuration (the harness's directories,
    i.e. where the answer key is; the child's bootstrap) are handed over
    through a descriptor instead (rt26 L10).  The caller closes it.
    """
    import json
    import tempfile

    with tempfile.TemporaryFile() as f:
        f.write(json.dumps(config).encode("utf-8"))
        f.flush()
        fd = os.dup(f.fileno())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _config_arg(fd: int) -> str:
    """How a command line names a configuration descriptor (read by ``read_config`` of ``_launcher.py`` and ``_child.py``)."""
    return f"fd:{fd}"


def _setpriv(iso: Isolation, lease: UidLease | None) -> list[str]:
    assert iso.setpriv is not None
    if lease is None:  # inside a user namespace: the nested one already left every capability behind
        return [iso.setpriv, "--no-new-privs", "--"]
    return [
        iso.setpriv, f"--reuid={lease.uid}", f"--regid={lease.gid}", "--clear-groups",
        "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--",
    ]


def _unshare_ns(iso: Isolation) -> list[str]:
    assert iso.unshare is not None
    user = ["--user", "--map-root-user"] if iso.userns else []
    return [iso.unshare, *user, "--pid", "--fork", "--mount", "--net", "--ipc", "--uts", "--kill-child", "--"]


def plan_launch(
    iso: Isolation,
    *,
    scripts: dict[str, Path],
    child_config: dict[str, Any],
    env: dict[str, str],
    launcher_config: dict[str, Any],
    nproc: int,
    tmp_bytes: int,
    hide: "list[str] | tuple[str, ...]" = (),
) -> Launch:
    """The launcher's command line for ``iso`` (see ``_launcher.py`` for what it does with it).

    ``scripts`` maps ``"launcher"``, ``"child"`` and ``"wire"`` to the
    harness's files; ``child_config`` is completed with the paths the child
    sees; ``launcher_config`` (descriptors, lifeline) with the level's plan.
    Both configurations go through descriptors (:attr:`Launch.fds`), never
    on a command line.
    """
    import tempfile

    lease = lease_uid() if iso.level is not Level.PROCESS and not iso.userns else None
    if lease is not None:
        launcher_config = dict(launcher_config, lease_fd=lease.fd)
    try:
        if iso.level is Level.NAMESPACES:
            return _plan_namespaces(iso, scripts, child_config, env, launcher_config, nproc, tmp_bytes, lease)
        workdir = tempfile.mkdtemp(prefix="gradcheck-sandbox-")
        env = dict(env, HOME=workdir, TMPDIR=workdir, MPLCONFIGDIR=workdir)
        child_config = dict(child_config, wire=str(scripts["wire"]))
        child_script = str(scripts["child"])
        prefix: list[str] = []
        cfg = dict(launcher_config, level=iso.level.value, cwd=workdir, cleanup=workdir)  # removed by the launcher too: a killed worker leaves nothing
        if lease is not None:  # uid: the child's own copy of its bootstrap, a workdir it owns, setpriv
            boot = os.path.join(workdir, ".gradcheck")
            os.mkdir(boot, 0o755)
            for key in ("child", "wire"):
                shutil.copyfile(scripts[key], os.path.join(boot, scripts[key].name))
            child_script = os.path.join(boot, scripts["child"].name)
            child_config["wire"] = os.path.join(boot, scripts["wire"].name)
            os.chown(workdir, lease.uid, lease.gid)
            prefix = _setpriv(iso, lease)
            plan = expose_plan([*python_paths(), workdir], [*hide, *SHARED_TMP], _uid_keys()) if iso.mount_ns else None
            cfg.update(uid=lease.uid, gid=lease.gid, nproc=nproc, cleanup=workdir, expose=plan, setsid=True)
            child_config["nproc"] = nproc
        child_fd = config_fd(child_config)
        child_argv = [*prefix, sys.executable, "-I", "-B", "-X", "utf8", child_script, _config_arg(child_fd)]
        cfg.update(argv=child_argv, env=env, fds=[*cfg["fds"], child_fd])
        launcher_fd = config_fd(cfg)
        argv = [sys.executable, "-I", "-S", "-B", str(scripts["launcher"]), _config_arg(launcher_fd)]
        if cfg.get("expose"):
            assert iso.unshare is not None
            argv = [iso.unshare, "--mount", "--", *argv]
        return Launch(argv, env, workdir, workdir, lease, workdir, (child_fd, launcher_fd))
    except BaseException:
        if lease is not None:
            lease.release()
        raise


def _uid_keys() -> list[str]:
    """What ``uid`` with a mount namespace covers beside the hidden folders: the answer key's copies the grader
    finds (:func:`answer_key_paths`, the folders of :func:`uncovered_copies`) and the base interpreter's packages."""
    return [*answer_key_paths(), *(c for c in uncovered_copies() if os.path.isdir(c)), *base_site_dirs()]


def _plan_namespaces(
    iso: Isolation,
    scripts: dict[str, Path],
    child_config: dict[str, Any],
    env: dict[str, str],
    launcher_config: dict[str, Any],
    nproc: int,
    tmp_bytes: int,
    lease: UidLease | None,
) -> Launch:
    python = os.path.realpath(sys.executable)
    files = {f"{NS_HOME}/{scripts[k].name}": scripts[k].read_text(encoding="utf-8") for k in ("child", "wire")}
    child_config = dict(child_config, wire=f"{NS_HOME}/{scripts['wire'].name}", site=[f"{NS_HOME}/site", *ns_site_dirs()], nproc=nproc)
    env = dict(env, HOME="/tmp", TMPDIR="/tmp", MPLCONFIGDIR="/tmp", PATH="/usr/local/bin:/usr/bin:/bin")
    uid, gid = (lease.uid, lease.gid) if lease is not None else (0, 0)
    prefix = _setpriv(iso, lease)
    if lease is None:  # a non-root grader: a nested user namespace in which the child is an ordinary user
        assert iso.unshare is not None
        prefix = [iso.unshare, "--user", f"--map-user={NS_USER}", f"--map-group={NS_USER}", "--", *prefix]
    child_fd = config_fd(child_config)
    child_argv = [*prefix, python, "-I", "-S", "-B", "-X", "utf8", f"{NS_HOME}/{scripts['child'].name}", _config_arg(child_fd)]
    sources = [os.path.realpath(sys.base_prefix), *numpy_dirs(), *(d for d, _ in ns_site_binds())]
    root = root_plan(uid=uid, gid=gid, files=files, tmp_bytes=tmp_bytes, sources=sources)
    cfg = dict(
        launcher_config, level=Level.NAMESPACES.value, cwd="/tmp", argv=child_argv, env=env, root=root,
        uid=uid, gid=gid, nproc=nproc, setsid=True,  # in a nested user namespace too: counted per namespace since Linux 5.14
        fds=[*launcher_config["fds"], child_fd],
    )
    launcher_fd = config_fd(cfg)
    argv = [*_unshare_ns(iso), python, "-I", "-S", "-B", str(scripts["launcher"]), _config_arg(launcher_fd)]
    return Launch(argv, env, "/", None, lease, "/tmp", (child_fd, launcher_fd))
