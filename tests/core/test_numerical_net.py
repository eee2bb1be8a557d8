"""check_net tells a numerical ``gradient()`` from backpropagation (red team rt16 F19).

A DLFS ``TwoLayerNet`` has both ``gradient`` (backprop) and
``numerical_gradient``; wiring ``gradient`` to the numerical one gives
values within 1e-7 of the exact gradient, which the numbers alone accept.
What gives it away is the work: it calls ``net.loss`` twice per parameter,
where backprop calls it once.  The nets here are the book's, with the
numerical recipes a user may plug in (the book's h = 1e-4 central
difference, a complex step, a 5-point stencil), and honest gradients that
call the loss or predict once (or twice) themselves.
"""
from __future__ import annotations

import dlfs
import numpy as np
import pytest

from gradcheck import check_net
from gradcheck.evaluations import counting_calls, evaluation_limit, is_numerical

N_PARAMS = 6 * 5 + 5 + 5 * 3 + 3  # TwoLayerNet(6, 5, 3): W1, b1, W2, b2


def numerical_gradient(f, x):
    """The book's ``common/gradient.py``: central differences with h = 1e-4, moving ``x`` in place."""
    h = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp = x[idx]
        x[idx] = float(tmp) + h
        fxh1 = f(x)
        x[idx] = tmp - h
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * h)
        x[idx] = tmp
        it.iternext()
    return grad


class NumericalNet(dlfs.TwoLayerNet):
    """``gradient`` is the book's ``numerical_gradient``: no backward runs."""

    def gradient(self, x, t):
        loss_w = lambda w: self.loss(x, t)  # noqa: E731 - the book's own line
        return {k: numerical_gradient(loss_w, self.params[k]) for k in self.params}


def stencil_gradient(f, w, h=1e-2):
    """5-point stencil at h and h/2, Richardson-extrapolated: agrees with the exact gradient to ~1e-12."""
    grad = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        old = w[idx]

        def at(d):
            w[idx] = old + d
            value = f()
            w[idx] = old
            return value

        coarse, fine = ((-at(2 * s) + 8 * at(s) - 8 * at(-s) + at(-2 * s)) / (12 * s) for s in (h, h / 2))
        grad[idx] = (16 * fine - coarse) / 15
    return grad


class StencilNet(dlfs.TwoLayerNet):
    """A high-order stencil through ``predict`` and the loss layer (never ``net.loss``); sigmoid, a smooth net."""

    def __init__(self, *sizes):
        super().__init__(*sizes, activation=dlfs.Sigmoid)

    def gradient(self, x, t):
        f = lambda: self.lastLayer.forward(self.predict(x), t)  # noqa: E731
        return {k: stencil_gradient(f, self.params[k]) for k in self.params}


class ForwardThenLossNet(dlfs.TwoLayerNet):
    """Honest: calls predict for the activations and the loss to report it, then backprops."""

    def gradient(self, x, t):
        self.predict(x)
        self.last_loss = self.loss(x, t)
        return super().gradient(x, t)


def test_the_numerical_nets_are_accurate_enough_to_pass_on_their_values():
    # the premise: the values alone cannot tell (max relative error well under the check's tolerance)
    x, t = dlfs.batch()
    for cls, activation in ((NumericalNet, dlfs.Relu), (StencilNet, dlfs.Sigmoid)):
        honest = dlfs.TwoLayerNet(6, 5, 3, activation=activation).gradient(x.copy(), t.copy())
        got = cls(6, 5, 3).gradient(x.copy(), t.copy())
        for k in honest:
            assert np.abs(got[k] - honest[k]).max() <= 1e-6 * np.abs(honest[k]).max(), (cls.__name__, k)


@pytest.mark.parametrize(("cls", "function"), [(NumericalNet, "net.loss"), (StencilNet, "net.predict")])
def test_a_numerical_gradient_fails_and_says_how_often_it_ran_the_model(cls, function):
    x, t = dlfs.batch()
    r = check_net(cls(6, 5, 3), x, t)
    assert not r.passed
    found = [p for p in r.problems if "numerical gradient, not backpropagation" in p]
    assert len(found) == 1, r.problems
    # central differences call the loss 2 P times (P = 53), the stencil 8 P times
    calls = {NumericalNet: 2 * N_PARAMS, StencilNet: 8 * N_PARAMS}[cls]
    assert found[0].startswith(f"net.gradient called {function} {calls:,} times for {N_PARAMS:,} parameters"), found


@pytest.mark.parametrize("cls", [dlfs.TwoLayerNet, ForwardThenLossNet])
def test_backprop_that_runs_the_forward_itself_is_not_called_numerical(cls):
    x, t = dlfs.batch()
    r = check_net(cls(6, 5, 3), x, t)
    assert r.passed, r.problems
    assert not any("numerical" in p for p in r.problems)


def test_a_numerical_gradient_under_a_profiler_is_not_counted_and_nothing_breaks_but_its_rounding_tells():
    # someone profiling their tests: the check leaves the profiler alone (and counts nothing)
    import sys

    seen = []
    sys.setprofile(lambda frame, event, arg: seen.append(event))
    try:
        x, t = dlfs.batch()
        r = check_net(NumericalNet(6, 5, 3), x, t)
        still = sys.getprofile()
    finally:
        sys.setprofile(None)
    assert still is not None and seen
    assert not any("called net." in p for p in r.problems)  # nothing counted
    # its rounding still tells (gradcheck.roundoff): 2e-12 of the gradient at h = 1e-4, backprop ~1e-16
    assert any("numerical gradient" in p and "second difference" in p for p in r.problems), r.problems


def test_the_rule_needs_about_one_evaluation_per_parameter():
    assert evaluation_limit(N_PARAMS) == 27  # ceil(53 / 2)
    assert evaluation_limit(1) == 8  # never below MIN_EVALUATIONS (rt19 F5)
    assert is_numerical(2 * N_PARAMS, N_PARAMS) and is_numerical(N_PARAMS, N_PARAMS)
    assert not is_numerical(3, N_PARAMS) and not is_numerical(3, 2)


def test_counting_calls_counts_only_the_given_functions():
    def f():
        return g()

    def g():
        return 1

    with counting_calls([g.__code__]) as counts:
        for _ in range(5):
            f()
    assert counts is not None and counts[g.__code__] == 5 and f.__code__ not in counts


@pytest.mark.parametrize(("sizes", "n"), [((2, 2, 2), 16), ((3, 2, 2), 40)])
def test_per_sample_backprop_on_a_small_net_is_not_called_numerical(sizes, n):
    # rt17: 16 per-sample loss calls for 12 parameters were counted as 16 runs of the net, a numerical gradient;
    # each call had one row of the batch: together they ran the net once
    x, t = dlfs.batch(n, sizes[0], sizes[2])
    r = check_net(dlfs.PerSampleNet(*sizes), x, t)
    assert r.passed, r.problems
    assert not any("numerical" in p for p in r.problems)


def test_a_numerical_gradient_taken_sample_by_sample_is_still_caught():
    # central differences on one row at a time: 2 P loss calls per sample, each 1/N of the batch: 2 P runs
    class PerSampleNumerical(dlfs.TwoLayerNet):
        def gradient(self, x, t):
            total = {k: np.zeros_like(v) for k, v in self.params.items()}
            for i in range(len(x)):
                loss_w = lambda w, i=i: self.loss(x[i:i + 1], t[i:i + 1])  # noqa: E731
                for k in self.params:
                    total[k] += numerical_gradient(loss_w, self.params[k]) / len(x)
            return total

    x, t = dlfs.batch()
    r = check_net(PerSampleNumerical(6, 5, 3), x, t)
    assert not r.passed
    assert any(p.startswith(f"net.gradient called net.loss {2 * N_PARAMS:,} times") for p in r.problems), r.problems
