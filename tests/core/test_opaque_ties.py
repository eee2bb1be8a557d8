"""check_net and check_layer at points on exact ReLU ties (integer weights and inputs, zero biases).

There, moving one weight can cross several ties at once, and a correct
backward with any fixed relu'(0) can lie outside the one-sided bracket
(see test_exact_ties.py for check_model).  With no structure to look at,
a failure whose every entry its stencil flags as a kink is checked again
at two points moved off the ties, by calling the user's own forward and
backward there (check._kinks_off_ties): it is overruled only when it
passes at both.  These tests hold both sides: the correct code of a red
team's report passes, and backwards that are wrong away from the ties
(or at entries that are no kink) still fail.
"""
from __future__ import annotations

from typing import Any

import dlfs
import numpy as np
import pytest

from gradcheck import check_layer, check_net, format_result
from gradcheck.check import TIE_NUDGE

MOVED = "moved off the ties"


def integer_net(net_class: type = dlfs.TwoLayerNet) -> tuple[Any, np.ndarray, np.ndarray]:
    """Integer weights and inputs, zero biases (as in a red team's report, rt16 F4): 14 of 40 pre-activations
    exactly 0, and the book's correct net failed 5 of the 20 entries of W1, each at a kink."""
    rng = np.random.default_rng(3)
    x, t = rng.integers(-1, 2, (8, 4)).astype(float), rng.integers(0, 3, 8)
    net = net_class(4, 5, 3)
    net.params["W1"][...] = rng.integers(-2, 3, (4, 5))
    net.params["W2"][...] = rng.integers(-2, 3, (5, 3))
    net.params["b1"][...] = net.params["b2"][...] = 0.0
    assert (x @ net.params["W1"] == 0).sum() == 14  # on ties (the premise of these tests)
    return net, x, t


def hand_gradient(p: dict[str, np.ndarray], x: np.ndarray, t: np.ndarray, bug: str | None = None) -> dict[str, np.ndarray]:
    """The TwoLayerNet's gradient written out (relu'(0) = 0, as the book's mask x <= 0), independently of gradcheck."""
    z1 = x @ p["W1"] + p["b1"]
    h = np.maximum(z1, 0.0)
    s = h @ p["W2"] + p["b2"]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    ds = e / e.sum(axis=1, keepdims=True)
    ds[np.arange(len(t)), t] -= 1.0
    ds /= len(t)
    dz1 = (ds @ p["W2"].T) * (z1 > 0)
    g = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ ds, "b2": ds.sum(axis=0)}
    if bug == "no_db1":
        g["b1"] = np.zeros_like(g["b1"])
    elif bug == "W2_1pct":
        g["W2"] = g["W2"] * 1.01
    elif bug == "W1_1pct":
        g["W1"] = g["W1"] * 1.01
    elif bug == "off_ties_1pct" and not (z1 == 0).any():  # planted: right on exact ties only
        g = {k: v * 1.01 for k, v in g.items()}
    elif bug == "on_ties_W2" and (z1 == 0).any():  # planted: wrong at a smooth entry, on exact ties only
        g["W2"][0, 0] += 0.01
    return g


class HandNet(dlfs.TwoLayerNet):
    bug: str | None = None

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        return hand_gradient(self.params, x, t, self.bug)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_red_teams_correct_net_passes_on_ties_and_says_where_it_was_checked(mode: str) -> None:
    net, x, t = integer_net()
    before = {k: v.copy() for k, v in net.params.items()}
    r = check_net(net, x, t, mode=mode)
    assert r.passed, format_result(r)
    notes = " ".join(r["W1"].notes)
    assert MOVED in notes and "at a kink its stencil detected" in notes and f"{TIE_NUDGE:g}" in notes, notes
    assert all(np.array_equal(net.params[k], before[k]) for k in before)  # put back bit for bit


def test_the_hand_written_gradient_passes_on_ties_too() -> None:
    net, x, t = integer_net(HandNet)
    assert check_net(net, x, t).passed


@pytest.mark.parametrize("bug, wrong", [("off_ties_1pct", "W1"), ("no_db1", "b1"), ("W2_1pct", "W2"),
                                        ("W1_1pct", "W1"),
                                        ("on_ties_W2", "W2")])
def test_net_backwards_wrong_away_from_the_ties_still_fail(bug: str, wrong: str) -> None:
    """off_ties_1pct is exactly the right gradient at the point (W1 fails there only at kinks, as the correct one
    does) and 1% off everywhere at the moved points; no_db1 fails at kinks and off them; the 1% bugs fail at
    smooth entries; on_ties_W2 fails at a smooth entry at the point and is right at the moved points (its
    failure moves no tie, so it stands)."""
    net, x, t = integer_net(HandNet)
    net.bug = bug
    r = check_net(net, x, t)
    assert not r.passed and not r[wrong].passed, format_result(r)
    if bug in ("off_ties_1pct", "no_db1"):  # failing only at kinks at the point: checked at the moved points, failed
        assert any("wrong beyond the choice of relu'(0)" in n for n in r[wrong].notes), r[wrong].notes


def test_a_failure_at_a_smooth_entry_is_not_rechecked() -> None:
    net, x, t = integer_net(HandNet)
    net.bug = "W2_1pct"
    r = check_net(net, x, t)
    assert not any(MOVED in n for n in r["W2"].notes), r["W2"].notes


# -- check_layer: cs231n functions ----------------------------------------------------------------

def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    a = x @ w + b
    return np.maximum(a, 0), (x, w, b, a)


def affine_relu_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, ...]:
    x, w, _b, a = cache
    da = dout * (a > 0)
    return da @ w.T, x.T @ da, da.sum(axis=0)


def affine_relu_backward_off_ties_1pct(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, ...]:
    grads = affine_relu_backward(dout, cache)
    return grads if (cache[3] == 0).any() else tuple(1.01 * g for g in grads)  # planted: right on exact ties only


def affine_relu_backward_db_zero(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, ...]:
    dx, dw, db = affine_relu_backward(dout, cache)
    return dx, dw, np.zeros_like(db)


def layer_point() -> dict[str, np.ndarray]:
    """The red team's point (rt16 ties_layer.py): 8 of 30 pre-activations exactly 0."""
    rng = np.random.default_rng(2)
    return {"x": rng.integers(-2, 3, size=(6, 4)).astype(float), "w": rng.integers(-2, 3, size=(4, 5)).astype(float),
            "b": np.zeros(5)}


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_red_teams_affine_relu_passes_on_ties(mode: str) -> None:
    point = layer_point()
    before = {k: v.copy() for k, v in point.items()}
    r = check_layer(affine_relu_forward, affine_relu_backward, point, mode=mode)
    assert r.passed, format_result(r)
    assert any(MOVED in n for c in r.params for n in c.notes)
    assert all(np.array_equal(point[k], before[k]) for k in before)


@pytest.mark.parametrize("backward, wrong", [(affine_relu_backward_off_ties_1pct, "w"),
                                             (affine_relu_backward_db_zero, "b")])
def test_layer_backwards_wrong_away_from_the_ties_still_fail(backward: Any, wrong: str) -> None:
    r = check_layer(affine_relu_forward, backward, layer_point())
    assert not r.passed and not r[wrong].passed, format_result(r)
    assert any("wrong beyond the choice of relu'(0)" in n for n in r[wrong].notes), r[wrong].notes


# -- check_layer: a DLFS layer object ---------------------------------------------------------------

class AffineRelu:
    """An Affine then a ReLU in one DLFS layer object (relu'(0) = 0)."""

    off_ties_1pct = False

    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b
        self.dW: np.ndarray | None = None
        self.db: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        self.a = x @ self.W + self.b
        return np.maximum(self.a, 0)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        da = dout * (self.a > 0)
        self.dW, self.db = self.x.T @ da, da.sum(axis=0)
        if self.off_ties_1pct and not (self.a == 0).any():  # planted: right on exact ties only
            self.dW = 1.01 * self.dW
        return da @ self.W.T


def test_a_layer_object_passes_on_ties_and_is_put_back() -> None:
    point = layer_point()
    layer = AffineRelu(point["w"], point["b"])
    w0, b0 = layer.W.copy(), layer.b.copy()
    r = check_layer(layer, {"x": point["x"]})
    assert r.passed, format_result(r)
    assert any(MOVED in n for c in r.params for n in c.notes)
    assert np.array_equal(layer.W, w0) and np.array_equal(layer.b, b0) and layer.W is point["w"]


def test_a_layer_object_wrong_away_from_the_ties_still_fails() -> None:
    point = layer_point()
    layer = AffineRelu(point["w"], point["b"])
    layer.off_ties_1pct = True
    r = check_layer(layer, {"x": point["x"]})
    assert not r.passed and not r["W"].passed, format_result(r)
    assert any("wrong beyond the choice of relu'(0)" in n for n in r["W"].notes), r["W"].notes
