"""pytest plugin (registered through the ``pytest11`` entry point): thin glue.

Options
-------
``--gradcheck-mode {full,fast}``, ``--gradcheck-seed N``
    Defaults for every check of the :func:`assert_gradients` fixture
    (models, functions, layers, nets); a test can override them with
    ``@pytest.mark.gradcheck(mode="fast", seed=3)`` (keywords only: a
    positional argument is a usage error, never silently dropped).
    Every option is validated when pytest starts (``pytest.UsageError``
    naming the option, the value and what is expected).

The fixture is session-scoped and stateless: it reads the running test's
marker when a check is called, so it works inside a hypothesis ``@given``
test without suppressing hypothesis' function-scoped-fixture health check.
``--gradcheck-submission FILE`` (repeatable), ``--gradcheck-model NAME``,
``--gradcheck-assignment TOML``, ``--gradcheck-lang {en,ko}``
    Grade student submissions as test items, one per parameter plus one
    for the run itself (and one for ``forward`` when the grader checks it),
    so CI reports come from pytest.  When a submission is given, nothing
    else is collected: the run is about the submission.
"""
from __future__ import annotations

import difflib
import inspect

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest


from gradcheck.check import MODES, assert_gradients_close, assert_model_gradients, check_gradients, check_model
from gradcheck.layer import assert_layer_gradients, check_layer
from gradcheck.messages import LANGUAGES
from gradcheck.net import assert_net_gradients, check_net

__all__ = ["GradientAsserter", "assert_gradients", "gradcheck_options"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradcheck", "gradient checks (gradcheck)")
    group.addoption("--gradcheck-mode", choices=MODES, default="full",
                    help="full: every entry; fast: random probes with bisection (default: full)")
    group.addoption("--gradcheck-seed", type=int, default=0, help="seed of fast-mode probes and grading points")
    group.addoption("--gradcheck-submission", action="append", default=[], metavar="FILE",
                    help="grade this student submission (.py or .ipynb) as test items; repeatable")
    group.addoption("--gradcheck-model", metavar="NAME", help="reference model the submission implements")
    group.addoption("--gradcheck-assignment", metavar="TOML", help="assignment file (calling convention, points)")
    group.addoption("--gradcheck-lang", choices=LANGUAGES, default="en", help="language of grading messages")


MARKER_HELP = ("gradcheck(*, mode=None, seed=None, **options): keyword options for the assert_gradients fixture "
               "in this test, e.g. @pytest.mark.gradcheck(mode=\"fast\", seed=3); keywords only")

_CURRENT_ITEM = pytest.StashKey[pytest.Item]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    seed = config.getoption("gradcheck_seed")
    if seed < 0:
        raise pytest.UsageError(f"--gradcheck-seed={seed}: expected an integer >= 0 (the seed of numpy's default_rng)")
    _check_grading_options(config)


def _check_grading_options(config: pytest.Config) -> None:
    model = config.getoption("gradcheck_model")
    if model is not None:
        import reference_models

        if model not in reference_models.names():
            raise pytest.UsageError(f"--gradcheck-model={model!r}: expected one of {reference_models.names()}")
    assignment = config.getoption("gradcheck_assignment")
    if assignment is not None and not Path(assignment).is_file():
        raise pytest.UsageError(f"--gradcheck-assignment={assignment!r}: expected an assignment TOML file; no such file")
    subs = config.getoption("gradcheck_submission")
    if subs and not (config.getoption("gradcheck_model") or config.getoption("gradcheck_assignment")):
        raise pytest.UsageError("--gradcheck-submission needs --gradcheck-model NAME (or --gradcheck-assignment TOML)")
    for s in subs:
        if not Path(s).is_file():
            raise pytest.UsageError(f"--gradcheck-submission {s!r}: no such file")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Remember the running test: the session-scoped fixture reads its marker when a check is called."""
    item.config.stash[_CURRENT_ITEM] = item


def options_for(item: pytest.Item) -> dict[str, Any]:
    """``mode`` and ``seed`` from the command line, overridden by the item's ``gradcheck`` marker."""
    options: dict[str, Any] = {"mode": item.config.getoption("gradcheck_mode"),
                               "seed": item.config.getoption("gradcheck_seed")}
    marker = item.get_closest_marker("gradcheck")
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(f"@pytest.mark.gradcheck takes keyword arguments only, got the positional "
                                    f"argument(s) {', '.join(map(repr, marker.args))} in {item.nodeid}: write e.g. "
                                    f"@pytest.mark.gradcheck(mode={marker.args[0]!r}); accepted keywords: "
                                    f"{', '.join(_marker_keywords())}")
        _check_marker_keywords(marker.kwargs, item.nodeid)
        options.update({k: v for k, v in marker.kwargs.items() if v is not None})
    return options


def _marker_keywords() -> list[str]:
    """The keyword options of the checks (``mode``, ``seed``, ``tolerance`` ...): what a marker may set."""
    return sorted({p.name for f in (check_model, check_gradients, check_layer, check_net)
                   for p in inspect.signature(f).parameters.values() if p.kind is p.KEYWORD_ONLY})


def _check_marker_keywords(kwargs: Mapping[str, Any], nodeid: str) -> None:
    """A keyword no check takes is a usage error naming the marker, the keyword and the accepted ones."""
    accepted = _marker_keywords()
    for key in kwargs:
        if key not in accepted:
            close = difflib.get_close_matches(key, accepted, n=1)
            raise pytest.UsageError(f"@pytest.mark.gradcheck got the unknown keyword {key}={kwargs[key]!r} in {nodeid}"
                                    + (f" (did you mean {close[0]}?)" if close else "")
                                    + f"; accepted keywords: {', '.join(accepted)}")


@pytest.fixture
def gradcheck_options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """``mode`` and ``seed`` from the command line, overridden by a ``gradcheck`` marker."""
    return options_for(request.node)


class GradientAsserter:
    """The :func:`assert_gradients` fixture: every check, raising ``AssertionError`` with the report.

    Each method takes the arguments of the check it names, with the
    session's ``mode`` and ``seed`` (command line, then the running test's
    marker, read at each call) as defaults that keyword arguments override;
    each returns the :class:`~gradcheck.results.CheckResult` when the check
    passes.  It holds no state between calls.
    """

    def __init__(self, options: Mapping[str, Any] | Callable[[], dict[str, Any]]) -> None:
        self._options = options

    @property
    def options(self) -> dict[str, Any]:
        """The defaults: fixed ones, or those of the test running now (the fixture's)."""
        return self._options() if callable(self._options) else dict(self._options)

    def __call__(self, model: Any, params: Any, x: Any, y: Any, **options: Any) -> Any:
        """:meth:`model` (the fixture called directly checks a model)."""
        __tracebackhide__ = True
        return self.model(model, params, x, y, **options)

    def model(self, model: Any, params: Any, x: Any, y: Any, **options: Any) -> Any:
        """:func:`gradcheck.assert_model_gradients`."""
        __tracebackhide__ = True
        return assert_model_gradients(model, params, x, y, **{**self.options, **options})

    def function(self, f: Any, grads: Any, params: Any, **options: Any) -> Any:
        """:func:`gradcheck.assert_gradients_close` (``f(params) -> float``)."""
        __tracebackhide__ = True
        return assert_gradients_close(f, grads, params, **{**self.options, **options})

    def layer(self, forward: Any, backward: Any = None, inputs: Any = None, **options: Any) -> Any:
        """:func:`gradcheck.assert_layer_gradients` (cs231n functions or a DLFS layer object)."""
        __tracebackhide__ = True
        return assert_layer_gradients(forward, backward, inputs, **{**self.options, **options})

    def net(self, net: Any, x: Any, t: Any, **options: Any) -> Any:
        """:func:`gradcheck.assert_net_gradients` (a DLFS net)."""
        __tracebackhide__ = True
        return assert_net_gradients(net, x, t, **{**self.options, **options})


@pytest.fixture(scope="session")
def assert_gradients(pytestconfig: pytest.Config) -> GradientAsserter:
    """``assert_gradients(model, params, x, y)``, ``.function(f, grads, params)``,
    ``.layer(forward, backward, inputs)`` (or ``.layer(layer, inputs)``) and
    ``.net(net, x, t)``, with the session's mode and seed (see :class:`GradientAsserter`).

    Session-scoped and stateless, so it may be used in a hypothesis ``@given`` test."""
    return GradientAsserter(lambda: options_for(pytestconfig.stash[_CURRENT_ITEM]))


# -- grading submissions as test items ---------------------------------------

class SubmissionFailure(Exception):
    """A part of a submission did not pass; the message is the grader's."""


class SubmissionItem(pytest.Item):
    def __init__(self, *, part: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.part = part

    def runtest(self) -> None:
        assert isinstance(self.parent, SubmissionFile)
        result = self.parent.result()
        if self.part == "run":
            if result.verdict != "ok":
                raise SubmissionFailure(f"{result.verdict}: " + " ".join(result.messages))
            return
        found = result.forward if self.part == "forward" else next(
            (p for p in result.parameters if p.name == self.part), None)
        if found is None:
            raise SubmissionFailure(f"the grader reported nothing for {self.part!r} (verdict {result.verdict})")
        if not found.passed:
            raise SubmissionFailure(f"{self.part}: {found.diagnosis}: {found.message} "
                                    f"({found.points:g}/{found.max_points:g} points, seed {result.seed})")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, SubmissionFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)

    def reportinfo(self) -> tuple[Path, None, str]:
        return self.path, None, self.part


class SubmissionFile(pytest.File):
    """A student submission; its items share one grading run."""

    _result: Any = None

    def result(self) -> Any:
        if self._result is None:
            from gradcheck.grading.pipeline import grade_submission

            cfg = self.config
            self._result = grade_submission(self.path, cfg.getoption("gradcheck_model"),
                                            seed=cfg.getoption("gradcheck_seed"),
                                            assignment=cfg.getoption("gradcheck_assignment"),
                                            lang=cfg.getoption("gradcheck_lang"))
        return self._result

    def _parts(self) -> list[str]:
        import reference_models

        name = self.config.getoption("gradcheck_model")
        if name is None:
            from gradcheck.grading.assignment import load_assignment

            name = load_assignment(self.config.getoption("gradcheck_assignment")).model
        return ["run", *reference_models.get(name).param_shapes]

    def collect(self) -> Iterator[SubmissionItem]:
        for part in self._parts():
            yield SubmissionItem.from_parent(self, name=part, part=part)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With ``--gradcheck-submission`` the run is about the submission: collect nothing else.

    (Collecting would import whatever lies below the current directory,
    other students' files included.)
    """
    return True if config.getoption("gradcheck_submission") else None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    subs = config.getoption("gradcheck_submission")
    if not subs:
        return
    items[:] = [item for s in subs
                for item in SubmissionFile.from_parent(session, path=Path(s).resolve(), nodeid=str(s)).collect()]
