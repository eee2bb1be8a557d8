"""check_net and check_layer on exact ties whose crossings are too weak, or cancel, for the stencil's kink test.

Found by a red team (rt17 F4, F5): a correct DLFS ReLU net 64-32-32-10 with
integer weights and inputs and zero biases failed W1 in 143 of 2048
entries, and a correct (32, 64) x (64, 32) affine_relu failed w in fast
mode.  The re-check at points moved off the ties only overruled a failure
whose every entry its stencil flagged as a kink; but moving W1[48, 9]
crossed ties in opposite directions whose slopes cancel along that entry:
the loss is smooth along it (no kink), its derivative 1.75, and the
backward's fixed relu'(0) gives 1.5.  Such an entry is found by its partial
derivative, which jumps across the point along some move
(:func:`gradcheck.check._jumps`); an entry whose derivative is smooth there
still fails, whatever the moved points say.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck import check_layer, check_net, format_result
from gradcheck.check import _jumps
from gradcheck.numeric import FunctionPoint

MOVED = "moved off the ties"


class Affine:
    def __init__(self, W: np.ndarray, b: np.ndarray) -> None:
        self.W, self.b = W, b

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T


class Relu:
    """The book's ReLU: relu'(0) = 0."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, 0.0, dout)


class ReluOne(Relu):
    """relu'(0) = 1: as correct as the book's."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x < 0
        return np.where(self.mask, 0.0, x)


class Leaky(Relu):  # planted: a 0.05 slope below 0
    def backward(self, dout: np.ndarray) -> np.ndarray:
        return np.where(self.mask, 0.05 * dout, dout)


class MaskFromOutput(Relu):  # planted: the mask taken from the output, which is never negative: relu' = 1
    def forward(self, x: np.ndarray) -> np.ndarray:
        out = np.maximum(x, 0.0)
        self.mask = out < 0
        return out


class SignFlip(Relu):  # planted: the sign of one slope flipped, at the first unit of sample 0 that is on (no tie)
    def backward(self, dout: np.ndarray) -> np.ndarray:
        d = super().backward(dout)
        j = int(np.argmin(self.mask[0]))
        d[0, j] *= -1.0
        return d


class Softmax:
    def forward(self, x: np.ndarray, t: np.ndarray) -> float:
        z = x - x.max(axis=1, keepdims=True)
        self.t, self.y = t, np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        return float(-np.mean(z[np.arange(len(t)), t] - np.log(np.exp(z).sum(axis=1))))

    def backward(self) -> np.ndarray:
        d = self.y.copy()
        d[np.arange(len(self.t)), self.t] -= 1.0
        return d / len(self.t)


class Net:
    """A DLFS-style ReLU net; ``bug`` names a planted mistake of its gradient()."""

    def __init__(self, sizes: list[int], x: np.ndarray, rng: np.random.Generator, relu: type = Relu,
                 bug: str | None = None) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.layers: list[Any] = []
        for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), 1):
            self.params[f"W{i}"] = rng.integers(-2, 3, (a, b)).astype(float)
            self.params[f"b{i}"] = np.zeros(b)
            self.layers += [Affine(self.params[f"W{i}"], self.params[f"b{i}"])] + ([relu()] if i < len(sizes) - 1 else [])
        self.last, self.bug = Softmax(), bug

    def predict(self, x: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def loss(self, x: np.ndarray, t: np.ndarray) -> float:
        return self.last.forward(self.predict(x), t)

    def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
        self.loss(x, t)
        d = self.last.backward()
        for layer in reversed(self.layers):
            d = layer.backward(d)
        affine = self.layers[::2]
        g = {k: v for i, a in enumerate(affine, 1) for k, v in ((f"W{i}", a.dW.copy()), (f"b{i}", a.db.copy()))}
        if self.bug == "zero_row_dW1":
            g["W1"][3] = 0.0
        elif self.bug == "dW2_1pct":
            g["W2"] *= 1.01
        elif self.bug == "on_ties_W3" and (self.layers[0].x @ self.params["W1"] == 0).any():
            g["W3"][0, 0] += 0.01  # planted: wrong at an entry that moves no tie, on exact ties only
        return g


def tied_net(relu: type = Relu, bug: str | None = None, sizes: tuple[int, ...] = (48, 24, 16, 6),
             seed: int = 3) -> tuple[Net, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x, t = rng.integers(-2, 3, (12, sizes[0])).astype(float), rng.integers(0, sizes[-1], 12)
    net = Net(list(sizes), x, rng, relu, bug)
    return net, x, t


def test_the_premise_ties_at_the_point() -> None:
    net, x, _ = tied_net()
    assert (x @ net.params["W1"] == 0).sum() == 6  # layer 1; layer 2 has its own


@pytest.mark.parametrize("relu", [Relu, ReluOne])
def test_a_correct_net_on_weak_ties_passes_and_says_where_it_was_checked(relu: type) -> None:
    net, x, t = tied_net(relu)
    before = {k: v.copy() for k, v in net.params.items()}
    r = check_net(net, x, t)
    assert r.passed, format_result(r)
    assert any(MOVED in n for c in r.params for n in c.notes)
    assert all(np.array_equal(net.params[k], before[k]) for k in before)


@pytest.mark.parametrize("relu, bug, wrong", [(Leaky, None, "W1"), (MaskFromOutput, None, "W1"),
                                             (Relu, "zero_row_dW1", "W1"), (Relu, "dW2_1pct", "W2"),
                                             (SignFlip, None, "W1"), (Relu, "on_ties_W3", "W3")])
@pytest.mark.parametrize("mode", ["full", "fast"])
def test_planted_bugs_still_fail_on_ties(relu: type, bug: str | None, wrong: str, mode: str) -> None:
    r = check_net(*tied_net(relu, bug), mode=mode)
    assert not r.passed and not r[wrong].passed, format_result(r)


@pytest.mark.parametrize("relu, bug", [(Leaky, None), (MaskFromOutput, None), (Relu, "zero_row_dW1"),
                                       (Relu, "dW2_1pct"), (SignFlip, None)])
def test_planted_bugs_fail_off_ties(relu: type, bug: str | None) -> None:
    net, x, t = tied_net(relu, bug)
    rng = np.random.default_rng(9)
    for v in net.params.values():
        v += 0.1 * rng.standard_normal(v.shape)
    assert not check_net(net, x, t).passed


def test_a_jump_is_a_tie_and_a_smooth_entry_is_not() -> None:
    # |w0 + w1| sits on its kink (a tie); w0 moves it, w2 does not (a cubic term: r(1) = 8 r(1/2), not a jump)
    f = lambda a: float(abs(a["w"][0] + a["w"][1]) + 3.0 * a["w"][2] ** 3 + a["w"][0] * a["w"][2])  # noqa: E731
    point = FunctionPoint(f, {"w": np.array([1.0, -1.0, 0.5])})
    point.f0 = point.value()
    move = {"w": np.array([0.3, 0.2, -0.4])}  # w0 + w1 moves by 0.5 s: the kink is crossed between s = -1/4 and 1/4
    assert _jumps(point, "w", 0, move) and _jumps(point, "w", 1, move)
    assert not _jumps(point, "w", 2, move)
    assert not _jumps(point, "w", 0, {"w": np.array([0.3, -0.3, -0.4])})  # a move along the tie: no jump there


# -- check_layer, fast mode ---------------------------------------------------------------------------

def affine_relu_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, Any]:
    a = x @ w + b
    return np.maximum(a, 0.0), (x, w, a)


def affine_relu_backward(dout: np.ndarray, cache: Any, slope: float = 0.0) -> tuple[np.ndarray, ...]:
    x, w, a = cache
    da = dout * np.where(a > 0, 1.0, slope)
    return da @ w.T, x.T @ da, da.sum(axis=0)


def leaky_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, ...]:
    return affine_relu_backward(dout, cache, 0.05)


def tied_layer_point() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(40)
    return {"x": rng.integers(-2, 3, (24, 48)).astype(float), "w": rng.integers(-2, 3, (48, 40)).astype(float),
            "b": np.zeros(40)}


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_correct_affine_relu_on_ties_passes(mode: str) -> None:
    point = tied_layer_point()
    assert (point["x"] @ point["w"] == 0).sum() >= 10
    r = check_layer(affine_relu_forward, affine_relu_backward, point, mode=mode)
    assert r.passed, format_result(r)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_a_leaky_affine_relu_on_ties_fails(mode: str) -> None:
    r = check_layer(affine_relu_forward, leaky_backward, tied_layer_point(), mode=mode)
    assert not r.passed


# -- near ties: pre-activations a few hundredths of a step from 0 (rt18 F14) -----------------------------------

def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.maximum(x, 0.0), x


def relu_backward(dout: np.ndarray, cache: Any, slope: float = 1.0) -> np.ndarray:
    return dout * np.where(cache > 0, slope, 0.0)


@pytest.mark.parametrize("seed", range(6))
def test_a_relu_at_near_ties_passes_and_a_slope_four_percent_off_fails(seed: int) -> None:
    # inputs of 1e-8 times small integers (a step is 6e-6): before, a correct relu failed at 5 of these 6 points
    x = 1e-8 * np.random.default_rng(seed + 70).integers(-2, 3, (3, 4)).astype(float)
    assert check_layer(relu_forward, relu_backward, {"x": x}, seed=seed).passed
    wrong = lambda dout, cache: relu_backward(dout, cache, 1.04)  # noqa: E731
    assert not check_layer(relu_forward, wrong, {"x": x}, seed=seed).passed
