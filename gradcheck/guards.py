"""Guards around the code under check: mutation, determinism, dtype, finiteness.

The functions under check never see the caller's arrays: they get
read-only views of the check's own copy (or, when they refuse read-only
arrays, writable copies of it), so the caller's data can never be
changed.  A guard compares what a function received with the pristine
copy afterwards.
"""
from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np

from gradcheck.errors import GradcheckTypeError, GradcheckValueError

__all__ = ["GradcheckPrecisionWarning", "Point", "ROUNDING_ULPS", "copy_point", "mutations", "precision_findings", "require_finite",
           "same_entries", "unstable"]


class GradcheckPrecisionWarning(UserWarning):
    """Inputs or outputs below float64: the check runs in float64, but the code under check does not."""


#: An array's writeable flag, and what :meth:`Point.untouched` compares of its layout (read by :meth:`Point.intact`).
_WRITEABLE = operator.attrgetter("flags.writeable")
_LAYOUT = operator.attrgetter("shape", "dtype", "strides")


@dataclass(frozen=True, eq=False)
class Point:
    """A check point: parameters, inputs and targets (float64 arrays).

    Its ``params`` dict is never changed after the point is made (code
    under check gets a dict of its own): :meth:`arrays` is listed once.
    """

    params: dict[str, np.ndarray]
    x: np.ndarray
    y: np.ndarray
    _arrays: tuple[np.ndarray, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_arrays", (*self.params.values(), self.x, self.y))

    def copy(self) -> "Point":
        """Fresh (writable) copies of every array."""
        return Point({k: v.copy() for k, v in self.params.items()}, self.x.copy(), self.y.copy())

    def freeze(self) -> "Point":
        """Make every array read-only (these very arrays: only for a point of the check's own)."""
        for arr in self.arrays():
            arr.flags.writeable = False
        return self

    def thaw(self) -> None:
        """Undo :meth:`freeze`."""
        for arr in self.arrays():
            arr.flags.writeable = True

    def views(self) -> "Point":
        """New read-only array objects over this (frozen) point's memory: no copy.

        Numpy refuses to make a view writable while the array it views is
        read-only, so a call can write into these only by unlocking the
        frozen arrays themselves through ``.base`` (which
        :func:`run_guarded` detects).
        """
        return Point({k: v.view() for k, v in self.params.items()}, self.x.view(), self.y.view())

    def arrays(self) -> tuple[np.ndarray, ...]:
        return self._arrays

    def read_only(self) -> bool:
        """True while numpy refuses writes into every array."""
        return not any(arr.flags.writeable for arr in self.arrays())

    def intact(self, pristine: "Point") -> bool:
        """:meth:`untouched`, and ``pristine`` still read-only: both guards' tests in one loop.

        The test made around every guarded call (a toy network's check makes
        four); when it fails, :func:`run_guarded` asks each question alone.
        Mapped attribute getters, not a loop: half the cost (2.6 against 5.7
        us for xor_2layer's six arrays).
        """
        mine, theirs = self.arrays(), pristine.arrays()
        return (not any(map(_WRITEABLE, mine)) and not any(map(_WRITEABLE, theirs))
                and list(map(_LAYOUT, mine)) == list(map(_LAYOUT, theirs)))

    def untouched(self, pristine: "Point") -> bool:
        """Read-only still, and every array with its pristine shape, dtype and strides.

        Setting ``.shape`` (or ``.strides``) changes an array in place without
        writing its data, which read-only arrays allow.
        """
        for a, b in zip(self.arrays(), pristine.arrays()):  # one flat loop: this runs around every call, toys included
            if a.flags.writeable or a.shape != b.shape or a.dtype != b.dtype or a.strides != b.strides:
                return False
        return True

    def labelled(self) -> dict[str, np.ndarray]:
        """Every array under the name a message gives it (``params['W1']``, ``x``, ``y``)."""
        return {**{f"params[{k!r}]": v for k, v in self.params.items()}, "x": self.x, "y": self.y}


def copy_point(params: Mapping[str, np.ndarray], x: Any, y: Any) -> Point:
    """Fresh copies of a check point.

    Parameters become float64; ``x`` and ``y`` too unless they hold
    integers or booleans (class labels, token ids), which keep their dtype:
    a head that indexes with its labels must get integers.
    """
    return Point({k: np.array(v, dtype=np.float64, copy=True) for k, v in params.items()}, _data_copy(x), _data_copy(y))


def _data_copy(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    return np.array(arr, copy=True) if arr.dtype.kind in "iub" else np.array(arr, dtype=np.float64, copy=True)


def mutations(pristine: Mapping[str, np.ndarray], used: Mapping[str, np.ndarray], who: str) -> list[str]:
    """Describe every array in ``used`` that no longer equals its pristine copy."""
    found = []
    for key, before in pristine.items():
        after = used[key]
        if not same_entries(after, before):
            n = after.size if after.shape != before.shape else int(np.count_nonzero(~((after == before) | (np.isnan(after) & np.isnan(before)))))
            found.append(f"{who} changed its input {key} in place ({n} of {before.size} entries): "
                         "a function under check must not write into its arguments")
    return found


def same_entries(a: np.ndarray, b: np.ndarray) -> bool:
    """Same shape and entries, NaN equal to NaN (``np.array_equal(a, b, equal_nan=True)``).

    Decided by one ``==`` when there is no NaN (the usual case), without
    ``array_equal``'s NaN masks and boolean gathers (most of the mutation
    guard's time on a 784x400 weight).
    """
    if a.shape != b.shape:
        return False
    if a.size <= 4096 and a.dtype == b.dtype and a.tobytes() == b.tobytes():  # small: the same bits, the fastest test
        return True
    return bool((a == b).all()) or bool(np.array_equal(a, b, equal_nan=True))


#: Two results of one call that differ by at most this many ``eps`` of the result's largest entry are the
#: same result.  Summing a batch in another order (an honest per-sample loop in shuffled order, red team
#: rt19 F19) moved an entry by at most 11.7 eps of the whole gradient's largest entry (xor_2layer, shuffled
#: per-sample loop twice, 400 points at N = 3, 5, 8, 32 and 100 at N = 256; measured against one tensor's
#: own largest entry, a bias whose sum cancels, it reached 1305 eps, so the scale is the whole result's).
#: 64 leaves a margin of 5; what the guard is for (gradients accumulated into a kept buffer, unseeded
#: dropout or noise) moves entries by their own size, 1e14 eps.
ROUNDING_ULPS = 64


def unstable(first: Mapping[str, Any], second: Mapping[str, Any]) -> list[str]:
    """The names in ``first`` whose values in ``second`` differ by more than rounding: the result is not deterministic.

    Values are compared entry by entry (NaN equal to NaN at the same
    place); a difference of at most :data:`ROUNDING_ULPS` ``eps`` of the
    largest finite entry of all of ``first`` and ``second`` is rounding
    (the same sums in another order), not nondeterminism.  A value that is
    no numeric array is the same only when its ``repr`` is.

    Parameters
    ----------
    first, second : mapping of str to array_like
        Two results of the same call (e.g. gradients by parameter name).

    Returns
    -------
    list of str
        Names in ``first`` whose two values differ, in ``first``'s order.

    Examples
    --------
    >>> a = {"W": np.array([1.0, 2.0])}
    >>> unstable(a, {"W": np.array([1.0, 2.0 + 4e-16])}), unstable(a, {"W": np.array([1.0, 2.5])})
    ([], ['W'])
    """
    if all(map(_same_bits, first.values(), map(second.get, first))):
        return []  # the usual case: two calls gave the same bits, which the rule below accepts whatever the scale
    arrays = {k: (_numeric(v), _numeric(second.get(k))) for k, v in first.items()}
    finite = [np.abs(v[np.isfinite(v)]) for pair in arrays.values() for v in pair if v is not None and v.size]
    scale = max((float(v.max()) for v in finite if v.size), default=0.0)
    tolerance = ROUNDING_ULPS * float(np.finfo(np.float64).eps) * scale
    return [k for k, (a, b) in arrays.items() if not _within(a, b, tolerance, first[k], second.get(k))]


def _same_bits(a: Any, b: Any) -> bool:
    """Are ``a`` and ``b`` float arrays of one dtype and shape with the same bytes (then :func:`_within` at any tolerance)?

    At most 4096 entries (:func:`same_entries`' small case): the test that
    lets :func:`unstable` skip its scale and float64 copies, about a tenth
    of a toy network's check.
    """
    return (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype.kind == "f" and a.dtype == b.dtype
            and a.shape == b.shape and a.size <= 4096 and a.tobytes() == b.tobytes())


def _numeric(value: Any) -> np.ndarray | None:
    """``value`` as a float64 array, or None when it is no numeric array."""
    try:
        arr = np.asarray(value)
        return arr.astype(np.float64) if arr.dtype.kind in "iubf" else None
    except Exception:  # noqa: BLE001 - odd objects (a student's class): compared by repr
        return None


def _within(a: np.ndarray | None, b: np.ndarray | None, tolerance: float, raw_a: Any, raw_b: Any) -> bool:
    """Same shape and entries up to ``tolerance`` (NaN equal to NaN, infinities equal only to themselves)."""
    if a is None or b is None:
        return type(raw_a) is type(raw_b) and repr(raw_a) == repr(raw_b)
    if a.shape != b.shape:
        return False
    if same_entries(a, b):
        return True
    differ = ~((a == b) | (np.isnan(a) & np.isnan(b)))
    return bool(np.all(np.abs(a[differ] - b[differ]) <= tolerance))


#: Errors by which code refuses a read-only array (see :func:`run_guarded`).
REFUSALS: tuple[type[BaseException], ...] = (ValueError, TypeError, Warning)


def run_guarded(fn: Callable[..., Any], params: Mapping[str, np.ndarray], x: Any, y: Any | None, who: str, *,
                pristine: Point | None = None, spare: list[Point] | None = None) -> tuple[Any, list[str]]:
    """Call ``fn`` on the point, never on the caller's arrays; return its value and any mutation found.

    The call gets read-only views of ``pristine`` (frozen for it: no copy
    of a large weight per call).  Numpy refuses every write into them, so a
    call that returns with its views still read-only changed nothing, and
    no entry-by-entry comparison is needed (comparing a 784x1000 weight
    costs about as much as a forward pass).  A call that raises
    one of :data:`REFUSALS` on them (numpy's ``ValueError: assignment
    destination is read-only``, Cython's "buffer source array is
    read-only", a memoryview's ``TypeError: cannot modify read-only
    memory``, torch's "not writable" warning under ``-W error``) is run
    again on writable copies, and those are compared with the pristine point as
    always, so a function that writes into its inputs is reported, with
    the number of entries it changed, rather than failing; an error the
    second call raises too is the caller's.  A call that made its views
    writable is compared too; one that unlocked the frozen arrays behind
    them is an error (the reference itself may have been written).

    ``pristine``: the point already copied (``copy_point(params, x, y)``) and
    never handed to code under check, to share between several guarded calls.
    It is frozen (made read-only) here: :meth:`Point.thaw` it when the
    guarded calls are done, if it must be written.  ``spare``: a one-place
    holder shared by those calls: the views a call left unchanged are put
    there, and the next call takes them.  Empty it before a call that must
    see array objects no earlier call has seen.
    """
    if pristine is None:
        pristine = copy_point(params, x, y if y is not None else np.zeros(0))
    used = spare.pop() if spare else pristine.freeze().views()
    try:
        value, found = _call(fn, used, y is not None, who)
        refused = False
    except REFUSALS:  # how a read-only array is refused; any other error is the user's, raised after one call
        if not used.read_only():
            raise
        refused = True
    if refused:  # outside the handler: an error of the second call is the user's own, with nothing of ours chained
        used = pristine.copy()
        value, found = _call(fn, used, y is not None, who)
    if not used.intact(pristine):  # the usual case is one loop; otherwise each guard in turn
        _require_frozen(pristine, who)
        if not used.untouched(pristine):
            found += mutations(pristine.labelled(), used.labelled(), who)
    if spare is not None and not found:
        spare.append(used)
    return value, found


def _require_frozen(pristine: Point, who: str) -> None:
    """Raise when a call made the check's own arrays (behind the views it was handed) writable again."""
    if pristine.read_only():
        return
    unlocked = [name for name, arr in pristine.labelled().items() if arr.flags.writeable]
    raise GradcheckValueError(
        f"{who} made the read-only memory behind its input{'s' if len(unlocked) > 1 else ''} "
        f"{', '.join(unlocked)} writable again (through .base): a function under check must not write "
        "into its arguments, and what it wrote there cannot be told apart from the point being checked")


def _call(fn: Callable[..., Any], point: Point, with_y: bool, who: str) -> tuple[Any, list[str]]:
    """``fn`` on the point, its ``params`` as a dict of its own: what the call did to that dict is a finding."""
    handed = dict(point.params)
    value = fn(handed, point.x, point.y) if with_y else fn(handed, point.x)
    return value, _dict_changes(point.params, handed, who)


def _dict_changes(before: Mapping[str, np.ndarray], after: Mapping[str, Any], who: str) -> list[str]:
    """Keys removed, added or bound to another object in the ``params`` dict a function was handed."""
    # the same keys (as many, each found: a missing one gets None, never an array), each bound to its own array
    if len(after) == len(before) and all(map(operator.is_, map(after.get, before), before.values())):
        return []  # nothing changed (map and operator.is_: a third cheaper than a generator, four calls a check)
    removed = [k for k in before if k not in after]
    added = [k for k in after if k not in before]
    rebound = [k for k in before if k in after and after[k] is not before[k]]
    if not (removed or added or rebound):
        return []
    what = "; ".join(f"{verb} {keys}" for verb, keys in (("removed", removed), ("added", added),
                                                           ("replaced", rebound)) if keys)
    return [f"{who} changed its input params (the dict) in place ({what}): "
            "a function under check must not write into its arguments"]


def precision_findings(params: Mapping[str, Any], x: Any, y: Any, grads: Mapping[str, Any] | None = None,
                       output: Any = None) -> list[str]:
    """Name every array below float64 among inputs, gradients and the forward output."""
    found = []
    named = {f"params[{k!r}]": v for k, v in params.items()}
    named.update({"x": x, "y": y})
    named.update({f"grads[{k!r}]": v for k, v in (grads or {}).items()})
    if output is not None:
        named["forward output"] = output
    for name, value in named.items():
        dtype = np.asarray(value).dtype
        if dtype.kind == "f" and dtype.itemsize < 8:
            found.append(f"{name} is {dtype}: checked in float64 copies, but {dtype} arithmetic agrees "
                         f"with the exact gradient only to about {np.finfo(dtype).eps:.0e} relative")
    return found


def warn_or_raise(findings: list[str], *, strict: bool) -> None:
    if findings and strict:
        raise GradcheckTypeError("strict=True requires float64 throughout: " + "; ".join(findings))
    for f in findings:
        warnings.warn(f, GradcheckPrecisionWarning, stacklevel=4)


def require_finite(grads: Mapping[str, np.ndarray], what: str) -> None:
    """Raise ``ValueError`` naming the parameter when a gradient has NaN or inf."""
    for name, g in grads.items():
        # a small array: a finite sum of its entries (Python floats: no numpy call, no overflow warning)
        # has no NaN or inf among its terms; a sum that is not finite (an overflow too) gets the exact test
        if (g.size <= 64 and g.dtype.kind == "f" and math.isfinite(sum(g.reshape(-1).tolist()))) or np.isfinite(g).all():
            continue
        bad = ~np.isfinite(g)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise GradcheckValueError(f"{what}[{name!r}] has {int(bad.sum())} non-finite entries (NaN or inf), "
                             f"first at index {first}: {g[first]!r}")
