"""One-hot 2 -> 2 sigmoid -> 2 sigmoid, E = sum((t - y)**2) / N: a correct backward pass."""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(params, x):
    a2 = sigmoid(x @ params["W2"] + params["b2"])
    return sigmoid(a2 @ params["W3"] + params["b3"])


def backward(params, x, t):
    a1 = x
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    y = sigmoid(a2 @ params["W3"] + params["b3"])
    dz3 = 2 * (y - t) / len(y) * y * (1 - y)
    dz2 = (dz3 @ params["W3"].T) * a2 * (1 - a2)
    return {"dW2": a1.T @ dz2, "db2": dz2.sum(axis=0), "dW3": a2.T @ dz3, "db3": dz3.sum(axis=0)}


x_data = np.array([[2, 4], [4, 11], [6, 6], [8, 5], [10, 7], [12, 16], [14, 8], [16, 3], [18, 7]])
