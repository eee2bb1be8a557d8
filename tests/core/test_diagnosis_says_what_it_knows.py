"""A diagnosis never says more than it knows (red team 16: F18, F2, F14, F6).

Each test plants one bug whose root cause is known, checks it the way a user
would, and asserts what the diagnosis may and may not claim.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from gradcheck import check_gradients, check_layer, check_model, nn
from cs231n_layers import affine_backward, affine_forward

RNG = np.random.default_rng(0)
X = RNG.normal(size=(4, 3))
MASK = (np.random.default_rng(1).random(X.shape) < 0.5) / 0.5  # dropout with p = 1/2, kept units scaled by 1/p


def _dropout_forward(x):
    return x * MASK, MASK


def _dropout_backward_without_1_over_p(dout, mask):  # planted: forgets the 1/p of the kept units
    return dout * (mask > 0)


def _identity_forward(x):
    return x.copy(), None


def _identity_backward_doubled(dout, cache):  # planted: dx = 2 dout
    return 2 * dout


def test_a_layers_lost_factor_is_reported_without_an_invented_loss():
    # F18: "the factor 2 from differentiating the square is missing" (dropout), "the factor 2/N of the mean squared
    # error is missing" (identity at N = 4): check_layer's loss is sum(out * dout), with no square and no mean
    for forward, backward, factor in ((_dropout_forward, _dropout_backward_without_1_over_p, 0.5),
                                      (_identity_forward, _identity_backward_doubled, 2.0)):
        d = check_layer(forward, backward, {"x": X}).params[0].diagnosis
        assert d.code == "scale" and abs(d.detail["factor"] - factor) <= 1e-6 * factor  # the pattern tolerance
        assert d.detail["template"] == "scale.unknown" and "cause_key" not in d.detail and "cause_keys" not in d.detail
        assert f"times {factor:g}, the same factor in every entry" in d.message
        for text in (d.message, d.in_language("ko").message):
            assert "square" not in text and "N/2" not in text and "2/N" not in text and "제곱" not in text


def _mse_model():
    model = nn.Sequential(nn.Dense("W", "b"), loss=nn.MSE("mean"))
    p = {"W": RNG.normal(size=(3, 3)), "b": RNG.normal(size=3)}  # three outputs: with two, a mean over every entry
    return model, p, RNG.normal(size=(5, 3)), RNG.normal(size=(5, 3))  # is also half the mean of the sample sums


def test_a_models_lost_factor_is_blamed_on_the_term_its_loss_has():
    model, p, x, y = _mse_model()
    out = x @ p["W"] + p["b"]
    # the loss is mean((out - y)**2) over every entry (see nn.MSE): its gradient is 2 (out - y) / out.size
    dout = 2 * (out - y) / out.size
    grads = {"W": x.T @ dout / 2, "b": dout.sum(0) / 2}  # planted: the 2 of the square dropped
    d = check_model(model, p, x, y, grads=grads)["W"].diagnosis
    assert d.code == "scale" and d.detail["cause_key"] == "cause.1/2"
    assert "the factor 2 from differentiating the square is missing" in d.message


def test_one_entry_off_is_one_entry_off_not_another_loss():
    # F2: one entry of dw off by a little (1% there, 1e-4 of the largest entry) was "the gradient of a slightly different loss: a constant inside a log ..."
    x, w, b = RNG.normal(size=(6, 5)), RNG.normal(size=(5, 5)), RNG.normal(size=5)

    def backward(dout, cache):
        dx, dw, db = affine_backward(dout, cache)
        dw = dw.copy()
        dw[1, 2] += 1e-4 * np.max(np.abs(dw))  # planted
        return dx, dw, db

    d = check_layer(affine_forward, backward, {"x": x, "w": w, "b": b})["w"].diagnosis
    assert (d.code, d.detail["template"], d.detail["n_wrong"], d.detail["first_wrong"]) == ("partial", "partial.offset", 1,
                                                                                           [1, 2])
    assert "1 of its 25 entries" in d.message and "different loss" not in d.message and "log" not in d.message
    # the size of the error is said, relative to the largest entry (the numerical gradient's error is ~1e-9 of it)
    assert abs(d.detail["max_rel_offset"] - 1e-4) <= 1e-6 and "by at most 1.0e-04 of its largest entry" in d.message


@dataclass(frozen=True)
class ReluSoftmax:
    """A 40-12-3 ReLU net with mean softmax cross-entropy at a fixed point (large enough for fast mode to localise)."""

    model: nn.Sequential
    p: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray

    def grads(self, n: int) -> dict[str, np.ndarray]:
        """Hand-written backprop with the loss divided by ``n`` (the right one: ``n`` = the batch size, 8)."""
        p, x = self.p, self.x
        h = x @ p["W1"] + p["b1"]
        a = np.maximum(h, 0)
        z = a @ p["W2"] + p["b2"]
        q = np.exp(z - z.max(1, keepdims=True))
        q /= q.sum(1, keepdims=True)
        dz = (q - np.eye(3)[self.y]) / n
        dh = dz @ p["W2"].T * (h > 0)
        return {"W1": x.T @ dh, "b1": dh.sum(0), "W2": a.T @ dz, "b2": dz.sum(0)}


@pytest.fixture
def relu_softmax() -> ReluSoftmax:
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())
    rng = np.random.default_rng(3)
    p = {"W1": 0.3 * rng.normal(size=(40, 12)), "b1": 0.1 * rng.normal(size=12), "W2": 0.3 * rng.normal(size=(12, 3)),
         "b2": np.zeros(3)}
    return ReluSoftmax(model, p, rng.normal(size=(8, 40)), rng.integers(0, 3, 8))


def test_fast_mode_names_a_factor_from_its_localised_entries(relu_softmax: ReluSoftmax) -> None:
    # F14: check_model(mode="fast") on a backward missing 1/N gave the large tensors no diagnosis at all
    net = relu_softmax
    grads = net.grads(1)  # planted: the mean's 1/N is missing (the right one divides by 8)
    c = check_model(net.model, net.p, net.x, net.y, grads=grads, mode="fast", seed=0)["W1"]
    assert c.mode == "fast" and not c.passed and c.diagnosis is not None
    d = c.diagnosis
    assert d.code == "scale" and abs(d.detail["factor"] - 8.0) < 1e-6  # N = 8
    assert d.detail["template"] == "scale.localised.named" and d.detail["cause_key"] == "cause.N"
    assert f"in each of the {d.detail['n_localised']} entries fast mode localised" in d.message
    assert "If every entry is so" in d.message


def test_a_bug_in_every_nonzero_entry_is_not_called_local():
    # F6: a global bug was "wrong in 16 of its 20 entries ... the other entries are right", the right ones being
    # zeros behind dead ReLUs
    w = np.array([[1.0, -2.0, 0.5], [-0.3, 2.0, 1.5]])

    def f(q):
        return float(np.sum(np.maximum(q["w"], 0) ** 3))

    right = 3 * np.maximum(w, 0) ** 2
    wrong = right + 0.5 * np.maximum(w, 0)  # planted: a wrong term in every active entry
    d = check_gradients(f, {"w": wrong}, {"w": w})["w"].diagnosis
    assert (d.code, d.detail["template"], d.detail["n_wrong"], d.detail["n_zero"]) == ("partial", "partial.nonzero", 4, 2)
    assert "the other entries are right" not in d.message and "all 4 entries where the gradient is not zero" in d.message
    # a bug in a few entries among nonzero right ones stays "partial" with its usual sentence
    local = right.copy()
    local[0, 0] += 1.0
    d = check_gradients(f, {"w": local}, {"w": w})["w"].diagnosis
    assert d.detail.get("template", "partial") == "partial" and "the other entries passed" in d.message


def test_a_cross_entropy_models_halved_gradient_has_no_square_to_blame():
    model = nn.Sequential(nn.Dense("W", "b"), loss=nn.SoftmaxCrossEntropy())
    p = {"W": RNG.normal(size=(3, 4)), "b": RNG.normal(size=4)}
    x, y = RNG.normal(size=(5, 3)), np.array([0, 3, 1, 1, 2])
    z = x @ p["W"] + p["b"]
    q = np.exp(z - z.max(1, keepdims=True))
    q /= q.sum(1, keepdims=True)
    dz = (q - np.eye(4)[y]) / 5  # the mean cross-entropy's gradient
    d = check_model(model, p, x, y, grads={"W": x.T @ dz / 2, "b": dz.sum(0) / 2})["W"].diagnosis  # planted: / 2
    assert d.code == "scale" and abs(d.detail["factor"] - 0.5) < 1e-6
    assert d.detail["template"] == "scale" and "square" not in d.message and "no usual cause" in d.message


def test_fast_mode_names_no_factor_from_one_localised_entry(relu_softmax: ReluSoftmax) -> None:
    # one wrong entry is always some multiple of the right one: no factor is read from it
    net = relu_softmax
    grads = net.grads(8)
    dW1 = grads["W1"]
    dW1[np.unravel_index(np.argmax(np.abs(dW1)), dW1.shape)] *= 2  # planted: one entry doubled
    c = check_model(net.model, net.p, net.x, net.y, grads=grads, mode="fast", seed=0)["W1"]
    assert c.mode == "fast" and not c.passed and len(c.worst) == 1
    # where it failed, and no factor (rt21 F9: a failed tensor always has a diagnosis; it had none)
    assert c.diagnosis.code == "wrong" and c.diagnosis.detail["template"] == "wrong.localised", c.diagnosis
    assert "times" not in c.diagnosis.message


# rt16 F3: check_layer of a sigmoid layer whose backward takes sigmoid' of the wrong array said "fits no known
# mistake"; the catalogue's activation mistakes are named for a lone activation layer, and only for one.
def _sigmoid_forward(x):
    out = 1.0 / (1.0 + np.exp(-x))
    return out, (x, out)


def _tanh_forward(x):
    out = np.tanh(x)
    return out, (x, out)


def _backward_a_formula_on_x(dout, cache):  # planted: a * (1 - a) written with the pre-activation x
    x, _ = cache
    return dout * x * (1 - x)


def _backward_sigmoid_of_the_output(dout, cache):  # planted: s(a) * (1 - s(a)), the sigmoid taken twice
    _, out = cache
    s = 1.0 / (1.0 + np.exp(-out))
    return dout * s * (1 - s)


def _backward_off_by_x(dout, cache):  # a different wrong backward: no catalogued mistake
    x, out = cache
    return dout * out * (1 - out) * (1 + 0.1 * x)


@pytest.mark.parametrize(("backward", "mistake"), [(_backward_a_formula_on_x, "sigmoid_prime_of_z"),
                                                   (_backward_sigmoid_of_the_output, "sigmoid_twice")])
def test_a_sigmoid_layers_known_mistake_is_named(backward, mistake):
    d = check_layer(_sigmoid_forward, backward, {"x": X}, seed=0)["x"].diagnosis
    assert d.code == "activation" and d.detail["mistake"] == mistake, d.message
    assert ("pre-activation" if mistake == "sigmoid_prime_of_z" else "twice") in d.message


@pytest.mark.parametrize(("forward", "backward"), [(_sigmoid_forward, _backward_off_by_x),  # another bug
                                                   (_tanh_forward, _backward_a_formula_on_x)])  # not a sigmoid
def test_no_mistake_is_named_that_the_layer_and_gradient_do_not_show(forward, backward):
    d = check_layer(forward, backward, {"x": X}, seed=0)["x"].diagnosis
    assert d.code != "activation", d.message


def test_entries_passed_by_a_kinks_bracket_are_not_called_right():
    # rt18 F2: "the other entries are right" of entries judged only by a kink's one-sided bracket
    w = np.array([[0.0, 1.2, -0.7], [0.0, 0.4, 2.5], [0.0, -1.1, 0.9]])  # the first column at the kink

    def f(q):
        return float(np.sum(3.0 * np.maximum(q["w"], 0.0)) + np.sum(q["w"] ** 3))

    right = 3.0 * (w >= 0) + 3 * w ** 2  # relu'(0) = 1
    wrong = np.where(w == 0, 0.9 * right, right)  # planted: 10% off exactly at the kinks, inside [0, 3]
    wrong[1, 1] += 0.5  # and one entry off the kink wrong
    c = check_gradients(f, {"w": wrong}, {"w": w})["w"]
    d = c.diagnosis
    assert not c.passed and c.n_kinks == 3 and d.code == "partial"
    assert d.detail["template"] == "partial.kinks" and "are right" not in d.message
    assert "3 of them only within the one-sided bracket of a kink" in d.message  # the 3 at the kink passed
