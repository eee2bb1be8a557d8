# A correct backward followed by the training a student leaves at module level: an epoch loop
# of 10,000 steps that calls backward, a learning-rate sweep over a written-out list that calls
# train, and a while loop.  Each would run for minutes (the sleep stands for the real work);
# the loader must still skip all three, so the grade is 4/4 and quick.
import time

import numpy as np


def sig(z):
    return 1 / (1 + np.exp(-z))


def forward(params, x):
    return sig(sig(x @ params['W1'] + params['b1']) @ params['W2'] + params['b2'])


def backward(params, x, y):
    a1 = sig(x @ params['W1'] + params['b1'])
    a2 = sig(a1 @ params['W2'] + params['b2'])
    d2 = 2 * (a2 - y) / len(x) * a2 * (1 - a2)
    d1 = d2 @ params['W2'].T * a1 * (1 - a1)
    return {'W1': x.T @ d1, 'b1': d1.sum(0, keepdims=True), 'W2': a1.T @ d2, 'b2': d2.sum(0, keepdims=True)}


def train(params, x, y, lr):
    time.sleep(60)
    return params


rng = np.random.default_rng(0)
X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y = np.array([[0.0], [1.0], [1.0], [0.0]])
params = {'W1': rng.normal(size=(2, 3)), 'b1': np.zeros((1, 3)), 'W2': rng.normal(size=(3, 1)), 'b2': np.zeros((1, 1))}
for epoch in range(10000):
    time.sleep(0.1)
    grads = backward(params, X, Y)
    for k in params:
        params[k] = params[k] - 0.5 * grads[k]
for lr in [0.1, 0.5, 1.0]:
    trained = train(params, X, Y, lr)
while True:
    time.sleep(1)
