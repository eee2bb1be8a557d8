"""Known wrong gradients: recompute what a classic backprop mistake produces.

A *mistake generator* is a function ``(model, params, x, y) -> dict of wrong
gradients``.  Generators are registered per reference model name with
:func:`register_mistake`; :func:`mistake_gradients` runs every generator
registered for a model and returns ``{mistake name: {param: gradient}}``,
which :func:`gradcheck.diagnose.diagnose` compares the student's arrays
with (a match is diagnosed ``activation``, with the mistake's sentence).

The built-in generators run a generic backward pass over the model's layers
(:func:`backprop_with`) in which one activation's derivative is replaced:

``sigmoid_prime_of_z``
    ``sigmoid'(z)`` computed as ``z * (1 - z)`` on the pre-activation ``z``
    (the formula ``a * (1 - a)`` applied to the wrong array).
``sigmoid_twice``
    ``s(a) * (1 - s(a))`` on the activation ``a``: the sigmoid applied twice.
``relu_mask_output_ge0``
    The ReLU mask ``output >= 0`` (001's ``relu2deriv(output)``), always 1.

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
['sigmoid_prime_of_z', 'sigmoid_twice']
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from gradcheck import messages
from gradcheck.errors import GradcheckTypeError, GradcheckValueError

__all__ = [
    "MistakeGenerator",
    "Derivative",
    "register_mistake",
    "known_mistakes",
    "mistake_gradients",
    "backprop_with",
    "SIGMOID_MODELS",
    "RELU_MODELS",
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


def known_mistakes(model_name: str) -> dict[str, MistakeGenerator]:
    """The generators registered for ``model_name`` (a copy; empty if none).

    >>> sorted(known_mistakes("mnist_relu"))
    ['relu_mask_output_ge0']
    """
    return dict(_REGISTRY.get(model_name, {}))


def mistake_gradients(model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Run every generator registered for ``model.name``.

    A generator that raises or returns non-finite arrays is skipped: a
    missing candidate only means a mistake goes unnamed.
    """
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, gen in known_mistakes(getattr(model, "name", "")).items():
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


_CORRECT: dict[str, Derivative] = {
    "sigmoid": lambda z, a: a * (1.0 - a),
    "relu": lambda z, a: (z > 0).astype(np.float64),
    "tanh": lambda z, a: 1.0 - a * a,
    "step": lambda z, a: np.zeros_like(z),
    "identity": lambda z, a: np.ones_like(z),
}


def _is_dense(layer: Any) -> bool:
    return hasattr(layer, "weight") and hasattr(layer, "bias")


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
) -> dict[str, np.ndarray]:
    """Backward pass over ``model.layers`` with some activation derivatives replaced.

    Dense layers (``a @ W + b``) and elementwise activations are
    differentiated exactly; trailing layers that are neither are folded into
    the loss head, and the loss head and any other layer are differentiated
    numerically (fourth-order central differences, ~1e-10 relative).  ``derivatives`` maps an
    activation name to ``derivative(z, a)``; other activations use their
    correct derivative.
    """
    layers = list(model.layers)
    k = len(layers)
    while k > 0 and not _is_dense(layers[k - 1]) and not getattr(layers[k - 1], "elementwise", False):
        k -= 1
    body, tail = layers[:k], layers[k:]
    a = model.prepare_input(np.asarray(x, dtype=np.float64))
    y = np.asarray(y, dtype=np.float64)
    inputs: list[np.ndarray] = []
    for layer in body:
        inputs.append(a)
        a = layer.forward(params, a)
    delta = _tail_gradient(model, tail, params, a, y)
    grads: dict[str, np.ndarray] = {}
    for layer, a_in in zip(reversed(body), reversed(inputs)):
        if _is_dense(layer):
            W = np.asarray(params[layer.weight], dtype=np.float64)
            grads[layer.weight] = (a_in.T @ delta).reshape(W.shape)
            if layer.bias is not None:
                grads[layer.bias] = delta.sum(axis=0).reshape(np.shape(params[layer.bias]))
            delta = delta @ W.T
        elif not getattr(layer, "elementwise", False):
            for pname in getattr(layer, "param_names", ()):
                grads[pname] = _numeric_vjp(lambda v: layer.forward({**params, pname: v}, a_in), np.asarray(params[pname], dtype=np.float64), delta)
            delta = _numeric_vjp(lambda v: layer.forward(params, v), a_in, delta)
        else:
            out = layer.forward(params, a_in)
            name = str(layer.name).lower()
            deriv = derivatives.get(name) or _CORRECT.get(name)
            factor = deriv(a_in, out) if deriv else _numeric_derivative(lambda z: layer.forward(params, z), a_in)
            delta = delta * factor
    return grads


def _replacing(activation: str, derivative: Derivative) -> MistakeGenerator:
    def generator(model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
        if not any(str(getattr(layer, "name", "")).lower() == activation for layer in model.layers):
            raise GradcheckTypeError(f"model {model.name!r} has no {activation} layer")
        return backprop_with(model, params, x, y, derivatives={activation: derivative})

    return generator


#: Models with sigmoid layers (the built-in sigmoid mistakes are registered for them).
SIGMOID_MODELS: tuple[str, ...] = (
    "xor_1layer",
    "xor_2layer",
    "xor_3layer",
    "onehot_222",
    "study_2layer",
    "study_3layer",
    "chain_2_1_1",
)
#: Models with ReLU layers.
RELU_MODELS: tuple[str, ...] = ("mnist_relu", "relu_sigmoid_bce")

for _name in SIGMOID_MODELS:
    register_mistake(_name, "sigmoid_prime_of_z", _replacing("sigmoid", lambda z, a: z * (1.0 - z)))
    register_mistake(_name, "sigmoid_twice", _replacing("sigmoid", lambda z, a: _sigmoid(a) * (1.0 - _sigmoid(a))))
for _name in RELU_MODELS:
    register_mistake(_name, "relu_mask_output_ge0", _replacing("relu", lambda z, a: (a >= 0).astype(np.float64)))
