"""Summarise measure.py's rows: escapes/planted per (net, tensor, size), 95% CI by a bootstrap over seeds
(entries of one seed share its probes), the exact expected rate, and the harness-style one pick per seed
with its Clopper-Pearson interval.  usage: python analyze.py FILE.jsonl..."""

import sys
import json
import numpy as np
import math


def _binom_cdf(k, n, p):
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _solve(f, target):  # f increasing in p on [0, 1]
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if f(mid) < target else (lo, mid)
    return (lo + hi) / 2


rows = list(
    {
        (r["kind"], r["N"], r["seed"], r["name"]): r for r in (json.loads(line) for f in sys.argv[1:] for line in open(f) if line.startswith("{"))
    }.values()
)


def cp(k, n):
    lo = 0.0 if k == 0 else _solve(lambda p: 1 - _binom_cdf(k - 1, n, p), 0.025)
    hi = 1.0 if k == n else _solve(lambda p: 1 - _binom_cdf(k, n, p), 0.975)
    return lo, hi


rng = np.random.default_rng(0)
for key in sorted({(r["kind"], r["name"]) for r in rows}):
    rs = [r for r in rows if (r["kind"], r["name"]) == key]
    seeds = len(rs)
    print(
        f"{key[0]} N={rs[0]['N']} {key[1]} ({rs[0]['n']} entries): {seeds} seeds {min(r['seed'] for r in rs)}.."
        f"{max(r['seed'] for r in rs)}, stated R(0.99) median {np.median([r['R'] for r in rs]):.3g}, "
        f"stated bound mean {np.mean([r['bound'] for r in rs]):.4f}"
    )
    labels = [lab for lab in ("harness", "full", "edge") if f"{lab}_1" in rs[0]]
    for lab in labels:
        for mult in ("1", "2"):
            esc = np.array([r[f"{lab}_{mult}"] for r in rs], float)
            n = np.array([2 * r["n"] for r in rs], float)
            boot = [esc[i].sum() / n[i].sum() for i in (rng.integers(0, seeds, seeds) for _ in range(2000))]
            lo, hi = np.percentile(boot, [2.5, 97.5])
            extra = f"; exact expected {np.mean([r[f'{lab}_expected'] for r in rs]):.4%}" if mult == "1" else ""
            print(
                f"  {lab:7s} tol x{mult}R: {int(esc.sum())}/{int(n.sum())} = {esc.sum() / n.sum():.4%} "
                f"(95% CI {lo:.4%}..{hi:.4%}){extra}; worst seed {np.max(esc / n):.3%}"
            )
    k = sum(r["pick_escaped"] for r in rs)
    lo, hi = cp(k, seeds)
    print(f"  harness pick (one entry per seed, harness tol x1R): {k}/{seeds} escaped (95% CI {lo:.2%}..{hi:.2%})")
    if "bigx" in rs[0]:
        b = np.sum([r["bigx"] for r in rs], axis=0)
        print(f"  W1 rows of the top-10% |x| inputs, harness tol x1R: {b[0]}/{b[1]} = {b[0] / b[1]:.4%}")
picks = [r for r in rows]
k = sum(r["pick_escaped"] for r in picks)
lo, hi = cp(k, len(picks))
print(f"all tensors, harness picks: {k}/{len(picks)} (95% CI {lo:.2%}..{hi:.2%})")
