"""004 공부시간 네트워크 (2 -> 3 -> 1, 편향 없음): 역전파 대신 수치미분 (003 노트북의 h = 1e-4).

Central differences of ``sum((y - yhat)**2) / 2``: right to about 1e-9,
but not backpropagation.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    return sigmoid(sigmoid(x @ params["W1"]) @ params["W2"])


def cost_function(params, x, y):
    y_hat = forward(params, x)
    return 0.5 * np.sum((y - y_hat) ** 2)


def numerical_derivative(f, x):
    delta_x = 1e-4
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        idx = it.multi_index
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + delta_x
        fx1 = f(x)
        x[idx] = float(tmp_val) - delta_x
        fx2 = f(x)
        grad[idx] = (fx1 - fx2) / (2 * delta_x)
        x[idx] = tmp_val
        it.iternext()
    return grad


def backward(params, x, y):
    p = {"W1": params["W1"].copy(), "W2": params["W2"].copy()}   # 원본 보호
    f = lambda _: cost_function(p, x, y)
    return {"W1": numerical_derivative(f, p["W1"]), "W2": numerical_derivative(f, p["W2"])}
