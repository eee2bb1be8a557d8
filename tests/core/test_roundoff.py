"""A numerical gradient is told by its rounding, however it was computed (red team rt17 F1-F3, F15, F17).

The rule (:func:`gradcheck.roundoff.roundoff_noise`) on hand-made triples
of gradients: each entry's second difference, relative to the largest
entry, counts as a finite difference's rounding in ``[1e-13, 1e-7]``, and
a quarter of the entries that moved must carry it.  Then
:func:`gradcheck.check_net` on DLFS nets whose ``gradient()`` is numerical
without ever calling ``net.loss`` or ``net.predict`` (through the layers'
own ``forward``, one einsum over every perturbed copy, a thread), and
honest nets, per-sample ones and nets at exact integer ReLU ties, which
must not be accused.
"""
from __future__ import annotations

import threading

import dlfs
import numpy as np
import pytest

from gradcheck import check_net
from gradcheck.roundoff import RoundoffNoise, moved_points, roundoff_noise

# -- the rule, on triples written by hand ----------------------------------------------------------
# the largest entry is 2.0 in every triple, so a second difference of 2e-16 is 1e-16 of it (rounding
# of backprop) and 2e-12 is 1e-12 (a finite difference's rounding at h ~ 1e-4)
# OFF: the same small irrational offset at all three points (no second difference), so that the values
# lie on no decimal grid: a gradient on one is a rounded result, no evidence (rt19 F11)
OFF = np.sqrt([2.0, 3.0, 5.0, 7.0]) * 1e-6
SMOOTH = ({"W": np.array([1.0, -0.5, 0.25, 2.0]) + OFF},
          {"W": np.array([1.000000001, -0.500000001, 0.250000001, 2.000000001]) + OFF},
          {"W": np.array([1.000000002, -0.500000002, 0.250000002, 2.000000002]) + OFF})


def with_second(third: np.ndarray) -> tuple[dict[str, np.ndarray], ...]:
    return SMOOTH[0], SMOOTH[1], {"W": third + OFF}


def test_a_smooth_gradient_is_not_numerical() -> None:
    noise = roundoff_noise(*SMOOTH)
    assert noise.counted == 4 and noise.noisy == 0 and not noise.numerical
    assert noise.typical < 1e-15  # what is left is the rounding of the decimal literals, ~1e-16


def test_a_finite_differences_rounding_in_every_entry_is_numerical() -> None:
    noise = roundoff_noise(*with_second(np.array([1.000000002 + 2e-12, -0.500000002 - 4e-12, 0.250000002 + 1e-12, 2.000000002 - 6e-12])))
    assert (noise.noisy, noise.counted) == (4, 4) and noise.numerical
    assert 1e-12 <= noise.typical <= 2e-12  # |d2| = 2e-12 .. 6e-12 of 2.0, the median 1.5e-12


def test_a_jump_above_the_band_is_a_kink_not_rounding() -> None:
    # a ReLU tie crossed: one entry jumps by 0.1 of the gradient, far above 1e-7: not noisy
    noise = roundoff_noise(*with_second(np.array([1.000000002 + 0.2, -0.500000002, 0.250000002, 2.000000002])))
    assert noise.noisy == 0 and not noise.numerical


@pytest.mark.parametrize(("n_entries", "numerical"), [(4, True), (5, False)])
def test_one_noisy_entry_is_numerical_only_as_a_quarter_of_the_entries(n_entries: int, numerical: bool) -> None:
    g = np.arange(1.0, n_entries + 1.0) + np.sqrt(np.arange(2.0, n_entries + 2.0)) * 1e-6  # off any decimal grid
    third = 2 * g - g + np.r_[1e-11, np.zeros(n_entries - 1)] * n_entries  # one entry 1e-11 of the largest off the line
    noise = roundoff_noise({"W": g}, {"W": g}, {"W": third})
    assert (noise.noisy, noise.counted) == (1, 1)  # only that entry moved at all
    wider = {"W": g + 1.0}  # every entry moves, linearly: counted, none noisy
    noise = roundoff_noise({"W": g}, {"W": g + 0.5}, {"W": np.where(np.arange(n_entries) == 0, third + 1.0, wider["W"])})
    assert noise.counted == n_entries and noise.noisy == 1 and noise.numerical is numerical


def test_entries_equal_at_all_three_points_are_no_evidence() -> None:
    g = {"W": np.array([0.0, 3.0, -1.0])}
    assert roundoff_noise(g, g, g) == RoundoffNoise(0, 0, 0.0)


def test_float32_rounding_is_at_the_bands_edge_not_inside_it() -> None:
    # float32 steps of 1.2e-7 of an entry of size 1 (the largest 2.0): second difference 2.4e-7 / 2 = 1.2e-7 > 1e-7
    b = {"W": np.array([1.0, 2.0])}
    noise = roundoff_noise(b, {"W": np.array([1.0 + 2 ** -23, 2.0])}, b)
    assert noise.counted == 1 and noise.noisy == 0


def test_only_shared_keys_of_one_shape_are_read_and_non_numbers_are_no_evidence() -> None:
    a, b = SMOOTH[0], SMOOTH[1]
    noisy = {"W": SMOOTH[2]["W"] + 1e-11 * np.sqrt(2.0), "extra": np.ones(3)}
    assert roundoff_noise(a, b, noisy).counted == 4
    assert roundoff_noise(a, b, {"W": np.ones(2)}).counted == 0
    assert roundoff_noise(a, b, {"W": np.array([np.nan, 1.0, 1.0, 1.0])}) == RoundoffNoise(0, 0, 0.0)
    assert roundoff_noise(a, b, {"W": "not computed yet"}) == RoundoffNoise(0, 0, 0.0)  # a student's gradient may be anything


def test_the_moved_points_are_a_ray_of_1e9_relative_steps_and_leave_the_point_alone() -> None:
    p = {"W": np.array([[2.0, -0.5], [0.0, 300.0]]), "b": np.array(0.25)}
    keep = {k: v.copy() for k, v in p.items()}
    first, second, third = moved_points(p, seed=3)
    for k in p:
        assert np.array_equal(p[k], keep[k])
        step = np.maximum(np.abs(p[k]), 1.0) * 1e-9  # max(|p|, 1) * 1e-9: [[2e-9, 1e-9], [1e-9, 3e-7]], 1e-9
        d = first[k] - p[k]
        np.testing.assert_allclose(np.abs(d), step, rtol=1e-6)  # rtol: the subtraction's rounding, ~eps |p| / |d|
        np.testing.assert_allclose(second[k] - p[k], 2 * d, rtol=1e-6)
        np.testing.assert_allclose(third[k] - p[k], 3 * d, rtol=1e-6)
    again = moved_points(p, seed=3)
    assert all(np.array_equal(again[0][k], first[k]) for k in p)


# -- check_net -------------------------------------------------------------------------------------
def richardson(f, w: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """The red team's recipe: a 4-point stencil, 4th order, at h = 1e-3, moving ``w`` in place."""
    grad = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]
        values = []
        for s in (h, -h, 2 * h, -2 * h):
            w[idx] = old + s
            values.append(f())
        w[idx] = old
        grad[idx] = (8 * (values[0] - values[1]) - (values[2] - values[3])) / (12 * h)
    return grad


class SigmoidNet(dlfs.TwoLayerNet):
    """Sigmoid: smooth, so a stencil's values agree with backprop to ~1e-11 (no kink within its step)."""

    def __init__(self, *sizes):
        super().__init__(*sizes, activation=dlfs.Sigmoid)


class ThroughLayers(SigmoidNet):
    """The stencil calls each layer's ``forward`` itself: net.loss and net.predict never run (rt17 F3)."""

    def gradient(self, x, t):
        def f():
            h = x
            for layer in self.layers.values():
                h = layer.forward(h)
            return self.lastLayer.forward(h, t)
        return {k: richardson(f, self.params[k]) for k in self.params}


class OneEinsum(SigmoidNet):
    """W1's gradient from one vectorised evaluation of every perturbed copy (einsum); the rest by backprop."""

    def gradient(self, x, t):
        grads = super().gradient(x, t)
        W1, b1, W2, b2 = (self.params[k] for k in ("W1", "b1", "W2", "b2"))
        h, steps = 1e-3, np.array([1.0, -1.0, 2.0, -2.0]) * 1e-3
        eye = np.eye(W1.size).reshape(W1.size, *W1.shape)
        copies = W1 + steps[:, None, None, None] * eye  # (4, P, in, hidden)
        z = 1 / (1 + np.exp(-(np.einsum("ni,spih->spnh", x, copies) + b1))) @ W2 + b2
        z = z - z.max(axis=-1, keepdims=True)
        losses = np.mean(np.log(np.exp(z).sum(-1)) - z[..., np.arange(len(t)), t], axis=-1)  # (4, P)
        grads["W1"] = ((8 * (losses[0] - losses[1]) - (losses[2] - losses[3])) / (12 * h)).reshape(W1.shape)
        return grads


class InAThread(SigmoidNet):
    """The stencil through net.loss, in a thread: the count sees nothing (rt17 F3 addendum)."""

    def gradient(self, x, t):
        out = {}
        worker = threading.Thread(target=lambda: out.update({k: richardson(lambda: self.loss(x, t), self.params[k]) for k in self.params}))
        worker.start()
        worker.join()
        return out


ROUNDOFF = "second difference"


@pytest.mark.parametrize("cls", [ThroughLayers, OneEinsum, InAThread])
def test_a_numerical_gradient_the_count_misses_is_told_by_its_rounding(cls) -> None:
    x, t = dlfs.batch()
    net = cls(6, 5, 3)
    honest = SigmoidNet(6, 5, 3).gradient(x.copy(), t.copy())
    got = net.gradient(x.copy(), t.copy())
    assert all(np.abs(got[k] - honest[k]).max() <= 1e-9 * np.abs(honest[k]).max() for k in honest)  # the values pass
    r = check_net(net, x, t)
    assert not r.passed
    found = [p for p in r.problems if ROUNDOFF in p]
    assert len(found) == 1 and found[0].startswith("net.gradient computes a numerical gradient, not backpropagation"), r.problems
    assert not any("called net." in p for p in r.problems)  # the count saw nothing


@pytest.mark.parametrize(("cls", "sizes", "n"), [(dlfs.TwoLayerNet, (6, 5, 3), 5), (dlfs.PerSampleNet, (2, 2, 2), 16),
                                                  (dlfs.PerSampleNet, (6, 5, 4), 9)])
def test_backprop_is_not_accused(cls, sizes, n) -> None:
    x, t = dlfs.batch(n, sizes[0], sizes[2])
    r = check_net(cls(*sizes), x, t)
    assert r.passed, r.problems
    assert not any("numerical" in p for p in r.problems)


class Accumulating(dlfs.TwoLayerNet):
    """Backpropagation into buffers never zeroed: every call returns the sum of all calls so far (rt21 F5)."""

    def gradient(self, x, t):
        g = super().gradient(x, t)
        if not hasattr(self, "acc"):
            self.acc = {k: np.zeros_like(v) for k, v in g.items()}
        for k in g:
            self.acc[k] += g[k]
        return self.acc


def test_an_accumulating_backprop_is_told_as_such_not_accused_of_being_numerical() -> None:
    """Its second difference along the moved points measures the sums, not a finite difference's rounding: no
    evidence about how it was computed, while two calls at one point differing is certain."""
    x, t = dlfs.batch()
    r = check_net(Accumulating(6, 5, 3), x, t)
    assert not r.passed
    assert "not deterministic" in r.problems[0] and "added to" in r.problems[0], r.problems
    assert not any("numerical" in p for p in r.problems), r.problems


def integer_net(sizes: tuple[int, ...], n: int, seed: int) -> tuple[dlfs.TwoLayerNet, np.ndarray, np.ndarray]:
    """Integer weights and inputs in -2..2, zero biases: many pre-activations exactly 0 (rt17 s/ties.py)."""
    rng = np.random.default_rng(seed)
    net = dlfs.TwoLayerNet(*sizes)
    for k, a in net.params.items():
        a[...] = 0.0 if k.startswith("b") else rng.integers(-2, 3, a.shape)
    x = rng.integers(-2, 3, (n, sizes[0])).astype(float)
    return net, x, rng.integers(0, sizes[-1], n)


@pytest.mark.parametrize("sizes", [(6, 5, 4), (64, 32, 10)])
def test_exact_relu_ties_are_not_mistaken_for_rounding(sizes) -> None:
    net, x, t = integer_net(sizes, 16, seed=3)
    z = x @ net.params["W1"]
    assert np.sum(z == 0) >= 5  # the premise: ties at the point checked
    r = check_net(net, x, t)
    assert not any(ROUNDOFF in p for p in r.problems), r.problems


# -- a kink a few moves from the point (rt18: 3 of 50 distances accused a correct net) -------------
SEED = 5


def kink_net(moves: float) -> tuple[dlfs.TwoLayerNet, np.ndarray, np.ndarray]:
    """A 3-4-2 net whose hidden pre-activation [2, 1] crosses 0 at ``p + moves d`` (set through b1[1])."""
    rng = np.random.default_rng(44)
    x, t = rng.normal(size=(5, 3)), rng.integers(0, 2, 5)
    net = dlfs.TwoLayerNet(3, 4, 2, weight_init_std=0.8, seed=45)
    first = moved_points(net.params, SEED)[0]  # the check's seed seeds the moves (gradcheck.roundoff)
    dz = x[2] @ (first["W1"][:, 1] - net.params["W1"][:, 1]) + first["b1"][1] - net.params["b1"][1]
    net.params["b1"][1] += -moves * dz - (x[2] @ net.params["W1"] + net.params["b1"])[1]
    return net, x, t


def ray_alone(net: dlfs.TwoLayerNet, x: np.ndarray, t: np.ndarray) -> RoundoffNoise:
    """What the ray p + d, p + 2 d, p + 3 d alone reads (the rule before rt18)."""
    keep = {k: v.copy() for k, v in net.params.items()}
    grads = []
    for q in moved_points(keep, SEED):
        for k, a in net.params.items():
            a[...] = q[k]
        grads.append({k: g.copy() for k, g in net.gradient(x, t).items()})
    for k, a in net.params.items():
        a[...] = keep[k]
    return roundoff_noise(*grads)


@pytest.mark.parametrize("moves", [-1.5, 1.5, 2.5, 0.5, 4.0])
def test_a_kink_crossed_by_the_moves_is_not_rounding(moves: float) -> None:
    net, x, t = kink_net(moves)
    assert ray_alone(net, x, t).numerical is (1 < moves < 3)  # the premise: crossed between p + d and p + 3 d
    r = check_net(net, x, t, seed=SEED)
    assert not any(ROUNDOFF in p for p in r.problems), r.problems
    assert r.passed


class ReluThroughLayers(dlfs.TwoLayerNet):
    gradient = ThroughLayers.gradient  # the stencil through the layers' forward, on a ReLU net


@pytest.mark.parametrize("moves", [1.5, 2.5, -2.0, 1e6])
def test_a_numerical_gradient_is_still_told_next_to_a_kink(moves: float) -> None:
    # the mirror ray is read too: a stencil's rounding lies on both sides of the point
    net, x, t = kink_net(moves)
    net.__class__ = ReluThroughLayers
    assert any(ROUNDOFF in p for p in check_net(net, x, t, seed=SEED).problems)


# -- rt19: float32's level, rounded results, tensor by tensor ------------------------------------------
@pytest.mark.parametrize(("size", "float32"), [(3e-12, False), (1e-10, False), (1e-9, True), (3e-8, True)])
def test_noise_at_float32s_level_is_float32_not_a_finite_difference(size: float, float32: bool) -> None:
    # every entry noisy at about `size` of the largest (2.0): a finite difference at h >= 1e-4 rounds at
    # <= 7.9e-11 of its tensor's largest entry, float32 at >= 8.9e-10 (FLOAT32_LEVEL = 5e-10, measured)
    third = np.array([1.000000002, -0.500000002, 0.250000002, 2.000000002]) + 2 * size * np.array([1.0, -1.3, 0.7, 1.1])
    noise = roundoff_noise(*with_second(third))
    assert noise.numerical and noise.float32 is float32, noise


@pytest.mark.parametrize("decimals", [6, 10, 12, 14])
def test_a_rounded_result_is_no_evidence(decimals: int) -> None:
    # a finite difference's noise (1e-12 of the largest entry) is read, but not once rounded to a decimal grid
    noisy = with_second(np.array([1.000000002 + 2e-12, -0.500000002 - 4e-12, 0.250000002 + 1e-12, 2.000000002 - 6e-12]))
    assert roundoff_noise(*noisy).numerical
    rounded = [{"W": np.round(g["W"], decimals)} for g in noisy]
    assert roundoff_noise(*rounded).counted == 0


def test_each_tensor_is_read_on_its_own_against_the_whole_gradients_scale() -> None:
    from gradcheck.roundoff import roundoff_by_tensor

    smooth = [g["W"] for g in SMOOTH]
    # b: one entry, noisy at 2e-12 of the largest entry of the whole gradient (2.0), 1 of 5 entries in all
    b = [np.array([0.3 + OFF[0]]), np.array([0.3 + OFF[0] + 4e-12 * np.sqrt(2.0)]), np.array([0.3 + OFF[0]])]
    grads = [{"W": w, "b": v} for w, v in zip(smooth, b)]
    assert not roundoff_noise(*grads).numerical  # 1 of 5 entries: under a quarter
    read = roundoff_by_tensor(*grads)
    assert read["b"].numerical and not read["W"].numerical
    # |g3 - 2 g2 + g1| = 2 * 4e-12 * sqrt(2) = 1.13e-11, over the whole gradient's largest entry 2.0: 5.66e-12
    assert (read["b"].noisy, read["b"].counted) == (1, 1) and 5.6e-12 < read["b"].typical < 5.7e-12
