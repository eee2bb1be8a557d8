"""Causes of a constant factor, computed from the model's actual loss.

The core names a factor by its value (``2``, ``1/2``, ``N``, ``1/N`` ...)
and gives its usual cause.  Which cause is right depends on the loss: a
student whose gradient is half the exact one lost the 2 of the square when
the loss is ``mean((y - a)**2)``, but divided by 2 once too often when the
loss is ``sum((y - a)**2) / 2`` (the 004 notebook's); a gradient divided by
``N`` is wrong for a sum over samples, and divided by ``N`` twice for a
mean.  :func:`loss_facts` measures the loss at a test point (how it weighs
the samples, and whether it halves a sum of squares) and :func:`refine`
picks the cause that fits (the rule is the core's,
:func:`gradcheck.lossfacts.scale_causes`: a cause is named only when the
loss has the term it blames).

Examples
--------
>>> import reference_models
>>> m = reference_models.get("study_2layer")
>>> x, y = m.notebook_data()
>>> loss_facts(m, m.init_params(np.random.default_rng(0)), x, y)
LossFacts(reduction='sum', half=True)
>>> m = reference_models.get("xor_2layer")
>>> x, y = m.notebook_data()
>>> loss_facts(m, m.init_params(np.random.default_rng(0)), x, y)
LossFacts(reduction='mean', half=False)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck.diagnose import RTOL_PATTERN, Diagnosis, with_loss
from gradcheck.lossfacts import LossFacts, measure_facts
from gradcheck.messages import TEMPLATES, register_template

__all__ = ["CAUSE_TEMPLATES", "LossFacts", "batch_constant", "factors_across_points", "follows_n", "loss_facts", "refine"]

register_template("scale.batch", {
    "en": "{param} is the exact gradient times N/{batch_constant} at every test point ({factors_text}): the factor "
          "follows the batch size N. The backward divides by {batch_constant} where this loss, a mean over the "
          "samples, divides by N: the batch size is written as a number, so the gradient is right only when "
          "N = {batch_constant}. Divide by len(x).",
    "ko": "{param}의 값이 모든 테스트 지점에서 정확한 기울기의 N/{batch_constant}배입니다 ({factors_text}): 배수가 "
          "배치 크기 N을 따라 바뀝니다. 이 손실은 샘플에 대한 평균이라 N으로 나누어야 하는데 역전파는 "
          "{batch_constant}(으)로 나눕니다. 배치 크기를 숫자로 적어 두어서 N = {batch_constant}일 때만 맞습니다. "
          "입력의 샘플 수로 나누세요.",
})
register_template("scale.batch.plain", {
    "en": "{param} is the exact gradient times N/{batch_constant} at every test point ({factors_text}): the factor "
          "follows the batch size N, so a batch size is written as a number somewhere in the backward pass.",
    "ko": "{param}의 값이 모든 테스트 지점에서 정확한 기울기의 N/{batch_constant}배입니다 ({factors_text}): 배수가 "
          "배치 크기 N을 따라 바뀌므로, 역전파 어딘가에 배치 크기가 숫자로 적혀 있습니다.",
})

register_template("scale.varies", {
    "en": "{param} is the exact gradient times a factor that changes with the batch size N in no usual way "
          "({factors_text}): not one constant, and not N/k or k/N, so no single missing term explains it. Look at "
          "how the backward pass uses the batch size (N - 1, sqrt(N), a count of something else).{sign_text}",
    "ko": "{param}의 값이 배치 크기 N에 따라 흔하지 않은 방식으로 바뀌는 배수만큼 정확한 기울기와 다릅니다 "
          "({factors_text}): 하나의 상수도, N/k나 k/N도 아니어서 빠진 항 하나로는 설명되지 않습니다. 역전파가 배치 "
          "크기를 어떻게 쓰는지 확인하세요 (N - 1, N의 제곱근, 다른 개수 등).{sign_text}",
})

#: Powers ``p`` of the batch size a factor ``c N**p`` may follow and still be named per point: a constant (2, 1/2),
#: ``N``-like (N, N/2) or ``1/N``-like (1/N, 2/N); any other dependence on ``N`` has no usual cause.
_USUAL_POWERS = (0, 1, -1)

#: Batch sizes whose factor ``N/k`` the per-point diagnosis already names (``N``, ``N/2``) and explains otherwise.
_NAMED_CONSTANTS = (1, 2)

#: Causes that depend on the loss (the core's templates, :mod:`gradcheck.messages`).
CAUSE_TEMPLATES: dict[str, dict[str, str]] = {
    k: TEMPLATES[k] for k in ("cause.1/2.half", "cause.1/2.outputs", "cause.2.nohalf", "cause.1/N.mean", "cause.1/N.sum",
                              "cause.N.sum")
}


def loss_facts(model: Any, params: Any, x: np.ndarray, y: np.ndarray) -> LossFacts:
    """Measure :class:`LossFacts` of ``model``'s loss at one point (the reduction needs a batch of two or more)."""
    total = float(model.loss(params, x, y))
    parts = [float(model.loss(params, x[i:i + 1], y[i:i + 1])) for i in range(len(x))]
    return measure_facts(total, parts, np.asarray(model.forward(params, x), dtype=np.float64), np.asarray(y))


def refine(diagnosis: Diagnosis, facts: LossFacts, *, lang: str = "en") -> Diagnosis:
    """``diagnosis`` with the cause of its factor chosen by ``facts`` (other diagnoses unchanged).

    >>> from gradcheck.diagnose import diagnose_parameter
    >>> r = np.array([[0.1, -0.2, 0.3]])
    >>> d = diagnose_parameter("W2", r / 2, r, batch_size=3)
    >>> refine(d, LossFacts("sum", True)).message.split(": ", 1)[1][:42]
    'it is divided by 2 once too often: the los'
    """
    return with_loss(diagnosis, facts, lang=lang)


def _ratio(got: Any, expected: np.ndarray) -> float | None:
    """``c`` when ``got`` is ``c`` times ``expected`` to the pattern tolerance (``None`` when not, or unknowable)."""
    try:
        s = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    r = np.asarray(expected, dtype=np.float64)
    if s.shape != r.shape or not np.any(r) or not np.all(np.isfinite(s)):
        return None
    c = float(np.vdot(s, r) / np.vdot(r, r))
    return c if np.all(np.abs(s - c * r) <= RTOL_PATTERN * np.max(np.abs(c * r))) else None


def batch_constant(sizes: Sequence[int], ratios: Sequence[float | None]) -> int | None:
    """``k`` when each point's factor is ``N / k`` for one integer ``k >= 3`` over two or more batch sizes, else ``None``.

    One number is always a multiple of another, but the same ``k`` from
    points of different batch sizes is evidence: a wrong value does not
    follow ``N`` by chance.  ``k`` of 1 or 2 is the factor ``N`` or ``N/2``,
    named per point with its cause.

    >>> batch_constant([3, 5, 4], [0.75, 1.25, 1.0])
    4
    >>> batch_constant([3, 3], [0.75, 0.75]) is None  # one batch size: no telling a constant from N/k
    True
    """
    known = [(n, c) for n, c in zip(sizes, ratios) if c is not None and c > 0]
    if len(known) != len(ratios) or len({n for n, _ in known}) < 2:
        return None
    ks = [n / c for n, c in known]
    k = round(ks[0])
    if k in _NAMED_CONSTANTS or k < 1 or any(abs(v - k) > RTOL_PATTERN * k for v in ks):
        return None
    return k


def follows_n(sizes: Sequence[int], ratios: Sequence[float]) -> bool:
    """Whether the factors ``ratios`` at batch sizes ``sizes`` are ``c N**p`` for one ``c`` and a usual power ``p``.

    With one batch size any factor fits.

    >>> follows_n([3, 5, 4], [0.5, 0.5, 0.5]), follows_n([3, 5, 4], [1.5, 2.5, 2.0]), follows_n([3, 5, 4], [1.5, 1.25, 4 / 3])
    (True, True, False)
    """
    if len(set(sizes)) < 2:
        return True
    for p in _USUAL_POWERS:
        cs = [c / n ** p for n, c in zip(sizes, ratios)]
        if all(abs(c - cs[0]) <= RTOL_PATTERN * abs(cs[0]) for c in cs):
            return True
    return False


def factors_across_points(model: Any, points: Sequence[Any], grads: Sequence[Mapping[str, Any] | None],
                          picked: Mapping[str, tuple[int, Diagnosis]], *,
                          lang: str = "en") -> dict[str, tuple[int, Diagnosis]]:
    """The failing parameters whose factor the test points together describe better than the chosen point alone.

    ``points``: the test points (``params``, ``x``, ``y``, ``batch_size``);
    ``grads``: what the submission returned at each (``None`` where a call
    failed); ``picked``: each parameter's chosen point and diagnosis.  A
    factor ``N/k`` at every point is a batch size written as ``k``
    (``scale.batch``); a ``scale`` whose factor changes with ``N`` in no
    usual way (``N/(N - 1)``, ``sqrt(N)``: rt19 F6, F16) is said to change
    (``scale.varies``), as one point's cause (``2/N`` missing, "a constant")
    would be contradicted by the others.  Each diagnosis keeps the chosen
    point and lists every point's factor, so a counterexample at another
    batch size shows a factor the message gives.
    """
    out: dict[str, tuple[int, Diagnosis]] = {}
    failing = [k for k, (_, d) in picked.items() if not d.passed]
    if not failing or any(g is None for g in grads):
        return out
    expected = [model.backward(p.params, p.x, p.y) for p in points]
    sizes = [int(p.batch_size) for p in points]
    for name in failing:
        ratios = [_ratio(g.get(name), e[name]) if g is not None else None for g, e in zip(grads, expected)]
        i, chosen = picked[name]
        k = batch_constant(sizes, ratios)
        if k is not None:
            out[name] = (i, _batch_diagnosis(model, points[i], name, k, sizes, ratios, i, lang))
        elif chosen.code == "scale" and all(c is not None for c in ratios):
            known = [float(c) for c in ratios if c is not None]
            if not follows_n(sizes, known):
                out[name] = (i, _varying_diagnosis(name, sizes, known, i, lang))
    return out


def _varying_diagnosis(name: str, sizes: Sequence[int], ratios: Sequence[float], i: int, lang: str) -> Diagnosis:
    """``scale.varies``: the factor at each point, and the flipped sign when it is negative at every one."""
    pairs = sorted(dict(zip(sizes, ratios)).items())
    flipped = all(c < 0 for _, c in pairs)
    return Diagnosis.from_code(
        "scale", name, lang=lang, template="scale.varies", factor=ratios[i], negative=ratios[i] < 0,
        factors=[list(p) for p in pairs], factors_text=", ".join(f"N = {n}: {c:.6g}" for n, c in pairs),
        sign_text=" " + TEMPLATES["factor.sign"][lang].strip() if flipped else "")


def _batch_diagnosis(model: Any, point: Any, name: str, k: int, sizes: Sequence[int], ratios: Sequence[float | None],
                     i: int, lang: str) -> Diagnosis:
    """``scale.batch``: the factor is ``N/k`` at every point (each point's factor listed, ``N = k`` left out)."""
    facts = loss_facts(model, point.params, point.x, point.y)
    pairs = sorted({n: c for n, c in zip(sizes, ratios) if c is not None and n != k}.items())  # N = k: right there
    text = ", ".join(f"N = {n}: {c:.6g}" for n, c in pairs)
    template = "scale.batch" if facts.reduction == "mean" else "scale.batch.plain"
    return Diagnosis.from_code("scale", name, lang=lang, template=template, batch_constant=k,
                               factor=ratios[i], factors=[list(p) for p in pairs], factors_text=text)
