"""Hostile: backward calls os._exit(0), which skips every handler."""
import os


def backward(params, x, y):
    os._exit(0)
