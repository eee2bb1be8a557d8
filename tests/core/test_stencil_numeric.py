"""The numerical core: the five-point stencil, the plain loop and the error model.

Expected values are closed-form derivatives written out here, never values
computed by gradcheck itself.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gradcheck.numeric import (EPS64, KINK_REFINE, REFINE_ROUNDS, default_step, estimate_function_gradient,
                               numerical_gradient)
from gradcheck.stencil import combine

H0 = EPS64 ** (1.0 / 3.0)  # the default step at |x| <= 1


def _softmax(w: np.ndarray) -> np.ndarray:
    e = np.exp(w - w.max())
    return e / e.sum()


# name -> (f(params) -> float, exact gradient(params) -> dict)
SMOOTH = {
    "cubic": (
        lambda q: float(np.sum(2.0 * q["w"] ** 3 - q["w"] ** 2 + 3.0 * q["w"])),
        lambda q: {"w": 6.0 * q["w"] ** 2 - 2.0 * q["w"] + 3.0},
    ),
    "exp": (
        lambda q: float(np.sum(np.exp(0.7 * q["w"]))),
        lambda q: {"w": 0.7 * np.exp(0.7 * q["w"])},
    ),
    # shifted by 5 so that |f| >= 2 on [-3, 3]: no cancellation in the last step
    # (the round-off model counts eps * |f|; see test_roundoff_of_a_cancelling_loss)
    "logsumexp": (
        lambda q: float(5.0 + np.log(np.sum(np.exp(q["w"])))),
        lambda q: {"w": _softmax(q["w"])},
    ),
    "product": (
        lambda q: float(np.prod(q["w"])),
        lambda q: {"w": np.array([np.prod(np.delete(q["w"], i)) for i in range(q["w"].size)])},
    ),
    "sin_times_w": (
        lambda q: float(np.sum(np.sin(q["w"]) * q["w"])),
        lambda q: {"w": np.cos(q["w"]) * q["w"] + np.sin(q["w"])},
    ),
}


def _two_params(q):
    """``sum((A @ u + b)**2)`` with a fixed ``u``: gradient ``2 r u^T`` and ``2 r``."""
    u = np.array([1.0, -2.0, 0.5])
    return float(np.sum((q["A"] @ u + q["b"]) ** 2))


def _two_params_grad(q):
    u = np.array([1.0, -2.0, 0.5])
    r = q["A"] @ u + q["b"]
    return {"A": 2.0 * np.outer(r, u), "b": 2.0 * r}


POINT = {"w": np.array([0.3, -1.2, 2.0, 0.05])}
TWO = {"A": np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]), "b": np.array([0.1, -0.4])}

#: no subnormals: their round-off is absolute, not relative to |f|
vectors = st.lists(st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=4).map(np.array)


# -- exactness on known gradients ---------------------------------------------------

@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_numerical_gradient_matches_closed_form(name):
    f, grad = SMOOTH[name]
    num = numerical_gradient(f, POINT)
    exact = grad(POINT)["w"]
    # central difference: truncation h**2 |f'''| / 6 ~ 1e-10 here, round-off ~ eps |f| / h ~ 1e-10
    np.testing.assert_allclose(num["w"], exact, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_estimate_matches_closed_form_within_its_error(name):
    f, grad = SMOOTH[name]
    est = estimate_function_gradient(f, POINT)["w"]
    exact = grad(POINT)["w"]
    assert np.all(np.abs(est.value - exact) <= est.error)
    np.testing.assert_allclose(est.value, exact, rtol=1e-9, atol=1e-9)
    assert not est.kink.any()
    assert est.value.shape == est.error.shape == est.step.shape == POINT["w"].shape


def test_several_parameters_of_several_shapes():
    exact = _two_params_grad(TWO)
    num = numerical_gradient(_two_params, TWO)
    est = estimate_function_gradient(_two_params, TWO)
    assert list(num) == list(est) == ["A", "b"]
    for k in TWO:
        assert num[k].shape == est[k].value.shape == TWO[k].shape
        assert num[k].dtype == np.float64
        # a quadratic: the central difference is exact up to round-off
        np.testing.assert_allclose(num[k], exact[k], rtol=1e-9, atol=1e-9)
        assert np.all(np.abs(est[k].value - exact[k]) <= est[k].error)


def test_fixed_step_is_used():
    # f = w**3 at w = 1: the central difference is 3 + h**2 exactly, so the step shows
    num = numerical_gradient(lambda q: float(q["w"][0] ** 3), {"w": np.array([1.0])}, eps=1e-2)
    assert num["w"][0] == pytest.approx(3.0 + 1e-4, rel=1e-10)


def test_integer_params_are_accepted_as_float64():
    num = numerical_gradient(lambda q: float(np.sum(q["w"] ** 2)), {"w": np.array([1, 2, 3])})
    assert num["w"].dtype == np.float64
    np.testing.assert_allclose(num["w"], [2.0, 4.0, 6.0], rtol=1e-9)


@settings(deadline=None, max_examples=60)
@given(st.floats(-1e6, 1e6, allow_nan=False))
def test_default_step_is_exact_and_relative(x):
    h = default_step(np.array([x]))[0]
    assert (x + h) - x == h
    assert h == pytest.approx(H0 * max(abs(x), 1.0), rel=1e-6)


def test_combine_on_an_exact_quartic():
    # f(t) = t**4 at t0 = 1: Richardson is exact for polynomials up to degree 4
    h = np.array([1e-2])
    f = lambda t: (1.0 + t) ** 4
    r = combine(f(0.0), f(h), f(-h), f(2 * h), f(-2 * h), h)
    assert r["value"][0] == pytest.approx(4.0, abs=1e-10)
    assert r["d1"][0] == pytest.approx(4.0 + 4.0 * h[0] ** 2, rel=1e-10)  # (f(h)-f(-h))/2h = 4 + 4h^2
    assert not r["kink"][0]


# -- the caller's arrays --------------------------------------------------------------

def _raising_on_third_call():
    calls = {"n": 0}

    def f(q):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("boom on call 3")
        return float(np.sum(q["W"] ** 2) + np.sum(q["b"]))

    return f


@pytest.mark.parametrize("fn", [numerical_gradient, estimate_function_gradient])
def test_caller_arrays_unchanged_when_f_raises_midway(fn):
    params = {"W": np.arange(6.0).reshape(2, 3) - 2.5, "b": np.array([0.5, -0.5])}
    before = {k: v.copy() for k, v in params.items()}
    with pytest.raises(RuntimeError, match="boom on call 3"):
        fn(_raising_on_third_call(), params)
    for k in params:
        assert params[k].dtype == before[k].dtype
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("fn", [numerical_gradient, estimate_function_gradient])
def test_f_gets_copies_not_the_callers_arrays(fn):
    params = {"W": np.array([[1.0, 2.0], [3.0, 4.0]])}
    before = params["W"].copy()
    seen = []

    def f(q):
        seen.append(np.shares_memory(q["W"], params["W"]))
        q["W"][...] = 7.0  # a vandal: writes into what it was given
        return 1.0

    fn(f, params)
    assert seen and not any(seen)
    np.testing.assert_array_equal(params["W"], before)


# -- bad arguments name themselves ------------------------------------------------------

@pytest.mark.parametrize("eps", [-1, 0, 0.0, float("nan"), float("inf"), -1e-3])
def test_bad_eps(eps):
    with pytest.raises(ValueError, match=r"eps=") as info:
        numerical_gradient(lambda q: 0.0, {"w": np.ones(2)}, eps=eps)
    assert repr(eps) in str(info.value)


@pytest.mark.parametrize("eps", ["0.1", np.array([1e-3, 1e-3])])
def test_eps_of_the_wrong_type_is_named(eps):
    with pytest.raises((TypeError, ValueError), match="eps"):
        numerical_gradient(lambda q: 0.0, {"w": np.ones(2)}, eps=eps)


@pytest.mark.parametrize("fn", [numerical_gradient, estimate_function_gradient])
@pytest.mark.parametrize(
    "params, pattern",
    [
        ([1.0, 2.0], r"params must be a dict.*params=\[1.0, 2.0\]"),
        (np.ones(3), r"params must be a dict"),
        ({"w": np.array([1.0 + 2.0j])}, r"params\['w'\] must be an array of real numbers.*complex"),
        ({"w": np.array(["a"], dtype=object)}, r"params\['w'\] must be an array of real numbers"),
        ({3: np.ones(2)}, r"params keys must be str, got key 3"),
    ],
)
def test_bad_params_are_named(fn, params, pattern):
    with pytest.raises(TypeError, match=pattern):
        fn(lambda q: 0.0, params)


def test_non_finite_loss_at_the_point_is_an_error():
    with pytest.raises(ValueError, match="must be finite"):
        estimate_function_gradient(lambda q: float("nan"), {"w": np.ones(2)})


# -- the error estimate is honest on smooth functions -------------------------------------

@settings(deadline=None, max_examples=40)
@given(name=st.sampled_from(sorted(SMOOTH)), w=vectors)
def test_error_bar_covers_the_true_error(name, w):
    f, grad = SMOOTH[name]
    est = estimate_function_gradient(f, {"w": w})["w"]
    exact = grad({"w": w})["w"]
    assert np.all(np.abs(est.value - exact) <= est.error), (est.value, exact, est.error)
    # and it is a useful bar, not a vacuous one
    scale = max(1.0, abs(f({"w": w})), float(np.max(np.abs(exact))))
    assert np.all(est.error <= 1e-7 * scale)


@settings(deadline=None, max_examples=40)
@given(name=st.sampled_from(sorted(SMOOTH)), w=vectors)
def test_no_kink_on_smooth_functions(name, w):
    f, _ = SMOOTH[name]
    est = estimate_function_gradient(f, {"w": w})["w"]
    assert not est.kink.any()
    assert est.n_kinks == 0


@pytest.mark.xfail(strict=True, reason="stencil.combine flags a kink where f''=0 but f''''!=0 (w**4 at 0): "
                                        "the smooth scale 0.1*|s(2h)|/2 ignores the h**3 f'''' term")
def test_no_kink_on_a_flat_quartic_minimum():
    est = estimate_function_gradient(lambda q: float(q["w"][0] ** 4), {"w": np.array([0.0])})["w"]
    assert not est.kink.any()


def test_roundoff_of_a_cancelling_loss():
    # log(sum(exp(w))) near sum == 1: f ~ 1e-6 but its rounding error is ~ eps in absolute terms, which
    # stencil.roundoff (16 eps * max|f|) misses.  The bar's jump term |s(h) - s(2h) / 2| (combine: a slope jump
    # the kink test does not flag) is measured from the six values and carries their real rounding, of the
    # size of the value's own: it covers this case (an estimate, not a bound; noise_scale, below, is the bound)
    w = np.array([np.log(0.5), np.log(0.5) + 1e-6])
    est = estimate_function_gradient(lambda q: float(np.log(np.sum(np.exp(q["w"])))), {"w": w})["w"]
    exact = _softmax(w)
    assert not est.kink.any()
    assert np.all(np.abs(est.value - exact) <= est.error)


def test_noise_scale_covers_a_cancelling_loss():
    w = np.array([np.log(0.5), np.log(0.5) + 1e-6])  # sum(exp(w)) ~ 1: f ~ 1e-6, intermediates ~ 1
    est = estimate_function_gradient(lambda q: float(np.log(np.sum(np.exp(q["w"])))), {"w": w}, noise_scale=1.0)["w"]
    assert not est.kink.any()
    assert np.all(np.abs(est.value - _softmax(w)) <= est.error)


@pytest.mark.parametrize("bad, error", [(-1.0, ValueError), (float("nan"), ValueError), ("1", TypeError)])
def test_bad_noise_scale_is_named(bad, error):
    with pytest.raises(error, match="noise_scale="):
        estimate_function_gradient(lambda q: 0.0, {"w": np.ones(2)}, noise_scale=bad)


# -- kinks -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "f, point, index, lower, upper",
    [
        (lambda q: float(np.abs(q["w"]).sum()), [0.0, 2.0], 0, -1.0, 1.0),
        (lambda q: float(np.maximum(q["w"], 0.0).sum()), [0.0, 2.0], 0, 0.0, 1.0),
        (lambda q: float(-np.maximum(q["w"], 0.0).sum()), [0.0, 2.0], 0, -1.0, 0.0),
        (lambda q: float(np.max(q["w"])), [1.5, 1.5], 0, 0.0, 1.0),
        (lambda q: float(np.max(q["w"])), [1.5, 1.5], 1, 0.0, 1.0),
    ],
    ids=["abs", "relu", "neg_relu", "max_first", "max_second"],
)
def test_kinks_are_flagged_with_both_one_sided_slopes(f, point, index, lower, upper):
    est = estimate_function_gradient(f, {"w": np.array(point)})["w"]
    assert est.kink[index]
    assert est.lower[index] == pytest.approx(lower, abs=1e-9)
    assert est.upper[index] == pytest.approx(upper, abs=1e-9)


def test_smooth_entries_next_to_a_kink_are_not_flagged():
    est = estimate_function_gradient(lambda q: float(np.abs(q["w"]).sum()), {"w": np.array([0.0, 2.0])})["w"]
    assert est.kink.tolist() == [True, False]
    assert est.value[1] == pytest.approx(1.0, abs=1e-10)


@settings(deadline=None, max_examples=30)
@given(
    left=st.floats(-5.0, 5.0),
    jump=st.floats(0.1, 5.0) | st.floats(-5.0, -0.1),
    c=st.floats(-3.0, 3.0),
)
@example(left=1.0, jump=-1.0, c=-1.0)  # refined to h / 16**4, where c + h's rounding shows (3.6e-6)
def test_piecewise_linear_kink_has_both_slopes(left, jump, c):
    right = left + jump

    def f(q):
        t = q["w"][0] - c
        return float(left * t if t < 0 else right * t)

    est = estimate_function_gradient(f, {"w": np.array([c])})["w"]
    assert est.kink[0]
    # 1e-6 relative, plus the perturbed argument's rounding: c + h is off by up to eps |c| / 2, and the one-sided
    # quotient divides that by the step, which refinement takes down to h / 16**4 (f(c) = 0 here, so the loss's own
    # rounding, which the estimate's round-off term carries, does not cover it: 3.6e-6 at c = -1, left = 1, jump = -1)
    slope = max(abs(left), abs(right))
    tol = 1e-6 * max(1.0, slope) + 4 * np.finfo(float).eps * max(1.0, abs(c)) * slope / est.step[0]
    assert est.lower[0] == pytest.approx(min(left, right), abs=tol)
    assert est.upper[0] == pytest.approx(max(left, right), abs=tol)


def test_step_function_has_both_one_sided_quotients():
    # Heaviside at 0, measured again at h' = h / 16 (refine_kinks), and again each round (its bracket widens
    # 16x a round: bracket_moved) down to h' = h / 16**4: forward quotient 1/h', backward
    # quotient 0; the second-order forward quotient (4 f(h') - f(2h') - 3 f(0)) / 2h' = 1.5 / h' is
    # widened by its gap 0.5 / h' to the first-order one: the bracket is [0, 2 / h']
    est = estimate_function_gradient(lambda q: float(q["w"][0] > 0), {"w": np.array([0.0])})["w"]
    h = default_step(np.array([0.0]))[0] * KINK_REFINE**REFINE_ROUNDS
    assert est.kink[0] and est.step[0] == h
    assert est.lower[0] == 0.0
    assert est.upper[0] == pytest.approx(2.0 / h, rel=1e-12)


def test_kink_between_h_and_2h_is_flagged_then_measured_past():
    h = default_step(np.array([0.0]))[0]
    f = lambda w: max(w + 1.5 * h, 0.0)  # noqa: E731
    r = combine(f(0.0), f(h), f(-h), f(2 * h), f(-2 * h), np.array([h]))
    # the +-h points see slope 1 only, the -2h point is past the kink: the first-order
    # quotients are both 1, the second-order backward one (3 f0 - 4 f(-h) + f(-2h)) / 2h is
    # (3 * 1.5h - 4 * 0.5h + 0) / 2h = 1.25, widened by its gap 0.25 to the first-order one
    assert r["kink"][0]
    assert r["lower"][0] == pytest.approx(1.0, abs=1e-9) and r["upper"][0] == pytest.approx(1.5, abs=1e-9)
    # the estimate measures the flagged entry again at h / 16: the kink is then outside its stencil, so
    # the value is the true slope within its error bar, and the bracket is the smaller stencil's, whose
    # quotients stay on the kink's one side (the coarse [1, 1.5] let a slope of 1.04 pass); the kink flag stays
    est = estimate_function_gradient(lambda q: f(float(q["w"][0])), {"w": np.array([0.0])})["w"]
    assert est.kink[0] and est.step[0] == h * KINK_REFINE
    assert abs(est.value[0] - 1.0) <= est.error[0]
    assert est.lower[0] == pytest.approx(1.0, abs=1e-9) and est.upper[0] == pytest.approx(1.0, abs=1e-9)
