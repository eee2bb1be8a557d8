"""004 연습문제 (2 -> 4 -> 4 -> 1): backward 안에서 가중치까지 갱신해 버림.

The gradients are right, but ``w -= dJdw`` writes into the arrays the
caller passed: the caller's parameters change behind its back.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_prime(z):
    return np.exp(-z) / ((1 + np.exp(-z)) ** 2)


def forward(params, x):
    a1 = sigmoid(x @ params["W1"])
    a2 = sigmoid(a1 @ params["W2"])
    return sigmoid(a2 @ params["W3"])


def backward(params, x, y):
    w1, w2, w3 = params["W1"], params["W2"], params["W3"]
    z1 = x @ w1
    a1 = sigmoid(z1)
    z2 = a1 @ w2
    a2 = sigmoid(z2)
    z3 = a2 @ w3
    y_hat = sigmoid(z3)

    delta1 = -(y - y_hat) * sigmoid_prime(z3)
    dJdw3 = a2.T @ delta1
    delta2 = (delta1 @ w3.T) * sigmoid_prime(z2)
    dJdw2 = a1.T @ delta2
    delta3 = (delta2 @ w2.T) * sigmoid_prime(z1)
    dJdw1 = x.T @ delta3

    # 노트북처럼 학습률 1 로 바로 갱신 (편하니까)
    w1 -= dJdw1
    w2 -= dJdw2
    w3 -= dJdw3
    return {"W1": dJdw1, "W2": dJdw2, "W3": dJdw3}
