"""Trace one activation: conv (pre-activation) -> activation -> pooling window -> pooled cell.

Everything here is read from the float32 maps and the layer weights, so the numbers the
widget shows are Keras's own; the convolution arithmetic is recomputed term by term and
its sum is the layer's pre-activation value.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from .maps import FeatureMaps, LayerInfo
from .validation import check_index, check_position

# Kinds that keep channel index and cell position (at inference).
_PASS = ("activation", "batch_norm", "dropout")
_CONV = ("conv", "depthwise_conv", "separable_conv", "conv_transpose")
# Pooling layers with a winner (FeatureMaps.pool_source); other pooling layers average.
_MAX_POOLS = (keras.layers.MaxPooling1D, keras.layers.MaxPooling2D, keras.layers.MaxPooling3D)


def _box(slices: tuple[slice, ...]) -> dict[str, int]:
    """A box as the widget draws it: rows and columns (1D maps are one row); the first
    axis of a 3D map (depth, or time in a video) as ``depth0``/``depth1``."""
    if len(slices) == 1:  # 1D maps are shown as one row
        rows, cols = slice(0, 1), slices[0]
    else:
        rows, cols = slices[-2], slices[-1]
    box = {"row0": rows.start, "row1": rows.stop, "col0": cols.start, "col1": cols.stop}
    if len(slices) == 3:
        box = {"depth0": slices[0].start, "depth1": slices[0].stop, **box}
    return box


def _cell(pos: tuple[int, ...]) -> dict[str, int]:
    """A cell as the widget shows it: ``row``, ``col`` (and ``depth`` first for 3D maps)."""
    if len(pos) == 1:
        return {"row": 0, "col": pos[0]}
    if len(pos) == 3:
        return {"depth": pos[0], "row": pos[1], "col": pos[2]}
    return {"row": pos[0], "col": pos[1]}


def _value(arr: np.ndarray, info: LayerInfo, sample: int, channel: int, pos: tuple[int, ...]):
    if info.data_format == "channels_first":
        return float(arr[(sample, channel, *pos)])
    return float(arr[(sample, *pos, channel)])


class _LayerLinks:
    """Who feeds whom among the layers (not geometry: see :class:`field_graph.FieldGraph`)."""

    def __init__(self, fm: FeatureMaps):
        self.fm = fm
        self.consumers: dict[str, list[LayerInfo]] = {}
        for info in fm.layers:
            for name in info.inputs:
                self.consumers.setdefault(name, []).append(info)

    def single_input(self, info: LayerInfo) -> LayerInfo | None:
        return self.fm.info(info.inputs[0]) if len(info.inputs) == 1 else None

    def single_consumer(self, info: LayerInfo) -> LayerInfo | None:
        users = self.consumers.get(info.name, [])
        return users[0] if len(users) == 1 and len(users[0].inputs) == 1 else None


def trace(
    fm: FeatureMaps, layer: str, channel: int, position: Any, sample: int = 0
) -> dict[str, Any]:
    """The chain of cells linked to one activation, with their float32 values.

    Walks back from ``layer`` through element-wise layers and max pooling (following the
    cell that won the max) to the convolution that produced the value, then forward
    through element-wise layers to the first pooling layer that consumes it. Of the pooled
    cells whose window holds the clicked cell, one it wins is chosen, else the first in
    row-major order. When the max of that window came from another cell, the chain is rebuilt
    back from the pooled cell, so every step shows the cell that actually fed the pooled value
    (the values add up); ``clicked`` keeps the cell asked for and ``note`` says so in words.

    Args:
        fm: Extracted feature maps.
        layer: Name of a layer with a spatial map.
        channel: Filter index.
        position: The cell, e.g. ``(row, col)``.
        sample: Which sample of the batch.

    Returns:
        ``{"steps": [...], "receptive_field": {...}, "conv": {...} | None, "clicked": {...},
        "note": str | None}``; each step has ``layer``, ``kind``, ``class_name``, ``filter``,
        ``row``, ``col``, ``value``, ``receptive_field`` and, for pooling, ``window`` (in its
        input map) and ``argmax``. ``receptive_field`` is the clicked cell's; ``clicked`` has
        ``layer``, ``filter``, ``row``, ``col`` and ``value``; ``conv`` is the arithmetic of
        the chain's convolution cell.
    """
    info = fm.info(layer)
    if info.spatial_shape is None or info.channels is None:
        raise ValueError(
            f"Expected a layer with a spatial map, received {layer!r} whose output is a "
            f"vector of shape {info.shape}."
        )
    pos = check_position(position, info.spatial_shape, f"layer {layer!r}")
    channel = check_index(channel, info.channels, "filter")
    sample = check_index(sample, fm.input.shape[0], "sample")
    graph = _LayerLinks(fm)

    chain = _walk_back(fm, graph, info, pos, channel, sample)
    note = None
    if info.kind == "pooling" and len(chain) == 1 and _is_average(fm, info):
        note = _average_note(info, pos)
    # Walk forward to the first pooling layer.
    cur = info
    while cur.kind != "pooling":
        nxt = graph.single_consumer(cur)
        if nxt is None or nxt.spatial_shape is None or nxt.channels != cur.channels:
            break
        if nxt.kind == "pooling":
            chain, note = _into_pool(fm, graph, chain, nxt, info, pos, channel, sample)
            break
        if nxt.kind not in _PASS:
            break
        chain.append((nxt, pos))
        cur = nxt

    steps: list[dict[str, Any]] = []
    conv = None
    for step_info, step_pos in chain:
        steps.extend(_steps(fm, step_info, step_pos, channel, sample))
        if step_info.kind in ("conv", "depthwise_conv") and conv is None:
            conv = conv_arithmetic(fm, step_info.name, channel, step_pos, sample)
    return {
        "steps": steps,
        "receptive_field": _box(fm.receptive_field(layer, pos)),
        "conv": conv,
        "clicked": {
            "layer": info.name,
            "filter": channel,
            **_cell(pos),
            "value": _value(fm[info.name], info, sample, channel, pos),
        },
        "note": note,
    }


Chain = list[tuple[LayerInfo, tuple[int, ...]]]


def _walk_back(
    fm: FeatureMaps,
    graph: _LayerLinks,
    info: LayerInfo,
    pos: tuple[int, ...],
    channel: int,
    sample: int,
) -> Chain:
    """From one cell back to the producing convolution, following max-pool winners."""
    chain: Chain = [(info, pos)]
    while chain[0][0].kind not in _CONV:
        cur, cur_pos = chain[0]
        src = graph.single_input(cur)
        if src is None or src.spatial_shape is None or src.channels != cur.channels:
            break
        if cur.kind == "pooling":
            cur_pos = _source(fm, cur, cur_pos, channel, sample)
            if cur_pos is None:
                break  # average pooling: no single source cell
        elif cur.kind not in _PASS:
            break
        chain.insert(0, (src, cur_pos))
    return chain


def _into_pool(
    fm: FeatureMaps,
    graph: _LayerLinks,
    chain: Chain,
    pool: LayerInfo,
    clicked: LayerInfo,
    pos: tuple[int, ...],
    channel: int,
    sample: int,
) -> tuple[Chain, str | None]:
    """The chain extended into ``pool``, rebuilt from the winner when it is not ``pos``."""
    here = f"You clicked {_at(pos)} of {clicked.name}"
    holders = [tuple(int(v) for v in c) for c in np.argwhere(fm.cells_reading(pool.name, pos))]
    if not holders:
        return chain, f"{here}; no window of {pool.name} holds it, so nothing was pooled from it."
    sources = [_source(fm, pool, cell, channel, sample) for cell in holders]
    if sources[0] is None:
        cell = holders[0]
        lead = (
            f"{here}; it lies in {len(holders)} windows of {pool.name}, shown: the first. "
            if len(holders) > 1
            else ""
        )
        return [*chain, (pool, cell)], lead + _average_note(pool, cell)
    won = [cell for cell, src in zip(holders, sources, strict=True) if src == pos]
    if won:
        note = None
        if len(holders) > 1:
            note = (
                f"{here}; it lies in {len(holders)} windows of {pool.name} and is the max of "
                f"pooled cell {_at(won[0])}, shown here."
            )
        return [*chain, (pool, won[0])], note
    cell, src = holders[0], sources[0]
    assert src is not None
    where = (
        f"it lies in {len(holders)} windows of {pool.name} and is the max of none; the max "
        f"of the first, pooled cell {_at(cell)},"
        if len(holders) > 1
        else f"the max of its {pool.name} window"
    )
    note = (
        f"{here}; {where} came from {_at(src)}, so the steps before {pool.name} show "
        f"{_at(src)}, the cell that fed the pooled value."
    )
    before = fm.info(pool.inputs[0])
    if _value(fm[before.name], before, sample, channel, src) == _value(
        fm[before.name], before, sample, channel, pos
    ):
        note += (
            f" {_at(pos)} and {_at(src)} hold the same value: ties go to the first cell in "
            "row-major order."
        )
    return _walk_back(fm, graph, pool, cell, channel, sample), note


def _source(
    fm: FeatureMaps, pool: LayerInfo, cell: tuple[int, ...], channel: int, sample: int
) -> tuple[int, ...] | None:
    """Where the max of a pooled cell came from; None for average pooling."""
    if _is_average(fm, pool):
        return None
    return fm.pool_source(pool.name, cell, channel, sample)


def _is_average(fm: FeatureMaps, pool: LayerInfo) -> bool:
    return not isinstance(fm.keras_layer(pool.name), _MAX_POOLS)


def _average_note(pool: LayerInfo, cell: tuple[int, ...]) -> str:
    return (
        f"{pool.name} averages its window: pooled cell {_at(cell)} is the mean of all the "
        "cells in it, not the value of one cell."
    )


def _at(pos: tuple[int, ...]) -> str:
    """A cell as the widget shows it, (row, col); 1D maps are one row; 3D (depth, row, col)."""
    return "(" + ", ".join(str(v) for v in _cell(pos).values()) + ")"


def _steps(
    fm: FeatureMaps, info: LayerInfo, pos: tuple[int, ...], channel: int, sample: int
) -> list[dict[str, Any]]:
    base = {
        "layer": info.name,
        "class_name": info.class_name,
        "filter": channel,
        **_cell(pos),
        "receptive_field": _box(fm.receptive_field(info.name, pos)),
    }
    out = []
    if info.fused_activation is not None:
        pre = fm.pre_activation(info.name)
        out.append(
            {
                **base,
                "kind": info.kind,
                "pre_activation": True,
                "value": _value(pre, info, sample, channel, pos),
            }
        )
        out.append(
            {
                **base,
                "kind": "activation",
                "activation": info.fused_activation,
                "fused": True,
                "value": _value(fm[info.name], info, sample, channel, pos),
            }
        )
        return out
    step = {**base, "kind": info.kind, "value": _value(fm[info.name], info, sample, channel, pos)}
    if info.kind == "pooling":
        step["window"] = _box(fm.pool_window(info.name, pos))
        src = _source(fm, info, pos, channel, sample)
        if src is not None:  # average pooling has no argmax
            step["argmax"] = _cell(src)
    return [step]


def conv_arithmetic(
    fm: FeatureMaps, layer: str, channel: int, position: Any, sample: int = 0, top: int = 8
) -> dict[str, Any] | None:
    """The sum behind one Conv1D/Conv2D (or depthwise) output cell, one term per input channel.

    ``sum(terms) + bias == total`` equals the layer's pre-activation value (to float32
    rounding). Input cells that fall in the padding contribute nothing. The window is read at
    the layer's exact kernel taps (stride, dilation and padding included), so it also holds
    for grouped and depthwise convolutions (one input channel per output channel).

    Returns:
        ``{"layer", "source", "filter", "bias", "total", "terms": [{"channel",
        "contribution", "window", "kernel"}...], "others": float, "n_channels", "taps"}``
        with the ``top`` terms of largest magnitude (``others`` sums the rest); ``source``
        names the input layer and ``taps`` holds ``rows`` and ``cols``: the input row and
        column under each kernel tap (``-1`` in the padding); ``origin`` (the first tap's
        row and column, negative in the padding), ``strides``, ``dilation`` and ``output``
        (the output map's size) place the window of any other output cell.
        None for layers that are not plain or depthwise convolutions.
    """
    info = fm.info(layer)
    conv = fm.keras_layer(layer)
    if info.kind not in ("conv", "depthwise_conv") or conv is None or len(info.inputs) != 1:
        return None
    if info.spatial_shape is None or len(info.spatial_shape) not in (1, 2):
        return None
    src = fm.info(info.inputs[0])
    pos = check_position(position, info.spatial_shape, f"layer {layer!r}")
    x = fm[src.name][sample]
    if src.data_format == "channels_first":
        x = np.moveaxis(x, 0, -1)
    depthwise = info.kind == "depthwise_conv"
    # Keras 3: DepthwiseConv2D's kernel is (rows, cols, in, multiplier)
    kernel = keras.ops.convert_to_numpy(conv.kernel.value).astype(np.float32)
    bias = float(keras.ops.convert_to_numpy(conv.bias.value)[channel]) if conv.use_bias else 0.0
    if x.ndim == 2:  # 1D: treat as one row
        x, kernel = x[None], kernel[None]
    idx = fm.window_taps(layer, pos)
    rows, cols = (np.zeros(1, int), idx[0]) if len(idx) == 1 else idx
    if depthwise:  # output channel c reads input channel c // multiplier
        mult = kernel.shape[3]
        pairs = [(channel // mult, channel // mult, channel % mult)]
    else:
        groups = int(getattr(conv, "groups", 1) or 1)
        per_group = kernel.shape[2]
        group = channel // (kernel.shape[3] // groups)
        pairs = [(group * per_group + k, k, channel) for k in range(per_group)]
    terms = []
    for ci, k, out in pairs:
        window = np.zeros((len(rows), len(cols)), np.float32)
        ok_r, ok_c = rows >= 0, cols >= 0
        sub = x[np.ix_(rows[ok_r], cols[ok_c], [ci])][..., 0]
        window[np.ix_(ok_r, ok_c)] = sub
        kslice = kernel[:, :, k, out]
        terms.append(
            {
                "channel": ci,
                "contribution": float((window.astype(np.float64) * kslice).sum()),
                "window": window.tolist(),
                "kernel": kslice.tolist(),
            }
        )
    strides, dilation = tuple(conv.strides), tuple(conv.dilation_rate)
    out_shape = tuple(info.spatial_shape)
    if len(strides) == 1:  # 1D: one row
        strides, dilation, out_shape = (1, strides[0]), (1, dilation[0]), (1, out_shape[0])
    terms.sort(key=lambda t: -abs(t["contribution"]))
    shown, rest = terms[:top], terms[top:]
    total = sum(t["contribution"] for t in terms) + bias
    return {
        "layer": info.name,
        "source": src.name,
        "filter": channel,
        "bias": bias,
        "total": float(total),
        "terms": shown,
        "others": float(sum(t["contribution"] for t in rest)),
        "n_channels": len(terms),
        "taps": {"rows": [int(r) for r in rows], "cols": [int(c) for c in cols]},
        # output cell (r', c') reads rows origin[0] + (r' - r) * strides[0] + k * dilation[0]
        # (k over the kernel's rows; the same for columns), padding where outside the map
        "origin": [_origin(rows, dilation[0]), _origin(cols, dilation[1])],
        "strides": [int(v) for v in strides],
        "dilation": [int(v) for v in dilation],
        "output": [int(v) for v in out_shape],
    }


def _origin(taps: np.ndarray, dilation: int) -> int | None:
    """The first tap's index along one axis, also when it lies in the padding (-1 there)."""
    valid = np.flatnonzero(taps >= 0)
    return int(taps[valid[0]] - valid[0] * dilation) if valid.size else None
