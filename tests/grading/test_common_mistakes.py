"""Three common backprop slips are named, in English and Korean (rt23 F11).

Each slip is written by hand, as a student writes it, into a backward of
each reference model it applies to (the ``prime``, ``output_delta`` and
``bias_sum`` knobs of the students below; their defaults give the correct
backward), and graded end to end by :func:`grade_callable`:

* ``sigmoid_prime_as_output``: ``sigmoid'`` written as the output ``a``
  instead of ``a * (1 - a)``;
* ``bce_sigmoid_prime_again`` / ``softmax_ce_prime_again``: the
  cross-entropy's output delta ``a - y`` multiplied by ``a * (1 - a)`` once
  more;
* a bias gradient left per sample (``db = delta``): a ``shape`` said to be
  unsummed, with ``shape``'s credit for values right once reshaped.

A correct backward, and other slips near these ones (a bias averaged or
taken from the first sample only, the sigmoid applied twice), keep their
own diagnoses.
"""
from __future__ import annotations

import functools
import re
from typing import Any, Callable

import numpy as np
import pytest

import reference_models
from gradcheck.grading.pipeline import grade_callable, grade_with, python_caller
from gradcheck.grading.results import SubmissionResult
from gradcheck.grading.scoring import DEFAULT_CREDIT

Array = np.ndarray
NEW_MISTAKES = {"sigmoid_prime_as_output", "bce_sigmoid_prime_again", "softmax_ce_prime_again"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")


def sigmoid(z: Array) -> Array:
    return 1 / (1 + np.exp(-z))


def right_prime(a: Array) -> Array:
    return a * (1 - a)


def output_itself(a: Array) -> Array:
    return a  # the slip: sigmoid'(z) taken as sigmoid(z)


def summed(d: Array) -> Array:
    return d.sum(axis=0, keepdims=True)


def per_sample(d: Array) -> Array:
    return d  # the slip: db = delta, not summed over the batch


def xor_student(p: dict[str, Array], x: Array, y: Array, *, prime: Callable[[Array], Array] = right_prime,
                hidden_prime: Callable[[Array], Array] | None = None,
                bias_sum: Callable[[Array], Array] = summed) -> dict[str, Array]:
    """xor_2layer as 000 writes it (``mean((y - a2)**2)``), biases of shape (1, k)."""
    a1 = sigmoid(x @ p["W1"] + p["b1"])
    a2 = sigmoid(a1 @ p["W2"] + p["b2"])
    d2 = 2 * (a2 - y) / len(x) * prime(a2)
    d1 = (d2 @ p["W2"].T) * (hidden_prime or prime)(a1)
    return {"W1": x.T @ d1, "b1": d1.sum(axis=0, keepdims=True), "W2": a1.T @ d2, "b2": bias_sum(d2)}


def study_student(p: dict[str, Array], x: Array, y: Array, *,
                  prime: Callable[[Array], Array] = right_prime) -> dict[str, Array]:
    """study_2layer as 004 writes it (``sum((y - yhat)**2) / 2``, no biases)."""
    a1 = sigmoid(x @ p["W1"])
    yhat = sigmoid(a1 @ p["W2"])
    d2 = (yhat - y.reshape(yhat.shape)) * prime(yhat)
    d1 = (d2 @ p["W2"].T) * prime(a1)
    return {"W1": x.T @ d1, "W2": a1.T @ d2}


def onehot_student(p: dict[str, Array], x: Array, t: Array, *,
                   bias_sum: Callable[[Array], Array] = lambda d: d.sum(axis=0)) -> dict[str, Array]:
    """onehot_222 (``sum((t - y)**2) / N``), biases of shape (k,)."""
    a2 = sigmoid(x @ p["W2"] + p["b2"])
    a3 = sigmoid(a2 @ p["W3"] + p["b3"])
    d3 = 2 * (a3 - t) / len(x) * a3 * (1 - a3)
    d2 = (d3 @ p["W3"].T) * a2 * (1 - a2)
    return {"W2": x.T @ d2, "b2": bias_sum(d2), "W3": a2.T @ d3, "b3": d3.sum(axis=0)}


def bce_student(p: dict[str, Array], x: Array, y: Array, *, hidden: str = "relu", extra_prime: bool = False,
                bias_sum: Callable[[Array], Array] = lambda d: d.sum(axis=0)) -> dict[str, Array]:
    """relu_sigmoid_bce as 002 writes it: ``day1 = (yhat - y) / N``, biases of shape (k,)."""
    a = x @ p["W1"] + p["b1"]
    z, dz_da = (np.maximum(a, 0), a > 0) if hidden == "relu" else (np.tanh(a), 1 - np.tanh(a) ** 2)
    yhat = sigmoid(z @ p["W2"] + p["b2"])
    day1 = (yhat - y.reshape(yhat.shape)) / len(x)
    if extra_prime:
        day1 = day1 * yhat * (1 - yhat)  # the slip: sigmoid' once more after the cross-entropy cancelled it
    da = (day1 @ p["W2"].T) * dz_da
    return {"W1": x.T @ da, "b1": bias_sum(da), "W2": z.T @ day1, "b2": day1.sum(axis=0)}


def mnist_student(p: dict[str, Array], x: Array, t: Array, *, extra_prime: bool = False) -> dict[str, Array]:
    """mnist_relu as 001 writes it, batch mean: ``layer_2_delta = (p - t) / N``."""
    layer_1 = np.maximum(x @ p["W1"], 0)
    z2 = layer_1 @ p["W2"]
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    probs = e / e.sum(axis=1, keepdims=True)
    delta2 = (probs - t) / len(x)
    if extra_prime:
        delta2 = delta2 * probs * (1 - probs)  # the slip: the softmax's "derivative" once more
    delta1 = (delta2 @ p["W2"].T) * (layer_1 > 0)
    return {"W1": x.T @ delta1, "W2": layer_1.T @ delta2}


def grade(student: Callable[..., dict[str, Array]], model: str, lang: str = "en", **options: Any) -> SubmissionResult:
    """``student`` graded against ``model`` built with ``options`` (the tanh variant of relu_sigmoid_bce)."""
    if options:
        return grade_with(python_caller(student), reference_models.get(model, **options), lang=lang)
    return grade_callable(student, model, lang=lang)


def mistakes_of(r: SubmissionResult) -> dict[str, str]:
    return {p.name: p.detail.get("mistake", "") for p in r.parameters}


def assert_korean(r: SubmissionResult) -> None:
    for p in r.parameters:
        assert p.diagnosis == "correct" or HANGUL.search(p.message), p.message


# -- sigmoid' written as the output a ------------------------------------------------


@pytest.mark.parametrize(("student", "model"), [
    (functools.partial(xor_student, prime=output_itself), "xor_2layer"),
    (functools.partial(study_student, prime=output_itself), "study_2layer"),
])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_sigmoid_prime_written_as_the_output_is_named(student, model, lang):
    r = grade(student, model, lang=lang)
    assert set(r.diagnoses) == {"activation"}, r.diagnoses
    assert set(mistakes_of(r).values()) == {"sigmoid_prime_as_output"}, mistakes_of(r)
    assert r.score == pytest.approx(len(r.parameters) * DEFAULT_CREDIT["activation"])
    text = r.parameters[0].message
    if lang == "en":
        assert "taken as the sigmoid's output a itself" in text and "a * (1 - a)" in text, text
    else:
        assert "출력 a 자체로" in text and "a * (1 - a)" in text, text
        assert_korean(r)


def test_sigmoid_prime_as_the_output_in_the_hidden_layer_only_is_named_there():
    r = grade(functools.partial(xor_student, hidden_prime=output_itself), "xor_2layer")
    assert mistakes_of(r) == {"W1": "sigmoid_prime_as_output@1", "b1": "sigmoid_prime_as_output@1", "W2": "", "b2": ""}
    assert [p.diagnosis for p in r.parameters] == ["activation", "activation", "correct", "correct"]


# -- sigmoid' (or the softmax's) applied again after the cross-entropy ------------------


@pytest.mark.parametrize(("student", "model", "options", "mistake"), [
    (functools.partial(bce_student, extra_prime=True), "relu_sigmoid_bce", {}, "bce_sigmoid_prime_again"),
    (functools.partial(bce_student, hidden="tanh", extra_prime=True), "relu_sigmoid_bce", {"activation": "tanh"},
     "bce_sigmoid_prime_again"),
    (functools.partial(mnist_student, extra_prime=True), "mnist_relu", {}, "softmax_ce_prime_again"),
])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_an_output_delta_multiplied_by_the_derivative_again_is_named(student, model, options, mistake, lang):
    r = grade(student, model, lang=lang, **options)
    assert set(r.diagnoses) == {"activation"}, r.diagnoses
    assert set(mistakes_of(r).values()) == {mistake}, mistakes_of(r)
    assert r.score == pytest.approx(len(r.parameters) * DEFAULT_CREDIT["activation"])
    text = r.parameters[0].message
    if lang == "en":
        assert "once too often" in text and "(1 - " in text, text
    else:
        assert "한 번 더 곱했습니다" in text, text
        assert_korean(r)


# -- a bias gradient not summed over the batch ----------------------------------------


@pytest.mark.parametrize(("student", "model", "bias", "fix"), [
    (functools.partial(xor_student, bias_sum=per_sample), "xor_2layer", "b2", ".sum(axis=0, keepdims=True)"),
    (functools.partial(bce_student, bias_sum=per_sample), "relu_sigmoid_bce", "b1", ".sum(axis=0)"),
    (functools.partial(onehot_student, bias_sum=per_sample), "onehot_222", "b2", ".sum(axis=0)"),
])
@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_bias_gradient_left_per_sample_is_said_to_be_unsummed(student, model, bias, fix, lang):
    r = grade(student, model, lang=lang)
    p = r.parameter(bias)
    assert p.diagnosis == "shape" and p.detail["summed_match"] is True, (p.diagnosis, p.detail)
    assert p.points == pytest.approx(DEFAULT_CREDIT["shape"] * p.max_points)
    assert all(q.diagnosis == "correct" for q in r.parameters if q.name != bias), r.parameters
    assert f"{fix}" in p.message and (fix.endswith("True)") or "keepdims" not in p.message), p.message
    if lang == "en":
        assert "one gradient per sample" in p.message, p.message
    else:
        assert "샘플마다 기울기가 하나씩" in p.message, p.message
        assert_korean(r)


# -- what is not one of these ----------------------------------------------------------


CORRECT = [(xor_student, "xor_2layer", {}), (study_student, "study_2layer", {}), (onehot_student, "onehot_222", {}),
           (bce_student, "relu_sigmoid_bce", {}), (functools.partial(bce_student, hidden="tanh"), "relu_sigmoid_bce",
                                                   {"activation": "tanh"}), (mnist_student, "mnist_relu", {})]


@pytest.mark.parametrize(("student", "model", "options"), CORRECT)
def test_a_correct_backward_gets_full_marks(student, model, options):
    r = grade(student, model, **options)
    assert r.diagnoses == ("correct",) and r.score == r.max_score, (r.diagnoses, r.score)


@pytest.mark.parametrize(("bias_sum", "code"), [
    (lambda d: d.mean(axis=0), "scale"),  # averaged: a factor 1/N, named as such
    (lambda d: d[0], "wrong"),  # the first sample's only: a row of the per-sample gradients, not their sum
    (lambda d: 2 * d, "shape"),  # per sample and doubled: the sum is off, so no "unsummed"
])
def test_other_bias_slips_are_not_called_unsummed(bias_sum, code):
    r = grade(functools.partial(bce_student, bias_sum=bias_sum), "relu_sigmoid_bce")
    p = r.parameter("b1")
    assert p.diagnosis == code and "summed_match" not in p.detail, (p.diagnosis, p.detail)


def test_the_sigmoid_applied_twice_keeps_its_own_name():
    r = grade(functools.partial(xor_student, prime=lambda a: sigmoid(a) * (1 - sigmoid(a))), "xor_2layer")
    assert set(mistakes_of(r).values()) == {"sigmoid_twice"}, mistakes_of(r)
    assert not NEW_MISTAKES & set(mistakes_of(r).values())


def test_a_lone_sigmoid_layer_whose_backward_returns_dout_times_its_output_is_named():
    from gradcheck import check_layer

    def forward(z: Array) -> tuple[Array, tuple[Array, Array]]:
        a = sigmoid(z)
        return a, (z, a)

    z = np.random.default_rng(5).normal(size=(4, 3))
    r = check_layer(forward, lambda dout, cache: dout * cache[1], {"z": z})
    assert r["z"].diagnosis.detail.get("mistake") == "sigmoid_prime_as_output", r["z"].diagnosis
    right = check_layer(forward, lambda dout, cache: dout * cache[1] * (1 - cache[1]), {"z": z})
    assert right.passed, right["z"].diagnosis
