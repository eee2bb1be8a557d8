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
* ``wrong.offset``: every entry within :data:`OFFSET_MIN` .. :data:`OFFSET_MAX`
  of the largest one: the gradient of a slightly different loss, as
  ``log(y + 1e-7)`` in a cross-entropy makes (the backward differentiates
  ``log(y)``: each sample's gradient moves by about ``1e-7 / y`` relative,
  so the offsets of a weight's entries differ in size and even in sign);
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

__all__ = ["OFFSET_MAX", "OFFSET_MIN", "explain", "explain_parameter", "passing"]

#: Smallest difference named, relative to the largest entry: about the check's own
#: allowance (rtol 1e-8 plus its error bars); below it an entry passes.
OFFSET_MIN = 1e-9
#: Largest: beyond 1e-3 an offset is no longer "small" and reads as a plain error.
OFFSET_MAX = 1e-3

#: Patterns the grader's diagnosis recognises on a failed parameter, kept as they are.
_PATTERNS = frozenset({"sign", "scale", "transpose", "swapped", "activation", "shape"})

messages.register_template("wrong.offset", {
    "en": "{param} differs from the numerical gradient only slightly: by at most {max_rel_offset:.1e} of its largest "
          "entry (median relative offset {median_offset:.1e}), in {n_wrong} of {n_total} entries. It is the gradient "
          "of a slightly different loss: a constant inside a log (log(y + 1e-7), as in DLFS's cross_entropy_error, "
          "moves the gradient by about 1e-7 / y) or a clipped value does this, as the backward differentiates the loss "
          "without it; so does a gradient computed in float32 or by finite differences. Check the loss as written, or "
          "pass tolerance=Tolerance(rtol=...) above the offset if the difference is intended.",
    "ko": "{param}은(는) 수치 기울기와 아주 조금만 다릅니다: 최대 원소의 {max_rel_offset:.1e} 이하 (상대 오차 중앙값 "
          "{median_offset:.1e}), 원소 {n_total}개 중 {n_wrong}개. 조금 다른 손실 함수의 기울기입니다: log 안의 상수 "
          "(DLFS cross_entropy_error의 log(y + 1e-7)는 기울기를 약 1e-7 / y만큼 바꿉니다)나 잘라낸 값이 이런 차이를 "
          "만듭니다. 역전파는 그 상수가 없는 손실을 미분하기 때문입니다. float32 계산이나 수치 미분으로 구한 기울기도 "
          "그렇습니다. 작성한 손실을 확인하거나, 의도한 차이라면 tolerance=Tolerance(rtol=...)를 그보다 크게 주세요.",
})


def _offset(analytic: np.ndarray, numeric: np.ndarray) -> dict[str, Any] | None:
    """Facts about a difference that is small everywhere (:data:`OFFSET_MIN` .. :data:`OFFSET_MAX` of the scale)."""
    scale = float(np.max(np.abs(numeric), initial=0.0))
    if scale == 0:
        return None
    rel = float(np.max(np.abs(analytic - numeric))) / scale
    if not OFFSET_MIN <= rel <= OFFSET_MAX:
        return None
    big = np.abs(numeric) > 1e-3 * scale
    q = analytic[big] / numeric[big] - 1.0
    return {"max_rel_offset": rel, "median_offset": float(np.median(q)) if q.size else 0.0}


#: Rendered ``correct`` messages by parameter name and template text (a replaced template is a new key).
_CORRECT: dict[tuple[str, str], str] = {}


def passing(name: str, n_kinks: int = 0) -> Diagnosis:
    """The diagnosis of a passing parameter: ``correct`` (``correct.kinks`` when kinks decided some entries).

    The plain ``correct`` message depends on the name alone and is rendered
    once per name (a toy network's check builds one for every parameter).

    >>> passing("W1").message == Diagnosis.from_code("correct", "W1").message
    True
    """
    if n_kinks:
        return Diagnosis.from_code("correct", name, template="correct.kinks", n_kinks=n_kinks)
    key = (name, messages.TEMPLATES["correct"]["en"])  # messages.text("correct"), without its checks of the language
    message = _CORRECT.get(key)
    if message is None:
        if len(_CORRECT) > 4096:  # parameter names are few; never grow without bound
            _CORRECT.clear()
        message = _CORRECT[key] = Diagnosis.from_code("correct", name).message
    return Diagnosis("correct", name, message, {})


def explain_parameter(check: ParamCheck, analytic: np.ndarray, numeric: NumericGradient,
                      others: Mapping[str, np.ndarray], batch_size: int | None) -> Diagnosis:
    """The diagnosis of one parameter (see the module docstring)."""
    name = check.name
    if check.passed:
        return passing(name, check.n_kinks)
    base: dict[str, Any] = {"max_abs_error": check.max_abs_err, "scale": float(np.max(np.abs(numeric.value), initial=0.0))}
    found = diagnose_parameter(name, analytic, numeric.value, numeric=numeric, batch_size=batch_size,
                               others={k: v for k, v in others.items() if k != name})
    if found.code in _PATTERNS or found.detail.get("all_zero"):
        return found
    offset = _offset(np.asarray(analytic, dtype=np.float64), numeric.value)
    if offset is not None:
        return Diagnosis.from_code("wrong", name, template="wrong.offset", n_wrong=check.n_failed,
                                   n_total=check.n_entries, **offset, **base)
    if check.n_failed < check.n_entries:
        first = list(check.failed_indices[0]) if check.failed_indices else []
        return Diagnosis.from_code("partial", name, n_wrong=check.n_failed, n_total=check.n_entries,
                                   fraction_correct=1.0 - check.n_failed / check.n_entries, first_wrong=first,
                                   wrong_indices=[list(i) for i in check.failed_indices[:20]], **base)
    return Diagnosis.from_code("wrong", name, **base)


def explain(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
            numeric: Mapping[str, NumericGradient], *, batch_size: int | None = None,
            values: Mapping[str, np.ndarray] | None = None) -> tuple[ParamCheck, ...]:
    """``checks`` with their diagnoses (full-mode parameters; the others are returned as they are).

    ``values``: every parameter's numerical gradient (what a diagnosis
    compares with, e.g. to recognise a swapped one), when ``numeric`` holds
    only the parameters of ``checks``; default: the values of ``numeric``.

    Examples
    --------
    >>> from gradcheck import check_gradients
    >>> p = {"W": np.array([[1.0, 2.0], [3.0, -1.0]])}
    >>> f = lambda q: float(np.sum(q["W"] ** 2) / 4)  # a mean over N = 4 terms ...
    >>> r = check_gradients(f, {"W": 2 * p["W"]}, p)  # ... whose 1/4 the gradient forgot
    >>> r["W"].diagnosis.code, r["W"].diagnosis.detail["factor"]
    ('scale', 4.0)
    """
    if values is None:
        values = {k: g.value for k, g in numeric.items()}
    return tuple(
        dataclasses.replace(c, diagnosis=explain_parameter(c, analytic[c.name], numeric[c.name], values, batch_size))
        if c.name in numeric and c.mode == "full" else c
        for c in checks
    )
