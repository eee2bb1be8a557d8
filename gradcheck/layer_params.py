"""A layer object's parameters and where its backward leaves their gradients (rt21 F2).

A *parameter* is a floating-point array the layer holds before the check,
as an attribute (``self.W``) or as an entry of a dict, list or tuple
attribute (``self.params["W"]``, ``self.params[0]``), that its forward
does not replace (``self.x = x`` makes ``x`` a cache) and that is not
itself the gradient of another (below).  Its gradient is the first of
these that is an array after backward (``{a}`` the attribute, ``{c}[k]``
a container entry)::

    self.d{a}  self.d_{a}  self.grad_{a}  self.{a}_grad  self.grads[{a}]  self.grads["d{a}"]
    self.grads[k]  self.grad[k]  self.gradients[k]  self.d{c}[k]  self.grad_{c}[k]  self.{c}_grad[k]
    self.d{k}  self.grads["d{k}"]  (for a str key k)

``W``/``dW`` and ``gamma``/``dgamma`` ("Deep Learning from Scratch"),
``weight``/``grad_weight`` or ``weight_grad`` (PyTorch-like names),
``params``/``grads`` dicts (cs231n-style classes) and ``params``/``grads``
lists (the book's second volume).  A parameter the forward reads (its
output changes when the parameter moves) whose gradient is none of these
is not checked, and :func:`gradcheck.check_layer` fails, naming what it
looked for and ``params=`` (``{"W": "my_dW"}``, entries written
``"grads['W']"`` or ``"grads[0]"``), which names the parameters and their
gradients outright.  An array the forward reads that ``params=`` leaves
out is said in a warning (a running statistic, a fixed buffer).
"""
from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from gradcheck import guards
from gradcheck._validate import describe
from gradcheck.errors import GradcheckTypeError, GradcheckValueError

__all__ = ["Held", "discover", "gradient_paths", "resolve", "unfound_message"]

_PATH = re.compile(r"""^([A-Za-z_]\w*)(?:\[(?:'([^']*)'|"([^"]*)"|(\d+))\])?$""")
_MISSING = object()
#: containers that hold gradients, never parameters
_GRAD_CONTAINERS = ("grads", "grad", "gradients")


def _split(path: str) -> tuple[str, str | int | None]:
    """``"W"`` -> ``("W", None)``; ``"params['W']"`` -> ``("params", "W")``; ``"grads[0]"`` -> ``("grads", 0)``."""
    m = _PATH.match(path) if isinstance(path, str) else None
    if m is None:
        raise GradcheckValueError(f"params: {path!r} is not an attribute name ('dW') or an entry of one "
                                  "(\"grads['W']\", 'grads[0]')")
    key: str | int | None = int(m[4]) if m[4] is not None else m[2] if m[2] is not None else m[3]
    return m[1], key


def _path(attr: str, key: str | int | None) -> str:
    return attr if key is None else f"{attr}[{key!r}]"


def resolve(layer: Any, path: str, default: Any = None) -> Any:
    """What ``layer`` holds at ``path`` (``default`` when nothing is there).

    >>> class L: pass
    >>> layer = L(); layer.grads = {"W": 1}; layer.params = [2]
    >>> resolve(layer, "grads['W']"), resolve(layer, "params[0]"), resolve(layer, "dW", "none")
    (1, 2, 'none')
    """
    attr, key = _split(path)
    obj: Any = getattr(layer, attr, _MISSING)
    if key is None or obj is _MISSING:
        return default if obj is _MISSING else obj
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError):
        return default


def _entries(layer: Any) -> Iterator[tuple[str, np.ndarray]]:
    """Every array the layer holds: attributes, then entries of its dict, list and tuple attributes."""
    for attr, value in sorted(vars(layer).items()):
        if isinstance(value, np.ndarray):
            yield attr, value
        elif isinstance(value, Mapping):
            yield from ((_path(attr, k), v) for k, v in value.items() if isinstance(k, str) and isinstance(v, np.ndarray))
        elif isinstance(value, (list, tuple)):
            yield from ((_path(attr, i), v) for i, v in enumerate(value) if isinstance(v, np.ndarray))


def gradient_paths(path: str) -> list[str]:
    """Where the gradient of the parameter at ``path`` is looked for, in order (the module docstring).

    >>> gradient_paths("W")
    ['dW', 'd_W', 'grad_W', 'W_grad', "grads['W']", "grads['dW']"]
    >>> gradient_paths("params['W']")[:3]
    ["grads['W']", "grad['W']", "gradients['W']"]
    """
    attr, key = _split(path)
    if key is None:
        return [f"d{attr}", f"d_{attr}", f"grad_{attr}", f"{attr}_grad", _path("grads", attr), _path("grads", "d" + attr)]
    found = [_path(c, key) for c in (*_GRAD_CONTAINERS, f"d{attr}", f"grad_{attr}", f"{attr}_grad")]
    return found + ([f"d{key}", _path("grads", f"d{key}")] if isinstance(key, str) and key.isidentifier() else [])


class Held:
    """Every array a layer object holds before the check (attributes and container entries), restorable.

    :meth:`restore` puts each array back where it was and its entries back
    bit for bit (a backward that takes an SGD step on ``self.W``, or
    rebinds it, leaves no trace), and each dict or list attribute's
    contents back (a backward that fills ``self.grads``), so the check
    leaves the layer as it found it.
    """

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.objects = dict(_entries(layer))
        self.saved = {a: v.copy() for a, v in self.objects.items()}
        self.containers = {a: (v, dict(v) if isinstance(v, dict) else list(v)) for a, v in vars(layer).items()
                           if isinstance(v, (dict, list))}

    def current(self, path: str) -> Any:
        return resolve(self.layer, path)

    def entries(self) -> dict[str, np.ndarray]:
        """Copies of what the held paths hold now."""
        return {a: np.array(self.current(a), copy=True) for a in self.objects}

    def rebound(self) -> set[str]:
        """The held paths that now hold another object (``self.x = x`` in forward: a cache, not a parameter)."""
        return {a for a, obj in self.objects.items() if self.current(a) is not obj}

    def restore(self, paths: Sequence[str] | None = None) -> None:
        if paths is None:
            for attr, (box, contents) in self.containers.items():
                if getattr(self.layer, attr, None) is not box:
                    setattr(self.layer, attr, box)
                box.clear()
                box.update(contents) if isinstance(box, dict) else box.extend(contents)
        for a in self.objects if paths is None else [a for a in paths if a in self.objects]:
            obj = self.objects[a]
            if self.current(a) is not obj:
                self._rebind(a, obj)
            if not guards.same_entries(obj, self.saved[a]):
                np.copyto(obj, self.saved[a])

    def _rebind(self, path: str, obj: np.ndarray) -> None:
        attr, key = _split(path)
        if key is None:
            setattr(self.layer, attr, obj)
            return
        container = getattr(self.layer, attr, None)
        if isinstance(container, (dict, list)):
            container[key] = obj  # type: ignore[index]


def _named(layer: Any, names: Any) -> dict[str, str]:
    """``params=`` checked: a dict of parameter path to gradient path."""
    if not isinstance(names, Mapping):
        raise GradcheckTypeError(f"params must be a dict of parameter attribute to gradient attribute, got {describe(names)}")
    for k, v in names.items():
        _split(k), _split(v)
    return dict(names)


def discover(layer: Any, held: Held, names: Mapping[str, str] | None,
             rebound: set[str]) -> tuple[dict[str, str], dict[str, list[str]]]:
    """After backward: ``({parameter path: gradient path}, {parameter path: the paths looked for})``.

    With ``names`` (``params=``) the first is ``names`` and the second the
    held arrays it leaves out (said, if the forward reads them).
    """
    gradients = {g for p in held.objects for g in gradient_paths(p) if p not in rebound}
    groups: dict[int, list[str]] = {}  # one array under several names (self.W is self.params["W"]): one parameter
    for p, obj in held.objects.items():
        if p not in rebound and p not in gradients and _split(p)[0] not in _GRAD_CONTAINERS and obj.dtype.kind == "f":
            groups.setdefault(id(obj), []).append(p)
    if names is not None:
        named = _named(layer, names)
        ids = {id(held.current(p)) for p in named} | {id(held.current(g)) for g in named.values()}
        return named, {ps[0]: [] for i, ps in groups.items() if i not in ids}
    found: dict[str, str] = {}
    unfound: dict[str, list[str]] = {}
    for paths in groups.values():
        hits = [(p, g) for p in paths for g in gradient_paths(p) if isinstance(resolve(layer, g), np.ndarray)]
        if hits:
            found[hits[0][0]] = hits[0][1]
        else:
            unfound[paths[0]] = [g for p in paths for g in gradient_paths(p)]
    return found, unfound


def read_by(forward: Any, arr: np.ndarray, out: np.ndarray) -> bool:
    """Whether ``forward()``'s output moves when ``arr`` does (put back after); a read-only array counts as read."""
    if not arr.flags.writeable:
        return True
    saved = arr.copy()
    try:
        arr += (np.abs(arr) + 1.0) * 0.375  # every entry moves, by a good part of its size
        try:
            moved = np.asarray(forward())
        except Exception:  # it fails with the array moved: it reads it
            return True
        return moved.shape != out.shape or not guards.same_entries(np.asarray(moved, dtype=out.dtype), out)
    finally:
        np.copyto(arr, saved)


def unfound_message(who: str, path: str, shape: tuple[int, ...], looked: Sequence[str], layer: Any) -> str:
    """The failure of a parameter the forward reads whose gradient was not found."""
    there = [f"self.{g} is {describe(v)}" for g in looked if (v := resolve(layer, g, _MISSING)) is not _MISSING]
    return (f"{who}.{path} {shape} is read by forward but NOT CHECKED: no gradient for it was found after backward "
            f"(looked for {', '.join('self.' + g for g in looked)}{'; ' + '; '.join(there) if there else ''}). "
            f"If backward keeps it under another name, name every parameter and its gradient: "
            f"check_layer(layer, inputs, params={{{path!r}: '<gradient attribute>', ...}}) (entries as \"grads['W']\"); "
            f"if {path} is not trained (a running statistic, a fixed buffer), list only the trained ones in params=")
