"""000 숙제: XOR 2 -> 3 -> 3 -> 1 sigmoid. 편향 기울기를 keepdims 없이 더함.

``np.sum(dz, axis=0)`` gives shape (3,) and (1,) where the biases are
(1, 3) and (1, 1): right numbers, wrong shape.
"""
import numpy as np


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def sigmoid_derivative(a):
    return a * (1 - a)


def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    a2 = sigmoid(a1 @ params["W2"] + params["b2"])
    return sigmoid(a2 @ params["W3"] + params["b3"])


def backward(params, x, y):
    W1, b1 = params["W1"], params["b1"]
    W2, b2 = params["W2"], params["b2"]
    W3, b3 = params["W3"], params["b3"]
    z1 = np.dot(x, W1) + b1
    a1 = sigmoid(z1)
    z2 = np.dot(a1, W2) + b2
    a2 = sigmoid(z2)
    z3 = np.dot(a2, W3) + b3
    a3 = sigmoid(z3)

    da3 = 2 * (a3 - y) / y.size
    dz3 = da3 * sigmoid_derivative(a3)
    dW3 = np.dot(a2.T, dz3)
    db3 = np.sum(dz3, axis=0)          # keepdims 를 안 씀
    da2 = np.dot(dz3, W3.T)
    dz2 = da2 * sigmoid_derivative(a2)
    dW2 = np.dot(a1.T, dz2)
    db2 = np.sum(dz2, axis=0)
    da1 = np.dot(dz2, W2.T)
    dz1 = da1 * sigmoid_derivative(a1)
    dW1 = np.dot(x.T, dz1)
    db1 = np.sum(dz1, axis=0)
    return {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2, "W3": dW3, "b3": db3}
