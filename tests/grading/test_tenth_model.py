"""A tenth reference model, declared here and registered: nothing else in the tree is touched.

The engine, the grader's known mistakes and its kink handling must derive
everything from the model's declared structure (gradcheck.nn), never from a
table of model names.
"""
from __future__ import annotations

import textwrap

import numpy as np
import pytest

import reference_models
from gradcheck import check_model, nn
from gradcheck.grading.pipeline import grade_callable, grade_submission
from gradcheck.mistakes import known_mistakes
from reference_models import Model, NotebookDataUnavailable


class TanhSigmoidMSE(Model):
    """``2 -> 3 tanh -> 3 ReLU -> 1 sigmoid``, mean squared error: a model no table knows."""

    name = "tanh_relu_sigmoid_mse"
    description = "test-only: 2 -> 3 tanh -> 3 relu -> 1 sigmoid, mean squared error"
    equations = "z1 = x W1 + b1, a1 = tanh(z1), z2 = a1 W2, a2 = relu(z2), z3 = a2 W3 + b3, a3 = sigmoid(z3)"
    layers = (nn.Dense("W1", "b1"), nn.Tanh(), nn.Dense("W2"), nn.ReLU(), nn.Dense("W3", "b3"), nn.Sigmoid())
    loss_head = nn.MSE("mean")

    def __init__(self) -> None:
        self.param_shapes = {"W1": (2, 3), "b1": (3,), "W2": (3, 3), "W3": (3, 1), "b3": (1,)}

    def init_params(self, rng):
        return {k: rng.standard_normal(s) for k, s in self.param_shapes.items()}

    def example_batch(self, rng, n):
        x = rng.standard_normal((n, 2))
        return x, (x[:, :1] * x[:, 1:] > 0).astype(float)

    def notebook_data(self):
        raise NotebookDataUnavailable("no notebook")

    def backward(self, params, x, y):
        return student_backward(params, self.prepare_input(x), self._targets(y, len(x), 1))


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def student_backward(p, x, y, *, sigmoid_prime=lambda z, a: a * (1 - a)):
    z1 = x @ p["W1"] + p["b1"]
    a1 = np.tanh(z1)
    z2 = a1 @ p["W2"]
    a2 = np.maximum(z2, 0.0)
    z3 = a2 @ p["W3"] + p["b3"]
    a3 = _sigmoid(z3)
    dz3 = 2 * (a3 - y) / y.size * sigmoid_prime(z3, a3)
    dz2 = (dz3 @ p["W3"].T) * (z2 > 0)
    dz1 = (dz2 @ p["W2"].T) * (1 - a1 ** 2)
    return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "W3": a2.T @ dz3, "b3": dz3.sum(0)}


@pytest.fixture()
def tenth(monkeypatch):
    monkeypatch.setattr(reference_models, "_REGISTRY", dict(reference_models._REGISTRY))
    reference_models.register(TanhSigmoidMSE)
    assert len(reference_models.names()) == 10
    return reference_models.get(TanhSigmoidMSE.name)


def test_registry_refuses_duplicates_and_non_models(tenth):
    with pytest.raises(ValueError, match="already registered"):
        reference_models.register(TanhSigmoidMSE)
    with pytest.raises(TypeError, match="subclass of reference_models.Model"):
        reference_models.register(dict)


def test_check_and_mistakes_come_from_the_declared_structure(tenth):
    rng = np.random.default_rng(0)
    params = tenth.init_params(rng)
    x, y = tenth.example_batch(rng, 6)
    assert check_model(tenth, params, x, y).passed
    assert sorted(known_mistakes(tenth)) == ["relu_mask_output_ge0", "sigmoid_prime_as_output", "sigmoid_prime_of_z",
                                             "sigmoid_twice", "tanh_prime_of_z"]


def test_a_submission_is_graded_against_the_tenth_model(tenth):
    r = grade_callable(student_backward, TanhSigmoidMSE.name)
    assert (r.verdict, r.score, r.max_score, r.diagnoses) == ("ok", 5.0, 5.0, ("correct",))
    wrong = grade_callable(lambda p, x, y: student_backward(p, x, y, sigmoid_prime=lambda z, a: z * (1 - z)),
                           TanhSigmoidMSE.name)
    assert wrong.diagnoses == ("activation",) and wrong.score < 5.0
    assert wrong.parameter("W3").detail["mistake"] == "sigmoid_prime_of_z"


def test_a_sandboxed_file_is_graded_against_the_tenth_model(tenth, tmp_path):
    source = textwrap.dedent('''
        import numpy as np

        def backward(p, x, y):
            y = np.asarray(y, dtype=float).reshape(len(x), 1)
            z1 = x @ p["W1"] + p["b1"]
            a1 = np.tanh(z1)
            z2 = a1 @ p["W2"]
            a2 = np.maximum(z2, 0.0)
            z3 = a2 @ p["W3"] + p["b3"]
            a3 = 1.0 / (1.0 + np.exp(-z3))
            dz3 = 2 * (a3 - y) / y.size * a3 * (1 - a3)
            dz2 = (dz3 @ p["W3"].T) * (z2 > 0)
            dz1 = (dz2 @ p["W2"].T) * (1 - a1 ** 2)
            return {"W1": x.T @ dz1, "b1": dz1.sum(0), "W2": a1.T @ dz2, "W3": a2.T @ dz3, "b3": dz3.sum(0)}
    ''')
    path = tmp_path / "student.py"
    path.write_text(source)
    r = grade_submission(path, TanhSigmoidMSE.name)
    assert (r.verdict, r.score, r.diagnoses) == ("ok", 5.0, ("correct",)), r.messages
