"""000 XOR 1층 (2 -> 1 sigmoid), loss = mean((y - a1)**2): 올바른 backward (2/N 포함)."""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    return sigmoid(x @ params["W1"] + params["b1"])


def backward(params, x, y):
    W1, b1 = params["W1"], params["b1"]
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    da1 = 2 * (a1 - y) / y.size      # 노트북은 a1 - y 만 씀: 2/N 을 빼먹지 말 것
    dz1 = da1 * a1 * (1 - a1)
    return {"dW1": x.T @ dz1, "db1": np.sum(dz1, axis=0, keepdims=True)}
