"""float32 data into a computation in float64 is checked as float64 (red team rt22 F1).

A float32 ``x`` (MNIST as ``uint8 / 255`` in float32) is data rounded to
float32: the check evaluates the loss at those exact values.  Before, its
dtype alone gave float32 error bars (``rtol = 1e-5``, ``atol = 1e-5`` of the
largest entry) and a warning that the model "computes in float32" though
``nn.Sequential`` and the book's ``Affine`` widen it to float64: a ``dW2``
off by ``1e-5`` passed that the same values as float64 failed.  Now only a
loss that rounds at float32's level (measured: ``check._rounds_in_float32``)
widens the bars, so a computation that casts to float32 inside and returns
float64 keeps them, now with float32 steps (with float64 steps it failed
every seed of ``/tmp/f32x/falsefail.py``: 20 of 20).
"""
from __future__ import annotations

import warnings

import dlfs
import numpy as np
import pytest

from gradcheck import GradcheckPrecisionWarning, check_gradients, check_layer, check_model, check_net, format_result, nn

F32 = np.float32

#: The planted error: 1000 times float64's ``rtol`` (1e-8), inside float32's (1e-5, and ``atol`` 1e-5 of the
#: largest entry), so it fails only when float64's error bars are used.
OFF = 1e-5


class F32Dense(nn.Dense):
    """A Dense layer computed in float32 (its inputs and parameters cast), returning float32."""

    def forward(self, params, a):
        return nn.Dense.forward(self, {k: params[k].astype(F32) for k in self.param_names}, a.astype(F32))


def mlp(first_in_float32=False):
    first = F32Dense("W1", "b1") if first_in_float32 else nn.Dense("W1", "b1")
    return nn.Sequential(first, nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy(), name="mlp")


def point(seed, d=20, h=10, c=3, n=8):
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(size=(d, h)) * np.sqrt(2.0 / d), "b1": rng.normal(size=h) * 0.01,
              "W2": rng.normal(size=(h, c)) * np.sqrt(2.0 / h), "b2": np.zeros(c)}
    return params, rng.random((n, d)).astype(F32), rng.integers(0, c, n)


def forward(p, x, first):
    """The mlp's activations with its first layer in ``first`` (float32 or float64), the rest in float64."""
    z1 = x.astype(first) @ p["W1"].astype(first) + p["b1"].astype(first)
    a = np.maximum(z1, 0).astype(np.float64)
    return z1, a, a @ p["W2"] + p["b2"]


def backward(p, x, y, first=np.float64, off=0.0):
    """The mlp's gradient, float64 arrays, ``dW2`` and ``db2`` scaled by ``1 + off``."""
    z1, a, z = forward(p, x, first)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1
    dz /= len(y)
    dz1 = (dz @ p["W2"].T) * (z1 > 0)
    return {"W1": x.astype(np.float64).T @ dz1, "b1": dz1.sum(0), "W2": a.T @ dz * (1 + off), "b2": dz.sum(0) * (1 + off)}


def quietly(check, *args, **kwargs):
    """``check(*args, **kwargs)`` and the GradcheckPrecisionWarnings it gave."""
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        result = check(*args, **kwargs)
    return result, [str(w.message) for w in record if issubclass(w.category, GradcheckPrecisionWarning)]


@pytest.mark.parametrize("which", ["x", "params"])
def test_check_model_judges_float32_data_into_a_float64_model_with_float64_error_bars(which):
    params, x, y = point(0)
    if which == "params":  # the model gets float64 copies of them: data too
        x, params = x.astype(np.float64), {k: v.astype(F32) for k, v in params.items()}
    wide = {k: v.astype(np.float64) for k, v in params.items()}
    r, said = quietly(check_model, mlp(), params, x, y, backward=backward)
    assert r.passed and not said, format_result(r)
    assert any(which in w and "float64 error bars" in w for w in r.warnings), r.warnings
    off = lambda p, xx, yy: backward(p, xx, yy, off=OFF)  # noqa: E731
    r32, said = quietly(check_model, mlp(), params, x, y, backward=off)
    r64 = check_model(mlp(), wide, x.astype(np.float64), y, backward=off)  # the same values, in float64
    assert not said and [c.name for c in r32.failed] == [c.name for c in r64.failed] == ["W2", "b2"], format_result(r32)
    assert r32["W2"].tolerance == r64["W2"].tolerance


def test_check_net_judges_float32_x_into_a_float64_net_with_float64_error_bars():
    x, t = dlfs.batch(n=8, d=6)
    x = x.astype(F32)
    net = dlfs.TwoLayerNet(6, 5, 3)  # its Affine layers widen x @ W to float64
    r, said = quietly(check_net, net, x, t)
    assert r.passed and not said and any("float64 error bars" in w for w in r.warnings), format_result(r)
    right = net.gradient
    net.gradient = lambda xx, tt: {k: g * (1 + OFF) if k == "W2" else g for k, g in right(xx, tt).items()}
    r32, said = quietly(check_net, net, x, t)
    r64 = check_net(net, x.astype(np.float64), t)
    assert not said and [c.name for c in r32.failed] == [c.name for c in r64.failed] == ["W2"], format_result(r32)


def test_check_gradients_and_check_layer_judge_float32_data_of_a_float64_function_with_float64_error_bars():
    params, x, y = point(1)
    data = {k: v.astype(F32) for k, v in params.items()}  # f gets float64 copies
    r, said = quietly(check_gradients, lambda q: float(mlp().loss(q, x, y)), backward(data, x, y, off=OFF), data)
    assert not said and [c.name for c in r.failed] == ["W2", "b2"], format_result(r)

    def affine(x, w, b):
        return x @ w + b, (x, w)

    def affine_back(dout, cache):
        return dout @ cache[1].T, cache[0].T @ dout * (1 + OFF), dout.sum(axis=0)

    r, said = quietly(check_layer, affine, affine_back, {"x": x, "w": data["W1"], "b": data["b1"]})
    assert not said and [c.name for c in r.failed] == ["w"], format_result(r)


@pytest.mark.parametrize("seed", range(5))
def test_a_model_that_computes_in_float32_inside_keeps_float32_error_bars_and_passes(seed):
    """Its first layer in float32, its forward output and loss float64: only its rounding tells."""
    params, x, y = point(seed)
    r, said = quietly(check_model, mlp(first_in_float32=True), params, x, y,
                      backward=lambda p, xx, yy: backward(p, xx, yy, first=F32))
    assert r.passed and len(said) == 1 and "computes in float32 (x)" in said[0], format_result(r)
    assert r["W1"].tolerance.rtol == 1e-5


class Float32Net:
    """A net computing everything in float32 (parameters and ``x`` cast), returning float64 values."""

    def __init__(self, params):
        self.params = {k: v.copy() for k, v in params.items()}

    def loss(self, x, t):
        q = {k: v.astype(F32) for k, v in self.params.items()}
        z = forward(q, x, F32)[2].astype(F32)
        m = z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z - m).sum(axis=1)) + m[:, 0] - z[np.arange(len(t)), t]))

    def gradient(self, x, t):
        q = {k: v.astype(F32) for k, v in self.params.items()}
        return {k: g.astype(np.float64) for k, g in backward(q, x, t, first=F32).items()}


@pytest.mark.parametrize("seed", range(5))
def test_a_net_that_computes_in_float32_inside_keeps_float32_error_bars_and_passes(seed):
    params, x, t = point(seed)
    r, said = quietly(check_net, Float32Net(params), x, t)
    assert r.passed and len(said) == 1 and "computes in float32 (x)" in said[0], format_result(r)
