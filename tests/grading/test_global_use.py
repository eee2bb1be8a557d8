"""The "uses a global instead of its argument" finding (issue 10, item 6)."""
from __future__ import annotations

import numpy as np

import reference_models
from gradcheck.grading.pipeline import grade_with, python_caller

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
Y = np.array([[0], [1], [1], [0]], dtype=float)
MODEL = reference_models.get("xor_2layer")


def _uses_both(params, x, y):
    return MODEL.backward(params, X, Y)


def test_global_x_and_y_is_named_in_both_languages() -> None:
    for lang, words in (("en", "instead of its arguments x and y"), ("ko", "전역 변수 X, Y")):
        r = grade_with(python_caller(_uses_both), MODEL, module_globals={"X": X, "Y": Y, "lr": np.array([0.1])}, lang=lang, shrink=False)
        assert r.diagnoses == ("global",) and r.score == 0.0
        assert all(p.diagnosis == "global" and words in p.message and "X" in p.message for p in r.parameters)


def test_without_globals_or_with_other_data_it_is_not_claimed() -> None:
    r = grade_with(python_caller(_uses_both), MODEL, shrink=False)
    assert "global" not in r.diagnoses
    other = {"X": X + 0.5, "Y": Y}
    r = grade_with(python_caller(_uses_both), MODEL, module_globals=other, shrink=False)
    assert "global" not in r.diagnoses


def test_a_correct_submission_with_globals_stays_correct() -> None:
    r = grade_with(python_caller(MODEL.backward), MODEL, module_globals={"X": X, "Y": Y}, shrink=False)
    assert r.diagnoses == ("correct",)
