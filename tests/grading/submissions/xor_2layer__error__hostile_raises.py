"""Hostile (or just unfinished): backward raises inside a helper."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def layer_grad(a, delta):
    return a.T @ delta.T  # wrong transpose: shapes do not align


def backward(params, x, y):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    delta = np.ones((len(x), 1))
    return {"W2": layer_grad(a1, delta)}
