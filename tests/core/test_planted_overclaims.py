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
