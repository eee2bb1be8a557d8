"""Notebook 002: a quadratic decision boundary, ``2 -> 3 (ReLU | tanh | step) -> 1 sigmoid``.

Binary cross-entropy, mean over samples.  The notebook writes every weight as
a scalar (``w11 .. w33``, ``b11 .. b13``, ``b21``) and, unusually, calls the
pre-activations ``a`` and the activations ``z``; in matrix form
``W1[i, j] = w{i+1}{j+1}``, ``W2[j, 0] = w3{j+1}``, ``b1[j] = b1{j+1}``,
``b2[0] = b21`` (:func:`to_notebook_names`, :func:`from_notebook_names`).

The notebook never backpropagates: it trains with a central-difference
gradient with ``h = 1e-7`` (:meth:`ReLUSigmoidBCE.notebook_gradient`), a
step so small that round-off, not the model, limits it to about 1e-9.

The layers end at the logit ``ay1``; the loss head applies the sigmoid inside
the cross-entropy (``log(1 + exp(ay1)) - y ay1``, exact for any logit) and
:meth:`ReLUSigmoidBCE.forward` returns ``yhat = sigmoid(ay1)`` of shape ``(N,)``.
"""
from __future__ import annotations

import numpy as np

from gradcheck import nn
from reference_models._base import Model, Params, check_size
from reference_models.activations import relu, relu_prime, sigmoid, step, step_prime, tanh, tanh_prime
from reference_models.losses import bce_with_logits_grad

__all__ = ["ReLUSigmoidBCE", "ACTIVATIONS", "to_notebook_names", "from_notebook_names", "golden_params"]

#: hidden activation name -> (function, derivative, the layer that declares it)
ACTIVATIONS = {
    "relu": (relu, relu_prime, nn.ReLU()),
    "tanh": (tanh, tanh_prime, nn.Tanh()),
    "step": (step, step_prime, nn.Step()),
}


def to_notebook_names(params: Params) -> dict[str, float]:
    """The notebook's scalar names: ``{"b11": b1[0], ..., "w11": W1[0, 0], ..., "w31": W2[0, 0], ...}``.

    Examples
    --------
    >>> to_notebook_names(golden_params())["w32"]
    0.3
    """
    W1, b1, W2, b2 = (np.asarray(params[k], dtype=np.float64) for k in ("W1", "b1", "W2", "b2"))
    out: dict[str, float] = {}
    for j in range(W1.shape[1]):
        out[f"b1{j + 1}"] = float(b1[j])
    out["b21"] = float(b2[0])
    for i in range(W1.shape[0]):
        for j in range(W1.shape[1]):
            out[f"w{i + 1}{j + 1}"] = float(W1[i, j])
    for j in range(W2.shape[0]):
        out[f"w3{j + 1}"] = float(W2[j, 0])
    return out


def from_notebook_names(scalars: dict[str, float], hidden: int = 3) -> dict[str, np.ndarray]:
    """Inverse of :func:`to_notebook_names`: the matrix-form params."""
    h = check_size("hidden", hidden)
    return {
        "W1": np.array([[scalars[f"w{i + 1}{j + 1}"] for j in range(h)] for i in range(2)], dtype=np.float64),
        "b1": np.array([scalars[f"b1{j + 1}"] for j in range(h)], dtype=np.float64),
        "W2": np.array([[scalars[f"w3{j + 1}"]] for j in range(h)], dtype=np.float64),
        "b2": np.array([scalars["b21"]], dtype=np.float64),
    }


def golden_params() -> dict[str, np.ndarray]:
    """The forward cell's values, at which the notebook prints its loss and gradient."""
    return from_notebook_names({
        "b11": 0.0, "b12": 0.0, "b13": 0.0, "b21": 0.0,
        "w11": 0.1, "w12": 0.2, "w13": 0.3,
        "w21": 0.1, "w22": 0.2, "w23": 0.3,
        "w31": 0.1, "w32": 0.3, "w33": 0.3,
    })


_TRAINING_START = {
    "b11": 0.0, "b12": 0.0, "b13": 0.0, "b21": 0.0,
    "w11": 0.2, "w12": 0.3, "w13": 0.8,
    "w21": 0.7, "w22": 0.8, "w23": 0.3,
    "w31": 0.3, "w32": 0.1, "w33": 0.2,
}


class ReLUSigmoidBCE(Model):
    """``2 -> hidden (activation) -> 1 sigmoid``, mean binary cross-entropy.

    Parameters
    ----------
    hidden : int, default 3
    activation : {"relu", "tanh", "step"}, default "relu"
        The hidden activation (the notebook switches between the three).

    Examples
    --------
    >>> m = ReLUSigmoidBCE()
    >>> x, y = m.notebook_data()
    >>> round(m.loss(golden_params(), x, y), 12)   # the notebook prints 0.6832187873470724
    0.683218787347
    """

    name = "relu_sigmoid_bce"
    description = "quadratic boundary, 2 -> 3 ReLU/tanh/step -> 1 sigmoid, binary cross-entropy"
    seed_notebook = "002"
    loss_head = nn.BCE()
    equations = """\
forward (the notebook calls pre-activations a and activations z):
  a   = x W1 + b1          (a_j = b1j + w1j x1 + w2j x2)
  z   = h(a)               (h = relu, tanh or step)
  ay1 = z W2 + b2          (ay1 = b21 + w31 z1 + w32 z2 + w33 z3)
  yhat = sigmoid(ay1)
  L = -mean(y log(yhat) + (1 - y) log(1 - yhat))
backward:
  dL/day1 = (yhat - y) / N
  dL/dW2 = z^T dL/day1,   dL/db2 = sum over samples of dL/day1
  dL/dz  = dL/day1 W2^T
  dL/da  = dL/dz * h'(a)  (relu'(a) = 1 where a > 0; step'(a) = 0)
  dL/dW1 = x^T dL/da,     dL/db1 = sum over samples of dL/da
"""

    def __init__(self, hidden: int = 3, activation: str = "relu") -> None:
        self.hidden = check_size("hidden", hidden)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got activation={activation!r}")
        self.activation = activation
        self.act, self.act_prime, hidden_layer = ACTIVATIONS[activation]
        h = self.hidden
        self.param_shapes = {"W1": (2, h), "b1": (h,), "W2": (h, 1), "b2": (1,)}
        self.layers = (nn.Dense("W1", "b1"), hidden_layer, nn.Dense("W2", "b2"))

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        return self._batch(x, 2)

    def present(self, out: np.ndarray) -> np.ndarray:
        """``yhat = sigmoid(ay1)``, shape ``(..., N)`` like the notebook's."""
        return sigmoid(out)[..., 0]

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The notebook's training start (``w11, w12, w13 = 0.2, 0.3, 0.8`` ..., zero biases).

        The notebook picks its weights by hand, so ``rng`` is not used for
        ``hidden=3``; for other sizes the weights are drawn uniformly from
        ``[0.1, 0.9)`` (the range of the hand-picked ones), biases zero.
        """
        if self.hidden == 3:
            return from_notebook_names(_TRAINING_START)
        h = self.hidden
        return {
            "W1": rng.uniform(0.1, 0.9, size=(2, h)),
            "b1": np.zeros(h),
            "W2": rng.uniform(0.1, 0.9, size=(h, 1)),
            "b2": np.zeros(1),
        }

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Points uniform in ``[-2, 2)^2`` and labels ``y = (x2 + 1 > x1**2)``, shapes ``(n, 2)``, ``(n,)``."""
        n = check_size("n", n)
        x = rng.random((n, 2)) * 4 - 2
        return x, (x[:, 1] + 1 > x[:, 0] ** 2).astype(np.float64)

    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """``np.random.seed(317); X = rand(100, 2) * 4 - 2; y = (X[:, 1] + 1 > X[:, 0]**2)``."""
        X = np.random.RandomState(317).rand(100, 2) * 4 - 2
        y = (X[:, 1] + 1 > X[:, 0] ** 2).astype(np.float64)
        return X, y

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        x = self.prepare_input(x)
        y = self._targets(y, len(x), 1)
        W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
        a = x @ W1 + b1
        z = self.act(a)
        ay1 = z @ W2 + b2

        dL_day1 = bce_with_logits_grad(ay1, y)
        dL_dz = dL_day1 @ W2.T
        dL_da = dL_dz * self.act_prime(a)
        return {
            "W1": x.T @ dL_da,
            "b1": np.sum(dL_da, axis=0),
            "W2": z.T @ dL_day1,
            "b2": np.sum(dL_day1, axis=0),
        }

    def notebook_gradient(self, params: Params, x: np.ndarray, y: np.ndarray, h: float = 1e-7) -> dict[str, np.ndarray]:
        """The notebook's ``get_gradient``: ``(L(p + h) - L(p - h)) / (2 h)`` per entry, ``h = 1e-7``."""
        base = {k: np.array(params[k], dtype=np.float64) for k in self.param_shapes}
        grads: dict[str, np.ndarray] = {}
        for key, value in base.items():
            g = np.empty_like(value)
            for idx in np.ndindex(value.shape):
                moved = dict(base)
                moved[key] = value.copy()
                moved[key][idx] = value[idx] - h
                loss1 = self.loss(moved, x, y)
                moved[key][idx] = value[idx] + h
                loss2 = self.loss(moved, x, y)
                g[idx] = (loss2 - loss1) / (2 * h)
            grads[key] = g
        return grads

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """The notebook's update ``p -= lr * notebook_gradient`` (``lr = 0.1`` there)."""
        grads = self.notebook_gradient(params, x, y)
        return {k: np.asarray(params[k], dtype=np.float64) - lr * grads[k] for k in self.param_shapes}
