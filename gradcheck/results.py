"""What a check found, as data.  Rendering is in :mod:`gradcheck.report`."""
from __future__ import annotations

from dataclasses import dataclass, field

from gradcheck.compare import Tolerance
from gradcheck.diagnose import Diagnosis

__all__ = ["CheckResult", "EntryReport", "ParamCheck"]


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
