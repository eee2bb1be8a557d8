"""Benchmarks: ``torch.autograd.gradcheck`` on the speed issue's table (skipped without torch).

The networks, points and sampled entries are :mod:`benchmarks.test_bench_models`'s.
This module is named to run after every gradcheck benchmark: importing torch
starts native threads, and from then on gradcheck does not fork its workers by
default (:func:`gradcheck.parallel.can_fork`, the speed issue's item 3), so a
gradcheck benchmark run after it would time a process that imported torch
rather than a numpy user's process.  The last benchmark here times exactly
that: the full check beside torch's threads, with default workers.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import pytest

from benchmarks.test_bench_models import (FAST_ROUNDS, PLAIN_LOOP_SUBSET, SEED, SLOW_PARAMS, TABLE, _params, _point, _tag,
                                         sample_entries)


def _torch_loss(torch: Any, model: Any, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray,
                entries: Sequence[tuple[str, int]] | None) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """mnist_relu's loss in torch (float64), of all of W1 and W2 or only of the sampled ``entries``.

    With ``entries`` the inputs are those entries' values; the loss is
    computed as ``X @ W1 + X[:, i] (w - W1[i, j])`` for each sampled ``(i, j)``
    (and the same for ``W2``), so one evaluation costs one full forward pass,
    as in torch's default mode over all entries, without copying the weights.
    """
    X, T = torch.from_numpy(x), torch.from_numpy(y)
    W = {k: torch.from_numpy(params[k].copy()) for k in ("W1", "W2")}

    def head(z1: Any, W2: Any, extra: Callable[[Any], Any] | None = None) -> Any:
        h = torch.relu(z1)
        z2 = h @ W2 if extra is None else extra(h)
        return -(T * torch.log_softmax(z2, dim=-1)).sum(dim=-1).mean()

    if entries is None:
        inputs = tuple(W[k].clone().requires_grad_() for k in ("W1", "W2"))
        return (lambda W1, W2: head(X @ W1, W2)), inputs
    cols = {k: params[k].shape[1] for k in ("W1", "W2")}
    pick = {k: [i for n, i in entries if n == k] for k in ("W1", "W2")}
    rows = {k: torch.tensor([i // cols[k] for i in pick[k]], dtype=torch.long) for k in pick}
    cs = {k: torch.tensor([i % cols[k] for i in pick[k]], dtype=torch.long) for k in pick}
    base = {k: torch.from_numpy(params[k].reshape(-1)[pick[k]].copy()) for k in pick}
    inputs = tuple(base[k].clone().requires_grad_() for k in ("W1", "W2"))

    def loss(w1: Any, w2: Any) -> Any:
        z1 = (X @ W["W1"]).index_add(1, cs["W1"], X[:, rows["W1"]] * (w1 - base["W1"]))
        return head(z1, W["W2"], lambda h: (h @ W["W2"]).index_add(1, cs["W2"], h[:, rows["W2"]] * (w2 - base["W2"])))

    return loss, inputs


@pytest.mark.parametrize("fast_mode", [False, True], ids=["default", "fast_mode"])
@pytest.mark.parametrize("case", _params(TABLE))
def test_torch_gradcheck(benchmark: Any, case: tuple[str, int], fast_mode: bool) -> None:
    """Time ``torch.autograd.gradcheck`` on the table's networks in float64 (skipped without torch).

    ``fast_mode`` checks every entry at once (one random projection).  The
    default mode, which perturbs every entry, is timed on the plain loop's
    :data:`PLAIN_LOOP_SUBSET` sampled entries and scaled to all of them
    (``extra_info["scaled_to_all_entries_s"]``).
    """
    torch = pytest.importorskip("torch")
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "torch_gradcheck_fast" if fast_mode else "torch_gradcheck")
    n = int(model.n_params())
    entries = None if fast_mode else sample_entries(params, PLAIN_LOOP_SUBSET, SEED)
    loss, inputs = _torch_loss(torch, model, params, x, y, entries)
    with torch.no_grad():
        assert abs(float(loss(*inputs)) - model.loss(params, x, y)) < 1e-12
    run = lambda: torch.autograd.gradcheck(loss, inputs, fast_mode=fast_mode, raise_exception=False)
    passed = benchmark.pedantic(run, rounds=FAST_ROUNDS if fast_mode else 3, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(passed=bool(passed), torch_version=torch.__version__,
                                torch_threads=int(torch.get_num_threads()))
    if entries is not None:
        stats = benchmark.stats.stats
        benchmark.extra_info.update(entries_timed=len(entries), scale_factor=n / len(entries), scaled_statistic="min",
                                    scaled_to_all_entries_s=float(stats.min) * n / len(entries),
                                    note=f"default mode timed on {len(entries)} of {n} seeded random entries")


@pytest.mark.parametrize("case", _params(TABLE))
def test_full_check_beside_torch_threads(benchmark: Any, case: tuple[str, int]) -> None:
    """Time ``check_model(mode="full")`` with default workers in this process, where torch's threads run.

    Forking is unsafe here (:func:`gradcheck.parallel.can_fork` is false)
    and the default is one process: the figure a user who uses torch in the
    same process gets.
    """
    torch = pytest.importorskip("torch")
    from gradcheck import check_model
    from gradcheck.parallel import can_fork

    torch.ones(256, 256, dtype=torch.float64).matmul(torch.ones(256, 256, dtype=torch.float64))  # torch's pool runs
    assert not can_fork(), "torch's threads should make forking unsafe here"
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "full_check_beside_torch")
    result = benchmark.pedantic(lambda: check_model(model, params, x, y, mode="full", seed=SEED),
                                rounds=3 if model.n_params() > SLOW_PARAMS else 5, iterations=1, warmup_rounds=1)
    benchmark.extra_info.update(passed=bool(result.passed))
    assert result.passed
