"""Checking one layer: a vector-Jacobian product against central differences.

A layer maps inputs to an output ``out``; its backward turns an upstream
gradient ``dout`` into the gradients of every input.  Those are exactly the
gradients of the scalar ``f(inputs) = sum(forward(inputs) * dout)``, so a
layer is checked as that function (:func:`gradcheck.check.check_point`):
every entry of every input, with ``dout`` a seeded standard normal array
(a random ``dout`` makes every entry of the output count, and no
cancellation between entries can hide an error) or the one given.  Two
conventions are understood:

cs231n functions
    ``forward(**inputs)`` returns ``out``, ``(out, cache)``, or several
    outputs then the cache (an LSTM step: ``(next_h, next_c, cache)``);
    ``backward(dout, cache)`` (``backward(dnext_h, dnext_c, cache)``)
    returns the gradients in the order of the inputs (a tuple, one array
    for one input, or a dict keyed by input name).  A loss function
    ``forward(x, y) -> (loss, dx)`` (``softmax_loss``) is checked with
    ``backward=None``: its second value is the gradient.  ``backward`` runs
    twice, the second time on a fresh forward's cache; gradients that
    differ, and writes into ``dout`` or into the inputs the cache holds,
    are reported under the backward's name.
DLFS layer objects
    ``check_layer(layer, {"x": x})``: ``layer.forward(x)`` and
    ``layer.backward(dout)``, which returns ``dx``; the parameters the layer
    holds are checked too, each with its gradient as found by
    :mod:`gradcheck.layer_params` (``W``/``dW``, ``gamma``/``dgamma``,
    ``weight``/``grad_weight`` or ``weight_grad``, ``params``/``grads``
    dicts or lists, or as named by ``params=``); one the forward reads
    whose gradient is not found fails the check, naming what was looked
    for and ``params=``.  Forward and backward run
    twice on fresh copies, so a backward adding into a ``self.dW`` it never
    zeroes is found not deterministic; writes into the inputs (by forward,
    or by backward through the ``self.x`` forward kept) and into the
    parameters are reported; writes into ``dout`` are said as a warning.  Like :func:`gradcheck.check_net` this moves
    the layer's own parameter arrays in place; every array the layer held
    is put back bit for bit on every way out (exceptions and Ctrl-C
    included); only a killed process can leave a moved entry.

Integer and boolean inputs: one the backward gives a gradient (a dict key,
a gradient in its place when one is returned per input, or the one choice
its shape fits) is differentiated as a float64 copy of its values (a hand
example written with int literals, a uint8 image), and a warning says so;
one it gives none (``None`` in its place, or left out) is labels, indices
or a mask: passed through unchanged, and a warning names it ``NOT
CHECKED`` (:func:`_owners`, :func:`_said`).  A check whose checked
inputs and parameters have no entry at all fails ("nothing was checked").
Inputs (and a layer object's parameters) below
float64 are said as for :func:`gradcheck.check_model`.  A tensor whose
every failing entry moves a tie (exact ReLU ties: a kink its stencil
flagged, or a partial derivative that jumps across the point) is checked
again at two points moved off them, through the same forward and backward
(:func:`gradcheck.check._kinks_off_ties`); in fast mode it is first checked
entry by entry.
"""
from __future__ import annotations

import contextlib
import difflib
import itertools
import inspect
import dataclasses
from dataclasses import dataclass, field
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck import guards
from gradcheck._validate import check_workers, describe
from gradcheck.batchaxis import explains_unsummed, shaped
from gradcheck.errors import GradcheckTypeError, GradcheckValueError, KeyMismatchError
from gradcheck.check import _check_options, _tolerance, check_point, low_precision_arrays
from gradcheck.mistakes import elementwise_mistakes
from gradcheck.layer_params import Held, discover, read_by, resolve, unfound_message
from gradcheck.compare import Tolerance
from gradcheck.numeric import FunctionPoint
from gradcheck.results import CheckResult

__all__ = ["assert_layer_gradients", "check_layer", "restoring"]


def _inputs(inputs: Any) -> dict[str, np.ndarray]:
    """Validate ``inputs``: a non-empty dict of str to arrays; non-arrays name functools.partial."""
    if not isinstance(inputs, Mapping) or not inputs:
        raise GradcheckTypeError(f"inputs must be a non-empty dict of argument name to array, got inputs={describe(inputs)}")
    out = {}
    for k, v in inputs.items():
        if not isinstance(k, str):
            raise GradcheckTypeError(f"inputs keys must be argument names (str), got {k!r}")
        if not isinstance(v, (np.ndarray, float, int, np.number)) and not isinstance(v, (list, tuple)):
            raise GradcheckTypeError(f"inputs[{k!r}] is {describe(v)}, not an array: bind non-array arguments with "
                            f"functools.partial, e.g. check_layer(partial(forward, {k}=...), backward, inputs)")
        arr = np.asarray(v)
        if arr.dtype.kind not in "biuf":
            raise GradcheckTypeError(f"inputs[{k!r}] must be an array of real numbers, got {describe(v)}")
        out[k] = np.array(arr, dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype, copy=True)
    return out


def _split(result: Any, cached: bool) -> tuple[list[np.ndarray], Any, bool]:
    """``forward``'s value as (outputs, cache, had a cache)."""
    if cached and isinstance(result, tuple) and len(result) >= 2:
        return [np.asarray(o) for o in result[:-1]], result[-1], True
    return [np.asarray(result)], None, False


def _dout(outputs: Sequence[np.ndarray], dout: Any, rng: np.random.Generator) -> list[np.ndarray]:
    """The upstream gradients: seeded standard normal, or the caller's (checked against the outputs)."""
    if dout is None:
        return [rng.standard_normal(o.shape) for o in outputs]
    given = list(dout) if isinstance(dout, (tuple, list)) and len(outputs) > 1 else [dout]
    if len(given) != len(outputs):
        raise GradcheckValueError(f"dout must have one array per output of forward ({len(outputs)}), got {len(given)}")
    out = []
    for i, (d, o) in enumerate(zip(given, outputs)):
        d = np.array(d, dtype=np.float64, copy=True)
        if d.shape != o.shape:
            raise GradcheckValueError(f"dout{'' if len(outputs) == 1 else f'[{i}]'} has shape {d.shape}, expected {o.shape} "
                             "(the shape of forward's output)")
        out.append(d)
    return out


def _dout_rng(seed: int) -> np.random.Generator:
    """The generator of ``dout``: its own stream, not ``default_rng(seed)``.

    A caller who drew ``x`` from ``default_rng(0)`` would otherwise get
    ``dout == x``, and ``x.T @ dout`` symmetric: a transposed ``dW`` would pass.
    """
    return np.random.default_rng([int(seed), 0x6C61796572])  # "layer"


def _owners(value: Any, names: Sequence[str], point: Mapping[str, np.ndarray], who: str,
            first_if_one: bool = False) -> list[str]:
    """The inputs ``value`` (what a backward returned) gives a gradient for: the one rule of which inputs are checked.

    Floating-point inputs always need one (a missing one is an error in
    :func:`_grads`).  An integer or boolean input is differentiated (as a
    float64 copy) when the backward gives it a gradient: a dict key for it,
    a gradient in its place when one is returned per input (``None`` there
    means none), or, with fewer gradients than inputs, the one choice of
    integer inputs whose shapes fit the gradients in signature order.
    Otherwise it is labels, indices or a mask: not checked, and said.  A
    layer object's backward returning one array gives the first input's.

    >>> pt = {"x": np.zeros((2, 3)), "y": np.zeros(2, dtype=int)}
    >>> _owners(np.zeros((2, 3)), ["x", "y"], pt, "f"), _owners((np.zeros((2, 3)), None), ["x", "y"], pt, "f")
    (['x'], ['x'])
    >>> _owners(np.zeros((2, 3)), ["x", "y"], {"x": np.zeros((2, 3), dtype=int), "y": pt["y"]}, "f")
    ['x']
    """
    floats = [k for k in names if point[k].dtype.kind == "f"]
    if isinstance(value, Mapping):
        return [k for k in names if k in value or k in floats]
    seq = list(value) if isinstance(value, (tuple, list)) else [value]
    if len(seq) == len(names):
        return [k for k, g in zip(names, seq) if g is not None or k in floats]
    if first_if_one and len(seq) == 1:
        return list(names[:1])
    if len(seq) <= len(floats) or len(seq) > len(names):  # a count _grads reports
        return floats
    ints = [k for k in names if k not in floats]
    fits = [c for c in itertools.combinations(ints, len(seq) - len(floats))
            if [np.shape(g) for g in seq] == [point[k].shape for k in names if k in floats or k in c]]
    if len(fits) != 1:
        raise GradcheckValueError(
            f"{who} returned {len(seq)} gradient(s) for the inputs {list(names)} ({len(floats)} floating-point): "
            f"which integer inputs they belong to is {'ambiguous' if fits else 'not told by their shapes'}; return one "
            "gradient per input (None for labels or indices), or a dict keyed by input name")
    return [k for k in names if k in floats or k in fits[0]]


def _grads(value: Any, names: Sequence[str], differentiable: Sequence[str], who: str,
           point: Mapping[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
    """Map what backward returned onto input names (see the module docstring); ``point``: the inputs, which a wrong
    count of gradients is explained from (:func:`_count_hint`)."""
    if isinstance(value, Mapping):
        missing = [k for k in differentiable if k not in value]
        if missing:
            raise KeyMismatchError(f"{who} returned a dict without {missing}"
                                   f"{_unexpected_keys(value, missing, differentiable)} "
                                   f"(expected the gradients of {list(differentiable)})")
        got = {k: value[k] for k in differentiable}
    else:
        seq = list(value) if isinstance(value, (tuple, list)) else [value]
        if len(seq) == len(names) and len(seq) != len(differentiable):
            seq = [g for k, g in zip(names, seq) if k in differentiable]
        if len(seq) != len(differentiable):
            if _numbers_list(value):
                raise GradcheckTypeError(f"{who} returned a list {describe(value)} where the gradient of "
                                         f"{' and '.join(differentiable)} was expected: a gradient must be a numpy "
                                         "array, got a list: return it as an array (np.asarray(dx), not dx.tolist())")
            raise GradcheckValueError(f"{who} returned {len(seq)} gradient(s), expected {len(differentiable)} "
                                      f"(one per input {list(differentiable)}, in that order)"
                                      + (_count_hint(point, differentiable) if len(seq) < len(differentiable) else ""))
        got = dict(zip(differentiable, seq))
    return got


def _numbers_list(value: Any) -> bool:
    """Is ``value`` a list of numbers or of lists (``dx.tolist()``), not a list of gradients?

    >>> _numbers_list([0.5, -1.0]), _numbers_list([[0.5], [1.0]]), _numbers_list([np.zeros(2), np.ones(3)])
    (True, True, False)
    """
    return isinstance(value, list) and bool(value) and all(
        isinstance(v, (list, float, int, np.number)) and not isinstance(v, bool) for v in value)


def _count_hint(point: Mapping[str, np.ndarray] | None, differentiable: Sequence[str]) -> str:
    """Why a backward may return fewer gradients than the floating-point inputs: some are settings given as
    scalars (0-d), to be bound with functools.partial, or masks of 0s and 1s, to be given as bool arrays.

    >>> _count_hint({"x": np.array([0.5, 2.0]), "slope": np.array(0.01)}, ["x", "slope"])
    "; inputs['slope'] is a non-array (0-d) argument, 0.01: bind it with functools.partial, e.g. check_layer(partial(forward, slope=0.01), backward, inputs)"
    """
    if point is None:
        return ""
    hints = [f"inputs[{k!r}] is a non-array (0-d) argument, {point[k].item()!r}: bind it with functools.partial, e.g. "
             f"check_layer(partial(forward, {k}={point[k].item()!r}), backward, inputs)"
             for k in differentiable if point[k].ndim == 0]
    hints += [f"inputs[{k!r}] holds only 0s and 1s: if it is a mask, give it as a bool array "
              f"(inputs[{k!r}].astype(bool)), which is NOT CHECKED when the backward gives it no gradient"
              for k in differentiable if point[k].ndim and bool(np.isin(point[k], (0.0, 1.0)).all())]
    return "".join(f"; {h}" for h in hints)


def _unexpected_keys(value: Mapping[Any, Any], missing: Sequence[str], expected: Sequence[str]) -> str:
    """`` and with the unexpected key(s) [...] ('W' for 'w'?)`` for a dict of gradients with misspelt keys."""
    extra = [k for k in value if k not in expected]
    if not extra:
        return ""
    lowered = {str(k).lower(): k for k in extra}
    guesses = []
    for m in missing:
        close = difflib.get_close_matches(m.lower(), list(lowered), n=1, cutoff=0.6)
        if close:
            guesses.append(f"{lowered[close[0]]!r} for {m!r}?")
    return f" and with the unexpected key(s) {extra}" + (f" ({', '.join(guesses)})" if guesses else "")


def _as_grad(value: Any, like: np.ndarray, name: str, who: str, others: Mapping[str, Any] | None = None) -> np.ndarray:
    arr = np.asarray(value) if value is not None else np.asarray(None)
    if arr.dtype.kind not in "biuf":
        raise GradcheckTypeError(f"{who}: the gradient of {name} must be an array of real numbers, got {describe(value)}")
    if arr.shape != like.shape:
        owners = [k for k, a in (others or {}).items() if k != name and np.shape(a) == arr.shape]
        hint = f"; it has the shape of {' and '.join(owners)}: gradients returned in the wrong order?" if owners else ""
        arr = shaped(arr, like.shape, name, f"{who}: the gradient of {name} has shape {arr.shape}, expected "
                     f"{like.shape} (the shape of {name}){hint}")  # an extra batch axis says so (gradcheck.batchaxis)
    return np.array(arr, dtype=np.float64, copy=True)


def _total(outputs: Sequence[np.ndarray], douts: Sequence[np.ndarray], who: str) -> Any:
    """``sum(out * dout)`` over the outputs; float32 when the layer computes in float32 (so the check says so)."""
    if len(outputs) != len(douts):
        raise GradcheckValueError(f"{who} returned {len(outputs)} outputs at a moved point, {len(douts)} at the point itself")
    total = 0.0
    for o, d in zip(outputs, douts):
        if o.shape != d.shape:
            raise GradcheckValueError(f"{who}'s output changed shape from {d.shape} to {o.shape} at a moved point")
        total += float(np.sum(np.asarray(o, dtype=np.float64) * d))
    low = [o.dtype for o in outputs if o.dtype.kind == "f" and o.dtype.itemsize < 8]
    return low[0].type(total) if low else total


@contextlib.contextmanager
def restoring(arrays: Mapping[str, np.ndarray], who: str) -> Iterator[None]:
    """Refuse read-only arrays; on every way out, copy each array back bit for bit.

    Only a killed process (SIGKILL, power loss) can leave a moved entry.
    """
    for k, a in arrays.items():
        if not isinstance(a, np.ndarray):
            raise GradcheckTypeError(f"{who}[{k!r}] must be a numpy array (the check moves it in place), got {describe(a)}")
        if not a.flags.writeable:
            raise GradcheckValueError(f"{who}[{k!r}] is read-only: the check moves its entries in place (the layers hold "
                             "these very arrays) and restores them; make it writeable or pass a copy")
        if a.dtype.kind != "f":
            raise GradcheckTypeError(f"{who}[{k!r}] must be a floating-point array to be moved in place, got {describe(a)}")
    saved = {k: a.copy() for k, a in arrays.items()}
    try:
        yield
    finally:
        for k, a in arrays.items():
            np.copyto(a, saved[k])


@explains_unsummed
def check_layer(
    forward: Any,
    backward: Any = None,
    inputs: Mapping[str, Any] | None = None,
    *,
    dout: Any = None,
    seed: int = 0,
    mode: str = "full",
    params: Mapping[str, str] | None = None,
    tolerance: Tolerance | None = None,
    probes: int = 4,
    workers: int | None = None,
    strict: bool = False,
    subject: str | None = None,
) -> CheckResult:
    """Check a layer's backward through a vector-Jacobian product (see the module docstring).

    Parameters
    ----------
    forward : callable or layer object
        ``forward(**inputs)`` (cs231n; bind non-array arguments such as
        ``conv_param`` with ``functools.partial``), or an object with
        ``forward`` and ``backward`` methods (DLFS; then pass ``inputs``
        second).
    backward : callable, optional
        ``backward(dout, cache)``; ``None`` for a loss function returning
        ``(loss, dx)``.
    inputs : dict of str to array
        The point: the forward's array arguments by name (matched to the
        backward's gradients in the order of the forward's signature).
        Never modified.
    dout : array or tuple of arrays, optional
        The upstream gradient; default: seeded standard normal.
    seed : int
        Seeds ``dout``, the determinism and noise rays and fast mode.
    mode : {"full", "fast"}
    params : dict of str to str, optional
        For a layer object: ``{"W": "dW", ...}``, its parameters and their
        gradient attributes, container entries written ``"grads['W']"``
        or ``"grads[0]"`` (default: found by the conventions of
        :mod:`gradcheck.layer_params`; an array the forward reads that
        this leaves out is said in a warning).
    tolerance, probes, workers, strict
        As for :func:`gradcheck.check_gradients`.
    subject : str, optional
        Name for the report (default: the forward's or layer's name).

    Returns
    -------
    CheckResult
        One :class:`~gradcheck.results.ParamCheck` per differentiable
        input (and per parameter of a layer object).

    Examples
    --------
    >>> def affine_forward(x, w, b):
    ...     return x @ w + b, (x, w, b)
    >>> def affine_backward(dout, cache):
    ...     x, w, b = cache
    ...     return dout @ w.T, x.T @ dout, dout.sum(axis=0)
    >>> rng = np.random.default_rng(0)
    >>> point = {"x": rng.normal(size=(4, 3)), "w": rng.normal(size=(3, 2)), "b": np.zeros(2)}
    >>> check_layer(affine_forward, affine_backward, point).passed
    True
    >>> bad = lambda dout, cache: (dout @ cache[1].T, cache[0].T @ dout, dout.mean(axis=0))
    >>> r = check_layer(affine_forward, bad, point)
    >>> r.passed, [c.name for c in r.failed]
    (False, ['b'])
    """
    _check_options(mode, seed, probes)
    options: dict[str, Any] = {"mode": mode, "seed": int(seed), "probes": probes, "workers": check_workers(workers),
                   "tol": _tolerance(tolerance), "strict": strict}
    if not callable(forward) and hasattr(forward, "forward") and hasattr(forward, "backward"):
        if inputs is not None or not isinstance(backward, Mapping):
            raise GradcheckTypeError("for a layer object, call check_layer(layer, inputs): its backward is layer.backward")
        return _check_object(forward, _inputs(backward), dout, params, subject, _given_precision(options, backward))
    if not callable(forward):
        raise GradcheckTypeError(f"forward must be callable or a layer object with forward and backward methods, "
                        f"got forward={describe(forward)}")
    if backward is not None and not callable(backward):
        raise GradcheckTypeError(f"backward must be callable (or None for a loss returning (loss, dx)), got {describe(backward)}")
    if params is not None:
        raise GradcheckTypeError("params= names a layer object's parameter attributes; functions take every array in inputs")
    return _check_functions(forward, backward, _inputs(inputs), dout, subject, _given_precision(options, inputs))


def _given_precision(options: dict[str, Any], inputs: Any) -> dict[str, Any]:
    """``options`` with ``data_precision``: the inputs given below float64 (:func:`gradcheck.check.low_precision_arrays`).

    The check runs on float64 copies: the inputs are data, evaluated at
    their values, and widen the error bars only when the layer still
    computes in float32 (:func:`gradcheck.check._given_below_float64`);
    ``low_precision`` (none yet) collects the evidence that it does.
    """
    return {**options, "low_precision": {},
            "data_precision": low_precision_arrays({f"inputs[{k!r}]": v for k, v in inputs.items()})}


class _IntegerOwners(Exception):
    """Internal: the backward gave a gradient to integer inputs; the check starts again with them as float64."""

    def __init__(self, owners: Sequence[str]) -> None:
        super().__init__(list(owners))
        self.owners = list(owners)


def _float_owners(point: Mapping[str, np.ndarray], owners: Sequence[str]) -> list[str]:
    """``owners``, raising :class:`_IntegerOwners` when one of them is not floating-point."""
    if any(point[k].dtype.kind != "f" for k in owners):
        raise _IntegerOwners(owners)
    return list(owners)


def _as_float(point: Mapping[str, np.ndarray], names: Sequence[str]) -> dict[str, np.ndarray]:
    """``point`` with the inputs ``names`` as float64 copies (the caller's arrays are never touched)."""
    return {k: (np.array(v, dtype=np.float64) if k in names and v.dtype.kind != "f" else v) for k, v in point.items()}


def _said(result: CheckResult, point: Mapping[str, np.ndarray], floated: Sequence[str], who: str) -> CheckResult:
    """``result`` saying which integer inputs were differentiated as float64, which inputs were not checked, and
    failing a check that checked no entry at all (it would otherwise read as PASSED)."""
    checked = {p.name for p in result.params}
    warnings = [f"inputs[{k!r}] is {point[k].dtype} {point[k].shape}: differentiated as a float64 copy of its values "
                "(the backward gave it a gradient)" for k in floated]
    warnings += [f"inputs[{k!r}] ({point[k].dtype} {point[k].shape}) is NOT CHECKED: {who} gave no gradient for it, "
                 "so it is taken as labels, indices or a mask" for k in point if k not in checked]
    problems = [] if sum(int(np.prod(p.shape)) for p in result.params) else [
        f"nothing was checked: no input or parameter with a gradient has any entry "
        f"(inputs {[f'{k} {v.dtype} {v.shape}' for k, v in point.items()]}); PASSED would say more than the check knows"]
    return dataclasses.replace(result, problems=result.problems + tuple(problems),
                               warnings=tuple(warnings) + result.warnings)


def _check_functions(forward: Callable[..., Any], backward: Callable[..., Any] | None, point: dict[str, np.ndarray],
                     dout: Any, subject: str | None, options: dict[str, Any]) -> CheckResult:
    """cs231n convention: ``forward(**inputs)``, ``backward(*douts, cache)``; integer inputs as :func:`_owners` says."""
    who = str(subject or getattr(forward, "__name__", None)
              or getattr(getattr(forward, "func", None), "__name__", "forward"))
    try:
        return _said(_check_functions_at(forward, backward, point, dout, who, options), point, [],
                     _name(backward, who) if backward is not None else who)
    except _IntegerOwners as e:
        floated = [k for k in e.owners if point[k].dtype.kind != "f"]
        return _said(_check_functions_at(forward, backward, _as_float(point, floated), dout, who, options), point,
                     floated, _name(backward, who) if backward is not None else who)


def _check_functions_at(forward: Callable[..., Any], backward: Callable[..., Any] | None,
                        point: dict[str, np.ndarray], dout: Any, who: str, options: dict[str, Any]) -> CheckResult:
    """:func:`_check_functions` at ``point`` (its integer inputs that have a gradient already float64)."""
    names = _signature_order(forward, list(point))
    rng = _dout_rng(options["seed"])
    used = {k: v.copy() for k, v in point.items()}
    _check_binds(forward, list(point), who)
    result = forward(**used)
    problems = guards.mutations({f"inputs[{k!r}]": v for k, v in point.items()},
                                {f"inputs[{k!r}]": v for k, v in used.items()}, who)
    if backward is None:  # a loss: (loss, grads)
        if not (isinstance(result, tuple) and len(result) == 2):
            raise GradcheckTypeError(f"{who} must return (loss, grads) when backward is None, got {describe(result)}")
        outputs, douts = [np.asarray(result[0])], [np.ones(np.shape(result[0]))]
        diff = _float_owners(point, _owners(result[1], names, point, who))
        raw = _grads(result[1], names, diff, who, point)
        grads = {k: _as_grad(g, point[k], k, who, point) for k, g in raw.items()}
    else:
        grads, outputs, douts, found, raw = _backward_twice(forward, backward, point, used, result, names, dout, rng)
        problems += found
        diff = list(grads)
    # judged with float32 error bars, said
    options = {**options, "n_samples": _batch(point, diff), "low_precision": {**options["low_precision"],
               **low_precision_arrays({f"grads[{k!r}]": g for k, g in raw.items()})}}
    if backward is not None and len(diff) == 1 and len(outputs) == 1:  # a lone activation: its known mistakes
        options["mistakes"] = {m: {diff[0]: g} for m, g in elementwise_mistakes(point[diff[0]], outputs[0], douts[0]).items()}
    guards.require_finite(grads, "grads")

    def call(arrays: dict[str, np.ndarray]) -> Any:
        res = forward(**{k: (arrays[k] if k in arrays else point[k]).copy() for k in names})
        outs = [np.asarray(res[0])] if backward is None else _split(res, True)[0]
        return _total(outs, douts, who)

    def recheck(moved: dict[str, np.ndarray], which: list[str]) -> CheckResult:
        at = {**point, **moved}
        res = forward(**{k: v.copy() for k, v in at.items()})
        if backward is None:
            outs, raw_there = [np.asarray(res[0])], res[1]
        else:
            outs, cache, cached = _split(res, True)
            raw_there = backward(*[d.copy() for d in douts], *((cache,) if cached else ()))
        there = _grads(raw_there, names, diff, who)
        fp = FunctionPoint(call, {k: at[k].copy() for k in diff}, who=who)
        return check_point(fp, {k: _as_grad(there[k], at[k], k, who) for k in which}, first=None, subject=who,
                           noise_floor=_floor(outs, douts), **{k: v for k, v in options.items() if k != "mistakes"})  # found at the point

    fp = FunctionPoint(call, {k: point[k].copy() for k in diff}, who=who)
    first = float(_total(outputs, douts, who))
    return check_point(fp, grads, first=first, subject=who, noise_floor=_floor(outputs, douts), problems=problems,
                       recheck=recheck, **options)


def _floor(outputs: Sequence[np.ndarray], douts: Sequence[np.ndarray]) -> float:
    """The size of the terms of ``sum(out * dout)`` (a noise floor for :func:`gradcheck.check.check_point`)."""
    return sum(float(np.sum(np.abs(np.asarray(o, dtype=np.float64) * d))) for o, d in zip(outputs, douts))


def _check_binds(forward: Callable[..., Any], names: list[str], who: str) -> None:
    """Raise a clear error when ``forward(**inputs)`` cannot be called: an argument ``inputs`` does not give (rt18
    F16: an unbound ``conv_param`` gave Python's own TypeError), or a key ``forward`` does not take.

    >>> _check_binds(lambda x, w, conv_param: None, ["x", "w"], "conv_forward")
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckTypeError: conv_forward needs conv_param, which inputs does not give: bind a non-array argument with functools.partial, e.g. check_layer(partial(conv_forward, conv_param=...), backward, inputs)
    """
    try:
        signature = inspect.signature(forward)
    except (TypeError, ValueError):  # a builtin or C function: its own error will say
        return
    params = signature.parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = [k for k in names if k not in params]
        if unknown:
            lowered = {p.lower(): p for p in params}  # 'X' for 'x' is the usual slip
            close = {k: difflib.get_close_matches(k.lower(), list(lowered), n=1) for k in unknown}
            hint = "".join(f" ({k!r} for {lowered[c[0]]!r}?)" for k, c in close.items() if c)
            raise GradcheckTypeError(f"inputs has the key(s) {unknown}, which {who} does not take (its parameters: "
                                     f"{list(params)}){hint}")
    missing = [k for k, p in params.items() if p.default is p.empty and k not in names
               and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    if missing:
        raise GradcheckTypeError(f"{who} needs {', '.join(missing)}, which inputs does not give: bind a non-array "
                                 f"argument with functools.partial, e.g. check_layer(partial({who}, {missing[0]}=...), "
                                 "backward, inputs)")


def _check_backward_binds(backward: Callable[..., Any], n_douts: int, cached: bool, who: str) -> None:
    """Raise a clear error when ``backward`` cannot take what the cs231n convention passes it: one upstream gradient
    per output of forward, then the cache (rt21 F11: a two-output forward's ``backward(dout, cache)`` got Python's
    own TypeError).

    >>> _check_backward_binds(lambda dout, cache: None, 2, True, "step_backward")
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckTypeError: forward returned 2 outputs then a cache, so step_backward is called with one upstream gradient per output, then the cache: step_backward(dout0, dout1, cache), as cs231n's lstm_step_backward(dnext_h, dnext_c, cache); step_backward takes (dout, cache)
    """
    try:
        signature = inspect.signature(backward)
    except (TypeError, ValueError):  # a builtin or C function: its own error will say
        return
    try:
        signature.bind(*range(n_douts + int(cached)))
    except TypeError:
        douts = ["dout"] if n_douts == 1 else [f"dout{i}" for i in range(n_douts)]
        outputs = "an output" if n_douts == 1 else f"{n_douts} outputs"
        called = f"{who}({', '.join(douts + (['cache'] if cached else []))})"
        raise GradcheckTypeError(
            f"forward returned {outputs}{' then a cache' if cached else ' and no cache'}, so {who} is called with "
            f"one upstream gradient per output{', then the cache' if cached else ''}: {called}"
            + (", as cs231n's lstm_step_backward(dnext_h, dnext_c, cache)" if n_douts > 1 else "")
            + f"; {who} takes {signature}") from None


def _signature_order(forward: Callable[..., Any], names: list[str]) -> list[str]:
    """``names`` in the order of ``forward``'s parameters (a backward returns its gradients in that order).

    >>> _signature_order(lambda x, w, b: None, ["w", "b", "x"])
    ['x', 'w', 'b']
    """
    try:
        order = list(inspect.signature(forward).parameters)
    except (TypeError, ValueError):  # a builtin or C function: keep the caller's order
        return names
    if not set(names) <= set(order):
        return names
    return sorted(names, key=order.index)


def _backward_twice(forward: Callable[..., Any], backward: Callable[..., Any], point: dict[str, np.ndarray],
                    used: dict[str, np.ndarray], result: Any, names: Sequence[str], dout: Any,
                    rng: np.random.Generator) -> tuple[dict[str, np.ndarray], list[np.ndarray], list[np.ndarray],
                                                       list[str], dict[str, Any]]:
    """``backward`` on ``forward``'s cache, then again on a fresh forward's.

    Returns (gradients, outputs, douts, problems, the gradients as returned).

    The first call's gradients and the outputs are copied before anything
    else runs (a backward may return one buffer it adds into, or write into
    a cache that holds the output).  Reported under the backward's name:
    writes into the inputs the cache holds, writes into ``dout`` (a copy:
    the caller's ``dout=`` is never handed over), and gradients that differ
    between the two calls.
    """
    bwho = _name(backward, "backward")
    outputs, cache, cached = _split(result, True)
    outputs = [np.array(o, copy=True) for o in outputs]
    douts = _dout(outputs, dout, rng)
    kept = {k: v.copy() for k, v in used.items()}
    given = [d.copy() for d in douts]
    _check_backward_binds(backward, len(douts), cached, bwho)
    returned = backward(*given, *((cache,) if cached else ()))
    diff = _float_owners(point, _owners(returned, names, point, bwho))
    try:
        raw = _grads(returned, names, diff, bwho, point)
        grads = {k: _as_grad(g, point[k], k, bwho, point) for k, g in raw.items()}
    except GradcheckValueError as e:
        reshaped = [f"{k} from {point[k].shape} to {v.shape}" for k, v in used.items() if v.shape != point[k].shape]
        if not reshaped:
            raise
        raise GradcheckValueError(f"{e}; {_name(forward, 'forward')} changed the shape of its input in place "
                                  f"({', '.join(reshaped)}): a function under check must not change its arguments") from None
    dnames = _dout_names(backward, len(douts))
    problems = guards.mutations({f"inputs[{k!r}] (held in its cache)": v for k, v in kept.items()},
                                {f"inputs[{k!r}] (held in its cache)": v for k, v in used.items()}, bwho)
    problems += guards.mutations(dict(zip(dnames, douts)), dict(zip(dnames, given)), bwho)
    again = backward(*[d.copy() for d in douts], *((_split(forward(**{k: v.copy() for k, v in point.items()}),
                                                           True)[1],) if cached else ()))
    second = _grads(again, names, diff, bwho)
    problems += [f"{bwho} is not deterministic: the gradient of {k} differs between two calls with the same input"
                 for k in guards.unstable({k: grads[k] for k in diff}, {k: second[k] for k in diff})]
    return grads, outputs, douts, problems, raw


def _name(fn: Any, default: str) -> str:
    """A function's ``__name__``, also through ``functools.partial``."""
    return str(getattr(fn, "__name__", None) or getattr(getattr(fn, "func", None), "__name__", None) or default)


def _dout_names(backward: Callable[..., Any], n: int) -> list[str]:
    """What ``backward`` calls its upstream gradients (``dout``; ``dnext_h``, ``dnext_c``)."""
    try:
        order = [p for p in inspect.signature(backward).parameters][:n]
    except (TypeError, ValueError):  # a builtin or C function
        order = []
    return order if len(order) == n else ["dout"] if n == 1 else [f"dout[{i}]" for i in range(n)]


def _batch(point: Mapping[str, np.ndarray], diff: Sequence[str]) -> int | None:
    first = point[diff[0]] if diff else None
    return int(first.shape[0]) if first is not None and first.ndim else None


@dataclass
class _Pass:
    """One forward and backward of a layer object on fresh copies: what it gave and what it wrote into."""

    out: np.ndarray
    grads: dict[str, np.ndarray]
    attrs: dict[str, str]
    problems: list[str]
    #: the gradients as backward returned them or left them in ``self.dW`` (their dtypes)
    returned: dict[str, Any] = field(default_factory=dict)
    #: backward's writes into ``dout``: said, not failed (see :func:`_object_pass`)
    dout_writes: list[str] = field(default_factory=list)
    #: held arrays that are not checked, with the gradient paths looked for (:func:`gradcheck.layer_params.discover`)
    unfound: dict[str, list[str]] = field(default_factory=dict)


def _params_written(attrs: Sequence[str], before: Mapping[str, np.ndarray], after: Mapping[str, np.ndarray],
                    who: str) -> list[str]:
    """Parameters (``self.W``) whose entries differ between two snapshots of the layer."""
    kept = [a for a in attrs if a in before]
    return guards.mutations({f"self.{a}": before[a] for a in kept}, {f"self.{a}": after[a] for a in kept}, who)


def _object_pass(layer: Any, point: dict[str, np.ndarray], dout: Any, names: Mapping[str, str] | None, who: str,
                 held: Held, rng: np.random.Generator) -> _Pass:
    """``layer.forward`` on fresh copies of the inputs, then ``layer.backward`` on a fresh copy of ``dout``.

    Reported: writes of ``forward`` into its inputs; writes of ``backward``
    into the inputs ``forward`` kept (``self.x``); writes of either into the
    layer's parameters.  Writes of ``backward`` into ``dout`` are said as
    a warning, not a failure: the book's own ``Relu.backward`` does
    ``dout[mask] = 0``, harmless in its chains, where every ``dout`` is the
    previous backward's fresh result and nothing reads it after the call.
    """
    inputs = list(point)
    used = {k: point[k].copy() for k in inputs}
    out = np.array(layer.forward(*[used[k] for k in inputs]), copy=True)  # backward may write into self.out
    rebound = held.rebound()
    problems = guards.mutations(point, used, f"{who}.forward")
    after_forward = {k: v.copy() for k, v in used.items()}
    params_after_forward = held.entries()
    scalar = out.ndim == 0
    douts = [np.ones(())] if scalar else _dout([out], dout, rng)
    given = douts[0].copy()
    raw = layer.backward(1.0 if scalar else given)
    grads_in = _grads(raw, inputs, _float_owners(point, _owners(raw, inputs, point, who, first_if_one=True)), who, point)
    grads = {k: _as_grad(g, point[k], k, who, point) for k, g in grads_in.items()}  # copies, before anything else runs
    attrs, unfound = discover(layer, held, names, rebound)
    for a, g in attrs.items():
        grads[a] = _as_grad(resolve(layer, g), np.asarray(held.current(a)), f"{who}.{a} ({who}.{g})", who)
    returned = {**grads_in, **{a: resolve(layer, g) for a, g in attrs.items()}}
    problems += guards.mutations({f"{k} (which forward kept)": v for k, v in after_forward.items()},
                                 {f"{k} (which forward kept)": v for k, v in used.items()}, f"{who}.backward")
    after_backward = held.entries()
    problems += _params_written(list(attrs), held.saved, params_after_forward, f"{who}.forward")
    problems += _params_written([a for a in attrs if a in held.saved
                                 and guards.same_entries(params_after_forward[a], held.saved[a])],
                                params_after_forward, after_backward, f"{who}.backward")
    writes = [] if scalar else [
        f"{m.split(': a function under check')[0]}: not counted as a failure, harmless where nothing reads dout after the call (the book's chains; its "
        "own Relu.backward does dout[mask] = 0), but a caller that reuses dout sees it changed"
        for m in guards.mutations({"dout": douts[0]}, {"dout": given}, f"{who}.backward")]
    return _Pass(out, grads, attrs, problems, returned, writes, unfound)


def _check_object(layer: Any, point: dict[str, np.ndarray], dout: Any, names: Mapping[str, str] | None,
                  subject: str | None, options: dict[str, Any]) -> CheckResult:
    """:func:`_check_object_at`, integer inputs as :func:`_owners` says (the first input's for one ``dx``)."""
    who = subject or type(layer).__name__
    try:
        return _said(_check_object_at(layer, point, dout, names, subject, options), point, [], f"{who}.backward")
    except _IntegerOwners as e:
        floated = [k for k in e.owners if point[k].dtype.kind != "f"]
        return _said(_check_object_at(layer, _as_float(point, floated), dout, names, subject, options), point, floated,
                     f"{who}.backward")


def _check_object_at(layer: Any, point: dict[str, np.ndarray], dout: Any, names: Mapping[str, str] | None,
                     subject: str | None, options: dict[str, Any]) -> CheckResult:
    """DLFS convention: ``layer.forward(*inputs)``, ``layer.backward(dout)``, ``layer.dW``.

    Forward and backward run twice on fresh copies, the parameters put back
    in between: a backward that adds into ``self.dW`` (never zeroed) gives a
    different gradient the second time.  Every array the layer held is put
    back on every way out.
    """
    who = subject or type(layer).__name__
    inputs = list(point)
    explicit = names is not None
    held = Held(layer)
    try:
        first = _object_pass(layer, point, dout, names, who, held, _dout_rng(options["seed"]))
        held.restore(list(first.attrs))
        names = first.attrs  # the same parameters and gradients at every later pass
        second = _object_pass(layer, point, dout, names, who, held, _dout_rng(options["seed"]))
        held.restore(list(first.attrs))
        unchecked = _unchecked(layer, point, first, held, who)
        held.restore(list(first.unfound))
        problems = first.problems + _object_nondeterminism(first, second, who) + (
            unchecked if not explicit else [])
        grads, out = first.grads, first.out
        guards.require_finite(grads, "grads")
        douts = [np.ones(())] if out.ndim == 0 else _dout([out], dout, _dout_rng(options["seed"]))
        moving = [k for k in grads if k in point]
        params = {a: held.objects.get(a, held.current(a)) for a in first.attrs}
        low = {**options["low_precision"], **low_precision_arrays(
            {**{f"{who}.{a}": v for a, v in params.items()}, **{f"{who}.d{k}": g for k, g in first.returned.items()}})}
        # the layer's own arrays move in place: in their dtype
        options = {**options, "n_samples": _batch(point, moving), "low_precision": low,
                   "force_float32": any(f"{who}.{a}" in low for a in params)}
        with restoring(params, f"{who}"):
            arrays = {**{k: point[k].copy() for k in moving}, **params}

            def call(current: dict[str, np.ndarray]) -> Any:
                res = np.asarray(layer.forward(*[(current[k] if k in current else point[k]).copy() for k in inputs]))
                return _total([res], douts, who)

            def recheck(moved: dict[str, np.ndarray], which: list[str]) -> CheckResult:
                return _moved_object_check(layer, call, point, params, moved, which, dout, douts, names, who, held,
                                           options)

            fp = FunctionPoint(call, arrays, who=who)
            result = check_point(fp, grads, first=float(_total([out], douts, who)), subject=who, problems=problems,
                                 noise_floor=float(np.sum(np.abs(out * douts[0]))), recheck=recheck, **options)
            return dataclasses.replace(result, warnings=result.warnings + tuple(first.dout_writes)
                                       + tuple(unchecked if explicit else []))
    finally:
        held.restore()


def _unchecked(layer: Any, point: Mapping[str, np.ndarray], first: _Pass, held: Held, who: str) -> list[str]:
    """The arrays the layer holds that its forward reads and that are not checked (no gradient found, or left
    out of ``params=``), each said (:func:`gradcheck.layer_params.unfound_message`)."""
    def forward() -> Any:
        return layer.forward(*[v.copy() for v in point.values()])

    said = []
    for path, looked in first.unfound.items():
        arr = held.objects[path]
        if read_by(forward, arr, first.out):
            said.append(unfound_message(who, path, arr.shape, looked, layer) if looked else
                        f"{who}.{path} {arr.shape} is read by forward but NOT CHECKED: it is not in params=")
    return said


def _moved_object_check(layer: Any, call: Callable[[dict[str, np.ndarray]], Any], point: dict[str, np.ndarray],
                        params: Mapping[str, np.ndarray], moved: Mapping[str, np.ndarray], which: list[str], dout: Any,
                        douts: Sequence[np.ndarray], names: Mapping[str, str] | None, who: str, held: Held,
                        options: dict[str, Any]) -> CheckResult:
    """The check of ``which`` with the inputs and the layer's parameters set to ``moved`` (a point off the ties).

    The parameters are put back after (the caller's :func:`restoring` too).
    """
    before = {a: v.copy() for a, v in params.items()}
    try:
        for a, v in params.items():
            np.copyto(v, moved[a], casting="unsafe")
        there = _object_pass(layer, {**point, **{k: moved[k] for k in point if k in moved}}, dout, names, who, held,
                             _dout_rng(options["seed"]))
        held.restore(list(there.attrs))  # a backward that rebinds or steps them must not move the point
        for a, v in params.items():
            np.copyto(v, moved[a], casting="unsafe")
        fp = FunctionPoint(call, {**{k: np.array(moved[k], copy=True) for k in point if k in moved}, **params}, who=who)
        return check_point(fp, {k: there.grads[k] for k in which}, first=None, subject=who,
                           noise_floor=float(np.sum(np.abs(there.out * douts[0]))), **options)
    finally:
        for a, v in params.items():
            np.copyto(v, before[a])


def _object_nondeterminism(first: _Pass, second: _Pass, who: str) -> list[str]:
    """Which of forward or backward gave something else the second time (forward's output first)."""
    if guards.unstable({"out": first.out}, {"out": second.out}):
        return [f"{who}.forward is not deterministic: its output differs between two calls with the same input"]
    return [f"{who}.backward is not deterministic: the gradient of {k} differs between two calls with the same input"
            + (f" (self.{first.attrs[k]} kept from an earlier call and added to?)" if k in first.attrs else "")
            for k in guards.unstable(first.grads, {**first.grads, **second.grads})]


def assert_layer_gradients(forward: Any, backward: Any = None, inputs: Mapping[str, Any] | None = None,
                           **options: Any) -> CheckResult:
    """:func:`check_layer`, raising ``AssertionError`` with the report when it fails."""
    from gradcheck.report import format_result

    __tracebackhide__ = True
    result = check_layer(forward, backward, inputs, **options)
    if not result.passed:
        raise AssertionError(format_result(result, only_failures=True))
    return result
