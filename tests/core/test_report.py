"""Rendering of results: the text report and the JSON form."""
from __future__ import annotations

import json

import numpy as np
import pytest

import reference_models as rm
from gradcheck import Tolerance, check_model, format_result, to_dict, to_json
from gradcheck.results import CheckResult, ParamCheck


def _strict_loads(text: str):
    def no_constants(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=no_constants)


@pytest.fixture
def xor_point():
    model = rm.get("xor_2layer")
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in model.param_shapes.items()}
    x, y = model.example_batch(rng, 7)
    return model, params, x, y


def test_passing_report(xor_point):
    model, params, x, y = xor_point
    text = format_result(check_model(model, params, x, y, seed=3))
    assert text.startswith("Gradient check of xor_2layer: PASSED (full mode, seed 3, 7 samples)")
    for name, shape in model.param_shapes.items():
        assert f"{name} {tuple(shape)}: OK (full mode)" in text
    assert text.count("Tolerance: |analytic - numeric| <= atol=0 + rtol=1e-08 * |numeric| + k=4 * error_estimate") == 4
    assert "Timings:" in text and "MISMATCH" not in text


def test_failing_report_shows_only_failures_when_asked(xor_point):
    model, params, x, y = xor_point
    g = model.backward(params, x, y)
    g["b1"] = g["b1"].copy()
    g["b1"][0, 1] += 0.5
    r = check_model(model, params, x, y, grads=g)
    full = format_result(r)
    short = format_result(r, only_failures=True)
    assert "FAILED" in full and "b1 (1, 3): MISMATCH" in full and "W1 (2, 3): OK" in full
    assert "b1 (1, 3): MISMATCH" in short and "W1 (2, 3)" not in short
    assert "Mismatched entries: 1 / 3 (33.3%)" in short
    assert "b1[0, 1]: analytic" in short
    assert f"{g['b1'][0, 1]: .8e}" in short  # the analytic value as given


def test_problems_are_printed():
    r = CheckResult(subject="m", mode="full", seed=0, n_samples=2, params=(), tolerance=Tolerance(),
                    problems=("m.loss changed its input x in place",))
    text = format_result(r)
    assert "FAILED" in text and "Problem: m.loss changed its input x in place" in text


def test_to_dict_and_json_round_trip(xor_point):
    model, params, x, y = xor_point
    r = check_model(model, params, x, y, seed=11, tolerance=Tolerance(rtol=1e-7, atol=1e-12, k=3))
    d = to_dict(r)
    text = to_json(r)
    assert "NaN" not in text and "Infinity" not in text
    back = _strict_loads(text)
    assert back == json.loads(json.dumps(d))
    assert back["seed"] == 11 and back["mode"] == "full" and back["passed"] is True
    assert back["subject"] == "xor_2layer" and back["n_samples"] == 7
    assert [p["name"] for p in back["params"]] == list(model.param_shapes)
    for p in back["params"]:
        assert p["tolerance"] == {"rtol": 1e-7, "atol": 1e-12, "k": 3}
        assert p["tolerance_terms"] == "atol=1e-12 + rtol=1e-07 * |numeric| + k=3 * error_estimate"
        assert p["passed"] is True and p["n_failed"] == 0
        assert all(set(e) >= {"index", "analytic", "numeric", "error_estimate", "allowed"} for e in p["worst"])


def test_nan_becomes_the_string_nan():
    pc = ParamCheck(name="w", shape=(2,), mode="full", passed=False, n_entries=2, n_failed=1, n_kinks=0,
                    n_refined=2, max_abs_err=float("nan"), max_rel_err=float("nan"), worst=(),
                    failed_indices=((1,),), tolerance=Tolerance())
    r = CheckResult(subject="f", mode="full", seed=None, n_samples=None, params=(pc,), tolerance=Tolerance())
    back = _strict_loads(to_json(r))
    # one policy for every JSON gradcheck writes (gradcheck.jsonsafe): non-finite floats as strings
    assert back["params"][0]["max_abs_err"] == "nan" and back["params"][0]["max_rel_err"] == "nan"
    assert back["params"][0]["failed_indices"] == [[1]]
    assert back["passed"] is False


def test_json_keyword_arguments_pass_through(xor_point):
    model, params, x, y = xor_point
    text = to_json(check_model(model, params, x, y), indent=2)
    assert text.startswith("{\n  ")


@pytest.mark.parametrize("probes", [4, 6])
def test_fast_report_mentions_probes_and_miss_probability(probes):
    model = rm.get("mnist_relu", n_in=12, hidden=7, n_out=4)  # W1: 84 entries, checked by probes
    rng = np.random.default_rng(1)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    r = check_model(model, params, x, y, mode="fast", probes=probes, seed=5)
    text = format_result(r)
    assert "Gradient check of mnist_relu: PASSED (fast mode, seed 5, 5 samples)" in text
    assert "W1 (12, 7): OK (fast mode)" in text
    assert f"Mismatched probes: 0 / {probes} (directional derivatives)" in text
    assert "Max absolute difference over probes (directional-derivative units):" in text
    assert f"{probes} random probes (seeded)" in text
    g = r["W1"].guarantee
    assert len(g.thresholds) == probes and g.n_entries == 84
    chance = g.escape_probability(10.0)
    if chance >= 1:  # said in words
        assert f"the {probes} counted probes promise nothing for one entry off by 10x" in text
    else:
        said = "0" if chance == 0 else f"at most {chance:.2g}"
        assert f"escapes all {probes} counted probes with probability {said};" in text
    assert any(f"{probes} random probes" in n for n in to_dict(r)["params"][0]["notes"])
    # entry-unit lines never appear in a fast block: its probe lines say their unit
    block = text.split("W1 (12, 7)")[1].split("W2 (")[0]
    assert "Mismatched entries" not in block and "Max absolute difference:" not in block


def test_fast_report_of_a_failure_names_the_probe_and_the_localised_entry():
    model = rm.get("mnist_relu", n_in=12, hidden=7, n_out=4)
    rng = np.random.default_rng(2)
    params = model.init_params(rng)
    x, y = model.example_batch(rng, 5)
    g = model.backward(params, x, y)
    g["W1"] = g["W1"].copy()
    i, j = np.unravel_index(np.argmax(np.abs(g["W1"])), g["W1"].shape)
    g["W1"][i, j] *= 1.5
    text = format_result(check_model(model, params, x, y, grads=g, mode="fast"), only_failures=True)
    assert "W1 (12, 7): MISMATCH (fast mode)" in text
    assert "failed: directional analytic" in text and "bisection localised 1 wrong entries" in text
    assert "Localised wrong entries (entry units):" in text
    assert f"W1[{i}, {j}]: analytic" in text


def test_json_safe_policy_keeps_nan_and_the_sign_of_infinity():
    from gradcheck.diagnose import GradientCode
    from gradcheck.jsonsafe import json_safe

    value = {"a": np.array([np.inf, -np.inf, np.nan]), 3: (np.float32(0.5), GradientCode.SIGN, None), "o": object}
    safe = json_safe(value)
    assert safe == {"a": ["inf", "-inf", "nan"], "3": [0.5, "sign", None], "o": repr(object)}
    assert [float(v) for v in safe["a"][:2]] == [np.inf, -np.inf]
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe


def _entry_block(worst, n_failed):
    from gradcheck.report import format_param
    p = ParamCheck(name="W", shape=(2,), mode="full", passed=n_failed == 0, n_entries=2, n_failed=n_failed, n_kinks=1,
                   n_refined=2, max_abs_err=0.3, max_rel_err=1.0, worst=tuple(worst), failed_indices=((0,),) * n_failed,
                   tolerance=Tolerance())
    return format_param(p)


def test_a_kink_entry_shows_the_bracket_that_judged_it_and_a_negative_zero_prints_as_zero():
    from gradcheck.results import EntryReport
    kink = EntryReport(index=(0,), analytic=-0.0, numeric=0.345, error_estimate=2e-8, allowed=1.6e-7, abs_err=0.345,
                       rel_err=1.0, kink=True, lower=0.25, upper=0.44)
    smooth = EntryReport(index=(1,), analytic=1.0, numeric=1.0, error_estimate=1e-9, allowed=4e-9, abs_err=0.0, rel_err=0.0)
    text = _entry_block([kink, smooth], n_failed=1)
    line = next(s for s in text.splitlines() if s.startswith("  W[0]"))
    assert "analytic  0.00000000e+00" in line and "-0.0" not in line
    # the bracket and its margin decide a kink, not |diff| against an allowance of the central value
    assert "judged by its one-sided bracket [ 2.50000000e-01,  4.40000000e-01] +- 1.600e-07" in line
    assert "allowed" not in line
    # a passing entry after the failing one: the heading does not call it a mismatch
    assert "Worst entries (the 1 mismatched first):" in text and "Worst mismatches" not in text
    assert "Worst mismatches:" in _entry_block([kink], n_failed=1)


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_the_relative_difference_says_how_it_is_computed(mode):
    # f(w) = 2 sum(w) with every analytic entry 3: |3 - 2| / max(3, 2) = 1/3, not 1/2 (relative to the
    # numeric); a probe v sees 3 sum(v) against 2 sum(v): 1/3 too.  500 entries: fast mode probes them.
    from gradcheck import check_gradients
    w = np.linspace(-1.0, 1.0, 500)
    r = check_gradients(lambda q: float(2.0 * q["w"].sum()), {"w": np.full(500, 3.0)}, {"w": w}, mode=mode)
    over = " over probes" if mode == "fast" else ""
    line = next(t for t in format_result(r).splitlines() if t.startswith(f"Max relative difference{over}:"))
    assert line.endswith("(|analytic - numeric| / max(|analytic|, |numeric|))"), line
    # the number: 1/3 within the estimate's relative error (round-off, 1e-9 of the slope here)
    assert float(line.split(":")[1].split()[0]) == pytest.approx(1.0 / 3.0, rel=1e-5)
