"""A correct gradient at an exact tie (a ReLU pre-activation exactly 0) passes, even with another kink nearby.

Found by the speed red team: b1 = 0 and all-zero input samples put every
hidden unit exactly on its kink; at batch 256 another sample's
pre-activation a few steps away corrupted the ``2h`` quotients, and a
correct ``b1`` entry (``relu'(0) = 0``: the left derivative) failed by
about 3e-9 against its one-sided bracket.
"""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_gradients, check_model, nn
from gradcheck.compare import judge
from gradcheck.numeric import default_step
from gradcheck.stencil import combine, roundoff_error

H = float(default_step(np.zeros(1))[0])


def test_bracket_covers_an_exact_one_sided_derivative_where_the_loss_curves():
    # left of 0: slope 0 with curvature and a cubic term; right: slope -1.  The
    # second-order backward quotient is -2e3 h**2 off the left derivative 0.
    def g(t: np.ndarray | float) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        return np.where(t < 0, 50.0 * t**2 + 1e3 * t**3, -t)

    h = np.array([H])
    r = combine(g(0.0), g(h), g(-h), g(2 * h), g(-2 * h), h)
    assert r["kink"].tolist() == [True]
    assert r["lower"][0] <= 0.0 <= r["upper"][0]
    noise = roundoff_error(g(0.0), g(h), g(-h), h=h)
    verdict = judge(np.array([0.0]), r["value"], r["error"], floor=0.0, k=4.0, lower=r["lower"],
                    upper=r["upper"], kink=r["kink"], bracket_error=2.0 * noise)
    assert verdict.passed.tolist() == [True]


def test_opaque_function_with_a_tie_and_a_kink_within_two_steps():
    # a tie at 0 (left slope 0, right slope -1) and another kink 1.5 steps to the left
    def f(q: dict[str, np.ndarray]) -> float:
        w = float(q["w"][0])
        return 50.0 * min(w, 0.0) ** 2 - max(w, 0.0) - max(-1.5 * H - w, 0.0)

    result = check_gradients(f, {"w": np.array([0.0])}, {"w": np.array([0.0])})
    assert result.passed, result
    # a wrong left derivative is still caught
    assert not check_gradients(f, {"w": np.array([0.3])}, {"w": np.array([0.0])}).passed


def _tie_model() -> tuple[nn.Sequential, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2"), loss=nn.MSE(reduction="mean"), name="tie")
    params = {"W1": np.array([[1.0]]), "b1": np.array([0.0]), "W2": np.array([[1.0]])}
    x = np.array([[0.0], [1.5 * H]])  # sample 0 exactly on the kink; sample 1's kink 1.5 steps of b1 away
    y = np.array([[1.0], [0.0]])
    return model, params, x, y


def _backward(q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, *, bias_scale: float = 1.0) -> dict[str, np.ndarray]:
    z = x @ q["W1"] + q["b1"]
    a = np.maximum(z, 0.0)
    out = a @ q["W2"]
    d = 2.0 * (out - y) / out.size
    dz = (d @ q["W2"].T) * (z > 0)  # relu'(0) = 0: the left derivative at the tie
    return {"W1": x.T @ dz, "b1": bias_scale * dz.sum(axis=0), "W2": a.T @ d}


def test_model_with_a_tie_and_a_kink_within_two_steps():
    model, params, x, y = _tie_model()
    result = check_model(model, params, x, y, backward=_backward)
    assert result.passed, [(p.name, p.failed_indices) for p in result.params]


def test_model_with_a_tie_still_catches_a_wrong_bias_gradient():
    model, params, x, y = _tie_model()
    result = check_model(model, params, x, y, backward=lambda q, x, y: _backward(q, x, y, bias_scale=1.5))
    assert [p.name for p in result.params if not p.passed] == ["b1"]


def _relu_mlp_at_ties(seed: int, hidden: int = 100, batch: int = 256, n_in: int = 784, n_out: int = 10) -> tuple:
    """The red team's point: MNIST-like pixels (80% zeros), b1 = 0 and two all-zero samples."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(scale=np.sqrt(2.0 / n_in), size=(n_in, hidden)), "b1": rng.normal(scale=0.1, size=hidden),
              "W2": rng.normal(scale=np.sqrt(1.0 / hidden), size=(hidden, n_out)), "b2": rng.normal(scale=0.1, size=n_out)}
    x = rng.random((batch, n_in))
    x[rng.random((batch, n_in)) < 0.8] = 0.0
    params["b1"] = np.zeros(hidden)
    x[:2] = 0.0
    return params, x, rng.integers(0, n_out, batch)


def _relu_mlp_backward(q: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, *,
                       relu_prime_at_0: float = 0.0) -> dict[str, np.ndarray]:
    z1 = x @ q["W1"] + q["b1"]
    a = np.maximum(z1, 0.0)
    z = a @ q["W2"] + q["b2"]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    dz = e / e.sum(axis=1, keepdims=True)
    dz[np.arange(len(y)), y] -= 1.0
    dz /= len(y)
    dz1 = (dz @ q["W2"].T) * ((z1 >= 0) if relu_prime_at_0 else (z1 > 0))
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": a.T @ dz, "b2": dz.sum(axis=0)}


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 15])
def test_relu_mlp_at_exact_ties_with_neighbouring_kinks_passes(seed):
    # seed 4: b1[97]'s 2h quotient crosses another sample's kink; without refine_kinks it failed by ~2e-8.
    # seed 15: b1[17]'s jump (5e-4 relative) is too small for the kink test at h / 16, where the central
    # difference is the mean of the one-sided slopes: the coarse bracket must stay
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())
    params, x, y = _relu_mlp_at_ties(seed)
    result = check_model(model, params, x, y, backward=_relu_mlp_backward, workers=1)
    assert result.passed, [(p.name, p.failed_indices) for p in result.params if not p.passed]


@pytest.mark.slow
@pytest.mark.parametrize("relu_prime_at_0", [0.0, 1.0])
def test_fast_mode_at_exact_ties_never_fails_a_correct_backward(relu_prime_at_0):
    # the red team's point: every hidden unit of the two all-zero samples sits exactly on its kink; a
    # probe of b1 shows the kink at its larger steps only (the jump is below the round-off the kink
    # test allows for at the smallest), where two steps agree on the mean of the one-sided slopes
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())

    def backward(q, x, y):  # relu'(0) = 1: the right derivative at the tie, as valid
        return _relu_mlp_backward(q, x, y, relu_prime_at_0=relu_prime_at_0)

    failed = []
    for seed in (2, 28, 44, 0, 1, 3, 4, 5):
        params, x, y = _relu_mlp_at_ties(seed)
        result = check_model(model, params, x, y, backward=backward, mode="fast", seed=seed)
        if not result.passed:
            failed.append(seed)
    assert not failed
