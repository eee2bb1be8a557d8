"""Fast mode: random probes per tensor, kink-aware, with bisection to find wrong entries.

**Probes.**  For a parameter tensor ``p`` with analytic gradient ``a`` the
check draws ``probes`` seeded random directions ``v`` (:func:`draw_directions`:
entry ``i`` is ``s_i w_i``, ``s_i = max(|p_i|, 1)`` so the move is relative,
``w_i`` a random sign times a magnitude drawn from 64 levels between 1/2
and 1, made from one random byte: about ten times cheaper than a Gaussian
draw) and compares the
analytic directional derivative ``a . v`` with the five-point central
difference of ``g(t) = f(p + t v)`` (:mod:`gradcheck.stencil`).  The
evaluator computes each line's losses from one forward pass from the
tensor's layer on (for a dense layer ``x @ (W + t V) = x @ W + t (x @ V)``:
see :meth:`gradcheck.engine.ModelEvaluator.lines`); no perturbed copy of a
dense tensor is built.  A dense layer's 2-D weight with every ``|p_i| <= 1``
(so ``s = 1``) gets rank-one probes ``V = outer(u, w)``, ``u`` and ``w``
drawn as above: then ``a . V = u . A w`` and ``x @ V = outer(x @ u, w)``,
``O(N (fan_in + fan_out))`` per probe instead of a matrix product, and an
entry's weight ``u_i w_j`` lies between 1/4 and 1.  Tensors of at most
:data:`SMALL` entries (biases) are checked entry by entry instead.

**The verdict of a probe** is the full mode's rule
(:func:`gradcheck.compare.judge`) with the tolerance terms carried along
the direction:
``|a.v - numeric| <= atol sum|v| + rtol sum|a v| + k error``, where
``error`` is the stencil's own error bar (truncation plus round-off).

**Kinks.**  A probe moves every entry at once, so ``g`` crosses a ReLU kink
wherever some pre-activation changes sign within ``2t`` of the point; at
batch 256 a step of ``t = eps**(1/3)`` crosses a dozen.  For a dense layer
followed by an activation with declared kinks (and nothing with kinks after
it) the evaluator knows the pre-activations ``z`` and their move ``D`` per
unit step, so the largest step that crosses none is ``min |z - c| / (2 |D|)``
(:meth:`gradcheck.engine.ModelEvaluator.lines`): a probe is measured once, at
:data:`SAFE_MARGIN` of it (at most ``eps**(1/3)``), and judged like a full-mode
entry.  A probe that fails there or still flags a kink, and every probe
where no such step is known, goes down the ladder below, except that an
opaque function's probe (``check_gradients``, whose kinks are unknown) is
first settled, when it can be, by its central differences at ``t`` and
``t / 16`` agreeing (:func:`_two_steps`: four calls, where the ladder's
first rung takes six), and goes down the ladder only when they disagree
or it fails there.  When the stencil
flags a kink (:func:`gradcheck.stencil.combine`) the probe is measured
again at a smaller step (:data:`STEPS`; the dense layer's move is reused,
so a retry costs the layers after it only): kinks at a distance ``d`` stay
out of a stencil of step ``t < d / 2``, and the smaller step's larger
round-off is in its error bar.  Only a probe still at a kink at the
smallest step (a pre-activation exactly at 0, a tie) is judged by its
one-sided bracket; when that fails and bisection finds no wrong entry,
the kinks of several samples were crossed in opposite directions: the
probe is left out (said in the notes).  A probe is taken to be at a tie
only where no kink-free step is known: with one, every kink is farther
than it, and a probe that failed there and settles at the ladder's smaller
steps is wrong, whatever kinks its larger steps crossed.  Neither a probe left out nor one
that passed by its bracket counts in the guarantee below: the bracket of
several samples' kinks can hold a wrong value (a ``b1`` off by 1e-3 in
every entry, at exact ReLU ties, passed 12 of 20 seeds so).  A tensor that
passes with fewer counted probes than asked for is checked entry by entry
instead, as a small tensor is (:func:`unbacked` owns the rule,
:func:`fast_check` applies it); a tensor whose probes sit off kinks costs
its probes only.  Nor does a probe count that failed the first stage at the
kink-free step (its central difference judged with its round-off bar) and
passed only later, by the five-point stencil's bar or down the ladder,
whose smaller steps have wider bars: the guarantee below is computed from
the first stage's bars, so a pass on a wider one would void it (a ``W2``
entry off by 30 to 1000 times its tolerance passed so).  A correct
gradient's probes pass that first stage (every one of 2,400 measured on
ReLU and tanh nets), so this costs nothing in the normal case.

**What fast mode can see** (:class:`gradcheck.results.FastGuarantee`).  A
single entry ``i`` off by ``e`` shows in a probe as ``v_i e`` with
``|v_i| = s_i |w_i|`` and ``|w_i|`` uniform on the 64 levels of
:data:`gradcheck.results.PROBE_LEVELS`.  The probe misses it when
``|v_i e|`` stays below its threshold ``c`` = its tolerance plus the
difference it measured (at most its tolerance again), over ``1 - rtol``
(the wrong entry adds ``rtol |v_i e|`` to the probe's tolerance), probability
``P(|w| <= c / (s_i |e|))``, independently per probe; as ``|w| > 1/2``
no probe misses an error above ``2 c / s_i``.  (A Gaussian weight would
let an entry escape a probe with probability ``0.8 c / (s_i |e|)`` for any
error; errors spread over many entries see a sum of many weights, close
to Gaussian, either way.)
An entry's full-mode tolerance ``tol_i`` is at least ``atol + k * 1.5 *
roundoff / h_i`` with ``h_i = eps**(1/3) s_i`` (:mod:`gradcheck.stencil`),
so ``s_i tol_i`` is at least ``unit = atol min(s) + k * 1.5 * roundoff /
eps**(1/3)``; the escape probability stated for an error ``R tol_i`` uses
that bound and holds for every entry.  The tolerance of a probe adds up
over the entries it moves (``rtol sum|a v|``), so for a big tensor a single
entry must be off by thousands of times its own tolerance to be seen: the
note says so and recommends full mode.  Errors spread over many entries
(a wrong row, a scaled gradient, a wrong mask) add up in ``a . v`` too and
are what fast mode is for.

**Localisation.**  When a probe fails, its direction is restricted to the
two halves of its range of entries, both tested, and failing halves split
again, down to single entries (each half measured as above, kinks
included).  At most ``max_localised`` entries are named, and the search
stops there; the report says when there are more.
"""
from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from gradcheck.compare import Tolerance, judge, relative_error
from gradcheck.numeric import EPS64, WIDEN_WHEN, gradient_reach
from gradcheck.recognise import StackRefused
from gradcheck.results import EntryReport, FastGuarantee, ParamCheck
from gradcheck.stencil import ROUNDOFF_GAIN, STENCIL, combine, roundoff, roundoff_error

__all__ = ["SMALL", "STEPS", "check_directional", "draw_directions", "entrywise_in_fast", "entrywise_note",
           "every_entry_in_fast", "fast_check", "miss_probability", "unbacked"]

#: Tensors with at most this many entries are checked entry by entry in fast mode.
SMALL = 64

#: The probe step ``t`` (the unit step of :func:`gradcheck.numeric.default_step`).
STEP = EPS64 ** (1.0 / 3.0)

#: Steps a probe is measured at, in order, while its stencil still straddles a
#: kink.  Each is 16x smaller: at mnist_relu's batch 256 about a dozen kinks lie
#: within the first step, one within the second, a tenth within the third.
#: The round-off term of the error bar grows as the step shrinks (4096x at
#: the last: about 3e-5 for mnist_relu's W1, still 1e-4 of its directional
#: derivatives).
STEPS = (STEP, STEP / 16.0, STEP / 256.0, STEP / 4096.0)

#: Fraction of the kink-free step (:meth:`gradcheck.engine.ModelEvaluator.lines`) a probe is measured at:
#: a margin for the rounding of ``z + o D`` and of the step itself, far below 20%.
SAFE_MARGIN = 0.8

#: The error size, in units of an entry's own full-mode tolerance, the note quotes.
RATIO = 10.0

Line = tuple[np.ndarray, int, int]


def entrywise_in_fast(size: int, probes: int) -> bool:
    """Does fast mode check a tensor of ``size`` entries entry by entry rather than by ``probes`` probes?

    Yes when it has at most :data:`SMALL` entries (what a probe guarantee
    would save is small there; a full check is exact), or at most
    ``probes`` entries: a probe costs at least two loss values (its central
    difference at the kink-free step; four on an opaque function, two steps' central differences),
    as many as an entry's central difference, so its probes would cost at
    least as much as its entries.  The one rule of fast mode's choice; the
    whole check follows it (:func:`every_entry_in_fast`).

    >>> entrywise_in_fast(64, 4), entrywise_in_fast(65, 4), entrywise_in_fast(100, 100)
    (True, False, True)
    """
    return size <= max(SMALL, probes)


def every_entry_in_fast(sizes: Iterable[int], probes: int) -> bool:
    """Does fast mode check every entry of tensors of ``sizes`` entries (:func:`entrywise_in_fast` for each)?

    Then fast mode runs the full check itself: the same verdict for every
    tensor, from one joined pass instead of one per tensor (the notebooks'
    toy networks: 2-4x cheaper than fast mode's tensor-by-tensor path),
    with :func:`entrywise_note` on each tensor.

    >>> every_entry_in_fast([6, 3, 3, 1], 4), every_entry_in_fast([78400, 1000], 4), every_entry_in_fast([], 4)
    (True, False, True)
    """
    return entrywise_in_fast(max(sizes, default=0), probes)  # the rule is a bound on the size: the largest decides


@functools.lru_cache(maxsize=64)
def entrywise_note(probes: int, *, whole: bool) -> str:
    """The note of a tensor fast mode checked entry by entry by :func:`entrywise_in_fast` (not for want of probes).

    ``whole``: every tensor was (:func:`every_entry_in_fast`), so the check
    was the full check itself.

    >>> entrywise_note(4, whole=True)
    'every entry checked, as in full mode: every tensor has at most 64 entries, so fast mode ran the full check, cheaper than probes here (no probe guarantee: none is needed)'
    >>> entrywise_note(4, whole=False)
    'every entry checked, as in full mode: fast mode checks a tensor of at most 64 entries entry by entry (no probe guarantee: none is needed)'
    """
    limit = f"at most {max(SMALL, probes)} entries"
    how = (f"every tensor has {limit}, so fast mode ran the full check, cheaper than probes here" if whole
           else f"fast mode checks a tensor of {limit} entry by entry")
    return f"every entry checked, as in full mode: {how} (no probe guarantee: none is needed)"


def miss_probability(ratio: float, probes: int) -> float:
    """Chance that ``probes`` Gaussian probes all miss an error ``ratio`` times *the probes'* tolerance.

    The tolerance of a probe, not of an entry.  Fast mode's weights are not
    Gaussian, but an error spread over many entries meets a sum of many of
    them, close to Gaussian; for what fast mode can see of one wrong entry
    see :class:`gradcheck.results.FastGuarantee`.

    >>> f"{miss_probability(10.0, 4):.1e}"
    '4.1e-05'
    """
    return float(min(1.0, np.sqrt(2.0 / np.pi) / ratio) ** probes)


def draw_directions(rng: np.random.Generator, probes: int, scale: np.ndarray) -> np.ndarray:
    """``probes`` random directions ``(probes, scale.size)``: entry ``i`` is ``scale[i]`` times a random sign times a
    magnitude drawn uniformly from :data:`gradcheck.results.PROBE_LEVELS`.

    One random byte per entry: bit 7 is the sign, bits 0-5 the level, and bit
    6 is set to the opposite of bit 7, so that the byte read as ``int8`` is
    ``64 + k`` or ``-128 + k`` (``k`` in 0..63); plus 1/2 that is ``+-(64.5 +
    k)``, divided by 128 a level.  Ten times faster than Gaussian numbers.

    >>> v = draw_directions(np.random.default_rng(0), 3, np.array([1.0, 1.0, 2.0, 1.0]))
    >>> v.shape, bool(np.all((np.abs(v[:, [0, 1, 3]]) > 0.5) & (np.abs(v[:, [0, 1, 3]]) < 1)))
    ((3, 4), True)
    >>> from gradcheck.results import PROBE_LEVELS
    >>> bool(np.all(np.isin(np.abs(v[:, 2]) / 2, PROBE_LEVELS)))
    True
    """
    flat = np.asarray(scale, dtype=np.float64).reshape(-1)
    w = _unit_directions(rng, probes, flat.size)
    if not np.all(flat == 1.0):
        w *= flat[None]  # exactly (level * 128) * (scale / 128), as the two powers of two cancel without rounding
    return w


def _unit_directions(rng: np.random.Generator, probes: int, n: int) -> np.ndarray:
    """:func:`draw_directions` with every scale 1, from the same bytes (the rank-one probes' ``u`` and ``w``)."""
    u = np.frombuffer(rng.bytes(probes * n), dtype=np.uint8).reshape(probes, n)
    w = ((u & 0xBF) | ((~u >> 1) & 0x40)).view(np.int8).astype(np.float64)
    w += 0.5
    w *= 1.0 / 128.0
    return w


@dataclass(frozen=True)
class _Measured:
    """Per line: the verdict and what it was made of (directional-derivative units).

    ``kink``: judged by its one-sided bracket ``lower, upper`` (and passed
    there, or never settled off a kink).  ``tie``: failed by its settled
    value and by the bracket of a larger step that showed a kink, where no
    kink-free step is known: maybe at a tie, maybe wrong (bisection decides).
    ``overruled``: failed the first stage at the kink-free step (its
    central difference within its round-off), or an opaque function's
    first stage (:func:`_two_steps`), and passed only later, by the
    five-point stencil's error bar or down the ladder, whose smaller steps
    have wider ones: its pass does not count (:func:`unbacked`).
    """

    ok: np.ndarray
    overruled: np.ndarray
    kink: np.ndarray
    tie: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    analytic: np.ndarray
    numeric: np.ndarray
    error: np.ndarray
    allowed: np.ndarray
    diff: np.ndarray


def _stencil(ev: Any, f: np.ndarray, t: float) -> dict[str, np.ndarray]:
    """:func:`gradcheck.stencil.combine` of losses ``f`` (``(4, L)``) at step ``t``, with the round-off term."""
    parts = combine(ev.f0, f[0], f[1], f[2], f[3], np.full(f.shape[1], t), scale=ev.noise_scale)
    parts["noise"] = roundoff_error(ev.f0, f[0], f[1], h=t, scale=ev.noise_scale)
    return parts


def _line_losses(ev: Any, name: str, lines: Sequence[Line]) -> Callable[..., np.ndarray]:
    """``ev.lines(name, lines)``, or for an evaluator with ``losses_along`` only (an opaque function), the same
    built from whole perturbed tensors, one at a time (:class:`_OpaqueLines`)."""
    if hasattr(ev, "lines"):
        return ev.lines(name, lines)
    return _OpaqueLines(ev, name, lines)


class _OpaqueLines:
    """The losses along ``lines`` of an opaque function's tensor ``name``: one call of ``f`` per line and offset,
    each remembered, so that the ladder reuses the values :func:`_two_steps` took (``+-t`` and ``+-t / 16``).

    Its lines are settled first by :func:`_two_steps` (four calls per line),
    then, where that does not settle them, by :func:`_ladder`.
    """

    opaque = True

    def __init__(self, ev: Any, name: str, lines: Sequence[Line]) -> None:
        self.ev, self.name, self.lines = ev, name, lines
        self.shape = (1,) + np.shape(ev.params[name])
        self.known: dict[tuple[int, float], float] = {}

    def __call__(self, offsets: np.ndarray, which: Sequence[int] | None = None) -> np.ndarray:
        picked = range(len(self.lines)) if which is None else which
        out = np.empty((len(offsets), len(picked)))
        for j, line in enumerate(picked):
            for i, o in enumerate(offsets):
                out[i, j] = self._loss(int(line), float(o))
        return out

    def _loss(self, line: int, o: float) -> float:
        if (line, o) not in self.known:
            v, s, e = self.lines[line]
            self.known[line, o] = float(self.ev.losses_along(self.name, _moved(v, s, e, o).reshape(self.shape))[0])
        return self.known[line, o]


def _moved(v: np.ndarray, s: int, e: int, o: float) -> np.ndarray:
    """``o * v`` on entries ``s:e``, 0 elsewhere (one pass when the line covers every entry)."""
    if s == 0 and e == v.size:
        return o * v
    d = np.zeros(v.size)
    np.multiply(v[s:e], o, out=d[s:e])
    return d


def _measure(ev: Any, name: str, lines: Sequence[Line], a: np.ndarray, tol: Tolerance, *,
             confirm: np.ndarray | None = None) -> _Measured:
    """Measure and judge every line (:func:`_judge_lines`; ``confirm`` as there)."""
    losses = _line_losses(ev, name, lines)
    a_dir = np.array([a[s:e] @ v[s:e] for v, s, e in lines])
    abs_a = np.abs(a)
    floor = np.array([(tol.atol * np.sum(np.abs(v[s:e])) if tol.atol else 0.0) + tol.rtol * (abs_a[s:e] @ np.abs(v[s:e]))
                      for v, s, e in lines])
    return _judge_lines(ev, losses, a_dir, floor, tol, confirm=confirm)


def _judge_lines(ev: Any, losses: Callable[..., np.ndarray], a_dir: np.ndarray, floor: np.ndarray,
                 tol: Tolerance, *, confirm: np.ndarray | None = None) -> _Measured:
    """Measure and judge every line: at a step that crosses no kink when the evaluator knows one, else (and for
    the lines that fail or flag a kink there) shrinking steps until two consecutive ones agree (:func:`_ladder`).

    ``a_dir`` are the analytic directional derivatives and ``floor`` the
    tolerance terms carried along the lines (``atol sum|v| + rtol sum|a v|``).
    Only lines where ``confirm`` is true (default all) go down the ladder
    after failing at the kink-free step: bisection passes False for halves
    of more than one entry, whose failure only says where to look next.
    """
    n = a_dir.size
    m = {key: np.zeros(n) for key in ("value", "error", "noise", "lower", "upper")}
    m["kink"] = np.zeros(n, bool)
    seen: dict[str, np.ndarray] = {key: np.zeros(n) for key in ("seen_lower", "seen_upper", "seen_noise")}
    seen["seen"] = np.zeros(n, bool)
    todo = np.arange(n)
    safe = getattr(losses, "safe_step", None)
    kink_free = safe is not None and SAFE_MARGIN * safe >= STEPS[-1]
    retried = np.zeros(n, bool)
    if getattr(losses, "opaque", False):
        todo, failed_first = _two_steps(ev, losses, a_dir, floor, tol, m)
        retried[failed_first] = True
        if confirm is not None:
            failed_first = failed_first[np.asarray(confirm, bool)[failed_first]]
        todo = np.union1d(todo, failed_first)
    elif safe is not None and kink_free:
        failed_first, todo = _kink_free(ev, losses, min(STEP, SAFE_MARGIN * safe), a_dir, floor, tol, m)
        retried[failed_first] = True
        if confirm is not None:
            todo = todo[np.asarray(confirm, bool)[todo]]
    if todo.size:
        _ladder(ev, losses, todo, tol, {**m, **seen})
    # the one rule (gradcheck.compare.judge) with this probe's own tolerance terms; the bracket's error bar is
    # twice the round-off term, as for a kink entry in full mode
    verdict = judge(a_dir, m["value"], m["error"], floor=floor, k=tol.k, lower=m["lower"], upper=m["upper"],
                    kink=m["kink"], bracket_error=2.0 * m["noise"])
    ok, kink = np.asarray(verdict.passed, bool), np.asarray(m["kink"], bool)
    # A line at an exact tie shows its kink at the larger steps only: at the smallest ones the jump is
    # below the round-off the kink test allows for, and two of them agree on the central difference,
    # the mean of the two one-sided slopes, not the point's derivative.  Such a line also passes when
    # its analytic value lies in the bracket of the smallest step that showed the kink (the red team's
    # b1 = 0 with all-zero samples: 16 of 50 correct checks failed without this).
    # Where a kink-free step is known no line is at a tie (every kink is farther than that step): a line that
    # failed there and settled at the ladder's smaller steps is wrong, not at a tie, whatever its larger steps
    # crossed (marking it so hid failing probes from the summary and counted them as kinks).
    at_tie = None if kink_free else np.asarray(seen["seen"], bool) & ~ok & ~kink
    tie = np.zeros(n, bool)
    lower, upper = m["lower"], m["upper"]
    if at_tie is not None and at_tie.any():
        by_bracket = judge(a_dir, m["value"], m["error"], floor=floor, k=tol.k, lower=seen["seen_lower"],
                           upper=seen["seen_upper"], kink=at_tie, bracket_error=2.0 * seen["seen_noise"]).passed
        ok = ok | (at_tie & by_bracket)
        kink = kink | (at_tie & by_bracket)
        tie = at_tie & ~by_bracket  # failed both: a failing one whose bisection finds no entry is left out
        lower, upper = np.where(at_tie, seen["seen_lower"], lower), np.where(at_tie, seen["seen_upper"], upper)
    # A line that failed the first stage at the kink-free step and passes later passed by a wider error bar (the
    # five-point stencil's, the round-off of a smaller step, or the gap to a step that crossed kinks) than the
    # one its threshold in the guarantee assumes: its pass does not count (a W2 entry off by 40x its tolerance
    # passed so while the correct run's note said 33x was caught with probability 0.99, red team 14)
    overruled = retried & ok & ~kink
    return _Measured(ok=ok, overruled=overruled, kink=kink, tie=tie, lower=lower, upper=upper, analytic=a_dir,
                     numeric=m["value"],
                     error=m["error"], allowed=np.asarray(verdict.allowed, dtype=np.float64),
                     diff=np.abs(a_dir - m["value"]))


def _two_steps(ev: Any, losses: Callable[..., np.ndarray], a_dir: np.ndarray, floor: np.ndarray, tol: Tolerance,
               m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """An opaque function's first stage: settle the lines whose central differences at the ladder's first two
    steps agree (four calls per line), fill ``m`` for them; return the lines not settled and the settled ones that
    fail there (both for :func:`_ladder`).

    The central difference ``d(t)`` at ``t = STEPS[0]`` is taken within its
    round-off error ``r(t)`` plus its gap to ``d(t / 16)``, whose truncation
    error is 256 times smaller: the gap estimates ``d(t)``'s truncation
    error, and a kink crossed at ``t`` and not at ``t / 16`` moves it too.
    A line is settled when the gap is within ``k (r(t) + r(t / 16))``, as
    :func:`_agree_at` settles a ladder's step, without the five-point
    stencil at ``t`` (two calls less); which lines settle depends on the
    losses only.  A tie at the point (a kink exactly there) moves both
    steps alike and is not seen here, so a settled line that fails goes
    down the ladder before anything is concluded, as a model's line that
    fails at its kink-free step does: if it passes there, it passed on a
    wider error bar than the guarantee's (or at a kink) and does not count
    (:func:`unbacked`).
    """
    t, s = STEPS[0], STEPS[1]
    f = losses(np.array([t, -t, s, -s]))
    d_t, d_s = (f[0] - f[1]) / (2.0 * t), (f[2] - f[3]) / (2.0 * s)
    r_t = roundoff_error(ev.f0, f[0], f[1], h=t, scale=ev.noise_scale)
    r_s = roundoff_error(ev.f0, f[2], f[3], h=s, scale=ev.noise_scale)
    gap = np.abs(d_t - d_s)
    done = gap <= tol.k * (r_t + r_s)
    for key, val in (("value", d_t), ("error", r_t + gap), ("noise", r_t), ("lower", d_t), ("upper", d_t)):
        m[key][done] = val[done]
    failed = done & ~judge(a_dir, d_t, r_t + gap, floor=floor, k=tol.k).passed
    return np.flatnonzero(~done), np.flatnonzero(failed)


def _kink_free(ev: Any, losses: Callable[..., np.ndarray], t: float, a_dir: np.ndarray, floor: np.ndarray,
               tol: Tolerance, m: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Judge the lines at a step ``t`` whose stencil crosses no declared kink, as full mode judges an entry;
    fill ``m`` and return the lines that failed the first stage (whatever the second said) and those that
    still fail or flag a kink (for :func:`_ladder`).

    Two stages, as the full check's (:func:`gradcheck.engine.estimate_gradients`
    with ``accept``): a line whose central difference at ``+-t`` passes the
    smooth rule within its round-off error is settled by two evaluations;
    the others get ``+-2t`` too and the five-point verdict.  A line that
    still fails or flags a kink (an undeclared one) is returned: the ladder
    measures it again before anything is concluded.
    """
    near = losses(np.array([t, -t]))  # every line
    d1 = (near[0] - near[1]) / (2.0 * t)
    noise = roundoff_error(ev.f0, near[0], near[1], h=t, scale=ev.noise_scale)
    first = judge(a_dir, d1, noise, floor=floor, k=tol.k).passed
    if first.all():  # the usual case, a correct gradient: every line settled, without masks
        for key, val in (("value", d1), ("error", noise), ("noise", noise), ("lower", d1), ("upper", d1)):
            m[key][:] = val
        return np.flatnonzero(~first), np.flatnonzero(~first)
    m["value"][first], m["error"][first], m["noise"][first] = d1[first], noise[first], noise[first]
    m["lower"][first], m["upper"][first] = d1[first], d1[first]
    todo = np.flatnonzero(~first)
    far = losses(np.array([2.0 * t, -2.0 * t]), todo)
    parts = _stencil(ev, np.concatenate([near[:, todo], far]), t)
    good = ~parts["kink"] & judge(a_dir[todo], parts["value"], parts["error"], floor=floor[todo], k=tol.k).passed
    for key in m:  # every line, so that one the ladder does not measure again is judged on these
        m[key][todo] = parts[key]
    return todo, todo[~good]


def _ladder(ev: Any, losses: Callable[..., np.ndarray], todo: np.ndarray, tol: Tolerance,
            m: dict[str, np.ndarray]) -> None:
    """Fill ``m`` for lines ``todo``: steps shrink (:data:`STEPS`) until two consecutive ones agree without a kink.

    A line's value is accepted at step ``STEPS[j]`` when its stencil there
    flags no kink and the central difference at ``STEPS[j + 1]`` agrees with
    it within ``k`` times their error bars (:func:`_agree_at`, two values of
    the next step; its error bar is then widened by their difference: a kink
    between the two steps, too small to flag, moves the larger step's value
    by at most that much), or else when neither stencil flags a kink and
    their values agree so.  A line that never settles is judged at the
    smallest step that flags a kink, by its one-sided bracket, or else at the
    smallest step with the widened error bar.  Which lines settle where
    depends on the loss values only, never on the analytic gradient.
    """
    value, error, noise, lower, upper, kink = (m[key] for key in ("value", "error", "noise", "lower", "upper", "kink"))
    seen = m["seen"]
    settled = np.zeros(kink.size, bool)
    prev: dict[str, np.ndarray] | None = None
    for t in STEPS:
        near = np.full((2, todo.size), np.nan)
        if prev is not None:
            todo, near, prev = _agree_at(ev, losses, t, todo, prev, tol, m, settled)
            if todo.size == 0:
                break
        parts = _stencil(ev, _stencil_values(losses, t, todo, near), t)
        if prev is not None:
            gap = np.abs(prev["value"] - parts["value"])
            clean = ~prev["kink"] & ~parts["kink"] & (gap <= tol.k * (prev["error"] + parts["error"]))
            done = todo[clean]
            value[done], error[done] = prev["value"][clean], prev["error"][clean] + gap[clean]
            kink[done] = False
            settled[done] = True
            # not settled: the latest step, with the difference in its error bar unless it is at a kink
            rest = ~clean
            last = todo[rest]
            kinked = parts["kink"][rest]
            keep = ~kink[last] | kinked  # a kink seen at a larger step stays the verdict's basis until a smaller one shows it
            upd = last[keep]
            value[upd] = parts["value"][rest][keep]
            error[upd] = parts["error"][rest][keep] + np.where(kinked[keep], 0.0, gap[rest][keep])
            lower[upd], upper[upd] = parts["lower"][rest][keep], parts["upper"][rest][keep]
            noise[upd] = parts["noise"][rest][keep]
            kink[upd] = kinked[keep]
            at = last[kinked]  # the bracket of the smallest step that still shows the kink, kept apart
            m["seen_lower"][at], m["seen_upper"][at] = parts["lower"][rest][kinked], parts["upper"][rest][kinked]
            m["seen_noise"][at] = parts["noise"][rest][kinked]
            seen[at] = True
            parts = {key: val[rest] for key, val in parts.items()}
            todo = last
        else:
            value[todo], error[todo], noise[todo] = parts["value"], parts["error"], parts["noise"]
            lower[todo], upper[todo], kink[todo] = parts["lower"], parts["upper"], parts["kink"]
            at = todo[parts["kink"]]
            m["seen_lower"][at], m["seen_upper"][at] = parts["lower"][parts["kink"]], parts["upper"][parts["kink"]]
            m["seen_noise"][at] = parts["noise"][parts["kink"]]
            seen[at] = True
        prev = parts
        if todo.size == 0:
            break
    kink &= ~settled


def _agree_at(ev: Any, losses: Callable[..., np.ndarray], t: float, todo: np.ndarray, prev: dict[str, np.ndarray],
              tol: Tolerance, m: dict[str, np.ndarray],
              settled: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Settle at the larger step the lines of ``todo`` whose stencil there (``prev``) flags no kink and whose central
    difference at ``t`` agrees with its value (:func:`_ladder`); returns the others, their values at ``+-t``
    (NaN where not measured) and their ``prev``.

    The central difference at the smaller step has a 256th of the larger
    one's truncation error and its own round-off bar; a kink that moves the
    larger step's value, and not the smaller's, shows as their gap.  Two
    values per line instead of a stencil's four where they agree.
    """
    near = np.full((2, todo.size), np.nan)
    idx = np.flatnonzero(~prev["kink"])
    if idx.size == 0:
        return todo, near, prev
    near[:, idx] = losses(np.array([t, -t]), todo[idx])
    d1 = (near[0, idx] - near[1, idx]) / (2.0 * t)
    bar = roundoff_error(ev.f0, near[0, idx], near[1, idx], h=t, scale=ev.noise_scale)
    gap = np.abs(prev["value"][idx] - d1)
    agree = gap <= tol.k * (prev["error"][idx] + bar)
    done = todo[idx[agree]]
    m["value"][done], m["error"][done] = prev["value"][idx[agree]], prev["error"][idx[agree]] + gap[agree]
    m["kink"][done] = False
    settled[done] = True
    rest = np.ones(todo.size, bool)
    rest[idx[agree]] = False
    return todo[rest], near[:, rest], {key: val[rest] for key, val in prev.items()}


def _stencil_values(losses: Callable[..., np.ndarray], t: float, todo: np.ndarray, near: np.ndarray) -> np.ndarray:
    """The lines' losses at ``STENCIL * t`` (``(4, L)``), the ``+-t`` ones taken from ``near`` where measured."""
    f = np.empty((len(STENCIL), todo.size))
    f[:2] = near
    missing = np.isnan(near[0])
    if missing.any():
        f[:2, missing] = losses(np.array([t, -t]), todo[missing])
    f[2:] = losses(np.array([2.0 * t, -2.0 * t]), todo)
    return f


def _localise(ev: Any, name: str, a: np.ndarray, v: np.ndarray, shape: tuple[int, ...], tol: Tolerance,
              max_localised: int) -> tuple[list[EntryReport], bool]:
    """Bisect the range of probe ``v`` down to the single entries that fail, at most ``max_localised``."""
    front = [(0, v.size)]
    found: list[EntryReport] = []
    more = False
    while front and len(found) < max_localised:
        halves = [h for s, e in front for h in (((s, e),) if e - s == 1 else ((s, (s + e) // 2), ((s + e) // 2, e)))]
        # a half of several entries that fails at the kink-free step is searched without the ladder's
        # confirmation; a single entry gets it before it is named
        res = _measure(ev, name, [(v, s, e) for s, e in halves], a, tol,
                       confirm=np.array([e - s == 1 for s, e in halves]))
        front = []
        for j, (s, e) in enumerate(halves):
            if res.ok[j]:
                continue
            if e - s > 1:
                front.append((s, e))
                continue
            found.append(_entry(res, j, v[s], tuple(int(i) for i in np.unravel_index(s, shape)), float(a[s])))
        room = max_localised - len(found)
        more = more or len(front) > room
        front = front[:max(0, room)]
    more = more or bool(front) or len(found) > max_localised
    return found[:max_localised], more


def _entry(res: _Measured, j: int, vs: float, index: tuple[int, ...], analytic: float) -> EntryReport:
    """Line ``j`` of ``res``, along entry ``index`` alone with weight ``vs``, in entry units (its bracket too,
    ordered, when it was judged at a kink)."""
    vi = abs(vs)
    kink = bool(res.kink[j] or res.tie[j])
    ends = sorted((float(res.lower[j] / vs), float(res.upper[j] / vs))) if kink else [None, None]
    return EntryReport(
        index=index, analytic=analytic, numeric=float(res.numeric[j] / vs), error_estimate=float(res.error[j] / vi),
        allowed=float(res.allowed[j] / vi), abs_err=float(res.diff[j] / vi),
        rel_err=float(relative_error(np.array(res.analytic[j]), np.array(res.numeric[j]))),
        kink=kink, lower=ends[0], upper=ends[1],
    )


def _rank_one(ev: Any, name: str, a: np.ndarray, tol: Tolerance, rng: np.random.Generator,
              probes: int) -> tuple[_Measured, np.ndarray, np.ndarray] | None:
    """Probes ``outer(u, w)`` of a dense weight with every ``|p| <= 1`` (so ``s = 1``), or None where not possible.

    ``u`` and ``w`` are drawn as :func:`draw_directions` draws a direction;
    the analytic derivative is ``u . A w`` and the move of the layer's
    output ``outer(x u, w)`` (:meth:`gradcheck.engine.ModelEvaluator.rank_one_lines`):
    no dense direction, no matrix product per probe.  None also when the
    lines' first pass finds that the model does not take stacks
    (:class:`gradcheck.recognise.StackRefused`): the caller then draws dense
    probes, as it does for a model known to be looped.
    """
    p = np.asarray(ev.params[name])
    # np.maximum.reduce, not p.max(): the method's Python wrapper was a fifth of its cost at 784x100
    if p.ndim != 2 or not hasattr(ev, "rank_one_lines") or p.size == 0 \
            or np.maximum.reduce(p, axis=None) > 1.0 or np.minimum.reduce(p, axis=None) < -1.0:
        return None
    left = _unit_directions(rng, probes, p.shape[0])
    right = _unit_directions(rng, probes, p.shape[1])
    losses = ev.rank_one_lines(name, left, right)
    if losses is None:
        return None
    A = a.reshape(p.shape)
    # A @ right.T, not left @ A: both 0.2 ms on a quiet 2-core machine, but with the other core busy OpenBLAS's
    # two-thread (4, 784) @ (784, 1000) took a median 20 ms (A @ right.T stayed at 0.2 ms).  right.T made
    # contiguous first: numpy's product with the transposed view took 38 us at 784x100, with the copy 15 us
    right_t = np.ascontiguousarray(right.T)
    a_dir = np.einsum("ip,pi->p", A @ right_t, left)
    abs_l, abs_r = np.abs(left), np.abs(right)
    floor = tol.rtol * np.einsum("ip,pi->p", np.abs(A) @ np.abs(right_t), abs_l)
    if tol.atol:
        floor += tol.atol * abs_l.sum(axis=1) * abs_r.sum(axis=1)
    try:
        return _judge_lines(ev, losses, a_dir, floor, tol), left, right
    except StackRefused:  # the first pass found a layer or the head that takes no stacks, and the model looped
        return None


def _guarantee(ev: Any, p: np.ndarray, tol: Tolerance, res: _Measured, counted: np.ndarray, *,
               rank_one: bool = False) -> FastGuarantee:
    """Per-entry reach of the probes that counted (see the module docstring)."""
    # atol (this was atol times np.min(np.maximum(|p|, 1), initial=1.0), which is 1 for every p: two
    # passes over a 784x1000 weight for nothing) plus k times the error bar of a unit step's loss difference
    unit = tol.atol + tol.k * ROUNDOFF_GAIN * float(roundoff(ev.f0, scale=ev.noise_scale)) / STEP
    # a probe misses an extra error x when |x + r| <= allowed, r the difference the rest leaves; a passing
    # probe measured |r| <= allowed, and for one that failed only |r| <= allowed is assumed (what passing means)
    # and the error's own share of the probe's rtol term: rtol |a v| grows by at most rtol |v_i e|, so the probe
    # misses it while |v_i e| <= c + rtol |v_i e|, i.e. up to c / (1 - rtol) (none of it at rtol >= 1).  Without
    # it the stated size sat on a step of the weights' law: at exactly that size one more weight level escaped in
    # 12% of draws (a 0.99 claim measured as 0.9897 in the worst draw; at rtol 0.5 every planted entry escaped)
    reach = 1.0 / (1.0 - tol.rtol) if tol.rtol < 1.0 else math.inf
    thresholds = tuple(float(c) * reach for c in (res.allowed + np.minimum(res.diff, res.allowed))[counted])
    return FastGuarantee(thresholds=thresholds, unit=unit, n_entries=int(p.size), rank_one=rank_one)


def _guarantee_note(g: FastGuarantee, probes: int) -> str:
    """The per-entry statement, in entry units (multiples of an entry's own full-mode tolerance).

    Said in words where a number would mislead: no chance is printed as "at
    most 1" (the probes promise nothing then) and no error size as an
    infinite or missing multiple (no counted probe, or one without a finite
    threshold: then there is no per-entry statement at all).
    """
    n = len(g.thresholds)
    if n == 0 or not all(map(math.isfinite, g.thresholds)):
        why = f"none of the {probes} probes counted" if n == 0 else "a counted probe has no finite threshold"
        return f"per entry: no guarantee ({why}): use mode='full' to check every entry"
    p = g.escape_probability(RATIO)
    size = f"to be caught with probability 0.99 an entry must be off by {g.ratio_for(0.01):.3g}x its tolerance"
    shown = next((t for t in (f"{p:.{d}g}" for d in range(2, 7)) if float(t) < 1.0), "1")  # 0.996 is not "1"
    if shown == "1":
        text = (f"per entry: the {n} counted probes promise nothing for one entry off by {RATIO:g}x its own full-mode "
                f"tolerance (each may miss it); {size}")
    else:
        text = (f"per entry: one entry off by {RATIO:g}x its own full-mode tolerance escapes all {n} counted probes "
                f"with probability {'0' if p == 0 else f'at most {shown}'}; {size}")
    if p > 0.5:
        text += (f". Fast mode cannot see a single wrong entry of that size among {g.n_entries:,} entries: "
                 "use mode='full' to check every entry")
    return text


def unbacked(check: ParamCheck, probes: int) -> str | None:
    """Why fast mode's probes of a tensor cannot back its OK (the note then), or None when they can.

    The rule: a tensor that passed on probes stands on them only when all
    ``probes`` of them count, that is were judged off kinks by the smooth
    rule (a probe judged by its one-sided bracket at a tie, or left out
    there, counts for nothing: the bracket of several samples' kinks can
    hold a wrong value, as a ``b1`` off by 1e-3 in every entry at exact
    ReLU ties showed), and every counted probe has a finite threshold.
    Otherwise the tensor is checked entry by entry (:func:`fast_check`).
    A failing tensor keeps its verdict: a failing probe that counted, or
    an entry bisection confirmed, is evidence enough for it.

    >>> from gradcheck.compare import Tolerance
    >>> c = ParamCheck(name="b", shape=(100,), mode="fast", passed=True, n_entries=4, n_failed=0, n_kinks=3,
    ...                n_refined=4, max_abs_err=0.0, max_rel_err=0.0, worst=(), failed_indices=(),
    ...                tolerance=Tolerance(), guarantee=FastGuarantee(thresholds=(1.0,), unit=1.0, n_entries=100))
    >>> unbacked(c, 4)
    "3 of fast mode's 4 probes not counted (3 judged at a kink): checked entry by entry"
    """
    g = check.guarantee
    if not check.passed or g is None:
        return None
    missing = probes - len(g.thresholds)
    if missing > 0:
        kinks = min(check.n_kinks, missing)
        why = [f"{kinks} judged at a kink"] if kinks else []
        if missing > kinks:
            why.append(f"{missing - kinks} failed at the kink-free step and passed only at smaller steps, "
                       "with wider error bars")
        return f"{missing} of fast mode's {probes} probes not counted ({'; '.join(why)}): checked entry by entry"
    if not all(map(math.isfinite, g.thresholds)):
        return "fast mode's probes have no finite threshold: checked entry by entry"
    return None


def unresolved_probes(check: ParamCheck, analytic: np.ndarray, point: np.ndarray, ulp: float = 0.0) -> str | None:
    """Why fast mode's probes of a passing tensor saw nothing (the note then), or None.

    Every probe direction ``v`` has entries ``|v_i| <= max(|p_i|, 1)``
    (:func:`draw_directions`; rank-one probes only where ``|p| <= 1``, with
    weights at most 1), so no directional derivative of the analytic gradient
    exceeds ``reach = sum(max(|p_i|, 1) |a_i|)``
    (:func:`~gradcheck.numeric.gradient_reach`).  A probe's threshold ``c``
    is its tolerance plus the difference it measured, over ``1 - rtol``
    (:class:`~gradcheck.results.FastGuarantee`); a passing probe's difference
    is within its tolerance, so its error-bar part ``k error`` is at least
    ``c (1 - rtol) / 2`` less its floor, ``atol sum|v| + rtol sum|a v|`` (at
    most ``atol sum(max(|p|, 1)) + rtol reach``: a large ``rtol`` of the
    user's is no rounding of the loss).  Where that is at least
    :data:`~gradcheck.numeric.WIDEN_WHEN` of ``reach`` for every counted
    probe (the loss's rounding over the step is as large as any derivative a
    probe can show: a constant ``1e12`` added to the loss, rt25 F10, where a
    gradient twice too large passed fast mode with no word), the probes could
    not resolve the tensor, and it is checked entry by entry, where the
    entries that cannot be resolved are said (:func:`gradcheck.check.check_point`).
    Not where ``reach`` is at most ``ulp`` (one rounding of the loss): a
    gradient that cannot move the loss even along a move of the tensor's own
    size is a zero gradient to it (a tensor the loss does not read would
    otherwise be checked entry by entry).

    >>> from gradcheck.compare import Tolerance
    >>> c = ParamCheck(name="w", shape=(100,), mode="fast", passed=True, n_entries=4, n_failed=0, n_kinks=0,
    ...                n_refined=0, max_abs_err=0.0, max_rel_err=0.0, worst=(), failed_indices=(),
    ...                tolerance=Tolerance(), guarantee=FastGuarantee(thresholds=(3.5e3,) * 4, unit=1.0, n_entries=100))
    >>> unresolved_probes(c, np.full(100, 2.0), np.zeros(100))[:40]
    "fast mode's probes could not resolve w: "
    >>> unresolved_probes(c, np.full(100, 100.0), np.zeros(100)) is None  # reach 1e4: bars below half of it
    True
    """
    g, tol = check.guarantee, check.tolerance
    if not check.passed or g is None or not g.thresholds:
        return None
    reach = gradient_reach(analytic, point)
    floor = tol.atol * float(np.sum(np.maximum(np.abs(np.asarray(point, dtype=np.float64)), 1.0))) + tol.rtol * reach
    bars = min(g.thresholds) * (1.0 - tol.rtol) / 2.0 - floor
    if reach <= ulp or bars < WIDEN_WHEN * reach:
        return None
    return (f"fast mode's probes could not resolve {check.name}: each probe's error bar (at least {bars:.3g}) is at "
            f"least half the largest directional derivative a probe can show ({reach:.3g}): checked entry by entry")


def fast_check(ev: Any, name: str, analytic: np.ndarray, tol: Tolerance, *, rng: np.random.Generator,
               probes: int, entrywise: Callable[[], ParamCheck]) -> ParamCheck:
    """Fast mode's verdict for one tensor: :func:`check_directional`, or where its probes cannot back an OK
    (:func:`unbacked`) the full check ``entrywise()``, with a note saying why.

    Parameters
    ----------
    ev, name, analytic, tol, rng, probes
        As for :func:`check_directional`.
    entrywise : callable
        The full check of this tensor (what a tensor of at most
        :data:`SMALL` entries gets; one-sided differences at kinks).  Called
        only when the probes fall short, so a tensor off kinks costs its
        probes only.

    Returns
    -------
    ParamCheck
        The probes' check, or the entry-by-entry one (its mode ``"full"``,
        its counts entries) with the reason as its first note.
    """
    check = check_directional(ev, name, analytic, tol, rng=rng, probes=probes)
    ulp = EPS64 * max(abs(float(ev.f0)), float(ev.noise_scale or 0.0))  # one rounding of the loss
    why = unbacked(check, probes) or unresolved_probes(check, analytic, ev.params[name], ulp)
    if why is None:
        return check
    full = entrywise()
    return replace(full, notes=(why, *full.notes))


def check_directional(ev: Any, name: str, analytic: np.ndarray, tol: Tolerance, *,
                      rng: np.random.Generator, probes: int, max_localised: int = 16) -> ParamCheck:
    """Fast-mode verdict for one tensor (see the module docstring).

    Parameters
    ----------
    ev : evaluator
        Has ``params`` (the point), ``f0`` (the loss there), ``noise_scale``
        (see :func:`gradcheck.stencil.roundoff`) and ``lines(name, lines)``
        (see :meth:`gradcheck.engine.ModelEvaluator.lines`) or
        ``losses_along(name, directions)`` (one loss per whole moved tensor).
    name : str
        The tensor.
    analytic : ndarray
        Its analytic gradient.
    tol : Tolerance
    rng : numpy.random.Generator
        Draws the probes.
    probes : int
        Number of random directions.
    max_localised : int
        At most this many wrong entries are named.

    Returns
    -------
    ParamCheck
        ``n_entries``, ``n_failed`` and ``n_kinks`` count *probes*;
        ``worst`` holds localised entries (entry units); ``guarantee`` what
        the probes can see of one wrong entry.
    """
    p = np.asarray(ev.params[name])
    a = np.asarray(analytic, dtype=np.float64).reshape(-1)
    rank_one = _rank_one(ev, name, a, tol, rng, probes)
    if rank_one is None:
        dirs = draw_directions(rng, probes, np.maximum(np.abs(p), 1.0))
        res = _measure(ev, name, [(v, 0, p.size) for v in dirs], a, tol)
        law = "a random direction over all {:,} entries (random signs, magnitudes 1/2 to 1 times max(|p|, 1))"
    else:
        res, left, right = rank_one
        dirs = np.einsum("pi,pj->pij", left, right).reshape(probes, -1) if not res.ok.all() else np.zeros((0, p.size))
        law = ("a random rank-one direction u w^T over all {:,} entries (u, w: random signs, magnitudes 1/2 to 1; "
               "entry weights 1/4 to 1)")
    left_out = np.zeros(probes, bool)
    notes = [(f"{probes} random probes (seeded), each the directional derivative along " + law.format(p.size)
              + "; probe differences are in directional-derivative units")]
    worst: list[EntryReport] = []
    failed = False
    for bad in np.flatnonzero(~res.ok):
        found, more = _localise(ev, name, a, dirs[bad], p.shape, tol, max_localised)
        if not found and (res.kink[bad] or res.tie[bad]):
            left_out[bad] = True
            notes.append(f"probe {bad} sits on kinks of several samples at every step down to {STEPS[-1]:.1e} "
                         "and disagreed with its one-sided bracket; bisection found no wrong entry, so it is left "
                         "out (ties crossed in opposite directions)")
            continue
        failed = True
        worst = worst or found
        notes.append(f"probe {bad} failed: directional analytic {res.analytic[bad]:.8e}, numeric "
                     f"{res.numeric[bad]:.8e} (directional-derivative units); bisection localised {len(found)} "
                     "wrong entries" + (f" (stopped at the cap of {max_localised}; there are more)" if more else "")
                     + ("" if found else ": the error is spread over many entries, each below its share"))
        if found:
            break
    smooth = ~res.kink
    guarantee = _guarantee(ev, p, tol, res, smooth & ~left_out & ~res.overruled, rank_one=rank_one is not None)
    notes.append(_guarantee_note(guarantee, probes))
    # the summary: probes off kinks, and every failing probe that counts (a failure is shown, even at a kink)
    shown = smooth if res.ok.all() else (smooth | ~res.ok) & ~left_out
    return ParamCheck(
        name=name, shape=tuple(p.shape), mode="fast", passed=not failed, n_entries=probes,
        n_failed=int(np.count_nonzero(~res.ok & ~left_out)), n_kinks=int(np.count_nonzero(res.kink | left_out)),
        n_refined=probes,
        max_abs_err=float(np.max(res.diff[shown], initial=0.0)),
        max_rel_err=float(np.max(relative_error(res.analytic, res.numeric)[shown], initial=0.0)),
        worst=tuple(worst[:8]), failed_indices=tuple(e.index for e in worst), tolerance=tol, notes=tuple(notes),
        guarantee=guarantee,
    )
