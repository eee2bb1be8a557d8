"""The 003 notebook's style: every parameter a separate argument, gradients returned as a tuple.

Graded with the assignment file of the same name (args and returns).
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def backprop(x, t, W2, b2, W3, b3):
    a2 = sigmoid(x @ W2 + b2)
    y = sigmoid(a2 @ W3 + b3)
    delta3 = 2 * (y - t) / len(y) * y * (1 - y)
    delta2 = (delta3 @ W3.T) * a2 * (1 - a2)
    return x.T @ delta2, delta2.sum(axis=0), a2.T @ delta3, delta3.sum(axis=0)
