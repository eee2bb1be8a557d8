"""Causes computed from the model's actual loss; the forward pass spoken of as an output; Korean wording."""
from __future__ import annotations

import numpy as np
import pytest

import reference_models
from gradcheck.grading.causes import LossFacts, loss_facts
from gradcheck.grading.i18n import TEMPLATES
from gradcheck.grading.pipeline import grade_callable, grade_with, python_caller


def _scaled(name: str, factor: float, only: str | None = None):
    m = reference_models.get(name)

    def backward(p, x, y):
        g = m.backward(p, x, y)
        return {k: v * factor if only in (None, k) else v for k, v in g.items()}

    return backward


@pytest.mark.parametrize(("name", "facts"), [
    ("study_2layer", LossFacts("sum", True)),
    ("study_3layer", LossFacts("sum", True)),
    ("xor_2layer", LossFacts("mean", False)),
    ("onehot_222", LossFacts("mean", False)),
    ("chain_2_1_1", LossFacts("mean", True)),
    ("relu_sigmoid_bce", LossFacts("mean", None)),
])
def test_loss_facts_are_measured_from_the_loss(name: str, facts: LossFacts) -> None:
    m = reference_models.get(name)
    rng = np.random.default_rng(2)
    x, y = m.example_batch(rng, 5)
    assert loss_facts(m, m.init_params(rng), x, y) == facts


def test_an_extra_half_on_a_half_sum_of_squares_is_blamed_on_dividing_twice() -> None:
    r = grade_callable(_scaled("study_2layer", 0.5), "study_2layer", shrink=False)
    msg = r.parameter("W1").message
    assert r.parameter("W1").diagnosis == "scale" and "divided by 2 once too often" in msg
    assert "factor 2 from differentiating the square is missing" not in msg


def test_a_missing_two_on_a_mean_of_squares_is_blamed_on_the_square() -> None:
    r = grade_callable(_scaled("xor_2layer", 0.5), "xor_2layer", shrink=False)
    assert "the factor 2 from differentiating the square is missing" in r.parameter("W1").message


def test_a_bias_averaged_over_the_batch_under_a_mean_loss_is_divided_twice() -> None:
    r = grade_callable(_scaled("xor_2layer", 1 / 3, only="b1"), "xor_2layer", shrink=False)
    msg = r.parameter("b1").message
    assert "divided by the batch size N once too often: the loss is a mean" in msg
    assert "the loss is a sum over the samples" not in msg
    r = grade_callable(_scaled("study_2layer", 1 / 3, only="W1"), "study_2layer", shrink=False)
    assert "the loss is a sum over the samples" in r.parameter("W1").message


def test_the_forward_pass_is_an_output_not_a_gradient() -> None:
    m = reference_models.get("xor_2layer")
    for lang, want, unwanted in (("en", "The forward pass is correct", "forward is correct"), ("ko", "순전파가 정확합니다", "기울기")):
        r = grade_with(python_caller(m.backward, forward=m.forward), m, lang=lang, shrink=False)
        assert r.forward is not None and want in r.forward.message and unwanted not in r.forward.message


@pytest.mark.parametrize(("bad", "good"), [("인수 2/N", "계수 2/N"), ("제자리에서", "직접 수정"), ("가장 작은 예", "가장 작은 반례")])
def test_korean_wording(bad: str, good: str) -> None:
    ko = [t["ko"] for t in TEMPLATES.values() if "ko" in t]
    assert not any(bad in k for k in ko) and any(good in k for k in ko)


def test_silsu_means_only_real_number() -> None:
    # 실수 is "real number" (type); a mistake is 잘못 or 오류
    uses = [k for k, t in TEMPLATES.items() if "실수" in t.get("ko", "")]
    assert uses == ["type"]


def test_a_whole_file_failure_is_one_message_with_its_traceback_as_code() -> None:
    from gradcheck.grading.render_gradescope import gradescope_results
    from gradcheck.grading.render_markdown import render_markdown
    from gradcheck.grading.report_html import render_report
    from gradcheck.grading.results import ParameterResult, SubmissionResult

    tb = ('The submission raised an exception: backward(params, x, y) raised Traceback (the submission\'s frames only):\n'
          '  File "hw.py", line 3, in backward\n    return a.T @ ```delta```\nValueError: matmul: mismatch')
    params = tuple(ParameterResult(k, "failed", "error", tb, 0.0, 1.0) for k in ("W1", "b1", "W2", "b2"))
    r = SubmissionResult("hw.py", "xor_2layer", 0, 0.0, 4.0, ("error",), params, verdict="error", messages=(tb, "another note"))
    md = render_markdown(r)
    assert md.count("ValueError: matmul: mismatch") == 1
    assert "````\n  File \"hw.py\", line 3, in backward\n    return a.T @ ```delta```\nValueError: matmul: mismatch\n````" in md
    table = [ln for ln in md.splitlines() if ln.startswith("| W") or ln.startswith("| b")]
    assert len(table) == 4 and all("see below" in ln and "Traceback" not in ln for ln in table)
    assert "- another note" in md
    gs = gradescope_results(r)
    assert all("Traceback" not in t["output"] for t in gs["tests"]) and gs["output"].count("ValueError") == 1
    page = render_report([r], plots=False)
    assert page[page.index('id="feedback"'):].count("ValueError: matmul: mismatch") == 1  # once in the student's section


CLASS_WITHOUT_METHOD = '''
class Neural_Network:
    def __init__(self, a, b, c):
        pass
    def forward(self, X):
        return X
    def cost_prime(self, X, y):
        return 0
'''


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_missing_names_are_sentences_in_the_students_language(tmp_path, lang: str) -> None:
    from pathlib import Path

    from gradcheck.grading.pipeline import grade_submission

    subs = Path(__file__).parent / "submissions"
    r = grade_submission(subs / "xor_2layer__missing__hostile_wrong_names.py", "xor_2layer", lang=lang, shrink=False)
    want = {"en": "The submission defines no function named backward; it defines: forward_pass, backprop. Did you mean backprop?",
            "ko": "제출물에 이름이 backward인 함수가 없습니다. 제출물이 정의한 것: forward_pass, backprop. 혹시 backprop을(를) 뜻했나요?"}
    assert r.verdict == "missing" and r.messages[0] == want[lang]
    (tmp_path / "hw.py").write_text(CLASS_WITHOUT_METHOD)
    r = grade_submission(tmp_path / "hw.py", assignment=subs / "study_2layer__correct__class.toml", lang=lang, shrink=False)
    want = {"en": "The class Neural_Network has no method named cost_function_prime; its methods: cost_prime, forward. "
                  "Did you mean cost_prime?",
            "ko": "클래스 Neural_Network에 이름이 cost_function_prime인 메서드가 없습니다. 이 클래스의 메서드: cost_prime, forward. "
                  "혹시 cost_prime을(를) 뜻했나요?"}
    assert r.messages[0] == want[lang]


def test_no_second_story_after_a_file_that_raised_and_no_forward_for_backward(tmp_path) -> None:
    from gradcheck.grading.pipeline import grade_submission

    head = "import numpy as np\ndef sigmoid(z):\n    return 1 / (1 + np.exp(-z))\ndef forward(params, x):\n    return x\n"
    (tmp_path / "raises.py").write_text(head + 'raise PermissionError("no access")\n')
    r = grade_submission(tmp_path / "raises.py", "xor_2layer", shrink=False)
    assert r.verdict == "error" and "PermissionError: no access" in r.messages[0]
    assert "backward" not in r.messages[0].split("Traceback")[-1]  # nothing about what the file never reached
    (tmp_path / "no_backward.py").write_text(head)
    r = grade_submission(tmp_path / "no_backward.py", "xor_2layer", shrink=False)
    assert r.verdict == "missing" and "Did you mean" not in r.messages[0] and "forward" in r.messages[0]


def test_a_hard_coded_batch_size_is_one_diagnosis_for_every_parameter() -> None:
    # red team 16 (F21): `2 * (a2 - y) / 4` for `/ len(x)` gave W1, b1, W2 "times 0.75, a constant factor with no
    # usual cause" (scale) and the single-entry b2 "fits no known mistake" (wrong, no credit), while the
    # counterexample printed below (N = 1) showed a factor 0.25
    r = grade_callable(_scaled_by_batch("xor_2layer", 4), "xor_2layer")
    params = {p.name: p for p in r.parameters}
    assert {p.diagnosis for p in params.values()} == {"scale"}
    assert len({p.points for p in params.values()}) == 1  # one cause, one credit
    for p in params.values():
        assert f"{p.name} is the exact gradient times N/4 at every test point" in p.message
        assert "N = 3: 0.75" in p.message and "N = 5: 1.25" in p.message  # the test points' batch sizes
    ce = r.counterexample
    assert ce is not None
    got, expected = np.asarray(ce.got, dtype=float), np.asarray(ce.expected, dtype=float)
    ratio = float(np.vdot(got, expected) / np.vdot(expected, expected))
    assert abs(ratio - len(ce.x) / 4) <= 1e-6 * ratio  # the example's factor is the message's N/4


def test_a_factor_that_does_not_follow_the_batch_size_is_not_a_hard_coded_one() -> None:
    r = grade_callable(_scaled("xor_2layer", 0.75), "xor_2layer", shrink=False)
    assert "at every test point" not in r.parameter("W1").message and r.parameter("W1").diagnosis == "scale"


def _scaled_by_batch(name: str, k: int):
    m = reference_models.get(name)

    def backward(p, x, y):
        return {key: v * len(x) / k for key, v in m.backward(p, x, y).items()}  # the mean's 1/N written as 1/k

    return backward
