"""Assignment files: which network, which calling convention, how many points.

An assignment is a small TOML file next to the submissions.  Every table and
key is optional except ``model``; unknown keys are errors (a typo must not be
silently ignored), and every error names the key and the bad value.

Schema
------
::

    title = "Backprop for the study-hours network"   # shown in reports
    model = "study_2layer"         # required: a name from reference_models.names()
    seed = 0                       # seed of the test points (default 0)
    lang = "ko"                    # language of the feedback: "en" (default) or "ko"

    [model_options]                # passed to reference_models.get(model, **options)
    hidden = 3

    [submission]
    file = "hw3.py"                # in a student's folder, the file graded (a name or a
                                   # glob); the folder's other .py files are its helpers
    style = "class"                # "function" (default) or "class"
    backward = "cost_function_prime"   # the function, or (class style) the method
    args = ["x", "y"]              # what backward receives, in order: "params",
                                   # "x", "y" or a parameter name (that array alone)
    returns = ["W1", "W2"]         # "dict" (keyed by parameter names), "tuple"
                                   # (the model's parameter order) or the names of
                                   # the returned tuple's entries, in order
    forward = "forward"            # optional forward pass, checked when present;
                                   # "" turns the check off
    forward_args = ["x"]
    require_forward = false        # true: a missing forward is a "missing" verdict
    forward_first = true           # class style: call forward(x) on the instance before
                                   # backward (default true for "class", as a training loop does)
    per_sample = false             # true: call backward once per sample (1-D rows x[i], y[i]),
                                   # sum the gradients, weight them as the model's loss weighs samples
    class = "Neural_Network"       # class style: the class to instantiate ...
    init_args = [2, 1, 3]          # ... with these constructor arguments
    init_kwargs = {}

    [submission.names]             # reference name = the student's name for it
    W1 = "W1"                      # (dict key, attribute or keyword; default: same)

    [loading]
    skip_loops = true              # skip top-level for/while statements
    skip_main = true               # skip `if __name__ == "__main__":` blocks

    [points]                       # per parameter (default 1 each); "forward" for
    W1 = 2                         # the forward check (default 0)
    W2 = 2
    forward = 1

    [scoring]                      # passed to gradcheck.grading.scoring as is
    mutation_penalty = 0.25        # (credit, default_points, nondeterminism_penalty ...)

    [limits]                       # per submission
    wall_seconds = 10              # wall clock per call
    cpu_seconds = 10               # CPU time per call
    load_seconds = 20              # wall clock to start and run the submission's cells
    memory_mb = 1024               # address space (RLIMIT_AS)
    output_kb = 1024               # stdout + stderr over the whole session
    session_cpu_seconds = 600      # CPU time over the whole session (hard limit)
    file_mb = 64                   # largest file the submission may write
    source_kb = 4096               # code the grader runs: a notebook's code cells (its
                                   # outputs and attachments do not count) or a .py file

    [gradescope]                   # the autograder's results.json
    visibility = "visible"         # hidden, after_due_date, after_published, visible
    stdout_visibility = "hidden"   # the autograder's stdout, for the same audiences

Defaults by style: ``function`` calls ``backward(params, x, y)`` and
``forward(params, x)`` and expects a dict; ``class`` calls
``instance.backward(x, y)`` and ``instance.forward(x)`` on a fresh instance
whose attributes (named by ``[submission.names]``) hold the parameters, and
expects a tuple in the model's parameter order.

A returned dict may name a gradient ``W1``, ``dW1``, ``d_W1``, ``grad_W1`` or
``W1_grad`` (after ``[submission.names]``); gradients it lacks are reported
missing, one by one.

Examples
--------
>>> a = parse_assignment({"model": "study_2layer", "submission": {"style": "class",
...     "class": "Neural_Network", "backward": "cost_function_prime", "init_args": [2, 1, 3]}})
>>> a.spec.args, a.spec.returns
(('x', 'y'), 'tuple')
>>> parse_assignment({"model": "study_2layer", "limits": {"wall_seconds": -1}})
Traceback (most recent call last):
...
gradcheck.grading.assignment.AssignmentError: <assignment>: [limits] wall_seconds: must be a finite number > 0, got -1
"""
from __future__ import annotations

import keyword
import math
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from gradcheck._validate import check_int, check_number

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

__all__ = [
    "AssignmentError",
    "Limits",
    "SubmissionSpec",
    "Assignment",
    "STYLES",
    "ARG_NAMES",
    "LANGS",
    "VISIBILITIES",
    "parse_assignment",
    "load_assignment",
    "dump_assignment",
]

#: Calling conventions.
STYLES: tuple[str, ...] = ("function", "class")
#: Argument names other than parameter names.
ARG_NAMES: tuple[str, ...] = ("params", "x", "y")
#: Languages of the feedback.
LANGS: tuple[str, ...] = ("en", "ko")
#: Gradescope's visibility settings (its autograder specification), most private first.
VISIBILITIES: tuple[str, ...] = ("hidden", "after_due_date", "after_published", "visible")

_MB = 1 << 20
_KB = 1 << 10


class AssignmentError(ValueError):
    """An assignment file (or spec) is invalid; the message names the key and value."""


def _fail(where: str, key: str, problem: str, value: Any) -> AssignmentError:
    return AssignmentError(f"{where}: {key}: {problem}, got {value!r}")


def _positive(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and value > 0


def _identifier(value: Any) -> bool:
    return isinstance(value, str) and value.isidentifier() and not keyword.iskeyword(value)


@dataclass(frozen=True)
class Limits:
    """Resource limits for one submission's session.

    Parameters
    ----------
    wall_seconds : float
        Wall-clock limit of one call (the parent kills the process group).
    cpu_seconds : float
        CPU-time limit of one call (``RLIMIT_CPU``, rounded up to whole seconds).
    memory_bytes : int
        Address-space limit of the child (``RLIMIT_AS``).
    output_bytes : int
        Cap on stdout + stderr over the whole session; beyond it the child is
        killed (verdict ``output``).
    load_seconds : float
        Wall-clock limit (and CPU limit) for starting the child and running
        the submission's cells.
    session_cpu_seconds : float
        Hard CPU-time limit over the session (the child cannot raise it).
    file_bytes : int
        Largest file the child may write (``RLIMIT_FSIZE``).
    source_bytes : int
        Largest submission the grader runs, counted in UTF-8 bytes of what it
        runs: a ``.py`` file whole, a notebook's code cells (its outputs, such
        as saved figures, and attachments do not count; see
        :data:`gradcheck.grading.loader.MAX_NOTEBOOK_BYTES` for the file itself).
        Beyond it the verdict is ``too_large``.

    Examples
    --------
    >>> Limits(wall_seconds=3).wall_seconds
    3
    >>> Limits(memory_bytes=0)
    Traceback (most recent call last):
    ...
    gradcheck.errors.GradcheckValueError: memory_bytes must be an int >= 1, got memory_bytes=0
    """

    wall_seconds: float = 10.0
    cpu_seconds: float = 10.0
    memory_bytes: int = 1 << 30
    output_bytes: int = 1 << 20
    load_seconds: float = 20.0
    session_cpu_seconds: float = 600.0
    file_bytes: int = 64 << 20
    source_bytes: int = 4 << 20

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.endswith("_bytes"):
                check_int(value, f.name, min_value=1)
            else:
                check_number(value, f.name, min_value=0, exclusive_min=True)


@dataclass(frozen=True)
class SubmissionSpec:
    """How to call a submission.  See the module docstring for the meaning of each field.

    ``args``, ``forward_args`` and ``returns`` default (``None``) by style:
    ``function`` -> ``("params", "x", "y")``, ``("params", "x")``, ``"dict"``;
    ``class`` -> ``("x", "y")``, ``("x",)``, ``"tuple"``.

    Examples
    --------
    >>> SubmissionSpec().args
    ('params', 'x', 'y')
    >>> SubmissionSpec(style="class")
    Traceback (most recent call last):
    ...
    gradcheck.grading.assignment.AssignmentError: SubmissionSpec: class: the class style needs the class name, got None
    """

    style: str = "function"
    backward: str = "backward"
    forward: str | None = "forward"
    args: tuple[str, ...] | None = None
    forward_args: tuple[str, ...] | None = None
    returns: str | tuple[str, ...] | None = None
    require_forward: bool = False
    class_name: str | None = None
    init_args: tuple[Any, ...] = ()
    init_kwargs: Mapping[str, Any] = field(default_factory=dict)
    names: Mapping[str, str] = field(default_factory=dict)
    skip_loops: bool = True
    skip_main: bool = True
    forward_first: bool | None = None
    per_sample: bool = False

    def __post_init__(self) -> None:
        w = "SubmissionSpec"
        if self.style not in STYLES:
            raise _fail(w, "style", f"must be one of {', '.join(STYLES)}", self.style)
        self._fill_defaults()
        self._check_calls(w)
        self._check_class(w)
        self._check_tables(w)
        for key in ("require_forward", "skip_loops", "skip_main", "forward_first", "per_sample"):
            if not isinstance(getattr(self, key), bool):
                raise _fail(w, key, "must be true or false", getattr(self, key))
        object.__setattr__(self, "init_kwargs", dict(self.init_kwargs))
        object.__setattr__(self, "names", dict(self.names))

    def _fill_defaults(self) -> None:
        """The calling convention's defaults for the style (``None`` fields)."""
        cls_style = self.style == "class"
        setattr_ = object.__setattr__
        if self.args is None:
            setattr_(self, "args", ("x", "y") if cls_style else ("params", "x", "y"))
        if self.forward_args is None:
            setattr_(self, "forward_args", ("x",) if cls_style else ("params", "x"))
        if self.returns is None:
            setattr_(self, "returns", "tuple" if cls_style else "dict")
        if self.forward == "":
            setattr_(self, "forward", None)
        if self.forward_first is None:
            setattr_(self, "forward_first", cls_style and self.forward is not None)

    def _check_calls(self, w: str) -> None:
        """The functions called, their arguments and what they return."""
        setattr_ = object.__setattr__
        if self.forward_first and self.forward is None:
            raise _fail(w, "forward_first", "needs a forward method to call", self.forward_first)
        if not _identifier(self.backward):
            raise _fail(w, "backward", "must be a Python identifier", self.backward)
        if self.forward is not None and not _identifier(self.forward):
            raise _fail(w, "forward", "must be a Python identifier or empty", self.forward)
        for key in ("args", "forward_args"):
            value = getattr(self, key)
            if isinstance(value, str) or not isinstance(value, (tuple, list)) or not all(_identifier(v) for v in value):
                raise _fail(w, key, 'must be a list of "params", "x", "y" or parameter names', value)
            setattr_(self, key, tuple(value))
        r = self.returns
        if isinstance(r, (list, tuple)):
            if not r or not all(_identifier(v) for v in r) or len(set(r)) != len(r):
                raise _fail(w, "returns", "must be a non-empty list of distinct parameter names", r)
            setattr_(self, "returns", tuple(r))
        elif r not in ("dict", "tuple"):
            raise _fail(w, "returns", 'must be "dict", "tuple" or a list of parameter names', r)

    def _check_class(self, w: str) -> None:
        """The class of the class style and its constructor's arguments."""
        cls_style = self.style == "class"
        if cls_style and not _identifier(self.class_name):
            raise _fail(w, "class", "the class style needs the class name", self.class_name)
        if not cls_style and self.class_name is not None:
            raise _fail(w, "class", 'is only for style = "class"', self.class_name)
        if not isinstance(self.init_args, (tuple, list)):
            raise _fail(w, "init_args", "must be a list", self.init_args)
        object.__setattr__(self, "init_args", tuple(self.init_args))
        if not isinstance(self.init_kwargs, Mapping) or not all(_identifier(k) for k in self.init_kwargs):
            raise _fail(w, "init_kwargs", "must be a table of identifiers to values", self.init_kwargs)
        for value in (*self.init_args, *self.init_kwargs.values()):
            if not _plain(value):
                raise _fail(w, "init_args/init_kwargs", "values must be numbers, strings, booleans or lists of them", value)

    def _check_tables(self, w: str) -> None:
        """``names``: reference name to the student's name."""
        if not isinstance(self.names, Mapping):
            raise _fail(w, "names", "must be a table of reference name = student name", self.names)
        for k, v in self.names.items():
            if not isinstance(k, str) or not isinstance(v, str) or not v:
                raise _fail(w, f"names.{k}", "must be a non-empty string", v)

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (what the child process receives)."""
        return {
            "style": self.style,
            "backward": self.backward,
            "forward": self.forward,
            "args": list(self.args or ()),
            "forward_args": list(self.forward_args or ()),
            "returns": self.returns if isinstance(self.returns, str) else list(self.returns or ()),
            "require_forward": self.require_forward,
            "class_name": self.class_name,
            "init_args": list(self.init_args),
            "init_kwargs": dict(self.init_kwargs),
            "names": dict(self.names),
            "forward_first": bool(self.forward_first),
            "per_sample": self.per_sample,
        }

    @property
    def entry_name(self) -> str:
        """The name the graded file must define: the class (class style), else the backward function.

        Of a student's several files, only one defining it can be graded
        (:func:`gradcheck.grading.identity.choose_file`).

        >>> SubmissionSpec().entry_name, SubmissionSpec(style="class", class_name="Net").entry_name
        ('backward', 'Net')
        """
        return str(self.class_name) if self.style == "class" else self.backward

    def check_against(self, param_names: tuple[str, ...] | list[str], *, where: str = "[submission]") -> None:
        """Check the parameter names this spec mentions against a model's.

        Raises
        ------
        AssignmentError
            For a name in ``args``, ``forward_args``, ``returns`` or ``names``
            that the model does not have.
        """
        known = list(param_names)
        allowed = set(known) | set(ARG_NAMES)
        for key in ("args", "forward_args"):
            for v in getattr(self, key):
                if v not in allowed:
                    raise _fail(where, key, f'entries must be "params", "x", "y" or one of {known}', v)
        if isinstance(self.returns, tuple):
            for v in self.returns:
                if v not in known:
                    raise _fail(where, "returns", f"entries must be parameter names of the model {known}", v)
        for k in self.names:
            if k not in known:
                raise _fail(where, f"names.{k}", f"is not a parameter of the model {known}", k)


def _plain(value: Any) -> bool:
    if isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v) for v in value)
    return False


@dataclass(frozen=True)
class Assignment:
    """A parsed assignment file.

    Attributes
    ----------
    model : str
        Reference model name.
    model_options : dict
        Options for ``reference_models.get``.
    spec : SubmissionSpec
        Calling convention.
    points : dict of str to float
        Points per parameter (and ``"forward"``); parameters not listed are
        worth the scoring policy's default.
    scoring : dict
        The raw ``[scoring]`` table.
    limits : Limits
    title : str
    seed : int
        Seed of the test points.
    lang : {"en", "ko"}
        Language of the feedback.
    file : str or None
        The graded file's name or glob in a student's folder (``[submission] file``).
    visibility, stdout_visibility : str
        Gradescope visibility of the results and of the autograder's output
        (one of :data:`VISIBILITIES`).
    source : str
        Where it was read from (for messages).
    """

    model: str
    model_options: Mapping[str, Any] = field(default_factory=dict)
    spec: SubmissionSpec = field(default_factory=SubmissionSpec)
    points: Mapping[str, float] = field(default_factory=dict)
    scoring: Mapping[str, Any] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    title: str = ""
    seed: int = 0
    lang: str = "en"
    file: str | None = None
    visibility: str = "visible"
    stdout_visibility: str = "hidden"
    source: str = "<assignment>"

    def reference_model(self) -> Any:
        """A new instance of the reference model (imports ``reference_models``)."""
        import reference_models

        return reference_models.get(self.model, **dict(self.model_options))

    def scoring_options(self) -> dict[str, Any]:
        """A mapping for ``ScoringPolicy.from_mapping``: ``[scoring]`` plus ``[points]``.

        Examples
        --------
        >>> a = parse_assignment({"model": "xor_2layer", "points": {"W1": 2, "forward": 1}})
        >>> a.scoring_options()
        {'points': {'W1': 2.0}, 'forward_points': 1.0}
        """
        out: dict[str, Any] = dict(self.scoring)
        pts = {k: float(v) for k, v in self.points.items() if k != "forward"}
        if pts:
            out["points"] = pts
        if "forward" in self.points:
            out["forward_points"] = float(self.points["forward"])
        return out


_TOP = ("title", "model", "file", "seed", "lang", "model_options", "submission", "loading", "points", "scoring", "limits", "gradescope")
_GRADESCOPE = ("visibility", "stdout_visibility")
_SUBMISSION = ("file", "style", "backward", "forward", "args", "forward_args", "returns", "require_forward", "class", "init_args", "init_kwargs", "names", "forward_first", "per_sample")
_LOADING = ("skip_loops", "skip_main")
#: TOML key -> (Limits field, multiplier)
_LIMITS: dict[str, tuple[str, int]] = {
    "wall_seconds": ("wall_seconds", 1),
    "cpu_seconds": ("cpu_seconds", 1),
    "load_seconds": ("load_seconds", 1),
    "session_cpu_seconds": ("session_cpu_seconds", 1),
    "memory_mb": ("memory_bytes", _MB),
    "output_kb": ("output_bytes", _KB),
    "file_mb": ("file_bytes", _MB),
    "source_kb": ("source_bytes", _KB),
}


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, Mapping):
        raise _fail(where, f"[{key}]", "must be a table", value)
    return value


def _unknown(table: Mapping[str, Any], known: tuple[str, ...] | list[str], where: str, name: str) -> None:
    for k in table:
        if k not in known:
            raise AssignmentError(f"{where}: {name}: unknown key {k!r}; known keys: {', '.join(known)}")


def parse_assignment(data: Mapping[str, Any], *, source: str = "<assignment>", check_model: bool = True) -> Assignment:
    """Validate a parsed TOML document and build an :class:`Assignment`.

    Parameters
    ----------
    data : mapping
        The TOML document as a dict.
    source : str
        Name used in error messages.
    check_model : bool
        Check the model name, its options and the parameter names against
        ``reference_models`` (imported on demand).

    Raises
    ------
    AssignmentError
        Naming the key and the bad value.
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping (a parsed TOML document), got data={type(data).__name__}")
    if not isinstance(source, str):
        raise TypeError(f"source must be a str, got source={source!r}")
    w = source
    _unknown(data, _TOP, w, "top level")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise _fail(w, "model", "is required: a reference model name", model)
    title = data.get("title", "")
    if not isinstance(title, str):
        raise _fail(w, "title", "must be a string", title)
    options = dict(_table(data, "model_options", w))
    sub = _table(data, "submission", w)
    _unknown(sub, _SUBMISSION, w, "[submission]")
    loading = _table(data, "loading", w)
    _unknown(loading, _LOADING, w, "[loading]")
    kwargs: dict[str, Any] = {}
    file = _file_key(data, sub, w)
    for key in _SUBMISSION[1:]:
        if key in sub:
            kwargs["class_name" if key == "class" else key] = sub[key]
    for key in ("backward", "forward", "style", "class_name"):
        if key in kwargs and not isinstance(kwargs[key], str):
            raise _fail(w, f"[submission] {'class' if key == 'class_name' else key}", "must be a string", kwargs[key])
    kwargs.update({k: loading[k] for k in _LOADING if k in loading})
    try:
        spec = SubmissionSpec(**kwargs)
    except AssignmentError as exc:
        raise AssignmentError(str(exc).replace("SubmissionSpec:", f"{w}: [submission]", 1)) from None
    points_t = _table(data, "points", w)
    points = _points(points_t, w)
    scoring = dict(_table(data, "scoring", w))
    if points_t and "points" in scoring:
        raise AssignmentError(f"{w}: [points] and [scoring] points both give points; keep one of them")
    _check_scoring(scoring, points, w)
    limits = _limits(_table(data, "limits", w), w)
    if check_model:
        _check_model(model, options, spec, points, w)
    extra = _top_options(data, w)
    return Assignment(model=model, model_options=options, spec=spec, points=points, scoring=scoring, limits=limits, title=title, source=source, file=file, **extra)


def _points(points_t: Mapping[str, Any], w: str) -> dict[str, float]:
    """``[points]``: each value a finite number >= 0."""
    points: dict[str, float] = {}
    for k, v in points_t.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
            raise _fail(w, f"[points] {k}", "must be a number >= 0", v)
        points[k] = float(v)
    return points


def _limits(limits_t: Mapping[str, Any], w: str) -> Limits:
    """``[limits]``: known keys, each a finite number > 0, scaled to :class:`Limits` units."""
    _unknown(limits_t, list(_LIMITS), w, "[limits]")
    lim: dict[str, Any] = {}
    for k, v in limits_t.items():
        if not _positive(v):
            raise _fail(w, f"[limits] {k}", "must be a finite number > 0", v)
        name, mult = _LIMITS[k]
        lim[name] = int(v * mult) if mult > 1 else v
    return Limits(**lim)


def _top_options(data: Mapping[str, Any], w: str) -> dict[str, Any]:
    """``seed``, ``lang`` and the ``[gradescope]`` table, checked."""
    out: dict[str, Any] = {}
    seed = data.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise _fail(w, "seed", "must be an integer in [0, 2**32)", seed)
    out["seed"] = seed
    lang = data.get("lang", "en")
    if lang not in LANGS:
        raise _fail(w, "lang", f"must be one of {', '.join(LANGS)}", lang)
    out["lang"] = lang
    gs = _table(data, "gradescope", w)
    _unknown(gs, _GRADESCOPE, w, "[gradescope]")
    for key in _GRADESCOPE:
        if key in gs:
            if gs[key] not in VISIBILITIES:
                raise _fail(w, f"[gradescope] {key}", f"must be one of {', '.join(VISIBILITIES)}", gs[key])
            out[key] = gs[key]
    return out


def _file_key(data: Mapping[str, Any], sub: Mapping[str, Any], w: str) -> str | None:
    """The graded file's name or glob in a student's folder: top-level ``file`` or ``[submission] file``."""
    if "file" in data and "file" in sub and data["file"] != sub["file"]:
        raise _fail(w, "file", f"is given twice with different values (top level and [submission]: {sub['file']!r})", data["file"])
    key = "file" if "file" in data else "[submission] file"
    file = data.get("file", sub.get("file"))
    if file is not None and (not isinstance(file, str) or not file.strip() or "\x00" in file):
        raise _fail(w, key, 'must be the graded file\'s name or a glob, such as "hw3.py" or "hw3*.ipynb"', file)
    return file


def _file_entry(assignment: Assignment) -> dict[str, Any]:
    """``{"file": ...}`` for :func:`dump_assignment` when the assignment names its file."""
    return {} if assignment.file is None else {"file": assignment.file}


def _check_scoring(scoring: Mapping[str, Any], points: Mapping[str, float], w: str) -> None:
    """Build the scoring policy once here, so a bad ``[scoring]`` is one error at load
    (not a traceback per submission)."""
    from gradcheck.grading.scoring import ScoringPolicy

    table = dict(scoring)
    pts = {k: v for k, v in points.items() if k != "forward"}
    if pts:
        table["points"] = pts
    try:
        ScoringPolicy.from_mapping(table)
    except (TypeError, ValueError, AttributeError) as exc:
        raise AssignmentError(f"{w}: [scoring]: {exc}") from None


def _check_model(model: str, options: dict[str, Any], spec: SubmissionSpec, points: dict[str, float], w: str) -> None:
    try:
        import reference_models
    except ImportError:  # the harness without its models: nothing to check against
        return
    if model not in reference_models.names():
        raise _fail(w, "model", f"must be one of {', '.join(reference_models.names())}", model)
    try:
        m = reference_models.get(model, **options)
    except (TypeError, ValueError) as exc:
        raise AssignmentError(f"{w}: [model_options]: {exc}") from None
    names = list(m.param_shapes)
    spec.check_against(names, where=f"{w}: [submission]")
    for k in points:
        if k not in names and k != "forward":
            raise _fail(w, f"[points] {k}", f"is not a parameter of {model} ({', '.join(names)}) nor \"forward\"", k)


def load_assignment(path: str | Path, *, check_model: bool = True) -> Assignment:
    """Read and validate an assignment TOML file.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    AssignmentError
        For invalid TOML (with line and column) or an invalid value.
    """
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got path={path!r}")
    p = Path(path)
    raw = p.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise AssignmentError(f"{p}: not UTF-8 text ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise AssignmentError(f"{p}: invalid TOML: {exc}") from None
    return parse_assignment(data, source=str(p), check_model=check_model)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"cannot write {value!r} to TOML")


# Long: one block per TOML table, written in the order a teacher reads them; classA is reworking this file.
def dump_assignment(assignment: Assignment, *, comments: Mapping[str, str] | None = None) -> str:  # noqa: C901 - one short branch per optional table, written in the file's own order: the TOML layout reads top to bottom here
    """TOML text that :func:`parse_assignment` reads back to an equal assignment.

    Parameters
    ----------
    assignment : Assignment
    comments : mapping, optional
        A comment line to put above a table, keyed by table name (``""`` for the top).

    Examples
    --------
    >>> a = parse_assignment({"model": "xor_2layer", "points": {"W1": 2}})
    >>> parse_assignment(tomllib.loads(dump_assignment(a))) == a
    True
    """
    if not isinstance(assignment, Assignment):
        raise TypeError(f"assignment must be an Assignment, got assignment={assignment!r}")
    notes = dict(comments or {})
    out: list[str] = []

    def table(name: str, items: Mapping[str, Any]) -> None:
        if name:
            out.append("")
            if name in notes:
                out.append(f"# {notes[name]}")
            out.append(f"[{name}]")
        elif "" in notes:
            out.append(f"# {notes['']}")
        for k, v in items.items():
            out.append(f"{k} = {_toml_value(v)}")

    top: dict[str, Any] = {}
    if assignment.title:
        top["title"] = assignment.title
    top["model"] = assignment.model
    if assignment.seed:
        top["seed"] = assignment.seed
    if assignment.lang != "en":
        top["lang"] = assignment.lang
    table("", top)
    if assignment.model_options:
        table("model_options", assignment.model_options)
    s = assignment.spec
    sub: dict[str, Any] = _file_entry(assignment)
    sub |= {"style": s.style, "backward": s.backward, "forward": s.forward or ""}
    sub["args"] = list(s.args or ())
    sub["forward_args"] = list(s.forward_args or ())
    sub["returns"] = s.returns if isinstance(s.returns, str) else list(s.returns or ())
    sub["require_forward"] = s.require_forward
    if s.forward_first != (s.style == "class" and s.forward is not None):
        sub["forward_first"] = bool(s.forward_first)
    if s.per_sample:
        sub["per_sample"] = True
    if s.style == "class":
        sub["class"] = s.class_name
        sub["init_args"] = list(s.init_args)
        sub["init_kwargs"] = dict(s.init_kwargs)
    table("submission", sub)
    if s.names:
        table("submission.names", s.names)
    table("loading", {"skip_loops": s.skip_loops, "skip_main": s.skip_main})
    if assignment.points:
        table("points", assignment.points)
    if assignment.scoring:
        table("scoring", assignment.scoring)
    lim = assignment.limits
    table("limits", {
        "wall_seconds": lim.wall_seconds,
        "cpu_seconds": lim.cpu_seconds,
        "load_seconds": lim.load_seconds,
        "memory_mb": lim.memory_bytes / _MB if lim.memory_bytes % _MB else lim.memory_bytes // _MB,
        "output_kb": lim.output_bytes / _KB if lim.output_bytes % _KB else lim.output_bytes // _KB,
        "session_cpu_seconds": lim.session_cpu_seconds,
        "file_mb": lim.file_bytes / _MB if lim.file_bytes % _MB else lim.file_bytes // _MB,
        "source_kb": lim.source_bytes / _KB if lim.source_bytes % _KB else lim.source_bytes // _KB,
    })
    table("gradescope", {"visibility": assignment.visibility, "stdout_visibility": assignment.stdout_visibility})
    return "\n".join(out) + "\n"
