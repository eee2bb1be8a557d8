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
