"""Central-difference numerical gradients of a scalar function of a params dict.

This module holds the plain, one-entry-at-a-time reference implementation
(:func:`numerical_gradient`) and the step-size rule shared by every
numerical method in the package.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck._validate import check_number, check_params, describe
from gradcheck.compare import Tolerance
from gradcheck.errors import GradcheckTypeError, GradcheckValueError
from gradcheck.estimate import NumericGradient
from gradcheck.parallel import run_split
from gradcheck.stencil import EPS, REFINE_STEP, STENCIL, bracket_moved, combine, roundoff_error

__all__ = [
    "BRACKET_WORTH",
    "EPS64",
    "FunctionPoint",
    "default_step",
    "estimate_function_gradient",
    "function_gradients",
    "numerical_gradient",
    "needs_refining",
    "refine_again",
    "refine_kinks",
    "representable_step",
    "widen_unresolved",
    "gradient_reach",
    "to_scalar",
    "unresolved",
]

#: The float64 machine epsilon (:data:`gradcheck.stencil.EPS`).
EPS64 = EPS

#: Entries whose stencil flags a kink or an unresolved bar are measured again at this fraction
#: of their step (:func:`refine_kinks`; :data:`gradcheck.stencil.REFINE_STEP`).
KINK_REFINE = REFINE_STEP

#: Rounds of :func:`refine_kinks` at most: ``h / 16``, then ``h / 256``, ``h / 4096``,
#: ``h / 65536`` for an entry whose estimate at the last step is unresolved, or a kink whose
#: bracket moved (:func:`refine_again`).  A kink ``d`` from the point leaves the stencil of step
#: ``t < d / 2``: four rounds resolve kinks down to ``h / 32768`` away (``1.8e-10 max(|x|, 1)``).
#: The round-off term grows 16x a round, and a round is taken only where it can shrink the bar
#: (:data:`BRACKET_WORTH`, :data:`gradcheck.stencil.REFINE_WHEN`).
REFINE_ROUNDS = 4

#: Round-off terms (of the current step) a moved kink's bracket must be wider than for another
#: round (:func:`refine_again`): at best that round leaves the kink outside and a bar of its own
#: round-off term, ``1 / REFINE_STEP = 16`` of these, held to ``k = 4`` of it either side
#: (:class:`~gradcheck.compare.Tolerance`'s default): ``2 * 4 * 16 = 128``.  A narrower bracket
#: is kept; a wider one is worth 16x the round-off.
BRACKET_WORTH = 2.0 * Tolerance().k / REFINE_STEP

#: ``fill(todo, steps, values)``: losses at all four stencil points of the
#: entries ``todo[name]`` with steps ``steps[name][todo[name]]``, written into
#: ``values[name][:, todo[name]]``.
Fill = Callable[[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]], None]


def default_step(x: np.ndarray, *, precision: Any = np.float64) -> np.ndarray:
    """Step for the central difference of each entry of ``x``.

    ``h = eps**(1/3) * max(|x|, 1)``: the cube root of float64's machine
    epsilon (about 6.1e-6) balances the truncation error of the central
    difference (``h**2 |f'''| / 6``) against its round-off error
    (``eps |f| / h``); scaling by ``|x|`` keeps the step relative for
    large entries.  The step is then rounded so that ``x + h`` and
    ``x - h`` are exactly representable around ``x`` (the difference
    ``(x + h) - x`` is exactly ``h``).

    ``precision=np.float32`` gives the step for a function that computes
    in float32: ``eps32**(1/3)`` (about 4.9e-3), rounded in float32.

    Examples
    --------
    >>> default_step(np.array([0.0, 1.0, 1000.0]))
    array([6.05545445e-06, 6.05545445e-06, 6.05545445e-03])
    >>> default_step(np.array([1.0]), precision=np.float32)
    array([0.00492156])
    """
    dtype = np.dtype(precision)
    x = np.asarray(x, dtype=dtype)
    return representable_step(x, float(np.finfo(dtype).eps) ** (1.0 / 3.0) * np.maximum(np.abs(x), 1.0), precision=precision)


def representable_step(x: np.ndarray, h: np.ndarray, *, precision: Any = np.float64) -> np.ndarray:
    """``h`` rounded, in ``precision``, to ``(x + h) - x``: the step ``x + h`` really takes.

    >>> float(representable_step(np.array([1.0]), np.array([0.1]))[0]) == 0.10000000000000009
    True
    """
    dtype = np.dtype(precision)
    x = np.asarray(x, dtype=dtype)
    return ((x + np.asarray(h).astype(dtype)) - x).astype(np.float64)


def numerical_gradient(
    f: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    *,
    eps: float | None = None,
) -> dict[str, np.ndarray]:
    """Central-difference gradient of ``f`` at ``params``, one entry at a time.

    ``grad[k][i] = (f(p + h e_i) - f(p - h e_i)) / (2 h)`` for every entry
    ``i`` of every array ``params[k]``.  This is the plain loop (two calls of
    ``f`` per entry), kept as the reference the fast methods are tested
    against.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``; it receives a fresh copy of the parameters
        with one entry moved, never the caller's arrays.
    params : mapping of str to ndarray
        The point; converted to float64 copies. The caller's arrays are
        never changed, even when ``f`` raises.
    eps : float, optional
        A fixed absolute step. Default: :func:`default_step`, relative to
        each entry's magnitude.

    Returns
    -------
    dict of str to ndarray
        Same keys and shapes as ``params``, float64.

    Examples
    --------
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> g = numerical_gradient(lambda q: float(np.sum(q["w"] ** 2)), p)
    >>> np.allclose(g["w"], [2.0, 4.0])
    True
    """
    params = check_params(params, name="params")
    if eps is not None:
        check_number(eps, "eps", min_value=0.0, exclusive_min=True)
    work = {k: v.copy() for k, v in params.items()}
    grads: dict[str, np.ndarray] = {}
    for key, value in params.items():
        grad = np.empty_like(value)
        flat = work[key].reshape(-1)  # a view into work[key]
        steps = default_step(value).reshape(-1) if eps is None else np.full(value.size, float(eps))
        for i in range(value.size):
            x0 = flat[i]
            flat[i] = x0 + steps[i]
            f_plus = float(f(dict(work)))
            flat[i] = x0 - steps[i]
            f_minus = float(f(dict(work)))
            flat[i] = x0
            grad.reshape(-1)[i] = (f_plus - f_minus) / (2.0 * steps[i])
        grads[key] = grad
    return grads


def to_scalar(value: Any, who: str) -> float:
    """The loss ``who`` returned, as a float; a clear ``TypeError`` for anything else.

    Python and numpy real numbers and one-element arrays are accepted.

    Examples
    --------
    >>> to_scalar(np.array([[2.5]]), "f")
    2.5
    >>> to_scalar(np.ones(3), "f")
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckTypeError: f must return a scalar loss (one real number), got ndarray(shape=(3,), dtype=float64): reduce it to one number, e.g. float(np.sum(out * dout))
    """
    if isinstance(value, float):
        return float(value)
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else np.asarray(None)
    if arr.dtype.kind not in "iuf" or arr.size != 1:
        raise GradcheckTypeError(f"{who} must return a scalar loss (one real number), got {describe(value)}: "
                        "reduce it to one number, e.g. float(np.sum(out * dout))")
    return float(arr.reshape(-1)[0])


def _dtype_of(value: Any) -> np.dtype:
    return np.asarray(value).dtype if not isinstance(value, float) else np.dtype(np.float64)


class FunctionPoint:
    """Values of an opaque function at a point and at points where entries moved.

    ``call(arrays)`` computes the loss from the arrays in ``arrays``, which
    this object moves *in place* (one entry, or one tensor along a
    direction) and restores bit for bit right after each call, also when
    the call raises.  :func:`gradcheck.check.check_gradients` gives it
    private copies; :func:`gradcheck.net.check_net` the net's own arrays.

    ``params`` (a pristine copy of ``arrays``), ``f0`` and ``noise_scale``
    make it usable where fast mode expects a model evaluator
    (:func:`gradcheck.directional.check_directional` calls
    :meth:`losses_along`).
    """

    def __init__(self, call: Callable[[dict[str, np.ndarray]], Any], arrays: dict[str, np.ndarray], *,
                 who: str = "f") -> None:
        self.call = call
        self.arrays = arrays
        self.params = {k: v.copy() for k, v in arrays.items()}
        self.who = who
        self.dtypes: set[str] = set()
        self.f0 = float("nan")
        self.noise_scale = 0.0

    def value(self) -> float:
        """``f`` at the point itself."""
        return self._scalar(self.call(self.arrays))

    def _scalar(self, value: Any) -> float:
        if type(value) is float or type(value) is np.float64:  # the common case, without numpy's dtype machinery
            return float(value)
        self.dtypes.add(str(_dtype_of(value)))
        return to_scalar(value, self.who)

    def at_entries(self, name: str, flat_index: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """``f`` with ``arrays[name].flat[flat_index[p]] += steps[p]``, one ``p`` at a time."""
        out = np.empty(len(flat_index))
        flat = self.arrays[name].reshape(-1)
        if not np.shares_memory(flat, self.arrays[name]):
            raise GradcheckValueError(f"{self.who}: params[{name!r}] must be a contiguous array to be moved in place")
        base = self.params[name].reshape(-1)
        for p, (i, s) in enumerate(zip(flat_index, steps)):
            try:
                flat[i] = base[i] + s
                out[p] = self._scalar(self.call(self.arrays))
            finally:
                flat[i] = base[i]
        return out

    def moved_value(self, moves: Mapping[str, np.ndarray]) -> float:
        """``f`` with ``arrays[name] += moves[name]`` for every name of ``moves`` at once (restored after)."""
        try:
            for name, d in moves.items():  # the sum written straight into the array: no temporary
                np.add(self.params[name], d, out=self.arrays[name], casting="unsafe")
            return self._scalar(self.call(self.arrays))
        finally:
            for name in moves:
                np.copyto(self.arrays[name], self.params[name])

    def losses_along(self, name: str, directions: np.ndarray) -> np.ndarray:
        """``f`` with ``arrays[name] += directions[p]``, for every ``p`` (fast mode's probes)."""
        out = np.empty(len(directions))
        arr = self.arrays[name]
        base = self.params[name]
        for p, d in enumerate(directions):
            try:
                np.add(base, d, out=arr, casting="unsafe")  # as copyto(arr, base + d), without the temporary
                out[p] = self._scalar(self.call(self.arrays))
            finally:
                np.copyto(arr, base)
        return out


def function_gradients(
    point: FunctionPoint,
    names: Sequence[str],
    *,
    noise_scale: float,
    accept: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] | None = None,
    workers: int = 1,
    precision: Any = np.float64,
) -> dict[str, NumericGradient]:
    """Error-aware numerical gradient of ``point``'s function, entry by entry.

    The stencil of :mod:`gradcheck.stencil` (see
    :func:`gradcheck.engine.estimate_gradients` for the two stages): with
    ``accept`` every entry first gets ``f(p +- h)`` only (the plain loop's
    two calls), and only entries that ``accept[name](d1, roundoff_error)``
    does not settle get ``f(p +- 2h)`` too.  ``point.f0`` must be set.
    ``workers > 1`` spreads the entries over forked processes
    (:func:`gradcheck.parallel.run_split`).
    """
    steps = {k: default_step(point.params[k], precision=precision).reshape(-1) for k in names}
    values = {k: np.full((len(STENCIL), point.params[k].size), np.nan) for k in names}
    todo = {k: np.arange(point.params[k].size) for k in names}
    first = (0, 1) if accept is not None else (0, 1, 2, 3)
    _fill(point, todo, steps, values, first, workers)
    if accept is not None:
        for k in names:
            f, h = values[k], steps[k]
            d1 = (f[0] - f[1]) / (2.0 * h)
            err = roundoff_error(point.f0, f[0], f[1], h=h, scale=noise_scale)
            ok = accept[k](d1, err) if k in accept else np.zeros(h.size, bool)
            todo[k] = np.flatnonzero(~np.asarray(ok, bool).reshape(-1))
        _fill(point, todo, steps, values, (2, 3), workers)
    grads = {k: stencil_gradient(k, point.f0, values[k], steps[k], point.params[k].shape, noise_scale) for k in names}
    fill: Fill = lambda t, s, v: _fill(point, t, s, v, (0, 1, 2, 3), workers)  # noqa: E731
    grads = refine_kinks(grads, fill, point.f0, noise_scale, params=point.params, precision=precision)
    return widen_unresolved(grads, fill, point.f0, noise_scale, params=point.params, precision=precision)


def _fill(point: FunctionPoint, todo: dict[str, np.ndarray], steps: dict[str, np.ndarray],
          values: dict[str, np.ndarray], rows: Sequence[int], workers: int) -> None:
    """``values[k][rows][:, todo[k]]``: ``f`` at those stencil points, spread over ``workers`` processes."""
    offsets = np.asarray([STENCIL[r] for r in rows])
    jobs = []
    for k, idx in todo.items():
        parts = max(1, min(len(idx), 4 * workers)) if workers > 1 else 1
        jobs += [(k, chunk) for chunk in np.array_split(idx, parts) if len(chunk)]

    def run(job: tuple[str, np.ndarray]) -> np.ndarray:
        k, idx = job
        h = steps[k][idx]
        return point.at_entries(k, np.tile(idx, len(offsets)), (offsets[:, None] * h[None, :]).reshape(-1))

    sizes = [len(offsets) * len(idx) for _, idx in jobs]
    for (k, idx), f in zip(jobs, run_split(jobs, run, sizes, workers=workers)):
        for r, row in zip(rows, f.reshape(len(offsets), -1)):
            values[k][r, idx] = row


def refine_kinks(grads: Mapping[str, NumericGradient], fill: Fill, f0: float, scale: float, *,
                 params: Mapping[str, np.ndarray], precision: Any = np.float64,
                 only: Mapping[str, np.ndarray] | None = None) -> dict[str, NumericGradient]:
    """Measure every kink and every unresolved entry again at :data:`KINK_REFINE` of its step, and keep that estimate.

    Which entries: :func:`needs_refining`.  A stencil flags a kink when
    some kink lies within ``2h`` of the point, not only at it: at batch 256
    another sample's ReLU pre-activation a few ``h`` away corrupts the
    ``2h`` quotients.  And a kink about ``2h/3`` away is not flagged at all
    (``s(h) = s(2h) / 2`` there, :func:`gradcheck.stencil.combine`) but
    makes the truncation estimate a few percent of the gradient, out of
    proportion with the curvature: such a bar is refined too (:func:`unresolved`).  At ``h / 16`` a kink near
    the point is left outside: every field is the smaller stencil's
    (value, error bar and a one-sided bracket whose quotients no longer
    cross the kink, so a value a few percent off is caught), and the kink
    flag stays where either stencil set it, because a tie *at* the point
    whose jump is below the round-off the kink test allows for at ``h / 16``
    looks smooth there, with the mean of the two one-sided slopes as its
    central difference (the red team's seed 15): its fine bracket still
    holds both one-sided slopes.  A kink closer than ``h / 8`` is still
    inside the ``h / 16`` stencil: such entries are measured again, 16x
    smaller each round, while :func:`refine_again` says so, for at most
    :data:`REFINE_ROUNDS` rounds.  Each smaller step is rounded so that
    ``x + t`` takes it exactly (:func:`representable_step`, ``x`` from
    ``params``, in ``precision``), as :func:`default_step` rounds ``h``; an
    entry whose step rounds to 0 is not measured again.  Costs four
    evaluations per entry and round.  ``only[name]``: a mask of the entries
    that may be refined (default: all).
    """
    out = dict(grads)
    todo = {k: np.flatnonzero((needs_refining(g) & (True if only is None else only[k])).reshape(-1))
            for k, g in grads.items()}
    for _ in range(REFINE_ROUNDS):
        steps = {k: representable_step(np.asarray(params[k]).reshape(-1), np.asarray(out[k].step).reshape(-1) * KINK_REFINE,
                                       precision=precision) for k, idx in todo.items() if idx.size}
        todo = {k: idx for k, idx in ((k, todo[k][steps[k][todo[k]] > 0]) for k in steps) if idx.size}
        if not todo:
            break
        values = {k: np.full((len(STENCIL), steps[k].size), np.nan) for k in todo}
        fill(todo, steps, values)
        again = {}
        for k, idx in todo.items():
            fine = stencil_gradient(k, f0, values[k][:, idx], steps[k][idx], (idx.size,), scale)
            again[k] = idx[refine_again(out[k], idx, fine)]
            out[k] = _merged(out[k], idx, fine)
        todo = again
    return out


#: How many times the check's step an entry is measured again at when its bar is as large as the gradient
#: (:func:`widen_unresolved`): round-off over the step shrinks 256x, a tie's slope jump ``J`` at the point
#: becomes 256x larger in round-off units (the kink test flags it and the bracket judges it; two rounds of
#: :func:`refine_kinks` come back to the check's own step), and the truncation term grows 65536x, which a
#: loss that is nearly linear at this scale (the regime where round-off dominates) does not notice.
WIDEN_STEP = 1.0 / REFINE_STEP**2

#: A tensor's bars are "as large as its gradient" (:func:`widen_unresolved`) where an entry's acceptance
#: interval, half-width ``k * error`` (``k`` of :class:`~gradcheck.compare.Tolerance`'s default), is at
#: least this fraction of the tensor's largest ``|numeric|``: a sign flip of that largest entry moves it by
#: twice its size, and a half-width of half its size still lets a wrong value of the scale of the smaller
#: entries pass.
WIDEN_WHEN = 0.5


def widen_unresolved(grads: Mapping[str, NumericGradient], fill: Fill, f0: float, scale: float, *,
                     params: Mapping[str, np.ndarray], precision: Any = np.float64) -> dict[str, NumericGradient]:
    """Entries whose error bar is as large as their tensor's gradient, measured again at :data:`WIDEN_STEP` times the step.

    Which entries: :func:`too_wide`.  At tiny inputs (rt18 F13/F16,
    ``x = 1e-8``) a weight's gradient is ``1e-9`` while the loss's rounding
    over the step, ``1.5 * 16 eps |f| / h``, is ``3e-10``: a correct
    gradient passed with bars of the size of the gradient, and ties at the
    point whose slope jump (of the gradient's size too) stays below the kink
    test hid in them.  The wider stencil (:func:`stencil_gradient`) gets
    every field of its own, its kinks and unresolved bars go through
    :func:`refine_kinks` from the wider step down, and the entry keeps
    whichever estimate accepts the narrower set of values
    (:func:`acceptance_width`): both are estimates with their own bars, and
    which is narrower is read from them, never from the analytic value.
    """
    wide = {k: too_wide(g) for k, g in grads.items()}
    todo = {k: np.flatnonzero(m.reshape(-1)) for k, m in wide.items() if m.any()}
    steps = {k: representable_step(np.asarray(params[k]).reshape(-1), np.asarray(grads[k].step).reshape(-1) * WIDEN_STEP,
                                   precision=precision) for k in todo}
    todo = {k: idx[steps[k][idx] > 0] for k, idx in todo.items()}
    todo = {k: idx for k, idx in todo.items() if idx.size}
    if not todo:
        return dict(grads)
    values = {k: np.full((len(STENCIL), steps[k].size), np.nan) for k in todo}
    fill(todo, steps, values)
    wider = {k: _merged(grads[k], idx, stencil_gradient(k, f0, values[k][:, idx], steps[k][idx], (idx.size,), scale),
                        kink="replace") for k, idx in todo.items()}
    wider = refine_kinks(wider, fill, f0, scale, params=params, precision=precision, only=wide)
    out = dict(grads)
    for k, w in wider.items():
        better = (acceptance_width(w) < acceptance_width(grads[k])) & wide[k]
        out[k] = _merged(grads[k], np.flatnonzero(better.reshape(-1)), _entries_of(w, better), kink="replace")
    return out


def gradient_reach(analytic: np.ndarray, point: np.ndarray) -> float:
    """``sum(max(|p_i|, 1) |a_i|)``: by how much, to first order, the gradient ``analytic`` says the loss changes
    along a move of every entry by its own size (``max(|p_i|, 1)``, the unit of the check's steps) in the direction
    of the gradient's signs; no move of that size in any direction changes it more.

    Fast mode's probes move each entry by at most that much (:func:`gradcheck.directional.unresolved_probes`), and
    a gradient that cannot move the loss by its rounding even there is no gradient the loss can show
    (:func:`gradcheck.check.check_point`).

    >>> gradient_reach(np.array([1e-17, -2.0]), np.array([0.5, 3.0]))
    6.0
    """
    return float(np.sum(np.maximum(np.abs(np.asarray(point, dtype=np.float64)), 1.0).reshape(-1)
                        * np.abs(np.asarray(analytic, dtype=np.float64)).reshape(-1)))


def too_wide(grad: NumericGradient, largest: float | None = None) -> np.ndarray:
    """Entries, not kinks, whose acceptance half-width ``k * error`` is at least :data:`WIDEN_WHEN` of ``largest``:
    by default the largest ``|value|`` of their tensor (:func:`widen_unresolved`, which sees no analytic gradient).

    The verdict's note (:func:`gradcheck.check.bar_fractions`) passes the larger of the numerical and the analytic
    tensor's largest entries: where the loss does not move at the step at all (a constant of ``1e12`` added to it,
    rt25 F10), every numerical entry is exactly 0, and bars of ``3.5e7`` were not "as large as" a gradient of 0.

    >>> z = np.zeros(2)
    >>> g = NumericGradient("w", z, np.array([1.0, 1e-9]), z, z, z, np.zeros(2, bool))
    >>> too_wide(g), too_wide(g, largest=2.0)
    (array([False, False]), array([ True, False]))
    """
    if largest is None:
        largest = float(np.max(np.abs(grad.value), initial=0.0))  # 0: nothing to resolve, no bar is below half of it
    return ~np.asarray(grad.kink, bool) & (Tolerance().k * np.asarray(grad.error) >= WIDEN_WHEN * largest) & (largest > 0)


def acceptance_width(grad: NumericGradient) -> np.ndarray:
    """Width of the set of values :func:`gradcheck.compare.judge` accepts for each entry (without ``atol``, ``rtol``):
    ``2 k error``, and at a kink the hull of that and the bracket widened by ``k`` times twice the round-off term."""
    k = Tolerance().k
    value, error = np.asarray(grad.value), np.asarray(grad.error)
    noise = error if grad.roundoff is None else np.asarray(grad.roundoff)
    lo = np.where(grad.kink, np.fmin(value - k * error, np.asarray(grad.lower) - 2.0 * k * noise), value - k * error)
    hi = np.where(grad.kink, np.fmax(value + k * error, np.asarray(grad.upper) + 2.0 * k * noise), value + k * error)
    return hi - lo


def _entries_of(grad: NumericGradient, mask: np.ndarray) -> NumericGradient:
    """The entries ``mask`` of ``grad``, flat, as an estimate of their own (for :func:`_merged`)."""
    m = np.asarray(mask, bool).reshape(-1)
    fields: dict[str, Any] = {f: (None if getattr(grad, f) is None else np.asarray(getattr(grad, f)).reshape(-1)[m])
              for f in ("value", "error", "step", "lower", "upper", "kink", "refined", "roundoff", "unresolved", "side",
                        "jump")}
    return dataclasses.replace(grad, **fields)


def refine_again(coarse: NumericGradient, idx: np.ndarray, fine: NumericGradient) -> np.ndarray:
    """Which entries ``idx`` of ``coarse``, measured again as ``fine`` (a 16x smaller step), need another round.

    An entry still :func:`unresolved` and no kink: a kink in the kink
    test's blind spot of the smaller stencil.  And a kink whose bracket
    moved, narrowed or widened (:func:`gradcheck.stencil.bracket_moved`): a kink is near the
    point, not only at it, and a smaller step may leave it outside; where the
    bracket stays, the kink is at the point (to within what the curvature
    shows) and a smaller step would give the same bracket.  Either only
    where the smaller step's 16x round-off term leaves a smaller bar: a
    truncation term above :data:`~gradcheck.stencil.REFINE_WHEN`
    round-off terms, a bracket wider than :data:`BRACKET_WORTH`.
    An estimate without ``side`` (not from :func:`stencil_gradient`) has
    no kink refined twice.
    """
    kink = np.asarray(fine.kink, bool).reshape(-1)
    fine_ro = np.asarray(fine.roundoff).reshape(-1)
    side = np.full(coarse.value.size, np.inf) if coarse.side is None else np.asarray(coarse.side).reshape(-1)
    flat = {f: np.asarray(getattr(coarse, f)).reshape(-1)[idx] for f in ("lower", "upper", "roundoff")}
    fine_lower, fine_upper = np.asarray(fine.lower).reshape(-1), np.asarray(fine.upper).reshape(-1)
    moved = bracket_moved((flat["lower"], flat["upper"], side[idx], flat["roundoff"]), (fine_lower, fine_upper, fine_ro))
    worth = fine_upper - fine_lower > BRACKET_WORTH * fine_ro
    return (unresolved(fine).reshape(-1) & ~kink) | (kink & moved & worth)


def _merged(coarse: NumericGradient, idx: np.ndarray, fine: NumericGradient, *, kink: str = "either") -> NumericGradient:
    """``coarse`` with the entries ``idx`` measured again (``fine``): the fine fields, the kink flag of either
    (``kink="replace"``: the fine one's, for an estimate chosen instead of the other).

    A kink only the coarse stencil flagged is judged by the fine bracket: the fine error bar loses its
    term for an unflagged jump (:func:`gradcheck.stencil.combine`), which would otherwise accept values
    ``k`` half-jumps either side of the midpoint, outside the bracket.
    """
    fields: dict[str, Any] = {}
    for field in ("value", "error", "step", "lower", "upper", "kink", "roundoff", "unresolved", "side", "jump"):
        old = getattr(coarse, field)
        new = np.asarray(getattr(fine, field) if getattr(fine, field) is not None else np.zeros(idx.size)).reshape(-1)
        # unresolved and side are None in an estimate whose entries were all settled by f(+-h); jump is 0 there
        blank = (np.zeros(coarse.value.size, bool) if new.dtype == bool else
                 np.zeros(coarse.value.size) if field == "jump" else np.full(coarse.value.size, np.nan))
        merged = blank if old is None else np.array(old, copy=True).reshape(-1)
        merged[idx] = merged[idx] | new if field == "kink" and kink == "either" else new
        fields[field] = merged.reshape(coarse.shape)
    flagged = fields["kink"] & (fields["jump"] > 0)
    fields["error"] = np.where(flagged, fields["error"] - fields["jump"], fields["error"])
    fields["jump"] = np.where(flagged, 0.0, fields["jump"])
    return dataclasses.replace(coarse, **fields)


def unresolved(grad: NumericGradient) -> np.ndarray:
    """Entries whose truncation estimate is a kink's, not a smooth function's (:func:`gradcheck.stencil.combine`).

    >>> g = NumericGradient("w", value=np.ones(2), error=np.ones(2), step=np.ones(2), lower=np.ones(2),
    ...                     upper=np.ones(2), kink=np.zeros(2, bool), unresolved=np.array([True, False]))
    >>> unresolved(g).tolist(), unresolved(dataclasses.replace(g, unresolved=None)).tolist()
    ([True, False], [False, False])
    """
    if grad.unresolved is None:
        return np.zeros(np.shape(grad.kink), bool)
    return np.asarray(grad.unresolved, bool)


def needs_refining(grad: NumericGradient) -> np.ndarray:
    """Entries :func:`refine_kinks` measures again: kinks, and :func:`unresolved` error bars."""
    return np.asarray(grad.kink, bool) | unresolved(grad)


def stencil_gradient(name: str, f0: float, f: np.ndarray, h: np.ndarray, shape: tuple[int, ...],
              scale: float) -> NumericGradient:
    """Combine stencil values; entries without the 2h points keep d1 and the round-off error.

    Shared by this module's opaque-function path and :mod:`gradcheck.engine`.
    """
    parts = combine(f0, f[0], f[1], f[2], f[3], h, scale=scale)
    coarse = np.isnan(f[2])
    noise = roundoff_error(f0, f[0], f[1], h=h, scale=scale)
    if coarse.any():
        parts["value"] = np.where(coarse, parts["d1"], parts["value"])
        parts["error"] = np.where(coarse, noise, parts["error"])
        parts["kink"] = np.where(coarse, False, parts["kink"])
        parts["unresolved"] = np.where(coarse, False, parts["unresolved"])
        parts["jump"] = np.where(coarse, 0.0, parts["jump"])
    return NumericGradient(
        name=name, value=parts["value"].reshape(shape), error=parts["error"].reshape(shape),
        step=h.reshape(shape), lower=parts["lower"].reshape(shape), upper=parts["upper"].reshape(shape),
        kink=parts["kink"].reshape(shape), refined=(~coarse).reshape(shape), roundoff=noise.reshape(shape),
        unresolved=parts["unresolved"].reshape(shape), side=parts["side"].reshape(shape), jump=parts["jump"].reshape(shape),
    )


def estimate_function_gradient(
    f: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    *,
    noise_scale: float = 0.0,
) -> dict[str, NumericGradient]:
    """Error-aware numerical gradient of any ``f(params) -> float``, entry by entry.

    The five-point stencil of :mod:`gradcheck.stencil` for every entry
    (four calls of ``f`` per entry): extrapolated value, error estimate,
    one-sided quotients and kink flags.  Use the structured
    :func:`gradcheck.engine.estimate_gradients` for layered models, and
    :func:`gradcheck.check_gradients` for a check (two stages, measured noise).

    ``noise_scale``: the size of the numbers ``f`` is computed from, when
    much larger than ``f`` itself (a result of cancellation, e.g.
    ``log(sum(exp(w)))`` near 0): the round-off model then uses
    ``eps * noise_scale`` instead of ``eps * |f|`` (:func:`gradcheck.stencil.roundoff`).

    Examples
    --------
    >>> est = estimate_function_gradient(lambda q: float(np.abs(q["w"]).sum()), {"w": np.array([0.0, 2.0])})
    >>> est["w"].kink.tolist(), float(est["w"].value[1])
    ([True, False], 1.0)
    """
    params = check_params(params, name="params")
    check_noise_scale(noise_scale)
    point = FunctionPoint(lambda arrays: f(dict(arrays)), params)
    point.f0 = point.value()
    if not np.isfinite(point.f0):
        raise GradcheckValueError(f"f(params) must be finite at the point to check, got {point.f0!r}")
    return function_gradients(point, list(params), noise_scale=noise_scale)


def check_noise_scale(noise_scale: Any) -> float:
    """``noise_scale`` must be a finite number >= 0."""
    return check_number(noise_scale, "noise_scale", min_value=0.0)
