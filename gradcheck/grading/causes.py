"""Causes of a constant factor, computed from the model's actual loss.

The core names a factor by its value (``2``, ``1/2``, ``N``, ``1/N`` ...)
and gives its usual cause.  Which cause is right depends on the loss: a
student whose gradient is half the exact one lost the 2 of the square when
the loss is ``mean((y - a)**2)``, but divided by 2 once too often when the
loss is ``sum((y - a)**2) / 2`` (the 004 notebook's); a gradient divided by
``N`` is wrong for a sum over samples, and divided by ``N`` twice for a
mean.  :func:`loss_facts` measures the loss at a test point (how it weighs
the samples, and whether it halves a sum of squares) and :func:`refine`
picks the cause that fits.

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

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcheck.diagnose import Diagnosis, describe
from gradcheck.messages import register_template

__all__ = ["CAUSE_TEMPLATES", "LossFacts", "loss_facts", "refine"]

_RTOL = 1e-9  # loss values are sums of a few float64 terms: agreement to ~1e-15, far inside this


@dataclass(frozen=True)
class LossFacts:
    """How a loss is built, as measured.

    Attributes
    ----------
    reduction : {"mean", "sum", None}
        The loss of a batch is the mean (``"mean"``) or the sum (``"sum"``)
        of the one-sample losses; ``None`` when it is neither.
    half : bool or None
        For a squared error: ``True`` when the loss is half the (summed or
        averaged) squares, ``False`` when not; ``None`` for other losses.
    """

    reduction: str | None
    half: bool | None


def _close(a: float, b: float) -> bool:
    return abs(a - b) <= _RTOL * max(abs(a), abs(b))


def loss_facts(model: Any, params: Any, x: np.ndarray, y: np.ndarray) -> LossFacts:
    """Measure :class:`LossFacts` of ``model``'s loss at one point (a batch of two or more)."""
    n = len(x)
    total = float(model.loss(params, x, y))
    parts = sum(float(model.loss(params, x[i:i + 1], y[i:i + 1])) for i in range(n))
    reduction = None
    if n > 1 and parts > 0:
        reduction = "sum" if _close(total, parts) else "mean" if _close(total, parts / n) else None
    out = np.asarray(model.forward(params, x), dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    half = None
    if out.size == t.size and reduction is not None:
        squares = float(np.sum((t.reshape(out.shape) - out) ** 2))
        per = squares if reduction == "sum" else squares / n
        entries = per / (out.size / n) if reduction == "mean" else None  # a mean over every entry
        if _close(total, per / 2) or (entries is not None and _close(total, entries / 2)):
            half = True
        elif _close(total, per) or (entries is not None and _close(total, entries)):
            half = False
    return LossFacts(reduction, half)


#: Causes that depend on the loss, by (factor name, fact that selects them).
CAUSE_TEMPLATES: dict[str, dict[str, str]] = {
    "cause.1/2.half": {
        "en": "it is divided by 2 once too often: the loss is half a sum of squares, whose 1/2 already cancels the 2 "
        "from differentiating the square (the derivative of (1/2)(y - a)^2 is a - y).",
        "ko": "2로 한 번 더 나누었습니다. 손실이 제곱합의 절반이라 계수 1/2이 제곱을 미분할 때 나오는 2를 이미 없앱니다 "
        "((1/2)(y - a)^2의 미분은 a - y입니다).",
    },
    "cause.2.nohalf": {
        "en": "it is twice the gradient: the 2 from differentiating the square was applied twice (this loss has no 1/2 "
        "to cancel it).",
        "ko": "정확한 기울기의 두 배입니다. 제곱을 미분할 때 나오는 2를 두 번 곱했습니다 (이 손실에는 그것을 없앨 "
        "계수 1/2이 없습니다).",
    },
    "cause.1/N.mean": {
        "en": "it is divided by the batch size N once too often: the loss is a mean over the samples, and its 1/N is "
        "already in the gradient (averaging a bias gradient over the batch divides by N again).",
        "ko": "배치 크기 N으로 한 번 더 나누었습니다. 손실이 샘플에 대한 평균이라 계수 1/N이 기울기에 이미 들어 있습니다 "
        "(편향의 기울기를 배치에 대해 평균하면 N으로 다시 나누게 됩니다).",
    },
    "cause.1/N.sum": {
        "en": "it is divided by the batch size N, but the loss is a sum over the samples: nothing is divided by N.",
        "ko": "배치 크기 N으로 나누었지만 손실은 샘플에 대한 합입니다. N으로 나누는 곳이 없습니다.",
    },
    "cause.N.sum": {
        "en": "it is N times the gradient, but the loss is a sum over the samples: nothing is multiplied by N.",
        "ko": "정확한 기울기의 N배이지만 손실은 샘플에 대한 합입니다. N을 곱하는 곳이 없습니다.",
    },
}

for _key, _messages in CAUSE_TEMPLATES.items():
    register_template(_key, _messages)


def _cause_key(factor: str, facts: LossFacts) -> str | None:
    if factor == "1/2" and facts.half is True:
        return "cause.1/2.half"
    if factor == "2" and facts.half is False:
        return "cause.2.nohalf"
    if factor == "1/N" and facts.reduction is not None:
        return f"cause.1/N.{facts.reduction}"
    if factor == "N" and facts.reduction == "sum":
        return "cause.N.sum"
    return None


def refine(diagnosis: Diagnosis, facts: LossFacts, *, lang: str = "en") -> Diagnosis:
    """``diagnosis`` with the cause of its factor chosen by ``facts`` (unchanged when nothing fits better).

    >>> from gradcheck.diagnose import diagnose_parameter
    >>> r = np.array([[0.1, -0.2, 0.3]])
    >>> d = diagnose_parameter("W2", r / 2, r, batch_size=3)
    >>> refine(d, LossFacts("sum", True)).message.split(": ", 1)[1][:42]
    'it is divided by 2 once too often: the los'
    """
    cause = str(diagnosis.detail.get("cause_key", ""))
    key = _cause_key(cause[len("cause."):], facts) if diagnosis.code == "scale" and cause.startswith("cause.") else None
    if key is None:
        return diagnosis
    detail = {**diagnosis.detail, "cause_key": key, "loss_reduction": facts.reduction, "loss_half": facts.half}
    return dataclasses.replace(diagnosis, message=describe(diagnosis.code, diagnosis.param, detail, lang=lang), detail=detail)
