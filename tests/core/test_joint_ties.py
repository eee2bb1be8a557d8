"""Joint moves of tied entries (:mod:`gradcheck.jointties`) beyond max-pool: what they must not fail, and what
they cannot see (rt21 F8).

A line along which kinks cancel is smooth at the point, and a correct
fixed convention can disagree with its derivative there: ``relu(a) +
min(b, 0)`` at ``a = b = 0`` with ``relu'(0) = min'(0) = 0`` says 0 along
``(1, 1)``, where the loss moves at rate 1.  Such a line must fail
nothing: at points moved off the ties its derivative changes.  A ReLU or
leaky ReLU at inputs exactly 0 is a kink along every move of them, so a
wrong slope between the one-sided ones (leaky 0.1 where the forward has
0.01) still passes; the check says so in a note.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from gradcheck import check_gradients, check_layer, jointties
from gradcheck.report import format_result


def cancelling(q: dict[str, np.ndarray]) -> float:
    """``relu(x0) + min(x1, 0)``: at ``x = 0`` smooth along ``(1, 1)`` (rate 1), a kink along each entry."""
    return float(max(q["x"][0], 0.0) + min(q["x"][1], 0.0))


@pytest.mark.parametrize("seed", range(20))
def test_kinks_that_cancel_along_a_joint_move_fail_nothing(seed: int) -> None:
    # relu'(0) = min'(0) = 0: inside each entry's bracket [0, 1]; the joint move's rate is 1
    r = check_gradients(cancelling, {"x": np.zeros(2)}, {"x": np.zeros(2)}, seed=seed)
    assert r.passed, format_result(r)


def test_without_the_moved_points_the_cancelling_kinks_would_fail(monkeypatch: pytest.MonkeyPatch) -> None:
    # the test above can fail: the joint move disagrees, and only the moved points keep it from failing the tensor
    monkeypatch.setattr(jointties, "AROUND", 0)
    assert not check_gradients(cancelling, {"x": np.zeros(2)}, {"x": np.zeros(2)}).passed


def leaky_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.where(x > 0, x, 0.01 * x), x


def leaky_backward(dout: np.ndarray, x: np.ndarray, slope: float = 0.01) -> np.ndarray:
    return dout * np.where(x > 0, 1.0, slope)


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, Any]:
    return np.maximum(x, 0.0), x


def integer_point(seed: int, low: int = -2) -> np.ndarray:
    return np.random.default_rng([seed, 7]).integers(low, 3, (6, 12)).astype(float)


def test_a_slope_between_the_one_sided_ones_passes_with_a_note() -> None:
    # rt21 F8: leaky slope 0.1 (forward 0.01) at non-negative integers; every 0 is judged by [0.01, 1]
    x = integer_point(11, low=0)
    r = check_layer(leaky_forward, lambda d, c: leaky_backward(d, c, slope=0.1), {"x": x})
    assert r.passed  # not caught: said, not hidden
    n_zero = int(np.count_nonzero(x == 0))
    assert n_zero and f"{n_zero} of its {x.size} entries passed only within the one-sided bracket" in format_result(r)


def test_tiny_inputs_judged_by_brackets_get_the_note() -> None:
    # rt21 F8: ReLU with slope 0.5 at inputs ~1e-12, every entry within a step of the kink
    x = np.random.default_rng(0).normal(size=(5, 6)) * 1e-12
    r = check_layer(relu_forward, lambda d, c: 0.5 * d * (c > 0), {"x": x})
    assert any("passed only within the one-sided bracket" in n for n in r["x"].notes), r["x"].notes


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("seed", range(10))
def test_relu_and_leaky_at_integer_points_pass(seed: int, mode: str) -> None:
    x = integer_point(seed)
    for backward in (lambda d, c: d * (c > 0), lambda d, c: d * (c >= 0)):  # relu'(0) = 0 or 1
        r = check_layer(relu_forward, backward, {"x": x}, mode=mode, seed=seed)
        assert r.passed, format_result(r)
    r = check_layer(leaky_forward, leaky_backward, {"x": x}, mode=mode, seed=seed)
    assert r.passed, format_result(r)


def test_off_kinks_no_note() -> None:
    x = np.random.default_rng(3).normal(size=(4, 5))
    r = check_layer(leaky_forward, leaky_backward, {"x": x})
    assert r.passed and not r["x"].notes
