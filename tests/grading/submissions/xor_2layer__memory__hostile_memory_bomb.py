"""Hostile: backward allocates until memory runs out."""
import numpy as np


def backward(params, x, y):
    hoard = []
    while True:
        hoard.append(np.ones(10**7))
