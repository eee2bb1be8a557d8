"""Hypothesis strategies for gradient tests.

Draw points where a gradient check is meaningful: parameters of moderate
size (no overflow in exp, no sigmoid saturated to exactly 0 or 1 in
float64), batches of any size including 1 and odd sizes, inputs in the
model's own value range.  Shrinking goes to fewer samples and simpler
values.

Examples
--------
>>> import reference_models
>>> from hypothesis import given, settings
>>> model = reference_models.get("xor_2layer")
>>> @settings(max_examples=5, deadline=None)
... @given(model_points(model))
... def test_backward(point):
...     params, x, y = point
...     assert check_model(model, params, x, y).passed
>>> test_backward()
"""
from __future__ import annotations

from typing import Any, Mapping

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from gradcheck._validate import check_int, check_number
from gradcheck.errors import GradcheckValueError
from gradcheck.check import check_model  # noqa: F401  (used in the module example)

__all__ = ["arrays_for_shapes", "params_for", "batches_for", "model_points"]


def _check_range(scale: float) -> float:
    return check_number(scale, "scale", min_value=0.0, exclusive_min=True)


def arrays_for_shapes(shapes: Mapping[str, tuple[int, ...]], *, scale: float = 2.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """A dict of float64 arrays with the given shapes, entries in ``[-scale, scale]``.

    For a user's own model: pass its parameter shapes.  Subnormal numbers
    and NaN/inf are excluded; shrinking goes towards zeros.  The dict keeps
    the order of ``shapes`` (so it can be zipped with a backward's outputs,
    or passed to :func:`gradcheck.check_layer` in the forward's order).

    Examples
    --------
    >>> from hypothesis import given
    >>> @given(arrays_for_shapes({"x": (2, 3), "gamma": (3,), "beta": (3,)}))
    ... def test(p):
    ...     assert list(p) == ["x", "gamma", "beta"]
    ...     assert p["x"].shape == (2, 3) and p["beta"].dtype == np.float64
    >>> test()
    """
    scale = _check_range(scale)
    if not isinstance(shapes, Mapping) or not shapes:
        raise GradcheckValueError(f"shapes must be a non-empty dict of name to shape tuple, got shapes={shapes!r}")
    elements = st.floats(-scale, scale, allow_nan=False, allow_infinity=False, allow_subnormal=False, width=64)
    names = list(shapes)
    # st.fixed_dictionaries sorts its keys; a tuple keeps the caller's order
    return st.tuples(*[hnp.arrays(np.float64, tuple(shapes[name]), elements=elements) for name in names]).map(
        lambda arrays: dict(zip(names, arrays)))


def params_for(model: Any, *, scale: float = 2.0) -> st.SearchStrategy[dict[str, np.ndarray]]:
    """Parameters for a reference model: its names and shapes, entries in ``[-scale, scale]``."""
    return arrays_for_shapes(model.param_shapes, scale=scale)


def batches_for(model: Any, *, min_size: int = 1, max_size: int = 9) -> st.SearchStrategy[tuple[np.ndarray, np.ndarray]]:
    """A batch ``(x, y)`` from the model's own ``example_batch``, size in ``[min_size, max_size]``.

    The data come from a drawn seed, so they stay in the model's value
    range (one-hot targets, MNIST pixels in [0, 1]); shrinking goes to
    fewer samples and seed 0.
    """
    check_int(min_size, "min_size", min_value=1)
    check_int(max_size, "max_size", min_value=min_size)
    return st.builds(
        lambda n, seed: model.example_batch(np.random.default_rng(seed), n),
        st.integers(min_size, max_size),
        st.integers(0, 2**32 - 1),
    )


def model_points(model: Any, *, scale: float = 2.0, min_size: int = 1, max_size: int = 9) -> st.SearchStrategy[tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]]:
    """``(params, x, y)`` for a reference model (see :func:`params_for` and :func:`batches_for`)."""
    return st.tuples(params_for(model, scale=scale), batches_for(model, min_size=min_size, max_size=max_size)).map(
        lambda pb: (pb[0], pb[1][0], pb[1][1])
    )
