"""A gradient computed numerically gets ``finite_difference`` whatever its accuracy (red team rt16 F7).

The values of a complex-step derivative (exact to rounding) or of a 5-point
stencil with Richardson extrapolation (~1e-12) pass as backpropagation; the
work does not: the sandbox counts, during each call of backward, the calls
of the submission's own forward and the complex values its functions
return or hold.  The expected counts below are worked out from each
submission's loops (P = 13 parameters for xor_2layer: W1 2x3, b1 1x3, W2
3x1, b2 1x1), not read from the grader.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import reference_models

from gradcheck.grading.assignment import Limits
from gradcheck.grading.pipeline import grade_submission
from gradcheck.grading.sandbox import Sandbox

CORPUS = Path(__file__).parent / "submissions"
LIMITS = Limits(wall_seconds=5, cpu_seconds=4, memory_bytes=512 << 20, load_seconds=10)
P = 13

HEADER = """import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])
def loss(params, x, y):
    return np.mean((forward(params, x) - y) ** 2)
"""

#: rt16's plain central differences (h = 1e-5), moving the caller's arrays in place: 2 P calls.
CENTRAL = HEADER + """
def backward(params, x, y):
    g = {}
    for k, v in params.items():
        gk = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            old = v[i]; v[i] = old + 1e-5; fp = loss(params, x, y); v[i] = old - 1e-5; fm = loss(params, x, y); v[i] = old
            gk[i] = (fp - fm) / 2e-5
        g[k] = gk
    return g
"""

#: An honest backward that runs the forward three times (activations, a loss to print, a check).
THRICE = HEADER + """
def backward(params, x, y):
    a2 = forward(params, x)
    assert loss(params, x, y) >= 0 and forward(params, x).shape == a2.shape
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}
"""

#: An honest backward that runs the forward once per sample (a beginner's loop over the batch).
PER_SAMPLE = HEADER + """
def backward(params, x, y):
    g = {k: np.zeros_like(v) for k, v in params.items()}
    for i in range(len(x)):
        xi, yi = x[i:i + 1], y[i:i + 1]
        a2 = forward(params, xi)
        a1 = sigmoid(xi @ params["W1"] + params["b1"])
        dz2 = 2 * (a2 - yi) / y.size * a2 * (1 - a2)
        dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
        for k, v in (("W1", xi.T @ dz1), ("b1", dz1), ("W2", a1.T @ dz2), ("b2", dz2)):
            g[k] += v
    return g
"""

#: Hiding the count: the profiler switched off before a numerical gradient.
SWITCHED_OFF = HEADER + """
import sys
def backward(params, x, y):
    sys.setprofile(None)
    return {k: np.zeros_like(v) for k, v in params.items()}
"""


def point(n: int = 5):
    m = reference_models.get("xor_2layer")
    rng = np.random.default_rng(0)
    p = m.init_params(rng)
    x, y = m.example_batch(rng, n)
    return p, x, y


def counts(path: Path) -> dict:
    p, x, y = point()
    with Sandbox(path, limits=LIMITS) as box:
        r = box.call(p, x, y)
    assert r.status == "ok", r.message
    return r.evaluations


@pytest.mark.parametrize(
    ("name", "forward_calls", "complex_seen"),
    [
        ("xor_2layer__finite_difference__counted_complex_step.py", P, True),  # one loss per parameter
        ("xor_2layer__finite_difference__counted_richardson_5point.py", 8 * P, False),  # 4 points at 2 steps
        ("xor_2layer__finite_difference__counted_complex_step_inlined.py", 0, True),  # forward never called
        ("xor_2layer__correct__dict.py", 0, False),
        ("xor_2layer__correct__forward_and_loss_inside_backward.py", 2, False),  # forward, and loss -> forward
        ("xor_2layer__correct__entrywise_loops_with_helpers.py", 1, False),
    ],
)
def test_the_sandbox_counts_what_backward_ran(name: str, forward_calls: int, complex_seen: bool) -> None:
    ev = counts(CORPUS / name)
    assert ev["forward_calls"] == forward_calls, ev
    assert (ev["complex_values"] > 0) == complex_seen, ev
    assert ev["profiler_removed"] is False


def test_central_differences_are_counted_too(tmp_path: Path) -> None:
    path = tmp_path / "central.py"
    path.write_text(CENTRAL)
    assert counts(path)["forward_calls"] == 2 * P


def grade(path: Path, lang: str = "en"):
    return grade_submission(path, "xor_2layer", seed=0, limits=LIMITS, lang=lang)


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_a_numerical_gradient_earns_nothing_and_is_told_what_was_seen(lang: str) -> None:
    r = grade(CORPUS / "xor_2layer__finite_difference__counted_richardson_5point.py", lang)
    assert r.score == 0 and r.verdict == "ok", r
    assert [p.diagnosis for p in r.parameters] == ["finite_difference"] * 4
    assert r.counterexample is None  # the values are right: no smaller input shows anything
    message = r.parameters[0].message
    # 8 P = 104 forward calls in every call of backward, whatever the batch
    if lang == "ko":
        assert "forward이(가) 104번" in message and "매개변수 13개" in message and "수치 미분" in message, message
    else:
        assert message.startswith("W1 was computed numerically, not by backpropagation: one call of backward ran forward on the batch 104 times "
                                  "for 13 parameters"), message


def test_central_differences_keep_the_diagnosis_their_values_give(tmp_path: Path) -> None:
    # h = 1e-5: the values already show it (relative error ~1e-10), with a counterexample
    path = tmp_path / "central.py"
    path.write_text(CENTRAL)
    r = grade(path)
    assert r.score == 0 and all(p.diagnosis == "finite_difference" for p in r.parameters), r
    assert "agrees with a finite-difference estimate" in r.parameters[0].message
    assert r.counterexample is not None


def test_the_complex_step_message_names_complex_numbers(tmp_path: Path) -> None:
    r = grade(CORPUS / "xor_2layer__finite_difference__counted_complex_step_inlined.py")
    assert r.score == 0 and all(p.diagnosis == "finite_difference" for p in r.parameters)
    assert "complex-step derivative" in r.parameters[0].message, r.parameters[0].message


def test_three_forward_calls_in_an_honest_backward_are_not_numerical(tmp_path: Path) -> None:
    path = tmp_path / "thrice.py"
    path.write_text(THRICE)
    assert counts(path)["forward_calls"] == 3
    r = grade(path)
    assert r.score == r.max_score and r.diagnoses == ("correct",), r


def test_a_forward_per_sample_counts_as_one_run_on_the_batch(tmp_path: Path) -> None:
    # 20 samples: 20 calls of forward, more than max(8, 13 / 2) = 8, yet one pass over the batch
    path = tmp_path / "per_sample.py"
    path.write_text(PER_SAMPLE)
    p, x, y = point(20)
    m = reference_models.get("xor_2layer")
    with Sandbox(path, limits=LIMITS) as box:
        r = box.call(p, x, y)
    assert r.status == "ok" and np.allclose(r.grads["W1"], m.backward(p, x, y)["W1"], rtol=1e-10, atol=1e-13)
    assert r.evaluations["forward_calls"] == 1, r.evaluations
    assert grade(path).score == 4


def test_switching_the_profiler_off_is_noted(tmp_path: Path) -> None:
    path = tmp_path / "off.py"
    path.write_text(SWITCHED_OFF)
    assert counts(path)["profiler_removed"] is True
    r = grade(path)
    assert any("switched off the grader's profiler" in m for m in r.messages), r.messages


#: rt19 F5: chain_2_1_1 (P = 3), honest helpers each running the forward, and the loss printed before and after: 4 calls.
CHAIN_HELPERS = '''import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    return sigmoid(sigmoid(x @ params["w"][:, None]) * params["v"])[..., 0]
def hidden(params, x):
    return sigmoid(x @ params["w"][:, None])[..., 0]
def loss(params, x, y):
    return np.mean(0.5 * (y - forward(params, x)) ** 2)
def delta_out(params, x, y):
    a2 = forward(params, x)
    return -(y - a2) * a2 * (1 - a2) / len(x)
def backward(params, x, y):
    before = loss(params, x, y)
    a1 = hidden(params, x)
    gv = np.sum(delta_out(params, x, y) * a1)
    gw = x.T @ (delta_out(params, x, y) * params["v"] * a1 * (1 - a1))
    print("loss", before, loss(params, x, y))
    return {"w": gw, "v": np.reshape(gv, np.shape(params["v"]))}
'''

#: rt19 F5: xor_1layer (P = 3), the analytic gradient returned after the central-difference check taught in class: 1 + 2 P = 7 calls.
XOR1_HEADER = '''import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    return sigmoid(x @ params["W1"] + params["b1"])
def loss(p, x, y):
    return np.mean((y - forward(p, x)) ** 2)
'''
XOR1_SELF_CHECK = XOR1_HEADER + '''
def backward(params, x, y):
    a1 = forward(params, x)
    dz = 2 * (a1 - y) / len(x) * a1 * (1 - a1)
    g = {"W1": x.T @ dz, "b1": dz.sum(0).reshape(params["b1"].shape)}
    for k in params:
        for i in np.ndindex(params[k].shape):
            p = {kk: vv.copy() for kk, vv in params.items()}
            p[k][i] += 1e-5; lp = loss(p, x, y); p[k][i] -= 2e-5; lm = loss(p, x, y)
            print(k, i, (lp - lm) / 2e-5 - g[k][i])
    return g
'''

#: A 4-point stencil at h = 2e-3: its error (~h**4) is below the values' 1e-11 and its rounding small; only 4 P = 12 calls show it.
XOR1_C4 = XOR1_HEADER + '''
def backward(params, x, y):
    g = {}
    for k, v in params.items():
        gk = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            f = []
            for s in (-2, -1, 1, 2):
                p = {kk: vv.copy() for kk, vv in params.items()}
                p[k][i] += s * 2e-3
                f.append(loss(p, x, y))
            gk[i] = (f[0] - 8 * f[1] + 8 * f[2] - f[3]) / (12 * 2e-3)
        g[k] = gk
    return g
'''


@pytest.mark.parametrize(("model", "source", "calls"), [("chain_2_1_1", CHAIN_HELPERS, 4), ("xor_1layer", XOR1_SELF_CHECK, 7)])
def test_a_few_extra_forward_calls_on_a_three_parameter_net_are_not_numerical(tmp_path: Path, model: str, source: str,
                                                                               calls: int) -> None:
    # rt19 F5: max(4, P/2) = 4 called these honest backwards numerical (0 points); their gradients are exact
    path = tmp_path / "honest.py"
    path.write_text(source)
    r = grade_submission(path, model, seed=0, limits=LIMITS)
    assert r.diagnoses == ("correct",) and r.score == r.max_score, r.parameters


def test_a_four_point_stencil_through_forward_on_a_three_parameter_net_is_still_counted(tmp_path: Path) -> None:
    path = tmp_path / "c4.py"
    path.write_text(XOR1_C4)
    r = grade_submission(path, "xor_1layer", seed=0, limits=LIMITS)
    assert r.score == 0 and all(p.diagnosis == "finite_difference" for p in r.parameters), r.parameters
    assert "ran forward on the batch 12 times for 3 parameters" in r.parameters[0].message, r.parameters[0].message


#: rt20 F1: the template's exact xor_2layer backward, plus 8 "debug" calls of forward (/work/rt20/classF/fwd/fwdcalls8).
XOR2_EXACT = '''
def backward(params, x, y):
    N = x.shape[0]
    z1 = x @ params["W1"] + params["b1"]; a1 = sigmoid(z1); a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    d2 = 2 * (a2 - y) / N * a2 * (1 - a2)
    d1 = (d2 @ params["W2"].T) * a1 * (1 - a1)
    g = {"W1": x.T @ d1, "b1": d1.sum(0, keepdims=True), "W2": a1.T @ d2, "b2": d2.sum(0, keepdims=True)}
'''
FWDCALLS8 = HEADER + XOR2_EXACT.replace("    N = x.shape[0]", "    for _ in range(8):\n        forward(params, x)  # debug\n    N = x.shape[0]") + """
    return g
"""

#: rt20 F1: the lab sheet's central-difference check left in, on one entry of each of the 4 tensors (8 forward calls), printed.
GRADCHECK_LEFT = HEADER + XOR2_EXACT + """
    for k in ("W1", "b1", "W2", "b2"):
        p = {a: b.copy() for a, b in params.items()}
        p[k][0, 0] += 1e-5; lp = loss(p, x, y); p[k][0, 0] -= 2e-5; lm = loss(p, x, y)
        print(k, "numeric", (lp - lm) / 2e-5, "analytic", g[k][0, 0])
    return g
"""

#: The same exact gradient off by 1e-8 of its largest entry (a near miss) ...
NEAR = XOR2_EXACT + """
    return {k: v + 1e-8 * max(abs(u).max() for u in g.values()) for k, v in g.items()}
"""


@pytest.mark.parametrize("source", [FWDCALLS8, GRADCHECK_LEFT], ids=["debug_calls", "gradient_check_left_in"])
def test_exact_gradients_are_not_convicted_by_the_forward_count_alone(tmp_path: Path, source: str) -> None:
    # rt20 F1: 8 forward calls per backward >= max(8, 13 / 2): 0/4 as finite_difference, with exact values
    path = tmp_path / "honest.py"
    path.write_text(source)
    assert counts(path)["forward_calls"] == 8
    r = grade(path)
    assert r.diagnoses == ("correct",) and r.score == r.max_score, r.parameters
    note = [m for m in r.messages if "ran forward on the batch 8 times for 13 parameters" in m]
    assert note and "W1, b1, W2, b2 were graded on their values" in note[0], r.messages


def test_the_forward_count_note_is_translated(tmp_path: Path) -> None:
    path = tmp_path / "honest.py"
    path.write_text(FWDCALLS8)
    r = grade(path, "ko")
    assert r.score == r.max_score and any("forward이(가) 배치에 대해 8번" in m for m in r.messages), r.messages


def test_a_near_miss_with_many_forward_calls_is_still_a_numerical_gradient(tmp_path: Path) -> None:
    path = tmp_path / "near.py"
    path.write_text(HEADER + NEAR)
    alone = grade(path)  # values alone never accuse: a near miss of 1e-8 is float32's precision
    assert {p.diagnosis for p in alone.parameters} == {"precision"}, alone.parameters
    path.write_text(HEADER + NEAR.replace("    N = x.shape[0]", "    for _ in range(8):\n        forward(params, x)\n    N = x.shape[0]"))
    r = grade(path)
    assert r.score == 0 and {p.diagnosis for p in r.parameters} == {"finite_difference"}, r.parameters
    assert not any("graded on their values" in m for m in r.messages), r.messages


#: rt26 F7: the central-difference check over every entry (2 P = 26 forward calls), left in after the gradient is computed.
FULL_CHECK = """
    for k, v in params.items():
        num = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            p = {a: b.copy() for a, b in params.items()}
            p[k][i] += 1e-5; lp = loss(p, x, y); p[k][i] -= 2e-5; lm = loss(p, x, y)
            num[i] = (lp - lm) / 2e-5
        print(k, "relative error", np.max(np.abs(num - g[k])) / (np.max(np.abs(num)) + 1e-12))
"""

#: Common slips, each an edit of the exact backward (``old`` -> ``new``; "# slip" is the line after ``g``), its
#: diagnoses and points (1 of 1 for ``correct``, DEFAULT_CREDIT's 1/4 for ``sign`` and ``activation``, 1/2 for
#: ``scale`` and ``shape``).
SLIPS = {
    "sign": ("# slip", "g = {k: -v for k, v in g.items()}", ("sign",), 1.0),
    "missing_1_over_N": ("# slip", "g = {k: N * v for k, v in g.items()}", ("scale",), 2.0),
    "sigmoid_prime_as_a": ("a2 * (1 - a2)", "a2", ("activation",), 1.0),
    "W2_as_a_row": ("# slip", "g['W2'] = g['W2'].reshape(1, -1)", ("correct", "shape"), 3.5),
    "b1_unsummed": ("# slip", "g['b1'] = d1", ("correct", "shape"), 3.5),
    "W1_off": ("# slip", "g['W1'] = g['W1'] + 1.0", ("wrong", "correct"), 3.0),  # no known mistake: wrong, 0 of 1
}


def slipped(slip: str, check: bool) -> str:
    """The exact xor_2layer backward with ``slip`` in it, and the full gradient check left in when ``check``."""
    old, new = SLIPS[slip][:2]
    return (HEADER + XOR2_EXACT + "    # slip\n" + (FULL_CHECK if check else "") + "    return g\n").replace(old, new)


@pytest.mark.parametrize("slip", [s for s in SLIPS if s != "W1_off"])
def test_a_slip_with_a_gradient_check_left_in_keeps_its_diagnosis(tmp_path: Path, slip: str) -> None:
    # rt26 F7: 26 forward calls per backward called every slipped gradient numerical (0 points), though its
    # values are exactly -1x, N x ... the gradient: no finite-difference recipe returns those
    codes, points = SLIPS[slip][2:]
    path = tmp_path / "slip.py"
    path.write_text(slipped(slip, check=True))
    assert counts(path)["forward_calls"] == 2 * P
    r = grade(path)
    assert r.diagnoses == codes and r.score == points, r.parameters
    note = [m for m in r.messages if "ran forward on the batch 26 times for 13 parameters" in m]
    assert note and "W1, b1, W2, b2 were graded on their values" in note[0], r.messages
    path.write_text(slipped(slip, check=False))  # the same grade as without the check
    alone = grade(path)
    assert (alone.diagnoses, alone.score) == (r.diagnoses, r.score)


def test_a_slip_with_a_gradient_check_left_in_is_not_accused_in_korean(tmp_path: Path) -> None:
    path = tmp_path / "slip.py"
    path.write_text(slipped("sign", check=True))
    r = grade(path, "ko")
    assert r.diagnoses == ("sign",) and not any("수치 미분으로 계산" in p.message for p in r.parameters), r.parameters


def test_a_far_wrong_gradient_beside_a_gradient_check_left_in_is_wrong_not_numerical(tmp_path: Path) -> None:
    # a wrong gradient (off by O(1), no known mistake) earns nothing: calling it numerical would change no
    # score, only accuse (before: W1 "was computed numerically")
    path = tmp_path / "wrong.py"
    path.write_text(slipped("W1_off", check=True))
    r = grade(path)
    assert r.parameters[0].diagnosis == "wrong" and "numerically" not in r.parameters[0].message, r.parameters[0]
    assert r.diagnoses == SLIPS["W1_off"][2] and r.score == SLIPS["W1_off"][3], r.parameters
    assert any("b1, W2, b2 were graded on their values" in m for m in r.messages), r.messages  # W1: not exact, not said to be


#: A numerical gradient passed off as a slip: the central differences (h = 1e-5) negated, or times N.
CENTRAL_AS_SLIP = {"negated": "{k: -v for k, v in g.items()}", "times_N": "{k: len(x) * v for k, v in g.items()}"}


@pytest.mark.parametrize("disguise", list(CENTRAL_AS_SLIP))
def test_a_numerical_gradient_disguised_as_a_slip_is_still_numerical(tmp_path: Path, disguise: str) -> None:
    # the values fit -g or N g to a finite difference's error (~1e-10 of the largest entry), not exactly:
    # the forward count still convicts every gradient
    path = tmp_path / "cheat.py"
    path.write_text(CENTRAL.replace("    return g\n", f"    return {CENTRAL_AS_SLIP[disguise]}\n"))
    r = grade(path)
    assert r.score == 0 and set(r.diagnoses) == {"finite_difference"}, r.parameters
    assert "ran forward on the batch 26 times" in r.parameters[0].message, r.parameters[0].message


#: rt26 F4: the exact gradients returned as complex128 (zero imaginary parts): only the result was cast.
COMPLEX_CAST = HEADER + XOR2_EXACT + "    return {k: v.astype(complex) for k, v in g.items()}\n"


def test_an_exact_gradient_returned_complex_is_a_type_error_not_the_complex_step(tmp_path: Path) -> None:
    path = tmp_path / "cast.py"
    path.write_text(COMPLEX_CAST)
    p, x, y = point()
    with Sandbox(path, limits=LIMITS) as box:
        call = box.call(p, x, y)
    assert call.status == "type" and call.evaluations["complex_values"] > 0, call  # the sandbox saw the cast's complex arrays
    r = grade(path)
    assert r.score == 0 and r.diagnoses == ("type",), r.parameters
    assert "complex128" in r.parameters[0].message and "numerically" not in r.parameters[0].message, r.parameters[0].message
