"""The grader's vocabularies: verdicts about a submission's process, call statuses, result statuses.

The core names what is wrong with a gradient (:class:`gradcheck.diagnose.GradientCode`)
and what a backward pass did around the call
(:class:`gradcheck.diagnose.BehaviourCode`).  Only the grader runs a
submission in a process of its own, so only the grader can say that it did
not compile, ran out of time or memory, or died: :class:`ProcessVerdict`.
Every set of codes or statuses the grader uses is derived here from these
enums (their values are the strings stored in results and JSON).

Examples
--------
>>> runtime_diagnosis("timeout", seconds=10).message
'The submission did not finish within the time limit of 10 s.'
>>> runtime_diagnosis("mutation", param="x", lang="ko").code
'mutation'
>>> "timeout" in CODES and "timeout" not in __import__("gradcheck.diagnose").diagnose.CODES
True
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, ClassVar

from gradcheck import diagnose as _core
from gradcheck.diagnose import Diagnosis, GradientCode
from gradcheck.grading import i18n as _i18n  # noqa: F401 - registers the grader's templates

__all__ = [
    "ProcessVerdict",
    "CallStatus",
    "ResultStatus",
    "RUNTIME_CODES",
    "CODES",
    "CALL_STATUSES",
    "RESULT_STATUSES",
    "GradingDiagnosis",
    "runtime_diagnosis",
]


class ProcessVerdict(str, enum.Enum):
    """How running a submission's code went wrong (the value is the diagnosis code)."""

    SYNTAX = "syntax"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"
    OUTPUT = "output"
    FORBIDDEN = "forbidden"
    CRASH = "crash"
    TOO_LARGE = "too_large"  # more code than the assignment's source_kb: not run


#: Verdicts about the process that ran the submission.
RUNTIME_CODES: tuple[str, ...] = tuple(v.value for v in ProcessVerdict)
#: Every code the grader can report, in the order reports list them.
CODES: tuple[str, ...] = _core.CODES + RUNTIME_CODES


class CallStatus(str, enum.Enum):
    """How one call into the sandbox ended: ``ok`` or the code of what went wrong."""

    OK = "ok"
    SYNTAX = ProcessVerdict.SYNTAX.value
    MISSING = GradientCode.MISSING.value  # the function to call is not defined
    ERROR = ProcessVerdict.ERROR.value
    TIMEOUT = ProcessVerdict.TIMEOUT.value
    MEMORY = ProcessVerdict.MEMORY.value
    OUTPUT = ProcessVerdict.OUTPUT.value
    FORBIDDEN = ProcessVerdict.FORBIDDEN.value
    CRASH = ProcessVerdict.CRASH.value
    TOO_LARGE = ProcessVerdict.TOO_LARGE.value
    TYPE = GradientCode.TYPE.value  # the call returned something that is not gradients


#: Every status of a sandbox call (:attr:`gradcheck.grading.sandbox.CallResult.verdict`).
CALL_STATUSES: tuple[str, ...] = tuple(s.value for s in CallStatus)


class ResultStatus(str, enum.Enum):
    """The status of one graded check in a result."""

    PASSED = "passed"
    FAILED = "failed"


#: Statuses of :class:`gradcheck.grading.results.ParameterResult`.
RESULT_STATUSES: tuple[str, ...] = tuple(s.value for s in ResultStatus)


@dataclass(frozen=True)
class GradingDiagnosis(Diagnosis):
    """A :class:`~gradcheck.diagnose.Diagnosis` that may also carry a :class:`ProcessVerdict` code."""

    codes: ClassVar[tuple[str, ...]] = CODES


def runtime_diagnosis(code: str, *, param: str = "", lang: str = "en", **detail: Any) -> Diagnosis:
    """A diagnosis for something the sandbox or the pipeline observed.

    Parameters
    ----------
    code : str
        One of :data:`CODES` (usually a :class:`ProcessVerdict`, ``missing``,
        ``type``, ``mutation`` or ``nondeterministic``).
    param : str
        The parameter or function concerned (``""`` for the whole run).
    lang : {"en", "ko"}
    **detail
        Facts for the message (``seconds``, ``error`` ...), made JSON-safe.

    Returns
    -------
    GradingDiagnosis
    """
    return GradingDiagnosis.from_code(code, param, lang=lang, **detail)
