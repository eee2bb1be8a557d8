"""004 연습문제: 2 -> 4 -> 4 -> 1 sigmoid, 편향 없음, loss = sum((y - yhat)**2) / 2.

W2 is square (4, 4), so ``delta2.T @ a1`` has the right shape and the
wrong layout: it is the transpose of ``a1.T @ delta2``.
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
    dJdW3 = np.dot(a2.T, delta1)
    delta2 = np.dot(delta1, w3.T) * sigmoid_prime(z2)
    dJdW2 = np.dot(delta2.T, a1)       # 모양이 (4, 4)라서 에러가 안 남...
    delta3 = np.dot(delta2, w2.T) * sigmoid_prime(z1)
    dJdW1 = np.dot(x.T, delta3)
    return {"W1": dJdW1, "W2": dJdW2, "W3": dJdW3}
