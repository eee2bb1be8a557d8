"""002 이차 경계 네트워크 (2 -> 3 ReLU -> 1 sigmoid, BCE 평균): 1/N 을 빠뜨린 backward.

The loss is the *mean* binary cross-entropy, but the output delta is
written ``yhat - y`` (the per-sample derivative) and never divided by N:
every gradient is N times too large.
"""
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
    y = y.reshape(-1, 1)
    a = x @ W1 + b1            # 노트북 표기: a 가 선형결합, z 가 활성화 출력
    z = relu(a)
    ay1 = z @ W2 + b2
    yhat = sigmoid(ay1)

    day1 = yhat - y            # BCE 미분 (평균이니까 N 으로 나눠야 하는데...)
    dW2 = z.T @ day1
    db2 = np.sum(day1, axis=0)
    dz = day1 @ W2.T
    da = dz * (a > 0)
    dW1 = x.T @ da
    db1 = np.sum(da, axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


np.random.seed(317)
X = np.random.rand(100, 2) * 4 - 2
Y = (X[:, 1] + 1 > X[:, 0] ** 2).astype(int)
