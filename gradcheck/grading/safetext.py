"""Student-supplied text made safe for every output: the one rule (rt26 F12, F6).

A submission controls much of the text the grader writes: its exception
messages and stdout excerpts, the names of its files and folders (and so
the identity and student id derived from them).  Such text may hold

* lone surrogates: ``raise ValueError("\\ud800")``, or a file name that is not
  UTF-8 (a CP949 zip from a Korean Windows machine, which Python decodes
  with ``surrogateescape`` into ``\\udc80``-``\\udcff``).  UTF-8 cannot encode
  them, so one of them would stop the writing of every output of the class;
* C0/C1 control characters: ESC sequences move the instructor's terminal
  cursor, overwrite report lines, set the clipboard (OSC 52) or make links
  (OSC 8); a carriage return overwrites a line;
* bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069), which
  make text read in another order than it is written.

:func:`safe_text` replaces each of them with a visible, ASCII escape
(``\\x1b``, ``\\u202e``, ``\\udcb0``), so the text stays recognisable (an
instructor can still find the file ``kim_10001_1_\\udcb0\\udcfa.py``) and
can be written in any encoding.  It is applied where text enters the
grader's result objects (:mod:`gradcheck.grading.results`), so every writer
gets safe text; each writer then escapes for its own format (HTML, Markdown,
CSV formulas).  Newlines and tabs are kept (tracebacks); a Windows line
ending becomes a newline.  The real path is kept for file operations:
this is for text shown, never for names opened.

Examples
--------
>>> safe_text("boom \\x1b]52;c;cm0g\\x07 \\u202eexe.py \\ud800")
'boom \\\\x1b]52;c;cm0g\\\\x07 \\\\u202eexe.py \\\\ud800'
>>> safe_text("line 1\\r\\n\\tline 2") == "line 1\\n\\tline 2"
True
>>> safe_text(safe_text("\\x9b")) == safe_text("\\x9b")  # idempotent: results are rebuilt from results
True
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["safe_text", "safe_tree", "UNSAFE"]

#: What :func:`safe_text` escapes: C0 controls but tab and newline, DEL, C1 controls,
#: bidirectional embeddings/overrides (U+202A-U+202E) and isolates (U+2066-U+2069), lone surrogates.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe_text(text: str) -> str:
    """``text`` with every :data:`UNSAFE` character replaced by its visible escape (see the module docstring).

    Parameters
    ----------
    text : str
        Text a submission may control.

    Returns
    -------
    str
        Encodable in UTF-8, with no control character but ``\\n`` and ``\\t``
        and no bidirectional override; equal to ``text`` when it had none.

    Raises
    ------
    TypeError
        When ``text`` is not a str.
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}: {text!r}")
    return UNSAFE.sub(_escape, text.replace("\r\n", "\n"))


def safe_tree(value: Any) -> Any:
    """``value`` (JSON-like: dicts, lists, tuples, scalars) with :func:`safe_text` applied to every string in it, keys too.

    >>> safe_tree({"error": "a\\x1b[2K", "n": 3, "names": ["\\udcb0.py"]})
    {'error': 'a\\\\x1b[2K', 'n': 3, 'names': ['\\\\udcb0.py']}
    """
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {safe_tree(k): safe_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [safe_tree(v) for v in value]
    if isinstance(value, tuple):
        return tuple(safe_tree(v) for v in value)
    return value
