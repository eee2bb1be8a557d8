"""Benchmark configuration: record the numeric stack in the benchmark JSON."""
from __future__ import annotations

import os
from typing import Any

import numpy as np

__all__ = ["pytest_benchmark_update_machine_info"]


def pytest_benchmark_update_machine_info(config: Any, machine_info: dict[str, Any]) -> None:
    """Add numpy's version, the usable core count and (if importable) torch's version.

    Parameters
    ----------
    config : pytest.Config
    machine_info : dict
        pytest-benchmark's ``machine_info``, written to ``--benchmark-json``.
    """
    machine_info["numpy_version"] = np.__version__
    machine_info["usable_cpus"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        import torch
    except ImportError:
        machine_info["torch_version"] = None
    else:
        machine_info["torch_version"] = torch.__version__
