"""Tests of gradcheck.grading.pipeline with in-process students (no sandbox).

The students are small backward functions written out here; the expected
verdicts follow from how each one was written, not from the code under test.
"""
from __future__ import annotations

import random as pyrandom
import re

import numpy as np
import pytest

import reference_models
from gradcheck.grading.pipeline import CallOutcome, TestPoint, grade_callable, grade_with, make_points, python_caller
from gradcheck.grading.scoring import ScoringPolicy

HANGUL = re.compile("[\uac00-\ud7a3]")
XOR2 = reference_models.get("xor_2layer")


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def xor2_backward(p, x, y, *, output_error=lambda a, y: 2 * (a - y) / len(y), prime=lambda z, a: a * (1 - a)):
    """The 000 network's backward written out; the two hooks plant bugs."""
    z1 = x @ p["W1"] + p["b1"]
    a1 = _sig(z1)
    z2 = a1 @ p["W2"] + p["b2"]
    a2 = _sig(z2)
    dz2 = output_error(a2, y) * prime(z2, a2)
    dz1 = dz2 @ p["W2"].T * prime(z1, a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}


def strip(result):
    d = result.to_dict()
    d.pop("duration")
    return d


# -- test points ------------------------------------------------------------------


def test_points_are_seeded_odd_and_not_degenerate():
    pts = make_points(reference_models.get("xor_3layer"), seed=4)
    assert [p.batch_size for p in pts] == [3, 5, 4]
    for p in pts:
        for k, v in p.params.items():
            assert np.all(v != 0), k  # biases too
            if v.ndim == 2 and v.shape[0] == v.shape[1] > 1:
                assert not np.allclose(v, v.T), k
        assert len(np.unique(p.x)) == p.x.size or p.label == "notebook"
    again = make_points(reference_models.get("xor_3layer"), seed=4)
    assert all(np.array_equal(a.params["W2"], b.params["W2"]) and np.array_equal(a.x, b.x) for a, b in zip(pts, again))
    other = make_points(reference_models.get("xor_3layer"), seed=5)
    assert not np.array_equal(pts[0].params["W1"], other[0].params["W1"])
    with pytest.raises(ValueError, match="seed=-1"):
        make_points(XOR2, seed=-1)
    with pytest.raises(ValueError, match="batch_sizes"):
        make_points(XOR2, batch_sizes=(0,))


def test_models_without_notebook_data_get_random_points_only():
    m = reference_models.get("mnist_relu", n_in=6, hidden=4, n_out=3)
    assert [p.label for p in make_points(m)] == ["random-3", "random-5"]


# -- verdicts ---------------------------------------------------------------------------


def test_correct_student_gets_full_marks():
    r = grade_callable(xor2_backward, "xor_2layer")
    assert (r.score, r.max_score, r.diagnoses, r.verdict) == (4.0, 4.0, ("correct",), "ok")
    assert r.counterexample is None and r.deductions == ()
    assert [p.name for p in r.parameters] == ["W1", "b1", "W2", "b2"]


def test_notebook_000_factor_is_named_and_shrunk():
    r = grade_callable(lambda p, x, y: xor2_backward(p, x, y, output_error=lambda a, y: a - y), "xor_2layer")
    assert r.diagnoses == ("scale",) and r.score == 2.0
    w1 = r.parameter("W1")
    assert w1.detail["factor_names"] == ["N/2"] and w1.detail["factor"] == pytest.approx(1.5)  # first point: N = 3
    cx = r.counterexample
    assert cx is not None and cx.param == "W1" and cx.diagnosis == "scale"
    n = len(cx.x)
    assert n == 1  # one sample is enough to show a wrong factor
    ratio = np.asarray(cx.got) / np.asarray(cx.expected)
    assert np.allclose(ratio, n / 2)
    assert all(abs(v * 10 - round(v * 10)) < 1e-9 for v in np.ravel(cx.x))  # rounded to one decimal


def test_sigmoid_prime_of_z_is_named():
    r = grade_callable(lambda p, x, y: xor2_backward(p, x, y, prime=lambda z, a: z * (1 - z)), "xor_2layer")
    assert r.diagnoses == ("activation",)
    assert r.parameter("W1").detail["mistake"] == "sigmoid_prime_of_z"


def test_mutation_and_nondeterminism_deduct():
    def mutating(p, x, y):
        g = xor2_backward(p, x, y)
        x[:] = 0.0
        return g

    r = grade_callable(mutating, "xor_2layer")
    assert r.diagnoses == ("correct", "mutation") and r.score == 3.0
    assert [(d.code, d.param) for d in r.deductions] == [("mutation", "x")]

    rng = pyrandom.Random(0)

    def noisy(p, x, y):
        g = xor2_backward(p, x, y)
        g["W2"] = g["W2"] * (1 + 1e-3 * rng.random())
        return g

    r = grade_callable(noisy, "xor_2layer", shrink=False)
    # W2 changes between calls (rt20 F3): each gradient is graded on its values (W2 is off by up to
    # 1e-3 of itself: not exact), and the run pays the documented 25 % once
    assert r.parameter("W2").points < r.parameter("W2").max_points and r.parameter("W1").diagnosis == "correct"
    assert [(d.code, d.param, d.points) for d in r.deductions] == [("nondeterministic", "W2", 1.0)]
    assert r.score == max(0.0, sum(p.points for p in r.parameters) - 1.0)


@pytest.mark.parametrize(("penalty", "expected"), [(None, 2.0), (0.0, 3.0), (0.5, 1.0)])
def test_a_nondeterministic_run_is_graded_on_its_values_minus_the_documented_penalty(penalty, expected):
    # rt20 F3 (/work/rt20/classF/sub/noise_...): the exact gradient plus 1e-9 of its largest entry of
    # fresh noise per call.  docs/assignments.md: judged on the values (a float32-size near miss:
    # precision, 0.75 x 4 = 3) minus nondeterminism_penalty (default 0.25) x 4; it had 0/4 whatever the penalty
    rng = np.random.default_rng(0)

    def noisy(p, x, y):
        g = xor2_backward(p, x, y)
        return {k: v + 1e-9 * np.abs(v).max() * rng.standard_normal(v.shape) for k, v in g.items()}

    policy = ScoringPolicy() if penalty is None else ScoringPolicy(nondeterminism_penalty=penalty)
    r = grade_callable(noisy, "xor_2layer", shrink=False, policy=policy)
    assert [p.diagnosis for p in r.parameters] == ["precision"] * 4, r.parameters
    assert [d.code for d in r.deductions] == ["nondeterministic"] and r.score == expected, (r.deductions, r.score)


def test_a_tiny_random_noise_is_not_read_as_a_finite_differences_rounding():
    # 1e-12 of fresh noise per call: its second differences at the moved points lie in the band of a
    # finite difference's rounding; old code called it finite_difference (0/4, seeds 0, 1, 2); it is randomness
    rng = np.random.default_rng(0)

    def noisy(p, x, y):
        g = xor2_backward(p, x, y)
        return {k: v + 1e-12 * np.abs(v).max() * rng.standard_normal(v.shape) for k, v in g.items()}

    r = grade_callable(noisy, "xor_2layer", shrink=False)
    assert "finite_difference" not in r.diagnoses and "nondeterministic" in r.diagnoses, r.parameters


def test_each_diagnosis_is_listed_once_when_every_parameter_is_mutated():
    def updates_in_place(p, x, y):  # a student doing the SGD step inside backward
        g = xor2_backward(p, x, y)
        for k in p:
            p[k] -= 0.1 * g[k]
        return g

    r = grade_callable(updates_in_place, "xor_2layer", shrink=False)
    assert r.diagnoses == ("correct", "mutation")
    assert [(d.param, d.points) for d in r.deductions] == [("W1, b1, W2, b2", 1.0)] and r.score == 3.0
    assert r.deductions[0].detail["params"] == ["W1", "b1", "W2", "b2"]


def test_no_counterexample_is_searched_for_a_value_that_is_not_a_gradient():
    calls = []

    def forgot_return(p, x, y):
        calls.append(1)
        return {k: "not computed yet" for k in p}

    r = grade_callable(forgot_return, "xor_2layer")
    assert set(r.diagnoses) == {"type"} and r.counterexample is None
    assert len(calls) == len(make_points(XOR2)) + 1  # the points and the determinism re-call, no shrinking


def test_exceptions_and_bad_returns():
    def boom(p, x, y):
        raise ZeroDivisionError("division by zero")

    r = grade_callable(boom, "xor_2layer")
    assert r.verdict == "error" and r.score == 0.0 and r.diagnoses == ("error",)
    assert "ZeroDivisionError" in r.messages[0]
    r = grade_callable(lambda p, x, y: (1, 2), "xor_2layer")
    assert r.verdict == "ok" and set(r.diagnoses) == {"output"} and r.score == 0.0

    def only_batches_of_four(p, x, y):
        if len(x) != 4:
            raise ValueError("expects the XOR data")
        return xor2_backward(p, x, y)

    r = grade_callable(only_batches_of_four, "xor_2layer")
    assert r.verdict == "ok" and r.diagnoses == ("error",)  # works on the notebook point only


def test_partial_bug_counterexample_shows_the_entry():
    def one_entry(p, x, y):
        g = xor2_backward(p, x, y)
        g["W2"] = g["W2"].copy()
        g["W2"][2, 0] = 0.0
        return g

    r = grade_callable(one_entry, "xor_2layer")
    w2 = r.parameter("W2")
    assert w2.diagnosis == "partial" and w2.detail["n_wrong"] == 1
    assert w2.points == pytest.approx(0.5 * 2 / 3)
    cx = r.counterexample
    assert len(cx.x) == 1 and cx.got[2] == [0.0] and np.allclose(cx.got[:2], cx.expected[:2], rtol=1e-12)


def test_runtime_verdict_stops_the_run():
    calls = []

    def caller(point):
        calls.append(point.label)
        return CallOutcome(None, "timeout", detail={"seconds": 3})

    r = grade_with(caller, XOR2, submission="slow.py")
    assert calls == ["random-3"] and r.verdict == "timeout" and r.score == 0.0
    assert r.messages[0] == "The submission did not finish within the time limit of 3 s."
    assert {p.diagnosis for p in r.parameters} == {"timeout"}


def _fails_from_call(n, outcome):
    """A correct backward whose calls from the n-th on end in ``outcome`` (the session died there)."""
    correct = python_caller(xor2_backward)
    calls = []

    def caller(point):
        calls.append(point.label)
        return correct(point) if len(calls) < n else outcome

    return caller, calls


@pytest.mark.parametrize("outcome, words", [
    (CallOutcome(None, "timeout", detail={"seconds": 2, "template": "timeout.call", "call": 4}),
     "The calls before call 4 finished in time, but call 4 did not finish within the time limit of 2 s (per call) and was stopped."),
    (CallOutcome(None, "output", detail={"template": "output.session", "limit": 1 << 20, "call": 4}),
     "The submission printed more than 1,048,576 bytes in all and was stopped during call 4"),
])
def test_a_failure_after_the_grading_points_is_the_run_verdict(outcome, words):
    # rt23 F10: the grading points (3) ran; the 4th call (the determinism re-call) and every later one failed
    from gradcheck.grading.gradebook import class_summary, needs_review

    caller, calls = _fails_from_call(4, outcome)
    r = grade_with(caller, XOR2, submission="late.py")
    assert calls[:3] == [p.label for p in make_points(XOR2)] and len(calls) >= 4
    assert r.verdict == outcome.verdict and r.messages[0].startswith(words)
    assert [(x.submission, why) for x, why in needs_review([r])] == [("late.py", outcome.verdict)]
    assert class_summary([r]).review == (("late.py", outcome.verdict),)


def test_a_correct_run_keeps_the_verdict_ok():
    caller, calls = _fails_from_call(10**6, CallOutcome(None, "timeout"))
    r = grade_with(caller, XOR2)
    assert r.verdict == "ok" and r.score == r.max_score and len(calls) > 3


def test_forward_check():
    def fwd_bad(p, x):
        return XOR2.forward(p, x) * 1.5

    r = grade_with(python_caller(xor2_backward, forward=fwd_bad), XOR2, policy=ScoringPolicy(forward_points=2))
    assert r.forward is not None and r.forward.diagnosis == "scale" and r.forward.max_points == 2.0
    assert r.max_score == 6.0
    r = grade_with(python_caller(xor2_backward, forward=lambda p, x: XOR2.forward(p, x).ravel()), XOR2)
    assert r.forward.diagnosis == "correct"


def test_deterministic_and_korean():
    bug = lambda p, x, y: xor2_backward(p, x, y, output_error=lambda a, y: a - y)  # noqa: E731
    assert strip(grade_callable(bug, "xor_2layer", seed=3)) == strip(grade_callable(bug, "xor_2layer", seed=3))
    ko = grade_callable(bug, "xor_2layer", lang="ko")
    assert all(HANGUL.search(p.message) for p in ko.parameters) and ko.lang == "ko"


def test_relu_kinks_are_not_held_against_the_student():
    m = reference_models.get("relu_sigmoid_bce")

    def ge0_mask(p, x, y):  # relu'(0) = 1 instead of the reference's 0: a valid subgradient
        x = x.copy()
        z1 = x @ p["W1"] + p["b1"]
        a1 = np.maximum(z1, 0)
        z2 = a1 @ p["W2"] + p["b2"]
        dz2 = (_sig(z2) - y.reshape(z2.shape)) / z2.size
        dz1 = dz2 @ p["W2"].T * (z1 >= 0)
        return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "b2": dz2.sum(0)}

    pts = make_points(m, seed=0, notebook=False)
    p = pts[0]
    p.x[0] = 0.0  # a sample at the origin with zero biases puts z1 exactly on the kink
    p.params["b1"][:] = 0.0
    r = grade_with(python_caller(ge0_mask), m, points=[p])
    assert r.parameter("W1").diagnosis == "correct" and r.parameter("b1").diagnosis == "correct"
    assert r.parameter("b1").detail.get("n_kinks", 0) >= 1


def test_argument_checks():
    with pytest.raises(ValueError, match="lang='xx'"):
        grade_with(python_caller(xor2_backward), XOR2, lang="xx")
    with pytest.raises(TypeError, match="caller"):
        grade_with(None, XOR2)
    with pytest.raises(ValueError, match="shrink_budget=0"):
        grade_with(python_caller(xor2_backward), XOR2, shrink_budget=0)
    with pytest.raises(ValueError, match="at least one"):
        grade_with(python_caller(xor2_backward), XOR2, points=[])
    assert isinstance(make_points(XOR2)[0], TestPoint)


def test_a_failure_at_any_point_counts():
    def wrong_for_five(p, x, y):
        g = xor2_backward(p, x, y)
        if len(x) == 5:
            g["b1"] = -g["b1"]
        return g

    r = grade_callable(wrong_for_five, "xor_2layer")
    assert r.parameter("b1").diagnosis == "sign" and r.parameter("W1").diagnosis == "correct"
    assert len(r.counterexample.x) == 5  # smaller batches do not fail


# -- through the sandbox ----------------------------------------------------------------

GOOD = """
import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def backward(params, x, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    z1 = x @ W1 + b1; a1 = sigmoid(z1); z2 = a1 @ W2 + b2; a2 = sigmoid(z2)
    dz2 = OUTPUT_ERROR * a2 * (1 - a2)
    dz1 = dz2 @ W2.T * a1 * (1 - a1)
    MUTATE
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
def forward(params, x):
    return sigmoid(sigmoid(x @ params["W1"] + params["b1"]) @ params["W2"] + params["b2"])
"""


def _write(tmp_path, name, output_error="2 * (a2 - y) / len(y)", mutate="pass"):
    path = tmp_path / name
    path.write_text(GOOD.replace("OUTPUT_ERROR", output_error).replace("MUTATE", mutate))
    return path


def test_sandboxed_submissions(tmp_path):
    from gradcheck.grading.assignment import Limits
    from gradcheck.grading.pipeline import grade_submission

    r = grade_submission(_write(tmp_path, "good.py"), "xor_2layer")
    assert (r.verdict, r.score, r.diagnoses, r.forward.diagnosis) == ("ok", 4.0, ("correct",), "correct")
    assert r.submission == "good.py" and len(r.file_hash) == 64
    r = grade_submission(_write(tmp_path, "nb.py", output_error="(a2 - y)", mutate="params['W1'][0, 0] = 7.0"), "xor_2layer")
    assert r.diagnoses == ("scale", "mutation") and r.parameter("b2").detail["factor_names"] == ["N/2"]
    assert [d.param for d in r.deductions] == ["W1"] and r.score == 1.0
    assert r.counterexample is not None and len(r.counterexample.x) == 1
    (tmp_path / "cheat.py").write_text("import gradcheck\n")
    r = grade_submission(tmp_path / "cheat.py", "xor_2layer")
    assert r.verdict == "forbidden" and r.score == 0.0
    (tmp_path / "slow.py").write_text("def backward(params, x, y):\n    while True:\n        pass\n")
    r = grade_submission(tmp_path / "slow.py", "xor_2layer", limits=Limits(wall_seconds=0.5, cpu_seconds=1))
    assert r.verdict == "timeout" and "0.5" in r.messages[0]
    with pytest.raises(FileNotFoundError, match="nothing.py"):
        grade_submission(tmp_path / "nothing.py", "xor_2layer")
    with pytest.raises(ValueError, match="contradicts"):
        from gradcheck.grading.assignment import parse_assignment

        grade_submission(tmp_path / "good.py", "xor_1layer", assignment=parse_assignment({"model": "xor_2layer"}))


def test_max_score_is_the_assignments_whatever_failed():
    # a file that fails to load once had max_score 4 and the rest 5 (the forward's point vanished)
    from gradcheck.grading.pipeline import CallOutcome, grade_with, python_caller
    from gradcheck.grading.scoring import ScoringPolicy

    m = reference_models.get("xor_2layer")
    policy = ScoringPolicy(forward_points=1.0)
    ok = grade_with(python_caller(m.backward, forward=m.forward), m, policy=policy, shrink=False)
    no_forward = grade_with(python_caller(m.backward), m, policy=policy, shrink=False)
    broken = grade_with(lambda point: CallOutcome(None, "syntax", "line 1: invalid syntax"), m, policy=policy)
    assert ok.max_score == no_forward.max_score == broken.max_score == 5.0
    assert (ok.score, no_forward.score, broken.score) == (5.0, 4.0, 0.0)
    assert no_forward.forward is not None and no_forward.forward.diagnosis == "missing"
