"""003 원-핫 2-2-2 네트워크: 샘플 수 N 을 '라벨에서 1의 개수'로 셌다.

With smoothed targets (0.99 / 0.01) no entry equals 1, so ``n`` is 0 and
``2 * (y - t) / n`` is inf (or nan): every gradient is non-finite.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(params, x):
    a2 = sigmoid(x @ params["W2"] + params["b2"])
    return sigmoid(a2 @ params["W3"] + params["b3"])


def backward(params, x, t):
    W2, b2, W3, b3 = params["W2"], params["b2"], params["W3"], params["b3"]
    a1 = x
    z2 = a1 @ W2 + b2
    a2 = sigmoid(z2)
    z3 = a2 @ W3 + b3
    y = sigmoid(z3)

    n = np.sum(t == 1)                 # 원-핫이면 1의 개수 = 샘플 수
    dy = 2 * (y - t) / n
    delta3 = dy * y * (1 - y)
    delta2 = (delta3 @ W3.T) * a2 * (1 - a2)
    return {
        "W2": a1.T @ delta2,
        "b2": np.sum(delta2, axis=0),
        "W3": a2.T @ delta3,
        "b3": np.sum(delta3, axis=0),
    }
