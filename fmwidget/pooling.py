"""Pooling: which input cells each pooled cell reads, and where a max-pool's max came from.

Everything is computed on the float32 maps of a :class:`~fmwidget.FeatureMaps` (the browser
never guesses from float16): windows clipped to the input map (padding excluded), the winning
cell of max pooling (ties and NaN to the first cell in row-major order, as ``np.argmax``),
and, for the static export, both as compact tables for a whole layer.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from .validation import check_index, check_position

if TYPE_CHECKING:
    from .maps import FeatureMaps, LayerInfo

#: The layers whose cells have one source cell (the max).
MAX_POOLS = (
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.MaxPooling3D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
    keras.layers.GlobalMaxPooling3D,
)


def pool_window(fm: FeatureMaps, name: str, position: Any) -> tuple[slice, ...]:
    """Slices of the pooling layer's *input* map that output ``position`` pools over.

    Padding cells are excluded, so the window is clipped to the input map.
    """
    info = _pool_info(fm, name, max_only=False)
    return tuple(slice(int(ix[0]), int(ix[-1]) + 1) for ix in _pool_indices(fm, info, position))


def _pool_info(fm: FeatureMaps, name: str, max_only: bool) -> LayerInfo:
    info = fm.info(name)
    layer = info.layer
    if info.kind not in ("pooling", "global_pooling") or (
        max_only and not isinstance(layer, MAX_POOLS)
    ):
        wanted = "a MaxPooling layer" if max_only else "a pooling layer"
        raise ValueError(f"Expected {wanted}, received {name!r} ({info.class_name}).")
    return info


def _pool_indices(fm: FeatureMaps, info: LayerInfo, position: Any) -> tuple[np.ndarray, ...]:
    src = fm.info(info.inputs[0])
    assert src.spatial_shape is not None
    if info.kind == "global_pooling":
        fm._cell_mask(info, position)  # checks position is ()
        return tuple(np.arange(n) for n in src.spatial_shape)
    pos = check_position(position, info.spatial_shape or (), f"layer {info.name!r}")
    return fm._graph.window(info.index, pos)


def pool_source(
    fm: FeatureMaps, name: str, position: Any, channel: int, sample: int = 0
) -> tuple[int, ...]:
    """Where in the pooling layer's input map the max of one pooled cell came from.

    Computed on the float32 input map; ties go to the first cell in row-major order.

    Args:
        name: A MaxPooling (or GlobalMaxPooling) layer.
        position: The pooled cell, e.g. ``(row, col)`` (``()`` for global pooling).
        channel: The channel (filter) index.
        sample: Which sample of the batch.

    Returns:
        The position in the pooling layer's input map.
    """
    info = _pool_info(fm, name, max_only=True)
    src = fm.info(info.inputs[0])
    arr = fm[src.name]
    assert src.channels is not None
    sample = check_index(sample, arr.shape[0], "sample")
    channel = check_index(channel, src.channels, "channel")
    idx = _pool_indices(fm, info, position)
    fmap = (
        arr[sample, channel] if src.data_format == "channels_first" else arr[sample, ..., channel]
    )
    window = fmap[np.ix_(*idx)]
    flat = int(np.argmax(window))
    local = np.unravel_index(flat, window.shape)
    return tuple(int(ix[k]) for ix, k in zip(idx, local, strict=True))


def pool_windows(fm: FeatureMaps, name: str) -> list[np.ndarray]:
    """Per axis of pooling layer ``name``, the ``[start, stop)`` window of every output index.

    Windows are in the pooling layer's input map, padding excluded (as
    :func:`pool_window`). 1D maps get a single-row ``rows`` table first.
    """
    info = fm.info(name)
    assert info.spatial_shape is not None
    rank = len(info.spatial_shape)
    tables = []
    for axis, n in enumerate(info.spatial_shape):
        table = np.zeros((n, 2), np.int64)
        for p in range(n):
            pos = [0] * rank
            pos[axis] = p
            sl = pool_window(fm, name, tuple(pos))[axis]
            table[p] = (sl.start, sl.stop)
        tables.append(table)
    if rank == 1:
        tables.insert(0, np.array([[0, 1]], np.int64))
    return tables


def pool_argmax(fm: FeatureMaps, name: str, sample: int = 0) -> np.ndarray:
    """For max pooling ``name``: where each pooled cell's max came from, channel-major.

    Returns ``(C, *spatial_out)`` ints (``(C, 1, W_out)`` for 1D maps, shown as one row;
    ``(C, D_out, H_out, W_out)`` for 3D): the row-major index of the winning cell inside
    that cell's (clipped) window, equal to :func:`pool_source` (float32 values, ties and
    NaN to the first cell, as ``np.argmax``).

    Raises:
        ValueError: ``name`` is not a MaxPooling layer.
    """
    return _pool_best(fm, name, sample)[0]


def _pool_input(fm: FeatureMaps, name: str, sample: int) -> np.ndarray:
    """The pooling layer's float32 input map, ``(*spatial, C)`` (1D maps as one row)."""
    src = fm.info(fm.info(name).inputs[0])
    x = fm[src.name][sample]
    if src.data_format == "channels_first":
        x = np.moveaxis(x, 0, -1)
    return x[None] if x.ndim == 2 else x


def _axis_vector(values: np.ndarray, axis: int, rank: int) -> np.ndarray:
    """``values`` shaped to broadcast along ``axis`` of a ``(*spatial, C)`` array."""
    shape = [1] * (rank + 1)
    shape[axis] = len(values)
    return values.reshape(shape)


def _pool_best(fm: FeatureMaps, name: str, sample: int) -> tuple[np.ndarray, np.ndarray]:
    """``pool_argmax`` and the winners' float32 values, ``(*spatial_out, C)``.

    Scans the window offsets in row-major order and keeps a value only when it is strictly
    larger (or the first NaN), so ties go to the first cell as ``np.argmax`` does.
    """
    info = fm.info(name)
    assert info.spatial_shape is not None
    # raises ValueError for average pooling, as pool_source does
    pool_source(fm, name, (0,) * len(info.spatial_shape), 0, sample)
    tables = pool_windows(fm, name)
    x = _pool_input(fm, name, sample)
    rank = len(tables)
    starts = [t[:, 0] for t in tables]
    lens = [t[:, 1] - t[:, 0] for t in tables]
    best = x[np.ix_(*starts)]  # offset (0, ..., 0) of each window
    local = np.zeros(best.shape, np.int64)
    with np.errstate(invalid="ignore"):
        for offsets in itertools.product(*(range(int(n.max())) for n in lens)):
            if not any(offsets):
                continue
            sizes = zip(starts, offsets, x.shape[:rank], strict=True)
            index = [np.minimum(s + o, n - 1) for s, o, n in sizes]
            v = x[np.ix_(*index)]
            valid = np.ones((1,) * (rank + 1), bool)
            flat = np.zeros((1,) * (rank + 1), np.int64)
            for axis, (o, n) in enumerate(zip(offsets, lens, strict=True)):
                valid = valid & _axis_vector(o < n, axis, rank)
                flat = flat * _axis_vector(n, axis, rank) + o  # row-major index in the window
            better = valid & ~np.isnan(best) & (np.isnan(v) | (v > best))
            best = np.where(better, v, best)
            local = np.where(better, flat, local)
    return np.moveaxis(local, -1, 0), best


def pool_ties(fm: FeatureMaps, name: str, sample: int = 0) -> np.ndarray:
    """For max pooling ``name``: which input cells equal the winner of their first window.

    Returns ``(C, *spatial_in)`` booleans over the pooling layer's input map (1D maps as
    one row): True where the float32 value equals the value that won the first window
    holding the cell (row-major, as :func:`fmwidget.trace.trace` picks it); False for cells
    in no window and for NaN. A trace says "hold the same value" from this, never from
    float16 values (which would create false ties).

    Raises:
        ValueError: ``name`` is not a MaxPooling layer.
    """
    return _ties(fm, name, sample, _pool_best(fm, name, sample)[1])


def _ties(fm: FeatureMaps, name: str, sample: int, best: np.ndarray) -> np.ndarray:
    tables = pool_windows(fm, name)
    x = _pool_input(fm, name, sample)
    rank = len(tables)
    firsts, held_any = [], np.ones((1,) * (rank + 1), bool)
    for axis, (table, n) in enumerate(zip(tables, x.shape, strict=False)):
        held = (table[:, :1] <= np.arange(n)) & (np.arange(n) < table[:, 1:])  # (out, in)
        firsts.append(held.argmax(axis=0))
        held_any = held_any & _axis_vector(held.any(axis=0), axis, rank)
    ties = (x == best[np.ix_(*firsts)]) & held_any
    return np.moveaxis(ties, -1, 0)


def pool_tables(
    fm: FeatureMaps, name: str, sample: int, add: Callable[[bytes, str], dict[str, Any]]
) -> dict[str, Any]:
    """The window tables of a pooling layer and, for max pooling, its argmax and tie blobs.

    Args:
        fm: The feature maps.
        name: A pooling layer.
        sample: Which sample of the batch.
        add: Stores one blob (bytes, kind ``"table"``) and returns what the manifest says
            about it (the static export's blob writer).

    Returns:
        ``rows`` and ``cols`` window tables (:func:`pool_windows`; 3D maps also ``depths``,
        their first axis); for max pooling the
        ``argmax`` table (:func:`pool_argmax`, uint8/16/32) and the packed ``ties`` bits
        (:func:`pool_ties`), each described by ``add``; ``argmax`` is None for average pooling.
    """
    tables = pool_windows(fm, name)
    rows, cols = tables[-2:]
    out: dict[str, Any] = {"rows": rows.tolist(), "cols": cols.tolist(), "argmax": None}
    if len(tables) == 3:
        out["depths"] = tables[0].tolist()
    try:
        local, best = _pool_best(fm, name, sample)
    except ValueError:  # average pooling: no single source cell
        return out
    window = int(np.prod([(t[:, 1] - t[:, 0]).max() for t in tables]))
    dtype = "uint8" if window <= 256 else "uint16" if window <= 65536 else "uint32"
    data = np.ascontiguousarray(local, dtype=np.dtype(dtype).newbyteorder("<"))
    out["argmax"] = {
        "dtype": dtype,
        "shape": list(local.shape),
        **add(data.tobytes(), "table"),
    }
    ties = _ties(fm, name, sample, best)
    bits = np.packbits(ties.ravel(), bitorder="little")
    out["ties"] = {"shape": list(ties.shape), **add(bits.tobytes(), "table")}
    return out
