"""The layer vocabulary: typed protocols, and the layers, heads and models built on them.

A *layered model* is a sequence of layers followed by a loss head.  The
numerical side of a check (:mod:`gradcheck.engine`) only ever evaluates
that forward structure, never a backward; the grader derives what it needs
(which activations a model has, where its kinks are) from it too.  Every
contract below is a :class:`typing.Protocol`: an object satisfies it by
having the members, whatever its class is called.

Protocols
---------
:class:`Layer`
    ``param_names: tuple[str, ...]`` (the parameters it owns) and
    ``forward(params, a) -> ndarray``.  *Stack-aware* when ``forward``
    also accepts a parameter with extra leading axes (``(P, *shape)``: ``P``
    perturbed copies) and activations with extra leading axes
    (``(..., N, d)``), as numpy broadcasting gives for free with ``a @ W``.
    The engine tries this on the base point and evaluates copies one at a
    time for a layer that is not: slower, never wrong.
:class:`AffineLayer`
    A :class:`Layer` with ``weight: str`` and ``bias: str | None`` whose
    ``forward`` is ``a @ params[weight] + params[bias]`` in the row-vector
    convention (``W`` of shape ``(fan_in, fan_out)``, ``b`` of shape
    ``(fan_out,)`` or ``(1, fan_out)``).  The engine perturbs such a layer
    by a rank-one update instead of a forward pass, after checking at the
    base point that ``forward`` really computes that (a ``Linear`` layer
    with ``W`` of shape ``(fan_out, fan_in)`` and ``a @ W.T`` has the same
    members but is evaluated the generic way).
:class:`ElementwiseLayer`
    A :class:`Layer` without parameters, ``elementwise`` true, applying a
    function to each entry, and ``kinks: tuple[float, ...]``, the inputs
    where that function is not differentiable (``(0.0,)`` for ReLU and step).
:class:`DifferentiableLayer`
    An :class:`ElementwiseLayer` with ``name: str`` and ``derivative(z)``,
    the exact derivative at the input ``z``; the grader's generic backward
    (:mod:`gradcheck.mistakes`) uses it and replaces it by known wrong ones.
:class:`LossHead`
    Callable ``head(out, y) -> ndarray``: the loss of the last layer's output
    ``out`` (``(..., N, d)``), reducing over the sample and output axes only,
    so ``P`` stacked outputs give ``P`` losses.  A head that reduces every
    axis (``.sum() / N``) still works: the engine notices and evaluates
    copies one at a time.
:class:`LayeredModel`
    ``layers``, ``prepare_input(x)`` (the batch as the first layer's input),
    ``head(out, y)``, ``forward(params, x)`` and ``loss(params, x, y)``.

The vocabulary
--------------
:class:`Sequential` ``(*layers, loss=head)`` is a :class:`LayeredModel`.
Layers: :class:`Dense` ``(weight_name, bias_name=None)``, :class:`Dot`,
:class:`Scale`, and the activations :func:`Sigmoid`, :func:`Tanh`,
:func:`ReLU`, :func:`Step` (each an :class:`Activation`).  Heads:
:class:`SoftmaxCrossEntropy` (one-hot or integer labels), :class:`MSE`
``(reduction=...)`` and :class:`BCE`.  The reference models
(``reference_models``) declare their structure with these same classes.

Examples
--------
>>> import numpy as np
>>> from gradcheck import nn
>>> model = nn.Sequential(nn.Dense("W1", "b1"), nn.Tanh(), nn.Dense("W2", "b2"),
...                       loss=nn.SoftmaxCrossEntropy())
>>> model.param_names
('W1', 'b1', 'W2', 'b2')
>>> rng = np.random.default_rng(0)
>>> params = {"W1": rng.standard_normal((4, 5)), "b1": np.zeros(5),
...           "W2": rng.standard_normal((5, 3)), "b2": np.zeros(3)}
>>> x = rng.standard_normal((6, 4))
>>> labels = np.array([0, 2, 1, 1, 0, 2])
>>> onehot = np.eye(3)[labels]
>>> model.loss(params, x, labels) == model.loss(params, x, onehot)
True
>>> isinstance(model, nn.LayeredModel), isinstance(nn.Dense("W"), nn.AffineLayer)
(True, True)
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from gradcheck.errors import GradcheckTypeError, GradcheckValueError

__all__ = [
    "BCE",
    "MSE",
    "MSE_REDUCTIONS",
    "Activation",
    "AffineLayer",
    "Dense",
    "DifferentiableLayer",
    "Dot",
    "ElementwiseLayer",
    "Identity",
    "Layer",
    "LayeredModel",
    "LossHead",
    "Params",
    "ReLU",
    "RankOneHead",
    "Scale",
    "Sequential",
    "Sigmoid",
    "SoftmaxCrossEntropy",
    "Step",
    "Tanh",
    "identity",
    "identity_prime",
    "relu",
    "relu_prime",
    "sigmoid",
    "sigmoid_prime",
    "step",
    "step_prime",
    "tanh",
    "tanh_prime",
]

Params = Mapping[str, np.ndarray]


# -- protocols -------------------------------------------------------------


@runtime_checkable
class Layer(Protocol):
    """A forward computation on its own named parameters (see the module docstring)."""

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of the parameters this layer owns (``()`` for none)."""

    def forward(self, params: Params, a: np.ndarray) -> np.ndarray:
        """The layer's output for input ``a``."""


@runtime_checkable
class AffineLayer(Layer, Protocol):
    """``z = a @ params[weight] + params[bias]`` (no bias when ``bias`` is ``None``)."""

    @property
    def weight(self) -> str:
        """Name of the weight matrix, shape ``(fan_in, fan_out)``."""

    @property
    def bias(self) -> str | None:
        """Name of the bias, shape ``(fan_out,)`` or ``(1, fan_out)``, or ``None``."""


@runtime_checkable
class ElementwiseLayer(Layer, Protocol):
    """``a = f(z)`` entry by entry, no parameters; ``kinks`` where ``f`` has no derivative."""

    @property
    def elementwise(self) -> bool:
        """True: output entry ``i`` depends on input entry ``i`` alone."""

    @property
    def kinks(self) -> tuple[float, ...]:
        """Inputs where ``f`` is not differentiable (``()`` when smooth)."""


@runtime_checkable
class DifferentiableLayer(ElementwiseLayer, Protocol):
    """An elementwise layer that knows its name and its exact derivative."""

    @property
    def name(self) -> str:
        """The activation's name (``"sigmoid"``), as the notebooks write it."""

    def derivative(self, z: np.ndarray) -> np.ndarray:
        """``f'(z)``, entry by entry (at a kink: the convention of the notebooks)."""


@runtime_checkable
class LossHead(Protocol):
    """``head(out, y)``: one loss per stacked copy of ``out`` (``(..., N, d)``)."""

    def __call__(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss, reduced over the last two axes (samples, outputs) only."""


@runtime_checkable
class RankOneHead(LossHead, Protocol):
    """A loss head that also gives per-sample losses along rank-one moves of its input, cheaply.

    A model's ``loss_head`` with this method lets :mod:`gradcheck.engine`
    evaluate the moves of a last dense layer's weight (``out[n] + delta * W[j]``)
    without building the moved outputs; the engine checks it against the
    head itself at the base point before it relies on it.
    """

    def rank_one(self, out: np.ndarray, y: np.ndarray, row: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``losses(deltas)``: for ``deltas`` ``(P, N)``, the ``(P, N)`` losses of each sample ``n``
        alone (a one-sample batch) at ``out[n] + deltas[p, n] * row``; ``out`` is ``(N, d)``, ``row`` ``(d,)``."""


@runtime_checkable
class LayeredModel(Protocol):
    """Layers then a loss head: what :func:`gradcheck.check_model` checks."""

    @property
    def layers(self) -> Sequence[Layer]:
        """The layers, first to last."""

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        """The batch ``x`` as the first layer's input."""

    def head(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss of the last layer's output (see :class:`LossHead`)."""

    def forward(self, params: Params, x: np.ndarray) -> np.ndarray:
        """The network's output."""

    def loss(self, params: Params, x: np.ndarray, y: np.ndarray) -> float:
        """The loss, a Python float."""


# -- layers ----------------------------------------------------------------


@dataclass(frozen=True)
class Dense:
    """Affine layer ``z = a @ W + b`` in the notebooks' row-vector convention (an :class:`AffineLayer`).

    Parameters
    ----------
    weight : str
        Name of the weight matrix, shape ``(fan_in, fan_out)``.
    bias : str or None
        Name of the bias, shape ``(fan_out,)`` or ``(1, fan_out)``; ``None``
        for a layer without a bias.

    Examples
    --------
    >>> layer = Dense("W", "b")
    >>> layer.forward({"W": np.eye(2), "b": np.array([1.0, -1.0])}, np.array([[2.0, 3.0]]))
    array([[3., 2.]])
    """

    weight: str
    bias: str | None = None

    def __post_init__(self) -> None:
        _check_name("weight", self.weight)
        if self.bias is not None:
            _check_name("bias", self.bias)

    @property
    def param_names(self) -> tuple[str, ...]:
        return (self.weight,) if self.bias is None else (self.weight, self.bias)

    def forward(self, params: Params, a: np.ndarray) -> np.ndarray:
        z = a @ params[self.weight]
        if self.bias is None:
            return z
        b = params[self.bias]
        if b.ndim == 1 or (b.ndim >= 2 and b.shape[-2] != 1):
            # a (fan_out,) vector, possibly stacked as (P, fan_out)
            b = b[..., None, :]
        return z + b


@dataclass(frozen=True)
class Dot:
    """Dot product with a weight *vector*: ``z = a @ w``, ``w`` of shape ``(fan_in,)``.

    The output keeps a trailing axis of size 1, ``(..., N, 1)``; a stacked
    ``w`` of shape ``(P, fan_in)`` gives ``(P, N, 1)``.
    """

    weight: str

    def __post_init__(self) -> None:
        _check_name("weight", self.weight)

    @property
    def param_names(self) -> tuple[str, ...]:
        return (self.weight,)

    def forward(self, params: Params, a: np.ndarray) -> np.ndarray:
        return a @ params[self.weight][..., :, None]


@dataclass(frozen=True)
class Scale:
    """Multiplication by a scalar weight: ``z = a * v``, ``v`` of shape ``()``.

    A stacked ``v`` of shape ``(P,)`` scales ``(N, d)`` activations into ``(P, N, d)``.
    """

    weight: str

    def __post_init__(self) -> None:
        _check_name("weight", self.weight)

    @property
    def param_names(self) -> tuple[str, ...]:
        return (self.weight,)

    def forward(self, params: Params, a: np.ndarray) -> np.ndarray:
        return a * params[self.weight][..., None, None]


@dataclass(frozen=True)
class Activation:
    """Elementwise activation ``a = fn(z)`` (a :class:`DifferentiableLayer`); it owns no parameters.

    Parameters
    ----------
    name : str
        The activation's name (``"sigmoid"``).
    fn : callable
        ``fn(z)``, elementwise, returning a new array.
    prime : callable, optional
        ``fn'(z)``.  Without it :meth:`derivative` takes a central difference.
    kinks : tuple of float
        Where ``fn`` is not differentiable, for checkers that must not step
        across them.

    Examples
    --------
    >>> softplus = Activation("softplus", lambda z: np.logaddexp(0.0, z))
    >>> float(softplus.derivative(np.array(0.0)))   # sigmoid(0), by a central difference
    0.5
    """

    name: str
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False)
    prime: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    kinks: tuple[float, ...] = ()
    param_names: tuple[str, ...] = field(default=(), init=False, repr=False)
    elementwise: bool = field(default=True, init=False, repr=False)

    def forward(self, params: Params, z: np.ndarray) -> np.ndarray:
        return self.fn(z)

    def derivative(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, dtype=np.float64)
        if self.prime is not None:
            return self.prime(z)
        h = 1e-5 * np.maximum(np.abs(z), 1.0)  # ~1e-10 relative for smooth fn: (eps)^(2/3)
        return (self.fn(z + h) - self.fn(z - h)) / (2 * h)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))`` as ``exp(-log(1 + exp(-z)))``: no overflow for any ``z``.

    >>> sigmoid(np.array([0.0, 1000.0, -1000.0]))
    array([0.5, 1. , 0. ])
    """
    return np.exp(-np.logaddexp(0.0, -np.asarray(z, dtype=np.float64)))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    """``s(z) (1 - s(z))``."""
    s = sigmoid(z)
    return s * (1.0 - s)


def tanh(z: np.ndarray) -> np.ndarray:
    """``tanh(z)``."""
    return np.tanh(np.asarray(z, dtype=np.float64))


def tanh_prime(z: np.ndarray) -> np.ndarray:
    """``1 - tanh(z)**2``."""
    t = np.tanh(np.asarray(z, dtype=np.float64))
    return 1.0 - t * t


def relu(z: np.ndarray) -> np.ndarray:
    """``max(0, z)``."""
    return np.maximum(0.0, np.asarray(z, dtype=np.float64))


def relu_prime(z: np.ndarray) -> np.ndarray:
    """``1`` where ``z > 0``, else ``0`` (the mask comes from the input ``z``)."""
    return (np.asarray(z, dtype=np.float64) > 0).astype(np.float64)


def step(z: np.ndarray) -> np.ndarray:
    """``0 if z <= 0 else 1`` (the perceptron's ``step_function``)."""
    return np.where(np.asarray(z, dtype=np.float64) <= 0, 0.0, 1.0)


def step_prime(z: np.ndarray) -> np.ndarray:
    """``0`` (wherever the derivative exists: everywhere but ``z = 0``)."""
    return np.zeros_like(np.asarray(z, dtype=np.float64))


def identity(z: np.ndarray) -> np.ndarray:
    """A float64 copy of ``z``."""
    return np.array(z, dtype=np.float64)


def identity_prime(z: np.ndarray) -> np.ndarray:
    """``1``."""
    return np.ones_like(np.asarray(z, dtype=np.float64))


def Sigmoid() -> Activation:
    """``sigmoid(z) = 1 / (1 + exp(-z))``, smooth."""
    return Activation("sigmoid", sigmoid, sigmoid_prime)


def Tanh() -> Activation:
    """``tanh(z)``, smooth."""
    return Activation("tanh", tanh, tanh_prime)


def ReLU() -> Activation:
    """``max(0, z)``; kink at 0, where its derivative is taken as 0."""
    return Activation("relu", relu, relu_prime, kinks=(0.0,))


def Step() -> Activation:
    """``0 if z <= 0 else 1``; jump at 0, derivative 0 everywhere else."""
    return Activation("step", step, step_prime, kinks=(0.0,))


def Identity() -> Activation:
    """``z`` itself (a placeholder where a network has no activation)."""
    return Activation("identity", identity, identity_prime)


# -- loss heads ------------------------------------------------------------

_LAST_TWO = (-2, -1)


def _n_samples(out: np.ndarray) -> int:
    if out.ndim < 2:
        raise GradcheckValueError(f"a loss head needs outputs of shape (..., N, d), got out.shape={out.shape}")
    n = int(out.shape[-2])
    if n == 0:
        raise GradcheckValueError(f"empty batch: out has 0 samples (out.shape={out.shape}); a loss needs at least one")
    return n


def _float_targets(out: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``y`` as float64 ``(..., N, d)``; ``(..., N)`` is accepted when ``d == 1``."""
    dtype = np.asarray(y).dtype
    y = np.asarray(y, dtype=np.float64)
    n, d = out.shape[-2], out.shape[-1]
    if d == 1 and y.shape[-1:] == (n,) and y.shape[-2:] != (n, 1):
        y = y[..., None]
    if y.shape[-2:] != (n, d):
        raise GradcheckValueError(f"y must have shape ({n}, {d}) (or ({n},) for one output) to match the output, "
                         f"got y.shape={y.shape} with y.dtype={dtype}")
    return y


#: The reductions of :class:`MSE`: their formulas over ``N`` samples of ``d`` outputs.
MSE_REDUCTIONS: dict[str, str] = {
    "mean": "mean((y - out)**2) over all N*d entries",
    "sum": "sum((y - out)**2)",
    "half_sum": "sum((y - out)**2) / 2",
    "sample_mean": "sum((y - out)**2) / N",
    "half_sample_mean": "sum(0.5 * (y - out)**2) / N",
}


@dataclass(frozen=True)
class MSE:
    """Squared error of the last layer's output against ``y`` (a :class:`LossHead`).

    Parameters
    ----------
    reduction : {"mean", "sum", "half_sum", "sample_mean", "half_sample_mean"}
        See :data:`MSE_REDUCTIONS`: ``"mean"`` is the mean over all ``N * d``
        entries (000's ``mse_loss``), ``"half_sum"`` the notebooks'
        ``sum(...) / 2`` (004, "Deep Learning from Scratch"'s
        ``mean_squared_error``), ``"sample_mean"`` sum over outputs, mean
        over samples (003).

    Examples
    --------
    >>> out, y = np.array([[0.5], [0.5]]), np.array([0.0, 1.0])
    >>> [float(MSE(r)(out, y)) for r in ("mean", "sum", "half_sum")]
    [0.25, 0.5, 0.25]
    >>> MSE("avg")
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckValueError: reduction must be one of ['mean', 'sum', 'half_sum', 'sample_mean', 'half_sample_mean'], got reduction='avg'
    """

    reduction: str = "mean"

    def __post_init__(self) -> None:
        if self.reduction not in MSE_REDUCTIONS:
            raise GradcheckValueError(f"reduction must be one of {list(MSE_REDUCTIONS)}, got reduction={self.reduction!r}")

    def __call__(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = _n_samples(out)
        y = _float_targets(out, y)
        if self.reduction == "mean":
            return np.mean((y - out) ** 2, axis=_LAST_TWO)
        if self.reduction == "sum":
            return np.sum((y - out) ** 2, axis=_LAST_TWO)
        if self.reduction == "half_sum":
            return np.sum((y - out) ** 2, axis=_LAST_TWO) / 2.0
        if self.reduction == "sample_mean":
            return np.sum((y - out) ** 2, axis=_LAST_TWO) / n
        return np.sum(0.5 * (y - out) ** 2, axis=_LAST_TWO) / n


@dataclass(frozen=True)
class BCE:
    """Binary cross-entropy, mean over all entries (a :class:`LossHead`).

    Parameters
    ----------
    from_logits : bool, default True
        ``True``: the last layer's output is the logit ``z`` and the head
        applies the sigmoid itself (as :class:`SoftmaxCrossEntropy` applies
        the softmax), computing ``log(1 + exp(z)) - y z``: exact and finite
        for every logit.  ``False``: the output is a probability (the model
        ends with :func:`Sigmoid`) and the head computes
        ``-(y log p + (1 - y) log(1 - p))`` as written.

    Examples
    --------
    >>> float(BCE()(np.array([[0.0]]), np.array([[1.0]])))   # log 2
    0.6931471805599453
    >>> float(BCE(from_logits=False)(np.array([[0.5]]), np.array([1.0])))
    0.6931471805599453
    """

    from_logits: bool = True

    def __call__(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        _n_samples(out)
        y = _float_targets(out, y)
        if self.from_logits:
            return np.mean(np.logaddexp(0.0, out) - y * out, axis=_LAST_TWO)
        return -np.mean(y * np.log(out) + (1.0 - y) * np.log(1.0 - out), axis=_LAST_TWO)


#: Largest ``|delta * row_k|`` :meth:`SoftmaxCrossEntropy.rank_one` takes through ``exp`` unshifted:
#: ``exp(50)`` is 5e21, far from float64's overflow (``exp(709)``), and
#: ``exp(-50)`` keeps the largest logit's term above underflow.
RANK_ONE_REACH = 50.0


@dataclass(frozen=True)
class SoftmaxCrossEntropy:
    """Cross-entropy of ``softmax(z)``, mean over samples of ``-sum_k t_k log p_k`` (a :class:`LossHead`).

    The last layer's output is the logits ``z``; ``log p`` is computed by
    log-sum-exp, finite for any logits.  Targets are one-hot (or any
    distribution) rows ``t`` of shape ``(N, d)``, or integer class labels of
    shape ``(N,)`` (any integer dtype, never cast to float first; each in
    ``0 .. d-1``).

    Examples
    --------
    >>> z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    >>> head = SoftmaxCrossEntropy()
    >>> float(head(z, np.array([0, 2]))) == float(head(z, np.eye(3)[[0, 2]]))
    True
    >>> head(z, np.array([0, 3]))
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckValueError: integer labels y must lie in 0 .. 2 (the output has 3 classes), got a label 3
    """

    def __call__(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        n = _n_samples(out)
        t = self.targets(out, y)
        shifted = out - np.max(out, axis=-1, keepdims=True)
        log_p = shifted - np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
        return -np.sum(t * log_p, axis=_LAST_TWO) / n

    def rank_one(self, out: np.ndarray, y: np.ndarray, row: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """Per-sample losses at ``out[n] + deltas[p, n] * row`` (a :class:`RankOneHead`).

        With ``m`` the row maximum of ``out`` and ``e = exp(out - m)``, the loss
        of sample ``n`` moved by ``delta`` is
        ``sum(t) log(sum_k e_k exp(delta row_k)) - t . (out - m) - delta t . row``:
        one ``exp`` per logit and no maximum, a third of the passes of the
        head itself.  ``exp`` stays finite while ``|delta row_k| <= 50``
        (:data:`RANK_ONE_REACH`); larger moves are evaluated as the head does.

        Examples
        --------
        >>> head = SoftmaxCrossEntropy()
        >>> out, t, row = np.array([[2.0, 0.0, -1.0]]), np.array([[0.0, 1.0, 0.0]]), np.array([1.0, -1.0, 0.5])
        >>> moved = head.rank_one(out, t, row)(np.array([[0.0], [0.3]]))
        >>> bool(np.allclose(moved[:, 0], [head(out, t), head(out + 0.3 * row, t)], rtol=1e-14))
        True
        """
        t = self.targets(out, y)
        shifted = out - np.max(out, axis=-1, keepdims=True)
        e = np.exp(shifted).T[:, None, :]  # (d, 1, N): the stacks are feature-major, one plane per logit
        t_sum, t_row, t_shifted = t.sum(axis=-1), t @ row, np.sum(t * shifted, axis=-1)
        row_max = float(np.max(np.abs(row), initial=0.0))

        def losses(deltas: np.ndarray) -> np.ndarray:
            if row_max * float(np.max(np.abs(deltas), initial=0.0)) > RANK_ONE_REACH:
                moved = out[None] + deltas[:, :, None] * row
                return np.asarray(self(moved[:, :, None, :], t[:, None, :]), dtype=np.float64)
            terms = np.multiply.outer(row, deltas)  # (d, P, N)
            np.exp(terms, out=terms)
            terms *= e
            total = np.log(np.sum(terms, axis=0))
            total *= t_sum
            total -= t_shifted
            total -= deltas * t_row
            return total

        return losses

    @staticmethod
    def targets(out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """``y`` as float64 rows ``(..., N, d)``: one-hot rows as they are, integer labels expanded."""
        y = np.asarray(y)
        n, d = out.shape[-2], out.shape[-1]
        if y.dtype.kind == "f" and d != 1 and y.shape[-1:] == (n,) and y.shape[-2:] != (n, d):
            raise GradcheckValueError(f"y has the shape of labels for {n} samples, got y.shape={y.shape} with "
                                      f"y.dtype={y.dtype}: integer labels need an integer dtype (cast with "
                                      f"y.astype(int)); float targets must be rows of shape ({n}, {d})")
        if y.dtype.kind not in "iu" or (y.shape[-2:] == (n, d) and d != 1):
            return _float_targets(out, y)
        labels = y[..., 0] if y.shape[-2:] == (n, 1) else y
        if labels.shape[-1:] != (n,):
            raise GradcheckValueError(f"integer labels y must have shape ({n},) for {n} samples, got y.shape={y.shape}")
        if labels.size and (labels.min() < 0 or labels.max() >= d):
            bad = labels.min() if labels.min() < 0 else labels.max()
            raise GradcheckValueError(f"integer labels y must lie in 0 .. {d - 1} (the output has {d} classes), got a label {bad}")
        return (labels[..., None] == np.arange(d)).astype(np.float64)


# -- models ----------------------------------------------------------------


class Sequential:
    """Layers then a loss head: a :class:`LayeredModel` for :func:`gradcheck.check_model`.

    Parameters
    ----------
    *layers : Layer
        First to last; any objects with ``param_names`` and ``forward``
        (:class:`Layer`).  Every parameter name belongs to one layer.
    loss : LossHead
        Keyword-only: the loss of the last layer's output and ``y``.
    name : str, default "sequential"
        Reported as the subject of a check.

    Examples
    --------
    >>> model = Sequential(Dense("W1", "b1"), Sigmoid(), Dense("W2"), loss=MSE("half_sum"))
    >>> model
    Sequential(Dense(weight='W1', bias='b1'), Activation(name='sigmoid', kinks=()), Dense(weight='W2', bias=None), loss=MSE(reduction='half_sum'))
    >>> params = {"W1": np.zeros((2, 3)), "b1": np.zeros(3), "W2": np.ones((3, 1))}
    >>> model.forward(params, np.ones((2, 2)))
    array([[1.5],
           [1.5]])
    >>> model.loss(params, np.ones((2, 2)), np.array([1.5, 0.5]))
    0.5
    >>> model.loss({"W1": np.zeros((2, 3))}, np.ones((2, 2)), np.zeros(2))
    Traceback (most recent call last):
    ...
    KeyError: "params lacks ['b1', 'W2'] (the model's parameters are ['W1', 'b1', 'W2'])"
    """

    def __init__(self, *layers: Layer, loss: LossHead, name: str = "sequential") -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise GradcheckTypeError(f"layer {i} must have param_names and forward(params, a) (gradcheck.nn.Layer), "
                                f"got {layer!r}")
        if not callable(loss):
            raise GradcheckTypeError(f"loss must be a loss head, head(out, y) -> losses (gradcheck.nn.LossHead), got loss={loss!r}")
        if not isinstance(name, str):
            raise GradcheckTypeError(f"name must be a str, got name={name!r}")
        names = [p for layer in layers for p in layer.param_names]
        shared = sorted({p for p in names if names.count(p) > 1})
        if shared:
            raise GradcheckValueError(f"every parameter must belong to one layer; {shared} belong to several")
        self._layers = tuple(layers)
        self.loss_head = loss
        self.name = name

    @property
    def layers(self) -> tuple[Layer, ...]:
        return self._layers

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p for layer in self._layers for p in layer.param_names)

    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        """``x`` as a float64 array (a copy only when it is not one already)."""
        return np.asarray(x, dtype=np.float64)

    def run_layers(self, params: Params, a: np.ndarray) -> np.ndarray:
        for layer in self._layers:
            a = layer.forward(params, a)
        return a

    def forward(self, params: Params, x: np.ndarray) -> np.ndarray:
        """The last layer's output (for a softmax or BCE head: the logits)."""
        self._require(params)
        return self.run_layers(params, self.prepare_input(x))

    def head(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        return self.loss_head(out, y)

    def loss(self, params: Params, x: np.ndarray, y: np.ndarray) -> float:
        """``float(head(forward(params, x), y))``; ``y`` is passed as given (integer labels stay integers)."""
        value = np.asarray(self.head(self.forward(params, x), np.asarray(y)), dtype=np.float64)
        if value.size != 1:
            raise GradcheckValueError(f"the loss head returned shape {value.shape} for one batch, expected a single value")
        return float(value.reshape(()))

    def _require(self, params: Params) -> None:
        missing = [p for p in self.param_names if p not in params]
        if missing:
            raise KeyError(f"params lacks {missing} (the model's parameters are {list(self.param_names)})")

    def __repr__(self) -> str:
        inner = ", ".join([repr(layer) for layer in self._layers] + [f"loss={self.loss_head!r}"])
        return f"{type(self).__name__}({inner})"


def _check_name(what: str, value: object) -> None:
    if not isinstance(value, str):
        raise GradcheckTypeError(f"{what} must be a parameter name (a non-empty str), got {what}={value!r}")
    if not value:
        raise GradcheckValueError(f"{what} must be a parameter name (a non-empty str), got {what}={value!r}")
