"""``gradcheck check``: exit codes, table, JSON, modes, the module entry point."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import reference_models as rm
from gradcheck.cli import main
from reference_models.xor import XOR2Layer

ROOT = Path(__file__).resolve().parents[2]


def test_check_one_model_passes(capsys):
    assert main(["check", "--model", "xor_2layer"]) == 0
    out = capsys.readouterr().out
    header = out.splitlines()[0].split()
    assert header[:2] == ["model", "data"] and "verdict" in header
    rows = [line for line in out.splitlines() if line.startswith("xor_2layer")]
    assert len(rows) == 2  # the notebook's data and a random batch
    assert all("PASS" in row and "FAIL" not in row for row in rows)
    assert "notebook" in rows[0] and "random N=17" in rows[1]
    assert "2 of 2 checks passed (full mode, seed 0)" in out


def test_options_go_before_the_command_too(capsys):
    assert main(["--model", "chain_2_1_1", "--batch", "3"]) == 0
    assert "random N=3" in capsys.readouterr().out


def test_unknown_model_exits_2_and_lists_known_names(capsys):
    assert main(["check", "--model", "xor_4layer"]) == 2
    err = capsys.readouterr().err
    assert "unknown --model 'xor_4layer'" in err
    for name in rm.names():
        assert name in err


def test_json_output(tmp_path, capsys):
    path = tmp_path / "out.json"
    assert main(["check", "--model", "xor_1layer", "--model", "study_2layer", "--json", str(path)]) == 0
    data = json.loads(path.read_text(encoding="utf-8"))
    assert [(d["model"], d["data"]) for d in data] == [
        ("xor_1layer", "notebook"), ("xor_1layer", "random N=17"),
        ("study_2layer", "notebook"), ("study_2layer", "random N=17"),
    ]
    for d in data:
        assert d["passed"] is True and d["mode"] == "full" and d["seed"] == 0
        assert d["n_params"] == rm.get(d["model"]).n_params()
        assert {p["name"] for p in d["params"]} == set(rm.get(d["model"]).param_shapes)


def test_fast_mode(tmp_path, capsys):
    path = tmp_path / "fast.json"
    assert main(["check", "--model", "xor_3layer", "--mode", "fast", "--seed", "4", "--json", str(path)]) == 0
    assert "(fast mode, seed 4)" in capsys.readouterr().out
    assert {d["mode"] for d in json.loads(path.read_text())} == {"fast"}


def test_workers_option_reaches_check_model(monkeypatch, capsys):
    import gradcheck.cli as cli

    seen = []
    real = cli.check_model
    monkeypatch.setattr(cli, "check_model", lambda *a, **k: seen.append(k["workers"]) or real(*a, **k))
    assert main(["check", "--model", "chain_2_1_1", "--workers", "3"]) == 0
    assert seen == [3, 3]
    assert main(["check", "--model", "chain_2_1_1"]) == 0
    assert seen[2:] == [None, None]


def test_bad_workers_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "--workers", "0"])
    assert info.value.code == 2
    assert "--workers: must be a positive integer, got '0'" in capsys.readouterr().err


@pytest.mark.parametrize("where, said", [("missing/x.json", "does not exist"), (".", "got the directory")])
def test_a_json_path_that_cannot_be_written_is_a_usage_error_before_the_run(tmp_path, capsys, where, said):
    """rt21 F10: the run went through, then ended in a FileNotFoundError / IsADirectoryError traceback."""
    with pytest.raises(SystemExit) as info:
        main(["check", "--model", "xor_1layer", "--json", str(tmp_path / where)])
    assert info.value.code == 2
    captured = capsys.readouterr()
    assert "--json: must be a file" in captured.err and said in captured.err, captured.err
    assert "checks passed" not in captured.out  # refused before anything was checked


def test_bad_mode_is_an_argparse_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["check", "--mode", "slow"])
    assert info.value.code == 2
    assert "--mode" in capsys.readouterr().err


def test_wrong_backward_exits_1_and_prints_the_failure(monkeypatch, capsys):
    exact = XOR2Layer.backward

    def doubled_w2(self, params, x, y):
        g = exact(self, params, x, y)
        return {**g, "W2": 2.0 * g["W2"]}

    monkeypatch.setattr(XOR2Layer, "backward", doubled_w2)
    assert main(["check", "--model", "xor_2layer"]) == 1
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("xor_2layer  ")]
    assert len(rows) == 2 and all("FAIL" in row for row in rows)
    assert "xor_2layer (notebook):" in out
    assert "Gradient check of xor_2layer: FAILED" in out
    assert "W2 (3, 1): MISMATCH" in out
    assert "b1 (1, 3)" not in out.split("xor_2layer (notebook):")[1].split("xor_2layer (random")[0]
    assert "0 of 2 checks passed" in out


def test_python_dash_m_entry_point():
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "gradcheck", "check", "--model", "chain_2_1_1"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "chain_2_1_1" in proc.stdout and "PASS" in proc.stdout
