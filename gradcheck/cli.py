"""The ``gradcheck`` command line: ``check`` here; ``grade`` and ``template`` from :mod:`gradcheck.grading`."""
from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gradcheck._argtypes import output_file, positive_int, seed
from gradcheck.check import MODES, check_model
from gradcheck.report import format_result, to_dict
from gradcheck.results import CheckResult

__all__ = ["main", "build_parser", "run_check", "version_line"]

#: Random-batch size per model in ``gradcheck check`` (odd on purpose: shapes that
#: hide transposition bugs at N = d are avoided).
DEFAULT_BATCH = 17


def _rows(name: str, seed: int, batch: int, mode: str, workers: int | None = None) -> list[tuple[str, CheckResult | str]]:
    import reference_models

    model = reference_models.get(name)
    rng = np.random.default_rng(seed)
    params = model.init_params(rng)
    points: list[tuple[str, Any]] = []
    try:
        points.append(("notebook", model.notebook_data()))
    except LookupError as exc:  # e.g. MNIST, which cannot be downloaded here
        points.append(("notebook", str(exc).splitlines()[0]))
    points.append((f"random N={batch}", model.example_batch(rng, batch)))
    out: list[tuple[str, CheckResult | str]] = []
    for label, data in points:
        if isinstance(data, str):
            out.append((label, data))
            continue
        out.append((label, check_model(model, params, data[0], data[1], mode=mode, seed=seed,
                                               workers=workers)))
    return out


def _table(rows: list[tuple[str, str, int, CheckResult | str]]) -> str:
    header = ("model", "data", "params", "max rel err", "worst/allowed", "kinks", "verdict", "backprop s", "numeric s")
    lines = []
    for model, data, n, r in rows:
        if isinstance(r, str):
            lines.append((model, data, str(n), "-", "-", "-", "skipped", "-", "-"))
            continue
        lines.append((model, data, str(n), f"{r.max_rel_err:.2e}", f"{r.worst_ratio:.2e}", str(r.n_kinks),
                      "PASS" if r.passed else "FAIL", f"{r.timings.get('backward', 0):.4f}",
                      f"{r.timings.get('numeric', 0):.4f}"))
    widths = [max(len(h), *(len(row[i]) for row in lines)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))
    return "\n".join([fmt(header), fmt(tuple("-" * w for w in widths))] + [fmt(row) for row in lines])


def run_check(args: argparse.Namespace) -> int:
    import reference_models

    names = args.model or list(reference_models.names())
    unknown = [n for n in names if n not in reference_models.names()]
    if unknown:
        print(f"gradcheck check: unknown --model {unknown[0]!r}; known models: {', '.join(reference_models.names())}",
              file=sys.stderr)
        return 2
    rows = []
    t0 = time.perf_counter()
    for name in names:
        n = reference_models.get(name).n_params()
        for label, r in _rows(name, args.seed, args.batch, args.mode, args.workers):
            rows.append((name, label, n, r))
    print(_table(rows))
    skipped = [(m, d, r) for m, d, _, r in rows if isinstance(r, str)]
    for m, d, why in skipped:
        print(f"skipped {m} ({d}): {why}")
    failed = [(m, d, r) for m, d, _, r in rows if not isinstance(r, str) and not r.passed]
    for m, d, r in failed:
        print(f"\n{m} ({d}):\n{format_result(r, only_failures=True)}")
    checked = len(rows) - len(skipped)
    print(f"\n{checked - len(failed)} of {checked} checks passed ({args.mode} mode, seed {args.seed}) "
          f"in {time.perf_counter() - t0:.1f}s")
    if args.json:
        payload = [{"model": m, "data": d, "n_params": n, "skipped": r} if isinstance(r, str)
                   else {"model": m, "data": d, "n_params": n, **to_dict(r)} for m, d, n, r in rows]
        Path(args.json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 1 if failed else 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gradcheck", description="Verify backpropagation against central differences.")
    parser.add_argument("--version", action="version", version=version_line())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="check every reference model (the default command)")
    check.add_argument("--model", action="append", metavar="NAME", help="check only this model (repeatable)")
    check.add_argument("--mode", choices=MODES, default="full", help="full: every entry; fast: random probes")
    check.add_argument("--seed", type=seed, default=0, help="seed of parameters, batches and probes")
    check.add_argument("--batch", type=positive_int, default=DEFAULT_BATCH, help="random batch size")
    check.add_argument("--json", metavar="FILE", type=output_file, help="also write the results as JSON")
    check.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="processes for the numerical side (default: one per CPU, at most 4, for big models)")
    check.set_defaults(func=run_check)
    for command, (module, extra) in OPTIONAL_COMMANDS.items():
        try:
            importlib.import_module(module).register(sub)
        except ModuleNotFoundError as exc:
            if exc.name and (exc.name == module or module.startswith(exc.name + ".")):
                raise  # our own module is missing: a broken install, say so loudly
            _register_unavailable(sub, command, extra, exc.name or str(exc))
    return parser


#: Subcommands whose modules need optional dependencies: command -> (module, extra).
OPTIONAL_COMMANDS = {
    "grade": ("gradcheck.grading.cli", "grading"),
    "template": ("gradcheck.grading.template", "grading"),
    "autograder": ("gradcheck.grading.autograder", "grading"),
    "plot-bench": ("gradcheck.tools.benchplot", "plot"),
}


def _register_unavailable(sub: Any, command: str, extra: str, missing: str) -> None:
    """A stand-in subcommand that explains which optional dependency is missing."""
    def explain(args: argparse.Namespace) -> int:
        print(f"gradcheck {command} needs the optional dependency {missing!r}: "
              f"pip install 'gradcheck[{extra}]'", file=sys.stderr)
        return 2

    stub = sub.add_parser(command, help=f"(needs pip install 'gradcheck[{extra}]')", add_help=True)
    stub.add_argument("rest", nargs=argparse.REMAINDER)
    stub.set_defaults(func=explain)


def version_line() -> str:
    """``gradcheck X.Y.Z (Python A.B.C, numpy D.E.F)``: what ``gradcheck --version`` prints."""
    import platform

    from gradcheck import __version__

    return f"gradcheck {__version__} (Python {platform.python_version()}, numpy {np.__version__})"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv or argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["check", *argv]
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
