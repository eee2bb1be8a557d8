"""The pytest plugin, driven through pytester (the plugin loads via its pytest11 entry point)."""
from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

GOOD = """
import numpy as np, pytest, reference_models

model = reference_models.get("xor_2layer")

def point():
    rng = np.random.default_rng(0)
    p = model.init_params(rng)
    x, y = model.notebook_data()
    return p, x, y

def test_correct(assert_gradients):
    p, x, y = point()
    result = assert_gradients(model, p, x, y)
    assert result.mode == {mode!r}

@pytest.mark.gradcheck(mode="fast", seed=7)
def test_marker(assert_gradients):
    p, x, y = point()
    result = assert_gradients(model, p, x, y)
    assert (result.mode, result.seed) == ("fast", 7)
"""

BAD = """
import numpy as np, reference_models

def test_sign_error(assert_gradients):
    model = reference_models.get("xor_2layer")
    p = model.init_params(np.random.default_rng(0))
    x, y = model.notebook_data()
    g = model.backward(p, x, y)
    g["W2"] = -g["W2"]
    assert_gradients(model, p, x, y, grads=g)
"""


def test_options_are_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    result.stdout.fnmatch_lines(["*--gradcheck-mode*", "*--gradcheck-submission*", "*--gradcheck-model*"])


def test_marker_is_registered(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradcheck(*"])


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_fixture_uses_command_line_mode_and_marker(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(GOOD.format(mode=mode))
    result = pytester.runpytest(f"--gradcheck-mode={mode}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_failure_message_names_parameter_and_tolerance(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(BAD)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*Gradient check of xor_2layer: FAILED (full mode, seed 0, 4 samples)*", "*W2 (3, 1): MISMATCH*", "*Tolerance: |analytic - numeric| <=*",
                                 "*Mismatched entries: 3 / 3*"])
    out = result.stdout.str()
    assert "W2[2, 0]: analytic -4.25395219e-02  numeric  4.25395219e-02" in out  # worst index, both values
    assert "W1 (2, 3)" not in result.stdout.str()  # only failing parameters are shown


def test_submission_without_model_is_a_usage_error(pytester: pytest.Pytester) -> None:
    sub = pytester.makepyfile(student="def backward(params, x, y):\n    return {}\n")
    result = pytester.runpytest(f"--gradcheck-submission={sub}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--gradcheck-submission needs --gradcheck-model*"])


def test_missing_submission_file_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--gradcheck-submission=nope.py", "--gradcheck-model=xor_2layer")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*'nope.py': no such file*"])
