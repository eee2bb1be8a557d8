"""Name the kind of bug in a student's gradient.

Given, for one test point, the gradients a student's backward pass returned
and the reference model's *exact* gradients, :func:`diagnose` returns one
:class:`Diagnosis` per parameter: a machine-readable ``code`` from
:data:`CODES` (the values of :class:`GradientCode` and
:class:`BehaviourCode`), one plain sentence (English or Korean, see
:mod:`gradcheck.messages`) and a ``detail`` dict of JSON-safe facts.
Verdicts about the process that ran a submission (``syntax``,
``timeout``, ``crash`` ...) are the grader's, in
:mod:`gradcheck.grading.verdicts`.

Tolerances
----------
``correct``
    Two float64 backward passes of the same network differ only by the
    rounding of the ``O(10-100)`` operations each gradient entry goes
    through, each contributing at most ``eps = 2.2e-16`` relative to the
    size of the numbers involved: about ``1e-14 .. 1e-12`` relative to the
    largest gradient entry, even after cancellation in the sums over a
    batch.  An entry is correct when
    ``|s - r| <= RTOL_CORRECT * max|r| + ATOL_CORRECT`` with
    ``RTOL_CORRECT = 1e-11`` (ten to a thousand times that rounding, so
    no correct float64 implementation is refused) and ``ATOL_CORRECT =
    1e-13`` (for a reference that is exactly zero, e.g. behind a step
    activation, where the student's rounding of terms of size ``O(1)`` that
    cancel is ``~ N * eps``, N up to a few hundred).  Tighter than 1e-9 on
    purpose: central differences at the course's own steps (h = 1e-4 in
    003, 1e-5 in cs231n) agree with the exact gradient to 3e-11 .. 1e-8
    relative to the largest entry on the reference networks (measured),
    and must be named ``finite_difference``, not accepted as backprop.
    Measuring the error against ``max|r|`` rather than entry by entry keeps
    tiny entries (which carry cancellation error of the order of the big
    ones) from being refused.
``kinks``
    Where the numerical estimate flags a kink (ReLU at 0), the derivative
    does not exist and any value between the one-sided difference
    quotients ``lower`` and ``upper`` (widened by their error bar) is a
    valid subgradient and counted correct (:func:`gradcheck.compare.judge`, the
    rule every check uses).
patterns
    A pattern (``-r``, ``c * r``, ``r.T``, another parameter's gradient, a
    known mistake) is recognised when it explains the student's array to
    ``RTOL_PATTERN = 1e-6`` relative to the largest entry: random-valued
    arrays never agree that well by accident, and a pattern computed in
    float32 or by a different order of operations still does.
near misses
    An array within ``RTOL_NEAR = 1e-3`` of the gradient that is not
    correct was either computed in single precision (``precision``: float32
    dtype, or every value exactly representable in float32, which a
    float64 computation never produces) or by finite differences
    (``finite_difference``: a central difference with a step between
    ``1e-2`` and ``1e-8`` has a relative error between about ``1e-4`` and
    ``1e-9``, truncation ``h**2 |f'''| / 6`` against round-off ``eps |f| / h``).
    The grader never accuses by these values alone: it grades such a near
    miss ``precision`` within ``RTOL_FLOAT32 = 1e-4`` (what a float32 step
    or an epsilon in a derivative reaches, measured) and ``wrong`` beyond
    (:mod:`gradcheck.grading.pipeline`).

Examples
--------
>>> r = {"W": np.array([[1.0, -2.0], [0.5, 3.0]])}
>>> diagnose({"W": -r["W"]}, r)["W"].code
'sign'
>>> d = diagnose({"W": 2 * r["W"]}, r, batch_size=4)["W"]
>>> d.code, d.detail["factor_name"], d.detail["template"]  # no loss known: the factor, no cause
('scale', '2', 'scale.unknown')
>>> diagnose({"W": r["W"].T}, r)["W"].code
'transpose'
"""
from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

import numpy as np

from gradcheck import messages
from gradcheck._validate import check_int
from gradcheck.errors import GradcheckTypeError, GradcheckValueError
from gradcheck.compare import judge
from gradcheck.estimate import NumericGradient
from gradcheck.jsonsafe import json_safe
from gradcheck.lossfacts import LossFacts, scale_causes

__all__ = [
    "GradientCode",
    "BehaviourCode",
    "CODES",
    "GRADIENT_CODES",
    "BEHAVIOUR_CODES",
    "PASSING_CODES",
    "RTOL_CORRECT",
    "ATOL_CORRECT",
    "RTOL_PATTERN",
    "RTOL_NEAR",
    "Diagnosis",
    "is_exact_mistake",
    "diagnose",
    "diagnose_parameter",
    "runtime_diagnosis",
    "describe",
    "scale_factor_names",
    "factor_detail",
    "scale_cause",
    "with_loss",
    "one_way_swaps",
]

class GradientCode(str, enum.Enum):
    """What a comparison of one gradient array can find (the value is the code)."""

    CORRECT = "correct"
    SIGN = "sign"
    SCALE = "scale"
    TRANSPOSE = "transpose"
    SWAPPED = "swapped"
    ACTIVATION = "activation"
    PARTIAL = "partial"
    SHAPE = "shape"
    TYPE = "type"
    NONFINITE = "nonfinite"
    FINITE_DIFFERENCE = "finite_difference"
    PRECISION = "precision"
    GLOBAL = "global"  # exact for the module's own global data, not for the arguments (the grader's check)
    WRONG = "wrong"
    MISSING = "missing"


class BehaviourCode(str, enum.Enum):
    """What a backward pass did around the call (:mod:`gradcheck.guards`, the grader)."""

    MUTATION = "mutation"
    NONDETERMINISTIC = "nondeterministic"


#: Codes a comparison of one gradient array can produce.
GRADIENT_CODES: tuple[str, ...] = tuple(c.value for c in GradientCode)
#: Codes for what happened around the call.
BEHAVIOUR_CODES: tuple[str, ...] = tuple(c.value for c in BehaviourCode)
#: Every core code, in the order reports list them.
CODES: tuple[str, ...] = GRADIENT_CODES + BEHAVIOUR_CODES
#: Codes whose gradient is accepted as right.
PASSING_CODES: frozenset[str] = frozenset({GradientCode.CORRECT.value})

RTOL_CORRECT = 1e-11
ATOL_CORRECT = 1e-13
RTOL_PATTERN = 1e-6
RTOL_NEAR = 1e-3


@dataclass(frozen=True)
class Diagnosis:
    """The verdict on one parameter's gradient (or on the whole run).

    Attributes
    ----------
    code : str
        One of :attr:`codes` (:data:`CODES`; a :class:`GradientCode` or
        :class:`BehaviourCode` member is stored as its value).
    param : str
        The parameter (``"W1"``); for runtime verdicts, the function or ``""``.
    message : str
        One plain sentence for the student.
    detail : dict
        JSON-safe facts (``factor``, ``other``, ``n_wrong`` ...); also the
        fields of the message template (see :func:`describe`).
    """

    code: str
    param: str
    message: str
    detail: dict[str, Any] = field(default_factory=dict, hash=False, compare=True)

    #: The codes this class accepts (a higher layer's subclass may add its own).
    codes: ClassVar[tuple[str, ...]] = CODES

    def __post_init__(self) -> None:
        if isinstance(self.code, enum.Enum):
            object.__setattr__(self, "code", self.code.value)
        if self.code not in self.codes:
            raise GradcheckValueError(f"code must be one of {self.codes}, got code={self.code!r}")

    @property
    def passed(self) -> bool:
        """Whether the gradient is accepted (``correct``; ``precision`` earns partial credit)."""
        return self.code in PASSING_CODES

    @classmethod
    def from_code(cls, code: str, param: str = "", *, lang: str = "en", **detail: Any) -> "Diagnosis":
        """A diagnosis with its message rendered from ``code``'s template in ``lang``.

        ``detail`` is made JSON-safe; ``code`` must be one of :attr:`codes`.

        >>> Diagnosis.from_code("missing", "b2").message
        'b2 is missing from what the submission returned.'
        """
        code = code.value if isinstance(code, enum.Enum) else code
        if code not in cls.codes:
            raise GradcheckValueError(f"code must be one of {cls.codes}, got code={code!r}")
        lang = messages.check_lang(lang)
        safe = json_safe(detail)
        return cls(code, param, describe(code, param, safe, lang=lang), safe)

    def in_language(self, lang: str) -> "Diagnosis":
        """The same diagnosis with its message in ``lang``."""
        return dataclasses.replace(self, message=describe(self.code, self.param, self.detail, lang=lang),
                                   detail=dict(self.detail))


def describe(code: str, param: str, detail: Mapping[str, Any], *, lang: str = "en") -> str:
    """Render the sentence for a diagnosis from its code, parameter and detail.

    ``detail["template"]`` selects a variant (``"wrong.zero"``); the
    default is the template named by ``code``.  ``detail["caveat"]`` names
    a template said before it, when the point cannot decide the verdict
    (``"ties.undecided"``).

    >>> describe("scale", "dW", {"template": "scale.named", "factor_text": "2", "cause_key": "cause.2"})
    'dW is the exact gradient times 2: the factor 1/2 of the loss was lost (the derivative of (1/2)(y - a)^2 is (a - y), not 2(a - y)).'
    """
    fields: dict[str, Any] = {"param": param, "reshaped": ""}
    fields.update(detail)
    if detail.get("reshaped_to"):
        fields["reshaped"] = messages.render("transpose.reshaped", {"got_shape": tuple(detail["reshaped_to"])}, lang=lang)
    if "cause_keys" in detail:  # several usual causes fit (2 = N/2 at N = 4): each is named, none chosen
        causes = [messages.render(k, fields, lang=lang).rstrip(".") for k in detail["cause_keys"]]
        fields["cause"] = messages.render("cause.ambiguous", {**fields, "causes": messages.text("cause.or", lang=lang).join(causes)}, lang=lang)
    if "cause_key" in detail:
        fields["cause"] = messages.render(detail["cause_key"], fields, lang=lang)
        if detail.get("negative"):
            fields["cause"] += messages.text("factor.sign", lang=lang)
    if detail.get("shared_with"):  # a one-entry gradient's factor, known from the others (:func:`_one_entry_factors`)
        fields["shared"] = messages.render("scale.shared", {**fields, "shared_text": ", ".join(detail["shared_with"])}, lang=lang)
    if "mistake" in detail:
        key = f"mistake.{detail['mistake'].partition('@')[0]}"  # "sigmoid_twice@1": that slip in layer 1 only
        fields["mistake_text"] = messages.render(key if key in messages.TEMPLATES else "mistake.generic", fields, lang=lang)
    for k in ("got_shape", "expected_shape"):
        if isinstance(fields.get(k), list):
            fields[k] = tuple(fields[k])
    text = messages.render(str(detail.get("template", code)), fields, lang=lang)
    text = f"{text} {fields['shared']}" if "shared" in fields else text
    if detail.get("caveat"):  # a verdict the point cannot decide ("ties.undecided") says so first
        text = f"{messages.render(detail['caveat'], fields, lang=lang)} {text}"
    return text


def _make(code: str, param: str, lang: str, **detail: Any) -> Diagnosis:
    return Diagnosis(code, param, describe(code, param, detail, lang=lang), detail)


def runtime_diagnosis(code: str, *, param: str = "", lang: str = "en", **detail: Any) -> Diagnosis:
    """A diagnosis for something observed around the call (a mutated argument, a missing gradient).

    The grader's verdicts about a process (``timeout``, ``crash`` ...) are
    :func:`gradcheck.grading.verdicts.runtime_diagnosis`.

    >>> runtime_diagnosis("mutation", param="x").message
    'The submission changed its argument x in place: a backward pass must not modify its inputs (copy an array before writing into it).'
    >>> runtime_diagnosis("nondeterministic", param="W", lang="ko").code
    'nondeterministic'
    """
    return Diagnosis.from_code(code, param, lang=lang, **detail)


# -- helpers -------------------------------------------------------------------


def _max_abs(a: np.ndarray) -> float:
    return float(np.max(np.abs(a))) if a.size else 0.0


def _close(s: np.ndarray, t: np.ndarray, rtol: float, atol: float = ATOL_CORRECT) -> bool:
    """``|s - t| <= rtol * max|t| + atol`` everywhere (``t`` sets the scale)."""
    if s.shape != t.shape:
        return False
    return bool(np.all(np.abs(s - t) <= rtol * _max_abs(t) + atol))


def _fit(s: np.ndarray, t: np.ndarray) -> dict[str, Any]:
    """How well the pattern ``t`` explains ``s``: ``fit_error`` (largest error over ``max|t|``) and ``exact_fit``.

    ``exact_fit`` is ``correct``'s rule (``RTOL_CORRECT``, ``ATOL_CORRECT``)
    held to the pattern: ``-r``, a named factor times ``r``, ``r.T`` ... are
    exact only when the values are what backpropagation with that slip
    returns, to its precision, not a finite difference's (rt26 F7:
    :func:`is_exact_mistake`).
    """
    scale = _max_abs(t)
    err = float(np.max(np.abs(s - t), initial=0.0))
    return {"fit_error": err / scale if scale > 0 else err, "exact_fit": _close(s, t, RTOL_CORRECT)}


def _scale_fit(s: np.ndarray, r: np.ndarray, c: float, names: list[str], batch_size: int | None) -> dict[str, Any]:
    """:func:`_fit` of ``s`` to ``c r`` with ``c`` replaced by the exact value of its first usual name (``N``, ``2`` ...).

    A factor with no usual name is never exact: fitting ``c`` to the values
    would absorb a finite difference's error that is nearly proportional to
    the gradient (:func:`_match_pattern`), so only a named value is held exactly.
    """
    if not names:
        return {**_fit(s, c * r), "exact_fit": False}
    exact = dict(scale_factor_names(batch_size))[names[0]]
    return _fit(s, float(np.copysign(exact, c)) * r)


def is_exact_mistake(d: Diagnosis) -> bool:
    """Whether ``d`` is a known mistake (``sign``, ``scale``, ``transpose`` ...) whose values fit it exactly.

    Exactly: to backpropagation's precision, the rule ``correct`` uses
    (:func:`_fit`), so a negated, scaled or transposed finite difference is
    exact only when the finite difference itself would be ``correct``.  The
    grader keeps such a diagnosis when the forward count is the only
    evidence of a numerical gradient (a gradient check left in backward,
    rt26 F7).  Measured (``python benchmarks/numerical_slips.py 5``):
    honest slips (the test corpus's, rt26's) fit to at most 1.4e-13
    (``activation``; ``sign`` 2.3e-15), 72 times inside; of 23,176
    numerical tensors negated or scaled by 2 or ``N`` (central, forward,
    4-point and Richardson differences, h = 1e-2 .. 1e-7, every reference
    model up to 200 parameters), 4,071 fit exactly, every one of them a
    finite difference that is itself ``correct`` by value.

    >>> r = np.array([[0.5, -1.25, 2.0]])
    >>> is_exact_mistake(diagnose_parameter("W", -r, r)), is_exact_mistake(diagnose_parameter("W", -r * (1 + 1e-9), r))
    (True, False)
    """
    return d.code != "correct" and d.detail.get("exact_fit") is True


def _is_float32_valued(s: np.ndarray) -> bool:
    """Every value is exactly a float32, and some are not 'round' numbers."""
    finite = s[np.isfinite(s)]
    if not np.array_equal(finite.astype(np.float32).astype(np.float64), finite):
        return False
    # round numbers (0, 0.5, 3.0) are float32-exact in any computation
    return bool(np.any(finite * 1024.0 != np.round(finite * 1024.0)))


def scale_factor_names(batch_size: int | None) -> list[tuple[str, float]]:
    """Usual constant factors and their names, for a batch of ``batch_size``.

    >>> [name for name, c in scale_factor_names(5)][:4]
    ['2', '1/2', 'N', '1/N']
    """
    out: list[tuple[str, float]] = [("2", 2.0), ("1/2", 0.5)]
    if batch_size is not None and batch_size > 1:
        n = float(batch_size)
        out += [("N", n), ("1/N", 1 / n), ("N/2", n / 2), ("2/N", 2 / n), ("2N", 2 * n), ("1/(2N)", 1 / (2 * n))]
    return out


def _factor_text(c: float, names: list[str], batch_size: int | None) -> str:
    number = f"{c:.6g}"
    symbolic = [n for n in names if n not in ("2", "1/2") and n != number]
    if symbolic and batch_size is not None:
        return f"{number} (= {' = '.join(symbolic)}, N = {batch_size})"
    return number


def factor_detail(c: float, batch_size: int | None) -> dict[str, Any]:
    """The facts of a constant factor ``c``: its value and its usual names at ``batch_size``.

    >>> factor_detail(-2.0, 4)["factor_names"]
    ['2', 'N/2']
    """
    names = [n for n, v in scale_factor_names(batch_size) if abs(abs(c) - v) <= RTOL_PATTERN * v]
    return {"factor": c, "factor_names": names, "factor_name": names[0] if names else None, "negative": c < 0,
            "batch_size": batch_size}


#: The names of a factor that hold whatever the loss is: a multiple of the batch size is one for any function of a
#: batch, while ``N/2`` or ``2N`` read the factor as a piece of a squared error.
_BATCH_NAMES = ("N", "1/N")


def scale_cause(detail: Mapping[str, Any], loss: LossFacts | None) -> dict[str, Any]:
    """The template, cause and factor text of a ``scale`` diagnosis with the factor ``detail`` (:func:`factor_detail`).

    With ``loss`` unknown (``None``) no cause is named (``scale.unknown``),
    and the factor is written with the batch's names only (``= N``);
    known, the causes :func:`gradcheck.lossfacts.scale_causes` allows:
    one is named, several (``2 = N`` at ``N = 2``) are all named and none
    chosen, none gives the plain ``scale`` sentence.

    >>> scale_cause(factor_detail(2.0, 4), None)
    {'factor_text': '2', 'template': 'scale.unknown'}
    >>> scale_cause(factor_detail(2.5, 5), LossFacts("mean", False))["cause_key"]
    'cause.N/2'
    """
    names, n = list(detail["factor_names"]), detail.get("batch_size")
    if loss is None:
        return {"factor_text": _factor_text(detail["factor"], [k for k in names if k in _BATCH_NAMES], n),
                "template": "scale.unknown"}
    out: dict[str, Any] = {"factor_text": _factor_text(detail["factor"], names, n), "template": "scale"}
    keys = scale_causes(names, loss)
    if len(keys) > 1:
        out.update(template="scale.named", cause_keys=keys)
    elif keys:
        out.update(template="scale.named", cause_key=keys[0])
    return out


def with_loss(diagnosis: Diagnosis, loss: LossFacts | None, *, lang: str = "en") -> Diagnosis:
    """A ``scale`` diagnosis with its cause chosen by what is now known of the loss (others unchanged).

    >>> r = np.array([[0.1, -0.2, 0.3]])
    >>> d = diagnose_parameter("W2", r / 2, r, batch_size=3)
    >>> d.detail["template"], with_loss(d, LossFacts("sum", True)).detail["cause_key"]
    ('scale.unknown', 'cause.1/2.half')
    """
    if diagnosis.code != "scale" or "factor_names" not in diagnosis.detail:
        return diagnosis
    detail = {k: v for k, v in diagnosis.detail.items() if k not in ("template", "cause_key", "cause_keys")}
    detail.update(scale_cause(detail, loss))
    if loss is not None:
        detail.update(loss_reduction=loss.reduction, loss_half=loss.half)
    return dataclasses.replace(diagnosis, message=describe(diagnosis.code, diagnosis.param, detail, lang=lang), detail=detail)


def _as_array(value: Any) -> np.ndarray | None:
    """The student's value as an ndarray, or ``None`` when it is not numeric."""
    try:
        arr = np.asarray(value)
    except Exception:  # noqa: BLE001 - any object may come from a student
        return None
    if arr.dtype.kind not in "iuf":
        return None
    return arr


def _first_index(mask: np.ndarray) -> list[int]:
    idx = np.argwhere(mask)
    return [int(i) for i in idx[0]] if len(idx) else []


# -- the per-parameter diagnosis ------------------------------------------------


def diagnose_parameter(
    param: str,
    student: Any,
    reference: np.ndarray,
    *,
    numeric: NumericGradient | None = None,
    batch_size: int | None = None,
    value: np.ndarray | None = None,
    others: Mapping[str, np.ndarray] | None = None,
    mistakes: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    loss: LossFacts | None = None,
    lang: str = "en",
) -> Diagnosis:
    """Diagnose one parameter's gradient.

    Parameters
    ----------
    param : str
        The parameter's name.
    student : any
        What the student returned for it (``None`` when absent).
    reference : ndarray
        The exact gradient (finite).
    numeric : NumericGradient, optional
        The numerical estimate; enables acceptance at kinks.
    batch_size : int, optional
        ``N``, to name factors such as ``N/2``.
    value : ndarray, optional
        The parameter's value, to recognise a returned parameter or update.
    others : mapping, optional
        The exact gradients of the other parameters, to recognise swaps.
    mistakes : mapping, optional
        ``{mistake name: {param: wrong gradient}}`` from known mistakes
        (:func:`gradcheck.mistakes.mistake_gradients`).
    loss : LossFacts, optional
        What is known of the loss; a constant factor's cause is named only
        when the loss has the term it blames (:func:`scale_cause`).
    lang : {"en", "ko"}

    Returns
    -------
    Diagnosis

    Examples
    --------
    >>> r = np.array([[0.1, -0.2, 0.3]])
    >>> diagnose_parameter("b1", r * 5, r, batch_size=5).detail["factor_names"]
    ['N']
    >>> diagnose_parameter("b1", np.zeros(3), r).code
    'shape'
    """
    messages.check_lang(lang)
    r = np.asarray(reference, dtype=np.float64)
    if not np.all(np.isfinite(r)):
        raise GradcheckValueError(f"reference for {param!r} must be finite, got {int(np.sum(~np.isfinite(r)))} non-finite entries")
    check_int(batch_size, "batch_size", min_value=1, allow_none=True)
    others = {k: np.asarray(v, dtype=np.float64) for k, v in (others or {}).items() if k != param}
    if student is None:
        return _make("missing", param, lang)
    arr = _as_array(student)
    if arr is None:
        return _make("type", param, lang, got_type=type(student).__name__ if not isinstance(student, np.ndarray) else f"ndarray of {student.dtype}")
    dtype = str(arr.dtype)
    s = arr.astype(np.float64)
    if s.shape != r.shape:
        return _diagnose_shape(param, s, r, others, lang, batch_size)
    n_bad = int(np.sum(~np.isfinite(s)))
    if n_bad:
        return _make("nonfinite", param, lang, n_nonfinite=n_bad, n_total=int(s.size))
    scale = _max_abs(r)
    ok, n_kinks = _accepted(s, r, numeric, RTOL_CORRECT * scale + ATOL_CORRECT)
    base = _errors(s, r, dtype)
    rel = base["rel_error"]
    if bool(np.all(ok)):
        if n_kinks:
            return _make("correct", param, lang, template="correct.kinks", n_kinks=n_kinks, **base)
        return _make("correct", param, lang, **base)
    if dtype in ("float32", "float16") or (rel <= RTOL_NEAR and _is_float32_valued(s)):
        if rel <= RTOL_NEAR:
            return _make("precision", param, lang, **base)
    if scale > 0 and not np.any(s):
        return _make("wrong", param, lang, template="wrong.zero", all_zero=True, **base)
    pattern = _match_pattern(param, s, r, others, mistakes or {}, batch_size, loss, lang, base)
    if pattern is not None:
        return pattern
    if value is not None:
        update = _match_update(param, s, r, np.asarray(value, dtype=np.float64), lang, base)
        if update is not None:
            return update
    return _near_or_partial(param, s, r, ok, numeric, lang, base)


def _errors(s: np.ndarray, r: np.ndarray, dtype: str) -> dict[str, Any]:
    """The error facts every gradient diagnosis carries: the largest error, the scale, their ratio, the dtype."""
    scale = _max_abs(r)
    err = float(np.max(np.abs(s - r), initial=0.0))
    return {"max_abs_error": err, "scale": scale, "rel_error": err / scale if scale > 0 else err, "dtype": dtype}


def _one_entry_factors(out: dict[str, Diagnosis], student: Mapping[str, Any], reference: Mapping[str, np.ndarray],
                       batch_size: int | None, loss: LossFacts | None, lang: str) -> dict[str, Diagnosis]:
    """``out`` with a one-entry gradient called ``scale`` when it is off by the factor every other one shows.

    One number is always some multiple of another, so a gradient with one
    nonzero entry names no factor by itself (:func:`_match_pattern`).  When
    every other parameter is the exact gradient times the same ``c`` (one of
    them with two or more nonzero entries: evidence) and the one entry is
    ``c`` times its exact value too, the factor is that one: a chance value
    would not equal ``c`` to ``RTOL_PATTERN``.  Parameters whose exact
    gradient is zero say nothing and are passed over.
    """
    exact = {k: np.asarray(r, dtype=np.float64) for k, r in reference.items()}
    lone = [k for k, d in out.items() if d.code == "wrong" and np.count_nonzero(exact[k]) == 1]
    shown = [k for k in out if k not in lone and np.any(exact[k])]
    if not lone or not shown or any(out[k].code != "scale" for k in shown):
        return out
    c = float(out[shown[0]].detail["factor"])
    if any(abs(out[k].detail["factor"] - c) > RTOL_PATTERN * abs(c) for k in shown) or all(np.count_nonzero(exact[k]) < 2 for k in shown):
        return out
    found = dict(out)
    for k in lone:
        s = np.asarray(student[k], dtype=np.float64)
        if s.shape == exact[k].shape and _close(s, c * exact[k], RTOL_PATTERN, 0.0):
            detail = factor_detail(c, batch_size)
            found[k] = _make("scale", k, lang, **_errors(s, exact[k], str(np.asarray(student[k]).dtype)), **detail,
                             **scale_cause(detail, loss), shared_with=shown,
                             **_scale_fit(s, exact[k], c, detail["factor_names"], batch_size))
    return found


def _near_or_partial(param: str, s: np.ndarray, r: np.ndarray, ok: np.ndarray, numeric: NumericGradient | None,
                     lang: str, base: dict[str, Any]) -> Diagnosis:
    """A wrong gradient no pattern explains: an approximation, right in some entries, or just wrong."""
    scale, rel = base["scale"], base["rel_error"]
    meaningful = (r != 0) | (s != 0)
    right = ok & meaningful
    if rel <= RTOL_NEAR and scale > 0:
        # a real bug in some entries is off by O(1) there; errors this
        # small everywhere are the signature of an approximation
        near: dict[str, bool | None] = {"numeric_agrees": None}
        if numeric is not None:
            est = np.asarray(numeric.value, dtype=np.float64)
            near["numeric_agrees"] = bool(np.all(np.abs(s - est) <= RTOL_NEAR * scale + np.asarray(numeric.error)))
        return _make("finite_difference", param, lang, **near, **base)
    if bool(np.any(right)):
        wrong_mask = ~ok
        return _make(
            "partial",
            param,
            lang,
            n_wrong=int(np.sum(wrong_mask)),
            n_total=int(s.size),
            fraction_correct=float(np.sum(ok)) / s.size,
            first_wrong=_first_index(wrong_mask),
            wrong_indices=[list(map(int, i)) for i in np.argwhere(wrong_mask)[:20]],
            **base,
        )
    return _make("wrong", param, lang, **base)


def _accepted(s: np.ndarray, r: np.ndarray, numeric: NumericGradient | None, tol: float) -> tuple[np.ndarray, int]:
    """Entries the judge accepts, and how many only by a kink's bracket.

    The student's value is held to the exact gradient ``r`` (an estimate
    with no error) within ``tol``; at a kink flagged by ``numeric`` it may
    lie anywhere between the one-sided quotients, widened by ``tol`` and
    the estimate's whole error bar.
    """
    if numeric is None:
        j = judge(s, r, 0.0, floor=tol, k=1.0)
    else:
        j = judge(s, r, 0.0, floor=tol, k=1.0, lower=np.asarray(numeric.lower), upper=np.asarray(numeric.upper),
                  kink=np.asarray(numeric.kink, dtype=bool), bracket_error=np.asarray(numeric.error, dtype=np.float64))
    return j.passed, int(np.sum(j.by_bracket))


def _unsummed(s: np.ndarray, r: np.ndarray, batch_size: int | None) -> bool:
    """Whether ``s`` is one gradient per sample, ``(N, k)``, whose sum over the batch is ``r`` (``k`` entries).

    A bias gradient left unsummed (``db = delta``).  The sum of two or more
    rows matching the gradient to ``RTOL_PATTERN`` is the evidence (random
    rows do not add up to it by chance); with ``batch_size`` known the rows
    must be that many.
    """
    rows_ok = s.shape[0] > 1 if batch_size is None else s.shape[0] == batch_size > 1
    if s.ndim != 2 or not rows_ok or s.shape[1] != r.size or _max_abs(r) == 0 or not np.all(np.isfinite(s)):
        return False
    return _close(s.sum(axis=0), r.reshape(-1), RTOL_PATTERN)


def _diagnose_shape(param: str, s: np.ndarray, r: np.ndarray, others: Mapping[str, np.ndarray], lang: str,
                    batch_size: int | None = None) -> Diagnosis:
    got, expected = list(s.shape), list(r.shape)
    shapes = {"got_shape": got, "expected_shape": expected}
    finite = bool(np.all(np.isfinite(s)))
    if finite and s.size == r.size and s.size:
        flat_ok = _close(s.reshape(-1), r.reshape(-1), RTOL_PATTERN)
        if np.squeeze(s).shape == np.squeeze(r).shape and flat_ok:
            return _make("shape", param, lang, template="shape.values", values_match=True, **shapes,
                         **_fit(s.reshape(-1), r.reshape(-1)))
        if r.ndim == 2 and min(r.shape) > 1 and _close(s.reshape(r.T.shape), r.T, RTOL_PATTERN):
            reshaped = None if s.shape == r.T.shape else got
            return _make("transpose", param, lang, reshaped_to=reshaped, **shapes, **_fit(s.reshape(r.T.shape), r.T))
        if flat_ok:
            return _make("shape", param, lang, template="shape.values", values_match=True, **shapes,
                         **_fit(s.reshape(-1), r.reshape(-1)))
    if finite:
        for other, g in others.items():
            if g.size and g.shape == s.shape and _close(s, g, RTOL_PATTERN) and not _close(s, np.zeros_like(g), 0.0):
                return _make("swapped", param, lang, other=other, **shapes, **_fit(s, g))
    if _unsummed(s, r, batch_size):
        template = "shape.unsummed" if r.ndim == 1 else "shape.unsummed.keepdims"  # (k,) or (1, k)
        return _make("shape", param, lang, template=template, values_match=False, summed_match=True, **shapes,
                     **_fit(s.sum(axis=0), r.reshape(-1)))
    return _make("shape", param, lang, values_match=False, **shapes)


def _match_pattern(
    param: str,
    s: np.ndarray,
    r: np.ndarray,
    others: Mapping[str, np.ndarray],
    mistakes: Mapping[str, Mapping[str, np.ndarray]],
    batch_size: int | None,
    loss: LossFacts | None,
    lang: str,
    base: dict[str, Any],
) -> Diagnosis | None:
    scale = base["scale"]
    if scale > 0 and _close(s, -r, RTOL_PATTERN):
        return _make("sign", param, lang, factor=-1.0, **base, **_fit(s, -r))
    for name, wrong in mistakes.items():
        w = wrong.get(param)
        if w is None:
            continue
        w = np.asarray(w, dtype=np.float64)
        if w.shape == s.shape and not _close(w, r, RTOL_PATTERN) and _close(s, w, RTOL_PATTERN):
            return _make("activation", param, lang, mistake=name, **base, **_fit(s, w))
    if scale > 0:
        c = float(np.vdot(s, r) / np.vdot(r, r))
        if c != 0 and np.isfinite(c) and _close(s, c * r, RTOL_PATTERN, 0.0) and abs(c - 1) > RTOL_PATTERN:
            detail = factor_detail(c, batch_size)
            # one number is always a multiple of another: a factor with no
            # usual name is only evidence when it fits many entries, and a
            # factor within RTOL_NEAR of 1 is no lost factor (the truncation
            # error of finite differences can be nearly proportional to the
            # gradient): the checks below name it
            if detail["factor_names"] or (np.count_nonzero(r) > 1 and abs(c - 1) > RTOL_NEAR):
                return _make("scale", param, lang, **base, **detail, **scale_cause(detail, loss),
                             **_scale_fit(s, r, c, detail["factor_names"], batch_size))
    if r.ndim == 2 and r.shape[0] == r.shape[1] and r.shape[0] > 1 and not _close(r, r.T, RTOL_PATTERN):
        if _close(s, r.T, RTOL_PATTERN):
            return _make("transpose", param, lang, reshaped_to=None, **base, **_fit(s, r.T))
    for other, g in others.items():
        if g.shape == s.shape and _max_abs(g) > 0 and _close(s, g, RTOL_PATTERN):
            return _make("swapped", param, lang, other=other, **base, **_fit(s, g))
    return None


def _match_update(param: str, s: np.ndarray, r: np.ndarray, value: np.ndarray, lang: str, base: dict[str, Any]) -> Diagnosis | None:
    if value.shape != s.shape or _max_abs(value) == 0:
        return None
    if _close(s, value, RTOL_PATTERN):
        return _make("wrong", param, lang, template="wrong.param", returned="param", **base)
    step = value - s  # = lr * r for an update
    if np.count_nonzero(r) > 1:  # one number is always "value - lr * r" for some lr
        lr = float(np.vdot(step, r) / np.vdot(r, r))
        if lr > 0 and _close(s, value - lr * r, RTOL_PATTERN) and not _close(s, r, RTOL_PATTERN):
            return _make("wrong", param, lang, template="wrong.update", returned="update", lr=lr, **base)
    return None


def diagnose(
    student: Mapping[str, Any] | None,
    reference: Mapping[str, np.ndarray],
    *,
    numeric: Mapping[str, NumericGradient] | None = None,
    batch_size: int | None = None,
    params: Mapping[str, np.ndarray] | None = None,
    mistakes: Mapping[str, Mapping[str, np.ndarray]] | None = None,
    loss: LossFacts | None = None,
    lang: str = "en",
) -> dict[str, Diagnosis]:
    """Diagnose every parameter of one test point.

    Parameters
    ----------
    student : mapping or None
        The student's gradients, keyed by parameter name; a key that is
        absent gives ``missing``.  Not a mapping: every parameter is ``type``.
    reference : mapping of str to ndarray
        The exact gradients (``model.backward``); their keys are the parameters.
    numeric : mapping of str to NumericGradient, optional
    batch_size : int, optional
    params : mapping of str to ndarray, optional
        The parameter values.
    mistakes : mapping, optional
        ``{mistake name: {param: wrong gradient}}``.
    loss : LossFacts, optional
        What is known of the loss (see :func:`diagnose_parameter`).
    lang : {"en", "ko"}

    Returns
    -------
    dict of str to Diagnosis
        In the order of ``reference``.

    Examples
    --------
    >>> r = {"W1": np.array([[1.0, 2.0, 3.0]]), "W2": np.array([[4.0], [5.0], [-6.0]])}
    >>> d = diagnose({"W1": r["W2"], "W2": r["W1"]}, r)
    >>> d["W1"].code, d["W1"].detail["other"]
    ('swapped', 'W2')
    >>> diagnose({"W1": r["W1"]}, r)["W2"].code
    'missing'
    """
    if not isinstance(reference, Mapping):
        raise GradcheckTypeError(f"reference must be a dict of str to arrays, got reference={type(reference).__name__}")
    out: dict[str, Diagnosis] = {}
    for name, r in reference.items():
        if not isinstance(student, Mapping):
            got = "None" if student is None else type(student).__name__
            out[name] = _make("type", name, messages.check_lang(lang), got_type=f"{got} instead of a dict of gradients")
            continue
        out[name] = diagnose_parameter(
            name,
            student.get(name),
            r,
            numeric=None if numeric is None else numeric.get(name),
            batch_size=batch_size,
            value=None if params is None else params.get(name),
            others=reference,
            mistakes=mistakes,
            loss=loss,
            lang=lang,
        )
    if not isinstance(student, Mapping):
        return out
    return one_way_swaps(_one_entry_factors(out, student, reference, batch_size, loss, lang), student, reference, lang=lang)


def one_way_swaps(found: Mapping[str, Diagnosis], student: Mapping[str, Any], reference: Mapping[str, np.ndarray],
                  *, errors: Mapping[str, np.ndarray] | None = None, lang: str = "en") -> dict[str, Diagnosis]:
    """``found`` with a ``swapped`` diagnosis said to be one-way when the other parameter does not hold this one's gradient.

    ``swapped`` is recognised on one parameter alone: it holds the
    gradient of ``other``.  Only when ``other`` holds this parameter's
    gradient in turn are the two swapped; when ``other`` holds its own
    (it passes) or neither, this one was computed as ``other``'s (a copy,
    or ``other``'s formula without what sets this one apart: a batch
    norm's ``dgamma = sum(dout)`` is ``dbeta``, rt18 F4), and the sentence
    says so (``swapped.copy``).  An ``other`` whose submitted gradient is
    unknown (absent, not numbers, not finite) leaves the diagnosis as it is.
    ``errors``: the error bars of ``reference`` when it is an estimate (a
    check's numerical gradient; ``None``: exact, the grader's); "does not
    hold" is said only beyond them, and a parameter with no known error bar
    is left as it is (rt18's onehot_222 swap: W2's gradient of size 1e-6
    held by W3 differed from its estimate by more than the pattern
    tolerance alone, and the swap was called one-way).
    """
    out = dict(found)
    for name, d in found.items():
        other = d.detail.get("other")
        if d.code != GradientCode.SWAPPED or not isinstance(other, str) or other not in student or other not in reference \
                or name not in reference:
            continue
        theirs = _as_array(student[other])
        if theirs is None or not np.all(np.isfinite(theirs)):
            continue
        if errors is not None and name not in errors:
            continue
        mine = np.asarray(reference[name], dtype=np.float64)
        bars = 0.0 if errors is None else 2.0 * np.asarray(errors[name], dtype=np.float64)
        if theirs.shape == mine.shape and np.all(np.abs(theirs - mine) <= RTOL_PATTERN * _max_abs(mine) + ATOL_CORRECT + bars):
            continue  # a real swap, or one the estimate cannot tell from it
        detail = {**d.detail, "template": "swapped.copy", "mutual": False}
        out[name] = Diagnosis(d.code, d.param, describe(d.code, d.param, detail, lang=lang), json_safe(detail))
    return out
