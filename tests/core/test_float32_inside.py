"""A loss given float64 arguments that computes in float32 inside, and says so nowhere, is measured (toys4).

``check_gradients(lambda q: float(model.loss(cast32(q), x32, y32)), grads, params)``: nothing the check
is given or gets back is below float64, so before, only check_model's and check_net's float32 *data* made the
check measure the loss's rounding (``check._rounds_in_float32``).  The default step (``6e-6`` relative) is
below such a loss's resolution: many central differences came out exactly 0 with error bars of ``1e-6``, and
correct gradients failed as "wrong, fits no known mistake" with no warning.  Now every opaque check
(check_gradients, check_layer, check_net; full and fast mode) measures it (``check._given_below_float64``,
free for a float64 loss: ``check._reads_float64`` reads the check's own noise ray) and uses float32 steps and
error bars, with a warning that says what was measured; check_model does when its forward output's float64
values are float32 numbers (``check._float32_valued``: layers that compute in float32 and cast back).

The analytic gradients are the models' own float64 backward passes (``reference_models``), and the losses
are the same models' losses with their arrays cast to float32: the float64 gradient differs from the float32
loss's by its rounding (1e-7 relative), inside float32's ``rtol = 1e-5``.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import reference_models
from gradcheck import GradcheckPrecisionWarning, check_gradients, check_layer, check_model, format_result, nn
from gradcheck.check import MEASURED_WORDS

F32 = np.float32


def c32(a):
    return np.asarray(a).astype(F32)


def xor_case(seed=1):
    """The brief's repro: xor_2layer's loss computed in float32 and returned as a Python float."""
    m = reference_models.get("xor_2layer")
    p = m.init_params(np.random.default_rng(seed))
    x, y = m.notebook_data()
    return (lambda q: float(m.loss({k: c32(v) for k, v in q.items()}, c32(x), c32(y)))), m.backward(p, x, y), p


def relu_case(seed):
    """A 64-16-10 ReLU net (mnist_relu, inputs in [0, 1]) in float32, a batch of 8: ReLU kinks within the
    float32 step, and rays of float32 steps that cross them."""
    m = reference_models.get("mnist_relu", n_in=64, hidden=16, n_out=10)
    p = m.init_params(np.random.default_rng(seed))
    x, y = m.example_batch(np.random.default_rng(10_000 + seed), 8)
    return (lambda q: float(m.loss({k: c32(v) for k, v in q.items()}, c32(x), c32(y)))), m.backward(p, x, y), p


def tanh_case(seed):
    """A user's 8-16-4 tanh MLP with softmax cross-entropy, a batch of 8, computed in float32."""
    rng = np.random.default_rng(seed)
    p = {"W1": rng.normal(0, 8 ** -0.5, (8, 16)), "b1": rng.normal(0, 0.1, 16),
         "W2": rng.normal(0, 16 ** -0.5, (16, 4)), "b2": rng.normal(0, 0.1, 4)}
    x, y = rng.normal(size=(8, 8)), rng.integers(0, 4, 8)

    def forward(q, x):
        a = np.tanh(x @ q["W1"] + q["b1"])
        z = a @ q["W2"] + q["b2"]
        z = z - z.max(axis=1, keepdims=True)
        return a, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    a, logp = forward(p, x)
    dz = np.exp(logp)
    dz[np.arange(8), y] -= 1
    dz /= 8
    da = dz @ p["W2"].T * (1 - a ** 2)
    grads = {"W1": x.T @ da, "b1": da.sum(0), "W2": a.T @ dz, "b2": dz.sum(0)}
    return (lambda q: float(-forward({k: c32(v) for k, v in q.items()}, c32(x))[1][np.arange(8), y].mean())), grads, p


def checked(f, grads, params, **options):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckPrecisionWarning)
        return check_gradients(f, grads, params, **options)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_correct_gradient_of_a_float32_loss_passes_with_a_warning_saying_what_was_measured(mode):
    f, g, p = xor_case()
    with pytest.warns(GradcheckPrecisionWarning, match="rounds at float32's level, measured"):
        r = check_gradients(f, g, p, mode=mode)
    assert r.passed, format_result(r)
    assert len(r.warnings) == 1 and MEASURED_WORDS in r.warnings[0]
    assert "rtol=1e-05" in r.warnings[0] and "float32 step 0.0049" in r.warnings[0]  # the bars used


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_wrong_gradients_of_a_float32_loss_still_fail(mode):
    f, g, p = xor_case()
    flipped = g["W1"].copy()
    flipped[np.unravel_index(np.argmax(np.abs(flipped)), flipped.shape)] *= -1
    for bad in ({**g, "W2": 1.01 * g["W2"]}, {**g, "W1": flipped}):
        r = checked(f, bad, p, mode=mode)
        assert not r.passed, format_result(r)


@pytest.mark.parametrize("seed", [1, 4, 9])
def test_a_float32_relu_net_passes_where_its_rays_cross_kinks(seed):
    # seeds whose float32 rays at 1e-1 (and 1e-2) of the step read kinks as rounding, 1e3 .. 1e4 times the
    # loss's own (check._plateau): W1's error bars reached half its gradient and were measured again at a
    # 256x step across kinks, and a correct W1 failed as wrong (seed 1 with 34 entries, 4, 9 with 28)
    f, g, p = relu_case(seed)
    assert checked(f, g, p).passed
    assert not checked(f, {**g, "W2": 1.01 * g["W2"]}, p).passed


def test_a_float32_loss_whose_values_move_in_whole_spacings_is_measured():
    # seed 38: along the shorter ray the values do not move, along the longer they move by whole float32
    # spacings of f, too few of them for ECnoise (half the differences 0): that is float32, not a constant loss
    f, g, p = tanh_case(38)
    r = checked(f, g, p)
    assert r.passed and MEASURED_WORDS in r.warnings[0], format_result(r)


def test_a_float32_layer_that_returns_float64_is_measured():
    rng = np.random.default_rng(0)
    point = {"x": rng.standard_normal((5, 3)), "w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}

    def forward(x, w, b):  # float32 inside, its output cast back: no array below float64 to see
        return np.tanh(c32(x) @ c32(w) + c32(b)).astype(np.float64), (x, w, b)

    def backward(dout, cache, scale=1.0):
        x, w, b = cache
        dz = dout * (1.0 - np.tanh(x @ w + b) ** 2)
        return dz @ w.T, scale * (x.T @ dz), dz.sum(axis=0)

    with pytest.warns(GradcheckPrecisionWarning, match="rounds at float32's level, measured"):
        r = check_layer(forward, backward, point)
    assert r.passed, format_result(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckPrecisionWarning)
        r = check_layer(forward, lambda dout, cache: backward(dout, cache, 1.01), point)
    assert not r.passed and [c.name for c in r.params if not c.passed] == ["w"], format_result(r)


def test_a_float64_loss_is_not_called_float32():
    f64 = reference_models.get("xor_2layer")
    p = f64.init_params(np.random.default_rng(1))
    x, y = f64.notebook_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no precision warning
        r = check_gradients(lambda q: float(f64.loss(q, x, y)), f64.backward(p, x, y), p)
    assert r.passed and r.warnings == ()


def test_a_loss_constant_near_the_point_is_not_called_float32():
    # its values do not move along any ray, as a float32 loss's do not at the shorter one: that says nothing
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = check_gradients(lambda q: 3.0, {"w": np.zeros(3)}, {"w": np.array([0.5, -1.0, 2.0])})
    assert r.warnings == ()


@pytest.mark.parametrize("seed", range(3))
def test_a_float64_relu_layer_at_near_ties_is_not_called_float32(seed):
    # inputs of 1e-8 times small integers: the shorter ray (5e-9 per value) crosses kinks, which read as noise at
    # 2e-2 of the layer's size, and the longer crosses them both ways; with no dtype evidence that is no float32
    x = 1e-8 * np.random.default_rng(seed + 70).integers(-2, 3, (3, 4)).astype(float)

    def relu_forward(x):
        return np.maximum(x, 0.0), x

    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        r = check_layer(relu_forward, lambda dout, cache: dout * (cache > 0), {"x": x}, seed=seed)
    assert r.passed and r.warnings == (), format_result(r)


class F32Back(nn.Dense):
    """A Dense layer computed in float32 whose output is cast back to float64: no array below float64 to see."""

    def forward(self, params, a):
        out = nn.Dense.forward(self, {k: params[k].astype(F32) for k in self.param_names}, a.astype(F32))
        return np.asarray(out, dtype=np.float64)


def _tanh_mlp_backward(p, x, y, w2_scale=1.0):
    a = np.tanh(x @ p["W1"] + p["b1"])
    z = a @ p["W2"] + p["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz /= len(y)
    da = dz @ p["W2"].T * (1.0 - a ** 2)
    return {"W1": x.T @ da, "b1": da.sum(0), "W2": w2_scale * (a.T @ dz), "b2": dz.sum(0)}


@pytest.mark.parametrize("seed", range(3))
def test_check_model_measures_layers_that_compute_in_float32_and_cast_back(seed):
    # the model's forward output is float64 whose values are float32 numbers: its loss is measured (before, 10 of
    # 10 seeds failed correct gradients); the same model in float64 is checked as before, with no warning
    rng = np.random.default_rng(seed)
    p = {"W1": rng.normal(size=(8, 16)) / 3, "b1": rng.normal(size=16) * 0.1, "W2": rng.normal(size=(16, 4)) / 4,
         "b2": np.zeros(4)}
    x, y = rng.normal(size=(8, 8)), rng.integers(0, 4, 8)

    def model(layer):
        return nn.Sequential(layer("W1", "b1"), nn.Tanh(), layer("W2", "b2"), loss=nn.SoftmaxCrossEntropy(), name="m")

    with pytest.warns(GradcheckPrecisionWarning, match="rounds at float32's level, measured"):
        r = check_model(model(F32Back), p, x, y, backward=_tanh_mlp_backward)
    assert r.passed, format_result(r)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GradcheckPrecisionWarning)
        bad = check_model(model(F32Back), p, x, y, backward=lambda p, x, y: _tanh_mlp_backward(p, x, y, 1.01))
    assert not bad.passed and [c.name for c in bad.params if not c.passed] == ["W2"], format_result(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        assert check_model(model(nn.Dense), p, x, y, backward=_tanh_mlp_backward).warnings == ()


def test_strict_refuses_a_loss_measured_to_compute_in_float32():
    # strict=True requires float64 throughout: a loss measured to round at float32's level is refused as a
    # float32 value or array is, with what was measured
    f, g, p = xor_case()
    with pytest.raises(TypeError, match="strict=True requires float64 throughout: f rounds at float32's level"):
        check_gradients(f, g, p, strict=True)
