"""``grade --scheduler``: a Dask LocalCluster with two worker processes gives a local run's outputs."""
from __future__ import annotations

import argparse
import json
import os

import pytest

from gradcheck.grading import cli

distributed = pytest.importorskip("distributed", reason="needs the [distributed] extra")

GOOD = """
import numpy as np
def backward(params, x, y):
    z = x @ params["W1"] + params["b1"]
    a = 1 / (1 + np.exp(-z))
    d = 2 * (a - y) / len(y) * a * (1 - a)
    return {"W1": x.T @ d, "b1": d.sum(0, keepdims=True)}
"""
USES_HELPER = GOOD.replace("import numpy as np", "import numpy as np\nfrom utils import scale").replace("2 * (a - y)", "scale * (a - y)")


def grade(*argv):
    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", *map(str, argv)])
    return args.func(args)


def _untimed(value):
    if isinstance(value, dict):
        return {k: _untimed(v) for k, v in value.items() if k not in ("duration", "execution_time")}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


@pytest.mark.slow
def test_a_local_cluster_grades_like_a_local_run(tmp_path):
    d = tmp_path / "class"
    d.mkdir()
    (d / "01_good.py").write_text(GOOD)
    (d / "02_scale.py").write_text(GOOD.replace("2 * (a - y) / len(y)", "(a - y)"))
    (d / "03_syntax.py").write_text("def backward(\n")
    (d / "04_loop.py").write_text("def backward(params, x, y):\n    while True:\n        pass\n")
    (d / "05_helper").mkdir()
    (d / "05_helper" / "hw.py").write_text(USES_HELPER)
    (d / "05_helper" / "utils.py").write_text("scale = 2\n")
    (tmp_path / "a.toml").write_text('title = "HW"\nmodel = "xor_1layer"\nseed = 3\n[limits]\nwall_seconds = 1\ncpu_seconds = 1\n')

    def run(tag, *extra):
        out = tmp_path / tag
        argv = [d, "--assignment", tmp_path / "a.toml", "--quiet", "--json", out / "r.json", "--csv", out / "g.csv", "--gradescope", out / "gs", *extra]
        assert grade(*argv) == 0
        gs = {p.name: _untimed(json.loads(p.read_text())) for p in sorted((out / "gs").iterdir())}
        return _untimed(json.loads((out / "r.json").read_text())), (out / "g.csv").read_bytes(), gs

    local = run("local", "--no-cache", "--jobs", "2")
    cache = tmp_path / "cache"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1") as cluster:
        with distributed.Client(cluster.scheduler_address) as client:
            assert len(set(client.run(os.getpid).values())) == 2  # two worker processes
        remote = run("remote", "--scheduler", cluster.scheduler_address, "--cache", cache)
    assert remote == local
    assert len(list(cache.glob("*.json"))) == 5  # the coordinator wrote the cache
    verdicts = {r["submission"]: r["verdict"] for r in local[0]}
    assert verdicts == {"01_good.py": "ok", "02_scale.py": "ok", "03_syntax.py": "syntax", "04_loop.py": "timeout", "05_helper": verdicts["05_helper"]}


def test_an_unreachable_scheduler_is_a_clear_error(tmp_path, capsys, monkeypatch):
    from gradcheck.grading import distributed as gd

    monkeypatch.setattr(gd, "CONNECT_SECONDS", 1.0)
    (tmp_path / "a.py").write_text(GOOD)
    assert grade(tmp_path / "a.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--scheduler", "tcp://127.0.0.1:9") == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err


@pytest.mark.slow
def test_the_preflight_runs_on_every_worker_of_the_cluster(tmp_path, capsys):
    """A memory limit no worker's sandbox can import numpy under stops the run before grading, naming a worker."""
    (tmp_path / "a.py").write_text(GOOD)
    csv = tmp_path / "g.csv"
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1") as cluster:
        rc = grade(tmp_path / "a.py", "--model", "xor_1layer", "--memory", "64", "--no-cache", "--quiet", "--csv", csv,
                   "--scheduler", cluster.scheduler_address)
        err = capsys.readouterr().err
        assert rc == 2, err
        assert "on the cluster's worker tcp://127.0.0.1:" in err and "64 MB" in err and "nothing was written" in err, err
        assert not csv.exists()
        # a workable limit grades as before: the preflight passes on both workers
        assert grade(tmp_path / "a.py", "--model", "xor_1layer", "--no-cache", "--quiet", "--csv", csv,
                     "--scheduler", cluster.scheduler_address) == 0
    assert csv.exists()


def test_a_worker_with_other_versions_is_named_by_the_preflight():
    from gradcheck.grading import distributed as gd
    from gradcheck.grading.assignment import Limits

    error = gd.preflight_here(None, Limits(), "none", 0, {"gradcheck": "0.0-elsewhere"})
    assert error is not None and "coordinator" in error and "0.0-elsewhere" in error
