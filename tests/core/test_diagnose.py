"""Tests of gradcheck.diagnose and gradcheck.mistakes.

Expected gradients come from the reference models' own ``backward`` or from
backward passes written out by hand below, never from the code under test.
"""
from __future__ import annotations

import re
import string

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import reference_models
from gradcheck.diagnose import CODES, Diagnosis, diagnose, diagnose_parameter, runtime_diagnosis
from gradcheck.estimate import NumericGradient
from gradcheck.lossfacts import LossFacts
from gradcheck import messages as i18n
from gradcheck.mistakes import backprop_with, known_mistakes, mistake_gradients, register_mistake

HANGUL = re.compile("[\uac00-\ud7a3]")


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _point(name, n=5, seed=3, **options):
    m = reference_models.get(name, **options)
    rng = np.random.default_rng(seed)
    p = m.init_params(rng)
    p = {k: v + 0.3 * rng.standard_normal(v.shape) for k, v in p.items()}  # no zero biases
    x, y = m.example_batch(rng, n)
    return m, p, x, y, m.backward(p, x, y)


def codes(d):
    return {k: v.code for k, v in d.items()}


# -- correct and near misses -----------------------------------------------------


def test_exact_copy_with_rounding_noise_is_correct():
    m, p, x, y, r = _point("xor_3layer")
    rng = np.random.default_rng(0)
    s = {k: v * (1 + 1e-13 * rng.standard_normal(v.shape)) for k, v in r.items()}
    assert set(codes(diagnose(s, r)).values()) == {"correct"}


def test_relative_error_1e7_is_not_correct():
    m, p, x, y, r = _point("xor_2layer")
    s = {k: v * (1 + 1e-7) for k, v in r.items()}
    s["W1"] = r["W1"] + 1e-7 * np.max(np.abs(r["W1"])) * np.array([[1, -1, 1], [-1, 1, -1]])
    d = diagnose(s, r, batch_size=len(x))
    assert d["W1"].code == "finite_difference"
    assert "correct" not in codes(d).values()


def test_student_finite_differences_are_recognised():
    # a coarse step (relative error ~1e-6 here); at the optimal step (~6e-6)
    # a central difference is as good as backprop to 1e-9 and is accepted
    m, p, x, y, r = _point("study_2layer")
    h = 1e-3
    s = {}
    for k, v in p.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            up = {**p, k: v.copy()}
            dn = {**p, k: v.copy()}
            up[k][i] += h
            dn[k][i] -= h
            g[i] = (m.loss(up, x, y) - m.loss(dn, x, y)) / (2 * h)
        s[k] = g
    d = diagnose(s, r)
    assert codes(d) == {"W1": "finite_difference", "W2": "finite_difference"}
    assert 1e-9 < d["W1"].detail["rel_error"] < 1e-3


def test_float32_is_precision():
    m, p, x, y, r = _point("xor_2layer")
    d32 = diagnose({k: v.astype(np.float32) for k, v in r.items()}, r)
    assert set(codes(d32).values()) == {"precision"}
    d64 = diagnose({k: v.astype(np.float32).astype(np.float64) for k, v in r.items()}, r)
    assert set(codes(d64).values()) == {"precision"}
    assert not d32["W1"].passed  # float32 arithmetic is a finding (partial credit, see scoring)


def test_kink_value_between_one_sided_quotients_is_correct():
    r = np.array([[0.5, -1.0], [2.0, 0.25]])
    s = r.copy()
    s[0, 1] = -0.3  # not the reference's choice, but a subgradient
    z = np.zeros_like(r)
    kink = np.zeros(r.shape, dtype=bool)
    kink[0, 1] = True
    lower, upper = r.copy(), r.copy()
    lower[0, 1], upper[0, 1] = -1.0, 0.0
    ng = NumericGradient("W", r.copy(), z + 1e-10, z + 1e-5, lower, upper, kink)
    d = diagnose_parameter("W", s, r, numeric=ng)
    assert d.code == "correct" and d.detail["n_kinks"] == 1
    s[0, 1] = 0.4  # outside the bracket
    assert diagnose_parameter("W", s, r, numeric=ng).code != "correct"
    assert diagnose_parameter("W", r.copy(), r, numeric=None).code == "correct"
    s[0, 1] = -0.3
    assert diagnose_parameter("W", s, r).code != "correct"  # no kink information: refused


# -- sign, scale, transpose, swapped --------------------------------------------------


def test_sign():
    m, p, x, y, r = _point("onehot_222")
    d = diagnose({k: -v for k, v in r.items()}, r)
    assert set(codes(d).values()) == {"sign"}
    assert "wrong sign" in d["W2"].message


#: xor_2layer's loss as measured (tests/grading/test_messages_causes.py): a mean of squares with no 1/2.
MSE = LossFacts("mean", False)


def test_notebook_000_quirk_is_scale_n_over_2():
    m, p, x, y, r = _point("xor_2layer", n=5)
    d = diagnose(m.notebook_gradient(p, x, y), r, batch_size=5, loss=MSE)
    assert set(codes(d).values()) == {"scale"}
    assert d["W2"].detail["factor_names"] == ["N/2"]
    assert abs(d["W2"].detail["factor"] - 2.5) < 1e-9
    assert "2/N" in d["W2"].message and "2.5" in d["W2"].message


def test_notebook_000_with_four_samples_names_the_cause_the_loss_has():
    m = reference_models.get("xor_2layer")
    p = m.init_params(np.random.RandomState(42))
    x, y = m.notebook_data()
    d = diagnose(m.notebook_gradient(p, x, y), m.backward(p, x, y), batch_size=4, loss=MSE)
    assert d["W1"].detail["factor_names"] == ["2", "N/2"]
    # at N = 4 the factor 2 is also N/2; the loss is a mean of squares without a 1/2, so only the 2/N of the mean
    # squared error can be missing ("the factor 1/2 of the loss was lost" blames a 1/2 this loss has not)
    message = d["W1"].message
    assert "2/N of the mean squared error" in message and "1/2 of the loss" not in message
    assert "2/N" in d["W1"].in_language("ko").message


def test_two_causes_the_loss_allows_are_both_named():
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05]])
    # at N = 2, times 2 is also times N: a mean of half squares has both a 1/2 and a 1/N to lose
    d = diagnose_parameter("W", 2 * r, r, batch_size=2, loss=LossFacts("mean", True))
    assert d.detail["cause_keys"] == ["cause.N", "cause.2"]
    assert "the factor 1/2 of the loss was lost" in d.message and "another batch size" in d.message
    assert "또는" in d.in_language("ko").message


def test_a_factor_with_no_loss_known_names_no_cause():
    # red team 16 (F18): an identity layer's backward doubled, checked with check_layer at N = 4, was told
    # "the factor 2/N of the mean squared error is missing"; a dropout backward missing 1/p, "the factor 2 from
    # differentiating the square is missing": there was no square and no mean squared error anywhere
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05], [1.0, 0.2, -0.4], [0.1, 0.9, -2.0]])
    for factor in (2.0, 0.5):
        d = diagnose_parameter("x", factor * r, r, batch_size=4)
        assert (d.code, d.detail["template"]) == ("scale", "scale.unknown")
        assert "cause_key" not in d.detail and "cause_keys" not in d.detail
        for text in (d.message, d.in_language("ko").message):
            assert "N/2" not in text and "2/N" not in text and "square" not in text and "제곱" not in text
        assert f"times {factor:g}, the same factor in every entry" in d.message
    assert "times 4 (= N, N = 4)" in diagnose_parameter("x", 4 * r, r, batch_size=4).message  # the batch's N is a fact


@pytest.mark.parametrize(("factor", "facts"), [(2.0, LossFacts("mean", None)), (0.5, LossFacts("mean", None)),
                                               (2.0, LossFacts("sum", False)), (0.5, LossFacts("sum", True))])
def test_a_cause_is_named_only_when_the_loss_has_its_term(factor, facts):
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05]])
    d = diagnose_parameter("W", factor * r, r, batch_size=3, loss=facts)
    if facts.half is None:  # a cross-entropy: no square, no 1/2 of one
        assert d.detail["template"] == "scale" and "square" not in d.message and "no usual cause" in d.message
    else:
        assert d.detail["template"] == "scale.named" and "square" in d.message


@pytest.mark.parametrize(
    "factor, name",
    [(2.0, "2"), (0.5, "1/2"), (7.0, "N"), (1 / 7, "1/N"), (3.5, "N/2"), (2 / 7, "2/N"), (14.0, "2N"), (1 / 14, "1/(2N)")],
)
def test_named_factors(factor, name):
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05]])
    d = diagnose_parameter("W", factor * r, r, batch_size=7)
    assert d.code == "scale"
    assert d.detail["factor_names"][0] == name


def test_negative_factor_is_scale_with_sign():
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05]])
    d = diagnose_parameter("W", -3.5 * r, r, batch_size=7)
    assert d.code == "scale" and d.detail["negative"] is True
    assert "times -3.5" in d.message
    d = diagnose_parameter("W", -3.5 * r, r, batch_size=7, loss=MSE)  # N/2 named, and the sign
    assert "sign" in d.message and "2/N" in d.message


def test_unnamed_factor_and_single_entry():
    r = np.array([[0.3, -1.2, 0.7]])
    d = diagnose_parameter("W", 3.7 * r, r, batch_size=7)
    assert d.code == "scale" and d.detail["factor_names"] == []
    one = np.array([[0.4]])
    # one number is a multiple of any other: no evidence of a factor
    assert diagnose_parameter("b", np.array([[1.48]]), one, batch_size=7).code == "wrong"
    assert diagnose_parameter("b", np.array([[0.8]]), one, batch_size=7).code == "scale"


def test_scale_needs_a_tight_fit():
    r = np.array([1.0, 2.0, 3.0, 4.0])
    s = 2.0 * r
    s[3] *= 1.01
    assert diagnose_parameter("w", s, r).code != "scale"


def test_transpose_square_and_reshaped():
    m, p, x, y, r = _point("study_3layer")
    d = diagnose({**r, "W2": r["W2"].T}, r)
    assert d["W2"].code == "transpose" and d["W1"].code == "correct"
    d = diagnose({**r, "W1": r["W1"].T}, r)  # (4, 2) for (2, 4)
    assert d["W1"].code == "transpose"
    d = diagnose({**r, "W1": r["W1"].T.reshape(-1)}, r)
    assert d["W1"].code == "transpose" and d["W1"].detail["reshaped_to"] == [8]


def test_swapped_same_and_different_shapes():
    m, p, x, y, r = _point("xor_3layer")
    d = diagnose({**r, "b1": r["b2"], "b2": r["b1"]}, r)
    assert (d["b1"].code, d["b1"].detail["other"]) == ("swapped", "b2")
    assert (d["b2"].code, d["b2"].detail["other"]) == ("swapped", "b1")
    d = diagnose({**r, "W1": r["W3"]}, r)
    assert (d["W1"].code, d["W1"].detail["other"]) == ("swapped", "W3")


# -- known mistakes ------------------------------------------------------------------


def _xor2_sigmoid_prime_of_z(p, x, y):
    """000's network with sigmoid'(z) written as z * (1 - z), by hand."""
    z1 = x @ p["W1"] + p["b1"]
    a1 = _sig(z1)
    z2 = a1 @ p["W2"] + p["b2"]
    a2 = _sig(z2)
    dz2 = 2 * (a2 - y) / len(x) * (z2 * (1 - z2))
    dz1 = dz2 @ p["W2"].T * (z1 * (1 - z1))
    return {"W1": x.T @ dz1, "b1": dz1.sum(0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(0, keepdims=True)}


def _mnist_identity_relu(p, x, t):
    """001's backward with relu2deriv(output) = output >= 0 (always 1), by hand."""
    z1 = x @ p["W1"]
    a1 = np.maximum(z1, 0)
    z2 = a1 @ p["W2"]
    e = np.exp(z2 - z2.max(1, keepdims=True))
    prob = e / e.sum(1, keepdims=True)
    dz2 = (prob - t) / len(x)
    dz1 = dz2 @ p["W2"].T  # no mask
    return {"W1": x.T @ dz1, "W2": a1.T @ dz2}


def test_sigmoid_prime_of_preactivation_is_named():
    m, p, x, y, r = _point("xor_2layer", n=5)
    wrong = _xor2_sigmoid_prime_of_z(p, x, y)
    d = diagnose(wrong, r, batch_size=5, mistakes=mistake_gradients(m, p, x, y))
    assert set(codes(d).values()) == {"activation"}
    assert d["W1"].detail["mistake"] == "sigmoid_prime_of_z"
    assert "z * (1 - z)" in d["W1"].message
    # without the candidates the same arrays are just wrong
    assert "activation" not in codes(diagnose(wrong, r, batch_size=5)).values()


def test_mnist_relu_mask_from_output_is_named():
    m, p, x, y, r = _point("mnist_relu", n=3, n_in=7, hidden=5, n_out=4)
    wrong = _mnist_identity_relu(p, x, y)
    d = diagnose(wrong, r, batch_size=3, mistakes=mistake_gradients(m, p, x, y))
    assert codes(d) == {"W1": "activation", "W2": "correct"}
    assert d["W1"].detail["mistake"] == "relu_mask_output_ge0"


@pytest.mark.parametrize("name", reference_models.names())
def test_generic_backprop_reproduces_every_reference_model(name):
    m, p, x, y, r = _point(name, n=3)
    g = backprop_with(m, p, x, y, derivatives={})
    assert set(g) == set(r)
    for k in r:
        assert np.max(np.abs(g[k] - r[k])) <= 1e-8 * np.max(np.abs(r[k])), k


def test_registering_a_mistake_and_a_failing_generator():
    def broken(model, params, x, y):
        raise RuntimeError("boom")

    def flip_w1(model, params, x, y):
        g = model.backward(params, x, y)
        return {"W1": g["W1"][::-1]}

    register_mistake("study_2layer", "broken_demo", broken, message={"en": "never", "ko": "없음"})
    register_mistake("study_2layer", "flip_demo", flip_w1, message={"en": "rows reversed.", "ko": "행이 뒤집혔습니다."})
    assert {"broken_demo", "flip_demo"} <= set(known_mistakes("study_2layer"))
    m, p, x, y, r = _point("study_2layer")
    cands = mistake_gradients(m, p, x, y)
    assert "broken_demo" not in cands
    d = diagnose_parameter("W1", r["W1"][::-1], r["W1"], mistakes=cands, lang="ko")
    assert d.code == "activation" and "행이 뒤집혔습니다." in d.message
    with pytest.raises(ValueError, match="mistake"):
        register_mistake("study_2layer", "not an identifier", flip_w1, message={"en": "x"})
    with pytest.raises(ValueError, match="no message"):
        register_mistake("study_2layer", "unexplained", flip_w1)


# -- partial, wrong, shape, type, nonfinite ------------------------------------------


def test_partial_counts_and_locates_the_wrong_entries():
    m, p, x, y, r = _point("xor_3layer")
    s = r["W2"].copy()
    s[1, 2] += 0.5
    d = diagnose_parameter("W2", s, r["W2"])
    assert d.code == "partial"
    assert (d.detail["n_wrong"], d.detail["n_total"], d.detail["first_wrong"]) == (1, 9, [1, 2])
    assert d.detail["fraction_correct"] == pytest.approx(8 / 9)


def test_all_zeros_and_random_are_wrong():
    m, p, x, y, r = _point("xor_2layer")
    d = diagnose({k: np.zeros_like(v) for k, v in r.items()}, r)
    assert set(codes(d).values()) == {"wrong"}
    assert d["W1"].detail["all_zero"] is True and "all zeros" in d["W1"].message
    rng = np.random.default_rng(5)
    d = diagnose({k: rng.standard_normal(v.shape) for k, v in r.items()}, r)
    assert set(codes(d).values()) == {"wrong"}


def test_exactly_zero_reference():
    r = np.zeros((2, 3))
    assert diagnose_parameter("W1", np.zeros((2, 3)), r).code == "correct"
    assert diagnose_parameter("W1", np.full((2, 3), 1e-13), r).code == "correct"
    assert diagnose_parameter("W1", np.full((2, 3), 0.1), r).code == "wrong"


def test_returned_parameter_or_update():
    m, p, x, y, r = _point("study_2layer")
    d = diagnose({k: p[k] - 0.1 * r[k] for k in r}, r, params=p)
    assert d["W1"].detail["returned"] == "update" and d["W1"].detail["lr"] == pytest.approx(0.1)
    d = diagnose({k: p[k].copy() for k in r}, r, params=p)
    assert d["W2"].code == "wrong" and d["W2"].detail["returned"] == "param"


def test_shape_errors():
    r = np.array([[0.1, -0.2, 0.3]])
    d = diagnose_parameter("b1", np.array([0.1, -0.2, 0.3]), r)
    assert d.code == "shape" and d.detail["values_match"] is True
    assert d.detail["got_shape"] == [3] and d.detail["expected_shape"] == [1, 3]
    d = diagnose_parameter("b1", np.ones((2, 3)), r)
    assert d.code == "shape" and d.detail["values_match"] is False
    assert "(2, 3)" in d.message and "(1, 3)" in d.message


@pytest.mark.parametrize("value", ["0.1", object(), np.array([1 + 2j, 3j, 0j]), np.array([True, False, True]), {"a": 1}])
def test_type_errors(value):
    assert diagnose_parameter("w", value, np.array([1.0, 2.0, 3.0])).code == "type"


def test_missing_and_not_a_dict():
    r = {"W1": np.ones((2, 2)), "b1": np.ones((1, 2))}
    assert codes(diagnose({"W1": np.ones((2, 2))}, r)) == {"W1": "correct", "b1": "missing"}
    assert codes(diagnose(None, r)) == {"W1": "type", "b1": "type"}
    assert codes(diagnose([1, 2], r)) == {"W1": "type", "b1": "type"}


def test_lists_are_accepted():
    assert diagnose_parameter("w", [1.0, 2.0], np.array([1.0, 2.0])).code == "correct"


def test_nonfinite():
    r = np.array([[0.5, -1.0], [2.0, 0.25]])
    s = r.copy()
    s[1, 0] = np.nan
    s[0, 0] = np.inf
    d = diagnose_parameter("W", s, r)
    assert d.code == "nonfinite" and d.detail["n_nonfinite"] == 2


def test_argument_checks_name_the_bad_value():
    with pytest.raises(ValueError, match="reference for 'W'"):
        diagnose_parameter("W", np.ones(2), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="batch_size=0"):
        diagnose_parameter("W", np.ones(2), np.ones(2), batch_size=0)
    with pytest.raises(ValueError, match="lang='fr'"):
        diagnose_parameter("W", np.ones(2), np.ones(2), lang="fr")
    with pytest.raises(ValueError, match="code='bogus'"):
        Diagnosis("bogus", "W", "")
    with pytest.raises(ValueError, match="code='timeout'"):  # a process verdict is the grader's
        runtime_diagnosis("timeout", seconds=10)
    with pytest.raises(TypeError, match="reference"):
        diagnose({}, [np.ones(2)])


# -- properties ---------------------------------------------------------------------

_arrays = st.integers(2, 5).flatmap(
    lambda n: st.lists(st.floats(-10, 10, allow_nan=False).filter(lambda v: abs(v) > 0.01), min_size=n * (n + 1), max_size=n * (n + 1)).map(
        lambda v, n=n: np.array(v).reshape(n, n + 1)
    )
)


@settings(max_examples=40, deadline=None)
@given(_arrays, st.sampled_from([-1.0, 2.0, 0.5, 9.0, 1 / 9, 4.5]))
def test_property_constant_factors_are_found(r, c):
    d = diagnose_parameter("W", c * r, r, batch_size=9)
    if c == -1.0:
        assert d.code == "sign"
    else:
        assert d.code == "scale" and abs(d.detail["factor"] - c) <= 1e-9 * abs(c)
        assert d.detail["factor_names"]


@settings(max_examples=40, deadline=None)
@given(_arrays)
def test_property_transpose_and_identity(r):
    assert diagnose_parameter("W", r.copy(), r).code == "correct"
    assert diagnose_parameter("W", r.T.copy(), r).code == "transpose"


# -- messages -----------------------------------------------------------------------


def test_every_code_has_english_and_korean():
    for code in CODES:
        assert code in i18n.TEMPLATES, code
    for key, entry in i18n.TEMPLATES.items():
        assert set(entry) >= {"en", "ko"}, key
        assert HANGUL.search(entry["ko"]) or key.startswith("mistake.demo"), key
        fields_en = {f for _, f, _, _ in string.Formatter().parse(entry["en"]) if f}
        fields_ko = {f for _, f, _, _ in string.Formatter().parse(entry["ko"]) if f}
        assert fields_en == fields_ko, key


def test_messages_in_korean_and_rerendering():
    r = np.array([[0.3, -1.2, 0.7], [2.0, -0.1, 0.05]])
    d = diagnose_parameter("W", 3.5 * r, r, batch_size=7, lang="ko")
    assert HANGUL.search(d.message) and "3.5" in d.message
    en = d.in_language("en")
    assert en.message.startswith("W is the exact gradient times 3.5") and en.code == d.code


@pytest.mark.parametrize("code", ("mutation", "nondeterministic", "missing"))
def test_runtime_messages_render_without_placeholders(code):
    for lang in ("en", "ko"):
        msg = runtime_diagnosis(code, param="x", lang=lang, error="ZeroDivisionError: division by zero", seconds=5, megabytes=256).message
        assert "?" not in msg and "{" not in msg and msg


def test_float32_dtype_with_round_values_is_precision():
    r = np.array([0.5 + 3e-9, -0.25, 1.0])
    s = r.astype(np.float32)  # [0.5, -0.25, 1.0]: round numbers, exact in any precision
    assert diagnose_parameter("b", s, r).code == "precision"
    assert diagnose_parameter("b", s.astype(np.float64), r).code == "finite_difference"


# rt17 F16: a factor every other tensor shows is the one-entry tensor's factor too
_R = {"W": np.array([[0.3, -0.1], [0.2, 0.4]]), "b": np.array([[0.7, -0.2]]), "c": np.array([[0.05]])}


def test_a_one_entry_tensor_takes_the_factor_every_other_tensor_shows():
    d = diagnose({k: 7.0 * v for k, v in _R.items()}, _R, batch_size=5)
    assert {k: x.code for k, x in d.items()} == {"W": "scale", "b": "scale", "c": "scale"}
    assert abs(d["c"].detail["factor"] - 7.0) < 1e-12 and d["c"].detail["shared_with"] == ["W", "b"]
    assert "the same factor as W, b" in d["c"].message


@pytest.mark.parametrize("case", ["other factor", "one tensor right", "alone"])
def test_a_one_entry_tensor_is_not_given_a_factor_nothing_else_shows(case):
    got = {"W": 7.0 * _R["W"], "b": 7.0 * _R["b"], "c": 3.0 * _R["c"]}  # other factor: c is 3x, the rest 7x
    ref = _R
    if case == "one tensor right":
        got = {**got, "b": _R["b"], "c": 7.0 * _R["c"]}
    if case == "alone":  # a one-entry tensor and nothing else: no evidence
        got, ref = {"c": 7.0 * _R["c"]}, {"c": _R["c"]}
    assert diagnose(got, ref, batch_size=5)["c"].code == "wrong"
