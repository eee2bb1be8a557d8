"""XOR 2 -> 3 -> 1: a correct backward that calls the forward for its output and the loss to print it.

cs231n style: the backward reuses the forward (one call) and reports the
loss (one more call of the forward through ``loss``): two evaluations of
the model per backward call, never taken for a numerical gradient.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])


def loss(params, x, y):
    return np.mean((forward(params, x) - y) ** 2)


def backward(params, x, y, verbose=False):
    a2 = forward(params, x)
    if verbose or loss(params, x, y) > 1e9:
        print("loss is huge")
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = (dz2 @ params["W2"].T) * a1 * (1 - a1)
    return {
        "W1": x.T @ dz1,
        "b1": dz1.sum(axis=0, keepdims=True),
        "W2": a1.T @ dz2,
        "b2": dz2.sum(axis=0, keepdims=True),
    }
