"""Where ``correct`` ends and ``finite_difference`` begins, measured on the reference networks.

The grader must accept any float64 backprop, however it orders its sums
or writes sigmoid', and must name a gradient computed by central
differences at the steps the course itself uses (h = 1e-4 in notebook 003,
1e-5 as in cs231n) as ``finite_difference``.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models
from gradcheck.diagnose import diagnose
from gradcheck.engine import estimate_gradients
from gradcheck.numeric import numerical_gradient

SMALL = {"mnist_relu": {"n_in": 12, "hidden": 6, "n_out": 4}}
MODELS = ["xor_2layer", "xor_3layer", "study_2layer", "onehot_222", "relu_sigmoid_bce", "mnist_relu"]


def _point(name: str, seed: int):
    model = reference_models.get(name, **SMALL.get(name, {}))
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 7)
    return model, params, x, y


def _codes(model, params, x, y, student):
    reference = model.backward(params, x, y)
    numeric = estimate_gradients(model, params, x, y)
    found = diagnose(student, reference, numeric=numeric, batch_size=len(x), params=params)
    return {k: d.code for k, d in found.items()}


@pytest.mark.parametrize("h", [1e-4, 1e-5])
@pytest.mark.parametrize("name", MODELS)
def test_central_differences_are_named_finite_difference(name: str, h: float) -> None:
    model, params, x, y = _point(name, 1)
    student = numerical_gradient(lambda q: model.loss(q, x, y), params, eps=h)
    codes = _codes(model, params, x, y, student)
    assert "finite_difference" in codes.values(), codes
    assert "correct" not in codes.values() or set(codes.values()) <= {"correct", "finite_difference"}


def _xor2_backward_reordered(params, x, y):
    """A valid xor_2layer backprop written differently: sigmoid' from exp, sums reversed."""
    z1 = x @ params["W1"] + params["b1"]
    a1 = 1.0 / (1.0 + np.exp(-z1))
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = 1.0 / (1.0 + np.exp(-z2))
    dprime = lambda z: np.exp(-z) / (1.0 + np.exp(-z)) ** 2
    dz2 = (2.0 / y.size) * (a2 - y) * dprime(z2)
    dz1 = (dz2 @ params["W2"].T) * dprime(z1)
    return {"W1": (x[::-1].T @ dz1[::-1]), "b1": dz1[::-1].sum(axis=0, keepdims=True),
            "W2": a1[::-1].T @ dz2[::-1], "b2": dz2[::-1].sum(axis=0, keepdims=True)}


@pytest.mark.parametrize("seed", range(5))
def test_a_valid_backprop_written_differently_is_correct(seed: int) -> None:
    model, params, x, y = _point("xor_2layer", seed)
    student = _xor2_backward_reordered(params, x, y)
    assert all(v == "correct" for v in _codes(model, params, x, y, student).values())
