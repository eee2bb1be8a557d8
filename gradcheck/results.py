"""What a check found, as data.  Rendering is in :mod:`gradcheck.report`."""
from __future__ import annotations

import bisect
import dataclasses
import functools
import math
from dataclasses import dataclass, field
from typing import Any, TypeVar

from gradcheck.compare import Tolerance
from gradcheck.diagnose import Diagnosis

__all__ = ["CheckResult", "EntryReport", "FastGuarantee", "PROBE_LEVELS", "ParamCheck"]

_T = TypeVar("_T")


def frozen_instance(cls: type[_T], **fields: Any) -> _T:
    """``cls(**fields)`` for a frozen dataclass without ``__post_init__``, given every field, without its ``__init__``.

    A frozen dataclass's generated ``__init__`` sets each field with its own
    ``object.__setattr__`` call: 1.3 us for an :class:`EntryReport`, 2 us for
    a :class:`ParamCheck`, and a toy network's check builds about twenty of
    them (a twentieth of its whole cost).  Filling the instance's
    ``__dict__`` at once gives the same object (equal, same repr, still
    frozen) in a fifth of the time.  Internal: a missing or unknown field is
    an ``AssertionError`` (by count), never a half-built result.

    >>> e = frozen_instance(EntryReport, index=(0,), analytic=1.0, numeric=1.0, error_estimate=0.0, allowed=0.0,
    ...                     abs_err=0.0, rel_err=0.0, kink=False, lower=None, upper=None)
    >>> e == EntryReport((0,), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0) and repr(e) == repr(EntryReport((0,), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0))
    True
    """
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    assert len(fields) == _count(cls), (cls, sorted(fields))  # type: ignore[arg-type]  # every field (a misspelt one fails the tests' ==)
    return obj


def replaced(obj: _T, **changes: Any) -> _T:
    """``dataclasses.replace(obj, **changes)`` for an instance :func:`frozen_instance` could build, without its
    ``__init__``: a copy of its ``__dict__`` with ``changes`` (2 us for a :class:`ParamCheck` where ``replace``
    takes 10-16).  Internal: an unknown field is an ``AssertionError``.

    >>> e = EntryReport((0,), 1.0, 1.0, 0.0, 0.0, 0.0, 0.0)
    >>> replaced(e, kink=True) == dataclasses.replace(e, kink=True)
    True
    """
    assert changes.keys() <= obj.__dict__.keys(), sorted(changes)
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__)
    new.__dict__.update(changes)
    return new


@functools.lru_cache(maxsize=None)
def _count(cls: type) -> int:
    """How many fields the dataclass ``cls`` has, and that it has no ``__post_init__`` to skip."""
    assert not hasattr(cls, "__post_init__"), cls
    return len(dataclasses.fields(cls))


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


#: Magnitudes of fast mode's probe weights (before an entry's scale ``s_i``), each drawn with
#: probability 1/64 and a random sign: ``(64.5 + k) / 128`` for ``k = 0..63``, so ``1/2 < |w| < 1``
#: (see :func:`gradcheck.directional.draw_directions`).
PROBE_LEVELS: tuple[float, ...] = tuple((64.5 + k) / 128.0 for k in range(64))

#: Magnitudes of a rank-one probe's weights ``u_i w_j``: every product of two levels, sorted (4096, equally likely).
_PRODUCTS: tuple[float, ...] = tuple(sorted(a * b for a in PROBE_LEVELS for b in PROBE_LEVELS))


@dataclass(frozen=True)
class FastGuarantee:
    """What fast mode's probes of one tensor can see of a single wrong entry.

    A probe along a direction ``v`` sees a single entry ``i`` that is off by
    ``e`` as ``v_i * e``, with ``v_i = s_i w_i``: ``s_i`` the entry's scale
    and ``w_i`` a random sign times a magnitude drawn uniformly from
    :data:`PROBE_LEVELS` (between 1/2 and 1), independently per entry and
    probe.  The probe misses the entry when ``|v_i e|`` stays below its
    threshold ``c`` (its tolerance plus the difference it measured, over
    ``1 - rtol``: the wrong entry adds ``rtol |v_i e|`` to the tolerance).  For an
    error ``ratio`` times the entry's own full-mode tolerance ``tol_i`` that
    happens with probability ``P(|w| <= c / (ratio s_i tol_i))``, the
    fraction of the levels at most that, and the probes independently.
    ``unit`` is a lower bound of ``s_i tol_i`` over the tensor's entries
    (see :mod:`gradcheck.directional`), so the probabilities are upper
    bounds for every entry.  As ``|w| > 1/2``, an error above ``2 c /
    unit`` times its tolerance cannot escape a probe.  With ``rank_one``
    the probes of a dense weight are ``outer(u, w)``, so an entry's weight is
    the product of two independent such weights (between 1/4 and 1; its
    law is that of the 4096 products of two levels).

    Attributes
    ----------
    thresholds : each probe's threshold ``c``, in directional-derivative units
        (probes that did not count are left out).
    unit : lower bound of ``s_i * tol_i``.
    n_entries : entries of the tensor.
    rank_one : the probes were rank-one (entry weights products of two levels).
    """

    thresholds: tuple[float, ...]
    unit: float
    n_entries: int
    rank_one: bool = False

    def escape_probability(self, ratio: float) -> float:
        """Upper bound of the chance that one entry off by ``ratio`` times its tolerance escapes every probe.

        >>> g = FastGuarantee(thresholds=(1.0, 1.0), unit=1.0, n_entries=100)
        >>> g.escape_probability(1.0)  # |w| <= 1 always: each probe may miss it
        1.0
        >>> g.escape_probability(1.5)  # levels (64.5 + k) / 128 <= 1 / 1.5: k <= 20, 21 of 64, per probe
        0.107666015625
        >>> g.escape_probability(2.0)  # every level is above 1 / 2: caught for certain
        0.0
        >>> FastGuarantee(thresholds=(1.0,), unit=1.0, n_entries=100, rank_one=True).escape_probability(2.0) > 0
        True
        """
        return _escape(self.thresholds, self.unit, _PRODUCTS if self.rank_one else PROBE_LEVELS, ratio)

    def ratio_for(self, escape: float = 0.01) -> float:
        """Smallest error, in units of an entry's tolerance, that escapes with probability at most ``escape``.

        >>> g = FastGuarantee(thresholds=(1.0, 1.0), unit=1.0, n_entries=100)
        >>> round(g.ratio_for(0.01), 4)  # 128 / 70.5: then 6 of 64 levels per probe, (6/64)**2 < 0.01 < (7/64)**2
        1.8156
        """
        if not self.thresholds:
            return math.inf
        lo, hi = 1e-12, 1e300
        law = _PRODUCTS if self.rank_one else PROBE_LEVELS
        if self.unit > 0 and min(self.thresholds) > 0 and max(self.thresholds) < math.inf:
            # below min(c) / (unit * largest weight) every probe may miss (1), above max(c) / (unit * smallest) none
            # can (0): a bracket a few hundred wide instead of 1e312, so 26 halvings reach 1e-7 relative, not 64
            lo = min(self.thresholds) / (self.unit * law[-1])
            hi = max(self.thresholds) / (self.unit * law[0]) * (1 + 1e-12)
        while hi > lo * (1 + 1e-7):  # bisection on log(ratio); the chance falls with the ratio (in steps)
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if _escape(self.thresholds, self.unit, law, mid) > escape else (lo, mid)
        return hi


def _escape(thresholds: tuple[float, ...], unit: float, law: tuple[float, ...], ratio: float) -> float:
    """:meth:`FastGuarantee.escape_probability` of ``thresholds`` and ``unit`` under the weights' ``law`` (sorted).

    A plain function of plain values: :meth:`FastGuarantee.ratio_for` calls it
    about 25 times per tensor (the method's attribute lookups were half its
    cost).
    """
    if unit <= 0 or ratio <= 0:
        return 1.0
    scale, n, p = ratio * unit, len(law), 1.0
    for c in thresholds:
        p *= bisect.bisect_right(law, c / scale) / n  # sorted: the fraction of weights at most the bound
    return p


@dataclass(frozen=True)
class ParamCheck:
    """Verdict for one parameter tensor.

    Attributes
    ----------
    name, shape : the parameter.
    mode : ``"full"`` (every entry) or ``"fast"`` (random probes, failing
        entries localised).  Fast mode checks small tensors
        (:func:`gradcheck.directional.entrywise_in_fast`), and those whose
        probes did not all count (:func:`gradcheck.directional.unbacked`),
        entry by entry: their mode is ``"full"``, their counts are entries,
        they have full mode's diagnosis, and a note says why.  When every
        tensor is small it runs the full check itself
        (:func:`gradcheck.directional.every_entry_in_fast`).
    n_entries : entries compared (in fast mode: probes plus localised entries).
    n_failed : entries (or probes) outside the tolerance.
    n_kinks : entries (or probes) judged at a kink by the one-sided bracket.
    n_refined : entries that needed the second step size.
    max_abs_err, max_rel_err : over the compared entries, kinks excluded
        unless they fail
        (in fast mode over the probes, with every failing probe that counts,
        at a kink or not).
    worst : the worst entries (failures first), at most ``MAX_WORST``.
    failed_indices : indices of failing entries (at most ``MAX_INDICES``).
    tolerance : the terms of the verdict.
    notes : anything else the reader should know (probe count, miss chance).
    guarantee : in fast mode, what its probes can see of a single wrong entry.
    diagnosis : what kind of bug a failed gradient has (sign, scale and its
        likely cause, transpose, ...; :mod:`gradcheck.explain`), ``correct``
        when it passed; ``None`` only for a passing fast-mode tensor (a
        failed one says at least where it failed, :func:`gradcheck.explain.probed`).
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
    def every_entry_checked(self) -> bool:
        """Was every entry of every parameter checked (each :attr:`ParamCheck.mode` ``"full"``)?

        Always in full mode; in fast mode when no tensor was probed (every
        tensor small: :func:`gradcheck.directional.every_entry_in_fast`, or
        its probes fell short), so no probe guarantee stands in for an entry.
        """
        return all(p.mode == "full" for p in self.params)

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
