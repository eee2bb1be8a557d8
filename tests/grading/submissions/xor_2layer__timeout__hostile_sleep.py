"""Hostile: backward blocks without using CPU (only the wall clock stops it)."""
import time


def backward(params, x, y):
    time.sleep(10**6)
