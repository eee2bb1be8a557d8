"""Red team rt19: honest near misses are not accused; numerical tensors are found one by one; the moved points count.

Values alone never accuse (F1, F4, F11): an epsilon inside the BCE
derivative, one float32 step, a result passed through ``np.round`` are off
by ``1e-10 .. 1e-5`` of the gradient, as a finite difference is, and get
float32's ``precision`` (within ``RTOL_FLOAT32``, ``test_near_miss.py``) or
``wrong``, never ``finite_difference``.  A
numerical tensor among analytic ones is found by its own rounding and only
it is blamed (F3, F20).  A backward that fails at the moved points, which
are grading points, fails there (F14).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

pytest.importorskip("rich")  # the grade command prints with rich (the grading extra)

from gradcheck.grading import cli  # noqa: E402

NET = """
import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])
def exact(params, x, y, cast=lambda v: v):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    dz2 = cast(2 * (a2 - y) / y.size * a2 * (1 - a2))
    dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
def _L(p, x, y):  # a private copy of the forward: the count of forward calls does not see it
    a1 = 1 / (1 + np.exp(-(x @ p["W1"] + p["b1"])))
    return np.mean((1 / (1 + np.exp(-(a1 @ p["W2"] + p["b2"]))) - y) ** 2)
"""

#: Richardson extrapolation of central differences at h = 1e-3 (the red team's recipe), of the named tensors
RICHARDSON = """
def richardson(p, x, y, names, h=1e-3):
    g = {}
    for k in names:
        gk = np.zeros_like(p[k])
        for idx in np.ndindex(p[k].shape):
            def f(t):
                q = {kk: vv.copy() for kk, vv in p.items()}
                q[k][idx] += t
                return _L(q, x, y)
            gk[idx] = (4 * (f(h / 2) - f(-h / 2)) / h - (f(h) - f(-h)) / (2 * h)) / 3
        g[k] = gk
    return g
"""

SUBMISSIONS = {
    # F4: the inputs normalised to float32, everything else float64 (off by ~1e-8, no rounding noise)
    "x_float32.py": NET + """
def backward(params, x, y):
    return exact(params, x.astype(np.float32), y)
""",
    # F4: one float32 intermediate, whose rounding moves with the point (float32's level, ~1e-8 of the gradient)
    "delta_float32.py": NET + """
def backward(params, x, y):
    return exact(params, x, y, cast=lambda v: v.astype(np.float32).astype(np.float64))
""",
    # F11: the exact gradient rounded to match a notebook's printout (second differences: multiples of 1e-14)
    "rounded14.py": NET + """
def backward(params, x, y):
    return {k: np.round(v, 14) for k, v in exact(params, x, y).items()}
""",
    "rounded10.py": NET + """
def backward(params, x, y):
    return {k: np.round(v, 10) for k, v in exact(params, x, y).items()}
""",
    # F3: W2 alone by Richardson through a private copy of the loss (3 of 13 entries, under a quarter)
    "W2_numerical.py": NET + RICHARDSON + """
def backward(params, x, y):
    return {**exact(params, x, y), **richardson(params, x, y, ["W2"])}
""",
    # F20: W2 and b2 numerical, W1 and b1 analytic: only W2 and b2 are blamed
    "W2b2_numerical.py": NET + RICHARDSON + """
def backward(params, x, y):
    return {**exact(params, x, y), **richardson(params, x, y, ["W2", "b2"])}
""",
    # F14: Richardson everywhere, but raising when called within 1e-7 of a point it has seen
    "raises_nearby.py": NET + RICHARDSON + """
_seen = []
def backward(params, x, y):
    for p0 in _seen:
        if all(np.all(np.abs(params[k] - p0[k]) <= 1e-7 * np.maximum(1.0, np.abs(p0[k]))) for k in params) \\
                and any(np.any(params[k] != p0[k]) for k in params):
            raise FloatingPointError("overflow")
    _seen.append({k: v.copy() for k, v in params.items()})
    return richardson(params, x, y, list(params))
""",
    # F14: ... or returning nothing there
    "empty_nearby.py": NET + RICHARDSON + """
_seen = []
def backward(params, x, y):
    for p0 in _seen:
        if all(np.all(np.abs(params[k] - p0[k]) <= 1e-7 * np.maximum(1.0, np.abs(p0[k]))) for k in params) \\
                and any(np.any(params[k] != p0[k]) for k in params):
            return {}
    _seen.append({k: v.copy() for k, v in params.items()})
    return richardson(params, x, y, list(params))
""",
}

#: F1: the book's guarded BCE derivative, -(y / (yhat + eps) - (1 - y) / (1 - yhat + eps)) / N, honest and one forward
BCE = """
import numpy as np
def relu(z):
    return np.maximum(0, z)
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    a1 = relu(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])[..., 0]
def backward(params, x, y):
    z1 = x @ params["W1"] + params["b1"]
    a1 = relu(z1)
    yhat = sigmoid(a1 @ params["W2"] + params["b2"])
    y = y.reshape(yhat.shape)
    dyhat = -(y / (yhat + EPS) - (1 - y) / (1 - yhat + EPS)) / len(x)
    dz2 = dyhat * yhat * (1 - yhat)
    dz1 = (dz2 @ params["W2"].T) * (z1 > 0)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0).reshape(params["b1"].shape),
            "W2": a1.T @ dz2, "b2": dz2.sum(0).reshape(params["b2"].shape)}
"""


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


def graded_class(root: Path, files: dict[str, str], model: str) -> dict[str, dict]:
    subs = root / "subs"
    subs.mkdir(parents=True)
    for name, text in files.items():
        (subs / name).write_text(text, encoding="utf-8")
    out = root / "r.json"
    assert grade(subs, "--model", model, "--no-cache", "--quiet", "--json", out) == 0
    return {r["submission"]: r for r in json.loads(out.read_text())}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return graded_class(tmp_path_factory.mktemp("rt19"), SUBMISSIONS, "xor_2layer")


def by_param(r: dict) -> dict[str, str]:
    return {p["name"]: p["diagnosis"] for p in r["parameters"]}


@pytest.mark.parametrize("name", ["x_float32.py", "delta_float32.py", "rounded14.py", "rounded10.py"])
def test_an_honest_near_miss_is_never_accused(graded: dict[str, dict], name: str) -> None:
    r = graded[name]
    assert "finite_difference" not in r["diagnoses"], r["parameters"]
    assert set(r["diagnoses"]) <= {"correct", "wrong", "precision"}, r["diagnoses"]


def test_a_float32_step_is_precision(graded: dict[str, dict]) -> None:
    r = graded["delta_float32.py"]  # b2 = dz2.sum(): float32 values; the others carry them: float32's too
    assert r["diagnoses"] == ["precision"] and r["score"] == 3, r["parameters"]


def test_a_near_miss_message_names_float32_and_epsilons_not_cheating(graded: dict[str, dict]) -> None:
    r = graded["x_float32.py"]
    message = r["parameters"][0]["message"]
    assert r["diagnoses"] == ["precision"] and r["score"] == 3, r["parameters"]
    assert "single precision" in message and "epsilon" in message and "numerically" not in message, message


def test_one_numerical_tensor_under_a_quarter_of_the_entries_is_found(graded: dict[str, dict]) -> None:
    r = graded["W2_numerical.py"]
    assert by_param(r) == {"W1": "correct", "b1": "correct", "W2": "finite_difference", "b2": "correct"}, r["parameters"]
    assert r["score"] == 3


def test_only_the_numerical_tensors_are_blamed_with_their_own_figures(graded: dict[str, dict]) -> None:
    r = graded["W2b2_numerical.py"]
    got = by_param(r)
    assert got["W1"] == got["b1"] == "correct" and got["W2"] == got["b2"] == "finite_difference", r["parameters"]
    w2 = next(p for p in r["parameters"] if p["name"] == "W2")
    assert "of 3 entries between 1e-13 and 1e-7" in w2["message"], w2["message"]  # W2 is 3 x 1: its own count


@pytest.mark.parametrize("name", ["raises_nearby.py", "empty_nearby.py"])
def test_failing_at_the_moved_points_is_failing_at_a_grading_point(graded: dict[str, dict], name: str) -> None:
    r = graded[name]
    assert r["score"] == 0 and "correct" not in r["diagnoses"], r


@pytest.mark.parametrize("eps", ["1e-7", "1e-9", "1e-10"])
def test_an_epsilon_in_the_bce_derivative_is_not_accused(tmp_path: Path, eps: str) -> None:
    r = graded_class(tmp_path, {"bce.py": BCE.replace("EPS", eps)}, "relu_sigmoid_bce")["bce.py"]
    assert "finite_difference" not in r["diagnoses"], r["parameters"]
