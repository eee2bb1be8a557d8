"""Hand-written gradients of the ReLU softmax MLPs the fast-mode tests use, independent of the code under test."""
from __future__ import annotations

import numpy as np

__all__ = ["two_hidden_relu_backward"]


def two_hidden_relu_backward(p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """Dense-ReLU-Dense-ReLU-Dense with a mean softmax cross-entropy over integer labels; ``relu'(0) = 0``."""
    z1 = x @ p["W1"] + p["b1"]
    h1 = np.maximum(z1, 0.0)
    z2 = h1 @ p["W2"] + p["b2"]
    h2 = np.maximum(z2, 0.0)
    s = h2 @ p["W3"] + p["b3"]
    e = np.exp(s - s.max(1, keepdims=True))
    d = e / e.sum(1, keepdims=True)
    d[np.arange(len(x)), y] -= 1.0
    d /= len(x)
    d2 = d @ p["W3"].T * (z2 > 0)
    d1 = d2 @ p["W2"].T * (z1 > 0)
    return {"W1": x.T @ d1, "b1": d1.sum(0), "W2": h1.T @ d2, "b2": d2.sum(0), "W3": h2.T @ d, "b3": d.sum(0)}
