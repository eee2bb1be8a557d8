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
* ``wrong.offset``: most entries fail, every one within :data:`OFFSET_MIN` ..
  :data:`OFFSET_MAX` of the largest one: the gradient of a slightly different loss, as
  ``log(y + 1e-7)`` in a cross-entropy makes (the backward differentiates
  ``log(y)``: each sample's gradient moves by about ``1e-7 / y`` relative,
  so the offsets of a weight's entries differ in size and even in sign);
* ``partial``: some entries pass, the others do not (indices from the check);
  ``partial.kinks`` when some that passed did so by a kink's bracket only (rt18 F2: "the other entries
  are right" said more than the check knows), ``partial.offset`` when the few that fail are off by a little (where, and
  by how much: a few entries are not another loss), ``partial.nonzero`` when
  the only entries that pass are zeros (a bug in every active entry);
* ``wrong.flat``: every central difference exactly 0 at no kink, the
  analytic gradient not 0: the loss is flat here, its gradient 0 (a caller
  that can move the point far, :func:`gradcheck.check.check_point`, says
  ``wrong.unread`` when even a large move leaves the loss unchanged);
* ``wrong`` otherwise.

A constant factor's cause is named only when the check knows the loss
(``loss``: a model's head); a failed fast-mode tensor gets a diagnosis from
its localised entries when they all show one factor (:func:`explain_localised`),
else where it failed (:func:`probed`).

A passing parameter is ``correct`` (``correct.kinks`` when kinks decided
some entries).  The grader's ``correct`` tolerance (1e-11) and its
``finite_difference`` and ``precision`` near misses need the exact
gradient, so a check never reports them.
"""
from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradcheck import messages
from gradcheck.diagnose import (RTOL_NEAR, RTOL_PATTERN, Diagnosis, diagnose_parameter, factor_detail, one_way_swaps,
                                scale_cause)
from gradcheck.estimate import NumericGradient
from gradcheck.lossfacts import LossFacts, head_facts
from gradcheck.results import ParamCheck

__all__ = ["MIN_LOCALISED", "OFFSET_MAX", "OFFSET_MIN", "explain", "explain_localised", "explain_parameter", "model_loss",
           "passing", "probed"]

#: Smallest difference named, relative to the largest entry: about the check's own
#: allowance (rtol 1e-8 plus its error bars); below it an entry passes.
OFFSET_MIN = 1e-9
#: Largest: beyond 1e-3 an offset is no longer "small" and reads as a plain error.
OFFSET_MAX = 1e-3

#: Fewest localised entries a fast-mode factor is read from: one number is always a multiple of another, while
#: four entries of a wrong gradient sharing one factor to 1e-6 (the pattern tolerance) do not by chance.
MIN_LOCALISED = 4

#: Patterns the grader's diagnosis recognises on a failed parameter, kept as they are.
_PATTERNS = frozenset({"sign", "scale", "transpose", "swapped", "activation", "shape"})

messages.register_template("wrong.offset", {
    "en": "{param} differs from the numerical gradient only slightly: by at most {max_rel_offset:.1e} of its largest "
          "entry (median relative offset {median_offset:.1e}), in {n_wrong} of {n_total} entries. A small offset in "
          "most entries is what the gradient of a slightly different loss gives: a constant inside a log (log(y + "
          "1e-7), as in DLFS's cross_entropy_error, moves the gradient by about 1e-7 / y) or a clipped value, when the "
          "backward differentiates the loss without it; so does a gradient computed in float32 or by finite "
          "differences. Check the loss as written, or "
          "pass tolerance=Tolerance(rtol=...) above the offset if the difference is intended.",
    "ko": "{param}은(는) 수치 기울기와 아주 조금만 다릅니다: 최대 원소의 {max_rel_offset:.1e} 이하 (상대 오차 중앙값 "
          "{median_offset:.1e}), 원소 {n_total}개 중 {n_wrong}개. 대부분의 원소에서 나타나는 작은 차이는 조금 다른 손실 "
          "함수의 기울기에서 생깁니다: log 안의 상수 (DLFS cross_entropy_error의 log(y + 1e-7)는 기울기를 약 1e-7 / "
          "y만큼 바꿉니다)나 잘라낸 값이 있는데 역전파가 그것이 없는 손실을 미분하면 이런 차이가 납니다. float32 "
          "계산이나 수치 미분으로 구한 기울기도 그렇습니다. 작성한 손실을 확인하거나, 의도한 차이라면 tolerance=Tolerance(rtol=...)를 그보다 크게 주세요.",
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
    # Diagnosis("correct", name, message, {}) without its __init__ and the __post_init__ test of a code known
    # valid (from_code above accepted it): the same frozen object in a third of the time, one per parameter
    made = object.__new__(Diagnosis)
    made.__dict__.update(code="correct", param=name, message=message, detail={})
    return made


def loss_unread(analytic: np.ndarray, numeric: NumericGradient) -> bool:
    """The loss did not change when the parameter moved: every central difference exactly 0, no kink, while the
    analytic gradient is not 0 (the loss does not read these arrays; the gradient is not what can be judged)."""
    return bool(numeric.value.size and not np.any(numeric.value) and not np.any(numeric.kink) and np.any(analytic))


def _passed_at_kinks(check: ParamCheck, numeric: NumericGradient) -> int:
    """How many of the entries that passed were judged at a kink, by its one-sided bracket only."""
    kink = np.asarray(numeric.kink, dtype=bool)
    if len(check.failed_indices) < check.n_failed or kink.size != check.n_entries:  # indices cut short
        return min(check.n_kinks, check.n_entries - check.n_failed)
    failed = np.zeros(kink.shape, dtype=bool)
    for i in check.failed_indices:
        failed[i] = True
    return int(np.sum(kink & ~failed))


def explain_parameter(check: ParamCheck, analytic: np.ndarray, numeric: NumericGradient,
                      others: Mapping[str, np.ndarray], batch_size: int | None,
                      loss: LossFacts | None = None, mistakes: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> Diagnosis:
    """The diagnosis of one parameter (see the module docstring); ``loss``: what is known of the loss, if anything;
    ``mistakes``: known wrong gradients to name (:func:`gradcheck.mistakes.elementwise_mistakes`)."""
    name = check.name
    if check.passed:
        return passing(name, check.n_kinks)
    base: dict[str, Any] = {"max_abs_error": check.max_abs_err, "scale": float(np.max(np.abs(numeric.value), initial=0.0))}
    if loss_unread(analytic, numeric):  # flat here; a caller that can move the point far says when it is unread
        return Diagnosis.from_code("wrong", name, template="wrong.flat", n_wrong=int(np.count_nonzero(analytic)),
                                   n_total=int(np.size(analytic)), **base)
    found = diagnose_parameter(name, analytic, numeric.value, numeric=numeric, batch_size=batch_size,
                               others={k: v for k, v in others.items() if k != name}, loss=loss, mistakes=mistakes)
    if found.code in _PATTERNS or found.detail.get("all_zero"):
        return found
    a = np.asarray(analytic, dtype=np.float64)
    offset = _offset(a, numeric.value)
    if offset is not None and _spread(a, numeric):
        return Diagnosis.from_code("wrong", name, template="wrong.offset", n_wrong=check.n_failed,
                                   n_total=check.n_entries, **offset, **base)
    if check.n_failed < check.n_entries:
        where: dict[str, Any] = {"n_wrong": check.n_failed, "n_total": check.n_entries,
                                 "fraction_correct": 1.0 - check.n_failed / check.n_entries,
                                 "first_wrong": list(check.failed_indices[0]) if check.failed_indices else [],
                                 "wrong_indices": [list(i) for i in check.failed_indices[:20]]}
        if offset is not None:  # a few entries off by a little: where and by how much, no story of a loss
            return Diagnosis.from_code("partial", name, template="partial.offset", **where, **offset, **base)
        n_zero = _right_only_where_zero(check, a)
        if n_zero:
            return Diagnosis.from_code("partial", name, template="partial.nonzero", n_zero=n_zero, **where, **base)
        n_kinks = _passed_at_kinks(check, numeric)
        if n_kinks:  # passed by a bracket is not known right (rt18 F2)
            return Diagnosis.from_code("partial", name, template="partial.kinks", n_kinks=n_kinks, **where, **base)
        return Diagnosis.from_code("partial", name, **where, **base)
    return Diagnosis.from_code("wrong", name, **base)


def _spread(analytic: np.ndarray, numeric: NumericGradient) -> bool:
    """Whether most nonzero entries moved beyond their error bars: a slightly different loss moves (nearly) every one.

    A few wrong entries among right ones are not the gradient of another
    loss, whatever the size of their error: they are reported where they
    are.  An entry has moved when it differs from the estimate by more
    than the estimate's error bar plus :data:`OFFSET_MIN` of itself (only
    then can a difference below the check's tolerance be told from noise).
    """
    n = np.asarray(numeric.value, dtype=np.float64)
    moved = np.abs(analytic - n) > np.asarray(numeric.error, dtype=np.float64) + OFFSET_MIN * np.abs(n)
    count = int(np.count_nonzero(moved & (n != 0)))
    return count >= 2 and 2 * count >= int(np.count_nonzero(n))


def _right_only_where_zero(check: ParamCheck, analytic: np.ndarray) -> int:
    """How many entries pass only as zeros, when every nonzero entry of the submitted gradient fails (else 0).

    Entries where the submission's gradient is exactly zero and passed
    (behind an inactive ReLU, a zero input) are right whatever the bug is
    and say nothing about where it is.  Known only when every failing entry
    is listed (:attr:`ParamCheck.failed_indices` holds them all).
    """
    if len(check.failed_indices) != check.n_failed or check.n_failed == 0:
        return 0
    failing = np.zeros(analytic.shape, dtype=bool)
    failing[tuple(np.array(check.failed_indices).T)] = True
    zero = analytic == 0
    if np.any(zero & failing) or not np.all(failing | zero):
        return 0
    return int(np.count_nonzero(zero))


def explain_localised(check: ParamCheck, batch_size: int | None, loss: LossFacts | None = None) -> Diagnosis | None:
    """A fast-mode tensor's diagnosis from its localised entries, when they all show one constant factor (else ``None``).

    Fast mode checks a large tensor along random directions and, when one
    fails, bisects down to at most a few wrong entries
    (:attr:`ParamCheck.worst`); those are the only entries compared one by
    one.  When at least :data:`MIN_LOCALISED` of them are the numerical
    gradient times the same constant (to the pattern tolerance,
    :data:`gradcheck.diagnose.RTOL_PATTERN`, of the largest), the factor is
    reported *for those entries*; its cause is named only conditionally
    ("if every entry is so"), and only when the loss has the term it blames.
    """
    entries = [e for e in check.worst if not e.kink]
    if check.passed or check.mode != "fast" or len(entries) < MIN_LOCALISED:
        return None
    s = np.array([e.analytic for e in entries])
    r = np.array([e.numeric for e in entries])
    if np.count_nonzero(r) < MIN_LOCALISED:
        return None
    c = float(np.vdot(s, r) / np.vdot(r, r))
    if not np.isfinite(c) or abs(c - 1) <= RTOL_NEAR or c == 0:
        return None
    fit = np.abs(s - c * r) <= RTOL_PATTERN * np.max(np.abs(c * r)) + np.array([abs(c) * e.error_estimate for e in entries])
    if not np.all(fit):
        return None
    detail = factor_detail(c, batch_size)
    cause = scale_cause(detail, loss)
    template = "scale.localised.named" if cause["template"] == "scale.named" else "scale.localised"
    cause = {k: v for k, v in cause.items() if k != "template"}
    return Diagnosis.from_code("scale", check.name, template=template, n_localised=len(entries), localised=True,
                               max_abs_error=check.max_abs_err, **detail, **cause)


def probed(check: ParamCheck) -> Diagnosis | None:
    """A failed fast-mode tensor's diagnosis from where it failed: its failing probes, and the entries bisection
    localised (``wrong.localised``) or none (``wrong.probed``); ``None`` for a passing one.

    What is said when the localised entries show no constant factor
    (:func:`explain_localised`): a failed check always carries a diagnosis.
    """
    if check.passed:
        return None
    where: dict[str, Any] = {"n_wrong": check.n_failed, "n_total": check.n_entries, "max_abs_error": check.max_abs_err}
    if not check.failed_indices:
        return Diagnosis.from_code("wrong", check.name, template="wrong.probed", **where)
    return Diagnosis.from_code("wrong", check.name, template="wrong.localised", n_localised=len(check.failed_indices),
                               first_wrong=list(check.failed_indices[0]), **where)


def model_loss(evaluator: Any) -> Callable[[], LossFacts | None]:
    """What a check of a model can know of its loss: its head, measured at the base point when called.

    ``evaluator``: a :class:`gradcheck.engine.ModelEvaluator` (its model's
    ``head``, the network output ``output`` and the targets ``y``).
    """
    return functools.partial(head_facts, evaluator.model.head, evaluator.output, evaluator.y)


def explain(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
            numeric: Mapping[str, NumericGradient], *, batch_size: int | None = None,
            values: Mapping[str, np.ndarray] | None = None,
            loss: LossFacts | Callable[[], LossFacts | None] | None = None,
            mistakes: Mapping[str, Mapping[str, np.ndarray]] | None = None) -> tuple[ParamCheck, ...]:
    """``checks`` with their diagnoses (full-mode parameters, and failed fast-mode ones whose localised entries
    show a constant factor, :func:`explain_localised`; the others are returned as they are).

    ``values``: every parameter's numerical gradient (what a diagnosis
    compares with, e.g. to recognise a swapped one), when ``numeric`` holds
    only the parameters of ``checks``; default: the values of ``numeric``.
    ``loss``: what is known of the loss (a check of a model with a loss
    head knows it, :func:`gradcheck.lossfacts.head_facts`), or a function
    measuring it (called only when a check failed); without it, a constant
    factor is reported with no cause.  ``mistakes``: ``{mistake: {param:
    wrong gradient}}``, named as ``activation`` when a gradient matches one.

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
    if callable(loss):
        loss = loss() if any(not c.passed for c in checks) else None
    explained = tuple(
        dataclasses.replace(c, diagnosis=explain_parameter(c, analytic[c.name], numeric[c.name], values, batch_size,
                                                           loss, mistakes))
        if c.name in numeric and c.mode == "full"
        else dataclasses.replace(c, diagnosis=explain_localised(c, batch_size, loss) or probed(c))
        if c.diagnosis is None else c
        for c in checks
    )
    found = one_way_swaps({c.name: c.diagnosis for c in explained if c.diagnosis is not None}, analytic, values,
                          errors={k: g.error for k, g in numeric.items()})
    return tuple(c if found.get(c.name) is c.diagnosis else dataclasses.replace(c, diagnosis=found[c.name]) for c in explained)
