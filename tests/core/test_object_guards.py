"""The guards of check_net and check_layer against hostile user code (a red team's findings).

The promises: the code under check only sees copies of the caller's arrays,
which are never changed; a function that writes into its inputs is reported
(which function, which input, how many entries); a backward or gradient
that is not deterministic is reported (under its own name); the verdict on
the numbers is what a plain central-difference loop on fresh copies gives.
"""
from __future__ import annotations

import dlfs
import numpy as np

from gradcheck import check_net, format_result


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
