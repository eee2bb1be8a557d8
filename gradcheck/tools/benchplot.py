"""Turn a pytest-benchmark JSON of ``benchmarks/`` into a table and a log-log plot.

``pytest --benchmark-only benchmarks/ --benchmark-json BENCH.json`` records,
for every benchmark, ``extra_info`` with ``model``, ``method`` (``backprop``,
``plain_loop``, ``full_check``, ``full_check_1proc``, ``full_check_beside_torch``, ``fast_check``,
``torch_gradcheck``, ``torch_gradcheck_fast``), ``n_params`` and ``batch``.  The plain loop of big
models is timed on a subset of entries and carries
``extra_info["scaled_to_all_entries_s"]``; that scaled value is what is shown
for it here (marked as scaled when ``entries_timed < n_params``).  Every other
time is the benchmark's best round (``stats["min"]``): on a shared machine
other processes only ever add time, so the minimum is the steadiest estimate.

Command line (matplotlib is the optional ``plot`` extra)::

    gradcheck plot-bench BENCH.json -o bench-plot.png [--table]
    python -m gradcheck.tools.benchplot BENCH.json -o bench-plot.png
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

__all__ = [
    "METHODS",
    "Timing",
    "load_timings",
    "summary_table",
    "plot_timings",
    "register",
    "run",
    "main",
]

#: Methods in display order, with their labels.
METHODS: dict[str, str] = {
    "backprop": "backprop",
    "plain_loop": "plain loop",
    "full_check": "full check",
    "full_check_1proc": "full check, 1 process",
    "full_check_beside_torch": "full check beside torch's threads",
    "fast_check": "fast check",
    "torch_gradcheck": "torch gradcheck",
    "torch_gradcheck_fast": "torch gradcheck fast_mode",
    "floor": "floor (compact reference)",
}

_PLOT_EXTRA = 'matplotlib is needed for plot-bench: install the "plot" extra (pip install "gradcheck[plot]")'


@dataclass(frozen=True)
class Timing:
    """One benchmark's time, reduced to what the table and plot need.

    Attributes
    ----------
    model : str
    batch : int
    n_params : int
    method : str
        A key of :data:`METHODS`.
    seconds : float
        The best round (``stats["min"]``); for the plain loop, the value scaled
        to all entries.
    scaled : bool
        True when ``seconds`` was extrapolated from a subset of entries.
    entries_timed : int or None
        Entries actually timed (plain loop only).
    passed : bool or None
        The check's verdict, when the benchmark recorded one.
    """

    model: str
    batch: int
    n_params: int
    method: str
    seconds: float
    scaled: bool = False
    entries_timed: int | None = None
    passed: bool | None = None


def _as_data(bench_json: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(bench_json, Mapping):
        return bench_json
    path = Path(bench_json)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from exc


def load_timings(bench_json: str | Path | Mapping[str, Any]) -> list[Timing]:
    """The timings of a pytest-benchmark JSON written from ``benchmarks/``.

    Parameters
    ----------
    bench_json : path or mapping
        A ``--benchmark-json`` file, or its parsed content.

    Returns
    -------
    list of Timing
        One per benchmark that has ``extra_info["method"]`` among :data:`METHODS`.

    Raises
    ------
    ValueError
        If the file is not a pytest-benchmark JSON, a benchmark lacks
        ``model``/``n_params``/``batch``, or a subsampled plain loop lacks
        ``scaled_to_all_entries_s``.
    """
    data = _as_data(bench_json)
    if not isinstance(data, Mapping) or not isinstance(data.get("benchmarks"), list):
        raise ValueError("not a pytest-benchmark JSON: no 'benchmarks' list")
    out = []
    for bench in data["benchmarks"]:
        info = bench.get("extra_info") or {}
        method = info.get("method")
        if method not in METHODS:
            continue
        missing = [k for k in ("model", "n_params", "batch") if k not in info]
        if missing:
            raise ValueError(f"benchmark {bench.get('name')!r} lacks extra_info {missing}")
        n_params = int(info["n_params"])
        entries = info.get("entries_timed")
        seconds = float(bench["stats"]["min"])
        scaled = False
        if method in ("plain_loop", "torch_gradcheck"):  # both may be timed on sampled entries and scaled
            if "scaled_to_all_entries_s" in info:
                seconds = float(info["scaled_to_all_entries_s"])
                scaled = entries is not None and int(entries) < n_params
            elif entries is not None and int(entries) < n_params:
                raise ValueError(f"benchmark {bench.get('name')!r} timed {entries} of {n_params} entries "
                                 "but records no scaled_to_all_entries_s")
        passed = info.get("passed")
        out.append(Timing(model=str(info["model"]), batch=int(info["batch"]), n_params=n_params, method=method,
                          seconds=seconds, scaled=scaled, entries_timed=None if entries is None else int(entries),
                          passed=None if passed is None else bool(passed)))
    return out


def _fmt_time(seconds: float | None) -> str:
    """``12.3 µs``, ``4.56 ms``, ``7.89 s``; ``-`` when missing."""
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1.0:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def _fmt_ratio(num: float | None, den: float | None) -> str:
    """``4.0x`` below 100, ``1,234x`` above; ``-`` when either side is missing."""
    if num is None or den is None or den <= 0:
        return "-"
    r = num / den
    return f"{r:,.0f}x" if r >= 100 else f"{r:.1f}x"


def _cases(timings: Sequence[Timing]) -> list[tuple[str, int, int, dict[str, Timing]]]:
    """``(model, batch, n_params, {method: timing})`` in first-seen order."""
    cases: dict[tuple[str, int], dict[str, Timing]] = {}
    sizes: dict[tuple[str, int], int] = {}
    for t in timings:
        cases.setdefault((t.model, t.batch), {})[t.method] = t
        sizes[(t.model, t.batch)] = t.n_params
    return [(m, b, sizes[(m, b)], methods) for (m, b), methods in cases.items()]


def summary_table(bench_json: str | Path | Mapping[str, Any]) -> str:
    """A Markdown table of one benchmark run: times per model and the plain-loop ratios.

    Columns: model, params, batch, backprop, plain loop (scaled), full
    check, fast check, plain/full, plain/fast; when the run has
    single-process full checks, also those and plain/full(1 process); when
    it has torch benchmarks, also torch gradcheck (default and
    ``fast_mode``) and plain/torch.  Times are best rounds (``stats["min"]``); a plain loop timed on a subset shows its
    scaled estimate followed by ``†``, explained under the table.  All
    ratios come from the same run.

    Parameters
    ----------
    bench_json : path or mapping
        A ``--benchmark-json`` file, or its parsed content.

    Returns
    -------
    str
        The table (and footnotes), ending with a newline.

    Examples
    --------
    >>> run = {"benchmarks": [
    ...     {"stats": {"min": s}, "extra_info": {"model": "m", "n_params": 9, "batch": 4, "method": k}}
    ...     for k, s in [("backprop", 1e-5), ("plain_loop", 2.0), ("full_check", 0.5), ("fast_check", 0.1)]]}
    >>> print(summary_table(run))  # doctest: +NORMALIZE_WHITESPACE
    | model | params | batch | backprop | plain loop (scaled) | full check | fast check | plain/full | plain/fast |
    |---|---:|---:|---:|---:|---:|---:|---:|---:|
    | m | 9 | 4 | 10.0 µs | 2.00 s | 500.0 ms | 100.0 ms | 4.0x | 20.0x |
    <BLANKLINE>
    """
    timings = load_timings(bench_json)
    torch = any(t.method.startswith("torch") for t in timings)
    serial = any(t.method == "full_check_1proc" for t in timings)
    floor = any(t.method == "floor" for t in timings)
    beside = any(t.method == "full_check_beside_torch" for t in timings)
    header = ["model", "params", "batch", "backprop", "plain loop (scaled)", "full check", "fast check",
              "plain/full", "plain/fast"]
    if serial:
        header += ["full check, 1 process", "plain/full (1 process)"]
    if torch:
        header += ["torch gradcheck", "torch fast_mode", "plain/torch", "torch/full", "torch fast_mode/fast"]
    if floor:
        header += ["floor", "full (1 process)/floor"]
    if beside:
        header += ["full check beside torch's threads", "plain/full (beside torch)"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    notes = []
    for model, batch, n_params, m in _cases(timings):
        sec = {k: t.seconds for k, t in m.items()}
        plain = m.get("plain_loop")
        plain_cell = _fmt_time(sec.get("plain_loop"))
        if plain is not None and plain.scaled and plain.entries_timed:  # scaled implies entries_timed
            plain_cell += " †"
            notes.append(f"† {model} N={batch}: plain loop timed on {plain.entries_timed} of {n_params:,} "
                         f"seeded random entries and scaled by {n_params / plain.entries_timed:,.1f}.")
        failed = [METHODS[k] for k, t in m.items() if t.passed is False]
        if failed:
            notes.append(f"{model} N={batch}: verdict FAIL (on a correct backward) from {', '.join(failed)}.")
        row = [model, f"{n_params:,}", str(batch), _fmt_time(sec.get("backprop")), plain_cell,
               _fmt_time(sec.get("full_check")), _fmt_time(sec.get("fast_check")),
               _fmt_ratio(sec.get("plain_loop"), sec.get("full_check")),
               _fmt_ratio(sec.get("plain_loop"), sec.get("fast_check"))]
        if serial:
            row += [_fmt_time(sec.get("full_check_1proc")), _fmt_ratio(sec.get("plain_loop"), sec.get("full_check_1proc"))]
        if torch:
            torch_cell = _fmt_time(sec.get("torch_gradcheck"))
            tg = m.get("torch_gradcheck")
            if tg is not None and tg.scaled and tg.entries_timed:
                torch_cell += " ‡"
                notes.append(f"‡ {model} N={batch}: torch gradcheck (default mode) timed on {tg.entries_timed} of "
                             f"{n_params:,} seeded random entries and scaled by {n_params / tg.entries_timed:,.1f}.")
            row += [torch_cell, _fmt_time(sec.get("torch_gradcheck_fast")),
                    _fmt_ratio(sec.get("plain_loop"), sec.get("torch_gradcheck")),
                    _fmt_ratio(sec.get("torch_gradcheck"), sec.get("full_check")),
                    _fmt_ratio(sec.get("torch_gradcheck_fast"), sec.get("fast_check"))]
        if floor:
            row += [_fmt_time(sec.get("floor")), _fmt_ratio(sec.get("full_check_1proc"), sec.get("floor"))]
        if beside:
            row += [_fmt_time(sec.get("full_check_beside_torch")),
                    _fmt_ratio(sec.get("plain_loop"), sec.get("full_check_beside_torch"))]
        lines.append("| " + " | ".join(row) + " |")
    text = "\n".join(lines) + "\n"
    if notes:
        text += "\n" + "\n".join(notes) + "\n"
    return text


def plot_timings(bench_json: str | Path | Mapping[str, Any], output: str | Path, *, title: str | None = None) -> Path:
    """Log-log plot of time against parameter count, one series per method.

    Points of the most common batch size are filled; points of other batch
    sizes are hollow, with the same colour and marker.  Methods are dodged
    slightly sideways so that points at the same parameter count stay
    visible.  The plain loop's subsampled points are the scaled estimates,
    marked "scaled" on the plot and in the legend.

    Parameters
    ----------
    bench_json : path or mapping
    output : path
        Image file to write (format from the suffix, e.g. ``.png``).
    title : str, optional

    Returns
    -------
    Path
        ``output``.

    Raises
    ------
    ImportError
        Without matplotlib; the message names the ``plot`` extra.
    ValueError
        When the JSON holds no benchmark of :data:`METHODS`.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(_PLOT_EXTRA) from exc
    timings = load_timings(bench_json)
    if not timings:
        raise ValueError("the benchmark JSON holds no gradcheck benchmark (no extra_info['method'])")
    batches = [t.batch for t in timings]
    main_batch = max(set(batches), key=lambda b: (batches.count(b), -b))
    styles = {"backprop": ("tab:green", "o"), "plain_loop": ("tab:red", "s"), "full_check": ("tab:blue", "D"),
              "full_check_1proc": ("tab:olive", "d"), "full_check_beside_torch": ("tab:brown", "*"),
              "fast_check": ("tab:cyan", "^"), "torch_gradcheck": ("tab:purple", "v"),
              "torch_gradcheck_fast": ("tab:pink", "P"), "floor": ("tab:gray", "x")}
    fig, ax = plt.subplots(figsize=(10, 5.5), dpi=120)
    present = [m for m in METHODS if any(t.method == m for t in timings)]
    for i, method in enumerate(present):
        pts = [t for t in timings if t.method == method]
        label = METHODS[method]
        color, marker = styles[method]
        # methods side by side at the same parameter count: a small sideways dodge
        dodge = 10 ** (0.04 * (i - (len(present) - 1) / 2))
        if method == "plain_loop" and any(t.scaled for t in pts):
            label += " (scaled where marked)"
        for batch in [main_batch] + sorted({t.batch for t in pts} - {main_batch}):
            group = sorted((t for t in pts if t.batch == batch), key=lambda t: t.n_params)
            if not group:
                continue
            hollow = batch != main_batch
            ax.plot([t.n_params * dodge for t in group], [t.seconds for t in group], linestyle="none",
                    marker=marker, markersize=9 if hollow else 7, markerfacecolor="none" if hollow else color,
                    markeredgecolor=color, label=f"{label}, N={batch}")
        for t in pts:
            if t.scaled:
                ax.annotate(f"scaled (N={t.batch})", (t.n_params * dodge, t.seconds), textcoords="offset points",
                            xytext=(-8, 0), ha="right", va="center", fontsize=7, color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("parameters checked (entries; methods dodged slightly sideways)")
    ax.set_ylabel("time (s, best round)")
    ax.set_title(title or "Gradient check time against parameter count")
    ax.grid(True, which="major", alpha=0.4)
    ax.grid(True, which="minor", alpha=0.12)
    ax.legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.tight_layout()
    out = Path(output)
    fig.savefig(out)
    plt.close(fig)
    return out


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bench_json", metavar="BENCH.json", help="a pytest --benchmark-json file from benchmarks/")
    parser.add_argument("-o", "--output", default="bench-plot.png", metavar="FILE",
                        help="image to write (default: bench-plot.png)")
    parser.add_argument("--table", action="store_true", help="also print the Markdown summary table")
    parser.add_argument("--title", default=None, help="plot title")


def register(subparsers: Any) -> None:
    """Add the ``plot-bench`` subcommand to ``gradcheck``'s subparsers.

    Parameters
    ----------
    subparsers : argparse._SubParsersAction
        From ``parser.add_subparsers()``.
    """
    parser = subparsers.add_parser("plot-bench", help="plot a benchmark JSON: check time against parameter count",
                                   description=__doc__.splitlines()[0])
    _add_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Write the plot (and print the table with ``--table``).

    Returns
    -------
    int
        0 on success; 2 for an unreadable JSON or missing matplotlib (the
        message says so on stderr).
    """
    try:
        data = _as_data(args.bench_json)
        if args.table:
            print(summary_table(data), end="")
        out = plot_timings(data, args.output, title=args.title)
    except (OSError, ValueError, ImportError) as exc:
        print(f"gradcheck plot-bench: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gradcheck.tools.benchplot BENCH.json -o plot.png [--table]``."""
    parser = argparse.ArgumentParser(prog="python -m gradcheck.tools.benchplot", description=__doc__.splitlines()[0])
    _add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
