"""The grader's pattern diagnosis, for every check: what kind of bug a failed gradient has.

:func:`explain` attaches a :class:`gradcheck.diagnose.Diagnosis` to each
:class:`~gradcheck.results.ParamCheck` of a full check.  A check has no
exact gradient to compare with, only the numerical estimate; that is
accurate to about 1e-9 relative, far inside the patterns' tolerance
(:data:`gradcheck.diagnose.RTOL_PATTERN`, 1e-6 of the largest entry), so
the patterns are recognised against it as the grader recognises them
against its exact reference:

* ``sign``, ``scale`` (with its factor and its likely cause from the
  batch size: ``N``, ``1/N``, ``2/N`` ...), ``transpose``, ``swapped``
  (another parameter's gradient) and ``wrong.zero`` (all zeros) come from
  :func:`gradcheck.diagnose.diagnose_parameter`;
* ``wrong.offset``: every entry off by a small relative amount of the same
  sign (between :data:`OFFSET_MIN` and :data:`OFFSET_MAX`): the gradient of
  a slightly different loss, as ``log(y + 1e-7)`` in a cross-entropy makes
  (the backward differentiates ``log(y)``: relative offset ``1e-7 / y``);
* ``partial``: some entries pass, the others do not (indices from the check);
* ``wrong`` otherwise.

A passing parameter is ``correct`` (``correct.kinks`` when kinks decided
some entries).  The grader's ``correct`` tolerance (1e-11) and its
``finite_difference`` and ``precision`` near misses need the exact
gradient, so a check never reports them.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradcheck import messages
from gradcheck.diagnose import Diagnosis, diagnose_parameter
from gradcheck.estimate import NumericGradient
from gradcheck.results import ParamCheck

__all__ = ["OFFSET_MAX", "OFFSET_MIN", "explain", "explain_parameter"]

#: Smallest relative offset named: 100 times the check's own relative resolution.
OFFSET_MIN = 1e-8
#: Largest: beyond 1e-3 an offset is no longer "small" and reads as a plain error.
OFFSET_MAX = 1e-3

#: Patterns the grader's diagnosis recognises on a failed parameter, kept as they are.
_PATTERNS = frozenset({"sign", "scale", "transpose", "swapped", "activation", "shape"})

messages.register_template("wrong.offset", {
    "en": "{param} is off by a small relative amount of the same sign in every entry (median {median_offset:.1e}, "
          "from {min_offset:.1e} to {max_offset:.1e}): it is the gradient of a slightly different loss. A constant "
          "inside a log (log(y + 1e-7), as in DLFS's cross_entropy_error) or a clipped value does this: the backward "
          "differentiates the loss without it. Check the loss as written, or pass tolerance=Tolerance(rtol=...) "
          "above the offset if the difference is intended.",
    "ko": "{param}의 모든 원소가 같은 부호의 작은 상대 오차만큼 어긋납니다 (중앙값 {median_offset:.1e}, "
          "{min_offset:.1e} ~ {max_offset:.1e}): 조금 다른 손실 함수의 기울기입니다. log 안의 상수 "
          "(DLFS cross_entropy_error의 log(y + 1e-7))나 잘라낸 값이 이런 차이를 만듭니다: 역전파는 그 상수가 없는 "
          "손실을 미분합니다. 작성한 손실을 확인하거나, 의도한 차이라면 tolerance=Tolerance(rtol=...)를 그보다 크게 주세요.",
})


def _offset(analytic: np.ndarray, numeric: np.ndarray) -> dict[str, Any] | None:
    """Relative offsets ``a / n - 1`` of the significant entries, when small and of one sign."""
    scale = float(np.max(np.abs(numeric), initial=0.0))
    big = np.abs(numeric) > 1e-3 * scale
    if scale == 0 or np.count_nonzero(big) < 2:
        return None
    q = analytic[big] / numeric[big] - 1.0
    mags = np.abs(q)
    if not (np.all(q > 0) or np.all(q < 0)) or mags.max() > OFFSET_MAX or np.median(mags) < OFFSET_MIN:
        return None
    return {"median_offset": float(np.median(q)), "min_offset": float(q[np.argmin(mags)]),
            "max_offset": float(q[np.argmax(mags)])}


def explain_parameter(check: ParamCheck, analytic: np.ndarray, numeric: NumericGradient,
                      others: Mapping[str, np.ndarray], batch_size: int | None) -> Diagnosis:
    """The diagnosis of one parameter (see the module docstring)."""
    name = check.name
    base: dict[str, Any] = {"max_abs_error": check.max_abs_err, "scale": float(np.max(np.abs(numeric.value), initial=0.0))}
    if check.passed:
        if check.n_kinks:
            return Diagnosis.from_code("correct", name, template="correct.kinks", n_kinks=check.n_kinks)
        return Diagnosis.from_code("correct", name)
    found = diagnose_parameter(name, analytic, numeric.value, numeric=numeric, batch_size=batch_size,
                               others={k: v for k, v in others.items() if k != name})
    if found.code in _PATTERNS or found.detail.get("all_zero"):
        return found
    offset = _offset(np.asarray(analytic, dtype=np.float64), numeric.value)
    if offset is not None:
        return Diagnosis.from_code("wrong", name, template="wrong.offset", **offset, **base)
    if check.n_failed < check.n_entries:
        first = list(check.failed_indices[0]) if check.failed_indices else []
        return Diagnosis.from_code("partial", name, n_wrong=check.n_failed, n_total=check.n_entries,
                                   fraction_correct=1.0 - check.n_failed / check.n_entries, first_wrong=first,
                                   wrong_indices=[list(i) for i in check.failed_indices[:20]], **base)
    return Diagnosis.from_code("wrong", name, **base)


def explain(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
            numeric: Mapping[str, NumericGradient], *, batch_size: int | None = None) -> tuple[ParamCheck, ...]:
    """``checks`` with their diagnoses (full-mode parameters; the others are returned as they are).

    Examples
    --------
    >>> from gradcheck import check_gradients
    >>> p = {"W": np.array([[1.0, 2.0], [3.0, -1.0]])}
    >>> f = lambda q: float(np.sum(q["W"] ** 2) / 4)  # a mean over N = 4 terms ...
    >>> r = check_gradients(f, {"W": 2 * p["W"]}, p)  # ... whose 1/4 the gradient forgot
    >>> r["W"].diagnosis.code, r["W"].diagnosis.detail["factor"]
    ('scale', 4.0)
    """
    values = {k: g.value for k, g in numeric.items()}
    return tuple(
        dataclasses.replace(c, diagnosis=explain_parameter(c, analytic[c.name], numeric[c.name], values, batch_size))
        if c.name in numeric and c.mode == "full" else c
        for c in checks
    )
