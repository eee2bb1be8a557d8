"""rt24's grader findings: Blackboard ids guessed without receipts and overrides applied to nobody (N2), an older
Blackboard attempt graded (N5), and which call a memory or crash verdict came from (N6)."""
from __future__ import annotations

from pathlib import Path

import pytest

from gradcheck.grading.identity import collect_submissions
from gradcheck.grading.pipeline import CallOutcome, TestPoint, grade_with, make_points, sandbox_caller
from gradcheck.grading.sandbox import Sandbox

from tests.grading.test_grade_pipeline import XOR2, _fails_from_call
from tests.grading.test_lms_layouts import GOOD, SCALE, grade, rows, write
from tests.grading.test_rt23_lms import T1, T2, receipt
from tests.grading.test_sandbox import FAST, point
from tests.grading.test_sandbox import write as write_one


def _blackboard(folder: Path, heads: list[str], receipts: bool = False) -> Path:
    """A Blackboard download: ``HEAD_attempt_T1_hw1.py`` per head (``Assignment_username``), with receipts if asked."""
    files = {f"{h}_attempt_{T1}_hw1.py": GOOD for h in heads}
    files |= {f"{h}_attempt_{T1}.txt": receipt(h.split("_", 1)[1]) for h in heads if receipts}
    return write(folder, files)


# -- N2: a Blackboard username cut where it may be wrong is flagged, never silent --------------------------------

@pytest.mark.parametrize(("heads", "ids", "cut"), [
    (["HW1_kim_j", "HW1_kim_s"], ["j", "s"], "HW1_kim_"),  # the usernames share "kim_"
    (["HW1_kim_minji", "HW1_kim_minsu"], ["minji", "minsu"], "HW1_kim_"),  # "minji" may be another student's username
    (["Lab_2_kim_j"], ["j"], "Lab_2_kim_"),  # one file alone: the last "_" is all there is to go by
    (["HW1_kim_j"], ["j"], "HW1_kim_"),
])
def test_a_blackboard_cut_that_may_end_inside_a_username_is_flagged(tmp_path: Path, heads: list[str], ids: list[str], cut: str) -> None:
    subs = collect_submissions([_blackboard(tmp_path / "bb", heads)])
    assert [(s.student_id, s.id_guess, s.review) for s in subs] == [(i, cut, ("id_guessed",)) for i in ids]


@pytest.mark.parametrize(("heads", "receipts", "ids"), [
    (["HW1_kim_j", "HW1_kim_s", "HW1_lee_h"], False, ["kim_j", "kim_s", "lee_h"]),  # "HW1_" is all they share: no "_" in it
    (["HW1_kim_j", "HW1_kim_s"], True, ["kim_j", "kim_s"]),  # the receipts name the usernames
    (["HW1_jdoe"], False, ["jdoe"]),  # one file, one "_": no other cut is possible
])
def test_a_blackboard_cut_that_cannot_be_wrong_is_not_flagged(tmp_path: Path, heads: list[str], receipts: bool, ids: list[str]) -> None:
    subs = collect_submissions([_blackboard(tmp_path / "bb", heads, receipts)])
    assert [(s.student_id, s.id_guess, s.review) for s in subs] == [(i, "", ()) for i in ids]


@pytest.mark.parametrize(("name", "heads", "ids"), [
    ("HW1", ["HW1_kim_j", "HW1_kim_s"], ["kim_j", "kim_s"]),
    ("Lab_2", ["Lab_2_kim_j"], ["kim_j"]),
    ("Homework 1", ["Homework 1_kim_minji", "Homework 1_kim_minsu"], ["kim_minji", "kim_minsu"]),
])
def test_the_assignments_name_given_makes_the_cut(tmp_path: Path, name: str, heads: list[str], ids: list[str]) -> None:
    subs = collect_submissions([_blackboard(tmp_path / "bb", heads)], blackboard_assignment=name)
    assert [(s.student_id, s.id_guess, s.review) for s in subs] == [(i, "", ()) for i in ids]


def test_one_receipt_shows_the_assignments_name_for_the_others(tmp_path: Path) -> None:
    d = _blackboard(tmp_path / "bb", ["HW1_kim_j", "HW1_kim_s"])
    write(d, {f"HW1_kim_j_attempt_{T1}.txt": receipt("kim_j")})  # kim_s's receipt is lost: "HW1" is the assignment's name still
    subs = collect_submissions([d])
    assert [(s.student_id, s.id_guess, s.review) for s in subs] == [("kim_j", "", ()), ("kim_s", "", ())]


def test_a_name_given_that_does_not_start_the_files_is_no_cut_and_is_flagged(tmp_path: Path) -> None:
    subs = collect_submissions([_blackboard(tmp_path / "bb", ["HW1_kim_j", "HW1_lee_h"])], blackboard_assignment="HW2")
    assert [(s.student_id, s.review) for s in subs] == [("kim_j", ("id_guessed",)), ("lee_h", ("id_guessed",))]


def test_guessed_ids_are_warned_about_and_listed_for_a_human_look(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _blackboard(tmp_path / "bb", ["HW1_kim_j", "HW1_kim_s"])
    d.joinpath(f"HW1_kim_s_attempt_{T1}_hw1.py").write_text(SCALE)  # two files apart: nobody is listed as identical
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv", "--summary", tmp_path / "s.md")
    assert rc == 0  # the grades are right; who they are is what needs a look
    assert [r["student_id"] for r in rows(tmp_path / "g.csv")] == ["j", "s"]
    err = capsys.readouterr().err
    assert "Blackboard student ids guessed: 'j', 's', what follows 'HW1_kim_'" in err
    assert "('kim_j', not 'j'?)" in err and "--blackboard-assignment" in err and "receipts" in err and "--id-pattern" in err
    review = (tmp_path / "s.md").read_text(encoding="utf-8").split("## Submissions that need a human look")[1].split("##")[0]
    for u in ("kim_j", "kim_s"):
        assert f"| HW1_{u}_attempt_{T1}_hw1.py | student id guessed from the Blackboard file name" in review
    rc = grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", tmp_path / "g.csv", "--summary", tmp_path / "s.md",
               "--blackboard-assignment", "HW1")
    assert rc == 0 and [r["student_id"] for r in rows(tmp_path / "g.csv")] == ["kim_j", "kim_s"]
    assert "guessed" not in capsys.readouterr().err
    assert "guessed" not in (tmp_path / "s.md").read_text(encoding="utf-8")


def test_an_override_that_names_nobody_fails_the_run_naming_the_close_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # rt24 N2: one file graded alone is "j"; the late penalty written for the username kim_j was a warning, the run exit 0
    d = _blackboard(tmp_path / "bb", ["HW1_kim_j"])
    ov = write(tmp_path, {"ov.csv": "student_id,parameter,score,reason\nkim_j,total,1,late penalty\n"}) / "ov.csv"
    rc = grade(d, "--model", "xor_1layer", "--overrides", ov, "--no-cache", "--quiet", "--csv", tmp_path / "g.csv")
    assert rc == 1
    assert [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("j", "2")]  # written, the grader's own score
    err = capsys.readouterr().err
    assert "error: overrides line 2: no submission has the student id 'kim_j'" in err and "applied to nobody; close ids: 'j'" in err
    rc = grade(d, "--model", "xor_1layer", "--overrides", ov, "--no-cache", "--quiet", "--csv", tmp_path / "g.csv",
               "--blackboard-assignment", "HW1")
    assert rc == 0 and [(r["student_id"], r["score"]) for r in rows(tmp_path / "g.csv")] == [("kim_j", "1")]


# -- N5: an older Blackboard attempt graded is listed for a human look ---------------------------------------------

def test_an_older_attempt_graded_is_listed_for_a_human_look(tmp_path: Path) -> None:
    d = write(tmp_path / "bb", {
        f"HW1_hjo_attempt_{T1}_hw1.py": SCALE, f"HW1_hjo_attempt_{T1}.txt": receipt("hjo"),
        f"HW1_hjo_attempt_{T2}.txt": receipt("hjo", "my real answer is in the text box"),  # the latest attempt: text only
        f"HW1_gold_attempt_{T1}_hw1.py": GOOD, f"HW1_gold_attempt_{T1}.txt": receipt("gold"),
        f"HW1_gold_attempt_{T2}_hw1.py": GOOD, f"HW1_gold_attempt_{T2}.txt": receipt("gold"),  # an older attempt, superseded by a file
    })
    subs = {s.student_id: s for s in collect_submissions([d])}
    assert subs["hjo"].review == ("older_attempt",) and subs["gold"].review == ()
    assert grade(d, "--model", "xor_1layer", "--no-cache", "--quiet", "--summary", tmp_path / "s.md", "--lang", "ko",
                 "--report", tmp_path / "r.html") == 0
    review = (tmp_path / "s.md").read_text(encoding="utf-8").split("## 직접 확인이 필요한 제출물")[1]
    assert f"| HW1_hjo_attempt_{T1}_hw1.py | 이전 시도를 채점함" in review and "gold" not in review
    html = (tmp_path / "r.html").read_text(encoding="utf-8").split('id="review"')[1].split("<h2")[0]
    assert "<code>older_attempt</code>" in html and "이전 시도를 채점함" in html and "gold" not in html


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
    ("import os; os._exit(0)", ["ok", "crash", "crash"],  # the process ends: so do the calls
     {"template": "crash.call", "call": 2, "error": "backward(params, x, y) called os._exit(0), which ends the process"}),
    ("import sys; sys.exit(3)", ["ok", "crash", "crash"],
     {"template": "crash.call", "call": 2, "error": "backward(params, x, y) called sys.exit(3) (or exit()/quit()), which ends the process"}),
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


def test_a_crash_the_sandbox_saw_names_the_call_once(tmp_path: Path) -> None:
    # the sandbox's own message ("the process died of SIGSEGV during call 2") under crash.call's "during call 2"
    code = ("import os, signal\nn = [0]\ndef backward(params, x, y):\n    n[0] += 1\n    if n[0] == 2:\n"
            "        os.kill(os.getpid(), signal.SIGSEGV)\n    return {k: v * 0 for k, v in params.items()}\n")
    with Sandbox(write_one(tmp_path, code), limits=FAST) as box:
        r = grade_with(sandbox_caller(box), XOR2, submission="segv.py")
    assert r.verdict == "crash"
    assert r.messages[0] == "The calls before call 2 finished, but the submission's process died during call 2: the process died of SIGSEGV"


def test_a_failure_at_the_first_call_names_no_call(tmp_path: Path) -> None:
    code = "def backward(params, x, y):\n    raise MemoryError\n"
    _, p, x, y = point("xor_2layer")
    with Sandbox(write_one(tmp_path, code), limits=FAST) as box:
        outcome = sandbox_caller(box)(TestPoint("p", p, x, y))
    assert outcome.verdict == "memory" and outcome.detail == {"megabytes": FAST.memory_bytes >> 20}
