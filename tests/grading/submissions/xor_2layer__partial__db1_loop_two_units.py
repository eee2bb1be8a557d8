"""000 XOR 2 -> 3 -> 1: db1 을 은닉 유닛별 for 문으로 구했는데 range(2) 로 남아 있음.

The hidden layer grew from 2 to 3 units, the loop did not: db1[0, 2]
stays 0, the other two entries are right.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])


def backward(params, x, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = x.shape[0]
    z1 = x @ W1 + b1
    a1 = sigmoid(z1)
    z2 = a1 @ W2 + b2
    a2 = sigmoid(z2)

    da2 = 2 * (a2 - y) / N          # MSE 평균의 미분
    dz2 = da2 * a2 * (1 - a2)
    dW2 = a1.T @ dz2
    db2 = np.sum(dz2, axis=0, keepdims=True)
    da1 = dz2 @ W2.T
    dz1 = da1 * a1 * (1 - a1)
    dW1 = x.T @ dz1
    db1 = np.zeros((1, 3))
    for j in range(2):              # 은닉 유닛 수 (처음엔 2개였음)
        db1[0, j] = np.sum(dz1[:, j])
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
