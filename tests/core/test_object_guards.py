"""The guards of check_net and check_layer against hostile user code (a red team's findings).

The promises: the code under check only sees copies of the caller's arrays,
which are never changed; a function that writes into its inputs is reported
(which function, which input, how many entries); a backward or gradient
that is not deterministic is reported (under its own name); the verdict on
the numbers is what a plain central-difference loop on fresh copies gives.
"""
from __future__ import annotations

from functools import partial

import dlfs
import numpy as np
import pytest

from gradcheck import check_gradients, check_layer, check_net, format_result


def plain_central_differences(loss, params, x, t, h=1e-6):
    """The textbook loop: every entry moved in place, the loss on fresh copies of the batch."""
    out = {}
    for k, w in params.items():
        g = np.zeros_like(w)
        for i in np.ndindex(w.shape):
            old = w[i]
            w[i] = old + h
            up = loss(x.copy(), t.copy())
            w[i] = old - h
            down = loss(x.copy(), t.copy())
            w[i] = old
            g[i] = (up - down) / (2 * h)
        out[k] = g
    return out


def wrong_by_plain_loop(net, x, t):
    """The parameters whose gradient() differs from the plain loop (by far more than its 1e-6 error)."""
    g = net.gradient(x.copy(), t.copy())
    g = {k: v.copy() for k, v in g.items()}
    numeric = plain_central_differences(net.loss, net.params, x, t)
    return sorted(k for k in g if np.abs(g[k] - numeric[k]).max() > 1e-4)


# -- check_net ----------------------------------------------------------------------------

class NetAccumulating(dlfs.TwoLayerNet):
    """Forgot to zero: adds into gradient buffers it keeps, and returns them (the same arrays every call)."""

    def gradient(self, x, t):
        g = super().gradient(x, t)
        if not hasattr(self, "kept"):
            self.kept = {k: np.zeros_like(v) for k, v in g.items()}
        for k in g:
            self.kept[k] += g[k]
        return self.kept


def test_a_net_that_forgets_to_zero_its_gradients_is_not_deterministic():
    x, t = dlfs.batch()
    r = check_net(NetAccumulating(6, 5, 3), x, t)
    assert not r.passed
    for k in ("W1", "b1", "W2", "b2"):
        assert any(p.startswith(f"net.gradient is not deterministic: the gradient of {k} differs") for p in r.problems), r.problems
    assert not r.failed  # the first call's gradients are right


class NetLossWritesX(dlfs.TwoLayerNet):
    def loss(self, x, t):
        value = super().loss(x, t)
        x[x < 0] = 0  # after the loss is computed; gradient() calls loss, and Affine1 keeps x
        return value


class NetLossWritesT(dlfs.TwoLayerNet):
    def loss(self, x, t):
        value = super().loss(x, t)
        t[0] = (t[0] + 1) % 3
        return value


class NetTanhInPlace(dlfs.TwoLayerNet):
    def predict(self, x):
        np.tanh(x, out=x)
        return super().predict(x)


def test_a_loss_writing_into_x_is_reported_and_the_numbers_are_taken_at_the_given_x():
    x, t = dlfs.batch()
    x0, t0 = x.copy(), t.copy()
    expected = wrong_by_plain_loop(NetLossWritesX(6, 5, 3), x, t)
    assert expected == ["W1"]  # the plain loop's verdict: only W1 reads the written x
    r = check_net(NetLossWritesX(6, 5, 3), x, t)
    assert sorted(c.name for c in r.failed) == expected, format_result(r)
    n = int((x0 < 0).sum())
    assert f"net.loss changed its input x in place ({n} of {x0.size} entries): a function under check must not " \
           "write into its arguments" in r.problems, r.problems
    assert not any("deterministic" in p for p in r.problems), r.problems
    assert np.array_equal(x, x0) and np.array_equal(t, t0)


def test_a_loss_writing_into_t_is_reported_not_called_nondeterministic():
    x, t = dlfs.batch()
    expected = wrong_by_plain_loop(NetLossWritesT(6, 5, 3), x, t)
    r = check_net(NetLossWritesT(6, 5, 3), x, t)
    assert sorted(c.name for c in r.failed) == expected, format_result(r)
    assert any(p.startswith(f"net.loss changed its input t in place (1 of {t.size} entries)") for p in r.problems), r.problems
    assert not any("deterministic" in p for p in r.problems), r.problems


def test_an_in_place_tanh_on_x_is_reported_and_the_numbers_pass():
    x, t = dlfs.batch()
    r = check_net(NetTanhInPlace(6, 5, 3), x, t)
    assert not r.failed, format_result(r)
    assert any(p.startswith(f"net.loss changed its input x in place ({x.size} of {x.size} entries)") for p in r.problems)
    assert any(p.startswith(f"net.gradient changed its input x in place ({x.size} of {x.size} entries)") for p in r.problems)
    assert not any("deterministic" in p for p in r.problems), r.problems


def test_a_gradient_writing_into_x_is_reported():
    class NetGradientWritesX(dlfs.TwoLayerNet):
        def gradient(self, x, t):
            g = super().gradient(x, t)
            x[x < 0] = 0
            return g

    x, t = dlfs.batch()
    x0 = x.copy()
    r = check_net(NetGradientWritesX(6, 5, 3), x, t)
    n = int((x0 < 0).sum())
    assert any(p.startswith(f"net.gradient changed its input x in place ({n} of {x.size} entries)") for p in r.problems)
    assert not r.failed and np.array_equal(x, x0)


# -- check_layer with a DLFS layer object ---------------------------------------------------

class AffineForgotToZero(dlfs.Affine):
    def __init__(self, W, b):
        super().__init__(W, b)
        self.dW, self.db = np.zeros_like(W), np.zeros_like(b)

    def backward(self, dout):
        self.dW += self.x.T @ dout  # never zeroed
        self.db += dout.sum(axis=0)
        return dout @ self.W.T


class SameBufferDx(dlfs.Sigmoid):
    """Returns one kept dx buffer every call, adding into it."""

    def backward(self, dout):
        if not hasattr(self, "dx"):
            self.dx = np.zeros_like(dout)
        self.dx += dout * (1.0 - self.out) * self.out
        return self.dx


class AffineSGD(dlfs.Affine):
    def backward(self, dout):
        dx = super().backward(dout)
        self.W -= 0.01 * self.dW  # an SGD step inside backward
        return dx


class ReluWritesX(dlfs.Relu):
    def forward(self, x):
        self.mask = x <= 0
        out = x
        out[self.mask] = 0
        return out

    def backward(self, dout):
        return np.where(self.mask, 0.0, dout)


class TanhInPlace:
    def forward(self, x):
        np.tanh(x, out=x)
        self.out = x
        return x

    def backward(self, dout):
        return dout * (1 - self.out ** 2)


class SigmoidFreesX(dlfs.Sigmoid):
    def forward(self, x):
        self.x = x
        return super().forward(x)

    def backward(self, dout):
        dx = super().backward(dout)
        self.x[...] = 0.0  # "frees" the input forward kept
        return dx


def _layer_point():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 4))
    x[np.abs(x) < 0.05] = 0.3  # no entry at ReLU's kink
    return x, rng.normal(size=(4, 3)), rng.normal(size=3)


def test_a_layer_that_forgets_to_zero_dW_is_not_deterministic():
    x, W, b = _layer_point()
    r = check_layer(AffineForgotToZero(W, b), {"x": x})
    assert not r.passed and not r.failed
    for k, g in (("W", "dW"), ("b", "db")):
        assert f"AffineForgotToZero.backward is not deterministic: the gradient of {k} differs between two calls with " \
               f"the same input (self.{g} kept from an earlier call and added to?)" in r.problems, r.problems


def test_a_backward_returning_one_buffer_it_adds_into_is_not_deterministic():
    x, _, _ = _layer_point()
    r = check_layer(SameBufferDx(), {"x": x})
    assert any(p.startswith("SameBufferDx.backward is not deterministic: the gradient of x") for p in r.problems), r.problems


def test_a_backward_stepping_W_is_reported_and_undone():
    x, W, b = _layer_point()
    layer = AffineSGD(W.copy(), b.copy())
    held_W = layer.W
    r = check_layer(layer, {"x": x})
    assert layer.W is held_W and np.array_equal(layer.W, W) and np.array_equal(layer.b, b)
    assert f"AffineSGD.backward changed its input self.W in place ({W.size} of {W.size} entries): a function under " \
           "check must not write into its arguments" in r.problems, r.problems
    assert not any("deterministic" in p for p in r.problems), r.problems
    assert not r.failed, format_result(r)


def test_a_forward_writing_into_x_is_reported():
    x, W, b = _layer_point()
    x0 = x.copy()
    r = check_layer(ReluWritesX(), {"x": x})
    n = int((x0 <= 0).sum())
    assert f"ReluWritesX.forward changed its input x in place ({n} of {x.size} entries): a function under check " \
           "must not write into its arguments" in r.problems, r.problems
    assert not r.failed and np.array_equal(x, x0)
    r = check_layer(TanhInPlace(), {"x": x})
    assert any(p.startswith(f"TanhInPlace.forward changed its input x in place ({x.size} of {x.size}") for p in r.problems)
    assert not r.failed and np.array_equal(x, x0)


def test_a_backward_writing_into_the_x_forward_kept_is_reported():
    x, _, _ = _layer_point()
    x0 = x.copy()
    r = check_layer(SigmoidFreesX(), {"x": x})
    assert any(p.startswith(f"SigmoidFreesX.backward changed its input x (which forward kept) in place ({x.size} of")
               for p in r.problems), r.problems
    assert not r.failed and np.array_equal(x, x0)


def test_the_books_relu_writing_into_dout_passes_with_a_warning():
    class BookRelu(dlfs.Relu):
        def backward(self, dout):
            dout[self.mask] = 0  # verbatim from the book: harmless in a chain
            return dout

    x, _, _ = _layer_point()
    r = check_layer(BookRelu(), {"x": x})
    assert r.passed and not r.problems
    assert [w for w in r.warnings if w.startswith("BookRelu.backward changed its input dout in place")], r.warnings


# -- check_layer with cs231n functions -------------------------------------------------------

def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)


def affine_backward_sgd(dout, cache):
    x, w, _b = cache
    dw = x.T @ dout
    w -= 0.1 * dw  # an SGD step on the cached w
    return dout @ (w + 0.1 * dw).T, dw, dout.sum(axis=0)


KEPT: dict[str, np.ndarray] = {}


def affine_backward_kept(dout, cache):
    """Adds into buffers it keeps between calls, and returns them (forgot to zero)."""
    x, w, _b = cache
    for k, g in (("dx", dout @ w.T), ("dw", x.T @ dout), ("db", dout.sum(axis=0))):
        KEPT.setdefault(k, np.zeros_like(g))
        KEPT[k] += g
    return KEPT["dx"], KEPT["dw"], KEPT["db"]


def relu_forward(x):
    return np.maximum(x, 0), x


def relu_backward_writes_cache(dout, cache):
    dx = dout * (cache > 0)
    cache[cache <= 0] = 0
    return dx


def relu_backward_writes_dout(dout, cache):
    dout[cache <= 0] = 0
    return dout


def _affine_point():
    x, w, b = _layer_point()
    return {"x": x, "w": w, "b": b}


def test_a_backward_writing_into_its_cache_is_reported_under_its_name():
    x, _, _ = _layer_point()
    x0 = x.copy()
    r = check_layer(relu_forward, relu_backward_writes_cache, {"x": x})
    n = int((x0 <= 0).sum())
    assert f"relu_backward_writes_cache changed its input inputs['x'] (held in its cache) in place ({n} of {x.size} " \
           "entries): a function under check must not write into its arguments" in r.problems, r.problems
    assert not r.failed and np.array_equal(x, x0)
    point = _affine_point()
    w0 = point["w"].copy()
    r = check_layer(affine_forward, affine_backward_sgd, point)
    assert any(p.startswith(f"affine_backward_sgd changed its input inputs['w'] (held in its cache) in place "
                            f"({w0.size} of {w0.size} entries)") for p in r.problems), r.problems
    assert not r.failed and np.array_equal(point["w"], w0)


def test_a_backward_writing_into_dout_is_reported_and_the_callers_dout_survives():
    x, _, _ = _layer_point()
    n = int((x <= 0).sum())
    dout = np.random.default_rng(3).normal(size=x.shape)
    d0 = dout.copy()
    for given in (None, dout):
        r = check_layer(relu_forward, relu_backward_writes_dout, {"x": x}, dout=given)
        assert f"relu_backward_writes_dout changed its input dout in place ({n} of {x.size} entries): a function " \
               "under check must not write into its arguments" in r.problems, r.problems
        assert not r.failed
    assert np.array_equal(dout, d0)


def test_a_nondeterministic_backward_is_named_not_the_forward():
    KEPT.clear()
    r = check_layer(affine_forward, affine_backward_kept, _affine_point())
    for k in ("x", "w", "b"):
        assert f"affine_backward_kept is not deterministic: the gradient of {k} differs between two calls with the " \
               "same input" in r.problems, r.problems
    assert not r.failed


# -- check_gradients names the function --------------------------------------------------------

def f_clip(q):
    value = float(np.sum(q["w"] ** 2))
    np.clip(q["w"], -1.0, 1.0, out=q["w"])  # writes into its argument after computing the value
    return value


def test_check_gradients_names_the_function_in_its_findings():
    w = np.array([0.5, -0.25, 2.0, 0.75])
    w0 = w.copy()
    r = check_gradients(f_clip, {"w": 2 * w}, {"w": w})
    assert "f_clip changed its input params['w'] in place (1 of 4 entries): a function under check must not " \
           "write into its arguments" in r.problems, r.problems
    assert r.subject == "f_clip" and not r.failed and np.array_equal(w, w0)
    assert check_gradients(partial(f_clip), {"w": 2 * w}, {"w": w}).subject == "f_clip"
    assert check_gradients(lambda q: float(q["w"] @ q["w"]), {"w": 2 * w}, {"w": w}).subject == "f"
    assert check_gradients(f_clip, {"w": 2 * w}, {"w": w}, subject="mine").problems[0].startswith("mine changed")


def test_a_function_writing_into_its_argument_is_judged_at_the_given_point():
    def f_sq_clip(q):
        value = float(np.sum(q["w"]) ** 2)
        np.clip(q["w"], -1.0, 1.0, out=q["w"])  # after computing its value: the value at q is right
        return value

    w = np.array([0.5, -0.25, 2.0, 0.75])
    exact = 2 * w.sum() * np.ones(4)
    r = check_gradients(f_sq_clip, {"w": exact}, {"w": w})
    assert r.problems == ("f_sq_clip changed its input params['w'] in place (1 of 4 entries): a function under check "
                          "must not write into its arguments",), r.problems  # and not "not deterministic"
    assert not r.failed, format_result(r)
    assert [c.name for c in check_gradients(f_sq_clip, {"w": exact * 1.1}, {"w": w}).failed] == ["w"]


def test_a_forward_reshaping_its_input_in_place_is_named_as_the_cause():
    def affine_forward_reshaping(x, w, b):
        x.shape = (x.shape[0], -1)  # in place: the caller's x would change shape
        return x @ w + b, (x, w, b)

    def affine_backward(dout, cache):
        x, w, _b = cache
        return dout @ w.T, x.T @ dout, dout.sum(axis=0)

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 2))
    with pytest.raises(ValueError, match=r"affine_forward_reshaping changed the shape of its input in place "
                                         r"\(x from \(3, 2, 2\) to \(3, 4\)\)"):
        check_layer(affine_forward_reshaping, affine_backward, {"x": x, "w": rng.normal(size=(4, 2)), "b": np.zeros(2)})
    assert x.shape == (3, 2, 2)


def _sigmoid_forward(x):
    return 1 / (1 + np.exp(-x)), x


def _sigmoid_backward32(dout, cache, scale=1.0):
    s = 1 / (1 + np.exp(-cache))
    return (scale * dout * s * (1 - s)).astype(np.float32)


def test_check_layer_names_a_float32_gradient_and_judges_it_with_float32_error_bars():
    from gradcheck import GradcheckPrecisionWarning

    x = {"x": np.random.default_rng(0).normal(size=(3, 4))}
    with pytest.warns(GradcheckPrecisionWarning, match=r"grads\['x'\]"):
        r = check_layer(_sigmoid_forward, _sigmoid_backward32, x)
    assert r.passed and any("grads['x']" in w and "float32" in w for w in r.warnings), format_result(r)
    with pytest.warns(GradcheckPrecisionWarning):
        r = check_layer(_sigmoid_forward, partial(_sigmoid_backward32, scale=1.01), x)  # 1%: far outside
    assert not r.passed
