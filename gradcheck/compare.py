"""The tolerance model: when does an analytic entry agree with a numerical one?

An entry passes when::

    |analytic - numeric| <= atol + rtol * |numeric| + k * error

``error``
    the numerical estimate's own error bar (:mod:`gradcheck.stencil`):
    truncation (from two step sizes) plus round-off of the loss values.
    It is per entry, so tiny gradient entries get tiny tolerances and no
    threshold is fixed in advance.
``k`` (default 4)
    a safety factor on that error bar.  The error model is already an
    over-estimate (round-off counted as 16 ulps of the loss, truncation as
    the whole difference between the two steps).  On correct gradients of
    every reference model (225 seeded points, scales 1 and 3, batches 1-9)
    the observed ``|analytic - numeric| / error`` stayed below 0.08 with
    both steps and below 0.3 for entries settled by ``+-h`` alone (whose
    error is the round-off term only), so 4 leaves a margin above 10.
``rtol`` (default 1e-8)
    the analytic side's own rounding: backprop in float64 through a few
    layers agrees with the exact derivative to about 1e-13 relative; 1e-8
    leaves five orders of margin and still exposes float32 arithmetic
    (about 6e-8 relative).
``atol`` (default 0)
    for users who want a floor; the error bar already covers entries whose
    true value is zero.

At a *kink* (the stencil straddles a non-differentiable point; see
:func:`gradcheck.stencil.combine`) the entry passes when the analytic
value lies between the two one-sided difference quotients, widened by
``k`` times their round-off plus ``rtol * |numeric|`` and ``atol``.

Relative error, as reported: ``|a - n| / max(|a|, |n|)`` (0 when both are 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck.estimate import NumericGradient

__all__ = ["Tolerance", "EntryVerdicts", "compare_entries", "relative_error"]


@dataclass(frozen=True)
class Tolerance:
    """Terms of the per-entry verdict (see the module docstring for where each comes from).

    Examples
    --------
    >>> Tolerance().describe()
    'atol=0 + rtol=1e-08 * |numeric| + k=4 * error_estimate'
    >>> Tolerance(rtol=-1)
    Traceback (most recent call last):
    ...
    ValueError: rtol must be a finite number >= 0, got rtol=-1
    """

    rtol: float = 1e-8
    atol: float = 0.0
    k: float = 4.0

    def __post_init__(self) -> None:
        for name in ("rtol", "atol", "k"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value) or value < 0:
                raise ValueError(f"{name} must be a finite number >= 0, got {name}={value!r}")

    def describe(self) -> str:
        return f"atol={self.atol:g} + rtol={self.rtol:g} * |numeric| + k={self.k:g} * error_estimate"

    def allowed(self, numeric: np.ndarray, error: np.ndarray) -> np.ndarray:
        return self.atol + self.rtol * np.abs(numeric) + self.k * error


def relative_error(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``|a - n| / max(|a|, |n|)``, 0 where both are 0.

    >>> relative_error(np.array([1.0, 0.0, 2.0]), np.array([1.5, 0.0, -2.0]))
    array([0.33333333, 0.        , 2.        ])
    """
    denom = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.abs(a - n) / np.where(denom > 0, denom, 1.0), 0.0)


@dataclass(frozen=True, eq=False)
class EntryVerdicts:
    """Per-entry outcome of comparing one parameter's gradients."""

    passed: np.ndarray  # bool, shape of the parameter
    kink: np.ndarray  # bool: judged by the one-sided bracket
    allowed: np.ndarray  # the tolerance each entry was held to
    abs_err: np.ndarray
    rel_err: np.ndarray


def compare_entries(analytic: np.ndarray, numeric: NumericGradient, tol: Tolerance) -> EntryVerdicts:
    """Apply the tolerance model to every entry of one parameter."""
    a = np.asarray(analytic, dtype=np.float64)
    n = numeric.value
    allowed = tol.allowed(n, numeric.error)
    abs_err = np.abs(a - n)
    smooth_ok = abs_err <= allowed
    noise = numeric.roundoff if numeric.roundoff is not None else numeric.error
    margin = tol.atol + tol.rtol * np.abs(n) + tol.k * 2.0 * noise
    in_bracket = (a >= numeric.lower - margin) & (a <= numeric.upper + margin)
    passed = np.where(numeric.kink, in_bracket | smooth_ok, smooth_ok)
    allowed = np.where(numeric.kink & ~smooth_ok, np.maximum(allowed, margin), allowed)
    return EntryVerdicts(passed=passed, kink=numeric.kink.copy(), allowed=allowed, abs_err=abs_err,
                         rel_err=relative_error(a, n))
