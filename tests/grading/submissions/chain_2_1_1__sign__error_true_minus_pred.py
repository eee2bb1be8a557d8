"""001 첫 셀의 체인 네트워크: 출력 오차를 (정답 - 예측)으로 써서 부호가 뒤집힌 backward.

The notebook's ``error = true_y - l2`` carried into the gradient: every
entry is exactly minus the gradient of 0.5 * (y - l2)**2 (batch mean).
"""
import numpy as np


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def forward(params, x):
    return sigmoid(sigmoid(x @ params["w"]) * params["v"])


def backward(params, x, y):
    w = params["w"]
    v = params["v"]
    l1 = sigmoid(x @ w)          # 은닉층 출력
    l2 = sigmoid(l1 * v)         # 출력층 출력
    error = y - l2               # 오차 = 정답 - 예측  (부호 주의!)
    output_error_term = error * l2 * (1 - l2) / len(x)
    hidden_error_term = output_error_term * v * l1 * (1 - l1)
    dv = np.sum(output_error_term * l1)
    dw = x.T @ hidden_error_term
    return {"w": dw, "v": dv}


x = np.array([[0.1, 0.3]])
y = np.array([1.0])
params = {"w": np.array([0.4, -0.2]), "v": np.array(0.1)}
print("prediction:", forward(params, x))
