"""model.loss and model.forward must be the layers and head the check differentiates (red team, 1 December).

A model that overrides ``loss`` (a weight-decay term, a doubled loss) or
``forward`` deterministically used to pass silently: the check compared the
backward with the layers and head only, and took the override's difference
for rounding.  Now a difference beyond :data:`gradcheck.check.AGREEMENT_ROUNDOFFS`
round-offs is a problem that names both values; the same arithmetic in
another order is not.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_model, nn
from gradcheck.check import AGREEMENT_ROUNDOFFS


def _backward(params, x, y):
    """The gradient of the layers and head: 0.5 * sum((x W + b - y)**2)."""
    d = x @ params["W"] + params["b"] - y
    return {"W": x.T @ d, "b": d.sum(axis=0)}


class Decayed(nn.Sequential):
    """``loss`` plus a weight-decay term the layers and head do not have."""

    def __init__(self, *layers, decay, **kw):
        super().__init__(*layers, **kw)
        self.decay = decay

    def loss(self, params, x, y):
        return super().loss(params, x, y) + self.decay * float(np.sum(params["W"] ** 2))


class Doubled(nn.Sequential):
    """``forward`` twice the layers' output."""

    def forward(self, params, x):
        return 2.0 * super().forward(params, x)


class Reordered(nn.Sequential):
    """The same loss summed in another order: differs from the head by rounding only."""

    def loss(self, params, x, y):
        r = (x @ params["W"] + params["b"] - y).ravel()[::-1]
        return float(0.5 * sum(float(v) ** 2 for v in r))


@pytest.fixture
def point():
    rng = np.random.default_rng(2)  # a point where the reordered sum rounds differently
    params = {"W": rng.standard_normal((4, 3)), "b": rng.standard_normal(3)}
    return params, rng.standard_normal((6, 4)), rng.standard_normal((6, 3))


def _net(cls, **kw):
    return cls(nn.Dense("W", "b"), loss=nn.MSE("half_sum"), **kw)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_loss_with_a_term_the_layers_lack_is_said_whatever_the_backward(point, mode):
    params, x, y = point
    model = _net(Decayed, decay=1e-3)
    plain = _net(nn.Sequential)
    r = check_model(model, params, x, y, backward=_backward, mode=mode)
    assert not r.passed
    said = [p for p in r.problems if ".loss gave" in p]
    assert len(said) == 1, r.problems
    f, g = model.loss(params, x, y), plain.loss(params, x, y)
    assert repr(f) in said[0] and repr(g) in said[0] and "layers and head" in said[0]
    assert all(c.passed for c in r.params)  # the backward is the layers' gradient: only the loss is off


def test_a_tiny_decay_is_still_more_than_rounding(point):
    params, x, y = point
    r = check_model(_net(Decayed, decay=1e-9), params, x, y, backward=_backward)
    assert any(".loss gave" in p for p in r.problems)


def test_the_same_loss_summed_in_another_order_is_not_a_problem(point):
    params, x, y = point
    model = _net(Reordered)
    plain = _net(nn.Sequential)
    assert 0 < abs(model.loss(params, x, y) - plain.loss(params, x, y)) < 1e-13  # rounding, and some of it
    r = check_model(model, params, x, y, backward=_backward)
    assert r.passed and not r.problems, r.problems


def test_a_forward_that_is_not_its_layers_is_said(point):
    params, x, y = point
    r = check_model(_net(Doubled), params, x, y, backward=_backward)
    assert not r.passed
    assert any(".forward's output differs from its layers'" in p for p in r.problems), r.problems


def test_the_allowance_is_rounding_sized():
    """2**10 round-offs of 16 eps: about 3.6e-12 of the numbers' size, far above a reordering's few eps."""
    assert AGREEMENT_ROUNDOFFS * 16 * np.finfo(float).eps == pytest.approx(3.64e-12, rel=1e-2)
