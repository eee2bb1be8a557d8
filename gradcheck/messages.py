"""Message templates for the core's diagnoses, in every supported language.

Every diagnosis code (:data:`gradcheck.diagnose.CODES`) has a template per
language; some codes have variants (``"wrong.zero"``, ``"scale.named"``),
and the likely causes of a constant factor (``"cause.N/2"``) and the known
mistakes (``"mistake.sigmoid_prime_of_z"``) have their own sentences.
Templates are :meth:`str.format` strings whose fields come from a
diagnosis' ``param`` and ``detail``; a missing field renders as ``?``
instead of raising, so a message never breaks a report.

The languages are :class:`Language`, defined here once.  Higher layers add
their own templates with :func:`register_template` (the grader's process
verdicts and report vocabulary live in :mod:`gradcheck.grading.i18n`).

Examples
--------
>>> render("sign", {"param": "dW2"}, lang="en")
'dW2 has the wrong sign: it is exactly the negative of the gradient, so an update with it climbs the loss instead of descending it.'
>>> render("correct", {"param": "W1"}, lang="ko")
'W1의 기울기가 정확합니다.'
"""
from __future__ import annotations

import enum
import string
from typing import Any, Mapping

from gradcheck.errors import GradcheckValueError

__all__ = ["Language", "LANGUAGES", "TEMPLATES", "render", "text", "register_template", "check_lang"]


class Language(str, enum.Enum):
    """A language messages are written in (its ISO 639-1 code is the value)."""

    EN = "en"
    KO = "ko"


#: Supported language codes, in the order of :class:`Language`.
LANGUAGES: tuple[str, ...] = tuple(lang.value for lang in Language)

_T = dict[str, dict[str, str]]

#: ``TEMPLATES[key][lang]``: one template per key and language.
TEMPLATES: _T = {
    # -- verdicts on one gradient ------------------------------------------
    "correct": {
        "en": "{param} is correct.",
        "ko": "{param}의 기울기가 정확합니다.",
    },
    "correct.kinks": {
        "en": "{param} is correct ({n_kinks} entries sit on a kink of the loss, where any value between the one-sided derivatives is accepted).",
        "ko": "{param}의 기울기가 정확합니다 ({n_kinks}개 원소가 손실의 꺾이는 점에 있어, 좌우 미분값 사이의 값을 모두 인정했습니다).",
    },
    "sign": {
        "en": "{param} has the wrong sign: it is exactly the negative of the gradient, so an update with it climbs the loss instead of descending it.",
        "ko": "{param}의 부호가 반대입니다: 정확한 기울기에 -1을 곱한 값이어서, 이 값으로 갱신하면 손실이 줄지 않고 커집니다.",
    },
    "scale": {
        "en": "{param} is the exact gradient times {factor_text}, the same factor in every entry, with no usual cause: check every constant and every use of the batch size in the loss and in its derivative.",
        "ko": "{param}의 값이 정확한 기울기의 {factor_text}배이며, 모든 원소에서 같은 배수입니다. 흔한 원인에 해당하지 않으므로 손실과 그 미분의 모든 상수와 배치 크기를 쓰는 곳을 확인하세요.",
    },
    "scale.unknown": {
        "en": "{param} is the exact gradient times {factor_text}, the same factor in every entry. This check sees the function "
              "only, not a loss it comes from, so it names no cause: look for a constant (a 2, the batch size, a scale "
              "such as 1/p) that the backward pass adds or leaves out.",
        "ko": "{param}의 값이 정확한 기울기의 {factor_text}배이며, 모든 원소에서 같은 배수입니다. 이 검사는 함수만 볼 뿐 그 함수가 "
              "어떤 손실에서 나왔는지는 모르므로 원인을 단정하지 않습니다: 역전파가 더하거나 빠뜨린 상수 (2, 배치 크기, "
              "1/p 같은 배율)를 찾아보세요.",
    },
    "scale.localised": {
        "en": "{param} is the exact gradient times {factor_text} in each of the {n_localised} entries fast mode localised "
              "(only these were checked one by one, so the factor is seen there, not shown for every entry).",
        "ko": "빠른 모드가 찾아낸 원소 {n_localised}개 모두에서 {param}의 값이 정확한 기울기의 {factor_text}배입니다 (하나씩 "
              "검사한 원소는 이것뿐이라, 이 배수는 그 원소들에서 확인된 것이지 모든 원소에서 확인된 것은 아닙니다).",
    },
    "scale.localised.named": {
        "en": "{param} is the exact gradient times {factor_text} in each of the {n_localised} entries fast mode localised "
              "(only these were checked one by one). If every entry is so: {cause}",
        "ko": "빠른 모드가 찾아낸 원소 {n_localised}개 모두에서 {param}의 값이 정확한 기울기의 {factor_text}배입니다 (하나씩 "
              "검사한 원소는 이것뿐입니다). 모든 원소가 그렇다면: {cause}",
    },
    "scale.shared": {
        "en": "{param} has a single nonzero entry, whose factor alone would prove nothing; it is the same factor as "
              "{shared_text}, which show it in every entry.",
        "ko": "{param}은(는) 0이 아닌 원소가 하나뿐이라 그 배수만으로는 아무것도 알 수 없지만, 모든 원소에서 같은 배수를 "
              "보이는 {shared_text}와(과) 같은 배수입니다.",
    },
    "scale.named": {
        "en": "{param} is the exact gradient times {factor_text}: {cause}",
        "ko": "{param}의 값이 정확한 기울기의 {factor_text}배입니다: {cause}",
    },
    "transpose": {
        "en": "{param} holds the right numbers, transposed{reshaped}: with a batch of rows, dW = a.T @ delta (not delta.T @ a).",
        "ko": "{param}의 값은 맞지만 전치되어 있습니다{reshaped}. 행 단위 배치에서는 dW = a.T @ delta 입니다 (delta.T @ a 가 아닙니다).",
    },
    "transpose.reshaped": {
        "en": " (and reshaped to {got_shape})",
        "ko": " (모양도 {got_shape}로 바뀌어 있습니다)",
    },
    "swapped": {
        "en": "{param} is the gradient of {other}: the gradients of {param} and {other} are swapped or mislabelled.",
        "ko": "{param}에 {other}의 기울기가 들어 있습니다: 두 기울기가 서로 바뀌었거나 이름이 잘못 붙었습니다.",
    },
    "swapped.copy": {
        "en": "{param} holds the gradient of {other}, not its own, while {other} does not hold {param}'s: the two are "
              "not swapped, {param}'s gradient was computed as {other}'s (copied, or by {other}'s formula without what "
              "sets {param} apart, as a batch norm's dgamma = sum(dout) leaves out the xhat of sum(dout * xhat)).",
        "ko": "{param}에 자기 기울기가 아니라 {other}의 기울기가 들어 있지만, {other}에는 {param}의 기울기가 들어 있지 "
              "않습니다: 두 기울기가 바뀐 것이 아니라 {param}의 기울기를 {other}의 것처럼 계산했습니다 (복사했거나, "
              "{param}을(를) 구별하는 항을 빼고 {other}의 식으로 계산: 배치 정규화의 dgamma = sum(dout)은 "
              "sum(dout * xhat)의 xhat을 빠뜨린 것입니다).",
    },
    "activation": {
        "en": "{param} matches a known mistake in an activation's derivative: {mistake_text}",
        "ko": "{param}은(는) 활성화 함수를 미분할 때 흔히 하는 잘못과 일치합니다: {mistake_text}",
    },
    "partial": {
        "en": "{param} is wrong in {n_wrong} of its {n_total} entries (first at index {first_wrong}); the other entries passed.",
        "ko": "{param}의 원소 {n_total}개 중 {n_wrong}개가 틀렸습니다 (첫 번째 위치 {first_wrong}). 나머지 원소는 검사를 통과했습니다.",
    },
    "partial.kinks": {
        "en": "{param} is wrong in {n_wrong} of its {n_total} entries (first at index {first_wrong}); the other entries "
              "passed, {n_kinks} of them only within the one-sided bracket of a kink, where a wrong value can lie too.",
        "ko": "{param}의 원소 {n_total}개 중 {n_wrong}개가 틀렸습니다 (첫 번째 위치 {first_wrong}). 나머지 원소는 검사를 "
              "통과했지만, 그중 {n_kinks}개는 꺾이는 점의 한쪽 차분 구간 안에 있었을 뿐이며 틀린 값도 그 구간에 들 수 있습니다.",
    },
    "partial.offset": {
        "en": "{param} is wrong in {n_wrong} of its {n_total} entries (first at index {first_wrong}), by at most "
              "{max_rel_offset:.1e} of its largest entry; the other entries passed.",
        "ko": "{param}의 원소 {n_total}개 중 {n_wrong}개가 틀렸습니다 (첫 번째 위치 {first_wrong}). 차이는 최대 원소의 "
              "{max_rel_offset:.1e} 이하이며, 나머지 원소는 검사를 통과했습니다.",
    },
    "partial.nonzero": {
        "en": "{param} is wrong in all {n_wrong} entries where the gradient is not zero (first at index {first_wrong}); "
              "the rest ({n_zero} of {n_total}) are zero in both (as behind an inactive ReLU), so they say nothing "
              "about where the mistake is.",
        "ko": "{param}은(는) 기울기가 0이 아닌 원소 {n_wrong}개 모두에서 틀렸습니다 (첫 번째 위치 {first_wrong}). 나머지 "
              "원소 ({n_total}개 중 {n_zero}개)는 양쪽 모두 0이라 (비활성 ReLU 뒤처럼) 오류의 위치에 대해 아무것도 알려 주지 않습니다.",
    },
    "shape": {
        "en": "{param} has shape {got_shape}, expected {expected_shape}.",
        "ko": "{param}의 모양이 {got_shape}입니다. {expected_shape}이어야 합니다.",
    },
    "shape.unsummed": {
        "en": "{param} has shape {got_shape}, expected {expected_shape}: it holds one gradient per sample, and their "
              "sum over the batch (axis 0) is right. A bias is added to every sample, so its gradient is the sum over "
              "the samples: use .sum(axis=0).",
        "ko": "{param}의 모양이 {got_shape}입니다. {expected_shape}이어야 합니다: 샘플마다 기울기가 하나씩 들어 있고, "
              "이를 배치(0번 축)에 대해 더하면 맞습니다. 편향은 모든 샘플에 더해지므로 그 기울기는 샘플에 대한 합입니다: "
              ".sum(axis=0)을 쓰세요.",
    },
    "shape.unsummed.keepdims": {
        "en": "{param} has shape {got_shape}, expected {expected_shape}: it holds one gradient per sample, and their "
              "sum over the batch (axis 0) is right. A bias is added to every sample, so its gradient is the sum over "
              "the samples: use .sum(axis=0, keepdims=True).",
        "ko": "{param}의 모양이 {got_shape}입니다. {expected_shape}이어야 합니다: 샘플마다 기울기가 하나씩 들어 있고, "
              "이를 배치(0번 축)에 대해 더하면 맞습니다. 편향은 모든 샘플에 더해지므로 그 기울기는 샘플에 대한 합입니다: "
              ".sum(axis=0, keepdims=True)를 쓰세요.",
    },
    "shape.values": {
        "en": "{param} has shape {got_shape}, expected {expected_shape}; its values are right once reshaped.",
        "ko": "{param}의 모양이 {got_shape}입니다. {expected_shape}이어야 합니다. 모양만 바꾸면 값은 맞습니다.",
    },
    "type": {
        "en": "{param} is not an array of real numbers (got {got_type}).",
        "ko": "{param}이(가) 실수 배열이 아닙니다 (받은 값: {got_type}).",
    },
    "nonfinite": {
        "en": "{param} contains {n_nonfinite} NaN or infinite values where the gradient is finite: look for 0/0, log(0) or an overflowing exp.",
        "ko": "{param}에 NaN 또는 무한대 값이 {n_nonfinite}개 있습니다 (정확한 기울기는 유한합니다). 0/0, log(0), exp의 오버플로를 확인하세요.",
    },
    "finite_difference": {
        "en": "{param} agrees with a finite-difference estimate (relative error {rel_error:.1e}) but not with the exact gradient to the precision backpropagation reaches (1e-11 of the largest entry): it was computed numerically, not by backpropagation.",
        "ko": "{param}은(는) 수치 미분 추정값과는 맞지만 (상대 오차 {rel_error:.1e}) 역전파가 도달하는 정밀도(최대 원소의 1e-11)로는 정확한 기울기와 맞지 않습니다: 역전파가 아니라 수치 미분으로 계산했습니다.",
    },
    "finite_difference.evaluations": {
        "en": "{param} was computed numerically, not by backpropagation: one call of backward ran {function} on the batch {evaluations:,} times for {n_params:,} parameters (backpropagation runs the forward pass once; a numerical gradient, whatever its recipe, at least once per parameter).",
        "ko": "{param}은(는) 역전파가 아니라 수치 미분으로 계산되었습니다: backward를 한 번 호출하는 동안 {function}이(가) {evaluations:,}번 실행되었습니다 (매개변수 {n_params:,}개). 역전파는 순전파를 한 번 실행하고, 수치 미분은 방법과 관계없이 매개변수마다 적어도 한 번 실행합니다.",
    },
    "finite_difference.complex": {
        "en": "{param} was computed numerically, not by backpropagation: backward evaluated the model in complex numbers ({complex_values:,} complex values), which is the complex-step derivative; backpropagation through a real network needs no complex numbers.",
        "ko": "{param}은(는) 역전파가 아니라 수치 미분으로 계산되었습니다: backward가 모델을 복소수로 계산했습니다 (복소수 값 {complex_values:,}개). 이는 복소 스텝 미분이며, 신경망의 역전파에는 복소수가 필요 없습니다.",
    },
    "finite_difference.roundoff": {
        "en": "{param} was computed numerically, not by backpropagation: when the point moved by {step:.0e} of its size, the gradient's second difference was {moved:.0e} of its largest entry ({noisy:,} of {counted:,} entries between 1e-13 and 1e-7): the rounding of a finite difference, which divides the loss's rounding by its step. Backpropagation's gradient moves smoothly, by about 1e-16.",
        "ko": "{param}은(는) 역전파가 아니라 수치 미분으로 계산되었습니다: 점을 크기의 {step:.0e}만큼 옮겼을 때 기울기의 2차 차분이 최대 원소의 {moved:.0e}였습니다 (원소 {counted:,}개 중 {noisy:,}개가 1e-13과 1e-7 사이). 이는 손실의 반올림 오차를 스텝으로 나누는 유한 차분의 반올림 오차입니다. 역전파의 기울기는 매끄럽게, 약 1e-16만큼만 움직입니다.",
    },
    "precision": {
        "en": "{param} is right only to single precision (relative error {rel_error:.1e}): compute in float64.",
        "ko": "{param}은(는) 단정밀도 수준으로만 맞습니다 (상대 오차 {rel_error:.1e}). float64로 계산하세요.",
    },
    "global": {
        "en": "Your backward uses the global {name} (defined in your file) instead of its argument {argument}: {param} is exact for the notebook's data, not for the inputs it was given.",
        "ko": "backward가 인자 {argument} 대신 파일에 정의된 전역 변수 {name}을(를) 사용합니다: {param}은(는) 노트북의 데이터에 대해서는 정확하지만, 전달받은 입력에 대해서는 정확하지 않습니다.",
    },
    "global.both": {
        "en": "Your backward uses the globals {name} and {name2} (defined in your file) instead of its arguments x and y: {param} is exact for the notebook's data, not for the inputs it was given.",
        "ko": "backward가 인자 x, y 대신 파일에 정의된 전역 변수 {name}, {name2}을(를) 사용합니다: {param}은(는) 노트북의 데이터에 대해서는 정확하지만, 전달받은 입력에 대해서는 정확하지 않습니다.",
    },
    "wrong": {
        "en": "{param} is wrong (largest error {max_abs_error:.3g}, gradient entries up to {scale:.3g}) and fits no known mistake.",
        "ko": "{param}이(가) 틀렸습니다 (최대 오차 {max_abs_error:.3g}, 기울기 원소 최댓값 {scale:.3g}). 알려진 오류 유형에도 해당하지 않습니다.",
    },
    "wrong.near": {
        "en": "{param} is close to the exact gradient (relative error {rel_error:.1e}) but not within the precision backpropagation reaches (1e-11 of the largest entry), and too far off for float32 or an epsilon (more than {bound:.0e}): look for a small offset, such as a regulariser the loss does not have, a clip, a missing term or a coarsely rounded result, and differentiate exactly what the forward computes, in float64.",
        "ko": "{param}은(는) 정확한 기울기에 가깝지만 (상대 오차 {rel_error:.1e}) 역전파가 도달하는 정밀도(최대 원소의 1e-11) 안에 있지 않고, float32나 엡실론으로 설명하기에는 너무 큽니다 ({bound:.0e} 초과): 손실에 없는 정규화 항, 잘라내기(클리핑), 빠진 항, 크게 반올림한 결과 같은 작은 차이를 찾고, 순전파가 계산하는 식 그대로 float64로 미분하세요.",
    },
    "precision.near": {
        "en": "{param} is right only to about single precision (relative error {rel_error:.1e}; float32 or an epsilon explain up to {bound:.0e}): likely a float32 step (an input or intermediate cast with astype(np.float32)), an epsilon inside a derivative (such as 1 / (y + 1e-7)) or a rounded result. For full marks, compute every step in float64 and differentiate exactly what the forward computes, with no epsilon and no rounding.",
        "ko": "{param}은(는) 대략 단정밀도 수준으로만 맞습니다 (상대 오차 {rel_error:.1e}; float32나 엡실론은 {bound:.0e}까지 설명합니다): float32 단계(astype(np.float32)로 바꾼 입력이나 중간값), 도함수 안의 엡실론(예: 1 / (y + 1e-7)), 반올림한 결과일 가능성이 큽니다. 만점을 받으려면 모든 단계를 float64로 계산하고, 엡실론이나 반올림 없이 순전파가 계산하는 식 그대로 미분하세요.",
    },
    "precision.roundoff": {
        "en": "{param} carries single-precision rounding (relative error {rel_error:.1e}; when the point moved by {step:.0e} of its size, its second difference was {moved:.0e} of its largest entry, float32's level): compute every step in float64.",
        "ko": "{param}에 단정밀도 반올림 오차가 있습니다 (상대 오차 {rel_error:.1e}; 점을 크기의 {step:.0e}만큼 옮겼을 때 2차 차분이 최대 원소의 {moved:.0e}로 float32 수준입니다): 모든 단계를 float64로 계산하세요.",
    },
    "wrong.zero": {
        "en": "{param} is all zeros while the gradient is not: nothing reached it (a backward pass not written yet, a "
              "result never stored, or a factor or mask that is 0 everywhere here).",
        "ko": "{param}이(가) 모두 0이지만 정확한 기울기는 0이 아닙니다: 이 매개변수까지 아무 값도 전달되지 않았습니다 "
              "(아직 작성하지 않은 역전파, 저장하지 않은 결과, 또는 여기서 모든 곳이 0인 계수나 마스크).",
    },
    "wrong.ties": {
        "en": "{param} shares the gradient wrongly among tied entries: moving its {n_tied} entries equal to {value:g} "
              "together changes the loss at the rate {numeric:.6g}, but the gradient says {analytic:.6g} ({ratio:.3g} "
              "times as much). Each tied entry alone lies within its kink's one-sided bracket, but tied entries share "
              "one gradient: a max-pool backward that routes the gradient to every tied maximum, instead of to one of "
              "them, does this.",
        "ko": "{param}이(가) 값이 같은(동점인) 원소들 사이에 기울기를 잘못 나눕니다: 값이 {value:g}인 원소 {n_tied}개를 "
              "함께 움직이면 손실이 {numeric:.6g}의 비율로 변하지만, 기울기는 {analytic:.6g}라고 합니다 ({ratio:.3g}배). "
              "동점인 원소 하나하나는 꺾이는 점의 한쪽 차분 구간 안에 있지만, 동점인 원소들은 하나의 기울기를 나눠 가져야 "
              "합니다: 최댓값이 여러 개인 창에서 최댓값 하나가 아니라 모든 최댓값에 기울기를 보내는 최대 풀링의 역전파가 "
              "이렇게 됩니다.",
    },
    "wrong.unread": {
        "en": "{param} cannot be judged: the loss did not change when {param} moved (every numerical entry is exactly 0; see the problem above). Fix that first: the gradient itself may be right.",
        "ko": "{param}은(는) 판정할 수 없습니다: {param}을(를) 움직여도 손실이 변하지 않았습니다 (수치 기울기가 모두 정확히 0; 위의 문제 참고). 그 문제를 먼저 고치세요: 기울기 자체는 맞을 수 있습니다.",
    },
    "wrong.flat": {
        "en": "{param} is wrong: the loss is flat here (it did not change when any entry of {param} moved, and no "
              "entry sits at a kink), so the gradient is 0 at this point (a dead ReLU or a saturated unit?), while "
              "yours has {n_wrong} nonzero entries of {n_total}.",
        "ko": "{param}이(가) 틀렸습니다: 이 점에서 손실이 평평합니다 ({param}의 어느 원소를 움직여도 손실이 변하지 않았고, "
              "꺾이는 점에 있는 원소도 없습니다). 따라서 이 점의 기울기는 0인데 (죽은 ReLU나 포화된 유닛?), 제출한 "
              "기울기는 원소 {n_total}개 중 {n_wrong}개가 0이 아닙니다.",
    },
    "wrong.probed": {
        "en": "{param} is wrong: {n_wrong} of its {n_total} random probes failed, and bisection localised no single "
              "wrong entry (the error is spread over many entries, each below its share): check with mode='full' for "
              "a diagnosis of every entry.",
        "ko": "{param}이(가) 틀렸습니다: 무작위 방향 {n_total}개 중 {n_wrong}개에서 불일치했지만, 이분 탐색으로 틀린 원소를 "
              "하나도 특정하지 못했습니다 (오차가 많은 원소에 조금씩 퍼져 있습니다). 모든 원소의 진단은 전체 모드로 "
              "확인하세요.",
    },
    "wrong.localised": {
        "en": "{param} is wrong: {n_wrong} of its {n_total} random probes failed, and bisection found wrong "
              "entries ({n_localised} found, the first at index {first_wrong}); fast mode names a cause only when those "
              "entries share one constant factor: check with mode='full' for a diagnosis of every entry.",
        "ko": "{param}이(가) 틀렸습니다: 무작위 방향 {n_total}개 중 {n_wrong}개에서 불일치했고, 이분 탐색으로 틀린 원소 "
              "{n_localised}개를 찾았습니다 (첫 번째 위치 {first_wrong}). 빠른 모드는 찾은 원소들이 모두 같은 상수배일 "
              "때만 원인을 말합니다: 모든 원소의 진단은 전체 모드로 확인하세요.",
    },
    "ties.undecided": {
        "en": "{param} cannot be decided at exact ties: every entry that failed moves a tie (a pre-activation "
              "exactly on a kink), where a correct gradient with any fixed relu'(0) can fail too (see the note). "
              "What the check saw there:",
        "ko": "{param}은(는) 정확한 동점(꺾이는 점에 정확히 놓인 활성화 전 값)에서는 판정할 수 없습니다: 틀린 원소마다 "
              "동점을 움직이며, 그런 곳에서는 relu'(0)을 어떻게 정하든 올바른 기울기도 실패할 수 있습니다 (메모 참고). "
              "그 점에서 검사가 본 것:",
    },
    "wrong.param": {
        "en": "{param} equals the parameter itself, not its gradient.",
        "ko": "{param}이(가) 기울기가 아니라 매개변수 값 자체입니다.",
    },
    "wrong.update": {
        "en": "{param} looks like an updated parameter (parameter - {lr:.3g} * gradient): return the gradient itself.",
        "ko": "{param}이(가) 갱신된 매개변수 (매개변수 - {lr:.3g} * 기울기)처럼 보입니다. 기울기 자체를 반환하세요.",
    },
    "mutation": {
        "en": "The submission changed its argument {param} in place: a backward pass must not modify its inputs (copy an array before writing into it).",
        "ko": "제출물이 인수 {param}을(를) 직접 수정했습니다: 역전파는 입력을 수정하면 안 됩니다 (배열에 쓰기 전에 복사하세요).",
    },
    "nondeterministic": {
        "en": "Two calls with the same input gave different values for {param}: the result must not depend on hidden state or randomness.",
        "ko": "같은 입력으로 두 번 호출했더니 {param}의 값이 달랐습니다: 결과가 숨은 상태나 난수에 의존하면 안 됩니다.",
    },
    # -- a gradient the submission did not return ------------------------------
    "missing": {
        "en": "{param} is missing from what the submission returned.",
        "ko": "제출물이 반환한 값에 {param}이(가) 없습니다.",
    },
    # -- likely causes of a constant factor c (the student's value is c times the gradient)
    "cause.2": {
        "en": "the factor 1/2 of the loss was lost (the derivative of (1/2)(y - a)^2 is (a - y), not 2(a - y)).",
        "ko": "손실의 계수 1/2이 빠졌습니다 ((1/2)(y - a)^2의 미분은 2(a - y)가 아니라 (a - y)입니다).",
    },
    "cause.1/2": {
        "en": "the factor 2 from differentiating the square is missing (the derivative of (y - a)^2 is 2(a - y)).",
        "ko": "제곱을 미분할 때 나오는 2가 빠졌습니다 ((y - a)^2의 미분은 2(a - y)입니다).",
    },
    "cause.1/2.outputs": {
        "en": "the factor 2 from differentiating the square is missing (the derivative of (y - a)^2 is 2(a - y)), or the "
              "mean is taken over all N x K entries (np.mean, y.size) where the loss averages over the N samples only, "
              "a factor 1/K with K = 2 outputs a sample: the two give the same number here.",
        "ko": "제곱을 미분할 때 나오는 2가 빠졌거나 ((y - a)^2의 미분은 2(a - y)입니다), 손실은 N개 샘플에 대해서만 평균을 "
              "내는데 N x K개 원소 전체에 대해 평균을 냈습니다 (np.mean: 출력이 샘플마다 K = 2개이므로 1/K배). "
              "여기서는 두 경우가 같은 수를 줍니다.",
    },
    "cause.N": {
        "en": "the loss is a mean over the N samples but this is their sum: the factor 1/N is missing.",
        "ko": "손실은 N개 샘플의 평균인데 이 값은 합입니다: 계수 1/N이 빠졌습니다.",
    },
    "cause.1/N": {
        "en": "it is divided by the batch size N, but the loss is a sum over the samples (or it was divided by N twice).",
        "ko": "배치 크기 N으로 나누었지만 손실은 샘플에 대한 합입니다 (또는 N으로 두 번 나누었습니다).",
    },
    "cause.N/2": {
        "en": "the factor 2/N of the mean squared error is missing (its derivative is 2(a - y)/N, not a - y).",
        "ko": "평균제곱오차의 계수 2/N이 빠졌습니다 (미분은 a - y가 아니라 2(a - y)/N입니다).",
    },
    "cause.2/N": {
        "en": "the derivative of a mean squared error, 2(a - y)/N, was used, but the loss is half a sum of squares, whose derivative is a - y.",
        "ko": "평균제곱오차의 미분 2(a - y)/N을 썼지만 손실은 제곱합의 절반이므로 미분은 a - y입니다.",
    },
    "cause.2N": {
        "en": "both the factor 1/2 of the loss and the 1/N of the mean are missing.",
        "ko": "손실의 계수 1/2과 평균의 계수 1/N이 모두 빠졌습니다.",
    },
    "cause.1/(2N)": {
        "en": "it is divided by 2N: the factor 2 of the square is missing and it is divided by N where the loss is a sum.",
        "ko": "2N으로 나누어져 있습니다: 제곱의 2가 빠졌고, 손실이 합인데 N으로 나누었습니다.",
    },
    "cause.2.nohalf": {
        "en": "it is twice the gradient: the 2 from differentiating the square was applied twice (this loss has no 1/2 "
        "to cancel it).",
        "ko": "정확한 기울기의 두 배입니다. 제곱을 미분할 때 나오는 2를 두 번 곱했습니다 (이 손실에는 그것을 없앨 "
        "계수 1/2이 없습니다).",
    },
    "cause.1/2.half": {
        "en": "it is divided by 2 once too often: the loss is half a sum of squares, whose 1/2 already cancels the 2 "
        "from differentiating the square (the derivative of (1/2)(y - a)^2 is a - y).",
        "ko": "2로 한 번 더 나누었습니다. 손실이 제곱합의 절반이라 계수 1/2이 제곱을 미분할 때 나오는 2를 이미 없앱니다 "
        "((1/2)(y - a)^2의 미분은 a - y입니다).",
    },
    "cause.N.sum": {
        "en": "it is N times the gradient, but the loss is a sum over the samples: nothing is multiplied by N.",
        "ko": "정확한 기울기의 N배이지만 손실은 샘플에 대한 합입니다. N을 곱하는 곳이 없습니다.",
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
    "cause.ambiguous": {
        "en": "either {causes}. At this batch size these factors are equal: a check at another batch size tells them apart.",
        "ko": "다음 중 하나입니다: {causes}. 이 배치 크기에서는 이 계수들이 같으므로 다른 배치 크기로 검사하면 구별됩니다.",
    },
    "cause.or": {
        "en": "; or ",
        "ko": "; 또는 ",
    },
    "factor.sign": {
        "en": " The sign is also flipped.",
        "ko": " 부호도 반대입니다.",
    },
    # -- known mistakes (see gradcheck.mistakes) -----------------------------
    "mistake.sigmoid_prime_of_z": {
        "en": "the sigmoid derivative was computed as z * (1 - z) on the pre-activation z; it is a * (1 - a) with a = sigmoid(z).",
        "ko": "시그모이드 미분을 활성화 전 값 z에 대해 z * (1 - z)로 계산했습니다. 올바른 값은 a = sigmoid(z)일 때 a * (1 - a)입니다.",
    },
    "mistake.sigmoid_twice": {
        "en": "sigmoid'(a) = s(a)(1 - s(a)) was applied to the activation a, which applies the sigmoid twice; use a * (1 - a).",
        "ko": "활성화 값 a에 sigmoid'(a) = s(a)(1 - s(a))를 적용해 시그모이드를 두 번 적용했습니다. a * (1 - a)를 쓰세요.",
    },
    "mistake.relu_mask_output_ge0": {
        "en": "the ReLU was back-propagated as the identity, its mask 1 everywhere: no mask at all, or one taken as "
              "output >= 0, which is always true for a ReLU's output (as relu2deriv(output) does); the mask must be "
              "z > 0 (or output > 0).",
        "ko": "ReLU를 항등 함수처럼 역전파했습니다. 마스크가 모든 곳에서 1입니다: 마스크가 아예 없거나, "
              "relu2deriv(output)처럼 ReLU의 출력에 대해 항상 참인 output >= 0으로 잡았습니다. 마스크는 z > 0 "
              "(또는 output > 0)이어야 합니다.",
    },
    "mistake.tanh_prime_of_z": {
        "en": "the tanh derivative was computed as 1 - z**2 on the pre-activation z; it is 1 - a**2 with a = tanh(z).",
        "ko": "tanh 미분을 활성화 전 값 z에 대해 1 - z**2로 계산했습니다. 올바른 값은 a = tanh(z)일 때 1 - a**2입니다.",
    },
    "mistake.sigmoid_prime_as_output": {
        "en": "the sigmoid derivative was taken as the sigmoid's output a itself; it is a * (1 - a): the factor (1 - a) "
              "is missing.",
        "ko": "시그모이드 미분을 시그모이드의 출력 a 자체로 계산했습니다. 올바른 값은 a * (1 - a)입니다: (1 - a) 항이 "
              "빠졌습니다.",
    },
    "mistake.bce_sigmoid_prime_again": {
        "en": "the output's delta was multiplied by the sigmoid's derivative a * (1 - a) once too often: for a sigmoid "
              "output with the cross-entropy loss, the gradient at the sigmoid's input z is already (a - y) / N (the "
              "cross-entropy's 1 / (a (1 - a)) cancels the sigmoid's derivative); leave the factor a * (1 - a) out.",
        "ko": "출력층의 델타에 시그모이드 미분 a * (1 - a)를 한 번 더 곱했습니다: 시그모이드 출력에 교차 엔트로피 손실을 "
              "쓰면 시그모이드 입력 z에 대한 기울기는 이미 (a - y) / N입니다 (교차 엔트로피의 1 / (a (1 - a))가 "
              "시그모이드 미분과 약분됩니다). a * (1 - a)를 곱하지 마세요.",
    },
    "mistake.softmax_ce_prime_again": {
        "en": "the output's delta was multiplied by p * (1 - p), the diagonal of the softmax's derivative, once too "
              "often: for a softmax output with the cross-entropy loss, the gradient at the softmax's input z is "
              "already (p - t) / N (the softmax's derivative is in it); leave the factor p * (1 - p) out.",
        "ko": "출력층의 델타에 소프트맥스 미분의 대각 성분 p * (1 - p)를 한 번 더 곱했습니다: 소프트맥스 출력에 교차 엔트로피 "
              "손실을 쓰면 소프트맥스 입력 z에 대한 기울기는 이미 (p - t) / N입니다 (소프트맥스 미분이 이미 들어 있습니다). "
              "p * (1 - p)를 곱하지 마세요.",
    },
    "mistake.generic": {
        "en": "it matches the known mistake {mistake}.",
        "ko": "알려진 오류 {mistake}와(과) 일치합니다.",
    },
}


class _Lenient(string.Formatter):
    """A formatter that renders missing fields as ``?`` and bad formats plainly."""

    def get_value(self, key: Any, args: Any, kwargs: Mapping[str, Any]) -> Any:
        if isinstance(key, str):
            return kwargs.get(key, "?")
        return super().get_value(key, args, kwargs)

    def format_field(self, value: Any, format_spec: str) -> str:
        try:
            return super().format_field(value, format_spec)
        except (TypeError, ValueError):
            return str(value)


_FORMATTER = _Lenient()


def check_lang(lang: str) -> str:
    """Return the code of ``lang`` if supported, else raise ``ValueError`` naming it.

    >>> check_lang("ko"), check_lang(Language.EN)
    ('ko', 'en')
    """
    if isinstance(lang, Language):
        return lang.value
    if lang not in LANGUAGES:
        raise GradcheckValueError(f"lang must be one of {LANGUAGES}, got lang={lang!r}")
    return lang


def text(key: str, *, lang: str = "en") -> str:
    """The raw template for ``key`` in ``lang`` (English when no translation exists).

    >>> text("ui.score", lang="ko")
    '점수'
    """
    check_lang(lang)
    entry = TEMPLATES.get(key)
    if entry is None:
        raise KeyError(f"no message template for key={key!r}")
    return entry.get(lang) or entry["en"]


def render(key: str, fields: Mapping[str, Any], *, lang: str = "en") -> str:
    """Format the template ``key`` in ``lang`` with ``fields``.

    Parameters
    ----------
    key : str
        A template key (a diagnosis code or a variant such as ``"wrong.zero"``).
    fields : mapping
        Values for the template's fields; missing ones render as ``?``.
    lang : {"en", "ko"}

    Returns
    -------
    str
    """
    return _FORMATTER.vformat(text(key, lang=lang), (), dict(fields))


def register_template(key: str, messages: Mapping[str, str]) -> None:
    """Add or replace the template ``key``; ``messages`` must include English.

    >>> register_template("mistake.demo", {"en": "demo", "ko": "데모"})
    >>> text("mistake.demo", lang="ko")
    '데모'
    """
    if not isinstance(key, str) or not key:
        raise GradcheckValueError(f"key must be a non-empty str, got key={key!r}")
    if "en" not in messages:
        raise GradcheckValueError(f"messages must include an 'en' template, got languages {sorted(messages)} for key={key!r}")
    unknown = sorted(set(messages) - set(LANGUAGES))
    if unknown:
        raise GradcheckValueError(f"messages has unsupported languages {unknown} for key={key!r}; supported: {LANGUAGES}")
    TEMPLATES[key] = dict(messages)
