"""The 001 chain-rule network (w of shape (2,), v a scalar), batch mean of 0.5 * (y - l2)**2."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    return sigmoid(sigmoid(x @ params["w"]) * params["v"])


def backward(params, x, y):
    w, v = params["w"], params["v"]
    l1 = sigmoid(x @ w)
    l2 = sigmoid(l1 * v)
    output_error_term = -(y - l2) * l2 * (1 - l2) / len(x)
    hidden_error_term = output_error_term * v * l1 * (1 - l1)
    return {"w": x.T @ hidden_error_term, "v": np.sum(output_error_term * l1)}
