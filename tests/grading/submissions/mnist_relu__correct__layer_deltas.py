"""001 MNIST 784 -> 100 ReLU -> 10 softmax, 편향 없음, 교차 엔트로피 배치 평균: 올바른 backward.

relu2deriv uses ``output > 0`` (not the notebook's ``output >= 0``).
"""
import numpy as np


def relu(x):
    return (x > 0) * x


def relu2deriv(output):
    return output > 0                    # >= 0 이면 항상 1 이 되는 버그


def softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def forward(params, x):
    return softmax(relu(x @ params["W1"]) @ params["W2"])


def backward(params, x, t):
    weights_0_1, weights_1_2 = params["W1"], params["W2"]
    layer_0 = x
    layer_1 = relu(layer_0.dot(weights_0_1))
    layer_2 = softmax(layer_1.dot(weights_1_2))

    layer_2_delta = (layer_2 - t) / len(layer_0)          # 배치 평균
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
    return {"W1": layer_0.T.dot(layer_1_delta), "W2": layer_1.T.dot(layer_2_delta)}
