"""Telling backpropagation from a numerical gradient by the rounding its values carry.

Counting the forward pass (:mod:`gradcheck.evaluations`) is defeated by a
private copy of the forward, one broadcasting call over every perturbed
copy, a thread or ``sys.setprofile(None)`` (red team rt17 F1, F2, F3, F15,
F17).  The values themselves still tell: a finite difference divides the
rounding of the loss by its step, so every entry carries an error of about
``eps |f| / h`` (``1e-13 .. 1e-11`` of the gradient for ``h = 1e-3 ..
1e-5``) that changes erratically when the point moves by a few ulps, while
backpropagation's gradient is a smooth function of the point with rounding
of about ``eps |g|``.  So the backward is called at ``p - d``, ``p`` and
``p + d`` (:func:`moved_points`: ``d`` of relative size :data:`STEP`, far
below anything smooth notices: the smooth part of the second difference is
``~ d**2 g'' ~ 1e-18``) and :func:`roundoff_noise` reads the second
difference ``g(p + d) - 2 g(p) + g(p - d)`` of every entry, relative to the
largest entry of the whole gradient.

Measured (``/tmp/numgrad/run2.py``, ``run3.py``; every reference model, 40
grading points each, mnist_relu at N = 33 and 256): honest backwards
(reference, per-sample loops, reversed batch order) reach at most
``2.1e-14`` in any single entry (onehot_222), their medians ``<= 4.7e-15``;
a Richardson stencil at ``h = 1e-4`` has a median ``>= 5e-13``, at ``h =
1e-3`` (the red team's step) ``>= 1.7e-14`` with ``>= 1/4`` of the entries
above ``1e-13`` at 97 .. 100 % of the points.  Not seen: a 6th-order
stencil at ``h = 1e-2`` (its rounding ``eps |f| / h`` is near the honest
band: caught at 25 .. 75 % of the points), a complex step (exact; the
grader's complex-value check catches it), and a numerical gradient rounded
or evaluated on a grid coarser than ``d`` (but then its values are off by
more than backpropagation's tolerance).

A float32 computation rounds at ``~1e-7`` and lands in the band: the
callers keep their own verdict for it (the grader's ``precision``;
:func:`gradcheck.check_net` skips nets below float64).

Examples
--------
>>> g = np.array([1.0, -0.5, 0.25])
>>> roundoff_noise({"W": g}, {"W": g + 1e-16}, {"W": g}).numerical  # rounding of backprop: 1e-16 of |g|
False
>>> roundoff_noise({"W": g + 3e-12}, {"W": g}, {"W": g - 2e-12}).numerical  # a finite difference's
True
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcheck._validate import check_int

__all__ = ["STEP", "NOISE_LOW", "NOISE_HIGH", "NOISY_FRACTION", "RoundoffNoise", "moved_points", "roundoff_noise"]

#: Relative size of the move ``d`` (``d = +-STEP * max(|p|, 1)`` per entry): the smooth part of
#: the second difference is ``~ STEP**2 = 1e-18`` of the gradient, below any rounding.
STEP = 1e-9
#: An entry is noisy when its second difference is at least this much of the gradient's largest
#: entry: 4.8 times the most any honest entry reached (2.1e-14, onehot_222, measured over every
#: reference model), 2 to 1000 times below a finite difference's rounding at h = 1e-3 .. 1e-5.
NOISE_LOW = 1e-13
#: ... and at most this much: above it the entry jumped (a ReLU tie crossed by the move changes
#: entries by O(|g| / N)), which is no rounding; float32 rounding (~1e-7) sits at the edge.
NOISE_HIGH = 1e-7
#: Numerical when at least this share of the entries that moved are noisy.  Honest code never had
#: one noisy entry; finite differences at h <= 1e-3 had >= 1/4 at 97 .. 100 % of the points
#: (half would miss 5 .. 10 % of them); kinks and cancellation make a few entries odd, not a quarter.
NOISY_FRACTION = 0.25


@dataclass(frozen=True)
class RoundoffNoise:
    """What the second differences of a gradient say (see the module docstring).

    Attributes
    ----------
    noisy : int
        Entries whose second difference lies in ``[NOISE_LOW, NOISE_HIGH]`` of the largest entry.
    counted : int
        Entries that moved at all (an entry equal at all three points is structurally constant).
    typical : float
        The median second difference of the counted entries, relative to the largest entry (0 when none).
    """

    noisy: int
    counted: int
    typical: float

    @property
    def numerical(self) -> bool:
        """Whether the gradient carries a finite difference's rounding: a share :data:`NOISY_FRACTION` of it noisy."""
        return self.counted > 0 and self.noisy >= NOISY_FRACTION * self.counted


def moved_points(params: Mapping[str, np.ndarray], seed: int) -> tuple[dict[str, np.ndarray], ...]:
    """``p + d``, ``p + 2 d``, ``p + 3 d``: ``d = +-STEP * max(|p|, 1)`` per entry, the sign seeded.

    A ray that starts *at* ``p`` and leaves ``p`` out: an exact ReLU tie at
    ``p`` (integer weights and inputs) lies at its end, so all three points
    sit on one side of it.  Points on both sides (``p - d``, ``p``, ``p + d``)
    would cross it, and the kink's second difference, ``|d|`` in the
    activation, is first order in ``d``: measured on the DLFS nets
    6-5-4 and 64-32-32-10 at integer ties, ``2e-11 .. 5e-9`` of the
    gradient, inside the noise band.

    Parameters
    ----------
    params : mapping of str to array
        The point ``p`` (never modified).
    seed : int
        Seeds the signs, at least 0.

    Returns
    -------
    tuple of three dicts
        New float64 arrays.

    Examples
    --------
    >>> first, second, third = moved_points({"w": np.array([2.0, 0.0])}, seed=0)
    >>> np.abs(third["w"] - np.array([2.0, 0.0])) / np.array([2.0, 1.0])
    array([3.e-09, 3.e-09])
    """
    check_int(seed, "seed", min_value=0)
    rng = np.random.default_rng([seed, 1009])
    ds = {}
    for k in params:
        p = np.asarray(params[k], dtype=np.float64)
        ds[k] = (p, rng.choice([-1.0, 1.0], size=p.shape) * STEP * np.maximum(np.abs(p), 1.0))
    return tuple({k: p + t * d for k, (p, d) in ds.items()} for t in (1.0, 2.0, 3.0))


def roundoff_noise(first: Mapping[str, Any], second: Mapping[str, Any], third: Mapping[str, Any]) -> RoundoffNoise:
    """Read the rounding in the gradients at three equally spaced points (:func:`moved_points`), keyed alike.

    Only the keys present in all three, arrays of real numbers of one shape,
    are read (a student's gradient may be anything); each entry's
    second difference ``|g3 - 2 g2 + g1|`` is taken relative to the largest
    ``|g2|`` of them all.

    Parameters
    ----------
    first, second, third : mapping of str to array
        The gradients at ``p + d``, ``p + 2 d`` and ``p + 3 d`` (any values:
        what is not an array of real numbers is no evidence).

    Returns
    -------
    RoundoffNoise

    Examples
    --------
    >>> g = {"b": np.array([1.0, 2.0, 0.0])}
    >>> roundoff_noise(g, g, g)  # nothing moved: no evidence either way
    RoundoffNoise(noisy=0, counted=0, typical=0.0)
    """
    read = [(x, y, z) for k in second if k in first and k in third
            and (x := _real(first[k])) is not None and (y := _real(second[k])) is not None and (z := _real(third[k])) is not None
            and x.shape == y.shape == z.shape]
    if not read:
        return RoundoffNoise(0, 0, 0.0)
    a, b, c = (np.concatenate([triple[i].ravel() for triple in read]) for i in range(3))
    scale = float(np.max(np.abs(b), initial=0.0))
    moved = ~((a == b) & (b == c))
    if scale == 0.0 or not np.all(np.isfinite(a[moved] + b[moved] + c[moved])):
        return RoundoffNoise(0, 0, 0.0)
    r = np.abs(c[moved] - 2 * b[moved] + a[moved]) / scale
    noisy = int(np.sum((r >= NOISE_LOW) & (r <= NOISE_HIGH)))
    return RoundoffNoise(noisy, int(r.size), float(np.median(r)) if r.size else 0.0)


def _real(value: object) -> np.ndarray | None:
    """``value`` as a float64 array when it is an array of real numbers, else ``None``."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - an object numpy cannot read is no evidence
        return None
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None
