"""Hostile (or just careless): a syntax error."""
import numpy as np


def backward(params, x, y)
    return {k: np.zeros_like(v) for k, v in params.items()}
