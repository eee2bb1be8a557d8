"""The grader's results as data: frozen dataclasses with a JSON-safe round trip.

Renderers (text, JSON, Gradescope, JUnit, Markdown, CSV) format these; they
never parse strings.  ``to_dict()`` gives plain JSON types (``json.dumps``
works as is) and ``from_dict()`` rebuilds an equal object, which is what
the pipeline's resume cache stores.

Examples
--------
>>> p = ParameterResult("W1", "passed", "correct", "W1 is correct.", 1.0, 1.0)
>>> r = SubmissionResult("alice.py", "xor_2layer", 0, 1.0, 1.0, ("correct",), (p,))
>>> SubmissionResult.from_dict(r.to_dict()) == r
True
>>> sorted(r.to_dict())[:4]
['counterexample', 'deductions', 'diagnoses', 'duration']
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from gradcheck.grading.safetext import safe_text, safe_tree
from gradcheck.grading.verdicts import RESULT_STATUSES
from gradcheck.jsonsafe import json_safe

__all__ = [
    "STATUSES",
    "ParameterResult",
    "Deduction",
    "Counterexample",
    "Override",
    "SubmissionResult",
    "json_safe",
]

#: Status of one check.
STATUSES: tuple[str, ...] = RESULT_STATUSES


def _check_status(status: str) -> None:
    if status not in STATUSES:
        raise ValueError(f"status must be one of {STATUSES}, got status={status!r}")


def _make_safe(obj: Any, *names: str) -> None:
    """Each field ``names`` of the frozen ``obj`` through :func:`safe_text` (a str, a tuple of str) or :func:`safe_tree` (rt26 F12, F6).

    Every result is built through here, from the pipeline or from a cache,
    so no writer ever gets a lone surrogate, a control or a bidi character.
    """
    for name in names:
        value = getattr(obj, name)
        object.__setattr__(obj, name, safe_text(value) if isinstance(value, str) else safe_tree(value))


def _check_points(name: str, points: float, max_points: float) -> None:
    if not (isinstance(max_points, (int, float)) and math.isfinite(max_points) and max_points >= 0):
        raise ValueError(f"max_points must be a finite number >= 0, got max_points={max_points!r} for {name!r}")
    if not (isinstance(points, (int, float)) and math.isfinite(points)):
        raise ValueError(f"points must be a finite number, got points={points!r} for {name!r}")


@dataclass(frozen=True)
class ParameterResult:
    """The verdict on one parameter's gradient (or on the forward pass).

    Attributes
    ----------
    name : str
        The parameter (``"W1"``) or ``"forward"``.
    status : {"passed", "failed"}
    diagnosis : str
        A code of :data:`gradcheck.grading.verdicts.CODES`.
    message : str
        The sentence for the student (in the grading language).
    points, max_points : float
    detail : dict
        JSON-safe facts from the diagnosis.
    """

    name: str
    status: str
    diagnosis: str
    message: str
    points: float = 0.0
    max_points: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_status(self.status)
        _check_points(self.name, self.points, self.max_points)
        object.__setattr__(self, "detail", json_safe(dict(self.detail)))
        _make_safe(self, "name", "diagnosis", "message", "detail")

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "diagnosis": self.diagnosis,
            "message": self.message,
            "points": float(self.points),
            "max_points": float(self.max_points),
            "detail": json_safe(self.detail),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ParameterResult":
        return cls(
            name=str(data["name"]),
            status=str(data["status"]),
            diagnosis=str(data["diagnosis"]),
            message=str(data.get("message", "")),
            points=float(data.get("points", 0.0)),
            max_points=float(data.get("max_points", 0.0)),
            detail=dict(data.get("detail") or {}),
        )


@dataclass(frozen=True)
class Deduction:
    """Points taken off the whole submission (``mutation``, ``nondeterministic``).

    ``points`` is the (positive) number of points removed.
    """

    code: str
    param: str
    message: str
    points: float
    detail: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_points(self.param, self.points, self.points)
        object.__setattr__(self, "detail", json_safe(dict(self.detail)))
        _make_safe(self, "code", "param", "message", "detail")

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "param": self.param, "message": self.message, "points": float(self.points), "detail": json_safe(self.detail)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Deduction":
        return cls(str(data["code"]), str(data.get("param", "")), str(data.get("message", "")), float(data.get("points", 0.0)), dict(data.get("detail") or {}))


@dataclass(frozen=True)
class Override:
    """A manual decision applied on top of the grader's (:mod:`gradcheck.grading.overrides`).

    ``parameter`` is a parameter name, ``"forward"`` or ``"total"``;
    ``original`` the grader's points, ``score`` the points given instead.
    """

    parameter: str
    original: float
    score: float
    reason: str

    def __post_init__(self) -> None:
        _make_safe(self, "parameter", "reason")

    def to_dict(self) -> dict[str, Any]:
        return {"parameter": self.parameter, "original": float(self.original), "score": float(self.score), "reason": self.reason}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Override":
        return cls(str(data["parameter"]), float(data.get("original", 0.0)), float(data.get("score", 0.0)), str(data.get("reason", "")))


@dataclass(frozen=True)
class Counterexample:
    """The smallest failing example found by shrinking.

    Attributes
    ----------
    param : str
        The parameter whose gradient fails on it.
    x, y : list
        The input batch and targets (nested lists).
    params : dict of str to list
        The parameter values.
    expected, got : list or None
        The exact gradient of ``param`` and the student's value (``got`` is
        ``None`` when the student's call failed on this example).
    diagnosis : str
        The diagnosis code on this example.
    """

    param: str
    x: Any
    y: Any
    params: dict[str, Any]
    expected: Any
    got: Any
    diagnosis: str = "wrong"

    def __post_init__(self) -> None:
        for name in ("x", "y", "params", "expected", "got"):
            object.__setattr__(self, name, json_safe(getattr(self, name)))
        _make_safe(self, "param", "x", "y", "params", "expected", "got", "diagnosis")

    def to_dict(self) -> dict[str, Any]:
        return json_safe(
            {"param": self.param, "x": self.x, "y": self.y, "params": self.params, "expected": self.expected, "got": self.got, "diagnosis": self.diagnosis}
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Counterexample":
        return cls(str(data["param"]), data.get("x"), data.get("y"), dict(data.get("params") or {}), data.get("expected"), data.get("got"), str(data.get("diagnosis", "wrong")))

    @property
    def n_samples(self) -> int:
        return len(self.x) if isinstance(self.x, list) else 1


@dataclass(frozen=True)
class SubmissionResult:
    """Everything the grader found about one submission.

    Attributes
    ----------
    submission : str
        The submission's identity: its path relative to the folder graded
        (a file named on the command line: the path as given).
    model : str
        The reference model.
    seed : int
        The seed of the random test points.
    score, max_score : float
    diagnoses : tuple of str
        The distinct diagnosis codes of the submission, in report order.
    parameters : tuple of ParameterResult
        One per parameter.
    forward : ParameterResult or None
        The forward-pass check, when the assignment has one.
    verdict : str
        ``"ok"`` when the submission ran, else the runtime code
        (``"timeout"``, ``"syntax"`` ...).
    messages : tuple of str
        Further notes for the student.
    counterexample : Counterexample or None
    deductions : tuple of Deduction
    duration : float
        Seconds spent grading.
    lang : str
        Language of the messages.
    file_hash : str
        SHA-256 of the submission file (for the resume cache).
    title : str
        The assignment's title (empty when it has none).
    isolation : str
        The sandbox's isolation level (``namespaces``, ``uid``, ``process``;
        see :mod:`gradcheck.grading.isolation`); empty for code graded in
        process, without a sandbox.
    student_id : str
        The student id found in the submission's path (empty when none was).
    source_hash : str
        SHA-256 of the normalised source (:func:`gradcheck.grading.loader.source_fingerprint`):
        equal for identical code, whatever its comments and layout.
    helper_hashes : tuple of (str, str)
        Each helper module the submission loaded with code in it: its name and
        the SHA-256 of its normalised source (as ``source_hash``), so a module
        copied between students is found too (:func:`gradcheck.grading.gradebook.identical_files`).
    overrides : tuple of Override
        Manual decisions applied to this result (empty: the grader's own).
    review : tuple of str
        Why a person should look at the submission whatever its grade, found
        when the class folder was read
        (:attr:`gradcheck.grading.identity.Submission.review`: ``"older_attempt"``,
        ``"id_guessed"``); never cached, set on every run.
    """

    submission: str
    model: str
    seed: int
    score: float
    max_score: float
    diagnoses: tuple[str, ...] = ()
    parameters: tuple[ParameterResult, ...] = ()
    forward: ParameterResult | None = None
    verdict: str = "ok"
    messages: tuple[str, ...] = ()
    counterexample: Counterexample | None = None
    deductions: tuple[Deduction, ...] = ()
    duration: float = 0.0
    lang: str = "en"
    file_hash: str = ""
    title: str = ""
    isolation: str = ""
    student_id: str = ""
    source_hash: str = ""
    overrides: tuple[Override, ...] = ()
    helper_hashes: tuple[tuple[str, str], ...] = ()
    review: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_points(self.submission, self.score, self.max_score)
        object.__setattr__(self, "diagnoses", tuple(self.diagnoses))
        object.__setattr__(self, "parameters", tuple(self.parameters))
        object.__setattr__(self, "messages", tuple(self.messages))
        object.__setattr__(self, "deductions", tuple(self.deductions))
        object.__setattr__(self, "overrides", tuple(self.overrides))
        object.__setattr__(self, "helper_hashes", tuple((str(n), str(h)) for n, h in self.helper_hashes))
        object.__setattr__(self, "review", tuple(self.review))
        _make_safe(self, "submission", "model", "diagnoses", "verdict", "messages", "lang", "title", "isolation", "student_id", "helper_hashes")

    @property
    def passed(self) -> bool:
        """Full marks."""
        return self.max_score > 0 and self.score >= self.max_score

    def parameter(self, name: str) -> ParameterResult:
        """The result for parameter ``name``."""
        for p in self.parameters:
            if p.name == name:
                return p
        raise KeyError(f"no parameter named {name!r} in the result for {self.submission!r}; have {[p.name for p in self.parameters]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "submission": self.submission,
            "model": self.model,
            "seed": int(self.seed),
            "score": float(self.score),
            "max_score": float(self.max_score),
            "diagnoses": list(self.diagnoses),
            "parameters": [p.to_dict() for p in self.parameters],
            "forward": None if self.forward is None else self.forward.to_dict(),
            "verdict": self.verdict,
            "messages": list(self.messages),
            "counterexample": None if self.counterexample is None else self.counterexample.to_dict(),
            "deductions": [d.to_dict() for d in self.deductions],
            "duration": float(self.duration),
            "lang": self.lang,
            "file_hash": self.file_hash,
            "title": self.title,
            "isolation": self.isolation,
            "student_id": self.student_id,
            "source_hash": self.source_hash,
            "overrides": [o.to_dict() for o in self.overrides],
            "helper_hashes": [[n, h] for n, h in self.helper_hashes],
            "review": list(self.review),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SubmissionResult":
        missing = [k for k in ("submission", "model", "score", "max_score") if k not in data]
        if missing:
            raise ValueError(f"data is not a SubmissionResult dict: missing keys {missing}")
        fwd = data.get("forward")
        cx = data.get("counterexample")
        return cls(
            submission=str(data["submission"]),
            model=str(data["model"]),
            seed=int(data.get("seed", 0)),
            score=float(data["score"]),
            max_score=float(data["max_score"]),
            diagnoses=tuple(str(c) for c in data.get("diagnoses", ())),
            parameters=tuple(ParameterResult.from_dict(p) for p in data.get("parameters", ())),
            forward=None if fwd is None else ParameterResult.from_dict(fwd),
            verdict=str(data.get("verdict", "ok")),
            messages=tuple(str(m) for m in data.get("messages", ())),
            counterexample=None if cx is None else Counterexample.from_dict(cx),
            deductions=tuple(Deduction.from_dict(d) for d in data.get("deductions", ())),
            duration=float(data.get("duration", 0.0)),
            lang=str(data.get("lang", "en")),
            file_hash=str(data.get("file_hash", "")),
            title=str(data.get("title", "")),
            isolation=str(data.get("isolation", "")),
            student_id=str(data.get("student_id", "")),
            source_hash=str(data.get("source_hash", "")),
            overrides=tuple(Override.from_dict(o) for o in data.get("overrides", ())),
            helper_hashes=tuple((str(n), str(h)) for n, h in data.get("helper_hashes", ())),
            review=tuple(str(c) for c in data.get("review", ())),
        )
