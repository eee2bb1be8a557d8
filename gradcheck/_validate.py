"""The one argument validator of the public API: errors name the argument, the value and what was expected.

The rule, as in hypothesis's argument checks: a value of the wrong *type*
raises :class:`~gradcheck.errors.GradcheckTypeError` (a ``TypeError``),
a value of the right type outside the allowed range raises
:class:`~gradcheck.errors.GradcheckValueError` (a ``ValueError``).  A
``bool`` is never accepted as a number.

Examples
--------
>>> check_int(3, "probes", min_value=1)
3
>>> check_int(0, "probes", min_value=1)
Traceback (most recent call last):
...
gradcheck.errors.GradcheckValueError: probes must be an int >= 1, got probes=0
>>> check_int(5, "workers", min_value=1, max_value=4)
Traceback (most recent call last):
...
gradcheck.errors.GradcheckValueError: workers must be an int >= 1 and <= 4, got workers=5
>>> check_int(2.0, "probes", min_value=1)
Traceback (most recent call last):
...
gradcheck.errors.GradcheckTypeError: probes must be an int >= 1, got probes=2.0
>>> check_number(float("nan"), "rtol", min_value=0.0)
Traceback (most recent call last):
...
gradcheck.errors.GradcheckValueError: rtol must be a finite number >= 0, got rtol=nan
"""
from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from typing import Any

import numpy as np

from gradcheck.batchaxis import shaped
from gradcheck.errors import GradcheckTypeError, GradcheckValueError, KeyMismatchError

__all__ = [
    "KeyMismatchError",
    "check_int",
    "check_number",
    "check_choice",
    "check_params",
    "check_grads_match",
    "check_workers",
    "describe",
]


def describe(value: Any) -> str:
    """A short description of a value for an error message."""
    if isinstance(value, np.ndarray):
        return f"ndarray(shape={value.shape}, dtype={value.dtype})"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _bound(min_value: float | None, max_value: float | None, *, exclusive_min: bool = False) -> str:
    def fmt(v: float) -> str:
        return str(v) if isinstance(v, int) else f"{v:g}"

    parts = []
    if min_value is not None:
        parts.append(f"{'>' if exclusive_min else '>='} {fmt(min_value)}")
    if max_value is not None:
        parts.append(f"<= {fmt(max_value)}")
    return " " + " and ".join(parts) if parts else ""


def check_int(value: Any, name: str, *, min_value: int | None = None, max_value: int | None = None,
              allow_none: bool = False) -> Any:
    """``value`` as an ``int`` (numpy integers accepted, bools not), within the bounds.

    Returns ``None`` unchanged when ``allow_none``.
    """
    if type(value) is int and (min_value is None or value >= min_value) and (max_value is None or value <= max_value):
        return value  # a plain int within the bounds (the usual call): valid without building the message
    if value is None and allow_none:
        return None
    what = f"{name} must be {'None or ' if allow_none else ''}an int{_bound(min_value, max_value)}, got {name}={describe(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise GradcheckTypeError(what)
    if (min_value is not None and value < min_value) or (max_value is not None and value > max_value):
        raise GradcheckValueError(what)
    return int(value)


def check_number(value: Any, name: str, *, min_value: float | None = None, exclusive_min: bool = False,
                 max_value: float | None = None) -> float:
    """``value`` as a finite ``float`` (ints and numpy reals accepted, bools not), within the bounds."""
    what = f"{name} must be a finite number{_bound(min_value, max_value, exclusive_min=exclusive_min)}, got {name}={describe(value)}"
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise GradcheckTypeError(what)
    v = float(value)
    below = min_value is not None and (v <= min_value if exclusive_min else v < min_value)
    if not math.isfinite(v) or below or (max_value is not None and v > max_value):
        raise GradcheckValueError(what)
    return v


def check_choice(value: Any, name: str, choices: Collection[Any]) -> Any:
    """``value`` must be one of ``choices`` (a ``ValueError``: any type may be compared)."""
    if value not in choices:
        raise GradcheckValueError(f"{name} must be one of {tuple(choices)}, got {name}={describe(value)}")
    return value


def check_workers(workers: Any) -> int | None:
    """``workers`` must be ``None`` (the default policy) or an int >= 1.

    >>> check_workers(None), check_workers(2)
    (None, 2)
    >>> check_workers(0)
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckValueError: workers must be None or an int >= 1, got workers=0
    """
    return check_int(workers, "workers", min_value=1, allow_none=True)


def check_params(params: Any, *, name: str = "params") -> dict[str, np.ndarray]:
    """Validate a params dict and return float64 *copies* of its arrays.

    Raises ``TypeError`` when ``params`` is not a mapping of str to
    array-likes of real numbers, ``ValueError`` when an array is empty of
    meaning (object dtype, complex).
    """
    if not isinstance(params, Mapping):
        raise GradcheckTypeError(f"{name} must be a dict of str to numpy arrays, got {name}={describe(params)}")
    out: dict[str, np.ndarray] = {}
    for key, value in params.items():
        if not isinstance(key, str):
            raise GradcheckTypeError(f"{name} keys must be str, got key {key!r} of type {type(key).__name__}")
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise GradcheckTypeError(
                f"{name}[{key!r}] must be an array of real numbers, got {describe(value)}"
            )
        out[key] = np.array(arr, dtype=np.float64, copy=True)
    return out


def check_grads_match(grads: Any, params: Mapping[str, np.ndarray], *, name: str = "grads",
                      copy: bool = True) -> dict[str, np.ndarray]:
    """Check that ``grads`` has exactly the keys and shapes of ``params``.

    Returns float64 copies (``copy=False``: the arrays themselves where
    they are float64 already, for a caller that only reads them at once).
    Errors name the parameter, what was found and what was expected.
    """
    if not isinstance(grads, Mapping):
        raise GradcheckTypeError(f"{name} must be a dict with the keys of params {sorted(params)}, got {name}={describe(grads)}")
    missing = [k for k in params if k not in grads]
    extra = [k for k in grads if k not in params]
    if missing or extra:
        raise KeyMismatchError(
            f"{name} keys do not match params: missing {missing}, unexpected {extra} "
            f"(expected exactly {list(params)})"
        )
    out: dict[str, np.ndarray] = {}
    for key, p in params.items():
        g = grads[key]
        if type(g) is np.ndarray and g.dtype == np.float64 and g.shape == np.shape(p):
            out[key] = g.copy(order="K") if copy else g  # the usual case: what the lines below give it, at once
            continue
        g = np.asarray(g)
        if g.dtype.kind not in "biuf":
            raise GradcheckTypeError(f"{name}[{key!r}] must be an array of real numbers, got {describe(grads[key])}")
        g = shaped(g, np.shape(p), key, f"{name}[{key!r}] has shape {g.shape}, expected {np.shape(p)} "
                   f"(the shape of params[{key!r}])")  # an extra batch axis says so (gradcheck.batchaxis)
        out[key] = np.array(g, dtype=np.float64, copy=True) if copy else np.asarray(g, dtype=np.float64)
    return out
