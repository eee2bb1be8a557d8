"""The resume cache of ``gradcheck grade``: authenticated results, one file per job.

The key of a job (:func:`cache_key`) covers everything that can change its
result: the submission's content (and its helper modules'), its identity,
the assignment (its file's bytes, and the parsed assignment, so ``--model``
alone is covered too), every option that changes a verdict (seed, language,
limits, shrinking, isolation level) and the gradcheck, Python and numpy
versions, and a hash of the grading code itself (:func:`code_hash`).  Two
students who hand in the same file have different keys.

Every entry carries an HMAC-SHA256 of its name, the inputs it was graded
from (:func:`cache_inputs`) and its result, made with the grader's own
secret: one per user, outside every cache directory and every graded
folder (:func:`key_path`, ``$XDG_STATE_HOME/gradcheck/cache-key``, else
``~/.local/state/gradcheck/cache-key``; created mode 0600 in a 0700
directory, refused when it is a symlink, another user's, or readable or
writable by others: :func:`load_key`).  A cache directory is only where
entries are kept (:func:`default_cache_dir`, ``$XDG_CACHE_HOME/gradcheck/grades``,
else ``~/.cache/gradcheck/grades``; or ``--cache DIR``), never what
vouches for them: a directory that came with a student's repository, with
a key of its own beside its entries, proves nothing (rt26 F9).  An entry
whose HMAC does not verify (tampered with, written under another key: by
another user, on another machine, by the layout before this one that kept
a key in the cache directory) or whose inputs differ from the job's, or
whose result is of another file, is not served, and the submission is
graded again (:attr:`ResultCache.rejected` counts them, for one warning).
Only the grading (coordinating) process reads or writes the cache, and
``gradcheck grade`` does not use it at all at the ``process`` isolation
level: there the code under grade runs as the grader's user and could
read the key, so the key is deleted before such a run (:func:`retire_key`).

Examples
--------
>>> import secrets, tempfile
>>> from gradcheck.grading.results import SubmissionResult
>>> cache = ResultCache(tempfile.mkdtemp(), key=secrets.token_bytes(32))
>>> r = SubmissionResult("a.py", "xor_2layer", 0, 1.0, 2.0)
>>> cache.put("k1", r)
>>> cache.get("k1") == r, cache.get("k2")
(True, None)
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import inspect
import json
import os
import platform
import secrets
import stat
from pathlib import Path
from typing import Any, Mapping

from gradcheck.grading.atomic import write_atomic
from gradcheck.grading.results import SubmissionResult

__all__ = [
    "CACHE_FORMAT", "KEY_BYTES", "CacheKeyError", "ResultCache", "cache_inputs", "cache_key", "code_hash", "default_cache_dir",
    "key_path", "load_key", "retire_key", "versions", "versions_line",
]

#: Bumped when the entry format or the key's meaning changes.
CACHE_FORMAT = "5"  # 3: helper_hashes; 4: seeded randomness (rt20 F4); 5: the key per user, entries carry their inputs (rt26 F9)
#: Length of the grader's secret.
KEY_BYTES = 32


class CacheKeyError(OSError):
    """The grader's cache key cannot be trusted or made (its path and what to do are in the message)."""


def _xdg_dir(variable: str, fallback: str) -> Path:
    """``$variable`` when it is an absolute path (the XDG rule: a relative one is ignored), else ``~/fallback``."""
    value = os.environ.get(variable, "")
    return Path(value) if os.path.isabs(value) else Path.home() / fallback


def key_path() -> Path:
    """Where the grader's secret lives: ``$XDG_STATE_HOME/gradcheck/cache-key``, else ``~/.local/state/gradcheck/cache-key``.

    One per user, never inside a cache directory: a cache directory can come
    with the folder being graded, a key in it proves only that whoever made
    the folder signed its entries.
    """
    return _xdg_dir("XDG_STATE_HOME", ".local/state") / "gradcheck" / "cache-key"


def default_cache_dir() -> Path:
    """Where results are kept without ``--cache``: ``$XDG_CACHE_HOME/gradcheck/grades``, else ``~/.cache/gradcheck/grades``.

    The user's own cache, not the working directory (which may be a student's checkout).
    """
    return _xdg_dir("XDG_CACHE_HOME", ".cache") / "gradcheck" / "grades"


def _owner_only(st: os.stat_result, what: str, path: Path, forbidden: int) -> None:
    """Raise :class:`CacheKeyError` unless ``st`` is the grader's own and has none of the ``forbidden`` mode bits."""
    euid = os.geteuid() if hasattr(os, "geteuid") else st.st_uid
    if st.st_uid != euid:
        raise CacheKeyError(f"the cache key's {what} {str(path)!r} belongs to uid {st.st_uid}, not to the grader (uid {euid}): "
                            "someone else could have made or replaced it; delete it (a new key is made) or grade with --no-cache")
    if st.st_mode & forbidden:
        raise CacheKeyError(f"the cache key's {what} {str(path)!r} has mode {stat.S_IMODE(st.st_mode):04o}: other users could "
                            f"{'read or change' if forbidden == 0o077 else 'replace what is in'} it; it must be the grader's alone "
                            f"({'0600' if forbidden == 0o077 else '0700'}): delete it (a new key is made) or grade with --no-cache")


def _check_key_dir(directory: Path) -> None:
    """The key's directory: a real directory (no symlink), the grader's, writable by nobody else."""
    st = directory.lstat()
    if not stat.S_ISDIR(st.st_mode):
        raise CacheKeyError(f"the cache key's directory {str(directory)!r} is not a directory (a symlink or a file); "
                            "delete it (a new key is made) or grade with --no-cache")
    _owner_only(st, "directory", directory, 0o022)


def _create_key(path: Path) -> None:
    """Write a new secret to ``path`` unless one is there (atomically: a reader never sees half a key)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(secrets.token_bytes(KEY_BYTES))
        os.link(tmp, path)  # fails when another run made the key first: that one is used
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def load_key(path: str | os.PathLike[str] | None = None) -> bytes:
    """The grader's secret at ``path`` (default :func:`key_path`), made on first use.

    Its directory is created mode 0700; the key mode 0600.  Refused
    (:class:`CacheKeyError`) when the key or its directory is a symlink or
    not a regular file or directory, belongs to another user, or is open to
    others (the key readable or writable by group or others, the directory
    writable by them), or when the key is not :data:`KEY_BYTES` long: such
    a key may be known to someone other than the grader.

    Raises
    ------
    CacheKeyError
        Why the key cannot be trusted, naming its path.
    OSError
        When it cannot be created or read.
    """
    key_file = Path(path) if path is not None else key_path()
    key_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    _check_key_dir(key_file.parent)
    if not os.path.lexists(key_file):
        _create_key(key_file)
    try:
        fd = os.open(key_file, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))  # a FIFO never blocks
    except OSError as exc:
        if os.path.islink(key_file):
            raise CacheKeyError(f"the cache key {str(key_file)!r} is a symlink; delete it (a new key is made) or grade with --no-cache") from None
        raise exc
    with os.fdopen(fd, "rb") as fh:
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise CacheKeyError(f"the cache key {str(key_file)!r} is not a regular file; delete it (a new key is made) or grade with --no-cache")
        _owner_only(st, "file", key_file, 0o077)
        key = fh.read(KEY_BYTES + 1)
    if len(key) != KEY_BYTES:
        raise CacheKeyError(f"the cache key {str(key_file)!r} is damaged ({len(key)} bytes, expected {KEY_BYTES}); "
                            "delete it (a new key is made)")
    return key


def retire_key(path: str | os.PathLike[str] | None = None) -> bool:
    """Delete the grader's secret (default :func:`key_path`) before code it must not read runs as the grader's user.

    Entries made under it are then graded afresh.  Returns whether there was one.
    """
    key_file = Path(path) if path is not None else key_path()
    try:
        key_file.unlink()
    except FileNotFoundError:
        return False
    return True


def versions() -> dict[str, str]:
    """The versions a result depends on: gradcheck, its code (:func:`code_hash`), Python and numpy.

    The version number alone does not say which code grades: a clone
    updated with ``git pull``, or an installed copy edited in place, keeps
    it, and a cached grade written by the old code must not be served as
    the new code's.
    """
    import numpy

    from gradcheck import __version__

    return {"gradcheck": __version__, "code": code_hash(), "python": platform.python_version(),
            "numpy": numpy.__version__}


def versions_line() -> str:
    """:func:`versions` as the gradebook and the HTML report show them (the code by its hash's first 12 digits).

    >>> versions_line().startswith("gradcheck ") and " (code " in versions_line()
    True
    """
    v = versions()
    return f"gradcheck {v['gradcheck']} (code {v['code'][:12]}), Python {v['python']}, numpy {v['numpy']}"


@functools.lru_cache(maxsize=1)
def code_hash() -> str:
    """SHA-256 (hex) of the code that grades: every file of the ``gradcheck`` and ``reference_models`` packages.

    Each file's path inside its package and its bytes go in, in sorted
    order (``__pycache__`` left out: it follows the sources).  Read once
    per process, about 1.4 MB.
    """
    import gradcheck
    import reference_models

    digest = hashlib.sha256()
    for package in (gradcheck, reference_models):
        root = Path(inspect.getfile(package)).parent
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            data = path.read_bytes()
            digest.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0{len(data)}\0".encode())
            digest.update(data)
    return digest.hexdigest()


def cache_inputs(
    *,
    content: str,
    identity: str,
    assignment: Mapping[str, Any],
    options: Mapping[str, Any],
    extra: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What one grading job's result depends on: hashed into its :func:`cache_key`, stored in its entry, compared on a hit.

    Parameters
    ----------
    content : str
        SHA-256 of the graded file.
    identity : str
        The submission's identity (see :mod:`gradcheck.grading.identity`).
    assignment : mapping
        What identifies the assignment (its file's hash, its model and options, the notebook data).
    options : mapping
        Every verdict-changing option (seed, lang, shrink, limits, isolation ...).
    extra : mapping of str to str, optional
        Helper files' names to their SHA-256.
    """
    return {
        "format": CACHE_FORMAT,
        "content": content,
        "identity": identity,
        "extra": dict(sorted((extra or {}).items())),
        "assignment": assignment,
        "options": options,
        "versions": versions(),
    }


def _canonical(inputs: Mapping[str, Any]) -> str:
    return json.dumps(inputs, sort_keys=True, ensure_ascii=True, default=repr)


def cache_key(inputs: Mapping[str, Any]) -> str:
    """The key of one grading job: hex SHA-256 of a canonical JSON of its :func:`cache_inputs`.

    >>> k = dict(content="c", assignment={"model": "m"}, options={"seed": 0})
    >>> cache_key(cache_inputs(identity="alice.py", **k)) == cache_key(cache_inputs(identity="bob.py", **k))
    False
    """
    return hashlib.sha256(_canonical(inputs).encode()).hexdigest()


class ResultCache:
    """A directory of authenticated results (see the module docstring).

    Parameters
    ----------
    directory : str or Path
        Created (mode 0700) when missing.
    key : bytes, optional
        The secret entries are signed with (at least 32 bytes); default the
        grader's own (:func:`load_key`), never a file in ``directory``.

    Attributes
    ----------
    rejected : int
        Entries found but not served (:meth:`get`): not authentic under
        this key, damaged, or made from other inputs.

    Raises
    ------
    CacheKeyError
        When the grader's key cannot be trusted.
    OSError
        When the directory or the key cannot be created or read.
    """

    def __init__(self, directory: str | os.PathLike[str], key: bytes | None = None) -> None:
        if key is not None and (not isinstance(key, bytes) or len(key) < KEY_BYTES):
            raise ValueError(f"key must be at least {KEY_BYTES} bytes, got {type(key).__name__} of length {len(key) if isinstance(key, bytes) else '-'}")
        self._key = load_key() if key is None else key
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.rejected = 0

    def _mac(self, key: str, inputs: str, body: str) -> str:
        return hmac.new(self._key, f"{key}\n{inputs}\n{body}".encode(), hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        """The entry's file: named by the key when it is a hex SHA-256, else by the key's SHA-256."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            key = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / f"{key}.json"

    def get(self, key: str, inputs: Mapping[str, Any] | None = None) -> SubmissionResult | None:
        """The stored result of ``key``; ``None`` when absent, or (counted in :attr:`rejected`) when not served.

        Not served: the entry is damaged, its HMAC does not verify under the
        grader's key, the inputs it was graded from are not ``inputs``, or its
        result is of another file than ``inputs["content"]`` (its ``file_hash``).
        """
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, got key={key!r}")
        try:
            text = self._path(key).read_text(encoding="utf-8")
        except OSError:
            return None
        result = self._verified(key, text, "" if inputs is None else _canonical(inputs))
        if result is None or (inputs is not None and "content" in inputs and result.file_hash != inputs["content"]):
            self.rejected += 1
            return None
        return result

    def _verified(self, key: str, text: str, inputs: str) -> SubmissionResult | None:
        """The result in an entry's ``text`` if its HMAC verifies and it was graded from ``inputs``, else ``None``."""
        try:
            entry = json.loads(text)
            body, mac, stored = entry["result"], entry["mac"], entry.get("inputs", "")
            if not all(isinstance(v, str) for v in (body, mac, stored)) or not hmac.compare_digest(mac, self._mac(key, stored, body)):
                return None
            return SubmissionResult.from_dict(json.loads(body)) if hmac.compare_digest(stored, inputs) else None
        except (ValueError, KeyError, TypeError, AttributeError):
            return None

    def put(self, key: str, result: SubmissionResult, inputs: Mapping[str, Any] | None = None) -> None:
        """Store ``result`` under ``key``, with the ``inputs`` it was graded from (atomically: a reader never sees half an entry)."""
        if not isinstance(result, SubmissionResult):
            raise TypeError(f"result must be a SubmissionResult, got result={result!r}")
        path = self._path(key)
        body = json.dumps(result.to_dict(), ensure_ascii=False, sort_keys=True)
        stored = "" if inputs is None else _canonical(inputs)
        text = json.dumps({"inputs": stored, "result": body, "mac": self._mac(key, stored, body)}, ensure_ascii=False)
        write_atomic(path, text, private=True)
