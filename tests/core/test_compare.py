"""The one judge (:func:`gradcheck.compare.judge`) and the full-mode tolerance model.

Every expected value is worked out by hand from the documented rule:
smooth ``|a - value| <= floor + k * error``; at a kink
``lower - margin <= a <= upper + margin`` with ``margin = floor + k * bracket_error``.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck.compare import Tolerance, compare_entries, judge, relative_error
from gradcheck.estimate import NumericGradient


def A(*v: float) -> np.ndarray:
    return np.array(v, dtype=np.float64)


def test_smooth_rule_accepts_up_to_floor_plus_k_error_and_no_further():
    # floor 0.5, k 2, error 0.25: allowed 1.0 (all exact in binary)
    j = judge(A(2.0, 2.0, 0.0, -0.5), A(1.0, 0.5, 1.0, 1.0), A(0.25, 0.25, 0.25, 0.25), floor=0.5, k=2.0)
    assert j.passed.tolist() == [True, False, True, False]
    assert j.allowed.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert not j.by_bracket.any()


def test_an_exact_reference_with_zero_error_is_held_to_the_floor_alone():
    j = judge(A(1.0 + 1e-12, 1.0 + 1e-10), A(1.0, 1.0), 0.0, floor=1e-11, k=1.0)
    assert j.passed.tolist() == [True, False]


def test_kink_bracket_accepts_a_subgradient_only_where_a_kink_is_flagged():
    # |x| at 0: one-sided quotients -1 and 1, central value 0 with a tiny error bar
    a = A(0.7, 0.7, 1.5)
    j = judge(a, A(0.0, 0.0, 0.0), A(1e-9, 1e-9, 1e-9), floor=0.0, k=4.0,
              lower=A(-1.0, -1.0, -1.0), upper=A(1.0, 1.0, 1.0), kink=np.array([True, False, True]))
    assert j.passed.tolist() == [True, False, False]
    assert j.by_bracket.tolist() == [True, False, False]


def test_bracket_margin_is_floor_plus_k_bracket_error():
    # upper 1.0, floor 0.25, k 2, bracket_error 0.125: margin 0.5, accepted up to 1.5
    kw = dict(floor=0.25, k=2.0, lower=A(-1.0, -1.0), upper=A(1.0, 1.0), kink=np.array([True, True]), bracket_error=0.125)
    j = judge(A(1.5, 1.5 + 1e-9), A(0.0, 0.0), A(0.0, 0.0), **kw)
    assert j.passed.tolist() == [True, False]
    # the tolerance reported for a kink entry judged by its bracket is the wider margin
    assert j.allowed.tolist() == [0.5, 0.5]


def test_a_value_inside_the_smooth_tolerance_at_a_kink_is_not_counted_as_a_bracket_pass():
    j = judge(A(0.0), A(0.0), A(1e-3), floor=0.0, k=4.0, lower=A(-1.0), upper=A(1.0), kink=np.array([True]))
    assert j.passed.tolist() == [True] and j.by_bracket.tolist() == [False]
    assert j.allowed.tolist() == [4e-3]


def _numeric(value, error, lower, upper, kink, roundoff=None) -> NumericGradient:
    value = A(*value)
    return NumericGradient("w", value, A(*error), np.full(value.shape, 1e-5), A(*lower), A(*upper),
                           np.array(kink), roundoff=None if roundoff is None else A(*roundoff))


def test_compare_entries_widens_the_bracket_by_twice_the_roundoff():
    n = _numeric([0.0, 0.0], [1.0, 1.0], [-1.0, -1.0], [1.0, 1.0], [True, True], roundoff=[0.125, 0.125])
    # Tolerance(rtol=0, k=2): smooth allowed 2 * 1.0 = 2.0; bracket margin 2 * 2 * 0.125 = 0.5
    v = compare_entries(A(1.5, 2.25), n, Tolerance(rtol=0.0, k=2.0))
    assert v.passed.tolist() == [True, False]
    assert v.kink.tolist() == [True, True]
    assert v.abs_err.tolist() == [1.5, 2.25]


def test_compare_entries_falls_back_to_the_error_bar_without_a_roundoff_part():
    n = _numeric([0.0], [0.125], [-1.0], [1.0], [True])
    # margin 2 * 2 * 0.125 = 0.5 from the whole error bar
    assert compare_entries(A(1.5), n, Tolerance(rtol=0.0, k=2.0)).passed.tolist() == [True]
    assert compare_entries(A(1.5 + 1e-6), n, Tolerance(rtol=0.0, k=2.0)).passed.tolist() == [False]


def test_compare_entries_rtol_scales_with_the_numeric_value():
    n = _numeric([100.0, 100.0], [0.0, 0.0], [100.0, 100.0], [100.0, 100.0], [False, False])
    v = compare_entries(A(100.0 + 0.9e-6, 100.0 + 1.1e-6), n, Tolerance(rtol=1e-8, k=4.0))
    assert v.passed.tolist() == [True, False]


def test_tolerance_rejects_bad_terms_by_name():
    for name in ("rtol", "atol", "k"):
        with pytest.raises(ValueError, match=f"{name} must be a finite number >= 0, got {name}=nan"):
            Tolerance(**{name: float("nan")})


def test_relative_error_is_symmetric_and_zero_for_two_zeros():
    a, b = A(1.0, 0.0, -2.0), A(2.0, 0.0, 2.0)
    assert relative_error(a, b).tolist() == [0.5, 0.0, 2.0]
    assert relative_error(b, a).tolist() == [0.5, 0.0, 2.0]
