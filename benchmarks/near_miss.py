"""How far honest float32 steps and epsilons, and small real mistakes, land from the exact gradient.

The measurement behind :data:`gradcheck.grading.pipeline.RTOL_FLOAT32`:
every reference model's backward is re-run by one generic backprop through
its layers (checked against ``model.backward`` first, to 1e-12), with one
change at a time, and each gradient's relative error to its largest entry
is recorded, as :func:`gradcheck.diagnose.diagnose_parameter` measures it:

honest, float32
    ``x`` cast to float32; one float32 intermediate (each layer's input in
    the forward pass, each layer's output gradient in the backward pass);
    one parameter cast to float32 in the backward pass only, or everywhere.
honest, epsilon
    ``1 / (p + eps)`` inside the loss's derivative, ``eps`` = 1e-7 .. 1e-12
    (the BCE derivative of rt19's ``b03`` files, the "Deep Learning from
    Scratch" ``log(y + 1e-7)`` through the softmax's Jacobian), and ``p``
    clipped to ``[eps, 1 - eps]`` there; the result rounded (``np.round(g, n)``).
mistake
    a weight decay ``lam * W`` the loss does not have (``lam`` = 1e-4 ..
    1e-10); the sample that contributes least left out of the sums.

Only arrays that :func:`gradcheck.diagnose.diagnose` calls a near miss
(``finite_difference`` by value: within ``RTOL_NEAR``, no pattern, not
float32-valued) are counted: the others are graded by another rule.

Run: ``python benchmarks/near_miss.py [n_seeds]`` (each seed: the grader's
three test points, :func:`gradcheck.grading.pipeline.make_points`).
"""
from __future__ import annotations

import re
import sys
from collections import defaultdict
from typing import Any, Callable, Iterator

import numpy as np

Hook = Callable[[str, np.ndarray], np.ndarray]


def _f32(a: np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(np.float32).astype(np.float64)


def _head_grad(model: Any, out: np.ndarray, y: np.ndarray, eps: float | None, clip: bool) -> np.ndarray:
    """``dL/dout`` of the model's loss head, optionally through ``1 / (p + eps)`` (or ``p`` clipped)."""
    from gradcheck import nn

    head, (n, d) = model.loss_head, out.shape
    t = model._targets(y, n, d)
    if isinstance(head, nn.SoftmaxCrossEntropy):
        t = head.targets(out, t)
        e = np.exp(out - out.max(-1, keepdims=True))
        p = e / e.sum(-1, keepdims=True)
        if eps is None:
            return (p - t) / n
        dp = -t / (np.clip(p, eps, 1.0) if clip else p + eps) / n
        return p * (dp - np.sum(dp * p, -1, keepdims=True))
    if isinstance(head, nn.BCE):
        p = 1.0 / (1.0 + np.exp(-out))
        if eps is None:
            return (p - t) / (n * d)
        q = np.clip(p, eps, 1 - eps) if clip else p
        dp = -(t / (q + (0 if clip else eps)) - (1 - t) / (1 - q + (0 if clip else eps))) / (n * d)
        return dp * p * (1 - p)
    factor = {"mean": 2.0 / (n * d), "sum": 2.0, "half_sum": 1.0, "sample_mean": 2.0 / n, "half_sample_mean": 1.0 / n}
    return factor[head.reduction] * (out - t)


def backprop(model: Any, params: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray, hook: Hook | None = None,
             eps: float | None = None, clip: bool = False) -> dict[str, np.ndarray]:
    """Exact backprop through ``model.layers``; ``hook(tag, array)`` may change each intermediate."""
    from gradcheck import nn

    hook = hook or (lambda tag, a: a)
    fwd = {k: hook(f"Wf:{k}", v) for k, v in params.items()}
    bwd = {k: hook(f"Wb:{k}", v) for k, v in fwd.items()}
    inputs, a = [], model.prepare_input(x)
    for i, layer in enumerate(model.layers):
        a = hook(f"in{i}", a)
        inputs.append(a)
        a = layer.forward(fwd, a)
    g, grads = _head_grad(model, a, y, eps, clip), {}
    for i in reversed(range(len(model.layers))):
        layer, a, g = model.layers[i], inputs[i], hook(f"d{i}", g)
        if isinstance(layer, nn.Dense):
            grads[layer.weight] = a.T @ g
            if layer.bias is not None:
                grads[layer.bias] = g.sum(0).reshape(params[layer.bias].shape)
            g = g @ bwd[layer.weight].T
        elif isinstance(layer, nn.Dot):
            grads[layer.weight] = a.T @ g[:, 0]
            g = g @ bwd[layer.weight][None, :]
        elif isinstance(layer, nn.Scale):
            grads[layer.weight] = np.asarray(np.sum(a * g))
            g = g * bwd[layer.weight]
        else:
            g = g * layer.derivative(a)
    return grads


def _at(tag: str, change: Callable[[np.ndarray], np.ndarray]) -> Hook:
    return lambda t, a: change(a) if t == tag else a


def variants(model: Any, point: Any) -> Iterator[tuple[str, str, dict[str, np.ndarray]]]:
    """``(kind, name, gradients)`` for every change measured at ``point``."""
    p, x, y = point.params, point.x, point.y
    for i in range(len(model.layers)):
        yield "float32", f"in{i}" if i else "x", backprop(model, p, x, y, _at(f"in{i}", _f32))
        yield "float32", f"d{i}", backprop(model, p, x, y, _at(f"d{i}", _f32))
    for k in p:
        yield "float32", f"Wb:{k}", backprop(model, p, x, y, _at(f"Wb:{k}", _f32))
        yield "float32", f"W:{k}", backprop(model, p, x, y, _at(f"Wf:{k}", _f32))
    if model.loss_head.__class__.__name__ != "MSE":
        for eps in (1e-7, 1e-8, 1e-9, 1e-10, 1e-12):
            yield "epsilon", f"eps{eps:.0e}", backprop(model, p, x, y, eps=eps)
            yield "epsilon", f"clip{eps:.0e}", backprop(model, p, x, y, eps=eps, clip=True)
    exact = backprop(model, p, x, y)
    for n in (6, 8, 10, 12):
        yield "rounded", f"round{n}", {k: np.round(v, n) for k, v in exact.items()}
    for lam in (1e-4, 1e-6, 1e-8, 1e-10):
        yield "mistake", f"l2_{lam:.0e}", {k: v + lam * p[k] if np.ndim(v) == 2 else v for k, v in exact.items()}
    yield "mistake", "drop_sample", _dropped(model, p, x, y)


def _dropped(model: Any, p: dict[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The gradient without the sample that contributes least (the sums over the batch miss one term)."""
    per = [backprop(model, p, x[j:j + 1], y[j:j + 1]) for j in range(len(x))]
    n = len(x)
    size = [sum(float(np.max(np.abs(g))) for g in s.values()) for s in per]
    j = int(np.argmin(size))
    return {k: sum(s[k] for i, s in enumerate(per) if i != j) / n for k in per[0]}


def measure(n_seeds: int) -> dict[tuple[str, str, str], list[float]]:
    """``{(model, kind, variant): [relative errors of the near misses]}``."""
    import reference_models
    from gradcheck.diagnose import diagnose
    from gradcheck.grading.pipeline import make_points

    found: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for name in reference_models.names():
        model = reference_models.get(name)
        for seed in range(n_seeds):
            for point in make_points(model, seed=seed):
                ref = model.backward(point.params, point.x, point.y)
                mine = backprop(model, point.params, point.x, point.y)
                assert all(np.max(np.abs(mine[k] - ref[k])) <= 1e-12 * max(np.max(np.abs(ref[k])), 1e-300) + 1e-15 for k in ref), name
                for kind, var, grads in variants(model, point):
                    for k, d in diagnose(grads, ref, batch_size=point.batch_size, params=point.params).items():
                        if d.code == "finite_difference":
                            found[(name, kind, var)].append(float(d.detail["rel_error"]))
    return found


def main(n_seeds: int = 3) -> None:
    from gradcheck.grading.pipeline import RTOL_FLOAT32

    found = measure(n_seeds)
    by_kind: dict[str, list[float]] = defaultdict(list)
    for (name, kind, var), rels in sorted(found.items()):
        by_kind[kind] += rels
        by_kind[f"{kind}:{var if kind == 'mistake' else re.sub(r'[0-9][0-9e.+-]*$', '', var)}"] += rels
        print(f"{name:18s} {kind:8s} {var:12s} n={len(rels):4d} min={min(rels):.1e} max={max(rels):.1e}")
    u = 2.0 ** -24
    print(f"kind            n      min   median    90%    99%    max   (max / u)  share <= RTOL_FLOAT32 = {RTOL_FLOAT32:.0e}")
    for kind, rels in sorted(by_kind.items()):
        q = " ".join(f"{v:.1e}" for v in np.quantile(rels, [0.0, 0.5, 0.9, 0.99, 1.0]))
        share = np.mean(np.asarray(rels) <= RTOL_FLOAT32)
        print(f"{kind:14s} {len(rels):6d}  {q}  ({max(rels) / u:5.0f} u)  {share:6.1%}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
