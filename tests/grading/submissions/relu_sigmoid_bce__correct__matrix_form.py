"""002 이차 경계 (2 -> 3 ReLU -> 1 sigmoid, BCE 평균): 수치미분 대신 역전파로 구한 올바른 기울기."""
import numpy as np


def relu(a):
    return np.maximum(0, a)


def sigmoid(a):
    return 1 / (1 + np.exp(-a))


def forward(params, x):
    z = relu(x @ params["W1"] + params["b1"])
    return sigmoid(z @ params["W2"] + params["b2"])[:, 0]


def backward(params, x, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    N = len(x)
    y = y.reshape(N, 1)
    a = x @ W1 + b1
    z = relu(a)
    yhat = sigmoid(z @ W2 + b2)

    day1 = (yhat - y) / N            # BCE + sigmoid 의 미분, 평균이므로 /N
    dz = day1 @ W2.T
    da = dz * (a > 0)
    return {
        "W1": x.T @ da,
        "b1": da.sum(axis=0),
        "W2": z.T @ day1,
        "b2": day1.sum(axis=0),
    }
