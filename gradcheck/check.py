"""Checking gradients: the public entry points and their assertion helpers."""
from __future__ import annotations

import dataclasses
import functools
import itertools
import math
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from gradcheck import guards
from gradcheck.batchaxis import explains_unsummed
from gradcheck._validate import (
    check_choice,
    check_int,
    KeyMismatchError,
    check_grads_match,
    check_params,
    check_workers,
    describe,
)
from gradcheck.diagnose import Diagnosis, describe as describe_diagnosis
from gradcheck.errors import GradcheckTypeError, GradcheckValueError
from gradcheck.compare import EntryVerdicts, Judgement, Tolerance, compare_entries, judge, judged_entries
from gradcheck.directional import entrywise_in_fast, entrywise_note, every_entry_in_fast, fast_check
from gradcheck.engine import (
    ModelEvaluator,
    _Column,
    _rank_one,
    _settle_allocator,
    estimate_gradients,
    estimate_tiny,
    refine_estimate,
    split_estimate,
    tiny_first_stage,
)
from gradcheck.estimate import NumericGradient
from gradcheck.explain import explain, loss_unread, model_loss, passing
from gradcheck.jointties import joint_tie_checks
from gradcheck.noise import NOISE_POINTS, ecnoise, kink_inside, measure_noise
from gradcheck.numeric import (
    EPS64,
    FunctionPoint,
    check_noise_scale,
    default_step,
    function_gradients,
    gradient_reach,
    needs_refining,
    representable_step,
    to_scalar,
    too_wide,
)
from gradcheck.parallel import workers_from_env
from gradcheck.report import format_result
from gradcheck.stencil import EPS, ROUNDOFF_GAIN, ROUNDOFF_ULPS, SUBNORMAL, roundoff
from gradcheck.recognise import LayerKind
from gradcheck.results import CheckResult, EntryReport, ParamCheck, frozen_instance, replaced

__all__ = [
    "MODES",
    "assert_gradients_close",
    "assert_model_gradients",
    "check_gradients",
    "check_model",
    "check_point",
    "param_check",
    "param_checks",
]

MODES = ("full", "fast")
MAX_WORST = 5
MAX_INDICES = 100


def _entries(order: np.ndarray, analytic: np.ndarray, numeric: NumericGradient, verdicts: Any) -> tuple[EntryReport, ...]:
    """The reports of the flat entries ``order``, fetched one array at a time (not one entry at a time)."""
    def at(arr: np.ndarray) -> list[Any]:
        return np.asarray(arr).reshape(-1)[order].tolist()

    index = np.stack(np.unravel_index(order, analytic.shape), axis=-1).tolist() if analytic.ndim else [[]] * len(order)
    kinks = at(verdicts.kink)
    lower, upper = (at(numeric.lower), at(numeric.upper)) if any(kinks) else ([None] * len(order),) * 2
    return tuple(
        EntryReport(index=tuple(i), analytic=float(a), numeric=float(n), error_estimate=float(e), allowed=float(al),
                    abs_err=float(ab), rel_err=float(r), kink=bool(k),
                    lower=float(lo) if k else None, upper=float(up) if k else None)
        for i, a, n, e, al, ab, r, k, lo, up in zip(index, at(analytic), at(numeric.value), at(numeric.error),
                                                    at(verdicts.allowed), at(verdicts.abs_err), at(verdicts.rel_err),
                                                    kinks, lower, upper))


def param_check(name: str, analytic: np.ndarray, numeric: NumericGradient, tol: Tolerance) -> ParamCheck:
    """Full-mode verdict for one parameter from its analytic and numerical gradients."""
    v = compare_entries(analytic, numeric, tol)
    return _summary(name, analytic, numeric, v, _badness(v), tol)


def param_checks(analytic: Mapping[str, np.ndarray], numeric: Mapping[str, NumericGradient],
                 tols: Mapping[str, Tolerance], names: Sequence[str] | None = None) -> tuple[ParamCheck, ...]:
    """:func:`param_check` for every parameter in ``names`` (default: all of ``analytic``).

    Parameters of a small model that share a tolerance are compared in one
    pass over all their entries (the verdicts are elementwise, so they are
    the same bit for bit): on the toy networks the comparison's fixed cost
    per tensor was a sixth of the whole check.
    """
    names = list(analytic) if names is None else list(names)
    sizes = [int(analytic[k].size) for k in names]
    tol = tols[names[0]] if names else Tolerance()
    fields = [f.name for f in dataclasses.fields(NumericGradient) if f.name != "name"]
    given = {f: [getattr(numeric[k], f) is not None for k in names] for f in fields}
    if (len(names) < 2 or sum(sizes) > JOIN_ENTRIES or any(tols[k] != tol for k in names)
            or any(any(g) != all(g) for g in given.values())):  # one rule per joined field
        return tuple(param_check(k, analytic[k], numeric[k], tols[k]) for k in names)
    columns: dict[str, Any] = {f: np.concatenate([getattr(numeric[k], f).reshape(-1) for k in names])
                               if all(given[f]) else None for f in fields}
    joined = NumericGradient(name="", **columns)
    return _joined_checks(names, analytic, np.concatenate([analytic[k].reshape(-1) for k in names]), joined, tol)


def _joined_checks(names: Sequence[str], analytic: Mapping[str, np.ndarray], flat: np.ndarray,
                   joined: NumericGradient, tol: Tolerance, *, diagnose_passed: bool = False,
                   judged: Judgement | None = None) -> tuple[ParamCheck, ...]:
    """:func:`param_check` of every parameter of ``names`` from their joined entries (``flat``, ``joined``).

    The verdicts are elementwise and taken once; each parameter's summary
    is then a slice of them.  With ``diagnose_passed`` a passing parameter
    gets its diagnosis (:func:`gradcheck.explain.passing`) here, the one
    :func:`gradcheck.explain.explain` would give it.  ``judged``: the
    judgement :func:`~gradcheck.compare.compare_entries` would make, already
    made (:func:`~gradcheck.compare.judged_entries`).
    """
    v = compare_entries(flat, joined, tol) if judged is None else judged_entries(flat, joined, judged)
    bad = _badness(v)
    sizes = [int(analytic[k].size) for k in names]
    bounds = list(itertools.accumulate(sizes, initial=0))
    if (0 in sizes or max(sizes) > 64 or len(flat) > SMALL_SUMMARY_ENTRIES  # one parameter at a time
            # a NaN in either (both are >= 0 or NaN: their sum is NaN only from a NaN, never from inf - inf)
            or np.isnan(np.add.reduce(bad, axis=None) + np.add.reduce(v.rel_err, axis=None))):
        out = []
        for k, lo, hi in zip(names, bounds[:-1], bounds[1:]):
            shape = analytic[k].shape
            part = EntryVerdicts(**{f.name: getattr(v, f.name)[lo:hi].reshape(shape) for f in dataclasses.fields(v)})
            sliced: dict[str, Any] = {f.name: getattr(joined, f.name) for f in dataclasses.fields(joined) if f.name != "name"}
            sliced = {f: None if c is None else c[lo:hi].reshape(shape) for f, c in sliced.items()}
            numeric = NumericGradient(k, **sliced)
            c = _summary(k, analytic[k], numeric, part, bad[lo:hi].reshape(shape), tol)
            out.append(dataclasses.replace(c, diagnosis=passing(k, c.n_kinks)) if diagnose_passed and c.passed else c)
        return tuple(out)
    return _small_summaries(names, analytic, flat, joined, v, bad, tol, bounds, diagnose_passed)


#: Joined entries up to which :func:`_small_summaries` summarises them in Python lists.
SMALL_SUMMARY_ENTRIES = 1024


def _small_summaries(names: Sequence[str], analytic: Mapping[str, np.ndarray], flat: np.ndarray,
                     joined: NumericGradient, v: EntryVerdicts, bad: np.ndarray, tol: Tolerance, bounds: list[int],
                     diagnose_passed: bool) -> tuple[ParamCheck, ...]:
    """:func:`_summary` of parameters of 1 to 64 entries each (at most :data:`SMALL_SUMMARY_ENTRIES` in all).

    The same numbers as :func:`_summary` on each slice, from Python lists:
    at this size a numpy call costs more than its arithmetic, and every
    entry is read once.  Counts by ``list.count`` (skipped when no entry at
    all failed or is a kink); maxima by ``max`` (exact, as numpy's; no NaN
    here: the caller sends those to :func:`_summary`); the worst entries by
    a stable sort on badness, largest first, ties by index, which is
    :func:`_largest`.  The results are built by
    :func:`gradcheck.results.frozen_instance` (the same objects, a fifth of
    the cost of their ``__init__``).
    """
    passed, kink, abs_err, rel_err, badness = (a.tolist() for a in (v.passed, v.kink, v.abs_err, v.rel_err, bad))
    refined = None if joined.refined is None else joined.refined.tolist()
    # every entry's report fields but its index, in EntryReport's order (lower and upper only at a kink)
    rows = list(zip(flat.tolist(), joined.value.tolist(), joined.error.tolist(), v.allowed.tolist(), abs_err, rel_err,
                    kink, joined.lower.tolist(), joined.upper.tolist()))
    return _listed_summaries(names, analytic, bounds, _Listed(passed, kink, abs_err, rel_err, badness, refined, rows),
                             v.passed, tol, diagnose_passed)


class _Listed(NamedTuple):
    """Joined entries' verdict fields as Python lists (:func:`_listed_summaries`); ``rows``: each entry's report
    fields but its index, in :class:`EntryReport`'s order (``lower`` and ``upper`` read only at a kink)."""

    passed: list[bool]
    kink: list[bool]
    abs_err: list[float]
    rel_err: list[float]
    badness: list[float]
    refined: list[bool] | None
    rows: list[tuple[Any, ...]]


def _listed_summaries(names: Sequence[str], analytic: Mapping[str, np.ndarray], bounds: list[int], listed: _Listed,
                      passed_array: np.ndarray | None, tol: Tolerance, diagnose_passed: bool,
                      notes: tuple[str, ...] = ()) -> tuple[ParamCheck, ...]:
    """The summaries of :func:`_small_summaries` from its lists (``passed_array``: the failed indices' source,
    None when no entry failed: :func:`_settled_in_floats`), each with ``notes``."""
    passed, kink, abs_err, rel_err, badness, refined, rows = listed
    any_failed, any_kink, any_refined = False in passed, True in kink, refined is not None and True in refined
    new = object.__new__
    out = []
    for name, start, stop in zip(names, bounds[:-1], bounds[1:]):
        shape = tuple(analytic[name].shape)
        n_failed = passed[start:stop].count(False) if any_failed else 0
        n_kinks = kink[start:stop].count(True) if any_kink else 0
        order = sorted(range(start, stop), key=badness.__getitem__, reverse=True)[:MAX_WORST]  # stable
        index = _indices(shape)
        worst = []
        for i in order:  # frozen_instance(EntryReport, ...) inlined: the call was a third of each report's cost
            a, n, e, al, ab, r, k, lo, up = rows[i]
            entry = new(EntryReport)
            entry.__dict__.update(index=index[i - start], analytic=a, numeric=n, error_estimate=e, allowed=al, abs_err=ab,
                                  rel_err=r, kink=k, lower=lo if k else None, upper=up if k else None)
            worst.append(entry)
        failed_idx: tuple[tuple[int, ...], ...] = ()
        if n_failed:
            assert passed_array is not None  # None only from _settled_in_floats, where every entry passed
            failed_idx = tuple(tuple(int(i) for i in row) for row in
                               np.argwhere(~passed_array[start:stop].reshape(shape))[:MAX_INDICES])
        if n_kinks:
            smooth = [i for i in range(start, stop) if not kink[i] or not passed[i]]  # as _summary: failing kinks count
            max_abs, max_rel = max([0.0] + [abs_err[i] for i in smooth]), max([0.0] + [rel_err[i] for i in smooth])
        else:  # max(0.0, ...) as max([0.0] + ...): the first of equal values, so 0.0 for an all-zero slice
            max_abs, max_rel = max(0.0, max(abs_err[start:stop])), max(0.0, max(rel_err[start:stop]))
        n_refined = stop - start if refined is None else refined[start:stop].count(True) if any_refined else 0
        out.append(frozen_instance(
            ParamCheck, name=name, shape=shape, mode="full", passed=n_failed == 0, n_entries=stop - start,
            n_failed=n_failed, n_kinks=n_kinks, n_refined=n_refined, max_abs_err=max_abs, max_rel_err=max_rel,
            worst=tuple(worst), failed_indices=failed_idx, tolerance=tol, notes=notes, guarantee=None,
            diagnosis=passing(name, n_kinks) if diagnose_passed and n_failed == 0 else None))
    return tuple(out)


#: Joined entries up to which :func:`_settled_in_floats` judges a toy network's first stage in Python floats.
#: Measured, whole checks at N=32 against the numpy path, alternately: 0.84x at 3 entries (xor_1layer), 0.91x at
#: 13, 0.95x at 25-28, 0.97x at 37, 0.99x at 51 and 1.00x at 67 (xor_3layer with 4, 5 and 6 hidden units): the
#: floats' cost grows with the entries, the numpy calls' does not.
SETTLED_IN_FLOATS = 64


def _settled_in_floats(names: Sequence[str], analytic: Mapping[str, np.ndarray], flat: np.ndarray,
                       first: tuple[np.ndarray, np.ndarray], ev: ModelEvaluator, tol: Tolerance,
                       notes: tuple[str, ...] = ()) -> tuple[ParamCheck, ...] | None:
    """A toy network's checks when its first stage settles every entry, computed in Python floats (each with
    ``notes``); else None.

    The numbers of the general path (:func:`gradcheck.engine.estimate_tiny`'s first stage, its acceptance
    test :func:`~gradcheck.compare.judge`, :func:`~gradcheck.compare.judged_entries`, :func:`_badness`) bit for
    bit: the same IEEE operations on the same float64 values in the same order, entry by entry
    (:func:`~gradcheck.stencil.roundoff_error` of ``f0``, ``f(p +- h)`` at the evaluator's scale; the smooth
    rule ``|a - d1| <= floor + k * error``; the relative error and the badness of a passing entry).  Python's
    ``max`` is numpy's ``maximum`` only without NaN, so anything not finite, an entry the first stage does
    not settle, or a parameter :func:`_listed_summaries` does not take (empty, or above 64 entries) returns
    None: the general path decides, from the same first stage.  ``tests/core/test_check.py`` compares both
    paths on every reference toy network.
    """
    h, values = first
    sizes = [int(analytic[k].size) for k in names]
    top = max(abs(ev.f0), ev.noise_scale)  # the largest |f| and the scale enter roundoff only through one maximum
    if 0 in sizes or max(sizes) > 64 or not math.isfinite(top):
        return None
    floor_atol = tol.atol != 0  # Tolerance.floor: atol is added only when it is not 0
    n = len(flat)
    d1s, errors, allowed, abs_err, rel_err, badness = [], [], [], [], [], []
    for a, plus, minus, step in zip(flat.tolist(), values[0].tolist(), values[1].tolist(), h.tolist()):
        d1 = (plus - minus) / (2.0 * step)
        error = ROUNDOFF_GAIN * (ROUNDOFF_ULPS * max(EPS * max(abs(plus), abs(minus), top), SUBNORMAL)) / step
        allow = (tol.atol + tol.rtol * abs(d1) if floor_atol else tol.rtol * abs(d1)) + tol.k * error
        diff = abs(a - d1)
        if not (diff <= allow and math.isfinite(d1) and math.isfinite(allow)):
            return None  # unsettled, or not finite: the general path
        denom = max(abs(a), abs(d1))
        d1s.append(d1)
        errors.append(error)
        allowed.append(allow)
        abs_err.append(diff)
        rel_err.append(diff / denom if denom > 0 else 0.0)
        badness.append(1.0 - 1.0 / (1.0 + diff / max(allow, 1e-300)))
    no = [False] * n
    rows = list(zip(flat.tolist(), d1s, errors, allowed, abs_err, rel_err, no, no, no))  # lower, upper: no kink reads them
    return _listed_summaries(names, analytic, list(itertools.accumulate(sizes, initial=0)),
                             _Listed([True] * n, no, abs_err, rel_err, badness, no, rows), None, tol, diagnose_passed=True,
                             notes=notes)


@functools.lru_cache(maxsize=256)
def _indices(shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Every index of an array of ``shape`` in flat order, as tuples of Python ints (for at most 64 entries).

    >>> _indices((2, 3))[5], _indices(())
    ((1, 2), ((),))
    """
    return tuple(itertools.product(*[range(d) for d in shape]))


#: Above this many entries in all, parameters are compared one by one (joining
#: them would copy big arrays to save a fixed cost that no longer matters).
JOIN_ENTRIES = 4096


def _badness(v: EntryVerdicts) -> np.ndarray:
    """How far each entry is from its tolerance; failed entries rank above every passing one.

    ``ratio = |analytic - numeric| / allowed``: a failure ranks by ``1 + ratio``
    (at least 1), a passing entry by ``1 - 1 / (1 + ratio)`` (below 1, same
    order).  A kink entry accepted by its one-sided bracket can be far from
    the central value (ratio in the millions) and must still not push a real
    failure out of ``worst``.
    """
    ratio = v.abs_err / np.maximum(v.allowed, 1e-300)
    if v.passed.all():  # np.where's first branch alone (the usual case)
        return 1.0 - 1.0 / (1.0 + ratio)
    return np.where(v.passed, 1.0 - 1.0 / (1.0 + ratio), 1.0 + ratio)  # 1 - 1/(1+r): no inf/inf


def _summary(name: str, analytic: np.ndarray, numeric: NumericGradient, v: EntryVerdicts, badness: np.ndarray,
             tol: Tolerance) -> ParamCheck:
    failed = ~v.passed
    n_failed = int(np.count_nonzero(failed))
    n_kinks = int(np.count_nonzero(v.kink))
    # kinks are left out (their central difference is not the derivative), but not a failing one: a tensor
    # that fails only at kinks must not report a largest difference of 0
    counted = ~v.kink | failed
    smooth_abs, smooth_rel = (v.abs_err[counted], v.rel_err[counted]) if n_kinks else (v.abs_err, v.rel_err)
    order = _largest(badness.reshape(-1), MAX_WORST)
    worst = _entries(order, analytic, numeric, v) if analytic.size else ()
    failed_idx = tuple(tuple(int(j) for j in i) for i in np.argwhere(failed)[:MAX_INDICES]) if n_failed else ()
    return ParamCheck(
        name=name, shape=tuple(analytic.shape), mode="full", passed=n_failed == 0, n_entries=int(analytic.size),
        n_failed=n_failed, n_kinks=n_kinks,
        n_refined=int(analytic.size if numeric.refined is None else np.count_nonzero(numeric.refined)),
        max_abs_err=float(np.max(smooth_abs, initial=0.0)),
        max_rel_err=float(np.max(smooth_rel, initial=0.0)),
        worst=worst, failed_indices=failed_idx, tolerance=tol,
    )


def _largest(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` largest values, largest first, ties by index.

    The same as ``np.argsort(-values, kind="stable")[:k]`` without sorting
    every entry (W1 of mnist_relu has 78,400).

    Examples
    --------
    >>> _largest(np.array([1.0, 3.0, 3.0, 2.0, 0.0]), 2).tolist()
    [1, 2]
    """
    k = min(k, values.size)
    if k == 0:
        return np.zeros(0, dtype=np.intp)
    if values.size <= 64:  # one sort is cheaper than partitioning first
        return np.argsort(-values, kind="stable")[:k]
    threshold = np.partition(values, values.size - k)[values.size - k]
    candidates = np.flatnonzero(values >= threshold)
    return candidates[np.argsort(-values[candidates], kind="stable")][:k]


#: The default tolerance, built once (frozen; its validation was a tenth of a 3-parameter check's fixed cost).
_DEFAULT_TOLERANCE = Tolerance()


def _tolerance(tolerance: Tolerance | None) -> Tolerance:
    if tolerance is None:
        return _DEFAULT_TOLERANCE
    if not isinstance(tolerance, Tolerance):
        raise GradcheckTypeError(f"tolerance must be a gradcheck.Tolerance, got tolerance={describe(tolerance)}")
    return tolerance


def _check_options(mode: str, seed: Any, probes: Any) -> None:
    check_choice(mode, "mode", MODES)
    check_int(probes, "probes", min_value=1)
    check_int(seed, "seed", min_value=0)


@explains_unsummed
def check_gradients(
    f: Callable[[dict[str, np.ndarray]], float],
    grads: Mapping[str, Any],
    params: Mapping[str, Any],
    *,
    mode: str = "full",
    tolerance: Tolerance | None = None,
    seed: int = 0,
    probes: int = 4,
    workers: int | None = None,
    strict: bool = False,
    subject: str | None = None,
    noise_scale: float = 0.0,
) -> CheckResult:
    """Compare analytic ``grads`` of ``f`` at ``params`` with central differences.

    Every entry first gets ``f(p +- h)``, the two calls of the plain
    central-difference loop; only entries whose analytic value that
    difference does not settle within its round-off error get
    ``f(p +- 2h)`` too (:mod:`gradcheck.stencil`: extrapolated value,
    truncation estimate, kink analysis).  A correct gradient therefore
    costs about what the plain loop costs (``benchmarks/test_bench_function.py``).
    The verdict is ``|analytic - numeric| <= atol + rtol * |numeric| + k * error_estimate``
    (:mod:`gradcheck.compare`); kinks are judged by the one-sided bracket.

    Before that, ``f`` is evaluated at the point three times and at a
    seeded moved point and its mirror image (every parameter moved) twice
    each: a function whose repeated values differ (dropout without a fixed
    seed) fails the check with that finding, whatever its numbers.  A
    seeded random ray that moves every parameter, starting at the point
    (one of the three values there), measures the
    noise of ``f`` itself (:mod:`gradcheck.noise`), so a function that
    cancels to nearly 0 (``sum(out * dout)`` of a batchnorm) gets error bars
    from its real rounding, not from its tiny value.  A function that
    returns float32 is checked with float32 steps and error bars from its
    rounding measured along rays of float32 steps (:func:`_float32_rounding`;
    say ``strict=True`` to refuse it).  So is one that returns float64 values
    but rounds at float32's level, measured along a ray of tiny steps (it casts
    its float64 arguments to float32 inside: :func:`_given_below_float64`),
    with a warning that says so (refused under ``strict=True``); a float64
    loss costs no calls for this.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``; called on copies, never the caller's arrays.
    grads : mapping of str to array
        The analytic gradient: the keys and shapes of ``params``.
    params : mapping of str to array
        The point.
    mode : {"full", "fast"}
        ``"fast"``: ``probes`` random directions per tensor of more than
        :data:`gradcheck.directional.SMALL` entries, as for models; when no
        tensor has more, every entry is checked as in full mode (cheaper
        here), and each tensor's note says so
        (:func:`gradcheck.directional.every_entry_in_fast`).
    tolerance : Tolerance, optional
    seed : int
        Seeds the noise rays and fast mode's probes; reported in the result.
    probes : int
        Probes per tensor in fast mode.
    workers : int, optional
        Processes for the numerical side (:mod:`gradcheck.parallel`);
        default ``$GRADCHECK_WORKERS``, else 1: the plain loop's one process.
    strict : bool
        Raise ``TypeError`` instead of warning when arrays or ``f``'s value are below float64.
    subject : str, optional
        Name of what is checked, for the report and its findings (default:
        ``f.__name__``, through ``functools.partial`` too; ``"f"`` for a lambda).
    noise_scale : float
        Override: the size of the numbers ``f`` is computed from (see
        :func:`gradcheck.stencil.roundoff`), instead of the measured noise.

    Examples
    --------
    >>> p = {"w": np.array([1.0, -2.0, 3.0])}
    >>> f = lambda q: float(np.sum(q["w"] ** 3))
    >>> check_gradients(f, {"w": 3 * p["w"] ** 2}, p).passed
    True
    >>> r = check_gradients(f, {"w": np.array([3.0, 12.0, -27.0])}, p)
    >>> r.passed, r["w"].failed_indices
    (False, ((2,),))
    """
    _check_options(mode, seed, probes)
    workers = check_workers(workers)
    tol = _tolerance(tolerance)
    user_scale = check_noise_scale(noise_scale)
    work = check_params(params, name="params")
    analytic = check_grads_match(grads, work, name="grads")
    # f gets float64 copies: params below float64 are data, evaluated at their values (_given_below_float64)
    data = low_precision_arrays({f"params[{k!r}]": v for k, v in params.items()})
    low = low_precision_arrays({f"grads[{k!r}]": v for k, v in grads.items()})
    guards.require_finite(analytic, "grads")
    subject = subject or _function_name(f)
    used = {k: v.copy() for k, v in work.items()}
    first = to_scalar(f(used), subject)  # on a copy of its own: does f write into its argument?
    problems = guards.mutations({f"params[{k!r}]": v for k, v in work.items()},
                                {f"params[{k!r}]": v for k, v in used.items()}, subject)
    # an f that wrote into its copy gets fresh copies on every call: its writes must not move the point
    # the numbers are taken at (the plain loop's arrays otherwise, without a copy per call)
    call = (lambda arrays: f({k: v.copy() for k, v in arrays.items()})) if problems else (lambda arrays: f(dict(arrays)))
    point = FunctionPoint(call, {k: v.copy() for k, v in work.items()}, who=subject)
    return check_point(point, analytic, first=first, tol=tol, mode=mode, seed=seed, probes=probes,
                       workers=workers, strict=strict, subject=subject, noise_scale=user_scale, problems=problems,
                       moved="params[{name!r}] moved", question=f"does {subject} read its argument?",
                       low_precision=low, data_precision=data)


def _function_name(f: Any) -> str:
    """What a report calls ``f``: its ``__name__`` (through ``functools.partial``), ``"f"`` for a lambda.

    >>> def f_clip(q): ...
    >>> _function_name(f_clip), _function_name(lambda q: 0.0)
    ('f_clip', 'f')
    """
    name = getattr(f, "__name__", None) or getattr(getattr(f, "func", None), "__name__", None)
    return name if isinstance(name, str) and name.isidentifier() else "f"


def check_point(
    point: FunctionPoint,
    analytic: dict[str, np.ndarray],
    *,
    first: float | None,
    tol: Tolerance,
    mode: str,
    seed: int,
    probes: int,
    workers: int | None,
    strict: bool,
    subject: str,
    noise_scale: float = 0.0,
    noise_floor: float = 0.0,
    problems: Sequence[str] = (),
    n_samples: int | None = None,
    moved: str = "{name} moved",
    question: str = "does the function read these arrays?",
    low_precision: Mapping[str, str] | None = None,
    data_precision: Mapping[str, str] | None = None,
    force_float32: bool = False,
    recheck: Callable[[dict[str, np.ndarray], list[str]], CheckResult] | None = None,
    mistakes: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    rediagnose: Callable[[tuple[ParamCheck, ...], Mapping[str, np.ndarray], Mapping[str, NumericGradient]],
                         tuple[ParamCheck, ...]] | None = None,
) -> CheckResult:
    """The check of an opaque function (shared by check_gradients, check_layer and check_net).

    ``first``: a value of ``f`` at the point from an earlier call (compared
    for determinism).  ``noise_floor``: a known size of the terms ``f`` is
    computed from (``check_layer`` knows them), used with the measured noise.
    ``moved``, ``question``: how the report names a moved parameter, and
    what it asks when the loss does not see it.  ``low_precision``: the
    arrays below float64 and their dtypes (see :func:`float32_tolerances`); ``data_precision``: those of
    the data below float64 that the check evaluates at its values (``x``; they widen the error bars only
    with other evidence, or when the loss rounds at float32's level: :func:`_given_below_float64`);
    ``force_float32``: the function computes in float32 though it may return a Python float.
    ``recheck(moved, names)``: the caller's whole check of ``names`` at the
    point's arrays replaced by ``moved`` (its backward called there); with
    it, a tensor failing only at kinks is decided off them (:func:`_kinks_off_ties`).  Before that, a passing
    tensor whose tied entries each passed by their kink's bracket alone has them moved together
    (:func:`gradcheck.jointties.joint_tie_checks`: a max-pool backward routing ``dout`` to every tied maximum fails).
    ``mistakes``: known wrong gradients a full-mode diagnosis names (:func:`gradcheck.explain.explain`).
    ``rediagnose(checks, analytic, numeric)``: the caller's own reading of a full-mode check's diagnoses, from
    what only it can see (check_net: each sample's loss, :func:`gradcheck.logeps.explain_log_epsilon`).
    """
    # Long: the stages (determinism, precision and bars, gradients, verdicts, ties) in the order they
    # depend on each other; they share a dozen locals, which each part would otherwise take as arguments.
    problems = list(problems)
    warns: list[str] = []
    point.f0 = point.value()
    if not np.isfinite(point.f0):
        raise GradcheckValueError(f"{subject} must be finite at the point to check, got {point.f0!r}")
    rng = np.random.default_rng(seed)
    sigma, repeats, ray = _noise_and_repeats(point, rng, counted=max(abs(point.f0), noise_floor))  # a value at the point
    repeats.append(point.value() if first is None else first)
    if any(r != point.f0 for r in repeats) or not _same_along(point, rng):
        problems.append(f"{subject} is not deterministic: it returned different values for the same input "
                        f"({point.f0!r}, then {next((float(r) for r in repeats if r != point.f0), 'another value')!r} "
                        "at the point or at a moved point; dropout or noise without a fixed seed?)")
    precision, low = _precision(point, strict, subject)
    counted = max(abs(point.f0), noise_floor, noise_scale)
    data, measured, notes = _given_below_float64(point, data_precision or {}, bool(low or force_float32 or low_precision),
                                                 strict=strict, seed=seed, counted=counted, subject=subject,
                                                 told=_reads_float64(ray, counted))
    warns += notes
    if force_float32 or measured:
        precision = np.float32
    rounding = _float32_rounding(point, seed) if precision is np.float32 and not noise_scale else None
    tols, said = float32_tolerances(tol, analytic, {**data, **(low_precision or {})}, strict=strict, subject=subject,
                                    rounding=rounding)
    warns += said or [m + _rounding_words(rounding, tol.k) for m in low]  # said once
    scale = noise_scale or max(sigma / EPS64, noise_floor,
                               rounding.per_value / (ROUNDOFF_ULPS * EPS64) if rounding else 0.0)
    point.noise_scale = scale
    names = [k for k in analytic]
    timings = {}
    t0 = time.perf_counter()
    every_entry = mode == "full" or every_entry_in_fast([a.size for a in analytic.values()], probes)
    if every_entry:  # fast mode too when it would check every entry anyway: the full check's shared passes are cheaper
        numeric = function_gradients(point, names, noise_scale=scale, accept=_accepts(analytic, tols),
                                     workers=_function_workers(workers), precision=precision)
        guards.require_finite({k: g.value for k, g in numeric.items()}, "numerical gradient")
        checks = explain(param_checks(analytic, numeric, tols, names), analytic, numeric,
                         batch_size=n_samples, mistakes=mistakes)
        if rediagnose is not None:
            checks = rediagnose(checks, analytic, numeric)
        checks = checks if mode == "full" else _noted(checks, (entrywise_note(probes, whole=True),))
    else:
        checks, numeric = _fast_point(point, analytic, tols, rng=rng, probes=probes, precision=precision)
        checks = explain(checks, analytic, numeric, batch_size=n_samples)
    checks, found, said = _bars_said(checks, numeric, analytic, point.params, EPS64 * max(abs(point.f0), scale))
    problems += found
    warns += said
    checks, unread = _unread(checks, analytic, numeric, point, seed)
    problems += _unmoved(unread, analytic, moved, question)
    # tied entries moved together, where each alone passed by its bracket (rt18 F1): before the off-tie recheck,
    # which sees a failing tensor's failing entries, and no entry of a tensor a joint move failed is one
    checks = joint_tie_checks(checks, numeric, analytic, tols, point, functools.partial(
        _tie_move, point.params, np.random.default_rng([int(seed), 0x701E])))
    if recheck is not None:
        checks = _kinks_off_ties(checks, numeric, analytic, tols, point, recheck, seed, precision)
    elif every_entry and not all(c.passed for c in checks) and _shows_kinks(checks, numeric):
        checks = tuple(_function_tie_caveat(c) if not c.passed and _failures_move_ties(
            point, c.name, analytic[c.name], numeric[c.name], tols[c.name], seed) else c for c in checks)
        warns += _undecided_warning(checks)
    timings["numeric"] = time.perf_counter() - t0
    return CheckResult(subject=subject, mode=mode, seed=int(seed), n_samples=n_samples, params=checks,
                       tolerance=tol, problems=tuple(dict.fromkeys(problems)), warnings=tuple(warns),
                       timings=timings)


def _fast_point(point: FunctionPoint, analytic: Mapping[str, np.ndarray], tols: Mapping[str, Tolerance], *,
                rng: np.random.Generator, probes: int,
                precision: Any) -> tuple[tuple[ParamCheck, ...], dict[str, NumericGradient]]:
    """Fast mode of :func:`check_point`: small tensors (:func:`gradcheck.directional.entrywise_in_fast`) entry by
    entry, the others by probes
    (:func:`gradcheck.directional.fast_check`, entry by entry where the probes fall short).

    Returns the checks and the numerical gradients taken (those of the tensors checked entry by entry).
    """
    small = [k for k in analytic if entrywise_in_fast(analytic[k].size, probes)]
    # full mode's two stages (_accepts): an entry its central difference settles costs the plain loop's two calls
    accept = _accepts(analytic, tols)
    numeric = function_gradients(point, small, noise_scale=point.noise_scale, accept=accept, precision=precision)

    def entrywise(k: str) -> ParamCheck:
        if k not in numeric:
            numeric.update(function_gradients(point, [k], noise_scale=point.noise_scale, accept=accept,
                                              precision=precision))
        return param_check(k, analytic[k], numeric[k], tols[k])

    # FunctionPoint has what fast mode reads of an evaluator: params, f0, noise_scale, losses_along
    checks = tuple(_noted([entrywise(k)], (entrywise_note(probes, whole=False),))[0] if k in small
                   else fast_check(point, k, analytic[k], tols[k], rng=rng, probes=probes,
                                   entrywise=functools.partial(entrywise, k))
                   for k in analytic)
    return checks, numeric


def _kinks_off_ties(checks: tuple[ParamCheck, ...], numeric: Mapping[str, NumericGradient],
                    analytic: Mapping[str, np.ndarray], tols: Mapping[str, Tolerance], point: FunctionPoint,
                    recheck: Callable[[dict[str, np.ndarray], list[str]], CheckResult],
                    seed: int, precision: Any = np.float64) -> tuple[ParamCheck, ...]:
    """:func:`_off_ties` for an opaque function: a failing tensor whose every failing entry moves a tie is checked
    again at the two points moved off the ties (:func:`_tie_move`), by ``recheck``.

    Asked only when something failed at a point where some stencil flags a
    kink (:func:`_shows_kinks`): a passing check, or one off kinks, pays
    nothing.  A fast-mode tensor that failed there is first checked entry by
    entry (a failure on ties is judged per entry).  The structure is unknown,
    so "this entry moves a tie" is read from the function: the entry's
    stencil flags a kink, or its partial derivative jumps across the point
    along the move (:func:`_jumps`: ties crossed in opposite directions can
    cancel in the stencil).  The verdict is :func:`_tie_verdict`'s: it
    passes only when it passes at both moved points; every other failure
    stands.  A moved point where the function or its gradient is not finite
    teaches nothing: the verdicts stand.
    """
    if all(c.passed for c in checks) or not _shows_kinks(checks, numeric):
        return checks
    numeric = dict(numeric)
    checks = tuple(_entrywise(point, c, analytic[c.name], tols[c.name], numeric, precision) for c in checks)
    step = _tie_move(point.params, np.random.default_rng([int(seed), 0x71E5]))
    tied = [c.name for c in checks if not c.passed and _failures_move_ties(point, c.name, analytic[c.name],
                                                                          numeric[c.name], tols[c.name], seed)]
    if not tied:
        return checks
    off: dict[str, ParamCheck] = {}
    for sign in (1.0, -1.0):
        try:
            there = recheck({k: v + sign * step[k] for k, v in point.params.items()}, tied)
        except GradcheckValueError:  # not finite there
            return checks
        for c in there.params:
            if c.name not in off or (off[c.name].passed and not c.passed):  # the first failure, else the first check
                off[c.name] = c
    return tuple(_tie_verdict(c, off[c.name], True, crossing=TIE_CROSSING) if c.name in off else c for c in checks)


#: A passing tensor whose widest acceptance half-width ``k * error`` (kinks aside) is at least this fraction of its
#: largest entry gets a note saying so, with the fraction (:func:`_bars_note`): every entry off by less would have
#: passed too, and a verdict "OK" must not silently mean "could not have seen a 5% error" (rt25 F2: at parameters of
#: size 1e6 an affine layer's bias gradient carried bars of 6 .. 14% of its entries, and ``db * 1.05`` passed with
#: no word).  A twentieth of that 5%, so a check that says nothing could have seen a 5% error in its largest entries
#: by a margin of 5.  Measured (``/tmp/bars/fractions.py``, 8 seeds each): correct check_layer checks of cs231n's
#: affine, tanh, sigmoid, softmax loss and batchnorm with inputs of size 1e-3 and 1 have bars of 1e-8 .. 2.3e-7 of
#: their largest entry, none noted; at size 100 a saturated tanh (entries near 0 but a few) is noted at 1 of 8.
#: The affine layer's bias (rt25 F2's case) reaches 1% at parameters of size 1e4 (1 of 15 seeds), 1 .. 13% at 1e5.
COARSE_BARS = 0.01


def _largest_entry(numeric: NumericGradient, analytic: np.ndarray) -> float:
    """The gradient's largest entry, numerical or analytic: the scale its bars are measured against.

    Not the numerical side alone: where the loss does not move over the step (rt25 F10: a constant ``1e12`` added
    to it), every numerical entry is exactly 0 and no bar is "large" against 0.  A passing analytic entry lies
    within its bar of the numerical one, so for a passing tensor this adds at most that bar.
    """
    return max(float(np.max(np.abs(numeric.value), initial=0.0)), float(np.max(np.abs(analytic), initial=0.0)))


def _bars_note(c: ParamCheck, numeric: NumericGradient, analytic: np.ndarray) -> ParamCheck:
    """``c``, passing, with a note when its error bars are a large part of its gradient (the largest entry of
    :func:`_largest_entry`): at least half of it in some entries (:func:`gradcheck.numeric.too_wide`, after
    :func:`gradcheck.numeric.widen_unresolved`), where a wrong value of the gradient's size passes too; else at
    least :data:`COARSE_BARS` of it, with the fraction."""
    if not c.passed:
        return c
    largest = _largest_entry(numeric, analytic)
    wide = too_wide(numeric, largest)
    smooth = ~np.asarray(numeric.kink, bool)
    widest = float(np.max(np.asarray(numeric.error)[smooth], initial=0.0)) * c.tolerance.k
    if wide.any():
        note = (f"{int(np.count_nonzero(wide))} of its {wide.size} entries could not be resolved: their allowed "
                f"difference (up to {widest:.3g}) is at least half the gradient's largest entry ({largest:.3g}, "
                "numerical or analytic); the loss's rounding over the step is as large as this gradient (an entry "
                "whose bar is that wide against the numerical gradient is measured again at a 256 times larger "
                "step first), and a wrong value of its size passes there too")
    elif largest > 0 and widest >= COARSE_BARS * largest:
        note = (f"its error bars are wide: an entry may differ by up to {widest:.3g}, {100 * widest / largest:.2g}% "
                f"of the gradient's largest entry ({largest:.3g}), and pass, so an error of that size passes unseen "
                "there. The loss's rounding over the step is that large (parameters or terms of the loss far from "
                "unit size)")
    else:
        return c
    return dataclasses.replace(c, notes=c.notes + (note,))


def _bars_said(checks: tuple[ParamCheck, ...], numeric: Mapping[str, NumericGradient],
               analytic: Mapping[str, np.ndarray], params: Mapping[str, np.ndarray],
               ulp: float) -> tuple[tuple[ParamCheck, ...], list[str], list[str]]:
    """What the error bars of the tensors checked entry by entry say: each passing tensor's note
    (:func:`_bars_note`), a problem for those along which the loss did not move (:func:`_unmoved_problem`), and a
    warning for the others with entries that could not be resolved (:func:`_unresolved_warning`).

    Neither problem nor warning for a tensor whose analytic gradient cannot move the loss by ``ulp`` (``eps`` times
    the larger of ``|f|`` and the size the check counts its noise at: one rounding of the loss) even along a move of
    the tensor's own size (:func:`gradcheck.numeric.gradient_reach`): that is a zero gradient to the loss, and a
    right one is often rounding residue (a bias every logit shares has a softmax loss's gradient ``sum(p) - 1``,
    1e-17 .. 1e-16, and a loss that moves not at all along it: a right gradient was said "could not be checked").

    Returns the checks with their notes, the problems and the warnings.
    """
    entrywise = {c.name for c in checks if c.mode == "full" and c.name in numeric}
    checks = tuple(_bars_note(c, numeric[c.name], analytic[c.name]) if c.name in entrywise else c for c in checks)
    shown = tuple(c for c in checks if c.name in entrywise and gradient_reach(analytic[c.name], params[c.name]) > ulp)
    unresolved = _unresolved_entries(shown, numeric, analytic)
    unmoved = [k for k, wide in unresolved.items() if wide.all() and not np.any(numeric[k].value)]
    return checks, _unmoved_problem(unmoved), _unresolved_warning({k: m for k, m in unresolved.items() if k not in unmoved})


def _unresolved_entries(checks: tuple[ParamCheck, ...], numeric: Mapping[str, NumericGradient],
                        analytic: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per passing tensor with some, its entries that could not be resolved: no kink, and a bar at least half the
    gradient's largest entry (:func:`_largest_entry`, :func:`gradcheck.numeric.too_wide`).

    A wrong value of the gradient's size (twice it, its negative) passes there as well as the right one.
    """
    wide = {c.name: too_wide(numeric[c.name], _largest_entry(numeric[c.name], analytic[c.name]))
            for c in checks if c.passed and c.name in numeric}
    return {k: m for k, m in wide.items() if m.any()}


def _unmoved_problem(names: list[str]) -> list[str]:
    """One finding naming the unresolved tensors (:func:`_unresolved_tensors`) along which the loss did not move at
    all: every numerical entry exactly 0 while the analytic gradient is not (no bar is below half of it).

    The check has seen nothing of them (rt25 F10: a constant ``1e16`` in the loss, every numerical entry exactly 0,
    and a gradient twice too large PASSED with no word).  A verdict never says more than it knows, so the result
    does not pass; the finding says that it is no verdict on the gradient, and what to do.
    """
    if not names:
        return []
    return [(f"{', '.join(names)} could not be checked at this point: the loss did not change at all when "
             f"{'their entries' if len(names) > 1 else 'its entries'} moved by the check's steps (every numerical "
             "entry is exactly 0, while the analytic gradient is not, and each entry's allowed difference is at "
             "least half the gradient's largest entry: see the note), so a wrong gradient passes as well as the "
             "right one. This is no verdict on the gradient: check at a point where the loss changes by more than "
             "its rounding (a large constant or another, much larger term of the loss rounds the change away: check "
             "the term on its own; gradients far below the loss's size: rescale the loss or the parameters)")]


def _unresolved_warning(wide: Mapping[str, np.ndarray]) -> list[str]:
    """One warning naming the passing tensors with entries that could not be resolved (:func:`_unresolved_entries`),
    and how many: the header of a result says PASSED, and a CI log shows little more (rt25 F10: at a constant
    ``1e11`` in the loss 19 of 20 entries were unresolved and a gradient twice too large passed); each tensor's
    note says how wide its bars are."""
    if not wide:
        return []
    named = ", ".join(f"{k} ({int(np.count_nonzero(m))} of its {m.size} entries)" for k, m in wide.items())
    return [(f"{named} could not be resolved: each such entry's allowed difference is at least half the gradient's "
             "largest entry (see the note), so a wrong value of the gradient's size passes there as well as the right "
             "one; the loss's rounding over the step is as large as the gradient. Check at a point where the gradient "
             "is larger against the loss (parameters and terms of the loss nearer unit size, no large constant)")]


def _function_tie_caveat(c: ParamCheck) -> ParamCheck:
    """``c`` (failing, a function with no backward to call elsewhere, every failing entry moving a tie) with a note that
    its failure may be the tie convention's (the note of :func:`_tie_caveat`, for ``check_gradients``)."""
    return _undecided(c, (
        "every entry that failed moves a tie (its stencil flagged a kink, or its partial derivative jumps across the "
        "point): where a move crosses several ties at once, a correct gradient with any fixed tie convention "
        "(relu'(0)) can fail here, and the diagnosis may be wrong. check_gradients has no backward to call off the "
        "ties: check at a point off exact ties, or use check_layer, check_net or check_model with your backward"))


def _undecided(c: ParamCheck, note: str) -> ParamCheck:
    """``c``, failing where the point cannot decide it (every failing entry moves a tie), with ``note`` saying why
    and its diagnosis led by ``ties.undecided`` (the verdict stands: a failure is not turned into a pass)."""
    d = c.diagnosis
    said = dataclasses.replace(d, message=describe_diagnosis(d.code, d.param, {**d.detail, "caveat": "ties.undecided"}),
                               detail={**d.detail, "caveat": "ties.undecided"}) if d is not None else None
    return dataclasses.replace(c, notes=c.notes + (note,), diagnosis=said)


def _undecided_warning(checks: tuple[ParamCheck, ...]) -> list[str]:
    """One warning naming the failing tensors the point cannot decide (:func:`_undecided`), if any."""
    names = [c.name for c in checks if c.diagnosis is not None and c.diagnosis.detail.get("caveat") == "ties.undecided"]
    if not names:
        return []
    return [f"{', '.join(names)} failed at exact ties, which cannot decide {'them' if len(names) > 1 else 'it'}: "
            "every entry that failed moves a tie (a pre-activation exactly on a kink), where a correct gradient with "
            "any fixed relu'(0) can fail too (see each tensor's note). Check at a point off exact ties, or with your "
            "backward (check_layer, check_net, check_model(backward=)), which is then checked off the ties"]


#: How :func:`_tie_verdict`'s note says why an opaque function's failing entries are explained.
TIE_CROSSING = ("each failing entry at a kink its stencil detected, or with a partial derivative that jumps across "
                "the point (it moves a tie)")


def _shows_kinks(checks: tuple[ParamCheck, ...], numeric: Mapping[str, NumericGradient]) -> bool:
    """Does some stencil of the check flag a kink (the sign of a point on ties, for a function whose structure is
    unknown)?"""
    return any(c.n_kinks for c in checks) or any(g.n_kinks for g in numeric.values())


def _entrywise(point: FunctionPoint, c: ParamCheck, analytic: np.ndarray, tol: Tolerance,
               numeric: dict[str, NumericGradient], precision: Any) -> ParamCheck:
    """``c``, or, for a tensor that failed in fast mode, its check entry by entry, with its diagnosis (its
    estimate added to ``numeric``)."""
    if c.passed or c.name in numeric:
        return c
    numeric.update(function_gradients(point, [c.name], noise_scale=point.noise_scale, precision=precision))
    return explain((param_check(c.name, analytic, numeric[c.name], tol),), {c.name: analytic},
                   {c.name: numeric[c.name]})[0]


def _failures_move_ties(point: FunctionPoint, name: str, analytic: np.ndarray, numeric: NumericGradient,
                        tol: Tolerance, seed: int) -> bool:
    """Does every failing entry of ``name`` move a tie: a kink its stencil flags whose bracket stayed open
    (:func:`_kink_resolved`), or a jump (:func:`_jumps`)?"""
    v = compare_entries(analytic, numeric, tol)
    failing = ~v.passed.reshape(-1)
    if (failing & _kink_resolved(numeric)).any():
        return False
    rest = np.flatnonzero(failing & ~v.kink.reshape(-1))
    rng = np.random.default_rng([int(seed), 0x7A3B])
    moves = [_tie_move(point.params, rng) for _ in range(JUMP_MOVES if rest.size else 0)]
    return bool(failing.any() and all(any(_jumps(point, name, int(i), m) for m in moves) for i in rest))


def _kink_resolved(numeric: NumericGradient) -> np.ndarray:
    """Flat mask: kinks whose refined bracket closed to within one round-off term: a kink near the point, not at it.

    A stencil flags a slope jump ``J`` when ``J / 2`` is above 64 round-off units over its step
    (:data:`gradcheck.stencil.KINK_FACTOR`), 85 round-off terms (``1.5`` units each); a tie at the point keeps
    its bracket ``J`` wide at every smaller step, and the refinement stops one round (16x the round-off)
    after it stays: more than 5 terms of the final step.  A bracket within one term is the function's
    smoothness around the point (rt18 F15: ReLU inputs 1e-8 from 0, refined to ``h / 4096``): the kink lies
    outside the final stencil, the entry is on no tie, and its failure is no tie's.
    """
    width = (np.asarray(numeric.upper) - np.asarray(numeric.lower)).reshape(-1)
    noise = np.asarray(numeric.error if numeric.roundoff is None else numeric.roundoff).reshape(-1)
    return np.asarray(numeric.kink, bool).reshape(-1) & (width <= noise)


#: Fractions of a move at which :func:`_jumps` takes an entry's central difference, either side of the point.
JUMP_AT = (1.0, 0.5, 0.25)

#: How many times its round-off bound a jump must be (:func:`_jumps`), as an entry's error bar counts ``k = 4``
#: times (:class:`~gradcheck.compare.Tolerance`).  The bound (six central differences' 16-ulp round-off terms) is
#: not reached by rounding alone; a smooth entry beyond it has ``r(1) = 8 r(1/2)``, which the second test
#: refuses.  A 48-24-16-6 integer net's layer-2 ties gave jumps of 2e-6, the same along 14 of 16 moves, against a
#: bound of 1e-6 at the check's own step and 1.5 round-off terms per difference (a loss of 190, saturated
#: softmax outputs); at :data:`JUMP_STEP` and one term the bound is 9e-8.
JUMP_FACTOR = 4.0

#: Seeded moves (:func:`_tie_move`) along which :func:`_failures_move_ties` looks for an entry's jump, until one
#: shows it.  Along a move the jump is ``J' - J``, the slopes of the entry's ties that it puts on at ``+s`` minus
#: those at ``-s``: a random sign per tie, zero for some splits (integer weights make equal slopes common: a
#: 64-32-32-10 net's correct W1[48, 9] showed no jump along the tie move).  Two ties of equal slope cancel in
#: half the moves; 16 moves miss them with probability 2**-16.  An entry that shows none has its failure stand.
JUMP_MOVES = 16


def _jumps(point: FunctionPoint, name: str, i: int, step: Mapping[str, np.ndarray]) -> bool:
    """Does the partial derivative of entry ``i`` of ``name`` jump across the point, along the move ``step``?

    ``D(s)``: the entry's central difference at ``p + s * step``, for ``s =
    +-1, +-1/2, +-1/4`` (:data:`JUMP_AT`).  Smooth, ``D(s) = D0 + a s + b s**2
    + c s**3 + ...``, and ``r(t) = D(t) - D(-t) - 2 (D(t/2) - D(-t/2))`` is
    ``3 c t**3 / 2``: ``r(1) = 8 r(1/2)``.  An entry that moves ties (pre-
    activations exactly at a kink) adds to ``D`` the slopes of the units the
    move puts on one side: ``J`` for every ``s > 0``, ``J'`` for ``s < 0``,
    so ``r(1) = r(1/2) = J' - J``.  A jump: ``|r(1/2)|`` above
    :data:`JUMP_FACTOR` times the round-off bound of its six differences
    (``6 * roundoff / h``), and ``r(1)`` within half of it.  A smooth entry
    beyond that bound has ``|r(1) - r(1/2)| = 7 |r(1/2)|`` up to rounding,
    so factor 3 with the half already refuses it.
    """
    d = {sign * s: _partial(point, name, i, step, sign * s) for s in JUMP_AT for sign in (1.0, -1.0)}
    err = 6.0 * max(e for _, e in d.values())
    outer, half, quarter = (d[s][0] - d[-s][0] for s in JUMP_AT)
    r1, r2 = outer - 2.0 * half, half - 2.0 * quarter
    return bool(abs(r2) > JUMP_FACTOR * err and abs(r1 - r2) < 0.5 * abs(r2))


#: The step of :func:`_partial`, in units of the check's own (:func:`~gradcheck.numeric.default_step`): 8 times
#: smaller round-off.  Only an entry that moves a tie can cross one with it, and at a quarter of a tie move a
#: tie sits about 2.5e-3 max(|p|, 1) from its kink (a 48-input layer), 25 times this step's reach.
JUMP_STEP = 8.0


def _partial(point: FunctionPoint, name: str, i: int, step: Mapping[str, np.ndarray], s: float) -> tuple[float, float]:
    """The central difference of entry ``i`` of ``name`` at ``p + s * step`` (step :data:`JUMP_STEP`), and its
    round-off error."""
    moves = {k: s * d for k, d in step.items()}
    at = np.array([point.params[name].reshape(-1)[i] + moves[name].reshape(-1)[i]])
    h = float(representable_step(at, JUMP_STEP * default_step(at))[0])
    f = []
    for sign in (1.0, -1.0):
        moved = moves[name].copy()
        moved.reshape(-1)[i] += sign * h
        f.append(point.moved_value({**moves, name: moved}))
    return (f[0] - f[1]) / (2.0 * h), float(roundoff(*f, scale=point.noise_scale)[()]) / h


def _tie_move(params: Mapping[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A seeded move of every entry by up to ``+-TIE_NUDGE * max(|p|, 1)`` (:data:`TIE_NUDGE`), uniform."""
    return {k: TIE_NUDGE * np.maximum(np.abs(v), 1.0) * rng.uniform(-1.0, 1.0, v.shape) for k, v in params.items()}


def _noise_and_repeats(point: FunctionPoint, rng: np.random.Generator,
                       counted: float) -> tuple[float, list[float], np.ndarray | None]:
    """Measured noise of ``f`` along one seeded random ray that moves every parameter at once, the values of
    ``f`` at the point itself that the ray took (its first point, ``t = 0``, evaluated as the point), and the
    ray's first values (at :data:`gradcheck.noise.STEPS`' first spacing; None: nothing moves), which
    :func:`_reads_float64` reads for a float64 loss.

    Noise above ``eps * counted`` (the size of the numbers the check counts anyway) is confirmed on a
    shorter ray (:data:`gradcheck.noise.CONFIRM`): kinks inside the ray are not noise.

    Every tensor's share of the direction is drawn as before, ``N(0, 1) max(|p|, 1)``;
    moving them together, the ray's values carry the rounding of every part of
    ``f`` (a ray along one tensor leaves the terms of the others constant, so
    the largest over one ray per tensor saw no more), for one ray's calls.
    """
    h = EPS64 ** (1.0 / 3.0)
    direction = {k: rng.standard_normal(v.shape) * np.maximum(np.abs(v), 1.0)
                 for k, v in point.params.items() if v.size}
    at_point: list[float] = []
    rays: list[np.ndarray] = []

    def along(t: np.ndarray) -> np.ndarray:
        out = np.array([point.moved_value({k: (ti * h) * d for k, d in direction.items()}) if ti else point.value()
                        for ti in t])
        at_point.extend(float(v) for v, ti in zip(out, t) if not ti)
        rays.append(out)
        return out

    sigma = measure_noise(along, floor=EPS64 * counted).sigma if direction else 0.0
    return sigma, at_point or [point.value()], rays[0] if rays else None


def _same_along(point: FunctionPoint, rng: np.random.Generator) -> bool:
    """``f`` twice at a perturbed point and twice at its mirror image (every parameter moved at once, each entry
    by ``1e-3 N(0, 1) max(|p|, 1)``): the same values?"""
    d = {k: 1e-3 * rng.standard_normal(v.shape) * np.maximum(np.abs(v), 1.0) for k, v in point.params.items() if v.size}
    if not d:
        return True
    f = [point.moved_value({k: sign * v for k, v in d.items()}) for sign in (1.0, 1.0, -1.0, -1.0)]
    return f[0] == f[1] and f[2] == f[3]


class Float32Rounding(NamedTuple):
    """The rounding of a loss computed in float32 (:func:`_float32_rounding`), per loss value."""

    sigma: float  # its noise measured along a ray (0: none could be measured)
    per_value: float  # what every loss value of the stencil is counted to carry


#: How many times a float32 loss's measured noise (a standard deviation) every loss value is counted to carry
#: (:func:`_float32_rounding`).  An entry's error bar is ``1.5 * per_value / h`` and it passes within ``k = 4`` of
#: them: 24 sigma / h, against the extrapolated estimate's own noise of ``0.95 sigma / h``
#: (``sqrt(2 (4/9 + 1/144))``), 25 standard deviations, 12 if ECnoise's estimate from nine values came out half the
#: real noise.  The blanket ``16 eps32 |f|`` it replaces was 96 to 400 of them (rt21 F3: a float32 net's loss had
#: ``sigma = 8e-8 = 0.6 eps32 |f|``, the central differences were off by 1.5e-5, and each entry was allowed 2.6e-3:
#: a W1 entry with the wrong sign passed).
F32_NOISE_SIGMAS = 4.0


def _float32_rounding(point: FunctionPoint, seed: int) -> Float32Rounding:
    """The rounding of ``point``'s loss computed in float32, measured on a ray of float32 steps.

    The ray of :func:`_noise_and_repeats` moves by float64's step, below a
    float32 parameter's spacing: its moves round away and nothing is
    measured.  This ray moves every parameter at once by multiples of
    :data:`F32_NOISE_SPACINGS` times the float32 step ``eps32**(1/3)
    max(|p|, 1)`` (hundreds of float32 spacings; the larger of the two
    noises is kept), seeded apart from the check's other draws.  Each loss value is counted to carry
    :data:`F32_NOISE_SIGMAS` times the measured noise, and at least
    ``eps32 |f|`` (the rounding of the result itself).  Where no noise is
    measured, or more than ``16 eps32 |f|`` without the same noise at both
    spacings (:func:`_same_noise`: kinks inside the ray, not rounding; a
    confirmation on a 1000x shorter ray, as :func:`gradcheck.noise.measure_noise`
    does, moves nothing in float32), the blanket ``16 eps32 |f|`` of
    :mod:`gradcheck.stencil`, as before.  Where the two differ, the shorter is read against
    :data:`F32_PLATEAU_SPACINGS` too (:func:`_plateau`): kinks inflate the longer ray's reading, not rounding.
    """
    eps32 = float(np.finfo(np.float32).eps)
    blanket = ROUNDOFF_ULPS * eps32 * abs(point.f0)
    along = _float32_ray(point, seed)
    noise = _plateau(along, [_ray_noise(along, spacing) for spacing in F32_NOISE_SPACINGS]) if along else [0.0]
    sigma = max(noise)
    if not 0.0 < sigma <= blanket and not _same_noise(noise):
        return Float32Rounding(0.0, blanket)
    rounded = float(np.float32(point.f0)) == point.f0  # a float32 number: the result itself rounds to float32
    return Float32Rounding(sigma, max(F32_NOISE_SIGMAS * sigma, (eps32 if rounded else EPS64) * abs(point.f0)))


#: Spacings of :func:`_float32_rounding`'s rays, in float32 steps (``eps32**(1/3) max(|p|, 1)``); the larger noise
#: is kept.  Closer values share their rounding: at 1e-3 of the step a softmax output near 1 moved by a fixed number
#: of its float32 spacings from value to value, and ECnoise read 2e-10 (the loss's own spacing) where the stencil's
#: values, a step apart, carried 3e-8 (rt21 F3's seed 56, a batch of one: a correct b1 entry off by 4.8e-6
#: failed).  At 1e-2 and 1e-1 of the step the parameters move by hundreds of their spacings and both read 2.4e-8 ..
#: 4.4e-8 there.
F32_NOISE_SPACINGS = (1e-2, 1e-1)


#: Shorter spacings of :func:`_float32_rounding`'s ray, read in turn only where the two of
#: :data:`F32_NOISE_SPACINGS` differ (:func:`_plateau`).  On a ReLU net (784-style inputs in [0, 1], 64-16-10, a
#: batch of 8, the float32 loss cast back to float64) the rays read 1e-10 .. 3e-10 of the loss at 1e-5 .. 1e-2 of the step and 1e-7 .. 2e-6 at
#: 1e-1, where they cross kinks: counted as rounding, that widened every error bar 1e4 times, W1's bars reached
#: half its gradient, the entries were measured again at a 256x step across the kinks, and a correct W1 failed as
#: "wrong" (1 seed in 5; a W2 scaled by 1.01 passed in 3 of 5).  Its seed 9 crosses kinks at 1e-2 too.
F32_PLATEAU_SPACINGS = (1e-3, 1e-4)


def _plateau(along: Callable[[np.ndarray], np.ndarray], noise: list[float]) -> list[float]:
    """The noises of :data:`F32_NOISE_SPACINGS` (``noise``), or, where they differ (:func:`_same_noise`), the first
    two adjacent ones that agree, reading on down :data:`F32_PLATEAU_SPACINGS`: rounding does not grow with the
    spacing, kinks crossed inside the longer rays do.  ``noise`` where none agree."""
    pair = noise
    for spacing in F32_PLATEAU_SPACINGS:
        if _same_noise(pair):
            return pair
        pair = [_ray_noise(along, spacing), pair[0]]
    return pair if _same_noise(pair) else noise


def _same_noise(noise: Sequence[float]) -> bool:
    """Were the rays' noises all measured and within a factor 4 of each other: rounding, not kinks?

    Kinks crossed inside a ray add to its differences in proportion to its
    spacing (10x between :data:`F32_NOISE_SPACINGS`); rounding does not
    depend on it.  A loss that cancels (a softmax output near 1, a loss of
    4e-4) rounds far above ``16 eps32 |f|``, and the same at both spacings.
    """
    return min(noise) > 0.0 and max(noise) <= 4.0 * min(noise)


def _float32_ray(point: FunctionPoint, seed: int) -> Callable[[np.ndarray], np.ndarray] | None:
    """``point``'s loss along a seeded ray that moves every parameter at once: ``along(t)`` are its values at
    ``p + t h d``, ``h`` the float32 step ``eps32**(1/3)``, ``d = N(0, 1) max(|p|, 1)`` (None: nothing to move)."""
    h = float(np.finfo(np.float32).eps) ** (1.0 / 3.0)
    rng = np.random.default_rng([int(seed), 0xF32])
    direction = {k: rng.standard_normal(v.shape) * np.maximum(np.abs(v), 1.0) for k, v in point.params.items() if v.size}

    def along(t: np.ndarray) -> np.ndarray:
        return np.array([point.moved_value({k: (ti * h) * d for k, d in direction.items()}) if ti else point.f0
                         for ti in t])

    return along if direction else None


def _ray_noise(along: Callable[[np.ndarray], np.ndarray], spacing: float) -> float:
    """ECnoise of ``along`` at ``spacing`` (:func:`_ray_reading`); 0 where it is not determined."""
    sigma, inform = _ray_reading(along, spacing)
    return sigma if inform == 1 else 0.0


def _ray_reading(along: Callable[[np.ndarray], np.ndarray], spacing: float) -> tuple[float, int]:
    """ECnoise's ``(sigma, inform)`` of ``along`` at ``spacing`` (:func:`gradcheck.noise.ecnoise`), on the mirror ray
    where the values show a kink inside (:func:`gradcheck.noise.kink_inside`); ``(0, 0)`` where both do."""
    values = _ray_values(along, spacing)
    return (0.0, 0) if values is None else ecnoise(values)


def _ray_values(along: Callable[[np.ndarray], np.ndarray], spacing: float) -> np.ndarray | None:
    """The values of ``along`` at ``spacing``, or of its mirror ray where they show a kink inside
    (:func:`gradcheck.noise.kink_inside`); None where both do."""
    for sign in (1.0, -1.0):
        values = np.asarray(along(sign * spacing * np.arange(NOISE_POINTS)), dtype=np.float64)
        if not kink_inside(values):
            return values
    return None


#: Spacings of :func:`_rounds_in_float32`'s rays, in float32 steps ``eps32**(1/3) max(|p|, 1)``: every parameter
#: moves by about 5e-9 and 5e-7 of ``max(|p|, 1)`` from value to value, below or near float32's spacing (6e-8
#: relative) and far above float64's, and far below :data:`F32_NOISE_SPACINGS`, whose rays cross ReLU kinks:
#: there a correct 784-30-10 net read 3e-7 .. 4e-5 of "noise" in float64 and in float32 alike.
F32_TELL_SPACINGS = (1e-6, 1e-4)

#: A loss rounds at float32's level when its noise along :data:`F32_TELL_SPACINGS` is above this fraction of its size:
#: the geometric middle of float32's and float64's unit roundoffs, 5e-12.  Measured on 784-{30, 100, 400}-10 ReLU
#: nets (N = 4 .. 256, weights x0.01 .. x30) given float32 ``x``: computed in float64, 2e-17 .. 3e-16 (kinks
#: crossed at the longer spacing: up to 2.5e-10, and 1e-16 at the shorter); with only the logits rounded to
#: float32, 3e-10 .. 7e-9, the first layer in float32 1e-9 .. 9e-8, everything in float32 2e-8 .. 1e-7 or values
#: that do not move at all; at weights x0.01 a float32 first layer reads 1e-12 only (:func:`_rounds_in_float32`).
F32_TELL_LEVEL = math.sqrt(float(np.finfo(np.float32).eps) * EPS64)


def _rounds_in_float32(point: FunctionPoint, seed: int, counted: float, *, alone: bool = False) -> bool:
    """Does ``point``'s loss round at float32's level, though the arrays it is given are float64?

    Read along :func:`_float32_ray` at each of :data:`F32_TELL_SPACINGS`: values that do not move (ECnoise's
    ``inform == 2``: the moves round away, as in float32; float64 resolves them) or noise above
    :data:`F32_TELL_LEVEL` times the loss's size say float32, a noise ECnoise determines below it says float64
    (:func:`_below_float32`), kinks and trends say nothing.  float32 when some spacing says so and none says
    float64: a float64 loss whose rays cross kinks at the longer spacing still reads its own rounding at the
    shorter, which is read first (a float64 loss is told by its 8 values there: about 2x a 784-100-10 net's
    fast check).  Values that move at neither spacing say nothing (a loss constant there).  ``alone``: no dtype
    evidence at all, and the longer ray must move, free of kinks both ways: kinks crossed inside the shorter
    ray read as noise above the level too (a float64 ReLU layer at inputs of 1e-8 read 2e-2 of its size, and its
    longer ray crossed kinks both ways), so the longer ray must read float32's rounding, and the same on a ray
    10 times longer (:func:`_plateau_of_rounding`).
    """
    along = _float32_ray(point, seed)
    if along is None:
        return False
    rays = [_ray_values(along, spacing) for spacing in F32_TELL_SPACINGS[:1]]
    if rays[0] is not None and _below_float32(rays[0], counted):
        return False
    rays.append(_ray_values(along, F32_TELL_SPACINGS[1]))
    read = [v for v in rays if v is not None]
    if any(_below_float32(v, counted) for v in read) or (alone and rays[-1] is None):
        return False
    said = any(ecnoise(v)[1] in (1, 2) for v in read)  # noise above the level, or values that do not move
    if not alone:
        return said and any(bool(np.any(v != v[0])) for v in read)
    return said and _plateau_of_rounding(along, rays[0], read[-1], counted)


def _plateau_of_rounding(along: Callable[[np.ndarray], np.ndarray], short: np.ndarray | None, long: np.ndarray,
                         counted: float) -> bool:
    """Do the rays' values read as float32's rounding, not as kinks crossed?  The longer ray's (``long``) move
    and the shorter's (``short``) take at most half as many values as it has points (whole float32 spacings of
    the loss, or none), or the longer's carry a noise above the level that a ray :data:`F32_CONFIRM_SPACING`
    times longer reads within a factor 10 (rounding does not grow with the spacing, kinks crossed inside the
    rays do, 10x; ECnoise's readings of one float32 loss at two spacings differed by up to 7x)."""
    if short is not None and np.unique(short).size <= NOISE_POINTS // 2:
        return bool(np.any(long != long[0]))
    sigma, inform = ecnoise(long)
    longer = _ray_values(along, F32_TELL_SPACINGS[-1] * F32_CONFIRM_SPACING)
    if inform != 1 or longer is None or _below_float32(longer, counted):
        return False
    s_longer, i_longer = ecnoise(longer)
    return i_longer == 1 and max(sigma, s_longer) <= 10.0 * min(sigma, s_longer)


#: How much longer than the longer of :data:`F32_TELL_SPACINGS` the ray is that :func:`_plateau_of_rounding`
#: reads the same rounding on.  A float64 5-3-2 ReLU net at inputs of 1e-8 (test_tiny_inputs_bars) read kinks as
#: noise of 1e-10 .. 4e-9 of its loss at the shorter spacings, and float32 bars let a sign-flipped W1 pass; at
#: 1e-4 and 1e-3 of the step its rays crossed kinks both ways or read 10x apart.
F32_CONFIRM_SPACING = 10.0


def _below_float32(values: np.ndarray, counted: float) -> bool:
    """Do a ray's ``values`` say float64: a noise ECnoise determines below :data:`F32_TELL_LEVEL` times the loss's
    size, ``counted`` or the largest of the values (a loss that is 0 at the point, or 1e-8 of its terms there,
    is measured against the values it takes)?  The one rule of :func:`_rounds_in_float32` and :func:`_reads_float64`."""
    sigma, inform = ecnoise(values)
    return inform == 1 and sigma <= F32_TELL_LEVEL * max(counted, float(np.max(np.abs(values))))


def _reads_float64(ray: np.ndarray | None, counted: float) -> bool:
    """Do the first values of :func:`_noise_and_repeats`' ray already say the loss computes in float64?

    That ray moves every parameter by ``1e-3`` of float64's step, 6e-9 of ``max(|p|, 1)`` from value to value:
    the shorter of :data:`F32_TELL_SPACINGS` within 25%, on a direction drawn alike.  Its noise determined below
    the level (:func:`_below_float32`) is what :func:`_rounds_in_float32` reads first, so a float64 loss costs no
    more calls (a float32 loss's values there move by whole float32 spacings of ``f``, or not at all).  Values
    with a kink inside say nothing.
    """
    if ray is None or kink_inside(ray):
        return False
    return _below_float32(ray, counted)


def _rounding_words(rounding: Float32Rounding | None, k: float) -> str:
    """What a float32 loss's rounding adds to the tolerance, as the warning says it ("" for none)."""
    if rounding is None:
        return ""
    h = float(np.finfo(np.float32).eps) ** (1.0 / 3.0)
    source = (f"{F32_NOISE_SIGMAS:g} times its noise measured along a ray, {rounding.sigma:.2g}" if rounding.sigma
              else f"{ROUNDOFF_ULPS:g} eps of float32 times |f|: no noise could be measured")
    return (f"; the loss computes in float32 too, so every numerical entry is also allowed k={k:g} times its error "
            f"bar: its truncation plus {ROUNDOFF_GAIN:g} times the loss's rounding, {rounding.per_value:.2g} per value "
            f"({source}), over the float32 step {h:.2g} max(|p|, 1), {k * ROUNDOFF_GAIN * rounding.per_value / h:.2g} "
            "at |p| <= 1")


#: The error bar of a gradient computed in float32, relative to its entry and to
#: the largest entry of its parameter: float32 rounds to 6e-8 relative, and a
#: backward pass accumulates that over sums of O(N) terms and a few layers
#: (measured on the reference networks in float32: 1e-7 .. 3e-6 of the largest
#: entry); 1e-5 leaves a margin and still fails any bug of 0.01% or more.
F32_RTOL = 1e-5


def low_precision_arrays(named: Mapping[str, Any]) -> dict[str, str]:
    """The arrays in ``named`` whose dtype is a float below float64: name -> dtype name.

    >>> low_precision_arrays({"x": np.zeros(2), "y": [1, 2], "z": None, "g": np.zeros(2, np.float16)})
    {'g': 'float16'}
    """
    return {k: (v.dtype if type(v) is np.ndarray else np.asarray(v).dtype).name for k, v in named.items() if _below_float64(v)}


def _below_float64(value: Any) -> bool:
    """Is ``value`` (None: no) an array, or array-like, of floats below float64?  The rule of :func:`low_precision_arrays`."""
    if value is None:
        return False
    dtype = value.dtype if type(value) is np.ndarray else np.asarray(value).dtype  # an array's own, without asarray
    return dtype.kind == "f" and dtype.itemsize < 8


def _model_low_precision(params: Mapping[str, Any], x: Any, y: Any, grads: Mapping[str, Any], output: Any) -> dict[str, str]:
    """:func:`low_precision_arrays` of a model check's inputs, gradients and forward output, in that order.

    The names (``params['W1']``, ...) are written only when an array is
    below float64: formatting them all was 2-4 us of a toy network's check,
    which almost never has one.
    """
    if not any(map(_below_float64, (*params.values(), x, y, *grads.values(), output))):
        return {}
    return low_precision_arrays({**{f"params[{k!r}]": v for k, v in params.items()}, "x": x, "y": y,
                                 **{f"grads[{k!r}]": v for k, v in grads.items()}, "forward output": output})


def _given_below_float64(point: FunctionPoint, data: Mapping[str, str], evidence: bool, *, strict: bool, seed: int,
                         counted: float, subject: str, told: bool = False) -> tuple[dict[str, str], bool, list[str]]:
    """Data given below float64: the arrays of it that widen the error bars, whether the loss computes in float32
    by its own rounding, and the note said when it does not.

    A float32 ``x`` is data rounded to float32; the check evaluates the loss at those values, in whatever
    precision the loss computes.  With other ``evidence`` of float32 (arrays the loss computes with, gradients,
    a float32 loss or forward output), or under ``strict`` with such data (which refuses any array below
    float64), the data is named with it, unmeasured.  Otherwise it widens the error bars only when the loss
    rounds at float32's level (:func:`_rounds_in_float32`; ``counted``: the loss's size): rt22 F1, a float32
    ``x`` into a net that computes in float64 passed a ``dW2`` off by ``1e-5`` that the same values in float64
    failed.  With no data below float64 either, the loss is measured all the same: a loss that casts its
    float64 arguments to float32 inside and returns a Python float shows its precision nowhere else, and its
    central differences at float64's step are 0 or whole float32 spacings (toys4: correct gradients failed as
    "wrong").  It is then named by :data:`MEASURED_FLOAT32`.  ``told``: the check's noise ray already said float64
    (:func:`_reads_float64`: no calls; else :func:`_rounds_in_float32`'s 8, at most 32).
    """
    if evidence or (strict and data):
        return dict(data), False, []
    if not told and _rounds_in_float32(point, seed, counted, alone=not data):
        return dict(data) or {MEASURED_FLOAT32: "float32"}, True, []
    if not data:
        return {}, False, []
    return {}, False, [f"{subject} is given arrays {_dtype_words(data)}: checked at their values, in float64; "
                       "it computes in float64 there (its loss does not round at float32's level), so its "
                       "gradient is judged with float64 error bars"]


#: The key that names, among the arrays below float64, a loss measured to round at float32's level
#: (:func:`_rounds_in_float32`) though nothing it is given or returns is below float64; its warning says
#: :data:`MEASURED_WORDS` (:func:`float32_tolerances`).
MEASURED_FLOAT32 = "its values (measured)"

#: What the float32 warning says of such a loss: what was measured, and the one float64 loss that reads alike (a sum
#: that cancels to far below its terms, whose float64 rounding is large for its size: ``noise_scale`` says so).
MEASURED_WORDS = ("rounds at float32's level, measured along a ray of float32 steps, though its arguments and values "
                  "are float64 (it computes in float32 inside, or it is a float64 sum that cancels far below its "
                  "terms: check_gradients' noise_scale=, their size, says so)")


def _dtype_words(low: Mapping[str, str]) -> str:
    """``in float16 (x)``, or ``below float64 (x: float16, w: float32)``: the dtypes seen, by name.

    >>> _dtype_words({"x": "float16", "w": "float32"})
    'below float64 (x: float16, w: float32)'
    """
    kinds = set(low.values())
    if len(kinds) == 1:
        return f"in {kinds.pop()} ({', '.join(low)})"
    return f"below float64 ({', '.join(f'{k}: {d}' for k, d in low.items())})"


def float32_tolerances(tol: Tolerance, analytic: Mapping[str, np.ndarray], low: Mapping[str, str], *, strict: bool,
                       subject: str, rounding: Float32Rounding | None = None) -> tuple[dict[str, Tolerance], list[str]]:
    """Per-parameter tolerances: ``tol``, or float32 error bars when ``low`` names arrays below float64.

    Said once (one warning, one line in the result), refused under ``strict``.
    ``rounding``: the loss's own float32 rounding (:func:`_float32_rounding`), said with them.
    """
    if not low:
        return {k: tol for k in analytic}, []
    what = MEASURED_WORDS if MEASURED_FLOAT32 in low else f"computes {_dtype_words(low)}"
    message = (f"{subject} {what}: its gradient is judged with float32 error bars, "
               f"rtol={F32_RTOL:g} and atol={F32_RTOL:g} times the largest entry of each parameter"
               f"{_rounding_words(rounding, tol.k)}")
    if strict:
        raise TypeError(f"strict=True requires float64 throughout: {message}")
    warnings.warn(message, guards.GradcheckPrecisionWarning, stacklevel=4)
    return {k: Tolerance(rtol=max(tol.rtol, F32_RTOL), k=tol.k,
                         atol=max(tol.atol, F32_RTOL * float(np.max(np.abs(a), initial=0.0))))
            for k, a in analytic.items()}, [message]


def _precision(point: FunctionPoint, strict: bool, subject: str) -> tuple[Any, list[str]]:
    """float32 when ``f`` returned float32 (or float16) values: said once, refused under ``strict``."""
    low = sorted(d for d in point.dtypes if np.dtype(d).kind == "f" and np.dtype(d).itemsize < 8)
    if not low:
        return np.float64, []
    message = f"{subject} computes in {low[0]}: checked with {low[0]} steps (eps**(1/3) of {low[0]})"
    if strict:
        raise GradcheckTypeError(f"strict=True requires float64 throughout: {message}")
    return np.float32, [message]


def _accepts(analytic: Mapping[str, np.ndarray],
             tols: Mapping[str, Tolerance]) -> dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]]:
    """Stage one's test: the central difference settles the entry within its round-off error."""
    def accept(a: np.ndarray, tol: Tolerance) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
        flat = a.reshape(-1)
        # the smooth rule only: an entry d1 does not settle gets the +-2h points and the full judge
        return lambda d1, err: judge(flat, d1, err, floor=tol.floor(d1), k=tol.k).passed
    return {k: accept(a, tols[k]) for k, a in analytic.items()}


#: How far :func:`_reads` moves a tensor, each entry by a standard normal times these multiples of max(|p|, 1),
#: one move after the other until the loss changes: far enough to leave a dead ReLU's flat region (a move of
#: the order of the inputs) or a saturated sigmoid's (at x = 50 a move of 50 brings some entries below 37,
#: where sigmoid(x) is no longer 1.0 in float64).
READ_MOVES = (1e-3, 1e-1, 1.0, 10.0)


def _unread(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
            numeric: Mapping[str, NumericGradient], point: FunctionPoint,
            seed: int) -> tuple[tuple[ParamCheck, ...], dict[str, NumericGradient]]:
    """``checks`` with ``wrong.unread`` for each failing tensor the function does not read, and their estimates.

    A tensor whose every central difference is exactly 0 at no kink, while
    its analytic gradient is not (:func:`gradcheck.explain.loss_unread`),
    is flat at the point (``wrong.flat``: its gradient is 0 there) unless
    even far moves of the whole tensor leave the loss unchanged
    (:func:`_reads`): then the function does not read it, and its gradient
    cannot be judged.
    """
    rng = np.random.default_rng([int(seed), 0x5EAD])
    unread = {c.name: numeric[c.name] for c in checks if not c.passed and c.name in numeric
              and loss_unread(analytic[c.name], numeric[c.name]) and not _reads(point, c.name, rng)}
    return tuple(dataclasses.replace(c, diagnosis=Diagnosis.from_code(
        "wrong", c.name, template="wrong.unread", max_abs_error=c.max_abs_err, scale=0.0))
        if c.name in unread else c for c in checks), unread


def _reads(point: FunctionPoint, name: str, rng: np.random.Generator) -> bool:
    """Does the function's value change when the whole tensor ``name`` moves far (:data:`READ_MOVES`)?

    A move where the function raises or is not finite counts as a change:
    the function reads the tensor there.
    """
    p = point.params[name]
    unit = max(float(np.max(np.abs(p), initial=0.0)), 1.0)
    for size in READ_MOVES:
        try:
            with np.errstate(all="ignore"):  # far from the point exp may overflow: a change, not the user's concern
                value = point.moved_value({name: rng.standard_normal(p.shape) * (size * unit)})
        except Exception:  # noqa: BLE001 - whatever the function raises far from the point, it read the tensor
            return True
        if value != point.f0:
            return True
    return False


def _unmoved(numeric: Mapping[str, NumericGradient], analytic: Mapping[str, np.ndarray], moved: str,
             question: str) -> list[str]:
    """One finding naming the parameters whose every central difference is exactly 0 while the analytic gradient is not."""
    still = [k for k, g in numeric.items() if loss_unread(analytic[k], g)]
    if not still:
        return []
    others = f" The same for {', '.join(still[1:])}." if len(still) > 1 else ""
    return [(f"the loss did not change when {moved.format(name=still[0])}: {question} (every numerical "
            f"entry is exactly 0; the analytic gradient has {int(np.count_nonzero(analytic[still[0]]))} nonzero "
            f"entries).{others}")]


def _function_workers(workers: int | None) -> int:
    """``workers``, else ``$GRADCHECK_WORKERS``, else 1.

    An opaque function is never spread over processes by default: on a
    busy machine the children compete with the function's own BLAS threads
    and with everything else (measured by a red team on a loaded 2-core box:
    3.9x the plain loop with forking, 1.2x without), and the promise is
    "never slower than the plain loop", which runs in one process.
    """
    if workers is not None:
        return workers
    env = workers_from_env()
    if env is not None:
        return env
    return 1


def _model_problems(model: Any, params: dict, x: np.ndarray, y: np.ndarray, grads: dict | None,
                    losses: list[float], backward: Callable[..., Any], who: str,
                    pristine: guards.Point | None = None,
                    spare: list[guards.Point] | None = None,
                    returned: dict[str, Any] | None = None) -> tuple[list[str], dict]:
    """Run loss once and backward twice on copies: mutation and determinism findings.

    The loss value is appended to ``losses``; the caller compares it with
    the numerical engine's own evaluation of the same point; ``returned``
    the first backward's gradients as returned (their dtypes).  ``pristine``:
    a copy of the point that no code under check sees (the reference the
    guards compare with; made here when not given); ``spare``: see
    :func:`guards.run_guarded`.  The second backward call always gets
    fresh views, so a backward that keys a cache on its arrays' identity
    cannot make two calls look deterministic.
    """
    problems: list[str] = []
    pristine = pristine if pristine is not None else guards.copy_point(params, x, y)
    spare = spare if spare is not None else []
    returned = returned if returned is not None else {}
    value, found = guards.run_guarded(model.loss, params, x, y, f"{getattr(model, 'name', 'model')}.loss",
                                      pristine=pristine, spare=spare)
    problems += found
    losses.append(float(value))
    if grads is not None:
        return problems, grads
    results = []
    held: list[guards.Point] = []
    for call in range(2):
        if call == 1:  # alive until both calls are done, so the second call's views cannot reuse their ids
            # fresh views: the point is still read-only (each guarded call ends by making sure)
            held, spare[:] = list(spare), [pristine.views()]
        value, found = guards.run_guarded(backward, params, x, y, who, pristine=pristine, spare=spare)
        problems += found
        # the first result is copied before the second call: a backward that writes into the arrays
        # it returned last time (a buffer it keeps, gradients it accumulates) must not look deterministic
        results.append(check_grads_match(value, params, name="grads", copy=call == 0))
        if call == 0:
            returned.update({k: value[k] for k in params})
    del held
    analytic, again = results
    for k in guards.unstable(analytic, again):
        problems.append(f"backward is not deterministic: grads[{k!r}] differs between two calls with the same input")
    return list(dict.fromkeys(problems)), analytic


@explains_unsummed
def check_model(
    model: Any,
    params: Mapping[str, Any],
    x: Any,
    y: Any,
    *,
    mode: str = "full",
    grads: Mapping[str, Any] | None = None,
    backward: Callable[..., Mapping[str, Any]] | None = None,
    tolerance: Tolerance | None = None,
    seed: int = 0,
    probes: int = 4,
    strict: bool = False,
    workers: int | None = None,
) -> CheckResult:
    """Check a layered model's backward against central differences of its forward.

    The numerical side uses only ``model.layers`` and ``model.head`` (the
    forward computation), never ``model.backward``: it is an independent
    oracle.  See :mod:`gradcheck.engine` for why it is fast,
    :mod:`gradcheck.compare` for the verdict and :mod:`gradcheck.directional`
    for fast mode.

    Parameters
    ----------
    model : gradcheck.nn.LayeredModel
        A model declared with :mod:`gradcheck.nn` (``nn.Sequential(...)``),
        a reference model, or anything with ``layers``, ``head``,
        ``prepare_input``, ``forward`` and ``loss``
        (:class:`gradcheck.nn.LayeredModel`).  Layers the fast engine cannot
        exploit are evaluated the generic way (:mod:`gradcheck.recognise`).
    params, x, y
        The point.  Never modified: every function under check gets copies,
        and a function that writes into its inputs is reported.
    mode : {"full", "fast"}
        ``"full"`` checks every entry; ``"fast"`` uses ``probes`` random
        probes per tensor (small tensors entry by entry) and localises
        failures by bisection; when every tensor is small (the notebooks'
        toy networks) it runs the full check, cheaper there, and each
        tensor's note says so (:func:`gradcheck.directional.every_entry_in_fast`).
    grads : mapping, optional
        Analytic gradients to check instead of ``model.backward(params, x, y)``.
    backward : callable, optional
        ``backward(params, x, y) -> dict of gradients``, checked instead of
        ``model.backward`` (run twice on copies: mutation and determinism
        are reported as for ``model.backward``).  A model declared with
        :mod:`gradcheck.nn` has no backward of its own: pass yours here.
    tolerance : Tolerance, optional
    seed : int
        Seeds the probes in fast mode; reported in every result.
    probes : int
        Probes per tensor in fast mode.
    strict : bool
        Raise ``TypeError`` instead of warning when arrays are below float64.
    workers : int, optional
        Processes for the numerical side (default: one per CPU, at most
        4, for big models; see :func:`gradcheck.engine.estimate_gradients`).

    Returns
    -------
    CheckResult

    Examples
    --------
    >>> import reference_models
    >>> m = reference_models.get("xor_2layer")
    >>> p = m.init_params(np.random.default_rng(1))
    >>> x, y = m.notebook_data()
    >>> r = check_model(m, p, x, y)
    >>> r.passed, [c.name for c in r.params]
    (True, ['W1', 'b1', 'W2', 'b2'])
    >>> bad = m.backward(p, x, y)
    >>> bad["W2"] = -bad["W2"]
    >>> r = check_model(m, p, x, y, grads=bad)
    >>> r.passed, r["W2"].n_failed
    (False, 3)

    A model declared with :mod:`gradcheck.nn` and your own backward:

    >>> from gradcheck import nn
    >>> net = nn.Sequential(nn.Dense("W", "b"), loss=nn.MSE("half_sum"))
    >>> def my_backward(params, x, y):
    ...     d = x @ params["W"] + params["b"] - y      # dL/dz
    ...     return {"W": x.T @ d, "b": d.sum(axis=0)}
    >>> rng = np.random.default_rng(0)
    >>> q = {"W": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}
    >>> check_model(net, q, rng.standard_normal((5, 3)), rng.standard_normal((5, 2)), backward=my_backward).passed
    True
    """
    _check_options(mode, seed, probes)
    workers = check_workers(workers)
    tol = _tolerance(tolerance)
    _settle_allocator()  # before the first copy of a large weight (engine._settle_allocator)
    work = check_params(params, name="params")
    xx = np.asarray(x)
    yy = np.asarray(y)
    for name, arr in (("x", xx), ("y", yy)):
        if arr.dtype.kind not in "biuf":
            raise GradcheckTypeError(f"{name} must be an array of real numbers, got {name}={describe(x if name == 'x' else y)}")
    if xx.ndim >= 1 and xx.shape[0] == 0:
        raise GradcheckValueError(f"x is an empty batch (x.shape={xx.shape}): a gradient check needs at least one sample")
    backward, who = _backward(model, grads, backward)
    _check_against_model(model, work)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    supplied = None if grads is None else check_grads_match(grads, work, name="grads")
    losses: list[float] = []
    # the guards' reference, then (never seen by the code under check) the engine's; work is a copy already
    data = guards.copy_point({}, xx, yy)
    point = guards.Point(work, data.x, data.y)
    spare: list[guards.Point] = []  # the views the last call left unchanged (guards.run_guarded)
    returned: dict[str, Any] = {}  # the first backward's gradients as it returned them (their dtypes)
    problems, analytic = _model_problems(model, work, xx, yy, supplied, losses, backward, who, pristine=point,
                                         spare=spare, returned=returned)
    timings["backward"] = time.perf_counter() - t0
    output, found = guards.run_guarded(model.forward, work, xx, None, f"{getattr(model, 'name', 'model')}.forward",
                                       pristine=point, spare=spare)
    problems += found
    point.thaw()  # the guarded calls are done: the engine's point, writable as the caller's copy always was
    low = _model_low_precision(params, x, y, grads or returned, output)
    guards.require_finite(analytic, "grads")
    low, measured, noted = _model_precision(model, work, xx, yy, low, losses[0], strict=strict, seed=seed, output=output)
    if "forward output" in low or measured:  # the forward itself rounds to float32: float32 steps, through model.loss
        return _check_float32_model(model, work, xx, yy, analytic, losses[0], low, problems,
                                    tol=tol, mode=mode, seed=seed, probes=probes, workers=workers, strict=strict)
    tols, said = float32_tolerances(tol, analytic, low, strict=strict, subject=getattr(model, "name", "the model"))
    said = noted + said
    p, px, py = point.params, point.x, point.y
    t0 = time.perf_counter()
    ev = ModelEvaluator(model, p, px, py)
    if not np.isfinite(ev.f0):
        raise GradcheckValueError(f"the loss is not finite at this point: {ev.f0!r}")
    problems += _forward_problems(model, ev, losses[0], output, px, py)
    checks = _model_checks(ev, analytic, tols, mode=mode, seed=seed, probes=probes, workers=workers)
    # failing at kinks; and on a point with exact ties, whatever a kink bracket decided
    checks, found = _on_ties(checks, ev, px, analytic, None if grads is not None else backward, who, tols,
                             mode=mode, seed=seed, probes=probes, workers=workers)
    problems += [f for f in found if f not in problems]
    timings["numeric"] = time.perf_counter() - t0
    return CheckResult(subject=getattr(model, "name", type(model).__name__), mode=mode, seed=int(seed),
                       n_samples=int(ev.inputs[0].shape[0]) if ev.inputs and ev.inputs[0].ndim else None,
                       params=checks, tolerance=tol, problems=tuple(problems),
                       warnings=(*said, *_undecided_warning(checks)), timings=timings)


#: How far :func:`_off_ties` moves every parameter entry, relative to ``max(|p|, 1)``: a thousandth, about
#: 160 times the central-difference step (``eps ** (1/3)``, 6e-6 relative), so that a tie at the point given
#: (a pre-activation exactly 0) is far outside the stencil at the moved point, and small enough that the
#: moved point is the same network at nearly the same weights.
TIE_NUDGE = 1e-3


def _off_ties(checks: tuple[ParamCheck, ...], tied: set[str], explained: Mapping[str, bool], ev: ModelEvaluator,
              x: np.ndarray, backward: Callable[..., Any], who: str, tols: Mapping[str, Tolerance], *, mode: str,
              seed: int, probes: int, workers: int | None) -> tuple[tuple[ParamCheck, ...], list[str]]:
    """The tensors ``tied`` checked again at a point moved off the ties; their verdicts from both (:func:`_tie_verdict`).

    Where a move of one entry crosses several ties at once (pre-activations
    exactly 0 in several samples, crossed in opposite directions, or a kink
    feeding a kink in the next layer), the derivative a correct backward
    computes with any fixed ``relu'(0)`` (torch's too) can lie outside the
    one-sided bracket ``[f'(p-), f'(p+)]``, or differ from the derivative
    where the kinks cancel and the loss is smooth there, and no finite
    difference can tell it from a wrong one; a wrong value can as well hide
    inside a bracket.  Integer weights and inputs with zero biases, an
    instructor's hand example, put most entries there.  ``tied``: the
    tensors that failed with entries at kinks, and, when the point sits on
    ties (:func:`_sits_on_ties`), every tensor that failed or has entries
    at kinks.  They are checked with the same backward at two points, the
    point given with every parameter entry moved by a seeded
    ``+-TIE_NUDGE * max(|p|, 1)`` (:data:`TIE_NUDGE`) and by the opposite
    move, where no entry sits on a tie; each tied pre-activation is on one
    side at one point and on the other at the other, so a unit a tie kept
    off at one point is on at the other, and a wrong gradient through it
    shows (a single move could turn every tied unit off, where a wrong
    bias gradient is multiplied by 0).  A tensor passes off the ties when
    it passes at both.  ``explained``: for each tensor that failed at the
    point given, whether every failing entry moves a tie there
    (:func:`_failures_cross_ties`).  Returns the checks and any finding of
    the guarded backward calls at the moved points.
    """
    step = _off_move(ev, seed)
    found: list[str] = []
    off: dict[str, ParamCheck] = {}
    for sign in (1.0, -1.0):
        moved = {k: v + sign * step[k] for k, v in ev.params.items()}
        grads, said = guards.run_guarded(backward, moved, x, ev.y, who)
        found += said
        analytic = check_grads_match(grads, moved, name="grads")
        there = ModelEvaluator(ev.model, moved, x, ev.y)
        if not np.isfinite(there.f0) or not all(np.isfinite(g).all() for g in analytic.values()):
            return checks, found  # nothing to learn there: the verdicts at the point given stand
        for c in _model_checks(there, analytic, tols, mode=mode, seed=seed, probes=probes, workers=workers):
            if c.name not in off or (off[c.name].passed and not c.passed):  # the first failure, else the first check
                off[c.name] = c
    return tuple(_tie_verdict(c, off[c.name], explained.get(c.name, True)) if c.name in tied else c
                 for c in checks), found


#: How many seeded moves :func:`_off_move` draws at most, looking for one that keeps the moved points clear of kinks.
TIE_DRAWS = 4

#: How far from a kink :func:`_off_move` wants every kinked pre-activation at both moved points, relative to
#: ``TIE_NUDGE * max(max |z|, 1)`` over that layer's inputs ``z`` at the point: a hundredth, about twice the
#: reach of a central-difference stencil (``2 * 6e-6`` relative per entry moved) through one input of size 1.
#: A red team's correct backward failed at 1 of 1200 small tied points, where the first move left a
#: second-layer pre-activation 2.9e-7 from its kink: the stencils of b1 and b2 crossed it, too weakly to be
#: flagged as a kink and strongly enough (2.3e-8 against an allowed 1.6e-8) to fail.
TIE_CLEAR = 1e-2


def _off_move(ev: ModelEvaluator, seed: int) -> dict[str, np.ndarray]:
    """The move of :func:`_off_ties`: every entry by a seeded ``+-TIE_NUDGE * max(|p|, 1)``.

    The first of up to :data:`TIE_DRAWS` draws whose two moved points
    (``p + move``, ``p - move``) keep every kinked pre-activation at least
    :data:`TIE_CLEAR` clear of its kinks; when none does, the draw that
    keeps them clearest.  A tie moved only a little stays inside the
    stencils there.
    """
    rng = np.random.default_rng([int(seed), 0x71E5])
    best: dict[str, np.ndarray] = {}
    clearest = -1.0
    for _ in range(TIE_DRAWS):
        step = _tie_move(ev.params, rng)
        clear = min(_clearance(ev, {k: v + sign * step[k] for k, v in ev.params.items()}) for sign in (1.0, -1.0))
        if clear >= TIE_CLEAR:
            return step
        if clear > clearest:
            best, clearest = step, clear
    return best


def _clearance(ev: ModelEvaluator, moved: Mapping[str, np.ndarray]) -> float:
    """How far from its kinks the closest kinked pre-activation is with ``moved`` parameters, in units of
    ``TIE_NUDGE * max(max |z|, 1)`` for that layer's inputs ``z`` at the point (:data:`TIE_CLEAR`)."""
    kinked = {j: tuple(getattr(layer, "kinks", ()) or ()) for j, layer in enumerate(ev.layers)}
    a, clear = ev.inputs[0], np.inf
    for j, layer in enumerate(ev.layers[:max((j for j, c in kinked.items() if c), default=0)]):
        a = layer.forward(moved, a)
        if kinked[j + 1]:
            unit = TIE_NUDGE * max(float(np.max(np.abs(ev.inputs[j + 1]), initial=0.0)), 1.0)
            clear = min([clear] + [float(np.min(np.abs(a - c), initial=np.inf)) / unit for c in kinked[j + 1]])
    return clear


def _on_ties(checks: tuple[ParamCheck, ...], ev: ModelEvaluator, x: np.ndarray, analytic: Mapping[str, np.ndarray],
             backward: Callable[..., Any] | None, who: str, tols: Mapping[str, Tolerance], *, mode: str, seed: int,
             probes: int, workers: int | None) -> tuple[tuple[ParamCheck, ...], list[str]]:
    """``checks`` at a point on exact ties (:func:`_sits_on_ties`): decided off the ties when there is a
    ``backward`` to call there (:func:`_off_ties`), else with a caveat (:func:`_tie_caveat`); unchanged elsewhere.

    Asked only when something failed or sat at a kink: a passing check off kinks pays nothing.  Returns the
    checks and the findings of the guarded backward calls made off the ties.
    """
    if not any(c.n_kinks or not c.passed for c in checks) or not _sits_on_ties(ev):
        return checks, []
    if backward is None:  # fast mode's probes name no entry: only a full-mode failure can be shown to move ties
        return tuple(_tie_caveat(c) if not c.passed and c.mode != "fast" and _failures_cross_ties(
            ev, c, _entrywise_at(ev, c, analytic, tols, workers)[1], analytic, tols, workers) else c for c in checks), []
    judged = [_entrywise_at(ev, c, analytic, tols, workers) for c in checks]
    checks = tuple(c for c, _ in judged)
    explained = {c.name: _failures_cross_ties(ev, c, failing, analytic, tols, workers)
                 for c, failing in judged if not c.passed}
    tied = {c.name for c in checks if c.n_kinks or not c.passed}
    return _off_ties(checks, tied, explained, ev, x, backward, who, tols, mode=mode, seed=seed, probes=probes,
                     workers=workers)


def _tie_caveat(c: ParamCheck) -> ParamCheck:
    """``c`` (failing, with grads given, on ties, every failing entry moving a tie) with a note that its failure
    may be the convention's."""
    return _undecided(c, (
        "every entry that failed moves a pre-activation exactly on a kink (a tie): where a move crosses several ties, "
        "a correct gradient with any fixed relu'(0) can fail here, and the diagnosis may be wrong. With grads= the "
        "check cannot look elsewhere: pass backward= (it is then checked at points moved off the ties) or check at "
        "a point off exact ties"))


def _entrywise_at(ev: ModelEvaluator, c: ParamCheck, analytic: Mapping[str, np.ndarray],
                  tols: Mapping[str, Tolerance], workers: int | None) -> tuple[ParamCheck, np.ndarray | None]:
    """``c`` and the flat indices of every entry that fails in it, None for a full-mode check that failed more
    entries than it lists (:data:`MAX_INDICES`; :func:`_failing_entries`); a failing fast-mode tensor checked
    entry by entry first (a failure on ties is judged per entry)."""
    listed = _flat_indices(c)
    if c.passed or c.mode != "fast":
        return c, listed if len(listed) == c.n_failed else None
    a, tol = analytic[c.name], tols[c.name]
    numeric = estimate_gradients(ev.model, ev.params, None, ev.y, names=[c.name], evaluator=ev, workers=workers)[c.name]
    v = compare_entries(a, numeric, tol)
    n = int(ev.inputs[0].shape[0]) if ev.inputs and ev.inputs[0].ndim else None
    return explain((_summary(c.name, a, numeric, v, _badness(v), tol),), analytic, {c.name: numeric},
                   batch_size=n, loss=model_loss(ev))[0], np.flatnonzero(~v.passed)


def _failing_among(ev: ModelEvaluator, c: ParamCheck, among: np.ndarray, analytic: Mapping[str, np.ndarray],
                   tols: Mapping[str, Tolerance], workers: int | None) -> np.ndarray:
    """Which entries of the boolean mask ``among`` fail in a full-mode check ``c`` that lists fewer than failed.

    The tensor's two-stage estimate again, as :func:`_full` takes it for
    the entries ``among`` (the same test settles them, or the ``+-2h``
    points and a kink's smaller step); every other entry is taken as
    settled by ``+-h``, which costs two evaluations of it and no more.  The
    entries ``c`` lists count in any case.
    """
    flat, tol = analytic[c.name].reshape(-1), tols[c.name]
    numeric = estimate_gradients(ev.model, ev.params, None, ev.y, names=[c.name], evaluator=ev, workers=workers,
                                 accept={c.name: lambda d1, err: ~among | judge(flat, d1, err, floor=tol.floor(d1),
                                                                                  k=tol.k).passed})[c.name]
    failing = ~compare_entries(analytic[c.name], numeric, tol).passed.reshape(-1)
    failing[_flat_indices(c)] = True
    return failing & among


def _flat_indices(c: ParamCheck) -> np.ndarray:
    """The flat indices of the failing entries ``c`` lists."""
    if not c.failed_indices or not c.shape:
        return np.zeros(len(c.failed_indices), dtype=np.intp)
    return np.ravel_multi_index(np.array(c.failed_indices, dtype=np.intp).T, c.shape)


def _failures_cross_ties(ev: ModelEvaluator, c: ParamCheck, failing: np.ndarray | None,
                         analytic: Mapping[str, np.ndarray], tols: Mapping[str, Tolerance], workers: int | None) -> bool:
    """Does every failing entry of ``c`` (flat indices ``failing``) move a pre-activation that sits exactly on a
    kink (:func:`_moves_ties`)?

    Only such an entry can fail a correct backward (its derivative there is
    the convention's, not the loss's); an entry that moves no tie is
    differentiable at the point, and its failure stands whatever happens
    elsewhere.  ``failing`` None: ``c`` lists fewer than failed.  Then every
    entry is tested, which costs a few stacked passes, and the central
    differences of those that move no tie are taken again
    (:func:`_failing_among`): none of them may fail.  (Estimating the whole
    tensor again to find every failing entry cost as much as the whole
    check at a 64-32-32-10 integer point.)
    """
    if failing is not None:
        return bool(_moves_ties(ev, c.name, failing).all())
    moves = _moves_ties(ev, c.name, np.arange(c.n_entries))
    return bool(moves.all() or not _failing_among(ev, c, ~moves, analytic, tols, workers).any())


def _moves_ties(ev: ModelEvaluator, name: str, flat: np.ndarray) -> np.ndarray:
    """For each entry ``flat`` of ``params[name]`` (flat indices): does moving it by ``TIE_NUDGE * max(|p|, 1)``
    (:data:`TIE_NUDGE`) change a pre-activation that sits exactly on a kink (:func:`_ties`)?

    The moved copies go through the layers as stacks, up to
    :meth:`~gradcheck.engine.ModelEvaluator.chunk_values` values at a time:
    a copy moved at an entry of a dense layer is one moved column, carried
    as such through elementwise layers and spread by a rank-one update at
    the next dense layer (as :mod:`gradcheck.engine` carries its copies),
    so that thousands of entries of a big weight cost a few stacked passes,
    not a forward pass each.  Through a layer that takes no stacks, one
    copy at a time.
    """
    k = ev.owner[name]
    ties = {j: tied for j, tied in _ties(ev) if j > k and tied.any()}  # a layer's move changes only later inputs
    moved = np.zeros(len(flat), dtype=bool)
    if not ties or not len(flat):
        return moved
    steps = TIE_NUDGE * np.maximum(np.abs(ev.params[name].reshape(-1)[flat]), 1.0)
    stacked = all(kind is not LayerKind.OPAQUE for kind in ev.kinds[k:max(ties)])
    per = max(1, ev.chunk_values() // max(a.size for a in ev.inputs[k:])) if stacked else 1
    for start in range(0, len(flat), per):
        part = slice(start, start + per)
        moved[part] = (_copies_move_ties if stacked else _one_moves_ties)(ev, name, flat[part], steps[part], ties)
    return moved


def _copies_move_ties(ev: ModelEvaluator, name: str, flat: np.ndarray, steps: np.ndarray,
                      ties: Mapping[int, np.ndarray]) -> np.ndarray:
    """:func:`_moves_ties` for the entries ``flat`` moved by ``steps``, as one stack (every layer up to the last
    tie takes stacks).

    Copy 0 is the point itself (step 0), computed the same way: a stacked
    layer may round differently from the plain forward, and a tie moves
    when a moved copy differs there from it.
    """
    k = ev.owner[name]
    state = _moved_copies(ev, name, np.concatenate([flat[:1], flat]), np.concatenate([[0.0], steps]))
    moved = np.zeros(len(flat), dtype=bool)
    for j in range(k + 1, max(ties) + 1):
        if j in ties and isinstance(state, _Column):  # each copy's own column, against the point's
            tied = ties[j][:, state.cols[1:]].T
            moved |= (tied & (state.values[1:] != state.base[:, state.cols[1:]].T)).any(axis=1)
        elif j in ties:
            moved |= (state[1:, ties[j]] != state[0, ties[j]]).any(axis=1)
        if j < max(ties):
            state = _through(ev, j, state)
    return moved


def _moved_copies(ev: ModelEvaluator, name: str, flat: np.ndarray, steps: np.ndarray) -> Any:
    """The output of ``params[name]``'s layer for copies of the point with entry ``flat[p]`` moved by ``steps[p]``:
    a :class:`~gradcheck.engine._Column` for a dense layer (its moved column), else the stacked outputs."""
    k = ev.owner[name]
    layer = ev.layers[k]
    if ev.kinds[k] is LayerKind.AFFINE:  # as ModelEvaluator.losses: column flat % d moves, by steps * input column
        base = ev.inputs[k + 1] if k + 1 < len(ev.layers) else ev.output
        cols = flat % base.shape[-1]
        moves = ev.inputs[k][:, flat // base.shape[-1]].T if name == layer.weight else np.ones((len(flat), base.shape[0]))
        return _Column(base, cols, base[:, cols].T + moves * steps[:, None])
    block = np.repeat(ev.params[name][None], len(flat), axis=0)
    block.reshape(len(flat), -1)[np.arange(len(flat)), flat] += steps
    return layer.forward({**ev.params, name: block}, ev.inputs[k])


def _through(ev: ModelEvaluator, j: int, state: Any) -> Any:
    """Stacked copies ``state`` (the input of layer ``j``) through layer ``j``, as :meth:`ModelEvaluator._finish`
    carries them: a column through an elementwise layer, a column into a dense layer by a rank-one update."""
    layer = ev.layers[j]
    base = ev.inputs[j + 1] if j + 1 < len(ev.layers) else ev.output
    if isinstance(state, _Column) and ev.kinds[j] is LayerKind.ELEMENTWISE:
        return _Column(base, state.cols, layer.forward(ev.params, state.values))
    if isinstance(state, _Column) and ev.kinds[j] is LayerKind.AFFINE:
        return _rank_one(base, state.values - state.base[:, state.cols].T, ev.params[layer.weight][state.cols])
    return layer.forward(ev.params, state.dense() if isinstance(state, _Column) else state)


def _one_moves_ties(ev: ModelEvaluator, name: str, flat: np.ndarray, steps: np.ndarray,
                    ties: Mapping[int, np.ndarray]) -> np.ndarray:
    """:func:`_moves_ties` one copy at a time, through the plain forward (a layer takes no stacks)."""
    moved = np.zeros(len(flat), dtype=bool)
    for p, (i, step) in enumerate(zip(flat, steps)):
        params = {**ev.params, name: ev.params[name].copy()}
        params[name].reshape(-1)[i] += step
        a = ev.inputs[ev.owner[name]]
        for j in range(ev.owner[name], max(ties)):
            a = ev.layers[j].forward(params, a)
            moved[p] |= j + 1 in ties and bool((a[ties[j + 1]] != ev.inputs[j + 1][ties[j + 1]]).any())
    return moved


def _ties(ev: ModelEvaluator) -> list[tuple[int, np.ndarray]]:
    """For each layer with declared kinks (a ReLU's 0): its index and where its input sits exactly on one."""
    return [(j, np.isin(a, kinks)) for j, (layer, a) in enumerate(zip(ev.layers, ev.inputs))
            if (kinks := tuple(getattr(layer, "kinks", ()) or ()))]


def _sits_on_ties(ev: ModelEvaluator) -> bool:
    """Does an activation layer with declared kinks get an input exactly at one of them (:func:`_ties`)?"""
    return any(bool(tied.any()) for _, tied in _ties(ev))


#: Diagnoses that name a pattern in every entry (:mod:`gradcheck.explain`): read off the ties, they say more than one
#: at the point given, where some entries are judged by a kink's bracket only.
_WHOLE_PATTERNS = frozenset({"sign", "scale", "transpose", "swapped", "activation"})


def _pattern_off_ties(at: ParamCheck, off: ParamCheck) -> bool:
    """Whether the check off the ties names a pattern where the one at the point given names none."""
    return (off.diagnosis is not None and off.diagnosis.code in _WHOLE_PATTERNS and off.mode == "full"
            and at.diagnosis is not None and at.diagnosis.code in ("partial", "wrong"))


def _tie_verdict(at: ParamCheck, off: ParamCheck, explained: bool, *,
                 crossing: str = "each failing entry moving a tie") -> ParamCheck:
    """A tensor's verdict from its check at the point given (``at``) and off the ties (``off``: a failing one of the two).

    It passes when it passes at both points off the ties, where every
    entry's central difference is its derivative and the backward is the
    same function, and every entry that failed at the point given moves a
    tie there (``explained``, :func:`_failures_cross_ties`): an entry that
    moves none is differentiable there, and its failure stands (a backward
    right only off the point, or off exact zeros, is still caught).
    The check whose numbers are shown is the one that decides (the one at
    the point given when both fail), and a note says which.  ``crossing``:
    how the note says why the failing entries are explained.
    """
    unit = "probes" if at.mode == "fast" else "entries"
    here = f"{at.n_failed} of its {at.n_entries} {unit} failed" if not at.passed else "it passed"
    here = f"At the point given {here} ({at.n_kinks} judged at kinks by one-sided differences)"
    moved = f"two points moved off the ties (every entry by a seeded +-{TIE_NUDGE:g} x max(|p|, 1), then by the opposite move)"
    why = ("where a move crosses several ties at once (pre-activations exactly at a kink), a correct backward with "
           "any fixed relu'(0) can lie outside the one-sided bracket, and a wrong one inside it: no finite "
           "difference can check it there")
    if off.passed and not at.passed and explained:
        note = (f"{here}, {crossing}; {why}. Checked instead at {moved}: it passes at both, and "
                "every number shown is from the first")
        return dataclasses.replace(off, notes=(note,) + off.notes)
    if off.passed and not at.passed:
        return dataclasses.replace(at, notes=at.notes + (
            f"{here}; an entry that failed there moves no tie, so the loss is differentiable along it and its "
            f"failure stands, though at {moved} the tensor passes",))
    if off.passed:
        return dataclasses.replace(at, notes=at.notes + (f"{here}; {why}. At {moved} it passes too",))  # at both
    there = f"at one of {moved} it fails ({off.n_failed} of {off.n_entries} {'probes' if off.mode == 'fast' else 'entries'})"
    if not at.passed:
        if _pattern_off_ties(at, off):  # rt18 F2: the kinks hid the pattern ("wrong in 2 of 3" for a 1.03x db1)
            return dataclasses.replace(at, diagnosis=off.diagnosis, notes=at.notes + (
                f"{here}; {there} too: the backward is wrong beyond the choice of relu'(0), and the diagnosis is "
                "from there, where no entry sits on a tie",))
        return dataclasses.replace(at, notes=at.notes + (f"{here}; {there} too: the backward is wrong beyond the "
                                                         "choice of relu'(0)",))
    note = f"{here}, but {why}; {there}, and every number shown is from there"
    return dataclasses.replace(off, notes=(note,) + off.notes)


def _model_checks(ev: ModelEvaluator, analytic: dict[str, np.ndarray], tols: Mapping[str, Tolerance], *,
                  mode: str, seed: int, probes: int, workers: int | None) -> tuple[ParamCheck, ...]:
    """The checks of :func:`check_model`'s ``mode``: :func:`_full`, or :func:`_fast_model`.

    Fast mode runs :func:`_full` itself when it would check every entry
    anyway (:func:`gradcheck.directional.every_entry_in_fast`: the
    notebooks' toy networks), each tensor with a note saying so
    (:func:`gradcheck.directional.entrywise_note`): the same verdicts and diagnoses, from one
    joined pass instead of one per tensor.
    """
    if mode == "full":
        return _full(ev, analytic, tols, workers)
    if every_entry_in_fast([a.size for a in analytic.values()], probes):
        return _full(ev, analytic, tols, workers, notes=(entrywise_note(probes, whole=True),))
    return _fast_model(ev, analytic, tols, seed=seed, probes=probes, workers=workers)


def _noted(checks: Sequence[ParamCheck], notes: tuple[str, ...]) -> tuple[ParamCheck, ...]:
    """``checks``, each with ``notes`` before its own."""
    return tuple(replaced(c, notes=notes + c.notes) for c in checks) if notes else tuple(checks)


def _fast_model(ev: ModelEvaluator, analytic: Mapping[str, np.ndarray], tols: Mapping[str, Tolerance], *,
                seed: int, probes: int, workers: int | None) -> tuple[ParamCheck, ...]:
    """Fast mode of :func:`check_model`: small tensors (:func:`~gradcheck.directional.entrywise_in_fast`) entry by
    entry, the others by probes (:func:`gradcheck.directional.fast_check`, entry by entry where they fall short).

    A tensor checked entry by entry gets its diagnosis as in full mode
    (:func:`gradcheck.explain.explain`, among the gradients taken so: a
    swap with a probed tensor is not seen).
    """
    rng = np.random.default_rng(seed)
    numeric: dict[str, NumericGradient] = {}

    def entrywise(k: str) -> ParamCheck:
        numeric[k] = estimate_gradients(ev.model, ev.params, None, ev.y, names=[k], evaluator=ev, workers=workers)[k]
        return param_check(k, analytic[k], numeric[k], tols[k])

    def checked(k: str) -> ParamCheck:
        if entrywise_in_fast(analytic[k].size, probes):
            return _noted([entrywise(k)], (entrywise_note(probes, whole=False),))[0]
        return fast_check(ev, k, analytic[k], tols[k], rng=rng, probes=probes, entrywise=functools.partial(entrywise, k))

    checks = tuple(checked(k) for k in ev.params)
    n = int(ev.inputs[0].shape[0]) if ev.inputs and ev.inputs[0].ndim else None
    return explain(checks, analytic, numeric, batch_size=n, loss=model_loss(ev))


def _check_float32_model(model: Any, work: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                         analytic: dict[str, np.ndarray], first: float, low: Mapping[str, str], problems: list[str],
                         **options: Any) -> CheckResult:
    """A model whose forward computes in float32: checked through ``model.loss`` with float32 steps and error bars."""
    name = getattr(model, "name", type(model).__name__)
    return check_point(_loss_point(model, work, x, y), analytic, first=first, subject=name, problems=problems,
                       low_precision=low, force_float32=True, n_samples=int(x.shape[0]) if x.ndim else None, **options)


def _loss_point(model: Any, work: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                f0: float | None = None) -> FunctionPoint:
    """``model.loss`` at ``work`` (copies of it), on copies of ``x`` and ``y``, as an opaque function (``f0``: its
    value at the point, known already)."""
    point = FunctionPoint(lambda arrays: model.loss(dict(arrays), x.copy(), y.copy()),
                          {k: v.copy() for k, v in work.items()}, who=f"{getattr(model, 'name', type(model).__name__)}.loss")
    if f0 is not None:
        point.f0 = f0
    return point


def _model_precision(model: Any, work: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, low: Mapping[str, str],
                     first: float, *, strict: bool, seed: int, output: Any = None) -> tuple[dict[str, str], bool, list[str]]:
    """The arrays below float64 that widen a model check's error bars, whether its loss computes in float32 by its
    own rounding, and the note said when data below float64 does not (:func:`_given_below_float64`).

    ``params``, ``x`` and ``y`` are data: the model gets float64 copies of the parameters, and ``x``
    and ``y`` as given, which it may widen (``nn.Sequential`` does).  The gradients and the forward
    output below float64 are evidence of a float32 computation.  With none of these, a forward ``output``
    whose float64 values are float32 numbers (:func:`_float32_valued`: layers that compute in float32 and cast
    back) has the loss measured as an opaque check's is (:func:`_rounds_in_float32`); other float64 models
    pay nothing for it.
    """
    data = {k: d for k, d in low.items() if k != "forward output" and not k.startswith("grads[")}
    if not low and _float32_valued(output):
        return _given_below_float64(_loss_point(model, work, x, y, f0=first), {}, False, strict=strict, seed=seed,
                                    counted=abs(first), subject=getattr(model, "name", "the model"))
    if not data or strict or len(data) < len(low):
        return dict(low), False, []
    return _given_below_float64(_loss_point(model, work, x, y, f0=first), data, False, strict=strict, seed=seed,
                                counted=abs(first), subject=getattr(model, "name", "the model"))


def _float32_valued(output: Any) -> bool:
    """Are the float64 values of ``output`` float32 numbers, two or more of them with over 17 significant bits?

    A float64 result is a float32 number by chance with probability ``2**-29``; short ones (integers,
    halves: an integer net's logits) are float32 numbers whatever computed them, so they do not count.

    >>> _float32_valued(np.float32([0.1, 0.7]).astype(np.float64)), _float32_valued(np.array([0.1, 0.7]))
    (True, False)
    >>> _float32_valued(np.array([3.0, -2.5, 1024.0])), _float32_valued(None)
    (False, False)
    """
    v = output if type(output) is np.ndarray else np.asarray(output if output is not None else np.nan)
    if v.dtype != np.float64 or not np.all(np.isfinite(v)) or not np.array_equal(v.astype(np.float32), v):
        return False
    return int(np.count_nonzero(np.frexp(v)[0] * 2.0 ** 17 % 1.0)) >= 2


def _backward(model: Any, grads: Any, backward: Any) -> tuple[Callable[..., Any], str]:
    """The backward to check and its name in findings; a clear error when the model is not layered."""
    missing = [m for m in ("layers", "head", "prepare_input", "forward", "loss") if not hasattr(model, m)]
    if missing:
        raise GradcheckTypeError(f"model must be a layered model (gradcheck.nn.LayeredModel, e.g. nn.Sequential(...)); "
                        f"{type(model).__name__} lacks {', '.join(missing)}")
    if backward is not None:
        if grads is not None:
            raise GradcheckValueError("pass grads= or backward=, not both")
        if not callable(backward):
            raise GradcheckTypeError(f"backward must be callable, backward(params, x, y) -> dict, got backward={describe(backward)}")
        return backward, getattr(backward, "__name__", "backward")
    own = getattr(model, "backward", None)
    if grads is None and not callable(own):
        raise GradcheckTypeError(f"{getattr(model, 'name', type(model).__name__)} has no backward method: "
                        "pass backward=fn (fn(params, x, y) -> dict of gradients) or grads=")
    return (own if callable(own) else _no_backward), f"{getattr(model, 'name', 'model')}.backward"


def _no_backward(params: Any, x: Any, y: Any) -> Any:  # pragma: no cover - grads= was given; never called
    raise AssertionError("unreachable: grads were supplied")


def _check_against_model(model: Any, params: Mapping[str, np.ndarray]) -> None:
    """``params`` must have exactly the model's names and shapes (when the model declares them)."""
    shapes = getattr(model, "param_shapes", None)
    if not shapes:
        return
    missing = [k for k in shapes if k not in params]
    if missing:
        raise KeyMismatchError(f"params lacks {missing} (the model's parameters are {list(shapes)})")
    extra = [k for k in params if k not in shapes]
    if extra:
        raise KeyMismatchError(f"params has unexpected keys {extra} (the model's parameters are {list(shapes)})")
    for k, shape in shapes.items():
        if tuple(params[k].shape) != tuple(shape):
            raise GradcheckValueError(f"params[{k!r}] has shape {tuple(params[k].shape)}, expected {tuple(shape)} "
                             f"for model {getattr(model, 'name', type(model).__name__)!r}")


#: How far ``model.loss`` and ``model.forward`` may stray from the layers and head before the check says
#: so, in multiples of :func:`gradcheck.stencil.roundoff` (16 eps times the size of the numbers computed):
#: 2**10 of them, room for the same float64 arithmetic done in another order over thousands of terms
#: (a sum of n terms reordered moves by at most about n eps of their size), and still far below any term a
#: model adds on purpose (a weight decay of 1e-9 on unit weights, a factor 1 + 1e-10).
AGREEMENT_ROUNDOFFS = 2.0 ** 10


def _forward_problems(model: Any, ev: ModelEvaluator, loss: float, output: Any, x: np.ndarray,
                      y: np.ndarray) -> list[str]:
    """``model.loss`` and ``model.forward`` against the engine's pass through the layers and head.

    Either may differ from it by rounding (a model computing the same thing
    another way); beyond :data:`AGREEMENT_ROUNDOFFS` round-offs it is not
    the function the check differentiates, and is said so; a call that
    disagrees with itself is nondeterminism.
    """
    name = getattr(model, "name", "model")
    return _loss_problems(model, ev, loss, x, y, name) + _output_problems(output, ev, model, x, name)


def _loss_problems(model: Any, ev: ModelEvaluator, loss: float, x: np.ndarray, y: np.ndarray, name: str) -> list[str]:
    """The guarded call's loss against the engine's, bitwise, or else ``model.loss`` twice more."""
    if loss == ev.f0:
        return []
    again = [float(model.loss({k: v.copy() for k, v in ev.params.items()}, x.copy(), y.copy())) for _ in range(2)]
    if not again[0] == again[1] == loss:
        return [f"the forward pass is not deterministic: the loss was {loss!r} then {ev.f0!r} "
                "for the same input (dropout or noise without a fixed seed?)"]
    allowed = AGREEMENT_ROUNDOFFS * float(roundoff(loss, ev.f0, scale=ev.noise_scale))
    if abs(loss - ev.f0) <= allowed:
        return []
    return [f"{name}.loss gave {loss!r} but its layers and head give {ev.f0!r} at this point (difference "
            f"{abs(loss - ev.f0):.3g}, more than the {allowed:.3g} rounding allows): the check differentiates the "
            f"layers and head, so what {name}.loss adds or computes otherwise (a weight-decay term? another loss?) "
            "is not what the backward was checked against"]


def _output_problems(output: Any, ev: ModelEvaluator, model: Any, x: np.ndarray, name: str) -> list[str]:
    """``model.forward``'s output against the engine's through the layers (or ``model.present`` of it).

    Bitwise first: the usual case, one comparison.  Otherwise
    ``model.forward`` is called once more on fresh copies: it must agree
    with itself, and with the layers up to rounding.  An output that is not
    an array, or has another size, is not compared.
    """
    try:
        first = np.asarray(output, dtype=np.float64)
    except (TypeError, ValueError):
        return []  # not an array: nothing to compare
    layered = ev.output
    if first.shape == layered.shape and bool((first == layered).all()):  # np.array_equal's test, its shapes known equal
        return []
    present = getattr(model, "present", None)
    shown = np.asarray(present(layered.copy()), dtype=np.float64) if callable(present) else layered  # a copy: the engine's stays
    if shown.shape == first.shape and np.array_equal(first, shown):
        return []
    again = np.asarray(model.forward({k: v.copy() for k, v in ev.params.items()}, x.copy()), dtype=np.float64)
    if not (again.shape == first.shape and np.array_equal(again, first, equal_nan=True)):
        return [f"{name}.forward is not deterministic: its output differs between "
                "calls with the same input (dropout or noise without a fixed seed?)"]
    gaps = [_gap(first, ref) for ref in (layered, shown) if ref.size == first.size]
    if not gaps or any(worst <= allowed for worst, allowed in gaps):
        return []
    worst, allowed = min(gaps, key=lambda g: g[0] / g[1])
    return [f"{name}.forward's output differs from its layers' (largest difference {worst:.3g}, more than the "
            f"{allowed:.3g} rounding allows): the check differentiates the layers and head, not what {name}.forward "
            "computes otherwise"]


def _gap(out: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """The largest ``|out - ref|`` (inf where either is not finite) and what rounding allows:
    :data:`AGREEMENT_ROUNDOFFS` round-offs of ``ref``'s largest value."""
    ref = ref.reshape(out.shape)
    allowed = AGREEMENT_ROUNDOFFS * float(roundoff(0.0, scale=float(np.max(np.abs(ref), initial=0.0))))
    diff = np.abs(out - ref)
    return (float(np.max(diff, initial=0.0)) if np.isfinite(diff).all() else np.inf), allowed


def _full(ev: ModelEvaluator, analytic: dict[str, np.ndarray], tols: Mapping[str, Tolerance],
          workers: int | None, *, notes: tuple[str, ...] = ()) -> tuple[ParamCheck, ...]:
    """Two-stage full check: entries settled by ``+-h`` are not refined.  ``notes`` lead every check's notes
    (built in where a toy network's checks are built: :func:`_settled_in_floats`).

    A tiny model (:meth:`~gradcheck.engine.ModelEvaluator.tiny`, the
    notebooks' toy networks) whose parameters share a tolerance keeps its
    entries joined from the estimate to the summaries
    (:func:`gradcheck.engine.estimate_tiny`, :func:`_joined_checks`): the
    same numbers, verdicts and diagnoses, with every numpy call made once
    for all parameters instead of once per parameter.  Its first stacked
    pass tests the stacking itself (``verify``; the separate tests of
    :func:`gradcheck.recognise.stacking` only when that fails), and when the
    central differences settle every entry, their acceptance test's
    judgement is the verdict's (:func:`gradcheck.compare.judged_entries`);
    up to :data:`SETTLED_IN_FLOATS` entries that is all decided in Python
    floats (:func:`_settled_in_floats`, the same numbers).
    """
    n = int(ev.inputs[0].shape[0]) if ev.inputs and ev.inputs[0].ndim else None
    names = list(analytic)
    tol = tols[names[0]] if names else _DEFAULT_TOLERANCE
    whole = None
    if names and all(tols[k] is tol or tols[k] == tol for k in names) and ev.tiny_size(names):  # `is`: one object, usually
        flat = np.concatenate([analytic[k].reshape(-1) for k in names])
        # the test of _accepts, on the joined entries (elementwise: the same booleans)
        judged: list[tuple[np.ndarray, np.ndarray, Judgement]] = []

        def accept(d1: np.ndarray, err: np.ndarray) -> np.ndarray:
            judged.append((d1, err, judge(flat, d1, err, floor=tol.floor(d1), k=tol.k)))
            return judged[-1][2].passed

        # the stacking tested on the first pass itself; when it fails, by its own tests (engine.estimate_tiny)
        first = tiny_first_stage(ev, names, verify=True)
        settled = None if first is None or len(flat) > SETTLED_IN_FLOATS else _settled_in_floats(
            names, analytic, flat, first, ev, tol, notes)
        if settled is not None:
            return settled
        whole = None if first is None else estimate_tiny(ev, names, accept, first=first)
        if whole is None and ev.tiny(names):
            whole = estimate_tiny(ev, names, accept)
    if whole is not None:
        if not needs_refining(whole).any() and np.isfinite(whole.value).all():
            # every entry accepted by its central difference: then compare_entries would judge it so again
            d1, err, j = judged[-1]
            same = whole.value is d1 and whole.error is err
            checks = _joined_checks(names, analytic, flat, whole, tol, diagnose_passed=True, judged=j if same else None)
            failing = tuple(c for c in checks if not c.passed)
            if not failing:
                return _noted(checks, notes)
            # the passing ones already have what explain would give them
            bounds = ev.bounds(names)
            values = {k: whole.value[a:b].reshape(analytic[k].shape) for k, a, b in zip(names, bounds[:-1], bounds[1:])}
            wrong = split_estimate(ev, names, whole, only={c.name for c in failing})
            explained = iter(explain(failing, analytic, wrong, batch_size=n, values=values, loss=model_loss(ev)))
            return _noted(tuple(c if c.passed else next(explained) for c in checks), notes)
        numeric = refine_estimate(ev, split_estimate(ev, names, whole), workers)
    else:
        numeric = estimate_gradients(ev.model, ev.params, None, ev.y, evaluator=ev, workers=workers,
                                     accept=_accepts(analytic, tols))
    guards.require_finite({k: g.value for k, g in numeric.items()}, "numerical gradient")
    return _noted(explain(param_checks(analytic, numeric, tols), analytic, numeric, batch_size=n, loss=model_loss(ev)),
                  notes)


def assert_gradients_close(
    f: Callable[[dict[str, np.ndarray]], float],
    grads: Mapping[str, Any],
    params: Mapping[str, Any],
    **options: Any,
) -> CheckResult:
    """:func:`check_gradients`, raising ``AssertionError`` with the report when it fails.

    Examples
    --------
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> assert_gradients_close(lambda q: float(q["w"] @ q["w"]), {"w": np.array([2.0, 4.0])}, p).passed
    True
    >>> assert_gradients_close(lambda q: float(q["w"] @ q["w"]), {"w": np.array([2.0, -4.0])}, p)
    Traceback (most recent call last):
    ...
    AssertionError: Gradient check of f: FAILED (full mode, seed 0)
    ...
    """
    __tracebackhide__ = True
    result = check_gradients(f, grads, params, **options)
    if not result.passed:
        raise AssertionError(format_result(result, only_failures=True))
    return result


def assert_model_gradients(model: Any, params: Mapping[str, Any], x: Any, y: Any, **options: Any) -> CheckResult:
    """:func:`check_model`, raising ``AssertionError`` with the report when it fails."""
    __tracebackhide__ = True
    result = check_model(model, params, x, y, **options)
    if not result.passed:
        raise AssertionError(format_result(result, only_failures=True))
    return result
