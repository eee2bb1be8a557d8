"""Right gradients, but written into the caller's arrays.

The 004 notebook's helpers write into their argument (`z[z < 0] = 0`), and
a common slip is to update the weights inside backward: both change the
caller's arrays.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def clip_negative(z):
    z[z < 0] = 0
    return z


def backward(params, x, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    a1 = sigmoid(x @ W1 + b1)
    a2 = sigmoid(a1 @ W2 + b2)
    dz2 = 2 * (a2 - y) / y.size * a2 * (1 - a2)
    dz1 = (dz2 @ W2.T) * a1 * (1 - a1)
    grads = {"W1": x.T @ dz1, "b1": dz1.sum(axis=0, keepdims=True), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0, keepdims=True)}
    clip_negative(W1)  # in place: the caller's W1 loses its negative entries
    b2 -= 0.1 * grads["b2"]  # a training step inside backward, in place
    return grads
