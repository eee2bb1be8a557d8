"""Guards around the code under check: mutation, determinism, dtype, finiteness.

The functions under check only ever see *copies* of the caller's arrays,
so the caller's data can never be changed.  A guard compares the copies
a function received with pristine ones afterwards.
"""
from __future__ import annotations

import warnings
from typing import Any, Callable, Mapping

import numpy as np

from gradcheck.errors import GradcheckTypeError, GradcheckValueError

__all__ = ["GradcheckPrecisionWarning", "copy_point", "mutations", "precision_findings", "require_finite"]


class GradcheckPrecisionWarning(UserWarning):
    """Inputs or outputs below float64: the check runs in float64, but the code under check does not."""


def copy_point(params: Mapping[str, np.ndarray], x: Any, y: Any) -> dict[str, Any]:
    """Fresh float64 copies of a check point, keyed ``params['W1']``, ``x``, ``y``."""
    out: dict[str, Any] = {f"params[{k!r}]": np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}
    out["x"] = np.array(x, dtype=np.float64, copy=True)
    out["y"] = np.array(y, dtype=np.float64, copy=True)
    return out


def split_point(point: Mapping[str, Any]) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    params = {k[len("params['"):-2]: v for k, v in point.items() if k.startswith("params[")}
    return params, point["x"], point["y"]


def mutations(pristine: Mapping[str, np.ndarray], used: Mapping[str, np.ndarray], who: str) -> list[str]:
    """Describe every array in ``used`` that no longer equals its pristine copy."""
    found = []
    for key, before in pristine.items():
        after = used[key]
        if after.shape != before.shape or not np.array_equal(after, before, equal_nan=True):
            n = after.size if after.shape != before.shape else int(np.count_nonzero(~((after == before) | (np.isnan(after) & np.isnan(before)))))
            found.append(f"{who} changed its input {key} in place ({n} of {before.size} entries): "
                         "a function under check must not write into its arguments")
    return found


def run_guarded(fn: Callable[..., Any], params: Mapping[str, np.ndarray], x: Any, y: Any | None, who: str) -> tuple[Any, list[str]]:
    """Call ``fn`` on copies of the point; return its value and any mutation found."""
    pristine = copy_point(params, x, y if y is not None else np.zeros(0))
    used = {k: v.copy() for k, v in pristine.items()}
    p, xx, yy = split_point(used)
    value = fn(p, xx) if y is None else fn(p, xx, yy)
    return value, mutations(pristine, used, who)


def precision_findings(params: Mapping[str, Any], x: Any, y: Any, grads: Mapping[str, Any] | None = None,
                       output: Any = None) -> list[str]:
    """Name every array below float64 among inputs, gradients and the forward output."""
    found = []
    named = {f"params[{k!r}]": v for k, v in params.items()}
    named.update({"x": x, "y": y})
    named.update({f"grads[{k!r}]": v for k, v in (grads or {}).items()})
    if output is not None:
        named["forward output"] = output
    for name, value in named.items():
        dtype = np.asarray(value).dtype
        if dtype.kind == "f" and dtype.itemsize < 8:
            found.append(f"{name} is {dtype}: checked in float64 copies, but {dtype} arithmetic agrees "
                         f"with the exact gradient only to about {np.finfo(dtype).eps:.0e} relative")
    return found


def warn_or_raise(findings: list[str], *, strict: bool) -> None:
    if findings and strict:
        raise GradcheckTypeError("strict=True requires float64 throughout: " + "; ".join(findings))
    for f in findings:
        warnings.warn(f, GradcheckPrecisionWarning, stacklevel=4)


def require_finite(grads: Mapping[str, np.ndarray], what: str) -> None:
    """Raise ``ValueError`` naming the parameter when a gradient has NaN or inf."""
    for name, g in grads.items():
        bad = ~np.isfinite(g)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise GradcheckValueError(f"{what}[{name!r}] has {int(bad.sum())} non-finite entries (NaN or inf), "
                             f"first at index {first}: {g[first]!r}")
