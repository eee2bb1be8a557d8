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
