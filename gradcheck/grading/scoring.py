"""Points from diagnoses: a deterministic, documented policy.

Each parameter is worth ``points[name]`` (default ``default_points`` = 1).
A parameter earns ``credit[code] * max_points`` for its diagnosis, with
these defaults and reasons:

==================  ======  ====================================================
code                credit  why
==================  ======  ====================================================
correct             1       the exact gradient
precision           0.75    the right algorithm in float32 arithmetic (or with an epsilon): checked
                            in float64, it is off by 1e-11 .. 1e-4 (pipeline.RTOL_FLOAT32; an
                            assignment may set credit.precision = 1)
scale               0.5     right direction, a lost constant (2, N, N/2 ...); a negative
                            factor climbs the loss: no more than sign (rt19 F16)
transpose           0.5     right numbers in the wrong layout
shape               0.5     only when the values are right once reshaped, or once summed over
                            the batch (a bias gradient left per sample: the reduction lost,
                            as a lost N earns scale's 0.5), else 0
partial             0.5 x   times the fraction of entries that are right
sign                0.25    the right magnitude, but the update climbs the loss
activation          0.25    a known slip in one derivative, structure right
everything else     0       no gradient, a numerical one, or a wrong one
==================  ======  ====================================================

``finite_difference`` earns nothing: the assignment is backpropagation.
Runtime failures (``timeout``, ``syntax`` ...) earn nothing for every
parameter.  Behaviour that breaks the contract of a backward pass deducts
from the total, never below zero: ``mutation`` (an input written in place)
``mutation_penalty`` of the maximum score (default 25 %) and
``nondeterministic`` (two calls differ) ``nondeterminism_penalty`` (25 %),
each at most once (one deduction names every argument written); the
parameters of a nondeterministic run are scored on the values of their
first call at each point.  ``max_score`` is the assignment's whatever
failed: the forward check's points count even when it could not run.  Points are rounded to 1e-6, so equal inputs always
give equal, exactly comparable scores.

Examples
--------
>>> from gradcheck.diagnose import Diagnosis
>>> s = score({"W1": Diagnosis("correct", "W1", "ok"), "W2": Diagnosis("scale", "W2", "x2")},
...           policy=ScoringPolicy(points={"W2": 3.0}))
>>> s.score, s.max_score
(2.5, 4.0)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from gradcheck.diagnose import Diagnosis
from gradcheck.grading.verdicts import CODES
from gradcheck.grading.results import Deduction, ParameterResult

__all__ = ["DEFAULT_CREDIT", "ScoringPolicy", "Score", "parameter_points", "score"]

DEFAULT_CREDIT: Mapping[str, float] = MappingProxyType(
    {
        "correct": 1.0,
        "precision": 0.75,
        "scale": 0.5,
        "transpose": 0.5,
        "shape": 0.5,
        "partial": 0.5,
        "sign": 0.25,
        "activation": 0.25,
    }
)


def _check_fraction(name: str, value: float) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be a number in [0, 1], got {name}={value!r}")
    return float(value)


@dataclass(frozen=True)
class ScoringPolicy:
    """How diagnoses become points (see the module docstring).

    Parameters
    ----------
    points : mapping of str to float
        Points per parameter; parameters not listed get ``default_points``.
    default_points : float
    credit : mapping of str to float
        Fraction of a parameter's points per diagnosis code (missing codes: 0).
    mutation_penalty, nondeterminism_penalty : float
        Fraction of the maximum score deducted.
    forward_points : float
        Points for the forward-pass check (0: not graded).
    """

    points: Mapping[str, float] = field(default_factory=dict)
    default_points: float = 1.0
    credit: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CREDIT))
    mutation_penalty: float = 0.25
    nondeterminism_penalty: float = 0.25
    forward_points: float = 0.0

    def __post_init__(self) -> None:
        for name, value in list(self.points.items()) + [("default_points", self.default_points), ("forward_points", self.forward_points)]:
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value < 0:
                raise ValueError(f"points must be finite numbers >= 0, got {value!r} for {name!r}")
        for code, value in self.credit.items():
            if code not in CODES:
                raise ValueError(f"credit has an unknown diagnosis code {code!r}; known: {CODES}")
            _check_fraction(f"credit[{code!r}]", value)
        _check_fraction("mutation_penalty", self.mutation_penalty)
        _check_fraction("nondeterminism_penalty", self.nondeterminism_penalty)

    def max_points(self, name: str) -> float:
        """Points parameter ``name`` is worth."""
        return float(self.points.get(name, self.default_points))

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> "ScoringPolicy":
        """Build from a plain mapping (an assignment file's ``[scoring]`` table).

        >>> ScoringPolicy.from_mapping({"points": {"W1": 2}, "credit": {"scale": 0}}).credit["scale"]
        0.0
        """
        known = {"points", "default_points", "credit", "mutation_penalty", "nondeterminism_penalty", "forward_points"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown scoring option(s) {unknown}; known: {sorted(known)}")
        kwargs: dict[str, Any] = dict(data)
        if "points" in kwargs:
            kwargs["points"] = {str(k): float(v) for k, v in kwargs["points"].items()}
        if "credit" in kwargs:
            kwargs["credit"] = {**DEFAULT_CREDIT, **{str(k): float(v) for k, v in kwargs["credit"].items()}}
        return cls(**kwargs)


@dataclass(frozen=True)
class Score:
    """The scored submission: per-parameter results, deductions and totals."""

    parameters: tuple[ParameterResult, ...]
    forward: ParameterResult | None
    deductions: tuple[Deduction, ...]
    score: float
    max_score: float


def _round(x: float) -> float:
    return round(float(x) + 0.0, 6)


def parameter_points(diagnosis: Diagnosis, max_points: float, *, policy: ScoringPolicy | None = None) -> float:
    """Points one diagnosis earns out of ``max_points``.

    >>> parameter_points(Diagnosis("partial", "W", "", {"fraction_correct": 0.5}), 2.0)
    0.5
    >>> parameter_points(Diagnosis("shape", "W", "", {"values_match": False}), 2.0)
    0.0
    >>> parameter_points(Diagnosis("scale", "W", "", {"factor": -2.0, "negative": True}), 2.0)  # a sign flip and more
    0.5
    """
    policy = policy or ScoringPolicy()
    credit = float(policy.credit.get(diagnosis.code, 0.0))
    if diagnosis.code == "partial":
        credit *= float(diagnosis.detail.get("fraction_correct", 0.0))
    elif diagnosis.code == "shape" and not (diagnosis.detail.get("values_match") or diagnosis.detail.get("summed_match")):
        credit = 0.0
    elif diagnosis.code == "scale" and diagnosis.detail.get("negative"):
        credit = min(credit, float(policy.credit.get("sign", 0.0)))  # a sign flip times a factor is no better than one
    return _round(credit * max_points)


def _result(name: str, d: Diagnosis, max_points: float, policy: ScoringPolicy) -> ParameterResult:
    return ParameterResult(
        name=name,
        status="passed" if d.passed else "failed",
        diagnosis=d.code,
        message=d.message,
        points=parameter_points(d, max_points, policy=policy),
        max_points=_round(max_points),
        detail=dict(d.detail),
    )


def _deductions(behaviour: Sequence[Diagnosis], policy: ScoringPolicy, max_score: float) -> tuple[Deduction, ...]:
    """One deduction per code, however many findings share it (each names every argument).

    Each parameter is scored on its own diagnosis whatever these findings are:
    a ``nondeterministic`` run pays ``nondeterminism_penalty`` once, as
    docs/assignments.md says (rt20 F3: it used to zero every affected
    parameter instead, and the penalty setting changed nothing).
    """
    rates = {"mutation": policy.mutation_penalty, "nondeterministic": policy.nondeterminism_penalty}
    grouped: dict[str, list[Diagnosis]] = {}
    for d in behaviour:
        if d.code not in rates:
            raise ValueError(f"behaviour must hold 'mutation' or 'nondeterministic' diagnoses, got code={d.code!r}")
        grouped.setdefault(d.code, []).append(d)
    out: list[Deduction] = []
    for code, found in grouped.items():
        names = list(dict.fromkeys(d.param for d in found))
        message = " ".join(dict.fromkeys(d.message for d in found))
        detail = dict(found[0].detail, params=names)
        out.append(Deduction(code, ", ".join(names), message, _round(rates[code] * max_score), detail))
    return tuple(out)


def score(
    diagnoses: Mapping[str, Diagnosis],
    *,
    policy: ScoringPolicy | None = None,
    forward: Diagnosis | None = None,
    behaviour: Sequence[Diagnosis] = (),
    runtime: Diagnosis | None = None,
) -> Score:
    """Score one submission.

    Parameters
    ----------
    diagnoses : mapping of str to Diagnosis
        One per parameter, in report order.
    policy : ScoringPolicy, optional
    forward : Diagnosis, optional
        The forward-pass check (worth ``policy.forward_points``).
    behaviour : sequence of Diagnosis
        ``mutation`` / ``nondeterministic`` findings; each code deducts once.
    runtime : Diagnosis, optional
        A runtime failure: every parameter then gets this diagnosis and 0.

    Returns
    -------
    Score
    """
    policy = policy or ScoringPolicy()
    if runtime is not None:
        diagnoses = {name: runtime for name in diagnoses}
        if forward is not None:
            forward = runtime
    params = tuple(_result(name, d, policy.max_points(name), policy) for name, d in diagnoses.items())
    fwd = None if forward is None else _result("forward", forward, policy.forward_points, policy)
    max_score = sum(p.max_points for p in params) + (fwd.max_points if fwd else 0.0)
    earned = sum(p.points for p in params) + (fwd.points if fwd else 0.0)
    deductions = _deductions(behaviour, policy, max_score) if runtime is None else ()
    total = max(0.0, earned - sum(x.points for x in deductions))
    return Score(params, fwd, tuple(deductions), _round(total), _round(max_score))
