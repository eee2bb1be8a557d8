"""The grader's own message templates: process verdicts and report vocabulary.

The templates of the core's diagnoses (and the language list, the
formatter and the lookup functions) live in :mod:`gradcheck.messages`;
this module adds the sentences only the grader says (``syntax``,
``timeout``, ``crash`` ..., see :class:`gradcheck.grading.verdicts.ProcessVerdict`)
and the words of its reports (``ui.*``), and re-exports the lookup
functions so renderers need one import.

Examples
--------
>>> render("timeout", {"seconds": 10}, lang="en")
'The submission did not finish within the time limit of 10 s.'
>>> text("ui.score", lang="ko")
'점수'
"""
from __future__ import annotations

from gradcheck.messages import LANGUAGES, TEMPLATES, Language, check_lang, register_template, render, text

__all__ = ["Language", "LANGUAGES", "TEMPLATES", "GRADING_TEMPLATES", "later_call", "render", "text", "register_template", "check_lang"]

def later_call(en: str, ko: str, *, in_time: bool = False) -> dict[str, str]:
    """The template of a verdict on call ``{call}`` of a session (never the first): that the calls before it
    finished (``in_time``: within the time limit), then what call ``{call}`` did (``en``, ``ko``).

    The one wording of "which call" for the timeout, the memory limit and a crash (rt24 N6).

    >>> later_call("call {call} was stopped.", "{call}번째 호출이 중지되었습니다.")["en"]
    'The calls before call {call} finished, but call {call} was stopped.'
    """
    return {"en": f"The calls before call {{call}} finished{' in time' if in_time else ''}, but {en}",
            "ko": f"{{call}}번째 호출 전의 호출은 {'제한 시간 안에 ' if in_time else ''}끝났지만, {ko}"}


#: What the memory verdict adds after saying the limit was passed (``memory``, ``memory.call``).
_MEMORY_WHY = {
    "en": " (an import of a compiled package counts: its library is mapped into the same address space). The limit is raised "
          "with --memory MB, or memory_mb in the assignment's [limits].",
    "ko": " (컴파일된 패키지를 불러오는 것도 포함됩니다: 그 라이브러리가 같은 주소 공간에 올라갑니다). 제한은 --memory MB 또는 "
          "과제 파일 [limits]의 memory_mb로 늘릴 수 있습니다.",
}

#: ``GRADING_TEMPLATES[key][lang]``: the grader's templates, registered into
#: :data:`gradcheck.messages.TEMPLATES` when this module is imported.
GRADING_TEMPLATES: dict[str, dict[str, str]] = {
    # -- verdicts on the submission's process -----------------------------
    "missing.function": {
        "en": "The submission defines no function named {function}; it defines: {found}.",
        "ko": "제출물에 이름이 {function}인 함수가 없습니다. 제출물이 정의한 것: {found}.",
    },
    "missing.function.close": {
        "en": "The submission defines no function named {function}; it defines: {found}. Did you mean {close}?",
        "ko": "제출물에 이름이 {function}인 함수가 없습니다. 제출물이 정의한 것: {found}. 혹시 {close}을(를) 뜻했나요?",
    },
    "missing.class": {
        "en": "The submission defines no class named {function}; it defines: {found}.",
        "ko": "제출물에 이름이 {function}인 클래스가 없습니다. 제출물이 정의한 것: {found}.",
    },
    "missing.class.close": {
        "en": "The submission defines no class named {function}; it defines: {found}. Did you mean {close}?",
        "ko": "제출물에 이름이 {function}인 클래스가 없습니다. 제출물이 정의한 것: {found}. 혹시 {close}을(를) 뜻했나요?",
    },
    "missing.method": {
        "en": "The class {owner} has no method named {function}; its methods: {found}.",
        "ko": "클래스 {owner}에 이름이 {function}인 메서드가 없습니다. 이 클래스의 메서드: {found}.",
    },
    "missing.method.close": {
        "en": "The class {owner} has no method named {function}; its methods: {found}. Did you mean {close}?",
        "ko": "클래스 {owner}에 이름이 {function}인 메서드가 없습니다. 이 클래스의 메서드: {found}. 혹시 {close}을(를) 뜻했나요?",
    },
    "missing.named": {
        "en": "The submission does not define {function}.",
        "ko": "제출물에 {function}이(가) 정의되어 있지 않습니다.",
    },
    "missing.detail": {
        "en": "The grader could not find what the assignment asks for: {function}",
        "ko": "채점기가 과제에서 요구하는 것을 찾지 못했습니다: {function}",
    },
    "syntax": {
        "en": "The submission does not compile: {error}",
        "ko": "제출물을 컴파일할 수 없습니다: {error}",
    },
    "error": {
        "en": "The submission raised an exception: {error}",
        "ko": "제출물 실행 중 예외가 발생했습니다: {error}",
    },
    "error.grader": {
        "en": "The grader itself failed while grading this submission; this is no verdict on the code (0 points until the "
              "instructor grades it again): {error}",
        "ko": "이 제출물을 채점하는 동안 채점기 자체에 오류가 났습니다. 코드에 대한 판정이 아닙니다 (담당 교수자가 다시 채점할 때까지 "
              "0점): {error}",
    },
    "timeout": {
        "en": "The submission did not finish within the time limit of {seconds} s.",
        "ko": "제출물이 제한 시간 {seconds}초 안에 끝나지 않았습니다.",
    },
    "timeout.call": later_call("call {call} did not finish within the time limit of {seconds} s (per call) and was stopped.",
                               "{call}번째 호출이 호출당 제한 시간 {seconds}초 안에 끝나지 않아 중지되었습니다.", in_time=True),
    "memory": {
        "en": "The submission exceeded the memory limit of {megabytes} MB" + _MEMORY_WHY["en"],
        "ko": "제출물이 메모리 제한 {megabytes} MB를 넘었습니다" + _MEMORY_WHY["ko"],
    },
    "memory.call": later_call("call {call} exceeded the memory limit of {megabytes} MB and was stopped" + _MEMORY_WHY["en"],
                              "{call}번째 호출이 메모리 제한 {megabytes} MB를 넘어 중지되었습니다" + _MEMORY_WHY["ko"]),
    "output": {
        "en": "The submission returned or printed something the grader cannot accept: {error}",
        "ko": "제출물이 채점기가 받을 수 없는 값을 반환하거나 출력했습니다: {error}",
    },
    "output.session": {
        "en": "The submission printed more than {limit:,} bytes in all and was stopped during call {call}: the limit covers "
              "everything it prints while it is graded (loading and every call), not one call.",
        "ko": "제출물이 출력한 양이 모두 합쳐 {limit:,}바이트를 넘어 {call}번째 호출 중에 중지되었습니다. 이 제한은 호출 하나가 아니라 "
              "채점되는 동안 출력한 전체 (불러오기와 모든 호출)에 적용됩니다.",
    },
    "forbidden": {
        "en": "The submission tried a forbidden operation: {error}",
        "ko": "제출물이 금지된 동작을 시도했습니다: {error}",
    },
    "crash": {
        "en": "The submission's process died: {error}",
        "ko": "제출물의 프로세스가 비정상 종료되었습니다: {error}",
    },
    "crash.call": later_call("the submission's process died during call {call}: {error}",
                             "{call}번째 호출 중에 제출물의 프로세스가 비정상 종료되었습니다: {error}"),
    "too_large": {
        "en": "The submission was not run: it is larger than the grader accepts: {error}",
        "ko": "제출물이 채점기가 받는 크기보다 커서 실행하지 않았습니다: {error}",
    },
    # -- the forward pass (an output, not a gradient) -------------------------
    "forward.correct": {
        "en": "The forward pass is correct: its output is the network's.",
        "ko": "순전파가 정확합니다: 출력이 신경망의 출력과 같습니다.",
    },
    "forward.shape": {
        "en": "The forward pass's output has shape {got_shape}, expected {expected_shape}.",
        "ko": "순전파 출력의 모양이 {got_shape}입니다. {expected_shape}이어야 합니다.",
    },
    "forward.wrong": {
        "en": "The forward pass's output is not the network's (diagnosis {code}): check each layer against the equations.",
        "ko": "순전파 출력이 신경망의 출력과 다릅니다 (진단 {code}): 각 층을 수식과 비교해 보세요.",
    },
    "note.forward_calls": {
        "en": "One call of backward ran {function} on the batch {evaluations:,} times for {n_params:,} parameters, as often as "
              "a numerical gradient would; {params} were graded on their values, which are exact to backpropagation's precision "
              "(the gradient, or exactly the values of the mistake diagnosed) and carry no finite difference's rounding "
              "(a gradient check or debug calls left in backward?).",
        "ko": "backward를 한 번 호출하는 동안 {function}이(가) 배치에 대해 {evaluations:,}번 실행되었습니다 (매개변수 {n_params:,}개). "
              "수치 미분만큼 많은 횟수입니다. {params}은(는) 값으로 채점했습니다: 역전파의 정밀도로 정확하고 (기울기 그 자체이거나, "
              "진단된 오류의 값과 정확히 일치합니다) 유한 차분의 반올림 오차가 "
              "없습니다 (backward에 기울기 검사나 디버그 호출이 남아 있나요?).",
    },
    # -- report vocabulary ----------------------------------------------------
    "ui.passed": {"en": "passed", "ko": "통과"},
    "ui.failed": {"en": "failed", "ko": "실패"},
    "ui.score": {"en": "Score", "ko": "점수"},
    "ui.parameter": {"en": "Parameter", "ko": "매개변수"},
    "ui.status": {"en": "Status", "ko": "결과"},
    "ui.points": {"en": "Points", "ko": "배점"},
    "ui.diagnosis": {"en": "Diagnosis", "ko": "진단"},
    "ui.message": {"en": "Message", "ko": "설명"},
    "ui.forward": {"en": "Forward pass", "ko": "순전파"},
    "ui.submission": {"en": "Submission", "ko": "제출물"},
    "ui.model": {"en": "Model", "ko": "모델"},
    "ui.counterexample": {"en": "Smallest failing example", "ko": "가장 작은 반례"},
    "ui.input": {"en": "input", "ko": "입력"},
    "ui.expected": {"en": "expected", "ko": "기댓값"},
    "ui.got": {"en": "got", "ko": "제출값"},
    "ui.notes": {"en": "Notes", "ko": "참고"},
    "ui.feedback_title": {"en": "Backpropagation feedback", "ko": "역전파 채점 결과"},
    "ui.summary_title": {"en": "Class summary", "ko": "전체 요약"},
    "ui.submissions": {"en": "Submissions", "ko": "제출물 수"},
    "ui.mean": {"en": "Mean score", "ko": "평균 점수"},
    "ui.median": {"en": "Median score", "ko": "중앙값"},
    "ui.distribution": {"en": "Score distribution", "ko": "점수 분포"},
    "ui.diagnosis_counts": {"en": "Submissions per diagnosis", "ko": "진단별 제출물 수"},
    "ui.pass_rates": {"en": "Pass rate per parameter", "ko": "매개변수별 통과율"},
    "ui.deduction": {"en": "Deduction", "ko": "감점"},
    "ui.nothing": {"en": "nothing callable", "ko": "호출할 수 있는 것 없음"},
    "ui.see_below": {"en": "not graded: the whole submission failed (see below)", "ko": "채점하지 못했습니다: 제출물 전체가 실패했습니다 (아래 참고)"},
    "ui.run_failed": {"en": "What went wrong", "ko": "무엇이 잘못되었는지"},
    "ui.seed": {"en": "Seed", "ko": "시드"},
    "ui.isolation": {"en": "Isolation level", "ko": "격리 수준"},
    "ui.assignment": {"en": "Assignment", "ko": "과제"},
    "ui.report_title": {"en": "Class report", "ko": "채점 보고서"},
    "ui.versions": {"en": "Versions", "ko": "버전"},
    "ui.data": {"en": "Notebook data", "ko": "노트북 데이터"},
    "ui.data_none": {"en": "none on this machine (e.g. no MNIST file): random points only", "ko": "이 컴퓨터에 없음 (예: MNIST 파일 없음): 무작위 점에서만 채점"},
    "ui.fact": {"en": "About this run", "ko": "채점 정보"},
    "ui.needs_review": {"en": "Submissions that need a human look", "ko": "직접 확인이 필요한 제출물"},
    "ui.nothing_to_review": {"en": "None: every submission ran, and no two files are identical.",
                             "ko": "없습니다. 모든 제출물이 실행되었고 똑같은 파일도 없습니다."},
    "ui.reason": {"en": "Reason", "ko": "이유"},
    "ui.same_file_as": {"en": "The same file as {names}.", "ko": "{names}와(과) 똑같은 파일입니다."},
    "ui.feedback_all": {"en": "Feedback per submission", "ko": "제출물별 채점 결과"},
    "ui.no_plots": {"en": "Plots need matplotlib: pip install \"gradcheck[plot]\". The tables below hold the same numbers.",
                    "ko": "그래프를 그리려면 matplotlib이 필요합니다: pip install \"gradcheck[plot]\". 아래 표에 같은 수치가 있습니다."},
}

for _key, _messages in GRADING_TEMPLATES.items():
    register_template(_key, _messages)
