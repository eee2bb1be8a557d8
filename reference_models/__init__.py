"""Reference implementations of the course notebooks' networks.

Every network of ``NETWORKS.md`` is a :class:`Model`: a sequence of layers
(the forward pass), a loss head, the notebook's initialisation and data, and
an exact hand-written ``backward``.  Look them up by name::

    >>> import reference_models
    >>> m = reference_models.get("study_2layer", hidden=4)
    >>> m.param_shapes
    {'W1': (2, 4), 'W2': (4, 1)}
"""
from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from reference_models._base import (
    Activation,
    Dense,
    Dot,
    Layer,
    Model,
    NotebookDataUnavailable,
    Params,
    Scale,
)
from reference_models.chain import Chain211
from reference_models.mnist import MNISTReLU
from reference_models.onehot import OneHot222
from reference_models.quadratic import ReLUSigmoidBCE
from reference_models.study import Study2Layer, Study3Layer
from reference_models.xor import XOR1Layer, XOR2Layer, XOR3Layer

__all__ = [
    "Activation",
    "Chain211",
    "Dense",
    "Dot",
    "Layer",
    "MNISTReLU",
    "Model",
    "NotebookDataUnavailable",
    "OneHot222",
    "Params",
    "ReLUSigmoidBCE",
    "Scale",
    "Study2Layer",
    "Study3Layer",
    "UnknownModelError",
    "XOR1Layer",
    "XOR2Layer",
    "XOR3Layer",
    "get",
    "names",
    "register",
]

_REGISTRY: dict[str, Callable[..., Model]] = {
    cls.name: cls
    for cls in (
        XOR1Layer,
        XOR2Layer,
        XOR3Layer,
        MNISTReLU,
        OneHot222,
        ReLUSigmoidBCE,
        Study2Layer,
        Study3Layer,
        Chain211,
    )
}


class UnknownModelError(KeyError, ValueError):
    """No reference model has this name (both a ``KeyError`` and a ``ValueError``)."""

    def __str__(self) -> str:  # KeyError would show the message in quotes
        return str(self.args[0]) if self.args else ""


def register(cls: type[Model]) -> type[Model]:
    """Add a reference model class to the registry under its ``name`` (usable as a decorator).

    This and the class itself are all a new reference model needs: the
    engine, the grader's mistakes and kink handling read its declared
    structure (:mod:`gradcheck.nn`), never a table of model names.

    Raises
    ------
    TypeError
        When ``cls`` is not a :class:`Model` subclass.
    ValueError
        When its ``name`` is empty or already taken.
    """
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"cls must be a subclass of reference_models.Model, got cls={cls!r}")
    if not isinstance(cls.name, str) or not cls.name:
        raise ValueError(f"{cls.__name__}.name must be a non-empty str, got name={cls.name!r}")
    if cls.name in _REGISTRY:
        raise ValueError(f"a reference model named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def names() -> list[str]:
    """Names of all reference models, in the order of NETWORKS.md.

    Examples
    --------
    >>> names()[:3]
    ['xor_1layer', 'xor_2layer', 'xor_3layer']
    >>> len(names())
    9
    """
    return list(_REGISTRY)


def get(name: str, **options: Any) -> Model:
    """A new instance of the reference model ``name``.

    Parameters
    ----------
    name : str
        One of :func:`names`.
    **options
        The model's constructor options, e.g. ``hidden=4`` for
        ``study_2layer``, ``n_in``/``hidden``/``n_out`` for ``mnist_relu``,
        ``activation="tanh"`` for ``relu_sigmoid_bce``.

    Raises
    ------
    UnknownModelError
        (a ``KeyError`` and a ``ValueError``) for an unknown name; the
        message lists the known ones.
    TypeError
        For an option the model does not take (the message lists those it takes).
    ValueError
        For an option with a bad value (the message names it).

    Examples
    --------
    >>> m = get("mnist_relu", n_in=6, hidden=3, n_out=2)
    >>> m.param_shapes
    {'W1': (6, 3), 'W2': (3, 2)}
    >>> get("xor_4layer")
    Traceback (most recent call last):
    ...
    reference_models.UnknownModelError: unknown reference model name='xor_4layer'; known: xor_1layer, ...
    >>> get("study_2layer", hidden=0)
    Traceback (most recent call last):
    ...
    ValueError: hidden must be a positive int, got hidden=0
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise UnknownModelError(f"unknown reference model name={name!r}; known: {', '.join(_REGISTRY)}")
    cls = _REGISTRY[name]
    accepted = [p for p in inspect.signature(cls).parameters]
    unexpected = [k for k in options if k not in accepted]
    if unexpected:
        takes = ", ".join(accepted) if accepted else "no options"
        raise TypeError(f"{name} got unexpected option(s) {', '.join(map(repr, unexpected))}; it takes: {takes}")
    return cls(**options)
