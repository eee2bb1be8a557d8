"""Messages that say what the check saw (red team rt21: F4, F7, F9, F11).

A loss flat at the point (a dead ReLU, a saturated sigmoid) has gradient 0
there: a nonzero backward is wrong, not "unread". A failure at exact ties
that the check cannot decide says so in its diagnosis and in the result's
warnings. Every failed tensor carries a diagnosis, in fast mode too. A
check_layer call with the wrong shape of arguments says which argument,
what it got and what the convention expects. Every expected string is
written out by hand.
"""
from __future__ import annotations

import dataclasses
import functools
import re

import dlfs
import numpy as np
import pytest

from gradcheck import check_gradients, check_layer, check_model, check_net, nn
from gradcheck.compare import Tolerance
from gradcheck.errors import KeyMismatchError
from gradcheck.explain import probed
from gradcheck.results import ParamCheck

MODES = ["full", "fast"]


def _relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.maximum(x, 0.0), x


def _sigmoid_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    out = 1.0 / (1.0 + np.exp(-x))
    return out, out


# -- F4: flat at the point is not "unread" ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_dead_relu_with_a_nonzero_backward_is_wrong_not_unread(mode: str) -> None:
    # every x = -1: relu is 0 around each entry, its gradient 0; the backward's mask (x != 0) passes dout through
    r = check_layer(_relu_forward, lambda dout, x: dout * (x != 0), {"x": -np.ones((3, 4))}, mode=mode)
    assert not r.passed
    assert r.problems == (), r.problems  # nothing wrong with the function's wiring
    assert r["x"].diagnosis.message == (
        "x is wrong: the loss is flat here (it did not change when any entry of x moved, and no entry sits at a "
        "kink), so the gradient is 0 at this point (a dead ReLU or a saturated unit?), while yours has 12 nonzero "
        "entries of 12.")


@pytest.mark.parametrize("mode", MODES)
def test_a_saturated_sigmoid_with_a_backward_ignoring_it_is_wrong_not_unread(mode: str) -> None:
    # sigmoid(50) is 1.0 in float64, and so around it: the gradient there is 0, the backward returns dout
    r = check_layer(_sigmoid_forward, lambda dout, out: dout, {"x": np.full((2, 3), 50.0)}, mode=mode)
    assert not r.passed and r.problems == (), r.problems
    assert "while yours has 6 nonzero entries of 6." in r["x"].diagnosis.message
    assert "평평합니다" in r["x"].diagnosis.in_language("ko").message  # "is flat", in the grader's Korean


@pytest.mark.parametrize("mode", MODES)
def test_an_array_the_function_never_reads_is_still_unread(mode: str) -> None:
    # f ignores v entirely: no move, however far, changes it; the question to the user stays (fast mode too)
    p = {"w": np.array([1.0, -2.0, 0.5]), "v": np.array([0.25, 3.0])}
    r = check_gradients(lambda q: float(np.sum(q["w"] ** 2)), {"w": 2 * p["w"], "v": np.ones(2)}, p, mode=mode)
    assert r.problems == ("the loss did not change when params['v'] moved: does f read its argument? (every "
                          "numerical entry is exactly 0; the analytic gradient has 2 nonzero entries).",)
    assert r["v"].diagnosis.message == (
        "v cannot be judged: the loss did not change when v moved (every numerical entry is exactly 0; see the "
        "problem above). Fix that first: the gradient itself may be right.")
    assert r["w"].passed


# -- F7: a failure at exact ties says it cannot be decided --------------------------------------------------------

W1 = np.array([[1.0, 0, 0, -1, -1, -1], [-1, -1, -1, 1, 0, 1], [0, 0, 1, 1, 0, 0]])
W2 = np.array([[0.0, 1, -1], [1, 1, -1], [0, 1, 0], [-1, 1, 1], [1, -1, -1], [1, -1, 0]])
XT = np.array([[-1.0, -1, 0], [0, 0, -1], [-1, -1, -1], [1, 0, 0], [-1, 0, 1], [0, 0, 1], [1, 1, 0], [1, 1, 0]])
YT = np.array([2, 2, 2, 1, 2, 0, 1, 2])


def _mlp(p: dict[str, np.ndarray]) -> tuple[float, dict[str, np.ndarray]]:
    """A 3-6-3 ReLU MLP with softmax cross-entropy on (XT, YT), and its correct backprop with relu'(0) = 0."""
    a = XT @ p["W1"] + p["b1"]
    h = np.maximum(a, 0.0)
    s = h @ p["W2"] + p["b2"]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    pr = e / e.sum(axis=1, keepdims=True)
    n = len(XT)
    ds = pr.copy()
    ds[np.arange(n), YT] -= 1.0
    ds /= n
    da = (ds @ p["W2"].T) * (a > 0)
    return float(-np.mean(np.log(pr[np.arange(n), YT]))), {"W1": XT.T @ da, "b1": da.sum(0), "W2": h.T @ ds,
                                                            "b2": ds.sum(0)}


TIED = {"W1": W1, "b1": np.zeros(6), "W2": W2, "b2": np.zeros(3)}  # integer weights and inputs: many a = 0 exactly
UNDECIDED = ("W1 cannot be decided at exact ties: every entry that failed moves a tie (a pre-activation exactly on "
             "a kink), where a correct gradient with any fixed relu'(0) can fail too (see the note). What the check "
             "saw there: W1 is wrong in 4 of its 18 entries")
WARNING = ("W1 failed at exact ties, which cannot decide it: every entry that failed moves a tie (a pre-activation "
           "exactly on a kink), where a correct gradient with any fixed relu'(0) can fail too (see each tensor's "
           "note).")


def test_check_gradients_at_exact_ties_qualifies_its_diagnosis_and_warns() -> None:
    # a correct gradient, which fails at these ties (documented): the failure stands, and says it is undecided
    r = check_gradients(lambda q: _mlp(q)[0], _mlp(TIED)[1], TIED)
    assert [c.name for c in r.failed] == ["W1"]
    assert r["W1"].diagnosis.message.startswith(UNDECIDED), r["W1"].diagnosis.message
    assert [w[:len(WARNING)] for w in r.warnings] == [WARNING], r.warnings
    assert r["W1"].diagnosis.in_language("ko").message.startswith("W1은(는) 정확한 동점")


def test_check_model_with_grads_at_exact_ties_qualifies_its_diagnosis_and_warns() -> None:
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())
    r = check_model(model, TIED, XT, YT, grads=_mlp(TIED)[1])
    assert [c.name for c in r.failed] == ["W1"]
    assert r["W1"].diagnosis.message.startswith(UNDECIDED), r["W1"].diagnosis.message
    assert [w[:len(WARNING)] for w in r.warnings] == [WARNING], r.warnings


# -- F9: every failed tensor has a diagnosis, in fast mode too --------------------------------------------------

LOCALISED = ("{name} is wrong: 4 of its 4 random probes failed, and bisection found wrong entries (1 found, the first "
             "at index {index}); fast mode names a cause only when those entries share one constant factor: check "
             "with mode='full' for a diagnosis of every entry.")


def _wide_params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    return {"W1": rng.normal(size=(20, 10)) * 0.5, "b1": np.zeros(10), "W2": rng.normal(size=(10, 3)), "b2": np.zeros(3)}


def test_check_model_fast_mode_names_where_a_wrong_entry_is() -> None:
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(8, 20)), rng.integers(0, 3, 8)
    model = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), loss=nn.SoftmaxCrossEntropy())

    def backward(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        a = x @ p["W1"] + p["b1"]
        s = np.maximum(a, 0.0) @ p["W2"] + p["b2"]
        e = np.exp(s - s.max(axis=1, keepdims=True))
        ds = (e / e.sum(axis=1, keepdims=True) - np.eye(3)[y]) / len(x)
        da = (ds @ p["W2"].T) * (a > 0)
        dw1 = x.T @ da
        dw1[3, 7] += 1e-3  # planted: one wrong entry among 200
        return {"W1": dw1, "b1": da.sum(0), "W2": np.maximum(a, 0.0).T @ ds, "b2": ds.sum(0)}

    r = check_model(model, _wide_params(), x, y, backward=backward, mode="fast")
    assert [(c.name, c.mode) for c in r.failed] == [("W1", "fast")]
    assert r["W1"].diagnosis.message == LOCALISED.format(name="W1", index="[3, 7]")


def test_check_gradients_fast_mode_names_where_a_wrong_entry_is() -> None:
    w = np.arange(100.0).reshape(10, 10) / 50.0 - 1.0
    g = 2 * w
    g[2, 3] += 1e-3  # planted
    r = check_gradients(lambda q: float(np.sum(q["w"] ** 2)), {"w": g}, {"w": w}, mode="fast")
    assert r["w"].diagnosis.message == LOCALISED.format(name="w", index="[2, 3]")


def test_check_layer_fast_mode_checked_again_entry_by_entry_at_kinks_has_a_diagnosis() -> None:
    # exact zeros are kinks: the failing fast-mode tensor is checked entry by entry (gradcheck.check._entrywise)
    x = np.random.default_rng(9).normal(size=(10, 10))
    x[::3, ::2] = 0.0

    def backward(dout: np.ndarray, x: np.ndarray) -> np.ndarray:
        d = dout * (x > 0)
        d[1, 1] *= 1.5  # planted
        return d

    r = check_layer(_relu_forward, backward, {"x": x}, mode="fast")
    assert r["x"].diagnosis.message.startswith("x is wrong in 1 of its 100 entries (first at index [1, 1])")


def test_check_net_fast_mode_has_a_diagnosis() -> None:
    class OneWrong(dlfs.TwoLayerNet):
        def gradient(self, x: np.ndarray, t: np.ndarray) -> dict[str, np.ndarray]:
            g = super().gradient(x, t)
            g["W1"][4, 2] += 1e-3  # planted
            return g

    rng = np.random.default_rng(10)
    x, t = rng.normal(size=(6, 20)), rng.integers(0, 3, 6)
    r = check_net(OneWrong(20, 10, 3), x, t, mode="fast")
    assert [c.name for c in r.failed] == ["W1"]
    assert r["W1"].diagnosis.message == LOCALISED.format(name="W1", index="[4, 2]")


def test_a_failed_probe_that_localises_nothing_still_says_where_it_failed() -> None:
    c = ParamCheck(name="W", shape=(100,), mode="fast", passed=False, n_entries=4, n_failed=2, n_kinks=0, n_refined=4,
                   max_abs_err=0.1, max_rel_err=0.5, worst=(), failed_indices=(), tolerance=Tolerance())
    assert probed(c).message == (  # type: ignore[union-attr]
        "W is wrong: 2 of its 4 random probes failed, and bisection localised no single wrong entry (the error is "
        "spread over many entries, each below its share): check with mode='full' for a diagnosis of every entry.")
    assert probed(dataclasses.replace(c, passed=True, n_failed=0)) is None


# -- F11: argument errors name the argument, the value and the convention ----------------------------------------

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.5]])


def _leaky_forward(x: np.ndarray, slope: float) -> tuple[np.ndarray, tuple[np.ndarray, float]]:
    return np.where(x > 0, x, slope * x), (x, slope)


def _leaky_backward(dout: np.ndarray, cache: tuple[np.ndarray, float]) -> np.ndarray:
    x, slope = cache
    return dout * np.where(x > 0, 1.0, slope)


def test_a_scalar_setting_in_inputs_is_named_with_partial() -> None:
    with pytest.raises(ValueError, match=re.escape(
            "_leaky_backward returned 1 gradient(s), expected 2 (one per input ['x', 'slope'], in that order); "
            "inputs['slope'] is a non-array (0-d) argument, 0.01: bind it with functools.partial, e.g. "
            "check_layer(partial(forward, slope=0.01), backward, inputs)")):
        check_layer(_leaky_forward, _leaky_backward, {"x": X, "slope": 0.01})
    assert check_layer(functools.partial(_leaky_forward, slope=0.01), _leaky_backward, {"x": X}).passed


def test_a_gradient_returned_as_a_list_is_named_as_a_list() -> None:
    with pytest.raises(TypeError, match=re.escape(
            "returned a list [1.0, -2.0, 4.0] where the gradient of x was expected: a gradient must be a numpy "
            "array, got a list: return it as an array (np.asarray(dx), not dx.tolist())")):
        check_layer(lambda x: (float(np.sum(x ** 2)), (2 * x).tolist()), None, {"x": np.array([0.5, -1.0, 2.0])})


def _two_outputs(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    a = x @ w
    return np.tanh(a), a ** 2, (x, w, a)


def _one_dout_backward(dout: np.ndarray, cache: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    x, w, a = cache
    return dout @ w.T, x.T @ dout


def test_a_backward_of_the_wrong_arity_is_told_the_convention() -> None:
    w = np.array([[0.5, -1.0], [1.0, 0.25], [-0.5, 2.0]])
    with pytest.raises(TypeError, match=re.escape(
            "forward returned 2 outputs then a cache, so _one_dout_backward is called with one upstream gradient "
            "per output, then the cache: _one_dout_backward(dout0, dout1, cache), as cs231n's "
            "lstm_step_backward(dnext_h, dnext_c, cache); _one_dout_backward takes (dout: 'np.ndarray', cache: "
            "'tuple[np.ndarray, ...]')")):
        check_layer(_two_outputs, _one_dout_backward, {"x": X, "w": w})


def _masked_loss(x: np.ndarray, mask: np.ndarray) -> tuple[float, np.ndarray]:
    return float(np.sum(mask * x ** 2)), 2 * mask * x


def test_a_float_mask_is_named_with_how_to_leave_it_unchecked() -> None:
    mask = np.array([[1.0, 0.0, 1.0], [0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match=re.escape(
            "inputs['mask'] holds only 0s and 1s: if it is a mask, give it as a bool array "
            "(inputs['mask'].astype(bool)), which is NOT CHECKED when the backward gives it no gradient")):
        check_layer(_masked_loss, None, {"x": X, "mask": mask})
    r = check_layer(_masked_loss, None, {"x": X, "mask": mask.astype(bool)})
    assert r.passed and any("inputs['mask'] (bool (2, 3)) is NOT CHECKED" in w for w in r.warnings), r.warnings


def test_a_misspelt_gradient_key_raises_the_key_mismatch_error_of_the_other_checks() -> None:
    w = np.array([[0.5, -1.0], [1.0, 0.25], [-0.5, 2.0]])

    def backward(dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray]) -> dict[str, np.ndarray]:
        x, w = cache
        return {"x": dout @ w.T, "W": x.T @ dout}

    with pytest.raises(KeyMismatchError, match=re.escape("returned a dict without ['w'] and with the unexpected key(s) "
                                                         "['W'] ('W' for 'w'?)")):
        check_layer(lambda x, w: (x @ w, (x, w)), backward, {"x": X, "w": w})
