"""Two calls that differ only by summation-order rounding are deterministic; accumulation and dropout are not (rt19 F19).

An honest per-sample loop visiting the batch in shuffled order (an SGD
habit) returns sums taken in another order at each call: they differ by a
few ``eps`` of the gradient, far inside what the comparison accepts as
exact.  The guard is for gradients added into a kept buffer and for
unseeded randomness, which move entries by their own size.  The expected
gradients come from the reference models, not from the guard.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from gradcheck import check_model
from gradcheck.grading.pipeline import grade_callable
from gradcheck.guards import ROUNDING_ULPS, unstable
from reference_models.xor import XOR2Layer

EPS = float(np.finfo(np.float64).eps)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def shuffled_loop(p, x, y):
    """rt19 nd/shuffle_loop.py: backprop one sample at a time, in an unseeded random order."""
    g = {k: np.zeros_like(np.asarray(v, dtype=np.float64)) for k, v in p.items()}
    n = len(x)
    for i in np.random.default_rng().permutation(n):
        xi, yi = x[i:i + 1], y[i:i + 1]
        a1 = sigmoid(xi @ p["W1"] + p["b1"])
        a2 = sigmoid(a1 @ p["W2"] + p["b2"])
        d2 = 2 * (a2 - yi) * a2 * (1 - a2) / y.size
        d1 = (d2 @ p["W2"].T) * a1 * (1 - a1)
        for k, v in (("W1", xi.T @ d1), ("b1", d1), ("W2", a1.T @ d2), ("b2", d2)):
            g[k] += v.reshape(g[k].shape)
    return g


class ShuffledLoop(XOR2Layer):
    def backward(self, params, x, y):
        return shuffled_loop(params, x, y)


class Accumulating(XOR2Layer):
    """Adds into buffers it keeps (never zeroed)."""

    def __init__(self):
        super().__init__()
        self.kept = None

    def backward(self, params, x, y):
        g = super().backward(params, x, y)
        self.kept = g if self.kept is None else {k: self.kept[k] + g[k] for k in g}
        return {k: v.copy() for k, v in self.kept.items()}


def dropout(p, x, y):
    """Unseeded dropout on the hidden layer (p = 0.5), in backward as in forward: a random gradient."""
    mask = (np.random.default_rng().random((len(x), p["W1"].shape[1])) < 0.5) / 0.5
    a1 = sigmoid(x @ p["W1"] + p["b1"]) * mask
    a2 = sigmoid(a1 @ p["W2"] + p["b2"])
    d2 = 2 * (a2 - y) * a2 * (1 - a2) / y.size
    d1 = (d2 @ p["W2"].T) * mask * a1 * (1 - a1)
    return {"W1": x.T @ d1, "b1": d1.sum(0, keepdims=True), "W2": a1.T @ d2, "b2": d2.sum(0, keepdims=True)}


def point(seed: int = 0, n: int = 32):
    model = rm.get("xor_2layer")
    rng = np.random.default_rng(seed)
    params = {k: rng.standard_normal(s) for k, s in model.param_shapes.items()}
    x, y = rng.standard_normal((n, 2)), rng.uniform(0, 1, (n, 1))
    return params, x, y


def test_the_shuffled_loop_really_differs_between_calls_and_only_by_rounding():
    # the premise: without it the tests below would pass for the wrong reason
    p, x, y = point()
    exact = rm.get("xor_2layer").backward(p, x, y)
    runs = [shuffled_loop(p, x, y) for _ in range(20)]
    assert any(not np.array_equal(runs[0][k], r[k]) for r in runs[1:] for k in exact)
    big = max(np.max(np.abs(v)) for v in exact.values())
    assert all(np.max(np.abs(r[k] - exact[k])) <= 16 * EPS * big for r in runs for k in exact)


def test_a_shuffled_per_sample_loop_is_deterministic_for_check_model():
    p, x, y = point()
    for _ in range(10):  # the order is random: several tries (before rt19 F19 nearly every one failed)
        r = check_model(ShuffledLoop(), p, x, y)
        assert r.passed and not any("not deterministic" in q for q in r.problems), r.problems


def test_a_shuffled_per_sample_loop_is_deterministic_for_the_grader():
    r = grade_callable(shuffled_loop, "xor_2layer", shrink=False)
    assert r.diagnoses == ("correct",) and r.deductions == () and r.score == r.max_score, (r.deductions, r.parameters)


def test_accumulating_into_a_kept_buffer_is_still_nondeterministic():
    p, x, y = point()
    r = check_model(Accumulating(), p, x, y)
    assert not r.passed and any("backward is not deterministic: grads['W1']" in q for q in r.problems), r.problems


def test_unseeded_dropout_is_still_nondeterministic():
    p, x, y = point()
    first, second = dropout(p, x, y), dropout(p, x, y)
    assert unstable(first, second) != []
    g = grade_callable(dropout, "xor_2layer", shrink=False)
    assert "nondeterministic" in g.diagnoses, g.diagnoses


@pytest.mark.parametrize(("ulps", "same"), [(ROUNDING_ULPS / 2, True), (ROUNDING_ULPS * 2, False)])
def test_the_rounding_allowance_is_measured_against_the_largest_entry_of_the_whole_result(ulps, same):
    # b: a sum that cancels to 1e-6 of W's size; a change of `ulps` eps of W's largest entry (2.0) is rounding or not
    first = {"W": np.array([[2.0, -1.0]]), "b": np.array([1e-6])}
    second = {"W": first["W"].copy(), "b": first["b"] + ulps * EPS * 2.0}
    assert (unstable(first, second) == []) is same


def test_nan_infinity_shape_and_odd_values():
    a = {"W": np.array([np.nan, 1.0]), "o": "same"}
    assert unstable(a, {"W": np.array([np.nan, 1.0]), "o": "same"}) == []
    assert unstable(a, {"W": np.array([1.0, 1.0]), "o": "same"}) == ["W"]
    assert unstable({"W": np.array([np.inf])}, {"W": np.array([-np.inf])}) == ["W"]
    assert unstable({"W": np.zeros((2, 1))}, {"W": np.zeros((1, 2))}) == ["W"]
    assert unstable(a, {"W": a["W"], "o": "other"}) == ["o"]
    assert unstable({"W": np.ones(2)}, {}) == ["W"]
