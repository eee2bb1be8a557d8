"""A factor is named only as far as the test points show it, and a wrong sign is never worth more than a sign flip (rt19).

F6: dividing by ``N - 1`` gives the factor ``N / (N - 1)``: 1.5 at N = 3,
which is ``N/2`` there only; the grader's other points (N = 5: 1.25,
N = 4: 1.33) contradict "the 2/N of the MSE is missing".  F16: ``-2``
times the gradient earned 0.5 per parameter, a pure sign flip 0.25; and
``1/sqrt(N)`` was called "a constant factor".  F22: ``np.mean`` over the
N x K outputs of onehot_222 (K = 2) gives 1/2, which was called "the 2 of
the square is missing" though the student's code has the 2.  The
submissions below scale the reference model's own gradient, so the
factor each one carries is known without the grader.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models
from gradcheck.grading.pipeline import grade_callable
from gradcheck.grading.scoring import DEFAULT_CREDIT

XOR = reference_models.get("xor_2layer")


def times(factor):
    """A backward returning ``factor(N)`` times the exact xor_2layer gradient."""
    def backward(p, x, y):
        return {k: factor(len(x)) * g for k, g in XOR.backward(p, x, y).items()}
    return backward


def test_a_flipped_sign_times_two_earns_no_more_than_a_flipped_sign():
    flipped, doubled = grade_callable(times(lambda n: -1.0), "xor_2layer"), grade_callable(times(lambda n: -2.0), "xor_2layer")
    assert flipped.diagnoses == ("sign",) and doubled.diagnoses == ("scale",), (flipped.diagnoses, doubled.diagnoses)
    assert doubled.score <= flipped.score == 4 * DEFAULT_CREDIT["sign"], (doubled.score, flipped.score)
    assert "The sign is also flipped" in doubled.parameters[0].message
    positive = grade_callable(times(lambda n: 2.0), "xor_2layer")
    assert positive.score == 4 * DEFAULT_CREDIT["scale"]  # only a negative factor is capped


@pytest.mark.parametrize(("factor", "values"), [
    (lambda n: n / (n - 1), {3: "1.5", 5: "1.25", 4: "1.33333"}),  # rt19 F6: / (N - 1) instead of / N
    (lambda n: 1 / np.sqrt(n), {3: "0.57735", 5: "0.447214", 4: "0.5"}),  # F16: / sqrt(N)
])
def test_a_factor_that_changes_with_n_in_no_usual_way_is_named_as_such(factor, values):
    r = grade_callable(times(factor), "xor_2layer")
    assert set(r.diagnoses) == {"scale"}, r.diagnoses
    for p in r.parameters:
        assert "changes with the batch size" in p.message, p.message
        assert all(f"N = {n}: {v}" in p.message for n, v in values.items()), p.message
        assert "is missing" not in p.message and "a constant factor" not in p.message and "2/N" not in p.message, p.message


@pytest.mark.parametrize(("factor", "cause"), [
    (lambda n: 0.5, "the factor 2 from differentiating the square is missing"),  # constant at every N
    (lambda n: n / 2, "2/N"),  # follows N as the per-point cause says
])
def test_a_factor_the_points_agree_on_keeps_its_cause(factor, cause):
    r = grade_callable(times(factor), "xor_2layer")
    assert all(cause in p.message and "changes with the batch size" not in p.message for p in r.parameters), r.parameters


def test_one_point_does_not_call_a_factor_constant():
    # check_model sees one batch size: sqrt(N) there is one number, the same in every entry, not "a constant"
    from gradcheck import check_model

    rng = np.random.default_rng(0)
    p = XOR.init_params(rng)
    x, y = XOR.example_batch(rng, 3)

    class SqrtN(type(XOR)):
        def backward(self, params, x, y):
            return times(lambda n: 1 / np.sqrt(n))(params, x, y)

    r = check_model(SqrtN(), p, x, y)
    text = r.params[0].diagnosis.message
    assert "times 0.57735, the same factor in every entry" in text and "a constant factor" not in text, text


def test_a_half_with_two_outputs_a_sample_names_both_slips_that_give_it():
    # rt19 F22: onehot_222 (loss: sum of squares over K = 2 outputs, mean over samples), np.mean over all N x K
    # entries keeps the 2 and divides by N K: 1/2, the number a lost 2 gives too
    onehot = reference_models.get("onehot_222")

    def mean_over_every_entry(p, x, y):
        return {k: g / y.shape[1] for k, g in onehot.backward(p, x, y).items()}

    r = grade_callable(mean_over_every_entry, "onehot_222")
    assert set(r.diagnoses) == {"scale"}, r.diagnoses
    for p in r.parameters:
        assert "times 0.5" in p.message and "K = 2" in p.message and "np.mean" in p.message, p.message
        assert "the factor 2 from differentiating the square is missing (the derivative of (y - a)^2 is 2(a - y))." \
            not in p.message, p.message  # not stated as the one cause
