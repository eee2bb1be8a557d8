"""``gradcheck grade``: grade submission files or whole directories of them.

::

    gradcheck grade PATH... --model NAME [--assignment FILE] [--json FILE]
        [--gradescope FILE|DIR] [--junit FILE] [--feedback DIR] [--csv FILE]
        [--summary FILE] [--lang en|ko] [--seed N] [--jobs N] [--timeout S]
        [--memory MB] [--cache DIR | --no-cache] [--regrade errors|all]
        [--id-pattern REGEX] [--blackboard-assignment NAME] [--lms canvas|moodle [--lms-file FILE]]
        [--overrides FILE] [--report FILE] [--scheduler ADDRESS] [--no-shrink] [--quiet]
        [--isolation auto|namespaces|uid|process] [--require-isolation LEVEL]

Each submission is identified by its path relative to the folder given (a
file named on the command line: the path as given) and by the student id
found in it (``--id-pattern``, default a leading run of digits); see
:mod:`gradcheck.grading.identity` for the layouts of a folder (one file per
student, or one folder per student with helper modules).  Submissions are
graded in parallel (``--jobs``, default: all cores), each in its own
sandbox, by worker processes that are the grader's own fresh interpreters
(:mod:`gradcheck.grading._pool`: safe beside any thread of the caller, and
they never re-run the caller's script); a progress bar runs on stderr.  Every finished result is stored in
an authenticated cache (:mod:`gradcheck.grading.cache`, default the
user's ``~/.cache/gradcheck/grades``; signed with the user's own key,
``~/.local/state/gradcheck/cache-key``, never one found in a cache
directory; a ``--cache DIR`` inside a folder being graded is refused), so
an interrupted run picks up where it stopped;
``--regrade errors`` grades again the submissions whose cached verdict is
``error``, ``crash``, ``timeout`` or ``memory``, ``--regrade all`` every one.

Outputs: the terminal report (stdout, unless ``--quiet``), then the class
summary when there is more than one submission; ``--json`` (a list),
``--gradescope`` (a ``FILE.json``: one submission's ``results.json``, the
paths given being that one student's files; otherwise a directory of
``NAME.json``), ``--junit``, ``--feedback`` (``NAME.md`` per submission),
``--csv`` (the gradebook) and ``--summary`` (Markdown).  ``NAME`` is the
student id where one was found (and is unique), else the identity: no
output overwrites another.  ``--lms`` writes a grade import CSV for Canvas
or Moodle (:mod:`gradcheck.grading.lms`; it also sets the default
``--id-pattern`` to that LMS's download naming).  ``--overrides`` applies
manual decisions (:mod:`gradcheck.grading.overrides`) on top of the
grader's results, after the cache, so they survive regrading.
``--scheduler ADDRESS`` grades on a Dask cluster instead of local processes
(:mod:`gradcheck.grading.distributed`): one task per submission, each in a
sandbox on its worker; this process alone writes the outputs and the cache.
The preflight below runs on every worker of the cluster first.

Exit status: 0 when every submission was graded (whatever the scores),
1 when grading itself failed for at least one submission (its row has the
verdict ``error``, 0 points and a message saying the grader failed; the
others are still graded and written), when an output could not be written
(named on stderr; the others are written), or when the ``--lms`` file leaves a submission
out (no student id in its name, or one id on several submissions: each one is named with why;
a class graded without ``--lms`` names every submission without an id too, but exits 0), or when an
``--overrides`` line applies to nobody or to several submissions (each line named, with the close ids),
or when the grading workers could not start
(then nothing is written: no student is given a score for the machine's
failure), 2 for a usage error or for limits too small for the grader's own
sandboxed process (checked before anyone is graded, with a trivial submission:
:mod:`gradcheck.grading.preflight`, on every worker with ``--scheduler``;
nothing is written), 130 when interrupted.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from gradcheck._argtypes import positive_float, positive_int
from gradcheck._argtypes import seed as seed_type
from gradcheck.grading.atomic import write_atomic
from gradcheck.messages import LANGUAGES

__all__ = ["register", "run", "collect_files", "UsageError", "SUFFIXES", "REGRADE_VERDICTS", "GradingJob"]

#: File types a directory contributes.
SUFFIXES: tuple[str, ...] = (".py", ".ipynb")
#: Cached verdicts ``--regrade errors`` grades again (they may come from the machine, not the student).
REGRADE_VERDICTS: frozenset[str] = frozenset({"error", "crash", "timeout", "memory"})


class UsageError(Exception):
    """A problem with the command line (exit status 2)."""


def register(subparsers: Any) -> None:
    """Add the ``grade`` command to an :mod:`argparse` subparsers object."""
    from gradcheck.grading.identity import DEFAULT_ID_PATTERN
    from gradcheck.grading.lms import LMS_FORMATS

    p = subparsers.add_parser("grade", help="grade student backprop submissions (.py / .ipynb files or directories)")
    p.add_argument("paths", nargs="+", metavar="PATH", help="a submission file, or a folder of them (one file or one folder per student); students' files or "
                   "folders given one by one (downloads/*) are read as their folder is")
    p.add_argument("--model", metavar="NAME", help="the reference model (or give it in --assignment)")
    p.add_argument("--assignment", metavar="FILE", help="assignment TOML: calling convention, points, limits")
    p.add_argument("--json", metavar="FILE", help="write all results as a JSON list")
    p.add_argument("--gradescope", metavar="FILE", help="write Gradescope results: FILE.json for one student's submission, else a directory")
    p.add_argument("--junit", metavar="FILE", help="write JUnit XML")
    p.add_argument("--feedback", metavar="DIR", help="write Markdown feedback, one file per submission")
    p.add_argument("--csv", metavar="FILE", help="write the CSV gradebook")
    p.add_argument("--summary", metavar="FILE", help="write the class summary as Markdown")
    p.add_argument("--report", metavar="FILE", help="write the class report: one self-contained HTML file (plots with [plot])")
    p.add_argument("--lang", choices=LANGUAGES, default=None, help="language of everything students read (default: the assignment's, else en)")
    p.add_argument("--seed", type=seed_type, default=None, help="seed of the test points (default: the assignment's, else 0)")
    p.add_argument("--jobs", type=positive_int, default=None, help="parallel submissions (default: all cores)")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="S", help="seconds per call (wall clock and CPU)")
    p.add_argument("--memory", type=positive_int, default=None, metavar="MB", help="memory limit per submission")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="result cache for resuming (default $XDG_CACHE_HOME/gradcheck/grades, else ~/.cache/gradcheck/grades; "
                        "never inside a folder being graded)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument("--regrade", choices=("errors", "all"), default=None,
                   help="grade again what the cache holds: errors (verdict error, crash, timeout or memory) or all")
    p.add_argument("--id-pattern", metavar="REGEX", default=None,
                   help=f"regular expression of the student id in a file or folder name (first group, if any; default {DEFAULT_ID_PATTERN!r}, "
                        "or the LMS's download naming with --lms)")
    p.add_argument("--blackboard-assignment", metavar="NAME", default="",
                   help="the assignment's name as Blackboard writes it at the start of its file names ('Homework 1' in "
                        "'Homework 1_kim_j_attempt_...'): what follows it is the username (without receipts .txt it is otherwise a guess)")
    p.add_argument("--lms", choices=LMS_FORMATS, default=None, help="also write a grade import CSV for this LMS (--lms-file)")
    p.add_argument("--lms-file", metavar="FILE", default=None, help="where --lms writes (default LMS-grades.csv)")
    p.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="grade on a Dask distributed cluster (tcp://host:8786; needs pip install 'gradcheck[distributed]')")
    p.add_argument("--overrides", metavar="FILE", default=None,
                   help="CSV of manual decisions (student_id, parameter or total, score, reason), applied on top of every run")
    p.add_argument("--no-shrink", action="store_true", help="do not shrink failures to small counterexamples")
    p.add_argument("--quiet", action="store_true", help="no report on stdout")
    p.add_argument("--isolation", choices=("auto", "namespaces", "uid", "process"), default="auto",
                   help="sandbox isolation level (default auto: the strongest this machine allows; see docs/threat-model.md)")
    p.add_argument("--require-isolation", choices=("namespaces", "uid", "process"), default=None, metavar="LEVEL",
                   help="refuse to grade below this isolation level (namespaces, uid or process)")
    p.set_defaults(func=run)


def collect_files(paths: Sequence[str | Path]) -> list[Path]:
    """The submission files named by ``paths`` (one file per student; see :func:`gradcheck.grading.identity.collect_submissions`).

    Raises
    ------
    UsageError
        For a path that does not exist, or when nothing is left to grade.
    """
    from gradcheck.grading.identity import SubmissionsError, collect_submissions

    try:
        return [s.path for s in collect_submissions(paths) if s.path is not None]
    except SubmissionsError as exc:
        raise UsageError(str(exc)) from None


@dataclass(frozen=True)
class GradingJob:
    """One submission to grade, as a worker (a local process or a Dask task) receives it.

    Plain data only: it crosses process and machine boundaries.
    """

    path: str
    extra_files: tuple[str, ...]
    identity: str
    student_id: str
    model: str
    seed: int
    assignment: str | None
    limits: dict[str, Any]
    lang: str
    shrink: bool
    isolation: str = "auto"


def grade_job(job: GradingJob) -> dict[str, Any]:
    """One submission, in a worker process: the result as a dict (JSON-safe, picklable)."""
    from gradcheck.grading.assignment import Limits
    from gradcheck.grading.pipeline import grade_submission

    result = grade_submission(
        job.path, job.model, seed=job.seed, assignment=job.assignment, limits=Limits(**job.limits), lang=job.lang,
        shrink=job.shrink, name=job.identity, extra_files=job.extra_files, isolation=job.isolation,
    )
    return replace(result, student_id=job.student_id).to_dict()


def _crash_row(job: GradingJob, message: str) -> dict[str, Any] | None:
    """The ``crash`` row of a submission that destroyed its grading worker (every submission gets exactly one row)."""
    from gradcheck.grading.pipeline import crashed_result

    try:
        return crashed_result(
            job.path, job.model, seed=job.seed, assignment=job.assignment, lang=job.lang, isolation=job.isolation, message=message, name=job.identity,
        ).to_dict()
    except Exception:  # noqa: BLE001 - the recorder makes the grader's failure row instead (every submission gets one)
        return None


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
        TextColumn("{task.description}", markup=False),  # a file name is the student's text, never rich markup
        console=Console(stderr=True),
        disable=quiet,
        transient=False,
    )


@dataclass
class _Batch:
    """What one ``grade`` run works on (the coordinating process's state)."""

    submissions: list[Any]
    assignment: Any
    assignment_path: str | None
    limits: Any
    seed: int
    lang: str
    shrink: bool
    cache: Any
    results: dict[int, Any]
    failures: list[tuple[str, str]]
    inputs: dict[int, dict[str, Any]]  # what each job's result depends on (its cache key's preimage)


def _isolation_level(args: argparse.Namespace) -> str:
    """The sandbox's isolation level for the cache key (``process`` until the sandbox reports another)."""
    level = getattr(args, "isolation", None)
    return str(level) if level else "process"


def _assignment_identity(assignment: Any, path: str | None) -> dict[str, Any]:
    """What identifies the assignment in a cache key: its file's bytes, the parsed assignment
    (so ``--model`` alone, with its default options, is covered too) and the notebook data the
    submissions are called at (``$GRADCHECK_MNIST`` set or not: :func:`~gradcheck.grading.pipeline.notebook_data_identity`)."""
    from gradcheck.grading.assignment import dump_assignment
    from gradcheck.grading.pipeline import file_sha256, notebook_data_identity

    return {"file": file_sha256(path) if path else "", "parsed": dump_assignment(assignment),
            "model_options": dict(assignment.model_options), "data": notebook_data_identity(assignment.reference_model())}


def _id_pattern(args: argparse.Namespace) -> str:
    from gradcheck.grading.identity import DEFAULT_ID_PATTERN
    from gradcheck.grading.lms import ID_PATTERNS

    if args.id_pattern is not None:
        return str(args.id_pattern)
    return ID_PATTERNS[args.lms] if args.lms else DEFAULT_ID_PATTERN


def _collect(args: argparse.Namespace, assignment: Any) -> list[Any]:
    from gradcheck.grading.identity import Entry, collect_submissions, skipped_outputs

    options = {"id_pattern": _id_pattern(args), "file_pattern": getattr(assignment, "file", None), "model": assignment.model,
               "needs": Entry.of(assignment.spec), "blackboard_assignment": getattr(args, "blackboard_assignment", "") or ""}
    outputs = _outputs(args)
    own = skipped_outputs(args.paths, outputs)
    if own:  # grade . --feedback feedback: the second run would grade feedback/ as a student
        print(f"gradcheck grade: note: not read as submissions: this run's own outputs {', '.join(map(repr, own))}", file=sys.stderr)
    subs = collect_submissions(args.paths, skip=outputs, **options)
    if _gradescope_file(args) is not None and len(subs) > 1:
        # a results.json is one student's: the paths given are that student's files
        subs = collect_submissions(args.paths, single=True, **options)
    return subs


def _outputs(args: argparse.Namespace) -> list[str]:
    """Every path this run writes (its files and folders, the cache): never read as a submission."""
    named = [args.json, args.junit, args.csv, args.summary, getattr(args, "report", None), args.feedback, args.gradescope,
             None if args.no_cache else _cache_dir(args)]
    if args.lms:
        named.append(args.lms_file or f"{args.lms}-grades.csv")
    return [str(p) for p in named if p]


def _gradescope_file(args: argparse.Namespace) -> Path | None:
    """``--gradescope FILE.json``: one student's results.json (else ``None``: none, or a directory)."""
    gs = getattr(args, "gradescope", None)
    if gs and Path(gs).suffix.lower() == ".json" and not Path(gs).is_dir():
        return Path(gs)
    return None


def _fail(args: argparse.Namespace, status: int, message: str = "") -> int:
    """Stop with ``status`` (after printing ``message``); ``--gradescope FILE.json`` still gets its one file, saying why it is 0."""
    from gradcheck.grading.render_gradescope import write_grader_failure

    if message:
        _say(f"gradcheck grade: error: {message}")  # it may quote a file name
    target = _gradescope_file(args)
    if target is not None:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            write_grader_failure(target, message or f"the grader stopped with exit status {status}; see its log")
        except OSError as exc:
            print(f"gradcheck grade: error: cannot write {str(target)!r}: {exc}", file=sys.stderr)
    return status


def _load_overrides(args: argparse.Namespace, assignment: Any) -> list[Any]:
    from gradcheck.grading.overrides import OverridesError, load_overrides

    if not args.overrides:
        return []
    try:
        return load_overrides(args.overrides, parameters=list(assignment.reference_model().param_shapes))
    except FileNotFoundError:
        raise UsageError(f"no such overrides file: {args.overrides!r}") from None
    except (OverridesError, UnicodeDecodeError) as exc:
        raise UsageError(f"--overrides: {exc}") from None


def as_row(result: Any, sub: Any, what: str) -> Any:
    """``result`` (of the file ``sub`` names, fresh or cached) as the class's row of ``sub``: its identity, student id,
    the file graded and, when the class decided which file that is, why (a note for the student, after the others;
    ``what``: what the assignment calls)."""
    from gradcheck.grading.identity import usual_note

    why = usual_note(sub, what, result.lang)
    return replace(result, submission=sub.identity, student_id=sub.student_id, graded_file=sub.graded_name,
                   messages=result.messages + ((why,) if why else ()))


def _plan(args: argparse.Namespace, batch: _Batch) -> list[tuple[int, GradingJob]]:
    """Cached results into ``batch.results``, refused submissions too; the jobs left to grade."""
    from gradcheck.grading.cache import cache_inputs, cache_key
    from gradcheck.grading.pipeline import file_sha256, refused_result
    from gradcheck.grading.sandbox import helper_name

    a_ident = _assignment_identity(batch.assignment, batch.assignment_path)
    limits_d = asdict(batch.limits)
    options = {"seed": batch.seed, "lang": batch.lang, "shrink": batch.shrink, "limits": limits_d, "isolation": _isolation_level(args)}
    todo: list[tuple[int, GradingJob]] = []
    for i, sub in enumerate(batch.submissions):
        if sub.path is None:
            why = "; ".join((sub.problem or "nothing to grade", *sub.notes))  # the student reads what else was not graded too
            batch.results[i] = refused_result(sub.identity, why, batch.assignment, seed=batch.seed, lang=batch.lang, student_id=sub.student_id)
            continue
        extra = {helper_name(f, sub.path.parent): file_sha256(f) for f in sub.extra_files}  # lib/act.py and act.py are two files
        inputs = cache_inputs(content=file_sha256(sub.path), identity=sub.identity, assignment=a_ident, options=options, extra=extra)
        batch.inputs[i] = inputs
        if batch.cache is not None and args.regrade != "all":
            cached = batch.cache.get(cache_key(inputs), inputs)
            if cached is not None and not (args.regrade == "errors" and cached.verdict in REGRADE_VERDICTS):
                batch.results[i] = as_row(cached, sub, batch.assignment.spec.entry_name)
                continue
        job = GradingJob(str(sub.path), tuple(str(f) for f in sub.extra_files), sub.identity, sub.student_id, batch.assignment.model,
                         batch.seed, batch.assignment_path, limits_d, batch.lang, batch.shrink, _isolation_level(args))
        todo.append((i, job))
    return todo


def run(args: argparse.Namespace) -> int:
    """Run ``gradcheck grade`` (see the module docstring); returns the exit status."""
    from gradcheck.grading.identity import SubmissionsError, staged
    from gradcheck.grading.isolation import IsolationUnavailable, adopt_orphans, resolve
    from gradcheck.grading.preflight import answer_key_exposure

    try:
        _check_options(args)
        assignment, assignment_path, limits = _setup(args)
        subs = _collect(args, assignment)
        rules = _load_overrides(args, assignment)
    except (UsageError, SubmissionsError) as exc:
        return _fail(args, 2, str(exc))
    requested = getattr(args, "isolation", "auto")
    try:  # the level actually used: in the cache key, the jobs and every report
        iso = resolve(requested, require=getattr(args, "require_isolation", None))
    except IsolationUnavailable as exc:
        return _fail(args, 2, str(exc))
    args.isolation = iso.level.value
    if requested == "auto" and args.isolation == "process":
        print(_weak_isolation_warning(), file=sys.stderr)
    exposed = answer_key_exposure(iso)
    if exposed:
        print(f"gradcheck grade: {exposed}", file=sys.stderr)
    try:
        cache = _open_cache(args)
    except UsageError as exc:
        return _fail(args, 2, str(exc))
    except OSError as exc:
        return _fail(args, 2, f"cannot use the cache {str(_cache_dir(args))!r}: {exc}")
    with staged(subs) as local:  # helper modules under the names they are imported by, while grading
        batch = _Batch(local, assignment, assignment_path, limits, assignment.seed if args.seed is None else args.seed,
                       args.lang or assignment.lang, not args.no_shrink, cache, {}, [], {})
        todo = _plan(args, batch)
        _warn_rejected(batch)
        stop = _preflight(args, batch) if todo else None
        if stop is None:
            with adopt_orphans(args.isolation):  # process: what a submission left running dies before any output is written
                stop = _grade(args, batch, todo)
    if stop is not None:
        return _fail(args, stop)
    batch.results = {i: replace(r, review=batch.submissions[i].review) for i, r in batch.results.items()}  # never cached: this run's reading
    _warn(batch)
    _warn_ids(args, batch)
    _warn_guessed_ids(args, batch)
    try:
        unapplied = _apply_overrides(batch, rules)
        left_out = _write_outputs(args, batch)
    except (OSError, ValueError) as exc:
        return _fail(args, 1, f"cannot write output: {exc}")
    return 1 if batch.failures or left_out or unapplied else 0


def _weak_isolation_warning() -> str:
    """What ``--isolation auto`` falling back to ``process`` means, and how to get a stronger level."""
    from gradcheck.grading.isolation import Level, available_levels

    why = available_levels()
    return (
        "gradcheck grade: WARNING: --isolation auto resolved to 'process': the submissions run as your own user, so the "
        "grades of this run are not tamper-proof (a hostile submission can rewrite results, outputs and the cache). "
        f"'uid' is unavailable: {why[Level.UID]}; 'namespaces' is unavailable: {why[Level.NAMESPACES]}. "
        "Grade untrusted code at 'uid' (run as root on Linux with util-linux) or 'namespaces' (root, or unprivileged user "
        "namespaces), and add --require-isolation uid; see docs/threat-model.md"
    )


def _cache_dir(args: argparse.Namespace) -> Path:
    """The run's cache directory: ``--cache DIR``, else the user's own (:func:`~gradcheck.grading.cache.default_cache_dir`)."""
    from gradcheck.grading.cache import default_cache_dir

    return Path(args.cache) if args.cache else default_cache_dir()


def _open_cache(args: argparse.Namespace) -> Any:
    """The run's :class:`ResultCache`; ``None`` with ``--no-cache``, at ``process`` and inside a folder being graded (each with a warning).

    At ``process`` the code under grade runs as the grader's user and could
    read the grader's cache key, then sign a forged entry: such a cache is
    neither read nor written, and the key is deleted first (caches made
    under it are graded afresh by the next run at a stronger level).

    Raises
    ------
    UsageError
        When ``--cache DIR`` lies inside a folder being graded (the default
        directory or the key there: a warning, and no cache).
    OSError
        When the directory or the key cannot be made, read or trusted
        (:class:`~gradcheck.grading.cache.CacheKeyError`).
    """
    from gradcheck.grading.cache import ResultCache, key_path, retire_key

    if args.no_cache:
        return None
    directory = _cache_dir(args)
    if args.isolation == "process":
        retired = retire_key()
        print(f"gradcheck grade: warning: the cache {str(directory)!r} is neither read nor written at isolation 'process': the code "
              f"under grade runs as your user and could read the cache key {str(key_path())!r}, then sign a forged grade (use 'uid' or "
              f"'namespaces' to cache){'; that key was deleted, so a later run grades its cached results afresh' if retired else ''}",
              file=sys.stderr)
        return None
    found = _graded_folder_holding(args.paths, [directory, key_path()])
    if found is not None:
        what, folder = found
        thing = "directory" if what == directory else "key"
        if args.cache and thing == "directory":
            raise UsageError(f"--cache {args.cache}: the cache directory lies inside {str(folder)!r}, a folder being graded, where whoever "
                             "handed it in could have put entries; give --cache a directory outside it (or leave --cache out for your "
                             "own cache), or grade with --no-cache")
        print(f"gradcheck grade: warning: the cache {thing} {str(what)!r} lies inside {str(folder)!r}, a folder being graded: the cache "
              "is not used (set XDG_CACHE_HOME / XDG_STATE_HOME or --cache outside it)", file=sys.stderr)
        return None
    _note_old_layout(directory, given=bool(args.cache))
    return ResultCache(directory)


def _note_old_layout(directory: Path, *, given: bool) -> None:
    """One note when a cache of the layout before the per-user key is in view: its key and entries are not trusted (rt26 F9)."""
    from gradcheck.grading.cache import key_path

    old = directory if given else Path(".gradcheck-cache")
    if (old / ".hmac-key").exists():
        print(f"gradcheck grade: note: {str(old)!r} holds a key of its own (.hmac-key: a cache of gradcheck's former layout, or one "
              f"someone else made): not trusted; the cache is {str(directory)!r}, signed with your key {str(key_path())!r} only",
              file=sys.stderr)


def _graded_folder_holding(paths: Sequence[str], candidates: Sequence[Path]) -> tuple[Path, Path] | None:
    """The first of ``candidates`` inside a folder being graded (a folder given, or the folder of a file given), with that folder."""
    folders = [p if p.is_dir() else p.parent for p in (Path(os.path.realpath(x)) for x in paths)]
    for cand in candidates:
        real = Path(os.path.realpath(cand))
        for folder in folders:
            if real == folder or folder in real.parents:
                return cand, folder
    return None


def _warn_rejected(batch: _Batch) -> None:
    """One warning for the cache entries found but not served (another key's, damaged, or made from other files)."""
    from gradcheck.grading.cache import key_path

    n = getattr(batch.cache, "rejected", 0)
    if n:
        print(f"gradcheck grade: warning: {n} cached result{'s' if n != 1 else ''} in {str(batch.cache.directory)!r} "
              f"{'were' if n != 1 else 'was'} not signed with your cache key ({str(key_path())!r}), {'were' if n != 1 else 'was'} "
              "damaged or did not match the files graded: ignored, graded afresh", file=sys.stderr)


def _say(text: str) -> None:
    """``text`` on stderr, through :func:`~gradcheck.grading.safetext.safe_text`: it quotes submissions' names and problems (rt26 F6)."""
    from gradcheck.grading.safetext import safe_text

    print(safe_text(text), file=sys.stderr)


def _warn(batch: _Batch) -> None:
    """What the instructor must know about the run: failures, refused students, older attempts left out, ids used twice."""
    from gradcheck.grading.identity import usual_note

    for identity, message in batch.failures:
        _say(f"gradcheck grade: error: grading {identity!r} failed (its row says the grader failed, 0 points until graded again): {message}")
    for sub in batch.submissions:
        if sub.path is None:  # what else of the student's is not graded is said on the same line
            _say(f"gradcheck grade: warning: {sub.identity!r} was not graded: {'; '.join((str(sub.problem), *sub.notes))}")
        if sub.superseded:
            _say(f"gradcheck grade: warning: {sub.identity!r} is the student's latest attempt; older attempts not graded: "
                 f"{', '.join(sub.superseded)}")
        usual = usual_note(sub, batch.assignment.spec.entry_name)
        for note in (*sub.notes, *((usual,) if usual else ())) if sub.path is not None else ():
            _say(f"gradcheck grade: warning: {sub.identity!r} is graded; {note}")
    ids: dict[str, list[str]] = {}
    for sub in batch.submissions:
        if sub.student_id:
            ids.setdefault(sub.student_id, []).append(sub.identity)
    for sid, identities in ids.items():
        if len(identities) > 1:
            _say(f"gradcheck grade: warning: student id {sid} has {len(identities)} submissions ({', '.join(map(repr, identities))}): "
                 "each is a row of the gradebook; keep one (an LMS import refuses them), or, if they are different students, "
                 "give an --id-pattern that tells them apart (an override of this id is applied to none of them)")


#: Submissions named in the one-line warning about a class with no student ids (the rest are counted).
ID_WARN_NAMES = 5


def _warn_guessed_ids(args: argparse.Namespace, batch: _Batch) -> None:
    """One warning per cut of the Blackboard file names that may be wrong (:attr:`Submission.id_guess`): the part cut off, the ids, the fixes."""
    guessed: dict[str, list[str]] = {}
    for sub in batch.submissions:
        if "id_guessed" in sub.review:
            guessed.setdefault(sub.id_guess, []).append(sub.student_id)
    given = getattr(args, "blackboard_assignment", "")
    for prefix, ids in guessed.items():
        shown = ", ".join(map(repr, ids[:ID_WARN_NAMES])) + (f" and {len(ids) - ID_WARN_NAMES} more" if len(ids) > ID_WARN_NAMES else "")
        longer = f"{prefix.rstrip('_').rsplit('_', 1)[-1]}_{ids[0]}"  # the username if the assignment's name ends one "_" earlier
        why = (f"their names do not start with --blackboard-assignment {given!r} and an underscore" if given else
               "no receipt .txt names the username, and the assignment's name may end earlier, the usernames being longer "
               f"({longer!r}, not {ids[0]!r}?)" if prefix else "the file names share no assignment's name")
        print(f"gradcheck grade: warning: Blackboard student ids guessed: {shown}, what follows {prefix!r}, taken for the "
              f"assignment's name; but {why}. Keep Blackboard's receipts (.txt) beside the files, or give the assignment's "
              "name (--blackboard-assignment 'NAME', as it starts the file names), or an --id-pattern; these students are "
              "listed under \"Submissions that need a human look\"", file=sys.stderr)


def _warn_ids(args: argparse.Namespace, batch: _Batch) -> None:
    """Every student of a class without a student id, with why and what to do (with ``--lms``, :func:`_write_lms` names them)."""
    from gradcheck.grading.lms import no_id_reason

    if args.lms or len(batch.submissions) < 2:  # one file checked alone has no gradebook to import
        return
    missing = [sub.identity for sub in batch.submissions if not sub.student_id]
    if missing and len(missing) == len(batch.submissions):  # a class named without ids: one line, not one per student
        shown = ", ".join(map(repr, missing[:ID_WARN_NAMES])) + (f" and {len(missing) - ID_WARN_NAMES} more"
                                                                  if len(missing) > ID_WARN_NAMES else "")
        _say(f"gradcheck grade: warning: none of the {len(missing)} submissions has a student id "
             f"({no_id_reason(missing[0], id_pattern=args.id_pattern)}): {shown}; the gradebook's student_id "
             "column is empty")
        return
    for identity in missing:  # some have ids: the ones without are the odd ones out, each named
        _say(f"gradcheck grade: warning: {identity!r} has no student id ({no_id_reason(identity, id_pattern=args.id_pattern)}): "
             "its gradebook row has an empty student_id")


def _check_options(args: argparse.Namespace) -> None:
    """Options that mean nothing without another one: a usage error, never silently ignored."""
    if getattr(args, "lms_file", None) and not getattr(args, "lms", None):
        raise UsageError(f"--lms-file {args.lms_file} needs --lms canvas|moodle (which LMS the file is for); without --lms nothing is written there")


def _preflight(args: argparse.Namespace, batch: _Batch) -> int | None:
    """Exit status 2 with the error when the grader's own child cannot work under the run's limits (:mod:`.preflight`)."""
    from gradcheck.grading.preflight import preflight

    if args.scheduler:  # on every worker of the cluster: its machines may differ from this one
        from gradcheck.grading.distributed import preflight_on_cluster

        try:
            error = preflight_on_cluster(args.scheduler, batch.assignment, batch.limits, isolation=args.isolation, seed=batch.seed)
        except (ImportError, OSError) as exc:
            return _cannot_run(exc)
    else:
        error = preflight(batch.assignment.reference_model(), batch.limits, isolation=args.isolation, seed=batch.seed)
    if error is None:
        return None
    print(f"gradcheck grade: error: {error}\ngradcheck grade: nobody was graded and nothing was written", file=sys.stderr)
    return 2


def _cannot_run(exc: ImportError | OSError) -> int:
    """Exit status 2, saying why: ``[distributed]`` is missing for ``--scheduler``, or an ``OSError`` (an unreachable scheduler)."""
    if isinstance(exc, ImportError):
        print(f"gradcheck grade: error: --scheduler needs the optional dependency {exc.name!r}: pip install 'gradcheck[distributed]'", file=sys.stderr)
    else:
        print(f"gradcheck grade: error: {exc}", file=sys.stderr)
    return 2


def _grade(args: argparse.Namespace, batch: _Batch, todo: list[tuple[int, GradingJob]]) -> int | None:
    """Grade ``todo`` into ``batch`` (progress bar, pool or cluster); the exit status to stop with, ``None`` to go on."""
    from gradcheck.grading._pool import PoolError
    from gradcheck.grading.safetext import safe_text

    jobs = args.jobs or os.cpu_count() or 1
    try:
        with _progress(len(batch.submissions), args.quiet) as progress:
            task = progress.add_task("", total=len(batch.submissions), completed=len(batch.results))
            advance = lambda name: progress.update(task, advance=1, description=safe_text(name))  # noqa: E731
            if args.scheduler:
                from gradcheck.grading.distributed import run_on_cluster

                run_on_cluster(todo, args.scheduler, _recorder(batch), advance)
            else:
                _execute(todo, jobs, _recorder(batch), advance)
    except (ImportError, OSError) as exc:
        return _cannot_run(exc)
    except PoolError as exc:
        print(f"gradcheck grade: error: {exc}\ngradcheck grade: nothing was written; {len(batch.results)} of {len(batch.submissions)} submissions "
              f"were graded ({_kept(batch)}): run again once the cause is fixed", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"gradcheck grade: interrupted; {len(batch.results)} of {len(batch.submissions)} graded ({_kept(batch)}; run again to resume)", file=sys.stderr)
        return 130
    return None


def _kept(batch: _Batch) -> str:
    return "kept in the cache" if batch.cache is not None else "not kept: no cache in this run"


def _apply_overrides(batch: _Batch, rules: list[Any]) -> int:
    """Manual decisions on top of the grader's results (never cached: they survive regrading); returns how many were not applied:
    their id names no submission, or several (each named: an error, never a decision silently lost or given to the wrong student)."""
    from gradcheck.grading.overrides import apply_all, close_ids, shared_rules

    if not rules:
        return 0
    shared = shared_rules(batch.results, rules)
    graded = dict(batch.results)
    batch.results, unused = apply_all(batch.results, rules)
    for rule in unused:
        close = close_ids(rule.student_id, graded)
        print(f"gradcheck grade: error: overrides line {rule.line}: no submission has the student id {rule.student_id!r} (nor that "
              f"file or folder name), so it is applied to nobody; {'close ids: ' + ', '.join(map(repr, close)) if close else 'no id is close'}"
              "; give the id the gradebook's student_id column shows (or the file or folder name), or fix the ids (Blackboard: keep the "
              "receipts .txt, --blackboard-assignment; else --id-pattern)", file=sys.stderr)
    for rule, names in shared:
        print(f"gradcheck grade: error: overrides line {rule.line}: {rule.student_id!r} names {len(names)} submissions "
              f"({', '.join(map(repr, names))}), so it is applied to none: give the one meant by its file or folder name as "
              "student_id (or an --id-pattern that tells the students apart)", file=sys.stderr)
    return len(shared) + len(unused)


Done = Callable[[int, GradingJob, "dict[str, Any] | None", str], None]


def _recorder(batch: _Batch) -> Done:
    """The coordinator's callback for a finished job: keeps the result and writes the cache (workers never do)."""
    from gradcheck.grading.cache import cache_key
    from gradcheck.grading.results import SubmissionResult

    def done(i: int, job: GradingJob, data: dict[str, Any] | None, error: str) -> None:
        try:
            result = None if data is None else replace(SubmissionResult.from_dict(data), submission=job.identity, student_id=job.student_id)
        except (KeyError, TypeError, ValueError) as exc:
            result, error = None, f"the grading worker sent back an unreadable result: {type(exc).__name__}: {exc}"
        if result is None:
            batch.failures.append((job.identity, error))
            batch.results[i] = _failure_row(batch, job, error)
            return
        batch.results[i] = as_row(result, batch.submissions[i], batch.assignment.spec.entry_name)
        if batch.cache is not None:  # the file's own result: which file the class's names decided is added on every run
            batch.cache.put(cache_key(batch.inputs[i]), result, batch.inputs[i])

    return done


def _failure_row(batch: _Batch, job: GradingJob, error: str) -> Any:
    """The row of a submission whose grading raised in the grader (rt26 F8): verdict ``error``, 0, "the grader failed".

    Never cached (the next run grades it again); the run exits with status 1.
    Every submission gets exactly one row: a missing row would keep an old
    grade in the LMS, which a student with a wrong answer could prefer.
    """
    from gradcheck.grading.pipeline import grader_failure_result

    return grader_failure_result(job.identity, error, batch.assignment, seed=batch.seed, lang=batch.lang, student_id=job.student_id)


def _execute(todo: list[tuple[int, GradingJob]], jobs: int, done: Done, advance: Callable[[str], None]) -> None:
    def finish(i: int, job: GradingJob, data: dict[str, Any] | None, error: str) -> None:
        done(i, job, data, error)
        advance(job.identity)

    if jobs == 1 or len(todo) <= 1:
        for i, job in todo:
            try:
                data, error = grade_job(job), ""
            except KeyboardInterrupt:
                raise
            except Exception as exc:  # noqa: BLE001 - one submission never stops the others
                data, error = None, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
            finish(i, job, data, error)
        return
    from gradcheck.grading._pool import run_pool

    broken = run_pool(todo, jobs, finish)
    for item in broken:  # their worker died under them (killed, out of memory ...): again, each alone
        if run_pool([item], 1, finish):
            message = "the grading worker process died while grading this submission (it was killed, or ran out of memory)"
            finish(item[0], item[1], _crash_row(item[1], message), f"{message}; and its crash row could not be made")


def _write_outputs(args: argparse.Namespace, batch: _Batch) -> int:
    """Write every output asked for; returns how many are incomplete (a file not written, a student left out of one).

    Each output is written on its own: one that fails (for whatever reason)
    is named on stderr and the others are still written (rt26 F12); each
    student's own file likewise (:func:`_each_student`).
    """
    from gradcheck.grading.gradebook import class_summary
    from gradcheck.grading.pipeline import notebook_data_identity

    order = sorted(batch.results)
    results = [batch.results[i] for i in order]
    data = notebook_data_identity(batch.assignment.reference_model())
    summary = class_summary(results, isolation=_isolation_level(args), data=data)
    failed = sum(not _write_one(label, write) for label, write in _class_outputs(args, batch, results, summary, data))
    failed += _student_outputs(args, batch, order)
    return failed + (_counted(f"--lms {args.lms}", lambda: _write_lms(args, batch, results), len(results)) if args.lms else 0)


def _write_one(label: str, write: Callable[[], Any]) -> bool:
    """``write()``; ``False`` (with the error, naming ``label``, on stderr) when it fails: the other outputs are still written."""
    try:
        write()
    except Exception as exc:  # noqa: BLE001 - one output that cannot be written never stops the others
        _say(f"gradcheck grade: error: cannot write {label}: {type(exc).__name__}: {exc}; the other outputs are written")
        return False
    return True


def _counted(label: str, write: Callable[[], int], students: int) -> int:
    """``write()``'s count of students left out of an output; all ``students`` when it fails (:func:`_write_one`)."""
    counted: list[int] = []
    return counted[0] if _write_one(label, lambda: counted.append(write())) else students


def _class_outputs(args: argparse.Namespace, batch: _Batch, results: list[Any], summary: Any, data: str) -> list[tuple[str, Callable[[], Any]]]:
    """``(label, write)`` of each class-wide output asked for, the terminal report first."""
    from gradcheck.grading.gradebook import render_summary, write_csv
    from gradcheck.grading.render_json import render_json
    from gradcheck.grading.render_junit import render_junit
    from gradcheck.grading.report_html import write_report

    lang = batch.lang
    named: list[tuple[str | None, str, Callable[[], Any]]] = [
        (args.json, "--json", lambda: write_atomic(Path(args.json), render_json(results))),
        (args.junit, "--junit", lambda: write_atomic(Path(args.junit), render_junit(results))),
        (args.csv, "--csv", lambda: write_csv(results, _parent_made(Path(args.csv)))),
        (args.summary, "--summary", lambda: write_atomic(Path(args.summary), render_summary(summary, fmt="markdown", lang=lang))),
        (getattr(args, "report", None), "--report", lambda: write_report(results, Path(args.report), lang=lang, data=data)),
    ]
    out = [("the terminal report", lambda: _print_report(results, summary, lang))] if not args.quiet and results else []
    return out + [(f"{option} {path}", write) for path, option, write in named if path]


def _parent_made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _print_report(results: list[Any], summary: Any, lang: str) -> None:
    """The terminal report on stdout (then the class summary, for more than one submission)."""
    from rich.console import Console

    from gradcheck.grading.gradebook import render_summary
    from gradcheck.grading.render_text import print_report

    console = Console(highlight=False)
    print_report(results, console=console, lang=lang)
    if len(results) > 1:
        console.print(render_summary(summary, lang=lang), markup=False)


def _student_outputs(args: argparse.Namespace, batch: _Batch, order: list[int]) -> int:
    """``--feedback`` and ``--gradescope``: each student's own file; returns how many could not be written."""
    from gradcheck.grading.identity import output_names
    from gradcheck.grading.render_gradescope import write_gradescope
    from gradcheck.grading.render_markdown import render_markdown

    names = dict(zip(range(len(batch.submissions)), output_names(batch.submissions)))
    failed = 0
    if args.feedback:
        out = Path(args.feedback)
        made = _write_one(f"--feedback {out}", lambda: out.mkdir(parents=True, exist_ok=True))
        failed += _each_student(order, lambda i: write_atomic(out / f"{names[i]}.md", render_markdown(batch.results[i], lang=batch.lang)),
                                batch) if made else len(order)
    if args.gradescope:
        failed += _counted(f"--gradescope {args.gradescope}", lambda: _write_gradescope(Path(args.gradescope), batch, order, names, write_gradescope),
                           len(order))
    return failed


def _each_student(order: list[int], write: Callable[[int], Any], batch: _Batch) -> int:
    """``write(i)`` for each student's own file; one that fails is named and skipped, never the others'. Returns how many failed."""
    failed = 0
    for i in order:
        try:
            write(i)
        except Exception as exc:  # noqa: BLE001 - whatever stops one student's file (a long name, a full disk, a bug) stops only it
            failed += 1
            _say(f"gradcheck grade: error: cannot write the output of {batch.results[i].submission!r}: {type(exc).__name__}: {exc}; "
                 "the other students' files are written")
    return failed


def _write_lms(args: argparse.Namespace, batch: _Batch, results: list[Any]) -> int:
    """The ``--lms`` file; each submission it leaves out is named (the run then exits with status 1)."""
    from gradcheck.grading.lms import write_lms

    skipped = write_lms(results, args.lms, Path(args.lms_file or f"{args.lms}-grades.csv"),
                        title=batch.assignment.title or batch.assignment.model, id_pattern=args.id_pattern)
    for r, why in skipped:
        what = "is" if r.student_id else "has no student id:"
        print(f"gradcheck grade: warning: {r.submission!r} {what} left out of the {args.lms} file ({why})", file=sys.stderr)
    return len(skipped)


def _write_gradescope(target: Path, batch: _Batch, order: list[int], names: dict[int, str], write: Callable[..., Any]) -> int:
    """``FILE.json``: the one submission's ``results.json`` (never a directory); else a directory of ``NAME.json``.

    Returns how many students' files could not be written (:func:`_each_student`).
    """
    options = {"lang": batch.lang, "visibility": batch.assignment.visibility, "stdout_visibility": batch.assignment.stdout_visibility}
    if target.suffix.lower() == ".json" and not target.is_dir():
        target.parent.mkdir(parents=True, exist_ok=True)
        if len(order) != 1:  # _collect makes one submission of the paths given: grading it failed
            from gradcheck.grading.render_gradescope import write_grader_failure

            why = "; ".join(message.splitlines()[0] for _, message in batch.failures) or f"{len(order)} results for one results.json"
            write_grader_failure(target, f"grading failed: {why}")
            return 0
        write(batch.results[order[0]], target, **options)
        return 0
    target.mkdir(parents=True, exist_ok=True)
    return _each_student(order, lambda i: write(batch.results[i], target / f"{names[i]}.json", **options), batch)
