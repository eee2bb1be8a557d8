"""One conversion to JSON-safe values, with one policy for numbers JSON cannot hold.

JSON has no NaN or infinity (``json.dumps(..., allow_nan=False)`` refuses
them, and what Python writes by default, ``NaN``, is not JSON).  gradcheck
writes a non-finite float as the string Python itself prints and parses
back: ``"nan"``, ``"inf"``, ``"-inf"`` (``float("nan")`` restores it), so a
reader can tell a missing value (``null``) from a NaN and ``+inf`` from
``-inf``.  Arrays become nested lists, tuples lists, numpy scalars Python
numbers, enum members their values, dataclass instances dicts of their
fields; any other object its ``repr``.

Examples
--------
>>> json_safe({"a": np.array([1.0, np.nan]), "b": (np.int64(2), float("-inf")), "c": None})
{'a': [1.0, 'nan'], 'b': [2, '-inf'], 'c': None}
"""
from __future__ import annotations

import dataclasses
import enum
import math
from typing import Any, Mapping

import numpy as np

__all__ = ["json_safe"]


def json_safe(value: Any) -> Any:
    """``value`` with only JSON types left (see the module docstring for the policy)."""
    if isinstance(value, enum.Enum):
        return json_safe(value.value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if value is None or isinstance(value, (str, int, bool)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, np.generic):
        return json_safe(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: json_safe(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return repr(value)
