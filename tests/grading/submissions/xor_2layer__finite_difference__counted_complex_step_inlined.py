"""XOR 2 -> 3 -> 1: a complex step hidden from a call count: the forward is written out inside the loop.

``forward`` is never called during backward; the complex arithmetic is
what gives it away (no backward pass of a real network uses complex numbers).
"""
import numpy as np


def forward(params, x):
    a1 = 1 / (1 + np.exp(-(x @ params["W1"] + params["b1"])))
    return 1 / (1 + np.exp(-(a1 @ params["W2"] + params["b2"])))


def backward(params, x, y):
    g = {}
    for k, v in params.items():
        gk = np.zeros(v.shape)
        for i in np.ndindex(v.shape):
            W1, b1, W2, b2 = (params[n].astype(complex) for n in ("W1", "b1", "W2", "b2"))
            {"W1": W1, "b1": b1, "W2": W2, "b2": b2}[k][i] += 1e-30j
            a1 = 1 / (1 + np.exp(-(x @ W1 + b1)))
            a2 = 1 / (1 + np.exp(-(a1 @ W2 + b2)))
            gk[i] = np.mean((a2 - y) ** 2).imag / 1e-30
        g[k] = gk
    return g
