"""Telling backpropagation from a numerical gradient by how often the model runs.

A gradient's *values* cannot tell how it was computed: a complex-step
derivative is exact to rounding, and a 5-point stencil with Richardson
extrapolation agrees with the exact gradient to about 1e-12, as closely as
a second backward pass does.  The *work* can.  A numerical gradient of
``P`` parameters recovers ``P`` unknowns from scalar evaluations of the
loss, whatever its recipe: at least ``P`` evaluations (forward
differences ``P + 1``, central ``2 P``, complex step ``P``, a 5-point
stencil with Richardson ``8 P``).  Backpropagation runs the forward pass
once (an honest backward may call the forward to get its activations, and
the loss to report it, a helper per gradient, a check left in: up to
about seven calls on the smallest nets, rt19).  So a backward call that
evaluates the model at least :func:`evaluation_limit` times computed a
numerical gradient, and no backpropagation does.
The grader sets the count aside when it is the only evidence against
gradients exact to backpropagation's precision (red team rt20 F1:
``gradcheck.grading.pipeline._count_set_aside``).

This module owns that rule (:func:`is_numerical`) and the counting used
where the model's code is the caller's own (:func:`counting_calls`, for
:func:`gradcheck.check_net`); the grader counts the same way inside its
sandbox (``gradcheck/grading/_child.py``, which may not import this module)
and decides with :func:`is_numerical`.

A count is defeated by a private copy of the forward, one broadcasting
call over every perturbed copy, a thread or ``sys.setprofile(None)``
(red team rt17).  The other evidence, the rounding a finite difference
leaves in the gradient, is :mod:`gradcheck.roundoff`'s: the grader and
:func:`gradcheck.check_net` choose the moved points and call the backward
there (in the sandbox the child only runs the submission, as for any
point) and decide with :func:`gradcheck.roundoff.roundoff_noise`.

Examples
--------
>>> evaluation_limit(2805)
1403
>>> is_numerical(2810, 2805), is_numerical(1, 2805), is_numerical(7, 3), is_numerical(12, 3)
(True, False, False, True)
"""
from __future__ import annotations

import math
import sys
from collections import defaultdict
from contextlib import contextmanager
from types import CodeType
from typing import Any, Collection, Iterator

from gradcheck._validate import check_int

__all__ = ["MIN_EVALUATIONS", "evaluation_limit", "is_numerical", "counting_calls"]

#: Never fewer evaluations than this count as numerical, whatever the model's size.  Honest code
#: on the 3-parameter nets (chain_2_1_1, xor_1layer) ran the forward up to 7 times (red team rt19
#: F5): once for the activations, once in each gradient helper (2 on those nets, 4 on xor_2layer),
#: the loss printed before and after (2), or a left-in central-difference check, 1 + 2 P = 7 at
#: P = 3.  What the count is still needed for is a numerical gradient its values and rounding
#: cannot show (:mod:`gradcheck.roundoff`): a high-order stencil at a large step (4-point or
#: Richardson over central differences at h ~ 2e-3 .. 1e-2: 4 evaluations per entry, 4 P = 12 at P = 3).
#: A plain central difference (2 P) is shown by its values or rounding, the complex step by its
#: complex values.  8 lies between the two (rt19 had 4: two honest submissions got 0).
MIN_EVALUATIONS = 8


def evaluation_limit(n_params: int) -> int:
    """Evaluations of the model in one backward call from which it is a numerical gradient.

    Half the parameter count (a numerical gradient needs at least one
    evaluation per parameter, so half of them computed numerically is
    still caught), and never fewer than :data:`MIN_EVALUATIONS`.

    Parameters
    ----------
    n_params : int
        Number of scalar parameters (entries of every parameter array), at least 1.

    Returns
    -------
    int
    """
    check_int(n_params, "n_params", min_value=1)
    return max(MIN_EVALUATIONS, math.ceil(n_params / 2))


def is_numerical(evaluations: int, n_params: int) -> bool:
    """Whether evaluating the model ``evaluations`` times in one backward call means a numerical gradient.

    Parameters
    ----------
    evaluations : int
        Calls of the forward pass (or the loss) during one backward call, at least 0.
    n_params : int
        Number of scalar parameters, at least 1.

    Returns
    -------
    bool
    """
    check_int(evaluations, "evaluations", min_value=0)
    return evaluations >= evaluation_limit(n_params)


@contextmanager
def counting_calls(codes: Collection[CodeType], *, batch: int | None = None) -> Iterator[dict[CodeType, float] | None]:
    """Count the calls of the functions whose code objects are ``codes``, in this thread, while the block runs.

    Uses :func:`sys.setprofile`.  When a profiler is already installed
    (``cProfile``, a debugger) nothing is counted and ``None`` is yielded:
    replacing the user's profiler would be worse than not counting.

    Parameters
    ----------
    codes : collection of code objects
        ``function.__code__`` of each function to count.
    batch : int, optional
        The batch size: a call then counts the share of the batch it was
        given (its first array argument's rows over ``batch``, at most 1; a
        call without an array argument counts 1), so a backward that runs
        the forward on each sample in turn ran it once, as the grader's
        sandbox counts (rt17: an honest per-sample ``gradient()`` was
        called numerical).

    Yields
    ------
    dict or None
        Calls (or batch shares) per code object (0 for one never called), filled in as the block runs.

    Examples
    --------
    >>> def f(): return 1
    >>> with counting_calls([f.__code__]) as counts:
    ...     _ = [f() for _ in range(3)]
    >>> counts[f.__code__]
    3.0
    """
    targets = frozenset(codes)
    if sys.getprofile() is not None:
        yield None
        return
    counts: defaultdict[CodeType, float] = defaultdict(float)

    def hook(frame: Any, event: str, arg: Any) -> None:
        if event == "call" and frame.f_code in targets:
            counts[frame.f_code] += 1 if batch is None else _batch_share(frame, batch)

    sys.setprofile(hook)
    try:
        yield counts
    finally:
        sys.setprofile(None)


def _batch_share(frame: Any, batch: int) -> float:
    """The rows of a call's first array argument over ``batch`` (at most 1); 1 without one."""
    code = frame.f_code
    for name in code.co_varnames[:code.co_argcount]:
        value = frame.f_locals.get(name)
        if hasattr(value, "shape") and len(value.shape) >= 1:
            return min(1.0, value.shape[0] / batch)
    return 1.0
