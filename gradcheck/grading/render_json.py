"""JSON report: a list with one object per submission (:meth:`SubmissionResult.to_dict`).

Examples
--------
>>> from gradcheck.grading.results import SubmissionResult
>>> text = render_json([SubmissionResult("a.py", "xor_1layer", 0, 0.0, 2.0, ("timeout",), verdict="timeout")])
>>> load_results(text)[0].verdict
'timeout'
"""
from __future__ import annotations

import json
from typing import Iterable

from gradcheck.grading.results import SubmissionResult

__all__ = ["render_json", "load_results"]


def render_json(results: Iterable[SubmissionResult], *, indent: int | None = 2) -> str:
    """The results as a JSON array (UTF-8 text, Korean kept readable).

    Parameters
    ----------
    results : iterable of SubmissionResult
    indent : int or None
        Passed to :func:`json.dumps`.
    """
    items = list(results)
    for i, r in enumerate(items):
        if not isinstance(r, SubmissionResult):
            raise TypeError(f"results[{i}] must be a SubmissionResult, got {type(r).__name__}")
    return json.dumps([r.to_dict() for r in items], indent=indent, ensure_ascii=False, allow_nan=False)


def load_results(text: str) -> list[SubmissionResult]:
    """Parse :func:`render_json` output (a list, or one object) back into results."""
    data = json.loads(text)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list):
        raise ValueError(f"text must hold a JSON list of submission results, got {type(data).__name__}")
    return [SubmissionResult.from_dict(d) for d in data]
