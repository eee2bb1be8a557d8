"""``gradcheck grade`` gives 0 to a numerical gradient the forward count cannot see (red team rt17 F1, F2, F15, F17).

Each cheat below computes a Richardson stencil (h = 1e-3, the red team's
step: values within ~1e-12 of the exact gradient, which pass as
backpropagation) so that the sandbox's count of ``forward`` calls sees at
most one call: through a private copy of the forward, with every perturbed
copy in one broadcasting call of ``forward``, in a thread, after
``sys.setprofile(None)``, in a helper module, through a private method of
the class.  The grader calls backward at three points moved by 1e-9 of the
parameters and reads the rounding of the gradient (:mod:`gradcheck.roundoff`).
Honest submissions (per-sample loop, vectorised, a class) keep full marks,
and a float32 one keeps ``precision``.
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
"""

#: a 4-point stencil at h = 1e-3 of loss(params), moving one entry at a time (a private helper of the file)
STENCIL = """
def _stencil(loss, params, h=1e-3):
    g = {}
    for k, v in params.items():
        v = np.array(v, dtype=float)
        gk = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            vals = []
            for s in (h, -h, 2 * h, -2 * h):
                moved = dict(params)
                w = v.copy()
                w[i] += s
                moved[k] = w
                vals.append(loss(moved))
            gk[i] = (8 * (vals[0] - vals[1]) - (vals[2] - vals[3])) / (12 * h)
        g[k] = gk
    return g
"""

CHEATS = {
    # a private copy of the forward, under another name
    "private_helper.py": NET + STENCIL + """
def _net(p, x):
    return sigmoid(sigmoid(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
def backward(params, x, y):
    return _stencil(lambda p: np.mean((_net(p, x) - y) ** 2), params)
""",
    # every perturbed copy stacked on a leading axis, all through ONE call of forward (matmul broadcasts)
    "one_call.py": NET + """
def backward(params, x, y):
    h = 1e-3
    names = list(params)
    sizes = [np.size(params[k]) for k in names]
    P = sum(sizes)
    steps = np.array([h, -h, 2 * h, -2 * h])
    stacked, j = {}, 0
    for k, n in zip(names, sizes):
        v = np.asarray(params[k], dtype=float)
        bump = np.zeros((4, P, n))
        bump[:, np.arange(j, j + n), np.arange(n)] = steps[:, None]
        stacked[k] = (v.reshape(-1) + bump).reshape(4 * P, *v.shape)
        j += n
    losses = np.mean((forward(stacked, x) - y) ** 2, axis=(1, 2)).reshape(4, P)
    flat = (8 * (losses[0] - losses[1]) - (losses[2] - losses[3])) / (12 * h)
    out, j = {}, 0
    for k, n in zip(names, sizes):
        out[k] = flat[j:j + n].reshape(np.shape(params[k]))
        j += n
    return out
""",
    # the stencil through forward itself, in a thread the profile hook does not follow
    "thread.py": NET + STENCIL + """
import threading
def backward(params, x, y):
    out = {}
    worker = threading.Thread(target=lambda: out.update(_stencil(lambda p: np.mean((forward(p, x) - y) ** 2), params)))
    worker.start()
    worker.join()
    return out
""",
    # the profile hook switched off first
    "no_profile.py": NET + STENCIL + """
import sys
def backward(params, x, y):
    sys.setprofile(None)
    return _stencil(lambda p: np.mean((forward(p, x) - y) ** 2), params)
""",
}

#: the stencil, remembered: a call near a point seen before returns that point's gradient, so the three
#: moved points give three equal gradients (no rounding to read); they are off by ~1e-9 there
CACHED = NET + STENCIL + """
_seen = []
def _net(p, x):
    return sigmoid(sigmoid(x @ p["W1"] + p["b1"]) @ p["W2"] + p["b2"])
def backward(params, x, y):
    for p0, x0, g0 in _seen:
        if x0.shape == x.shape and np.allclose(x0, x) and all(np.allclose(p0[k], params[k], rtol=1e-7, atol=1e-7) for k in params):
            return {k: v.copy() for k, v in g0.items()}
    g = _stencil(lambda p: np.mean((_net(p, x) - y) ** 2), params)
    _seen.append(({k: v.copy() for k, v in params.items()}, x.copy(), g))
    return g
"""

#: a helper module with its own copy of the net (rt17 F15): hw1.py only imports
HELPER = {
    "hw1.py": "from numkit import forward, backward\n",
    "numkit.py": NET.replace("def forward", "def _own") + STENCIL + """
def forward(params, x):
    return _own(params, x)
def backward(params, x, y):
    return _stencil(lambda p: np.mean((_own(p, x) - y) ** 2), params)
""",
}

HONEST = {
    "per_sample.py": NET + """
def backward(params, x, y):
    g = {k: np.zeros_like(v, dtype=float) for k, v in params.items()}
    for i in range(len(x)):
        xi, yi = x[i:i + 1], y[i:i + 1]
        a1 = sigmoid(xi @ params["W1"] + params["b1"])
        a2 = forward(params, xi)
        dz2 = 2 * (a2 - yi) / y.size * a2 * (1 - a2)
        dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
        for k, v in (("W1", xi.T @ dz1), ("b1", dz1), ("W2", a1.T @ dz2), ("b2", dz2)):
            g[k] += v
    return g
""",
    "vectorised.py": NET + """
def backward(params, x, y):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
""",
    # the right algorithm in float32: rounding ~1e-7, the 'precision' verdict, not a finite difference
    "float32.py": NET + """
def backward(params, x, y):
    f = np.float32
    x, y = x.astype(f), y.astype(f)
    W1, b1, W2, b2 = (params[k].astype(f) for k in ("W1", "b1", "W2", "b2"))
    a1 = sigmoid(x @ W1 + b1)
    a2 = sigmoid(a1 @ W2 + b2)
    dz2 = f(2) * (a2 - y) / f(y.size) * a2 * (f(1) - a2)
    dz1 = (dz2 @ W2.T) * a1 * (f(1) - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
""",
    # float64 arithmetic, float32 results: a move of 1e-9 makes some entries jump by one float32 step
    # (~6e-8 of the entry, inside the rounding band); still 'precision', not a finite difference
    "float32_results.py": NET + """
def backward(params, x, y):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
    g = {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
    return {k: v.astype(np.float32) for k, v in g.items()}
""",
}

CLASS_TOML = """
model = "study_2layer"
[model_options]
hidden = 3
[submission]
style = "class"
class = "Neural_Network"
backward = "cost_function_prime"
args = ["x", "y"]
returns = ["W1", "W2"]
forward = "forward"
forward_args = ["x"]
"""

CLASS = """
import numpy as np
class Neural_Network:
    def __init__(self):
        self.W1 = np.random.randn(2, 3)
        self.W2 = np.random.randn(3, 1)
    def sigmoid(self, z):
        return 1 / (1 + np.exp(-z))
    def forward(self, X):
        self.z2 = X @ self.W1
        self.a2 = self.sigmoid(self.z2)
        self.z3 = self.a2 @ self.W2
        return self.sigmoid(self.z3)
    def _predict(self, X, W1, W2):
        return self.sigmoid(self.sigmoid(X @ W1) @ W2)
"""

CLASS_SUBMISSIONS = {
    # the stencil through a private method (its own copy of the forward) (rt17 F17)
    "private_method.py": CLASS + """
    def cost_function_prime(self, X, y):
        Ws, out, h = [self.W1.copy(), self.W2.copy()], [], 1e-3
        for j in range(2):
            g = np.zeros_like(Ws[j])
            for i in np.ndindex(Ws[j].shape):
                old, vals = Ws[j][i], []
                for s in (h, -h, 2 * h, -2 * h):
                    Ws[j][i] = old + s
                    vals.append(0.5 * np.sum((y - self._predict(X, *Ws)) ** 2))
                Ws[j][i] = old
                g[i] = (8 * (vals[0] - vals[1]) - (vals[2] - vals[3])) / (12 * h)
            out.append(g)
        return tuple(out)
""",
    "honest_class.py": CLASS + """
    def cost_function_prime(self, X, y):
        y_hat = self.forward(X)
        delta3 = -(y - y_hat) * y_hat * (1 - y_hat)
        delta2 = (delta3 @ self.W2.T) * self.a2 * (1 - self.a2)
        return X.T @ delta2, self.a2.T @ delta3
""",
}


def grade(*argv: object) -> int:
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return int(args.func(args))


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def results(path: Path) -> dict[str, dict]:
    return {r["submission"]: r for r in json.loads(path.read_text())}


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """One class of function-style submissions graded by ``gradcheck grade`` (the helper module as a folder)."""
    root = tmp_path_factory.mktemp("roundoff")
    subs = write(root / "subs", {**CHEATS, **HONEST, "cached.py": CACHED})
    write(subs / "20001_kim", HELPER)
    out = root / "r.json"
    assert grade(subs, "--model", "xor_2layer", "--no-cache", "--quiet", "--json", out) == 0
    return results(out)


@pytest.mark.parametrize("name", [*CHEATS, "20001_kim"])
def test_a_numerical_gradient_the_count_misses_earns_nothing(graded: dict[str, dict], name: str) -> None:
    r = graded[name]
    assert r["score"] == 0 and r["max_score"] == 4, r
    assert [p["diagnosis"] for p in r["parameters"]] == ["finite_difference"] * 4, r["parameters"]
    message = r["parameters"][0]["message"]
    assert message.startswith("W1 was computed numerically, not by backpropagation: when the point moved by 1e-09 of its size, "
                              "the gradient's second difference was"), message


def test_an_answer_cached_from_a_nearby_point_is_wrong_at_the_moved_points(graded: dict[str, dict]) -> None:
    r = graded["cached.py"]
    # ~3e-9 off at the moved points (the move it ignored): a near miss, wrong; values alone never accuse (rt19 F1)
    assert r["score"] == 0 and r["diagnoses"] == ["wrong"], r
    message = r["parameters"][0]["message"]
    assert "is close to the exact gradient (relative error" in message, message


@pytest.mark.parametrize(("name", "diagnoses", "score"), [("per_sample.py", ["correct"], 4), ("vectorised.py", ["correct"], 4),
                                                          ("float32.py", ["precision"], 3), ("float32_results.py", ["precision"], 3)])
def test_honest_submissions_keep_their_verdicts(graded: dict[str, dict], name: str, diagnoses: list[str], score: float) -> None:
    r = graded[name]
    assert (r["diagnoses"], r["score"]) == (diagnoses, score), r


def test_the_class_style_private_method_earns_nothing_and_the_honest_class_everything(tmp_path: Path) -> None:
    subs = write(tmp_path / "subs", CLASS_SUBMISSIONS)
    (tmp_path / "hw.toml").write_text(CLASS_TOML)
    out = tmp_path / "r.json"
    assert grade(subs, "--assignment", tmp_path / "hw.toml", "--no-cache", "--quiet", "--json", out, "--lang", "ko") == 0
    got = results(out)
    cheat, honest = got["private_method.py"], got["honest_class.py"]
    assert cheat["score"] == 0 and cheat["diagnoses"] == ["finite_difference"], cheat
    # W1's values already show the stencil (~2e-11 off: the values' own finite_difference); W2's are exact to 1e-12
    w2 = cheat["parameters"][1]
    assert w2["name"] == "W2" and "2차 차분" in w2["message"] and "수치 미분" in w2["message"], w2
    assert honest["score"] == honest["max_score"] and honest["diagnoses"] == ["correct"], honest
