"""Hostile: backward prints without end (gigabytes, if nobody stops it)."""


def backward(params, x, y):
    line = "flood " * 100_000
    while True:
        print(line)
