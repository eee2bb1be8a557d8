"""Checking a whole net in the "Deep Learning from Scratch" convention.

A DLFS ``TwoLayerNet`` keeps its parameters in ``net.params`` (a dict of
arrays), computes ``net.loss(x, t)`` through layer objects that hold *those
very arrays* (``Affine(self.params["W1"], ...)``) and returns its backprop
gradients from ``net.gradient(x, t)`` as a dict with the same keys.  The
loss can only see a moved parameter through those arrays, so
:func:`check_net` moves them in place: the one deliberate exception to
"never modify the caller's arrays".
"""
from __future__ import annotations

import dataclasses
import functools
import inspect
import math

from collections.abc import Callable, Mapping
from types import CodeType
from typing import Any

import numpy as np

from gradcheck import guards
from gradcheck._validate import check_grads_match, check_workers, describe
from gradcheck.batchaxis import explains_unsummed
from gradcheck.evaluations import counting_calls, is_numerical
from gradcheck.errors import GradcheckTypeError, GradcheckValueError
from gradcheck.check import _check_options, _tolerance, check_point, low_precision_arrays
from gradcheck.compare import Tolerance
from gradcheck.diagnose import with_loss
from gradcheck.estimate import NumericGradient
from gradcheck.layer import restoring
from gradcheck.logeps import PerSample, explain_log_epsilon
from gradcheck.numeric import FunctionPoint, to_scalar
from gradcheck.lossfacts import measure_facts
from gradcheck.results import CheckResult, ParamCheck
from gradcheck.roundoff import STEP, read_rounding

__all__ = ["assert_net_gradients", "check_net"]


def _batch_arg(value: Any, name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "biuf":
        raise GradcheckTypeError(f"{name} must be an array of real numbers (labels may be integers), got {name}={describe(value)}")
    if arr.ndim and arr.shape[0] == 0:
        raise GradcheckValueError(f"{name} has 0 samples (shape {arr.shape}): a gradient check needs at least one")
    return np.array(arr, copy=True)


def _method(net: Any, name: str, what: str) -> Any:
    if not isinstance(name, str):
        raise GradcheckTypeError(f"{what} must be the name of a method of the net (str), got {what}={describe(name)}")
    fn = getattr(net, name, None)
    if not callable(fn):
        raise GradcheckTypeError(f"the net has no method {name!r} ({what}={name!r}); "
                        f"it has {sorted(a for a in dir(net) if not a.startswith('_'))}")
    return fn


@explains_unsummed
def check_net(
    net: Any,
    x: Any,
    t: Any,
    *,
    params: str = "params",
    loss: str = "loss",
    gradient: str = "gradient",
    mode: str = "full",
    tolerance: Tolerance | None = None,
    seed: int = 0,
    probes: int = 4,
    workers: int | None = None,
    strict: bool = False,
) -> CheckResult:
    """Check ``net.gradient(x, t)`` against central differences of ``net.loss(x, t)``.

    Every entry of every array in ``net.params`` is moved *in place* (the
    net's layers hold those very arrays), one at a time, and put back
    exactly: on every way out, exceptions and Ctrl-C (``KeyboardInterrupt``)
    included, every array is restored bit for bit from a copy taken first.
    Only a killed process (SIGKILL, power loss) can leave a moved entry.
    A ``net.loss`` that takes ``train_flg`` (the book's
    ``MultiLayerNetExtend``) is differentiated as ``net.loss(x, t,
    train_flg=True)``, the training mode its ``gradient()`` runs, and a
    warning of the result says so (:func:`_training_mode`).
    Read-only arrays are refused.  When the loss does not change at all
    while a parameter moves, the check says so: after
    ``net.params.update(p)`` or ``net.params["W1"] = ...`` the layers still
    hold the old arrays and the loss cannot see the new ones.

    ``net.gradient`` runs twice on fresh copies of ``x`` and ``t`` (a
    gradient that adds into buffers it never zeroes is not deterministic),
    and every call of ``net.loss`` gets fresh copies too: a loss or gradient
    that writes into ``x``, ``t`` or the parameters is reported, and its
    writes never move the point the numbers are taken at.  The numbers are
    judged as in :func:`gradcheck.check_gradients` (two calls per entry,
    refinement where needed, determinism and noise measured from the loss
    itself); a tensor whose every failing entry moves a tie (exact ReLU
    ties: a kink its stencil flagged, or a partial derivative that jumps
    across the point) is checked again at two points moved off them, with
    ``net.gradient`` called there (:func:`gradcheck.check._kinks_off_ties`).
    ``net.params`` below float64 are said (a
    ``GradcheckPrecisionWarning``; ``TypeError`` under ``strict``), and float32
    parameters are moved with float32 steps, and judged with error bars from
    the float32 loss's measured rounding (:func:`gradcheck.check._float32_rounding`),
    stated in the warning.  ``x`` or ``t`` below float64 alone are data: noted,
    and judged so only when the loss rounds at float32's level
    (:func:`gradcheck.check._given_below_float64`; ``TypeError`` under ``strict``).

    A ``net.gradient`` that runs ``net.loss`` or ``net.predict`` about once
    per parameter computes a numerical gradient, however accurate, and is
    reported as such (:mod:`gradcheck.evaluations`); so is one whose
    gradient carries a finite difference's rounding, however it was
    computed (``net.gradient`` runs three times more, at points moved by ``1e-9``
    of the parameters: :mod:`gradcheck.roundoff`; not for nets below float64,
    nor for a gradient that already differed between two calls at the point:
    that is the certain finding, and its moved points measure the
    accumulation, not how it was computed).

    Parameters
    ----------
    net : object
        With ``net.<params>`` a dict of float arrays, ``net.<loss>(x, t)``
        and ``net.<gradient>(x, t)`` returning a dict of the same keys.
    x, t : array
        The batch; ``t`` may be integer labels or one-hot.  Never modified.
    params, loss, gradient : str
        The attribute and method names (the book's by default).
    mode, tolerance, seed, probes, workers, strict
        As for :func:`gradcheck.check_gradients`.

    Examples
    --------
    >>> class Net:  # a linear softmax classifier, DLFS style
    ...     def __init__(self):
    ...         self.params = {"W": np.array([[0.1, -0.2], [0.3, 0.05]])}
    ...     def loss(self, x, t):
    ...         z = x @ self.params["W"]
    ...         z = z - z.max(axis=1, keepdims=True)
    ...         return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(t)), t]))
    ...     def gradient(self, x, t):
    ...         z = x @ self.params["W"]
    ...         y = np.exp(z - z.max(axis=1, keepdims=True))
    ...         y /= y.sum(axis=1, keepdims=True)
    ...         y[np.arange(len(t)), t] -= 1
    ...         return {"W": x.T @ y / len(t)}
    >>> net = Net()
    >>> x, t = np.array([[1.0, 2.0], [0.5, -1.0]]), np.array([0, 1])
    >>> check_net(net, x, t).passed
    True
    >>> net.params.update({"W": net.params["W"] * 2})  # the arrays the loss reads are replaced: fine here
    >>> check_net(net, x, t).passed
    True
    """
    _check_options(mode, seed, probes)
    options: dict[str, Any] = {"mode": mode, "seed": int(seed), "probes": probes, "workers": check_workers(workers),
                   "tol": _tolerance(tolerance), "strict": strict}
    arrays = getattr(net, params, None) if isinstance(params, str) else None
    if not isinstance(arrays, Mapping) or not arrays:
        raise GradcheckTypeError(f"net.{params} must be a non-empty dict of parameter arrays (params={params!r}), "
                        f"got {describe(arrays)}")
    loss_fn, grad_fn = _method(net, loss, "loss"), _method(net, gradient, "gradient")
    loss_fn, said = _training_mode(loss_fn, loss)
    xx, tt = _batch_arg(x, "x"), _batch_arg(t, "t")
    who = type(net).__name__
    label = {k: f"net.{params}[{k!r}]" for k in arrays}
    with restoring(arrays, f"net.{params}"):
        before = {k: a.copy() for k, a in arrays.items()}
        grads, problems, counted = _counted_gradient(net, (loss, "predict"), grad_fn, arrays, before, xx, tt, label, f"net.{gradient}")
        raw: dict[str, Any] = {}  # the second call's gradients as returned (their dtypes)
        again, _ = _guarded_gradient(grad_fn, arrays, before, xx, tt, label, f"net.{gradient}", raw)
        unsteady = [f"net.{gradient} is not deterministic: the gradient of {k} differs between two calls with the "
                    "same input (gradients kept from an earlier call and added to, or dropout or noise without a "
                    "fixed seed?)"
                    for k in grads if not guards.same_entries(grads[k], again[k])]
        problems += unsteady
        guards.require_finite(grads, "grads")
        xs, ts = xx.copy(), tt.copy()
        first = to_scalar(loss_fn(xs, ts), f"net.{loss}")
        problems += _written(arrays, before, label, f"net.{loss}", {"x": (xx, xs), "t": (tt, ts)})
        low = low_precision_arrays({**{label[k]: a for k, a in arrays.items()},
                                    **{f"net.{gradient}(x, t)[{k!r}]": v for k, v in raw.items()}})
        data = low_precision_arrays({"x": x, "t": t})  # evaluated at their values (check._given_below_float64)
        # float32 rounds at ~1e-7, inside the band of a finite difference's rounding; a gradient that differs
        # between two calls at the same point differs at moved points too, and its second difference says nothing
        if not low and not data and not counted and not unsteady:
            problems[:0] = _roundoff_problem(grad_fn, arrays, xx, tt, int(seed), f"net.{gradient}")
        options.update(n_samples=int(xx.shape[0]) if xx.ndim else None, low_precision=low, data_precision=data,
                       force_float32=any(label[k] in low for k in arrays))  # the net's own arrays move: in their dtype

        def recheck(moved: dict[str, np.ndarray], names: list[str]) -> CheckResult:
            return _moved_check(loss_fn, grad_fn, arrays, moved, names, xx, tt, who, options)

        samples = functools.cache(functools.partial(_per_sample, loss_fn, grad_fn, arrays, xx, tt))
        point = FunctionPoint(lambda _: loss_fn(xx.copy(), tt.copy()), dict(arrays), who=f"net.{loss}")
        result = check_point(point, grads, first=first, subject=who, problems=problems, recheck=recheck,
                             question="does the model read these arrays? (net.params.update(p) or "
                                      "net.params[name] = ... replaces the arrays the layers hold)",
                             rediagnose=functools.partial(_rediagnose, per_sample=samples, total=first), **options)
    return dataclasses.replace(result, warnings=(*said, *result.warnings)) if said else result


def _training_mode(loss_fn: Any, name: str) -> tuple[Any, tuple[str, ...]]:
    """``net.loss`` with ``train_flg=True`` when it takes ``train_flg``, and the note saying so.

    The book's ``MultiLayerNetExtend.loss(x, t, train_flg=False)`` runs
    BatchNorm and Dropout in test mode by default, while its ``gradient()``
    runs ``self.loss(x, t, train_flg=True)``: the gradient is that of the
    training-mode loss, so that is the loss to differentiate.  Dropout is
    random in training mode unless seeded: the determinism checks catch an
    unseeded one and name the randomness.
    """
    try:
        takes = "train_flg" in inspect.signature(loss_fn).parameters
    except (TypeError, ValueError):  # a builtin or C callable without a signature
        takes = False
    if not takes:
        return loss_fn, ()
    return functools.partial(loss_fn, train_flg=True), (
        f"net.{name} takes train_flg: differentiated as net.{name}(x, t, train_flg=True), the training mode "
        f"gradient() uses in the book (BatchNorm with batch statistics, Dropout with its masks)",)


def _rediagnose(checks: tuple[ParamCheck, ...], analytic: Mapping[str, np.ndarray],
                numeric: Mapping[str, NumericGradient], *, per_sample: Callable[[], PerSample | None],
                total: float) -> tuple[ParamCheck, ...]:
    """What check_net alone can add to a full check's diagnoses, from each sample's loss (``per_sample``, called
    only when a parameter failed): an epsilon inside the log (:func:`gradcheck.logeps.explain_log_epsilon`), and
    the cause of a constant factor (:func:`_scale_causes`)."""
    return _scale_causes(explain_log_epsilon(checks, analytic, numeric, per_sample), per_sample, total)


def _scale_causes(checks: tuple[ParamCheck, ...], per_sample: Callable[[], PerSample | None],
                  total: float) -> tuple[ParamCheck, ...]:
    """``checks`` with a factor's cause named when the batch loss ``total`` is the mean or the sum of the samples' own.

    ``net.loss`` is one opaque function, so a factor ``N`` was reported with
    no cause; its samples' losses say how it weighs them (a weight decay
    added to every call still reads as a mean), and the cause is named only
    when the loss has the term it blames (:func:`gradcheck.diagnose.with_loss`).
    """
    unknown = {c.name for c in checks if c.diagnosis is not None and c.diagnosis.code == "scale"
               and c.diagnosis.detail.get("template") == "scale.unknown"}
    samples = per_sample() if unknown else None
    if samples is None:
        return checks
    facts = measure_facts(total, [float(v) for v in samples[0]], np.empty(0), np.empty(0))
    if facts.reduction is None:
        return checks
    return tuple(dataclasses.replace(c, diagnosis=with_loss(c.diagnosis, facts)) if c.name in unknown and c.diagnosis
                 else c for c in checks)


#: Largest batch whose samples are run one by one for a diagnosis (two calls each, only when a check failed).
MAX_PER_SAMPLE = 256


def _per_sample(loss_fn: Any, grad_fn: Any, arrays: Mapping[str, np.ndarray], xx: np.ndarray,
                tt: np.ndarray) -> PerSample | None:
    """Each sample's loss and ``net.gradient`` of that sample alone (:func:`gradcheck.logeps.explain_log_epsilon`).

    ``None`` when the batch is larger than :data:`MAX_PER_SAMPLE`, has no
    sample axis, or a call fails or gives a non-finite number: the diagnosis
    is then left as it was.  The parameters are put back after every call.
    """
    if xx.ndim == 0 or not 1 <= len(xx) <= MAX_PER_SAMPLE or tt.ndim == 0 or len(tt) != len(xx):
        return None
    before = {k: a.copy() for k, a in arrays.items()}
    losses, grads = [], []
    try:
        for i in range(len(xx)):
            losses.append(to_scalar(loss_fn(xx[i:i + 1].copy(), tt[i:i + 1].copy()), "net.loss"))
            grads.append(check_grads_match(grad_fn(xx[i:i + 1].copy(), tt[i:i + 1].copy()), arrays, name="net.gradient"))
            for k, a in arrays.items():
                np.copyto(a, before[k])
    except Exception:  # noqa: BLE001 - a net may refuse a batch of one (BatchNorm): then nothing is named
        return None
    finally:
        for k, a in arrays.items():
            np.copyto(a, before[k])
    values = np.array(losses, dtype=np.float64)
    if not np.all(np.isfinite(values)) or not all(np.all(np.isfinite(g[k])) for g in grads for k in g):
        return None
    return values, grads


def _moved_check(loss_fn: Any, grad_fn: Any, arrays: Mapping[str, np.ndarray], moved: Mapping[str, np.ndarray],
                 names: list[str], xx: np.ndarray, tt: np.ndarray, who: str, options: dict[str, Any]) -> CheckResult:
    """The check of ``names`` with the net's parameters set to ``moved`` (a point off the ties), put back after.

    Every call of the loss gets fresh copies of the batch: a loss that
    writes into ``x`` or ``t`` must not move the point the numbers are
    taken at.
    """
    before = {k: a.copy() for k, a in arrays.items()}
    try:
        for k, a in arrays.items():
            np.copyto(a, moved[k], casting="unsafe")
        grads = check_grads_match(grad_fn(xx.copy(), tt.copy()), arrays, name="net.gradient(x, t)")
        guards.require_finite(grads, "grads")
        for k, a in arrays.items():  # a gradient that wrote into them must not move the point
            np.copyto(a, moved[k], casting="unsafe")
        point = FunctionPoint(lambda _: loss_fn(xx.copy(), tt.copy()), dict(arrays), who=f"{who}.loss")
        return check_point(point, {k: grads[k] for k in names}, first=None, subject=who, **options)
    finally:
        for k, a in arrays.items():
            np.copyto(a, before[k])


def _guarded_gradient(grad_fn: Any, arrays: Mapping[str, np.ndarray], before: Mapping[str, np.ndarray],
                      xx: np.ndarray, tt: np.ndarray, label: Mapping[str, str],
                      who: str, returned: dict[str, Any] | None = None) -> tuple[dict[str, np.ndarray], list[str]]:
    """``grad_fn`` on fresh copies of the batch: copies of its gradients, and what it wrote into.

    The gradients are copied before anything else runs, so a gradient that
    returns the same buffers on every call, adding into them, is still seen
    to change between two calls.  The parameters are put back afterwards.
    ``returned``: filled with the gradients as returned (their dtypes).
    """
    xg, tg = xx.copy(), tt.copy()
    raw = grad_fn(xg, tg)
    grads = check_grads_match(raw, arrays, name=f"{who}(x, t)")
    if returned is not None:
        returned.update({k: raw[k] for k in grads})
    return grads, _written(arrays, before, label, who, {"x": (xx, xg), "t": (tt, tg)})


def _counted_gradient(net: Any, forward_names: tuple[str, ...], grad_fn: Any, arrays: Mapping[str, np.ndarray],
                      before: Mapping[str, np.ndarray], xx: np.ndarray, tt: np.ndarray, label: Mapping[str, str],
                      who: str) -> tuple[dict[str, np.ndarray], list[str], bool]:
    """:func:`_guarded_gradient`, counting the calls of the net's methods ``forward_names`` (rt16 F19); whether it was numerical.

    Backpropagation runs the net forward once; a numerical gradient (the
    book's ``numerical_gradient``, a complex step, a stencil) once or more
    per parameter, and :func:`gradcheck.evaluations.is_numerical` says
    which it was.  The most-called method is named in the problem.
    """
    methods = {n: getattr(net, n, None) for n in forward_names}
    codes = {n: c for n, m in methods.items() if isinstance(c := getattr(getattr(m, "__func__", m), "__code__", None), CodeType)}
    with counting_calls(codes.values(), batch=int(xx.shape[0]) if xx.ndim else None) as counts:
        grads, problems = _guarded_gradient(grad_fn, arrays, before, xx, tt, label, who)
    if counts:
        name = max(codes, key=lambda n: counts[codes[n]])
        # whole-batch runs: a per-sample loop's shares add up to 1 (rounding kept from dropping a run)
        calls, n_params = math.floor(counts[codes[name]] + 1e-9), sum(int(np.size(a)) for a in arrays.values())
        if is_numerical(calls, n_params):
            problems.insert(0, f"{who} called net.{name} {calls:,} times for {n_params:,} parameters: it computes a numerical "
                               "gradient, not backpropagation (which runs the net forward once)")
            return grads, problems, True
    return grads, problems, False


def _roundoff_problem(grad_fn: Any, arrays: Mapping[str, np.ndarray], xx: np.ndarray, tt: np.ndarray,
                      seed: int, who: str) -> list[str]:
    """The problem of a gradient carrying a finite difference's rounding (:mod:`gradcheck.roundoff`), or none.

    ``grad_fn`` runs with the net's arrays moved in place along the rays of
    :func:`gradcheck.roundoff.read_rounding` (put back bit for bit after; a
    tie at ``p`` is not crossed, a kink near it by one ray at most); it
    catches what the call count cannot see: a stencil through the layers'
    own ``forward``, one broadcasting evaluation, a thread (rt17 F3).
    """
    before = {k: a.copy() for k, a in arrays.items()}

    def at(point: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        for k, a in arrays.items():
            np.copyto(a, point[k])
        return check_grads_match(grad_fn(xx.copy(), tt.copy()), arrays, name=f"{who}(x, t)")

    try:
        noise = read_rounding(at, before, seed)
    finally:
        for k, a in arrays.items():
            np.copyto(a, before[k])
    if not noise.numerical:
        return []
    return [f"{who} computes a numerical gradient, not backpropagation: when the parameters moved by {STEP:.0e} of "
            f"their size, its second difference was {noise.typical:.0e} of its largest entry in {noise.noisy:,} of "
            f"{noise.counted:,} entries, the rounding of a finite difference (backpropagation's moves by about 1e-16)"]


def _written(arrays: Mapping[str, np.ndarray], before: Mapping[str, np.ndarray], label: Mapping[str, str], who: str,
             batch: Mapping[str, tuple[np.ndarray, np.ndarray]]) -> list[str]:
    """Writes into the net's parameters (undone here) and into its copies of the batch."""
    found = guards.mutations({label[k]: v for k, v in before.items()}, {label[k]: v for k, v in arrays.items()}, who)
    for k, a in arrays.items():
        np.copyto(a, before[k])
    return found + guards.mutations({k: pristine for k, (pristine, _) in batch.items()},
                                    {k: used for k, (_, used) in batch.items()}, who)

def assert_net_gradients(net: Any, x: Any, t: Any, **options: Any) -> CheckResult:
    """:func:`check_net`, raising ``AssertionError`` with the report when it fails."""
    from gradcheck.report import format_result

    __tracebackhide__ = True
    result = check_net(net, x, t, **options)
    if not result.passed:
        raise AssertionError(format_result(result, only_failures=True))
    return result
