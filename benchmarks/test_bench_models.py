"""Benchmarks: backprop vs the plain loop vs the fast full check vs fast mode.

Run with ``pytest --benchmark-only benchmarks/`` (the root conftest skips
this directory otherwise).  For every reference model, and the
``mnist_relu`` sizes of :data:`SIZES`, there are four benchmarks in one group
``<model>-N<batch>``, so the ratios read at a glance:

``backprop``
    ``model.backward(params, x, y)``.
``plain_loop``
    :func:`gradcheck.numeric.numerical_gradient` on ``model.loss``: two loss
    calls per entry.  For models with more than :data:`PLAIN_LOOP_MAX_ENTRIES`
    parameters it is timed on a seeded random subset of
    :data:`PLAIN_LOOP_SUBSET` entries (:func:`plain_loop_on_entries`, the
    same per-entry work) and scaled linearly to every entry; the benchmark's
    own statistics are then those of the subset, and
    ``extra_info["scaled_to_all_entries_s"]`` holds the scaled best round
    (``scaled_median_to_all_entries_s`` the scaled median).
``full_check``
    ``check_model(..., mode="full")``.
``fast_check``
    ``check_model(..., mode="fast")``.
``full_check_1proc``
    ``check_model(..., mode="full", workers=1)`` for the networks with more
    than :data:`PLAIN_LOOP_MAX_ENTRIES` parameters: the full check in this
    process alone.  By default it forks one worker per CPU (see
    :mod:`gradcheck.parallel`), as the plain loop's matrix products use
    one BLAS thread per CPU.

``full_1proc_over_floor``
    :func:`test_full_check_over_floor`: the floor and the one-process full
    check timed alternately, round by round; their ratio is in ``extra_info``.

``floor``
    :func:`floor_losses` for ``mnist_relu`` at N=32: the arithmetic the full
    check minimally needs (``f(p +- h)`` for every entry, the points its first
    stage evaluates, with only the moved hidden column and the samples it
    touches recomputed), as a compact plain-numpy computation in one process.

When ``torch`` is importable, ``torch.autograd.gradcheck`` (float64) is timed
(in :mod:`benchmarks.test_bench_torch`, which runs after every gradcheck
benchmark) on the networks of the speed issue's table (:data:`TABLE`): ``fast_mode=True``
on every entry, and the default mode on the plain loop's sampled entries,
scaled to all of them.  The networks above :data:`SLOW_PARAMS` parameters
(784-1000-10) are marked ``slow``.

Every benchmark records ``model``, ``method``, ``n_params`` and ``batch`` in
``extra_info``; :mod:`gradcheck.tools.benchplot` turns the JSON into a table and a plot.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pytest

import reference_models
from gradcheck.check import check_model
from gradcheck.numeric import default_step, numerical_gradient

__all__ = [
    "BATCH",
    "PLAIN_LOOP_MAX_ENTRIES",
    "PLAIN_LOOP_SUBSET",
    "SEED",
    "SIZES",
    "SLOW_PARAMS",
    "FAST_ROUNDS",
    "TABLE",
    "floor_losses",
    "plain_loop_on_entries",
    "sample_entries",
]

#: Batch size of every model's random batch (``mnist_relu`` also runs at 256).
BATCH = 32
#: Models with more parameters than this get the plain loop on a subset.
PLAIN_LOOP_MAX_ENTRIES = 2000
#: Entries the plain loop is timed on when it is subsampled.
PLAIN_LOOP_SUBSET = 256
#: Seed of parameters, batches, the entry subset and the fast-mode probes.
SEED = 0

#: Smaller ``mnist_relu`` networks (``n_in x hidden x 10``) that fill in the
#: parameter-count axis between the notebook toys and the 79,400-entry network.
SIZES: dict[str, tuple[str, dict[str, int]]] = {
    "mnist_relu-32x16x10": ("mnist_relu", {"n_in": 32, "hidden": 16}),
    "mnist_relu-196x50x10": ("mnist_relu", {"n_in": 196, "hidden": 50}),
    "mnist_relu-784x400x10": ("mnist_relu", {"hidden": 400}),
    "mnist_relu-784x1000x10": ("mnist_relu", {"hidden": 1000}),
}

#: Networks above this many parameters are marked ``slow`` (the 794,000-entry ones).
SLOW_PARAMS = 500_000

#: The speed issue's table: ``784-H-10`` networks where fast mode meets torch's ``fast_mode``.
TABLE: list[tuple[str, int]] = [("mnist_relu", BATCH), ("mnist_relu", 256), ("mnist_relu-784x400x10", BATCH),
                                ("mnist_relu-784x1000x10", BATCH), ("mnist_relu-784x1000x10", 256)]

CASES: list[tuple[str, int]] = ([(name, BATCH) for name in reference_models.names()] + [("mnist_relu", 256)]
                                + [(label, BATCH) for label in SIZES] + [("mnist_relu-784x1000x10", 256)])


def _case_id(case: tuple[str, int]) -> str:
    return f"{case[0]}-N{case[1]}"


def _params(cases: Sequence[tuple[str, int]]) -> list[Any]:
    """``cases`` as pytest params, the networks above :data:`SLOW_PARAMS` marked ``slow``."""
    def n_params(name: str) -> int:
        base, options = SIZES.get(name, (name, {}))
        return int(reference_models.get(base, **options).n_params())

    return [pytest.param(c, id=_case_id(c), marks=[pytest.mark.slow] if n_params(c[0]) > SLOW_PARAMS else [])
            for c in cases]


def _point(name: str, batch: int) -> tuple[Any, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    base, options = SIZES.get(name, (name, {}))
    model = reference_models.get(base, **options)
    rng = np.random.default_rng(SEED)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, batch)
    return model, params, x, y


def _big(model: Any) -> bool:
    return model.n_params() > PLAIN_LOOP_MAX_ENTRIES


def _tag(benchmark: Any, model: Any, name: str, batch: int, method: str) -> None:
    benchmark.group = f"{name}-N{batch}"
    benchmark.extra_info.update(model=name, method=method, n_params=int(model.n_params()), batch=int(batch))


def sample_entries(params: Mapping[str, np.ndarray], k: int, seed: int) -> list[tuple[str, int]]:
    """``k`` distinct entries drawn uniformly (seeded) from all entries of ``params``.

    Parameters
    ----------
    params : mapping of str to ndarray
    k : int
        Number of entries (at most the total).
    seed : int

    Returns
    -------
    list of (str, int)
        ``(name, flat index)`` pairs in the order of ``params`` then index.

    Examples
    --------
    >>> sample_entries({"a": np.zeros(2), "b": np.zeros((2, 2))}, 6, 0)
    [('a', 0), ('a', 1), ('b', 0), ('b', 1), ('b', 2), ('b', 3)]
    """
    names = list(params)
    sizes = np.array([np.asarray(params[n]).size for n in names])
    chosen = np.sort(np.random.default_rng(seed).choice(int(sizes.sum()), size=k, replace=False))
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    owner = np.searchsorted(starts, chosen, side="right") - 1
    return [(names[o], int(c - starts[o])) for o, c in zip(owner, chosen)]


def plain_loop_on_entries(
    f: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    entries: Sequence[tuple[str, int]],
) -> np.ndarray:
    """:func:`~gradcheck.numeric.numerical_gradient`'s loop, restricted to ``entries``.

    The per-entry work is that of ``numerical_gradient`` line for line: move
    the entry of a working copy by ``+h``, call ``f`` on a shallow copy of the
    dict, move it by ``-h``, call again, restore, take the quotient, with
    ``h`` from :func:`~gradcheck.numeric.default_step`.  Its time on ``K``
    entries times ``n_entries / K`` estimates the plain loop over all of them
    (every entry costs two full loss calls, whatever entry it is).

    Parameters
    ----------
    f : callable
        ``f(params) -> float``.
    params : mapping of str to ndarray
        The point (copied, never modified).
    entries : sequence of (str, int)
        ``(name, flat index)`` pairs, e.g. from :func:`sample_entries`.

    Returns
    -------
    ndarray
        The central differences, one per entry, bit-identical to the
        corresponding entries of ``numerical_gradient(f, params)``.
    """
    work = {k: np.array(v, dtype=np.float64) for k, v in params.items()}
    steps = {k: default_step(v).reshape(-1) for k, v in work.items()}
    out = np.empty(len(entries))
    for j, (key, i) in enumerate(entries):
        flat = work[key].reshape(-1)  # a view into work[key]
        x0 = flat[i]
        flat[i] = x0 + steps[key][i]
        f_plus = float(f(dict(work)))
        flat[i] = x0 - steps[key][i]
        f_minus = float(f(dict(work)))
        flat[i] = x0
        out[j] = (f_plus - f_minus) / (2.0 * steps[key][i])
    return out


#: Rounds of the millisecond-scale fast checks (ours and torch's ``fast_mode``) on the big networks.
FAST_ROUNDS = 15


def _run(benchmark: Any, big: bool, fn: Callable[[], Any], rounds: int = 5) -> Any:
    """Slow cases: a fixed number of rounds (at most 3 above :data:`SLOW_PARAMS`, unless fast mode's
    :data:`FAST_ROUNDS`); fast ones: pytest-benchmark's calibration."""
    if big:
        if benchmark.extra_info.get("n_params", 0) > SLOW_PARAMS and rounds != FAST_ROUNDS:
            rounds = 3
        return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=1)
    return benchmark(fn)


@pytest.mark.parametrize("case", _params(CASES))
def test_backprop(benchmark: Any, case: tuple[str, int]) -> None:
    """Time ``model.backward``."""
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "backprop")
    grads = _run(benchmark, _big(model), lambda: model.backward(params, x, y), rounds=10)
    assert set(grads) == set(params)


@pytest.mark.parametrize("case", _params(CASES))
def test_plain_loop(benchmark: Any, case: tuple[str, int]) -> None:
    """Time ``numerical_gradient`` on ``model.loss`` (subset-and-scale for big models)."""
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "plain_loop")
    n = int(model.n_params())
    loss = lambda q: model.loss(q, x, y)
    if not _big(model):
        grads = _run(benchmark, False, lambda: numerical_gradient(loss, params))
        benchmark.extra_info.update(entries_timed=n, scale_factor=1.0, scaled_statistic="min",
                                    scaled_to_all_entries_s=float(benchmark.stats.stats.min))
        exact = model.backward(params, x, y)
        assert all(np.allclose(grads[k], exact[k], rtol=1e-4, atol=1e-7) for k in params)
        return
    # The subset helper must do exactly numerical_gradient's arithmetic: compare
    # bit for bit on a small network of the same kind before timing it.
    small = reference_models.get("mnist_relu", n_in=6, hidden=3, n_out=2)
    sp = small.init_params(np.random.default_rng(1))
    sx, sy = small.example_batch(np.random.default_rng(2), 5)
    ref = numerical_gradient(lambda q: small.loss(q, sx, sy), sp)
    every = sample_entries(sp, small.n_params(), 0)
    assert np.array_equal(plain_loop_on_entries(lambda q: small.loss(q, sx, sy), sp, every),
                          np.array([ref[k].reshape(-1)[i] for k, i in every]))

    entries = sample_entries(params, PLAIN_LOOP_SUBSET, SEED)
    values = benchmark.pedantic(plain_loop_on_entries, args=(loss, params, entries), rounds=5, iterations=1,
                                warmup_rounds=1)
    stats = benchmark.stats.stats
    benchmark.extra_info.update(entries_timed=len(entries), scale_factor=n / len(entries), scaled_statistic="min",
                                scaled_to_all_entries_s=float(stats.min) * n / len(entries),
                                scaled_median_to_all_entries_s=float(stats.median) * n / len(entries),
                                note=f"timed on {len(entries)} of {n} seeded random entries; "
                                     "scaled_to_all_entries_s = min over rounds * n_params / entries_timed")
    exact = model.backward(params, x, y)
    analytic = np.array([exact[k].reshape(-1)[i] for k, i in entries])
    # the plain loop has no kink handling: at N=256 a few sampled entries straddle a ReLU kink
    assert np.mean(np.isclose(values, analytic, rtol=1e-3, atol=1e-7)) >= 0.95


@pytest.mark.parametrize("mode", ["full", "fast"])
@pytest.mark.parametrize("case", _params(CASES))
def test_check_model(benchmark: Any, case: tuple[str, int], mode: str) -> None:
    """Time ``check_model(mode=...)``; its verdict goes into ``extra_info["passed"]``."""
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, f"{mode}_check")
    # fast mode takes milliseconds: 15 rounds (torch's fast_mode gets as many), whose best is steadier on a shared machine
    result = _run(benchmark, _big(model), lambda: check_model(model, params, x, y, mode=mode, seed=SEED),
                  rounds=FAST_ROUNDS if mode == "fast" else 5)
    benchmark.extra_info["passed"] = bool(result.passed)
    if mode == "full":
        assert result.passed, f"{name}: the full check rejected a correct backward"


@pytest.mark.parametrize("case", _params([c for c in CASES if _big(_point(*c)[0])]))
def test_full_check_one_process(benchmark: Any, case: tuple[str, int]) -> None:
    """Time ``check_model(mode="full", workers=1)``: no forked workers."""
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "full_check_1proc")
    result = _run(benchmark, True, lambda: check_model(model, params, x, y, mode="full", seed=SEED, workers=1))
    benchmark.extra_info["passed"] = bool(result.passed)
    assert result.passed, f"{name}: the full check rejected a correct backward"


def floor_losses(params: Mapping[str, np.ndarray], x: np.ndarray, t: np.ndarray,
                 offsets: Sequence[float] = (1.0, -1.0)) -> dict[str, np.ndarray]:
    """The floor: mnist_relu's loss at the stencil points ``offsets * h`` of every entry, with the least arithmetic.

    A compact plain-numpy reference for what the full check must at least
    compute.  The check is two-stage: every entry gets ``f(p +- h)`` (the
    default ``offsets``), and only entries that this central difference
    cannot settle get ``+-2h`` too (none for ``mnist_relu`` at N=32, 158 of
    79,400 at N=256), so the floor at N=32 is two points per entry.
    Moving ``W1[i, j]`` by ``s`` changes only hidden unit ``j``, and only for
    the samples where that unit can change (active, or within
    ``max|offsets| h max|x|`` of its kink); for those the logits move by
    ``(relu(z1 + s x_i) - relu(z1)) W2[j]`` and their log-sum-exp is
    recomputed.  Moving ``W2[j, k]`` moves logit ``k`` by ``s h_j`` for the
    samples where ``h_j > 0``.  No guards, no error bars, no verdict: the
    arithmetic alone, in one process.  Returns ``{name: (len(offsets), *shape)}``.
    """
    W1, W2 = params["W1"], params["W2"]
    n = len(x)
    z1 = x @ W1
    h = np.maximum(z1, 0.0)
    z2 = h @ W2
    m0 = z2.max(axis=1)
    e0 = np.exp(z2 - m0[:, None])  # every logit's exp at the point; a move of logit k rescales one term
    per0 = (m0 + np.log(e0.sum(axis=1))) - (t * z2).sum(axis=1)
    f0 = per0.sum() / n
    o = np.asarray(offsets, dtype=np.float64)
    out1 = np.empty((len(o),) + W1.shape)
    s1 = o[:, None, None] * default_step(W1)[None]
    reach = float(np.abs(s1).max()) * float(np.abs(x).max())
    tw = t @ W2.T  # (n, hidden): d(target logit) per unit of h_j
    xT = np.ascontiguousarray(x.T)
    for j in range(W1.shape[1]):
        a = np.flatnonzero(z1[:, j] > -reach)
        dh = z1[a, j] + s1[:, :, j, None] * xT[:, a][None]  # (P, n_in, A): the column's new pre-activation
        np.maximum(dh, 0.0, out=dh)
        dh -= h[a, j]
        total = np.zeros(dh.shape)
        for k in range(W2.shape[1]):  # log-sum-exp: one exp per logit, shifted by the point's max
            total += e0[a, k] * np.exp(dh * W2[j, k])
        per = m0[a] + np.log(total) - (t[a] * z2[a]).sum(axis=1) - dh * tw[a, j]
        out1[:, :, j] = f0 + (per - per0[a]).sum(axis=-1) / n
    out2 = np.empty((len(o),) + W2.shape)
    s2 = o[:, None, None] * default_step(W2)[None]
    for j in range(W2.shape[0]):
        a = np.flatnonzero(h[:, j] > 0)
        d = s2[:, j, :, None] * h[a, j]  # (P, n_out, A): logit k of each sample moves by s h_j
        rest = e0[a].sum(axis=1)
        total = rest + e0[a].T * np.expm1(d)
        per = m0[a] + np.log(total) - (t[a] * z2[a]).sum(axis=1) - d * t[a].T
        out2[:, j, :] = f0 + (per - per0[a]).sum(axis=-1) / n
    return {"W1": out1, "W2": out2}


@pytest.mark.parametrize("case", [("mnist_relu", BATCH)], ids=_case_id)
def test_floor(benchmark: Any, case: tuple[str, int]) -> None:
    """Time :func:`floor_losses` (the full check's arithmetic floor) in the group of the full check."""
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "floor")
    got = benchmark.pedantic(floor_losses, args=(params, x, y), rounds=5, iterations=1, warmup_rounds=1)
    # the floor computes the right losses: the loss itself at a few moved entries
    for k, i in sample_entries(params, 12, SEED):
        for r, o in enumerate((1.0, -1.0)):
            moved = {q: v.copy() for q, v in params.items()}
            moved[k].reshape(-1)[i] += o * default_step(params[k]).reshape(-1)[i]
            assert abs(got[k].reshape(2, -1)[r, i] - model.loss(moved, x, y)) <= 1e-13 * abs(model.loss(params, x, y))


#: Alternating rounds of :func:`test_full_check_over_floor` (after one unmeasured round of each).
FLOOR_ROUNDS = 9


@pytest.mark.parametrize("case", [("mnist_relu", BATCH)], ids=_case_id)
def test_full_check_over_floor(benchmark: Any, case: tuple[str, int]) -> None:
    """The one-process full check over the floor, the two timed alternately: a ratio a drifting load leaves alone.

    ``test_floor`` and ``test_full_check_one_process`` each run their rounds
    back to back, so on a shared machine a burst of other work can land on
    one and not the other.  Here every round times :func:`floor_losses` and
    then ``check_model(..., mode="full", workers=1)``;
    ``extra_info["ratio_of_best"]`` is the best full check over the best
    floor (``ratio_of_medians`` likewise).  The benchmark's own statistics
    are those of one round (both).
    """
    name, batch = case
    model, params, x, y = _point(name, batch)
    _tag(benchmark, model, name, batch, "full_1proc_over_floor")
    times: dict[str, list[float]] = {"floor": [], "full": []}

    def one_round() -> Any:
        start = time.perf_counter()
        floor_losses(params, x, y)
        middle = time.perf_counter()
        result = check_model(model, params, x, y, mode="full", seed=SEED, workers=1)
        times["floor"].append(middle - start)
        times["full"].append(time.perf_counter() - middle)
        return result

    one_round()
    times["floor"].clear()
    times["full"].clear()
    result = benchmark.pedantic(one_round, rounds=FLOOR_ROUNDS, iterations=1, warmup_rounds=0)
    best = {k: min(v) for k, v in times.items()}
    median = {k: float(np.median(v)) for k, v in times.items()}
    benchmark.extra_info.update(floor_best_s=best["floor"], full_1proc_best_s=best["full"],
                                ratio_of_best=best["full"] / best["floor"],
                                ratio_of_medians=median["full"] / median["floor"], rounds=FLOOR_ROUNDS)
    assert result.passed, f"{name}: the full check rejected a correct backward"
