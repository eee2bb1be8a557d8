"""000 XOR 1층 (2 -> 1 sigmoid): 메모리 아끼려고 전부 float32 로 계산.

The right backward pass, computed in single precision: about 1e-7
relative error, far above float64 rounding.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    return sigmoid(x @ params["W1"] + params["b1"])


def backward(params, x, y):
    x = x.astype(np.float32)
    y = y.astype(np.float32)
    W1 = params["W1"].astype(np.float32)
    b1 = params["b1"].astype(np.float32)
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    da1 = np.float32(2) * (a1 - y) / np.float32(y.size)
    dz1 = da1 * a1 * (np.float32(1) - a1)
    dW1 = x.T @ dz1
    db1 = np.sum(dz1, axis=0, keepdims=True)
    return {"W1": dW1, "b1": db1}
