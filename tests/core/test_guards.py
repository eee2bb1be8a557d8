"""Guards around the code under check (:mod:`gradcheck.guards`): behaviour, not internals."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from gradcheck import guards


def _point():
    return {"W": np.arange(6.0).reshape(2, 3), "b": np.zeros(3)}, np.ones((4, 2)), np.arange(4.0)


def test_a_function_that_writes_into_its_input_is_named_and_the_callers_arrays_stay_intact():
    params, x, y = _point()
    before = {k: v.copy() for k, v in params.items()}, x.copy(), y.copy()

    def clobber(p, xx, yy):
        p["W"][0, 0] = 99.0
        xx *= 2.0
        return float(np.sum(p["W"]))

    value, found = guards.run_guarded(clobber, params, x, y, "backward")
    assert value == 99.0 + 15.0
    assert len(found) == 2
    assert "backward changed its input params['W'] in place (1 of 6 entries)" in found[0]
    assert "x in place (8 of 8 entries)" in found[1]
    assert all(np.array_equal(params[k], before[0][k]) for k in params)
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2])


def test_a_clean_function_has_no_findings_and_nan_inputs_compare_equal():
    params, x, y = _point()
    x[0, 0] = np.nan
    value, found = guards.run_guarded(lambda p, xx, yy: float(np.nansum(xx)), params, x, y, "loss")
    assert found == [] and value == 7.0


def test_forward_style_call_without_y():
    params, x, _ = _point()
    value, found = guards.run_guarded(lambda p, xx: xx.shape, params, x, None, "forward")
    assert value == (4, 2) and found == []


def test_precision_findings_name_every_array_below_float64():
    params = {"W": np.ones(2, np.float32), "b": np.ones(2)}
    found = guards.precision_findings(params, np.ones(2, np.float16), np.ones(2), grads={"W": np.ones(2, np.float32)})
    assert [f.split(" is ")[0] for f in found] == ["params['W']", "x", "grads['W']"]
    assert "about 1e-07 relative" in found[0]
    assert guards.precision_findings({"W": np.ones(2)}, np.ones(2), np.ones(2)) == []


def test_warn_or_raise_warns_unless_strict():
    with pytest.warns(guards.GradcheckPrecisionWarning, match="float32"):
        guards.warn_or_raise(["x is float32"], strict=False)
    with pytest.raises(TypeError, match="strict=True requires float64 throughout: x is float32"):
        guards.warn_or_raise(["x is float32"], strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        guards.warn_or_raise([], strict=False)


def test_require_finite_names_the_parameter_count_and_first_index():
    g = {"W": np.array([[1.0, np.inf], [np.nan, 2.0]])}
    with pytest.raises(ValueError, match=r"numerical gradient\['W'\] has 2 non-finite entries \(NaN or inf\), first at index \(0, 1\)"):
        guards.require_finite(g, "numerical gradient")
    guards.require_finite({"W": np.ones(3)}, "numerical gradient")


def test_one_pristine_copy_serves_several_guarded_calls_and_each_finds_its_own_writes():
    params, x, y = _point()
    x[1, 1] = np.nan
    pristine = guards.copy_point(params, x, y)

    def nan_writer(p, xx, yy):
        p["b"][1] = np.nan  # equal_nan must not hide a NaN written over a number
        return 0.0

    _, found = guards.run_guarded(nan_writer, params, x, y, "loss", pristine=pristine)
    assert len(found) == 1 and "params['b'] in place (1 of 3 entries)" in found[0]
    _, clean = guards.run_guarded(lambda p, xx, yy: 0.0, params, x, y, "loss", pristine=pristine)
    assert clean == []  # the first call wrote into its own copy, not into the reference
    assert np.isnan(pristine.x[1, 1]) and not np.isnan(pristine.params["b"]).any()


def test_a_write_that_moves_a_value_by_one_ulp_is_found():
    params, x, y = _point()

    def nudge(p, xx, yy):
        p["W"][1, 2] = np.nextafter(p["W"][1, 2], np.inf)
        return 0.0

    _, found = guards.run_guarded(nudge, params, x, y, "backward")
    assert len(found) == 1 and "params['W'] in place (1 of 6 entries)" in found[0]


def test_a_finite_gradient_whose_sum_overflows_is_finite():
    # require_finite decides by one sum when it is finite; a sum that overflows must not be taken for an inf
    guards.require_finite({"W": np.array([1e308, 1e308, -1.0])}, "grads")
    with pytest.raises(ValueError, match=r"grads\['W'\] has 1 non-finite entries"):
        guards.require_finite({"W": np.array([np.inf, -np.inf, 1.0])[1:]}, "grads")  # -inf alone: a sum of -inf


@pytest.mark.parametrize("change, said", [
    (lambda d: d.pop("b"), "removed ['b']"),
    (lambda d: d.update(c=np.zeros(1)), "added ['c']"),
    (lambda d: d.update(b=d["b"].copy()), "replaced ['b']"),
    (lambda d: (d.pop("b"), d.update(c=np.zeros(1))), "removed ['b']; added ['c']"),  # as many keys as before
])
def test_every_change_to_the_params_dict_is_named(change, said):
    params, x, y = _point()

    def changer(p, xx, yy):
        change(p)
        return 0.0

    _, found = guards.run_guarded(changer, params, x, y, "loss")
    assert found == [f"loss changed its input params (the dict) in place ({said}): "
                     "a function under check must not write into its arguments"]
    _, clean = guards.run_guarded(lambda p, xx, yy: 0.0, params, x, y, "loss")
    assert clean == []


def test_a_view_whose_strides_were_set_in_place_is_found():
    # setting .strides writes no entry (a read-only view allows it) but changes what the array holds
    params, x, y = {"W": np.arange(9.0).reshape(3, 3)}, np.ones((4, 3)), np.arange(4.0)

    def transposes(p, xx, yy):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # numpy 2.4 deprecates setting strides
            p["W"].strides = p["W"].strides[::-1]
        return 0.0

    _, found = guards.run_guarded(transposes, params, x, y, "loss")
    assert len(found) == 1 and "params['W'] in place (6 of 9 entries)" in found[0], found


_W = np.array([[1.5, -0.25], [3.0, 1e-300]])


@pytest.mark.parametrize("first, second, said", [
    (_W, _W.copy(), []),  # the same bits: decided at once
    (_W.astype(np.float32), _W.astype(np.float32), []),
    (np.array([np.nan, 1.0]), np.array([np.nan, 1.0]), []),  # NaN equal to NaN at the same place
    (np.array([0.0, 1.0]), np.array([-0.0, 1.0]), []),  # other bits, equal values: the rounding rule's answer
    (_W, _W * (1 + 2 * np.finfo(np.float64).eps), []),  # rounding: within 64 eps of the largest entry (3.0)
    (_W, _W + np.array([[0.0, 0.0], [0.0, 1e-3]]), ["W"]),  # one entry moved by far more than rounding
    (_W, _W.reshape(4, 1).copy(), ["W"]),  # the same bytes in another shape
    (np.array([1.0, 2.0]), np.array([1.0, 2.0]).view(np.int64), ["W"]),  # the same bytes read as integers
    (np.zeros(5000), np.zeros(5000), []),  # beyond the bytes test's size: the rule itself
    (np.zeros(5000), np.r_[np.zeros(4999), 1.0], ["W"]),
], ids=["same", "float32", "nan", "signed-zero", "rounding", "moved", "reshaped", "reinterpreted", "large", "large-moved"])
def test_unstable_names_exactly_the_results_that_differ_beyond_rounding(first, second, said):
    # the expected names are the rule's by hand (same values up to 64 eps of the largest entry, same shape):
    # identical bits are one shortcut to "the same", never to a result the rule would call different
    assert guards.unstable({"W": first}, {"W": second}) == said
    assert guards.unstable({"W": first, "b": np.ones(2)}, {"W": second, "b": np.ones(2)}) == said
