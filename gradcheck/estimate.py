"""The numerical side of a check: a derivative estimate with its own error bar."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["NumericGradient"]


@dataclass(frozen=True, eq=False)
class NumericGradient:
    """Central-difference estimate of one parameter's gradient, entry by entry.

    Attributes
    ----------
    name : str
        The parameter (``"W1"``).
    value : ndarray
        The best estimate of each entry (Richardson-extrapolated central
        difference where two steps were taken).
    error : ndarray
        An estimate of ``|value - true derivative|`` per entry: the
        truncation estimate (difference between the two step sizes) plus
        the round-off bound ``eps * |f| / h``.
    step : ndarray
        The step ``h`` used for each entry.
    lower, upper : ndarray
        The smaller and larger of the two one-sided difference quotients
        ``(f(x+h)-f(x))/h`` and ``(f(x)-f(x-h))/h``; at a kink the true
        subgradient set lies between them.
    refined : ndarray of bool
        Entries that got the second step size (all of them unless the
        estimate was two-stage); the others carry the plain central
        difference and its round-off error only.
    roundoff : ndarray
        The round-off part of ``error`` (``1.5 * roundoff(f) / h``), the
        margin of the one-sided quotients at a kink.
    kink : ndarray of bool
        Entries where the one-sided quotients disagree by more than the
        smooth error model allows: the stencil straddles a point where the
        function is not differentiable.
    unresolved : ndarray of bool, optional
        Entries whose truncation estimate no smooth function resolved by the
        step gives (:func:`gradcheck.stencil.combine`): a kink inside the
        stencil that the kink test missed.  They are measured again at a
        smaller step (:func:`gradcheck.numeric.refine_kinks`); None when no
        entry has the ``+-2h`` points.
    side : ndarray, optional
        The larger of the two one-sided truncation terms of the bracket
        (``side`` of :func:`gradcheck.stencil.combine`): how far curvature
        alone puts ``lower`` and ``upper`` from the one-sided derivatives
        (:func:`gradcheck.stencil.bracket_moved`); NaN for entries settled by
        ``f(+-h)``, None when no entry has the ``+-2h`` points.
    jump : ndarray, optional
        The part of ``error`` that allows for a slope jump at the point too
        small for the kink test (``jump`` of :func:`gradcheck.stencil.combine`):
        0 at a kink, which its bracket judges instead; None where not computed.
    """

    name: str
    value: np.ndarray
    error: np.ndarray
    step: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    kink: np.ndarray
    refined: np.ndarray | None = None
    roundoff: np.ndarray | None = None
    unresolved: np.ndarray | None = None
    side: np.ndarray | None = None
    jump: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def n_kinks(self) -> int:
        return int(np.count_nonzero(self.kink))
