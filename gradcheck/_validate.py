"""Argument checks shared by the public API: errors name the argument and value."""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np

__all__ = ["KeyMismatchError", "check_params", "check_grads_match", "check_workers", "describe"]


class KeyMismatchError(KeyError):
    """Keys of a params or grads dict do not match; the message prints unquoted."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def describe(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"ndarray(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def check_workers(workers: Any) -> int | None:
    """``workers`` must be ``None`` (the default policy) or an int >= 1.

    >>> check_workers(None), check_workers(2)
    (None, 2)
    >>> check_workers(0)
    Traceback (most recent call last):
    ...
    ValueError: workers must be None or an int >= 1, got workers=0
    """
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise ValueError(f"workers must be None or an int >= 1, got workers={describe(workers)}")
    return int(workers)


def check_params(params: Any, *, name: str = "params") -> dict[str, np.ndarray]:
    """Validate a params dict and return float64 *copies* of its arrays.

    Raises ``TypeError`` when ``params`` is not a mapping of str to
    array-likes of real numbers, ``ValueError`` when an array is empty of
    meaning (object dtype, complex).
    """
    if not isinstance(params, Mapping):
        raise TypeError(f"{name} must be a dict of str to numpy arrays, got {name}={describe(params)}")
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise TypeError(f"{name} keys must be str, got key {key!r} of type {type(key).__name__}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"{name}[{key!r}] must be an array of real numbers, got {describe(value)}"
            )
        out[key] = np.array(arr, dtype=np.float64, copy=True)
    return out


def check_grads_match(grads: Any, params: Mapping[str, np.ndarray], *, name: str = "grads") -> dict[str, np.ndarray]:
    """Check that ``grads`` has exactly the keys and shapes of ``params``.

    Returns float64 copies.  Errors name the parameter, what was found and
    what was expected.
    """
    if not isinstance(grads, Mapping):
        raise TypeError(f"{name} must be a dict with the keys of params {sorted(params)}, got {name}={describe(grads)}")
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise KeyMismatchError(
            f"{name} keys do not match params: missing {missing}, unexpected {extra} "
            f"(expected exactly {list(params)})"
        )
    out: dict[str, np.ndarray] = {}
    for key, p in params.items():
        g = np.asarray(grads[key])
        if g.dtype.kind not in "biuf":
            raise TypeError(f"{name}[{key!r}] must be an array of real numbers, got {describe(grads[key])}")
        if g.shape != np.shape(p):
            raise ValueError(
                f"{name}[{key!r}] has shape {g.shape}, expected {np.shape(p)} (the shape of params[{key!r}])"
            )
        out[key] = np.array(g, dtype=np.float64, copy=True)
    return out
