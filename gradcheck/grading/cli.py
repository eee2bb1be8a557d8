"""``gradcheck grade``: grade submission files or whole directories of them.

::

    gradcheck grade PATH... --model NAME [--assignment FILE] [--json FILE]
        [--gradescope FILE] [--junit FILE] [--feedback DIR] [--csv FILE]
        [--summary FILE] [--lang en|ko] [--seed N] [--jobs N] [--timeout S]
        [--memory MB] [--cache DIR | --no-cache] [--no-shrink] [--quiet]
        [--isolation auto|namespaces|uid|process] [--require-isolation LEVEL]

A directory stands for every ``.py`` and ``.ipynb`` file directly in it.
Submissions are graded in parallel (``--jobs``, default: all cores), each in
its own sandbox; a progress bar runs on stderr.  Every finished result is
stored in a cache directory (default ``.gradcheck-cache``) under a key made
of the file's SHA-256, the model, the seed, the language, the assignment
and the limits, so an interrupted run picks up where it stopped.

Outputs: the terminal report (stdout, unless ``--quiet``), then the class
summary when there is more than one submission; ``--json`` (a list),
``--gradescope`` (``results.json`` of one submission; with several, a
directory of ``NAME.json``), ``--junit``, ``--feedback`` (``NAME.md`` per
submission), ``--csv`` (the gradebook) and ``--summary`` (Markdown).

Exit status: 0 when every submission was graded (whatever the scores),
1 when grading itself failed for at least one submission (the others are
still graded and written), 2 for a usage error, 130 when interrupted.
"""
from __future__ import annotations

from gradcheck._argtypes import positive_float, positive_int
from gradcheck.messages import LANGUAGES
from gradcheck.parallel import WORKERS_ENV
from gradcheck._argtypes import seed as seed_type

import argparse
import hashlib
import json
import os
import sys
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

__all__ = ["register", "run", "collect_files", "cache_key", "UsageError", "SUFFIXES", "DEFAULT_CACHE"]

#: File types a directory contributes.
SUFFIXES: tuple[str, ...] = (".py", ".ipynb")
#: Default cache directory (relative to the working directory).
DEFAULT_CACHE = ".gradcheck-cache"
_CACHE_VERSION = "1"


class UsageError(Exception):
    """A problem with the command line (exit status 2)."""


def register(subparsers: Any) -> None:
    """Add the ``grade`` command to an :mod:`argparse` subparsers object."""
    p = subparsers.add_parser("grade", help="grade student backprop submissions (.py / .ipynb files or directories)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a submission file or a directory of them")
    p.add_argument("--model", metavar="NAME", help="the reference model (or give it in --assignment)")
    p.add_argument("--assignment", metavar="FILE", help="assignment TOML: calling convention, points, limits")
    p.add_argument("--json", metavar="FILE", help="write all results as a JSON list")
    p.add_argument("--gradescope", metavar="FILE", help="write Gradescope results.json (a directory when grading several)")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--feedback", metavar="DIR", help="write Markdown feedback, one file per submission")
    p.add_argument("--csv", metavar="FILE", help="write the CSV gradebook")
    p.add_argument("--summary", metavar="FILE", help="write the class summary as Markdown")
    p.add_argument("--report", metavar="FILE", help="write the class report: one self-contained HTML file (plots with [plot])")
    p.add_argument("--lang", choices=LANGUAGES, default="en", help="language of everything students read")
    p.add_argument("--seed", type=seed_type, default=0, help="seed of the test points (default 0)")
    p.add_argument("--jobs", type=positive_int, default=None, help="parallel submissions (default: all cores)")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="S", help="seconds per call (wall clock and CPU)")
    p.add_argument("--memory", type=positive_int, default=None, metavar="MB", help="memory limit per submission")
    p.add_argument("--cache", metavar="DIR", default=DEFAULT_CACHE, help=f"result cache for resuming (default {DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink failures to small counterexamples")
    p.add_argument("--quiet", action="store_true", help="no report on stdout")
    p.add_argument(
        "--isolation", choices=("auto", "namespaces", "uid", "process"), default="auto",
        help="sandbox isolation level (default auto: the strongest this machine allows; see docs/threat-model.md)",
    )
    p.add_argument("--require-isolation", choices=("namespaces", "uid", "process"), default=None, metavar="LEVEL", help="refuse to grade below this isolation level")
    p.set_defaults(func=run)


def collect_files(paths: Sequence[str | Path]) -> list[Path]:
    """The submission files named by ``paths`` (directories expanded, duplicates removed).

    Raises
    ------
    UsageError
        For a path that does not exist, or when nothing is left to grade.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix in SUFFIXES and not f.name.startswith("."))
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UsageError(f"no such file or directory: {str(p)!r}")
    unique: list[Path] = []
    seen: set[Path] = set()
    for f in out:
        key = f.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    if not unique:
        raise UsageError(f"no .py or .ipynb submissions found in {', '.join(map(str, paths))}")
    return unique


def cache_key(file_hash: str, *, model: str, seed: int, lang: str, shrink: bool, assignment_hash: str, limits: dict[str, Any]) -> str:
    """The cache key of one grading job (SHA-256 of everything that decides its result)."""
    blob = json.dumps(
        {"v": _CACHE_VERSION, "file": file_hash, "model": model, "seed": seed, "lang": lang, "shrink": shrink, "assignment": assignment_hash, "limits": limits},
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def _one_process_numerics() -> None:
    """In a grading pool worker: the jobs already use the CPUs, so the engine must not fork more."""
    os.environ[WORKERS_ENV] = "1"


def _grade_job(
    path: str, model: str | None, seed: int, assignment: str | None, limits: dict[str, Any], lang: str, shrink: bool, isolation: str = "auto"
) -> dict[str, Any]:
    """One submission, in a worker process: the result as a dict (JSON-safe, picklable)."""
    from gradcheck.grading.assignment import Limits
    from gradcheck.grading.pipeline import grade_submission

    result = grade_submission(path, model, seed=seed, assignment=assignment, limits=Limits(**limits), lang=lang, shrink=not not shrink, isolation=isolation)
    return result.to_dict()


def _crash_row(path: str, job_args: tuple[Any, ...], message: str) -> dict[str, Any]:
    """The ``crash`` row of a submission that destroyed its grading worker (every submission gets one row)."""
    from gradcheck.grading.pipeline import crashed_result

    model, seed, assignment, _limits, lang, _shrink, isolation = job_args
    return crashed_result(path, model, seed=seed, assignment=assignment, lang=lang, isolation=isolation, message=message).to_dict()


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _load_cached(path: Path) -> Any:
    from gradcheck.grading.results import SubmissionResult

    try:
        return SubmissionResult.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError):
        return None  # absent or damaged: grade again


def _setup(args: argparse.Namespace) -> tuple[Any, str | None, Any]:
    from gradcheck.grading.assignment import AssignmentError, load_assignment, parse_assignment

    try:
        if args.assignment:
            assignment = load_assignment(args.assignment)
        elif args.model:
            assignment = parse_assignment({"model": args.model})
        else:
            raise UsageError("give the reference model with --model NAME or an --assignment FILE")
    except FileNotFoundError:
        raise UsageError(f"no such assignment file: {args.assignment!r}") from None
    except AssignmentError as exc:
        raise UsageError(str(exc)) from None
    if args.model and args.model != assignment.model:
        raise UsageError(f"--model {args.model} contradicts the assignment's model {assignment.model!r}")
    limits = assignment.limits
    changes: dict[str, Any] = {}
    if args.timeout is not None:
        changes.update(wall_seconds=args.timeout, cpu_seconds=args.timeout)
    if args.memory is not None:
        changes["memory_bytes"] = int(args.memory) << 20
    if changes:
        from dataclasses import replace

        limits = replace(limits, **changes)
    return assignment, args.assignment, limits


def _progress(total: int, quiet: bool) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=Console(stderr=True),
        disable=quiet,
        transient=False,
    )


def run(args: argparse.Namespace) -> int:
    """Run ``gradcheck grade`` (see the module docstring); returns the exit status."""
    from gradcheck.grading.pipeline import file_sha256

    try:
        files = collect_files(args.paths)
        assignment, assignment_path, limits = _setup(args)
    except UsageError as exc:
        print(f"gradcheck grade: error: {exc}", file=sys.stderr)
        return 2
    from gradcheck.grading.isolation import IsolationUnavailable, resolve

    try:
        level = resolve(args.isolation, require=args.require_isolation).level.value
    except IsolationUnavailable as exc:
        print(f"gradcheck grade: error: {exc}", file=sys.stderr)
        return 2
    limits_d = asdict(limits)
    a_hash = file_sha256(assignment_path) if assignment_path else ""
    jobs = args.jobs or os.cpu_count() or 1
    cache = None if args.no_cache else Path(args.cache)
    results: dict[int, Any] = {}
    failures: list[tuple[Path, str]] = []
    todo: list[tuple[int, Path, Path | None]] = []
    for i, f in enumerate(files):
        key_file = None
        if cache is not None:
            key = cache_key(file_sha256(f), model=assignment.model, seed=args.seed, lang=args.lang, shrink=not args.no_shrink, assignment_hash=a_hash, limits=dict(limits_d, isolation=level))
            key_file = cache / f"{key}.json"
            cached = _load_cached(key_file)
            if cached is not None:
                results[i] = cached
                continue
        todo.append((i, f, key_file))
    job_args = (assignment.model, args.seed, assignment_path, limits_d, args.lang, not args.no_shrink, level)
    try:
        with _progress(len(files), args.quiet) as progress:
            task = progress.add_task("", total=len(files), completed=len(results))
            _execute(todo, job_args, jobs, results, failures, lambda name: progress.update(task, advance=1, description=name))
    except KeyboardInterrupt:
        print(f"gradcheck grade: interrupted; {len(results)} of {len(files)} graded (cached results are kept; run again to resume)", file=sys.stderr)
        return 130
    ordered = [results[i] for i in sorted(results)]
    for f, message in failures:
        print(f"gradcheck grade: error: grading {str(f)!r} failed: {message}", file=sys.stderr)
    try:
        _write_outputs(args, ordered)
    except OSError as exc:
        print(f"gradcheck grade: error: cannot write output: {exc}", file=sys.stderr)
        return 1
    return 1 if failures else 0


def _execute(
    todo: list[tuple[int, Path, Path | None]],
    job_args: tuple[Any, ...],
    jobs: int,
    results: dict[int, Any],
    failures: list[tuple[Path, str]],
    advance: Callable[[str], None],
) -> None:
    from gradcheck.grading.results import SubmissionResult

    def done(i: int, f: Path, key_file: Path | None, data: dict[str, Any] | None, error: str) -> None:
        if data is None:
            failures.append((f, error))
        else:
            result = SubmissionResult.from_dict(data)
            results[i] = result
            if key_file is not None:
                _write_atomic(key_file, json.dumps(data, ensure_ascii=False))
        advance(f.name)

    if jobs == 1 or len(todo) <= 1:
        for i, f, key_file in todo:
            try:
                data, error = _grade_job(str(f), *job_args), ""
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                data, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            done(i, f, key_file, data, error)
        return
    broken = _run_pool(todo, job_args, jobs, done)
    for item in broken:  # the pool died under these (a worker killed, out of memory ...): again, each alone
        if _run_pool([item], job_args, 1, done):
            message = "the grading worker process died while grading this submission (it was killed, or ran out of memory)"
            failures.append((item[1], message))
            done(item[0], item[1], None, _crash_row(str(item[1]), job_args, message), "")


def _run_pool(
    items: list[tuple[int, Path, Path | None]],
    job_args: tuple[Any, ...],
    jobs: int,
    done: Callable[[int, Path, Path | None, dict[str, Any] | None, str], None],
) -> list[tuple[int, Path, Path | None]]:
    """Grade ``items`` in a process pool; returns the items a broken pool left ungraded."""
    from concurrent.futures.process import BrokenProcessPool

    pool = ProcessPoolExecutor(max_workers=min(jobs, len(items)), initializer=_one_process_numerics)
    pending: dict[Future[Any], tuple[int, Path, Path | None]] = {}
    broken: list[tuple[int, Path, Path | None]] = []
    try:
        for item in items:
            pending[pool.submit(_grade_job, str(item[1]), *job_args)] = item
        while pending:
            finished, _ = wait(list(pending), return_when=FIRST_COMPLETED)
            for fut in finished:
                i, f, key_file = item = pending.pop(fut)
                try:
                    data, error = fut.result(), ""
                except BrokenProcessPool:
                    broken.append(item)
                    continue
                except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                    data, error = None, f"{type(exc).__name__}: {exc}"
                done(i, f, key_file, data, error)
    except KeyboardInterrupt:
        for fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return sorted(broken, key=lambda it: it[0])


def _write_outputs(args: argparse.Namespace, results: list[Any]) -> None:
    from gradcheck.grading.gradebook import class_summary, render_summary, write_csv
    from gradcheck.grading.render_gradescope import write_gradescope
    from gradcheck.grading.render_json import render_json
    from gradcheck.grading.render_junit import render_junit
    from gradcheck.grading.render_markdown import render_markdown
    from gradcheck.grading.render_text import print_report

    lang = args.lang
    if not args.quiet and results:
        from rich.console import Console

        console = Console(highlight=False)
        print_report(results, console=console, lang=lang)
        if len(results) > 1:
            console.print(render_summary(class_summary(results), lang=lang), markup=False)
    if args.json:
        _write_atomic(Path(args.json), render_json(results))
    if args.junit:
        _write_atomic(Path(args.junit), render_junit(results))
    if args.csv:
        path = Path(args.csv)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_csv(results, path)
    if args.summary:
        _write_atomic(Path(args.summary), render_summary(class_summary(results), fmt="markdown", lang=lang))
    if getattr(args, "report", None):
        from gradcheck.grading.report_html import write_report

        write_report(results, Path(args.report), lang=lang)
    if args.feedback:
        out = Path(args.feedback)
        out.mkdir(parents=True, exist_ok=True)
        for r in results:
            _write_atomic(out / f"{Path(r.submission).name}.md", render_markdown(r, lang=lang))
    if args.gradescope and results:
        target = Path(args.gradescope)
        if len(results) == 1 and target.suffix == ".json":
            target.parent.mkdir(parents=True, exist_ok=True)
            write_gradescope(results[0], target, lang=lang)
        else:
            target.mkdir(parents=True, exist_ok=True)
            for r in results:
                write_gradescope(r, target / f"{Path(r.submission).name}.json", lang=lang)
