"""Defines backprop and forward_pass instead of backward and forward."""
import numpy as np


def forward_pass(params, x):
    return x @ params["W1"]


def backprop(params, x, y):
    return {k: np.zeros_like(v) for k, v in params.items()}
