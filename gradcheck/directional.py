"""Fast mode: random signed probes per tensor, with bisection to find wrong entries.

For a parameter tensor ``p`` with analytic gradient ``a`` the check draws
``probes`` Gaussian directions ``v`` (seeded; each entry scaled by
``max(|p_i|, 1)`` so the move is relative) and compares the analytic
directional derivative ``sum(a * v)`` with the five-point central
difference of ``t -> f(p + t v)`` (:mod:`gradcheck.stencil`).  That costs
four stacked forward evaluations per probe, whatever the tensor's size.
Tensors of at most :data:`SMALL` entries (biases) are checked entry by
entry instead.

**The chance of missing an error.**  If the analytic gradient is off by a
vector ``e``, a probe sees ``v . e``, a normal variable with standard
deviation ``s = ||e * scale||``.  The probe misses the error only when
``|v . e|`` falls below its tolerance ``tau``: probability about
``sqrt(2/pi) * tau / s`` when ``tau << s``, and independent probes
multiply: ``(0.8 * tau / s) ** probes``.  An error ten times its
tolerance escapes four probes with probability about 4e-5; a hundred
times, about 4e-9.  Errors near the tolerance are found by full mode.

**Localisation.**  When a probe fails, its direction is restricted to
halves of the failing set of entries, each half tested (all halves of a
level stacked in one pass), and failing halves split again, down to
single entries: about ``8 log2(n)`` evaluations per wrong entry.  At most
``max_localised`` entries are named; the report says when there are more.

**Kinks.**  A probe moves every entry at once and may cross a ReLU
kink; such a probe is judged by its one-sided quotients like a kink entry
in full mode.  When it crosses the kinks of several samples at once, in
opposite directions, even the bracket can miss the analytic value; a
failing kink probe whose bisection finds no wrong entry is therefore
reported in the notes and does not count as a failure.
"""
from __future__ import annotations

import numpy as np

from gradcheck.compare import Tolerance, relative_error
from gradcheck.engine import ModelEvaluator
from gradcheck.numeric import EPS64
from gradcheck.results import EntryReport, ParamCheck
from gradcheck.stencil import STENCIL, combine, roundoff

__all__ = ["SMALL", "check_directional", "miss_probability"]

#: Tensors with at most this many entries are checked entry by entry in fast mode.
SMALL = 64


def miss_probability(ratio: float, probes: int) -> float:
    """Chance that ``probes`` Gaussian probes all miss an error ``ratio`` times its tolerance.

    >>> f"{miss_probability(10.0, 4):.1e}"
    '4.1e-05'
    """
    return float(min(1.0, np.sqrt(2.0 / np.pi) / ratio) ** probes)


def _probe(ev: ModelEvaluator, name: str, analytic: np.ndarray, dirs: np.ndarray, tol: Tolerance) -> dict:
    """Test directions ``dirs`` (``(P, *shape)``) at once; return per-direction results."""
    t = EPS64 ** (1.0 / 3.0)
    stack = np.concatenate([o * t * dirs for o in STENCIL])
    f = ev.losses_along(name, stack).reshape(len(STENCIL), len(dirs))
    parts = combine(ev.f0, f[0], f[1], f[2], f[3], np.full(len(dirs), t), scale=ev.noise_scale)
    axes = tuple(range(1, dirs.ndim))
    a_dir = np.sum(analytic[None] * dirs, axis=axes)
    scale = np.sum(np.abs(analytic[None] * dirs), axis=axes)
    allowed = tol.atol * np.sum(np.abs(dirs), axis=axes) + tol.rtol * scale + tol.k * parts["error"]
    diff = np.abs(a_dir - parts["value"])
    noise = 1.5 * roundoff(ev.f0, f[0], f[1], scale=ev.noise_scale) / t
    margin = allowed - tol.k * parts["error"] + tol.k * 2.0 * noise
    bracket = (a_dir >= parts["lower"] - margin) & (a_dir <= parts["upper"] + margin)
    ok = (diff <= allowed) | (parts["kink"] & bracket)
    return {"ok": ok, "kink": parts["kink"], "analytic": a_dir, "numeric": parts["value"],
            "error": parts["error"], "allowed": np.where(parts["kink"], np.maximum(allowed, margin), allowed),
            "diff": diff, "lower": parts["lower"], "upper": parts["upper"]}


def _localise(ev: ModelEvaluator, name: str, analytic: np.ndarray, v: np.ndarray, tol: Tolerance,
              max_localised: int) -> tuple[list[EntryReport], bool]:
    """Bisect the entries of direction ``v`` down to the single entries that fail."""
    front = [np.arange(v.size)]
    found: list[EntryReport] = []
    truncated = False
    while front:
        halves = [h for s in front for h in ((s,) if s.size == 1 else np.array_split(s, 2))]
        dirs = np.zeros((len(halves), v.size))
        for row, idx in zip(dirs, halves):
            row[idx] = v.reshape(-1)[idx]
        res = _probe(ev, name, analytic, dirs.reshape((len(halves),) + v.shape), tol)
        front = []
        for j, idx in enumerate(halves):
            if res["ok"][j]:
                continue
            if idx.size > 1:
                front.append(idx)
                continue
            vi = v.reshape(-1)[idx[0]]
            found.append(EntryReport(
                index=tuple(int(i) for i in np.unravel_index(idx[0], v.shape)),
                analytic=float(analytic.reshape(-1)[idx[0]]), numeric=float(res["numeric"][j] / vi),
                error_estimate=float(res["error"][j] / abs(vi)), allowed=float(res["allowed"][j] / abs(vi)),
                abs_err=float(res["diff"][j] / abs(vi)),
                rel_err=float(relative_error(np.array(res["analytic"][j]), np.array(res["numeric"][j]))),
            ))
        if len(found) + len(front) > max_localised:
            truncated = True
            front = front[: max(0, max_localised - len(found))]
    return found, truncated


def check_directional(ev: ModelEvaluator, name: str, analytic: np.ndarray, tol: Tolerance, *,
                      rng: np.random.Generator, probes: int, max_localised: int = 16) -> ParamCheck:
    """Fast-mode verdict for one tensor (see the module docstring)."""
    p = ev.params[name]
    dirs = rng.standard_normal((probes,) + p.shape) * np.maximum(np.abs(p), 1.0)[None]
    res = _probe(ev, name, analytic, dirs, tol)
    n_failed = int(np.count_nonzero(~res["ok"]))
    smooth = ~res["kink"]
    notes = [f"{probes} random probes (seeded); an error 10x its tolerance escapes all of them with "
             f"probability {miss_probability(10.0, probes):.0e}"]
    worst: list[EntryReport] = []
    failed_idx: tuple = ()
    for bad in np.flatnonzero(~res["ok"]):
        found, truncated = _localise(ev, name, analytic, dirs[bad], tol, max_localised)
        if not found and res["kink"][bad]:
            n_failed -= 1
            notes.append(f"probe {bad} crossed kinks of several samples at once and disagreed with its one-sided "
                         "bracket; bisection found no wrong entry, so it does not count")
            continue
        worst = found
        failed_idx = tuple(e.index for e in worst)
        notes.append(f"probe {bad} failed: directional analytic {res['analytic'][bad]:.8e}, "
                     f"numeric {res['numeric'][bad]:.8e}; bisection localised {len(worst)} wrong entries"
                     + (" (stopped at the cap; there are more)" if truncated else ""))
        break
    return ParamCheck(
        name=name, shape=tuple(p.shape), mode="fast", passed=n_failed == 0, n_entries=probes,
        n_failed=n_failed, n_kinks=int(np.count_nonzero(res["kink"])), n_refined=probes,
        max_abs_err=float(np.max(res["diff"][smooth], initial=0.0)),
        max_rel_err=float(np.max(relative_error(res["analytic"], res["numeric"])[smooth], initial=0.0)),
        worst=tuple(worst[:8]), failed_indices=failed_idx, tolerance=tol, notes=tuple(notes),
    )
