"""Fast mode's tensors checked entry by entry get full mode's diagnosis (red team 14: ``check_model``'s fast mode
gave a sign-flipped or transposed small ``dW2`` no Diagnosis line, where full mode says "sign" or "transpose")."""
from __future__ import annotations

import numpy as np
import pytest

from gradcheck import check_model, format_result, nn
from hand_backprop import two_hidden_relu_backward

NET = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), nn.ReLU(), nn.Dense("W3", "b3"),
                    loss=nn.SoftmaxCrossEntropy())


def point():
    """12-8-8-4 (``W2`` 8x8 = 64 entries: at most SMALL, so checked entry by entry), N = 6."""
    rng = np.random.default_rng(3)
    sizes = (12, 8, 8, 4)
    p = {}
    for i, (fi, fo) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        p[f"W{i}"] = rng.standard_normal((fi, fo)) * np.sqrt(2.0 / fi)
        p[f"b{i}"] = 0.1 * rng.standard_normal(fo)
    return p, rng.standard_normal((6, 12)), rng.integers(0, 4, 6)


backward = two_hidden_relu_backward  # the network's gradient by hand, independent of the code under test


@pytest.mark.parametrize("bug, code", [(lambda g: -g, "sign"), (lambda g: g.T.copy(), "transpose")])
def test_a_small_tensor_in_fast_mode_gets_full_modes_diagnosis(bug, code):
    p, x, y = point()
    g = backward(p, x, y)
    g["W2"] = bug(g["W2"])
    full, fast = (check_model(NET, p, x, y, grads=g, mode=mode, seed=1)["W2"] for mode in ("full", "fast"))
    assert (full.diagnosis.code, fast.mode, fast.diagnosis.code) == (code, "full", code)
    assert "Diagnosis (" + code + "): W2" in format_result(check_model(NET, p, x, y, grads=g, mode="fast", seed=1))

