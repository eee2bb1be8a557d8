"""The sandbox child's parent and supervisor.

Run by :class:`gradcheck.grading.sandbox.Sandbox` as::

    python -I -S -B _launcher.py fd:N

(``N``: a descriptor holding the configuration's JSON, :func:`read_config`)

directly (level ``process``), under ``unshare --mount`` (level ``uid`` when
the interpreter must be made reachable), or as pid 1 of new pid, mount,
network, ipc and uts namespaces made by util-linux ``unshare`` (level
``namespaces``).  Standard library only, no ``site``.

What it does, in order:

1. ``namespaces``: builds the child's whole filesystem view on a fresh
   tmpfs (the system's read-only directories, the interpreter's prefix and
   the packages the child needs, each bound read-only; the child bootstrap
   and the wire module copied in; a private ``/tmp`` of bounded size as the
   working directory; a ``/proc`` of the new pid namespace) and
   ``pivot_root``\\s into it.  ``uid`` with an unreachable interpreter
   (Python under ``/root``, mode 0700): a tmpfs over the unreachable
   directory with the needed paths bound back read-only.
2. Forks the child: a new session, ``RLIMIT_NPROC``, then ``exec`` of the
   child's command (at ``uid`` and ``namespaces``: through util-linux
   ``setpriv``, which drops to the sandbox's own uid and gid, clears the
   supplementary groups, every capability and sets ``no_new_privs``).
3. Supervises: waits for the child (a pidfd) and for the end of its
   *lifeline*, a pipe whose other end only the grading process holds.
   When the child ends, or the grading process goes away for any reason
   (killed, crashed, a threaded executor: no ``PR_SET_PDEATHSIG``
   subtleties), every process of the sandbox is killed: as pid 1 of the
   pid namespace by ``kill(-1)``; at ``uid`` by ``kill(-1)`` *as the
   sandbox's uid*, which reaches exactly its processes; at ``process`` the
   child's process group, then (Linux) every process the launcher adopted as
   a child subreaper (``PR_SET_CHILD_SUBREAPER``): the detached ones, in
   their own sessions, whose parents ended.  Then the working directory is removed (``uid``)
   and the launcher ends the way the child ended (the same exit code, or
   the same signal), so the grader reads the child's fate and CPU time
   exactly as if it had spawned the child itself.

At ``uid`` and ``namespaces`` the launcher keeps the grader's identity, so
the submission can neither signal nor trace it.  At ``process`` it is the
submission's own parent: ``os.kill(os.getppid(), SIGKILL)`` ends only this
session (its orphans then go to the grading process, a subreaper too, which
kills them before it writes anything).
"""
from __future__ import annotations

import ctypes
import json
import os
import resource
import select
import shutil
import signal
import sys
from typing import Any

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
#: Seconds the launcher spends killing a ``process``-level sandbox's orphans before it gives up (a fork bomb racing it).
ORPHANS_S = 5.0

_libc: Any = None


def libc() -> Any:
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def _check(rc: int, what: str) -> None:
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount(src: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    def enc(s: str | None) -> bytes | None:
        return None if s is None else os.fsencode(s)

    _check(libc().mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {src} on {target}")


def bind(src: str, target: str, *, writable: bool = False, device: bool = False) -> None:
    """Bind ``src`` on ``target`` (created: a directory or an empty file), read-only unless ``writable``."""
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if not os.path.exists(target):
            open(target, "wb").close()
    mount(src, target, None, MS_BIND | MS_REC)
    flags = MS_BIND | MS_REMOUNT | MS_NOSUID | (0 if device else MS_NODEV) | (0 if writable else MS_RDONLY)
    mount(None, target, None, flags)


def pivot_root(new_root: str, put_old: str) -> None:
    nr = 155  # x86_64
    if os.uname().machine in ("aarch64", "arm64"):
        nr = 41
    _check(libc().syscall(nr, os.fsencode(new_root), os.fsencode(put_old)), "pivot_root")


def build_root(plan: dict[str, Any]) -> None:
    """The child's filesystem view on a fresh tmpfs (see the module docstring)."""
    base = plan["base"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", base, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16m")
    for src, dst in plan["binds"]:
        if os.path.islink(src) and dst in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
            os.symlink(os.readlink(src), base + dst)  # merged /usr: keep the symlink
        elif os.path.exists(src):
            bind(src, base + dst)
    for dst in plan.get("covers", []):  # the answer key beside the packages bound above: an empty read-only tmpfs over it
        if os.path.isdir(base + dst):
            mount("tmpfs", base + dst, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=16k")
            mount(None, base + dst, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    for dst, text in plan["files"].items():
        os.makedirs(os.path.dirname(base + dst), exist_ok=True)
        with open(base + dst, "w", encoding="utf-8") as f:
            f.write(text)
    for link, target in plan.get("symlinks", {}).items():
        os.makedirs(os.path.dirname(base + link), exist_ok=True)
        os.symlink(target, base + link)
    for dev in ("null", "zero", "full", "random", "urandom"):
        bind("/dev/" + dev, f"{base}/dev/{dev}", writable=True, device=True)  # nodev would make /dev/null unopenable
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")):
        os.symlink(target, f"{base}/dev/{name}")
    os.makedirs(base + "/proc")
    mount("proc", base + "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.makedirs(base + "/tmp")
    mount("tmpfs", base + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700,size={plan['tmp_bytes']},uid={plan['uid']},gid={plan['gid']}")
    os.makedirs(base + "/.old")
    pivot_root(base, base + "/.old")
    os.chdir("/")
    _check(libc().umount2(b"/.old", MNT_DETACH), "umount the old root")
    os.rmdir("/.old")
    mount(None, "/", None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def expose(plan: list[list[Any]], writable: set[str | None]) -> None:
    """``uid``: cover directories with an empty read-only tmpfs, binding back the paths the child needs."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    for hidden, paths in plan:
        fds = [(p, os.open(p, os.O_PATH)) for p in paths]
        mount("tmpfs", hidden, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
        for p, fd in fds:
            _bind_fd(fd, p, p in writable)
            os.close(fd)
        mount(None, hidden, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)


def _bind_fd(fd: int, target: str, writable: bool) -> None:
    src = f"/proc/self/fd/{fd}"
    if os.path.isdir(src):
        os.makedirs(target, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "wb").close()
    mount(src, target, None, MS_BIND | MS_REC)
    mount(None, target, None, MS_BIND | MS_REMOUNT | (0 if writable else MS_RDONLY) | MS_NOSUID | MS_NODEV)


def kill_uid(uid: int, gid: int) -> None:
    """SIGKILL every process of ``uid`` (as that uid, ``kill(-1)`` reaches exactly its processes)."""
    for _ in range(2):
        pid = os.fork()
        if pid == 0:
            try:
                os.setgroups([])
                os.setresgid(gid, gid, gid)
                os.setresuid(uid, uid, uid)
                os.kill(-1, signal.SIGKILL)
            except BaseException:
                pass
            os._exit(0)
        os.waitpid(pid, 0)


def remove_owned(uid: int) -> None:
    """What the uid left in the world-writable directories (it is this sandbox's alone while leased)."""
    for top in ("/tmp", "/var/tmp", "/dev/shm"):
        try:
            entries = list(os.scandir(top))
        except OSError:
            continue
        for entry in entries:
            try:
                if entry.stat(follow_symlinks=False).st_uid != uid:
                    continue
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.unlink(entry.path)
            except OSError:
                pass


def start_child(cfg: dict[str, Any]) -> int:
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        if cfg.get("setsid"):
            os.setsid()
        nproc = cfg.get("nproc")
        if nproc:
            resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))
        if cfg.get("cwd"):
            os.chdir(cfg["cwd"])
        for fd in (cfg["lifeline"], cfg.get("lease_fd")):
            if fd is not None:
                os.close(fd)
        argv = cfg["argv"]
        os.execve(argv[0], argv, cfg["env"])
    finally:
        os._exit(127)


def reap_others(child: int) -> int | None:
    """Reap orphans (pid 1 of a namespace adopts them); the child's status when it is among them."""
    status = None
    while True:
        try:
            pid, st = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return status
        if pid == 0:
            return status
        if pid == child:
            status = st


def supervise(cfg: dict[str, Any], child: int) -> int | None:
    """Wait for the child's end or the lifeline's; returns the child's wait status (None: the grader left)."""
    lifeline = cfg["lifeline"]
    pidfd = os.pidfd_open(child)
    while True:
        ready, _, _ = select.select([pidfd, lifeline], [], [], 1.0)
        status = reap_others(child)
        if status is not None:
            return status
        if lifeline in ready:
            try:
                data = os.read(lifeline, 64)
            except OSError:
                data = b""
            if not data:
                return None


def children() -> list[int]:
    """The launcher's own children (parent pid read from ``/proc/PID/stat``, after the command's closing parenthesis)."""
    me, out = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    fields = f.read().rsplit(b")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 1 and int(fields[1]) == me:
                out.append(int(name))
    return out


def kill_orphans(child: int) -> None:
    """``process``: SIGKILL the child and every process the launcher adopted (a child subreaper), until it has no children.

    A detached process (``setsid`` and a double fork, ``Popen(start_new_session=True)``,
    SIGTERM ignored) is reparented to the launcher when its parent ends; killing
    the adopted ones hands their own children to the launcher, so rounds continue
    until none is left (or :data:`ORPHANS_S` passes: the grader kills the rest).
    """
    import time

    deadline = time.monotonic() + ORPHANS_S
    while time.monotonic() < deadline:
        kids = children()  # the child too while it is unreaped (its pid cannot be reused until then)
        if not kids:
            return
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        reap_others(child)
        time.sleep(0.001)


def finish(cfg: dict[str, Any], child: int) -> None:
    level = cfg["level"]
    if level == "namespaces":
        try:
            os.kill(-1, signal.SIGKILL)  # pid 1: every other process of the namespace
        except ProcessLookupError:
            pass
    elif level == "uid":
        kill_uid(cfg["uid"], cfg["gid"])
        remove_owned(cfg["uid"])
    else:
        try:
            os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if cfg.get("subreaper"):
            kill_orphans(child)
    reap_others(child)
    workdir = cfg.get("cleanup")
    if workdir:
        shutil.rmtree(workdir, ignore_errors=True)


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


def mirror(status: int | None) -> None:
    """End the way the child ended."""
    if status is None:
        os._exit(137)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


def main(argv: list[str]) -> None:
    cfg = read_config(argv[1])
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # re-raising SIGXCPU must not dump a core
    if cfg["level"] != "process":
        libc().prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # not traceable, /proc/1/* closed to the child
    elif sys.platform.startswith("linux"):  # the sandbox's detached processes become the launcher's, to kill at the end
        cfg["subreaper"] = libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    if cfg.get("root"):
        build_root(cfg["root"])
    elif cfg.get("expose"):
        expose(cfg["expose"], {cfg.get("cleanup")})
    child = start_child(cfg)
    for fd in cfg["fds"]:
        try:
            os.close(fd)
        except OSError:
            pass
    status = supervise(cfg, child)
    finish(cfg, child)
    if status is None:
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            status = None
    mirror(status)


if __name__ == "__main__":
    main(sys.argv)
