"""Renderings of a :class:`~gradcheck.results.CheckResult`: text and JSON."""
from __future__ import annotations

import json
from typing import Any

from gradcheck.jsonsafe import json_safe
from gradcheck.results import CheckResult, EntryReport, ParamCheck

__all__ = ["format_result", "format_param", "to_dict", "to_json"]

#: How the report's relative difference is computed (:func:`gradcheck.compare.relative_error`), said where it is printed.
RELATIVE = "|analytic - numeric| / max(|analytic|, |numeric|)"


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v + 0.0: .8e}"  # + 0.0: a negative zero prints as 0


def _entry_line(name: str, e: EntryReport) -> str:
    idx = ", ".join(str(i) for i in e.index)
    line = f"  {name}[{idx}]: analytic {_num(e.analytic)}  numeric {_num(e.numeric)}  |diff| {e.abs_err:.3e}  "
    if not e.kink:
        return line + f"allowed {e.allowed:.3e}  (error estimate {e.error_estimate:.3e})"
    # a kink is judged by its one-sided bracket, widened by the allowance: |diff| to the central value does not decide
    return line + (f"(error estimate {e.error_estimate:.3e})  kink: judged by its one-sided bracket "
                   f"[{_num(e.lower)}, {_num(e.upper)}] +- {e.allowed:.3e}")


def format_param(p: ParamCheck, *, seed: int | None = None) -> str:
    """numpy.testing-style block for one parameter."""
    verdict = "OK" if p.passed else "MISMATCH"
    if p.mode == "fast":  # probe lines and entry lines never mix units: each line says which it is in
        t = p.tolerance
        lines = [
            f"{p.name} {tuple(p.shape)}: {verdict} ({p.mode} mode)",
            (f"Tolerance per probe: |analytic - numeric| <= atol={t.atol:g} * sum|v| + rtol={t.rtol:g} * sum|a v| "
             f"+ k={t.k:g} * error_estimate"),
            f"Mismatched probes: {p.n_failed} / {p.n_entries} (directional derivatives)",
            f"Probes at a kink (judged by one-sided differences): {p.n_kinks}",
            f"Max absolute difference over probes (directional-derivative units): {p.max_abs_err:.6g}",
            f"Max relative difference over probes: {p.max_rel_err:.6g}  ({RELATIVE})",
        ]
        if p.worst:
            lines.append("Localised wrong entries (entry units):")
    else:
        lines = [
            f"{p.name} {tuple(p.shape)}: {verdict} ({p.mode} mode)",
            f"Tolerance: |analytic - numeric| <= {p.tolerance.describe()}",
            f"Mismatched entries: {p.n_failed} / {p.n_entries} ({100.0 * p.n_failed / max(p.n_entries, 1):.3g}%)",
            f"Kinks (judged by one-sided differences): {p.n_kinks}",
            f"Max absolute difference: {p.max_abs_err:.6g}",
            f"Max relative difference: {p.max_rel_err:.6g}  ({RELATIVE})",
        ]
        if p.worst:
            lines.append("Worst entries:" if p.n_failed == 0 else "Worst mismatches:" if len(p.worst) <= p.n_failed
                         else f"Worst entries (the {p.n_failed} mismatched first):")
    lines += [_entry_line(p.name, e) for e in p.worst]
    if p.diagnosis is not None and not p.passed:
        lines.append(f"Diagnosis ({p.diagnosis.code}): {p.diagnosis.message}")
    lines += [f"Note: {n}" for n in p.notes]
    if seed is not None:
        lines.append(f"Seed: {seed}")
    return "\n".join(lines)


def _mode_words(result: CheckResult) -> str:
    """The mode asked for, and when fast mode checked every entry (each tensor's mode ``"full"``), that too.

    >>> from gradcheck.compare import Tolerance
    >>> r = CheckResult(subject="f", mode="fast", seed=0, n_samples=None, params=(), tolerance=Tolerance())
    >>> _mode_words(r)
    'fast mode'
    """
    every = result.mode == "fast" and bool(result.params) and result.every_entry_checked
    return f"{result.mode} mode" + (": every entry checked" if every else "")


def format_result(result: CheckResult, *, only_failures: bool = False) -> str:
    """The whole report as text, numpy.testing style.

    ``only_failures`` keeps the blocks of failing parameters only (what an
    assertion message shows).
    """
    facts = [_mode_words(result)] + ([] if result.seed is None else [f"seed {result.seed}"])
    facts += [] if result.n_samples is None else [f"{result.n_samples} samples"]
    head = f"Gradient check of {result.subject}: {'PASSED' if result.passed else 'FAILED'} ({', '.join(facts)})"
    parts = [head]
    parts += [f"Problem: {p}" for p in result.problems]
    parts += [f"Warning: {w}" for w in result.warnings]
    params = result.failed if only_failures else result.params
    parts += [format_param(p) for p in params]
    if not only_failures and result.timings:
        parts.append("Timings: " + ", ".join(f"{k} {v:.4g}s" for k, v in result.timings.items()))
    return "\n\n".join(parts)


def to_dict(result: CheckResult) -> dict[str, Any]:
    """A JSON-safe dict of the result (NaN becomes ``"nan"``, see :mod:`gradcheck.jsonsafe`), with ``passed`` and
    ``every_entry_checked`` (:attr:`~gradcheck.results.CheckResult.every_entry_checked`) added."""
    out = json_safe(result)
    out["passed"] = result.passed
    out["every_entry_checked"] = result.every_entry_checked
    for block, p in zip(out["params"], result.params):
        block["tolerance_terms"] = p.tolerance.describe()
    return out


def to_json(result: CheckResult, **kwargs: Any) -> str:
    """``json.dumps(to_dict(result))``; keyword arguments go to ``json.dumps``."""
    return json.dumps(to_dict(result), **kwargs)
