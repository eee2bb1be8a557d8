"""Gradescope's ``results.json`` for one submission.

The schema (Gradescope autograder specification): top-level ``score``,
``execution_time`` (seconds), ``output``, ``output_format``,
``visibility``, ``stdout_visibility`` and ``tests``, a list of
``{score, max_score, status, name, number, output, output_format, tags,
visibility}``.  One test per parameter (numbered ``1.1``, ``1.2`` ...), the
forward check when graded, then one per deduction (score ``-points``,
max_score 0) or, when the submission did not run, one failed test naming
the runtime verdict.  The top-level ``score`` is the submission's total, so
Gradescope shows exactly the grader's score.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> p = ParameterResult("W1", "failed", "sign", "W1 has the wrong sign.", 0.25, 1.0)
>>> gs = gradescope_results(SubmissionResult("a.py", "xor_1layer", 0, 0.25, 1.0, ("sign",), (p,)))
>>> gs["score"], gs["tests"][0]["status"], gs["tests"][0]["number"]
(0.25, 'failed', '1.1')
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from gradcheck.grading import i18n
from gradcheck.grading.assignment import VISIBILITIES
from gradcheck.grading.atomic import write_atomic
from gradcheck.grading.render_markdown import render_markdown, whole_file_failure
from gradcheck.grading.results import SubmissionResult
from gradcheck.grading.safetext import safe_text

__all__ = ["VISIBILITIES", "OUTPUT_FORMATS", "gradescope_results", "grader_failure", "write_gradescope", "write_grader_failure"]

OUTPUT_FORMATS: tuple[str, ...] = ("text", "html", "simple_format", "md", "ansi")


def _check(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {name}={value!r}")
    return value


def gradescope_results(
    result: SubmissionResult,
    *,
    lang: str | None = None,
    visibility: str = "visible",
    stdout_visibility: str = "hidden",
) -> dict[str, Any]:
    """The ``results.json`` object for ``result``.

    Parameters
    ----------
    result : SubmissionResult
    lang : {"en", "ko"}, optional
        Language of the labels (default: the result's).
    visibility, stdout_visibility : str
        One of :data:`VISIBILITIES`.
    """
    if not isinstance(result, SubmissionResult):
        raise TypeError(f"result must be a SubmissionResult, got {type(result).__name__}")
    lang = i18n.check_lang(lang or result.lang)
    _check("visibility", visibility, VISIBILITIES)
    _check("stdout_visibility", stdout_visibility, VISIBILITIES)
    tests: list[dict[str, Any]] = []

    def add(score: float, max_score: float, status: str, name: str, output: str, tags: list[str]) -> None:
        tests.append(
            {
                "score": float(score),
                "max_score": float(max_score),
                "status": status,
                "name": name,
                "number": f"1.{len(tests) + 1}",
                "output": output,
                "output_format": "text",
                "tags": tags,
                "visibility": visibility,
            }
        )

    for p in result.parameters:
        output = i18n.text("ui.see_below", lang=lang) if whole_file_failure(result, p) else p.message
        add(p.points, p.max_points, p.status, f"{result.model}: d{p.name}", output, [p.diagnosis])
    if result.forward is not None:
        f = result.forward
        add(f.points, f.max_points, f.status, f"{result.model}: {i18n.text('ui.forward', lang=lang)}", f.message, [f.diagnosis])
    for d in result.deductions:
        add(-d.points, 0.0, "failed", f"{i18n.text('ui.deduction', lang=lang)}: {d.code}", d.message, [d.code])
    if result.verdict != "ok" and not result.parameters:
        add(0.0, result.max_score, "failed", result.verdict, "\n".join(result.messages), [result.verdict])
    return {
        "score": float(result.score),
        "execution_time": int(round(result.duration)),
        "output": render_markdown(result, lang=lang),
        "output_format": "md",
        "visibility": visibility,
        "stdout_visibility": stdout_visibility,
        "tests": tests,
        "extra_data": {"title": result.title, "model": result.model, "seed": int(result.seed), "verdict": result.verdict, "isolation": result.isolation,
                       "diagnoses": list(result.diagnoses), "submission": result.submission},
    }


def write_gradescope(result: SubmissionResult, path: str | os.PathLike[str], **options: Any) -> Path:
    """Write :func:`gradescope_results` to ``path`` (atomically: temp file, then rename).

    Gradescope reads ``/autograder/results/results.json``; write it with
    this function from ``run_autograder``, never by redirecting stdout.
    """
    return _write_json(Path(path), gradescope_results(result, **options))


#: What the student reads when the grader, not the submission, failed.
GRADER_FAILED = "The autograder itself failed, not your submission (0 points until it is fixed): {error}"


def grader_failure(error: str) -> dict[str, Any]:
    """A ``results.json`` giving 0 when the grader could not grade at all (a usage error, a broken machine).

    Gradescope needs the file whatever happens; without it the student sees
    only "the autograder failed to execute".  ``error`` says why (it may
    quote a submission: :func:`~gradcheck.grading.safetext.safe_text` is applied).

    >>> grader_failure("no such file or directory: 'hw1.py'")["score"]
    0.0
    """
    return {"score": 0.0, "output": safe_text(GRADER_FAILED.format(error=error)), "output_format": "text", "tests": []}


def _write_json(path: Path, data: dict[str, Any]) -> Path:
    return write_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False))


def write_grader_failure(path: str | os.PathLike[str], error: str) -> Path:
    """Write :func:`grader_failure` to ``path`` (atomically)."""
    return _write_json(Path(path), grader_failure(error))
