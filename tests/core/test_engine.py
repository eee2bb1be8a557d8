"""The structured engine against the plain loop, for every reference model.

The plain loop :func:`gradcheck.numeric.numerical_gradient` calls
``model.loss`` with one entry moved; the engine evaluates the same loss at
the same points through the layers, stacked, with rank-one updates and
per-sample pairs.  Both are central differences ``(f(p+h) - f(p-h)) / 2h``
of the same function at the same ``h`` (:func:`default_step`), so they can
differ only by the round-off of the loss values: each value carries a few
ulps of ``|f|``, divided by ``2h`` that is about ``eps |f| / h``.  The
tolerance is ``1e-9 * max|grad|`` (per parameter) plus ``64 eps |f| / h``.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from gradcheck import nn
from gradcheck.engine import ModelEvaluator, estimate_gradients
from gradcheck.numeric import EPS64, default_step, numerical_gradient

NAMES = rm.names()
OPTIONS = {"mnist_relu": {"n_in": 12, "hidden": 7, "n_out": 4}}
#: loss = c * sum of per-sample losses: c = 1/N for means, 1 for sums (NETWORKS.md)
SUMS = {"study_2layer", "study_3layer"}


def point(name: str, n: int, seed: int = 0):
    model = rm.get(name, **OPTIONS.get(name, {}))
    rng = np.random.default_rng(seed)
    params = {k: np.asarray(0.8 * rng.standard_normal(s)) for k, s in model.param_shapes.items()}
    x, y = model.example_batch(rng, n)
    return model, params, x, y


def roundoff_tol(model, params, x, y, grad: np.ndarray, h: np.ndarray) -> np.ndarray:
    f = abs(model.loss(params, x, y))
    return 1e-9 * np.max(np.abs(grad)) + 64 * EPS64 * max(f, 1e-300) / h


@pytest.mark.parametrize("n", [1, 3, 7])
@pytest.mark.parametrize("name", NAMES)
def test_first_stage_equals_the_plain_loop(name, n):
    """With every entry accepted after ``+-h`` the engine's value is the plain central difference."""
    model, params, x, y = point(name, n, seed=n)
    before = {k: v.copy() for k, v in params.items()}
    plain = numerical_gradient(lambda q: model.loss(q, x, y), params)
    accept_all = {k: (lambda d1, err: np.ones(d1.shape, bool)) for k in params}
    est = estimate_gradients(model, params, x, y, accept=accept_all)
    for k in params:
        h = default_step(params[k])
        assert est[k].step.shape == params[k].shape
        np.testing.assert_array_equal(est[k].step, h)
        assert not est[k].refined.any()
        diff = np.abs(est[k].value - plain[k])
        assert np.all(diff <= roundoff_tol(model, params, x, y, plain[k], h)), (k, diff.max())
        np.testing.assert_array_equal(params[k], before[k])


@pytest.mark.parametrize("n", [1, 4])
@pytest.mark.parametrize("name", NAMES)
def test_full_estimate_is_extrapolated_plain_difference(name, n):
    """Full mode: ``value - d1 = (d1 - d2) / 3``, which the error bar contains."""
    model, params, x, y = point(name, n, seed=10 + n)
    plain = numerical_gradient(lambda q: model.loss(q, x, y), params)
    est = estimate_gradients(model, params, x, y)
    for k in params:
        h = default_step(params[k])
        assert est[k].refined.all()
        diff = np.abs(est[k].value - plain[k])
        assert np.all(diff <= est[k].error + roundoff_tol(model, params, x, y, plain[k], h)), k


@pytest.mark.parametrize("name", NAMES)
def test_two_stage_and_full_agree(name):
    model, params, x, y = point(name, 5, seed=3)
    full = estimate_gradients(model, params, x, y)
    rng = np.random.default_rng(1)
    masks = {k: rng.random(v.size) < 0.5 for k, v in params.items()}
    accept = {k: (lambda d1, err, m=masks[k]: m) for k in params}
    none = estimate_gradients(model, params, x, y, accept={k: (lambda d1, err: np.zeros(d1.shape, bool)) for k in params})
    mixed = estimate_gradients(model, params, x, y, accept=accept)
    for k in params:
        # nothing accepted: every entry refined, the same numbers as full mode
        assert none[k].refined.all()
        np.testing.assert_allclose(none[k].value, full[k].value, rtol=1e-13, atol=1e-300)
        np.testing.assert_array_equal(none[k].kink, full[k].kink)
        # a mixed acceptance: accepted entries keep d1 and the round-off error, the others are full
        m = masks[k].reshape(params[k].shape)
        assert np.array_equal(mixed[k].refined, ~m)
        np.testing.assert_allclose(mixed[k].value[~m], full[k].value[~m], rtol=1e-13, atol=1e-300)
        np.testing.assert_allclose(mixed[k].error[m], mixed[k].roundoff[m], rtol=0, atol=0)
        assert not mixed[k].kink[m].any()
        # d1 differs from the extrapolated value by exactly the truncation estimate
        trunc = np.abs(mixed[k].value[m] - full[k].value[m])
        assert np.all(trunc <= full[k].error[m] * (1 + 1e-9) + 1e-300)


@pytest.mark.parametrize("name", NAMES)
def test_every_entry_accepted_is_stencil_gradient_of_the_first_stage(name):
    """When stage one settles every entry the estimate skips combining the missing points: the same bits.

    The accepted entries of a mixed acceptance go through
    ``stencil_gradient`` with NaN at ``+-2h``; an acceptance of every entry
    takes the shortcut.  Both evaluate the same ``+-h`` stacks.
    """
    model, params, x, y = point(name, 5, seed=4)
    assert ModelEvaluator(model, params, x, y).tiny(list(params))  # the toy networks' path
    rng = np.random.default_rng(2)
    masks = {k: rng.random(v.size) < 0.5 for k, v in params.items()}
    mixed = estimate_gradients(model, params, x, y, accept={k: (lambda d1, err, m=masks[k]: m) for k in params})
    every = estimate_gradients(model, params, x, y, accept={k: (lambda d1, err: np.ones(d1.shape, bool)) for k in params})
    for k in params:
        m = masks[k].reshape(params[k].shape)
        for field in ("value", "error", "step", "lower", "upper", "kink", "refined", "roundoff"):
            np.testing.assert_array_equal(getattr(every[k], field)[m], getattr(mixed[k], field)[m], err_msg=f"{k}.{field}")


@pytest.mark.parametrize("name", NAMES)
def test_estimate_agrees_with_backward(name):
    """The oracle is independent of ``backward`` but must agree with the exact reference."""
    model, params, x, y = point(name, 5, seed=4)
    est = estimate_gradients(model, params, x, y)
    exact = model.backward(params, x, y)
    for k in params:
        assert np.all(np.abs(est[k].value - exact[k]) <= 4 * est[k].error + 1e-8 * np.abs(exact[k])), k


def _moved_losses(model, params, x, y, name, idx, steps):
    out = []
    for i, s in zip(idx, steps):
        q = {k: v.copy() for k, v in params.items()}
        q[name].reshape(-1)[i] += s
        out.append(model.loss(q, x, y))
    return np.array(out)


def _steps(params, name, idx, rng):
    """Steps such that ``p + s`` is exact, several orders of magnitude, both signs."""
    base = params[name].reshape(-1)[idx]
    raw = rng.choice([-1.0, 1.0], len(idx)) * 10.0 ** rng.uniform(-6, -0.5, len(idx))
    return (base + raw) - base


@pytest.mark.parametrize("n", [1, 6])
@pytest.mark.parametrize("name", NAMES)
def test_losses_equal_model_loss_with_one_entry_moved(name, n):
    model, params, x, y = point(name, n, seed=5 + n)
    rng = np.random.default_rng(2)
    for fresh_path in (False, True):
        ev = ModelEvaluator(model, params, x, y)
        if fresh_path:
            ev.sample_scale = None  # force the whole-batch path
        for k, v in params.items():
            idx = np.concatenate([np.arange(v.size), rng.integers(0, v.size, 5)])
            steps = _steps(params, k, idx, rng)
            got = ev.losses(k, idx, steps)
            want = _moved_losses(model, params, x, y, k, idx, steps)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)
            assert np.any(got != ev.f0)


@pytest.mark.parametrize("name", NAMES)
def test_losses_along_directions(name):
    model, params, x, y = point(name, 4, seed=8)
    ev = ModelEvaluator(model, params, x, y)
    rng = np.random.default_rng(3)
    for k, v in params.items():
        dirs = 1e-3 * rng.standard_normal((3,) + v.shape)
        got = ev.losses_along(k, dirs)
        want = [model.loss({**params, k: params[k] + d}, x, y) for d in dirs]
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", NAMES)
def test_sample_scale_follows_the_loss(name):
    n = 5
    model, params, x, y = point(name, n)
    ev = ModelEvaluator(model, params, x, y)
    expected = 1.0 if name in SUMS else 1.0 / n
    assert ev.sample_scale == pytest.approx(expected, rel=1e-15)
    assert ev.sample_losses.shape == (n,)
    # the per-sample losses are the losses of one-sample batches
    one = [model.loss(params, x[i:i + 1], y[i:i + 1]) for i in range(n)]
    np.testing.assert_allclose(ev.sample_losses, one, rtol=1e-13)
    assert ev.f0 == pytest.approx(model.loss(params, x, y), rel=1e-15)


@pytest.mark.parametrize("name", NAMES)
def test_batch_of_one_is_separable_with_scale_one(name):
    model, params, x, y = point(name, 1)
    assert ModelEvaluator(model, params, x, y).sample_scale == 1.0


@pytest.mark.parametrize("name", NAMES)
def test_pair_path_and_whole_batch_path_agree(name):
    model, params, x, y = point(name, 7, seed=9)
    ev_pairs = ModelEvaluator(model, params, x, y)
    ev_whole = ModelEvaluator(model, params, x, y)
    ev_whole.sample_scale = None
    a = estimate_gradients(model, params, x, y, evaluator=ev_pairs)
    b = estimate_gradients(model, params, x, y, evaluator=ev_whole)
    for k in params:
        tol = roundoff_tol(model, params, x, y, a[k].value, a[k].step)
        assert np.all(np.abs(a[k].value - b[k].value) <= tol), k
        np.testing.assert_array_equal(a[k].kink, b[k].kink)


def test_names_subset_and_workers():
    model, params, x, y = point("xor_3layer", 5)
    some = estimate_gradients(model, params, x, y, names=["W2", "b3"], workers=1)
    assert list(some) == ["W2", "b3"]
    every = estimate_gradients(model, params, x, y, workers=2)
    for k in some:
        np.testing.assert_allclose(some[k].value, every[k].value, rtol=1e-14, atol=1e-300)


def test_width_counts_what_one_perturbed_copy_costs():
    model = rm.get("mnist_relu", n_in=12, hidden=7, n_out=4)
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    ev = ModelEvaluator(model, params, x, y)
    assert ev.width("W1") == 5  # one column of z1, sliced per active sample at W2
    assert ev.width("W2") == 5 * 4  # one column of the logits, expanded to (N, 4) for the head
    ev.sample_scale = None  # no per-sample head: W2 expands the column to whole logits
    assert ev.width("W1") == 5 * 4


def _softmax_point(head):
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2"), loss=head)
    rng = np.random.default_rng(6)
    # big enough not to be ``tiny`` (one pass from the input): the column paths run
    params = {"W1": rng.standard_normal((30, 20)), "b1": 0.1 * rng.standard_normal(20),
              "W2": 0.5 * rng.standard_normal((20, 6))}
    return model, params, rng.standard_normal((40, 30)), rng.integers(0, 6, 40)


def test_rank_one_head_is_used_and_agrees_with_the_head():
    """A last dense layer's weight rows moved through the head's ``rank_one``: same estimate as the head itself."""
    model, params, x, y = _softmax_point(nn.SoftmaxCrossEntropy())
    fast = ModelEvaluator(model, params, x, y)
    assert not fast.tiny(list(params)) and fast._rank_one_head() is model.loss_head
    plain = ModelEvaluator(model, params, x, y)
    plain._cache["rank_one"] = None  # the head as the model gives it
    a = estimate_gradients(model, params, x, y, evaluator=fast, workers=1)
    b = estimate_gradients(model, params, x, y, evaluator=plain, workers=1)
    for k in params:
        tol = roundoff_tol(model, params, x, y, b[k].value, b[k].step)
        assert np.all(np.abs(a[k].value - b[k].value) <= tol), k


class _OffHead(nn.SoftmaxCrossEntropy):
    """Declares ``rank_one`` but gets it wrong by 1e-6 per unit move: the engine must not believe it."""

    def rank_one(self, out, y, row):
        right = super().rank_one(out, y, row)
        return lambda deltas: right(deltas) + 1e-6 * deltas


def test_a_wrong_rank_one_is_not_trusted():
    model, params, x, y = _softmax_point(_OffHead())
    ev = ModelEvaluator(model, params, x, y)
    assert ev._rank_one_head() is None
    est = estimate_gradients(model, params, x, y, evaluator=ev, workers=1)
    plain = numerical_gradient(lambda q: model.loss(q, x, y), params)
    for k in params:
        assert np.all(np.abs(est[k].value - plain[k]) <= est[k].error + roundoff_tol(model, params, x, y, plain[k],
                                                                                   est[k].step)), k


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mnist_relu"])
@pytest.mark.parametrize("accept", [None, "all", "half"])
def test_a_pass_that_tests_its_own_stacking_gives_the_same_bits(name, accept):
    """``estimate_tiny(verify=True)`` (two unmoved copies carried to the head) equals the plain passes bit for bit.

    And it runs none of the separate stacking tests: that is its point.
    """
    from gradcheck.engine import estimate_tiny

    model, params, x, y = point(name, 5, seed=3)
    names = list(params)
    rng = np.random.default_rng(1)
    mask = rng.random(sum(v.size for v in params.values())) < 0.5
    test = None if accept is None else (lambda d1, err: mask if accept == "half" else np.ones(d1.shape, bool))
    ev = ModelEvaluator(model, params, x, y)
    verified = estimate_tiny(ev, names, test, verify=True)
    assert verified is not None and ev._stacking is None
    plain = ModelEvaluator(model, params, x, y)
    assert plain.tiny(names)
    want = estimate_tiny(plain, names, test)
    for field in ("value", "error", "step", "lower", "upper", "kink", "refined", "roundoff"):
        assert getattr(verified, field).tobytes() == getattr(want, field).tobytes(), field


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mnist_relu"])
@pytest.mark.parametrize("some", [False, True])
def test_one_stacked_pass_gives_each_tensors_own_pass_bit_for_bit(name, some):
    """Every layer's copies go in one pass, joining it at their layer (engine._one_pass): their losses are those
    of a pass of one tensor's copies alone, from its layer's input, bit for bit (all entries, or some)."""
    from gradcheck.engine import STENCIL, _stack_pass

    model, params, x, y = point(name, 5, seed=2)
    ev = ModelEvaluator(model, params, x, y)
    names = list(params)
    h = default_step(np.concatenate([params[n].reshape(-1) for n in names]))
    todo = np.flatnonzero(np.random.default_rng(0).random(h.size) < 0.5) if some else None
    values = np.full((len(STENCIL), h.size), np.nan)
    assert _stack_pass(ev, names, h, values, todo, (0, 1, 2, 3), verify=not some)
    start = 0
    for n in names:
        k = next(i for i, layer in enumerate(ev.layers) if n in layer.param_names)
        entries = [i for i in range(params[n].size) if todo is None or start + i in todo]
        if not entries:
            start += params[n].size
            continue
        copies = []
        for off in STENCIL:
            for i in entries:
                c = params[n].copy()
                c.reshape(-1)[i] += off * h[start + i]
                copies.append(c)
        state = ev.inputs[k]
        for layer in ev.layers[k:]:
            state = layer.forward({**params, n: np.array(copies)}, state)
        want = np.asarray(model.head(state, ev.y), dtype=np.float64).reshape(len(STENCIL), len(entries))
        got = values[:, [start + i for i in entries]]
        assert got.tobytes() == want.tobytes(), n
        start += params[n].size
