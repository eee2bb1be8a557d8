"""Writing an output file whole or not at all: the one owner of that rule.

Every file the grader writes (the gradebook, the LMS import, the report,
the feedback, ``results.json``, a cache entry, the autograder zip) is
written to a temporary file beside it and renamed over it, so a reader
(an LMS import, a second run, a crash) sees the old file or the new one,
never a partial one (rt26 F12 left a 0-byte gradebook).

A path that already exists and is not a regular file (``/dev/null``,
``/dev/stdout``, a FIFO) is written in place: a rename would replace the
device itself, and as root ``gradcheck grade --csv /dev/null`` turned the
machine's ``/dev/null`` into a regular file (rt27).  A symbolic link to a
regular file is followed: its target is what gets replaced, and the link
stays.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_atomic(d / "out" / "grades.csv", "id,score\\n1,4\\n").read_text()
'id,score\\n1,4\\n'
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["write_atomic"]


def write_atomic(path: str | os.PathLike[str], data: str | bytes, *, encoding: str = "utf-8",
                 newline: str | None = None, private: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (a temporary file beside it, then a rename); returns ``path``.

    Parameters
    ----------
    path : path-like
        The file; its folder is created.  A directory is refused; an
        existing non-regular file (a device, a FIFO) is written in place.
    data : str or bytes
        Text (written with ``encoding`` and ``newline``) or bytes.
    encoding, newline
        As for :func:`open` (``"utf-8-sig"`` and ``""`` for the CSV files
        spreadsheets open).
    private : bool
        Create the file readable by its owner only (mode 0600: cache entries).
    """
    given = Path(path)
    if given.is_dir():
        raise IsADirectoryError(f"{str(given)!r} is a directory, not a file")
    try:
        mode = os.stat(given).st_mode
    except FileNotFoundError:
        mode = None
    if mode is not None and not stat.S_ISREG(mode):
        _write(os.open(given, os.O_WRONLY | os.O_TRUNC), data, encoding, newline)
        return given
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        _write(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666), data, encoding, newline)
        os.replace(tmp, target)
    finally:  # a failure leaves no stray temporary file beside the outputs
        tmp.unlink(missing_ok=True)
    return given


def _write(fd: int, data: str | bytes, encoding: str, newline: str | None) -> None:
    """``data`` into the open descriptor ``fd``, which is closed after."""
    if isinstance(data, bytes):
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    else:
        with os.fdopen(fd, "w", encoding=encoding, newline=newline) as fh:
            fh.write(data)
