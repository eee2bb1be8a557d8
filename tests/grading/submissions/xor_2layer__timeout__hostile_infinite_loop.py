"""Hostile: backward never returns (a busy loop: stopped by the CPU or the wall-clock limit)."""


def backward(params, x, y):
    n = 0
    while True:
        n += 1
