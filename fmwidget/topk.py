"""The running top-k of every channel's spatial maximum, reduced on the Keras backend.

A :class:`ScoreStep` is a small ``keras.Model`` around the user's model: one call runs a
batch through the model (capturing the wanted layers with :func:`introspect.capture`),
reduces each channel's map to its maximum and the first cell holding it, and merges those
scores into the running top-k that the call received. Called through ``predict_on_batch``
it runs compiled where Keras compiles prediction (``tf.function`` on TensorFlow, ``jit`` on
JAX; eager on PyTorch), and only the state (``channels x k`` numbers per layer) crosses
back to numpy.

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


def channel_max(
    y: Any, data_format: str, channels_first_memory: bool, first_argmax: bool = False
) -> tuple[Any, Any]:
    """Per sample and channel: the spatial maximum and the first cell (row-major) holding it.

    The maximum is reduced in two stages, over the last spatial axis then over the rest,
    so the position costs only small reductions: the first row holding the maximum, then
    the first cell of that row. Where ``argmax`` documents that it returns the first
    maximum (PyTorch), one ``argmax`` over the flattened map does the same in one pass.

    Args:
        y: A batch of maps, ``(B, *spatial, C)`` or ``(B, C, *spatial)``.
        data_format: The layer's data format.
        channels_first_memory: Reduce in ``(B, C, ...)`` order (PyTorch keeps maps in that
            memory order, so the transpose is free there).
        first_argmax: The backend's ``argmax`` returns the first of equal maxima (-0.0
            equal to 0.0).

    Returns:
        ``(maxima, cells)``, both ``(B, C)``: float32 and int32 flat cell index.
    """
    y = ops.cast(y, "float32")
    rank = len(y.shape) - 2
    if data_format == "channels_last" and channels_first_memory:
        y = ops.transpose(y, (0, rank + 1, *range(1, rank + 1)))
        data_format = "channels_first"
    b = ops.shape(y)[0]
    if first_argmax and data_format == "channels_first":
        flat = ops.reshape(y, (b, y.shape[1], -1))
        cells = ops.argmax(flat, axis=2)
        top = ops.take_along_axis(flat, cells[:, :, None], axis=2)[:, :, 0]
        # A map holding NaN: cell 0, as the two-stage reduction gives.
        return top, ops.where(ops.isnan(top), 0, ops.cast(cells, "int32"))
    if data_format == "channels_first":
        c, spatial = y.shape[1], tuple(y.shape[2:])
        width = spatial[-1]
        rows = int(np.prod(spatial[:-1], dtype=np.int64))
        y4 = ops.reshape(y, (b, c, rows, width))
        row_max = ops.max(y4, axis=3)  # (B, C, R)
        top = ops.max(row_max, axis=2)  # (B, C)
        row = _first_true(row_max == top[:, :, None], axis=2)
        take = ops.broadcast_to(row[:, :, None, None], (b, c, 1, width))
        line = ops.take_along_axis(y4, take, axis=2)[:, :, 0]  # (B, C, W)
        col = _first_true(line == top[:, :, None], axis=2)
    else:
        c, spatial = y.shape[-1], tuple(y.shape[1:-1])
        width = spatial[-1]
        rows = int(np.prod(spatial[:-1], dtype=np.int64))
        y4 = ops.reshape(y, (b, rows, width, c))
        row_max = ops.max(y4, axis=2)  # (B, R, C)
        top = ops.max(row_max, axis=1)  # (B, C)
        row = _first_true(row_max == top[:, None, :], axis=1)
        take = ops.broadcast_to(row[:, None, None, :], (b, 1, width, c))
        line = ops.take_along_axis(y4, take, axis=1)[:, 0]  # (B, W, C)
        col = _first_true(line == top[:, None, :], axis=1)
    cells = ops.cast(row, "int32") * width + ops.cast(col, "int32")
    return top, cells


def sort_key(values: Any, empty: Any) -> Any:
    """int32 keys that order like float32 ``values`` (no NaN; -0.0 is one with 0.0),
    with ``empty`` entries below every value, -inf included."""
    bits = ops.view(values, "int32")
    key = ops.where(bits < 0, ops.bitwise_xor(bits, np.int32(0x7FFFFFFF)), bits)
    return ops.where(empty, np.int32(np.iinfo(np.int32).min), key)


class ScoreStep(keras.Model):
    """One batch through ``model``, merged into the running top-k of the wanted layers.

    Called as ``step.predict_on_batch([x, ids, values, indices, cells])`` with ``x`` a
    float32 batch, ``ids`` its int32 sample indices (``EMPTY`` for padding rows) and the
    state as int32/float32 arrays ``(sum of channels, k)``; returns the new state.
    """

    def __init__(self, model: Any, slots: list[Slot], k: int):
        super().__init__(name="fmwidget_score_step")
        self.inner = model
        self.slots = slots
        self.k = k
        self.channels_first_memory = keras.backend.backend() == "torch"
        self.first_argmax = keras.backend.backend() == "torch"  # documented: first maximum
        self.unique_keys = keras.backend.backend() == "torch"

    def call(self, inputs: Any) -> list[Any]:
        from .introspect import capture

        x, ids, values, indices, cells = inputs
        with capture(self.inner, on_call=None) as rec:
            self.inner(x, training=False)
        outputs = {e.name: e.output for e in rec.entries}
        tops, positions = [], []
        for slot in self.slots:
            if slot.name not in outputs:
                raise ValueError(f"Layer {slot.name!r} was not called in the forward pass.")
            y = outputs[slot.name]
            top, cell = channel_max(
                y, slot.data_format, self.channels_first_memory, self.first_argmax
            )
            tops.append(top)
            positions.append(cell)
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
        # One top-k over an integer key that orders like the value, empty entries below
        # all (-inf included). Ties keep concatenation order (the state's entries, then the
        # batch's rows, both in sample order): documented for TensorFlow's and JAX's top_k;
        # PyTorch's topk promises no tie order, so there the key is made unique.
        key = sort_key(all_values, all_ids < 0)
        if self.unique_keys:
            n = ops.shape(key)[1]
            rank = ops.cast(n - 1 - ops.arange(n, dtype="int32"), "int64")
            key = ops.cast(key, "int64") * (2**32) + rank[None, :]
        _, order = ops.top_k(key, self.k)
        return [
            ops.take_along_axis(all_values, order, 1),
            ops.take_along_axis(all_ids, order, 1),
            ops.take_along_axis(all_cells, order, 1),
        ]

    def update(self, state: State, x: np.ndarray, ids: np.ndarray) -> State:
        """Run one batch (exactly the step's batch size) and return the merged state."""
        values, indices, cells = self.predict_on_batch(
            [
                x,
                ids.astype(np.int32),
                state.values,
                state.indices.astype(np.int32),
                state.cells.astype(np.int32),
            ]
        )
        return State(
            np.asarray(values, np.float32),
            np.asarray(indices, np.int64),
            np.asarray(cells, np.int64),
        )
