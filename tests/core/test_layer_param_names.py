"""rt21 F2: a layer object's parameters are found under the names users write; one without a gradient fails.

The expected gradients are the affine layer's, written by hand
(``x.T @ dout``, ``dout.sum(0)``); each wrong one is a planted factor.
"""
from __future__ import annotations

import numpy as np
import pytest

import gradcheck
from gradcheck.errors import GradcheckValueError

RNG = np.random.default_rng(7)
X, W, B = RNG.normal(size=(4, 5)), RNG.normal(size=(5, 3)), RNG.normal(size=3)


class TorchNames:
    def __init__(self, factor=1.0):
        self.weight, self.factor = W.copy(), factor

    def forward(self, x):
        self.x = x
        return x @ self.weight

    def backward(self, d):
        self.grad_weight = self.factor * self.x.T @ d
        return d @ self.weight.T


class GradDicts:
    def __init__(self, factor=1.0):
        self.params, self.grads, self.factor = {"W": W.copy(), "b": B.copy()}, {}, factor

    def forward(self, x):
        self.x = x
        return x @ self.params["W"] + self.params["b"]

    def backward(self, d):
        self.grads["W"] = self.factor * self.x.T @ d
        self.grads["b"] = d.sum(axis=0)
        return d @ self.params["W"].T


class Suffix:
    def __init__(self, factor=1.0, name="W_grad"):
        self.W, self.factor, self.name = W.copy(), factor, name

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, d):
        setattr(self, self.name, self.factor * self.x.T @ d)
        return d @ self.W.T


class GradLists:  # "Deep Learning from Scratch 2": params and grads lists, grads written in place
    def __init__(self, factor=1.0):
        self.params, self.grads, self.factor = [W.copy(), B.copy()], [np.zeros_like(W), np.zeros_like(B)], factor

    def forward(self, x):
        w, b = self.params
        self.x = x
        return x @ w + b

    def backward(self, d):
        self.grads[0][...] = self.factor * self.x.T @ d
        self.grads[1][...] = d.sum(axis=0)
        return d @ self.params[0].T


class NoGradient:
    def __init__(self):
        self.W = W.copy()

    def forward(self, x):
        self.x = x
        return x @ self.W

    def backward(self, d):
        return d @ self.W.T


LAYERS = [("weight/grad_weight", TorchNames, "weight"), ("params/grads dicts", GradDicts, "params['W']"),
          ("W/W_grad", Suffix, "W"), ("W/grad_W", lambda f=1.0: Suffix(f, "grad_W"), "W"),
          ("params/grads lists", GradLists, "params[0]")]


@pytest.mark.parametrize("label,make,param", LAYERS, ids=[c[0] for c in LAYERS])
def test_a_wrong_gradient_under_a_usual_name_fails(label, make, param):
    r = gradcheck.check_layer(make(3.0), {"x": X})
    assert not r.passed and [p.name for p in r.failed] == [param], label


@pytest.mark.parametrize("label,make,param", LAYERS, ids=[c[0] for c in LAYERS])
def test_a_right_gradient_under_a_usual_name_passes(label, make, param):
    r = gradcheck.check_layer(make(), {"x": X})
    assert r.passed and param in [p.name for p in r.params], (label, r.problems)


def test_a_parameter_without_a_gradient_fails_and_says_how_to_name_it():
    r = gradcheck.check_layer(NoGradient(), {"x": X})
    assert not r.passed and [p.name for p in r.params] == ["x"]
    (problem,) = r.problems
    assert "NoGradient.W" in problem and "NOT CHECKED" in problem and "self.dW" in problem and "params=" in problem


def test_params_names_a_gradient_entry():
    class Odd(GradDicts):
        def backward(self, d):
            dx = super().backward(d)
            self.store = {"gW": self.grads.pop("W"), "gb": self.grads.pop("b")}
            return dx

    assert not gradcheck.check_layer(Odd(), {"x": X}).passed
    r = gradcheck.check_layer(Odd(), {"x": X}, params={"params['W']": "store['gW']", "params['b']": "store['gb']"})
    assert r.passed and [p.name for p in r.params] == ["x", "params['W']", "params['b']"]


def test_grad_buffers_and_dicts_are_left_as_found():
    lists, dicts = GradLists(), GradDicts()
    gradcheck.check_layer(lists, {"x": X})
    gradcheck.check_layer(dicts, {"x": X})
    assert all(not g.any() for g in lists.grads) and dicts.grads == {}
    assert np.array_equal(lists.params[0], W) and np.array_equal(dicts.params["W"], W)


class RunningScale:  # reads a fixed buffer it has no gradient for
    def __init__(self):
        self.W, self.scale = W.copy(), np.full(3, 2.0)

    def forward(self, x):
        self.x = x
        return (x @ self.W) * self.scale

    def backward(self, d):
        self.dW = self.x.T @ (d * self.scale)
        return (d * self.scale) @ self.W.T


def test_a_read_buffer_fails_by_default_and_is_warned_when_params_leaves_it_out():
    r = gradcheck.check_layer(RunningScale(), {"x": X})
    assert not r.passed and any("RunningScale.scale" in p and "NOT CHECKED" in p for p in r.problems)
    r = gradcheck.check_layer(RunningScale(), {"x": X}, params={"W": "dW"})
    assert r.passed and any("scale" in w and "not in params=" in w for w in r.warnings)


def test_a_used_layer_with_caches_and_old_gradients_passes():
    layer = Suffix(name="dW")
    layer.forward(X)
    layer.backward(np.ones((4, 3)))  # self.x and self.dW now held before the check
    r = gradcheck.check_layer(layer, {"x": X})
    assert r.passed and [p.name for p in r.params] == ["x", "W"]


def test_a_transposed_gradient_is_not_skipped():
    class Transposed(Suffix):
        def backward(self, d):
            self.dW = d.T @ self.x  # (3, 5) for a (5, 3) W
            return d @ self.W.T

    with pytest.raises(GradcheckValueError, match="shape"):
        gradcheck.check_layer(Transposed(), {"x": X})


class Embedding:  # the second volume's: params and grads lists, backward returns None for the word ids
    def __init__(self, w):
        self.params, self.grads = [w], [np.zeros_like(w)]

    def forward(self, idx):
        self.idx = idx
        return self.params[0][idx]

    def backward(self, dout):
        dw = self.grads[0]
        dw[...] = 0
        np.add.at(dw, self.idx, dout)


class LossyEmbedding(Embedding):
    def backward(self, dout):
        dw = self.grads[0]
        dw[...] = 0
        dw[self.idx] += dout  # planted: a repeated word counted once


def test_embedding_checks_its_table_and_names_the_ids_not_checked():
    idx = np.array([0, 2, 2, 5])
    r = gradcheck.check_layer(Embedding(RNG.normal(size=(6, 3))), {"idx": idx})
    assert r.passed and [p.name for p in r.params] == ["params[0]"]
    assert any("inputs['idx']" in w and "NOT CHECKED" in w for w in r.warnings)
    assert not gradcheck.check_layer(LossyEmbedding(RNG.normal(size=(6, 3))), {"idx": idx}).passed
