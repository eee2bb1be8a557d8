"""What a diagnosis knows about the loss, and the causes of a constant factor it allows.

A gradient that is ``c`` times the right one everywhere has lost or gained a
constant; *which* constant depends on the loss.  A half is missing the 2 of
a square only when the loss is a sum or mean of squares without a 1/2; an
``N`` is a forgotten 1/N only when the loss is a mean over the samples.
:class:`LossFacts` records what was measured of the loss (how it weighs the
samples, whether it halves a sum of squares); :func:`scale_causes` names
the causes those facts allow, and nothing else: with no facts (a check of
an opaque function, a layer, a net whose loss it cannot see) no cause is
named at all, only the factor.

Examples
--------
>>> scale_causes(["N/2"], LossFacts("mean", False))
['cause.N/2']
>>> scale_causes(["2", "N/2"], LossFacts("mean", False))  # at N = 4 both fit a mean of squares: both are named
['cause.N/2', 'cause.2.nohalf']
>>> scale_causes(["2", "N/2"], None)
[]
>>> scale_causes(["1/2"], LossFacts("mean", None))  # a cross-entropy has no square to differentiate
[]
>>> scale_causes(["1/2"], LossFacts("mean", False, outputs=2))  # the lost 2, or np.mean over K = 2 outputs too
['cause.1/2.outputs']
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LossFacts", "head_facts", "measure_facts", "scale_causes"]

_RTOL = 1e-9  # loss values are sums of a few float64 terms: agreement to ~1e-15, far inside this


@dataclass(frozen=True)
class LossFacts:
    """How a loss is built, as measured.

    Attributes
    ----------
    reduction : {"mean", "sum", None}
        The loss of a batch is the mean (``"mean"``) or the sum (``"sum"``)
        of the one-sample losses; ``None`` when it is neither or cannot be
        told (a batch of one).
    half : bool or None
        For a squared error: ``True`` when the loss is half the (summed or
        averaged) squares, ``False`` when not; ``None`` for other losses.
    outputs : int or None
        Outputs per sample (``K`` of an ``N x K`` output), ``None`` when not
        measured.  It tells apart causes of one factor (with ``K = 2`` a
        mean over every entry halves the gradient as a lost 2 does: rt19
        F22); not shown in the repr and not compared, as it is no fact of
        the loss.
    """

    reduction: str | None
    half: bool | None
    outputs: int | None = field(default=None, repr=False, compare=False)


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _RTOL * max(abs(a), abs(b))


def measure_facts(total: float, parts: Sequence[float], out: np.ndarray, target: np.ndarray) -> LossFacts:
    """:class:`LossFacts` from a batch's loss ``total``, its one-sample losses ``parts``, its output and target.

    >>> out, t = np.array([[1.0], [2.0]]), np.array([[0.0], [0.0]])
    >>> measure_facts(2.5, [0.5, 2.0], out, t)  # half the sum of squares
    LossFacts(reduction='sum', half=True)
    """
    n, whole = len(parts), float(sum(parts))
    reduction = None
    if n > 1 and whole > 0:
        reduction = "sum" if _close(total, whole) else "mean" if _close(total, whole / n) else None
    half = None
    out, target = np.asarray(out, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if out.size == target.size and out.size and (reduction is not None or n == 1):
        squares = float(np.sum((target.reshape(out.shape) - out) ** 2))
        per = squares / n if reduction == "mean" else squares  # n == 1: mean and sum are the same number
        readings = (per, per / (out.size / n))  # summed over a sample's outputs, or averaged over every entry
        fits = {h for r in readings for h, v in ((True, r / 2), (False, r)) if _close(total, v)}
        # two outputs a sample: half the per-sample sum is the mean over every entry, so neither can be told
        half = fits.pop() if len(fits) == 1 else None
    return LossFacts(reduction, half, out.size // n if n and out.size % n == 0 else None)


def head_facts(head: Callable[[np.ndarray, Any], Any], out: np.ndarray, y: Any) -> LossFacts | None:
    """:class:`LossFacts` of a loss head at the network output ``out`` (``None`` when the head cannot be measured).

    ``head(out, y)`` is the batch's loss; each sample's loss is the head
    on that sample's row alone.

    >>> out, y = np.array([[1.0], [3.0]]), np.array([[0.0], [1.0]])
    >>> head_facts(lambda o, t: np.mean((o - t) ** 2), out, y)
    LossFacts(reduction='mean', half=False)
    >>> head_facts(lambda o, t: np.mean((o - t) ** 2), np.hstack([out, out]), np.hstack([y, y]))  # = half the sample sums
    LossFacts(reduction='mean', half=None)
    """
    try:
        total = float(np.asarray(head(out, y), dtype=np.float64).reshape(()))
        parts = [float(np.asarray(head(out[i:i + 1], y[i:i + 1]), dtype=np.float64).reshape(())) for i in range(len(out))]
        return measure_facts(total, parts, out, np.asarray(y))
    except Exception:  # noqa: BLE001 - any head may refuse a slice: then nothing is known of the loss
        return None


#: ``(factor name, reduction, half, cause)``: the cause a factor has when the loss has that reduction and half
#: (``"*"``: whatever it is).  Each cause states something about the loss, so it needs that fact measured.
_RULES: tuple[tuple[str, str, object, str], ...] = (
    ("2", "*", True, "cause.2"),
    ("2", "*", False, "cause.2.nohalf"),
    ("1/2", "*", False, "cause.1/2"),
    ("1/2", "*", True, "cause.1/2.half"),
    ("N", "mean", "*", "cause.N"),
    ("N", "sum", "*", "cause.N.sum"),
    ("1/N", "mean", "*", "cause.1/N.mean"),
    ("1/N", "sum", "*", "cause.1/N.sum"),
    ("N/2", "mean", False, "cause.N/2"),
    ("2/N", "sum", True, "cause.2/N"),
    ("2N", "mean", True, "cause.2N"),
    ("1/(2N)", "sum", False, "cause.1/(2N)"),
)


def scale_causes(names: Sequence[str], facts: LossFacts | None) -> list[str]:
    """The message keys of the causes ``facts`` allow for a factor with these ``names`` (none without facts).

    The batch's readings (``N/2``) come before the plain ones (``2``) when
    several fit: at ``N = 4`` both are the same number.
    """
    if facts is None:
        return []
    ordered = [n for n in names if "N" in n] + [n for n in names if "N" not in n]
    causes = [cause for n in ordered for name, reduction, half, cause in _RULES
              if name == n and reduction in ("*", facts.reduction) and (half == "*" or half is facts.half)]
    # two outputs a sample: 1/2 is also the 1/K of a mean over all N x K entries (np.mean) where the loss sums a
    # sample's outputs; both slips are named, as the factor cannot tell them apart (rt19 F22)
    return ["cause.1/2.outputs" if c == "cause.1/2" and facts.outputs == 2 else c for c in causes]
