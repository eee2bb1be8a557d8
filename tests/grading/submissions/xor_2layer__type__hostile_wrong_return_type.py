"""Returns a string per gradient instead of arrays of numbers."""


def backward(params, x, y):
    return {k: "not computed yet" for k in params}
