"""XOR 2 -> 3 -> 1, sigmoid, mean squared error: every gradient 32 times too large.

The output error is scaled by a stray constant (a learning-rate-like 32 left
in the backward pass), so W1, b1, W2 and the one-entry b2 are all 32 times
the exact gradient.  b2 has a single entry, and one number is always some
multiple of another; the factor is known from the other three (rt17 F16).
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    hidden = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(hidden @ params["W2"] + params["b2"])


def backward(params, x, y):
    hidden = sigmoid(x @ params["W1"] + params["b1"])
    out = sigmoid(hidden @ params["W2"] + params["b2"])
    delta_out = 32.0 * 2 * (out - y) / y.size * out * (1 - out)  # the stray 32
    delta_hidden = delta_out @ params["W2"].T * hidden * (1 - hidden)
    return {
        "W1": x.T @ delta_hidden,
        "b1": np.sum(delta_hidden, axis=0, keepdims=True),
        "W2": hidden.T @ delta_out,
        "b2": np.sum(delta_out, axis=0, keepdims=True),
    }
