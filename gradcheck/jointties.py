"""Joint moves of tied entries: what a bracket per entry cannot see at a tie.

Where entries of a tensor tie (a max-pool window whose maxima are equal),
each tied entry alone moves a kink: its one-sided quotients are
``[0, dout]``, and every value between them passes
(:func:`gradcheck.compare.judge`).  A backward that gives ``dout`` to
*every* tied maximum lies in each bracket, yet it is wrong: moving the tied
entries *together* moves the maximum by exactly the step, smoothly, and
that move sees ``k * dout`` against ``dout``.  Off the ties there is
nothing to see (the ties broken, the bug computes the right thing), so
this is checked at the point given (rt18 F1).

**The moves.**  Tied entries have equal values, so no knowledge of the
windows is needed: for each value shared by at least two entries that
passed by their brackets alone (at most :data:`MAX_TIED_VALUES`, the most
shared first), one line moves every entry of the tensor equal to it by the
same step (``max(|value|, 1)`` times it, a relative move like a probe's)
and nothing else.  Every tie among them then moves rigidly, and the line is
smooth for any kink that depends on the order of the entries only (a max,
a sort, a median): its derivative is ``sum_w dout_w`` over the windows
whose maximum has this value, for every convention that gives a window's
``dout`` to its first, its last, or spreads it over its tied maxima (they
all add up to ``dout_w``), while routing it to all ``k_w`` of them gives
``sum_w k_w dout_w``.  Each value gets its own line, so windows of different
values cannot cancel; within one value, a seeded random ``dout``
(check_layer's default) keeps the ``(k_w - 1) dout_w`` of several windows
from cancelling.  A ``dout`` given can cancel them (``+-1`` in a pattern):
then the bug is missed, as it was before.  Moving the tied values of whole
samples or channels instead (random weights per sample) would keep the
max-pool lines smooth too, but only for layers whose windows stay inside
one sample, which an opaque function does not say; equal values need no
such assumption.

**The verdict.**  A line is measured as a fast-mode probe is (the shrinking
steps of :func:`gradcheck.directional._judge_lines`, judged by
:func:`gradcheck.compare.judge`, the one rule, with the probe's tolerance
terms summed along the line).  Only a line the function is smooth along
says anything: a ReLU's tie at 0 is a kink along every move of its entries
(a leaky ReLU's bracket is ``[0.01, 1]`` per entry along the line too), and
such a line is left out.  A smooth line that agrees confirms its entries.
One that disagrees fails the tensor only when its derivative is the same
at :data:`AROUND` points moved off the ties (every entry of every tensor by
a seeded uniform ``+-TIE_NUDGE max(|p|, 1)``, :func:`gradcheck.check._tie_move`):
the loss is then smooth along the line around the point, not only at it,
and every element of its generalised gradient gives that value.  This
refuses the other way a line can look smooth: kinks that cancel along it
(two ReLU ties crossed in opposite directions with equal slopes, possible
with integer data), where a correct fixed ``relu'(0)`` differs from the
line's derivative; at the moved points those ties fall on either side and
the derivative changes.  A function curved along the line (a max-pool inside a
tanh) changes there as well and is not failed: the check is conservative.

**The cost.**  Nothing when no entry passed by its bracket alone (a point
off ties) or no two such entries share a value.  Otherwise a probe's
measurement per line (6 to 30 calls), and up to ``2 * AROUND`` more for a
line that disagrees (a correct backward's line disagrees only where kinks
cancel, and stops at the first moved point that shows it).

**What it cannot see.**  Ties at a kink of the function itself (a ReLU at
0, the leaky ReLU of rt21 F8, inputs within a step of 0): there every move
of the tied entries is kinked, and a slope between the one-sided ones
passes.  A passing tensor says so in a note with the number of its entries
that passed by a bracket alone (:func:`bracket_note`).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from gradcheck.compare import Tolerance, judge, judge_entries
from gradcheck.diagnose import Diagnosis
from gradcheck.directional import STEP, _measure
from gradcheck.estimate import NumericGradient
from gradcheck.numeric import FunctionPoint
from gradcheck.results import ParamCheck
from gradcheck.stencil import roundoff_error

__all__ = ["MAX_TIED_VALUES", "JointMove", "joint_tie_checks", "tied_values", "bracket_note"]

#: At most this many tied values per tensor get a line (those shared by the most bracket-judged entries first):
#: a saturated patch and the background of an integer image are two; eight bounds the cost (about 30 calls each).
MAX_TIED_VALUES = 8

#: At most this many entries of a failing line are listed as its failed indices (as :data:`gradcheck.check.MAX_INDICES`).
MAX_LISTED = 100

#: Points moved off the ties (each a fresh seeded draw) at which a line that disagrees must have the derivative it
#: has at the point before it fails the tensor.  Kinks that cancel along a line show there: relu(a) + min(b, 0) at
#: a = b = 0 is smooth along (1, 1), but at a moved point its derivative is 0, 1 or 2 by the signs of the move,
#: the point's 1 with probability 1/2; 16 moves leave 2**-16.  A line of a max-pool bug pays 32 calls for them.
AROUND = 16

Moved = Callable[[], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class JointMove:
    """One line: every entry of a tensor equal to ``value`` moved together.

    ``verdict``: ``"agrees"`` (smooth, the analytic directional derivative
    within its tolerance), ``"disagrees"`` (outside it, smooth at the point
    and with the same derivative at every moved point), ``"kink"`` (not
    smooth at the point: says nothing), or ``"unsettled"`` (disagrees, but
    the derivative changes at a moved point: says nothing).
    """

    value: float
    flat: np.ndarray  # the flat indices moved
    analytic: float
    numeric: float
    allowed: float
    verdict: str


def tied_values(p: np.ndarray, by_bracket: np.ndarray) -> list[float]:
    """Values that at least two entries of ``p`` accepted by their bracket alone share, the most shared first
    (at most :data:`MAX_TIED_VALUES`).

    >>> tied_values(np.array([2.0, 2.0, 1.0, 2.0, 1.0, 0.0]), np.array([1, 1, 1, 1, 1, 1], bool))
    [2.0, 1.0]
    >>> tied_values(np.array([2.0, 2.0, 1.0, 2.0, 1.0, 0.0]), np.array([1, 1, 1, 0, 1, 1], bool))  # as many: by value
    [1.0, 2.0]
    """
    values, counts = np.unique(np.asarray(p).reshape(-1)[np.asarray(by_bracket, bool).reshape(-1)], return_counts=True)
    shared = counts >= 2
    order = np.argsort(-counts[shared], kind="stable")[:MAX_TIED_VALUES]
    return [float(v) for v in values[shared][order]]


def joint_tie_checks(checks: tuple[ParamCheck, ...], numeric: Mapping[str, NumericGradient],
                     analytic: Mapping[str, np.ndarray], tols: Mapping[str, Tolerance], point: FunctionPoint,
                     moved: Moved) -> tuple[ParamCheck, ...]:
    """Every passing check with entries judged one by one: its tied entries moved together (module docstring).

    Parameters
    ----------
    checks, numeric, analytic, tols
        The checks at the point, the numerical gradients they were judged on
        (a tensor fast mode passed on probes has none and is left as is),
        the analytic gradients and the tolerances.
    point : FunctionPoint
        The function at the point (``f0`` and ``noise_scale`` set).
    moved : callable
        The move off the ties (one array per tensor of ``point.params``);
        called only for a line that disagrees.

    Returns
    -------
    tuple of ParamCheck
        A tensor with a line that disagrees fails, with a note and a
        ``wrong.ties`` diagnosis; a passing one with entries accepted by a
        bracket alone gets :func:`bracket_note`.
    """
    return tuple(_joint_check(c, numeric[c.name], analytic[c.name], tols[c.name], point, moved)
                 if c.passed and c.name in numeric and numeric[c.name].kink.any() else c for c in checks)


def _joint_check(c: ParamCheck, numeric: NumericGradient, analytic: np.ndarray, tol: Tolerance,
                 point: FunctionPoint, moved: Moved) -> ParamCheck:
    """:func:`joint_tie_checks` for one passing tensor."""
    by_bracket = np.asarray(judge_entries(analytic, numeric, tol).by_bracket, bool).reshape(-1)
    if not by_bracket.any():
        return c
    p = np.asarray(point.params[c.name]).reshape(-1)
    lines = [_joint_move(point, c.name, analytic, tol, value, moved) for value in tied_values(p, by_bracket)]
    wrong = [m for m in lines if m.verdict == "disagrees"]
    if wrong:
        return _failed(c, wrong, by_bracket)
    confirmed = np.zeros(by_bracket.size, bool)
    for m in lines:
        confirmed[m.flat] = m.verdict == "agrees"
    return bracket_note(c, int(np.count_nonzero(by_bracket & ~confirmed)), int(np.count_nonzero(by_bracket & confirmed)))


def _joint_move(point: FunctionPoint, name: str, analytic: np.ndarray, tol: Tolerance, value: float,
                moved: Moved) -> JointMove:
    """The line of every entry of ``name`` equal to ``value``, measured and judged (:class:`JointMove`)."""
    p = np.asarray(point.params[name]).reshape(-1)
    flat = np.flatnonzero(p == value)
    v = np.zeros(p.size)
    v[flat] = max(abs(value), 1.0)
    res = _measure(point, name, [(v, 0, v.size)], np.asarray(analytic, dtype=np.float64).reshape(-1), tol)
    smooth = not (res.kink[0] or res.tie[0]) and bool(np.isfinite(res.numeric[0]))
    verdict = "kink" if not smooth else "agrees" if res.ok[0] else \
        "disagrees" if _same_around(point, name, v, float(res.numeric[0]), float(res.error[0]), tol.k, moved) \
        else "unsettled"
    return JointMove(value=value, flat=flat, analytic=float(res.analytic[0]), numeric=float(res.numeric[0]),
                     allowed=float(res.allowed[0]), verdict=verdict)


def _same_around(point: FunctionPoint, name: str, v: np.ndarray, d0: float, error: float, k: float,
                 moved: Moved) -> bool:
    """Is the derivative along ``v`` at :data:`AROUND` moved points ``p + moved()`` the one at the point
    (``d0 +- error``)?  False at the first that differs.

    The central difference at step :data:`gradcheck.directional.STEP`, with its round-off bar, judged against
    ``d0`` by :func:`gradcheck.compare.judge` with both bars (no floor: two numerical values).
    """
    line = v.reshape(np.shape(point.params[name]))
    for _ in range(AROUND):
        base = dict(moved())
        f = [point.moved_value({**base, name: base[name] + s * STEP * line}) for s in (1.0, -1.0)]
        d = np.array([(f[0] - f[1]) / (2.0 * STEP)])
        bar = error + roundoff_error(point.f0, f[0], f[1], h=STEP, scale=point.noise_scale)
        if not (np.isfinite(d).all() and judge(d, np.array([d0]), bar, floor=0.0, k=k).passed.all()):
            return False
    return True


def _failed(c: ParamCheck, wrong: list[JointMove], by_bracket: np.ndarray) -> ParamCheck:
    """``c`` failed by the lines ``wrong``: their bracket-judged entries listed, a note per line, the diagnosis."""
    flat = np.unique(np.concatenate([m.flat for m in wrong]))
    flat = flat[by_bracket[flat]]
    shape = tuple(c.shape)
    indices = tuple(tuple(int(i) for i in np.unravel_index(j, shape)) for j in flat[:MAX_LISTED])
    notes = tuple(
        f"its {m.flat.size} entries equal to {m.value:g} ({int(np.count_nonzero(by_bracket[m.flat]))} of them tied, "
        f"each alone accepted by its kink's one-sided bracket) moved together: directional analytic {m.analytic:.8e}, numeric {m.numeric:.8e}, |diff| "
        f"{abs(m.analytic - m.numeric):.3e} > allowed {m.allowed:.3e} (directional-derivative units, each entry "
        f"moved by max(|{m.value:g}|, 1) times the step); the loss is smooth along this move at the point and "
        f"has the same derivative at {AROUND} points moved off the ties, so every correct way of sharing the gradient "
        "among tied entries gives the numeric value" for m in wrong)
    worst = max(wrong, key=lambda m: abs(m.analytic - m.numeric))
    ratio = worst.analytic / worst.numeric if worst.numeric else float("inf")
    diagnosis = Diagnosis.from_code("wrong", c.name, template="wrong.ties", n_tied=int(worst.flat.size),
                                    value=worst.value, analytic=worst.analytic, numeric=worst.numeric,
                                    ratio=ratio, n_wrong=int(flat.size), n_total=c.n_entries)
    return dataclasses.replace(c, passed=False, n_failed=int(flat.size), failed_indices=indices,
                               notes=c.notes + notes, diagnosis=diagnosis)


def bracket_note(c: ParamCheck, alone: int, confirmed: int = 0) -> ParamCheck:
    """``c`` (passing) with a note when ``alone`` of its entries passed by their kink's bracket alone, no joint move
    confirming them (``confirmed``: entries a joint move of tied entries did confirm).

    >>> c = ParamCheck(name="x", shape=(3,), mode="full", passed=True, n_entries=3, n_failed=0, n_kinks=2,
    ...                n_refined=2, max_abs_err=0.0, max_rel_err=0.0, worst=(), failed_indices=(), tolerance=Tolerance())
    >>> bracket_note(c, 2).notes[0][:60]
    '2 of its 3 entries passed only within the one-sided bracket '
    """
    if not alone:
        return c
    more = f"; {confirmed} more were confirmed by a joint move of the entries tied with them" if confirmed else ""
    return dataclasses.replace(c, notes=c.notes + (
        f"{alone} of its {c.n_entries} entries passed only within the one-sided bracket of a kink (a ReLU input "
        "exactly 0, a tie, or closer to one than the difference step): any value between the one-sided slopes passes there, so a wrong "
        "slope between them (0.1 for a leaky ReLU whose forward uses 0.01) cannot be told from the right one"
        f"{more}; check at a point off the kinks as well",))
