"""003 노트북의 numerical_derivative (중앙차분, h = 1e-4) 로 구한 '기울기'.

Close to the exact gradient (about 1e-9 relative) but computed
numerically, not by backpropagation.
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def mean_square_error(y, t):
    return np.sum((t - y) ** 2) / len(y)


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


def forward(params, x):
    a2 = sigmoid(x @ params["W2"] + params["b2"])
    return sigmoid(a2 @ params["W3"] + params["b3"])


def backward(params, x, t):
    # 파라미터를 복사해서 씀 (원본은 건드리지 않기)
    p = {k: v.copy() for k, v in params.items()}

    def loss(_):
        return mean_square_error(forward(p, x), t)

    grads = {}
    for name in ("W2", "b2", "W3", "b3"):
        grads[name] = numerical_derivative(loss, p[name])
    return grads
