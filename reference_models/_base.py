"""The building blocks every reference model is made of.

A reference model is a *sequence of layers* followed by a *loss head*,
declared with the public layer vocabulary :mod:`gradcheck.nn` (the same
``Dense``, ``Sigmoid()``, ``MSE(...)`` a user declares a model with).
Each layer is a forward computation on its own named parameters, so a
checker can see the structure: perturbing ``W2`` only requires recomputing
from the layer that owns ``W2`` onwards.

Every layer's ``forward`` accepts parameters and activations with extra
*leading* axes (a stack of ``P`` perturbed copies of the parameters, shape
``(P, *shape)``, and activations of shape ``(P, N, d)`` or ``(N, d)``).
Numpy broadcasting does the rest.  The models themselves only ever call
them with plain arrays.  What a model adds to its declared structure is
the notebook: its initialisation, its data, and a hand-written ``backward``.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import numpy as np

from gradcheck.nn import Activation, Dense, Dot, Layer, LossHead, Params, Scale

__all__ = [
    "Params",
    "LossHead",
    "Dense",
    "Activation",
    "Dot",
    "Scale",
    "Layer",
    "Model",
    "NotebookDataUnavailable",
    "check_size",
]

class NotebookDataUnavailable(LookupError):
    """A notebook's data set is not available locally (e.g. no ``mnist.npz``)."""


def check_size(name: str, value: object) -> int:
    """Validate a layer-size option: a positive int (not a bool).

    Examples
    --------
    >>> check_size("hidden", 4)
    4
    >>> check_size("hidden", 0)
    Traceback (most recent call last):
    ...
    ValueError: hidden must be a positive int, got hidden=0
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be a positive int, got {name}={value!r}")
    if value < 1:
        raise ValueError(f"{name} must be a positive int, got {name}={value!r}")
    return int(value)


class Model(ABC):
    """A reference network: ``layers`` then ``head`` (the loss).

    Subclasses set ``name``, ``layers``, ``loss_head`` and ``param_shapes``
    (the declared structure, from :mod:`gradcheck.nn`) and implement
    ``init_params``, ``example_batch``, ``notebook_data`` and ``backward``.
    The forward pass and the loss come from the layers and the head and are
    shared.  A model satisfies :class:`gradcheck.nn.LayeredModel`.

    ``head(out, y)`` maps the last layer's output (leading stack axes
    allowed, ``(..., N, d_out)``) to the loss, reducing over the sample and
    output axes only, so a stack of ``P`` outputs gives ``P`` losses.
    """

    name: str = ""
    description: str = ""
    seed_notebook: str = ""
    #: forward and backward equations in the notebook's notation, plain text
    equations: str = ""
    layers: tuple[Layer, ...] = ()
    loss_head: ClassVar[LossHead]
    param_shapes: dict[str, tuple[int, ...]] = {}

    # -- the shared forward pass -------------------------------------
    def prepare_input(self, x: np.ndarray) -> np.ndarray:
        """Turn a user batch ``x`` into the first layer's input (default: as is)."""
        return np.asarray(x, dtype=np.float64)

    def run_layers(self, params: Params, a: np.ndarray) -> np.ndarray:
        for layer in self.layers:
            a = layer.forward(params, a)
        return a

    def present(self, out: np.ndarray) -> np.ndarray:
        """Turn the last layer's output into what ``forward`` returns (default: as is)."""
        return out

    def forward(self, params: Params, x: np.ndarray) -> np.ndarray:
        """Output of the network after its final activation."""
        return self.present(self.run_layers(params, self.prepare_input(x)))

    def loss(self, params: Params, x: np.ndarray, y: np.ndarray) -> float:
        """The loss as NETWORKS.md defines it, a Python float.

        Always ``float(head(run_layers(params, prepare_input(x)), y))``.

        Parameters
        ----------
        params : mapping of str to ndarray
            Named as in ``param_shapes``; not modified.
        x, y : ndarray
            A batch, e.g. from :meth:`example_batch` or :meth:`notebook_data`.

        Examples
        --------
        >>> import reference_models
        >>> m = reference_models.get("xor_2layer")
        >>> x, y = m.notebook_data()
        >>> zeros = {k: np.zeros(s) for k, s in m.param_shapes.items()}
        >>> m.loss(zeros, x, y)   # every output is sigmoid(0) = 0.5
        0.25
        >>> stacked = {k: np.stack([v, v + 1.0]) for k, v in zeros.items()}
        >>> m.head(m.run_layers(stacked, m.prepare_input(x)), y).shape   # one loss per stacked copy
        (2,)
        """
        out = self.run_layers(params, self.prepare_input(x))
        return float(self.head(out, np.asarray(y, dtype=np.float64)))

    def head(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """The loss of the last layer's output ``out`` (``(..., N, d)``): one value per stacked copy.

        ``loss_head(out, y)`` with ``y`` checked against the output's shape
        (a ``ValueError`` naming this model otherwise).
        """
        return self.loss_head(out, self._targets(y, out.shape[-2], out.shape[-1]))

    # -- per model ------------------------------------------------------

    @abstractmethod
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """Fresh float64 parameters drawn by the notebook's own scheme."""

    @abstractmethod
    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """A random batch ``(x, y)`` of ``n`` samples with the notebook's shapes and value ranges."""

    @abstractmethod
    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """The notebook's own data ``(x, y)``."""

    @abstractmethod
    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """The exact gradient of :meth:`loss`: same keys and shapes as ``params``, float64."""

    def notebook_step(self, params: Params, x: np.ndarray, y: np.ndarray, lr: float) -> dict[str, np.ndarray]:
        """One update of the notebook's training loop; returns new params.

        Default: plain gradient descent ``p - lr * dL/dp`` on the whole batch.
        Models whose notebook updates differently (a missing factor, a sign
        error, per-sample SGD, a numerical gradient) override it.
        """
        grads = self.backward(params, x, y)
        return {k: np.asarray(params[k], dtype=np.float64) - lr * grads[k] for k in self.param_shapes}

    # -- helpers for subclasses -------------------------------------
    def _batch(self, x: np.ndarray, n_in: int) -> np.ndarray:
        """``x`` as a float64 ``(N, n_in)`` batch, or a ValueError naming ``x``."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != n_in:
            raise ValueError(f"x must have shape (N, {n_in}) for {self.name}, got x.shape={x.shape}")
        return x

    def _targets(self, y: np.ndarray, n: int, d: int) -> np.ndarray:
        """``y`` as float64 ``(..., n, d)``; ``(n,)`` (and a scalar for ``n == 1``) is accepted when ``d == 1``.

        Leading stack axes are allowed, as for the layers: a checker may
        evaluate a stack of one-sample batches with their own targets.
        """
        y = np.asarray(y, dtype=np.float64)
        if d == 1 and (y.shape == (n,) or (n == 1 and y.ndim == 0)):
            y = y.reshape(n, 1)
        if y.shape[-2:] != (n, d):
            raise ValueError(f"y must have shape ({n}, {d}) for {self.name}, got y.shape={y.shape}")
        return y

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.param_shapes)

    def n_params(self) -> int:
        return int(sum(np.prod(s, dtype=int) for s in self.param_shapes.values()))

    def __repr__(self) -> str:
        return f"<reference model {self.name!r}: {self.description}>"
