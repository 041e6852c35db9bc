"""Trace one activation: conv (pre-activation) -> activation -> pooling window -> pooled cell.

Everything here is read from the float32 maps and the layer weights, so the numbers the
widget shows are Keras's own; the convolution arithmetic is recomputed term by term and
its sum is the layer's pre-activation value.
"""

from __future__ import annotations

import contextlib
from typing import Any

import keras
import numpy as np

from .inputs import check_index, check_position
from .maps import FeatureMaps, LayerInfo

# Kinds that keep channel index and cell position (at inference).
_PASS = ("activation", "batch_norm", "dropout")
_CONV = ("conv", "depthwise_conv", "separable_conv", "conv_transpose")


def _box(slices: tuple[slice, ...]) -> dict[str, int]:
    rows = slices[0]
    cols = slices[1] if len(slices) > 1 else slice(0, 1)
    if len(slices) == 1:  # 1D maps are shown as one row
        rows, cols = slice(0, 1), slices[0]
    return {"row0": rows.start, "row1": rows.stop, "col0": cols.start, "col1": cols.stop}


def _cell(pos: tuple[int, ...]) -> dict[str, int]:
    if len(pos) == 1:
        return {"row": 0, "col": pos[0]}
    return {"row": pos[0], "col": pos[1]}


def _value(arr: np.ndarray, info: LayerInfo, sample: int, channel: int, pos: tuple[int, ...]):
    if info.data_format == "channels_first":
        return float(arr[(sample, channel, *pos)])
    return float(arr[(sample, *pos, channel)])


class _Graph:
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
    through element-wise layers to the first pooling layer that consumes it.

    Args:
        fm: Extracted feature maps.
        layer: Name of a layer with a spatial map.
        channel: Filter index.
        position: The cell, e.g. ``(row, col)``.
        sample: Which sample of the batch.

    Returns:
        ``{"steps": [...], "receptive_field": {...}, "conv": {...} | None}``; each step
        has ``layer``, ``kind``, ``class_name``, ``filter``, ``row``, ``col``, ``value``,
        ``receptive_field`` and, for pooling, ``window`` (in its input map) and ``argmax``.
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
    graph = _Graph(fm)

    # Walk back to the producing convolution.
    chain: list[tuple[LayerInfo, tuple[int, ...]]] = [(info, pos)]
    while chain[0][0].kind not in _CONV:
        cur, cur_pos = chain[0]
        src = graph.single_input(cur)
        if src is None or src.spatial_shape is None or src.channels != cur.channels:
            break
        if cur.kind == "pooling":
            try:
                cur_pos = fm.pool_source(cur.name, cur_pos, channel, sample)
            except ValueError:
                break  # average pooling: no single source cell
        elif cur.kind not in _PASS:
            break
        chain.insert(0, (src, cur_pos))
    # Walk forward to the first pooling layer.
    while chain[-1][0].kind != "pooling":
        cur, cur_pos = chain[-1]
        nxt = graph.single_consumer(cur)
        if nxt is None or nxt.spatial_shape is None or nxt.channels != cur.channels:
            break
        if nxt.kind == "pooling":
            cur_pos = _pooled_cell(fm, nxt, cur_pos, channel, sample)
            if cur_pos is None:
                break
        elif nxt.kind not in _PASS:
            break
        chain.append((nxt, cur_pos))

    steps: list[dict[str, Any]] = []
    conv = None
    for step_info, step_pos in chain:
        steps.extend(_steps(fm, step_info, step_pos, channel, sample))
        if step_info.kind == "conv" and conv is None:
            conv = conv_arithmetic(fm, step_info.name, channel, step_pos, sample)
    return {
        "steps": steps,
        "receptive_field": _box(fm.receptive_field(layer, pos)),
        "conv": conv,
    }


def _pooled_cell(
    fm: FeatureMaps, pool: LayerInfo, pos: tuple[int, ...], channel: int, sample: int
) -> tuple[int, ...] | None:
    """The pooled cell whose window holds ``pos``; one where ``pos`` won the max if any."""
    assert pool.spatial_shape is not None
    holders = []
    for cell in np.argwhere(fm.cells_reading(pool.name, pos)):
        holders.append(tuple(int(v) for v in cell))
    if not holders:
        return None
    for cell in holders:
        try:
            if fm.pool_source(pool.name, cell, channel, sample) == pos:
                return cell
        except ValueError:
            break
    return holders[0]


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
        with contextlib.suppress(ValueError):  # average pooling has no argmax
            step["argmax"] = _cell(fm.pool_source(info.name, pos, channel, sample))
    return [step]


def conv_arithmetic(
    fm: FeatureMaps, layer: str, channel: int, position: Any, sample: int = 0, top: int = 8
) -> dict[str, Any] | None:
    """The sum behind one Conv1D/Conv2D output cell, one term per input channel.

    ``sum(terms) + bias == total`` equals the layer's pre-activation value (to float32
    rounding). Input cells that fall in the padding contribute nothing.

    Returns:
        ``{"layer", "filter", "bias", "total", "terms": [{"channel", "contribution",
        "window", "kernel"}...], "others": float, "n_channels"}`` with the ``top`` terms of
        largest magnitude (``others`` sums the rest); None for layers that are not plain
        convolutions.
    """
    info = fm.info(layer)
    conv = fm.keras_layer(layer)
    if info.kind != "conv" or conv is None or len(info.inputs) != 1:
        return None
    if info.spatial_shape is None or len(info.spatial_shape) not in (1, 2):
        return None
    src = fm.info(info.inputs[0])
    pos = check_position(position, info.spatial_shape, f"layer {layer!r}")
    x = fm[src.name][sample]
    if src.data_format == "channels_first":
        x = np.moveaxis(x, 0, -1)
    kernel = keras.ops.convert_to_numpy(conv.kernel.value).astype(np.float32)
    bias = float(keras.ops.convert_to_numpy(conv.bias.value)[channel]) if conv.use_bias else 0.0
    if x.ndim == 2:  # 1D: treat as one row
        x, kernel = x[None], kernel[None]
    idx = fm.window_taps(layer, pos)
    rows, cols = (np.zeros(1, int), idx[0]) if len(idx) == 1 else idx
    groups = int(getattr(conv, "groups", 1) or 1)
    per_group = kernel.shape[2]
    group = channel // (kernel.shape[3] // groups)
    in_channels = range(group * per_group, (group + 1) * per_group)
    terms = []
    for k, ci in enumerate(in_channels):
        window = np.zeros((len(rows), len(cols)), np.float32)
        ok_r, ok_c = rows >= 0, cols >= 0
        sub = x[np.ix_(rows[ok_r], cols[ok_c], [ci])][..., 0]
        window[np.ix_(ok_r, ok_c)] = sub
        kslice = kernel[:, :, k, channel]
        terms.append(
            {
                "channel": ci,
                "contribution": float((window.astype(np.float64) * kslice).sum()),
                "window": window.tolist(),
                "kernel": kslice.tolist(),
            }
        )
    terms.sort(key=lambda t: -abs(t["contribution"]))
    shown, rest = terms[:top], terms[top:]
    total = sum(t["contribution"] for t in terms) + bias
    return {
        "layer": info.name,
        "filter": channel,
        "bias": bias,
        "total": float(total),
        "terms": shown,
        "others": float(sum(t["contribution"] for t in rest)),
        "n_channels": len(terms),
    }
