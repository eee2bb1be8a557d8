"""rt24's grader findings: which call a memory or crash verdict came from (N6)."""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.pipeline import CallOutcome, TestPoint, grade_with, make_points, sandbox_caller
from gradcheck.grading.sandbox import Sandbox

from tests.grading.test_grade_pipeline import XOR2, _fails_from_call
from tests.grading.test_sandbox import FAST, point
from tests.grading.test_sandbox import write as write_one


# -- N6: which call ran out of memory or crashed -------------------------------------------------------------------

@pytest.mark.parametrize(("outcome", "en", "ko"), ids=["memory", "crash"], argvalues=[
    (CallOutcome(None, "memory", detail={"megabytes": 512, "template": "memory.call", "call": 4}),
     "The calls before call 4 finished, but call 4 exceeded the memory limit of 512 MB and was stopped (an import",
     "4번째 호출 전의 호출은 끝났지만, 4번째 호출이 메모리 제한 512 MB를 넘어 중지되었습니다"),
    (CallOutcome(None, "crash", "backward(params, x, y) called os._exit(0), which ends the process",
                 detail={"template": "crash.call", "call": 4}),
     "The calls before call 4 finished, but the submission's process died during call 4: backward(params, x, y) called os._exit(0)",
     "4번째 호출 전의 호출은 끝났지만, 4번째 호출 중에 제출물의 프로세스가 비정상 종료되었습니다: backward(params, x, y)"),
])
def test_a_memory_or_crash_verdict_after_calls_that_returned_says_which_call(outcome: CallOutcome, en: str, ko: str) -> None:
    for lang, words in (("en", en), ("ko", ko)):
        caller, calls = _fails_from_call(4, outcome)
        r = grade_with(caller, XOR2, submission="late.py", lang=lang)
        assert calls[:3] == [p.label for p in make_points(XOR2)]
        assert r.verdict == outcome.verdict and r.messages[0].startswith(words), r.messages[0]


@pytest.mark.parametrize(("line", "verdicts", "detail"), [
    # a MemoryError the child catches leaves the session alive: the third call returns
    ("raise MemoryError", ["ok", "memory", "ok"], {"megabytes": FAST.memory_bytes >> 20, "template": "memory.call", "call": 2}),
    ("import os; os._exit(0)", ["ok", "crash", "crash"], {"template": "crash.call", "call": 2}),  # the process ends: so do the calls
    ("import sys; sys.exit(3)", ["ok", "crash", "crash"], {"template": "crash.call", "call": 2}),
])
def test_the_sandbox_says_which_call_ran_out_of_memory_or_crashed(tmp_path: Path, line: str, verdicts: list[str], detail: dict) -> None:
    # rt24 N6: the first call returns, the second fails
    code = f"n = [0]\ndef backward(params, x, y):\n    n[0] += 1\n    if n[0] == 2:\n        {line}\n    return {{k: v * 0 for k, v in params.items()}}\n"
    _, p, x, y = point("xor_2layer")
    with Sandbox(write_one(tmp_path, code), limits=FAST) as box:
        call = sandbox_caller(box)
        outcomes = [call(TestPoint("p", p, x, y)) for _ in range(3)]
    assert [o.verdict for o in outcomes] == verdicts
    assert outcomes[1].detail == detail
    assert outcomes[2].detail == (detail if verdicts[2] != "ok" else {})  # a dead session's later calls say the call that ended it


def test_a_failure_at_the_first_call_names_no_call(tmp_path: Path) -> None:
    code = "def backward(params, x, y):\n    raise MemoryError\n"
    _, p, x, y = point("xor_2layer")
    with Sandbox(write_one(tmp_path, code), limits=FAST) as box:
        outcome = sandbox_caller(box)(TestPoint("p", p, x, y))
    assert outcome.verdict == "memory" and outcome.detail == {"megabytes": FAST.memory_bytes >> 20}
