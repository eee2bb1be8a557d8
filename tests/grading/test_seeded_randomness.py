"""A submission that draws random numbers without a seed gets the same grade on every run (red team rt20 F4).

The child seeds ``np.random``, ``random`` and unseeded ``np.random.default_rng()``
from the grading seed once, before the submission loads
(``gradcheck/grading/_child.py``, ``seed_randomness``): two runs draw the same
numbers, and two calls of one run still draw different ones, so the
nondeterminism is still seen.  Each run is a fresh sandbox (a new child
process), as two runs of ``gradcheck grade`` are.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reference_models

from gradcheck.grading.assignment import Limits
from gradcheck.grading.pipeline import grade_submission
from gradcheck.grading.sandbox import Sandbox

LIMITS = Limits(wall_seconds=5, cpu_seconds=4, memory_bytes=512 << 20, load_seconds=10)

#: The template's xor_2layer backward with book-style dropout on the hidden layer (keep 70 %), unseeded.
DROPOUT = """import numpy as np
import random
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])
def backward(params, x, y):
    N = x.shape[0]
    a1 = sigmoid(x @ params["W1"] + params["b1"]); a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    d2 = 2 * (a2 - y) / N * a2 * (1 - a2)
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1) * (MASK(a1.shape) > 0.3) / 0.7
    return {"W1": x.T @ d1, "b1": d1.sum(0, keepdims=True), "W2": a1.T @ d2, "b2": d2.sum(0, keepdims=True)}
"""
MASKS = {
    "np_random": "lambda shape: np.random.rand(*shape)",
    "default_rng": "lambda shape: np.random.default_rng().random(shape)",
    "random": "lambda shape: np.array([random.random() for _ in range(int(np.prod(shape)))]).reshape(shape)",
}


def source(mask: str) -> str:
    return DROPOUT.replace("def backward", f"MASK = {MASKS[mask]}\ndef backward")


def fingerprint(path: Path) -> tuple:
    r = grade_submission(path, "xor_2layer", seed=0, limits=LIMITS)
    return r.score, r.diagnoses, tuple((p.diagnosis, p.points, p.message) for p in r.parameters), tuple(d.message for d in r.deductions)


@pytest.mark.parametrize("mask", sorted(MASKS))
def test_unseeded_randomness_gets_the_same_grade_on_every_run(tmp_path: Path, mask: str) -> None:
    path = tmp_path / "dropout.py"
    path.write_text(source(mask))
    first, second = fingerprint(path), fingerprint(path)
    assert first == second
    assert "nondeterministic" in first[1], first  # two calls at one point still differ


@pytest.mark.parametrize("mask", sorted(MASKS))
def test_two_calls_in_one_session_draw_different_numbers_and_two_sessions_the_same(tmp_path: Path, mask: str) -> None:
    path = tmp_path / "dropout.py"
    path.write_text(source(mask))
    m = reference_models.get("xor_2layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 5)
    runs = []
    for _ in range(2):
        with Sandbox(path, limits=LIMITS, seed=3) as box:
            runs.append([box.call(p, x, y).grads["W1"] for _ in range(2)])
    assert not np.array_equal(runs[0][0], runs[0][1])
    assert all(np.array_equal(a, b) for a, b in zip(runs[0], runs[1]))
    with Sandbox(path, limits=LIMITS, seed=4) as box:  # another grading seed, other draws
        assert not np.array_equal(box.call(p, x, y).grads["W1"], runs[0][0])
