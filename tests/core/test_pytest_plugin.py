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


# -- submissions as test items ---------------------------------------------------------------

CORPUS = __import__("pathlib").Path(__file__).parents[1] / "grading" / "submissions"


def test_correct_submission_gives_one_passing_item_per_parameter(pytester: pytest.Pytester) -> None:
    # a project test that would fail if it were collected: grading a submission collects nothing else
    pytester.makepyfile(test_unrelated="def test_project_own():\n    assert 1 + 1 == 3\n")
    sub = CORPUS / "xor_2layer__correct__dict.py"
    result = pytester.runpytest(f"--gradcheck-submission={sub}", "--gradcheck-model=xor_2layer", "-v",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=5)  # run, W1, b1, W2, b2; the failing project test is not collected
    result.stdout.fnmatch_lines(["*xor_2layer__correct__dict.py::run PASSED*", "*::W1 PASSED*", "*::b2 PASSED*"])


def test_buggy_submission_fails_the_parameter_with_the_diagnosis(pytester: pytest.Pytester) -> None:
    buggy = pytester.path / "student.py"
    buggy.write_text(_sign_bug())  # xor_2layer with dW2 negated
    result = pytester.runpytest(f"--gradcheck-submission={buggy}", "--gradcheck-model=xor_2layer",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    result.stdout.fnmatch_lines(["*W2: sign:*"])


def test_hostile_submission_fails_the_run_item_and_the_parameters(pytester: pytest.Pytester) -> None:
    sub = CORPUS / "xor_2layer__syntax__hostile_syntax_error.py"
    result = pytester.runpytest(f"--gradcheck-submission={sub}", "--gradcheck-model=xor_2layer",
                                "-p", "no:cacheprovider")
    result.assert_outcomes(failed=5)
    result.stdout.fnmatch_lines(["*_ run _*", "syntax: The submission does not compile*line 5*"])


def _sign_bug() -> str:
    return '''
import numpy as np

def sigmoid(z):
    return 1 / (1 + np.exp(-z))

def backward(params, x, y):
    z1 = x @ params["W1"] + params["b1"]
    a1 = sigmoid(z1)
    z2 = a1 @ params["W2"] + params["b2"]
    a2 = sigmoid(z2)
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = dz2 @ params["W2"].T * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(axis=0, keepdims=True),
            "W2": -(a1.T @ dz2), "b2": dz2.sum(axis=0, keepdims=True)}
'''


EVERY_KIND = """
import numpy as np, pytest

def affine_forward(x, w, b):
    return x @ w + b, (x, w, b)

def affine_backward(dout, cache):
    x, w, b = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)

class Affine:
    def __init__(self, W, b):
        self.W, self.b = W, b
    def forward(self, x):
        self.x = x
        return x @ self.W + self.b
    def backward(self, dout):
        self.dW, self.db = self.x.T @ dout, dout.sum(axis=0)
        return dout @ self.W.T

class Net:
    def __init__(self):
        self.params = {{"W": np.array([[0.5, -1.0], [2.0, 0.25]])}}
    def loss(self, x, t):
        return float(np.sum((x @ self.params["W"] - t) ** 2))
    def gradient(self, x, t):
        return {{"W": {net_factor} * x.T @ (x @ self.params["W"] - t)}}

RNG = np.random.default_rng(3)
X, W, B = RNG.normal(size=(4, 2)), RNG.normal(size=(2, 3)), RNG.normal(size=3)

def test_function(assert_gradients):
    f = lambda p: float(np.sum(p["w"] ** 3))
    r = assert_gradients.function(f, {{"w": {f_factor} * X ** 2}}, {{"w": X}})
    assert r.mode == {mode!r}

def test_layer(assert_gradients):
    backward = affine_backward if {layer_ok} else (lambda d, c: (d @ c[1].T, c[0].T @ d, d.mean(axis=0)))
    assert assert_gradients.layer(affine_forward, backward, {{"x": X, "w": W, "b": B}}).mode == {mode!r}

def test_layer_object(assert_gradients):
    assert assert_gradients.layer(Affine(W.copy(), B.copy()), {{"x": X}}).passed

def test_net(assert_gradients):
    assert assert_gradients.net(Net(), X, RNG.normal(size=(4, 2))).mode == {mode!r}
"""


@pytest.mark.parametrize("mode", ["full", "fast"])
def test_fixture_checks_functions_layers_and_nets_in_the_session_mode(pytester: pytest.Pytester, mode: str) -> None:
    pytester.makepyfile(EVERY_KIND.format(mode=mode, f_factor=3, layer_ok=True, net_factor=2))
    result = pytester.runpytest(f"--gradcheck-mode={mode}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_fixture_fails_planted_bugs_in_functions_layers_and_nets(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(EVERY_KIND.format(mode="full", f_factor=-3, layer_ok=False, net_factor=1))
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*Diagnosis (sign): w has the wrong sign*", "*b (3,): MISMATCH*",
                                 "*Diagnosis (scale): W is the exact gradient times 0.5*"])


# -- usage errors and hypothesis (rt18 F7, F8, F9) --------------------------------------------

AFFINE = """
import numpy as np, pytest

def forward(x, w):
    return x @ w, (x, w)

def backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout

X = {"x": np.array([[0.3, -1.2], [0.5, 2.0]]), "w": np.array([[1.0, 0.5], [-0.25, 2.0]])}
"""


def test_positional_marker_argument_is_a_usage_error_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(AFFINE + """
@pytest.mark.gradcheck("fast")
def test_positional(assert_gradients):
    assert assert_gradients.layer(forward, backward, X).mode == "fast"
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # never a silent full-mode run
    result.stdout.fnmatch_lines(["*UsageError: @pytest.mark.gradcheck takes keyword arguments only, got the "
                                 "positional argument(s) 'fast'*mode='fast'*accepted keywords: *mode*seed*tolerance*"])


def test_marker_help_says_keywords_only(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.gradcheck([*], mode=None, seed=None, [*][*]options)*keywords only*"])


@pytest.mark.parametrize(("option", "expected"), [
    ("--gradcheck-seed=-1", "*--gradcheck-seed=-1: expected an integer >= 0*"),
    ("--gradcheck-model=nope", "*--gradcheck-model='nope': expected one of [[]*xor_2layer*"),
    ("--gradcheck-assignment=nope.toml", "*--gradcheck-assignment='nope.toml': expected an assignment TOML file*"),
])
def test_bad_option_values_are_usage_errors_at_startup(pytester: pytest.Pytester, option: str, expected: str) -> None:
    pytester.makepyfile("def test_never_runs():\n    raise AssertionError('collected despite a bad option')\n")
    result = pytester.runpytest(option, "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_fixture_works_inside_given_without_suppressing_a_health_check(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(AFFINE + """
from hypothesis import given, settings
from gradcheck.strategies import arrays_for_shapes

@pytest.mark.gradcheck(mode="fast", seed=5)
@settings(max_examples=3, deadline=None)
@given(scale=__import__("hypothesis").strategies.floats(0.5, 2.0))
def test_given(assert_gradients, scale):
    r = assert_gradients.layer(forward, backward, {k: v * scale for k, v in X.items()})
    assert (r.mode, r.seed) == ("fast", 5)  # the running test's marker, read at the call

def test_next_test_gets_its_own_options(assert_gradients):
    r = assert_gradients.layer(forward, backward, X)
    assert (r.mode, r.seed) == ("full", 0)
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_readme_own_tests_snippet_passes_under_pytest(pytester: pytest.Pytester) -> None:
    # the documented form, run by pytest with the plugin and hypothesis' own plugin (health checks on)
    readme = (__import__("pathlib").Path(__file__).parents[2] / "README.md").read_text()
    section = readme.split("### In your own tests", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    pytester.makepyfile(test_readme_snippet=snippet)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_misspelt_marker_keyword_is_a_usage_error_with_its_close_match(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(AFFINE + """
@pytest.mark.gradcheck(mod="fast")
def test_typo(assert_gradients):
    assert_gradients.layer(forward, backward, X)
""")
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*UsageError: @pytest.mark.gradcheck got the unknown keyword mod='fast'*"
                                 "(did you mean mode?); accepted keywords: *mode*seed*tolerance*"])
