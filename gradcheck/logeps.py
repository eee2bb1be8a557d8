"""An epsilon inside the log of a loss: the backward differentiates ``log(y)``, the loss computes ``log(y + eps)``.

The book "Deep Learning from Scratch" writes its cross-entropy as
``-sum(log(y[t] + 1e-7)) / N`` while its backward returns ``(y - t) / N``,
the gradient of ``-log(y[t])``.  The derivative of the loss as computed
weighs sample ``i``'s gradient ``g_i`` (of ``-log(y_i)``) by
``y_i / (y_i + eps)``: at a normal point the gradient is off by about
``eps / y`` relative (:mod:`gradcheck.explain` names such a small offset),
but where a softmax saturates (``y_i`` far below ``eps``) that sample
hardly moves the loss at all, while the backward counts it in full
(rt18 F5: "fits no known mistake").

The weight is known from each sample's own loss: ``L_i = -log(y_i + eps)``,
so ``1 - y_i / (y_i + eps) = eps * exp(L_i)``.  The mistake is named only
when, for one ``eps`` of :data:`EPSILONS`, every failing parameter's
difference ``analytic - numeric`` is ``sum_i eps * exp(L_i) g_i / N``
(with ``g_i`` the backward's own gradient of sample ``i`` alone, and the
batch loss their mean) to :data:`FIT` of its largest entry plus twice the
numerical estimate's error bar: a random bug
does not reproduce this sum, sample by sample, by chance.  A loss with
another term (a weight decay), a per-sample loss other than ``-log(y + eps)``
or a gradient that fails at one sample alone leaves the diagnosis as it was.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from gradcheck.diagnose import Diagnosis
from gradcheck.estimate import NumericGradient
from gradcheck import messages
from gradcheck.results import ParamCheck

__all__ = ["EPSILONS", "FIT", "PerSample", "explain_log_epsilon", "log_epsilon_fits"]

#: The constants written inside a log in practice: the book's 1e-7, and the usual 1e-5 .. 1e-15.
EPSILONS: tuple[float, ...] = (1e-7, 1e-5, 1e-6, 1e-8, 1e-9, 1e-10, 1e-12, 1e-15)

#: How closely the predicted sum must explain the difference, relative to the difference's largest entry (plus
#: twice the estimate's error bar): the sum is exact under the mistake, and the next constant of
#: :data:`EPSILONS` (ten times larger or smaller) misses it by 90 % or more.
FIT = 1e-2

#: Rounding allowed when reading ``eps * exp(L_i) <= 1`` back from a loss (``exp`` of a rounded ``L_i``).
_ROUNDING = 1e-9

#: ``(losses, gradients)``: each sample's loss and the backward's gradient of that sample alone, or ``None``.
PerSample = tuple[np.ndarray, Sequence[Mapping[str, np.ndarray]]]

messages.register_template("wrong.log_epsilon", {
    "en": "{param} is the gradient of the loss without the {eps_text} it adds inside its log: the loss computes "
          "log(y + {eps_text}), whose derivative weighs each sample by y / (y + {eps_text}), while the backward "
          "differentiates log(y). The difference is exactly that, sample by sample, with y read from each sample's "
          "loss; it is largest where y is far below {eps_text} ({n_saturated} of the {n_samples} samples here), where "
          "the loss hardly changes at all. Differentiate the loss as computed, or drop the epsilon (a log-softmax "
          "computed stably needs none).",
    "ko": "{param}은(는) 로그 안에 더한 {eps_text}이(가) 없는 손실의 기울기입니다: 손실은 log(y + {eps_text})를 "
          "계산하며 그 미분은 각 샘플을 y / (y + {eps_text})로 가중하는데, 역전파는 log(y)를 미분합니다. 샘플마다 각 "
          "샘플의 손실에서 읽은 y로 계산한 차이가 정확히 그만큼입니다. 이 차이는 y가 {eps_text}보다 훨씬 작은 곳에서 "
          "가장 크며 (여기서는 샘플 {n_samples}개 중 {n_saturated}개), 그곳에서는 손실이 거의 변하지 않습니다. 계산한 "
          "그대로의 손실을 미분하거나, 엡실론을 빼세요 (안정적으로 계산한 로그 소프트맥스에는 필요 없습니다).",
})


def _eps_text(eps: float) -> str:
    """``1e-7`` for ``1e-07`` (every constant of :data:`EPSILONS` is a power of ten)."""
    return f"1e{round(math.log10(eps))}"


def log_epsilon_fits(eps: float, losses: np.ndarray, grads: Sequence[Mapping[str, np.ndarray]],
                     analytic: Mapping[str, np.ndarray], numeric: Mapping[str, NumericGradient]) -> bool:
    """Whether ``analytic - numeric == sum_i eps * exp(L_i) g_i / N`` for every parameter of ``numeric``.

    >>> g = [{"w": np.array([1.0, 2.0])}, {"w": np.array([-3.0, 1.0])}]
    >>> losses = -np.log(np.array([0.5, 1e-12]) + 1e-7)  # the second sample is saturated
    >>> c = 1e-7 * np.exp(losses)
    >>> a = {"w": (g[0]["w"] + g[1]["w"]) / 2}
    >>> value, z = a["w"] - (c[0] * g[0]["w"] + c[1] * g[1]["w"]) / 2, np.zeros(2)
    >>> n = {"w": NumericGradient("w", value, z, z + 1e-5, value, value, np.zeros(2, dtype=bool))}
    >>> log_epsilon_fits(1e-7, losses, g, a, n), log_epsilon_fits(1e-8, losses, g, a, n)
    (True, False)
    """
    with np.errstate(over="ignore"):  # a loss above ~709 overflows to inf, which the test below refuses: no warning for the user
        weights = eps * np.exp(losses)
    if not np.all(weights <= 1.0 + _ROUNDING) or not numeric:
        return False
    n = len(losses)
    for name, est in numeric.items():
        if np.any(est.kink):
            return False
        difference = np.asarray(analytic[name], dtype=np.float64) - est.value
        predicted = sum(w * np.asarray(g[name], dtype=np.float64) for w, g in zip(weights, grads)) / n
        allowed = FIT * float(np.max(np.abs(difference), initial=0.0)) + 2.0 * np.asarray(est.error, dtype=np.float64)
        if not np.all(np.abs(difference - predicted) <= allowed):
            return False
    return True


def explain_log_epsilon(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
                        numeric: Mapping[str, NumericGradient],
                        per_sample: Callable[[], PerSample | None]) -> tuple[ParamCheck, ...]:
    """``checks`` with every failed full-mode parameter diagnosed ``wrong.log_epsilon`` when the sum fits (else as they are).

    ``per_sample()`` is called only when some parameter failed; it gives
    each sample's loss and the backward's gradient of that sample alone
    (``None``: they cannot be had, nothing is named).
    """
    failed = [c for c in checks if not c.passed and c.mode == "full" and c.name in numeric]
    if not failed or len(failed) < sum(not c.passed for c in checks):
        return checks
    samples = per_sample()
    if samples is None or len(samples[0]) < 1:
        return checks
    losses, grads = samples
    wanted = {c.name: numeric[c.name] for c in failed}
    eps = next((e for e in EPSILONS if log_epsilon_fits(e, losses, grads, analytic, wanted)), None)
    if eps is None:
        return checks
    n_saturated = int(np.sum(eps * np.exp(losses) > 0.5))  # y below eps: the loss follows y by less than half
    named = {c.name: Diagnosis.from_code("wrong", c.name, template="wrong.log_epsilon", eps=eps, eps_text=_eps_text(eps),
                                         n_saturated=n_saturated, n_samples=len(losses), max_abs_error=c.max_abs_err)
             for c in failed}
    return tuple(dataclasses.replace(c, diagnosis=named[c.name]) if c.name in named else c for c in checks)
