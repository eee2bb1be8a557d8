"""A gradient with an extra leading batch axis: the shape error names the mistake, and whether its sum is right.

A bias gradient left unsummed (``db = dout`` for ``out = x @ w + b``) has shape
``(N, k)`` where ``b`` has ``(k,)``, or ``(1, k)`` kept with ``keepdims``.  A
gradient of the wrong shape stays an argument error in every check
(``check_gradients``, ``check_model``, ``check_layer`` and ``check_net`` raise
:class:`~gradcheck.errors.GradcheckValueError`; a result for an array the
check was never given would say more than it knows), and its message now says
what the grader says of whole networks (``shape.unsummed``): the extra axis,
and, from the same check run again with that gradient summed over axis 0
(:func:`explains_unsummed`), whether the sum matches the numerical gradient.

Examples
--------
>>> import numpy as np
>>> from gradcheck import check_gradients
>>> x, dout = np.ones((3, 2)), np.arange(6.0).reshape(3, 2)
>>> f = lambda q: float(np.sum((x + q["b"]) * dout))
>>> try:
...     check_gradients(f, {"b": dout}, {"b": np.zeros(2)})
... except ValueError as e:
...     print(e)
grads['b'] has shape (3, 2), expected (2,) (the shape of params['b']): it has an extra leading axis of 3
(one gradient per sample?); summed over axis 0 it matches the numerical gradient (all 2 entries within their
error bars): ...: use .sum(axis=0)
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, ParamSpec

import numpy as np

from gradcheck.errors import GradcheckError, GradcheckValueError

if TYPE_CHECKING:
    from gradcheck.results import CheckResult

__all__ = ["UnsummedGradientError", "explains_unsummed", "extra_batch_axis", "shaped"]

_P = ParamSpec("_P")

#: The gradients a check run again by :func:`explains_unsummed` sums over axis 0 (:func:`shaped`), by name.
_SUMMED: ContextVar[frozenset[str]] = ContextVar("gradcheck_summed", default=frozenset())


class UnsummedGradientError(GradcheckValueError):
    """A gradient of shape ``(N, *expected)``; ``key`` names it as the check's result names its parameters, and
    ``keepdims`` says that ``expected`` is ``(1, k)``, kept."""

    def __init__(self, message: str, key: str, keepdims: bool) -> None:
        super().__init__(message)
        self.key = key
        self.keepdims = keepdims


def extra_batch_axis(got: tuple[int, ...], expected: tuple[int, ...]) -> bool:
    """Is ``got`` the shape ``expected`` with an extra leading axis of two or more (one gradient per sample)?

    ``(N, *expected)``, or ``(N, k)`` for an ``expected`` of ``(1, k)`` (a bias kept with ``keepdims``).

    >>> extra_batch_axis((5, 4), (4,)), extra_batch_axis((5, 4), (1, 4)), extra_batch_axis((1, 4), (4,))
    (True, True, False)
    >>> extra_batch_axis((4, 5), (4,)), extra_batch_axis((5, 3, 4), (3, 4)), extra_batch_axis((5,), ())
    (False, True, True)
    """
    if not got or got[0] < 2:
        return False
    return got[1:] == expected or (len(got) == len(expected) and expected[:1] == (1,) and got[1:] == expected[1:])


def shaped(g: np.ndarray, expected: tuple[int, ...], key: str, message: str) -> np.ndarray:
    """``g``, which must have the shape ``expected``: else a ``GradcheckValueError`` saying ``message``.

    With an extra leading batch axis (:func:`extra_batch_axis`) the error is an
    :class:`UnsummedGradientError` that says so, or, in the check that
    :func:`explains_unsummed` runs again for ``key``, ``g`` summed over axis 0.
    """
    if g.shape == expected:
        return g
    if not extra_batch_axis(g.shape, expected):
        raise GradcheckValueError(message)
    if key in _SUMMED.get():
        return np.asarray(g.sum(axis=0)).reshape(expected)
    raise UnsummedGradientError(f"{message}: it has an extra leading axis of {g.shape[0]} (one gradient per sample?)",
                                key, keepdims=g.ndim == len(expected))


def explains_unsummed(check: Callable[_P, CheckResult]) -> Callable[_P, CheckResult]:
    """``check``, whose :class:`UnsummedGradientError` says whether the gradient summed over axis 0 is right.

    The check is run again (its warnings silenced) with every gradient that has an extra batch axis summed
    over it (:func:`shaped`), and the error raised says what that run found for the first one.
    """
    @functools.wraps(check)
    def explained(*args: _P.args, **kwargs: _P.kwargs) -> CheckResult:
        try:
            return check(*args, **kwargs)
        except UnsummedGradientError as e:
            summed = _summed_check(e.key, functools.partial(check, *args, **kwargs))
            raise GradcheckValueError(f"{e}{_sum_verdict(e.key, summed, e)}") from None

    return explained


def _summed_check(key: str, run: Callable[[], CheckResult]) -> CheckResult | None:
    """``run()`` with ``key``'s gradient summed over its batch axis, and any other that has one; None where it
    raises for another reason."""
    keys = frozenset({key})
    while True:
        token = _SUMMED.set(keys)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return run()
        except UnsummedGradientError as again:
            if again.key in keys:
                return None
            keys |= {again.key}
        except GradcheckError:
            return None
        finally:
            _SUMMED.reset(token)


def _sum_verdict(key: str, result: CheckResult | None, error: UnsummedGradientError) -> str:
    """What the check of ``key`` summed over axis 0 found, as the error's last words ("" for nothing)."""
    found = [c for c in (result.params if result is not None else ()) if c.name == key]
    if not found:
        return ""
    c = found[0]
    keep = ", keepdims=True" if error.keepdims else ""
    if c.passed:
        return (f"; summed over axis 0 it matches the numerical gradient (all {c.n_entries} entries within their "
                f"error bars): a bias is added to every sample, so its gradient is the sum over the samples: use "
                f".sum(axis=0{keep})")
    return (f"; summed over axis 0 it does not match the numerical gradient either ({c.n_failed} of {c.n_entries} "
            f"entries off, by up to {c.max_abs_err:.3g}): summing alone does not fix it")
