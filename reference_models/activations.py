"""Activation functions of the course notebooks and their derivatives.

Every function takes the pre-activation ``z`` (any shape, leading stack axes
allowed), returns a new float64 array and never writes into its argument
(the 004 notebook's ``leru(z)`` does ``z[z < 0] = 0`` and destroys its input;
these do not).  Derivatives are written ``<name>_prime(z)`` and are taken
with respect to ``z``, as in ``sigmoid'(z) = s(z) (1 - s(z))``.

ReLU and step have a kink at ``z = 0``; their derivatives use the mask
``z > 0`` (ReLU) and ``0`` everywhere (step), the conventions of the
notebooks' own ``relu`` / ``step_function`` (``np.where(z <= 0, 0, 1)``).
They are defined once, in :mod:`gradcheck.nn`, whose ``Sigmoid()``,
``ReLU()``, ... layers the models declare; this module re-exports them
next to the softmax.

Examples
--------
>>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
array([0.5, 1. , 0. ])
"""
from __future__ import annotations

import numpy as np

# the elementwise functions are the layer vocabulary's own: one definition
from gradcheck.nn import relu, relu_prime, sigmoid, sigmoid_prime, step, step_prime, tanh, tanh_prime

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "relu",
    "relu_prime",
    "tanh",
    "tanh_prime",
    "step",
    "step_prime",
    "softmax",
    "softmax_jacobian",
]


def _as_float(z: np.ndarray) -> np.ndarray:
    return np.asarray(z, dtype=np.float64)


def softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    """``softmax(z)_k = exp(z_k) / sum_j exp(z_j)`` along ``axis``.

    The maximum is subtracted first (as the 001 notebook does), so large
    logits neither overflow nor produce ``nan``.

    Examples
    --------
    >>> softmax(np.array([[0.0, 0.0], [1000.0, 0.0]]))
    array([[0.5, 0.5],
           [1. , 0. ]])
    """
    z = _as_float(z)
    e = np.exp(z - np.max(z, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_jacobian(z: np.ndarray) -> np.ndarray:
    """Jacobian of :func:`softmax` over the last axis: ``diag(p) - p p^T``.

    For ``z`` of shape ``(..., d)`` the result has shape ``(..., d, d)`` with
    ``J[..., i, j] = d p_i / d z_j = p_i (delta_ij - p_j)``.
    """
    p = softmax(z)
    return p[..., :, None] * (np.eye(p.shape[-1]) - p[..., None, :])
