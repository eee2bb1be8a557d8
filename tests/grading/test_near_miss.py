"""A near miss float32 or an epsilon explains earns ``precision``; a larger one is ``wrong``; rounding still accuses.

The bound is :data:`gradcheck.grading.pipeline.RTOL_FLOAT32` (1e-4 of the
largest entry, measured by ``benchmarks/near_miss.py``).  The submissions
here are honest backward passes of ``xor_2layer`` and ``relu_sigmoid_bce``
with one change each, graded in process (:func:`grade_callable`), so the
moved points where the rounding is read are graded too.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

import reference_models
from gradcheck.grading.pipeline import grade_callable

XOR = reference_models.get("xor_2layer")
BCE = reference_models.get("relu_sigmoid_bce")

Backward = Callable[[dict[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def xor_backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """A student's vectorised backward of xor_2layer (the same arithmetic as rt19's f32 files)."""
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = dz2 @ params["W2"].T * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0).reshape(params["b1"].shape),
            "W2": a1.T @ dz2, "b2": dz2.sum(0).reshape(params["b2"].shape)}


def x_float32(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """rt19 F4: the inputs cast to float32 (MNIST images often are), every other step float64."""
    return xor_backward(params, x.astype(np.float32), y)


def bce_epsilon(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """rt19 F1: the textbook guarded derivative -(y / (p + eps) - (1 - y) / (1 - p + eps)) / N, eps = 1e-7."""
    z1 = x @ params["W1"] + params["b1"]
    a1 = np.maximum(z1, 0)
    p = sigmoid(a1 @ params["W2"] + params["b2"])
    y = y.reshape(p.shape)
    dz2 = -(y / (p + 1e-7) - (1 - y) / (1 - p + 1e-7)) / len(x) * p * (1 - p)
    dz1 = dz2 @ params["W2"].T * (z1 > 0)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0).reshape(params["b1"].shape),
            "W2": a1.T @ dz2, "b2": dz2.sum(0).reshape(params["b2"].shape)}


def offset_by(rel: float) -> Backward:
    """The exact gradient plus ``rel`` of its largest entry times a smooth pattern no known mistake has."""
    def backward(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        exact = xor_backward(params, x, y)
        return {k: g + rel * np.max(np.abs(g)) * np.cos(np.arange(g.size) + 0.5).reshape(g.shape) for k, g in exact.items()}
    return backward


def central_difference(params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """A numerical gradient at h = 1e-5 through a private copy of the loss (off by ~1e-10: inside the bound)."""
    def loss(p: dict[str, np.ndarray]) -> float:
        a2 = sigmoid(sigmoid(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
        return float(np.mean((a2 - y) ** 2))
    grads = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            up, down = {**params, k: v.copy()}, {**params, k: v.copy()}
            up[k][idx] += 1e-5
            down[k][idx] -= 1e-5
            g[idx] = (loss(up) - loss(down)) / 2e-5
        grads[k] = g
    return grads


def graded(backward: Backward, model: Any, lang: str = "en") -> Any:
    return grade_callable(backward, model.name, forward=model.forward, lang=lang, shrink=False)


def test_an_honest_float32_step_earns_precision() -> None:
    r = graded(x_float32, XOR)  # before: wrong.near, 0 points (rt19 F4)
    assert (r.diagnoses, r.score, r.max_score) == (("precision",), 3.0, 4.0), [p.message for p in r.parameters]


def test_an_epsilon_in_the_bce_derivative_earns_precision() -> None:
    r = graded(bce_epsilon, BCE)  # rt19 F1: off by ~1e-7 of the largest entry
    assert (r.diagnoses, r.score) == (("precision",), 3.0), [p.message for p in r.parameters]


@pytest.mark.parametrize(("lang", "words"), [
    ("en", ("single precision", "float32 step", "epsilon inside a derivative", "rounded result", "For full marks", "float64")),
    ("ko", ("단정밀도", "float32 단계", "엡실론", "반올림", "만점", "float64")),
])
def test_the_precision_message_names_the_causes_and_what_full_marks_need(lang: str, words: tuple[str, ...]) -> None:
    message = graded(x_float32, XOR, lang).parameters[0].message
    assert all(w in message for w in words) and "numerically" not in message and "수치 미분" not in message, message


@pytest.mark.parametrize(("rel", "code", "score"), [(3e-5, "precision", 3.0), (3e-4, "wrong", 0.0)])
def test_a_near_miss_is_precision_within_the_bound_and_wrong_beyond(rel: float, code: str, score: float) -> None:
    # 3e-4 of the largest entry: three times the bound, within RTOL_NEAR = 1e-3 (still a near miss)
    r = graded(offset_by(rel), XOR)
    assert (r.diagnoses, r.score) == ((code,), score), [p.message for p in r.parameters]
    assert "numerically" not in r.parameters[0].message


def test_a_near_miss_beyond_the_bound_names_small_offsets() -> None:
    message = graded(offset_by(3e-4), XOR).parameters[0].message
    assert "is close to the exact gradient" in message and "too far off for float32 or an epsilon" in message, message


def test_a_numerical_gradient_inside_the_bound_is_still_accused_by_its_rounding() -> None:
    r = graded(central_difference, XOR)
    got = {p.name: p.diagnosis for p in r.parameters}
    assert r.score == 0 and got["W1"] == got["W2"] == "finite_difference", [p.message for p in r.parameters]
    assert "second difference" in r.parameters[0].message
    # a tensor whose own rounding is too faint to count (the one-entry b2, ~5e-11 off) is not float32's beside them
    assert "precision" not in got.values(), got
