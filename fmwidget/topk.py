"""The running top-k of every channel's spatial maximum, reduced on the Keras backend.

A :class:`ScoreStep` is a small ``keras.Model`` around the user's model: one call runs a
batch through the model (the wanted layers' outputs found by :func:`introspect.capture`
once, then tapped), reduces each channel's map to its maximum and the first cell holding
it, and merges those scores into the running top-k that the call received (:func:`score`
in ``keras.ops``; :mod:`fmwidget.topk_torch` on PyTorch, where the step runs eagerly). It
runs compiled where Keras compiles prediction (``tf.function`` on TensorFlow, ``jit`` on
JAX), and only the state (``channels x k`` numbers per layer) crosses back to numpy.

The order is total: valid entries first, then the larger value, then the lower sample
index. The first cell in row-major order wins ties inside a map.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

ops = keras.ops

#: Sample index of an empty slot (fewer samples seen than ``k``, or a padding row).
EMPTY = -1


@dataclass(frozen=True)
class Slot:
    """Where one layer's channels live in the concatenated state.

    Attributes:
        name: Layer name (as in :attr:`FeatureMaps.layers`).
        channels: Number of channels.
        spatial_shape: Spatial shape of the map.
        data_format: ``channels_last`` or ``channels_first``.
        start: First row of this layer in the ``(sum of channels, k)`` state.
    """

    name: str
    channels: int
    spatial_shape: tuple[int, ...]
    data_format: str
    start: int


@dataclass
class State:
    """Top-k per channel of every tracked layer, concatenated along channels.

    ``values`` float32, ``indices`` int64 (``EMPTY`` for empty slots), ``cells`` int64
    (flat row-major cell index), all shaped ``(sum of channels, k)``, each row ordered.
    """

    values: np.ndarray
    indices: np.ndarray
    cells: np.ndarray

    @classmethod
    def empty(cls, rows: int, k: int) -> State:
        return cls(
            np.full((rows, k), -np.inf, np.float32),
            np.full((rows, k), EMPTY, np.int64),
            np.zeros((rows, k), np.int64),
        )

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, values=self.values, indices=self.indices, cells=self.cells)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> State:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return cls(z["values"], z["indices"], z["cells"])


def merge(a: State, b: State) -> State:
    """Merge two states (numpy): associative and commutative, same order as the backend."""
    k = a.values.shape[1]
    values = np.concatenate([a.values, b.values], axis=1)
    indices = np.concatenate([a.indices, b.indices], axis=1)
    cells = np.concatenate([a.cells, b.cells], axis=1)
    # lexsort: last key is primary. Valid first, larger value, lower index.
    order = np.lexsort((indices, -values.astype(np.float64), indices == EMPTY), axis=1)[:, :k]
    return State(
        np.take_along_axis(values, order, 1),
        np.take_along_axis(indices, order, 1),
        np.take_along_axis(cells, order, 1),
    )


def _first_true(mask: Any, axis: int) -> Any:
    """Index of the first True along ``axis`` (0 if none: a map whose maximum is NaN)."""
    n = mask.shape[axis]
    shape = [1] * len(mask.shape)
    shape[axis] = n
    iota = ops.reshape(ops.arange(n, dtype="int32"), shape)
    first = ops.min(ops.where(mask, iota, n), axis=axis)
    return ops.where(first < n, first, 0)


def channel_max(y: Any, data_format: str) -> tuple[Any, Any]:
    """Per sample and channel: the spatial maximum and the first cell (row-major) holding it.

    The maximum is reduced in two stages, over the last spatial axis then over the rest;
    the first row holding it is found on the row maxima, that row is picked out with a
    select and a max over rows (no gather: a gather along a middle axis transposes the
    whole map on TensorFlow), and the first column on it (TensorFlow's and JAX's
    ``argmax`` promise no tie order). On JAX, XLA fuses it all into the forward pass; on
    TensorFlow it reads each map three times and costs ~18 small ops per map.

    Args:
        y: A batch of maps, ``(B, *spatial, C)`` or ``(B, C, *spatial)``.
        data_format: The layer's data format.

    Returns:
        ``(maxima, cells)``, both ``(B, C)``: float32 and int32 flat cell index.
    """
    y = ops.cast(y, "float32")
    b = ops.shape(y)[0]
    first = data_format == "channels_first"
    c = y.shape[1] if first else y.shape[-1]
    spatial = tuple(y.shape[2:] if first else y.shape[1:-1])
    width = spatial[-1]
    rows = int(np.prod(spatial[:-1], dtype=np.int64))
    # (B, C, R, W) or (B, R, W, C): ``r`` is the row axis, ``w`` the column axis
    y4 = ops.reshape(y, (b, c, rows, width) if first else (b, rows, width, c))
    r, w = (2, 3) if first else (1, 2)
    row_max = ops.max(y4, axis=w)  # (B, C, R) or (B, R, C)
    top = ops.max(row_max, axis=r)  # (B, C)
    row = _first_true(row_max == ops.expand_dims(top, r), axis=r)  # (B, C)
    shape = [1, 1, 1, 1]
    shape[r] = rows
    iota = ops.reshape(ops.arange(rows, dtype="int32"), shape)
    picked = iota == ops.expand_dims(ops.expand_dims(row, r), w)
    line = ops.max(ops.where(picked, y4, -np.inf), axis=r)  # (B, C, W) or (B, W, C)
    col = _first_true(line == ops.expand_dims(top, r), axis=r)  # w is now at r
    return top, ops.cast(row, "int32") * width + ops.cast(col, "int32")


#: A negative NaN: below -inf in the total order of float32 bit patterns.
_BELOW_ALL = np.array(-1, np.int32).view(np.float32)


def sort_key(values: Any, empty: Any) -> Any:
    """Keys for ``top_k`` that order like float32 ``values`` (no NaN; -0.0 is one with
    0.0), with ``empty`` entries below every value, -inf included.

    On JAX, float32 keys with empties set to a negative NaN: ``lax.top_k`` orders by the
    float's bit pattern (a total order with negative NaNs below -inf) and runs ~10x faster
    on CPU for float32 than for int32. Elsewhere int32 keys of the same order.
    """
    if keras.backend.backend() == "jax":
        return ops.where(empty, _BELOW_ALL, values)
    bits = ops.view(values, "int32")
    key = ops.where(bits < 0, ops.bitwise_xor(bits, np.int32(0x7FFFFFFF)), bits)
    return ops.where(empty, np.int32(np.iinfo(np.int32).min), key)


def score(
    maps: list[tuple[Any, str]], ids: Any, values: Any, indices: Any, cells: Any, k: int
) -> list[Any]:
    """One batch's maps merged into the running top-k (``keras.ops``; compiled by the step).

    Args:
        maps: ``(batch of maps, data format)`` per tracked layer, in slot order.
        ids: int32 ``(B,)`` sample indices of the batch (``EMPTY`` for padding rows).
        values, indices, cells: The state, ``(sum of channels, k)``.
        k: Entries kept per channel.

    Returns:
        The new ``[values, indices, cells]``.
    """
    tops, positions = zip(*(channel_max(y, data_format) for y, data_format in maps), strict=True)
    top = ops.transpose(ops.concatenate(tops, axis=1))  # (sum C, B)
    cell = ops.transpose(ops.concatenate(positions, axis=1))
    # NaN never wins; -0.0 and 0.0 are one value (sorts may order them apart).
    top = ops.where(ops.isnan(top), -np.inf, top)
    top = ops.where(top == 0, 0.0, top)
    ids = ops.cast(ids, "int32")
    rows = ops.shape(top)[0]
    batch_ids = ops.broadcast_to(ids[None, :], (rows, ops.shape(ids)[0]))
    all_values = ops.concatenate([values, top], axis=1)
    all_ids = ops.concatenate([ops.cast(indices, "int32"), batch_ids], axis=1)
    all_cells = ops.concatenate([ops.cast(cells, "int32"), cell], axis=1)
    # One top-k over an integer key that orders like the value, empty entries below all
    # (-inf included). Ties keep concatenation order (the state's entries, then the batch's
    # rows, both in sample order): documented for TensorFlow's and JAX's top_k.
    _, order = ops.top_k(sort_key(all_values, all_ids < 0), k)
    return [
        ops.take_along_axis(all_values, order, 1),
        ops.take_along_axis(all_ids, order, 1),
        ops.take_along_axis(all_cells, order, 1),
    ]


def _taps(everything: list[Any], wanted: list[Any]) -> Any:
    """``(targets, counts)`` for :func:`introspect.tap` from one capture's entries: each
    wanted entry as ``(layer, how many calls of that layer came before it)``, and every
    target layer's number of calls. None when some entry is no single call of a leaf
    layer or operation (the model input, or a container that did work of its own)."""
    from .introspect import is_container

    if any(e.layer is None or is_container(e.layer) for e in wanted):
        return None
    targets = [(e.layer, sum(f.layer is e.layer for f in everything[: e.index])) for e in wanted]
    counts = {id(e.layer): sum(f.layer is e.layer for f in everything) for e in wanted}
    return targets, counts


class ScoreStep(keras.Model):
    """One batch through ``model``, merged into the running top-k of the wanted layers.

    Used as ``carry = step.carry(state)``, then ``carry = step.advance(carry, x, ids)``
    per batch (``x`` float32 with exactly the step's batch size, ``ids`` its sample
    indices, ``EMPTY`` for padding rows), and ``step.collect(carry)`` for a numpy
    :class:`State`; the step itself takes and returns the state as float32/int32 arrays
    ``(sum of channels, k)``.
    """

    def __init__(self, model: Any, slots: list[Slot], k: int):
        super().__init__(name="fmwidget_score_step")
        self.inner = model
        self.slots = slots
        self.k = k

    def call(self, inputs: Any) -> list[Any]:
        x, ids, values, indices, cells = inputs
        maps = [(y, s.data_format) for y, s in zip(self._forward(x), self.slots, strict=True)]
        if keras.backend.backend() == "torch":
            from .topk_torch import score as torch_score

            return torch_score(maps, ids, values, indices, cells, self.k)
        return score(maps, ids, values, indices, cells, self.k)

    def _forward(self, x: Any) -> list[Any]:
        """The tracked layers' outputs of one forward pass of ``x``, in slot order.

        The first pass records every call (:func:`introspect.capture`) and finds which
        call each slot is; later passes (on PyTorch, every batch: the step runs eagerly)
        wrap only those layers (:func:`introspect.tap`), unless a pass calls them a
        different number of times, which a full capture then redoes.
        """
        from .introspect import capture, tap

        taps = self.__dict__.get("_taps")
        if taps is not None:
            targets, counts = taps
            with tap(targets) as t:
                self.inner(x, training=False)
            if t.counts == counts:
                return t.outputs
        with capture(self.inner, on_call=None) as rec:
            self.inner(x, training=False)
        by_name = {e.name: e for e in rec.entries}
        for slot in self.slots:
            if slot.name not in by_name:
                raise ValueError(f"Layer {slot.name!r} was not called in the forward pass.")
        entries = [by_name[slot.name] for slot in self.slots]
        self.__dict__["_taps"] = _taps(rec.entries, entries)  # not setattr: Keras tracks
        return [e.output for e in entries]

    def carry(self, state: State) -> Any:
        """``state`` as the step takes it: float32 values, int32 indices and cells (on
        PyTorch in a :class:`fmwidget.topk_torch.Carry`)."""
        arrays = [state.values, state.indices.astype(np.int32), state.cells.astype(np.int32)]
        if keras.backend.backend() == "torch":
            from .topk_torch import Carry

            return Carry([ops.convert_to_tensor(a) for a in arrays])
        return arrays

    def advance(self, carry: Any, x: np.ndarray, ids: np.ndarray, flush: bool = True) -> Any:
        """Merge one batch into ``carry`` (:meth:`carry` of a state, or what this returned
        for the batch before) and return the new carry as backend arrays, without waiting
        for them: on JAX, whose calls return before they finish, the next batch can be
        prepared (and an earlier carry read) while this one runs, as ``predict`` does.

        ``flush=False`` lets PyTorch hold the batch's scores back, to be merged with the
        next batches' in one sort (:class:`fmwidget.topk_torch.Carry`); elsewhere each
        batch is merged inside the compiled step.
        """
        if keras.backend.backend() == "torch":
            import torch

            from .topk_torch import batch_scores

            with torch.inference_mode():  # nothing here is ever differentiated
                ys = self._forward(ops.convert_to_tensor(x))
                maps = [(y, s.data_format) for y, s in zip(ys, self.slots, strict=True)]
                entries = batch_scores(maps, ops.convert_to_tensor(ids))
                return carry.push(entries, self.k, flush)
        return list(self._compiled()([x, ids.astype(np.int32), *carry]))

    def collect(self, carry: Any) -> State:
        """The carry as a numpy :class:`State` (waits for it)."""
        if keras.backend.backend() == "torch":
            import torch

            with torch.inference_mode():
                carry = carry.merged(self.k)
        values, indices, cells = (ops.convert_to_numpy(t) for t in carry)
        return State(
            np.asarray(values, np.float32),
            np.asarray(indices, np.int64),
            np.asarray(cells, np.int64),
        )

    def _compiled(self) -> Any:
        """The step as one call per batch, compiled the way ``predict`` compiles it.

        ``predict_on_batch`` would do, but its per-call cost is a large part of a small
        model's step: on JAX it reads every variable into a fresh state and writes it back
        on each call, on PyTorch it builds a data adapter. Here JAX jits a stateless call
        that takes the variables' current values (read each call, so training between
        calls is seen), TensorFlow runs one ``tf.function`` (as ``predict`` does, no XLA).
        PyTorch runs eagerly (:meth:`advance`).
        """
        run = self.__dict__.get("_run")
        if run is not None:
            return run
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            def stateless(trainable: Any, non_trainable: Any, inputs: Any) -> Any:
                return self.stateless_call(trainable, non_trainable, inputs)[0]

            jitted = jax.jit(stateless)

            self.built = True  # the step has no variables of its own: build is a flag
            variables = (self.trainable_variables, self.non_trainable_variables)

            def run(inputs: Any) -> Any:
                trainable, non_trainable = ([v.value for v in vs] for vs in variables)
                return jitted(trainable, non_trainable, inputs)

        elif backend == "tensorflow":
            import tensorflow as tf

            graph = tf.function(lambda inputs: self(inputs))

            run = graph

        else:  # another backend: Keras's own path
            run = self.predict_on_batch
        self.__dict__["_run"] = run  # not setattr: Keras would track it
        return run
