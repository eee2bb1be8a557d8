"""Notebook 001 (first cell): the chain rule on a ``2 -> 1 -> 1`` sigmoid network.

``l1 = sigmoid(x . w)``, ``l2 = sigmoid(l1 * v)`` with a weight vector
``w`` of shape ``(2,)`` and a scalar weight ``v`` of shape ``()``, no biases,
loss ``0.5 * (y - l2)**2`` (for a batch ``x`` (N, 2), ``y`` (N,): the mean
over samples).

The notebook's "error terms" use ``error = abs(true_y - l2)`` and then
*decrease* the weights by ``lr * error_term * input``: with ``y > l2`` that
is a step *up* the loss, a sign error (:meth:`Chain211.notebook_step`
reproduces it; :meth:`Chain211.backward` is exact).
"""
from __future__ import annotations

import numpy as np

from gradcheck import nn
from reference_models._base import Model, Params, check_size
from reference_models.activations import sigmoid, sigmoid_prime
from reference_models.losses import half_squared_error_grad

__all__ = ["Chain211", "CHAIN_X", "CHAIN_Y", "CHAIN_PARAMS"]

CHAIN_X = np.array([[0.1, 0.3]])
CHAIN_Y = np.array([1.0])
#: ``weights = [0.4, -0.2]``, ``hidden_weight = 0.1``
CHAIN_PARAMS = {"w": np.array([0.4, -0.2]), "v": np.array(0.1)}


class Chain211(Model):
    """``l2 = sigmoid(sigmoid(x . w) * v)``, ``L = mean(0.5 * (y - l2)**2)``.

    Examples
    --------
    >>> m = Chain211()
    >>> x, y = m.notebook_data()
    >>> m.forward(m.init_params(None), x)   # the notebook's pred_y
    array([0.51237248])
    """

    name = "chain_2_1_1"
    description = "chain rule example, 2 -> 1 -> 1 sigmoid, no biases, 0.5 * squared error"
    seed_notebook = "001"
    equations = """\
forward:
  l1 = sigmoid(input1 . weights)            (w: weights, shape (2,))
  l2 = sigmoid(l1 * hidden_weight)          (v: hidden_weight, a scalar)
  L  = 0.5 * (true_y - l2)**2               (mean over samples for a batch)
backward:
  dL/dl2 = -(true_y - l2)
  dL/dz2 = dL/dl2 * sigmoid'(l1 * v)        (the notebook's output_error_term is
                                             abs(true_y - l2) * sigmoid'(l1 * v))
  dL/dv  = dL/dz2 * l1
  dL/dz1 = dL/dz2 * v * sigmoid'(input1 . w)  (hidden_error_term, same sign caveat)
  dL/dw  = dL/dz1 * input1
"""
    layers = (nn.Dot("w"), nn.Sigmoid(), nn.Scale("v"), nn.Sigmoid())
    loss_head = nn.MSE("half_sample_mean")

    def __init__(self) -> None:
        self.param_shapes = {"w": (2,), "v": ()}

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.shape == (2,):  # one sample, as in the notebook
            x = x[None, :]
        return self._batch(x, 2)

    def present(self, out: np.ndarray) -> np.ndarray:
        """``l2`` of shape ``(..., N)``."""
        return out[..., 0]

    def init_params(self, rng: np.random.Generator | None) -> dict[str, np.ndarray]:
        """The notebook's ``weights = [0.4, -0.2]``, ``hidden_weight = 0.1`` (``rng`` is not used)."""
        return {k: v.copy() for k, v in CHAIN_PARAMS.items()}

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Inputs uniform in ``[0, 1)^2``, targets uniform in ``[0, 1)``; shapes ``(n, 2)``, ``(n,)``."""
        n = check_size("n", n)
        return rng.random((n, 2)), rng.random(n)

    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``input1 = [0.1, 0.3]`` as a one-row batch, ``true_y = 1``."""
        return CHAIN_X.copy(), CHAIN_Y.copy()

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        x = self.prepare_input(x)
        y = self._targets(y, len(x), 1)
        w, v = params["w"], params["v"]
        z1 = x @ w[:, None]
        l1 = sigmoid(z1)
        z2 = l1 * v
        l2 = sigmoid(z2)

        dL_dl2 = half_squared_error_grad(l2, y)
        dL_dz2 = dL_dl2 * sigmoid_prime(z2)
        dL_dl1 = dL_dz2 * v
        dL_dz1 = dL_dl1 * sigmoid_prime(z1)
        return {
            "w": (x.T @ dL_dz1)[:, 0],
            "v": np.array(np.sum(dL_dz2 * l1)),
        }

    def notebook_error_terms(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """The notebook's printed quantities per sample: ``pred_y``, ``error``,
        ``output_error_term``, ``hidden_error_term`` (each of shape ``(N,)``)."""
        x = self.prepare_input(x)
        true_y = self._targets(y, len(x), 1)[:, 0]
        weights, hidden_weight = params["w"], params["v"]
        l1 = sigmoid(x @ weights)
        l2 = sigmoid(l1 * hidden_weight)
        error = np.abs(true_y - l2)
        output_error_term = error * sigmoid_prime(l1 * hidden_weight)
        hidden_error_term = output_error_term * hidden_weight * sigmoid_prime(x @ weights)
        return {
            "pred_y": l2,
            "error": error,
            "output_error_term": output_error_term,
            "hidden_error_term": hidden_error_term,
        }

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """The notebook's update, sample by sample (``lr = 0.5`` there), sign error included:
        ``hidden_weight -= lr * output_error_term * l1``, ``weights -= lr * hidden_error_term * input1``."""
        X = self.prepare_input(x)
        Y = self._targets(y, len(X), 1)
        weights = np.array(params["w"], dtype=np.float64)
        hidden_weight = np.array(params["v"], dtype=np.float64)
        for input1, true_y in zip(X, Y):
            p = {"w": weights, "v": hidden_weight}
            terms = self.notebook_error_terms(p, input1, true_y)
            l1 = sigmoid(input1 @ weights)
            del_w_output = lr * terms["output_error_term"][0] * l1
            del_w_hidden = lr * terms["hidden_error_term"][0] * input1
            hidden_weight = hidden_weight - del_w_output
            weights = weights - del_w_hidden
        return {"w": weights, "v": np.array(hidden_weight)}
