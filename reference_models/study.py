"""Notebook 004: hours studied and slept -> exam score, sigmoid networks without biases.

The loss is ``sum((y - yhat)**2) / 2``, a *sum* over samples, not a mean.
The notebook's network is ``2 -> 3 -> 1`` (its training run uses 4 hidden
units) and its exercise adds a layer, ``2 -> 4 -> 4 -> 1``.  It trains by
subtracting the raw gradient (learning rate 1): the default
:meth:`~reference_models._base.Model.notebook_step`.
"""
from __future__ import annotations

import numpy as np

from gradcheck import nn
from reference_models._base import Model, Params, check_size
from reference_models.activations import sigmoid, sigmoid_prime
from reference_models.losses import half_sse_grad

__all__ = ["Study2Layer", "Study3Layer", "STUDY_X", "STUDY_Y"]

#: hours studied, hours slept (not normalised), and the scores
STUDY_X = np.array([[3.0, 5.0], [5.0, 1.0], [10.0, 2.0]])
STUDY_Y = np.array([[0.75], [0.82], [0.93]])

class _StudyModel(Model):
    seed_notebook = "004"
    loss_head = nn.MSE("half_sum")

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        return self._batch(x, 2)

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Hours uniform in ``[0, 10)`` (not normalised, as in the notebook), scores in ``[0, 1)``."""
        n = check_size("n", n)
        return rng.random((n, 2)) * 10, rng.random((n, 1))

    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``x`` (3, 2) and ``y`` (3, 1) of the notebook."""
        return STUDY_X.copy(), STUDY_Y.copy()


class Study2Layer(_StudyModel):
    """``yhat = f(f(X W1) W2)``, ``f = sigmoid``; ``loss = sum((y - yhat)**2) / 2``.

    Parameters
    ----------
    hidden : int, default 3
        Hidden units (the notebook uses 3, and 4 in its training run).

    Examples
    --------
    >>> m = Study2Layer(hidden=4)
    >>> x, y = m.notebook_data()
    >>> p = {"W1": np.zeros((2, 4)), "W2": np.zeros((4, 1))}
    >>> round(m.loss(p, x, y), 12)   # yhat = 0.5: (0.25**2 + 0.32**2 + 0.43**2) / 2
    0.1749
    """

    name = "study_2layer"
    description = "study hours, 2 -> 3 -> 1 sigmoid, no biases, sum of squares / 2"
    equations = """\
forward:
  z2 = X W1          (1)
  a2 = f(z2)         (2)   f = sigmoid
  z3 = a2 W2         (3)
  yhat = f(z3)       (4)
  loss = sum((y - yhat)**2) / 2
backward:
  delta1 = -(y - yhat) * f'(z3)       (= dloss/dz3)
  dloss/dW2 = a2^T delta1
  delta2 = (delta1 W2^T) * f'(z2)     (= dloss/dz2)
  dloss/dW1 = X^T delta2
"""

    def __init__(self, hidden: int = 3) -> None:
        self.hidden = check_size("hidden", hidden)
        self.param_shapes = {"W1": (2, self.hidden), "W2": (self.hidden, 1)}
        self.layers = (nn.Dense("W1"), nn.Sigmoid(), nn.Dense("W2"), nn.Sigmoid())

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W1 = randn(2, h)``, ``W2 = randn(h, 1)``."""
        W1 = rng.standard_normal((2, self.hidden))
        W2 = rng.standard_normal((self.hidden, 1))
        return {"W1": W1, "W2": W2}

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        X = self.prepare_input(x)
        y = self._targets(y, len(X), 1)
        W1, W2 = params["W1"], params["W2"]
        z2 = X @ W1
        a2 = sigmoid(z2)
        z3 = a2 @ W2
        y_hat = sigmoid(z3)

        delta1 = half_sse_grad(y_hat, y) * sigmoid_prime(z3)
        delta2 = (delta1 @ W2.T) * sigmoid_prime(z2)
        return {"W1": X.T @ delta2, "W2": a2.T @ delta1}


class Study3Layer(_StudyModel):
    """The exercise: ``2 -> hidden1 -> hidden2 -> 1``, sigmoid x3, no biases.

    Parameters
    ----------
    hidden1, hidden2 : int, default 4
    """

    name = "study_3layer"
    description = "study hours exercise, 2 -> 4 -> 4 -> 1 sigmoid, no biases, sum of squares / 2"
    equations = """\
forward (the notebook's w1, w2, w3 are the parameters W1, W2, W3):
  z1 = x w1,   a1 = f(z1)      f = sigmoid
  z2 = a1 w2,  a2 = f(z2)
  z3 = a2 w3,  yhat = f(z3)
  loss = sum((y - yhat)**2) / 2
backward:
  delta1 = (yhat - y) * f'(z3)        (= dloss/dz3)
  dloss/dw3 = a2^T delta1
  delta2 = (delta1 w3^T) * f'(z2)     (= dloss/dz2)
  dloss/dw2 = a1^T delta2
  delta3 = (delta2 w2^T) * f'(z1)     (= dloss/dz1)
  dloss/dw1 = x^T delta3
"""

    def __init__(self, hidden1: int = 4, hidden2: int = 4) -> None:
        self.hidden1 = check_size("hidden1", hidden1)
        self.hidden2 = check_size("hidden2", hidden2)
        self.param_shapes = {"W1": (2, self.hidden1), "W2": (self.hidden1, self.hidden2), "W3": (self.hidden2, 1)}
        self.layers = (nn.Dense("W1"), nn.Sigmoid(), nn.Dense("W2"), nn.Sigmoid(), nn.Dense("W3"), nn.Sigmoid())

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W1, W2, W3 = randn(2, h1), randn(h1, h2), randn(h2, 1)``, in that order."""
        W1 = rng.standard_normal((2, self.hidden1))
        W2 = rng.standard_normal((self.hidden1, self.hidden2))
        W3 = rng.standard_normal((self.hidden2, 1))
        return {"W1": W1, "W2": W2, "W3": W3}

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        x = self.prepare_input(x)
        y = self._targets(y, len(x), 1)
        W1, W2, W3 = params["W1"], params["W2"], params["W3"]
        z1 = x @ W1
        a1 = sigmoid(z1)
        z2 = a1 @ W2
        a2 = sigmoid(z2)
        z3 = a2 @ W3
        y_hat = sigmoid(z3)

        delta1 = half_sse_grad(y_hat, y) * sigmoid_prime(z3)
        delta2 = (delta1 @ W3.T) * sigmoid_prime(z2)
        delta3 = (delta2 @ W2.T) * sigmoid_prime(z1)
        return {"W1": x.T @ delta3, "W2": a1.T @ delta2, "W3": a2.T @ delta1}
