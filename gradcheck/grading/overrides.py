"""Manual decisions on top of the grader's: an overrides file.

A CSV with the columns ``student_id``, ``parameter``, ``score`` and
``reason`` (a header row; UTF-8, a BOM is fine).  ``parameter`` is a
parameter name (``W1``), ``forward``, or ``total``; ``score`` the points to
give.  ``student_id`` matches a submission's student id, or its identity
(the file or folder name) when it has none.  A parameter override replaces
that parameter's points and the total is recomputed (deductions still
apply); a ``total`` override sets the total, and is applied last.

Overrides are applied after grading and after the cache: the cache holds the
grader's own results, so an override survives regrading, and removing it
from the file restores the grader's score.  Every overridden result says so
in its messages (so every report shows it) and lists the overrides in its
``overrides`` field (JSON) and the CSV's ``overrides`` column.

Examples
--------
>>> from gradcheck.grading.results import ParameterResult, SubmissionResult
>>> r = SubmissionResult("0042_kim.py", "m", 0, 0.5, 2.0, parameters=(
...     ParameterResult("W1", "failed", "scale", "", 0.5, 1.0), ParameterResult("W2", "failed", "wrong", "", 0.0, 1.0)),
...     student_id="0042")
>>> table = parse_overrides("student_id,parameter,score,reason\\n0042,W2,1,late hand-in of a fix\\n")
>>> new = apply_overrides(r, table)
>>> new.score, new.parameter("W2").points, new.overrides[0].reason
(1.5, 1.0, 'late hand-in of a fix')
"""
from __future__ import annotations

import csv
import difflib
import io
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from gradcheck.grading.results import Override, SubmissionResult

__all__ = ["OverrideRule", "OverridesError", "parse_overrides", "load_overrides", "apply_overrides", "apply_all", "shared_rules", "close_ids", "COLUMNS", "TOTAL"]

#: The columns of an overrides file.
COLUMNS: tuple[str, ...] = ("student_id", "parameter", "score", "reason")
#: The ``parameter`` value that overrides the total.
TOTAL = "total"


class OverridesError(ValueError):
    """An overrides file is invalid; the message names the line, the column and the value."""


@dataclass(frozen=True)
class OverrideRule:
    """One line of an overrides file."""

    student_id: str
    parameter: str
    score: float
    reason: str
    line: int


def parse_overrides(text: str, *, source: str = "<overrides>", parameters: Sequence[str] | None = None) -> list[OverrideRule]:
    """Read an overrides CSV.

    Parameters
    ----------
    text : str
    source : str
        Name used in error messages.
    parameters : sequence of str, optional
        The parameter names allowed (besides ``forward`` and ``total``).

    Raises
    ------
    OverridesError
        For missing columns, an empty id or reason, a score that is not a
        number >= 0, an unknown parameter, or two lines for the same thing.
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise OverridesError(f"{source}: missing column(s) {missing}; an overrides file has the columns {', '.join(COLUMNS)}")
    rules: list[OverrideRule] = []
    seen: dict[tuple[str, str], int] = {}
    for n, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items()}
        if not any(row.values()):
            continue
        sid, param, reason = row["student_id"], row["parameter"], row["reason"]
        if not sid:
            raise OverridesError(f"{source}, line {n}: student_id is empty")
        if not reason:
            raise OverridesError(f"{source}, line {n}: reason is empty for {sid}: every override says why")
        allowed = None if parameters is None else [*parameters, "forward", TOTAL]
        if not param or (allowed is not None and param not in allowed):
            raise OverridesError(f"{source}, line {n}: parameter must be one of {allowed or 'a parameter name, forward or total'}, got {param!r}")
        try:
            score = float(row["score"])
        except ValueError:
            score = math.nan
        if not math.isfinite(score) or score < 0:
            raise OverridesError(f"{source}, line {n}: score must be a number >= 0, got {row['score']!r}")
        if (sid, param) in seen:
            raise OverridesError(f"{source}, line {n}: a second override of {param} for {sid} (the first is on line {seen[(sid, param)]})")
        seen[(sid, param)] = n
        rules.append(OverrideRule(sid, param, score, reason, n))
    return rules


def load_overrides(path: str | os.PathLike[str], *, parameters: Sequence[str] | None = None) -> list[OverrideRule]:
    """Read an overrides file (see :func:`parse_overrides`)."""
    p = Path(path)
    return parse_overrides(p.read_text(encoding="utf-8"), source=str(p), parameters=parameters)


def _round(x: float) -> float:
    return round(float(x) + 0.0, 6)


def apply_overrides(result: SubmissionResult, rules: Iterable[OverrideRule]) -> SubmissionResult:
    """``result`` with the rules that name it applied (unchanged when none does).

    Raises
    ------
    OverridesError
        For a score above what the parameter (or the submission) is worth.
    """
    key = result.student_id or result.submission
    mine = [r for r in rules if r.student_id in (key, result.submission)]
    if not mine:
        return result
    params = {p.name: p for p in result.parameters}
    forward = result.forward
    done: list[Override] = []
    for rule in sorted(mine, key=lambda r: r.parameter == TOTAL):
        if rule.parameter == TOTAL:
            continue
        target = forward if rule.parameter == "forward" else params.get(rule.parameter)
        if target is None:
            raise OverridesError(f"line {rule.line}: {result.submission} has no {rule.parameter!r} to override; it has {sorted(params)}")
        if rule.score > target.max_points:
            raise OverridesError(f"line {rule.line}: score {rule.score:g} for {rule.parameter} of {key} is above its {target.max_points:g} points")
        changed = replace(target, points=_round(rule.score))
        if rule.parameter == "forward":
            forward = changed
        else:
            params[rule.parameter] = changed
        done.append(Override(rule.parameter, target.points, _round(rule.score), rule.reason))
    earned = sum(p.points for p in params.values()) + (forward.points if forward else 0.0)
    total = max(0.0, earned - sum(d.points for d in result.deductions)) if done else result.score
    for rule in mine:
        if rule.parameter == TOTAL:
            if rule.score > result.max_score:
                raise OverridesError(f"line {rule.line}: total {rule.score:g} for {key} is above the maximum {result.max_score:g}")
            done.append(Override(TOTAL, _round(total), _round(rule.score), rule.reason))
            total = rule.score
    notes = tuple(f"Manual override: {o.parameter} {o.original:g} -> {o.score:g} ({o.reason})" for o in done)
    return replace(
        result,
        parameters=tuple(params[p.name] for p in result.parameters),
        forward=forward,
        score=_round(total),
        overrides=tuple(done),
        messages=notes + tuple(m for m in result.messages if not m.startswith("Manual override: ")),
    )


def apply_all(results: Mapping[int, SubmissionResult], rules: Sequence[OverrideRule]) -> tuple[dict[int, SubmissionResult], list[OverrideRule]]:
    """Apply ``rules`` to every result; also returns the rules that matched no submission.

    A rule whose ``student_id`` names several submissions (an id two students
    share: an ``--id-pattern`` that cuts ``kim_j`` and ``park_j`` to ``j``) is
    applied to none of them (:func:`shared_rules` names them).
    """
    shared = {rule.line for rule, _ in shared_rules(results, rules)}
    kept = [rule for rule in rules if rule.line not in shared]
    out = {i: apply_overrides(r, kept) for i, r in results.items()}
    names = {n for r in results.values() for n in (r.student_id, r.submission) if n}
    unused = [rule for rule in rules if rule.student_id not in names]
    return out, unused


#: Close ids named when an override applies to nobody.
CLOSE_SHOWN = 5


def close_ids(student_id: str, results: Mapping[int, SubmissionResult]) -> list[str]:
    """The ids of ``results`` an override for ``student_id`` may have meant, closest first: one holding the other
    (``kim_j`` and ``j``, a username cut at a ``_``), then similar spellings (:func:`difflib.get_close_matches`).

    An id is a submission's student id, or its identity when it has none.

    >>> from gradcheck.grading.results import SubmissionResult
    >>> rs = {0: SubmissionResult("HW1_kim_j_attempt_x.py", "m", 0, 4.0, 4.0, student_id="j"),
    ...       1: SubmissionResult("b.py", "m", 0, 4.0, 4.0, student_id="kim_js"), 2: SubmissionResult("c.py", "m", 0, 4.0, 4.0, student_id="lee")}
    >>> close_ids("kim_j", rs)
    ['j', 'kim_js']
    """
    ids = sorted({r.student_id or r.submission for r in results.values()})
    holding = [i for i in ids if i in student_id or student_id in i]
    similar = difflib.get_close_matches(student_id, ids, n=CLOSE_SHOWN, cutoff=0.6)
    return list(dict.fromkeys(holding + similar))[:CLOSE_SHOWN]


def shared_rules(results: Mapping[int, SubmissionResult], rules: Sequence[OverrideRule]) -> list[tuple[OverrideRule, list[str]]]:
    """The rules that name more than one submission, each with the submissions it names (never applied: whose is it?).

    >>> from gradcheck.grading.results import SubmissionResult
    >>> rs = {0: SubmissionResult("HW1_kim_j_attempt_x.py", "m", 0, 2.0, 4.0, student_id="j"),
    ...       1: SubmissionResult("HW1_park_j_attempt_x.py", "m", 0, 2.0, 4.0, student_id="j")}
    >>> [(rule.line, names) for rule, names in shared_rules(rs, parse_overrides("student_id,parameter,score,reason\\nj,total,4,late\\n"))]
    [(2, ['HW1_kim_j_attempt_x.py', 'HW1_park_j_attempt_x.py'])]
    """
    out: list[tuple[OverrideRule, list[str]]] = []
    for rule in rules:
        named = [r.submission for r in results.values() if rule.student_id in (r.student_id or r.submission, r.submission)]
        if len(named) > 1:
            out.append((rule, named))
    return out
