"""check_layer and check_net with float32 arrays, and a layer object writing into ``dout``.

float32 (rt16 F1): check_model and check_gradients say so (a
GradcheckPrecisionWarning naming the arrays; TypeError under strict=True),
as the README promises; check_layer and check_net must too, from the same
rule (check.low_precision_arrays, check.float32_tolerances).  Inputs the
check evaluates at their values in float64 are a note, not a warning,
unless the loss still rounds at float32's level (rt22 F1, check._given_below_float64).

``dout`` (rt16 F5): a cs231n backward writing into ``dout`` fails with a
finding; a layer object's is said as a warning (the book's own
Relu.backward does ``dout[mask] = 0``, harmless in its chains).
"""
from __future__ import annotations

import warnings

import dlfs
import numpy as np
import pytest

from gradcheck import GradcheckPrecisionWarning, check_layer, check_net, format_result


def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward(dout, cache):
    x, w, _b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


def affine_point(dtype=np.float64):
    rng = np.random.default_rng(0)
    return {"x": rng.normal(size=(4, 5)).astype(dtype), "w": rng.normal(size=(5, 3)).astype(dtype),
            "b": rng.normal(size=3).astype(dtype)}


def float32_net():
    """The book's TwoLayerNet with float32 parameters (its layers hold the very float32 arrays)."""
    net = dlfs.TwoLayerNet(4, 5, 3)
    net.params = {k: v.astype(np.float32) for k, v in net.params.items()}
    for i in (1, 2):
        net.layers[f"Affine{i}"].W, net.layers[f"Affine{i}"].b = net.params[f"W{i}"], net.params[f"b{i}"]
    x, t = dlfs.batch(n=5, d=4)
    return net, x, t


def noted(check, *args, **kwargs):
    """``check(...)``, asserting it gave no GradcheckPrecisionWarning: float32 data of a float64 computation."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        return check(*args, **kwargs)


def test_check_layer_notes_float32_inputs_and_refuses_them_under_strict():
    # checked on float64 copies: the layer computes in float64, float64 error bars, a note (rt22 F1)
    point = affine_point(np.float32)
    r = noted(check_layer, affine_forward, affine_backward, point)
    assert r.passed and any("arrays in float32 (inputs['x'], inputs['w'], inputs['b'])" in w and
                            "float64 error bars" in w for w in r.warnings), format_result(r)
    with pytest.raises(TypeError, match=r"strict=True requires float64 throughout.*inputs\['x'\]"):
        check_layer(affine_forward, affine_backward, point, strict=True)


def test_the_precision_note_names_the_dtype_it_saw():
    # a float16 input is float16, not "float32"; several dtypes: each array with its own
    half = {**affine_point(), "x": affine_point()["x"].astype(np.float16)}
    assert any("in float16 (inputs['x'])" in w for w in noted(check_layer, affine_forward, affine_backward, half).warnings)
    mixed = {**half, "w": affine_point()["w"].astype(np.float32)}
    assert any("below float64 (inputs['x']: float16, inputs['w']: float32)" in w
               for w in noted(check_layer, affine_forward, affine_backward, mixed).warnings)
    x, t = dlfs.batch(n=5, d=4)
    assert any("in float16 (x)" in w for w in noted(check_net, dlfs.TwoLayerNet(4, 5, 3), x.astype(np.float16), t).warnings)


def test_check_layer_on_float64_inputs_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        r = check_layer(affine_forward, affine_backward, affine_point(), strict=True)
    assert r.passed and not r.warnings


def test_a_layer_object_holding_float32_weights_is_said_and_refused_under_strict():
    point = affine_point()
    layer = dlfs.Affine(point["w"].astype(np.float32), point["b"].astype(np.float32))
    with pytest.warns(GradcheckPrecisionWarning, match=r"Affine\.W"):
        r = check_layer(layer, {"x": point["x"]})
    assert r.passed, format_result(r)  # a correct float32 layer passes with float32 steps and error bars
    with pytest.raises(TypeError, match=r"strict=True requires float64 throughout"):
        check_layer(layer, {"x": point["x"]}, strict=True)


def test_a_layer_object_given_float32_inputs_notes_them():
    point = affine_point()
    r = noted(check_layer, dlfs.Affine(point["w"], point["b"]), {"x": point["x"].astype(np.float32)})
    assert r.passed and any("inputs['x']" in w for w in r.warnings), format_result(r)


def test_check_net_says_float32_params_and_refuses_them_under_strict():
    net, x, t = float32_net()
    with pytest.warns(GradcheckPrecisionWarning, match=r"net\.params\['W1'\]"):
        r = check_net(net, x, t)
    assert r.passed, format_result(r)
    with pytest.raises(TypeError, match=r"strict=True requires float64 throughout.*net\.params\['W1'\]"):
        check_net(net, x, t, strict=True)
    assert all(v.dtype == np.float32 for v in net.params.values())


def test_check_net_still_fails_a_float32_net_with_a_wrong_gradient():
    """10% off: float32 steps and error bars see about 1e-3 relative at best (0.07% of |f| per step here)."""
    net, x, t = float32_net()
    right = net.gradient

    def wrong(x, t):
        return {k: (g * 1.1 if k == "W2" else g) for k, g in right(x, t).items()}

    net.gradient = wrong
    with pytest.warns(GradcheckPrecisionWarning):
        r = check_net(net, x, t)
    assert [c.name for c in r.failed] == ["W2"], format_result(r)


class SigmoidInPlace:
    """Correct, but multiplies into ``dout`` (as the book's Relu zeroes it)."""

    def forward(self, x):
        self.out = 1.0 / (1.0 + np.exp(-x))
        return self.out

    def backward(self, dout):
        dout *= self.out * (1.0 - self.out)
        return dout


class DoubleInPlace:
    """Wrong (dx = 2 dout), and writes into ``dout``."""

    def forward(self, x):
        return x.copy()

    def backward(self, dout):
        dout *= 2
        return dout


def test_a_layer_object_writing_into_dout_is_said_as_a_warning():
    x = np.random.default_rng(0).normal(size=(4, 3))
    r = check_layer(SigmoidInPlace(), {"x": x})
    assert r.passed, format_result(r)
    said = [w for w in r.warnings if w.startswith("SigmoidInPlace.backward changed its input dout in place (12 of 12")]
    assert said and "not counted as a failure" in said[0], r.warnings
    assert "Warning: SigmoidInPlace.backward changed its input dout" in format_result(r)
    r = check_layer(DoubleInPlace(), {"x": x})
    assert not r.passed and any(w.startswith("DoubleInPlace.backward changed its input dout") for w in r.warnings)


def test_a_layer_object_leaving_dout_alone_says_nothing():
    x = np.random.default_rng(0).normal(size=(4, 3))
    assert not check_layer(dlfs.Sigmoid(), {"x": x}).warnings
