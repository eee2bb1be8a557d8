"""Properties of every reference model: exact gradients, shapes, stacking, purity, errors.

The gradient checks compare ``model.backward`` with the plain central
difference :func:`gradcheck.numeric.numerical_gradient` of ``model.loss``
(step ``h = eps**(1/3) * max(|p|, 1)``, about 6e-6), under the error model

    |backward - numeric| <= 1e-6 * |numeric| + 1e-9 * max(1, |loss|)

* truncation: the central difference errs by ``h**2 |f'''| / 6``, about
  ``6e-12 |f'''|``; relative to the derivative that is below ``1e-6 |f'|``
  unless ``|f'''| / |f'|`` exceeds ~1e5, far more than these small sigmoid /
  ReLU networks with inputs up to 10 and weights up to ~8 produce.
* round-off: each loss evaluation carries an error of a few ``eps |f|``; divided
  by ``2h`` that is ``~ eps |f| / h ~ 4e-11 |f|`` per ulp; ``1e-9 max(1, |f|)``
  allows ~25 ulps of accumulated error in a loss that sums up to ~100 terms.

Kinks (ReLU and step at 0) are kept out of these tests: a draw where any
pre-activation entering a kinked activation is within 1e-3 of its kink is
rejected (the largest step moves a pre-activation by at most ~1e-4 here).
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import reference_models as rm
from gradcheck.numeric import default_step, numerical_gradient
from reference_models import activations as act
from reference_models import losses
from reference_models._base import Activation, Dense, Dot, Scale

NINE = [
    "xor_1layer", "xor_2layer", "xor_3layer", "mnist_relu", "onehot_222",
    "relu_sigmoid_bce", "study_2layer", "study_3layer", "chain_2_1_1",
]
SEEDS = {
    "xor_1layer": "000", "xor_2layer": "000", "xor_3layer": "000", "mnist_relu": "001",
    "onehot_222": "003", "relu_sigmoid_bce": "002", "study_2layer": "004",
    "study_3layer": "004", "chain_2_1_1": "001",
}
small = st.integers(1, 6)
#: constructor options drawn for each model (small, often non-square sizes)
OPTIONS = {
    "xor_1layer": st.just({}),
    "xor_2layer": st.fixed_dictionaries({"hidden": small}),
    "xor_3layer": st.fixed_dictionaries({"hidden1": small, "hidden2": small}),
    "mnist_relu": st.fixed_dictionaries(
        {"n_in": st.integers(6, 12), "hidden": st.integers(3, 7), "n_out": st.integers(3, 5)}
    ),
    "onehot_222": st.fixed_dictionaries({"hidden": small}),
    "relu_sigmoid_bce": st.fixed_dictionaries(
        {"hidden": small, "activation": st.sampled_from(["relu", "tanh", "step"])}
    ),
    "study_2layer": st.fixed_dictionaries({"hidden": small}),
    "study_3layer": st.fixed_dictionaries({"hidden1": small, "hidden2": small}),
    "chain_2_1_1": st.just({}),
}
#: options giving small models for the non-hypothesis tests
SMALL = {"mnist_relu": {"n_in": 7, "hidden": 5, "n_out": 3}}

KINK_MARGIN = 1e-3


def small_model(name: str) -> rm.Model:
    return rm.get(name, **SMALL.get(name, {}))


def random_params(model: rm.Model, rng: np.random.Generator, scale: float = 1.0) -> dict[str, np.ndarray]:
    return {k: scale * rng.standard_normal(s) for k, s in model.param_shapes.items()}


def kink_distance(model: rm.Model, params, x) -> float:
    """Smallest distance of a pre-activation entering a kinked activation to its kink."""
    a = model.prepare_input(x)
    dist = np.inf
    for layer in model.layers:
        for k in getattr(layer, "kinks", ()):
            dist = min(dist, float(np.min(np.abs(a - k))))
        a = layer.forward(params, a)
    return dist


def assert_close_to_numeric(exact, numeric, loss: float, where: str) -> None:
    """The error model of the module docstring."""
    for key in numeric:
        a, n = exact[key], numeric[key]
        bound = 1e-6 * np.abs(n) + 1e-9 * max(1.0, abs(loss))
        bad = np.abs(a - n) > bound
        assert not bad.any(), (
            f"{where}: backward[{key!r}] disagrees with the central difference at "
            f"{np.argwhere(bad)[:3].tolist()}: exact {a[bad][:3]}, numeric {n[bad][:3]}"
        )


# -- registry ------------------------------------------------------------

def test_names_lists_the_nine_networks():
    assert rm.names() == NINE
    assert set(OPTIONS) == set(NINE)


@pytest.mark.parametrize("name", NINE)
def test_get_returns_a_fresh_model_of_that_name(name):
    m1, m2 = rm.get(name), rm.get(name)
    assert isinstance(m1, rm.Model) and m1.name == name and m1 is not m2


@pytest.mark.parametrize("bad", ["xor_4layer", "", "XOR_1LAYER", 3])
def test_unknown_name_lists_the_known_ones(bad):
    with pytest.raises(KeyError) as info:
        rm.get(bad)
    assert isinstance(info.value, ValueError)
    message = str(info.value)
    assert repr(bad) in message
    assert all(n in message for n in NINE)


@pytest.mark.parametrize(
    "name, options, error, words",
    [
        ("study_2layer", {"hidden": 0}, ValueError, ["hidden", "0"]),
        ("study_2layer", {"hidden": -3}, ValueError, ["hidden", "-3"]),
        ("study_2layer", {"hidden": 2.5}, TypeError, ["hidden", "2.5"]),
        ("xor_2layer", {"hidden": True}, TypeError, ["hidden", "True"]),
        ("mnist_relu", {"n_in": 0}, ValueError, ["n_in", "0"]),
        ("mnist_relu", {"n_out": "10"}, TypeError, ["n_out", "'10'"]),
        ("xor_3layer", {"hidden2": 0}, ValueError, ["hidden2", "0"]),
        ("relu_sigmoid_bce", {"activation": "sigmoid"}, ValueError, ["activation", "'sigmoid'", "relu", "tanh", "step"]),
        ("study_2layer", {"hiden": 4}, TypeError, ["'hiden'", "hidden"]),
        ("chain_2_1_1", {"hidden": 2}, TypeError, ["'hidden'", "no options"]),
    ],
)
def test_bad_options_name_the_argument_and_value(name, options, error, words):
    with pytest.raises(error) as info:
        rm.get(name, **options)
    for word in words:
        assert word in str(info.value)


def test_options_reach_the_shapes():
    assert rm.get("study_2layer", hidden=4).param_shapes == {"W1": (2, 4), "W2": (4, 1)}
    assert rm.get("study_3layer").param_shapes == {"W1": (2, 4), "W2": (4, 4), "W3": (4, 1)}
    assert rm.get("mnist_relu").param_shapes == {"W1": (784, 100), "W2": (100, 10)}
    assert rm.get("mnist_relu", n_in=784, hidden=100, n_out=10).param_shapes["W2"] == (100, 10)
    assert rm.get("xor_3layer", hidden1=2, hidden2=5).param_shapes["W2"] == (2, 5)
    assert rm.get("relu_sigmoid_bce", activation="tanh").layers[1].name == "tanh"


def test_every_module_declares_all():
    import importlib

    for mod in ["", "._base", ".activations", ".losses", ".xor", ".mnist", ".onehot", ".quadratic", ".study", ".chain"]:
        module = importlib.import_module("reference_models" + mod)
        assert isinstance(module.__all__, list) and module.__all__
        for item in module.__all__:
            assert hasattr(module, item), f"reference_models{mod}.__all__ names missing {item!r}"


# -- declared structure ----------------------------------------------------

EXPECTED_SHAPES = {
    "xor_1layer": {"W1": (2, 1), "b1": (1, 1)},
    "xor_2layer": {"W1": (2, 3), "b1": (1, 3), "W2": (3, 1), "b2": (1, 1)},
    "xor_3layer": {"W1": (2, 3), "b1": (1, 3), "W2": (3, 3), "b2": (1, 3), "W3": (3, 1), "b3": (1, 1)},
    "mnist_relu": {"W1": (784, 100), "W2": (100, 10)},
    "onehot_222": {"W2": (2, 2), "b2": (2,), "W3": (2, 2), "b3": (2,)},
    "relu_sigmoid_bce": {"W1": (2, 3), "b1": (3,), "W2": (3, 1), "b2": (1,)},
    "study_2layer": {"W1": (2, 3), "W2": (3, 1)},
    "study_3layer": {"W1": (2, 4), "W2": (4, 4), "W3": (4, 1)},
    "chain_2_1_1": {"w": (2,), "v": ()},
}


@pytest.mark.parametrize("name", NINE)
def test_declared_structure(name):
    m = rm.get(name)
    assert m.param_shapes == EXPECTED_SHAPES[name]
    assert m.seed_notebook == SEEDS[name]
    assert m.description and name in repr(m)
    assert all(isinstance(layer, (Dense, Activation, Dot, Scale)) for layer in m.layers)
    owned = [p for layer in m.layers for p in layer.param_names]
    assert sorted(owned) == sorted(m.param_shapes), "every parameter belongs to exactly one layer"
    assert "forward" in m.equations and "backward" in m.equations
    for key in m.param_shapes:
        assert key in m.equations or key.upper() in m.equations


@pytest.mark.parametrize("name", NINE)
def test_init_params_shapes_and_dtype(name):
    m = small_model(name)
    p = m.init_params(np.random.default_rng(0))
    assert list(p) == list(m.param_shapes)
    for k, v in p.items():
        assert isinstance(v, np.ndarray) and v.dtype == np.float64 and v.shape == m.param_shapes[k], k
        assert np.all(np.isfinite(v))


def test_init_schemes_follow_the_notebooks():
    big = rm.get("mnist_relu").init_params(np.random.default_rng(1))
    assert big["W1"].min() >= -0.1 and big["W1"].max() < 0.1 and big["W1"].std() > 0.05
    xor = rm.get("xor_2layer").init_params(np.random.default_rng(1))
    assert not xor["b1"].any() and not xor["b2"].any() and xor["W1"].std() > 0.1
    one = rm.get("onehot_222").init_params(np.random.default_rng(1))
    assert one["b2"].all()  # randn biases in 003, unlike 000's zeros
    assert rm.get("chain_2_1_1").init_params(None)["w"].tolist() == [0.4, -0.2]


EXPECTED_Y_SHAPE = {"relu_sigmoid_bce": lambda n, m: (n,), "chain_2_1_1": lambda n, m: (n,)}


@pytest.mark.parametrize("name", NINE)
@pytest.mark.parametrize("n", [1, 4, 7])
def test_example_batch_shapes(name, n):
    m = small_model(name)
    x, y = m.example_batch(np.random.default_rng(n), n)
    assert x.dtype == np.float64 and y.dtype == np.float64
    n_in = m.param_shapes.get("W1", m.param_shapes.get("W2", m.param_shapes.get("w")))[0]
    assert x.shape == (n, n_in)
    out = m.forward(m.init_params(np.random.default_rng(0)), x)
    assert y.shape == EXPECTED_Y_SHAPE.get(name, lambda n, m: out.shape)(n, m)
    assert out.shape == y.shape


def test_example_batch_value_ranges():
    rng = np.random.default_rng(3)
    x, t = rm.get("mnist_relu").example_batch(rng, 50)
    assert x.min() >= 0 and x.max() <= 1 and x.shape == (50, 784)
    assert set(np.unique(t)) == {0.0, 1.0} and np.all(t.sum(axis=1) == 1)
    x, y = rm.get("xor_2layer").example_batch(rng, 40)
    assert set(np.unique(x)) == {0.0, 1.0} and np.array_equal(y[:, 0], (x[:, 0] != x[:, 1]).astype(float))
    x, t = rm.get("onehot_222").example_batch(rng, 40)
    assert np.all((x >= 1) & (x <= 20)) and np.allclose(t.sum(axis=1), 1.0)
    assert np.allclose(np.sort(t, axis=1), [[0.01, 0.99]] * 40, atol=1e-7)
    x, y = rm.get("relu_sigmoid_bce").example_batch(rng, 60)
    assert np.all(np.abs(x) <= 2) and np.array_equal(y, (x[:, 1] + 1 > x[:, 0] ** 2).astype(float))
    x, y = rm.get("study_3layer").example_batch(rng, 30)
    assert np.all((x >= 0) & (x <= 10)) and np.all((y >= 0) & (y <= 1))


NOTEBOOK_SHAPES = {
    "xor_1layer": ((4, 2), (4, 1)), "xor_2layer": ((4, 2), (4, 1)), "xor_3layer": ((4, 2), (4, 1)),
    "onehot_222": ((8, 2), (8, 2)), "relu_sigmoid_bce": ((100, 2), (100,)),
    "study_2layer": ((3, 2), (3, 1)), "study_3layer": ((3, 2), (3, 1)), "chain_2_1_1": ((1, 2), (1,)),
}


@pytest.mark.parametrize("name", sorted(NOTEBOOK_SHAPES))
def test_notebook_data_shapes(name):
    m = rm.get(name)
    x, y = m.notebook_data()
    assert (x.shape, y.shape) == NOTEBOOK_SHAPES[name]
    assert np.isfinite(m.loss(m.init_params(np.random.default_rng(0)), x, y))
    x[...] = np.nan  # a copy: the next call is unaffected
    assert not np.isnan(m.notebook_data()[0]).any()


# -- MNIST from a local file -------------------------------------------------

def test_mnist_without_a_file_raises_a_lookup_error_saying_where(tmp_path, monkeypatch):
    missing = tmp_path / "nowhere" / "mnist.npz"
    monkeypatch.setenv("GRADCHECK_MNIST", str(missing))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(rm.NotebookDataUnavailable) as info:
        rm.get("mnist_relu").notebook_data()
    assert isinstance(info.value, LookupError)
    assert str(missing) in str(info.value) and "mnist.npz" in str(info.value)
    assert str(tmp_path / ".keras" / "datasets" / "mnist.npz") in str(info.value)


def test_mnist_reads_a_keras_layout_file(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=12).astype(np.uint8)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=images, y_train=labels, x_test=images[:5], y_test=labels[:5])
    monkeypatch.setenv("GRADCHECK_MNIST", str(path))
    m = rm.get("mnist_relu")
    x, t = m.notebook_data()
    assert x.shape == (12, 784) and t.shape == (12, 10)
    assert np.array_equal(x[3].reshape(28, 28) * 255, images[3].astype(float))
    assert np.array_equal(t.argmax(axis=1), labels) and np.all(t.sum(axis=1) == 1)
    xt, tt = m.notebook_data(split="test")
    assert xt.shape == (5, 784)
    with pytest.raises(ValueError, match="n_in=6"):
        rm.get("mnist_relu", n_in=6).notebook_data()
    with pytest.raises(ValueError, match="split='valid'"):
        m.notebook_data(split="valid")


# -- exact gradients -----------------------------------------------------------

@pytest.mark.parametrize("name", NINE)
@settings(deadline=None, max_examples=20, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_backward_is_the_gradient_of_loss(name, data):
    options = data.draw(OPTIONS[name], label="options")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    n = data.draw(st.integers(1, 9), label="batch size")
    scale = data.draw(st.sampled_from([0.3, 1.0, 2.0]), label="weight scale")
    m = rm.get(name, **options)
    rng = np.random.default_rng(seed)
    params = random_params(m, rng, scale)
    x, y = m.example_batch(rng, n)
    assume(kink_distance(m, params, x) > KINK_MARGIN)

    loss = m.loss(params, x, y)
    exact = m.backward(params, x, y)
    numeric = numerical_gradient(lambda p: m.loss(p, x, y), params)
    assert set(exact) == set(params)
    for k in params:
        assert exact[k].shape == params[k].shape and exact[k].dtype == np.float64
    assert_close_to_numeric(exact, numeric, loss, f"{name} {options} n={n}")


def test_mnist_full_size_on_a_random_subset_of_entries():
    m = rm.get("mnist_relu")
    rng = np.random.default_rng(2024)
    params = m.init_params(rng)
    x, t = m.example_batch(rng, 3)
    exact = m.backward(params, x, t)
    loss = m.loss(params, x, t)
    z1 = x @ params["W1"]
    safe_columns = np.flatnonzero(np.min(np.abs(z1), axis=0) > KINK_MARGIN)
    picks = [("W1", (int(i), int(j))) for i, j in zip(rng.integers(0, 784, 25), rng.choice(safe_columns, 25))]
    picks += [("W2", (int(i), int(j))) for i, j in zip(rng.integers(0, 100, 15), rng.integers(0, 10, 15))]
    for key, idx in picks:
        h = float(default_step(params[key][idx]))
        moved = {k: v.copy() for k, v in params.items()}
        moved[key][idx] += h
        f_plus = m.loss(moved, x, t)
        moved[key][idx] -= 2 * h
        f_minus = m.loss(moved, x, t)
        n = (f_plus - f_minus) / (2 * h)
        assert abs(exact[key][idx] - n) <= 1e-6 * abs(n) + 1e-9 * max(1.0, loss), (key, idx, exact[key][idx], n)
    assert np.abs(exact["W1"]).max() > 0 and np.abs(exact["W2"]).max() > 0


# -- the layered forward pass: exact identity and leading stack axes --------------

@pytest.mark.parametrize("name", NINE)
def test_loss_is_the_head_of_the_layers(name):
    m = small_model(name)
    rng = np.random.default_rng(5)
    params = random_params(m, rng)
    x, y = m.example_batch(rng, 5)
    assert m.loss(params, x, y) == float(m.head(m.run_layers(params, m.prepare_input(x)), y))
    assert np.array_equal(m.forward(params, x), m.present(m.run_layers(params, m.prepare_input(x))))
    assert isinstance(m.loss(params, x, y), float)


@pytest.mark.parametrize("name", NINE)
@settings(deadline=None, max_examples=15)
@given(data=st.data())
def test_stacked_parameters_give_stacked_losses(name, data):
    """P stacked parameter sets (leading axis on every parameter) give P losses."""
    options = data.draw(OPTIONS[name], label="options")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    n = data.draw(st.sampled_from([1, 2, 3, 5]), label="batch size")
    m = rm.get(name, **options)
    rng = np.random.default_rng(seed)
    sets = [random_params(m, rng) for _ in range(3)]
    x, y = m.example_batch(rng, n)
    stacked = {k: np.stack([p[k] for p in sets]) for k in m.param_shapes}
    out = m.run_layers(stacked, m.prepare_input(x))
    losses_ = m.head(out, y)
    assert losses_.shape == (3,)
    singles = [m.loss(p, x, y) for p in sets]
    np.testing.assert_allclose(losses_, singles, rtol=1e-13, atol=1e-15)
    presented = m.present(out)
    for i, p in enumerate(sets):
        np.testing.assert_allclose(presented[i], m.forward(p, x), rtol=1e-13, atol=1e-15)
    # one parameter stacked, the others plain (how a checker perturbs a single array)
    key = data.draw(st.sampled_from(sorted(m.param_shapes)), label="stacked key")
    mixed = dict(sets[0])
    mixed[key] = np.stack([sets[0][key], sets[1][key]])
    two = m.head(m.run_layers(mixed, m.prepare_input(x)), y)
    expect = [m.loss(sets[0], x, y), m.loss({**sets[0], key: sets[1][key]}, x, y)]
    np.testing.assert_allclose(two, expect, rtol=1e-13, atol=1e-15)


# -- purity ------------------------------------------------------------------

def _frozen_copy(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


@pytest.mark.parametrize("name", NINE)
def test_nothing_mutates_its_inputs(name):
    """Read-only arrays make any in-place write raise; values are compared afterwards too."""
    m = small_model(name)
    rng = np.random.default_rng(11)
    params = {k: _frozen_copy(v) for k, v in random_params(m, rng).items()}
    x, y = (_frozen_copy(a) for a in m.example_batch(rng, 4))
    before = ({k: v.copy() for k, v in params.items()}, x.copy(), y.copy())
    m.forward(params, x)
    m.loss(params, x, y)
    grads = m.backward(params, x, y)
    new = m.notebook_step(params, x, y, 0.01)
    m.head(m.run_layers(params, m.prepare_input(x)), y)
    for k in params:
        assert np.array_equal(params[k], before[0][k])
        assert new[k] is not params[k] and grads[k] is not params[k]
    assert np.array_equal(x, before[1]) and np.array_equal(y, before[2])
    assert any(not np.array_equal(new[k], params[k]) for k in params), "the step moves something"


def test_activations_do_not_write_into_their_argument():
    z = _frozen_copy(np.array([-2.0, -0.5, 0.0, 0.5, 2.0]))
    for f in (act.sigmoid, act.sigmoid_prime, act.relu, act.relu_prime, act.tanh, act.tanh_prime,
              act.step, act.step_prime, act.softmax, act.softmax_jacobian):
        f(z)
    assert z.tolist() == [-2.0, -0.5, 0.0, 0.5, 2.0]


# -- activations and losses ------------------------------------------------------

@pytest.mark.parametrize(
    "f, df",
    [(act.sigmoid, act.sigmoid_prime), (act.relu, act.relu_prime), (act.tanh, act.tanh_prime), (act.step, act.step_prime)],
)
def test_activation_derivatives(f, df):
    z = np.array([-7.0, -1.3, -0.2, 0.3, 1.1, 6.0])
    h = 1e-6
    np.testing.assert_allclose(df(z), (f(z + h) - f(z - h)) / (2 * h), rtol=1e-8, atol=1e-10)


def test_kink_conventions():
    assert act.relu_prime(np.array([0.0]))[0] == 0.0 and act.relu_prime(np.array([1e-300]))[0] == 1.0
    assert act.step(np.array([0.0, 1e-300]))[:].tolist() == [0.0, 1.0]
    assert not act.step_prime(np.array([0.0, 3.0])).any()


def test_reference_values():
    assert act.sigmoid(np.array([0.0]))[0] == 0.5
    np.testing.assert_allclose(act.sigmoid(np.array([2.0])), [1 / (1 + np.exp(-2.0))], rtol=1e-15)
    np.testing.assert_allclose(act.sigmoid(np.array([-40.0])), [np.exp(-40.0) / (1 + np.exp(-40.0))], rtol=1e-13)
    np.testing.assert_allclose(act.softmax(np.array([1.0, 2.0, 3.0])), np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())


def test_softmax_jacobian_against_differences():
    z = np.array([0.3, -1.2, 2.0, 0.1])
    h = 1e-6
    numeric = np.stack([(act.softmax(z + h * e) - act.softmax(z - h * e)) / (2 * h) for e in np.eye(4)], axis=1)
    np.testing.assert_allclose(act.softmax_jacobian(z), numeric, atol=1e-9)


def test_no_overflow_warnings_for_large_logits():
    z = np.array([[-1000.0], [-50.0], [0.0], [50.0], [1000.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is benign
            s = act.sigmoid(z)
            act.sigmoid_prime(z)
            p = act.softmax(np.array([[1000.0, 0.0, -1000.0]]))
            bce = losses.bce_with_logits(z, np.ones_like(z))
            ce = losses.softmax_cross_entropy(np.array([[1000.0, 0.0, -1000.0]]), np.array([[0.0, 0.0, 1.0]]))
            m = rm.get("relu_sigmoid_bce")
            big = {"W1": np.full((2, 3), 300.0), "b1": np.zeros(3), "W2": np.full((3, 1), 300.0), "b2": np.zeros(1)}
            model_loss = m.loss(big, np.array([[1.0, 1.0], [2.0, 2.0]]), np.zeros(2))
            model_grad = m.backward(big, np.array([[1.0, 1.0], [2.0, 2.0]]), np.zeros(2))
    assert np.all(np.isfinite(s)) and s[0, 0] == 0.0 and s[-1, 0] == 1.0
    assert p.tolist() == [[1.0, 0.0, 0.0]]
    # -log(sigmoid(-1000)) = 1000 exactly in floating point; the naive form gives inf
    assert bce == pytest.approx((1000 + 50 + np.log(2) + np.log1p(np.exp(-50)) + np.log1p(np.exp(-1000))) / 5, rel=1e-15)
    assert ce == pytest.approx(2000.0, rel=1e-15)
    assert np.isfinite(model_loss) and model_loss > 1e5
    assert all(np.all(np.isfinite(g)) for g in model_grad.values())


LOSSES = [
    (losses.mse, losses.mse_grad),
    (losses.half_sse, losses.half_sse_grad),
    (losses.sse_per_sample, losses.sse_per_sample_grad),
    (losses.half_squared_error, losses.half_squared_error_grad),
    (losses.bce_with_logits, losses.bce_with_logits_grad),
    (losses.softmax_cross_entropy, losses.softmax_cross_entropy_grad),
]


@pytest.mark.parametrize("loss, grad", LOSSES)
def test_loss_gradients_and_stacking(loss, grad):
    rng = np.random.default_rng(9)
    out = rng.normal(size=(5, 3))
    y = rng.random((5, 3))
    h = 1e-6
    numeric = np.zeros_like(out)
    for idx in np.ndindex(out.shape):
        e = np.zeros_like(out)
        e[idx] = h
        numeric[idx] = (loss(out + e, y) - loss(out - e, y)) / (2 * h)
    np.testing.assert_allclose(grad(out, y), numeric, rtol=1e-7, atol=1e-10)
    stack = np.stack([out, 2 * out])
    np.testing.assert_allclose(loss(stack, y), [loss(out, y), loss(2 * out, y)], rtol=1e-15)


def test_loss_definitions_against_the_notebook_formulas():
    rng = np.random.default_rng(4)
    a, y = rng.random((6, 1)), rng.random((6, 1))
    assert losses.mse(a, y) == pytest.approx(((y - a) ** 2).mean(), rel=1e-15)
    assert losses.half_sse(a, y) == pytest.approx(np.sum((y - a) ** 2) / 2, rel=1e-15)
    assert losses.sse_per_sample(a, y) == pytest.approx(np.sum((y - a) ** 2) / 6, rel=1e-15)
    assert losses.half_squared_error(a, y) == pytest.approx(np.mean(0.5 * (y - a) ** 2), rel=1e-15)
    z, t = rng.normal(size=(6, 1)), (rng.random((6, 1)) > 0.5).astype(float)
    yhat = 1 / (1 + np.exp(-z))
    assert losses.bce_with_logits(z, t) == pytest.approx(-(t * np.log(yhat) + (1 - t) * np.log(1 - yhat)).mean(), rel=1e-13)
    z, t = rng.normal(size=(6, 4)), np.eye(4)[rng.integers(0, 4, 6)]
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    assert losses.softmax_cross_entropy(z, t) == pytest.approx(-np.sum(t * np.log(p)) / 6, rel=1e-13)


# -- input validation --------------------------------------------------------

@pytest.mark.parametrize("name", NINE)
def test_wrong_shapes_are_reported_with_the_argument(name):
    m = small_model(name)
    rng = np.random.default_rng(0)
    params = random_params(m, rng)
    x, y = m.example_batch(rng, 3)
    with pytest.raises(ValueError, match=r"x must have shape"):
        m.loss(params, np.concatenate([x, x], axis=1), y)
    with pytest.raises(ValueError, match=r"y must have shape"):
        m.backward(params, x, np.concatenate([y, y]))
    with pytest.raises(ValueError, match=r"n must be a positive int, got n=0"):
        m.example_batch(rng, 0)
