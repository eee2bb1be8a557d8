"""Notebook 000: sigmoid networks learning XOR with a mean-squared-error loss.

Three networks: 1 layer (2 -> 1), 2 layers (2 -> 3 -> 1) and the homework's
3 layers (2 -> 3 -> 3 -> 1), all sigmoid, all with biases of shape ``(1, d)``,
all with the loss ``L = mean((y - a_out)**2)``.

The notebook's backward starts from ``da_out = a_out - y`` and leaves out the
factor ``2 / N`` of ``dL/da_out = 2 (a_out - y) / N``: its "gradient"
(:meth:`notebook_gradient`) is the exact one times ``N / 2``.
:meth:`backward` is exact; :meth:`notebook_step` reproduces the notebook's
training loop (learning rate 0.1 in the notebook).
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Callable

import numpy as np

from gradcheck import nn
from reference_models._base import Model, Params, check_size
from reference_models.activations import sigmoid, sigmoid_prime
from reference_models.losses import mse_grad

__all__ = ["XOR1Layer", "XOR2Layer", "XOR3Layer", "XOR_X", "XOR_Y"]

#: the notebook's data
XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([[0.0], [1.0], [1.0], [0.0]])

OutputError = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _notebook_output_error(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The notebook's ``da = a - y`` (the exact ``dL/da`` is ``2 (a - y) / N``)."""
    return a - y


class _XORModel(Model):
    seed_notebook = "000"
    loss_head = nn.MSE("mean")

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        return self._batch(x, 2)

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """``n`` rows of binary inputs and their XOR, shapes ``(n, 2)`` and ``(n, 1)``."""
        n = check_size("n", n)
        x = rng.integers(0, 2, size=(n, 2)).astype(np.float64)
        y = np.abs(x[:, :1] - x[:, 1:])
        return x, y

    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The four XOR rows ``X`` (4, 2) and targets ``y`` (4, 1)."""
        return XOR_X.copy(), XOR_Y.copy()

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """Exact gradient of ``mean((y - a_out)**2)``: starts from ``dL/da_out = 2 (a_out - y) / N``."""
        return self._backprop(params, x, y, mse_grad)

    def notebook_gradient(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """What the notebook subtracts (times ``lr``): backprop from ``da_out = a_out - y``.

        Equals the exact gradient times ``N / 2``.
        """
        return self._backprop(params, x, y, _notebook_output_error)

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """The notebook's full-batch update ``p -= lr * notebook_gradient``."""
        grads = self.notebook_gradient(params, x, y)
        return {k: np.asarray(params[k], dtype=np.float64) - lr * grads[k] for k in self.param_shapes}

    @abstractmethod
    def _backprop(self, params: Params, x: np.ndarray, y: np.ndarray, output_error: OutputError) -> dict[str, np.ndarray]:
        """Forward pass, then backward from ``dL/da_out = output_error(a_out, y)``."""


class XOR1Layer(_XORModel):
    """``a1 = sigmoid(X W1 + b1)``, ``L = mean((y - a1)**2)`` (cannot fit XOR).

    Examples
    --------
    >>> m = XOR1Layer()
    >>> x, y = m.notebook_data()
    >>> zero = {"W1": np.zeros((2, 1)), "b1": np.zeros((1, 1))}
    >>> m.loss(zero, x, y)   # every output is sigmoid(0) = 0.5
    0.25
    """

    name = "xor_1layer"
    description = "XOR, 2 -> 1 sigmoid, mean squared error"
    equations = """\
forward:
  z1 = X W1 + b1
  a1 = sigmoid(z1)
  L  = mean((y - a1)**2)
backward:
  dL/da1 = 2 (a1 - y) / N          (the notebook writes da1 = a1 - y)
  dL/dz1 = dL/da1 * sigmoid'(z1)   (sigmoid'(z1) = a1 (1 - a1))
  dL/dW1 = X^T dL/dz1
  dL/db1 = sum over samples of dL/dz1
"""
    layers = (nn.Dense("W1", "b1"), nn.Sigmoid())

    def __init__(self) -> None:
        self.param_shapes = {"W1": (2, 1), "b1": (1, 1)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W1 = randn(2, 1)``, ``b1 = zeros((1, 1))``.

        Pass ``np.random.RandomState(seed)`` to reproduce ``np.random.seed(seed)``.
        """
        return {"W1": rng.standard_normal((2, 1)), "b1": np.zeros((1, 1))}

    def _backprop(self, params: Params, x: np.ndarray, y: np.ndarray, output_error: OutputError) -> dict[str, np.ndarray]:
        X = self.prepare_input(x)
        y = self._targets(y, len(X), 1)
        W1, b1 = params["W1"], params["b1"]
        z1 = X @ W1 + b1
        a1 = sigmoid(z1)

        dL_da1 = output_error(a1, y)
        dL_dz1 = dL_da1 * sigmoid_prime(z1)
        return {
            "W1": X.T @ dL_dz1,
            "b1": np.sum(dL_dz1, axis=0, keepdims=True),
        }


class XOR2Layer(_XORModel):
    """``2 -> hidden -> 1``, sigmoid, sigmoid; ``L = mean((y - a2)**2)``.

    Parameters
    ----------
    hidden : int, default 3
        Hidden units (the notebook uses 3).
    """

    name = "xor_2layer"
    description = "XOR, 2 -> 3 -> 1 sigmoid, mean squared error"
    equations = """\
forward:
  z1 = X W1 + b1
  a1 = sigmoid(z1)
  z2 = a1 W2 + b2
  a2 = sigmoid(z2)
  L  = mean((y - a2)**2)
backward:
  dL/da2 = 2 (a2 - y) / N          (the notebook writes da2 = a2 - y)
  dL/dz2 = dL/da2 * sigmoid'(z2)
  dL/dW2 = a1^T dL/dz2
  dL/db2 = sum over samples of dL/dz2
  dL/da1 = dL/dz2 W2^T
  dL/dz1 = dL/da1 * sigmoid'(z1)
  dL/dW1 = X^T dL/dz1
  dL/db1 = sum over samples of dL/dz1
"""
    layers = (nn.Dense("W1", "b1"), nn.Sigmoid(), nn.Dense("W2", "b2"), nn.Sigmoid())

    def __init__(self, hidden: int = 3) -> None:
        self.hidden = check_size("hidden", hidden)
        h = self.hidden
        self.param_shapes = {"W1": (2, h), "b1": (1, h), "W2": (h, 1), "b2": (1, 1)}

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W1 = randn(2, h)``, ``b1 = 0``, ``W2 = randn(h, 1)``, ``b2 = 0`` (in that order)."""
        h = self.hidden
        W1 = rng.standard_normal((2, h))
        W2 = rng.standard_normal((h, 1))
        return {"W1": W1, "b1": np.zeros((1, h)), "W2": W2, "b2": np.zeros((1, 1))}

    def _backprop(self, params: Params, x: np.ndarray, y: np.ndarray, output_error: OutputError) -> dict[str, np.ndarray]:
        X = self.prepare_input(x)
        y = self._targets(y, len(X), 1)
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        z1 = X @ W1 + b1
        a1 = sigmoid(z1)
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)

        dL_da2 = output_error(a2, y)
        dL_dz2 = dL_da2 * sigmoid_prime(z2)
        dL_da1 = dL_dz2 @ W2.T
        dL_dz1 = dL_da1 * sigmoid_prime(z1)
        return {
            "W1": X.T @ dL_dz1,
            "b1": np.sum(dL_dz1, axis=0, keepdims=True),
            "W2": a1.T @ dL_dz2,
            "b2": np.sum(dL_dz2, axis=0, keepdims=True),
        }


class XOR3Layer(_XORModel):
    """The homework: ``2 -> hidden1 -> hidden2 -> 1``, sigmoid x3; ``L = mean((y - a3)**2)``.

    Parameters
    ----------
    hidden1, hidden2 : int, default 3
        Units of the two hidden layers (the homework uses 3 and 3).
    """

    name = "xor_3layer"
    description = "XOR homework, 2 -> 3 -> 3 -> 1 sigmoid, mean squared error"
    equations = """\
forward:
  z1 = X W1 + b1,   a1 = sigmoid(z1)
  z2 = a1 W2 + b2,  a2 = sigmoid(z2)
  z3 = a2 W3 + b3,  a3 = sigmoid(z3)
  L  = mean((y - a3)**2)
backward:
  dL/da3 = 2 (a3 - y) / N          (the notebook writes a3 - y)
  dL/dz3 = dL/da3 * sigmoid'(z3)
  dL/dW3 = a2^T dL/dz3,  dL/db3 = sum over samples of dL/dz3
  dL/dz2 = (dL/dz3 W3^T) * sigmoid'(z2)
  dL/dW2 = a1^T dL/dz2,  dL/db2 = sum over samples of dL/dz2
  dL/dz1 = (dL/dz2 W2^T) * sigmoid'(z1)
  dL/dW1 = X^T dL/dz1,   dL/db1 = sum over samples of dL/dz1
"""
    layers = (nn.Dense("W1", "b1"), nn.Sigmoid(), nn.Dense("W2", "b2"), nn.Sigmoid(), nn.Dense("W3", "b3"), nn.Sigmoid())

    def __init__(self, hidden1: int = 3, hidden2: int = 3) -> None:
        self.hidden1 = check_size("hidden1", hidden1)
        self.hidden2 = check_size("hidden2", hidden2)
        h1, h2 = self.hidden1, self.hidden2
        self.param_shapes = {
            "W1": (2, h1), "b1": (1, h1),
            "W2": (h1, h2), "b2": (1, h2),
            "W3": (h2, 1), "b3": (1, 1),
        }

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W1, W2, W3 = randn(2, h1), randn(h1, h2), randn(h2, 1)`` (in that order), zero biases."""
        h1, h2 = self.hidden1, self.hidden2
        W1 = rng.standard_normal((2, h1))
        W2 = rng.standard_normal((h1, h2))
        W3 = rng.standard_normal((h2, 1))
        return {
            "W1": W1, "b1": np.zeros((1, h1)),
            "W2": W2, "b2": np.zeros((1, h2)),
            "W3": W3, "b3": np.zeros((1, 1)),
        }

    def _backprop(self, params: Params, x: np.ndarray, y: np.ndarray, output_error: OutputError) -> dict[str, np.ndarray]:
        X = self.prepare_input(x)
        y = self._targets(y, len(X), 1)
        W1, b1, W2, b2, W3, b3 = (params[k] for k in ("W1", "b1", "W2", "b2", "W3", "b3"))
        z1 = X @ W1 + b1
        a1 = sigmoid(z1)
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)
        z3 = a2 @ W3 + b3
        a3 = sigmoid(z3)

        dL_dz3 = output_error(a3, y) * sigmoid_prime(z3)
        dL_dz2 = (dL_dz3 @ W3.T) * sigmoid_prime(z2)
        dL_dz1 = (dL_dz2 @ W2.T) * sigmoid_prime(z1)
        return {
            "W1": X.T @ dL_dz1,
            "b1": np.sum(dL_dz1, axis=0, keepdims=True),
            "W2": a1.T @ dL_dz2,
            "b2": np.sum(dL_dz2, axis=0, keepdims=True),
            "W3": a2.T @ dL_dz3,
            "b3": np.sum(dL_dz3, axis=0, keepdims=True),
        }
