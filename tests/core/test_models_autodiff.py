"""Independent check of every hand-written backward against torch autograd (float64).

Skipped when torch is not installed.  The forward pass is rebuilt in torch
from the model's declared layers and a torch transcription of each loss of
NETWORKS.md, so neither the numpy backward nor finite differences are
involved; agreement is required to a relative 1e-9 (both sides are exact
up to float64 round-off, ~1e-15).
"""
from __future__ import annotations

import numpy as np
import pytest

import reference_models as rm
from reference_models._base import Activation, Dense, Dot, Scale

torch = pytest.importorskip("torch")

ACTIVATIONS = {
    "sigmoid": lambda z: torch.sigmoid(z),
    "relu": lambda z: torch.relu(z),
    "tanh": lambda z: torch.tanh(z),
    "step": lambda z: (z > 0).to(z.dtype),  # piecewise constant: derivative 0
}


def _mse(out, y):
    return ((y - out) ** 2).mean()


def _half_sum(out, y):
    return ((y - out) ** 2).sum() / 2


HEADS = {  # NETWORKS.md's losses, written again in torch on the last layer's output
    "xor_1layer": _mse,
    "xor_2layer": _mse,
    "xor_3layer": _mse,
    "mnist_relu": lambda z, t: -(t * torch.log_softmax(z, dim=-1)).sum() / z.shape[0],
    "onehot_222": lambda out, t: ((t - out) ** 2).sum() / out.shape[0],
    "relu_sigmoid_bce": lambda z, y: torch.nn.functional.binary_cross_entropy_with_logits(z, y),
    "study_2layer": _half_sum,
    "study_3layer": _half_sum,
    "chain_2_1_1": lambda out, y: (0.5 * (y - out) ** 2).mean(),
}
CASES = [
    ("xor_1layer", {}), ("xor_2layer", {"hidden": 5}), ("xor_3layer", {"hidden1": 2, "hidden2": 4}),
    ("mnist_relu", {"n_in": 20, "hidden": 7, "n_out": 4}), ("mnist_relu", {}),
    ("onehot_222", {}), ("onehot_222", {"hidden": 3}),
    ("relu_sigmoid_bce", {"activation": "relu"}), ("relu_sigmoid_bce", {"activation": "tanh", "hidden": 4}),
    ("relu_sigmoid_bce", {"activation": "step"}),
    ("study_2layer", {}), ("study_3layer", {"hidden1": 3, "hidden2": 5}), ("chain_2_1_1", {}),
]


def torch_loss(model, params, x, y):
    a = torch.as_tensor(model.prepare_input(x))
    for layer in model.layers:
        if isinstance(layer, Dense):
            a = a @ params[layer.weight]
            if layer.bias is not None:
                a = a + params[layer.bias]  # (d,) and (1, d) both broadcast over samples
        elif isinstance(layer, Dot):
            a = a @ params[layer.weight][:, None]
        elif isinstance(layer, Scale):
            a = a * params[layer.weight]
        elif isinstance(layer, Activation):
            a = ACTIVATIONS[layer.name](a)
        else:  # pragma: no cover - a new layer type needs a torch transcription here
            raise AssertionError(f"no torch version of {layer!r}")
    target = torch.as_tensor(np.reshape(np.asarray(y, dtype=np.float64), a.shape))
    return HEADS[model.name](a, target)


@pytest.mark.parametrize("name, options", CASES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_equals_torch_autograd(name, options, seed):
    m = rm.get(name, **options)
    rng = np.random.default_rng(seed)
    params = m.init_params(rng) if name == "mnist_relu" else {
        k: rng.standard_normal(s) for k, s in m.param_shapes.items()
    }
    x, y = m.example_batch(rng, [1, 4, 7][seed])
    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in params.items()}
    loss = torch_loss(m, leaves, x, y)
    loss.backward()
    assert loss.item() == pytest.approx(m.loss(params, x, y), rel=1e-12)
    ours = m.backward(params, x, y)
    for k, leaf in leaves.items():
        # no grad at all: the parameter only feeds a step function (derivative 0)
        reference = leaf.grad.numpy() if leaf.grad is not None else np.zeros(leaf.shape)
        scale = max(float(np.max(np.abs(reference))), 1e-300)
        np.testing.assert_allclose(ours[k], reference, rtol=1e-9, atol=1e-9 * scale, err_msg=f"{name} {k}")
