"""Diagnoses that name what the evidence shows, and no more (red team rt18: F2, F4, F5).

F4: a gradient that holds another parameter's gradient is a swap only when
the other holds this one's in turn; a batch norm's ``dgamma = sum(dout)``
(the xhat left out) is beta's gradient while beta's own passes.
F5: the book's ``log(y + 1e-7)`` at a saturated softmax: the backward
differentiates ``log(y)``, and the difference is read sample by sample from
each sample's loss.
"""
from __future__ import annotations

import dlfs
import numpy as np
import pytest

import reference_models as rm
from cs231n_layers import batchnorm_backward, batchnorm_forward
from gradcheck import check_layer, check_model, check_net
from gradcheck.diagnose import diagnose

RNG = np.random.default_rng(2)
BN_INPUTS = {"x": RNG.normal(size=(4, 4)), "gamma": RNG.normal(size=4), "beta": RNG.normal(size=4)}


def _dgamma_without_xhat(dout, cache):  # planted: dgamma = sum(dout), which is dbeta
    dx, _dgamma, dbeta = batchnorm_backward(dout, cache)
    return dx, dout.sum(axis=0), dbeta


def _gamma_beta_swapped(dout, cache):  # planted: a real swap
    dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    return dx, dbeta, dgamma


def test_dgamma_without_xhat_is_not_called_a_swap_while_beta_passes():
    r = check_layer(batchnorm_forward, _dgamma_without_xhat, BN_INPUTS)
    assert r["beta"].passed and not r["gamma"].passed
    d = r["gamma"].diagnosis
    assert d.code == "swapped" and d.detail["other"] == "beta" and d.detail["template"] == "swapped.copy"
    assert "swapped or mislabelled" not in d.message and "not swapped" in d.message and "xhat" in d.message
    ko = d.in_language("ko").message
    assert "바뀐 것이 아니라" in ko and "xhat" in ko


def test_a_real_swap_is_still_called_one():
    r = check_layer(batchnorm_forward, _gamma_beta_swapped, BN_INPUTS)
    for name, other in (("gamma", "beta"), ("beta", "gamma")):
        d = r[name].diagnosis
        assert d.code == "swapped" and d.detail["other"] == other and "template" not in d.detail, d
        assert "swapped or mislabelled" in d.message


def test_the_graders_diagnosis_tells_a_copy_from_a_swap():
    exact = {"W1": np.array([[1.0, -2.0], [0.5, 3.0]]), "W2": np.array([[4.0, 1.0], [-1.0, 2.0]])}
    copied = diagnose({"W1": exact["W2"], "W2": exact["W2"]}, exact)
    assert copied["W2"].code == "correct" and copied["W1"].detail["template"] == "swapped.copy"
    swapped = diagnose({"W1": exact["W2"], "W2": exact["W1"]}, exact)
    assert all(d.code == "swapped" and "template" not in d.detail for d in swapped.values())


def _saturated(delta, net_class=dlfs.TwoLayerNet):
    """rt18 F5's kind of point: weights of size 3 on 10 samples, so 6 true classes get a probability below 1e-10."""
    rng = np.random.RandomState(0)
    x, t = rng.randn(10, 6), rng.randint(0, 3, 10)
    net = net_class(6, 5, 3, weight_init_std=3.0, seed=0, delta=delta)
    return net, x, t


def _p_true(net, x, t):
    z = net.predict(x)
    return dlfs.softmax(z)[np.arange(len(t)), t]


def test_log_plus_1e_7_at_a_saturated_softmax_is_named():
    net, x, t = _saturated(1e-7)
    assert np.min(_p_true(net, x, t)) < 1e-10  # what makes the point saturated (y far below 1e-7)
    r = check_net(net, x, t)
    assert not r.passed
    for c in r.failed:
        d = c.diagnosis
        assert d.code == "wrong" and d.detail["template"] == "wrong.log_epsilon", d
        assert d.detail["eps"] == 1e-7 and "log(y + 1e-7)" in d.message
        assert d.detail["n_saturated"] == int(np.sum(_p_true(net, x, t) < 1e-7))
        assert "log(y + 1e-7)" in d.in_language("ko").message


def test_the_same_net_without_the_epsilon_passes_there():
    assert check_net(*_saturated(0.0)).passed


def test_another_bug_at_the_saturated_point_is_not_blamed_on_an_epsilon():
    # no epsilon in the loss, a lost 1/N in the backward: a factor, not an epsilon
    r = check_net(*_saturated(0.0, dlfs.TwoLayerNetGradientMissing1OverN))
    assert not r.passed and all(c.diagnosis.detail.get("template") != "wrong.log_epsilon" for c in r.failed)

    class EpsilonAndWrongDb1(dlfs.TwoLayerNet):  # the epsilon and a second bug: the sum no longer fits
        def gradient(self, x, t):
            g = super().gradient(x, t)
            return {**g, "b1": g["b1"] * 1.5}

    r = check_net(*_saturated(1e-7, EpsilonAndWrongDb1))
    assert not r.passed and all(c.diagnosis.detail.get("template") != "wrong.log_epsilon" for c in r.failed)


@pytest.mark.parametrize("delta", [1e-7, 1e-8])
def test_log_plus_epsilon_at_a_normal_point_is_named_too(delta):
    r = check_net(dlfs.TwoLayerNet(6, 5, 3, delta=delta), *dlfs.batch())
    assert not r.passed
    for c in r.failed:
        assert c.diagnosis.detail["template"] == "wrong.log_epsilon" and c.diagnosis.detail["eps"] == delta
        assert c.diagnosis.detail["n_saturated"] == 0


def test_a_real_swap_of_tiny_gradients_in_a_check_is_not_called_one_way():
    # onehot_222's W2 gradient is ~1e-6: W3 holding it differs from W2's estimate by more than the pattern
    # tolerance alone, within its error bars; "W3 does not hold W2's" would be false
    model = rm.get("onehot_222")
    rng = np.random.default_rng(3)
    p = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    exact = model.backward(p, x, y)
    r = check_model(model, p, x, y, grads={**exact, "W2": exact["W3"], "W3": exact["W2"]})
    d = r["W2"].diagnosis
    assert d.code == "swapped" and d.detail.get("template") != "swapped.copy", d


class SummedLossNet(dlfs.TwoLayerNet):
    """The book's net with its loss summed over the batch (N times the mean), and a backward that forgot nothing."""

    def loss(self, x, t):
        return super().loss(x, t) * len(x)

    def gradient(self, x, t):
        return {k: g * len(x) for k, g in super().gradient(x, t).items()}


def test_check_net_names_a_factors_cause_from_how_its_loss_weighs_the_samples():
    r = check_net(dlfs.TwoLayerNetGradientMissing1OverN(6, 5, 3), *dlfs.batch(n=5))
    for c in r.failed:
        d = c.diagnosis
        assert d.detail["template"] == "scale.named" and d.detail["cause_key"] == "cause.N", d
        assert "the factor 1/N is missing" in d.message and "1/N이 빠졌습니다" in d.in_language("ko").message

    class SummedTimesN(SummedLossNet):  # a sum over the samples, and a gradient N times too big
        def gradient(self, x, t):
            return {k: g * len(x) for k, g in super().gradient(x, t).items()}

    assert check_net(SummedLossNet(6, 5, 3), *dlfs.batch(n=5)).passed
    for c in check_net(SummedTimesN(6, 5, 3), *dlfs.batch(n=5)).failed:
        assert c.diagnosis.detail["cause_key"] == "cause.N.sum", c.diagnosis


class _AffineDb103(dlfs.Affine):  # planted: db 3 % too big in every entry
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = self.db * 1.03
        return dx


def test_a_factor_hidden_by_exact_ties_is_named_from_the_point_moved_off_them():
    # rt18 F2: integer weights and inputs put ReLU inputs exactly at 0; at the point given one entry of db1 passed
    # by its kink's bracket ("wrong in 2 of 3"); off the ties every entry fails, by the same factor
    net = dlfs.TwoLayerNet(2, 3, 2)
    net.params["W1"][...] = [[1.0, -1.0, 1.0], [1.0, 1.0, -1.0]]
    net.params["W2"][...] = [[1.0, -1.0], [2.0, 0.0], [-1.0, 1.0]]
    net.params["b1"][...] = 0.0
    net.params["b2"][...] = 0.0
    net.layers["Affine1"] = _AffineDb103(net.params["W1"], net.params["b1"])
    x = np.array([[1.0, -1.0], [1.0, 1.0], [0.0, 0.0], [2.0, -2.0], [-1.0, 1.0]])
    r = check_net(net, x, np.array([0, 1, 0, 1, 1]))
    c = r["b1"]
    assert not c.passed and c.n_kinks > 0  # what makes the point tied
    assert c.diagnosis.code == "scale" and c.diagnosis.detail["factor"] == pytest.approx(1.03, rel=1e-6), c.diagnosis
    assert any("the diagnosis is from there" in n for n in c.notes), c.notes
