"""How far a negated, scaled or transposed numerical gradient lands from the slip it imitates (rt26 F7).

The measurement behind :func:`gradcheck.diagnose.is_exact_mistake`: the
grader keeps a slip's diagnosis (``sign``, ``scale`` ...) beside a forward
count that says "numerical" only when the values fit the slip to
``RTOL_CORRECT`` (``fit_error``, relative to the largest entry of the
slip's values).

cheats
    every reference model, the grader's test points: a numerical gradient
    of ``model.loss`` (central and forward differences, a 4-point stencil,
    Richardson over central differences; steps 1e-2 .. 1e-7), then
    negated, times ``N``, times 2 (:func:`gradcheck.diagnose.diagnose_parameter`
    with the batch size).  Reported: the smallest ``fit_error`` of a cheat
    diagnosed as that slip, how many fit exactly, and whether each exact
    one is a numerical gradient that is itself ``correct`` by value (then
    the rounding read judges it as it would the unchanged gradient).
honest
    the corpus's slips (``tests/grading/submissions``: sign, scale,
    transpose, activation, swapped, shape) and any ``gc_*.py`` (rt26's
    students, their gradient check left in), graded in the sandbox: the
    largest ``fit_error`` of a slip.
graded
    xor_2layer cheats (the recipes and steps above; returned as they are,
    negated, times ``N``, ``W2`` transposed) graded in the sandbox: their
    scores (what the forward count and the rounding read give them).

Run: ``python benchmarks/numerical_slips.py [n_seeds] [honest_dir ...]``.
"""
from __future__ import annotations

import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Callable

import numpy as np

STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7)
SLIPS = ("sign", "scale", "transpose", "activation", "swapped", "shape")


def numerical(loss: Callable[[dict[str, np.ndarray]], float], params: dict[str, np.ndarray], recipe: str,
              h: float) -> dict[str, np.ndarray]:
    """The numerical gradient of ``loss`` at ``params`` by ``recipe`` at step ``h`` (entry by entry)."""
    stencils = {"central": ((1, -1), (0.5, -0.5)), "forward": ((1, 0), (1.0, -1.0)),
                "stencil4": ((-2, -1, 1, 2), (1 / 12, -8 / 12, 8 / 12, -1 / 12))}
    if recipe == "richardson":  # (4 D(h/2) - D(h)) / 3 over central differences
        a, b = numerical(loss, params, "central", h / 2), numerical(loss, params, "central", h)
        return {k: (4 * a[k] - b[k]) / 3 for k in a}
    shifts, weights = stencils[recipe]
    out = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            total = 0.0
            for s, w in zip(shifts, weights):
                p = {kk: np.array(vv, dtype=np.float64) for kk, vv in params.items()}
                p[k][i] += s * h
                total += w * (loss(p) if s else loss(params))
            g[i] = total / h
        out[k] = g
    return out


def cheats(n_seeds: int) -> None:
    import reference_models
    from gradcheck.diagnose import diagnose_parameter, is_exact_mistake
    from gradcheck.grading.pipeline import make_points

    fits: dict[str, list[float]] = defaultdict(list)
    exact: dict[str, int] = defaultdict(int)
    exact_but_not_correct = 0
    for name in reference_models.names():
        model = reference_models.get(name)
        if sum(int(np.prod(s)) for s in model.param_shapes.values()) > 200:
            continue  # the entry loops; the mnist nets are the same arithmetic, longer
        for seed in range(n_seeds):
            for pt in make_points(model, seed=seed):
                ref = model.backward(pt.params, pt.x, pt.y)
                for recipe in ("central", "forward", "stencil4", "richardson"):
                    for h in STEPS:
                        g = numerical(lambda p: model.loss(p, pt.x, pt.y), pt.params, recipe, h)
                        for k, gk in g.items():
                            plain = diagnose_parameter(k, gk, ref[k], batch_size=pt.batch_size)
                            for label, s in (("-g", -gk), ("N g", pt.batch_size * gk), ("2 g", 2 * gk)):
                                d = diagnose_parameter(k, s, ref[k], batch_size=pt.batch_size)
                                if d.code in ("sign", "scale"):
                                    fits[f"{label} {recipe}"].append(float(d.detail["fit_error"]))
                                    exact[f"{label} {recipe}"] += is_exact_mistake(d)
                                    exact_but_not_correct += is_exact_mistake(d) and not plain.passed
    print("cheat (numerical gradient, transformed)   diagnosed as the slip   smallest fit_error   exact fits")
    for key, values in sorted(fits.items()):
        print(f"  {key:28s} {len(values):8d} {min(values):22.2e} {exact[key]:12d}")
    print(f"exact fits whose numerical gradient is not itself 'correct': {exact_but_not_correct}")


CHEAT = """import numpy as np
def sigmoid(z):
    return 1 / (1 + np.exp(-z))
def forward(params, x):
    a1 = sigmoid(x @ params["W1"] + params["b1"])
    return sigmoid(a1 @ params["W2"] + params["b2"])
def loss(params, x, y):
    return np.mean((forward(params, x) - y) ** 2)
SHIFTS, WEIGHTS = {shifts!r}, {weights!r}
def numerical(params, x, y, h):
    g = {{}}
    for k, v in params.items():
        gk = np.zeros_like(v)
        for i in np.ndindex(v.shape):
            total = 0.0
            for s, w in zip(SHIFTS, WEIGHTS):
                p = {{kk: vv.copy() for kk, vv in params.items()}}
                p[k][i] += s * h
                total += w * loss(p, x, y)
            gk[i] = total / h
        g[k] = gk
    return g
def backward(params, x, y):
    g = numerical(params, x, y, {h!r})
    if {richardson!r}:
        g2 = numerical(params, x, y, {h!r} / 2)
        g = {{k: (4 * g2[k] - g[k]) / 3 for k in g}}
    return {transform}
"""
TRANSFORMS = {"g": "g", "-g": "{k: -v for k, v in g.items()}", "N g": "{k: len(x) * v for k, v in g.items()}",
              "W2.T": "{**g, 'W2': g['W2'].T}"}
RECIPES = {"central": ((1, -1), (0.5, -0.5), False), "forward": ((1, 0), (1.0, -1.0), False),
           "stencil4": ((-2, -1, 1, 2), (1 / 12, -8 / 12, 8 / 12, -1 / 12), False), "richardson": ((1, -1), (0.5, -0.5), True)}


def graded(n_seeds: int, folder: Path) -> None:
    """xor_2layer cheats graded in the sandbox: the score and diagnoses at each seed (max 4)."""
    from gradcheck.grading.pipeline import grade_submission

    folder.mkdir(parents=True, exist_ok=True)
    print("graded cheat (xor_2layer)          scores by seed          diagnoses")
    for recipe, (shifts, weights, richardson) in RECIPES.items():
        for h in STEPS:
            for label, transform in TRANSFORMS.items():
                path = folder / f"{recipe}_{h:.0e}_{len(label)}{label[0]}.py".replace("-", "m")
                path.write_text(CHEAT.format(shifts=shifts, weights=weights, h=h, richardson=richardson, transform=transform))
                results = [grade_submission(path, "xor_2layer", seed=seed, shrink=False) for seed in range(n_seeds)]
                codes = sorted({c for r in results for c in r.diagnoses})
                print(f"  {recipe:10s} {h:7.0e} {label:5s} {str([r.score for r in results]):24s} {';'.join(codes)}", flush=True)


def honest(dirs: list[str], n_seeds: int) -> None:
    from gradcheck.grading.pipeline import grade_submission

    worst: dict[str, float] = defaultdict(float)
    counted: dict[str, int] = defaultdict(int)
    for d in dirs:
        for path in sorted(Path(d).glob("*.py")):
            if not any(f"__{s}__" in path.name for s in SLIPS) and not path.name.startswith("gc_"):
                continue
            model = path.name.split("__")[0] if "__" in path.name else "xor_2layer"
            for seed in range(n_seeds):
                for p in grade_submission(path, model, seed=seed, shrink=False).parameters:
                    if p.diagnosis in SLIPS and "fit_error" in p.detail:
                        worst[p.diagnosis] = max(worst[p.diagnosis], float(p.detail["fit_error"]))
                        counted[p.diagnosis] += 1
    print("honest slip   gradients   largest fit_error")
    for code in sorted(worst):
        print(f"  {code:12s} {counted[code]:8d} {worst[code]:18.2e}")


if __name__ == "__main__":
    seeds = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    honest(sys.argv[2:] or [str(Path(__file__).parent.parent / "tests" / "grading" / "submissions")], seeds)
    cheats(seeds)
    graded(seeds, Path(tempfile.mkdtemp(prefix="numerical_slips_")))
