"""A bias gradient not summed over the batch: every check's shape error names the mistake (toys4).

``db = dout`` for ``out = x @ w + b`` has shape ``(N, k)`` where ``b`` has ``(k,)``.  check_layer raised a bare
``the gradient of b has shape (5, 4), expected (4,)``; check_gradients, check_model and check_net the same
through ``grads[...] has shape``.  A wrong shape stays an error in all four (``GradcheckValueError``, as
before), and its message now says that the gradient has an extra leading batch axis and whether its sum over
axis 0 matches the numerical gradient (the check run again with it summed: ``gradcheck.batchaxis``).

The expected verdicts are known by construction: ``dout.sum(axis=0)`` is the exact gradient of
``sum((x @ w + b) * dout)`` in ``b``, and ``2 * dout`` summed is twice it.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import GradcheckValueError, check_gradients, check_layer, check_model, check_net, nn

MATCHES = r"extra leading axis of 5 \(one gradient per sample\?\); summed over axis 0 it matches the numerical gradient"
DIFFERS = r"extra leading axis of 5 \(one gradient per sample\?\); summed over axis 0 it does not match"


def point():
    rng = np.random.default_rng(0)
    return {"x": rng.standard_normal((5, 3)), "w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}


def fwd(x, w, b):
    return x @ w + b, (x, w, b)


def bwd(dout, cache, db_scale=1.0):
    x, w, _b = cache
    return dout @ w.T, x.T @ dout, db_scale * dout  # db not summed over the batch


def test_check_layer_names_the_unsummed_bias_and_its_right_sum():
    with pytest.raises(GradcheckValueError, match=MATCHES + r".*use \.sum\(axis=0\)$"):
        check_layer(fwd, bwd, point())


def test_check_layer_says_when_the_sum_is_wrong_too():
    with pytest.raises(GradcheckValueError, match=DIFFERS + r" .*4 of 4 entries off.*summing alone does not fix it"):
        check_layer(fwd, lambda dout, cache: bwd(dout, cache, 2.0), point())


def test_check_layer_keeps_other_shape_errors_bare():
    def transposed(dout, cache):
        dx, dw, db = bwd(dout, cache)
        return dx, dw.T, db.sum(axis=0)
    with pytest.raises(GradcheckValueError, match=r"the gradient of w has shape \(4, 3\), expected \(3, 4\)") as e:
        check_layer(fwd, transposed, point())
    assert "extra leading axis" not in str(e.value)


def test_check_gradients_names_the_unsummed_bias():
    p = point()
    dout = np.random.default_rng(1).standard_normal((5, 4))

    def f(q):
        return float(np.sum((p["x"] @ q["w"] + q["b"]) * dout))

    params = {"w": p["w"], "b": p["b"]}
    with pytest.raises(GradcheckValueError, match=r"grads\['b'\] has shape \(5, 4\).*" + MATCHES):
        check_gradients(f, {"w": p["x"].T @ dout, "b": dout}, params)
    with pytest.raises(GradcheckValueError, match=r"grads\['b'\].*" + DIFFERS):
        check_gradients(f, {"w": p["x"].T @ dout, "b": 2.0 * dout}, params)


def _mlp_backward(q, x, y):
    z = x @ q["W1"] + q["b1"]
    a = np.tanh(z)
    out = a @ q["W2"] + q["b2"]
    d = 2.0 * (out - y) / out.size
    dz = d @ q["W2"].T * (1.0 - a ** 2)
    return {"W1": x.T @ dz, "b1": dz, "W2": a.T @ d, "b2": d.sum(axis=0)}  # b1 unsummed


def test_check_model_names_the_unsummed_bias():
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.Tanh(), nn.Dense("W2", "b2"), loss=nn.MSE(reduction="mean"))
    rng = np.random.default_rng(2)
    q = {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4), "W2": rng.standard_normal((4, 2)),
         "b2": rng.standard_normal(2)}
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    with pytest.raises(GradcheckValueError, match=r"\['b1'\] has shape \(5, 4\).*" + MATCHES):
        check_model(model, q, x, y, backward=_mlp_backward)


class _Net:
    """A DLFS-style net: ``params``, ``loss(x, t)``, ``gradient(x, t)``, one affine layer and squared error."""

    def __init__(self, rng, keepdims=False):
        self.keepdims = keepdims
        self.params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal((1, 4) if keepdims else 4)}

    def loss(self, x, t):
        return 0.5 * float(np.sum((x @ self.params["W"] + self.params["b"] - t) ** 2))

    def gradient(self, x, t):
        d = x @ self.params["W"] + self.params["b"] - t
        return {"W": x.T @ d, "b": d}  # b unsummed


@pytest.mark.parametrize("keepdims", [False, True])
def test_check_net_names_the_unsummed_bias(keepdims):
    rng = np.random.default_rng(3)
    net = _Net(rng, keepdims)
    x, t = rng.standard_normal((5, 3)), rng.standard_normal((5, 4))
    advice = r"\.sum\(axis=0, keepdims=True\)$" if keepdims else r"\.sum\(axis=0\)$"
    with pytest.raises(GradcheckValueError, match=MATCHES + ".*" + advice):
        check_net(net, x, t)
