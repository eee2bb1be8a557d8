"""What the sweep of planted mistakes over the reference models found said more than it knew (diag2).

A ReLU back-propagated with no mask at all was blamed on ``output >= 0``; a
gradient that is all zeros because nothing reached it (the first sample's
ReLUs all inactive, a mask 0 everywhere) was called "not written".  Each
sentence now says what the numbers show and gives the usual causes as
possibilities.
"""
from __future__ import annotations

import numpy as np

import reference_models as rm
from gradcheck import check_layer
from gradcheck.diagnose import diagnose
from gradcheck.mistakes import backprop_with, mistake_gradients


def _point(name):
    model = rm.get(name)
    rng = np.random.default_rng(3)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    return model, params, x, y, model.backward(params, x, y)


def test_a_relu_with_no_mask_is_said_to_be_the_identity_not_blamed_on_output_ge0():
    model, p, x, y, exact = _point("relu_sigmoid_bce")
    no_mask = backprop_with(model, p, x, y, derivatives={"relu": lambda z, a: np.ones_like(z)})
    d = diagnose(no_mask, exact, batch_size=5, mistakes=mistake_gradients(model, p, x, y))["W1"]
    assert d.code == "activation" and d.detail["mistake"] == "relu_mask_output_ge0"
    assert "back-propagated as the identity" in d.message and "no mask at all" in d.message
    assert not d.message.split(": ", 1)[1].startswith("the ReLU mask was taken as output >= 0")
    assert "마스크가 아예 없거나" in d.in_language("ko").message


def test_an_all_zero_gradient_is_not_called_unwritten():
    model, p, x, y, exact = _point("xor_2layer")
    d = diagnose({**exact, "b1": np.zeros_like(exact["b1"])}, exact, batch_size=5)["b1"]
    assert d.code == "wrong" and d.detail["template"] == "wrong.zero"
    assert "seems not to be written" not in d.message and "nothing reached it" in d.message
    assert "0이 아닙니다" in d.in_language("ko").message


def _tanh_forward(z):
    a = np.tanh(z)
    return a, (z, a)


def test_tanhs_derivative_on_the_pre_activation_is_named():
    # found by the sweep as "fits no known mistake"; the sigmoid's twin slip (z * (1 - z)) was already named
    model = rm.get("relu_sigmoid_bce", activation="tanh")
    p = model.init_params(np.random.default_rng(3))
    x, y = model.example_batch(np.random.default_rng(4), 5)
    exact = model.backward(p, x, y)
    at_z = backprop_with(model, p, x, y, derivatives={"tanh": lambda z, a: 1 - z ** 2})
    d = diagnose(at_z, exact, batch_size=5, mistakes=mistake_gradients(model, p, x, y))["W1"]
    assert d.code == "activation" and d.detail["mistake"] == "tanh_prime_of_z" and "1 - z**2" in d.message
    z = np.random.default_rng(5).normal(size=(4, 3))
    r = check_layer(_tanh_forward, lambda dout, cache: dout * (1 - cache[0] ** 2), {"z": z})
    assert r["z"].diagnosis.detail.get("mistake") == "tanh_prime_of_z", r["z"].diagnosis
    other = check_layer(_tanh_forward, lambda dout, cache: dout * (1 - cache[1]), {"z": z})  # another slip: not it
    assert not other.passed and other["z"].diagnosis.code != "activation", other["z"].diagnosis
