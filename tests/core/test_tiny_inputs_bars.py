"""Error bars stay of the size of the rounding when tiny inputs put ReLU kinks near the noise ray (rt18 F13, F16).

Found by a red team (rt18 F13/F16): with inputs of size 1e-8 and zero
biases, pre-activations sit at 0 and a few 1e-8 from it.  The noise of the
loss is measured along a ray that moves every parameter by ``1e-3 h``
(``~6e-9``) per point (:func:`gradcheck.noise.measure_noise`): several
kinks lie inside it, too many for one spike to show, and ECnoise read their
slope jumps as noise of ``~1e-9``: error bars of ``4e-4`` on gradient
entries of ``1e-9``, and a sign-flipped or 100x dW1 passed.  The noise is
rounding only when a ray 1000 times shorter sees it too (a kink's jump
shrinks with the spacing, rounding does not).
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_gradients


def loss(q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> float:
    a = np.maximum(x @ q["W1"] + q["b1"], 0.0)
    z = a @ q["W2"] + q["b2"]
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(x)), y]))


def backward(q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Backprop by hand (the oracle is the math, checked at a point of size 1 below)."""
    z1 = x @ q["W1"] + q["b1"]
    a = np.maximum(z1, 0.0)
    z = a @ q["W2"] + q["b2"]
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(x)), y] -= 1.0
    dz = p / len(x)
    dz1 = (dz @ q["W2"].T) * (z1 > 0)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a.T @ dz, "b2": dz.sum(0)}


def point(scale: float, seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A 5-3-2 net: integer W1, zero biases, x = scale * integers in -3..3 (pre-activations at 0 and k * scale)."""
    rng = np.random.default_rng([seed, 18])
    q = {"W1": rng.integers(-2, 3, (5, 3)).astype(float), "b1": np.zeros(3),
         "W2": rng.normal(size=(3, 2)), "b2": np.zeros(2)}
    return q, scale * rng.integers(-3, 4, (7, 5)).astype(float), rng.integers(0, 2, 7)


SEEDS = range(8)
#: x = 1e-8 * integers (the red team's scale): gradients of W1 ~1e-9 .. 1e-8; before, a wrong dW1 passed
#: on 7 of these 8 seeds (bars ~1e-3), and the right one failed on 3 (0, 2, 6)
SCALE = 1e-8
#: seeds 0 and 6 still fail a right gradient: a pre-activation exactly at 0 straddled by W1's stencil is
#: not flagged as a kink (rt18 F14, its own finding; not the bars)
STRADDLED = (0, 6)
#: seed 5: W1's largest entry is 1.4e-9 and the loss's own rounding over the step (16 eps |f| / h, 6e-10 with
#: the margin) gives bars of 2.4e-9: a right gradient passes with bars of the order of the gradient and no
#: word of it (a sign flip still fails here).  Left open: a larger step for such entries, or "undecidable".
UNRESOLVED = pytest.mark.xfail(strict=True, reason="bars at the loss's rounding over the step, as large as the gradient")


def test_the_hand_backward_is_right_at_a_point_of_size_one() -> None:
    q, x, y = point(1.0, 99)
    q["b1"] = np.array([0.3, -0.2, 0.1])  # away from every kink
    assert check_gradients(lambda p: loss(p, x, y), backward(q, x, y), q).passed
    bad = backward(q, x, y)
    assert not check_gradients(lambda p: loss(p, x, y), dict(bad, W1=-bad["W1"]), q).passed


def kinks_in_the_ray(t: np.ndarray) -> np.ndarray:
    """A loss along the noise ray (``t`` in steps): three kinks 2e-3 .. 5e-3 steps along, no rounding to speak of."""
    return 0.7 + sum(abs(t * H - c * H) * w for c, w in ((2.1e-3, 1.0), (3.6e-3, -0.6), (5.2e-3, 0.8)))


H = 6e-6


def test_kinks_inside_the_noise_ray_are_not_noise() -> None:
    from gradcheck.noise import measure_noise

    # before: three spikes, no single one standing out, and ECnoise read them as noise of ~1e-9
    assert measure_noise(kinks_in_the_ray, floor=1e-16).sigma < 1e-16
    # rounding is measured as before: it does not shrink with the ray
    rng = np.random.default_rng(7)
    noisy = measure_noise(lambda t: 0.7 + 1e-6 * t + 3e-13 * rng.standard_normal(t.size), floor=1e-16)
    assert 1e-13 < noisy.sigma < 1e-12


@pytest.mark.parametrize("factor", [-1.0, 100.0])
@pytest.mark.parametrize("seed", SEEDS)
def test_a_wrong_dw1_fails_at_tiny_inputs(seed: int, factor: float) -> None:
    q, x, y = point(SCALE, seed)
    g = backward(q, x, y)
    assert np.abs(g["W1"]).max() > 0  # the premise: something to get wrong
    r = check_gradients(lambda p: loss(p, x, y), dict(g, W1=factor * g["W1"]), q)
    assert not r["W1"].passed, r["W1"]


@pytest.mark.parametrize("seed", [pytest.param(s, marks=UNRESOLVED) if s == 5 else s for s in SEEDS if s not in STRADDLED])
def test_a_right_gradient_passes_at_tiny_inputs_with_bars_below_it(seed: int) -> None:
    q, x, y = point(SCALE, seed)
    g = backward(q, x, y)
    r = check_gradients(lambda p: loss(p, x, y), g, q)
    assert r.passed
    bars = [e.allowed for e in r["W1"].worst if not e.kink]  # the worst entries: the widest bars among them
    assert max(bars, default=0.0) < 0.5 * np.abs(g["W1"]).max(), r["W1"].worst  # before: 1e5 times it
