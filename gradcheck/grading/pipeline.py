"""Grade one submission: test points, calls, comparison, diagnosis, score, shrinking.

The student's code runs in the runtime's sandbox (another process); every
comparison happens here, in the grading process, on the arrays that came
back.  The steps of :func:`grade_submission`:

1. test points (:func:`make_points`): seeded random points with odd batch
   sizes (3 and 5, so ``N/2`` and ``2`` are distinguishable), parameters
   moved off their initial values (non-zero biases, no symmetric matrices,
   so a transpose or a swap is visible), inputs with a continuous part;
   then the notebook's own data when the model has it;
2. one call of the student's backward per point, plus a second call on the
   first point (non-determinism); the sandbox reports the arguments the
   call changed in place (mutation);
3. per point, the reference's exact gradient, the numerical estimate
   (:func:`gradcheck.engine.estimate_gradients`, for kinks and the
   finite-difference verdict) and the known mistakes
   (:mod:`gradcheck.mistakes`), then :func:`gradcheck.diagnose.diagnose`;
4. per parameter, the first failing diagnosis over the points (random
   points come first: their odd ``N`` names factors unambiguously), or the
   first point's when all pass;
5. the score (:mod:`gradcheck.grading.scoring`);
6. for the first failing parameter, :func:`hypothesis.find` shrinks the
   failing point to the fewest samples and simplest values (rounded to one
   decimal) on which the student's gradient is still wrong, and the result
   keeps that input, the expected gradient and the student's.

:func:`grade_with` is the same with any *caller* (a function from a test
point to a :class:`CallOutcome`) instead of a sandbox; :func:`python_caller`
wraps an in-process Python function, for trusted code and for tests.
"""
from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from gradcheck import guards
from gradcheck._validate import check_int
from gradcheck.diagnose import RTOL_NEAR, Diagnosis, diagnose, diagnose_parameter, is_exact_mistake
from gradcheck.grading.causes import factors_across_points
from gradcheck.grading.results import Counterexample, SubmissionResult
from gradcheck.grading.scoring import ScoringPolicy, score
from gradcheck.grading.verdicts import RUNTIME_CODES, runtime_diagnosis
from gradcheck.nn import ElementwiseLayer

__all__ = [
    "TestPoint",
    "CallOutcome",
    "Caller",
    "FATAL_VERDICTS",
    "make_points",
    "NOTEBOOK_SAMPLES",
    "notebook_data_identity",
    "notebook_sample",
    "python_caller",
    "sandbox_caller",
    "MAX_NOTES",
    "MAX_STORED_ENTRIES",
    "grade_with",
    "grade_callable",
    "grade_submission",
    "file_sha256",
    "refused_result",
    "grader_failure_result",
]

#: Notes kept per submission.
MAX_NOTES = 12
#: Verdicts after which the submission is not called again.
FATAL_VERDICTS: frozenset[str] = frozenset({"syntax", "timeout", "memory", "output", "forbidden", "crash", "missing", "too_large"})
#: Diagnoses a smaller input cannot explain better: no counterexample is searched for
#: (nothing usable came back: an exception, a value that is not an array, no gradient).
_NOT_SHRUNK: frozenset[str] = FATAL_VERDICTS | {"error", "output", "type", "missing", "nondeterministic"}


@dataclass(frozen=True, eq=False)
class TestPoint:
    """One point at which the student's backward is called.

    Attributes
    ----------
    label : str
        ``"random-1"``, ``"notebook"`` ...
    params : dict of str to ndarray
    x, y : ndarray
    """

    __test__ = False  # not a pytest test class

    label: str
    params: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray

    @property
    def batch_size(self) -> int:
        return int(len(self.x)) if np.ndim(self.x) else 1


@dataclass(frozen=True, eq=False)
class CallOutcome:
    """What one call of the student's backward gave.

    Attributes
    ----------
    grads : mapping or None
        The gradients, keyed by reference parameter names (any values: the
        diagnosis checks types); ``None`` when the call failed or returned
        something that is not a set of gradients (see ``verdict``).
    verdict : str
        ``"ok"`` or a runtime code (``"error"``, ``"timeout"`` ...).
    error : str
        The message for a failed call (exception text, what was missing).
    mutated : tuple of str
        Arguments (``"x"``, ``"y"``, parameter names) the call changed in place.
    forward : any
        The forward pass's output at the point, when one was called.
    detail : dict
        Extra facts for the runtime message (``seconds``, ``megabytes``, ``function``).
    forward_verdict : str or None
        Status of the forward call (``None``: not called).
    forward_error : str
    notes : tuple of str
        Observations passed on to the student.
    evaluations : mapping
        What the call did that only a numerical gradient does (the sandbox's
        counts: ``forward_calls``, ``complex_values``, ``profiler_removed``;
        ``function``, the forward's name); empty when not counted.
    """

    grads: Mapping[str, Any] | None
    verdict: str = "ok"
    error: str = ""
    mutated: tuple[str, ...] = ()
    forward: Any = None
    detail: dict[str, Any] = field(default_factory=dict)
    forward_verdict: str | None = None
    forward_error: str = ""
    notes: tuple[str, ...] = ()
    evaluations: Mapping[str, Any] = field(default_factory=dict)


Caller = Callable[[TestPoint], CallOutcome]


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 16), b""):
            h.update(block)
    return h.hexdigest()


# -- test points -------------------------------------------------------------------


def _spread(params: Mapping[str, np.ndarray], rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Move every entry by a different amount: non-zero biases, no symmetry, no ties."""
    out = {}
    for k, v in params.items():
        v = np.asarray(v, dtype=np.float64)
        scale = max(0.1, float(np.std(v))) if v.size > 1 else 0.3
        out[k] = v + scale * rng.uniform(0.2, 1.0, v.shape) * rng.choice([-1.0, 1.0], v.shape)
    return out


def make_points(model: Any, *, seed: int = 0, batch_sizes: Sequence[int] = (3, 5), notebook: bool = True) -> list[TestPoint]:
    """The test points for ``model`` (see the module docstring).

    Parameters
    ----------
    model : reference model
    seed : int
        Seeds everything; the same seed gives the same points.
    batch_sizes : sequence of int
        One random point per size.
    notebook : bool
        Add the notebook's data (when the model has it, with at most 8 samples).

    Examples
    --------
    >>> import reference_models
    >>> pts = make_points(reference_models.get("xor_2layer"), seed=1)
    >>> [(p.label, p.batch_size) for p in pts]
    [('random-3', 3), ('random-5', 5), ('notebook', 4)]
    """
    check_int(seed, "seed", min_value=0)
    for i, n in enumerate(batch_sizes):
        check_int(n, f"batch_sizes[{i}]", min_value=1)
    rng = np.random.default_rng([int(seed), 8128])
    points = []
    for n in batch_sizes:
        params = _spread(model.init_params(rng), rng)
        x, y = model.example_batch(rng, int(n))
        x = np.asarray(x, dtype=np.float64)
        x = x + 0.25 * rng.uniform(0.1, 1.0, x.shape) * rng.choice([-1.0, 1.0], x.shape)
        points.append(TestPoint(f"random-{n}", params, x, np.asarray(y, dtype=np.float64)))
    sample = notebook_sample(model) if notebook else None
    if sample is not None:
        points.append(TestPoint("notebook", _spread(model.init_params(rng), rng), *sample))
    return points


#: Samples of the notebook's data a submission is called at (:func:`make_points`).
NOTEBOOK_SAMPLES = 8


def notebook_sample(model: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """The first :data:`NOTEBOOK_SAMPLES` samples of ``model``'s notebook data (float64), None when it has none here.

    MNIST is read from a local file (``$GRADCHECK_MNIST`` or Keras' cache,
    :func:`reference_models.mnist.load_mnist`): which file, or none, is part
    of what a grade depends on (:func:`notebook_data_identity`).
    """
    try:
        x, y = model.notebook_data()
    except Exception:  # noqa: BLE001 - e.g. MNIST not on this machine
        return None
    return np.asarray(x, dtype=np.float64)[:NOTEBOOK_SAMPLES], np.asarray(y, dtype=np.float64)[:NOTEBOOK_SAMPLES]


def notebook_data_identity(model: Any) -> str:
    """What a grade's notebook point depends on: the SHA-256 of the samples :func:`notebook_sample` gives, or "none".

    Part of the cache key (:mod:`gradcheck.grading.cache`) and of the class
    summary: a grade made without MNIST (no notebook point), or with
    another ``mnist.npz``, is not the grade made with this one.

    >>> import reference_models
    >>> notebook_data_identity(reference_models.get("xor_2layer"))[:7]
    'sha256:'
    """
    sample = notebook_sample(model)
    if sample is None:
        return "none"
    digest = hashlib.sha256()
    for arr in sample:
        digest.update(repr(arr.shape).encode())
        digest.update(np.ascontiguousarray(arr).tobytes())
    return f"sha256:{digest.hexdigest()}"


# -- an in-process caller ------------------------------------------------------------


def python_caller(backward: Callable[..., Any], *, forward: Callable[..., Any] | None = None) -> Caller:
    """A caller running ``backward(params, x, y)`` in this process (trusted code only).

    The arguments are copies; the caller reports which of them the function
    changed.  An exception becomes the verdict ``error``.

    >>> import reference_models
    >>> m = reference_models.get("study_2layer")
    >>> out = python_caller(m.backward)(make_points(m)[0])
    >>> out.verdict, sorted(out.grads)
    ('ok', ['W1', 'W2'])
    """

    def call(point: TestPoint) -> CallOutcome:
        params = {k: v.copy() for k, v in point.params.items()}
        x, y = point.x.copy(), point.y.copy()
        try:
            grads = backward(params, x, y)
            out = forward({k: v.copy() for k, v in point.params.items()}, point.x.copy()) if forward else None
        except Exception as exc:  # noqa: BLE001 - the student's exception is a verdict
            return CallOutcome(None, "error", f"{type(exc).__name__}: {exc}")
        mutated = [k for k in point.params if not np.array_equal(params[k], point.params[k], equal_nan=True)]
        mutated += [n for n, a, b in (("x", x, point.x), ("y", y, point.y)) if not np.array_equal(a, b, equal_nan=True)]
        if not isinstance(grads, Mapping):
            return CallOutcome(None, "ok", error=f"backward returned {type(grads).__name__}, not a dict", mutated=tuple(mutated), forward=out)
        return CallOutcome(dict(grads), mutated=tuple(mutated), forward=out)

    return call


# -- grading ---------------------------------------------------------------------------


def _same(a: Any, b: Any) -> bool:
    try:
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc" and b.dtype.kind in "fc"))
    except Exception:  # noqa: BLE001 - odd objects: compare by identity of type and repr
        return type(a) is type(b) and repr(a) == repr(b)


class _Watched:
    """A caller that keeps the first call of any kind that ended in a :data:`FATAL_VERDICTS` verdict (rt23 F10).

    A timeout, output flood, memory failure or crash on a later call (the
    determinism re-call, a moved point of the rounding read, shrinking) is
    the run's verdict as much as one at a grading point: the submission
    needs a human look even when the grading points ran.
    """

    def __init__(self, caller: Caller) -> None:
        self._caller = caller
        self.fatal: CallOutcome | None = None

    def __call__(self, point: TestPoint) -> CallOutcome:
        out = self._caller(point)
        if self.fatal is None and out.verdict in FATAL_VERDICTS:
            self.fatal = out
        return out

    def verdict(self, lang: str) -> Diagnosis | None:
        """The run's diagnosis from the first fatal call, ``None`` when every call ended normally."""
        return None if self.fatal is None else _runtime(self.fatal, lang)


def _runtime(outcome: CallOutcome, lang: str) -> Diagnosis:
    detail = dict(outcome.detail)
    detail.setdefault("error", outcome.error)
    if outcome.verdict == "missing":
        detail.setdefault("template", "missing.detail")
        detail.setdefault("function", outcome.error or "backward")
    return runtime_diagnosis(outcome.verdict, lang=lang, **detail)


def _numeric(model: Any, point: TestPoint, names: Sequence[str] | None = None) -> dict[str, Any] | None:
    try:
        from gradcheck.engine import estimate_gradients

        return estimate_gradients(model, point.params, point.x, point.y, names=names)
    except Exception:  # noqa: BLE001 - without an estimate, kinks are just not accepted
        return None


def _mistakes(model: Any, point: TestPoint) -> dict[str, dict[str, np.ndarray]]:
    from gradcheck.mistakes import mistake_gradients

    return mistake_gradients(model, point.params, point.x, point.y)


def _diagnose_point(model: Any, point: TestPoint, outcome: CallOutcome, lang: str) -> dict[str, Diagnosis]:
    reference = model.backward(point.params, point.x, point.y)
    if outcome.verdict == "type":
        return {k: runtime_diagnosis("type", param=k, lang=lang, got_type=outcome.error) for k in reference}
    if outcome.verdict != "ok":
        d = _runtime(outcome, lang)
        return {k: dataclasses.replace(d, param=k, detail=dict(d.detail)) for k in reference}
    grads = outcome.grads
    if grads is None:
        grads = {}
        got = outcome.error or "nothing"
        return {k: runtime_diagnosis("output", param=k, lang=lang, error=got) for k in reference}
    found = diagnose(
        grads,
        reference,
        numeric=_numeric(model, point),
        batch_size=point.batch_size,
        params=point.params,
        mistakes=_mistakes(model, point),
        lang=lang,
    )
    if any(d.code == "scale" for d in found.values()):
        from gradcheck.grading.causes import loss_facts, refine

        facts = loss_facts(model, point.params, point.x, point.y)  # the cause of a factor depends on the loss
        found = {k: refine(d, facts, lang=lang) for k, d in found.items()}
    return found


def _forward_diagnosis(model: Any, point: TestPoint, outcome: CallOutcome, lang: str) -> Diagnosis | None:
    if outcome.forward_verdict not in (None, "ok"):
        code = outcome.forward_verdict if outcome.forward_verdict in RUNTIME_CODES + ("type", "missing") else "error"
        return runtime_diagnosis(code, param="forward", lang=lang, error=outcome.forward_error, got_type=outcome.forward_error)
    if outcome.verdict != "ok" or outcome.forward is None:
        return None
    expected = np.asarray(model.forward(point.params, point.x), dtype=np.float64)
    got = outcome.forward
    arr = np.asarray(got) if not isinstance(got, Mapping) else None
    if arr is not None and arr.dtype.kind in "iuf" and arr.size == expected.size and arr.shape != expected.shape:
        got = arr.reshape(expected.shape)  # (N,) for (N, 1): a forward's layout is not graded
    return _about_the_output(diagnose_parameter("forward", got, expected, batch_size=point.batch_size, lang=lang), lang)


def _about_the_output(d: Diagnosis, lang: str) -> Diagnosis:
    """A forward-pass diagnosis in words about an output, not a gradient."""
    from gradcheck.grading.i18n import render

    key = {"correct": "forward.correct", "shape": "forward.shape"}.get(d.code, "forward.wrong")
    return dataclasses.replace(d, message=render(key, {"code": d.code, **d.detail}, lang=lang))


#: Diagnoses resting on the weakest evidence: chosen only when no test point says more.
_WEAK_CODES: frozenset[str] = frozenset({"precision"})


def _pick(per_point: list[dict[str, Diagnosis]], name: str) -> tuple[int, Diagnosis]:
    """The test point whose diagnosis of ``name`` is reported: the first failing one.

    ``precision`` (values exactly representable in float32) can also come
    from a finite difference with heavy cancellation at one point, so a
    point with a stronger diagnosis wins over it.
    """
    failing = [(i, d[name]) for i, d in enumerate(per_point) if not d[name].passed]
    strong = [(i, d) for i, d in failing if d.code not in _WEAK_CODES]
    if strong or failing:
        return (strong or failing)[0]
    return 0, per_point[0][name]


def _at_kink(model: Any, point: TestPoint) -> bool:
    """Whether an elementwise layer's input sits exactly on one of its kinks (:class:`gradcheck.nn.ElementwiseLayer`).

    Only there can a valid subgradient differ from the reference's choice,
    so only there is the (costly) numerical estimate needed while shrinking.
    This decides no verdict: whether a value is acceptable at a kink is
    :func:`gradcheck.compare.judge`'s to say, through ``diagnose_parameter``.
    """
    try:
        a = model.prepare_input(point.x)
        for layer in model.layers:
            kinks = tuple(layer.kinks) if isinstance(layer, ElementwiseLayer) else ()
            if kinks and bool(np.any(np.isin(a, kinks))):
                return True
            a = layer.forward(point.params, a)
    except Exception:  # noqa: BLE001 - when in doubt, estimate
        return True
    return False


#: Failing codes the global check leaves alone (nothing was returned, or not in the right shape).
_NOT_GLOBAL = frozenset({"missing", "type", "shape", "nonfinite", "nondeterministic"}) | frozenset(RUNTIME_CODES)


def _global_candidates(globals_: Mapping[str, np.ndarray], point: TestPoint) -> list[tuple[str, str]]:
    """``(x source, y source)`` pairs to try: a global of the argument's trailing shape, or ``""`` (the argument)."""
    xs = [n for n, a in globals_.items() if a.shape[1:] == np.shape(point.x)[1:]]
    ys = [n for n, a in globals_.items() if a.shape[1:] == np.shape(point.y)[1:]]
    both = [(gx, gy) for gx in xs for gy in ys if gx != gy and len(globals_[gx]) == len(globals_[gy])]
    return both + [(gx, "") for gx in xs] + [("", gy) for gy in ys]


def _global_use(model: Any, points: Sequence[TestPoint], outcomes: Sequence[CallOutcome], name: str, d: Diagnosis,
                globals_: Mapping[str, np.ndarray], lang: str) -> Diagnosis | None:
    """``global`` if the wrong gradient ``name`` is exact (the diagnosis tolerance) at the module's own data.

    The reference model computes the gradient at each point's parameters with
    ``x`` and/or ``y`` replaced by a global of compatible shape; the child only
    sent the arrays, all arithmetic is here.  Every point that returned
    gradients must match, or the finding is not made.
    """
    if d.passed or d.code in _NOT_GLOBAL:
        return None
    done = [(p, o) for p, o in zip(points, outcomes) if o.verdict == "ok" and o.grads is not None and name in o.grads]
    if not done:
        return None
    for gx, gy in _global_candidates(globals_, done[0][0]):
        if all(_exact_at(model, p, o.grads[name], name, globals_.get(gx, p.x), globals_.get(gy, p.y)) for p, o in done):  # type: ignore[index]
            if gx and gy:
                return runtime_diagnosis("global", param=name, lang=lang, template="global.both", name=gx, name2=gy)
            return runtime_diagnosis("global", param=name, lang=lang, name=gx or gy, argument="x" if gx else "y")
    return None


def _exact_at(model: Any, point: TestPoint, got: Any, name: str, x: np.ndarray, y: np.ndarray) -> bool:
    """Whether ``got`` is the exact gradient ``name`` at the point's parameters and the data ``x``, ``y`` (a module's globals).

    A global of huge values (``np.full((4, 2), 1e308)``) overflows the
    reference: a non-finite exact gradient is no finding (rt26 F8), never an
    error of the grading (which would cost the submission its row).
    """
    if len(x) != len(y):
        return False
    try:
        with np.errstate(all="ignore"):  # the overflow is the answer "no", not a warning for the instructor
            expected = np.asarray(model.backward(point.params, np.array(x, dtype=np.float64), np.array(y, dtype=np.float64))[name])
    except (ValueError, IndexError, TypeError):  # the global does not fit the model after all
        return False
    if expected.dtype.kind not in "fc" or not np.all(np.isfinite(expected)):
        return False
    return diagnose_parameter(name, got, expected, batch_size=len(x)).code == "correct"


def _round(a: np.ndarray) -> np.ndarray:
    return np.round(np.asarray(a, dtype=np.float64), 1)


def _shrink(caller: Caller, model: Any, point: TestPoint, param: str, *, seed: int, budget: int, lang: str) -> Counterexample:
    """The smallest sub-batch (rows of ``point``), values rounded if possible, on which ``param`` still fails."""
    from hypothesis import HealthCheck, Phase, find, settings
    from hypothesis import strategies as st
    from hypothesis.errors import NoSuchExample

    n = point.batch_size
    seen: dict[tuple[tuple[int, ...], bool], tuple[TestPoint, CallOutcome, Diagnosis, np.ndarray]] = {}

    def build(rows: tuple[int, ...], exact: bool) -> TestPoint:
        x, y = point.x[list(rows)], point.y[list(rows)]
        params = dict(point.params)
        if not exact:
            x, params = _round(x), {k: _round(v) for k, v in params.items()}
        return TestPoint(f"{point.label}-shrunk", params, x, y)

    def evaluate(rows: tuple[int, ...], exact: bool) -> bool:
        key = (rows, exact)
        if key not in seen:
            tp = build(rows, exact)
            try:
                expected = model.backward(tp.params, tp.x, tp.y)[param]
            except Exception:  # noqa: BLE001 - a degenerate example the model rejects
                return False
            out = caller(tp)
            if out.verdict != "ok" or out.grads is None:
                seen[key] = (tp, out, runtime_diagnosis("error", lang=lang), expected)
                return False
            d = diagnose_parameter(param, out.grads.get(param), expected, batch_size=tp.batch_size, lang=lang)
            if not d.passed and _at_kink(model, tp):  # the judge may accept it at a kink, given the estimate
                num = _numeric(model, tp, [param])
                d = diagnose_parameter(param, out.grads.get(param), expected, numeric=None if num is None else num[param],
                                       batch_size=tp.batch_size, lang=lang)
            seen[key] = (tp, out, d, expected)
        return not seen[key][2].passed and seen[key][1].verdict == "ok"

    rows_strategy = st.integers(1, n).flatmap(lambda k: st.lists(st.integers(0, n - 1), min_size=k, max_size=k, unique=True).map(tuple))
    # booleans shrink to False: rounded values are the simpler example
    strategy = st.tuples(rows_strategy, st.booleans())
    full = (tuple(range(n)), True)
    try:
        rows, exact = find(
            strategy,
            lambda ex: evaluate(ex[0], ex[1]),
            settings=settings(max_examples=budget, database=None, deadline=None, phases=[Phase.generate, Phase.shrink], suppress_health_check=list(HealthCheck)),
            random=random.Random(seed),
        )
    except NoSuchExample:
        rows, exact = full
        evaluate(*full)
    tp, out, d, expected = seen[(rows, exact)]
    got = None if out.grads is None else out.grads.get(param)
    try:
        got = np.asarray(got, dtype=np.float64) if got is not None else None
    except (TypeError, ValueError):
        got = repr(got)[:200]
    return Counterexample(param, _cap(tp.x), _cap(tp.y), {k: _cap(v) for k, v in tp.params.items()}, _cap(expected), _cap(got), d.code)


#: Arrays larger than this are stored in a counterexample as a summary.
MAX_STORED_ENTRIES = 1000


def _cap(value: Any) -> Any:
    """``value`` itself when small, else ``{"shape": ..., "first": [20 values]}`` (results stay small)."""
    if isinstance(value, np.ndarray) and value.size > MAX_STORED_ENTRIES:
        return {"shape": list(value.shape), "first": value.reshape(-1)[:20]}
    return value


#: Test points at which the backward is also called at three moved points (:mod:`gradcheck.roundoff`):
#: a finite difference at h = 1e-3 escapes one point 0 .. 3 % of the time (measured), both ~1e-3.
ROUNDOFF_POINTS = 2


@dataclass(frozen=True)
class _Moved:
    """What the backward did at the moved points (:func:`_roundoff`).

    ``noise``: per parameter, the noisiest rounding read at any point
    (:func:`gradcheck.roundoff.read_rounding_by_tensor`), empty when no
    point could be read; ``wrong``: per parameter, the first failing
    diagnosis at a moved point (an answer that does not follow the point,
    such as one cached from a nearby call: rt17's rounding check is blind to
    three equal gradients, the values are not; or a failure there, rt19 F14).
    """

    noise: dict[str, Any] = field(default_factory=dict)
    wrong: dict[str, Diagnosis] = field(default_factory=dict)


def _roundoff(caller: Caller, model: Any, points: Sequence[TestPoint], outcomes: Sequence[CallOutcome], seed: int,
              lang: str) -> _Moved:
    """The backward along the rays of :func:`gradcheck.roundoff.read_rounding_by_tensor` at the first :data:`ROUNDOFF_POINTS` points that returned gradients.

    This process chooses ``d`` (the sandbox only runs the submission), reads
    the rounding per parameter (a kink near the point is crossed by one ray
    at most) and diagnoses the values at each moved point against the
    reference there.  The moved points are grading points: a backward that
    fails there (raises, exits, times out, returns no gradient) is scored as
    failing at a grading point, with that point's diagnosis (rt19 F14).
    """
    from gradcheck.roundoff import read_rounding_by_tensor

    found = _Moved()
    for i, (point, out) in enumerate(zip(points[:ROUNDOFF_POINTS], outcomes)):
        if out.verdict != "ok" or not out.grads:
            continue
        calls = iter(("+d", "+2d", "+3d", "-d", "-2d", "-3d"))  # read_rounding_by_tensor's order

        def at(q: dict[str, np.ndarray], point: TestPoint = point, calls: Any = calls) -> Mapping[str, Any] | None:
            moved = TestPoint(f"{point.label}{next(calls)}", q, point.x, point.y)
            answer = caller(moved)
            if answer.verdict != "ok" or answer.grads is None:  # a failure at a grading point, scored as one
                for k, d in _diagnose_point(model, moved, answer, lang).items():
                    found.wrong.setdefault(k, d)
                return None
            for k, expected in model.backward(moved.params, moved.x, moved.y).items():
                d = diagnose_parameter(k, answer.grads.get(k), expected, batch_size=moved.batch_size, lang=lang)
                if not d.passed:
                    found.wrong.setdefault(k, d)
            return answer.grads

        for k, noise in read_rounding_by_tensor(at, point.params, seed=int(seed) * 16 + i).items():
            old = found.noise.get(k)
            if old is None or (noise.numerical, noise.typical) > (old.numerical, old.typical):
                found.noise[k] = noise
    return found


def _steady(moved: _Moved, unstable: Sequence[str]) -> _Moved:
    """``moved`` without the rounding read of ``unstable`` gradients: their second differences are their randomness (rt20 F3)."""
    return dataclasses.replace(moved, noise={k: v for k, v in moved.noise.items() if k not in unstable})


def _rounding_matters(chosen: Mapping[str, Diagnosis]) -> bool:
    """Whether reading the rounding can change a score: some gradient earns credit, and none is float32's ``precision``."""
    from gradcheck.grading.scoring import DEFAULT_CREDIT

    codes = {d.code for d in chosen.values()}
    return "precision" not in codes and (bool(codes & set(DEFAULT_CREDIT)) or any(map(_near_miss, chosen.values())))


def _near_miss(d: Diagnosis) -> bool:
    """Whether ``d`` is the values' ``finite_difference``: within 1e-3 of the gradient, no pattern, nothing else known."""
    return d.code == "finite_difference" and d.detail.get("template", "finite_difference") == "finite_difference"


#: The largest near miss (relative error to the largest entry, as :func:`gradcheck.diagnose.diagnose_parameter`
#: measures it) that float32 arithmetic or an epsilon explains: ``precision``, not ``wrong``.  Float32's unit
#: roundoff is ``u = 2**-24 = 6e-8``; one float32 step grows it by the cancellation in the sums after it.
#: Measured (``python benchmarks/near_miss.py 30``: every reference model, 90 test points each): x cast
#: to float32, one float32 intermediate per layer, one parameter in float32: 28,346 near misses, median
#: 1.2e-8, 99 % under 2.8e-7, largest 1.8e-5 (307 u: xor_2layer's dz2 in float32, then b2's sum over a
#: batch that cancels); ``1 / (p + eps)`` in the loss's derivative, eps = 1e-7 .. 1e-12: largest 5.4e-5
#: (the book's ``log(y + 1e-7)`` through mnist_relu's softmax: eps / p for a small p).  The bound, 1e-4
#: (1700 u), is 5.5 times float32's largest and 1.9 times the epsilon's.  Values cannot tell these from
#: small real mistakes, which get ``precision`` too when they are as small (of the near misses measured:
#: 99.7 % of a 1e-8 weight decay's, 83 % of a 1e-6 one's, 16 % of a 1e-4 one's, half of those of a
#: batch without its least-contributing sample), nor from a numerical gradient whose rounding is too
#: faint to read (18 of rt19's 113: 2e-11 .. 9e-5, docs/threat-model.md).
RTOL_FLOAT32 = 1e-4


def _near_verdict(k: str, d: Diagnosis, lang: str, *, float32_possible: bool = True) -> Diagnosis:
    """A near miss's verdict: ``precision`` (``precision.near``) within :data:`RTOL_FLOAT32`, else ``wrong`` (``wrong.near``).

    Values alone never accuse (rt19 F1, F4, F11): a float32 step, an
    epsilon in a derivative or a rounded result are off by ``1e-10 ..
    1e-5``, as a finite difference is, so a near miss is at worst
    ``wrong``; one float32 can explain earns float32's credit, unless
    ``float32_possible`` is false (:func:`_not_float32`).
    """
    if float32_possible and float(d.detail.get("rel_error", np.inf)) <= RTOL_FLOAT32:
        return runtime_diagnosis("precision", param=k, lang=lang, **{**d.detail, "template": "precision.near", "bound": RTOL_FLOAT32})
    return runtime_diagnosis("wrong", param=k, lang=lang, **{**d.detail, "template": "wrong.near", "bound": RTOL_FLOAT32})


def _not_accused(found: Mapping[str, Diagnosis], lang: str, not_float32: frozenset[str] = frozenset()) -> dict[str, Diagnosis]:
    """``found`` with each near miss (:func:`_near_miss`) given its verdict (:func:`_near_verdict`): values alone never accuse.

    Only the work, complex values or a finite difference's rounding accuse
    (:func:`_numerical_use`).  The near misses of ``not_float32`` are
    ``wrong`` whatever their size (:func:`_not_float32`).
    """
    return {k: _near_verdict(k, d, lang, float32_possible=k not in not_float32) if _near_miss(d) else d for k, d in found.items()}


def _not_float32(chosen: Mapping[str, Diagnosis], failed: Mapping[str, Diagnosis], read: Mapping[str, Diagnosis]) -> frozenset[str]:
    """The gradients whose near miss the rounding read shows is not float32's: no ``precision`` for them.

    Every gradient, when some tensor carries a finite difference's rounding
    (``read``): its near misses come from the same numerical work (a
    one-entry bias whose own rounding is too faint to count, ~5e-11 off
    at h = 1e-5), not from float32.  And, when every gradient was exact at
    the grading points, those that are near misses at the moved ones
    (``failed``): the same code in float32 would be off at the grading
    points too (an answer cached from a nearby point).  Beside a near miss
    at the grading points they are float32's (a result rounded to 12
    decimals is exact at one point and not at the next).
    """
    if any(d.code == "finite_difference" for d in read.values()):
        return frozenset(chosen)
    if any(_near_miss(d) for d in chosen.values()):
        return frozenset()
    return frozenset(k for k in failed if chosen[k].passed)


def _from_rounding(k: str, d: Diagnosis, noise: Any, lang: str) -> Diagnosis | None:
    """The verdict the rounding read for parameter ``k`` gives its diagnosis ``d``, ``None`` when it says nothing.

    A finite difference's rounding: ``finite_difference``, quoting this
    parameter's own figures (rt19 F20).  Float32's rounding
    (:attr:`gradcheck.roundoff.RoundoffNoise.float32`): ``precision`` for a
    gradient that is not right (rt19 F4).
    """
    from gradcheck.roundoff import STEP

    if noise is None or not noise.numerical or d.code == "missing" or (d.code == "finite_difference" and not _near_miss(d)):
        return None
    if noise.float32:
        return None if d.passed else runtime_diagnosis("precision", param=k, lang=lang, **{
            **d.detail, "template": "precision.roundoff", "moved": noise.level, "step": STEP})
    return runtime_diagnosis("finite_difference", param=k, lang=lang, template="finite_difference.roundoff",
                             moved=noise.typical, step=STEP, noisy=noise.noisy, counted=noise.counted)


def _numerical_use(outcomes: Sequence[CallOutcome], model: Any, chosen: Mapping[str, Diagnosis],
                   lang: str, roundoff: Callable[[], _Moved] | None = None) -> tuple[dict[str, Diagnosis], list[str]]:
    """The diagnoses that what a backward *did* changes: ``finite_difference`` when it computed numerically (rt16 F7, rt17).

    The evidence is the work or the rounding, not the accuracy
    (:mod:`gradcheck.evaluations`): a call that computed in complex numbers
    (the complex step) gives every real gradient ``finite_difference``; a
    gradient returned complex stays ``type``, since casting the result
    (``g.astype(complex)``) is all the complex values may show (rt26 F4).
    So does one that ran the submission's forward at least
    :func:`~gradcheck.evaluations.evaluation_limit` times, unless the count
    is all there is (:func:`_count_set_aside`: rt20 F1, and exact slips,
    rt26 F7).  A finite
    difference's rounding (:mod:`gradcheck.roundoff`; ``roundoff`` calls the
    backward at moved points, :func:`_roundoff`, when the count is set aside
    or neither count says it and some gradient earns credit or is a near
    miss) gives it to the parameters that carry it (:func:`_from_rounding`),
    float32's rounding ``precision``.  A gradient that passed but is wrong,
    or failed, at a moved point gets that point's diagnosis.  A near miss
    nothing else explains is float32's ``precision`` or ``wrong`` by its
    size (:func:`_near_verdict`): values alone never accuse.  When a
    gradient is diagnosed ``precision`` the rounding is not read.

    Returns
    -------
    diagnoses : dict of str to Diagnosis
        The changed diagnoses.
    notes : list of str
        What the feedback says besides (the forward calls of a backward graded on its values).
    """
    from gradcheck.evaluations import is_numerical
    from gradcheck.grading.i18n import render

    n_params = sum(int(np.prod(shape)) for shape in model.param_shapes.values())
    most = max(outcomes, key=lambda o: o.evaluations.get("forward_calls", 0))
    calls = int(most.evaluations.get("forward_calls", 0))
    complex_values = max(int(o.evaluations.get("complex_values", 0)) for o in outcomes)
    counted = {"template": "finite_difference.evaluations", "evaluations": calls, "n_params": n_params,
               "function": str(most.evaluations.get("function") or "forward")}
    if complex_values:
        return _all_numerical(chosen, lang, {"template": "finite_difference.complex", "complex_values": complex_values},
                              keep=("missing", "finite_difference", "type")), []
    if is_numerical(calls, n_params):
        if roundoff is None or not _count_set_aside(chosen):
            return _all_numerical(chosen, lang, counted), []
        found = _read_moved(roundoff(), chosen, lang)
        found.update(_all_numerical({k: d for k, d in found.items() if not _cleared(d)}, lang, counted, keep=("missing",)))
        kept = [k for k, d in found.items() if _exact(d)]
        return found, [render("note.forward_calls", {**counted, "params": ", ".join(kept)}, lang=lang)] if kept else []
    if roundoff is not None and _rounding_matters(chosen):
        return _read_moved(roundoff(), chosen, lang), []
    return _not_accused(chosen, lang), []


def _all_numerical(chosen: Mapping[str, Diagnosis], lang: str, detail: Mapping[str, Any],
                   keep: tuple[str, ...] = ("missing", "finite_difference")) -> dict[str, Diagnosis]:
    """``finite_difference`` with ``detail`` for every gradient whose code is not in ``keep``."""
    return {k: runtime_diagnosis("finite_difference", param=k, lang=lang, **detail) for k, d in chosen.items() if d.code not in keep}


def _exact(d: Diagnosis) -> bool:
    """Whether ``d``'s values are backpropagation's to its precision: ``correct``, or a known mistake fitting exactly (rt26 F7).

    A sign slip, a lost ``1/N``, ``sigmoid'`` taken as ``a``, a transposed or
    unsummed gradient are exactly ``-r``, ``N r``, ... (:func:`gradcheck.diagnose.is_exact_mistake`,
    held to ``correct``'s 1e-11): a negated or scaled finite difference is
    exact only when the finite difference itself would be ``correct``, where
    the same rounding read judges it, for more credit.  So keeping them
    opens no way around the count that returning the numerical gradient
    as it is does not already have.
    """
    return d.passed or is_exact_mistake(d)


def _cleared(d: Diagnosis) -> bool:
    """Whether a count of forward calls alone leaves ``d`` alone: its values are exact (:func:`_exact`) or far from any gradient.

    Far: ``wrong`` by more than ``RTOL_NEAR`` (no near miss), which earns
    nothing, so calling it numerical changes no score and only accuses
    (rt26 F7: ``sigmoid'`` taken as ``a``, with a gradient check left in,
    was told it computed numerically).
    """
    return _exact(d) or (d.code == "wrong" and float(d.detail.get("rel_error", 0.0)) > RTOL_NEAR)


def _count_set_aside(chosen: Mapping[str, Diagnosis]) -> bool:
    """Whether a count of forward calls alone must not convict: some gradient is cleared and none is a near miss (rt20 F1, rt26 F7).

    An honest backward that runs its forward many times (a gradient check
    left in, debug calls) returns backpropagation's exact values, or a
    slip's exact values, or a bug's values far from any gradient
    (:func:`_cleared`); the count then convicts only the gradients that are
    none of these, or carry a finite difference's rounding
    (:func:`_numerical_use`).  A near miss beside the count is a numerical
    gradient's signature: everything is convicted; so is a known mistake
    that fits only to the pattern tolerance (a negated or scaled near miss,
    :func:`_inexact_mistake`).  A false accusation costs more than false
    credit (docs/threat-model.md).
    """
    return any(map(_cleared, chosen.values())) and not any(_near_miss(d) or _inexact_mistake(d) for d in chosen.values())


def _exact_everywhere(d: Diagnosis, at_points: Sequence[Diagnosis]) -> Diagnosis:
    """``d``, no longer an exact mistake (``exact_fit`` false) when the values are not exact at every test point.

    ``correct`` needs every point; an exact mistake must too, or a negated
    finite difference exact at the first point only (the one reported)
    would escape the count where the same numbers, not negated, are a near
    miss at another point (measured: Richardson at h = 1e-2, seed 1).
    """
    if not is_exact_mistake(d) or all(a.passed or is_exact_mistake(a) for a in at_points):
        return d
    return dataclasses.replace(d, detail={**d.detail, "exact_fit": False})


def _inexact_mistake(d: Diagnosis) -> bool:
    """Whether ``d`` is a known mistake its values fit to ``RTOL_PATTERN`` but not exactly: the mistake's near miss.

    Measured (``python benchmarks/numerical_slips.py 3``): Richardson at
    h = 1e-2, negated, gave an exact ``sign`` for ``W2`` beside ``sign`` diagnoses
    off by 2e-11 (``fit_error``); returned as they were, the same numbers
    are near misses beside a ``correct`` ``W2`` and convict everything, so
    negated they must too.
    """
    return d.detail.get("exact_fit") is False


def _read_moved(moved: _Moved, chosen: Mapping[str, Diagnosis], lang: str) -> dict[str, Diagnosis]:
    """``chosen`` judged again with what the backward did at the moved points (:func:`_roundoff`)."""
    failed = {k: d for k, d in moved.wrong.items() if k in chosen and (chosen[k].passed or _near_miss(chosen[k]))}
    read = {k: v for k, d in chosen.items() if (v := _from_rounding(k, d, moved.noise.get(k), lang)) is not None}
    return {**_not_accused({**chosen, **failed}, lang, _not_float32(chosen, failed, read)), **read}


def _scored_forward(forward: Diagnosis | None, runtime: Diagnosis | None, policy: ScoringPolicy, lang: str) -> Diagnosis | None:
    """The forward check to score: worth its points whether or not it could run (max_score is the assignment's)."""
    if forward is not None or policy.forward_points <= 0:
        return forward
    return runtime or runtime_diagnosis("missing", param="forward", lang=lang, template="missing.named", function="forward")


# Long: the grading steps of one submission in order (load, call per point, diagnose, shrink, score);
# classA is reworking pipeline.py this session and will split it into steps.
def grade_with(  # noqa: C901 - the grading steps in order (load, forward, parameters, shrinking, deductions): each branch is a step's early exit
    caller: Caller,
    model: Any,
    *,
    submission: str = "<callable>",
    seed: int = 0,
    points: Sequence[TestPoint] | None = None,
    policy: ScoringPolicy | None = None,
    lang: str = "en",
    shrink: bool = True,
    shrink_budget: int = 40,
    file_hash: str = "",
    messages: Sequence[str] = (),
    module_globals: Mapping[str, np.ndarray] | None = None,
) -> SubmissionResult:
    """Grade with any caller (see the module docstring); the core of :func:`grade_submission`.

    Parameters
    ----------
    caller : callable
        ``caller(point) -> CallOutcome``.
    model : reference model
    submission : str
        The name reported.
    seed : int
    points : sequence of TestPoint, optional
        Default :func:`make_points` ``(model, seed=seed)``.
    policy : ScoringPolicy, optional
    lang : {"en", "ko"}
    shrink : bool
        Shrink the first failure to a small counterexample.
    shrink_budget : int
        Examples hypothesis may try while shrinking.
    file_hash : str
    messages : sequence of str
        Notes to pass on (e.g. the loader's).
    module_globals : mapping of str to ndarray, optional
        The submission module's small global arrays (the sandbox's
        ``module_globals``): a wrong gradient that is exact for them instead
        of ``x``/``y`` is diagnosed ``global``.

    Returns
    -------
    SubmissionResult
    """
    from gradcheck.grading.i18n import check_lang

    check_lang(lang)
    if not callable(caller):
        raise TypeError(f"caller must be callable, got caller={caller!r}")
    check_int(shrink_budget, "shrink_budget", min_value=1)
    start = time.perf_counter()
    caller = watched = _Watched(caller)
    points = list(points) if points is not None else make_points(model, seed=seed)
    if not points:
        raise ValueError("points must hold at least one TestPoint")
    names = list(model.param_shapes)
    outcomes: list[CallOutcome] = []
    runtime: Diagnosis | None = None
    for point in points:
        out = caller(point)
        outcomes.append(out)
        if out.verdict in FATAL_VERDICTS:
            runtime = _runtime(out, lang)
            break
    if runtime is None and all(o.verdict not in ("ok", "type") for o in outcomes):
        runtime = _runtime(outcomes[0], lang)  # it never worked: the run's verdict
    notes = list(messages)
    for out in outcomes:
        notes += [n for n in out.notes if n not in notes]
    notes = notes[:MAX_NOTES]
    behaviour: list[Diagnosis] = []
    per_point: list[dict[str, Diagnosis]] = []
    forward: Diagnosis | None = None
    counterexample = None
    unstable: list[str] = []
    if runtime is None:
        again = caller(points[0])
        first = outcomes[0]
        if again.verdict == "ok" and first.verdict == "ok" and first.grads is not None and again.grads is not None:
            unstable = guards.unstable({k: first.grads.get(k) for k in names}, {k: again.grads.get(k) for k in names})
            if unstable:
                behaviour.append(runtime_diagnosis("nondeterministic", param=unstable[0], lang=lang))
        mutated: list[str] = []
        for out in outcomes:
            mutated += [m for m in out.mutated if m not in mutated]
        behaviour += [runtime_diagnosis("mutation", param=m, lang=lang) for m in mutated]
        per_point = [_diagnose_point(model, p, o, lang) for p, o in zip(points, outcomes)]
        fwd = [_forward_diagnosis(model, p, o, lang) for p, o in zip(points, outcomes)]
        fwd_failing = [d for d in fwd if d is not None and not d.passed]
        present = [d for d in fwd if d is not None]
        forward = fwd_failing[0] if fwd_failing else (present[0] if present else None)
    if runtime is not None:
        chosen = {k: runtime for k in names}
    else:
        picks = {k: _pick(per_point, k) for k in names}
        picks.update(factors_across_points(model, points, [o.grads if o.verdict == "ok" else None for o in outcomes], picks, lang=lang))
        # a gradient that changes between two calls at the same point is graded on the
        # values of its first call, and the run pays nondeterminism_penalty once (rt20 F3)
        if module_globals:
            picks.update({k: (i, g) for k, (i, d) in picks.items() if k not in unstable
                          and (g := _global_use(model, points, outcomes, k, d, module_globals, lang)) is not None})
        chosen = {k: _exact_everywhere(d, [at[k] for at in per_point]) for k, (_, d) in picks.items()}
        numerical, counted_notes = _numerical_use(outcomes, model, chosen, lang,
                                                   lambda: _steady(_roundoff(caller, model, points, outcomes, seed, lang), unstable))
        chosen.update(numerical)
        notes = (counted_notes + [n for n in notes if n not in counted_notes])[:MAX_NOTES]  # first: the cap must not drop it
        failing = [(k, i) for k, (i, d) in picks.items() if not d.passed and d.code not in _NOT_SHRUNK]
        if shrink and failing:  # not the numerical ones: their values were right, no smaller input shows them
            k, i = failing[0]
            counterexample = _shrink(caller, model, points[i], k, seed=seed, budget=shrink_budget, lang=lang)
    policy = policy or ScoringPolicy()
    forward = _scored_forward(forward, runtime, policy, lang)
    s = score(chosen, policy=policy, forward=forward, behaviour=behaviour, runtime=runtime)
    codes: list[str] = []
    for p in s.parameters + ((s.forward,) if s.forward is not None and not s.forward.passed else ()):
        if p.diagnosis not in codes:
            codes.append(p.diagnosis)
    for d in s.deductions:
        if d.code not in codes:
            codes.append(d.code)
    runtime = runtime or watched.verdict(lang)
    if runtime is not None:
        notes.insert(0, runtime.message)
    return SubmissionResult(
        submission=submission,
        model=str(getattr(model, "name", "")),
        seed=int(seed),
        score=s.score,
        max_score=s.max_score,
        diagnoses=tuple(codes),
        parameters=s.parameters,
        forward=s.forward,
        verdict=runtime.code if runtime is not None else "ok",
        messages=tuple(notes),
        counterexample=counterexample,
        deductions=s.deductions,
        duration=round(time.perf_counter() - start, 3),
        lang=lang,
        file_hash=file_hash,
    )


def grade_callable(
    backward: Callable[..., Any],
    model_name: str,
    *,
    forward: Callable[..., Any] | None = None,
    seed: int = 0,
    policy: ScoringPolicy | None = None,
    lang: str = "en",
    shrink: bool = True,
) -> SubmissionResult:
    """Grade an in-process ``backward(params, x, y) -> dict`` (trusted code: no sandbox).

    >>> import reference_models
    >>> m = reference_models.get("study_2layer")
    >>> r = grade_callable(lambda p, x, y: {k: 2 * g for k, g in m.backward(p, x, y).items()}, "study_2layer")
    >>> r.score, r.max_score, r.diagnoses
    (1.0, 2.0, ('scale',))
    """
    import reference_models

    model = reference_models.get(model_name)
    name = getattr(backward, "__qualname__", "<callable>")
    return grade_with(python_caller(backward, forward=forward), model, submission=name, seed=seed, policy=policy, lang=lang, shrink=shrink)


# -- the sandbox ------------------------------------------------------------------------


def _original(point: TestPoint, key: str) -> np.ndarray | None:
    name = key[len("forward."):] if key.startswith("forward.") else key
    if name.startswith("params."):
        return point.params.get(name[len("params."):])
    return {"x": point.x, "y": point.y}.get(name)


def _argument_label(key: str) -> str:
    """``"params.W1"`` -> ``"W1"``, ``"forward.x"`` -> ``"x (forward)"``."""
    forward = key.startswith("forward.")
    name = key[len("forward."):] if forward else key
    name = name[len("params."):] if name.startswith("params.") else name
    return f"{name} (forward)" if forward else name


def per_sample_weight(model: Any, point: TestPoint) -> float:
    """``c`` with ``loss(batch) = c * sum of loss(one-row batch i)``: 1 for a sum over samples, 1/N for a mean.

    Computed from the model's own loss at the point, so a per-sample
    submission's summed gradients are weighed exactly as the loss weighs samples.

    >>> import reference_models
    >>> m = reference_models.get("onehot_222")
    >>> p = m.init_params(np.random.default_rng(0))
    >>> x, y = m.example_batch(np.random.default_rng(1), 4)
    >>> round(per_sample_weight(m, TestPoint("t", p, x, y)), 12)
    0.25
    """
    n = point.batch_size
    parts = sum(model.loss(point.params, point.x[i:i + 1], point.y[i:i + 1]) for i in range(n))
    total = model.loss(point.params, point.x, point.y)
    return float(total / parts) if parts else 1.0


#: The note for a backward that switched off the sandbox's profile hook (no honest backward touches it).
PROFILER_REMOVED = ("backward switched off the grader's profiler (sys.setprofile): how it computed its gradients "
                    "could not be observed")


def sandbox_caller(box: Any, *, model: Any = None) -> Caller:
    """A caller driving a :class:`gradcheck.grading.sandbox.Sandbox` session.

    Mutation is decided here, by comparing the inputs the child sent back
    (``after``) with this process's originals.  With a ``per_sample``
    assignment the child returns the sum of the samples' gradients; it is
    weighed here by :func:`per_sample_weight` of ``model``.
    """
    per_sample = bool(getattr(getattr(box, "spec", None), "per_sample", False)) and model is not None
    spec = getattr(box, "spec", None)
    forward_name = getattr(spec, "forward", None) or "forward"
    if getattr(spec, "style", "function") == "class":
        forward_name = f"{spec.class_name}.{forward_name}"  # type: ignore[union-attr]

    def call(point: TestPoint) -> CallOutcome:
        res = box.call(point.params, point.x, point.y)
        if per_sample and res.grads:
            c = per_sample_weight(model, point)
            res = dataclasses.replace(res, grads={k: np.asarray(v) * c for k, v in res.grads.items()})
        mutated: list[str] = []
        for key, arr in (res.after or {}).items():
            orig = _original(point, key)
            if orig is not None and not _same(arr, orig):
                label = _argument_label(key)
                if label not in mutated:
                    mutated.append(label)
        notes = tuple(res.notes) + ((PROFILER_REMOVED,) if res.evaluations.get("profiler_removed") else ())
        common = {"mutated": tuple(mutated), "forward_verdict": res.forward_status, "forward_error": res.forward_message, "notes": notes,
                  "evaluations": {**res.evaluations, "function": forward_name}}
        if res.status == "ok":
            return CallOutcome(res.grads or {}, forward=res.forward, **common)
        return CallOutcome(None, res.status, res.message, detail=_call_failure_detail(res, box.limits), **common)

    return call


def _call_failure_detail(res: Any, limits: Any) -> dict[str, Any]:
    """Facts for the message of a failed sandbox call: the limit, and which call of the session ran out (rt23 F12).

    A timeout, the memory limit or a crash after calls that returned says so
    (``timeout.call``, ``memory.call``, ``crash.call``: one wording,
    :func:`gradcheck.grading.i18n.later_call`, rt24 N6); the output limit is
    the whole session's (``output.session``), never one call's.
    """
    call = int(getattr(res, "call", 0))
    later = {"template": f"{res.status}.call", "call": call} if call > 1 and res.status in _LATER_CALL else {}
    if res.status == "timeout":
        return {"seconds": limits.wall_seconds, **later}
    if res.status == "memory":
        return {"megabytes": limits.memory_bytes >> 20, **later}
    if res.status == "output" and call > 0:
        return {"template": "output.session", "limit": limits.output_bytes, "call": call}
    if later:  # crash.call names the call: the sandbox's own words need not say it again ("died of SIGSEGV during call 3")
        return {**later, "error": str(res.message).replace(f" during call {call}", "")}
    return later


#: The verdicts of a call whose message says which call it was when an earlier one returned (``VERDICT.call`` templates).
_LATER_CALL = frozenset({"timeout", "memory", "crash"})


def _missing_detail(facts: Mapping[str, Any], lang: str) -> dict[str, Any]:
    """Template and fields for what the child found missing (names stay as they are; the words are translated)."""
    from gradcheck.grading.i18n import text

    kind = facts["kind"]
    found = ", ".join(facts.get("found") or ()) or text("ui.nothing", lang=lang)
    close = ", ".join(facts.get("close") or ())
    return {"template": f"missing.{kind}" + (".close" if close else ""), "function": facts.get("name", ""),
            "owner": facts.get("owner", ""), "found": found, "close": close}


def _load_failure(status: str, message: str, limits: Any, facts: Mapping[str, Any] | None = None, lang: str = "en") -> Caller:
    detail: dict[str, Any] = {}
    if status == "timeout":
        detail["seconds"] = limits.load_seconds
    if status == "memory":
        detail["megabytes"] = limits.memory_bytes >> 20
    if status == "missing":
        detail.update(_missing_detail(facts, lang) if facts and facts.get("kind") else {"function": message})

    def call(point: TestPoint) -> CallOutcome:
        return CallOutcome(None, status if status in FATAL_VERDICTS | {"error"} else "crash", message, detail=detail)

    return call


def grade_submission(
    path: str | Path,
    model_name: str | None = None,
    *,
    seed: int = 0,
    assignment: Any = None,
    limits: Any = None,
    lang: str = "en",
    policy: ScoringPolicy | None = None,
    shrink: bool = True,
    name: str | None = None,
    extra_files: Sequence[str | Path] = (),
    isolation: str = "auto",
) -> SubmissionResult:
    """Grade one submission file in a sandbox (see the module docstring).

    Parameters
    ----------
    path : str or Path
        A ``.py`` or ``.ipynb`` file.
    model_name : str, optional
        The reference model; required unless ``assignment`` names it.
    seed : int
        Seeds the test points and the shrinking.
    assignment : Assignment or str or Path, optional
        An :class:`gradcheck.grading.assignment.Assignment` or its TOML
        file: calling convention, points, limits.
    limits : Limits, optional
        Overrides the assignment's limits.
    lang : {"en", "ko"}
    policy : ScoringPolicy, optional
        Overrides the assignment's scoring.
    shrink : bool
    name : str, optional
        The submission's identity in the result (default: the file's name).
    extra_files : sequence of str or Path
        Helper modules the submission may import (the other ``.py`` files of
        its folder), put next to it in its sandbox.
    isolation : {"auto", "namespaces", "uid", "process"}
        The sandbox's isolation level (:mod:`gradcheck.grading.isolation`);
        the level used is the result's ``isolation``.

    Returns
    -------
    SubmissionResult
        Whatever the submission does (a failure of the submission is a
        verdict, never an exception).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        For a model name that contradicts the assignment, a bad argument,
        or a ``path`` / ``extra_files`` that is a symbolic link.
    """
    from gradcheck.grading.assignment import Assignment, Limits, load_assignment, parse_assignment
    from gradcheck.grading.i18n import check_lang
    from gradcheck.grading.sandbox import Sandbox

    check_lang(lang)
    path = Path(path)
    for f in (path, *map(Path, extra_files)):
        if f.is_symlink():  # never followed: it may name a classmate's file or the answer key (identity refuses them first)
            raise ValueError(f"{str(f)!r} is a symbolic link (to {os.readlink(f)!r}); the grader reads only regular files")
    if not path.is_file():
        raise FileNotFoundError(f"path={str(path)!r} is not a file")
    if isinstance(assignment, (str, Path)):
        assignment = load_assignment(assignment)
    if assignment is None:
        if model_name is None:
            raise ValueError("model_name is required when no assignment is given")
        assignment = parse_assignment({"model": model_name})
    if not isinstance(assignment, Assignment):
        raise TypeError(f"assignment must be an Assignment or a path to one, got assignment={assignment!r}")
    if model_name is not None and model_name != assignment.model:
        raise ValueError(f"model_name={model_name!r} contradicts the assignment's model={assignment.model!r}")
    if limits is not None and not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, got limits={limits!r}")
    limits = limits or assignment.limits
    model = assignment.reference_model()
    if policy is None:
        policy = ScoringPolicy.from_mapping(assignment.scoring_options())
    from gradcheck.grading.loader import load_submission, source_fingerprint

    digest = file_sha256(path)
    fingerprint = source_fingerprint(load_submission(path, max_source=limits.source_bytes))  # before the run: what is graded, not what the run left on disk
    start = time.perf_counter()
    extra = [Path(f) for f in extra_files]
    for f in extra:
        if not f.is_file():
            raise FileNotFoundError(f"extra_files holds {str(f)!r}, which is not a file")
    helpers = _helper_fingerprints(extra, path.parent)
    with _open_sandbox(Sandbox, path, assignment.spec, limits, extra, isolation=isolation, seed=seed) as (box, extra_notes):
        notes = list(box.notes) + extra_notes
        if box.load_status != "ok":
            caller = _load_failure(box.load_status, box.load_message, limits, getattr(box, "load_facts", None), lang)
        else:
            caller = sandbox_caller(box, model=model)
        result = grade_with(caller, model, submission=name or path.name, seed=seed, policy=policy, lang=lang, shrink=shrink,
                            file_hash=digest, messages=notes, module_globals=getattr(box, "module_globals", None))
        result = dataclasses.replace(result, isolation=str(getattr(getattr(box, "isolation", None), "value", "")))
    return dataclasses.replace(_with_duration(result, time.perf_counter() - start, title=assignment.title), source_hash=fingerprint,
                               helper_hashes=helpers)


def _helper_fingerprints(files: Sequence[Path], base: Path) -> tuple[tuple[str, str], ...]:
    """``(name, normalised source hash)`` of each helper module with code in it (an empty ``__init__.py`` is nobody's copy).

    The name is the module's in the sandbox (:func:`~gradcheck.grading.sandbox.helper_name`: ``lib/act.py`` in a package).
    """
    from gradcheck.grading.loader import load_submission, source_fingerprint
    from gradcheck.grading.sandbox import helper_name

    out = []
    for f in files:
        loaded = load_submission(f)
        if loaded.error is None and any(c.source.strip() for c in loaded.cells):
            out.append((helper_name(f, base), source_fingerprint(loaded)))
    return tuple(out)


@contextlib.contextmanager
def _open_sandbox(sandbox: Any, path: Path, spec: Any, limits: Any, extra: list[Path], *, isolation: str = "auto",
                  seed: int = 0) -> Iterator[tuple[Any, list[str]]]:
    """The sandbox of one submission, with its helper modules when the sandbox takes them, its randomness seeded when it can."""
    import inspect

    notes: list[str] = []
    kwargs: dict[str, Any] = {"limits": limits, "isolation": isolation}
    if "seed" in inspect.signature(sandbox).parameters:
        kwargs["seed"] = seed
    if extra:
        if "extra_files" in inspect.signature(sandbox).parameters:
            kwargs["extra_files"] = tuple(extra)
        else:
            notes.append(f"helper modules {', '.join(f.name for f in extra)} were not put in the sandbox (this grader's sandbox cannot take them)")
    box = sandbox(path, spec, **kwargs)
    try:
        yield box, notes
    finally:
        box.close()


def crashed_result(
    path: str | Path, model_name: str | None = None, *, seed: int = 0, assignment: Any = None, lang: str = "en", isolation: str = "", message: str, name: str | None = None,
) -> SubmissionResult:
    """The row of a submission whose grading process was destroyed under it (verdict ``crash``).

    Used when a submission takes its grading worker down with it (again when
    graded alone): it still gets exactly one row in every output.
    """
    from gradcheck.grading.assignment import load_assignment, parse_assignment

    path = Path(path)
    if isinstance(assignment, (str, Path)):
        assignment = load_assignment(assignment)
    if assignment is None:
        assignment = parse_assignment({"model": model_name})
    policy = ScoringPolicy.from_mapping(assignment.scoring_options())
    caller = _load_failure("crash", message, assignment.limits)
    result = grade_with(caller, assignment.reference_model(), submission=name or path.name, seed=seed, policy=policy, lang=lang, shrink=False, file_hash=file_sha256(path))
    return dataclasses.replace(result, isolation=isolation, title=assignment.title)


def refused_result(identity: str, problem: str, assignment: Any, *, seed: int = 0, lang: str = "en", student_id: str = "") -> SubmissionResult:
    """The result of a submission that could not be graded at all (no file, several candidates).

    Verdict ``missing``, nothing earned, and the assignment's ``max_score``
    like every other student's; ``problem`` is the message.

    >>> from gradcheck.grading.assignment import parse_assignment
    >>> r = refused_result("042_kim", "several candidate files: a.py, b.py", parse_assignment({"model": "xor_2layer"}))
    >>> r.verdict, r.score, r.max_score, r.messages
    ('missing', 0.0, 4.0, ('several candidate files: a.py, b.py',))
    """
    return _unrun_result(identity, Diagnosis("missing", "", problem), assignment, seed=seed, lang=lang, student_id=student_id)


def grader_failure_result(identity: str, error: str, assignment: Any, *, seed: int = 0, lang: str = "en", student_id: str = "") -> SubmissionResult:
    """The row of a submission whose grading raised an exception in the grader itself (rt26 F8).

    Verdict ``error`` (so it is listed under "needs a human look"), nothing
    earned, the assignment's ``max_score``; the message says the grader
    failed (``error``'s first line), not the submission.  Every submission
    gets exactly one row, whatever fails.

    >>> from gradcheck.grading.assignment import parse_assignment
    >>> r = grader_failure_result("kim.py", "ValueError: boom\\n  traceback", parse_assignment({"model": "xor_2layer"}))
    >>> r.verdict, r.score, r.max_score, r.messages[0].startswith("The grader itself failed"), r.messages[0].endswith("ValueError: boom")
    ('error', 0.0, 4.0, True, True)
    """
    lines = str(error).strip().splitlines()
    d = runtime_diagnosis("error", lang=lang, template="error.grader", error=lines[0] if lines else "unknown error")
    return _unrun_result(identity, d, assignment, seed=seed, lang=lang, student_id=student_id)


def _unrun_result(identity: str, d: Diagnosis, assignment: Any, *, seed: int, lang: str, student_id: str) -> SubmissionResult:
    """A result in which every parameter (and the forward check) gets ``d`` and 0: the verdict is ``d.code``, the message ``d.message``."""
    model = assignment.reference_model()
    policy = ScoringPolicy.from_mapping(assignment.scoring_options())
    s = score({k: d for k in model.param_shapes}, policy=policy, forward=d if policy.forward_points > 0 else None, runtime=d)
    return SubmissionResult(
        submission=identity, model=assignment.model, seed=int(seed), score=s.score, max_score=s.max_score, diagnoses=(d.code,),
        parameters=s.parameters, forward=s.forward, verdict=d.code, messages=(d.message,), lang=lang, title=assignment.title, student_id=student_id,
    )


def _with_duration(result: SubmissionResult, seconds: float, *, title: str = "") -> SubmissionResult:
    from dataclasses import replace

    return replace(result, duration=round(seconds, 3), title=title)
