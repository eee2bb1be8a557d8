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
