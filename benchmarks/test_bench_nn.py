"""Benchmark: a model declared with gradcheck.nn, full check against the plain loop, same run.

The network is issue 11's target: a 784-256-128-10 tanh MLP with biases
(235,146 parameters), softmax cross-entropy on integer labels, batch 64,
declared with :mod:`gradcheck.nn` and checked against a hand-written
backward through ``check_model(model, ..., backward=fn)``, the path a user
takes.  One group, ``nn_tanh_mlp-N64``:

``plain_loop``
    Two loss calls per entry, timed on :data:`SUBSET` seeded random entries
    (:func:`benchmarks.test_bench_models.plain_loop_on_entries`, the plain
    loop's arithmetic line for line) and scaled to every entry, as for the
    big reference models.
``full_check``
    ``check_model(..., mode="full")``; ``extra_info["speedup_vs_plain_loop"]``
    is the scaled plain loop's best round over this one's, measured in the
    same run, and must be at least :data:`TARGET_SPEEDUP` (issue 11, item 3).

Run with ``pytest --benchmark-only benchmarks/test_bench_nn.py``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from benchmarks.test_bench_models import plain_loop_on_entries, sample_entries
from gradcheck import check_model, nn

#: Layer sizes, batch and seed of the benchmark network.
SIZES = (784, 256, 128, 10)
BATCH = 64
SEED = 0
#: Entries the plain loop is timed on (it would take hours on all 235,146).
SUBSET = 128
#: The full check must beat the plain loop by this factor (issue 11, item 3).
TARGET_SPEEDUP = 20.0
GROUP = f"nn_tanh_mlp-{'x'.join(map(str, SIZES))}-N{BATCH}"

_measured: dict[str, float] = {}


def tanh_mlp() -> nn.Sequential:
    return nn.Sequential(nn.Dense("W1", "b1"), nn.Tanh(), nn.Dense("W2", "b2"), nn.Tanh(), nn.Dense("W3", "b3"),
                         loss=nn.SoftmaxCrossEntropy(), name="nn_tanh_mlp")


def point() -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Glorot-scaled weights, small biases, pixels in [0, 1), integer labels."""
    rng = np.random.default_rng(SEED)
    params: dict[str, np.ndarray] = {}
    for i, (fan_in, fan_out) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
        params[f"W{i}"] = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        params[f"b{i}"] = 0.1 * rng.standard_normal(fan_out)
    return params, rng.random((BATCH, SIZES[0])), rng.integers(0, SIZES[-1], size=BATCH)


def backward(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The user's hand-written backward."""
    z1 = x @ p["W1"] + p["b1"]
    a1 = np.tanh(z1)
    z2 = a1 @ p["W2"] + p["b2"]
    a2 = np.tanh(z2)
    z3 = a2 @ p["W3"] + p["b3"]
    e = np.exp(z3 - z3.max(axis=1, keepdims=True))
    dz3 = e / e.sum(axis=1, keepdims=True)
    dz3[np.arange(len(y)), y] -= 1.0
    dz3 /= len(y)
    dz2 = (dz3 @ p["W3"].T) * (1.0 - a2 ** 2)
    dz1 = (dz2 @ p["W2"].T) * (1.0 - a1 ** 2)
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0),
            "W3": a2.T @ dz3, "b3": dz3.sum(axis=0)}


def _tag(benchmark: Any, method: str, n_params: int) -> None:
    benchmark.group = GROUP
    benchmark.extra_info.update(model="nn_tanh_mlp", method=method, n_params=n_params, batch=BATCH)


def test_nn_plain_loop(benchmark: Any) -> None:
    """The plain loop on a seeded subset, scaled to every entry."""
    model, (params, x, y) = tanh_mlp(), point()
    n = sum(v.size for v in params.values())
    _tag(benchmark, "plain_loop", n)
    entries = sample_entries(params, SUBSET, SEED)
    values = benchmark.pedantic(plain_loop_on_entries, args=(lambda q: model.loss(q, x, y), params, entries),
                                rounds=3, iterations=1, warmup_rounds=1)
    scaled = float(benchmark.stats.stats.min) * n / len(entries)
    _measured["plain_loop"] = scaled
    benchmark.extra_info.update(entries_timed=len(entries), scale_factor=n / len(entries), scaled_statistic="min",
                                scaled_to_all_entries_s=scaled)
    exact = backward(params, x, y)
    assert np.allclose(values, [exact[k].reshape(-1)[i] for k, i in entries], rtol=1e-4, atol=1e-8)


def test_nn_full_check(benchmark: Any) -> None:
    """``check_model(mode="full")``, and its speed-up over the plain loop of this run."""
    model, (params, x, y) = tanh_mlp(), point()
    n = sum(v.size for v in params.values())
    _tag(benchmark, "full_check", n)
    result = benchmark.pedantic(lambda: check_model(model, params, x, y, backward=backward, seed=SEED),
                                rounds=2, iterations=1)
    assert result.passed, "the full check rejected a correct backward"
    benchmark.extra_info["passed"] = bool(result.passed)
    if "plain_loop" not in _measured:
        pytest.skip("the plain loop was not timed in this run (run the whole module)")
    speedup = _measured["plain_loop"] / float(benchmark.stats.stats.min)
    benchmark.extra_info["speedup_vs_plain_loop"] = speedup
    assert speedup >= TARGET_SPEEDUP, f"full check only {speedup:.1f}x the plain loop (target {TARGET_SPEEDUP}x)"
