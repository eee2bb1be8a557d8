"""Root conftest: benchmarks run only under ``pytest --benchmark-only``."""
from __future__ import annotations

from pathlib import Path

_BENCH = Path(__file__).parent / "benchmarks"


def pytest_ignore_collect(collection_path, config):
    if Path(collection_path).name == "conftest.py":
        return True  # loaded as conftests; not collected again as doctest modules
    if _BENCH in Path(collection_path).parents or Path(collection_path) == _BENCH:
        if not config.getoption("benchmark_only", default=False):
            return True
    return None
