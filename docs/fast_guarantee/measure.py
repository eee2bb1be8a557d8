"""Exact escape rates of single planted entry errors at fast mode's stated size, opaque f.

For one seed, fast mode's probes are fixed; a planted error changes only the analytic directional
derivatives (the probes' losses, steps, kink flags and error bars depend on the loss values only), so
whether an entry off by e escapes is decided by judge() on every counted probe: computed here for every
entry and both signs at once.  Validated against real planted runs with --validate.
usage: python measure.py ROOT KIND N SEED0 SEEDS [--validate K]
"""

import sys
import json

ROOT = sys.argv[1]
sys.path.insert(0, ROOT)
sys.path.insert(0, ROOT + "/tests/core")
import numpy as np  # noqa: E402 (after the source tree is put on sys.path)
import reference_models  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck import check_gradients, estimate_gradients, nn  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck import directional as D  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck.compare import judge  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck.numeric import FunctionPoint, function_gradients  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck.check import _accepts  # noqa: E402 (after the source tree is put on sys.path)
from gradcheck.results import PROBE_LEVELS  # noqa: E402 (after the source tree is put on sys.path)

W = np.concatenate([np.array(PROBE_LEVELS), -np.array(PROBE_LEVELS)])


def expected(a, s, res, tol, cnt, e):
    """mean over entries of the exact escape chance over the probes' weights (128 equally likely values)."""
    prob = np.ones(a.size)
    for p in np.flatnonzero(cnt):
        floor = res.allowed[p] - tol.k * res.error[p]
        hit = np.zeros(a.size)
        for w in W:
            v = w * s
            fl = floor + tol.rtol * np.abs(v) * (np.abs(a + e) - np.abs(a))
            hit += judge(res.analytic[p] + v * e, res.numeric[p], res.error[p], floor=fl, k=tol.k).passed
        prob *= hit / W.size
    return float(prob.mean())


def full_tol(f, p, name, a, tol, scale):
    pt = FunctionPoint(lambda q: f(q), {k: v.copy() for k, v in p.items()})
    pt.f0 = pt.value()
    num = function_gradients(pt, [name], noise_scale=scale, accept=_accepts({name: a}, {name: tol}))[name]
    return (tol.floor(num.value) + tol.k * num.error).reshape(-1)


kind, N, s0, ns = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
vlabel = sys.argv[sys.argv.index("--vlabel") + 1] if "--vlabel" in sys.argv else "harness"
validate = int(sys.argv[sys.argv.index("--validate") + 1]) if "--validate" in sys.argv else 0
if kind == "mnist":
    M = reference_models.get("mnist_relu")

    def point(seed):
        rng = np.random.default_rng(seed)
        p = M.init_params(rng)
        x, y = M.example_batch(rng, N)
        return p, x, y, rng

    back = M.backward
else:
    from hand_backprop import two_hidden_relu_backward as back

    SIZES = (64, 32, 32, 10)
    M = nn.Sequential(nn.Dense("W1", "b1"), nn.ReLU(), nn.Dense("W2", "b2"), nn.ReLU(), nn.Dense("W3", "b3"), loss=nn.SoftmaxCrossEntropy())

    def point(seed):
        rng = np.random.default_rng(seed)
        p = {}
        for i, (fi, fo) in enumerate(zip(SIZES[:-1], SIZES[1:]), start=1):
            p[f"W{i}"] = rng.standard_normal((fi, fo)) * np.sqrt(2.0 / fi)
            p[f"b{i}"] = 0.1 * rng.standard_normal(fo)
        return p, rng.standard_normal((N, SIZES[0])), rng.integers(0, SIZES[-1], N), rng


rec = {}
orig = D._measure


def spy(ev, name, lines, a, tol, **kw):
    r = orig(ev, name, lines, a, tol, **kw)
    if name not in rec and all(s == 0 and e == np.asarray(ev.params[name]).size for v, s, e in lines):
        rec[name] = (np.array([v for v, s, e in lines]), r, tol, ev.noise_scale)
    return r


D._measure = spy


def escapes(a, V, res, tol, cnt, e):
    """bool (n,): every counted probe passes with entry i's analytic moved by e[i]."""
    esc = np.ones(a.size, bool)
    for p in np.flatnonzero(cnt):
        v = V[p]
        floor = res.allowed[p] - tol.k * res.error[p]
        fl = floor + tol.rtol * np.abs(v) * (np.abs(a + e) - np.abs(a))
        esc &= judge(res.analytic[p] + v * e, res.numeric[p], res.error[p], floor=fl, k=tol.k).passed
    return esc


out = []
for seed in range(s0, s0 + ns):
    p, x, y, rng = point(seed)
    g = back(p, x, y)
    rec.clear()
    f = lambda q: M.loss(q, x, y)
    r = check_gradients(f, g, p, mode="fast", seed=seed)
    if not r.passed:
        print("FALSE FAILURE", seed)
        continue
    for c in (c for c in r.params if c.mode == "fast"):
        V, res, tol, scale = rec[c.name]
        G = c.guarantee
        R = G.ratio_for(0.01)
        cnt = ~res.kink & ~res.overruled
        a = g[c.name].reshape(-1)
        est = estimate_gradients(M, p, x, y, names=[c.name], workers=1)[c.name]
        htol = (1e-8 * np.abs(est.value) + 4.0 * est.error).reshape(-1)
        s = np.maximum(np.abs(p[c.name]), 1.0).reshape(-1)
        # harness's pick (rng continues from point(), as the harness's does)
        i = int(rng.integers(htol.size))
        sign = float(rng.choice([-1.0, 1.0]))
        row = dict(
            kind=kind,
            N=N,
            seed=seed,
            name=c.name,
            n=a.size,
            R=R,
            bound=G.escape_probability(R),
            counted=int(cnt.sum()),
            pick=i,
            pick_sign=sign,
        )
        labels = [("harness", htol), ("edge", G.unit / s)]
        if "--full" in sys.argv:  # the opaque full mode's own tolerance (slow: every entry of f, one at a time)
            ftol = full_tol(f, p, c.name, g[c.name], tol, scale)
            row["full_over_unit_min"] = float((ftol * s / G.unit).min())
            labels.insert(1, ("full", ftol))
        for label, t in labels:
            row[f"{label}_expected"] = (expected(a, s, res, tol, cnt, R * t) + expected(a, s, res, tol, cnt, -R * t)) / 2
            for mult in (1.0, 2.0):
                e_pos = escapes(a, V, res, tol, cnt, mult * R * t)
                e_neg = escapes(a, V, res, tol, cnt, -mult * R * t)
                row[f"{label}_{mult:g}"] = int(e_pos.sum() + e_neg.sum())
                if label == "harness" and mult == 1.0:
                    row["pick_escaped"] = bool((e_pos if sign > 0 else e_neg)[i])
                    esc_any = e_pos | e_neg
                    if kind == "mnist" and c.name == "W1":  # by input column: large |x| rows of W1
                        xm = np.abs(x).max(axis=0)
                        rows = np.repeat(xm, p["W1"].shape[1])
                        big = rows >= np.quantile(xm, 0.9)
                        zero = rows == 0
                        row["bigx"] = [int(e_pos[big].sum() + e_neg[big].sum()), int(2 * big.sum())]
                        row["zerox"] = [int(e_pos[zero].sum() + e_neg[zero].sum()), int(2 * zero.sum())]
                if validate and label == vlabel and mult == 1.0:
                    vr = np.random.default_rng(1000 + seed)
                    picks = list(vr.choice(np.flatnonzero(e_pos), min(validate, int(e_pos.sum())), replace=False)) + list(
                        vr.choice(np.flatnonzero(~e_pos), validate, replace=False)
                    )
                    for j in picks:
                        gg = {k: v.copy() for k, v in g.items()}
                        gg[c.name].reshape(-1)[j] += R * t[j]
                        rr = check_gradients(f, gg, p, mode="fast", seed=seed)
                        actual = rr[c.name].passed and rr[c.name].mode == "fast"
                        print("validate", seed, c.name, j, "predicted", bool(e_pos[j]), "actual", actual, rr[c.name].mode, flush=True)
        out.append(row)
        print(json.dumps(row), flush=True)
