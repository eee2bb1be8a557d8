"""check_model / check_gradients: verdicts, planted bugs, kinks, guards, argument errors."""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import reference_models as rm
from gradcheck import (
    GradcheckError,
    GradcheckPrecisionWarning,
    GradcheckTypeError,
    GradcheckValueError,
    Tolerance,
    assert_gradients_close,
    assert_model_gradients,
    check_gradients,
    check_model,
    format_result,
)
from reference_models.mnist import MNISTReLU
from reference_models.xor import XOR2Layer

NAMES = rm.names()
MODES = ("full", "fast")
#: small mnist; its W1 (84 entries) is above directional.SMALL, so fast mode probes and bisects it
OPTIONS = {"mnist_relu": {"n_in": 12, "hidden": 7, "n_out": 4}}
#: sizes where fast mode bisects more than one tensor
BIG = {
    "mnist_relu": {"n_in": 20, "hidden": 10, "n_out": 8},
    "study_3layer": {"hidden1": 9, "hidden2": 9},
    "xor_3layer": {"hidden1": 9, "hidden2": 9},
}


def model_of(name: str, options=None) -> rm.Model:
    return rm.get(name, **(OPTIONS.get(name, {}) if options is None else options))


def point(model: rm.Model, seed: int, n: int = 5, scale: float = 0.8):
    rng = np.random.default_rng(seed)
    params = {k: np.asarray(scale * rng.standard_normal(s)) for k, s in model.param_shapes.items()}
    x, y = model.example_batch(rng, n)
    return params, x, y


def copies(*arrays):
    return [{k: v.copy() for k, v in a.items()} if isinstance(a, dict) else np.array(a, copy=True) for a in arrays]


def assert_unchanged(before, after):
    for b, a in zip(before, after):
        if isinstance(b, dict):
            assert list(a) == list(b)
            for k in b:
                np.testing.assert_array_equal(a[k], b[k])
        else:
            np.testing.assert_array_equal(a, b)


# -- correct gradients always pass ---------------------------------------------------------

@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", NAMES)
@settings(deadline=None, max_examples=12)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6), scale=st.sampled_from([0.2, 1.0, 2.5]))
def test_correct_backward_passes(name, mode, seed, n, scale):
    model = model_of(name)
    params, x, y = point(model, seed, n, scale)
    # tiny losses computed by cancellation have their own tests (test_confident_correct_predictions_pass)
    assume(model.loss(params, x, y) > 0.05)
    before = copies(params, x, y)
    r = check_model(model, params, x, y, mode=mode, seed=seed % 1000)
    assert r.passed, r
    assert r.problems == ()
    assert [c.name for c in r.params] == list(model.param_shapes)
    assert r.mode == mode and r.n_samples == n
    assert_unchanged(before, (params, x, y))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["xor_2layer", "xor_3layer", "study_2layer", "study_3layer", "onehot_222"])
@settings(deadline=None, max_examples=8)
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([12.0, 25.0, 60.0]))
def test_saturated_sigmoids_pass(name, mode, seed, scale):
    """Large weights: sigmoid'(z) is tiny, so are the gradients; no false alarm."""
    model = model_of(name)
    params, x, y = point(model, seed, 5, scale)
    assume(model.loss(params, x, y) > 0.05)  # see test_confident_correct_predictions_pass
    grads = model.backward(params, x, y)
    # really saturated somewhere: a premise of the example, not a claim of the check (scale 12 at seed 131071 is not)
    assume(min(float(np.min(np.abs(g))) for g in grads.values()) < 1e-3)
    r = check_model(model, params, x, y, mode=mode)
    assert r.passed, r


@pytest.mark.parametrize("activation", ["relu", "tanh", "step"])
@pytest.mark.parametrize("mode", MODES)
def test_every_hidden_activation_of_the_quadratic_model(activation, mode):
    model = rm.get("relu_sigmoid_bce", activation=activation)
    for seed in range(5):
        params, x, y = point(model, seed, 9)
        assert check_model(model, params, x, y, mode=mode).passed


@pytest.mark.parametrize("name", [n for n in NAMES if n != "mnist_relu"])  # MNIST is not bundled
def test_notebook_data_passes(name):
    model = model_of(name)
    x, y = model.notebook_data()
    params, _, _ = point(model, 0)
    assert check_model(model, params, x, y).passed


# -- planted bugs are caught at the right parameter and index ---------------------------------

def plant_cases():
    for name in NAMES:
        for options in ({}, BIG.get(name)):
            if options is None:
                continue
            yield pytest.param(name, options, id=f"{name}{'-big' if options else ''}")


def _check(model, params, x, y, grads, mode):
    return check_model(model, params, x, y, grads=grads, mode=mode, seed=7)


def _only_failing(r, name):
    assert not r.passed
    assert [c.name for c in r.params if not c.passed] == [name]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, options", list(plant_cases()))
def test_one_entry_off_by_1e4_of_the_largest(name, options, mode):
    model = model_of(name, options or None)
    params, x, y = point(model, 11)
    exact = model.backward(params, x, y)
    rng = np.random.default_rng(5)
    for k in params:
        g = exact[k]
        bad = {kk: v.copy() for kk, v in exact.items()}
        i = int(rng.integers(g.size))
        bad[k].reshape(-1)[i] += 1e-4 * np.max(np.abs(g))
        index = tuple(int(j) for j in np.unravel_index(i, g.shape))
        r = _check(model, params, x, y, bad, mode)
        _only_failing(r, k)
        assert index in r[k].failed_indices
        if r[k].mode == "full" or mode == "full":
            assert r[k].failed_indices == (index,)
        assert _check(model, params, x, y, exact, mode).passed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, options", list(plant_cases()))
@pytest.mark.parametrize("how", ["sign", "double"])
def test_flipped_sign_or_doubled_gradient(name, options, mode, how):
    model = model_of(name, options or None)
    params, x, y = point(model, 12)
    exact = model.backward(params, x, y)
    for k in params:
        bad = dict(exact)
        bad[k] = -exact[k] if how == "sign" else 2.0 * exact[k]
        r = _check(model, params, x, y, bad, mode)
        _only_failing(r, k)
        g = np.abs(exact[k])
        worst = tuple(int(j) for j in np.unravel_index(np.argmax(g), g.shape))
        found = set(r[k].failed_indices)
        assert found
        # only entries that really changed are named (a dead ReLU unit's 0 stays 0)
        assert all(g[i] != 0.0 for i in found)
        if r[k].mode == "full":
            assert worst in found
            assert np.count_nonzero(g > 1e-6 * g.max()) <= r[k].n_failed <= np.count_nonzero(g)


def same_shape_pairs():
    for name in NAMES:
        shapes = model_of(name).param_shapes
        keys = list(shapes)
        for i, a in enumerate(keys):
            for b in keys[i + 1:]:
                if tuple(shapes[a]) == tuple(shapes[b]):
                    yield pytest.param(name, a, b, id=f"{name}-{a}-{b}")


def test_there_are_same_shape_pairs():
    pairs = {(p.values[1], p.values[2]) for p in same_shape_pairs() if p.values[0] in ("xor_3layer", "onehot_222")}
    assert ("b1", "b2") in pairs and ("W2", "W3") in pairs


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, a, b", list(same_shape_pairs()))
def test_swapped_same_shape_gradients(name, a, b, mode):
    model = model_of(name)
    params, x, y = point(model, 13)
    exact = model.backward(params, x, y)
    bad = {**exact, a: exact[b], b: exact[a]}
    r = _check(model, params, x, y, bad, mode)
    assert not r.passed
    assert {c.name for c in r.params if not c.passed} == {a, b}
    diff = np.abs(exact[a] - exact[b])
    worst = tuple(int(j) for j in np.unravel_index(np.argmax(diff), diff.shape))
    for k in (a, b):
        assert set(r[k].failed_indices) <= {tuple(int(j) for j in i) for i in np.argwhere(diff > 0)}
        if r[k].mode == "full":
            assert worst in r[k].failed_indices


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name, k, options", [
    ("study_3layer", "W2", {}),
    ("xor_3layer", "W2", {}),
    ("onehot_222", "W3", {}),
    ("study_3layer", "W2", {"hidden1": 9, "hidden2": 9}),
])
def test_transposed_square_gradient(name, k, options, mode):
    model = model_of(name, options or None)
    params, x, y = point(model, 14)
    exact = model.backward(params, x, y)
    g = exact[k]
    assert g.shape[0] == g.shape[1]
    r = _check(model, params, x, y, {**exact, k: g.T}, mode)
    _only_failing(r, k)
    found = set(r[k].failed_indices)
    assert found and all(i != j for i, j in found)  # the diagonal is unchanged
    if r[k].mode == "full":
        asym = np.abs(g - g.T) > 1e-6 * np.abs(g).max()
        assert found == {tuple(int(j) for j in i) for i in np.argwhere(asym)}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", ["xor_1layer", "xor_2layer", "xor_3layer"])
def test_notebook_000_factor_n_over_2(name, mode):
    model = model_of(name)
    params, _, _ = point(model, 15)
    x, y = model.notebook_data()  # N = 4: the notebook's "gradient" is twice the gradient
    r = check_model(model, params, x, y, grads=model.notebook_gradient(params, x, y), mode=mode)
    assert not r.passed
    assert all(not c.passed for c in r.params)
    # with N = 2 the factor N/2 is 1: the same code is then exactly right
    r2 = check_model(model, params, x[1:3], y[1:3], grads=model.notebook_gradient(params, x[1:3], y[1:3]), mode=mode)
    assert r2.passed


# -- kinks -------------------------------------------------------------------------------------

def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


class ReluPrimeAtZeroIsOne(MNISTReLU):
    """mnist_relu with the mask ``z >= 0``: relu'(0) = 1, also a valid subgradient."""

    def backward(self, params, x, y):
        x = np.asarray(x, dtype=np.float64)
        W1, W2 = params["W1"], params["W2"]
        z1 = x @ W1
        a1 = np.maximum(z1, 0.0)
        dz2 = (_softmax(a1 @ W2) - y) / len(x)
        dz1 = (dz2 @ W2.T) * (z1 >= 0)
        return {"W1": x.T @ dz1, "W2": a1.T @ dz2}


def kink_point(seed: int, w2_scale: float = 1.0, single: bool = False):
    """Pre-activations ``(x @ W1)[:, 2]`` exactly 0, for every sample or (``single``) for sample 3 only.

    Every sample: ``x[:, 1] == x[:, 0]`` and ``W1[:, 2] = (0.5, -0.5, 0, ...)``.
    Sample 3 only: ``x[3, 0] == x[3, 1] == 0.5`` and ``W1[:, 2] = (0.25, -0.25, 0, ...)``.
    """
    model = MNISTReLU(n_in=12, hidden=7, n_out=4)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    params["W2"] *= w2_scale
    x, y = model.example_batch(rng, 5)
    params["W1"][:, 2] = 0.0
    if single:
        x[3, 0] = x[3, 1] = 0.5
        params["W1"][0, 2], params["W1"][1, 2] = 0.25, -0.25
    else:
        x[:, 1] = x[:, 0]
        params["W1"][0, 2], params["W1"][1, 2] = 0.5, -0.5
    z = x @ params["W1"]
    assert np.count_nonzero(z == 0.0) == (1 if single else 5) and np.all(z[3 if single else slice(None), 2] == 0.0)
    return params, x, y


@pytest.mark.parametrize("seed", range(6))
def test_relu_prime_at_zero_is_one_passes_at_exact_kinks(seed):
    params, x, y = kink_point(seed)
    ge = ReluPrimeAtZeroIsOne(n_in=12, hidden=7, n_out=4)
    g_ge, g_gt = ge.backward(params, x, y), MNISTReLU(n_in=12, hidden=7, n_out=4).backward(params, x, y)
    assert not np.allclose(g_ge["W1"][:, 2], g_gt["W1"][:, 2])  # the two conventions differ here
    for model in (ge, MNISTReLU(n_in=12, hidden=7, n_out=4)):
        r = check_model(model, params, x, y, mode="full")
        assert r.passed, r
        assert r.n_kinks > 0 and r["W1"].n_kinks == 12  # the whole column W1[:, 2] sits on the kink
    # a value outside the one-sided bracket still fails at a kink entry
    bad = {k: v.copy() for k, v in g_ge.items()}
    bad["W1"][:, 2] *= 2.0
    r = check_model(ge, params, x, y, grads=bad, mode="full")
    assert not r.passed and set(r["W1"].failed_indices) == {(i, 2) for i in range(12)}


def test_exact_reference_backward_passes_at_kinks_with_larger_weights():
    model = MNISTReLU(n_in=12, hidden=7, n_out=4)
    for seed in range(8):
        params, x, y = kink_point(seed, w2_scale=10.0, single=True)
        assert check_model(model, params, x, y, mode="full").passed, seed


def test_exact_reference_backward_passes_at_a_single_kink_in_fast_mode():
    model = MNISTReLU(n_in=12, hidden=7, n_out=4)
    for seed in range(8):
        params, x, y = kink_point(seed, single=True)
        r = check_model(model, params, x, y, mode="fast", seed=seed)
        assert r.passed, seed
        assert r["W1"].n_kinks > 0


def test_exact_reference_backward_passes_at_kinks_in_fast_mode():
    model = MNISTReLU(n_in=12, hidden=7, n_out=4)
    for seed in range(8):
        params, x, y = kink_point(seed)
        assert check_model(model, params, x, y, mode="fast", seed=seed).passed, seed
        # probes crossing several kinks are forgiven only when bisection finds nothing: a wrong column is found
        bad = model.backward(params, x, y)
        bad["W1"] = bad["W1"].copy()
        # the one-sided derivatives are 0 and relu'(0)=1's value G (x >= 0): 3 G is outside [0, G]
        bad["W1"][:, 2] = 3.0 * ReluPrimeAtZeroIsOne(n_in=12, hidden=7, n_out=4).backward(params, x, y)["W1"][:, 2]
        r = check_model(model, params, x, y, grads=bad, mode="fast", seed=seed)
        assert not r.passed and r["W1"].failed_indices
        assert all(j == 2 for _, j in r["W1"].failed_indices)


@pytest.mark.parametrize("name", ["mnist_relu", "relu_sigmoid_bce"])
def test_confident_correct_predictions_pass(name):
    model = model_of(name, {**OPTIONS.get(name, {}), **({"activation": "tanh"} if name == "relu_sigmoid_bce" else {})})
    for seed in range(6):
        params, x, _ = point(model, seed, 5, scale=4.0)
        out = model.forward(params, x)
        y = np.eye(out.shape[1])[out.argmax(axis=1)] if out.ndim == 2 else (out > 0.5).astype(float)
        assert check_model(model, params, x, y, mode="full").passed, seed


def test_nearly_fitted_sigmoid_mse_passes():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 63, 1, 2.5)  # one sample, output 0.99948 for target 1: loss 2.7e-7
    assert model.loss(params, x, y) < 1e-6
    assert check_model(model, params, x, y, mode="full").passed


# -- guards ------------------------------------------------------------------------------------

class LossWritesIntoX(XOR2Layer):
    def loss(self, params, x, y):
        x[0, 0] = 42.0
        return super().loss(params, x, y)


class ForwardWritesIntoParams(XOR2Layer):
    def forward(self, params, x):
        out = super().forward(params, x)
        params["W1"][0, 0] += 1.0
        return out


class BackwardClipsX(XOR2Layer):
    """The 004 notebook's helpers: ``z[z < 0] = 0`` on their argument."""

    def backward(self, params, x, y):
        g = super().backward(params, x, y)
        x[x < 0.5] = 0.0
        return g


@pytest.mark.parametrize("cls, who, what", [
    (LossWritesIntoX, "loss", "x"),
    (ForwardWritesIntoParams, "forward", "params['W1']"),
    (BackwardClipsX, "backward", "x"),
])
def test_mutating_model_is_reported_and_callers_arrays_survive(cls, who, what):
    model = cls()
    params, _, _ = point(model, 0)
    x = np.array([[0.25, 0.75], [1.0, 0.0], [0.0, 0.3]])
    y = np.array([[1.0], [1.0], [0.0]])
    before = copies(params, x, y)
    r = check_model(model, params, x, y)
    assert not r.passed
    assert any(f"xor_2layer.{who} changed its input {what}" in p for p in r.problems), r.problems
    assert all(c.passed for c in r.params)  # the numbers themselves are right
    assert_unchanged(before, (params, x, y))


class NoisyHead(XOR2Layer):
    def head(self, out, y):
        return super().head(out, y) + 1e-3 * np.random.default_rng().random()


class NoisyBackward(XOR2Layer):
    def backward(self, params, x, y):
        g = super().backward(params, x, y)
        g["b2"] = g["b2"] + 1e-9 * np.random.default_rng().random()  # far above rounding (guards.ROUNDING_ULPS)
        return g


def test_nondeterministic_forward_is_reported():
    model = NoisyHead()
    params, x, y = point(model, 1)
    r = check_model(model, params, x, y)
    assert not r.passed
    assert any("forward pass is not deterministic" in p for p in r.problems), r.problems


def test_nondeterministic_backward_is_reported():
    model = NoisyBackward()
    params, x, y = point(model, 1)
    r = check_model(model, params, x, y)
    assert not r.passed
    assert any("backward is not deterministic: grads['b2']" in p for p in r.problems), r.problems


class CachingNoisyBackward(XOR2Layer):
    """Random gradients, cached by the identity of the arrays it was given: the guard's copies must differ."""

    def __init__(self):
        super().__init__()
        self.cache = {}

    def backward(self, params, x, y):
        key = tuple(id(v) for v in params.values()) + (id(x),)
        if key not in self.cache:
            g = super().backward(params, x, y)
            g["b2"] = g["b2"] + 1e-9 * np.random.default_rng().random()  # far above rounding (guards.ROUNDING_ULPS)
            self.cache[key] = g
        return {k: v.copy() for k, v in self.cache[key].items()}


def test_a_backward_caching_by_array_identity_cannot_hide_its_nondeterminism():
    # the loss call's unchanged copy serves the first backward (guards.run_guarded's spare); the
    # second backward must get arrays with other identities, all alive at the same time
    model = CachingNoisyBackward()
    params, x, y = point(model, 1)
    for _ in range(20):
        r = check_model(model, params, x, y)
        assert any("backward is not deterministic: grads['b2']" in p for p in r.problems), r.problems


class AccumulatingBackward(XOR2Layer):
    """Adds into gradient buffers it keeps and returns them (never zeroed): every call returns the same arrays."""

    def __init__(self):
        super().__init__()
        self.grads = None

    def backward(self, params, x, y):
        g = super().backward(params, x, y)
        if self.grads is None:
            self.grads = {k: np.zeros_like(v) for k, v in g.items()}
        for k in g:
            self.grads[k] += g[k]
        return self.grads


def test_a_backward_accumulating_into_the_arrays_it_returned_is_not_deterministic():
    # both calls return the same arrays: the first result must be kept before the second call writes
    model = AccumulatingBackward()
    params, x, y = point(model, 1)
    r = check_model(model, params, x, y)
    assert any("backward is not deterministic: grads['W1']" in p for p in r.problems), r.problems


class UnlocksAndWritesX(XOR2Layer):
    """Makes its (read-only) input writable again, then writes into it."""

    def loss(self, params, x, y):
        x.flags.writeable = True
        x[0, 0] = 42.0
        return super().loss(params, x, y)


class RaisesValueError(XOR2Layer):
    error = ValueError

    def __init__(self):
        super().__init__()
        self.calls = 0

    def backward(self, params, x, y):
        self.calls += 1
        raise self.error("not implemented yet")


class RaisesNotImplementedError(RaisesValueError):
    error = NotImplementedError


class WritesThroughAMemoryview(XOR2Layer):
    def loss(self, params, x, y):
        view = memoryview(x).cast("B")  # TypeError on a read-only array, not numpy's ValueError
        view[0] = 1
        return super().loss(params, x, y)


@pytest.mark.parametrize("cls", [UnlocksAndWritesX, WritesThroughAMemoryview])
def test_a_write_past_the_read_only_flag_is_reported_not_raised(cls):
    # one makes its copy writable again, the other is refused with a TypeError and rerun on writable copies
    model = cls()
    params, _, _ = point(model, 0)
    x = np.array([[0.25, 0.75], [1.0, 0.0], [0.0, 0.3]])
    y = np.array([[1.0], [1.0], [0.0]])
    before = copies(params, x, y)
    r = check_model(model, params, x, y)
    assert any("xor_2layer.loss changed its input x in place (1 of 6 entries)" in p for p in r.problems), r.problems
    assert_unchanged(before, (params, x, y))


class UnlocksTheBase(XOR2Layer):
    """Unlocks the check's own (frozen) array behind the read-only view it was handed, then writes."""

    def loss(self, params, x, y):
        x.base.flags.writeable = True
        x.base[0, 0] = 42.0
        return super().loss(params, x, y)


def test_a_call_that_unlocks_the_memory_behind_its_views_is_an_error_naming_it():
    # the write lands in the check's reference point itself: no comparison can see it, so it must stop the check
    model = UnlocksTheBase()
    params, x, y = point(model, 0)
    before = copies(params, x, y)
    with pytest.raises(GradcheckValueError, match=r"xor_2layer\.loss made the read-only memory behind its input x "
                                                  r"writable again"):
        check_model(model, params, x, y)
    assert_unchanged(before, (params, x, y))


class NoisyForward(XOR2Layer):
    def forward(self, params, x):
        return super().forward(params, x) + 1e-3 * np.random.default_rng().random()


class RoundsItsOwnWay(XOR2Layer):
    """A deterministic forward one ulp away from the layers' own pass."""

    def forward(self, params, x):
        out = super().forward(params, x)
        return np.nextafter(out, np.inf)


def test_a_nondeterministic_forward_is_said_and_one_that_only_rounds_differently_is_not():
    model = NoisyForward()
    params, x, y = point(model, 0)
    r = check_model(model, params, x, y)
    assert any("xor_2layer.forward is not deterministic" in p for p in r.problems), r.problems
    assert not r.passed
    r = check_model(RoundsItsOwnWay(), params, x, y)
    assert r.passed and r.problems == (), r.problems


@pytest.mark.parametrize("name", ["xor_2layer", "relu_sigmoid_bce"])  # forward: the logits; a sigmoid of them
def test_a_deterministic_forward_is_called_once(name):
    # checked against the engine's own pass (or the model's present() of it), not by calling it again
    model = rm.get(name)
    params, x, y = point(model, 0)
    calls = []
    forward = model.forward
    model.forward = lambda p, xx: calls.append(1) or forward(p, xx)
    assert check_model(model, params, x, y).passed
    assert len(calls) == 1


def test_an_error_of_the_code_under_check_reaches_the_caller():
    # read-only copies first, then (an error) writable ones: the second error is the user's own,
    # raised as it was, with no "during handling of the above exception" chain of ours
    model = RaisesValueError()
    params, x, y = point(model, 0)
    with pytest.raises(ValueError, match="not implemented yet") as caught:
        check_model(model, params, x, y)
    assert model.calls == 2
    assert caught.value.__context__ is None and caught.value.__cause__ is None


def test_an_error_that_is_no_refusal_of_read_only_arrays_is_raised_at_once():
    model = RaisesNotImplementedError()
    params, x, y = point(model, 0)
    with pytest.raises(NotImplementedError, match="not implemented yet"):
        check_model(model, params, x, y)
    assert model.calls == 1  # its side effects happen once


class PopsAKey(XOR2Layer):
    def __init__(self, write):
        super().__init__()
        self.write = write

    def backward(self, params, x, y):
        g = super().backward(params, x, y)
        params.pop("b1")
        if self.write:
            x[0, 0] = 7.0
        return g


class Reshapes(XOR2Layer):
    def loss(self, params, x, y):
        value = super().loss(params, x, y)
        x.shape = (x.size,)  # in place, without writing an entry: allowed on a read-only array
        return value


@pytest.mark.parametrize("write", [False, True])
def test_a_function_that_changes_its_params_dict_is_reported_and_later_calls_get_the_whole_dict(write):
    model = PopsAKey(write)
    params, x, y = point(model, 0)
    before = copies(params, x, y)
    r = check_model(model, params, x, y)
    said = [p for p in r.problems if "xor_2layer.backward changed its input params (the dict) in place (removed ['b1'])" in p]
    assert said, r.problems
    assert any("changed its input x in place (1 of" in p for p in r.problems) == write, r.problems
    assert all(c.passed for c in r.params)
    assert_unchanged(before, (params, x, y))


def test_a_function_that_reshapes_its_input_in_place_is_reported():
    model = Reshapes()
    params, x, y = point(model, 0)
    r = check_model(model, params, x, y)
    assert any("xor_2layer.loss changed its input x in place" in p for p in r.problems), r.problems
    assert all(c.passed for c in r.params)  # the backward still got x in its shape


def test_float32_gradients_of_a_backward_are_said_and_judged_with_float32_error_bars():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 2)

    def backward32(p, xx, yy):
        return {k: v.astype(np.float32) for k, v in model.backward(p, xx, yy).items()}

    with pytest.warns(GradcheckPrecisionWarning, match=r"grads\['W1'\]"):
        r = check_model(model, params, x, y, backward=backward32)
    assert r.passed, format_result(r)

    def wrong32(p, xx, yy):
        g = backward32(p, xx, yy)
        g["W2"] = g["W2"] * np.float32(1.01)
        return g

    with pytest.warns(GradcheckPrecisionWarning):
        r = check_model(model, params, x, y, backward=wrong32)
    assert [c.name for c in r.params if not c.passed] == ["W2"]


def test_the_code_under_check_gets_read_only_copies():
    seen = []

    class Looks(XOR2Layer):
        def backward(self, params, x, y):
            seen.append((params["W1"].flags.writeable, x.flags.writeable, y.flags.writeable))
            seen_arrays.append((params["W1"], x))
            return super().backward(params, x, y)

    seen_arrays: list = []
    model = Looks()
    params, x, y = point(model, 0)
    assert check_model(model, params, x, y).passed
    assert seen == [(False, False, False)] * 2
    assert not any(np.shares_memory(w, params["W1"]) or np.shares_memory(xx, x) for w, xx in seen_arrays)
    assert params["W1"].flags.writeable and x.flags.writeable  # the caller's arrays are not touched


@pytest.mark.parametrize("which", ["params", "x"])
def test_float32_data_of_a_float64_model_is_noted_judged_as_float64_and_refused_under_strict(which):
    """The model gets float64 copies of the params and widens x: float64 error bars (rt22 F1; the float32
    computation's own error bars: tests/core/test_float32_data.py)."""
    model = rm.get("xor_2layer")
    params, x, y = point(model, 2)
    if which == "params":
        params = {k: v.astype(np.float32) for k, v in params.items()}
        named = "params['W1']"
    else:
        x = x.astype(np.float32)
        named = "x"
    grads = model.backward(params, x, y)
    assert all(g.dtype == np.float64 for g in grads.values())  # it computes in float64
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        r = check_model(model, params, x, y, grads=grads)
    assert r.passed and r.n_kinks == 0 and len(r.warnings) == 1, format_result(r)
    assert named in r.warnings[0] and "float64 error bars" in r.warnings[0]
    bad = {k: v.copy() for k, v in grads.items()}
    bad["W2"] = bad["W2"] * (1 + 1e-5)  # inside float32's error bars (rtol 1e-5), 1000 times float64's
    assert [c.name for c in check_model(model, params, x, y, grads=bad).failed] == ["W2"]
    with pytest.raises(TypeError, match=r"strict=True.*" + re.escape(named)):
        check_model(model, params, x, y, strict=True)


def test_float64_does_not_warn():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", GradcheckPrecisionWarning)
        check_model(model, params, x, y)


def test_nan_in_grads_names_the_parameter():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 3)
    grads = model.backward(params, x, y)
    grads["b2"] = np.array([[np.nan]])
    with pytest.raises(ValueError, match=r"grads\['b2'\] has 1 non-finite"):
        check_model(model, params, x, y, grads=grads)
    with pytest.raises(ValueError, match=r"grads\['b2'\]"):
        check_gradients(lambda q: 0.0, {"b2": np.array([np.inf])}, {"b2": np.array([1.0])})


def test_grads_with_wrong_keys_or_shapes_name_the_parameter():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 3)
    grads = model.backward(params, x, y)
    missing = {k: v for k, v in grads.items() if k != "W2"}
    with pytest.raises(KeyError, match=r"missing \['W2'\]"):
        check_model(model, params, x, y, grads=missing)
    with pytest.raises(KeyError, match=r"unexpected \['W9'\]"):
        check_model(model, params, x, y, grads={**grads, "W9": np.zeros(2)})
    with pytest.raises(ValueError, match=r"grads\['W1'\] has shape \(3, 2\), expected \(2, 3\)"):
        check_model(model, params, x, y, grads={**grads, "W1": np.zeros((3, 2))})
    missing_param = {k: v for k, v in params.items() if k != "b1"}
    with pytest.raises(KeyError, match=r"params lacks \['b1'\]"):
        check_model(model, missing_param, x, y)


@pytest.mark.parametrize("bad", [{"W1": np.zeros((3, 2))}, {"b1": np.zeros(3)}, {"W9": np.zeros(2)}])
def test_params_with_wrong_shapes_or_extra_keys_name_the_parameter(bad):
    model = rm.get("xor_2layer")
    params, x, y = point(model, 3)
    key = next(iter(bad))
    with pytest.raises((KeyError, ValueError), match=rf"^params\b.*'{key}'"):
        check_model(model, {**params, **bad}, x, y)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"mode": "slow"}, ValueError, r"mode must be one of \('full', 'fast'\), got mode='slow'"),
    ({"mode": None}, ValueError, r"got mode=None"),
    ({"probes": 0}, ValueError, r"probes must be an int >= 1, got probes=0"),
    ({"probes": 2.5}, TypeError, r"got probes=2.5"),  # wrong type: TypeError, wrong value: ValueError
    ({"probes": True}, TypeError, r"got probes=True"),
    ({"seed": "a"}, TypeError, r"seed must be an int >= 0, got seed='a'"),
    ({"seed": 1.5}, TypeError, r"got seed=1.5"),
    ({"tolerance": 1e-6}, TypeError, r"tolerance must be a gradcheck.Tolerance, got tolerance=1e-06"),
])
def test_bad_options_name_the_argument_and_value(kwargs, error, pattern):
    model = rm.get("xor_2layer")
    params, x, y = point(model, 4)
    with pytest.raises(error, match=pattern) as info:
        check_model(model, params, x, y, **kwargs)
    assert isinstance(info.value, GradcheckError)


@pytest.mark.parametrize("mode", MODES)
def test_negative_seed_is_named(mode):
    model = rm.get("xor_2layer")
    params, x, y = point(model, 4)
    with pytest.raises(ValueError, match=r"seed=-1"):
        check_model(model, params, x, y, seed=-1, mode=mode)


@pytest.mark.parametrize("kwargs, error, pattern", [
    ({"rtol": -1.0}, GradcheckValueError, r"rtol must be a finite number >= 0, got rtol=-1.0"),
    ({"atol": float("nan")}, GradcheckValueError, r"got atol=nan"),
    ({"k": "4"}, GradcheckTypeError, r"got k='4'"),
])
def test_bad_tolerance_terms(kwargs, error, pattern):
    with pytest.raises(error, match=pattern):
        Tolerance(**kwargs)


def test_x_of_the_wrong_kind_is_named():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 4)
    with pytest.raises(TypeError, match=r"x must be an array of real numbers"):
        check_model(model, params, x.astype(complex), y)


def test_a_looser_tolerance_accepts_what_the_default_rejects():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 5)
    g = model.backward(params, x, y)
    bad = {**g, "W2": g["W2"] * (1 + 1e-5)}
    assert not check_model(model, params, x, y, grads=bad).passed
    assert check_model(model, params, x, y, grads=bad, tolerance=Tolerance(rtol=1e-4)).passed


# -- plain functions -----------------------------------------------------------------------------

def _cubic(q):
    return float(np.sum(q["w"] ** 3) + np.sum(q["A"] ** 2))


CUBIC_AT = {"w": np.array([1.0, -2.0, 3.0]), "A": np.array([[0.5, -1.5], [2.0, 0.25]])}
CUBIC_GRAD = {"w": 3.0 * CUBIC_AT["w"] ** 2, "A": 2.0 * CUBIC_AT["A"]}


def test_check_gradients_passes_and_fails_at_the_index():
    assert check_gradients(_cubic, CUBIC_GRAD, CUBIC_AT).passed
    bad = {**CUBIC_GRAD, "A": CUBIC_GRAD["A"].copy()}
    bad["A"][1, 0] += 1e-6
    r = check_gradients(_cubic, bad, CUBIC_AT)
    assert not r.passed and r["w"].passed
    assert r["A"].failed_indices == ((1, 0),)


def test_check_gradients_reports_a_function_that_mutates_params():
    def vandal(q):
        q["w"][0] = 5.0
        return _cubic(q)

    before = copies(CUBIC_AT)
    r = check_gradients(vandal, CUBIC_GRAD, CUBIC_AT, subject="vandal")
    assert not r.passed
    assert any("vandal changed its input params['w']" in p for p in r.problems), r.problems
    assert_unchanged(before, (CUBIC_AT,))


def test_assert_gradients_close_message():
    bad = {**CUBIC_GRAD, "w": CUBIC_GRAD["w"].copy()}
    bad["w"][2] = 26.5  # exact: 27
    with pytest.raises(AssertionError) as info:
        assert_gradients_close(_cubic, bad, CUBIC_AT)
    msg = str(info.value)
    for piece in ("Gradient check of _cubic: FAILED", "w (3,): MISMATCH", "Tolerance:", "Mismatched entries: 1 / 3",
                  "Max absolute difference: 0.5", "Max relative difference:", "w[2]:",
                  "analytic  2.65000000e+01", "numeric  2.70000000e+01"):
        assert piece in msg, piece
    assert "A (2, 2)" not in msg  # only the failing parameter
    assert assert_gradients_close(_cubic, CUBIC_GRAD, CUBIC_AT).passed


def test_assert_model_gradients_message_names_parameter_and_index():
    model = rm.get("xor_2layer")
    params, x, y = point(model, 6)
    g = model.backward(params, x, y)
    bad = {**g, "W1": g["W1"].copy()}
    bad["W1"][1, 2] += 0.01
    with pytest.raises(AssertionError) as info:
        assert_model_gradients(model, params, x, y, grads=bad)
    msg = str(info.value)
    for piece in ("xor_2layer", "W1 (2, 3): MISMATCH", "W1[1, 2]:", "Tolerance:", "Mismatched entries: 1 / 6",
                  "Max absolute difference:", "Max relative difference:"):
        assert piece in msg, piece


def _estimate(name, value, kink=None, lower=None, upper=None):
    from gradcheck.estimate import NumericGradient
    kink = np.zeros(value.shape, bool) if kink is None else kink
    return NumericGradient(name=name, value=value, error=np.full(value.shape, 1e-10), step=np.full(value.shape, 1e-5),
                           lower=value if lower is None else lower, upper=value if upper is None else upper, kink=kink,
                           refined=np.ones(value.shape, bool), roundoff=np.full(value.shape, 1e-11))


def test_param_checks_of_a_small_model_report_each_parameter_as_one_by_one():
    from gradcheck.check import param_check, param_checks
    value = {"a": np.arange(6.0).reshape(2, 3), "b": np.array([0.0, 1.0, -2.0, 3.0]), "c": np.array(1.5)}
    analytic = {k: v.copy() for k, v in value.items()}
    analytic["a"][1, 2] += 1.0
    analytic["b"][3] -= 0.5
    analytic["b"][0] = 0.25  # a kink whose one-sided quotients bracket it: passes by the bracket
    kink = np.array([True, False, False, False])
    numeric = {"a": _estimate("a", value["a"]),
               "b": _estimate("b", value["b"], kink=kink, lower=np.array([-1.0, 1, -2, 3]), upper=np.array([1.0, 1, -2, 3])),
               "c": _estimate("c", value["c"])}
    tols = {k: Tolerance() for k in value}
    joined = param_checks(analytic, numeric, tols)
    assert joined == tuple(param_check(k, analytic[k], numeric[k], tols[k]) for k in value)
    a, b, c = joined
    assert c.passed and [(e.index, e.analytic) for e in c.worst] == [((), 1.5)]  # a 0-d parameter
    assert (a.n_failed, a.failed_indices, a.worst[0].index, a.worst[0].analytic, a.worst[0].numeric) == (1, ((1, 2),), (1, 2), 6.0, 5.0)
    assert [e.index for e in a.worst] == [(1, 2), (0, 0), (0, 1), (0, 2), (1, 0)]  # the failure, then ties by index
    assert (b.n_failed, b.failed_indices, b.n_kinks) == (1, ((3,),), 1)
    # the failure first, though the kink's distance from the central value (0.25 / a 1e-10 margin) is larger
    assert [(e.index, e.analytic, e.numeric) for e in b.worst[:2]] == [((3,), 2.5, 3.0), ((0,), 0.25, 0.0)]
    kinked = [e for e in b.worst if e.kink]
    assert [(e.index, e.lower, e.upper) for e in kinked] == [((0,), -1.0, 1.0)]
    assert all(e.lower is None for e in b.worst if not e.kink)
    assert b.max_abs_err == 0.5  # the kink's 0.25 is not a smooth error
    mixed = param_checks(analytic, numeric, {"a": Tolerance(), "b": Tolerance(atol=1.0), "c": Tolerance()})  # one by one
    assert mixed[1].passed and not mixed[0].passed


def _wrong(grads: dict, how: str) -> dict:
    """The correct gradient, or one with a planted bug."""
    out = {k: v.copy() for k, v in grads.items()}
    first, last = list(out)[0], list(out)[-1]
    if how == "sign":
        out[first] = -out[first]
    elif how == "scale":
        out[last] = 2.0 * out[last]
    elif how == "one":
        out[first].reshape(-1)[0] += 1e-3 * (1.0 + abs(out[first].reshape(-1)[0]))
    return out


@pytest.mark.parametrize("how", ["correct", "sign", "scale", "one"])
@pytest.mark.parametrize("name", NAMES)
def test_a_tiny_models_joined_check_is_the_check_parameter_by_parameter(name, how):
    """_full keeps a toy network's entries joined to the summaries: each ParamCheck (worst entries,
    maxima, counts, diagnosis) must be the one param_check and explain give each parameter alone."""
    from gradcheck.check import _accepts, _full, param_check
    from gradcheck.engine import ModelEvaluator, estimate_gradients
    from gradcheck.explain import explain, model_loss

    model = model_of(name, OPTIONS.get(name))
    rng = np.random.default_rng(7)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 6)
    analytic = _wrong(model.backward(params, x, y), how)
    tols = {k: Tolerance() for k in analytic}
    ev = ModelEvaluator(model, params, x, y)
    assert ev.tiny(list(analytic))
    numeric = estimate_gradients(model, params, x, y, accept=_accepts(analytic, tols))
    alone = explain(tuple(param_check(k, analytic[k], numeric[k], tols[k]) for k in analytic), analytic, numeric,
                    batch_size=6, loss=model_loss(ev))  # the model's loss, as every check of a model knows it
    joined = _full(ev, analytic, tols, workers=1)
    assert joined == alone
    assert all(c.passed for c in joined) == (how == "correct")


def _result_text(r) -> str:
    """A check result's every field but its timings, floats by repr (which round-trips every bit)."""
    import dataclasses

    return repr(dataclasses.replace(r, timings={}))


@pytest.mark.parametrize("tolerance", [Tolerance(), Tolerance(rtol=1e-5, atol=1e-9, k=2.0), Tolerance(rtol=0.0, k=8.0)],
                         ids=["default", "atol", "no-rtol"])
@pytest.mark.parametrize("name, options", [(n, None) for n in NAMES] + [("xor_3layer", {"hidden1": 5, "hidden2": 5})],
                         ids=[*NAMES, "xor_3layer-51"])  # 51 entries: near the float path's limit
def test_a_toy_networks_check_in_python_floats_is_the_general_paths_bit_for_bit(name, options, tolerance, monkeypatch):
    """check._settled_in_floats (a toy network whose first stage settles every entry, judged in Python floats)
    gives the results of the numpy path (estimate_tiny, judge, judged_entries, _badness) bit for bit, at three
    points each with three tolerances, correct gradients and three planted bugs (which the float path leaves to
    the general path: their messages are the same on both)."""
    import gradcheck.check as check

    model = model_of(name, options)
    for seed, n in ((0, 32), (3, 5), (11, 1)):
        rng = np.random.default_rng(seed)
        params = model.init_params(rng)
        x, y = model.example_batch(rng, n)
        exact = model.backward(params, x, y)
        for how in ("correct", "sign", "scale", "one"):
            grads = _wrong(exact, how)
            floats = check_model(model, params, x, y, grads=grads, tolerance=tolerance)
            with monkeypatch.context() as m:
                m.setattr(check, "SETTLED_IN_FLOATS", -1)  # every toy network through the numpy path
                general = check_model(model, params, x, y, grads=grads, tolerance=tolerance)
            assert _result_text(floats) == _result_text(general), (seed, how)


def test_a_correct_toy_networks_check_is_settled_in_python_floats():
    """The float path is taken where it is meant to be (a correct toy network): not silently always None."""
    import gradcheck.check as check

    model = rm.get("xor_2layer")
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 32)
    taken = []
    original = check._settled_in_floats

    def spy(*args, **kwargs):
        taken.append(original(*args, **kwargs))
        return taken[-1]

    check._settled_in_floats = spy
    try:
        assert check_model(model, params, x, y).passed
    finally:
        check._settled_in_floats = original
    assert len(taken) == 1 and taken[0] is not None


def test_a_toy_networks_gradient_copied_from_a_passing_parameter_is_named():
    """The tiny path explains only its failing parameters, but with every parameter's values: a gradient that is
    another, correct, parameter's is diagnosed ``swapped`` with that parameter named."""
    model = rm.get("onehot_222")
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 6)
    exact = model.backward(params, x, y)
    r = check_model(model, params, x, y, grads={**exact, "W3": exact["W2"].copy()})
    assert [c.name for c in r.params if not c.passed] == ["W3"]
    assert r["W3"].diagnosis.code == "swapped" and r["W3"].diagnosis.detail["other"] == "W2"


@pytest.mark.parametrize("passed", [[True, True, True], [True, False, True]])
def test_badness_ranks_failures_above_every_passing_entry(passed):
    """``1 - 1/(1 + r)`` for a passing entry, ``1 + r`` for a failure, r = |a - n| / allowed (worked by hand)."""
    from gradcheck.check import _badness
    from gradcheck.compare import EntryVerdicts

    ok = np.array(passed)
    v = EntryVerdicts(passed=ok, kink=np.zeros(3, bool), allowed=np.array([1.0, 1.0, 2.0]),
                      abs_err=np.array([0.0, 1.0, 6.0]), rel_err=np.zeros(3))
    want = [0.0, 2.0 if not ok[1] else 0.5, 0.75]
    assert _badness(v).tolist() == want
