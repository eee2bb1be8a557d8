"""Tests of gradcheck.grading.scoring: every expected score is worked out by hand."""
from __future__ import annotations

import pytest

from gradcheck.grading.verdicts import GradingDiagnosis as Diagnosis
from gradcheck.grading.scoring import DEFAULT_CREDIT, ScoringPolicy, parameter_points, score


def D(code, param="W", **detail):
    return Diagnosis(code, param, f"{param}: {code}", detail)


def test_default_credit_per_code():
    diags = {
        "a": D("correct"),
        "b": D("scale"),
        "c": D("sign"),
        "d": D("wrong"),
        "e": D("partial", fraction_correct=0.75),
        "f": D("shape", values_match=True),
        "g": D("shape", values_match=False),
        "h": D("finite_difference"),
        "i": D("precision"),
    }
    s = score(diags)
    got = {p.name: p.points for p in s.parameters}
    assert got == {"a": 1.0, "b": 0.5, "c": 0.25, "d": 0.0, "e": 0.375, "f": 0.5, "g": 0.0, "h": 0.0, "i": 0.75}
    assert s.max_score == 9.0 and s.score == 3.375
    status = {p.name: p.status for p in s.parameters}
    assert status["a"] == "passed" and status["i"] == "failed" and status["b"] == "failed"


def test_points_per_parameter():
    s = score({"W1": D("correct"), "W2": D("scale"), "b": D("wrong")}, policy=ScoringPolicy(points={"W1": 3, "W2": 2}, default_points=0.5))
    assert [p.max_points for p in s.parameters] == [3.0, 2.0, 0.5]
    assert s.score == 4.0 and s.max_score == 5.5


def test_runtime_failure_gives_zero_everywhere():
    t = D("timeout", "", seconds=5)
    s = score({"W1": D("correct"), "W2": D("correct")}, runtime=t, forward=D("correct"), policy=ScoringPolicy(forward_points=2))
    assert s.score == 0.0 and s.max_score == 4.0
    assert {p.diagnosis for p in s.parameters} == {"timeout"} and s.forward.diagnosis == "timeout"
    assert all(p.status == "failed" for p in s.parameters)


def test_mutation_and_nondeterminism_deduct_once_each():
    diags = {"W1": D("correct"), "W2": D("correct"), "b1": D("correct"), "b2": D("correct")}
    s = score(diags, behaviour=[D("mutation", "x"), D("mutation", "W1"), D("nondeterministic", "W2")])
    # one deduction per code, naming every argument written (never a second "-0" line)
    assert [(d.code, d.param, d.points) for d in s.deductions] == [("mutation", "x, W1", 1.0), ("nondeterministic", "W2", 1.0)]
    assert s.score == 2.0 and s.max_score == 4.0
    s = score({"W1": D("wrong")}, behaviour=[D("mutation", "x")])
    assert s.score == 0.0  # never below zero


@pytest.mark.parametrize(("penalty", "deducted"), [(0.25, 0.5), (0.5, 1.0), (0.0, 0.0)])
def test_nondeterminism_deducts_its_penalty_on_top_of_the_values_grades(penalty, deducted):
    # rt20 F3 and docs/assignments.md: the parameters are scored on their diagnoses (W2 a float32-size
    # near miss, 0.75 of 1), the run pays nondeterminism_penalty x max_score (2) once; it used to
    # zero the affected parameters, whatever the penalty
    diags = {"W1": D("correct"), "W2": D("precision", "W2")}
    s = score(diags, behaviour=[D("nondeterministic", "W2")], policy=ScoringPolicy(nondeterminism_penalty=penalty))
    assert [p.points for p in s.parameters] == [1.0, 0.75]
    assert [(d.code, d.points) for d in s.deductions] == [("nondeterministic", deducted)]
    assert s.score == 1.75 - deducted and s.max_score == 2.0


def test_forward_points_and_custom_credit():
    policy = ScoringPolicy.from_mapping({"forward_points": 1, "credit": {"scale": 0.0}, "mutation_penalty": 0.5})
    s = score({"W": D("scale")}, forward=D("correct", "forward"), policy=policy)
    assert s.forward is not None and s.forward.points == 1.0
    assert s.score == 1.0 and s.max_score == 2.0
    assert policy.credit["sign"] == DEFAULT_CREDIT["sign"]


def test_deterministic():
    diags = {"W1": D("partial", fraction_correct=1 / 3), "W2": D("sign")}
    assert score(diags) == score(diags)
    assert parameter_points(D("partial", fraction_correct=1 / 3), 1.0) == 0.166667


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"points": {"W": -1}}, "points"),
        ({"credit": {"bogus": 0.5}}, "bogus"),
        ({"credit": {"sign": 1.5}}, "credit"),
        ({"mutation_penalty": 2}, "mutation_penalty=2"),
        ({"default_points": float("nan")}, "default_points"),
    ],
)
def test_policy_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ScoringPolicy(**kwargs)


def test_from_mapping_rejects_unknown_options_and_bad_behaviour():
    with pytest.raises(ValueError, match="bonus"):
        ScoringPolicy.from_mapping({"bonus": 1})
    with pytest.raises(ValueError, match="code='sign'"):
        score({"W": D("correct")}, behaviour=[D("sign")])
