"""The resume cache of ``gradcheck grade``: authenticated results, one file per job.

The key of a job (:func:`cache_key`) covers everything that can change its
result: the submission's content (and its helper modules'), its identity,
the assignment (its file's bytes, and the parsed assignment, so ``--model``
alone is covered too), every option that changes a verdict (seed, language,
limits, shrinking, isolation level) and the gradcheck, Python and numpy
versions, and a hash of the grading code itself (:func:`code_hash`).  Two
students who hand in the same file have different keys.

Every entry carries an HMAC-SHA256 of its key and content, made with a
secret created once per cache directory (:data:`KEY_FILE`, mode 0600,
readable by the grader alone).  An entry whose HMAC does not verify
(tampered with, written by someone else, or from another cache) is ignored
and the submission is graded again.  Only the grading (coordinating)
process reads or writes the cache, and ``gradcheck grade`` does not use it
at all at the ``process`` isolation level: there the code under grade runs
as the grader's user and could read the key, so the HMAC proves nothing.

Examples
--------
>>> import tempfile
>>> from gradcheck.grading.results import SubmissionResult
>>> cache = ResultCache(tempfile.mkdtemp())
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
from pathlib import Path
from typing import Any, Mapping

from gradcheck.grading.results import SubmissionResult

__all__ = ["CACHE_FORMAT", "KEY_FILE", "ResultCache", "cache_key", "code_hash", "versions", "versions_line"]

#: Bumped when the entry format or the key's meaning changes.
CACHE_FORMAT = "4"  # 3: results carry helper_hashes; 4: a submission's randomness is seeded (rt20 F4: older entries froze a chance grade)
#: The per-directory secret.
KEY_FILE = ".hmac-key"


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


def cache_key(
    *,
    content: str,
    identity: str,
    assignment: Mapping[str, Any],
    options: Mapping[str, Any],
    extra: Mapping[str, str] | None = None,
) -> str:
    """The key of one grading job (hex SHA-256 of a canonical JSON of its inputs).

    Parameters
    ----------
    content : str
        SHA-256 of the graded file.
    identity : str
        The submission's identity (see :mod:`gradcheck.grading.identity`).
    assignment : mapping
        What identifies the assignment (its file's hash, its model and options).
    options : mapping
        Every verdict-changing option (seed, lang, shrink, limits, isolation ...).
    extra : mapping of str to str, optional
        Helper files' names to their SHA-256.

    >>> k = dict(content="c", assignment={"model": "m"}, options={"seed": 0})
    >>> cache_key(identity="alice.py", **k) == cache_key(identity="bob.py", **k)
    False
    """
    blob = json.dumps(
        {
            "format": CACHE_FORMAT,
            "content": content,
            "identity": identity,
            "extra": dict(sorted((extra or {}).items())),
            "assignment": assignment,
            "options": options,
            "versions": versions(),
        },
        sort_keys=True,
        ensure_ascii=True,
        default=repr,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


class ResultCache:
    """A directory of authenticated results (see the module docstring).

    Parameters
    ----------
    directory : str or Path
        Created (mode 0700) when missing.

    Raises
    ------
    OSError
        When the directory or its key cannot be created or read.
    """

    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._key = self._secret()

    def _secret(self) -> bytes:
        path = self.directory / KEY_FILE
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
        st = path.lstat()
        if not os.path.isfile(path) or os.path.islink(path):
            raise OSError(f"the cache key {str(path)!r} is not a regular file")
        if st.st_mode & 0o077:
            os.chmod(path, 0o600)  # it must be the grader's alone
        key = path.read_bytes()
        if len(key) < 32:
            raise OSError(f"the cache key {str(path)!r} is damaged ({len(key)} bytes); delete the cache directory")
        return key

    def _mac(self, key: str, body: str) -> str:
        return hmac.new(self._key, f"{key}\n{body}".encode(), hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        """The entry's file: named by the key when it is a hex SHA-256, else by the key's SHA-256."""
        if len(key) != 64 or any(c not in "0123456789abcdef" for c in key):
            key = hashlib.sha256(key.encode()).hexdigest()
        return self.directory / f"{key}.json"

    def get(self, key: str) -> SubmissionResult | None:
        """The stored result of ``key``; ``None`` when absent, damaged or not authentic."""
        if not isinstance(key, str):
            raise TypeError(f"key must be a str, got key={key!r}")
        path = self._path(key)
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
            body, mac = entry["result"], entry["mac"]
            if not isinstance(body, str) or not isinstance(mac, str) or not hmac.compare_digest(mac, self._mac(key, body)):
                return None
            return SubmissionResult.from_dict(json.loads(body))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def put(self, key: str, result: SubmissionResult) -> None:
        """Store ``result`` under ``key`` (atomically: a reader never sees half an entry)."""
        if not isinstance(result, SubmissionResult):
            raise TypeError(f"result must be a SubmissionResult, got result={result!r}")
        path = self._path(key)
        body = json.dumps(result.to_dict(), ensure_ascii=False, sort_keys=True)
        text = json.dumps({"result": body, "mac": self._mac(key, body)}, ensure_ascii=False)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
