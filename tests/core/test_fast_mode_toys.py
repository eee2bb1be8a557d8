"""Fast mode where checking every entry is cheaper than probing (the notebooks' toy networks): it runs the full check.

Every tensor of a toy network has at most ``directional.SMALL`` entries, so fast mode checks each entry by entry
anyway; it now does so through the full check's joined pass (issue 12: it cost 2.2-3.5x the full check).  Its
result must then be the full check's, tensor for tensor, with only a note added that says every entry was checked
and why, and larger tensors must still be probed.  Expected failures come from the planted bug itself (the entry it
moves), never from the code under test.  Speed is measured in ``benchmarks/test_bench_toy_fast.py``, not here.
"""
from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

import cs231n_layers as layers
import dlfs
import reference_models
from gradcheck import check_gradients, check_layer, check_model, check_net, format_result, nn, to_dict
from gradcheck.directional import entrywise_note
from hand_backprop import two_hidden_relu_backward

TOYS = [name for name in reference_models.names() if name != "mnist_relu"]
#: Far beyond any entry's tolerance here (about 1e-9 for gradients of size 1e-2 to 1).
BUG = 1e-3
WHOLE = entrywise_note(4, whole=True)  # the note's text is the note function's own: the test checks where it goes


def without_note(result, note):
    """``result``'s tensor checks with ``note`` removed, failing if some tensor lacks it as its first note."""
    assert all(c.notes[:1] == (note,) for c in result.params), [c.notes[:1] for c in result.params]
    return tuple(dataclasses.replace(c, notes=c.notes[1:]) for c in result.params)


def toy_point(name):
    model = reference_models.get(name)
    rng = np.random.default_rng(0)
    params = model.init_params(np.random.default_rng(0))
    x, y = model.example_batch(rng, 32)
    return model, params, x, y


def planted(grads, name, flat):
    """A copy of ``grads`` with entry ``flat`` of ``name`` off by :data:`BUG`; and that entry's index."""
    wrong = {k: np.array(v, dtype=np.float64, copy=True) for k, v in grads.items()}
    index = np.unravel_index(flat, np.shape(wrong[name]))
    wrong[name][index] += BUG
    return wrong, tuple(int(i) for i in index)


def assert_fast_is_full(full, fast, bad=None):
    """``fast`` is ``full``, tensor for tensor, plus the note; ``bad``: ``(name, index)`` of the only failing entry."""
    assert fast.mode == "fast" and full.mode == "full"
    assert without_note(fast, WHOLE) == full.params
    assert all(c.mode == "full" and c.guarantee is None for c in fast.params)
    assert fast.every_entry_checked and to_dict(fast)["every_entry_checked"] is True
    failing = [(c.name, c.failed_indices) for c in fast.params if not c.passed]
    assert failing == ([] if bad is None else [(bad[0], (bad[1],))]), failing


@pytest.mark.parametrize("name", TOYS)
def test_fast_mode_on_a_toy_network_is_the_full_check_with_a_note(name):
    model, params, x, y = toy_point(name)
    grads = model.backward(params, x, y)
    k = list(grads)[-1]
    wrong, index = planted(grads, k, np.size(grads[k]) - 1)  # the last entry of the last tensor
    for g, bad in ((grads, None), (wrong, (k, index))):
        full, fast = (check_model(model, params, x, y, grads=g, mode=mode, seed=0) for mode in ("full", "fast"))
        assert_fast_is_full(full, fast, bad)
        assert fast.passed is (bad is None)


def test_the_report_says_every_entry_was_checked():
    model, params, x, y = toy_point("xor_2layer")
    text = format_result(check_model(model, params, x, y, mode="fast", seed=0))
    assert "PASSED (fast mode: every entry checked, seed 0, 32 samples)" in text
    assert text.count("Note: " + WHOLE) == 4 and "probe" not in text.replace(WHOLE, "")
    assert "every entry checked" not in format_result(check_model(model, params, x, y, mode="full", seed=0))


def test_check_gradients_of_a_small_function_is_the_full_check():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 2)), rng.standard_normal((8, 1))
    p = {"W1": rng.standard_normal((2, 3)), "b1": rng.standard_normal(3), "W2": rng.standard_normal((3, 1))}

    def f(q):
        r = np.tanh(x @ q["W1"] + q["b1"]) @ q["W2"] - y
        return 0.5 * float(np.sum(r * r))

    h = np.tanh(x @ p["W1"] + p["b1"])
    r = h @ p["W2"] - y
    grads = {"W1": x.T @ ((r @ p["W2"].T) * (1 - h * h)), "b1": ((r @ p["W2"].T) * (1 - h * h)).sum(0), "W2": h.T @ r}
    wrong, index = planted(grads, "W1", 4)
    full, fast = (check_gradients(f, wrong, p, mode=mode, seed=0) for mode in ("full", "fast"))
    assert_fast_is_full(full, fast, ("W1", index))


def test_check_layer_on_small_inputs_is_the_full_check():
    rng = np.random.default_rng(2)
    inputs = {"x": rng.standard_normal((4, 3)), "w": rng.standard_normal((3, 2)), "b": rng.standard_normal(2)}

    def backward(dout, cache):
        dx, dw, db = layers.affine_backward(dout, cache)
        dw = dw.copy()
        dw[1, 0] += BUG
        return dx, dw, db

    full, fast = (check_layer(layers.affine_forward, backward, inputs, mode=mode, seed=0) for mode in ("full", "fast"))
    assert_fast_is_full(full, fast, ("w", (1, 0)))


class _NetOffByOne(dlfs.TwoLayerNet):
    """Planted: ``W2[2, 1]`` of the gradient off by :data:`BUG`."""

    def gradient(self, x, t):
        grads = super().gradient(x, t)
        w2 = grads["W2"].copy()
        w2[2, 1] += BUG
        return {**grads, "W2": w2}


def test_check_net_on_a_small_net_is_the_full_check():
    x, t = dlfs.batch()
    full, fast = (check_net(_NetOffByOne(6, 5, 3), x, t, mode=mode, seed=0) for mode in ("full", "fast"))
    assert_fast_is_full(full, fast, ("W2", (2, 1)))


NET = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), nn.ReLU(), nn.Dense("W3", "b3"),
                    loss=nn.SoftmaxCrossEntropy())


def mixed_point():
    """20-8-8-4 at N = 6: ``W1`` (160 entries) is probed, every other tensor (at most 64) checked entry by entry."""
    rng = np.random.default_rng(3)
    sizes = (20, 8, 8, 4)
    p = {}
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        p[f"W{i}"] = rng.standard_normal((fi, fo)) * np.sqrt(2.0 / fi)
        p[f"b{i}"] = 0.1 * rng.standard_normal(fo)
    return p, rng.standard_normal((6, 20)), rng.integers(0, 4, 6)


@pytest.mark.parametrize("how", ["model", "function"])
def test_a_tensor_above_small_is_still_probed(how):
    p, x, y = mixed_point()
    grads = two_hidden_relu_backward(p, x, y)  # by hand, independent of the code under test
    r = (check_model(NET, p, x, y, grads=grads, mode="fast", seed=0) if how == "model" else
         check_gradients(functools.partial(_net_loss, x=x, y=y), grads, p, mode="fast", seed=0))
    assert r.passed and not r.every_entry_checked and to_dict(r)["every_entry_checked"] is False
    assert (r["W1"].mode, r["W1"].guarantee is not None) == ("fast", True)
    assert not any("every entry checked" in n for n in r["W1"].notes), r["W1"].notes
    small = entrywise_note(4, whole=False)
    assert all(c.mode == "full" and c.notes[:1] == (small,) for c in r.params if c.name != "W1")
    assert "PASSED (fast mode, seed 0" in format_result(r)


def _net_loss(q, *, x, y):
    return NET.loss(q, x, y)


def test_mnist_relu_is_still_probed():
    model = reference_models.get("mnist_relu", n_in=80, hidden=14, n_out=5)  # 1,120 and 70 entries
    rng = np.random.default_rng(0)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 16)
    r = check_model(model, params, x, y, mode="fast", seed=0)
    assert r.passed and [c.mode for c in r.params] == ["fast", "fast"]
    assert all(c.guarantee is not None and c.n_entries == 4 for c in r.params)


def test_probes_as_many_as_a_tensors_entries_check_it_entry_by_entry():
    # 160 entries, 160 probes: each probe costs at least an entry's two values, so the entries cost no more
    p, x, y = mixed_point()
    r = check_model(NET, p, x, y, grads=two_hidden_relu_backward(p, x, y), mode="fast", probes=160, seed=0)
    assert r.every_entry_checked and all(c.notes[:1] == (entrywise_note(160, whole=True),) for c in r.params)
