"""Grades are a function of the inputs and the seed: fresh, resumed and parallel runs agree."""
from __future__ import annotations

import argparse
import json

from gradcheck.grading import cli

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
SUBS = {
    "01_good.py": GOOD,
    "02_copy.py": GOOD,
    "03_scale.py": GOOD.replace("2 * (a - y) / len(y)", "(a - y)"),
    "04_partial.py": GOOD.replace('"b1": d.sum(0, keepdims=True)', '"b1": d[:1] * 0'),
    "05_mutates.py": GOOD.replace("    return {", "    x[:] = 0\n    params['W1'] += 1\n    return {"),
    "06_syntax.py": "def backward(params, x, y)\n",
    "07_raises.py": "def backward(params, x, y):\n    raise ValueError('nope')\n",
}
TIME_FIELDS = {"duration", "execution_time"}


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in TIME_FIELDS}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _outputs(out):
    gs = {p.name: _untimed(json.loads(p.read_text(encoding="utf-8"))) for p in sorted((out / "gs").iterdir())}
    return _untimed(json.loads((out / "r.json").read_text(encoding="utf-8"))), (out / "g.csv").read_bytes(), gs


def test_fresh_resumed_and_parallel_runs_give_identical_outputs(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    for name, src in SUBS.items():
        (d / name).write_text(src)

    def run(tag, *extra):
        out = tmp_path / tag
        argv = [d, "--model", "xor_1layer", "--seed", "7", "--quiet", "--json", out / "r.json", "--csv", out / "g.csv", "--gradescope", out / "gs", *extra]
        assert grade(*argv) == 0
        return _outputs(out)

    fresh = run("fresh", "--no-cache", "--jobs", "1")
    cache = tmp_path / "cache"
    parallel = run("parallel", "--cache", cache, "--jobs", "2")
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == len(SUBS)
    for e in entries[::2]:  # an interrupted run: some results cached, the rest graded now
        e.unlink()
    resumed = run("resumed", "--cache", cache, "--jobs", "2")
    assert fresh == parallel == resumed
    results, _, _ = fresh
    scores = {r["submission"]: (r["score"], r["max_score"]) for r in results}
    assert len({m for _, m in scores.values()}) == 1  # one max_score for the class, whatever failed
    assert scores["01_good.py"] == scores["02_copy.py"] == (2.0, 2.0)
    mutates = next(r for r in results if r["submission"] == "05_mutates.py")
    assert [(x["code"], x["points"]) for x in mutates["deductions"]] == [("mutation", 0.5)]  # one deduction, not one per argument
