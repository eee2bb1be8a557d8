"""Root conftest: benchmarks run only under ``pytest --benchmark-only``."""
from __future__ import annotations

from pathlib import Path

_BENCH = Path(__file__).parent / "benchmarks"


def pytest_ignore_collect(collection_path, config):
    if _BENCH in Path(collection_path).parents or Path(collection_path) == _BENCH:
        if not config.getoption("benchmark_only", default=False):
            return True
    return None
