"""The building blocks every reference model is made of.

A reference model is a *sequence of layers* followed by a *loss head*.
Each layer is a forward computation on its own named parameters, so a
checker can see the structure: perturbing ``W2`` only requires recomputing
from the layer that owns ``W2`` onwards.

Every layer's ``forward`` accepts parameters and activations with extra
*leading* axes (a stack of ``P`` perturbed copies of the parameters, shape
``(P, *shape)``, and activations of shape ``(P, N, d)`` or ``(N, d)``).
Numpy broadcasting does the rest.  The models themselves only ever call
them with plain arrays.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Callable, Mapping

import numpy as np

__all__ = [
    "Params",
    "Dense",
    "Activation",
    "Layer",
    "Model",
]

Params = Mapping[str, np.ndarray]


@dataclass(frozen=True)
class Dense:
    """Affine layer ``z = a @ W + b`` in the notebooks' row-vector convention.

    Parameters
    ----------
    weight : str
        Name of the weight matrix, shape ``(fan_in, fan_out)``.
    bias : str or None
        Name of the bias, shape ``(fan_out,)`` or ``(1, fan_out)``; ``None``
        for layers without a bias.
    """

    weight: str
    bias: str | None = None

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
class Activation:
    """Elementwise activation ``a = f(z)``; it owns no parameters."""

    name: str
    f: Callable[[np.ndarray], np.ndarray] = field(repr=False)

    param_names: tuple[str, ...] = ()
    elementwise: bool = True

    def forward(self, params: Params, z: np.ndarray) -> np.ndarray:
        return self.f(z)


Layer = Dense | Activation


class Model(ABC):
    """A reference network: ``layers`` then ``head`` (the loss).

    Subclasses set ``name``, ``layers`` and ``param_shapes`` and implement
    ``head``, ``init_params``, ``example_batch`` and ``backward``.  The
    forward pass and the loss come from the layers and are shared.

    ``head(out, y)`` maps the last layer's output (leading stack axes
    allowed, ``(..., N, d_out)``) to the loss, reducing over the sample and
    output axes only, so a stack of ``P`` outputs gives ``P`` losses.
    """

    name: str = ""
    description: str = ""
    seed_notebook: str = ""
    layers: tuple[Layer, ...] = ()
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
        """The loss as NETWORKS.md defines it, a Python float."""
        out = self.run_layers(params, self.prepare_input(x))
        return float(self.head(out, np.asarray(y, dtype=np.float64)))

    # -- per model ------------------------------------------------------
    @abstractmethod
    def head(self, out: np.ndarray, y: np.ndarray) -> np.ndarray:
        """See the class docstring."""

    @abstractmethod
    def init_params(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """See the class docstring."""

    @abstractmethod
    def example_batch(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """See the class docstring."""

    @abstractmethod
    def notebook_data(self) -> tuple[np.ndarray, np.ndarray]:
        """See the class docstring."""

    @abstractmethod
    def backward(self, params: Params, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        """See the class docstring."""

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(self.param_shapes)

    def n_params(self) -> int:
        return int(sum(np.prod(s, dtype=int) for s in self.param_shapes.values()))

    def __repr__(self) -> str:
        return f"<reference model {self.name!r}: {self.description}>"
