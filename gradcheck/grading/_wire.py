"""The sandbox's wire format: one module, used by the grader and by the child.

The grader imports it as :mod:`gradcheck.grading._wire`; the child bootstrap
loads the *same file* by path (it never imports the harness) before its
import blocker is installed and before any submission code runs, so the
references to ``numpy`` and ``json`` taken here at import time are the real
ones, whatever the submission patches later.  Standard library and numpy
only; nothing here imports the harness.

A frame (both directions, on dedicated pipes; stdout and stderr belong to the
student) is ``b"GCF1"``, a 4-byte JSON length and an 8-byte payload length
(network order), the JSON header, then the payload: the raw little-endian
float64 bytes of the arrays listed in ``header["arrays"]`` as ``[key, shape]``
pairs, in order.  No pickle anywhere.

Array keys are typed: :class:`Key` (a role and a name) on both sides, a
string on the wire (``"params.W1"``, ``"grad.W1"``, ``"after.forward.x"``),
built and parsed only here.

Examples
--------
>>> import numpy as np
>>> frame = encode({"status": "ok"}, [(Key(GRAD, "W"), np.eye(2))])
>>> meta, arrays, used = decode(bytearray(frame), 1 << 20)
>>> meta["status"], used == len(frame), arrays[Key(GRAD, "W")].shape
('ok', True, (2, 2))
>>> Key.parse("after.forward.params.W1")
Key(role='after.forward.params', name='W1')
"""
from __future__ import annotations

import json
import math
import struct
from typing import Any, Iterable, Mapping, NamedTuple

import numpy as np

__all__ = [
    "MAGIC", "HEADER", "MAX_JSON", "ProtocolError", "Key", "encode", "decode",
    "PARAM", "INPUT", "GRAD", "GLOBAL", "FORWARD", "AFTER_PARAM", "AFTER_INPUT", "AFTER_FORWARD_PARAM", "AFTER_FORWARD_INPUT",
    "ROLES", "BATCH_NAMES",
]

MAGIC = b"GCF1"
HEADER = struct.Struct("!4sIQ")
#: Largest JSON header the grader accepts from the child.
MAX_JSON = 4 << 20

# -- roles of the arrays in a frame -------------------------------------------------
#: A parameter sent to the child (name: the reference parameter name).
PARAM = "params"
#: ``x`` or ``y`` sent to the child.
INPUT = "input"
#: A gradient returned by the child (name: the reference parameter name).
GRAD = "grad"
#: The forward pass's output (name: empty).
FORWARD = "forward"
#: A parameter as it was after the backward call.
AFTER_PARAM = "after.params"
#: ``x`` or ``y`` as they were after the backward call.
AFTER_INPUT = "after"
#: A parameter as it was after the forward call.
AFTER_FORWARD_PARAM = "after.forward.params"
#: ``x`` or ``y`` as they were after the forward call.
AFTER_FORWARD_INPUT = "after.forward"
#: A numeric array the submission's module defines at top level (name: the global's name),
#: sent once with the answer to ``load`` (see ``_child.module_arrays``).
GLOBAL = "global"
#: Every role, longest first (so parsing takes the most specific one).
ROLES: tuple[str, ...] = (AFTER_FORWARD_PARAM, AFTER_FORWARD_INPUT, AFTER_PARAM, AFTER_INPUT, GLOBAL, PARAM, GRAD, FORWARD, INPUT)
#: The names an ``INPUT`` can have.
BATCH_NAMES: tuple[str, ...] = ("x", "y")

# private references, taken before any submission code runs (see the module docstring)
_asarray = np.asarray
_frombuffer = np.frombuffer
_float64 = np.float64
_dumps = json.dumps
_loads = json.loads
_prod = math.prod


class ProtocolError(Exception):
    """A frame that breaks the format (garbage, a forged size, a malformed header)."""


class Key(NamedTuple):
    """The typed key of one array of a frame: a role (one of :data:`ROLES`) and a name."""

    role: str
    name: str

    def wire(self) -> str:
        """The key as written on the wire."""
        if self.role == FORWARD:
            return FORWARD
        if self.role == INPUT:
            return self.name
        return f"{self.role}.{self.name}"

    @classmethod
    def parse(cls, text: str) -> "Key":
        """The inverse of :meth:`wire`; raises :class:`ProtocolError` for a key no role explains."""
        if text == FORWARD:
            return cls(FORWARD, "")
        if text in BATCH_NAMES:
            return cls(INPUT, text)
        for role in ROLES:
            if role in (FORWARD, INPUT):
                continue
            prefix = role + "."
            if text.startswith(prefix) and len(text) > len(prefix):
                name = text[len(prefix):]
                if role in (AFTER_INPUT, AFTER_FORWARD_INPUT) and name not in BATCH_NAMES:
                    continue
                return cls(role, name)
        raise ProtocolError(f"an array key no role explains: {text[:80]!r}")

    @property
    def after_forward(self) -> bool:
        """Whether this is an input as the forward call left it."""
        return self.role in (AFTER_FORWARD_PARAM, AFTER_FORWARD_INPUT)

    @property
    def is_param(self) -> bool:
        """Whether the name is a parameter's (and not ``x``/``y``)."""
        return self.role in (PARAM, GRAD, AFTER_PARAM, AFTER_FORWARD_PARAM)


def encode(meta: Mapping[str, Any], arrays: Iterable[tuple[Key, Any]]) -> bytes:
    """One frame: ``meta`` as the JSON header plus ``arrays`` as raw little-endian float64."""
    listed = []
    blobs = []
    for key, arr in arrays:
        a = _asarray(arr, dtype="<f8")
        listed.append([key.wire(), [int(n) for n in a.shape]])
        blobs.append(a.tobytes(order="C"))
    head = _dumps(dict(meta, arrays=listed), ensure_ascii=True, default=str).encode("ascii")
    payload = b"".join(blobs)
    return HEADER.pack(MAGIC, len(head), len(payload)) + head + payload


def _shape_ok(item: Any) -> bool:
    return (
        isinstance(item, list) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], list)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in item[1])
    )


def decode(buf: bytearray, max_payload: int) -> tuple[dict[str, Any], dict[Key, np.ndarray], int] | None:
    """One frame from the front of ``buf``: ``(meta, arrays, bytes used)``, or None if incomplete.

    Every array is rebuilt from raw bytes as a fresh float64 array.  Raises
    :class:`ProtocolError` for anything that is not a well-formed frame with
    at most ``max_payload`` bytes of payload.
    """
    if len(buf) < HEADER.size:
        return None
    magic, jlen, plen = HEADER.unpack_from(buf)
    if magic != MAGIC or jlen > MAX_JSON or plen > max_payload:
        raise ProtocolError(f"bad frame (magic {bytes(magic)!r}, header {jlen} bytes, payload {plen} bytes)")
    end = HEADER.size + jlen + plen
    if len(buf) < end:
        return None
    try:
        meta = _loads(bytes(buf[HEADER.size : HEADER.size + jlen]).decode("utf-8"))
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"unreadable frame header ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("arrays", []), list):
        raise ProtocolError("the frame header is not a JSON object")
    payload = memoryview(buf)[HEADER.size + jlen : end]
    try:
        arrays = _arrays(meta.get("arrays", []), payload, plen)
    finally:
        payload.release()
    return meta, arrays, end


def _arrays(listed: list[Any], payload: memoryview, plen: int) -> dict[Key, np.ndarray]:
    arrays: dict[Key, np.ndarray] = {}
    offset = 0
    for item in listed:
        if not _shape_ok(item):
            raise ProtocolError("a malformed array entry in the frame header")
        count = _prod(item[1])
        if offset + 8 * count > plen:
            raise ProtocolError("the arrays overrun the payload")
        raw = _frombuffer(payload, dtype="<f8", count=count, offset=offset).reshape(item[1])
        arrays[Key.parse(item[0])] = _asarray(raw.copy(), dtype=_float64)
        offset += 8 * count
    if offset != plen:
        raise ProtocolError("the payload has bytes no array accounts for")
    return arrays
