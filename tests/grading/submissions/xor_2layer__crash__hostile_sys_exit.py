"""Hostile: backward calls sys.exit(0), hoping a grader reads exit code 0 as success."""
import sys


def backward(params, x, y):
    sys.exit(0)
