"""Root conftest: benchmarks run only under ``pytest --benchmark-only``; every test has its own per-user cache and key."""
from __future__ import annotations

from pathlib import Path

import pytest

_BENCH = Path(__file__).parent / "benchmarks"


def pytest_ignore_collect(collection_path, config):
    if Path(collection_path).name == "conftest.py":
        return True  # loaded as conftests; not collected again as doctest modules
    if _BENCH in Path(collection_path).parents or Path(collection_path) == _BENCH:
        if not config.getoption("benchmark_only", default=False):
            return True
    return None


@pytest.fixture(autouse=True)
def _own_cache_and_key(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test (and doctest) gets its own per-user cache and cache key (``$XDG_CACHE_HOME``, ``$XDG_STATE_HOME``):
    never the account's real ``~/.cache/gradcheck`` or ``~/.local/state/gradcheck/cache-key``, nor another test's."""
    home = tmp_path_factory.mktemp("xdg")
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "state"))
