"""Benchmarks: what the sandbox's isolation costs (issue 9, item 8).

Run with ``pytest --benchmark-only benchmarks/test_bench_sandbox.py`` (the root
conftest skips this directory otherwise).

``start-<level>``
    One sandbox started (the launcher, the child, numpy imported, a small
    submission loaded) and closed, at ``process`` (today's sandbox) and at
    the strongest level this machine allows.
``class150-<level>``
    ``gradcheck grade`` on a class of 150 small submissions with ``--jobs 2``
    (one round each: about half a minute).

The targets are ratios measured *in the same run* (the machine's load moves
absolute times by tens of percent): the strongest level's start at most
1.5x ``process``'s, the class at most 1.2x.  The start ratio is taken on
interleaved samples (process, strongest, process, ...) so a change of load
hits both alike; the class ratio on one run each, strongest first.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import pytest

from gradcheck.grading.assignment import Limits
from gradcheck.grading.isolation import Level, available_levels
from gradcheck.grading.sandbox import Sandbox

STRONGEST = max(lv for lv, why in available_levels().items() if why is None)
SUB = (
    "import numpy as np\n"
    "def sigmoid(z):\n"
    "    return 1 / (1 + np.exp(-z))\n"
    "def backward(params, x, y):\n"
    "    a1 = sigmoid(x @ params['W1'] + params['b1'])\n"
    "    dz1 = 2 * (a1 - y) / len(y) * a1 * (1 - a1)\n"
    "    return {'W1': x.T @ dz1, 'b1': dz1.sum(0, keepdims=True)}\n"
)
#: Target ratios (issue 9): strongest level / process.
START_RATIO, CLASS_RATIO = 1.5, 1.2
_class_times: dict[str, float] = {}


def start_once(path: Path, level: str) -> float:
    t0 = time.perf_counter()
    box = Sandbox(path, limits=Limits(load_seconds=20), isolation=level)
    assert box.load_status == "ok", box.load_message
    box.close()
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def sub(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "sub.py"
    path.write_text(SUB)
    return path


@pytest.mark.parametrize("level", sorted({Level.PROCESS.value, STRONGEST.value}))
def test_start(benchmark: Any, sub: Path, level: str) -> None:
    benchmark.group = "sandbox-start"
    benchmark.extra_info["level"] = level
    benchmark.pedantic(start_once, args=(sub, level), rounds=15, warmup_rounds=2)


def test_start_ratio(benchmark: Any, sub: Path) -> None:
    """Interleaved samples of both levels: the strongest costs at most 1.5x today's start."""
    benchmark.group = "sandbox-start-ratio"
    pairs: list[tuple[float, float]] = []

    def sample() -> None:
        pairs.append((start_once(sub, Level.PROCESS.value), start_once(sub, STRONGEST.value)))

    benchmark.pedantic(sample, rounds=15, warmup_rounds=1)
    base = statistics.median(p for p, _ in pairs)
    strong = statistics.median(s for _, s in pairs)
    benchmark.extra_info.update(level=STRONGEST.value, process_median_s=base, strongest_median_s=strong, ratio=strong / base)
    assert strong <= START_RATIO * base, f"{STRONGEST.value} start {strong:.3f} s vs process {base:.3f} s: {strong / base:.2f}x > {START_RATIO}x"


def grade_class(folder: Path, level: str) -> float:
    from gradcheck.grading import cli

    parser = argparse.ArgumentParser(prog="gradcheck")
    cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["grade", str(folder), "--model", "xor_1layer", "--jobs", "2", "--no-cache", "--quiet", "--isolation", level])
    t0 = time.perf_counter()
    assert args.func(args) == 0
    return time.perf_counter() - t0


@pytest.fixture(scope="module")
def klass(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("class150")
    for i in range(150):
        (folder / f"{i:03d}_student.py").write_text(SUB.replace("2 * (a1 - y)", f"{2 + (i % 3 == 0)} * (a1 - y)"))
    return folder


@pytest.mark.parametrize("level", sorted({STRONGEST.value, Level.PROCESS.value}, reverse=True))
def test_class_of_150(benchmark: Any, klass: Path, level: str) -> None:
    benchmark.group = "class150-jobs2"
    benchmark.extra_info["level"] = level
    seconds = benchmark.pedantic(grade_class, args=(klass, level), rounds=1, iterations=1)
    _class_times[level] = seconds
    if level == Level.PROCESS.value and STRONGEST.value in _class_times:
        ratio = _class_times[STRONGEST.value] / seconds
        benchmark.extra_info["ratio_strongest_to_process"] = ratio
        assert ratio <= CLASS_RATIO, f"{STRONGEST.value}: {_class_times[STRONGEST.value]:.1f} s vs process {seconds:.1f} s: {ratio:.2f}x > {CLASS_RATIO}x"
