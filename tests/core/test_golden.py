"""The numbers the course notebooks print, reproduced by the reference models.

Every expected value below is copied from a notebook's printed output (see
NETWORKS.md), never computed by the code under test.
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from gradcheck.numeric import numerical_gradient
from reference_models.quadratic import from_notebook_names, golden_params, to_notebook_names

EPS = np.finfo(np.float64).eps


# -- 002: quadratic boundary, loss and the notebook's h = 1e-7 gradient ----------

LOSS_002 = 0.6832187873470724
GRAD_002 = {
    "b11": -0.006909978145230866, "b12": -0.0207299344356926, "b13": -0.0207299344356926,
    "b21": 0.08090021430540162, "w11": 0.012743330835007782, "w12": 0.03822999361524637,
    "w13": 0.03822999361524637, "w21": -0.016027190130607494, "w22": -0.048081571502045506,
    "w23": -0.048081571502045506, "w31": -0.003283858185376687, "w32": -0.006567718036087911,
    "w33": -0.009851577331687622,
}
H_002 = 1e-7
# How close can the exact gradient be to a central difference with h = 1e-7?
# Truncation, h**2 |f'''| / 6 ~ 1e-15, is negligible.  Round-off dominates:
# each of the two loss evaluations (a mean of 100 log terms, ~0.68) is off by
# a few ulps, c * eps * |L| with c up to ~10, and the difference is divided by
# 2h, so the printed values can be off by c * eps * |L| / h ~ 1.5e-8 (relative
# to the gradients, up to ~5e-6 for the smallest, w31).
TOL_002 = 10 * EPS * LOSS_002 / H_002


@pytest.fixture(scope="module")
def quadratic():
    m = rm.get("relu_sigmoid_bce")
    x, y = m.notebook_data()
    return m, x, y


def test_002_data_matches_the_printed_head(quadratic):
    _, x, y = quadratic
    head = [[-0.782599, 0.905209, 1], [1.854088, 0.307004, 0], [-1.248618, 0.832538, 1],
            [0.238576, 0.712806, 1], [-1.166176, -0.802204, 0]]
    np.testing.assert_allclose(x[:5], np.array(head)[:, :2], atol=5e-7)
    assert y[:5].tolist() == [1.0, 0.0, 1.0, 1.0, 0.0]


def test_002_loss(quadratic):
    m, x, y = quadratic
    # a different (overflow-free) formula for the same number: equal to a few ulps
    assert m.loss(golden_params(), x, y) == pytest.approx(LOSS_002, abs=4 * EPS * LOSS_002)


def test_002_exact_gradient_against_the_printed_central_differences(quadratic):
    m, x, y = quadratic
    exact = to_notebook_names(m.backward(golden_params(), x, y))
    assert set(exact) == set(GRAD_002)
    for key, printed in GRAD_002.items():
        assert abs(exact[key] - printed) <= TOL_002, (key, exact[key], printed)


def test_002_printed_gradient_is_round_off_limited(quadratic):
    """The lesson: h = 1e-7 is too small; the default step (~6e-6) does 100x better."""
    m, x, y = quadratic
    exact = to_notebook_names(m.backward(golden_params(), x, y))
    printed_error = max(abs(exact[k] - GRAD_002[k]) for k in GRAD_002)
    assert printed_error > 1e-10
    good = to_notebook_names(numerical_gradient(lambda p: m.loss(p, x, y), golden_params()))
    assert max(abs(exact[k] - good[k]) for k in GRAD_002) < printed_error / 10


def test_002_notebook_gradient_reproduces_the_printed_values(quadratic):
    m, x, y = quadratic
    ng = to_notebook_names(m.notebook_gradient(golden_params(), x, y))
    for key, printed in GRAD_002.items():
        assert abs(ng[key] - printed) <= TOL_002, (key, ng[key], printed)


def test_002_scalar_names_round_trip():
    scalars = to_notebook_names(golden_params())
    assert (scalars["w12"], scalars["w21"], scalars["w33"], scalars["b21"]) == (0.2, 0.1, 0.3, 0.0)
    back = from_notebook_names(scalars)
    assert all(np.array_equal(back[k], golden_params()[k]) for k in back)


def test_002_step_activation_freezes_the_first_layer(quadratic):
    _, x, y = quadratic
    m = rm.get("relu_sigmoid_bce", activation="step")
    g = m.backward(golden_params(), x, y)
    assert not g["W1"].any() and not g["b1"].any() and g["b2"][0] != 0


# -- 000: XOR training runs, seed 42, one random stream --------------------------

@pytest.fixture(scope="module")
def xor_runs():
    """Train the 1-, 2- and 3-layer networks as the notebook does (shared np.random.seed(42) stream)."""
    stream = np.random.RandomState(42)
    runs = {}
    for name in ("xor_1layer", "xor_2layer", "xor_3layer"):
        m = rm.get(name)
        x, y = m.notebook_data()
        p = m.init_params(stream)
        record = {"init": p, "losses": []}
        for epoch in range(10000):
            out = m.forward(p, x)  # the notebook prints the last forward pass, taken before the last update
            record["losses"].append(m.loss(p, x, y))
            p = m.notebook_step(p, x, y, lr=0.1)
            if epoch == 0:
                record["after_first"] = p
        record.update(final=p, out=out)
        runs[name] = record
    return runs


def test_000_initial_weights(xor_runs):
    np.testing.assert_allclose(
        xor_runs["xor_2layer"]["init"]["W1"],
        [[0.64768854, 1.52302986, -0.23415337], [-0.23413696, 1.57921282, 0.76743473]],
        atol=5e-9,
    )


def test_000_first_epoch_prints(xor_runs):
    one = xor_runs["xor_1layer"]
    np.testing.assert_allclose(one["after_first"]["W1"].ravel(), [0.49135794, -0.13921903], atol=5e-9)
    np.testing.assert_allclose(one["after_first"]["b1"], [[-0.0045571]], atol=5e-8)
    for name, printed in [("xor_1layer", 0.2563), ("xor_2layer", 0.2440), ("xor_3layer", 0.2892)]:
        assert round(xor_runs[name]["losses"][0], 4) == printed
    assert [round(v, 4) for v in xor_runs["xor_2layer"]["losses"][1000::1000]] == [
        0.1881, 0.0920, 0.0313, 0.0149, 0.0092, 0.0065, 0.0049, 0.0040, 0.0033]


def test_000_one_layer_cannot_fit_xor(xor_runs):
    one = xor_runs["xor_1layer"]
    np.testing.assert_allclose(one["out"].ravel(), [0.5, 0.5, 0.5, 0.5], atol=1e-6)
    assert one["losses"][-1] == pytest.approx(0.25, abs=1e-12)
    np.testing.assert_allclose(one["final"]["W1"].ravel(), [2.46834548e-16, 2.46362677e-16], atol=1e-15)


def test_000_two_layer_predictions(xor_runs):
    two = xor_runs["xor_2layer"]
    np.testing.assert_allclose(two["out"].ravel(), [0.02224667, 0.94486905, 0.94514992, 0.06836053], atol=1e-6)
    np.testing.assert_allclose(
        two["final"]["W1"], [[5.78947689, 5.61073991, -2.66391388], [-2.47555936, 5.6326184, 5.82295068]], atol=1e-6
    )


def test_000_three_layer_predictions(xor_runs):
    three = xor_runs["xor_3layer"]
    np.testing.assert_allclose(three["out"].ravel(), [0.0281708, 0.95702334, 0.95697581, 0.05356113], atol=1e-6)
    assert [round(v, 4) for v in three["losses"][1000::1000]] == [
        0.2492, 0.2442, 0.2191, 0.1803, 0.1519, 0.1029, 0.0123, 0.0047, 0.0027]


@pytest.mark.parametrize("name", ["xor_1layer", "xor_2layer", "xor_3layer"])
@pytest.mark.parametrize("n", [4, 7])
def test_000_quirk_notebook_gradient_is_exact_times_n_over_2(name, n):
    m = rm.get(name)
    rng = np.random.default_rng(n)
    p = {k: rng.standard_normal(s) for k, s in m.param_shapes.items()}
    x, y = m.example_batch(rng, n) if n != 4 else m.notebook_data()
    exact = m.backward(p, x, y)
    notebook = m.notebook_gradient(p, x, y)
    for k in p:
        np.testing.assert_allclose(notebook[k], exact[k] * n / 2, rtol=1e-12, atol=1e-15)
    step = m.notebook_step(p, x, y, lr=0.1)
    for k in p:
        np.testing.assert_allclose(step[k], p[k] - 0.1 * exact[k] * n / 2, rtol=1e-12, atol=1e-15)


# -- 001: the chain-rule cell ---------------------------------------------------

@pytest.fixture(scope="module")
def chain():
    m = rm.get("chain_2_1_1")
    x, y = m.notebook_data()
    return m, m.init_params(None), x, y


def test_001_chain_printed_numbers(chain):
    m, p, x, y = chain
    terms = m.notebook_error_terms(p, x, y)
    assert terms["pred_y"][0] == pytest.approx(0.512372477962617, rel=1e-15)
    assert terms["error"][0] == pytest.approx(0.487627522037383, rel=1e-15)
    assert terms["output_error_term"][0] == pytest.approx(0.1218322353606694, rel=1e-15)
    assert terms["hidden_error_term"][0] == pytest.approx(0.003045501323732555, rel=1e-15)
    assert m.forward(p, x)[0] == pytest.approx(0.512372477962617, rel=1e-15)
    assert m.forward(p, np.array([0.1, 0.3]))[0] == pytest.approx(0.512372477962617, rel=1e-15)


def test_001_chain_error_terms_are_minus_the_exact_gradient(chain):
    """With y > l2, the notebook's error terms are -dL/dz2 and -dL/dz1 (one sample)."""
    m, p, x, y = chain
    g = m.backward(p, x, y)
    l1 = 1 / (1 + np.exp(-(0.1 * 0.4 + 0.3 * -0.2)))
    assert -g["v"] / l1 == pytest.approx(0.1218322353606694, rel=1e-14)
    np.testing.assert_allclose(-g["w"] / np.array([0.1, 0.3]), [0.003045501323732555] * 2, rtol=1e-14)
    assert g["v"].shape == () and g["w"].shape == (2,)


def test_001_chain_notebook_update_and_its_sign_error(chain):
    m, p, x, y = chain
    new = m.notebook_step(p, x, y, lr=0.5)
    assert float(new["v"]) == pytest.approx(0.06984651159595415, rel=1e-15)
    assert 0.1 - float(new["v"]) == pytest.approx(0.030153488404045865, rel=1e-13)  # del_w_output
    np.testing.assert_allclose(new["w"], [0.39984772, -0.20045683], atol=5e-9)
    # the quirk as a fact: the step goes *up* the loss, p + lr * gradient
    g = m.backward(p, x, y)
    np.testing.assert_allclose(new["w"], p["w"] + 0.5 * g["w"], rtol=1e-14)
    assert float(new["v"]) == pytest.approx(float(p["v"] + 0.5 * g["v"]), rel=1e-14)
    assert m.loss(new, x, y) > m.loss(p, x, y)


# -- 001: MNIST update rule --------------------------------------------------------

def test_001_mnist_step_is_sgd_when_no_relu_is_off():
    """All pre-activations positive: the notebook's update is exact per-sample SGD on cross-entropy."""
    m = rm.get("mnist_relu", n_in=6, hidden=4, n_out=3)
    rng = np.random.default_rng(0)
    p = {"W1": rng.random((6, 4)) + 0.1, "W2": rng.standard_normal((4, 3))}
    x, t = m.example_batch(rng, 1)
    new = m.notebook_step(p, x, t, lr=0.0005)
    g = m.backward(p, x, t)
    for k in p:
        np.testing.assert_allclose(new[k], p[k] - 0.0005 * g[k], rtol=1e-13)


def test_001_mnist_quirk_relu_treated_as_identity():
    m = rm.get("mnist_relu", n_in=6, hidden=4, n_out=3)
    rng = np.random.default_rng(1)
    p = {"W1": rng.standard_normal((6, 4)), "W2": rng.standard_normal((4, 3))}
    x, t = m.example_batch(rng, 1)
    z1 = x @ p["W1"]
    assert (z1 < 0).any() and (z1 > 0).any()
    new = m.notebook_step(p, x, t, lr=0.01)
    # what the notebook computes: layer_1_delta = W2 @ (t - p), never masked
    logits = np.maximum(z1, 0) @ p["W2"]
    probs = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    unmasked = p["W2"] @ (t[0] - probs[0])
    np.testing.assert_allclose(new["W1"], p["W1"] + 0.01 * np.outer(x[0], unmasked), rtol=1e-13)
    exact = p["W1"] - 0.01 * m.backward(p, x, t)["W1"]
    off = z1[0] < 0
    assert not np.allclose(new["W1"][:, off], exact[:, off])
    np.testing.assert_allclose(new["W1"][:, ~off], exact[:, ~off], rtol=1e-13)


def test_001_mnist_notebook_initialisation():
    m = rm.get("mnist_relu")
    p = m.init_params(np.random.default_rng(884736743))
    again = np.random.default_rng(884736743)
    np.testing.assert_array_equal(p["W1"], 0.2 * again.random((784, 100)) - 0.1)
    np.testing.assert_array_equal(p["W2"], 0.2 * again.random((100, 10)) - 0.1)


# -- 003: one-hot 2-2-2 -----------------------------------------------------------

def test_003_data_split_and_smoothing():
    m = rm.get("onehot_222")
    x, t = m.notebook_data()
    xt, tt = m.notebook_data(split="test")
    assert x.shape == (8, 2) and xt.tolist() == [[2.0, 4.0]]
    assert x[0].tolist() == [4.0, 11.0] and x[-1].tolist() == [18.0, 7.0]
    np.testing.assert_allclose(t[:3], [[0.99, 0.01]] * 3, atol=1e-7)
    np.testing.assert_allclose(t[-5:], [[0.01, 0.99]] * 5, atol=1e-7)
    np.testing.assert_allclose(tt, [[0.99, 0.01]], atol=1e-7)


def test_003_quirks_loss_divisor_and_b2_sign():
    m = rm.get("onehot_222")
    rng = np.random.default_rng(3)
    p = m.init_params(rng)
    x, t = m.notebook_data()
    # the notebook's mean_square_error on a 1-D sample divides by len(y) = 2 outputs
    y1 = m.forward(p, x[:1])[0]
    assert np.sum((t[0] - y1) ** 2) / len(y1) == pytest.approx(m.loss(p, x[:1], t[:1]) / 2, rel=1e-14)
    # ... and on an (N, 2) batch by N
    y_all = m.forward(p, x)
    assert np.sum((t - y_all) ** 2) / len(y_all) == pytest.approx(m.loss(p, x, t), rel=1e-14)
    # the template's update: gradient descent on that per-sample loss, except b2 -= -lr * grad
    g = m.backward(p, x[:1], t[:1])
    new = m.notebook_step(p, x[:1], t[:1], lr=1e-3)
    for k in ("W2", "W3", "b3"):
        np.testing.assert_allclose(new[k], p[k] - 1e-3 * g[k] / 2, rtol=1e-14)
    np.testing.assert_allclose(new["b2"], p["b2"] + 1e-3 * g["b2"] / 2, rtol=1e-14)


# -- 004: study hours ----------------------------------------------------------------

def test_004_data_and_loss_is_a_half_sum():
    m = rm.get("study_2layer", hidden=4)
    x, y = m.notebook_data()
    assert x.tolist() == [[3, 5], [5, 1], [10, 2]] and y.ravel().tolist() == [0.75, 0.82, 0.93]
    p = m.init_params(np.random.default_rng(0))
    y_hat = m.forward(p, x)
    # the notebook's MSE(y, y_hat) = (y - y_hat)**2 / 2, summed when printed
    assert np.sum(np.power(y - y_hat, 2) / 2) == pytest.approx(m.loss(p, x, y), rel=1e-14)
    new = m.notebook_step(p, x, y, lr=1.0)  # model.W1 -= w1_grad
    g = m.backward(p, x, y)
    for k in p:
        np.testing.assert_allclose(new[k], p[k] - g[k], rtol=1e-14)
    assert m.loss(new, x, y) < m.loss(p, x, y)
