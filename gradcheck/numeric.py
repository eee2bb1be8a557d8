"""Central-difference numerical gradients of a scalar function of a params dict.

This module holds the plain, one-entry-at-a-time reference implementation
(:func:`numerical_gradient`) and the step-size rule shared by every
numerical method in the package.
"""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from gradcheck._validate import check_params
from gradcheck.stencil import EPS

__all__ = ["numerical_gradient", "estimate_function_gradient", "default_step", "EPS64"]

#: The float64 machine epsilon (:data:`gradcheck.stencil.EPS`).
EPS64 = EPS


def default_step(x: np.ndarray) -> np.ndarray:
    """Step for the central difference of each entry of ``x``.

    ``h = eps**(1/3) * max(|x|, 1)``: the cube root of float64's machine
    epsilon (about 6.1e-6) balances the truncation error of the central
    difference (``h**2 |f'''| / 6``) against its round-off error
    (``eps |f| / h``); scaling by ``|x|`` keeps the step relative for
    large entries.  The step is then rounded so that ``x + h`` and
    ``x - h`` are exactly representable around ``x`` (the difference
    ``(x + h) - x`` is exactly ``h``).

    Examples
    --------
    >>> default_step(np.array([0.0, 1.0, 1000.0]))
    array([6.05545445e-06, 6.05545445e-06, 6.05545445e-03])
    """
    x = np.asarray(x, dtype=np.float64)
    h = EPS64 ** (1.0 / 3.0) * np.maximum(np.abs(x), 1.0)
    return (x + h) - x


def numerical_gradient(
    f: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    *,
    eps: float | None = None,
) -> dict[str, np.ndarray]:
    """Central-difference gradient of ``f`` at ``params``, one entry at a time.

    ``grad[k][i] = (f(p + h e_i) - f(p - h e_i)) / (2 h)`` for every entry
    ``i`` of every array ``params[k]``.  This is the plain loop (two calls of
    ``f`` per entry), kept as the reference the fast methods are tested
    against.

    Parameters
    ----------
    f : callable
        ``f(params) -> float``; it receives a fresh copy of the parameters
        with one entry moved, never the caller's arrays.
    params : mapping of str to ndarray
        The point; converted to float64 copies. The caller's arrays are
        never changed, even when ``f`` raises.
    eps : float, optional
        A fixed absolute step. Default: :func:`default_step`, relative to
        each entry's magnitude.

    Returns
    -------
    dict of str to ndarray
        Same keys and shapes as ``params``, float64.

    Examples
    --------
    >>> p = {"w": np.array([1.0, 2.0])}
    >>> g = numerical_gradient(lambda q: float(np.sum(q["w"] ** 2)), p)
    >>> np.allclose(g["w"], [2.0, 4.0])
    True
    """
    params = check_params(params, name="params")
    if eps is not None and (not isinstance(eps, (int, float, np.floating, np.integer)) or isinstance(eps, bool)
                            or not np.isfinite(eps) or eps <= 0):
        raise ValueError(f"eps must be a positive finite float, got eps={eps!r}")
    work = {k: v.copy() for k, v in params.items()}
    grads: dict[str, np.ndarray] = {}
    for key, value in params.items():
        grad = np.empty_like(value)
        flat = work[key].reshape(-1)  # a view into work[key]
        steps = default_step(value).reshape(-1) if eps is None else np.full(value.size, float(eps))
        for i in range(value.size):
            x0 = flat[i]
            flat[i] = x0 + steps[i]
            f_plus = float(f(dict(work)))
            flat[i] = x0 - steps[i]
            f_minus = float(f(dict(work)))
            flat[i] = x0
            grad.reshape(-1)[i] = (f_plus - f_minus) / (2.0 * steps[i])
        grads[key] = grad
    return grads


def estimate_function_gradient(
    f: Callable[[dict[str, np.ndarray]], float],
    params: Mapping[str, np.ndarray],
    *,
    noise_scale: float = 0.0,
) -> dict[str, "NumericGradient"]:
    """Error-aware numerical gradient of any ``f(params) -> float``, entry by entry.

    The five-point stencil of :mod:`gradcheck.stencil` for every entry
    (four calls of ``f`` per entry): extrapolated value, error estimate,
    one-sided quotients and kink flags.  Use the structured
    :func:`gradcheck.engine.estimate_gradients` for layered models.

    ``noise_scale``: the size of the numbers ``f`` is computed from, when
    much larger than ``f`` itself (a result of cancellation, e.g.
    ``log(sum(exp(w)))`` near 0): the round-off model then uses
    ``eps * noise_scale`` instead of ``eps * |f|`` (:func:`gradcheck.stencil.roundoff`).

    Examples
    --------
    >>> est = estimate_function_gradient(lambda q: float(np.abs(q["w"]).sum()), {"w": np.array([0.0, 2.0])})
    >>> est["w"].kink.tolist(), float(est["w"].value[1])
    ([True, False], 1.0)
    """
    from gradcheck.estimate import NumericGradient
    from gradcheck.stencil import STENCIL, combine, roundoff_error

    params = check_params(params, name="params")
    if not isinstance(noise_scale, (int, float)) or isinstance(noise_scale, bool) or not np.isfinite(noise_scale) \
            or noise_scale < 0:
        raise ValueError(f"noise_scale must be a finite number >= 0, got noise_scale={noise_scale!r}")
    work = {k: v.copy() for k, v in params.items()}
    f0 = float(f(dict(work)))
    if not np.isfinite(f0):
        raise ValueError(f"f(params) must be finite at the point to check, got {f0!r}")
    out = {}
    for key, value in params.items():
        h = default_step(value).reshape(-1)
        vals = np.empty((len(STENCIL), value.size))
        flat = work[key].reshape(-1)
        for i in range(value.size):
            x0 = flat[i]
            for r, offset in enumerate(STENCIL):
                flat[i] = x0 + offset * h[i]
                vals[r, i] = float(f(dict(work)))
            flat[i] = x0
        parts = combine(f0, vals[0], vals[1], vals[2], vals[3], h, scale=noise_scale)
        shape = value.shape
        out[key] = NumericGradient(
            name=key, value=parts["value"].reshape(shape), error=parts["error"].reshape(shape),
            step=h.reshape(shape), lower=parts["lower"].reshape(shape), upper=parts["upper"].reshape(shape),
            kink=parts["kink"].reshape(shape), refined=np.ones(shape, bool),
            roundoff=roundoff_error(f0, vals[0], vals[1], h=h, scale=noise_scale).reshape(shape),
        )
    return out
