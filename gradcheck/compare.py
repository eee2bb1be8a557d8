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

The judge
---------
:func:`judge` is the one rule, in gradcheck, for "is this analytic value
acceptable for this numerical estimate": every check calls it with its own
terms.  :func:`compare_entries` (full mode) passes the :class:`Tolerance`
terms above; fast mode's probes pass the same terms summed along their
direction; :func:`gradcheck.diagnose.diagnose_parameter` compares a
student's value with the exact gradient (an estimate with no error) to
its own ``RTOL_CORRECT`` and widens the kink bracket by the numerical
estimate's whole error bar.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gradcheck._validate import check_number
from gradcheck.estimate import NumericGradient

__all__ = ["Tolerance", "Judgement", "judge", "EntryVerdicts", "compare_entries", "judge_entries", "judged_entries", "relative_error"]


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
    gradcheck.errors.GradcheckValueError: rtol must be a finite number >= 0, got rtol=-1
    """

    rtol: float = 1e-8
    atol: float = 0.0
    k: float = 4.0

    def __post_init__(self) -> None:
        for name in ("rtol", "atol", "k"):
            check_number(getattr(self, name), name, min_value=0.0)

    def describe(self) -> str:
        return f"atol={self.atol:g} + rtol={self.rtol:g} * |numeric| + k={self.k:g} * error_estimate"

    def floor(self, numeric: np.ndarray) -> np.ndarray:
        """The part of the tolerance that does not scale with the error bar: ``atol + rtol * |numeric|``."""
        if self.atol == 0:  # adding 0.0 to rtol * |numeric| (>= 0 or NaN) changes no bit: one numpy call less
            return self.rtol * np.abs(numeric)
        return self.atol + self.rtol * np.abs(numeric)

    def allowed(self, numeric: np.ndarray, error: np.ndarray) -> np.ndarray:
        """The tolerance of a smooth entry: ``floor(numeric) + k * error``."""
        return self.floor(numeric) + self.k * error


@dataclass(frozen=True, eq=False)
class Judgement:
    """What :func:`judge` decided, per entry (or per probe).

    Attributes
    ----------
    passed : ndarray of bool
        The analytic value is acceptable.
    by_bracket : ndarray of bool
        Accepted only because it lies in the widened one-sided bracket of a
        kink (it is outside the smooth tolerance).
    allowed : ndarray
        The tolerance the entry was held to: ``floor + k * error``, or the
        bracket's margin where that is wider and the entry is a kink outside
        the smooth tolerance.
    """

    passed: np.ndarray
    by_bracket: np.ndarray
    allowed: np.ndarray


def judge(
    analytic: np.ndarray,
    value: np.ndarray,
    error: np.ndarray | float,
    *,
    floor: np.ndarray | float,
    k: float,
    lower: np.ndarray | None = None,
    upper: np.ndarray | None = None,
    kink: np.ndarray | None = None,
    bracket_error: np.ndarray | float = 0.0,
) -> Judgement:
    """Is each analytic value acceptable for its numerical estimate?  The one rule.

    An entry passes when it is within the smooth tolerance::

        |analytic - value| <= floor + k * error

    or, where the estimate flags a kink, when it lies in the one-sided bracket::

        lower - margin <= analytic <= upper + margin,   margin = floor + k * bracket_error

    Parameters
    ----------
    analytic : ndarray
        The values to judge (backprop's, a student's, a probe's directional derivative).
    value, error : ndarray
        The estimate and its error bar (``error = 0`` for an exact reference).
    floor : ndarray or float
        The caller's tolerance that does not scale with ``error``
        (``atol + rtol * |numeric|`` in :class:`Tolerance`).
    k : float
        Safety factor on ``error`` and ``bracket_error``.
    lower, upper, kink : ndarray, optional
        The one-sided quotients and the kink flags of the estimate; without
        them no entry is judged by a bracket.
    bracket_error : ndarray or float
        The error bar of ``lower`` and ``upper`` (twice the round-off term
        in the checks, the estimate's whole error in the diagnosis).

    Returns
    -------
    Judgement

    Examples
    --------
    >>> j = judge(np.array([1.0, 1.1, 0.3]), np.array([1.0, 1.0, 0.0]), np.array([1e-9, 1e-9, 1e-9]),
    ...           floor=0.0, k=4.0, lower=np.array([1.0, 1.0, -1.0]), upper=np.array([1.0, 1.0, 1.0]),
    ...           kink=np.array([False, False, True]))
    >>> j.passed.tolist(), j.by_bracket.tolist()
    ([True, False, True], [False, False, True])
    """
    a = np.asarray(analytic, dtype=np.float64)
    allowed = floor + k * np.asarray(error, dtype=np.float64)
    smooth_ok = np.abs(a - value) <= allowed
    if kink is None or lower is None or upper is None:
        full = allowed if np.shape(allowed) == smooth_ok.shape else np.broadcast_to(allowed, smooth_ok.shape)
        return Judgement(passed=smooth_ok, by_bracket=np.zeros(smooth_ok.shape, bool), allowed=full)
    if not kink.any() and kink.shape == smooth_ok.shape == np.shape(allowed):  # what the rest gives with no kink
        return Judgement(passed=smooth_ok, by_bracket=np.zeros(smooth_ok.shape, bool), allowed=allowed)
    margin = floor + k * np.asarray(bracket_error, dtype=np.float64)
    in_bracket = (a >= lower - margin) & (a <= upper + margin)
    by_bracket = kink & in_bracket & ~smooth_ok
    allowed = np.where(kink & ~smooth_ok, np.maximum(allowed, margin), allowed)
    return Judgement(passed=smooth_ok | by_bracket, by_bracket=by_bracket, allowed=allowed)


def relative_error(a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """``|a - n| / max(|a|, |n|)``, 0 where both are 0.

    >>> relative_error(np.array([1.0, 0.0, 2.0]), np.array([1.5, 0.0, -2.0]))
    array([0.33333333, 0.        , 2.        ])
    """
    with np.errstate(invalid="ignore"):  # inf - inf
        return _relative(np.abs(a - n), a, n)


def _relative(diff: np.ndarray, a: np.ndarray, n: np.ndarray) -> np.ndarray:
    """:func:`relative_error` given ``diff = |a - n|``: divided only where the denominator is positive."""
    denom = np.maximum(np.abs(a), np.abs(n))
    positive = denom > 0
    if diff.shape == denom.shape and diff.dtype == denom.dtype == np.float64:  # the checks' case: no shape to work out
        return np.divide(diff, denom, out=np.zeros(diff.shape), where=positive)
    return np.divide(diff, denom, out=np.zeros(np.broadcast(diff, denom).shape, np.result_type(diff, denom, 1.0)), where=positive)


@dataclass(frozen=True, eq=False)
class EntryVerdicts:
    """Per-entry outcome of comparing one parameter's gradients."""

    passed: np.ndarray  # bool, shape of the parameter
    kink: np.ndarray  # bool: judged by the one-sided bracket
    allowed: np.ndarray  # the tolerance each entry was held to
    abs_err: np.ndarray
    rel_err: np.ndarray


def compare_entries(analytic: np.ndarray, numeric: NumericGradient, tol: Tolerance) -> EntryVerdicts:
    """Apply the tolerance model to every entry of one parameter (by :func:`judge`).

    At a kink the bracket's error bar is twice the round-off term of the
    estimate (the one-sided quotients divide one difference by ``h``, not
    ``2h``).
    """
    a = np.asarray(analytic, dtype=np.float64)
    return judged_entries(a, numeric, judge_entries(a, numeric, tol))


def judge_entries(analytic: np.ndarray, numeric: NumericGradient, tol: Tolerance) -> Judgement:
    """:func:`judge` of every entry of one parameter with ``tol``'s terms (what :func:`compare_entries` decides,
    with which entries passed by their kink's bracket only)."""
    n = numeric.value
    noise = numeric.roundoff if numeric.roundoff is not None else numeric.error
    return judge(np.asarray(analytic, dtype=np.float64), n, numeric.error, floor=tol.floor(n), k=tol.k,
                 lower=numeric.lower, upper=numeric.upper, kink=numeric.kink, bracket_error=2.0 * noise)


def judged_entries(analytic: np.ndarray, numeric: NumericGradient, judged: Judgement) -> EntryVerdicts:
    """:func:`compare_entries` given its judgement (float64 ``analytic``): the errors added.

    A caller that already judged the same entries, the same way, passes
    that :class:`Judgement`: a toy network's first stage judges every
    central difference with its round-off error (the test of
    :func:`gradcheck.engine.estimate_tiny`), and when it accepts them all
    without a kink, those are the estimate's value and error, and
    :func:`judge` would decide the same again.
    """
    n = numeric.value
    diff = np.abs(analytic - n)
    return EntryVerdicts(passed=judged.passed, kink=numeric.kink.copy(), allowed=judged.allowed, abs_err=diff,
                         rel_err=_relative(diff, analytic, n))
