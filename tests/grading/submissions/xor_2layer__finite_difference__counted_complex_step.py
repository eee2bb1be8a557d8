"""XOR 2 -> 3 -> 1: a complex-step derivative through the student's own loss (red team rt16 F7).

Im(L(w + i h e_k)) / h with h = 1e-30 is exact to rounding, so the values
pass as backpropagation; the loss (and so ``forward``) runs once per
parameter (13 times), which no backward pass does.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])


def loss(params, x, y):
    return np.mean((forward(params, x) - y) ** 2)


def backward(params, x, y):
    g = {}
    for k, v in params.items():
        gk = np.zeros(v.shape)
        for i in np.ndindex(v.shape):
            p = {kk: vv.astype(complex) for kk, vv in params.items()}
            p[k][i] += 1e-30j
            gk[i] = loss(p, x, y).imag / 1e-30
        g[k] = gk
    return g
