"""Hostile: patches numpy's comparisons, then returns zeros.

A grader that compares inside the submission's process would be fooled by
np.allclose always being True; this grader compares in its own process.
"""
import numpy as np

np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.testing.assert_allclose = lambda *args, **kwargs: None
np.array_equal = lambda *args, **kwargs: True


def backward(params, x, y):
    return {k: np.zeros_like(v) for k, v in params.items()}
