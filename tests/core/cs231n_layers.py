"""Layers written the cs231n way, by hand, for the tests of check_layer (not gradcheck code).

``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) -> grads``
in the order of the forward's array arguments; ``softmax_loss(x, y) ->
(loss, dx)``.  ``BUGS`` maps each layer to planted bugs: a backward with
one mistake, and the input whose gradient it breaks.
"""
from __future__ import annotations

import numpy as np


def affine_forward(x, w, b):
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w, b)


def affine_backward(dout, cache):
    x, w, _b = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


def affine_backward_dw_transposed(dout, cache):  # planted: dw transposed (square w, so the shape fits)
    dx, dw, db = affine_backward(dout, cache)
    return dx, dw.T, db


def affine_backward_db_mean(dout, cache):  # planted: db = mean instead of sum
    dx, dw, _db = affine_backward(dout, cache)
    return dx, dw, dout.mean(axis=0)


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache):
    return dout * (cache > 0)


def relu_backward_ge(dout, cache):  # planted: mask from x >= -0.5 (a wrong threshold)
    return dout * (cache >= -0.5)


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    std = np.sqrt(var + eps)
    xhat = xc / std
    return gamma * xhat + beta, (xhat, gamma, std)


def batchnorm_backward(dout, cache):
    xhat, gamma, std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = (dout * xhat).sum(axis=0)
    dxhat = dout * gamma
    dx = (n * dxhat - dxhat.sum(axis=0) - xhat * (dxhat * xhat).sum(axis=0)) / (n * std)
    return dx, dgamma, dbeta


def batchnorm_backward_no_mean_term(dout, cache):  # planted: forgets the gradient through the mean
    xhat, gamma, std = cache
    n = dout.shape[0]
    _dx, dgamma, dbeta = batchnorm_backward(dout, cache)
    dxhat = dout * gamma
    return (n * dxhat - xhat * (dxhat * xhat).sum(axis=0)) / (n * std), dgamma, dbeta


def conv_forward_naive(x, w, b, conv_param):
    stride, pad = conv_param["stride"], conv_param["pad"]
    n, _c, hh, ww = x.shape
    f, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    ho = 1 + (hh + 2 * pad - fh) // stride
    wo = 1 + (ww + 2 * pad - fw) // stride
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            patch = xp[:, :, i * stride:i * stride + fh, j * stride:j * stride + fw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache):
    x, w, _b, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    _, _, fh, fw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            sl = (slice(None), slice(None), slice(i * stride, i * stride + fh), slice(j * stride, j * stride + fw))
            dw += np.tensordot(dout[:, :, i, j], xp[sl], axes=([0], [0]))
            dxp[sl] += np.tensordot(dout[:, :, i, j], w, axes=([1], [0]))
    dx = dxp[:, :, pad:dxp.shape[2] - pad, pad:dxp.shape[3] - pad]
    return dx, dw, dout.sum(axis=(0, 2, 3))


def conv_backward_flipped(dout, cache):  # planted: dw with the kernel flipped (correlation vs convolution)
    dx, dw, db = conv_backward_naive(dout, cache)
    return dx, dw[:, :, ::-1, ::-1], db


def max_pool_forward_naive(x, pool_param):
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n, c, hh, ww = x.shape
    out = np.zeros((n, c, 1 + (hh - ph) // s, 1 + (ww - pw) // s))
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            out[:, :, i, j] = x[:, :, i * s:i * s + ph, j * s:j * s + pw].max(axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            win = x[:, :, i * s:i * s + ph, j * s:j * s + pw]
            flat = win.reshape(win.shape[0], win.shape[1], -1)
            k = flat.argmax(axis=2)
            a, c = np.indices(k.shape)
            dx[a, c, i * s + k // pw, j * s + k % pw] += dout[:, :, i, j]
    return dx


def max_pool_backward_spread(dout, cache):  # planted: spreads dout over the whole window
    x, pool_param = cache
    ph, pw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            dx[:, :, i * s:i * s + ph, j * s:j * s + pw] += dout[:, :, i, j][:, :, None, None] / (ph * pw)
    return dx


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_backward(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dz = dnext_h * (1 - next_h ** 2)
    return dz @ Wx.T, dz @ Wh.T, x.T @ dz, prev_h.T @ dz, dz.sum(axis=0)


def rnn_step_backward_wh_transposed(dnext_h, cache):  # planted: dWh transposed
    dx, dprev_h, dWx, dWh, db = rnn_step_backward(dnext_h, cache)
    return dx, dprev_h, dWx, dWh.T, db


def softmax_loss(x, y):
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].sum() / n
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n


def softmax_loss_no_1_over_n(x, y):  # planted: dx not divided by N
    loss, dx = softmax_loss(x, y)
    return loss, dx * x.shape[0]


def dropout_forward_unseeded(x, p=0.5):
    """A random forward: a fresh mask on every call (what check_layer must refuse)."""
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask


def dropout_backward(dout, cache):
    return dout * cache
