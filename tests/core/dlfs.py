"""Layers and a TwoLayerNet written the "Deep Learning from Scratch" way, for the tests of
check_layer and check_net (not gradcheck code).

``Affine(W, b)`` holds the very arrays of ``net.params``; ``forward(x)``,
``backward(dout)`` returns ``dx`` and sets ``dW``, ``db``.  The planted bugs
are subclasses named after their mistake.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def cross_entropy_error(y, t, delta=0.0):
    """The book adds ``delta = 1e-7`` inside the log; ``delta`` says how much."""
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + delta)) / batch_size


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout = dout.copy()
        dout[self.mask] = 0
        return dout


class Sigmoid:
    def forward(self, x):
        self.out = 1 / (1 + np.exp(-x))
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class SigmoidWrongDerivative(Sigmoid):  # planted: out * (1 + out)
    def backward(self, dout):
        return dout * (1.0 + self.out) * self.out


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class AffineDbFirstRow(Affine):  # planted: db takes the first sample only
    def backward(self, dout):
        dx = super().backward(dout)
        self.db = dout[0].copy()
        return dx


class AffineDxNoTranspose(Affine):  # planted: dx = dout @ W (square W so the shape fits)
    def backward(self, dout):
        super().backward(dout)
        return np.dot(dout, self.W)


class SoftmaxWithLoss:
    def __init__(self, delta=0.0):
        self.delta = delta

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        return cross_entropy_error(self.y, self.t, self.delta)

    def backward(self, dout=1):
        batch_size = self.t.shape[0]
        if self.t.size == self.y.size:
            return (self.y - self.t) * dout / batch_size
        dx = self.y.copy()
        dx[np.arange(batch_size), self.t] -= 1
        return dx * dout / batch_size


class Dropout:
    """The book's dropout: a fresh mask on every forward in training."""

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio

    def forward(self, x, train_flg=True):
        self.mask = np.random.rand(*x.shape) > self.dropout_ratio
        return x * self.mask

    def backward(self, dout):
        return dout * self.mask


class TwoLayerNet:
    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.1, *, seed=0, delta=0.0,
                 affine2=Affine, activation=Relu, dropout=False):
        rng = np.random.default_rng(seed)
        self.params = {
            "W1": weight_init_std * rng.standard_normal((input_size, hidden_size)),
            "b1": weight_init_std * rng.standard_normal(hidden_size),
            "W2": weight_init_std * rng.standard_normal((hidden_size, output_size)),
            "b2": weight_init_std * rng.standard_normal(output_size),
        }
        self.layers = OrderedDict()
        self.layers["Affine1"] = Affine(self.params["W1"], self.params["b1"])
        self.layers["Act1"] = activation()
        if dropout:
            self.layers["Dropout"] = Dropout()
        self.layers["Affine2"] = affine2(self.params["W2"], self.params["b2"])
        self.lastLayer = SoftmaxWithLoss(delta)

    def predict(self, x):
        for layer in self.layers.values():
            x = layer.forward(x)
        return x

    def loss(self, x, t):
        return self.lastLayer.forward(self.predict(x), t)

    def gradient(self, x, t):
        self.loss(x, t)
        dout = self.lastLayer.backward(1)
        for layer in reversed(list(self.layers.values())):
            dout = layer.backward(dout)
        return {"W1": self.layers["Affine1"].dW, "b1": self.layers["Affine1"].db,
                "W2": self.layers["Affine2"].dW, "b2": self.layers["Affine2"].db}


class TwoLayerNetGradientMissing1OverN(TwoLayerNet):  # planted: SoftmaxWithLoss backward without / batch_size
    def gradient(self, x, t):
        grads = super().gradient(x, t)
        return {k: g * x.shape[0] for k, g in grads.items()}


class PerSampleNet(TwoLayerNet):
    """Honest: backprop one sample at a time (loss and backward on each row), averaged: N loss calls, one run."""

    def gradient(self, x, t):
        total = {k: np.zeros_like(v) for k, v in self.params.items()}
        for i in range(len(x)):
            for k, g in super().gradient(x[i:i + 1], t[i:i + 1]).items():
                total[k] += g / len(x)
        return total


def batch(n=5, d=6, classes=3, *, seed=1, one_hot=False):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    t = rng.integers(0, classes, n)
    return x, (np.eye(classes)[t] if one_hot else t)
