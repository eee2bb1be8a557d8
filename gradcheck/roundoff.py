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
:func:`gradcheck.check_net` skips nets below float64), and a reading whose
noisy entries sit at float32's level (:data:`FLOAT32_LEVEL`,
:attr:`RoundoffNoise.float32`) is float32 rounding, not a finite difference.
The price: a numerical gradient at a step ``h <= ~1e-6`` rounds at that
level too (at ``h = 1e-5`` some tensors do) and is read as float32 (the grader gives ``precision``, 0.75):
false credit is better than accusing honest work.  A gradient whose
values lie on a decimal grid (``np.round(g, n)``, ``n <= 14``: its second
differences are multiples of ``10**-n``) is no evidence (rt19 F11).

Examples
--------
>>> g = np.sqrt([1.0, 0.2, 0.05])
>>> roundoff_noise({"W": g}, {"W": g + 1e-16}, {"W": g}).numerical  # rounding of backprop: 1e-16 of |g|
False
>>> roundoff_noise({"W": g + 3e-12}, {"W": g}, {"W": g - 2e-12}).numerical  # a finite difference's
True
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcheck._validate import check_int

__all__ = ["STEP", "NOISE_LOW", "NOISE_HIGH", "NOISY_FRACTION", "FLOAT32_LEVEL", "MAX_DECIMALS", "roundoff_by_tensor", "read_rounding_by_tensor", "RoundoffNoise", "moved_points", "roundoff_noise",
           "read_rounding"]

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
#: A numerical reading whose noisy entries have a median at least this much of the largest entry of
#: their own tensor (float32 rounds relative to the values it holds: rt19 m11, a float32 delta on
#: mnist_relu, rounds W1 at 1e-10 of W2's largest entry, 9e-10 of W1's) is float32 rounding, not a
#: finite difference's.  Measured per tensor (``/tmp/ng/levels3.py``: every reference model, the two
#: grading points, both rays; ``read_rounding_by_tensor``): float32 steps 8.9e-10 .. 7.5e-8 (m11,
#: the reference rounded to float32 on mnist_relu, relu_sigmoid_bce, xor_3layer, chain_2_1_1); a
#: central difference at h = 1e-3 .. 1e-4 at most 7.9e-11, at h = 1e-5 2.4e-11 .. 5.3e-10, at
#: h = 1e-6 1.4e-10 .. 9.2e-9, at h <= 3e-7 >= 4.5e-10 (a tensor whose entries are all tiny, such
#: as onehot_222's, reads far higher).  Not covered: study_3layer's reference rounded to float32 read
#: 4.4e-12 in one tensor (its noisy entries are its smallest); its float32 values give ``precision``
#: before the rounding is read.
FLOAT32_LEVEL = 5e-10
#: The finest decimal grid read as a rounded result (``np.round(g, 14)``) rather than as noise.
MAX_DECIMALS = 14


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
    level : float
        The median second difference of the noisy entries, each relative to the largest entry of its
        own tensor: float32 rounds relative to the values it holds (0 when none).
    """

    noisy: int
    counted: int
    typical: float
    level: float = 0.0

    @property
    def numerical(self) -> bool:
        """Whether the gradient carries a finite difference's rounding: a share :data:`NOISY_FRACTION` of it noisy."""
        return self.counted > 0 and self.noisy >= NOISY_FRACTION * self.counted

    @property
    def float32(self) -> bool:
        """Whether a numerical-looking reading sits at float32's rounding level (:data:`FLOAT32_LEVEL`)."""
        return self.numerical and self.level >= FLOAT32_LEVEL


def moved_points(params: Mapping[str, np.ndarray], seed: int, side: float = 1.0) -> tuple[dict[str, np.ndarray], ...]:
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
    side : float
        ``1.0`` for the ray along ``d``, ``-1.0`` for its mirror along ``-d``
        (:func:`read_rounding` reads both).

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
        ds[k] = (p, side * rng.choice([-1.0, 1.0], size=p.shape) * STEP * np.maximum(np.abs(p), 1.0))
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
    RoundoffNoise(noisy=0, counted=0, typical=0.0, level=0.0)
    """
    pieces = _second_differences(first, second, third)
    if pieces is None:
        return RoundoffNoise(0, 0, 0.0)
    return _reading(*(np.concatenate([piece[i] for piece in pieces.values()]) for i in range(2)))


def roundoff_by_tensor(first: Mapping[str, Any], second: Mapping[str, Any], third: Mapping[str, Any]) -> dict[str, RoundoffNoise]:
    """:func:`roundoff_noise` read per key: the scale is still the whole gradient's largest entry, the share per tensor.

    A numerical tensor among analytic ones is numerical by its own entries
    (a quarter of *all* entries missed one under 25 % of them: rt19 F3),
    and an analytic tensor is not blamed for another's noise (F20).

    Examples
    --------
    >>> g = {"W": np.sqrt([1.0, 0.2, 0.05]), "b": np.sqrt([0.3])}
    >>> moved = {"W": g["W"] + 1e-16, "b": g["b"] + 3e-12}
    >>> {k: r.numerical for k, r in roundoff_by_tensor(g, moved, g).items()}
    {'W': False, 'b': True}
    """
    pieces = _second_differences(first, second, third)
    return {} if pieces is None else {k: _reading(*piece) for k, piece in pieces.items()}


def _second_differences(first: Mapping[str, Any], second: Mapping[str, Any],
                        third: Mapping[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
    """Per key, ``|g3 - 2 g2 + g1|`` of the entries that moved over the largest ``|g2|`` of all and of that key; ``None`` when nothing can be read.

    Nothing can be read when no key holds real arrays of one shape, the
    gradient is zero, a moved entry is not finite, or every value lies on a
    decimal grid (:func:`_on_decimal_grid`: a result passed through ``np.round``).
    """
    read = {k: (x, y, z) for k in second if k in first and k in third
            and (x := _real(first[k])) is not None and (y := _real(second[k])) is not None and (z := _real(third[k])) is not None
            and x.shape == y.shape == z.shape}
    if not read:
        return None
    a, b, c = (np.concatenate([triple[i].ravel() for triple in read.values()]) for i in range(3))
    scale = float(np.max(np.abs(b), initial=0.0))
    moved = ~((a == b) & (b == c))
    if scale == 0.0 or not np.all(np.isfinite(a[moved] + b[moved] + c[moved])) or _on_decimal_grid(a, b, c):
        return None
    out = {}
    for k, (x, y, z) in read.items():
        x, y, z = x.ravel(), y.ravel(), z.ravel()
        keep = ~((x == y) & (y == z))
        d2 = np.abs(z[keep] - 2 * y[keep] + x[keep])
        own = float(np.max(np.abs(y), initial=0.0))
        out[k] = (d2 / scale, d2 / own if own > 0 else np.full(d2.shape, np.inf))
    return out


def _reading(r: np.ndarray, own: np.ndarray) -> RoundoffNoise:
    """The reading of second differences relative to the whole gradient's largest entry (``r``) and to their tensor's (``own``)."""
    in_band = (r >= NOISE_LOW) & (r <= NOISE_HIGH)
    return RoundoffNoise(int(np.sum(in_band)), int(r.size), float(np.median(r)) if r.size else 0.0,
                         float(np.median(own[in_band])) if np.any(in_band) else 0.0)


def _on_decimal_grid(*arrays: np.ndarray) -> bool:
    """Whether every value lies on one grid ``10**-n``, ``n <= MAX_DECIMALS``: a result passed through ``np.round`` (rt19 F11).

    Its second differences are multiples of ``10**-n``, not rounding, and
    its values are judged as they are.  ``np.round`` is idempotent, so its
    results satisfy ``np.round(v, n) == v`` exactly; a computed value does
    with chance ``~10**-(15 - n)`` per entry.
    """
    v = np.concatenate([x.ravel() for x in arrays])
    return any(np.array_equal(np.round(v, n), v) for n in range(MAX_DECIMALS + 1))

def _real(value: object) -> np.ndarray | None:
    """``value`` as a float64 array when it is an array of real numbers, else ``None``."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - an object numpy cannot read is no evidence
        return None
    return arr.astype(np.float64) if arr.dtype.kind in "biuf" else None


def read_rounding(gradient: Callable[[dict[str, np.ndarray]], Mapping[str, Any] | None],
                  params: Mapping[str, np.ndarray], seed: int) -> RoundoffNoise:
    """The rounding of ``gradient`` near ``params``: numerical only when the rays on *both* sides of ``p`` say so.

    A kink a few ``d`` from ``p`` (a pre-activation ``3e-9 .. 7e-9`` from 0,
    5e-4 .. 1.1e-3 of the central-difference step: rt18, 3 of 50 distances)
    is crossed by one ray, and the correct gradient's slope jump, first order
    in ``d``, lands in the rounding band.  A kink lies on one side of ``p``
    along the line ``p + t d``; a finite difference's rounding lies on both.
    So the mirror ray ``p - d, p - 2 d, p - 3 d`` is read only when the ray
    ``p + d ..`` is numerical (honest code costs the same three calls), and
    the weaker of the two readings is returned.

    Parameters
    ----------
    gradient : callable
        Returns the gradient at the given parameters (a mapping keyed like
        them), or ``None`` when it could not be had (then no evidence).
    params : mapping of str to array
        The point ``p`` (never modified).
    seed : int
        Seeds the direction ``d`` (:func:`moved_points`), at least 0.

    Returns
    -------
    RoundoffNoise

    Examples
    --------
    >>> w0 = np.sqrt(0.5)
    >>> kinked = lambda q: {"w": w0 + q["w"] + np.maximum(q["w"][0] - w0 - 2.5e-9, 0.0)}  # seed 0: w[0] moves by +1e-9
    >>> p = {"w": np.full(4, w0)}
    >>> roundoff_noise(*(kinked(q) for q in moved_points(p, seed=0))).numerical  # one ray alone: accused
    True
    >>> read_rounding(kinked, p, seed=0).numerical  # the mirror ray leaves the kink behind
    False
    """
    found: RoundoffNoise | None = None
    for side in (1.0, -1.0):
        grads = _ray(gradient, params, seed, side)
        if grads is None:
            return RoundoffNoise(0, 0, 0.0)
        found = _weaker(found, roundoff_noise(*grads))
        if not found.numerical:
            break
    return found if found is not None else RoundoffNoise(0, 0, 0.0)


def read_rounding_by_tensor(gradient: Callable[[dict[str, np.ndarray]], Mapping[str, Any] | None],
                            params: Mapping[str, np.ndarray], seed: int) -> dict[str, RoundoffNoise]:
    """:func:`read_rounding` per tensor (:func:`roundoff_by_tensor`): each numerical only when both rays say so for it.

    The grader's reading: a numerical tensor among analytic ones is found by
    its own entries, and only it is blamed (rt19 F3, F20).  Empty when a
    moved point gave no gradient.

    Parameters
    ----------
    gradient : callable
        As for :func:`read_rounding`.
    params : mapping of str to array
        The point ``p`` (never modified).
    seed : int
        Seeds the direction ``d`` (:func:`moved_points`), at least 0.

    Returns
    -------
    dict of str to RoundoffNoise

    Examples
    --------
    >>> w0 = np.sqrt(0.5)
    >>> def half_numerical(q):  # "b" carries noise of 1e-12 that changes erratically with the point
    ...     return {"W": w0 + q["W"], "b": w0 + q["b"] + 1e-12 * np.sin(1e12 * q["b"])}
    >>> p = {"W": np.full(6, w0), "b": np.full(1, w0)}
    >>> {k: r.numerical for k, r in read_rounding_by_tensor(half_numerical, p, seed=0).items()}
    {'W': False, 'b': True}
    """
    found: dict[str, RoundoffNoise] = {}
    for side in (1.0, -1.0):
        grads = _ray(gradient, params, seed, side)
        if grads is None:
            return {}
        for k, ray in roundoff_by_tensor(*grads).items():
            found[k] = _weaker(found.get(k), ray)
        if not any(r.numerical for r in found.values()):
            break
    return found


def _ray(gradient: Callable[[dict[str, np.ndarray]], Mapping[str, Any] | None], params: Mapping[str, np.ndarray],
         seed: int, side: float) -> list[Mapping[str, Any]] | None:
    """The gradients at the three moved points on one side of ``p`` (:func:`moved_points`), or ``None`` when one is missing."""
    grads = [g for q in moved_points(params, seed, side) if (g := gradient(q)) is not None]
    return grads if len(grads) >= 3 else None


def _weaker(found: RoundoffNoise | None, ray: RoundoffNoise) -> RoundoffNoise:
    """Of two readings of the same gradient (the two rays), the one that accuses less: a kink lies on one side only."""
    return ray if found is None or (ray.numerical, ray.typical) < (found.numerical, found.typical) else found
