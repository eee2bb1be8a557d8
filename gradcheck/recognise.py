"""What the engine may exploit in a model's layers: protocols checked on the base point.

:mod:`gradcheck.engine` is fast because it assumes things about layers: a
dense layer moved at one weight moves one column by a rank-one update, an
elementwise layer carries a single column through, every layer and the head
accept stacks of perturbed copies, each sample's loss depends on that sample
alone.  A layer *declares* its shape of computation through the protocols of
:mod:`gradcheck.nn` (never through its class name), and before the engine
relies on a declaration it checks it once, at the base point, by evaluating
the layer the way the fast path will:

``AFFINE``
    an :class:`~gradcheck.nn.AffineLayer` whose ``forward`` equals
    ``a @ W + b`` there (``W`` 2-D, ``b`` of shape ``(d,)`` or ``(1, d)``);
``ELEMENTWISE``
    an :class:`~gradcheck.nn.ElementwiseLayer` without parameters whose
    ``forward`` of the entries in another order and shape (reversed, flat)
    gives the same entries (a softmax or a normalisation does not);
``STACKED``
    any other layer whose ``forward`` gives ``P`` copies of its output for
    ``P`` copies of its input, and for ``P`` copies of each parameter;
``OPAQUE``
    a layer that does not (raises, or returns anything else): the engine
    then evaluates perturbed copies one at a time, through every layer from
    the perturbed one, as the plain loop does.

The head is checked the same way (``P`` copies of the output give ``P``
losses); a head that reduces every axis makes the whole model ``looped``.
Per-sample evaluation (``rowwise``) additionally needs every layer to map a
stack of one-sample batches to the stack of their outputs.

Tolerance: a stacked evaluation sums in another order (a batched matrix
product) and differs from the plain one by a few ulps times the fan-in,
about 1e-13 relative for a fan-in of 1000; a layer that misreads the stack is
off by order 1 or raises.  :data:`STACK_RTOL` = 1e-9 separates the two with
four orders of magnitude on either side.
"""
from __future__ import annotations

import enum
import functools
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcheck.errors import GradcheckValueError
from gradcheck.nn import AffineLayer, ElementwiseLayer

__all__ = ["CHECK_COPIES", "STACK_RTOL", "LayerKind", "StackRefused", "Stacking", "Structure", "carries",
           "kind_if_stacked", "recognise", "scalar_loss", "stacking", "takes_stacks"]

#: Relative agreement (of the largest entry) a stacked evaluation must reach.
STACK_RTOL = 1e-9


class LayerKind(enum.Enum):
    """How the engine evaluates perturbed copies through one layer."""

    AFFINE = "affine"
    ELEMENTWISE = "elementwise"
    STACKED = "stacked"
    OPAQUE = "opaque"


@dataclass(frozen=True)
class Structure:
    """What the engine may exploit in one model at one point.

    Attributes
    ----------
    kinds : tuple of LayerKind
        One per layer.
    looped : bool
        A layer or the head is not stack-aware: copies go one at a time.
    rowwise : bool
        Every layer maps one-sample batches to their outputs (per-sample
        evaluation of the head is then allowed, if the head is separable).
    """

    kinds: tuple[LayerKind, ...]
    looped: bool
    rowwise: bool


def scalar_loss(value: Any) -> float:
    """The head's loss of one (unstacked) batch as a float, or a ``ValueError`` saying what came back."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise GradcheckValueError(f"the loss head returned an array of shape {arr.shape} for one batch; "
                         "expected a single value (reduce over samples and outputs)")
    return float(arr.reshape(()))


@dataclass(frozen=True)
class Stacking:
    """Which layers, and whether the head, take stacks of copies: the part of :func:`recognise` that decides ``looped``.

    Attributes
    ----------
    layers : tuple of (bool, bool)
        Per layer: it stacks (is not ``OPAQUE``), and it was verified affine
        on the whole batch (and then stack-tested on a few rows only).
    head : bool
        The head gives ``P`` losses for ``P`` copies of the output (not
        asked, and False, when a layer does not stack).
    """

    layers: tuple[tuple[bool, bool], ...]
    head: bool

    @property
    def looped(self) -> bool:
        """A layer or the head is not stack-aware: :attr:`Structure.looped`."""
        return not (self.head and all(stacks for stacks, _ in self.layers))


def stacking(layers: Sequence[Any], head: Callable[[np.ndarray, np.ndarray], Any], params: Mapping[str, np.ndarray],
             inputs: Sequence[np.ndarray], output: np.ndarray, y: np.ndarray, f0: float) -> Stacking:
    """Does every layer and the head take stacks of copies?  The tests :func:`recognise` makes for that, alone.

    Enough for a model whose copies all go through every layer stacked
    (:meth:`gradcheck.engine.ModelEvaluator.tiny`); :func:`recognise` takes
    the result and adds what the structured paths need.
    """
    outs = list(inputs[1:]) + [output]
    found = tuple(_stacking(layer, params, a, out) for layer, a, out in zip(layers, inputs, outs))
    # the head is asked only when every layer stacks (else the model is looped whatever it answers)
    return Stacking(layers=found, head=all(stacks for stacks, _ in found) and _head_stacks(head, output, y, f0))


def recognise(layers: Sequence[Any], head: Callable[[np.ndarray, np.ndarray], Any], params: Mapping[str, np.ndarray],
              inputs: Sequence[np.ndarray], output: np.ndarray, y: np.ndarray, f0: float,
              known: Stacking | None = None) -> Structure:
    """Classify every layer and the head at the base point (see the module docstring).

    ``inputs[k]`` is the input of layer ``k`` and ``output`` the last
    layer's output, both computed with ``params``; ``f0`` is the head's loss.
    ``known``: :func:`stacking` of the same point, already found.
    """
    outs = list(inputs[1:]) + [output]
    found = known if known is not None else stacking(layers, head, params, inputs, output, y, f0)
    kinds = tuple(_kind(layer, params, a, out, stack) for layer, a, out, stack in zip(layers, inputs, outs, found.layers))
    looped = found.looped
    rowwise = not looped and all(
        kind is LayerKind.ELEMENTWISE or _rowwise(layer, params, a, out, rows=AFFINE_PROBE_ROWS if kind is LayerKind.AFFINE else None)
        for layer, kind, a, out in zip(layers, kinds, inputs, outs))
    return Structure(kinds=kinds, looped=looped, rowwise=rowwise)


def _close(got: Any, want: np.ndarray) -> bool:
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    if got.shape != want.shape:
        return False
    if got.size <= 4096 and got.dtype == want.dtype and got.tobytes() == want.tobytes():
        return True  # the usual case for a small array, bit for bit: one comparison of bytes, no ufunc
    if (got == want).all():  # the usual case, bit for bit: no NaN, no scale, no error state to set
        return True
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0, where=np.isfinite(want))))
    with np.errstate(invalid="ignore"):
        same = (got == want) | (np.isnan(got) & np.isnan(want)) | (np.abs(got - want) <= STACK_RTOL * scale)
    return bool(np.all(same))


#: Unmoved copies a stacked pass carries to test the stacking on itself (:func:`carries`): two, as
#: :func:`stacking`'s tests stack two copies (a layer that mixes copies, or reads the stack as the
#: batch, makes them differ from the base point's value).
CHECK_COPIES = 2


def carries(got: Any, want: np.ndarray, copies: int) -> bool:
    """Is ``got`` a stack of ``copies`` values whose first :data:`CHECK_COPIES` are ``want`` (within :func:`_close`)?

    The test of :func:`stacking` made on a stacked pass of moved copies
    (:func:`gradcheck.engine.estimate_tiny`): the pass starts with
    :data:`CHECK_COPIES` unmoved copies, and every layer's output (the
    head's losses: ``want`` the loss, a 0-d array) must carry them.

    >>> out = np.array([[1.0, 2.0]])
    >>> carries(np.array([out, out, out + 1.0]), out, 3), carries(np.array([out + 1e-3, out, out]), out, 3)
    (True, False)
    >>> carries(np.array([1.0, 1.0, 5.0]), np.asarray(1.0), 3), carries(np.array([[1.0], [1.0]]), np.asarray(1.0), 2)
    (True, False)
    """
    if isinstance(got, np.ndarray) and got.dtype == want.dtype and got.shape == (copies,) + want.shape:
        if got[:CHECK_COPIES].tobytes() == want.tobytes() * CHECK_COPIES:
            return True  # the usual case, bit for bit: one comparison of bytes
    elif np.shape(got) != (copies,) + want.shape:
        return False
    got = np.asarray(got)
    return all(_close(got[i], want) for i in range(CHECK_COPIES))


class StackRefused(Exception):
    """A stacked pass that tested its own stacking (:func:`carries`) found a layer or the head that does not take stacks.

    Raised by the first evaluation of
    :meth:`gradcheck.engine.ModelEvaluator.rank_one_lines` when the separate
    tests (:func:`stacking`) then find the model looped: no value of those
    lines has been used, and the caller evaluates the lines another way.
    """


def kind_if_stacked(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray, *,
                    affine: bool | None = None) -> LayerKind:
    """The kind :func:`recognise` gives ``layer`` if it takes stacks of copies: its tests but :func:`stacking`'s.

    ``affine``: whether it declares an affine layer and is one here
    (``declares(layer, AffineLayer) and is_affine(...)``), when already known.

    For a layer that a stacked pass testing itself (:func:`carries`) gives
    a stack: that test stands for the stacking tests, and the kind must
    not be used unless it passes.

    >>> from gradcheck import nn
    >>> a, params = np.array([[1.0, -2.0]]), {"W": np.eye(2)}
    >>> kind_if_stacked(nn.Dense("W"), params, a, a).value, kind_if_stacked(nn.ReLU(), params, a, np.maximum(a, 0)).value
    ('affine', 'elementwise')
    >>> kind_if_stacked(nn.Dense("W"), params, a, 2 * a).value  # not a @ W there
    'stacked'
    """
    if affine is None:
        affine = declares(layer, AffineLayer) and is_affine(layer, params, a, out)
    return _kind(layer, params, a, out, (True, affine))


def takes_stacks(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray) -> bool:
    """Two copies of the input give two copies of the output: :func:`_stacks` without its parameters' tests.

    For the layers a stacked pass never gives a stack of inputs (see :func:`carries`).
    """
    try:
        return _close(layer.forward(params, np.array([a, a])), np.array([out, out]))
    except Exception:  # noqa: BLE001 - see _stacks
        return False


@functools.lru_cache(maxsize=None)
def _members(protocol: type) -> tuple[str, ...]:
    """The attributes a runtime-checkable protocol requires, as ``isinstance`` lists them."""
    attrs = getattr(protocol, "__protocol_attrs__", None)  # Python 3.12+
    if attrs is None:
        attrs = typing._get_protocol_attrs(protocol)  # type: ignore[attr-defined]  # 3.11: what isinstance calls
    return tuple(sorted(attrs))


def declares(obj: Any, protocol: type) -> bool:
    """``isinstance(obj, protocol)`` for the data protocols of :mod:`gradcheck.nn`, without its cost.

    Python 3.11 recomputes a protocol's members on every ``isinstance``
    (about 20 us each, a tenth of a toy network's whole check); the members
    are computed once here and looked up the same way: every one present.
    """
    return all(hasattr(obj, name) and (not callable(getattr(protocol, name, None)) or getattr(obj, name) is not None)
               for name in _members(protocol))


#: Samples a layer already verified affine on the whole batch is asked to stack and to run one sample at a time.
AFFINE_PROBE_ROWS = 2


def _stacking(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray) -> tuple[bool, bool]:
    """(the layer takes stacks of copies, it is verified affine): see :class:`Stacking`."""
    if declares(layer, AffineLayer) and is_affine(layer, params, a, out):
        # ``out == a @ W + b`` holds on the whole batch, so each row of the output is its row's own: the
        # stack is asked of a few rows (against our own ``a @ W + b`` for them), not of the whole batch
        # and every weight, which cost 3-4 forward passes of a 784x1000 layer.  A layer that answers a
        # smaller batch differently is evaluated the generic way.
        rows = min(AFFINE_PROBE_ROWS, a.shape[0])
        return _stacks(layer, params, a[:rows], out[:rows], view=True), True
    return _stacks(layer, params, a, out), False


def _kind(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray,
          stack: tuple[bool, bool]) -> LayerKind:
    """The layer's kind, given its :func:`_stacking`."""
    stacks, affine = stack
    if not stacks:
        return LayerKind.OPAQUE
    if affine:
        return LayerKind.AFFINE
    if declares(layer, ElementwiseLayer) and is_entrywise(layer, params, a, out):
        return LayerKind.ELEMENTWISE
    return LayerKind.STACKED


def _stacks(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray, *, view: bool = False) -> bool:
    """Two copies of the input, then of each parameter, give two copies of the output.

    With ``view`` a parameter's two copies are first a read-only broadcast
    view (no copy of a big weight), and real copies only if the layer
    cannot take the view.
    """
    twice = np.array([out, out])  # np.array: np.stack of equal shapes, without its Python overhead
    try:
        if not _close(layer.forward(params, np.array([a, a])), twice):
            return False
        for name in layer.param_names:
            if not _stacks_param(layer, params, name, a, twice, view=view):
                return False
    except Exception:  # noqa: BLE001 - any failure only means "evaluate copies one at a time"
        return False
    return True


def _stacks_param(layer: Any, params: Mapping[str, np.ndarray], name: str, a: np.ndarray, twice: np.ndarray, *,
                  view: bool) -> bool:
    stacked = dict(params)
    p = np.asarray(params[name])
    if view:
        stacked[name] = _twice(p)
        try:
            return _close(layer.forward(stacked, a), twice)
        except Exception:  # noqa: BLE001 - e.g. a layer that writes into its parameters: real copies below
            pass
    stacked[name] = np.array([p, p])
    return _close(layer.forward(stacked, a), twice)


def _twice(p: np.ndarray) -> np.ndarray:
    """``np.broadcast_to(p, (2,) + p.shape)``: a read-only view, the same array twice.

    Built directly for a contiguous ``p`` (broadcast_to's argument checks
    cost 4 us, a tenth of a toy network's dense layer's tests).
    """
    if not p.flags.c_contiguous or p.size == 0:
        return np.broadcast_to(p, (2,) + p.shape)
    view = np.ndarray((2,) + p.shape, p.dtype, buffer=p, strides=(0,) + p.strides)
    view.flags.writeable = False
    return view


def is_affine(layer: AffineLayer, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray) -> bool:
    try:
        W = params[layer.weight]
        b = None if layer.bias is None else params[layer.bias]
        if a.ndim != 2 or W.ndim != 2 or tuple(layer.param_names) != tuple(n for n in (layer.weight, layer.bias) if n):
            return False
        if b is not None and b.shape not in ((W.shape[1],), (1, W.shape[1])):
            return False
        return _affine_agrees(out, a, W, b)
    except Exception:  # noqa: BLE001 - a declared but unusable affine layer is evaluated the generic way
        return False


#: Random projections of a layer's output :func:`_affine_agrees` compares.
AFFINE_PROJECTIONS = 2

#: Multiply-adds of ``a @ W`` up to which :func:`_affine_agrees` compares the product itself, entry by
#: entry: below it the product costs less than drawing and applying the projections (the notebooks' toy
#: layers: 3 us against 40 us, most of it the generator's construction).
AFFINE_DIRECT = 1 << 16


@functools.lru_cache(maxsize=64)
def _projections(n_out: int) -> np.ndarray:
    """The projections of :func:`_affine_agrees` for ``n_out`` outputs: seeded, so drawn once per width (read-only)."""
    rng = np.random.default_rng(0)
    V = rng.uniform(0.5, 1.0, (n_out, AFFINE_PROJECTIONS)) * rng.choice((-1.0, 1.0), (n_out, AFFINE_PROJECTIONS))
    V.flags.writeable = False
    return V


def _affine_agrees(out: np.ndarray, a: np.ndarray, W: np.ndarray, b: np.ndarray | None) -> bool:
    """``out == a @ W + b`` within :data:`STACK_RTOL`, decided along random projections (Freivalds).

    Small layers (:data:`AFFINE_DIRECT`) and non-finite outputs are compared entry by entry.

    ``out @ V`` is compared with ``a @ (W @ V) + b @ V`` for ``V`` of
    :data:`AFFINE_PROJECTIONS` columns with entries ``+-[1/2, 1]``: a pass
    over ``a`` and ``W`` instead of their product (at 784x1000 and batch
    256, under a millisecond against one forward pass).  Tolerance per
    projected entry: ``STACK_RTOL * scale * ||v||_2``, ``scale`` the largest
    output.  Rounding (the layer's product and ours summed in other orders)
    used at most 3e-6 of it on random layers of 784x1000 (batch 256),
    784x10000, 4096x4096 and 10x100000.  An entry off by ``e`` moves its
    row's projections by ``e * |v_j| >= e / 2``: an entry off by 1e-6 of the
    scale was caught on each of those layers, and a
    layer that misreads its input (off by order 1) fails.  Non-finite
    outputs are compared entry by entry.
    """
    if a.shape[0] * W.size <= AFFINE_DIRECT or not np.isfinite(out).all():
        return _close(out, a @ W if b is None else a @ W + b.reshape(1, -1))
    V = _projections(W.shape[1])
    want = a @ (W @ V)
    if b is not None:
        want += b.reshape(1, -1) @ V
    got = out @ V
    scale = max(1.0, float(np.max(np.abs(out), initial=0.0)))
    return bool(np.all(np.abs(got - want) <= STACK_RTOL * scale * np.sqrt(np.sum(V * V, axis=0))))


def is_entrywise(layer: ElementwiseLayer, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray) -> bool:
    try:
        if not layer.elementwise or tuple(layer.param_names):
            return False
        flipped = a.reshape(-1)[::-1].copy()
        return _close(layer.forward(params, flipped), out.reshape(-1)[::-1])
    except Exception:  # noqa: BLE001 - see is_affine
        return False


def _rowwise(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray, *,
             rows: int | None = None) -> bool:
    """A stack of one-sample batches ``(1, N, 1, d)`` gives the stack of the samples' outputs.

    ``rows``: only the first samples (a layer verified affine on the whole batch, whose rows are independent).
    """
    if a.ndim != 2 or out.ndim != 2:
        return False
    if rows is not None:
        a, out = a[:rows], out[:rows]
    try:
        return _close(layer.forward(params, a[None, :, None, :]), out[None, :, None, :])
    except Exception:  # noqa: BLE001 - see _stacks
        return False


def _head_stacks(head: Callable[[np.ndarray, np.ndarray], Any], output: np.ndarray, y: np.ndarray, f0: float) -> bool:
    try:
        return _close(head(np.array([output, output]), y), np.array([f0, f0]))
    except Exception:  # noqa: BLE001 - see _stacks
        return False
