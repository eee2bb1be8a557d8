"""001 MNIST (784 -> 100 ReLU -> 10 softmax): 드롭아웃 마스크를 backward 안에서 새로 뽑음.

The dropout mask of the book's chapter, drawn with an unseeded
``np.random.randint`` on every call: two calls at the same point disagree.
"""
import numpy as np


def relu(x):
    return (x > 0) * x


def relu2deriv(output):
    return output > 0


def softmax(x):
    e = np.exp(x - np.max(x, axis=1, keepdims=True))
    return e / np.sum(e, axis=1, keepdims=True)


def forward(params, x):
    return softmax(relu(x @ params["W1"]) @ params["W2"])


def backward(params, x, t):
    weights_0_1, weights_1_2 = params["W1"], params["W2"]
    layer_0 = x
    layer_1 = relu(np.dot(layer_0, weights_0_1))
    dropout_mask = np.random.randint(2, size=layer_1.shape)   # 드롭아웃
    layer_1 = layer_1 * dropout_mask * 2
    layer_2 = softmax(np.dot(layer_1, weights_1_2))

    layer_2_delta = (layer_2 - t) / len(x)
    layer_1_delta = layer_2_delta.dot(weights_1_2.T) * relu2deriv(layer_1)
    layer_1_delta *= dropout_mask
    return {"W1": layer_0.T.dot(layer_1_delta), "W2": layer_1.T.dot(layer_2_delta)}
