"""rt21 F1: integer inputs of check_layer are checked as float64 copies, or named as not checked; never a silent PASSED.

Every bug below is planted in a backward; the expected gradients are written
by hand (ReLU's mask, an affine layer's ``dout @ w.T``), never by the code
under test.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradcheck
from gradcheck.errors import GradcheckValueError


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward_negated(dout, cache):
    return -dout * (cache > 0)


def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1) @ w + b, (x, w)


def affine_backward(dout, cache):
    x, w = cache
    return (dout @ w.T).reshape(x.shape), x.reshape(x.shape[0], -1).T @ dout, dout.sum(axis=0)


def affine_backward_negated_dx(dout, cache):
    dx, dw, db = affine_backward(dout, cache)
    return -dx, dw, db


def loss_labels(x, y):
    n = len(y)
    picked = x[np.arange(n), y]
    dx = np.zeros(x.shape)
    dx[np.arange(n), y] = 1.0 / n
    return float(picked.mean()), dx


def test_integer_literals_are_differentiated_and_a_wrong_dx_fails():
    x = np.array([[1, -2, 3], [4, 5, -6]])
    r = gradcheck.check_layer(relu_forward, relu_backward_negated, {"x": x})
    assert not r.passed and [p.name for p in r.failed] == ["x"]
    assert any("float64 copy" in w for w in r.warnings)
    assert x.dtype.kind == "i"  # the caller's array is untouched


def test_integer_literals_with_a_right_backward_pass():
    r = gradcheck.check_layer(relu_forward, lambda dout, cache: dout * (cache > 0), {"x": np.array([[1, -2, 3], [4, 5, -6]])})
    assert r.passed and [p.name for p in r.params] == ["x"]


def test_uint8_image_wrong_dx_fails():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (2, 3, 5, 5), dtype=np.uint8)
    point = {"x": img, "w": rng.normal(size=(75, 4)), "b": np.zeros(4)}
    saved = img.copy()
    r = gradcheck.check_layer(affine_forward, affine_backward_negated_dx, point)
    assert not r.passed and "x" in [p.name for p in r.failed]
    assert np.array_equal(img, saved) and img.dtype == np.uint8
    assert gradcheck.check_layer(affine_forward, affine_backward, point).passed


def test_labels_are_named_not_checked():
    x = np.random.default_rng(1).normal(size=(4, 3))
    r = gradcheck.check_layer(loss_labels, None, {"x": x, "y": np.array([0, 2, 1, 1])})
    assert r.passed and [p.name for p in r.params] == ["x"]
    assert any("inputs['y']" in w and "NOT CHECKED" in w for w in r.warnings)
    assert "NOT CHECKED" in gradcheck.format_result(r)


def test_all_integer_inputs_hand_example_is_checked_by_shape():
    # x and y both integer: the one gradient has x's shape, so it is x's
    r = gradcheck.check_layer(loss_labels, None, {"x": np.array([[1, 2, 3], [4, 5, 6]]), "y": np.array([0, 2])})
    assert r.passed and [p.name for p in r.params] == ["x"]


def test_nothing_checked_is_not_passed():
    r = gradcheck.check_layer(relu_forward, lambda d, c: -d, {"x": np.zeros((0, 3))})
    assert not r.passed and any("nothing was checked" in p for p in r.problems)


def test_none_for_an_integer_input_means_labels():
    def fwd(x, idx):
        return x[idx], (x.shape, idx)

    def bwd(dout, cache):
        shape, idx = cache
        dx = np.zeros(shape)
        np.add.at(dx, idx, dout)
        return dx, None

    r = gradcheck.check_layer(fwd, bwd, {"x": np.random.default_rng(2).normal(size=5), "idx": np.array([0, 3, 3])})
    assert r.passed and [p.name for p in r.params] == ["x"]
    assert any("inputs['idx']" in w and "NOT CHECKED" in w for w in r.warnings)


class _Scale:
    def __init__(self):
        self.W = np.array([[2.0, -1.0], [0.5, 3.0]])

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, dout):
        self.dW = self.x.T @ dout
        return -(dout @ self.W.T)  # planted: dx negated


def test_layer_object_integer_input_is_differentiated():
    x = np.array([[1, 2], [3, -4], [0, 5]])
    r = gradcheck.check_layer(_Scale(), {"x": x})
    assert not r.passed and [p.name for p in r.failed] == ["x"]


def test_too_many_gradients_is_still_a_count_error():
    def loss_two(x):
        return float(np.sum(x)), (np.ones_like(x), np.ones_like(x))

    def loss_list(x):
        return float(np.sum(x)), np.ones_like(x).tolist()

    with pytest.raises(GradcheckValueError, match=r"returned 2 gradient\(s\), expected 1"):
        gradcheck.check_layer(loss_two, None, {"x": np.random.default_rng(3).normal(size=(3, 2))})
    # a gradient as nested lists is not 3 gradients (rt21 F11): said as a list
    with pytest.raises(TypeError, match=r"a gradient must be a numpy array, got a list"):
        gradcheck.check_layer(loss_list, None, {"x": np.random.default_rng(3).normal(size=(3, 2))})
