"""Notebook 001 (second part): a ReLU network on MNIST, no biases.

``784 -> 100 ReLU -> 10 softmax`` with the mean over the batch of the
cross-entropy ``-sum(t * log p)``.  The notebook prints a sum of squared
errors but updates with ``t - p``, the (negative) gradient of softmax
cross-entropy with respect to the logits, so cross-entropy is the loss here.

The layers end at the logits ``z2``; the loss head applies the softmax
(log-sum-exp, exact for any logits) and :meth:`MNISTReLU.forward` returns the
probabilities ``softmax(z2)``.

The notebook's ``relu2deriv(output)`` returns ``output >= 0`` on the ReLU's
*output*, which is never negative: its backward treats the ReLU as the
identity.  :meth:`MNISTReLU.backward` uses the mask ``z1 > 0``;
:meth:`MNISTReLU.notebook_step` reproduces the notebook's update, bug included.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from gradcheck import nn
from reference_models._base import Model, NotebookDataUnavailable, Params, check_size
from reference_models.activations import relu, relu_prime, softmax
from reference_models.losses import softmax_cross_entropy_grad

__all__ = ["MNISTReLU", "NOTEBOOK_SEED", "mnist_paths", "load_mnist"]

#: ``rng = np.random.default_rng(NOTEBOOK_SEED)`` in the notebook
NOTEBOOK_SEED = 884736743
_SPLITS = {"train": ("x_train", "y_train", 10000), "test": ("x_test", "y_test", 1000)}


def mnist_paths() -> list[Path]:
    """Where :func:`load_mnist` looks, in order: ``$GRADCHECK_MNIST``, then Keras' cache."""
    paths = []
    env = os.environ.get("GRADCHECK_MNIST")
    if env:
        paths.append(Path(env).expanduser())
    paths.append(Path("~/.keras/datasets/mnist.npz").expanduser())
    return paths


def load_mnist(split: str = "train", n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Read a local Keras-layout ``mnist.npz`` as the notebook prepares it.

    Images are divided by 255 and flattened to 784 columns; labels become
    one-hot rows of 10.

    Parameters
    ----------
    split : {"train", "test"}
        Which arrays (``x_train``/``y_train`` or ``x_test``/``y_test``).
    n : int, optional
        Number of leading samples; the notebook's 10000 (train) or 1000 (test)
        by default.

    Raises
    ------
    NotebookDataUnavailable
        When no file exists at any of :func:`mnist_paths`.
    """
    if split not in _SPLITS:
        raise ValueError(f"split must be 'train' or 'test', got split={split!r}")
    x_key, y_key, default_n = _SPLITS[split]
    n = default_n if n is None else check_size("n", n)
    looked = mnist_paths()
    for path in looked:
        if path.is_file():
            with np.load(path) as data:
                images = np.asarray(data[x_key][:n], dtype=np.float64)
                labels = np.asarray(data[y_key][:n]).astype(int)
            x = (images / 255).reshape(len(images), -1)
            t = np.eye(10)[labels]
            return x, t
    where = ", ".join(str(p) for p in looked)
    raise NotebookDataUnavailable(
        f"MNIST is not available: no Keras-layout mnist.npz found (looked at {where}); "
        "set GRADCHECK_MNIST to the path of such a file"
    )


class MNISTReLU(Model):
    """``n_in -> hidden ReLU -> n_out softmax``, no biases, mean cross-entropy.

    Parameters
    ----------
    n_in, hidden, n_out : int, default 784, 100, 10
        Layer sizes (small sizes make fast tests).

    Examples
    --------
    >>> m = MNISTReLU(n_in=4, hidden=3, n_out=2)
    >>> p = {"W1": np.zeros((4, 3)), "W2": np.zeros((3, 2))}
    >>> x, t = m.example_batch(np.random.default_rng(0), 5)
    >>> round(m.loss(p, x, t), 12)   # uniform probabilities: log 2
    0.69314718056
    """

    name = "mnist_relu"
    description = "MNIST, 784 -> 100 ReLU -> 10 softmax, no biases, cross-entropy"
    seed_notebook = "001"
    loss_head = nn.SoftmaxCrossEntropy()
    equations = """\
forward:
  z1 = layer_0 W1            (layer_0: the images, N x 784)
  layer_1 = relu(z1)
  z2 = layer_1 W2
  layer_2 = p = softmax(z2)
  L = mean over samples of -sum_k t_k log p_k
backward:
  dL/dz2 = (p - t) / N       (the notebook's layer_2_delta = t - p, per sample)
  dL/dW2 = layer_1^T dL/dz2
  dL/dlayer_1 = dL/dz2 W2^T
  dL/dz1 = dL/dlayer_1 * relu'(z1),  relu'(z1) = 1 where z1 > 0 else 0
           (the notebook's relu2deriv(layer_1) = layer_1 >= 0 is always 1: a bug)
  dL/dW1 = layer_0^T dL/dz1
"""

    def __init__(self, n_in: int = 784, hidden: int = 100, n_out: int = 10) -> None:
        self.n_in = check_size("n_in", n_in)
        self.hidden = check_size("hidden", hidden)
        self.n_out = check_size("n_out", n_out)
        self.param_shapes = {"W1": (self.n_in, self.hidden), "W2": (self.hidden, self.n_out)}
        self.layers = (nn.Dense("W1"), nn.ReLU(), nn.Dense("W2"))

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if x.ndim > 2:  # images (N, 28, 28) -> (N, 784)
            x = x.reshape(len(x), -1)
        return self._batch(x, self.n_in)

    def present(self, out: np.ndarray) -> np.ndarray:
        """The probabilities ``softmax(z2)`` (the layers end at the logits)."""
        return softmax(out)

    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """``0.2 * rng.random(shape) - 0.1`` for ``W1`` then ``W2`` (notebook seed: :data:`NOTEBOOK_SEED`)."""
        W1 = 0.2 * rng.random((self.n_in, self.hidden)) - 0.1
        W2 = 0.2 * rng.random((self.hidden, self.n_out)) - 0.1
        return {"W1": W1, "W2": W2}

    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixels uniform in ``[0, 1]`` (MNIST's range after ``/255``) and one-hot labels."""
        n = check_size("n", n)
        x = rng.random((n, self.n_in))
        t = np.eye(self.n_out)[rng.integers(0, self.n_out, size=n)]
        return x, t

    def notebook_data(self, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
        """The notebook's 10000 training (or 1000 test) images and one-hot labels.

        Read from a local ``mnist.npz`` (see :func:`load_mnist`); raises
        :class:`NotebookDataUnavailable` when there is none.
        """
        if (self.n_in, self.n_out) != (784, 10):
            raise ValueError(
                f"MNIST has 784 inputs and 10 classes; this model has n_in={self.n_in}, n_out={self.n_out}"
            )
        return load_mnist(split)

    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        layer_0 = self.prepare_input(x)
        t = self._targets(y, len(layer_0), self.n_out)
        W1, W2 = params["W1"], params["W2"]
        z1 = layer_0 @ W1
        layer_1 = relu(z1)
        z2 = layer_1 @ W2

        dL_dz2 = softmax_cross_entropy_grad(z2, t)
        dL_dlayer_1 = dL_dz2 @ W2.T
        dL_dz1 = dL_dlayer_1 * relu_prime(z1)
        return {"W1": layer_0.T @ dL_dz1, "W2": layer_1.T @ dL_dz2}

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """The notebook's per-sample SGD over the rows of ``x`` (``lr = 0.0005`` there).

        ``layer_2_delta = t - p``, ``layer_1_delta = W2 @ layer_2_delta * (layer_1 >= 0)``
        (the mask is always 1: the notebook's ReLU bug), then
        ``W1 += lr * outer(layer_0, layer_1_delta)``, ``W2 += lr * outer(layer_1, layer_2_delta)``.
        """
        X = self.prepare_input(x)
        T = self._targets(y, len(X), self.n_out)
        W1 = np.array(params["W1"], dtype=np.float64)
        W2 = np.array(params["W2"], dtype=np.float64)
        for layer_0, t in zip(X, T):
            layer_1 = relu(layer_0 @ W1)
            layer_2 = softmax(layer_1 @ W2)
            layer_2_delta = t - layer_2
            layer_1_delta = (W2 @ layer_2_delta) * (layer_1 >= 0)
            W1 = W1 + lr * np.outer(layer_0, layer_1_delta)
            W2 = W2 + lr * np.outer(layer_1, layer_2_delta)
        return {"W1": W1, "W2": W2}
