"""From four function values around a point to a derivative with an error bar.

Every numerical method in gradcheck evaluates the loss at the same
five-point stencil along a direction ``v`` (an entry's unit vector, or a
random probe) with step ``h``::

    f0 = f(p),  f(p + h v),  f(p - h v),  f(p + 2h v),  f(p - 2h v)

and turns them into:

``d1 = (f(+h) - f(-h)) / 2h``, ``d2 = (f(+2h) - f(-2h)) / 4h``
    central differences at two steps.  Both have truncation error
    ``c h**2 + O(h**4)`` with ``c = f'''/6`` (``4c h**2`` for ``d2``).
``value = (4 d1 - d2) / 3``
    Richardson extrapolation: the ``h**2`` terms cancel.
``error = |d1 - d2| / 3 + 1.5 * roundoff / h (+ |s(h) - s(2h) / 2|)``
    ``|d1 - d2| / 3`` is the truncation error of ``d1`` itself, an upper
    bound for the extrapolated value when the series converges.  The
    round-off term: every value of ``f`` carries an absolute error
    ``roundoff = ROUNDOFF_ULPS * eps * max|f|`` (``eps`` the float64 machine
    epsilon; see :data:`ROUNDOFF_ULPS`), and the extrapolation formula
    ``(8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h`` amplifies it by at most
    ``(8 + 8 + 1 + 1) / 12 = 1.5`` (:data:`ROUNDOFF_GAIN`; :func:`roundoff_error`,
    and :func:`truncation_error` for the first term).
    The last term, for entries not flagged as a kink (see ``kink``): a
    slope jump ``J`` at ``r h`` (``|r| <= 2``) moves ``value`` off the
    derivative at the point by at most ``|s(h) - s(2h)/2| + 2 |d1 - d2| / 3``
    (with equality for ``|r| <= 1``: ``J/2`` and ``J/2`` at ``r = 0``), so
    a jump below the kink test's threshold stays inside ``k = 2`` error
    bars.  Without it a tie at the point with ``J/2`` between ``6`` and
    ``64`` round-off units over ``h`` was neither flagged nor covered
    (rt18 F17b: ReLU inputs exactly 0 moved by ``x = 1e-8`` times a
    weight's step; a correct gradient failed).  For a smooth function the
    term is ``h**3 |f''''| / 4`` plus the rounding of six values.
``lower, upper``
    the smallest and largest one-sided estimates: the quotients
    ``(f(+h) - f0) / h`` and ``(f0 - f(-h)) / h`` and their second-order
    versions ``(4 f(+h) - f(+2h) - 3 f0) / 2h`` and
    ``(3 f0 - 4 f(-h) + f(-2h)) / 2h``, each second-order quotient widened
    by its side's truncation term ``t``: the gap between that side's first-
    and second-order quotients.  At a kink the subgradient lies between the
    two one-sided derivatives.  The first-order quotients are off by about
    ``h f''/2`` where the loss also curves, the second-order ones by about
    ``h**2 f'''/3``, and ``t`` (about ``|h f''/2 - h**2 f'''/2|``) covers
    the second-order error.  Without ``t`` an exact one-sided derivative (a
    ReLU at exactly 0 with ``relu'(0) = 0``) fell outside the bracket by
    that ``O(h**2)`` term wherever the other side's slope lies below it.
``kink``
    With ``s(t) = (f(+t) - 2 f0 + f(-t)) / t`` a smooth function gives
    ``s(2h) = 2 s(h) + O(h**3)`` (both are ``t f''``); a function with a
    jump ``J`` in its slope within ``h`` of the point gives
    ``s(h) ~ s(2h) ~ J``.  An entry is a kink when
    ``|s(h) - s(2h) / 2|`` exceeds what round-off alone can produce
    (``KINK_FACTOR * roundoff / h``) *and* a tenth of the smooth scale
    ``|s(2h)|/2``.  A stencil that straddles a kink between ``h`` and ``2h``
    is flagged too: its extrapolated value cannot be trusted.  One within
    ``h`` at distance ``r h`` gives ``|s(h) - s(2h)/2| = J |1/2 - 3r/4|``,
    below a tenth of ``s(2h)/2 = J (1 - r/2) / 2`` for ``r`` in
    ``[0.62, 0.71]``: not flagged, but its truncation estimate ``J r / 12``
    is then far above a smooth loss's, and
    :func:`gradcheck.numeric.unresolved` has the entry measured again at a
    smaller step.
``unresolved``
    The truncation estimate is both worth removing (above
    :data:`REFINE_WHEN` round-off terms: a step :data:`REFINE_STEP` times
    smaller then gives a smaller bar) and out of proportion with the
    curvature: ``|d1 - d2| > UNRESOLVED_RATIO * |s(h)|``.  For a smooth
    function ``|d1 - d2| = h**2 |f'''| / 2`` and ``s(h) = h f''``, a ratio
    of ``h |f'''| / 2 |f''|``: about ``h / L`` for a function that changes
    over a length ``L``, 1e-5 and less at the default step.  A kink at
    ``r h`` (``r < 1``, slope jump ``J``) gives ``|d1 - d2| = J r / 4`` and
    ``s(h) = J (1 - r)``: a ratio of 0.41 to 0.61 over the kink test's
    blind spot ``r`` in ``[0.62, 0.71]``.  Several kinks inside the
    stencil give any ratio, and none of them may be flagged (three of a
    ReLU network's layer-2 kinks within 2.5 steps of a ``W1`` entry gave
    0.089, and a false failure), so the threshold sits near the smooth end.
``side``
    The larger of the two sides' truncation terms ``t``: how far curvature
    alone moves a bracket end (:func:`bracket_moved`).
"""
from __future__ import annotations

import numpy as np

__all__ = ["STENCIL", "EPS", "ROUNDOFF_ULPS", "ROUNDOFF_GAIN", "KINK_FACTOR", "REFINE_STEP", "REFINE_WHEN",
           "UNRESOLVED_RATIO", "END_ROUNDOFF", "MOVED_SIDES", "bracket_moved", "combine", "roundoff", "roundoff_error",
           "truncation_error"]

#: Multiples of the step at which ``f`` is evaluated, in this order.
STENCIL = (1.0, -1.0, 2.0, -2.0)

#: Round-off of one loss evaluation, in units of ``eps * |f|``.  A loss is a
#: sum of O(N) rounded terms; summation error grows like ``sqrt(n) eps`` in
#: practice.  16 ulps covers batch sizes into the thousands; the verdict's
#: factor ``k`` adds the safety margin on top.
ROUNDOFF_ULPS = 16.0

#: How much a derivative formula of this stencil amplifies the round-off of
#: one loss value, per unit of ``1 / h``: the extrapolation
#: ``(8 (f(+h) - f(-h)) - (f(+2h) - f(-2h))) / 12h`` sums ``(8 + 8 + 1 + 1) / 12``
#: round-offs; the plain central difference ``(f(+h) - f(-h)) / 2h`` only 1,
#: so one bound serves both.
ROUNDOFF_GAIN = 1.5

#: How many round-off units the kink statistic must exceed.
KINK_FACTOR = 64.0

#: A stencil that flags a kink or an unresolved bar is measured again at this fraction of its
#: step (:func:`gradcheck.numeric.refine_kinks`): a kink at distance ``d`` from the point stays
#: out of a stencil of step ``t < d / 2``; the round-off term grows 16x.
REFINE_STEP = 1.0 / 16.0

#: How many round-off terms the truncation term of an error bar must exceed for a step
#: :data:`REFINE_STEP` times smaller to give a smaller bar: ``T + R`` becomes
#: ``T * REFINE_STEP**2 + R / REFINE_STEP``, smaller when
#: ``T > R (1 / REFINE_STEP - 1) / (1 - REFINE_STEP**2)``: 15.06 round-off terms for 1/16.
REFINE_WHEN = (1.0 / REFINE_STEP - 1.0) / (1.0 - REFINE_STEP**2)

#: ``|d1 - d2| / |s(h)|`` above which a truncation estimate is not a smooth function's (module
#: docstring): a smooth one needs a curvature that changes over less than 500 h (3e-3 at unit scale),
#: which the step does not resolve (a loss of unit-scale parameters gives about 1e-5); a kink in the
#: kink test's blind spot gives 0.41 and more, several kinks inside the stencil anything (0.089 seen).
#: Only entries whose truncation term is also above REFINE_WHEN round-off terms are refined: on 24
#: random mnist_relu points (N = 32 and 256) the same entries as at the earlier 0.1.
UNRESOLVED_RATIO = 0.001

#: Round-off terms (``ROUNDOFF_GAIN * noise / h``) a bracket end of :func:`combine` can carry: the
#: widest, ``fwd2 + t_fwd`` with ``fwd - fwd2 = (f(+2h) - 2 f(+h) + f0) / 2h``, rounds by at most
#: ``(4 + 1 + 3) / 2 + (1 + 2 + 1) / 2 = 6`` noise units over ``h``: ``6 / 1.5 = 4`` round-off terms.
END_ROUNDOFF = 4.0

#: Side terms (``side`` of the coarser stencil) a bracket end may move by when the kink is at the
#: point (:func:`bracket_moved`): ``17 / 16`` of one to first order, 2 for the ``O(h**2)`` rest.
MOVED_SIDES = 2.0

#: The float64 machine epsilon (the one definition in gradcheck).
EPS = float(np.finfo(np.float64).eps)
SUBNORMAL = float(np.finfo(np.float64).smallest_subnormal)


def roundoff(*f: np.ndarray | float, scale: float = 0.0) -> np.ndarray:
    """Absolute round-off of a loss value: ``ROUNDOFF_ULPS * eps * max(|f|, scale)``.

    ``scale`` is the size of the numbers the loss was computed from, when
    known: a loss computed by cancellation (cross-entropy of confident
    logits, ``log(1 + e^z) - y z``) is far smaller than its intermediates,
    and its rounding error is ``eps`` times theirs, not its own.
    """
    # the largest |f|, one pair at a time: the same values as np.maximum.reduce over the broadcast
    # arrays (a maximum is exact), without stacking them (microseconds of Python for the toy networks)
    largest = np.abs(np.asarray(f[0], dtype=np.float64))
    for v in f[1:]:
        largest = np.maximum(largest, np.abs(np.asarray(v, dtype=np.float64)))
    # below 2.2e-308 float64 spacing stops shrinking with the value: 4.9e-324 absolute
    return ROUNDOFF_ULPS * np.maximum(EPS * np.maximum(largest, scale), SUBNORMAL)


def roundoff_error(*f: np.ndarray | float, h: np.ndarray | float, scale: float = 0.0) -> np.ndarray:
    """Round-off error of a derivative estimated from the loss values ``f`` at step ``h``.

    ``ROUNDOFF_GAIN * roundoff(*f, scale=scale) / h``: the error bar of an
    entry settled by ``f(+-h)`` alone, and the margin of the one-sided
    quotients at a kink.

    >>> float(roundoff_error(1.0, 1.0, 1.0, h=1e-5)) == 1.5 * 16 * EPS / 1e-5
    True
    """
    return ROUNDOFF_GAIN * roundoff(*f, scale=scale) / h


def truncation_error(d1: np.ndarray, d2: np.ndarray) -> np.ndarray:
    """Truncation error of ``d1`` estimated from central differences at steps ``h`` and ``2h``.

    Both err by ``c h**2`` and ``4 c h**2``, so ``|d1 - d2| / 3`` is ``|c| h**2``,
    an upper bound for the extrapolated value when the series converges.

    >>> float(truncation_error(np.float64(1.0), np.float64(1.3)))  # doctest: +ELLIPSIS
    0.1000...
    """
    return np.abs(d1 - d2) / 3.0


def combine(
    f0: np.ndarray | float,
    f_plus: np.ndarray,
    f_minus: np.ndarray,
    f_plus2: np.ndarray,
    f_minus2: np.ndarray,
    h: np.ndarray,
    *,
    scale: float = 0.0,
) -> dict[str, np.ndarray]:
    """Derivative estimate, error bar and kink flag from the stencil values.

    All arguments broadcast together (one entry per direction).

    Returns
    -------
    dict with keys ``value``, ``error``, ``lower``, ``upper``, ``kink``,
    ``unresolved``, ``side``, ``d1`` (plain central difference at step ``h``),
    ``jump`` (the unflagged jump's term of ``error``, 0 at a kink).

    Examples
    --------
    >>> h = np.array([1e-3])
    >>> f = np.exp
    >>> r = combine(f(0.0), f(h), f(-h), f(2 * h), f(-2 * h), h)
    >>> bool(abs(r["value"][0] - 1.0) < 1e-12), bool(r["kink"][0])
    (True, False)
    >>> g = np.abs  # a kink at 0
    >>> r = combine(g(0.0), g(h), g(-h), g(2 * h), g(-2 * h), h)
    >>> bool(r["kink"][0]), float(r["lower"][0]), float(r["upper"][0])
    (True, -1.0, 1.0)
    """
    f0 = np.asarray(f0, dtype=np.float64)
    h = np.asarray(h, dtype=np.float64)
    d1 = (f_plus - f_minus) / (2.0 * h)
    d2 = (f_plus2 - f_minus2) / (4.0 * h)
    value = (4.0 * d1 - d2) / 3.0
    noise = roundoff(f0, f_plus, f_minus, f_plus2, f_minus2, scale=scale)
    truncation = truncation_error(d1, d2)
    fwd, bwd = (f_plus - f0) / h, (f0 - f_minus) / h
    fwd2 = (4.0 * f_plus - f_plus2 - 3.0 * f0) / (2.0 * h)
    bwd2 = (3.0 * f0 - 4.0 * f_minus + f_minus2) / (2.0 * h)
    t_fwd, t_bwd = np.abs(fwd - fwd2), np.abs(bwd - bwd2)  # each side's truncation term (module docstring)
    # fmin/fmax ignore NaN (the +-2h quotients of an entry settled by +-h alone); taken pairwise, in
    # the order a reduce over the four would take them
    lower = np.fmin(np.fmin(np.fmin(fwd, bwd), fwd2 - t_fwd), bwd2 - t_bwd)
    upper = np.fmax(np.fmax(np.fmax(fwd, bwd), fwd2 + t_fwd), bwd2 + t_bwd)
    s1 = (f_plus - 2.0 * f0 + f_minus) / h
    s2 = (f_plus2 - 2.0 * f0 + f_minus2) / (2.0 * h)
    mismatch = np.abs(s1 - s2 / 2.0)
    kink = (mismatch > KINK_FACTOR * noise / h) & (mismatch > 0.1 * np.abs(s2) / 2.0)
    jump = np.where(kink, 0.0, mismatch)  # a jump not flagged: its term of the error bar (module docstring)
    error = truncation + ROUNDOFF_GAIN * noise / h + jump
    unresolved = (truncation > REFINE_WHEN * ROUNDOFF_GAIN * noise / h) & (3.0 * truncation > UNRESOLVED_RATIO * np.abs(s1))
    return {"value": value, "error": error, "lower": lower, "upper": upper, "kink": kink, "unresolved": unresolved,
            "side": np.fmax(t_fwd, t_bwd), "d1": d1, "jump": jump}


def bracket_moved(coarse: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
                  fine: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Did a kink's bracket, measured again at a 16x smaller step, move more than a kink *at* the point lets it?

    Parameters
    ----------
    coarse : tuple of ndarray
        ``(lower, upper, side, roundoff)`` of the coarser stencil (step
        ``h``; :func:`combine`, and the round-off term ``ROUNDOFF_GAIN *
        noise / h``).
    fine : tuple of ndarray
        ``(lower, upper, roundoff)`` of the finer stencil (step ``h / 16``).

    Returns
    -------
    ndarray of bool
        Either end moved, inward or outward, by more than ``MOVED_SIDES *
        side + END_ROUNDOFF * (roundoff + fine roundoff)``: the kink is not
        (only) at the point, and a smaller step may leave the others outside.

    Notes
    -----
    With the kink at the point each side is smooth, and every one-sided
    quotient at step ``h`` is within its side's term ``t`` (about
    ``|h f''/2|``) of that side's derivative; so is each bracket end, a
    minimum or maximum of them.  At ``h / 16`` the terms are 16x smaller:
    the ends move by at most ``17 / 16`` of the larger side term
    ``side``, plus their rounding (:data:`END_ROUNDOFF`).  A kink at
    ``r h`` on one side (``r < 1/16``: inside both stencils), where the
    slope jumps by ``J``, makes that side's quotients
    ``q(s) = a + J (1 - r h / s)``: its side term is ``J r / 2`` and its
    end moves by ``J (1 - r) - J (1 - 16 r) = 15 J r``, 30 side
    terms (a kink the finer stencil leaves, or straddles beyond its
    ``+-h/16`` points, moves that end to the slope ``a``: by ``J (1 - r)``).
    The end moves inward when that kink's jump has the sign of the
    bracket's width, outward otherwise: a tie at the point with kinks of
    the other sign ``1e-8`` either side (rt18 F17b: ReLU inputs at 0 and at
    ``k * 1e-8``, a bias stepped by ``6e-6``) gave brackets of ``[-1.3e-4,
    2.3e-4]`` at ``h`` and ``[-2.0e-3, 3.7e-3]`` at ``h / 16``, around
    one-sided slopes of ``-1.5e-2`` and ``-7.6e-3``; only at ``h / 4096``
    are those kinks outside.  Curvature ``c = h f''/2`` on the sides hides
    a kink closer than ``r`` with ``14 J r < 2 |c|`` (``MOVED_SIDES``) plus
    rounding.  A jump in the function, not in its slope, widens the
    bracket 16x each round: it is measured at every smaller step.

    Examples
    --------
    >>> h, z = 1e-3, np.zeros(1)
    >>> def q(g):  # (lower, upper, side) of combine at step h and h / 16
    ...     return [[float(combine(g(0.0), g(t), g(-t), g(2 * t), g(-2 * t), np.array([t]))[f][0])
    ...              for f in ("lower", "upper", "side")] for t in (h, h / 16)]
    >>> (lo, up, side), (flo, fup, _) = q(lambda w: np.abs(w) + w * w)  # kink at the point
    >>> bool(bracket_moved((lo, up, side, z), (flo, fup, z))[0])
    False
    >>> (lo, up, side), (flo, fup, _) = q(lambda w: np.abs(w - h / 100) + w * w)  # 0.01 h away: narrows
    >>> bool(bracket_moved((lo, up, side, z), (flo, fup, z))[0])
    True
    >>> (lo, up, side), (flo, fup, _) = q(lambda w: 2 * np.abs(w) - np.abs(w - h / 100) - np.abs(w + h / 100))
    >>> bool(bracket_moved((lo, up, side, z), (flo, fup, z))[0]), bool(flo < lo)  # kinks either side: widens
    (True, True)
    """
    lower, upper, side, ro = coarse
    fine_lower, fine_upper, fine_ro = fine
    allowed = MOVED_SIDES * side + END_ROUNDOFF * (ro + fine_ro)
    return (np.abs(fine_lower - lower) > allowed) | (np.abs(upper - fine_upper) > allowed)
