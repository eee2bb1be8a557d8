"""The sandbox child's parent: a small process the submission can kill without harm.

Run by :class:`gradcheck.grading.sandbox.Sandbox` as::

    python -I -S -B _launcher.py FD,FD,... CHILD_ARGV...

It forks, the fork ``exec``\\s ``CHILD_ARGV`` (inheriting the listed pipe
descriptors), and the launcher closes its own copies of those descriptors
and waits.  When the child ends, the launcher ends the same way: the same
exit code, or the same signal re-raised on itself, so the grader reads the
child's fate (``SIGXCPU``, ``SIGKILL`` ...) and its CPU time (``wait4``
counts the waited-for child) exactly as if it had spawned the child itself.

Why: the submission's ``os.getppid()`` is this process, not the grader's
worker, so ``os.kill(os.getppid(), SIGKILL)`` or
``os.killpg(os.getpgid(os.getppid()), ...)`` ends this submission's own
session (verdict ``crash``) instead of the worker grading it, and the other
submissions are not disturbed.  Standard library only, no ``site``.
"""
import os
import resource
import signal
import sys


def main(argv: list) -> None:
    fds = [int(s) for s in argv[1].split(",") if s]
    child = argv[2:]
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # re-raising SIGXCPU must not dump a core
    pid = os.fork()
    if pid == 0:
        try:
            os.execv(child[0], child)
        finally:
            os._exit(127)
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
    while True:
        try:
            _, status = os.waitpid(pid, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            os._exit(70)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)
    os._exit(os.waitstatus_to_exitcode(status) & 0xFF)


if __name__ == "__main__":
    main(sys.argv)
