"""What a check found, as data.  Rendering is in :mod:`gradcheck.report`."""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from gradcheck.compare import Tolerance
from gradcheck.diagnose import Diagnosis

__all__ = ["CheckResult", "EntryReport", "FastGuarantee", "ParamCheck"]


@dataclass(frozen=True)
class EntryReport:
    """One entry of one parameter, as the report shows it."""

    index: tuple[int, ...]
    analytic: float
    numeric: float
    error_estimate: float
    allowed: float
    abs_err: float
    rel_err: float
    kink: bool = False
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True)
class FastGuarantee:
    """What fast mode's probes of one tensor can see of a single wrong entry.

    A probe along a Gaussian direction ``v`` sees a single entry ``i`` that is
    off by ``e`` as ``v_i * e``, with ``v_i`` normal of standard deviation
    ``s_i``; it misses it when ``|v_i e|`` stays below the probe's
    threshold ``c`` (its tolerance plus the difference it measured).  For an
    error ``ratio`` times the entry's own full-mode tolerance ``tol_i`` that
    happens with probability ``erf(c / (sqrt(2) ratio s_i tol_i))``, the
    probes independently.  ``unit`` is a lower bound of ``s_i tol_i`` over
    the tensor's entries (see :mod:`gradcheck.directional`), so the
    probabilities are upper bounds for every entry.

    Attributes
    ----------
    thresholds : each probe's threshold ``c``, in directional-derivative units
        (probes that did not count are left out).
    unit : lower bound of ``s_i * tol_i``.
    n_entries : entries of the tensor.
    """

    thresholds: tuple[float, ...]
    unit: float
    n_entries: int

    def escape_probability(self, ratio: float) -> float:
        """Upper bound of the chance that one entry off by ``ratio`` times its tolerance escapes every probe.

        >>> g = FastGuarantee(thresholds=(1.0, 1.0), unit=1.0, n_entries=100)
        >>> round(g.escape_probability(10.0), 4)  # erf(1 / (10 sqrt 2)) squared
        0.0063
        """
        p = 1.0
        for c in self.thresholds:
            p *= math.erf(c / (math.sqrt(2.0) * ratio * self.unit)) if self.unit > 0 else 1.0
        return p

    def ratio_for(self, escape: float = 0.01) -> float:
        """Smallest error, in units of an entry's tolerance, that escapes with probability at most ``escape``.

        >>> g = FastGuarantee(thresholds=(1.0, 1.0), unit=1.0, n_entries=100)
        >>> round(g.ratio_for(0.01), 2)
        7.96
        """
        if not self.thresholds:
            return math.inf
        lo, hi = 1e-12, 1e300
        for _ in range(64):  # bisection on log(ratio); escape_probability falls with the ratio
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if self.escape_probability(mid) > escape else (lo, mid)
        return hi


@dataclass(frozen=True)
class ParamCheck:
    """Verdict for one parameter tensor.

    Attributes
    ----------
    name, shape : the parameter.
    mode : ``"full"`` (every entry) or ``"fast"`` (random probes, entry by
        entry for small tensors, failing entries localised).
    n_entries : entries compared (in fast mode: probes plus localised entries).
    n_failed : entries (or probes) outside the tolerance.
    n_kinks : entries (or probes) judged at a kink by the one-sided bracket.
    n_refined : entries that needed the second step size.
    max_abs_err, max_rel_err : over the compared entries, kinks excluded.
    worst : the worst entries (failures first), at most ``MAX_WORST``.
    failed_indices : indices of failing entries (at most ``MAX_INDICES``).
    tolerance : the terms of the verdict.
    notes : anything else the reader should know (probe count, miss chance).
    guarantee : in fast mode, what its probes can see of a single wrong entry.
    diagnosis : what kind of bug a failed gradient has (sign, scale and its
        likely cause, transpose, ...; :mod:`gradcheck.explain`), ``correct``
        when it passed; ``None`` where no full numerical gradient was taken.
    """

    name: str
    shape: tuple[int, ...]
    mode: str
    passed: bool
    n_entries: int
    n_failed: int
    n_kinks: int
    n_refined: int
    max_abs_err: float
    max_rel_err: float
    worst: tuple[EntryReport, ...]
    failed_indices: tuple[tuple[int, ...], ...]
    tolerance: Tolerance
    notes: tuple[str, ...] = ()
    guarantee: FastGuarantee | None = None
    diagnosis: Diagnosis | None = None

    @property
    def worst_ratio(self) -> float:
        """Largest ``|analytic - numeric| / allowed`` among the reported entries (< 1 passes)."""
        return max((e.abs_err / e.allowed if e.allowed > 0 else float(e.abs_err > 0) * float("inf")
                    for e in self.worst), default=0.0)


@dataclass(frozen=True)
class CheckResult:
    """The whole check of one gradient function at one point.

    ``problems`` lists findings that fail the check whatever the numbers
    say: a mutated input, a forward or backward that is not deterministic.
    ``warnings`` lists what the reader should know but does not fail it
    (float32 inputs, unless strict).
    """

    subject: str
    mode: str
    seed: int | None
    n_samples: int | None
    params: tuple[ParamCheck, ...]
    tolerance: Tolerance
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.problems and all(p.passed for p in self.params)

    @property
    def n_kinks(self) -> int:
        return sum(p.n_kinks for p in self.params)

    @property
    def max_rel_err(self) -> float:
        return max((p.max_rel_err for p in self.params), default=0.0)

    @property
    def worst_ratio(self) -> float:
        return max((p.worst_ratio for p in self.params), default=0.0)

    @property
    def failed(self) -> tuple[ParamCheck, ...]:
        return tuple(p for p in self.params if not p.passed)

    def __getitem__(self, name: str) -> ParamCheck:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(f"no parameter {name!r} in this result; it has {[p.name for p in self.params]}")
