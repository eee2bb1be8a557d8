"""The harness's own exceptions.

Every error gradcheck raises about its own arguments or inputs is a
:class:`GradcheckError`, so a caller can tell the harness's complaints
from errors in the code under check.  Argument errors also derive from
the built-in they replace (:class:`GradcheckValueError` is a
``ValueError``, :class:`GradcheckTypeError` a ``TypeError``), so
``except ValueError`` keeps working.

Examples
--------
>>> from gradcheck import check_model
>>> try:
...     check_model(None, {}, None, None, probes=0)
... except GradcheckError as exc:
...     print(type(exc).__name__, isinstance(exc, ValueError))
GradcheckValueError True
"""
from __future__ import annotations

__all__ = ["GradcheckError", "GradcheckValueError", "GradcheckTypeError", "KeyMismatchError"]


class GradcheckError(Exception):
    """Base class of every exception gradcheck raises about its own inputs."""


class GradcheckValueError(GradcheckError, ValueError):
    """An argument has the right type but a value outside what is allowed."""


class GradcheckTypeError(GradcheckError, TypeError):
    """An argument has the wrong type."""


class KeyMismatchError(GradcheckError, KeyError):
    """Keys of a params or grads dict do not match; the message prints unquoted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""
