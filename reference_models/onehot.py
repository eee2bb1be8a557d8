"""Notebook 003: a 2-2-2 sigmoid network with one-hot (smoothed) targets.

``y = sigmoid(sigmoid(x W2 + b2) W3 + b3)`` (the notebook numbers layers from
2), loss ``E = sum((t - y)**2) / len(y)``.  For an ``(N, 2)`` batch
``len(y)`` is ``N``; the notebook's training loop passes single 1-D samples,
for which ``len(y)`` is the number of outputs, 2: its per-sample loss is this
model's loss on a one-row batch divided by 2.

The backward pass is the student's exercise in the notebook (left blank);
the template's update has a sign error on one parameter,
``b2 -= - lr * grad``, reproduced by :meth:`OneHot222.notebook_step`.
"""
from __future__ import annotations

import numpy as np

from gradcheck import nn
from reference_models._base import Model, Params, check_size
from reference_models.activations import sigmoid, sigmoid_prime
from reference_models.losses import sse_per_sample_grad

__all__ = ["OneHot222", "ONEHOT_X", "ONEHOT_LABELS", "smoothed_onehot"]

ONEHOT_X = np.array([[2, 4], [4, 11], [6, 6], [8, 5], [10, 7], [12, 16], [14, 8], [16, 3], [18, 7]], dtype=np.float64)
ONEHOT_LABELS = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
_SPLIT_RATE = 0.2


def smoothed_onehot(labels: np.ndarray, num_classes: int = 2) -> np.ndarray:
    """0.99 for the class, 0.01 elsewhere, built in float32 as the notebook does, returned as float64."""
    t = np.zeros((len(labels), num_classes), dtype=np.float32) + 0.01
    t[np.arange(len(labels)), np.asarray(labels, dtype=int)] = 0.99
    return t.astype(np.float64)


class OneHot222(Model):
    """``2 -> hidden sigmoid -> 2 sigmoid`` with ``E = sum((t - y)**2) / N``.

    Parameters
    ----------
    hidden : int, default 2
        Hidden units (the notebook uses 2).
    """

    name = "onehot_222"
    description = "2 -> 2 sigmoid -> 2 sigmoid, smoothed one-hot targets, sum of squares / N"
    seed_notebook = "003"
    loss_head = nn.MSE("sample_mean")
    equations = """\
forward:
  a1 = x
  z2 = a1 W2 + b2
  a2 = sigmoid(z2)
  z3 = a2 W3 + b3
  y = a3 = sigmoid(z3)
  E = sum((t - y)**2) / N
backward:
  dE/dy  = 2 (y - t) / N
  dE/dz3 = dE/dy * sigmoid'(z3)
  dE/dW3 = a2^T dE/dz3,   dE/db3 = sum over samples of dE/dz3
  dE/da2 = dE/dz3 W3^T
  dE/dz2 = dE/da2 * sigmoid'(z2)
  dE/dW2 = a1^T dE/dz2,   dE/db2 = sum over samples of dE/dz2
"""

    def __init__(self, hidden: int = 2) -> None:
        self.hidden = check_size("hidden", hidden)
        h = self.hidden
        self.param_shapes = {"W2": (2, h), "b2": (h,), "W3": (h, 2), "b3": (2,)}
        self.layers = (nn.Dense("W2", "b2"), nn.Sigmoid(), nn.Dense("W3", "b3"), nn.Sigmoid())

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        return self._batch(x, 2)

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``W2, b2, W3, b3 = randn(2, h), randn(h), randn(h, 2), randn(2)``, in that order."""
        h = self.hidden
        W2 = rng.standard_normal((2, h))
        b2 = rng.standard_normal(h)
        W3 = rng.standard_normal((h, 2))
        b3 = rng.standard_normal(2)
        return {"W2": W2, "b2": b2, "W3": W3, "b3": b3}

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Integer points in ``[1, 20]^2`` like the notebook's, class ``x1 >= 10``, smoothed one-hot."""
        n = check_size("n", n)
        x = rng.integers(1, 21, size=(n, 2)).astype(np.float64)
        return x, smoothed_onehot((x[:, 0] >= 10).astype(int))

    def notebook_data(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """The notebook's split (``split_rate = 0.2``): 8 training samples or the 1 test sample."""
        cut = int(_SPLIT_RATE * len(ONEHOT_X))
        if split == "train":
            return ONEHOT_X[cut:].copy(), smoothed_onehot(ONEHOT_LABELS[cut:])
        if split == "test":
            return ONEHOT_X[:cut].copy(), smoothed_onehot(ONEHOT_LABELS[:cut])
        raise ValueError(f"split must be 'train' or 'test', got split={split!r}")

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        a1 = self.prepare_input(x)
        t = self._targets(y, len(a1), 2)
        W2, b2, W3, b3 = params["W2"], params["b2"], params["W3"], params["b3"]
        z2 = a1 @ W2 + b2
        a2 = sigmoid(z2)
        z3 = a2 @ W3 + b3
        y_out = sigmoid(z3)

        dE_dy = sse_per_sample_grad(y_out, t)
        dE_dz3 = dE_dy * sigmoid_prime(z3)
        dE_da2 = dE_dz3 @ W3.T
        dE_dz2 = dE_da2 * sigmoid_prime(z2)
        return {
            "W2": a1.T @ dE_dz2,
            "b2": np.sum(dE_dz2, axis=0),
            "W3": a2.T @ dE_dz3,
            "b3": np.sum(dE_dz3, axis=0),
        }

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """The template's loop over the rows of ``x`` (batch size 1; ``lr = 1e-3`` there).

        Each sample's gradient is that of the notebook's per-sample loss
        ``sum((t - y)**2) / 2`` (1-D sample: ``len(y) = 2``), all four taken
        at the same point; the update keeps the template's sign error
        ``b2 -= -lr * dE/db2``.
        """
        X = self.prepare_input(x)
        T = self._targets(y, len(X), 2)
        p = {k: np.array(params[k], dtype=np.float64) for k in self.param_shapes}
        for x_batch, t_batch in zip(X, T):
            g = self.backward(p, x_batch[None, :], t_batch[None, :])
            g = {k: v / 2.0 for k, v in g.items()}  # per-sample loss divides by len(y) = 2, not N = 1
            p = {
                "W3": p["W3"] - lr * g["W3"],
                "b3": p["b3"] - lr * g["b3"],
                "W2": p["W2"] - lr * g["W2"],
                "b2": p["b2"] - -lr * g["b2"],  # the template's sign error, kept
            }
        return {k: p[k] for k in self.param_shapes}
