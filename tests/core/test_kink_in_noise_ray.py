"""A pre-activation a fraction of the step from its kink is not read as noise.

Found by a red team (rt17 F13): check_layer and check_net failed a correct
abs or ReLU backward when one pre-activation sat 1e-2 or 1e-3 of the
central-difference step from 0 (and passed at 1e-1 and 1e-4 .. 1e-8).  The
noise of the loss is measured along a ray of nine points ``1e-3 h`` apart
from the point (:func:`gradcheck.noise.measure_noise`); the kink lay inside
that ray, and ECnoise took its slope jump for noise: ``sigma`` came out
millions of times the rounding, the kink test's round-off threshold rose
with it, and the entry's stencil, which straddles the kink, was judged as a
smooth one ("wrong in 1 of 12").  check_model measures no noise and passed.
"""
from __future__ import annotations

from typing import Any

import dlfs
import numpy as np
import pytest

from gradcheck import check_layer, check_net
from gradcheck.numeric import default_step

H = float(default_step(np.zeros(1))[0])
#: distances of the pre-activation from its kink, in steps: the red team's blind band (1e-2 .. 1e-3) and around it
FRACTIONS = (3e-2, 1e-2, 4e-3, 1e-3, 2e-4)
#: the planted bug: the slope of the entries touching the near-kink unit 4% off
WRONG = 1.04


def relu_point(frac: float) -> dict[str, np.ndarray]:
    """x (5, 4) @ w (4, 3) with z[2, 1] = frac * H exactly as far as float64 allows (set through x[2, 0])."""
    rng = np.random.default_rng(20)
    x, w = rng.normal(size=(5, 4)), rng.normal(size=(4, 3))
    x[2, 0] = (frac * H - x[2, 1:] @ w[1:, 1]) / w[0, 1]
    assert abs((x @ w)[2, 1] / H - frac) < 1e-3 * frac  # the premise
    return {"x": x, "w": w}


def relu_forward(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, Any]:
    z = x @ w
    return np.maximum(z, 0.0), (x, w, z)


def relu_backward(dout: np.ndarray, cache: Any, wrong: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    x, w, z = cache
    dz = dout * (z > 0)
    dz[2, 1] *= wrong
    return dz @ w.T, x.T @ dz


def wrong_backward(dout: np.ndarray, cache: Any) -> tuple[np.ndarray, np.ndarray]:
    return relu_backward(dout, cache, WRONG)


def kinked(s: np.ndarray) -> np.ndarray:
    """A loss along the noise ray (``s`` in steps): a kink 0.005 steps along, between its 5th and 6th points."""
    return np.maximum(s * H - 0.005 * H, 0.0) + 0.5 * s * H


def test_a_kink_inside_the_noise_ray_is_not_noise() -> None:
    from gradcheck.noise import kink_inside, measure_noise  # here: the other tests ran before it existed

    assert kink_inside(kinked(1e-3 * np.arange(9)))
    assert not kink_inside(kinked(-1e-3 * np.arange(9)))
    # before: ECnoise read the jump as noise of 2e-10 (the rounding here is below 1e-23)
    assert measure_noise(kinked).sigma < 1e-23
    # the mirror ray leaves the kink behind: a noisy function is measured there
    rng = np.random.default_rng(0)
    noisy = measure_noise(lambda s: kinked(s) + 1e-12 * rng.standard_normal(s.size))
    assert 1e-13 < noisy.sigma < 1e-11 and noisy.values == 18


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("frac", FRACTIONS)
def test_a_correct_relu_layer_near_a_kink_passes_and_a_wrong_one_fails(frac: float, mode: str) -> None:
    assert check_layer(relu_forward, relu_backward, relu_point(frac), mode=mode).passed
    assert not check_layer(relu_forward, wrong_backward, relu_point(frac), mode=mode).passed


class WrongRelu(dlfs.Relu):
    def backward(self, dout: np.ndarray) -> np.ndarray:
        d = super().backward(dout)
        d[1, 2] *= WRONG  # planted: the near-kink unit's slope 4% off
        return d


def near_kink_net(frac: float, relu: type = dlfs.Relu) -> tuple[Any, np.ndarray, np.ndarray]:
    """A 4-5-3 net whose hidden pre-activation [1, 2] sits frac * H from 0 (set through b1[2])."""
    rng = np.random.default_rng(31)
    x, t = rng.normal(size=(6, 4)), rng.integers(0, 3, 6)
    net = dlfs.TwoLayerNet(4, 5, 3, weight_init_std=0.5, seed=32, activation=relu)
    net.params["b1"][2] = frac * H - x[1] @ net.params["W1"][:, 2]
    assert abs((x @ net.params["W1"] + net.params["b1"])[1, 2] / H - frac) < 1e-3 * frac
    return net, x, t


#: check_net's numerical-gradient detector (:mod:`gradcheck.roundoff`) moves the parameters by 1e-9 of their
#: size, three times: a pre-activation 3e-9 .. 7e-9 from its kink (5e-4 .. 1.1e-3 of the step; 3 of 50
#: distances) is crossed, and the correct gradient's jump reads as a finite difference's rounding.
ACCUSED = pytest.mark.xfail(strict=True, reason="roundoff detector: a kink crossed by its moves reads as rounding")


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("frac", [pytest.param(f, marks=ACCUSED) if f == 1e-3 else f for f in FRACTIONS])
def test_a_correct_net_near_a_kink_passes(frac: float, mode: str) -> None:
    r = check_net(*near_kink_net(frac), mode=mode)
    assert all(c.passed for c in r.params)  # the numbers: right at every distance
    assert r.passed


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("frac", FRACTIONS)
def test_a_wrong_net_near_a_kink_fails(frac: float, mode: str) -> None:
    r = check_net(*near_kink_net(frac, WrongRelu), mode=mode)
    assert not r.passed and not all(c.passed for c in r.params)
