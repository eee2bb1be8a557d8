"""Fast, exact full numerical gradients of a layered model.

The numerical side of a check uses only the model's *forward* computation
(``model.layers`` and ``model.head``), never its backward, so it stays an
independent oracle.  It is fast because it exploits the structure:

* the activations entering every layer are computed once and reused: a
  perturbation of a layer's parameter is propagated from that layer on;
* many perturbed copies of the parameter (every stencil point of a chunk
  of entries) are stacked along a leading axis and evaluated in one
  numpy pass;
* for a dense layer ``z = a @ W + b``, moving ``W[i, j]`` by ``s`` moves
  only column ``j`` of ``z``, by ``s * a[:, i]``.  That column is carried
  through elementwise activations alone and expanded (a rank-one update)
  at the next dense layer.  The cost per perturbed entry is
  ``O(N * fan_out_next)`` instead of a whole forward pass;
* only the samples whose column moved go on (for a ReLU layer, those where
  the unit is active), feature-major and in cache-sized slices;
* when the last dense layer moves one row of its output (``delta * W[j]``,
  or ``delta * e_c`` for its own weight) and the model's ``loss_head`` is a
  :class:`~gradcheck.nn.RankOneHead` that agrees with ``model.head`` at the
  point, the head gives those samples' losses without building the moved
  outputs (softmax cross-entropy: one ``exp`` per logit, no maximum);
* big stages are spread over forked worker processes
  (:mod:`gradcheck.parallel`), with bit-identical results.

Layers are recognised by the protocols of :mod:`gradcheck.nn`, each
declaration checked on the base point first (:mod:`gradcheck.recognise`);
a layer or head the fast paths cannot use is evaluated the generic way, one
perturbed copy at a time, never with an error of the engine's own.

The stencil and its error model are in :mod:`gradcheck.stencil`.
"""
from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass
from typing import Any, Callable, Collection, Iterable, Mapping, Sequence

import numpy as np

from gradcheck.errors import GradcheckValueError
from gradcheck._validate import check_workers
from gradcheck.estimate import NumericGradient
from gradcheck.numeric import default_step, needs_refining, refine_kinks, stencil_gradient
from gradcheck.parallel import available_cpus, can_fork, run_split, workers_from_env
from gradcheck.nn import AffineLayer, RankOneHead
from gradcheck.recognise import (CHECK_COPIES, STACK_RTOL, LayerKind, Stacking, StackRefused, Structure, carries, declares,
                                 is_affine, kind_if_stacked, recognise, scalar_loss, stacking, takes_stacks)
from gradcheck.stencil import EPS, STENCIL, roundoff_error

__all__ = ["estimate_gradients", "estimate_tiny", "LineLosses", "ModelEvaluator", "refine_estimate", "split_estimate",
           "tiny_first_stage"]


#: Size of one stacked pass, in float64 values (of the widest stacked array).
#: About 512 KB, the size of a core's L2 cache: measured on mnist_relu,
#: 2**16 ran 1.6x faster than 2**19 at batch 32 (2.5x at batch 256),
#: because every pass of the loss head then reads from cache.
CHUNK_VALUES = 1 << 16

#: Size of one slice of copies sent through the layers after a dense layer
#: and the loss head (:meth:`ModelEvaluator._one_column`), in float64 values.
HEAD_VALUES = 1 << 16

#: Size of one stacked pass of fast mode's line losses (:meth:`ModelEvaluator.lines`), in float64 values.
LINE_VALUES = 1 << 18

#: Stacked values up to which a model's stencil points all go in one pass (:meth:`ModelEvaluator.tiny`).
TINY_VALUES = 1 << 16

#: Default cap on worker processes (see :func:`gradcheck.parallel.run_split`).
AUTO_WORKERS = 4

#: Stacked values (copies times their width) a pass needs before the default
#: spreads it over processes: below about this, forking a child (2-3 ms)
#: costs more than it saves.
PARALLEL_MIN_VALUES = 1 << 20

#: Bytes of the block :func:`_settle_allocator` frees: just under glibc's 32 MiB cap on its dynamic
#: ``mmap`` threshold (a block above the cap would not move the threshold at all).
ALLOCATOR_BLOCK = 30 << 20


def _size(value: Any) -> int:
    """``int(np.size(value))``, read from the array itself when it is one (np.size's call cost more than the rest)."""
    return value.size if isinstance(value, np.ndarray) else int(np.size(value))


def _settle_allocator() -> None:
    """Let the C allocator keep the check's temporaries instead of returning them to the OS.

    glibc's ``malloc`` serves blocks above a *dynamic* threshold (128 KiB
    at start-up) with ``mmap`` and trims the heap when more than twice that
    is free at its top, so the copies of a large weight and the temporaries
    of every stacked pass are mapped, zero-filled page by page and unmapped
    again, over and over.  Freeing one mapped block raises the threshold to
    that block's size (glibc caps it at 32 MiB) and the trim threshold to
    twice that, as any numpy program that frees a 30 MiB array does: the
    process then keeps up to 60 MiB of freed memory for reuse.  Measured on
    mnist_relu at batch 32: the loss head runs 2.5x faster afterwards; fast
    mode on 784-1000-10 about 1.5x faster.  Allocating the block touches
    none of its pages: it costs microseconds, but it is needed once per
    process (glibc never lowers the thresholds again, and a forked child
    inherits them), so later calls return at once: a toy network's check
    calls it twice and is made of such microseconds.
    """
    global _SETTLED
    if not _SETTLED:
        np.empty(ALLOCATOR_BLOCK // 8)
        _SETTLED = True


#: Whether :func:`_settle_allocator` has run in this process.
_SETTLED = False


@dataclass(frozen=True)
class _Column:
    """Stack of activations equal to ``base`` except for column ``cols[p]``.

    ``values[p]`` (shape ``(N,)``) is column ``cols[p]`` of the ``p``-th copy.
    """

    base: np.ndarray  # (N, d)
    cols: np.ndarray  # (P,) int
    values: np.ndarray  # (P, N)

    def dense(self) -> np.ndarray:
        out = np.repeat(self.base[None], len(self.cols), axis=0)
        out[np.arange(len(self.cols)), :, self.cols] = self.values
        return out


def _moves(out: np.ndarray, deltas: Sequence[np.ndarray] | np.ndarray, picked: Sequence[int], offsets: np.ndarray,
           start: int) -> np.ndarray:
    """Fill ``out[i]`` with ``offsets[m] * deltas[picked[l]]`` for the pairs ``(l, m)`` from ``start`` on, line-major.

    In place, without temporaries the size of the stack.  A pass of every
    pair of an array of ``deltas`` is one broadcast product (the rank-one
    lines' usual case: 14 us against 20 us for eight pairs of 32x100).
    """
    n_off = len(offsets)
    if isinstance(deltas, np.ndarray) and start == 0 and len(out) == len(picked) * n_off:
        moves = deltas if len(picked) == len(deltas) and list(picked) == list(range(len(deltas))) else deltas[list(picked)]
        every = out.reshape((len(picked), n_off) + out.shape[1:])
        np.multiply(moves[:, None], np.asarray(offsets, dtype=np.float64).reshape((1, n_off) + (1,) * (out.ndim - 1)),
                    out=every)
        return out
    for i, p in enumerate(range(start, start + len(out))):
        np.multiply(deltas[picked[p // n_off]], offsets[p % n_off], out=out[i])
    return out


def _rank_one(base: np.ndarray, delta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``base[None] + delta[:, :, None] * rows[:, None, :]``, laid out feature-major.

    The result has shape ``(P, N, d)`` but its last axis varies slowest in
    memory, so the reductions over features that heads do (softmax,
    cross-entropy sums) add whole contiguous planes instead of looping
    over many rows of length ``d``: about three times faster, and every
    ufunc downstream keeps the layout (``order="K"``).
    """
    P, N = delta.shape
    d = base.shape[-1]
    out = np.empty((d, P, N))
    np.multiply(rows.T[:, :, None], delta[None, :, :], out=out)
    out += base.T[:, None, :]
    return out.transpose(1, 2, 0)


@dataclass(frozen=True)
class LineLosses:
    """What :meth:`ModelEvaluator.lines` returns: ``losses(offsets, which=None)``, and what is known of kinks.

    ``safe_step``: the largest step ``t`` at which no line's stencil (offsets
    up to ``2 t``) crosses a kink a layer declares, ``inf`` when the layers
    after the tensor declare none, ``None`` when unknown.
    """

    losses: Callable[..., np.ndarray]
    safe_step: float | None

    def __call__(self, offsets: np.ndarray, which: Sequence[int] | None = None) -> np.ndarray:
        return self.losses(offsets, which)


class ModelEvaluator:
    """Evaluate a model's loss at stacks of perturbed parameters.

    Parameters
    ----------
    model : gradcheck.nn.LayeredModel
        Needs ``layers``, ``head`` and ``prepare_input``.
    params : mapping
        The point (float64 arrays; not modified).
    x, y : ndarray
        The batch; integer ``y`` (class labels) stays integer.
    """

    def __init__(self, model: Any, params: Mapping[str, np.ndarray], x: np.ndarray, y: np.ndarray) -> None:
        _settle_allocator()
        self.model = model
        self.params = dict(params)
        y = np.asarray(y)
        self.y = y if y.dtype.kind in "iub" else np.asarray(y, dtype=np.float64)
        self.layers = tuple(model.layers)
        a = model.prepare_input(np.asarray(x, dtype=np.float64))
        if a.ndim >= 1 and a.shape[0] == 0:
            raise GradcheckValueError(f"x is an empty batch (x.shape={np.shape(x)}): a gradient check needs at least one sample")
        self.inputs: list[np.ndarray] = []
        for layer in self.layers:
            self.inputs.append(a)
            a = layer.forward(self.params, a)
        self.output = a
        self.f0 = scalar_loss(model.head(a, self.y))
        #: size of the numbers the loss is computed from (see stencil.roundoff)
        self.noise_scale = float(max(abs(self.f0), np.maximum.reduce(np.abs(a), axis=None, initial=0.0)))  # np.max
        self._cache: dict[Any, Any] = {}
        self.owner = {name: k for k, layer in enumerate(self.layers) for name in layer.param_names}
        # what the layers and the head allow (gradcheck.recognise) is found when first needed: a tiny
        # model's stacked passes need only whether everything stacks (:attr:`stacking`), which on the
        # notebooks' toy networks is half the cost of the whole recognition
        self._stacking: Stacking | None = None
        self._structure: Structure | None = None
        self._separated: tuple[float | None, np.ndarray | None] | None = None

    @property
    def stacking(self) -> Stacking:
        """Does every layer and the head take stacks of copies (:func:`gradcheck.recognise.stacking`)?"""
        if self._stacking is None:
            self._stacking = stacking(self.layers, self.model.head, self.params, self.inputs, self.output, self.y,
                                      self.f0)
        return self._stacking

    @property
    def structure(self) -> Structure:
        """What the engine may exploit in the layers (:func:`gradcheck.recognise.recognise`)."""
        if self._structure is None:
            self._structure = recognise(self.layers, self.model.head, self.params, self.inputs, self.output, self.y,
                                        self.f0, known=self.stacking)
        return self._structure

    @property
    def kinds(self) -> tuple[LayerKind, ...]:
        """How each layer is evaluated (:class:`~gradcheck.recognise.LayerKind`)."""
        return self.structure.kinds

    @property
    def sample_scale(self) -> float | None:
        """``c`` when the loss is ``c * sum_n head(sample n)`` (see :meth:`_separable`), else None."""
        return self._separate()[0]

    @sample_scale.setter
    def sample_scale(self, value: float | None) -> None:  # None forces the whole-batch paths (tests do)
        self._separated = (value, self._separate()[1])

    @property
    def sample_losses(self) -> np.ndarray | None:
        """Each sample's own loss at the point, when :attr:`sample_scale` is known."""
        return self._separate()[1]

    def _separate(self) -> tuple[float | None, np.ndarray | None]:
        if self._separated is None:
            self._separated = self._separable() if self.structure.rowwise else (None, None)
        return self._separated

    def _separable(self) -> tuple[float | None, np.ndarray | None]:
        """Is the loss ``c * sum_n head(sample n)`` with ``c`` 1 or 1/N?

        Found numerically at the base point: the head is applied to every
        sample alone (a stack of one-sample batches) and the sum is compared
        with the loss, to a few ulps.  Heads that are means or sums over
        samples (every notebook loss) pass; anything else falls back to
        evaluating whole batches.
        """
        out = self.output
        if out.ndim != 2 or self.y.shape[:1] != out.shape[:1]:
            return None, None
        n = out.shape[0]
        try:
            per = np.asarray(self.model.head(out[:, None, :], self._sample_targets()[:, None]), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a head that cannot do this is evaluated whole
            return None, None
        if per.shape != (n,) or not np.all(np.isfinite(per)):
            return None, None
        total = float(np.sum(per))
        for c in (1.0 / n, 1.0):
            if abs(c * total - self.f0) <= 64 * EPS * max(abs(self.f0), c * float(np.sum(np.abs(per))), 1e-300):
                return c, per
        return None, None

    def _sample_targets(self) -> np.ndarray:
        """Targets as ``(N, d)``, so that ``[:, None]`` makes one-sample batches."""
        return self.y.reshape(len(self.y), -1) if self.y.ndim == 1 else self.y

    def _pairs(self, k: int, state: _Column, W: np.ndarray) -> np.ndarray:
        """Losses of a column stack through dense layer ``k``, changed samples only.

        Sample ``n`` of copy ``p`` is evaluated only where the column moved
        (``delta[p, n] != 0``); the loss of the copy is the base loss plus
        ``c`` times the change of those samples' own losses.  Every gather
        reads a feature-major copy, so the stacks stay feature-major.
        """
        assert self.sample_losses is not None and self.sample_scale is not None  # only called for rowwise heads
        delta = (state.values - self._base_cols(k, state.cols)).reshape(-1)
        flat = np.flatnonzero(delta)
        n_samples = state.values.shape[1]
        p_idx, n_idx = np.divmod(flat, n_samples)
        WT, outT, yT = self._feature_major(k)
        z = np.take(WT, state.cols[p_idx], axis=1)
        z *= delta[flat]
        z += np.take(outT, n_idx, axis=1)
        out = self._forward_from(k + 1, z.T[:, None, :])
        y = np.take(yT, n_idx, axis=-1).T[:, None]
        per = np.asarray(self.model.head(out, y), dtype=np.float64)
        change = np.bincount(p_idx, weights=per - self.sample_losses[n_idx], minlength=len(state.cols))
        return self.f0 + self.sample_scale * change

    def _one_column(self, k: int, state: _Column, W: np.ndarray) -> np.ndarray:
        """:meth:`_pairs` for a stack that moves one column ``j`` only.

        Every copy then adds a multiple of the same row ``W[j]`` and the
        samples that move are the same few for all copies (for a ReLU
        layer, those where unit ``j`` is active), so the stack is a
        broadcast ``(P, A)`` over those ``A`` samples: no gathers per pair.
        The copies go through the rest of the model in slices of about
        :data:`HEAD_VALUES` values, sized by ``A``.
        """
        assert self.sample_losses is not None and self.sample_scale is not None  # only called for rowwise heads
        j = int(state.cols[0])
        delta = state.values - self._transposed(k)[j][None, :]
        active = np.flatnonzero(np.any(delta, axis=0))
        if active.size == 0:
            return np.full(len(state.cols), self.f0)
        moved = np.take(delta, active, axis=1)
        head = self._rank_one_head() if k + 1 == len(self.layers) else None
        if head is not None:  # the last layer: the head moves its own outputs along W[j]
            return self._along(head, W[j], active, moved)
        step = max(1, HEAD_VALUES // (active.size * self._sample_width(k)))
        change = np.empty(len(moved))
        row = W[j]
        # sample-major (copy, sample, unit): the affine layers after this one are then single 2-D matrix
        # products on contiguous rows (_forward_from), and y is sample-major too, as the stacks
        base = (self.inputs[k + 1] if k + 1 < len(self.layers) else self.output)[active]
        y = self._sample_targets()[active][:, None, :]
        base_losses = self.sample_losses[active]
        for s in range(0, len(moved), step):
            part = moved[s:s + step]
            z = np.multiply(part[:, :, None], row)
            z += base
            out = self._forward_from(k + 1, z[:, :, None, :])
            per = np.asarray(self.model.head(out, y), dtype=np.float64)
            change[s:s + step] = np.sum(per - base_losses, axis=1)
        return self.f0 + self.sample_scale * change

    def _forward_from(self, first: int, out: np.ndarray) -> np.ndarray:
        """Stacks of one-sample batches ``(..., 1, d)`` through layers ``first`` on.

        A layer verified affine (:class:`~gradcheck.recognise.LayerKind`) is
        applied as one 2-D matrix product over every row of the stack: its
        own ``forward`` would see ``(P, A, 1, d) @ W``, which numpy runs as
        ``P * A`` one-row products, 8x slower for a 128x10 weight (measured;
        the 784-256-128-10 tanh MLP's full check spent most of its time
        there).
        """
        for i in range(first, len(self.layers)):
            layer = self.layers[i]
            if self.kinds[i] is not LayerKind.AFFINE or out.ndim < 3:
                out = layer.forward(self.params, out)
                continue
            W = self.params[layer.weight]
            z = (out.reshape(-1, out.shape[-1]) @ W).reshape(out.shape[:-1] + (W.shape[1],))
            if layer.bias is not None:
                z += np.reshape(self.params[layer.bias], -1)
            out = z
        return out

    def _along(self, head: RankOneHead, row: np.ndarray, active: np.ndarray, moved: np.ndarray) -> np.ndarray:
        """Losses of copies whose outputs move by ``moved[p, a] * row`` at samples ``active`` only, by ``head.rank_one``.

        The copies go in slices of about :data:`HEAD_VALUES` values.  The
        base losses come from the same formula at zero moves, so that its
        rounding cancels in the change.
        """
        assert self.sample_scale is not None  # only called for rowwise heads
        losses = head.rank_one(self.output[active], np.take(self.y, active, axis=0), row)
        base = losses(np.zeros((1, active.size)))[0]
        step = max(1, HEAD_VALUES // (active.size * row.size))
        change = np.empty(len(moved))
        for s in range(0, len(moved), step):
            change[s:s + step] = np.sum(losses(moved[s:s + step]) - base, axis=1)
        return self.f0 + self.sample_scale * change

    def _output_column(self, state: _Column) -> np.ndarray | None:
        """Losses of a stack that moves one column ``c`` of the model's output: the head moves it along ``e_c``.

        ``None`` when the stack moves several columns or the head has no
        verified ``rank_one`` (:meth:`_rank_one_head`).
        """
        head = self._rank_one_head()
        if head is None or not np.all(state.cols == state.cols[0]):
            return None
        c = int(state.cols[0])
        delta = state.values - self._transposed(len(self.layers))[c][None, :]
        active = np.flatnonzero(np.any(delta, axis=0))
        if active.size == 0:
            return np.full(len(state.cols), self.f0)
        row = np.zeros(self.output.shape[-1])
        row[c] = 1.0
        return self._along(head, row, active, np.take(delta, active, axis=1))

    def _rank_one_head(self) -> RankOneHead | None:
        """The model's ``loss_head`` when it is a :class:`~gradcheck.nn.RankOneHead` that agrees with ``model.head``.

        Checked once, at the point, as :mod:`gradcheck.recognise` checks
        layers: the head's ``rank_one`` losses along a row of the last dense
        weight (moves of zero and of about 1e-3 of the outputs' size) must
        equal ``model.head`` on the moved one-sample batches to
        :data:`~gradcheck.recognise.STACK_RTOL`.  Otherwise (or when it
        raises) the head is evaluated as the model gives it.
        """
        if "rank_one" not in self._cache:
            self._cache["rank_one"] = self._verified_rank_one()
        return self._cache["rank_one"]

    def _verified_rank_one(self) -> RankOneHead | None:
        head = getattr(self.model, "loss_head", None)
        k = len(self.layers) - 1
        if not isinstance(head, RankOneHead) or self.sample_losses is None or self.kinds[k] is not LayerKind.AFFINE:
            return None
        out, W = self.output, self.params[self.layers[k].weight]
        rng = np.random.default_rng(0)
        row = W[int(rng.integers(W.shape[0]))]
        size = 1e-3 * max(float(np.max(np.abs(out), initial=0.0)), 1e-3) / max(float(np.max(np.abs(row))), 1e-300)
        deltas = np.vstack([np.zeros(out.shape[0]), size * rng.standard_normal((2, out.shape[0]))])
        try:
            got = np.asarray(head.rank_one(out, self.y, row)(deltas), dtype=np.float64)
            moved = out[None, :, None, :] + deltas[:, :, None, None] * row
            want = np.asarray(self.model.head(moved, self._sample_targets()[:, None]), dtype=np.float64)
        except Exception:  # noqa: BLE001 - a head whose rank_one fails is evaluated whole
            return None
        if got.shape != deltas.shape or want.shape != deltas.shape or not np.all(np.isfinite(got)):
            return None
        if np.max(np.abs(got - want)) > STACK_RTOL * max(float(np.max(np.abs(want))), 1e-300):
            return None
        return head

    def _sample_width(self, k: int) -> int:
        """Widest per-sample activation from the output of dense layer ``k`` on."""
        outs = self.inputs[k + 1:] + [self.output]
        return max(int(a.shape[-1]) if a.ndim else 1 for a in outs)

    def _base_cols(self, k: int, cols: np.ndarray) -> np.ndarray:
        """Columns ``cols`` of the input of dense layer ``k``, as rows ``(P, N)``."""
        return np.take(self._transposed(k), cols, axis=0)

    def _transposed(self, k: int) -> np.ndarray:
        """The input of layer ``k`` (the model's output for ``k == len(layers)``), transposed, contiguous."""
        key = ("in", k)
        if key not in self._cache:
            a = self.inputs[k] if k < len(self.layers) else self.output
            self._cache[key] = np.ascontiguousarray(a.T)
        return self._cache[key]

    def _feature_major(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``W.T``, the layer's base output transposed, and ``y`` transposed, contiguous."""
        key = ("fm", k)
        if key not in self._cache:
            base_out = self.inputs[k + 1] if k + 1 < len(self.layers) else self.output
            W = self.params[self.layers[k].weight]
            self._cache[key] = (np.ascontiguousarray(W.T), np.ascontiguousarray(base_out.T),
                                np.ascontiguousarray(self._sample_targets().T))
        return self._cache[key]

    # -- propagation -------------------------------------------------
    def _finish(self, state: Any, start: int) -> np.ndarray:
        """Run layers ``start..`` on a stacked state; return stacked losses."""
        for k in range(start, len(self.layers)):
            layer = self.layers[k]
            if isinstance(state, _Column):
                if self.kinds[k] is LayerKind.ELEMENTWISE:
                    state = _Column(self.inputs[k + 1] if k + 1 < len(self.layers) else self.output,
                                    state.cols, layer.forward(self.params, state.values))
                    continue
                if self.kinds[k] is LayerKind.AFFINE:
                    W = self.params[layer.weight]
                    if self.sample_scale is not None:
                        if np.all(state.cols == state.cols[0]):
                            return self._one_column(k, state, W)
                        return self._pairs(k, state, W)
                    base_out = self.inputs[k + 1] if k + 1 < len(self.layers) else self.output
                    state = _rank_one(base_out, state.values - self._base_cols(k, state.cols), W[state.cols])
                    continue
                state = state.dense()
            state = layer.forward(self.params, state)
        if isinstance(state, _Column):
            along = self._output_column(state)
            if along is not None:
                return along
            state = state.dense()
        return np.asarray(self.model.head(state, self.y), dtype=np.float64)

    def losses(self, name: str, flat_index: np.ndarray, steps: np.ndarray) -> np.ndarray:
        """Losses with ``params[name].flat[flat_index[p]] += steps[p]``, for every ``p``."""
        k = self.owner[name]
        layer = self.layers[k]
        value = self.params[name]
        if self.structure.looped:
            return self._looped(name, k, (_moved(value, i, s) for i, s in zip(flat_index, steps)), len(steps))
        if self.kinds[k] is LayerKind.AFFINE:
            base_out = self.inputs[k + 1] if k + 1 < len(self.layers) else self.output
            n_out = base_out.shape[-1]
            cols = flat_index % n_out
            if name == layer.weight:  # column cols[p] moves by steps[p] * (input column rows[p])
                values = np.take(self._transposed(k), flat_index // n_out, axis=0)
                values *= steps[:, None]
            else:
                values = np.repeat(steps[:, None], base_out.shape[-2], axis=1)
            values += np.take(self._transposed(k + 1), cols, axis=0)
            return self._finish(_Column(base_out, cols, values), k + 1)
        stacked = dict(self.params)
        block = np.repeat(value[None], len(steps), axis=0)
        block.reshape(len(steps), -1)[np.arange(len(steps)), flat_index] += steps
        stacked[name] = block
        state = layer.forward(stacked, self.inputs[k])
        return self._finish(state, k + 1)

    def losses_along(self, name: str, directions: np.ndarray) -> np.ndarray:
        """Losses with ``params[name] += directions[p]`` (``directions``: ``(P, *shape)``)."""
        k = self.owner[name]
        if self.structure.looped:
            return self._looped(name, k, (self.params[name] + d for d in directions), len(directions))
        stacked = dict(self.params)
        stacked[name] = self.params[name][None] + directions
        state = self.layers[k].forward(stacked, self.inputs[k])
        return self._finish(state, k + 1)

    def _looped(self, name: str, k: int, values: Iterable[np.ndarray], count: int) -> np.ndarray:
        """Losses with ``params[name]`` set to each of ``values`` in turn, through layers ``k..`` one copy at a time.

        The generic path, for models with a layer or head that does not take
        stacks of copies (:mod:`gradcheck.recognise`): the plain loop's cost
        per copy, minus the layers before ``k``.
        """
        losses = np.empty(count)
        params = dict(self.params)
        for p, value in enumerate(values):
            params[name] = value
            a = self.inputs[k]
            for layer in self.layers[k:]:
                a = layer.forward(params, a)
            losses[p] = scalar_loss(self.model.head(a, self.y))
        return losses

    def lines(self, name: str, lines: Sequence[tuple[np.ndarray, int, int]]) -> LineLosses:
        """Losses along lines through the point, for fast mode (:mod:`gradcheck.directional`).

        A line is ``(v, start, stop)``: the flat vector ``v`` (``params[name].size``
        values) restricted to the flat entries ``start:stop``, zero elsewhere.
        Returns a :class:`LineLosses`, ``losses(offsets, which=None)``: the
        losses at ``params[name] + o * line`` for every offset ``o`` and every
        line in ``which`` (default all), shape ``(len(offsets), len(which))``,
        with the largest step that crosses no declared kink
        (:meth:`_kink_free_step`) where it is known.

        For a dense layer the move of its output is linear in the move of its
        weight, ``a @ (W + o V) = a @ W + o (a @ V)``: ``a @ V`` is computed once
        per line, from the rows of ``W`` the range touches only, and every
        offset is a scaled copy of it.  No perturbed copy of the parameter is
        built and a probe costs one forward pass from that layer on.  Other
        layers get stacked copies of the parameter, a few at a time.
        """
        k = self.owner[name]
        layer = self.layers[k]
        value = self.params[name]
        restricted = [(np.asarray(v, dtype=np.float64).reshape(-1), int(s), int(e)) for v, s, e in lines]
        if not self.structure.looped and self.kinds[k] is LayerKind.AFFINE and self.inputs[k].ndim == 2 and (
                (name == layer.weight and value.ndim == 2) or (name != layer.weight and value.ndim in (1, 2))):
            return self._dense_lines(k, [self._dense_delta(name, value, k, line) for line in restricted])

        def generic(offsets: np.ndarray, which: Sequence[int] | None = None) -> np.ndarray:
            picked = range(len(restricted)) if which is None else which
            pairs = [(o, restricted[j]) for j in picked for o in offsets]
            per = max(1, CHUNK_VALUES // max(1, value.size))
            out = np.empty(len(pairs))
            for s in range(0, len(pairs), per):
                block = np.repeat(value.reshape(1, -1), len(pairs[s:s + per]), axis=0)
                for row, (o, (v, a, b)) in zip(block, pairs[s:s + per]):
                    row[a:b] += o * v[a:b]
                if self.structure.looped:
                    out[s:s + per] = self._looped(name, k, (row.reshape(value.shape) for row in block), len(block))
                    continue
                stacked = dict(self.params)
                stacked[name] = block.reshape((-1,) + value.shape)
                out[s:s + per] = self._finish(layer.forward(stacked, self.inputs[k]), k + 1)
            return out.reshape(-1, len(offsets)).T

        return LineLosses(generic, None)

    def rank_one_lines(self, name: str, left: np.ndarray, right: np.ndarray) -> LineLosses | None:
        """:meth:`lines` along rank-one directions ``outer(left[j], right[j])`` of dense weight ``name``, or None.

        The move of the layer's output is ``a @ outer(u, w) = outer(a @ u, w)``:
        ``O(N (fan_in + fan_out))`` per line instead of a matrix product.  None
        when ``name`` is not the 2-D weight of a dense layer the engine
        evaluates (use :meth:`lines` with the flattened directions).

        The layer's own ``forward`` is never called on a stack here: the
        path needs the layer verified affine on the batch, and the layers
        after it and the head to take stacks.  While :attr:`stacking` is not
        known, the first stacked pass tests that on itself (:meth:`_carried`)
        instead of running :func:`gradcheck.recognise.stacking`'s separate
        tests (a quarter of fast mode's cost on mnist_relu), once for the
        layers after a dense weight's (a later weight's lines are not tested
        again); when it fails
        the separate tests decide, and where they find the model looped the
        call raises :class:`gradcheck.recognise.StackRefused` (the caller
        then takes :meth:`lines`, which evaluates copies one at a time).
        """
        k = self.owner[name]
        layer = self.layers[k]
        value = self.params[name]
        if self.inputs[k].ndim != 2 or name != layer.weight or value.ndim != 2:
            return None
        known = self._stacking is not None
        if known and (self.structure.looped or self.kinds[k] is not LayerKind.AFFINE):
            return None
        if not known and not self._affine(k):
            return None
        # a pass from an earlier layer has tested every layer after this one, and the head (_carried)
        verify = not known and self._cache.get("carried", len(self.layers) + 1) > k + 1
        moved = self.inputs[k] @ np.asarray(left, dtype=np.float64).T  # (N, lines)
        # (lines, N, fan_out) in one product: the stack's moves, and the kink-free step's, as blocks
        return self._dense_lines(k, moved.T[:, :, None] * np.asarray(right, dtype=np.float64)[:, None, :],
                                 verify=verify)

    def _affine(self, k: int) -> bool:
        """Does layer ``k`` declare an affine layer and compute ``a @ W + b`` on the batch (its kind but the stacking)?"""
        key = ("affine", k)
        if key not in self._cache:
            layer = self.layers[k]
            out = self.inputs[k + 1] if k + 1 < len(self.layers) else self.output
            self._cache[key] = declares(layer, AffineLayer) and is_affine(layer, self.params, self.inputs[k], out)
        return self._cache[key]

    def _later_kinds(self, k: int) -> tuple[LayerKind, ...]:
        """The kinds of layers ``k + 1`` on: :attr:`kinds` once the stacking is known, else what
        :func:`gradcheck.recognise.recognise` finds for them if they take stacks (:func:`~gradcheck.recognise.kind_if_stacked`),
        which a pass testing itself (:meth:`_carried`) verifies before any of its values is used."""
        if self._stacking is not None:
            return self.kinds[k + 1:]
        key = ("later", k)
        if key not in self._cache:
            outs = self.inputs[k + 2:] + [self.output]
            self._cache[key] = tuple(kind_if_stacked(layer, self.params, a, out, affine=self._affine(j))
                                     for j, layer, a, out in zip(itertools.count(k + 1), self.layers[k + 1:],
                                                                 self.inputs[k + 1:], outs))
        return self._cache[key]

    def _dense_lines(self, k: int, deltas: Sequence[np.ndarray] | np.ndarray, *, verify: bool = False) -> LineLosses:
        """Losses along lines that move dense layer ``k``'s output by ``o * deltas[j]`` (see :meth:`lines`).

        ``deltas``: a list of ``(N, fan_out)`` moves, or all of them as one
        array ``(lines, N, fan_out)`` (the rank-one lines), whose copies are
        then built a pass at a time by three numpy calls.  ``verify``: the
        first stacked pass starts with :data:`~gradcheck.recognise.CHECK_COPIES`
        unmoved copies and tests the stacking on itself (:meth:`rank_one_lines`).
        """
        base_out = self.inputs[k + 1] if k + 1 < len(self.layers) else self.output
        pending = [verify]  # the next pass still has to test the stacking

        def dense(offsets: np.ndarray, which: Sequence[int] | None = None) -> np.ndarray:
            picked = range(len(deltas)) if which is None else which
            n_pairs = len(picked) * len(offsets)  # line-major: every offset of a line, then the next line
            per = max(1, LINE_VALUES // (base_out.shape[0] * self._sample_width(k)))
            out = np.empty(n_pairs)
            for s in range(0, n_pairs, per):
                extra = CHECK_COPIES if pending[0] else 0
                z = np.empty((extra + min(per, n_pairs - s),) + base_out.shape)
                z[:extra] = base_out
                _moves(z[extra:], deltas, picked, offsets, s)
                z[extra:] += base_out
                if extra:
                    pending[0] = False
                    out[s:s + per] = self._carried(k, z)
                else:
                    out[s:s + per] = self._finish(z, k + 1)
            return out.reshape(-1, len(offsets)).T

        return LineLosses(dense, self._kink_free_step(k, base_out, deltas))

    def _carried(self, k: int, z: np.ndarray) -> np.ndarray:
        """:meth:`_finish` of a stack ``z`` of layer ``k``'s outputs whose first :data:`~gradcheck.recognise.CHECK_COPIES`
        are the base point's, testing on the way that every later layer and the head carry those copies
        (:func:`gradcheck.recognise.carries`); the losses of the other copies.

        When a layer or the head does not carry them (or raises), the separate stacking tests
        (:attr:`stacking`) decide: where they find the model looped (or layer ``k`` not affine)
        :class:`~gradcheck.recognise.StackRefused` is raised, before any value of this evaluator's
        rank-one lines is used; otherwise the copies are evaluated as without the test.
        """
        outputs = self.inputs[1:] + [self.output]
        state, copies = z, len(z)
        try:
            for j in range(k + 1, len(self.layers)):
                state = self.layers[j].forward(self.params, state)
                if not carries(state, outputs[j], copies):
                    break
            else:
                f = np.asarray(self.model.head(state, self.y), dtype=np.float64)
                if carries(f, np.asarray(self.f0), copies):
                    self._cache["carried"] = min(k + 1, self._cache.get("carried", k + 1))
                    return f[CHECK_COPIES:]
        except Exception:  # noqa: BLE001 - any failure only means "not stacked": the separate tests decide
            pass
        if self.structure.looped or self.kinds[k] is not LayerKind.AFFINE:
            raise StackRefused(f"layer {k + 1} on, or the head, does not take stacks of copies")
        return self._finish(z[CHECK_COPIES:], k + 1)

    def _kink_free_step(self, k: int, base_out: np.ndarray, deltas: Sequence[np.ndarray] | np.ndarray) -> float | None:
        """Largest step ``t`` at which no line's stencil (offsets up to ``2 t``) crosses a declared kink, or None.

        Dense layer ``k``'s output moves linearly along a line, ``z + o D``;
        when the layer after it is elementwise with kinks ``c`` (a ReLU: 0)
        its input entry crosses one within ``|o| <= 2 t`` only if
        ``|z - c| <= 2 t |D|``.  Known only when no later layer declares
        kinks and every later layer is dense or elementwise (their inputs then
        move nonlinearly, or in ways not declared): otherwise None.  Where an
        entry does not move (``D == 0``) it crosses nothing.
        """
        later = list(zip(self.layers[k + 1:], self._later_kinds(k)))
        kinks: tuple[float, ...] = ()
        if later and later[0][1] is LayerKind.ELEMENTWISE:
            kinks = tuple(getattr(later[0][0], "kinks", (np.nan,)))
            later = later[1:]
        for layer, kind in later:
            if kind is not LayerKind.AFFINE and not (kind is LayerKind.ELEMENTWISE
                                                     and tuple(getattr(layer, "kinks", (np.nan,))) == ()):
                return None
        if not kinks:
            return float("inf")
        if not all(np.isfinite(kinks)):
            return None
        fastest = 0.0  # the largest |D| / |z - c|: inf for an entry at a kink that moves, NaN (ignored) for one that does not
        blocks = [deltas] if isinstance(deltas, np.ndarray) else deltas  # an array of every line's moves: one block
        with np.errstate(divide="ignore", invalid="ignore"):
            for c in kinks:
                dist = np.abs(base_out - c)
                for d in blocks:
                    speed = np.abs(d)
                    np.divide(speed, dist, out=speed)
                    fastest = max(fastest, float(np.fmax.reduce(speed, axis=None)))
        return 1.0 / fastest / 2.0 if fastest > 0 else float("inf")

    def _dense_delta(self, name: str, value: np.ndarray, k: int, line: tuple[np.ndarray, int, int]) -> np.ndarray:
        """Move of dense layer ``k``'s output ``(N, fan_out)`` per unit step along ``line``."""
        v, start, stop = line
        a = self.inputs[k]
        if name != self.layers[k].weight:  # the bias: every sample moves by the same vector
            moved = np.zeros(value.size)
            moved[start:stop] = v[start:stop]
            return np.broadcast_to(moved, (a.shape[0], value.size))
        n_out = value.shape[1]
        if (start, stop) == (0, value.size):
            return a @ v.reshape(value.shape)
        r0, r1 = start // n_out, -(-stop // n_out)
        block = v[r0 * n_out:r1 * n_out].copy()
        block[:start - r0 * n_out] = 0.0
        block[stop - r0 * n_out:] = 0.0
        return a[:, r0:r1] @ block.reshape(r1 - r0, n_out)

    def tiny(self, names: Sequence[str]) -> bool:
        """Is the model so small that one stacked pass over every stencil point is cheapest?

        When ``4 * entries`` copies of the widest activation fit in
        :data:`TINY_VALUES` values (the notebooks' toy networks,
        :meth:`tiny_size`) and every layer and the head take stacks of copies
        (:attr:`stacking`).
        """
        # the size first: a model too big for this path never needs stacking's tests alone
        return self.tiny_size(names) and not self.stacking.looped

    def tiny_size(self, names: Sequence[str]) -> bool:
        """:meth:`tiny` without the stacking tests: the size alone."""
        entries = sum(_size(self.params[n]) for n in names)
        widest = max([a.size for a in self.inputs] + [_size(self.output)])
        return len(STENCIL) * entries * widest <= TINY_VALUES

    def bounds(self, names: Sequence[str]) -> list[int]:
        """Where each parameter of ``names`` starts in their flattened, joined entries, and where the last ends."""
        key = ("bounds", tuple(names))
        if key not in self._cache:
            self._cache[key] = list(itertools.accumulate((_size(self.params[n]) for n in names), initial=0))
        return self._cache[key]

    def by_layer(self, names: Sequence[str]) -> list[tuple[int, list[tuple[int, str]]]]:
        """``(layer, [(position in names, name), ...])`` for the layers owning ``names``, first layer first."""
        key = ("by_layer", tuple(names))
        if key not in self._cache:
            groups: dict[int, list[tuple[int, str]]] = {}
            for i, name in enumerate(names):
                groups.setdefault(self.owner[name], []).append((i, name))
            self._cache[key] = sorted(groups.items())
        return self._cache[key]

    def chunk_values(self) -> int:
        """Values per stacked pass: :data:`CHUNK_VALUES`, or 512 per sample for big batches.

        Big batches leave few entries per cache-sized pass, and then the
        fixed cost of a pass dominates (mnist_relu at batch 256: 1.2x faster).
        """
        n = self.inputs[0].shape[0] if self.inputs and self.inputs[0].ndim else 1
        return max(CHUNK_VALUES, 512 * n)

    def column_groups(self, name: str, idx: np.ndarray) -> list[np.ndarray]:
        """Split entry indices of a dense weight by output column (see :meth:`_one_column`)."""
        if not self._column_path(name):
            return [idx]
        n_cols = self.params[name].shape[1]
        if len(idx) == self.params[name].size and n_cols > 1 and np.array_equal(idx, np.arange(len(idx))):
            return list(np.ascontiguousarray(idx.reshape(-1, n_cols).T))  # every entry: the columns of the grid
        cols = idx % n_cols
        order = np.argsort(cols, kind="stable")
        bounds = np.flatnonzero(np.diff(cols[order])) + 1
        return np.split(idx[order], bounds)

    def _column_path(self, name: str) -> bool:
        """Is ``name`` a dense weight whose entries go one output column per pass?"""
        k = self.owner[name]
        return (self.kinds[k] is LayerKind.AFFINE and name == self.layers[k].weight
                and self.sample_scale is not None)

    def width(self, name: str) -> int:
        """Number of float64 values one perturbed copy costs downstream.

        A dense layer's copies stay one column, ``N`` values, through
        elementwise layers.  At the next dense layer :meth:`_one_column`
        slices what follows by itself; anything else expands them to whole
        activations (``N * d``) from that layer on, or for the head.
        """
        k = self.owner[name]
        outputs = self.inputs[k + 1:] + [self.output]
        if self.kinds[k] is not LayerKind.AFFINE or self.structure.looped:
            return max([a.size for a in outputs] + [self.params[name].size])
        n = outputs[0].shape[-2] if outputs[0].ndim >= 2 else 1
        for i, kind in enumerate(self.kinds[k + 1:], start=1):
            if kind is LayerKind.ELEMENTWISE:
                continue
            if kind is LayerKind.AFFINE and self._column_path(name):
                return n
            return max([n] + [a.size for a in outputs[i:]])
        return max(n, outputs[-1].size)


def estimate_gradients(
    model: Any,
    params: Mapping[str, np.ndarray],
    x: np.ndarray | None,
    y: np.ndarray,
    *,
    names: Sequence[str] | None = None,
    accept: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] | None = None,
    evaluator: ModelEvaluator | None = None,
    workers: int | None = None,
) -> dict[str, NumericGradient]:
    """Numerical gradient of ``model.loss`` w.r.t. every entry, with error bars.

    Every entry gets the five-point stencil of :mod:`gradcheck.stencil`
    with a step relative to its magnitude (:func:`gradcheck.numeric.default_step`).

    With ``accept`` the estimate is two-stage: every entry first gets only
    ``f(p +- h)`` (two evaluations, as many as the plain loop).  Entries
    for which ``accept[name](d1, roundoff_error)`` is true (a caller's
    test that the central difference ``d1`` already settles the verdict
    within its round-off error ``1.5 * roundoff / h``) keep ``d1`` as their
    value and the round-off term as their error, with ``refined`` False.
    All others get the ``+-2h`` points too: extrapolated value, truncation
    estimate and kink analysis.

    Parameters
    ----------
    model, params, x, y
        The model and the point; ``params`` is not modified.
    names : sequence of str, optional
        Parameters to estimate (default: all).
    accept : mapping of str to callable, optional
        Per parameter, ``accept(d1, error) -> bool array``.
    evaluator : ModelEvaluator, optional
        Reuse one built for the same point.
    workers : int, optional
        Processes to spread the passes over, this one included (see
        :mod:`gradcheck.parallel`; forking happens on Linux only, from a
        process without other Python threads).  By default
        ``$GRADCHECK_WORKERS`` when set, else one per available CPU, at
        most :data:`AUTO_WORKERS`, for a stage with at least
        :data:`PARALLEL_MIN_VALUES` stacked values, and 1 below that.
        The values do not depend on it.

    Returns
    -------
    dict of str to NumericGradient

    Examples
    --------
    >>> import reference_models
    >>> m = reference_models.get("xor_2layer")
    >>> p = m.init_params(np.random.default_rng(0))
    >>> x, y = m.notebook_data()
    >>> est = estimate_gradients(m, p, x, y)
    >>> exact = m.backward(p, x, y)
    >>> bool(np.all(np.abs(est["W1"].value - exact["W1"]) <= est["W1"].error))
    True
    """
    workers = check_workers(workers)
    if evaluator is None and x is None:
        raise GradcheckValueError("x is needed unless an evaluator for the point is given")
    ev = evaluator if evaluator is not None else ModelEvaluator(model, params, x, y)  # type: ignore[arg-type]
    names = list(ev.params) if names is None else list(names)
    accept = accept or {}
    if ev.tiny(names):  # every tensor at once: per-tensor fixed costs dominate at this size
        whole = estimate_tiny(ev, names, _joined_accept(accept, names, ev.bounds(names)) if accept else None)
        assert whole is not None  # without verify it always estimates
        return refine_estimate(ev, split_estimate(ev, names, whole), workers)
    return refine_estimate(ev, _estimate_structured(ev, names, accept, workers), workers)


def split_estimate(ev: ModelEvaluator, names: Sequence[str], whole: NumericGradient, *,
                   only: Collection[str] | None = None) -> dict[str, NumericGradient]:
    """The joined estimate of :func:`estimate_tiny` (entries of ``names``) as one estimate per parameter (views).

    ``only``: just those parameters (a failing toy network's explanation needs the others' values alone).
    """
    bounds = ev.bounds(names)
    return {name: NumericGradient(name=name, **{
        f: getattr(whole, f)[a:b].reshape(ev.params[name].shape)
        for f in ("value", "error", "step", "lower", "upper", "kink", "refined", "roundoff", "unresolved", "side", "jump")
        if getattr(whole, f) is not None})
        for name, a, b in zip(names, bounds[:-1], bounds[1:]) if only is None or name in only}


def refine_estimate(ev: ModelEvaluator, grads: dict[str, NumericGradient], workers: int | None) -> dict[str, NumericGradient]:
    """Estimates with their kinks and unresolved bars measured again at a smaller step (:func:`~gradcheck.numeric.refine_kinks`)."""
    if not any(needs_refining(g).any() for g in grads.values()):
        return grads
    return refine_kinks(grads, lambda t, s, v: _evaluate(ev, t, s, v, (0, 1, 2, 3), workers), ev.f0, ev.noise_scale,
                        params=ev.params)


def _estimate_structured(ev: ModelEvaluator, names: Sequence[str],
                         accept: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]],
                         workers: int | None) -> dict[str, NumericGradient]:
    """:func:`estimate_gradients` of a model that is not tiny, before kinks are refined: tensor by tensor."""
    steps = {name: default_step(ev.params[name]).reshape(-1) for name in names}
    values = {name: np.full((len(STENCIL), ev.params[name].size), np.nan) for name in names}
    todo = {name: np.arange(ev.params[name].size) for name in names}
    _evaluate(ev, todo, steps, values, (0, 1) if accept else (0, 1, 2, 3), workers)
    if accept:
        for name in names:
            f = values[name]
            h = steps[name]
            d1 = (f[0] - f[1]) / (2.0 * h)
            err = roundoff_error(ev.f0, f[0], f[1], h=h, scale=ev.noise_scale)
            ok = accept[name](d1, err) if name in accept else np.zeros(h.size, bool)
            todo[name] = np.flatnonzero(~np.asarray(ok, bool).reshape(-1))
        _evaluate(ev, todo, steps, values, (2, 3), workers)
    return {name: stencil_gradient(name, ev.f0, values[name], steps[name], ev.params[name].shape, ev.noise_scale)
            for name in names}


def _joined_accept(accept: Mapping[str, Callable[[np.ndarray, np.ndarray], np.ndarray]], names: Sequence[str],
                   bounds: Sequence[int]) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Per-tensor ``accept`` tests as one test of the joined entries (a tensor without one accepts nothing)."""
    def joined(d1: np.ndarray, err: np.ndarray) -> np.ndarray:
        ok = np.zeros(d1.size, bool)
        for name, a, b in zip(names, bounds[:-1], bounds[1:]):
            if name in accept:
                ok[a:b] = np.asarray(accept[name](d1[a:b], err[a:b]), bool).reshape(-1)
        return ok
    return joined


def tiny_first_stage(ev: ModelEvaluator, names: Sequence[str], *,
                     verify: bool = False) -> tuple[np.ndarray, np.ndarray] | None:
    """The first stage of :func:`estimate_tiny` with ``accept``: the steps ``h`` of the joined entries of
    ``names`` and the stencil values with ``f(p +- h)`` filled (rows 0 and 1; NaN elsewhere).

    None when ``verify`` finds that a layer or the head did not take the stack (see :func:`estimate_tiny`).
    """
    h, values = _tiny_start(ev, names)
    if not _stack_pass(ev, names, h, values, None, (0, 1), verify=verify):
        return None
    return h, values


def _tiny_start(ev: ModelEvaluator, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The steps of the joined entries of ``names`` and their stencil values, all NaN until a pass fills them."""
    h = default_step(np.concatenate([np.asarray(ev.params[n]).reshape(-1) for n in names]))
    return h, np.full((len(STENCIL), h.size), np.nan)


def estimate_tiny(ev: ModelEvaluator, names: Sequence[str],
                  accept: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None, *,
                  verify: bool = False, first: tuple[np.ndarray, np.ndarray] | None = None) -> NumericGradient | None:
    """:func:`estimate_gradients` of a tiny model (:meth:`ModelEvaluator.tiny`), joined, before kinks are refined.

    The entries of ``names``, flattened and joined in that order, are one
    estimate (``name`` ``""``): the values are those of the tensor-by-tensor
    path entry for entry, and ``accept(d1, error)`` tests all of them at once.
    At this size a check is made of fixed costs, numpy calls of a few
    microseconds each, so every step is taken once for all tensors: one
    stacked pass per layer and stage (:func:`_stack_pass`), one round-off
    bound, one acceptance test.  When the first stage settles every entry
    (a correct gradient), the estimate is the central difference and its
    round-off error, as :func:`~gradcheck.numeric.stencil_gradient` gives
    it for entries without the ``+-2h`` points, without combining the
    missing points.

    ``verify``: for a model of :meth:`ModelEvaluator.tiny_size` whose
    :attr:`~ModelEvaluator.stacking` is not known, the first stage's passes
    test the stacking themselves (:func:`_stack_pass`); None when a layer
    or the head did not take the stack (the caller then asks
    :meth:`ModelEvaluator.tiny`, and the values are thrown away).
    ``first``: the first stage already made (:func:`tiny_first_stage`), with ``accept``.
    """
    if accept is None:  # one stage: every stencil point in one pass
        h, values = _tiny_start(ev, names)
        if not _stack_pass(ev, names, h, values, None, (0, 1, 2, 3), verify=verify):
            return None
        return stencil_gradient("", ev.f0, values, h, (-1,), ev.noise_scale)
    first = first if first is not None else tiny_first_stage(ev, names, verify=verify)
    if first is None:
        return None
    h, values = first
    f_plus, f_minus = values[0], values[1]
    d1 = (f_plus - f_minus) / (2.0 * h)
    noise = roundoff_error(ev.f0, f_plus, f_minus, h=h, scale=ev.noise_scale)
    ok = np.asarray(accept(d1, noise), bool).reshape(-1)
    if not ok.all():
        todo = np.flatnonzero(~ok)
        _stack_pass(ev, names, h, values, todo, (2, 3))
        return stencil_gradient("", ev.f0, values, h, (-1,), ev.noise_scale)
    # stencil_gradient with every entry coarse: the +-2h quotients are NaN, which fmin/fmax ignore
    fwd, bwd = (f_plus - ev.f0) / h, (ev.f0 - f_minus) / h
    none = np.zeros(h.size, bool)
    return NumericGradient(name="", value=d1, error=noise, step=h, lower=np.fmin(fwd, bwd), upper=np.fmax(fwd, bwd),
                           kink=none, refined=none.copy(), roundoff=noise)


def _stack_pass(ev: ModelEvaluator, names: Sequence[str], h: np.ndarray, values: np.ndarray, todo: np.ndarray | None,
                rows: Sequence[int], *, verify: bool = False) -> bool:
    """Fill ``values[rows][:, todo]`` for a tiny model (joined entries of ``names``): one stacked pass.

    For the notebooks' toy networks (3 to 28 parameters) the structured
    passes cost more in Python calls than the arithmetic: the copies of
    every entry go in one stacked pass (:func:`_one_pass`), a layer's
    copies joining it at that layer with the base point's input there (the
    layers before it do not change), so a toy network costs at most the
    plain loop's arithmetic (:meth:`ModelEvaluator.tiny` says when).  The
    copies of a layer are ordered by tensor (in the order of ``names``),
    then by stencil point, then by entry.  ``todo``: joined indices,
    ascending; None for every entry (then the moved entries of a tensor's
    copies are a strided view, its diagonal, and its losses a block of
    ``values``: no index arrays).

    ``verify`` (with ``todo`` None): the stacking tests of
    :func:`gradcheck.recognise.stacking` made on the pass itself.  The
    pass starts with :data:`~gradcheck.recognise.CHECK_COPIES` unmoved
    copies; every layer's output and the head's losses must carry them as
    the base point's values (:func:`gradcheck.recognise.carries`), and the
    layers the pass gives no stack of inputs (up to the first one with
    parameters) are asked for one (:func:`gradcheck.recognise.takes_stacks`).
    Those evaluations were the stacking tests' own on a toy network, a
    sixth of its check.  Returns False, having filled nothing reliable,
    when a test fails or the model's code raises; True otherwise.
    """
    offsets, where = _offsets(tuple(rows))
    bounds = ev.bounds(names)
    cuts = bounds if todo is None else np.searchsorted(todo, bounds).tolist()
    extra = CHECK_COPIES if verify else 0
    layers = ev.by_layer(names)
    if verify:
        try:
            return _one_pass(ev, layers, h, values, todo, cuts, bounds, offsets, where, extra)
        except Exception:  # noqa: BLE001 - any failure only means "not stacked": the caller's stacking tests decide
            return False
    return _one_pass(ev, layers, h, values, todo, cuts, bounds, offsets, where, extra)


@functools.lru_cache(maxsize=16)
def _offsets(rows: tuple[int, ...]) -> tuple[np.ndarray, Any]:
    """The stencil offsets of ``rows`` (read-only: shared by every call), and where ``rows`` are in the values."""
    offsets = np.asarray([STENCIL[r] for r in rows])
    offsets.flags.writeable = False
    if list(rows) == list(range(rows[0], rows[-1] + 1)):
        return offsets, slice(rows[0], rows[-1] + 1)
    where = np.asarray(rows)[:, None]
    where.flags.writeable = False
    return offsets, where


def _one_pass(ev: ModelEvaluator, layers: list[tuple[int, list[tuple[int, str]]]], h: np.ndarray,
              values: np.ndarray, todo: np.ndarray | None, cuts: Sequence[int], bounds: Sequence[int],
              offsets: np.ndarray, where: Any, extra: int) -> bool:
    """The copies of :func:`_stack_pass`, every layer's in one pass; ``extra`` unmoved copies first, to verify.

    A layer's copies join the stack at that layer: its input there is the
    base point's, repeated, after the copies already under way (whose
    parameters of this layer are unmoved copies of the base point's).  So
    each layer is called once, and the head once, for all copies.
    """
    n_off = len(offsets)
    plan = []
    for k, members in layers:
        # (name, its entries to move or None for all of them, where it starts in the joined entries, how many)
        picked = [(n, None if todo is None or cuts[i + 1] - cuts[i] == bounds[i + 1] - bounds[i] else todo[cuts[i]:cuts[i + 1]],
                   bounds[i], cuts[i + 1] - cuts[i]) for i, n in members]
        moved = n_off * sum(m for _, _, _, m in picked)
        if moved:
            plan.append((k, picked, moved))
    if not plan:
        return not extra  # nothing moved: nothing verified either
    outputs = ev.inputs[1:] + [ev.output]
    first = plan[0][0]
    # verifying, the first layer too gets a stack of inputs (its test of taking one); the layers before it are
    # not in the pass and are asked alone
    if extra and not all(takes_stacks(ev.layers[j], ev.params, ev.inputs[j], outputs[j]) for j in range(first)):
        return False
    joins = {k: (picked, moved) for k, picked, moved in plan}
    steps = offsets[:, None] * h  # every entry's moves, once for all tensors (the same products as one by one)
    live = extra  # copies under way
    starts = []  # where each layer's copies are in the stack
    state = ev.inputs[first]
    for j in range(first, len(ev.layers)):
        params = ev.params
        if j in joins:
            picked, moved = joins[j]
            if j != first:
                state = np.concatenate([state, ev.inputs[j][None].repeat(moved, axis=0)])
            elif extra:
                state = state[None].repeat(extra + moved, axis=0)
            params = _moved_copies(ev.params, picked, live, live + moved, steps)
            starts.append((live, picked))
            live += moved
        state = ev.layers[j].forward(params, state)
        if extra and not carries(state, outputs[j], live):
            return False
    f = np.asarray(ev.model.head(state, ev.y), dtype=np.float64)
    if extra and not carries(f, np.asarray(ev.f0), live):
        return False
    f = f.reshape(-1)
    for row, picked in starts:
        for name, idx, start, m in picked:
            got = f[row:row + n_off * m].reshape(n_off, m)
            if idx is None:
                values[where, start:start + m] = got
            else:
                values[where, idx] = got
            row += n_off * m
    return True


def _moved_copies(params: Mapping[str, np.ndarray], picked: Sequence[tuple[str, np.ndarray | None, int, int]],
                  row: int, total: int, steps: np.ndarray) -> dict[str, np.ndarray]:
    """``params`` with the tensors of ``picked`` as ``total`` copies, those from ``row`` on moved (see :func:`_stack_pass`).

    ``steps[p, j]``: the move of joined entry ``j`` at stencil point ``p`` (its offset times its step).
    """
    stacked = dict(params)
    n_off = len(steps)
    for name, idx, start, m in picked:
        count = n_off * m
        block = np.asarray(params[name])[None].repeat(total, axis=0)
        if idx is None and m:  # copy row + p * m + i moves entry i: in (p, m * m), every (m + 1)-th value
            block.reshape(total, m)[row:row + count].reshape(n_off, m * m)[:, ::m + 1] += steps[:, start:start + m]
        elif idx is not None and m:
            block.reshape(total, -1)[np.arange(row, row + count), np.tile(idx - start, n_off)] += steps[:, idx].reshape(-1)
        stacked[name] = block
        row += count
    return stacked


@dataclass(frozen=True)
class _StencilJob:
    """Losses of one job ``(name, entry indices)`` at the stencil ``offsets``: a picklable callable, so that
    fresh-interpreter workers (:func:`gradcheck.parallel.run_split`) can run it too."""

    ev: ModelEvaluator
    steps: dict[str, np.ndarray]
    offsets: np.ndarray

    def __call__(self, job: tuple[str, np.ndarray]) -> np.ndarray:
        name, idx = job
        h = self.steps[name][idx]
        flat = np.tile(idx, len(self.offsets))
        return self.ev.losses(name, flat, (self.offsets[:, None] * h[None, :]).reshape(-1))


def _evaluate(ev: ModelEvaluator, todo: dict[str, np.ndarray], steps: dict[str, np.ndarray],
              values: dict[str, np.ndarray], rows: Sequence[int], workers: int | None) -> None:
    """Fill ``values[name][rows][:, todo[name]]`` with losses at those stencil points."""
    offsets = np.asarray([STENCIL[r] for r in rows])
    run = _StencilJob(ev, steps, offsets)
    jobs: list[tuple[str, np.ndarray]] = []
    for name, idx in todo.items():
        per = max(1, ev.chunk_values() // (len(offsets) * ev.width(name)))
        for group in ev.column_groups(name, idx):
            jobs += [(name, group[i:i + per]) for i in range(0, len(group), per)]
    sizes = [len(offsets) * len(idx) for _, idx in jobs]
    work = sum(size * ev.width(name) for size, (name, _) in zip(sizes, jobs))
    for (name, idx), f in zip(jobs, run_split(jobs, run, sizes, workers=_workers(workers, work))):
        for r, row in zip(rows, f.reshape(len(offsets), -1)):
            values[name][r, idx] = row


def _moved(value: np.ndarray, flat_index: int, step: float) -> np.ndarray:
    """A copy of ``value`` with entry ``flat_index`` (of the flattened array) moved by ``step``."""
    moved = value.copy()
    moved.reshape(-1)[flat_index] += step
    return moved


def _workers(workers: int | None, work: int) -> int:
    """``workers``, else ``$GRADCHECK_WORKERS``, else up to :data:`AUTO_WORKERS` processes when ``work`` is big
    enough and this process may fork.

    Where it may not (a foreign thread runs: after using torch or JAX), the
    default is one process.  Workers there are fresh interpreters
    (:func:`gradcheck.parallel.run_split`'s warm workers), which import the
    user's modules afresh: module-level state a script changed at run time
    is not theirs (a red team planted a leaky-ReLU slope set after import,
    and a wrong gradient passed), so they are used only when ``workers``
    asks for them, and then checked against the caller
    (:func:`gradcheck.parallel.run_split`).
    """
    if workers is not None:
        return workers
    env = workers_from_env()
    if env is not None:
        return env
    if work < PARALLEL_MIN_VALUES or not can_fork():
        return 1
    return min(available_cpus(), AUTO_WORKERS)
