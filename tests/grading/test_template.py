"""`gradcheck template`: skeletons whose forward works and whose backward fails grading."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

import reference_models
from gradcheck.grading.assignment import Limits, load_assignment
from gradcheck.grading.loader import load_submission
from gradcheck.grading.sandbox import Sandbox
from gradcheck.grading.template import register, render_template, write_template


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gradcheck")
    register(p.add_subparsers(dest="command"))
    return p


@pytest.mark.parametrize("name", reference_models.names())
def test_skeleton_forward_is_the_models_and_backward_returns_zeros(name: str) -> None:
    files = render_template(name)
    ns: dict = {"__name__": "skeleton"}
    exec(compile(files[f"{name}.py"], f"{name}.py", "exec"), ns)
    m = reference_models.get(name)
    rng = np.random.default_rng(3)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 5)
    np.testing.assert_allclose(ns["forward"](p, x), m.forward(p, x), rtol=1e-12, atol=1e-15)
    g = ns["backward"](p, x, y)
    ref = m.backward(p, x, y)
    assert set(g) == set(ref) and all(np.shape(g[k]) == np.shape(ref[k]) and not np.any(g[k]) for k in ref)
    assert any(np.any(ref[k]) for k in ref)  # so zeros really fail
    assert m.equations.strip().splitlines()[1].strip() in files[f"{name}.py"]
    a = load_assignment_text(files[f"{name}.toml"])
    assert a.model == name and set(a.points) == set(m.param_shapes)


def load_assignment_text(text: str):
    from gradcheck.grading.assignment import parse_assignment, tomllib

    return parse_assignment(tomllib.loads(text))


def test_korean_notebook_is_valid_and_loads(tmp_path: Path) -> None:
    nbformat = pytest.importorskip("nbformat")
    paths = write_template("onehot_222", out=tmp_path, lang="ko", fmt="ipynb")
    nb_path = tmp_path / "onehot_222.ipynb"
    assert nb_path in paths
    nbformat.validate(nbformat.read(nb_path, as_version=4))
    assert "역전파" in nb_path.read_text(encoding="utf-8")
    sub = load_submission(nb_path)
    assert sub.error is None and any("def backward" in c.source for c in sub.cells)


def test_skeleton_runs_in_the_sandbox_with_zero_gradients(tmp_path: Path) -> None:
    write_template("xor_2layer", out=tmp_path, fmt="ipynb")
    a = load_assignment(tmp_path / "xor_2layer.toml")
    m = a.reference_model()
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 4)
    with Sandbox(tmp_path / "xor_2layer.ipynb", a.spec, limits=Limits(wall_seconds=3, memory_bytes=512 << 20)) as box:
        r = box.call(p, x, y)
    assert r.status == "ok" and all(not np.any(v) for v in r.grads.values())
    assert r.forward_status == "ok" and np.allclose(r.forward, m.forward(p, x))


def test_cli_writes_refuses_to_overwrite_and_forces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["template", "study_2layer", "--out", str(tmp_path)])
    assert args.func(args) == 0
    py = tmp_path / "study_2layer.py"
    assert py.exists() and (tmp_path / "study_2layer.toml").exists()
    py.write_text("# my work")
    assert args.func(args) == 1
    assert py.read_text() == "# my work" and "--force" in capsys.readouterr().err
    forced = parser().parse_args(["template", "study_2layer", "--out", str(tmp_path), "--force"])
    assert forced.func(forced) == 0 and "def backward" in py.read_text()


def test_cli_bad_name_and_argument_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["template", "xor_9layer", "--out", str(tmp_path)])
    assert args.func(args) == 2 and "xor_9layer" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        parser().parse_args(["template", "xor_2layer", "--lang", "fr"])
    with pytest.raises(ValueError, match="fmt"):
        render_template("xor_2layer", fmt="txt")
    with pytest.raises(ValueError, match="lang"):
        render_template("xor_2layer", lang="fr")


# -- styles, hints, languages, classroom ---------------------------------------------------------

import re  # noqa: E402

from gradcheck.grading.pipeline import grade_submission  # noqa: E402
from gradcheck.grading.template import HINTS, STYLES, WORKFLOW  # noqa: E402

CLASS_SOLUTION = '''
        delta3 = (self.yhat - y) * self.yhat * (1 - self.yhat)   # d loss / d z3, loss = sum((y - yhat)**2) / 2
        dW2 = self.a2.T @ delta3
        delta2 = (delta3 @ self.W2.T) * self.a2 * (1 - self.a2)
        dW1 = X.T @ delta2
        return dW1, dW2
'''

ARGS_SOLUTION = '''
    a2 = sigmoid(x @ W2 + b2)
    a3 = sigmoid(a2 @ W3 + b3)
    d3 = 2 * (a3 - y) * a3 * (1 - a3)                       # one sample: N = 1 in the loss
    d2 = (d3 @ W3.T) * a2 * (1 - a2)
    return np.outer(x, d2), d2, np.outer(a2, d3), d3
'''


def _fill(code: str, solution: str, zeros_line: str) -> str:
    lines = code.splitlines()
    i = next(k for k, ln in enumerate(lines) if ln.strip().startswith(zeros_line))
    return "\n".join(lines[:i] + solution.strip("\n").splitlines() + lines[i + 1:]) + "\n"


def _exec(code: str) -> dict:
    ns: dict = {"__name__": "skeleton"}
    exec(compile(code, "skeleton.py", "exec"), ns)
    return ns


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("name", reference_models.names())
def test_every_style_has_the_models_forward_and_zero_gradients(name: str, style: str) -> None:
    files = render_template(name, style=style)
    ns = _exec(files[f"{name}.py"])
    m = reference_models.get(name)
    rng = np.random.default_rng(5)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, 3)
    want = m.forward(p, x)
    if style == "dict":
        got, grads = ns["forward"](p, x), ns["backward"](p, x, y)
        grads = [grads[k] for k in m.param_shapes]
    elif style == "class":
        net = ns["Neural_Network"]()
        for k, v in p.items():
            setattr(net, k, v)
        got = net.forward(x)
        grads = net.cost_function_prime(x, y)
    else:
        args = [p[k] for k in m.param_shapes]
        got = np.stack([ns["forward"](x[i], *args) for i in range(len(x))])
        grads = ns["backward"](x[0], y[0], *args)
    np.testing.assert_allclose(np.reshape(got, np.shape(want)), want, rtol=1e-12, atol=1e-15)
    assert [np.shape(g) for g in grads] == [tuple(s) for s in m.param_shapes.values()]
    assert not any(np.any(g) for g in grads)
    a = load_assignment_text(files[f"{name}.toml"])
    assert a.spec.per_sample == (style == "args") and a.spec.forward_first == (style == "class")


@pytest.mark.parametrize("name", ["study_2layer", "study_3layer", "xor_2layer", "onehot_222"])
@pytest.mark.parametrize("style", STYLES)
def test_code_names_are_the_equations_names(name: str, style: str) -> None:
    code = render_template(name, style=style, hints="full")[f"{name}.py"]
    m = reference_models.get(name)
    eq_names = set(re.findall(r"\b(z\d+|a\d+|yhat)\b", m.equations))
    forward = code[code.index("def forward"):code.index("return", code.index("def forward"))]
    code_names = set(re.findall(r"\b(z\d+|a\d+|yhat)\b", forward))
    assert code_names and code_names <= eq_names, (code_names - eq_names)


@pytest.mark.parametrize("hints", HINTS)
def test_hints_control_the_derivation(hints: str) -> None:
    m = reference_models.get("xor_2layer")
    code = render_template("xor_2layer", hints=hints)["xor_2layer.py"]
    assert ("L  = mean((y - a2)**2)" in code) == (hints != "none")
    assert ("dL/dW1 = X^T dL/dz1" in code) == (hints == "full")
    assert "Return a dict with the keys W1, b1, W2, b2" in code
    assert m.equations  # the model has both parts to hand out


def test_korean_equations_leave_no_english_words() -> None:
    allowed = {"sigmoid", "relu", "tanh", "step", "softmax", "log", "mean", "sum", "abs", "loss", "yhat", "weights", "dict", "dloss"}
    for name in reference_models.names():
        code = render_template(name, lang="ko", hints="full")[f"{name}.py"]
        doc = code[code.index("def backward"):]
        doc = doc[doc.index('"""') + 3:doc.index('"""', doc.index('"""') + 3)]
        words = {w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", doc) if len(w) > 2 and w.isalpha() and w.islower()}
        assert words <= allowed, (name, sorted(words - allowed))
        assert "역전파" in doc and "순전파" in doc


def test_notebook_trial_cell_is_skipped_by_the_grader_as_it_says(tmp_path: Path) -> None:
    write_template("xor_2layer", out=tmp_path, fmt="ipynb")
    nb = json.loads((tmp_path / "xor_2layer.ipynb").read_text(encoding="utf-8"))
    last = "".join(nb["cells"][-1]["source"])
    assert last.startswith('if __name__ == "__main__":')
    sub = load_submission(tmp_path / "xor_2layer.ipynb")
    assert not any("print(forward(params, x).shape)" in c.source for c in sub.cells if not getattr(c, "skipped", False))


def test_class_style_cost_function_prime_may_rely_on_forward(tmp_path: Path) -> None:
    files = render_template("study_2layer", style="class")
    (tmp_path / "hw.py").write_text(_fill(files["study_2layer.py"], CLASS_SOLUTION, "return np.zeros_like(self.W1)"))
    (tmp_path / "hw.toml").write_text(files["study_2layer.toml"])
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "hw.toml", shrink=False)
    assert (r.score, r.max_score, r.verdict) == (2.0, 2.0, "ok"), r.messages
    # without forward first, self.yhat does not exist: the convention is what makes it work
    (tmp_path / "off.toml").write_text(files["study_2layer.toml"].replace("[submission]\n", "[submission]\nforward_first = false\n"))
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "off.toml", shrink=False)
    assert r.score == 0 and "yhat" in " ".join(r.messages + tuple(p.message for p in r.parameters))


def test_args_style_is_graded_one_sample_at_a_time(tmp_path: Path) -> None:
    files = render_template("onehot_222", style="args")
    assert "per_sample = true" in files["onehot_222.toml"]
    (tmp_path / "hw.py").write_text(_fill(files["onehot_222.py"], ARGS_SOLUTION, "return np.zeros_like(W2)"))
    (tmp_path / "hw.toml").write_text(files["onehot_222.toml"])
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "hw.toml", shrink=False)
    assert (r.score, r.max_score, r.verdict) == (4.0, 4.0, "ok"), [p.message for p in r.parameters]
    assert r.forward is not None and r.forward.passed
    # the same code called with whole batches (no per_sample) cannot work: np.outer flattens the batch
    (tmp_path / "batch.toml").write_text(files["onehot_222.toml"].replace("per_sample = true\n", ""))
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "batch.toml", shrink=False)
    assert r.score < 4


def test_classroom_writes_a_workflow_and_a_wheel(tmp_path: Path) -> None:
    paths = write_template("xor_2layer", out=tmp_path, classroom=True)
    wf = (tmp_path / WORKFLOW).read_text(encoding="utf-8")
    wheels = list((tmp_path / ".github" / "gradcheck").glob("gradcheck-*.whl"))
    assert len(wheels) == 1 and set(paths) >= {tmp_path / WORKFLOW, wheels[0]}
    assert "on: [push" in wf and f".github/gradcheck/{wheels[0].name}[grading]" in wf
    assert "--gradcheck-submission xor_2layer.py --gradcheck-assignment xor_2layer.toml" in wf
    assert "actions/checkout" in wf and "http" not in wf.replace("https://", "")  # no other downloads


@pytest.mark.parametrize("lang, heading", [("en", "The backward pass:"), ("ko", "역전파:")])
@pytest.mark.parametrize("style", STYLES)
def test_the_backward_heading_is_said_once(lang: str, heading: str, style: str) -> None:
    for name in reference_models.names():
        code = render_template(name, lang=lang, style=style, hints="full")[f"{name}.py"]
        after = code[code.index(heading) + len(heading):].lstrip("\n").splitlines()
        assert code.count(heading) == 1, name
        assert after[0].strip() not in ("backward:", "역전파:") and "=" in after[0], (name, after[0])  # an equation follows


DICT_SOLUTION = '''
import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward_pass(params, x):   # renamed: the grader finds no `forward`
    return sigmoid(sigmoid(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"])
def backward(params, x, y):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    dz2 = 2 * (a2 - y) / len(x) * a2 * (1 - a2)
    dz1 = dz2 @ params["W2"].T * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
'''


def test_a_missing_forward_costs_only_the_forwards_points(tmp_path: Path) -> None:
    # rt16 F9: the template's assignment gave forward 0 points but zeroed every gradient when it was missing
    toml = render_template("xor_2layer")["xor_2layer.toml"]
    assert "require_forward = false" in toml
    (tmp_path / "hw.py").write_text(DICT_SOLUTION)
    (tmp_path / "hw.toml").write_text(toml)
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "hw.toml", shrink=False)
    assert (r.score, r.max_score, r.verdict) == (4.0, 4.0, "ok"), r.messages
    assert any("no function named 'forward'" in m for m in r.messages)
    # when the forward is worth a point, that point (and only it) is lost
    (tmp_path / "pts.toml").write_text(toml.replace("[points]\n", "[points]\nforward = 1.0\n"))
    r = grade_submission(tmp_path / "hw.py", assignment=tmp_path / "pts.toml", shrink=False)
    assert (r.score, r.max_score) == (4.0, 5.0), r.messages
    assert r.forward is not None and r.forward.diagnosis == "missing"
