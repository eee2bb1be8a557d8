"""The losses of the course notebooks and their gradients.

Each loss takes the network's output ``out`` of shape ``(..., N, d)`` (leading
stack axes allowed) and the targets ``y`` of shape ``(N, d)``, and reduces over
the last two axes (samples and outputs) only, so ``P`` stacked outputs give
``P`` losses.  Each ``<loss>_grad(out, y)`` is the exact derivative of the
loss with respect to ``out``, with the shape of ``out``.

The cross-entropies take *logits* (the input of the sigmoid / softmax), which
makes them exact and overflow-free for any logit (``log(sigmoid(z))`` is
``-inf`` in floating point for ``z < -745``, the logit form is not).
"""
from __future__ import annotations

import numpy as np

from reference_models.activations import sigmoid, softmax

__all__ = [
    "mse",
    "mse_grad",
    "half_sse",
    "half_sse_grad",
    "sse_per_sample",
    "sse_per_sample_grad",
    "half_squared_error",
    "half_squared_error_grad",
    "bce_with_logits",
    "bce_with_logits_grad",
    "softmax_cross_entropy",
    "softmax_cross_entropy_grad",
]

_LAST_TWO = (-2, -1)


def _n_samples(out: np.ndarray) -> int:
    return out.shape[-2]


def mse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``L = mean((y - out)**2)`` over all ``N * d`` entries (000's ``mse_loss``).

    Examples
    --------
    >>> float(mse(np.array([[0.5], [0.5]]), np.array([[0.0], [1.0]])))
    0.25
    """
    return np.mean((y - out) ** 2, axis=_LAST_TWO)


def mse_grad(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dout = 2 (out - y) / (N d)``."""
    return 2.0 * (out - y) / (out.shape[-2] * out.shape[-1])


def half_sse(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``L = sum((y - out)**2) / 2`` (004: a sum over samples, not a mean)."""
    return np.sum((y - out) ** 2, axis=_LAST_TWO) / 2.0


def half_sse_grad(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dout = out - y`` (004's ``-(y - y_hat)``)."""
    return out - y


def sse_per_sample(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``L = sum((t - y)**2) / N`` for an ``(N, d)`` batch (003's ``mean_square_error``)."""
    return np.sum((y - out) ** 2, axis=_LAST_TWO) / _n_samples(out)


def sse_per_sample_grad(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dout = 2 (out - t) / N``."""
    return 2.0 * (out - y) / _n_samples(out)


def half_squared_error(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``L = mean over samples of 0.5 * sum((y - out)**2)`` (001's chain example)."""
    return np.sum(0.5 * (y - out) ** 2, axis=_LAST_TWO) / _n_samples(out)


def half_squared_error_grad(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dout = (out - y) / N``."""
    return (out - y) / _n_samples(out)


def bce_with_logits(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Binary cross-entropy of ``yhat = sigmoid(z)``, mean over all entries (002).

    ``-(y log(yhat) + (1 - y) log(1 - yhat)) = log(1 + exp(z)) - y z``;
    the right-hand side is what is computed (no ``log(0)``, no overflow).

    Examples
    --------
    >>> float(bce_with_logits(np.array([[0.0]]), np.array([[1.0]])))  # log 2
    0.6931471805599453
    >>> float(bce_with_logits(np.array([[-1000.0]]), np.array([[1.0]])))
    1000.0
    """
    return np.mean(np.logaddexp(0.0, z) - y * z, axis=_LAST_TWO)


def bce_with_logits_grad(z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dL/dz = (sigmoid(z) - y) / (N d)``."""
    return (sigmoid(z) - y) / (z.shape[-2] * z.shape[-1])


def softmax_cross_entropy(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Cross-entropy of ``p = softmax(z)``, mean over samples of ``-sum_k t_k log p_k`` (001).

    ``log p = z - max(z) - log(sum(exp(z - max(z))))`` (log-sum-exp), so
    the loss is finite for any logits.
    """
    shifted = z - np.max(z, axis=-1, keepdims=True)
    log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    return -np.sum(t * log_p, axis=_LAST_TWO) / _n_samples(z)


def softmax_cross_entropy_grad(z: np.ndarray, t: np.ndarray) -> np.ndarray:
    """``dL/dz = (p * sum_k t_k - t) / N``, i.e. ``(p - t) / N`` for one-hot ``t``.

    (The 001 notebook's ``layer_2_delta = t - p`` is minus this, per sample.)
    """
    p = softmax(z)
    return (p * np.sum(t, axis=-1, keepdims=True) - t) / _n_samples(z)
