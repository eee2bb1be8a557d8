"""check_model at points on exact ReLU ties: integer weights and inputs with zero biases.

An instructor's hand example sits there: pre-activations exactly 0 in
several samples, which one move of a weight crosses in opposite
directions.  A correct backward (relu'(0) = 0, torch's, or 1) can then lie
outside the one-sided bracket, or differ from the derivative where the
kinks cancel, and a red team's correct backwards failed 5 to 94 in 100
such points.  The check decides those tensors at a point moved off the
ties (check._off_ties); these tests hold it to: no false failure, and the
usual bugs still caught (more often than at the point itself, where a
wrong value can hide inside a bracket).
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from gradcheck import check_model, format_result, nn
from gradcheck.check import TIE_NUDGE, _sits_on_ties
from gradcheck.engine import ModelEvaluator

NET = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())


def backward_with(relu_prime_at_0: float, bug: str | None = None) -> Callable[..., dict[str, np.ndarray]]:
    """A hand-written backward of NET, written independently of gradcheck, with relu'(0) as given."""
    def backward(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        z1 = x @ p["W1"] + p["b1"]
        h = np.maximum(z1, 0.0)
        s = h @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        dz2 = e / e.sum(axis=1, keepdims=True)
        dz2[np.arange(len(y)), y] -= 1.0
        dz2 /= len(y)
        slope = np.where(z1 > 0, 1.0, np.where(z1 < 0, 0.0, relu_prime_at_0))
        dz1 = (dz2 @ p["W2"].T) * slope
        g = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": h.T @ dz2, "b2": dz2.sum(axis=0)}
        if bug == "no_db1":
            g["b1"] = np.zeros_like(g["b1"])
        elif bug == "scale_W2":
            g["W2"] = g["W2"] * 1.01
        return g
    return backward


def integer_point(seed: int, sizes: tuple[int, int, int] = (3, 4, 2), n: int = 4) -> tuple[dict, np.ndarray, np.ndarray]:
    """Weights and inputs in {-1, 0, 1}, zero biases: the kind of point a hand example uses."""
    rng = np.random.default_rng(seed)
    p = {"W1": rng.integers(-1, 2, sizes[:2]).astype(float), "b1": np.zeros(sizes[1]),
         "W2": rng.integers(-1, 2, sizes[1:]).astype(float), "b2": np.zeros(sizes[2])}
    return p, rng.integers(-1, 2, (n, sizes[0])).astype(float), rng.integers(0, sizes[2], n)


# the red team's two-sample example: W1[0, 1] crosses ties of both samples in opposite directions;
# the analytic value (torch's too) is 0, outside the one-sided bracket [0.25, 0.44]
RED_TEAM = ({"W1": np.array([[0.0, 0.0, 0.0], [1.0, 0.0, -1.0]]), "b1": np.zeros(3),
             "W2": np.array([[1.0, -1.0], [0.0, -1.0], [-1.0, 1.0]]), "b2": np.zeros(2)},
            np.array([[1.0, 1.0], [-1.0, 0.0]]), np.array([1, 0]))


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("slope", [0.0, 1.0])
def test_the_red_teams_hand_example_passes_with_either_relu_convention(mode: str, slope: float) -> None:
    p, x, y = RED_TEAM
    r = check_model(NET, p, x, y, backward=backward_with(slope), mode=mode)
    assert r.passed, format_result(r)
    notes = " ".join(r["W1"].notes)
    assert "moved off the ties" in notes and f"{TIE_NUDGE:g}" in notes, notes


def test_with_grads_given_the_tie_failure_stands_and_reports_its_size() -> None:
    """No backward to call elsewhere: the verdict at the point given stands, and its largest difference is not 0."""
    p, x, y = RED_TEAM
    r = check_model(NET, p, x, y, grads=backward_with(0.0)(p, x, y))
    w1 = r["W1"]
    assert not w1.passed and w1.n_kinks > 0
    # W1[0, 1]: analytic 0 against a one-sided bracket [0.25, 0.44]; the summary used to say 0
    assert w1.max_abs_err > 0.2, format_result(r)
    assert any("pass backward=" in n for n in w1.notes), w1.notes  # and it says why it may be the convention's


@pytest.mark.parametrize("slope", [0.0, 1.0])
def test_correct_backwards_pass_at_every_integer_point(slope: float) -> None:
    failed = []
    for seed in range(30):
        p, x, y = integer_point(seed)
        for mode in ("full", "fast"):
            if not check_model(NET, p, x, y, backward=backward_with(slope), mode=mode, seed=seed).passed:
                failed.append((seed, mode))
    assert failed == []


@pytest.mark.parametrize("bug", ["no_db1", "scale_W2"])
def test_bugs_are_caught_at_integer_points_wherever_they_change_the_gradient(bug: str) -> None:
    """At the point alone a zeroed db1 hid inside its kink brackets in 5 of 27 such points (a red team's count)."""
    missed, shown = [], 0
    for seed in range(40):
        p, x, y = integer_point(seed, (2, 3, 2), 2)  # the smallest hand example: most entries at ties
        right, wrong = backward_with(0.0)(p, x, y), backward_with(0.0, bug)(p, x, y)
        if all(np.array_equal(right[k], wrong[k]) for k in right):
            continue  # the bug changes nothing at this point (db1 = 0, dW2 = 0)
        shown += 1
        if check_model(NET, p, x, y, backward=backward_with(0.0, bug), seed=seed).passed:
            missed.append(seed)
    assert shown >= 20 and missed == [], (shown, missed)


def test_a_point_sits_on_ties_when_a_relu_input_is_exactly_zero() -> None:
    p, x, y = RED_TEAM
    assert _sits_on_ties(ModelEvaluator(NET, p, x, y))
    rng = np.random.default_rng(0)
    q = {k: v + rng.uniform(0.1, 0.2, v.shape) for k, v in p.items()}
    assert not _sits_on_ties(ModelEvaluator(NET, q, rng.standard_normal((2, 2)), y))


def test_a_point_off_ties_is_checked_once() -> None:
    """Random points (no exact tie) never pay for the second check: the backward is called twice, not three times."""
    rng = np.random.default_rng(3)
    p = {"W1": rng.standard_normal((5, 8)), "b1": rng.standard_normal(8), "W2": rng.standard_normal((8, 3)),
         "b2": rng.standard_normal(3)}
    calls = []
    right = backward_with(0.0)

    def counted(q: dict, xx: np.ndarray, yy: np.ndarray) -> dict:
        calls.append(1)
        g = right(q, xx, yy)
        g["W2"] = g["W2"] * 1.01  # failing, so only the absence of ties keeps it to one check
        return g

    r = check_model(NET, p, rng.standard_normal((6, 5)), rng.integers(0, 3, 6), backward=counted)
    assert not r.passed and len(calls) == 2


def _tied(p: dict, x: np.ndarray) -> bool:
    return bool(np.any(x @ p["W1"] + p["b1"] == 0))


@pytest.mark.parametrize("trick", ["negated_for_integer_weights", "scaled_when_a_unit_sits_at_0"])
def test_a_backward_wrong_only_at_the_point_is_not_rescued_by_the_moved_points(trick: str) -> None:
    """A hostile backward right everywhere but at integer weights or exact ties: its failures at entries that
    move no tie stand (a red team's such backwards passed at 118 of 118 tied points)."""
    right = backward_with(0.0)

    def hostile(q: dict, xx: np.ndarray, yy: np.ndarray) -> dict:
        g = right(q, xx, yy)
        on = all(np.array_equal(v, np.round(v)) for v in q.values()) if trick.startswith("negated") else _tied(q, xx)
        return {k: (-v if trick.startswith("negated") else 1.5 * v) if on else v for k, v in g.items()}

    caught = 0
    for seed in range(20):
        p, x, y = integer_point(seed)
        assert _tied(p, x) or seed  # the hand examples sit on ties (checked on the first)
        caught += not check_model(NET, p, x, y, backward=hostile, seed=seed).passed
    assert caught >= 18, caught
