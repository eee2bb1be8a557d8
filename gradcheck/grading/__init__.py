"""The grader for student backpropagation submissions (import-light: submodules load on demand).

``from gradcheck.grading import Sandbox`` imports :mod:`gradcheck.grading.sandbox`
only then; importing this package itself imports nothing else.
"""
from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "Sandbox",
    "CallResult",
    "Limits",
    "SubmissionSpec",
    "Assignment",
    "AssignmentError",
    "load_assignment",
    "parse_assignment",
    "load_submission",
]

_LAZY: dict[str, str] = {
    "Sandbox": "sandbox",
    "CallResult": "sandbox",
    "Limits": "assignment",
    "SubmissionSpec": "assignment",
    "Assignment": "assignment",
    "AssignmentError": "assignment",
    "load_assignment": "assignment",
    "parse_assignment": "assignment",
    "load_submission": "loader",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gradcheck.grading' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gradcheck.grading.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
