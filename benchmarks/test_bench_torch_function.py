"""Benchmarks: fast mode on a user's opaque loss against torch's ``fast_mode`` on the same function.

Run with ``pytest --benchmark-only benchmarks/test_bench_torch_function.py`` (torch optional: its
tests are skipped without it).  The function is a user's own ReLU MLP loss in
numpy (:func:`relu_point`), so the check sees only ``f(params) -> float``;
torch gets the very same numpy function wrapped in an
``autograd.Function`` whose backward returns the same analytic gradient,
so both tools call the same ``f`` and only their own work differs.  For
each size (:data:`SIZES`: 1,210, 9,946 and 101,770 parameters) the group
``function-fast-<size>`` has

``check_fast``
    ``check_gradients(f, grads, params, mode="fast")``;
    ``extra_info["f_calls"]`` counts its calls of ``f``.
``torch_fast_mode``
    ``torch.autograd.gradcheck(..., fast_mode=True)`` (skipped without torch).
``side_by_side``
    both, alternately in this test (a busy moment hurts both), best of
    :data:`ROUNDS` rounds each, torch on one thread (its pool of two,
    spinning beside other jobs on a shared 2-core machine, moved its best
    round by 3x from run to run; ``f`` is numpy's in both, so run with
    ``OPENBLAS_NUM_THREADS=1`` for the same reason):
    ``extra_info["ratio_to_torch"]`` is ours over torch's (skipped without torch).

Named to run after ``test_bench_torch.py``, after every gradcheck benchmark
that could fork: importing torch starts native threads, after which
gradcheck does not fork by default (fast mode on a function never forks).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import pytest

from benchmarks.test_bench_function import seeded_mlp
from gradcheck import check_gradients

__all__ = ["ROUNDS", "SIZES", "relu_point"]

#: ``name: (inputs, hidden, classes, batch)`` of the user's ReLU MLP.
SIZES: dict[str, tuple[int, int, int, int]] = {"64-16-10": (64, 16, 10, 32), "196-48-10": (196, 48, 10, 32),
                                               "784-128-10": (784, 128, 10, 32)}
#: Alternating rounds of the side-by-side test (best of each kept).
ROUNDS = 15
NAMES = ("W1", "b1", "W2", "b2")


def relu_point(size: str, seed: int = 0) -> tuple[Callable[[dict[str, np.ndarray]], float], dict[str, np.ndarray],
                                                  dict[str, np.ndarray]]:
    """``(f, grads, params)``: a user's ReLU MLP softmax cross-entropy loss, its exact gradient, a seeded point."""
    n_in, hidden, classes, batch = SIZES[size]
    params, x, y = seeded_mlp(n_in, hidden, classes, batch, seed)

    def forward(p: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        z1 = x @ p["W1"] + p["b1"]
        a = np.maximum(z1, 0.0)
        z = a @ p["W2"] + p["b2"]
        z = z - z.max(axis=1, keepdims=True)
        return z1, a, z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    def f(p: dict[str, np.ndarray]) -> float:
        return float(-forward(p)[2][np.arange(batch), y].mean())

    z1, a, logp = forward(params)
    dz = np.exp(logp)
    dz[np.arange(batch), y] -= 1
    dz /= batch
    da = dz @ params["W2"].T * (z1 > 0)
    return f, {"W1": x.T @ da, "b1": da.sum(0), "W2": a.T @ dz, "b2": dz.sum(0)}, params


def _counted(f: Callable[[dict[str, np.ndarray]], float]) -> tuple[Callable[[dict[str, np.ndarray]], float], list[int]]:
    calls = [0]

    def g(p: dict[str, np.ndarray]) -> float:
        calls[0] += 1
        return f(p)
    return g, calls


def _torch_check(torch: Any, f: Callable[[dict[str, np.ndarray]], float], grads: dict[str, np.ndarray],
                 params: dict[str, np.ndarray]) -> Callable[[], bool]:
    """torch's ``fast_mode`` gradcheck of the numpy ``f``, wrapped with ``grads`` as its backward."""
    class Wrapped(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, *ts: Any) -> Any:
            return torch.tensor(f({k: t.detach().numpy() for k, t in zip(NAMES, ts)}), dtype=torch.float64)

        @staticmethod
        def backward(ctx: Any, out: Any) -> Any:
            return tuple(out * torch.from_numpy(grads[k]) for k in NAMES)

    inputs = tuple(torch.from_numpy(params[k].copy()).requires_grad_() for k in NAMES)
    return lambda: bool(torch.autograd.gradcheck(Wrapped.apply, inputs, fast_mode=True, raise_exception=False))


def _tag(benchmark: Any, size: str, method: str, params: dict[str, np.ndarray]) -> None:
    benchmark.group = f"function-fast-{size}"
    benchmark.extra_info.update(model=f"user_relu_mlp_{size}", method=method, batch=SIZES[size][3],
                                n_params=int(sum(v.size for v in params.values())))


def _best(fn: Callable[[], Any]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@pytest.mark.parametrize("size", list(SIZES))
def test_check_fast(benchmark: Any, size: str) -> None:
    f, grads, params = relu_point(size)
    _tag(benchmark, size, "check_fast", params)
    counted, calls = _counted(f)
    assert check_gradients(counted, grads, params, mode="fast").passed
    benchmark.extra_info["f_calls"] = calls[0]
    result = benchmark.pedantic(check_gradients, args=(f, grads, params), kwargs={"mode": "fast"}, rounds=ROUNDS,
                                iterations=1, warmup_rounds=1)
    assert result.passed


@pytest.mark.parametrize("size", list(SIZES))
def test_torch_fast_mode(benchmark: Any, size: str) -> None:
    torch = pytest.importorskip("torch")
    f, grads, params = relu_point(size)
    _tag(benchmark, size, "torch_fast_mode", params)
    counted, calls = _counted(f)
    assert _torch_check(torch, counted, grads, params)()
    benchmark.extra_info.update(f_calls=calls[0], torch_version=torch.__version__,
                                torch_threads=int(torch.get_num_threads()))
    assert benchmark.pedantic(_torch_check(torch, f, grads, params), rounds=ROUNDS, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("size", list(SIZES))
def test_side_by_side(benchmark: Any, size: str) -> None:
    """Ours and torch's, alternately; ``extra_info["ratio_to_torch"]``: our best round over torch's."""
    torch = pytest.importorskip("torch")
    f, grads, params = relu_point(size)
    _tag(benchmark, size, "side_by_side", params)
    ours = lambda: check_gradients(f, grads, params, mode="fast")
    theirs = _torch_check(torch, f, grads, params)
    times: dict[str, list[float]] = {"ours": [], "torch": []}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(ROUNDS):
            times["ours"].append(_best(ours))
            times["torch"].append(_best(theirs))
    finally:
        torch.set_num_threads(threads)
    benchmark.pedantic(ours, rounds=1, iterations=1)
    best = {k: min(v) for k, v in times.items()}
    benchmark.extra_info.update(check_fast_best_s=best["ours"], torch_fast_mode_best_s=best["torch"],
                                ratio_to_torch=best["ours"] / best["torch"])
