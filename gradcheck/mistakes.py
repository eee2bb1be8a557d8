"""Known wrong gradients: recompute what a classic backprop mistake produces.

A *mistake generator* is a function ``(model, params, x, y) -> dict of wrong
gradients``.  :func:`mistake_gradients` runs every generator that applies to
a model and returns ``{mistake name: {param: gradient}}``, which
:func:`gradcheck.diagnose.diagnose` compares the student's arrays with (a
match is diagnosed ``activation``, with the mistake's sentence).

Which generators apply is read from the model itself, never from a table of
model names: the built-in mistakes (:data:`ACTIVATION_MISTAKES`) belong to
an activation, and apply to every model whose layers include that activation
(a :class:`gradcheck.nn.DifferentiableLayer` of that ``name``).  Mistakes
peculiar to one model are registered for its name with :func:`register_mistake`.

The built-in generators run a generic backward pass over the model's layers
(:func:`backprop_with`, which reads the layers through the protocols of
:mod:`gradcheck.nn`) in which one activation's derivative is replaced:

``sigmoid_prime_of_z``
    ``sigmoid'(z)`` computed as ``z * (1 - z)`` on the pre-activation ``z``
    (the formula ``a * (1 - a)`` applied to the wrong array).
``sigmoid_twice``
    ``s(a) * (1 - s(a))`` on the activation ``a``: the sigmoid applied twice.
``relu_mask_output_ge0``
    The ReLU mask ``output >= 0`` (001's ``relu2deriv(output)``), always 1.
``tanh_prime_of_z``
    ``tanh'(z)`` computed as ``1 - z**2`` on the pre-activation ``z`` (the
    formula ``1 - a**2`` applied to the wrong array).
``sigmoid_prime_as_output``
    ``sigmoid'(z)`` taken as the output ``a`` itself, ``(1 - a)`` left out.

A loss head that applies the output's sigmoid or softmax itself (the logits
are its input) has its own built-in mistakes (:data:`OUTPUT_MISTAKES`): the
gradient at the logits multiplied once more by the output's derivative,

``bce_sigmoid_prime_again``
    ``(a - y) / N`` times ``a * (1 - a)`` for a sigmoid with cross-entropy
    (:class:`gradcheck.nn.BCE` from logits);
``softmax_ce_prime_again``
    ``(p - t) / N`` times ``p * (1 - p)`` for a softmax with cross-entropy
    (:class:`gradcheck.nn.SoftmaxCrossEntropy`).

The same mistakes are named for a lone activation layer checked by
``check_layer`` (one input, one output): :func:`elementwise_mistakes` takes
the layer for the activation only when its output is the activation's in
every entry, and gives the gradient each mistake returns there.

Examples
--------
>>> import reference_models
>>> m = reference_models.get("xor_2layer")
>>> p = m.init_params(np.random.default_rng(1))
>>> x, y = m.notebook_data()
>>> exact = backprop_with(m, p, x, y, derivatives={})
>>> bool(np.allclose(exact["W1"], m.backward(p, x, y)["W1"], rtol=1e-8, atol=1e-12))
True
>>> sorted(mistake_gradients(m, p, x, y))
['sigmoid_prime_as_output', 'sigmoid_prime_as_output@1', 'sigmoid_prime_as_output@3', 'sigmoid_prime_of_z', 'sigmoid_prime_of_z@1', 'sigmoid_prime_of_z@3', 'sigmoid_twice', 'sigmoid_twice@1', 'sigmoid_twice@3']
>>> sorted(known_mistakes(reference_models.get("relu_sigmoid_bce", activation="step")))
['bce_sigmoid_prime_again']
>>> sorted(known_mistakes(reference_models.get("relu_sigmoid_bce", activation="tanh")))
['bce_sigmoid_prime_again', 'tanh_prime_of_z']
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradcheck import messages
from gradcheck.errors import GradcheckTypeError, GradcheckValueError
from gradcheck import nn
from gradcheck.nn import AffineLayer, DifferentiableLayer, ElementwiseLayer
from gradcheck.recognise import is_affine, is_entrywise

__all__ = [
    "ACTIVATION_MISTAKES",
    "OUTPUT_MISTAKES",
    "ActivationMistake",
    "OutputMistake",
    "Derivative",
    "MistakeGenerator",
    "backprop_with",
    "elementwise_mistakes",
    "known_mistakes",
    "mistake_gradients",
    "register_mistake",
]

MistakeGenerator = Callable[[Any, Mapping[str, np.ndarray], np.ndarray, np.ndarray], dict[str, np.ndarray]]
#: ``derivative(z, a)``: the factor an activation contributes, from its input and output.
Derivative = Callable[[np.ndarray, np.ndarray], np.ndarray]

_REGISTRY: dict[str, dict[str, MistakeGenerator]] = {}


def register_mistake(
    model_name: str,
    mistake: str,
    generator: MistakeGenerator,
    *,
    message: Mapping[str, str] | None = None,
) -> None:
    """Register ``generator`` as the known mistake ``mistake`` of ``model_name``.

    Parameters
    ----------
    model_name : str
        A reference model name (``"xor_2layer"``).
    mistake : str
        The mistake's name (an identifier, reported in ``detail["mistake"]``).
    generator : callable
        ``(model, params, x, y) -> dict of wrong gradients``; may return
        only some parameters.
    message : mapping of language to str, optional
        The sentence explaining the mistake (``{"en": ..., "ko": ...}``);
        needed unless one is already registered under ``mistake.<name>``.
    """
    if not isinstance(model_name, str) or not model_name:
        raise GradcheckValueError(f"model_name must be a non-empty str, got model_name={model_name!r}")
    if not isinstance(mistake, str) or not mistake.isidentifier():
        raise GradcheckValueError(f"mistake must be an identifier, got mistake={mistake!r}")
    if not callable(generator):
        raise GradcheckTypeError(f"generator must be callable, got generator={generator!r}")
    if message is not None:
        messages.register_template(f"mistake.{mistake}", message)
    elif f"mistake.{mistake}" not in messages.TEMPLATES:
        raise GradcheckValueError(f"mistake {mistake!r} has no message: pass message={{'en': ..., 'ko': ...}}")
    _REGISTRY.setdefault(model_name, {})[mistake] = generator


def known_mistakes(model: Any) -> dict[str, MistakeGenerator]:
    """The generators that apply to ``model`` (a new dict).

    For a model object: the built-in mistakes of every activation among its
    layers, then those registered for its ``name``.  For a str: those
    registered for that name only.

    >>> import reference_models
    >>> sorted(known_mistakes(reference_models.get("mnist_relu")))
    ['relu_mask_output_ge0', 'softmax_ce_prime_again']
    """
    if isinstance(model, str):
        return dict(_REGISTRY.get(model, {}))
    found: dict[str, MistakeGenerator] = {}
    for m in ACTIVATION_MISTAKES:
        at = [i for i, layer in enumerate(getattr(model, "layers", ()))
              if isinstance(layer, DifferentiableLayer) and layer.name == m.activation]
        if at:
            found[m.mistake] = _replacing(m.activation, m.derivative)
        if len(at) > 1:  # the same slip in one layer only (a student's hidden layer, say): named "mistake@index"
            found.update({f"{m.mistake}@{i}": _replacing(m.activation, m.derivative, only=i) for i in at})
    head = getattr(model, "loss_head", None)
    found.update({o.mistake: _at_logits(o.factor) for o in OUTPUT_MISTAKES if o.applies(head)})
    found.update(_REGISTRY.get(getattr(model, "name", ""), {}))
    return found


def mistake_gradients(model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Run every generator registered for ``model.name``.

    A generator that raises or returns non-finite arrays is skipped: a
    missing candidate only means a mistake goes unnamed.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, gen in known_mistakes(model).items():
        try:
            grads = gen(model, params, x, y)
        except Exception:  # noqa: BLE001 - a candidate is optional by design
            continue
        clean = {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}
        if clean and all(np.all(np.isfinite(v)) for v in clean.values()):
            out[name] = clean
    return out


# -- a generic backward pass with replaceable activation derivatives -----------


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.exp(-np.logaddexp(0.0, -z))


def _numeric_derivative(f: Callable[[np.ndarray], np.ndarray], z: np.ndarray) -> np.ndarray:
    h = 1e-5 * np.maximum(np.abs(z), 1.0)
    return (f(z + h) - f(z - h)) / (2 * h)


def _numeric_vjp(f: Callable[[np.ndarray], np.ndarray], v: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """``d <delta, f(v)> / d v`` entry by entry, fourth-order central differences.

    For the small layers that are neither dense nor elementwise (the chain
    model's dot product and scalar weight); exact for layers linear in ``v``
    up to rounding.
    """
    flat = v.reshape(-1).astype(np.float64)
    out = np.empty(flat.size)
    for i in range(flat.size):
        h = 1e-3 * max(abs(flat[i]), 1.0)
        total = 0.0
        for k, c in ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0)):
            moved = flat.copy()
            moved[i] += k * h
            total += c * float(np.sum(delta * f(moved.reshape(v.shape))))
        out[i] = total / (12.0 * h)
    return out.reshape(v.shape)


def _tail_gradient(model: Any, tail: list[Any], params: Mapping[str, np.ndarray], a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``d head(tail(a)) / d a`` by a stacked fourth-order central difference.

    Accurate to about ``1e-11`` relative, far inside the pattern tolerance
    of :mod:`gradcheck.diagnose` (``1e-6``).
    """
    flat = a.reshape(-1)
    n = flat.size
    h = np.full(n, 1e-3)  # the loss curves on the scale of 1 whatever the size of its input
    coeffs = ((2.0, -1.0), (1.0, 8.0), (-1.0, -8.0), (-2.0, 1.0))
    total = np.zeros(n)
    for k, c in coeffs:
        stack = np.repeat(flat[None, :], n, axis=0)
        stack[np.arange(n), np.arange(n)] += k * h
        out = stack.reshape((n,) + a.shape)
        for layer in tail:
            out = layer.forward(params, out)
        losses = np.asarray(model.head(out, y), dtype=np.float64).reshape(n)
        total += c * losses
    return (total / (12.0 * h)).reshape(a.shape)


def backprop_with(
    model: Any,
    params: Mapping[str, np.ndarray],
    x: np.ndarray,
    y: np.ndarray,
    *,
    derivatives: Mapping[str, Derivative],
    only: int | None = None,
    head_factor: Callable[[np.ndarray], np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Backward pass over ``model.layers`` with some activation derivatives replaced.

    Dense layers (``a @ W + b``) and elementwise activations are
    differentiated exactly; trailing layers that are neither are folded into
    the loss head, and the loss head and any other layer are differentiated
    numerically (fourth-order central differences, ~1e-10 relative).  ``derivatives`` maps an
    activation name to ``derivative(z, a)``; other activations use their
    correct derivative.  With ``only``, the replacement applies to the layer
    of that index in ``model.layers`` alone.  ``head_factor(logits)``, when
    given, multiplies the gradient at the loss head's input (the last
    layer's output, which must reach the head unchanged: no trailing layer
    folded into it).
    """
    layers = list(model.layers)
    a = model.prepare_input(np.asarray(x, dtype=np.float64))
    y = np.asarray(y)
    y = y if y.dtype.kind in "iub" else np.asarray(y, dtype=np.float64)
    inputs: list[np.ndarray] = []
    for layer in layers:
        inputs.append(a)
        a = layer.forward(params, a)
    outputs = inputs[1:] + [a]
    kinds = [_kind(layer, params, a_in, out) for layer, a_in, out in zip(layers, inputs, outputs)]
    k = len(layers)
    while k > 0 and kinds[k - 1] == "other":
        k -= 1
    body, tail = layers[:k], layers[k:]
    delta = _tail_gradient(model, tail, params, inputs[k] if k < len(layers) else a, y)
    if head_factor is not None:
        if tail:
            raise GradcheckTypeError(f"model {model.name!r}: head_factor needs the head to take the last layer's output")
        delta = delta * head_factor(a)
    grads: dict[str, np.ndarray] = {}
    for index, layer, kind, a_in in zip(reversed(range(k)), reversed(body), reversed(kinds[:k]), reversed(inputs[:k])):
        if kind == "affine":
            W = np.asarray(params[layer.weight], dtype=np.float64)
            grads[layer.weight] = (a_in.T @ delta).reshape(W.shape)
            if layer.bias is not None:
                grads[layer.bias] = delta.sum(axis=0).reshape(np.shape(params[layer.bias]))
            delta = delta @ W.T
        elif kind == "other":
            for pname in layer.param_names:
                moved = functools.partial(_forward_with, layer, params, pname, a_in)
                grads[pname] = _numeric_vjp(moved, np.asarray(params[pname], dtype=np.float64), delta)
            delta = _numeric_vjp(functools.partial(layer.forward, params), a_in, delta)
        else:
            delta = delta * _factor(layer, params, a_in, derivatives if only in (None, index) else {})
    return grads


def _forward_with(layer: Any, params: Mapping[str, np.ndarray], name: str, a: np.ndarray, value: np.ndarray) -> np.ndarray:
    """``layer.forward`` on ``a`` with ``params[name]`` replaced by ``value``."""
    return np.asarray(layer.forward({**params, name: value}, a))


def _kind(layer: Any, params: Mapping[str, np.ndarray], a: np.ndarray, out: np.ndarray) -> str:
    """``"affine"``, ``"elementwise"`` or ``"other"``: each declaration checked as the engine checks it."""
    if isinstance(layer, AffineLayer) and is_affine(layer, params, a, out):
        return "affine"
    if isinstance(layer, ElementwiseLayer) and is_entrywise(layer, params, a, out):
        return "elementwise"
    return "other"


def _factor(layer: Any, params: Mapping[str, np.ndarray], z: np.ndarray, derivatives: Mapping[str, Derivative]) -> np.ndarray:
    """The elementwise layer's derivative at its input ``z``: replaced, its own, or a central difference."""
    if isinstance(layer, DifferentiableLayer):
        replaced = derivatives.get(layer.name)
        return replaced(z, layer.forward(params, z)) if replaced else layer.derivative(z)
    return _numeric_derivative(lambda v: layer.forward(params, v), z)


def _replacing(activation: str, derivative: Derivative, only: int | None = None) -> MistakeGenerator:
    def generator(model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        if not any(isinstance(layer, DifferentiableLayer) and layer.name == activation for layer in model.layers):
            raise GradcheckTypeError(f"model {model.name!r} has no {activation} layer")
        return backprop_with(model, params, x, y, derivatives={activation: derivative}, only=only)

    return generator


def _at_logits(factor: Callable[[np.ndarray], np.ndarray]) -> MistakeGenerator:
    def generator(model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        return backprop_with(model, params, x, y, derivatives={}, head_factor=factor)

    return generator


@dataclass(frozen=True)
class ActivationMistake:
    """A classic wrong derivative of one activation: ``derivative(z, a)`` replaces the right one."""

    activation: str
    mistake: str
    derivative: Derivative


#: The built-in mistakes; each applies to every model with a layer of that activation.
ACTIVATION_MISTAKES: tuple[ActivationMistake, ...] = (
    ActivationMistake("sigmoid", "sigmoid_prime_of_z", lambda z, a: z * (1.0 - z)),
    ActivationMistake("sigmoid", "sigmoid_twice", lambda z, a: _sigmoid(a) * (1.0 - _sigmoid(a))),
    ActivationMistake("relu", "relu_mask_output_ge0", lambda z, a: (a >= 0).astype(np.float64)),
    ActivationMistake("tanh", "tanh_prime_of_z", lambda z, a: 1.0 - z ** 2),
    ActivationMistake("sigmoid", "sigmoid_prime_as_output", lambda z, a: a),
)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def _is_bce_from_logits(head: Any) -> bool:
    return isinstance(head, nn.BCE) and head.from_logits


def _is_softmax_ce(head: Any) -> bool:
    return isinstance(head, nn.SoftmaxCrossEntropy)


@dataclass(frozen=True)
class OutputMistake:
    """A classic wrong output delta: the right gradient at the logits times ``factor(logits)``.

    Applies to every model whose ``loss_head`` satisfies ``applies``.
    """

    mistake: str
    applies: Callable[[Any], bool]
    factor: Callable[[np.ndarray], np.ndarray]


#: The built-in mistakes at the output: the derivative of the sigmoid or softmax that the cross-entropy already
#: cancelled, applied once more (``delta = (a - y) * a * (1 - a)``).
OUTPUT_MISTAKES: tuple[OutputMistake, ...] = (
    OutputMistake("bce_sigmoid_prime_again", _is_bce_from_logits, lambda z: _sigmoid(z) * (1.0 - _sigmoid(z))),
    OutputMistake("softmax_ce_prime_again", _is_softmax_ce, lambda z: _softmax(z) * (1.0 - _softmax(z))),
)

#: The activations a lone layer is recognised as (:func:`elementwise_mistakes`), by name.
_ACTIVATIONS: dict[str, nn.Activation] = {a.name: a for a in (nn.Sigmoid(), nn.ReLU(), nn.Tanh())}
#: How closely a layer's output must equal the activation's to be taken for it: rounding only (two ways to write
#: ``1 / (1 + exp(-z))`` differ by ~1e-16 relative), far below any other function's distance.
_SAME_OUTPUT_RTOL = 1e-9


def elementwise_mistakes(z: Any, out: Any, dout: Any) -> dict[str, np.ndarray]:
    """``{mistake: the gradient of z it gives}`` for a lone layer ``out = act(z)`` of an activation with known mistakes.

    The layer is taken for the activation only when ``out`` is ``act(z)``
    in every entry (to :data:`_SAME_OUTPUT_RTOL`); the mistaken backward
    then returns ``dout * derivative(z, out)``.  As for a model, a
    candidate is named only when it differs from the right gradient and the
    student's gradient matches it in every entry
    (:func:`gradcheck.diagnose.diagnose_parameter`): one way to be wrong
    that a different bug does not reproduce by chance.

    >>> z = np.array([[-1.0, 0.5, 2.0]])
    >>> sorted(elementwise_mistakes(z, 1 / (1 + np.exp(-z)), np.ones_like(z)))
    ['sigmoid_prime_as_output', 'sigmoid_prime_of_z', 'sigmoid_twice']
    >>> sorted(elementwise_mistakes(z, np.tanh(z), np.ones_like(z)))
    ['tanh_prime_of_z']
    >>> elementwise_mistakes(z, np.maximum(z, 0.5), np.ones_like(z))  # no activation's output: no mistake
    {}
    """
    z, out, dout = (np.asarray(v, dtype=np.float64) for v in (z, out, dout))
    if not (z.shape == out.shape == dout.shape) or z.size == 0 or not np.all(np.isfinite(z)):
        return {}
    found: dict[str, np.ndarray] = {}
    for m in ACTIVATION_MISTAKES:
        act = _ACTIVATIONS[m.activation]
        if np.allclose(out, act.forward({}, z), rtol=_SAME_OUTPUT_RTOL, atol=0.0):
            found[m.mistake] = dout * m.derivative(z, out)
    return found
