"""Messages that name the real cause (red team rt18: F3, F6, F16).

A book net whose ``loss`` takes ``train_flg`` is differentiated in training
mode, as its ``gradient()`` runs it; float labels, gradients in the wrong
order, misspelt gradient keys and stale ``net.params`` are each named.
"""
from __future__ import annotations

import functools

import dlfs
import numpy as np
import pytest

from gradcheck import check_layer, check_model, check_net, nn

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5], [-1.0, 1.0, 0.75], [2.0, -0.5, 1.25]])  # column means != 0


class CentringNet:
    """``z = x @ W``, centred over the batch in training mode (BatchNorm's mean), by a fixed 0 in test mode.

    ``loss = sum(zc**2) / (2 N)``; in training mode ``dL/dz = zc / N - mean(zc / N) = zc / N`` (zc has zero
    column means), so ``dW = x.T @ zc / N``, which is not the test-mode gradient ``x.T @ z / N`` for this x.
    """

    def __init__(self, *, noise: bool = False) -> None:
        self.params = {"W": np.array([[0.5, -0.25], [1.0, 0.75], [-0.5, 0.5]])}
        self.noise = noise
        self.calls = 0

    def _centred(self, x: np.ndarray, train_flg: bool) -> np.ndarray:
        z = x @ self.params["W"]
        if self.noise and train_flg:  # a dropout-like mask that changes from call to call, as an unseeded one does
            self.calls += 1  # (drawn from the call count: an unseeded mask repeated itself in ~1% of runs, and the test failed)
            z = z * (np.random.default_rng(self.calls).random(z.shape) > 0.3)
        return z - z.mean(axis=0) if train_flg else z

    def loss(self, x: np.ndarray, t: np.ndarray, train_flg: bool = False) -> float:
        zc = self._centred(x, train_flg)
        return float(np.sum(zc ** 2) / (2 * len(x)))

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        zc = self._centred(x, True)
        return {"W": x.T @ zc / len(x)}


def test_train_flg_loss_is_differentiated_in_training_mode_and_said() -> None:
    r = check_net(CentringNet(), X, np.zeros(4, dtype=int))
    assert r.passed, r.params[0].diagnosis
    assert any("train_flg=True" in w for w in r.warnings), r.warnings


def test_the_test_mode_loss_really_differs_here() -> None:
    # what makes the test above able to fail: the test-mode gradient is not the training-mode one
    net = CentringNet()
    z = X @ net.params["W"]
    assert not np.allclose(X.T @ z / 4, net.gradient(X, np.zeros(4, dtype=int))["W"], rtol=0.1)


def test_unseeded_noise_in_training_mode_is_named_randomness() -> None:
    r = check_net(CentringNet(noise=True), X, np.zeros(4, dtype=int))
    assert not r.passed
    assert any("gradient is not deterministic" in p and "without a fixed seed" in p for p in r.problems), r.problems


def test_a_loss_without_train_flg_gets_no_training_mode_warning() -> None:
    r = check_net(dlfs.TwoLayerNet(6, 5, 3), *dlfs.batch())
    assert r.passed and not any("train_flg" in w for w in r.warnings)


def test_float_labels_are_named_by_their_dtype() -> None:
    rng = np.random.default_rng(3)
    p = {"W": rng.normal(size=(3, 4)), "b": np.zeros(4)}
    model = nn.Sequential(nn.Dense("W", "b"), loss=nn.SoftmaxCrossEntropy())
    y = np.array([0.0, 3.0, 1.0, 2.0])  # integer-valued labels read as floats (e.g. from a CSV)
    with pytest.raises(ValueError, match=r"got y.shape=\(4,\) with y.dtype=float64: integer labels need an integer "
                                         r"dtype \(cast with y.astype\(int\)\)"):
        check_model(model, p, X, y, grads={k: np.zeros_like(v) for k, v in p.items()})


def _affine_forward(x, w, b):
    return x @ w + b, (x, w)


def _affine_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


INPUTS = {"x": X, "w": np.arange(6.0).reshape(3, 2) / 4, "b": np.array([0.5, -0.5])}


def test_gradients_in_the_wrong_order_name_whose_shape_they_have() -> None:
    def backward(dout, cache):
        dx, dw, db = _affine_backward(dout, cache)
        return dw, dx, db

    with pytest.raises(ValueError, match=r"the gradient of x has shape \(3, 2\), expected \(4, 3\) \(the shape of x\); "
                                         r"it has the shape of w: gradients returned in the wrong order\?"):
        check_layer(_affine_forward, backward, INPUTS)


def test_a_misspelt_gradient_key_is_named_with_its_close_match() -> None:
    def backward(dout, cache):
        dx, dw, db = _affine_backward(dout, cache)
        return {"x": dx, "W": dw, "b": db}

    with pytest.raises(KeyError, match=r"without \['w'\] and with the unexpected key\(s\) \['W'\] \('W' for 'w'\?\)"):
        check_layer(_affine_forward, backward, INPUTS)


def test_stale_params_defer_each_diagnosis_to_the_problem() -> None:
    net = dlfs.TwoLayerNet(6, 5, 3)
    net.params.update({k: v * 2 for k, v in net.params.items()})  # the layers keep the old arrays
    r = check_net(net, *dlfs.batch())
    assert any("the loss did not change when W1 moved" in p for p in r.problems), r.problems
    for p in r.failed:
        assert "is wrong" not in p.diagnosis.message and "cannot be judged" in p.diagnosis.message, p.diagnosis


def _conv_forward(x, w, conv_param):
    return x @ w * conv_param["scale"], (x, w, conv_param)


def _conv_backward(dout, cache):
    x, w, conv_param = cache
    return dout @ w.T * conv_param["scale"], x.T @ dout * conv_param["scale"]


def test_an_unbound_non_array_argument_is_named_with_functools_partial():
    # rt18 F16: Python's own "missing 1 required positional argument: 'conv_param'"
    with pytest.raises(TypeError, match=r"_conv_forward needs conv_param, which inputs does not give: bind a non-array "
                                        r"argument with functools.partial, e.g. check_layer\(partial\(_conv_forward, "
                                        r"conv_param=...\), backward, inputs\)"):
        check_layer(_conv_forward, _conv_backward, {"x": X, "w": INPUTS["w"]})
    bound = functools.partial(_conv_forward, conv_param={"scale": 2.0})  # what the message asks for
    assert check_layer(bound, _conv_backward, {"x": X, "w": INPUTS["w"]}).passed


def test_an_input_the_forward_does_not_take_is_named_with_its_close_match():
    with pytest.raises(TypeError, match=r"inputs has the key\(s\) \['X'\], which _affine_forward does not take \(its "
                                        r"parameters: \['x', 'w', 'b'\]\) \('X' for 'x'\?\)"):
        check_layer(_affine_forward, _affine_backward, {"X": X, "w": INPUTS["w"], "b": INPUTS["b"]})
