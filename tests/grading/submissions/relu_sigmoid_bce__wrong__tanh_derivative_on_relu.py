"""002: ReLU 은닉층인데 tanh 버전에서 복사한 미분 (1 - z**2) 을 그대로 씀.

``1 - relu(a)**2`` is no derivative of the ReLU: the first layer's
gradients fit no known pattern (the output layer's are right).
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
    N = len(x)
    y = y.reshape(N, 1)
    a = x @ W1 + b1
    z = relu(a)
    yhat = sigmoid(z @ W2 + b2)

    day1 = (yhat - y) / N
    dW2 = z.T @ day1
    db2 = day1.sum(axis=0)
    dz = day1 @ W2.T
    da = dz * (1 - z ** 2)       # tanh 일 때 쓰던 미분 그대로...
    dW1 = x.T @ da
    db1 = da.sum(axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
