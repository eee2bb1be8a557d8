"""Every message template renders as a sentence in English and Korean, with no English left in the Korean."""
from __future__ import annotations

import re
import string

import pytest

import gradcheck.grading.causes
import gradcheck.grading.i18n  # noqa: F401 - registers the grader's templates
from gradcheck.messages import TEMPLATES, render

#: Realistic details: names from the code (kept as they are in every language) and numbers.
FIELDS = {
    "param": "W1", "other": "b1", "factor_text": "2", "n_kinks": 2, "reshaped": "", "n_wrong": 1, "n_total": 6,
    "first_wrong": "[0, 1]", "got_shape": (2, 3), "expected_shape": (3, 2), "got_type": "list", "n_nonfinite": 2,
    "rel_error": 1e-5, "max_abs_error": 0.5, "scale": 1.2, "lr": 0.1, "seconds": 10, "megabytes": 1024,
    "error": "ValueError: matmul", "function": "backward", "owner": "Neural_Network", "found": "forward, back_prop",
    "close": "back_prop", "mistake": "sigmoid_twice", "names": "alice.py", "code": "wrong", "cause": "",
    "mistake_text": "", "keys": "W1, b1", "median_offset": 1e-7, "min_offset": 5e-8, "max_offset": 2e-7, "max_rel_offset": 2e-7,
    "name": "X_train", "params": "W1, b1", "name2": "Y_train", "argument": "x", "causes": "", "n_zero": 4, "n_localised": 8,
    "batch_constant": 4, "factors_text": "N = 3: 0.75, N = 5: 1.25", "sign_text": "",
    "evaluations": 104, "n_params": 13, "complex_values": 97,  # a numerical gradient seen by its work
    "shared_text": "W1, b1, W2",  # the parameters showing a one-entry gradient's factor
    "moved": 2e-12, "step": 1e-9, "noisy": 12, "counted": 13,  # ... or by its rounding
    "bound": 1e-4,  # the largest near miss float32 or an epsilon explains
    "eps_text": "1e-7", "n_saturated": 6, "n_samples": 10,  # an epsilon inside a log (gradcheck.logeps)
    "call": 4, "limit": 1048576,  # the call of a session that ran out of time or output (rt23 F12)
    "n_tied": 63, "value": 2.0, "analytic": -19.44, "numeric": 0.704, "ratio": -27.6,  # tied entries moved together
}
#: Words of code, units and product names a Korean sentence may contain.
CODE_WORDS = {
    "ReLU", "relu", "sigmoid", "tanh", "softmax", "NaN", "log", "exp", "float64", "dict", "delta", "output", "matplotlib", "pip",
    "install", "gradcheck", "plot", "MB", "ValueError", "matmul", "list", "backward", "forward", "back_prop",
    "Neural_Network", "sigmoid_twice", "alice", "wrong", "correct", "mean", "tolerance", "Tolerance", "rtol",
    "X_train", "Y_train",  # a student's global names
    "DLFS",  # the book "Deep Learning from Scratch", by its usual name
    "memory", "limits",  # the option --memory and the assignment's [limits] table
    "astype",  # numpy's cast, as a student writes it
    "dgamma", "dout", "sum", "hat",  # a batch norm's dgamma = sum(dout * xhat) (xhat loses the field value x here)
    "deriv",  # 001's relu2deriv (the field value 2 is cut out of it here)
    "MNIST",  # the data set, by its name (ui.data_none)
    "keepdims", "True",  # numpy's .sum(axis=0, keepdims=True), as a student writes it
    "file", "NAME",  # the assignment's setting file = "NAME" (choice.usual)
}


def _english_words(text: str) -> set[str]:
    for value in FIELDS.values():
        if isinstance(value, str) and value:  # names; numbers would cut words such as float64
            text = text.replace(str(value), " ")
    return {w for w in re.findall(r"[A-Za-z][A-Za-z0-9_]*", text) if len(w) > 2 and w not in CODE_WORDS and not re.search(r"\d|_", w)}


KEYS = sorted(TEMPLATES)


@pytest.mark.parametrize("key", KEYS)
def test_template_has_both_languages_and_renders(key: str) -> None:
    entry = TEMPLATES[key]
    assert set(entry) >= {"en", "ko"}, key
    for lang in ("en", "ko"):
        named = {f for _, f, _, _ in string.Formatter().parse(entry[lang]) if f}
        assert named <= set(FIELDS), (key, lang, named - set(FIELDS))  # realistic details for every field
    en, ko = render(key, FIELDS, lang="en"), render(key, FIELDS, lang="ko")
    assert en[:1].isupper() or en[:1] in "0123456789(" or key.startswith(("ui.", "cause.", "mistake.", "factor.", "transpose.")), en
    assert re.search(r"[\uac00-\ud7a3]", ko), ko  # Korean
    assert _english_words(ko) == set(), (key, ko)
