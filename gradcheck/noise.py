"""How noisy is a function's value?  Measured from the function itself.

The round-off model of :mod:`gradcheck.stencil` counts ``16 eps |f|`` per
value of ``f``.  That fails when ``f`` is a result of cancellation: a
correct batchnorm checked through ``f = sum(out * dout)`` has ``f`` near
``1e-16`` while its terms are of size 1, so every value of ``f`` carries an
absolute rounding error of about ``eps`` (measured: ``4e-16``), millions of
times ``eps |f|``, and a correct backward fails by ``7.6e-11`` against an
allowance of ``1.9e-11``.

:func:`measure_noise` estimates the noise of ``f`` with Moré and Wild's
ECnoise (J. J. Moré and S. M. Wild, "Estimating computational noise",
SIAM J. Sci. Comput. 33(3), 2011): ``f`` is evaluated at ``m + 1 = 9``
equally spaced points ``p + i t v`` (``i = 0..8``) along a seeded random
direction ``v``, and the ``k``-th differences of those values, whose smooth
part is ``O((t |v|)^k)`` and negligible for a tiny ``t``, estimate the noise's
standard deviation ``sigma_k = sqrt(gamma_k mean(Delta^k f ** 2))`` with
``gamma_k = (k!)^2 / (2k)!``.  The estimate is accepted when three
consecutive orders agree within a factor 4 and the differences change
sign (noise, not a smooth trend); otherwise the step is changed (see
:data:`STEPS`).  The points form a ray *starting* at ``p``, so a kink at
``p`` itself (ReLU at exactly 0) lies at its end, not inside it, and does
not look like noise.

The check then counts each value of ``f`` as carrying
``ROUNDOFF_ULPS * max(eps |f|, sigma)`` (the measured noise in place of
``eps |f|``, with the same 16-fold margin), by passing
``noise_scale = sigma / eps`` to :func:`gradcheck.stencil.combine`.

Measured on the batchnorm case above (tests/core/test_function_noise.py):
sigma about 1e-16 .. 4e-16, the largest observed ``|analytic - numeric|``
over its error bar 0.05, where the bare ``eps |f|`` model gave 4.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CONFIRM", "NOISE_POINTS", "SPIKE", "STEPS", "NoiseEstimate", "ecnoise", "kink_inside", "measure_noise"]

#: Points per ray (Moré and Wild use 7 to 9).
NOISE_POINTS = 9

#: Spacings tried, in units of the check's own step ``h = eps**(1/3) max(|p|, 1)``,
#: smallest first: a tiny spacing keeps the smooth part out of the
#: differences; when half the values are equal there (``f`` does not move at
#: that scale) the next, larger one is tried.
STEPS = (1e-3, 1e-1, 10.0)

#: How many times every other second difference along a ray the largest one (with its larger neighbour)
#: must be for the values to show a kink inside the ray, not noise (:func:`kink_inside`).  A kink between
#: two points of the ray puts the jump of its slope into the two second differences around it and leaves
#: the others at the smooth part and the rounding; noise spreads over all seven (Delta^2 of independent
#: errors), and five of them all below a 64th of the largest is a chance of about 1e-8.  A correct ``abs``
#: layer with one pre-activation 1e-2 of the step from 0 gave a spike 1e7 times the rest: read as noise,
#: sigma came out at 5e-9 instead of 7e-16 and its stencil's kink went unflagged (a false failure).
SPIKE = 64.0

#: Noise above the caller's ``floor`` is measured again on a ray this many times shorter, and the smaller
#: estimate kept.  Rounding does not depend on the spacing; the slope jumps of kinks crossed inside the ray
#: do, linearly (rt18 F13/F16: inputs of 1e-8 and zero biases put several ReLU kinks a few 1e-9 from the
#: point, too many for one spike to show, and ECnoise read them as noise of 1e-9 where the rounding was
#: 1e-17: bars of 4e-4 on gradients of 1e-9, and a sign-flipped dW1 passed).  At 1e-6 of the step the
#: parameters still move by 6e-12 of their size, thousands of ulps: rounding is measured as before.
CONFIRM = 1000.0


@dataclass(frozen=True)
class NoiseEstimate:
    """The noise of one evaluation of ``f``.

    Attributes
    ----------
    sigma : float
        Estimated standard deviation of the noise in one value of ``f``
        (0 when none could be measured: ``f`` is then trusted to be as
        precise as its own size says).
    spacing : float or None
        The spacing, in units of the check's step, the estimate came from.
    values : int
        Evaluations of ``f`` it took.
    """

    sigma: float
    spacing: float | None
    values: int


def ecnoise(values: np.ndarray) -> tuple[float, int]:
    """Moré and Wild's ECnoise on values of ``f`` at equally spaced points.

    Returns ``(sigma, inform)``: ``inform`` 1 when the noise was
    determined, 2 when the spacing is too small (half the first
    differences are exactly 0), 3 when it is too large (no three
    consecutive orders agree).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> sigma, inform = ecnoise(1.0 + 1e-3 * np.arange(9) + 1e-12 * rng.standard_normal(9))
    >>> inform, bool(3e-13 < sigma < 3e-12)
    (1, True)
    >>> ecnoise(np.ones(9))
    (0.0, 2)
    """
    f = np.asarray(values, dtype=np.float64).copy()
    # scaled by a power of two (exact) so that squares of differences of losses near 1e150 .. 1e308 do not overflow
    # (rt21 F12: numpy's RuntimeWarnings reached the user and the level came out inf)
    top = float(np.max(np.abs(f), initial=0.0))
    scale = math.ldexp(1.0, math.frexp(top)[1]) if 0.0 < top < math.inf else 1.0
    f /= scale
    n = f.size
    levels = np.zeros(n - 1)
    signs = np.zeros(n - 1, dtype=bool)
    gamma = 1.0
    for j in range(1, n):
        f[: n - j] = f[1: n - j + 1] - f[: n - j]
        if j == 1 and np.count_nonzero(f[: n - 1] == 0) >= n / 2:
            return 0.0, 2
        gamma *= 0.5 * (j / (2 * j - 1))
        d = f[: n - j]
        levels[j - 1] = np.sqrt(gamma * np.mean(d * d))
        signs[j - 1] = d.min() * d.max() < 0
    for k in range(n - 3):
        window = levels[k: k + 3]
        if window.max() <= 4 * window.min() and signs[k]:
            return float(levels[k]) * scale, 1
    return 0.0, 3


def kink_inside(values: np.ndarray) -> bool:
    """Do the values of ``f`` at equally spaced points show a kink between two of them, rather than noise?

    One or two adjacent second differences at least :data:`SPIKE` times every other one.

    Examples
    --------
    >>> t = np.arange(9) * 1e-3
    >>> kink_inside(np.abs(t - 2.5e-3) + t * t), kink_inside(np.exp(t))
    (True, False)
    >>> kink_inside(1.0 + 1e-12 * np.random.default_rng(0).standard_normal(9))
    False
    """
    d = np.abs(np.diff(np.asarray(values, dtype=np.float64), 2))
    i = int(np.argmax(d))
    pair = [i, i - 1 if i == len(d) - 1 or (i > 0 and d[i - 1] > d[i + 1]) else i + 1]
    return bool(d[i] > 0 and SPIKE * np.max(np.delete(d, pair), initial=0.0) < d[i])


def measure_noise(along: Callable[[np.ndarray], np.ndarray], *, points: int = NOISE_POINTS,
                  floor: float = float("inf")) -> NoiseEstimate:
    """Noise of ``f`` from ``along(t)``: the values ``f(p + t_i v)`` for a vector of ``t_i``.

    ``along`` is called with ``t = spacing * arange(points)`` (in units of
    the check's step), for each spacing of :data:`STEPS` until one gives a
    determined estimate.  Where the values show a kink inside the ray
    (:func:`kink_inside`: a pre-activation a fraction of the step from its
    kink), whose jump ECnoise would read as noise, the mirror ray
    ``t = -spacing * arange(points)`` is taken instead: a kink near ``p`` lies
    on one side of it; with kinks both ways no noise is measured.  An
    estimate above ``floor`` (the noise the caller counts anyway; by default
    none is confirmed) is measured again on a ray :data:`CONFIRM` times
    shorter and the smaller kept: kinks crossed inside the ray, however many,
    shrink with it, rounding does not.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> noisy = lambda t: 2.0 + 0.5 * t + 1e-15 * rng.standard_normal(t.size)
    >>> est = measure_noise(noisy)
    >>> bool(1e-16 < est.sigma < 1e-14), est.spacing
    (True, 0.001)
    >>> measure_noise(lambda t: np.full(t.size, 3.0)).sigma
    0.0
    """
    used = 0
    for spacing in STEPS:
        values = np.asarray(along(spacing * np.arange(points)), dtype=np.float64)
        used += points
        if kink_inside(values):
            values = np.asarray(along(-spacing * np.arange(points)), dtype=np.float64)
            used += points
            if kink_inside(values):
                break
        sigma, inform = ecnoise(values)
        if inform == 1 and sigma > floor:
            shorter, again = ecnoise(np.asarray(along(spacing / CONFIRM * np.arange(points)), dtype=np.float64))
            used += points
            sigma = min(sigma, shorter) if again == 1 else 0.0 if again == 2 else sigma
        if inform == 1:
            return NoiseEstimate(sigma=sigma, spacing=spacing, values=used)
        if inform == 3:  # a trend or a kink, not noise: larger spacings see more of it
            break
    return NoiseEstimate(sigma=0.0, spacing=None, values=used)
