"""Benchmarks: ``check_gradients`` on a user's opaque function against the plain loop.

Run with ``pytest --benchmark-only benchmarks/test_bench_function.py``.  The
function is a user's own MLP loss (tanh hidden layer, softmax
cross-entropy, written here as a user would; not a reference model), so
the fast engine cannot exploit any structure: this is the opaque path.
For each size (:data:`SIZES`) the group ``function-<size>`` has

``plain_loop``
    :func:`gradcheck.numeric.numerical_gradient`: two calls per entry.
``check_1proc``
    ``check_gradients(..., workers=1)``: every entry checked, with error
    bars, kinks, determinism and noise measurement, in this process.
    ``extra_info["ratio_to_plain_loop"]`` is its best round over the plain
    loop's best round, both timed in this test, alternately; the issue's
    target is at most 1.2.
``check_default``
    ``check_gradients`` with its default workers (forks when the plain
    loop would take over a second).
``check_fast``
    ``check_gradients(..., mode="fast")``.
"""
from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from gradcheck import check_gradients
from gradcheck.numeric import numerical_gradient

__all__ = ["SIZES", "TARGET_RATIO", "mlp_point", "seeded_mlp"]

#: ``name: (inputs, hidden, classes, batch)``: 2,410 and 13,258 parameters.
SIZES: dict[str, tuple[int, int, int, int]] = {"64-32-10": (64, 32, 10, 32), "196-64-10": (196, 64, 10, 32)}
#: The issue's bound on check_gradients' time over the plain loop's, for a correct gradient.
TARGET_RATIO = 1.2


def seeded_mlp(n_in: int, hidden: int, classes: int, batch: int,
               seed: int) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """A two-layer MLP's seeded ``(params, x, labels)``: the point every opaque-function benchmark starts from."""
    rng = np.random.default_rng(seed)
    params = {"W1": rng.normal(0, n_in ** -0.5, (n_in, hidden)), "b1": rng.normal(0, 0.1, hidden),
              "W2": rng.normal(0, hidden ** -0.5, (hidden, classes)), "b2": rng.normal(0, 0.1, classes)}
    return params, rng.normal(size=(batch, n_in)), rng.integers(0, classes, batch)


def mlp_point(size: str, seed: int = 0) -> tuple[Any, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(f, grads, params)``: a user's MLP loss, its exact gradient, a seeded point."""
    n_in, hidden, classes, batch = SIZES[size]
    params, x, y = seeded_mlp(n_in, hidden, classes, batch, seed)

    def forward(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        a = np.tanh(x @ p["W1"] + p["b1"])
        z = a @ p["W2"] + p["b2"]
        z = z - z.max(axis=1, keepdims=True)
        return a, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def f(p: dict[str, np.ndarray]) -> float:
        return float(-forward(p)[1][np.arange(batch), y].mean())

    a, logp = forward(params)
    dz = np.exp(logp)
    dz[np.arange(batch), y] -= 1
    dz /= batch
    da = dz @ params["W2"].T * (1 - a ** 2)
    grads = {"W1": x.T @ da, "b1": da.sum(0), "W2": a.T @ dz, "b2": dz.sum(0)}
    return f, grads, params


def _tag(benchmark: Any, size: str, method: str, params: dict[str, np.ndarray]) -> None:
    benchmark.group = f"function-{size}"
    benchmark.extra_info.update(model=f"user_mlp_{size}", method=method,
                                n_params=int(sum(v.size for v in params.values())), batch=SIZES[size][3])


def _best(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@pytest.mark.parametrize("size", list(SIZES))
def test_plain_loop(benchmark: Any, size: str) -> None:
    f, grads, params = mlp_point(size)
    _tag(benchmark, size, "plain_loop", params)
    numeric = benchmark.pedantic(numerical_gradient, args=(f, params), rounds=3, iterations=1, warmup_rounds=1)
    assert all(np.allclose(numeric[k], grads[k], rtol=1e-5, atol=1e-8) for k in grads)


@pytest.mark.parametrize("size", list(SIZES))
def test_check_1proc(benchmark: Any, size: str) -> None:
    """The full check in one process, and its ratio to the plain loop timed alternately in this test."""
    f, grads, params = mlp_point(size)
    _tag(benchmark, size, "check_1proc", params)
    result = benchmark.pedantic(check_gradients, args=(f, grads, params), kwargs={"workers": 1}, rounds=3,
                                iterations=1, warmup_rounds=1)
    assert result.passed
    plain, check = [], []
    for _ in range(3):  # alternate, so a busy moment hurts both
        plain.append(_best(lambda: numerical_gradient(f, params), 1))
        check.append(_best(lambda: check_gradients(f, grads, params, workers=1), 1))
    ratio = min(check) / min(plain)
    benchmark.extra_info.update(plain_loop_best_s=min(plain), check_best_s=min(check), ratio_to_plain_loop=ratio)
    assert ratio <= TARGET_RATIO, f"check_gradients took {ratio:.2f}x the plain loop (target <= {TARGET_RATIO})"


@pytest.mark.parametrize("size", list(SIZES))
def test_check_default(benchmark: Any, size: str) -> None:
    f, grads, params = mlp_point(size)
    _tag(benchmark, size, "check_default", params)
    assert benchmark.pedantic(check_gradients, args=(f, grads, params), rounds=3, iterations=1,
                              warmup_rounds=1).passed


@pytest.mark.parametrize("size", list(SIZES))
def test_check_fast(benchmark: Any, size: str) -> None:
    f, grads, params = mlp_point(size)
    _tag(benchmark, size, "check_fast", params)
    assert benchmark.pedantic(check_gradients, args=(f, grads, params), kwargs={"mode": "fast"}, rounds=3,
                              iterations=1, warmup_rounds=1).passed
