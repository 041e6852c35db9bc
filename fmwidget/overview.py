"""What the network overview needs: small thumbnails of layers, and how layers link.

* :func:`thumbs_message` answers the browser's ``get_thumbs`` request: for a few layers at a
  time (the ones scrolled into view), the first maps of each, block-averaged down to at most
  ``edge`` cells a side, as float16 in one buffer. A thumbnail is tiny next to the layer:
  the overview never needs a layer's full maps.
* :func:`layer_links` describes, for one entry, how each of its inputs maps onto it: per
  spatial axis the :class:`~fmwidget.geometry.AxisMap` that geometry itself uses (kind,
  kernel, stride, dilation, offset), and which input channels each output channel reads
  (channel groups and offsets). The browser composes these to find, for a hovered cell,
  the cells of every other layer it reads (receptive field) or that read it (projective
  field), with no kernel round trip.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .encode import _as_3d, finite_range, scale_for
from .geometry import AxisMap
from .maps import FeatureMaps, LayerInfo

#: Longest edge of a thumbnail, in (averaged) cells.
THUMB_EDGE = 32
#: Most maps of one layer sent as thumbnails (the first ones, by index).
THUMB_CHANNELS = 16
#: Most values of a vector layer sent.
VECTOR_VALUES = 256
#: Kinds whose output channel c reads input channel c only (when the channel counts agree).
_CHANNELWISE = frozenset(
    ["activation", "batch_norm", "dropout", "padding", "cropping", "pooling", "merge"]
)
_AXIS_KINDS = {"window": "w", "transpose": "t", "upsample": "u", "all": "a"}


def block_factor(height: int, width: int, edge: int) -> int:
    """The integer block size that brings ``height`` x ``width`` to at most ``edge`` a side."""
    return max(1, math.ceil(max(height, width) / max(1, edge)))


def block_mean(maps: np.ndarray, factor: int) -> np.ndarray:
    """``(C, H, W)`` maps averaged over ``factor`` x ``factor`` blocks (the last ones smaller).

    NaN and ±Inf propagate into their block (the browser shows them in magenta).
    """
    if factor == 1:
        return np.asarray(maps, dtype=np.float32)
    _, height, width = maps.shape
    rows = np.arange(0, height, factor)
    cols = np.arange(0, width, factor)
    with np.errstate(invalid="ignore", over="ignore"):
        sums = np.add.reduceat(np.add.reduceat(maps.astype(np.float64), rows, axis=1), cols, axis=2)
    counts = np.outer(np.diff(np.append(rows, height)), np.diff(np.append(cols, width)))
    return (sums / counts).astype(np.float32)


def _thumb(
    fm: FeatureMaps, info: LayerInfo, sample: int, edge: int, channels: int
) -> tuple[dict[str, Any], np.ndarray]:
    arr = fm[info.name][sample]
    values, layout, depth = _as_3d(np.asarray(arr, dtype=np.float32), info.data_format)
    maps = values if layout == "chw" else np.moveaxis(values, -1, 0)
    if depth > 1:  # a 3-D map: the thumbnail shows its middle depth slice
        rows = maps.shape[1] // depth
        maps = maps[:, (depth // 2) * rows : (depth // 2 + 1) * rows]
    total, height, width = maps.shape
    lo, hi = finite_range(maps)
    header: dict[str, Any] = {"layer": info.name, "min": lo, "max": hi, "total": int(total)}
    if info.spatial_shape is None:  # a vector: its first values
        vec = maps.reshape(-1)[:VECTOR_VALUES]
        header.update(vector=True, channels=int(vec.size), height=1, width=1, factor=1)
        return header, vec
    kept = maps[:channels]
    factor = block_factor(height, width, edge)
    small = block_mean(kept, factor)
    ch_lo, ch_hi = [], []
    for m in kept:
        a, b = finite_range(m)
        ch_lo.append(a)
        ch_hi.append(b)
    header.update(
        vector=False,
        channels=int(small.shape[0]),
        height=int(small.shape[1]),
        width=int(small.shape[2]),
        factor=factor,
        src_height=int(height),
        src_width=int(width),
        map_min=ch_lo,
        map_max=ch_hi,
    )
    return header, small


def thumbs_message(
    fm: FeatureMaps,
    sample: int,
    names: list[str],
    edge: int = THUMB_EDGE,
    channels: int = THUMB_CHANNELS,
) -> tuple[dict[str, Any], bytes]:
    """The ``thumbs`` reply for layers ``names``: headers and one float16 buffer.

    Each entry of ``layers`` says where its values start in the buffer (``offset``, in
    values) and how they are laid out (``channels`` x ``height`` x ``width``, channel-major;
    ``factor``: cells per thumbnail cell along each axis), times ``scale``. A layer that cannot
    be summarised (several outputs) gets an ``error`` instead.
    """
    headers: list[dict[str, Any]] = []
    parts: list[np.ndarray] = []
    offset = 0
    for name in names:
        info = fm.info(name)
        try:
            header, values = _thumb(fm, info, sample, edge, channels)
        except ValueError as err:
            headers.append({"layer": info.name, "error": str(err)})
            continue
        flat = values.reshape(-1)
        scale = scale_for(max(abs(header["min"]), abs(header["max"])))
        with np.errstate(over="ignore", invalid="ignore"):
            half = (flat / np.float32(scale)).astype("<f2")
        header.update(offset=offset, scale=scale)
        headers.append(header)
        parts.append(half)
        offset += half.size
    payload = np.concatenate(parts).tobytes() if parts else b""
    return {"type": "thumbs", "encoding": "float16", "layers": headers}, payload


# -- links -----------------------------------------------------------------------------------
def _axis(m: AxisMap) -> list[Any]:
    return [_AXIS_KINDS[m.kind], m.kernel, m.stride, m.dilation, m.offset]


def _grid(info: LayerInfo) -> list[int] | None:
    """Rows x columns of the map as the browser draws it (1D maps are one row)."""
    sp = info.spatial_shape
    if sp is None or len(sp) > 2:
        return None
    return [1, int(sp[0])] if len(sp) == 1 else [int(sp[0]), int(sp[1])]


def _channel_axis_concat(info: LayerInfo) -> bool:
    if info.class_name != "Concatenate" or info.channels is None:
        return False
    axis = getattr(info.layer, "axis", -1)
    rank = len(info.shape) + 1  # with the batch axis
    axis = axis % rank if isinstance(axis, int) else -1
    channel_axis = 1 if info.data_format == "channels_first" else rank - 1
    return axis == channel_axis


def _groups(info: LayerInfo, src: LayerInfo) -> int:
    """How many channel groups link ``src`` to ``info`` (1: every channel reads every one)."""
    c_in, c_out = src.channels, info.channels
    if c_in is None or c_out is None:
        return 1
    if info.kind == "depthwise_conv":
        return c_in
    if info.kind in ("conv", "conv_transpose"):
        groups = info.config.get("groups", 1)
        return groups if isinstance(groups, int) and groups > 0 else 1
    if info.kind in _CHANNELWISE and c_in == c_out:
        return c_out
    return 1


def layer_links(info: LayerInfo, fm: FeatureMaps) -> dict[str, Any] | None:
    """How entry ``info`` reads each of its inputs, for the browser's linked cells.

    Returns:
        ``{"size": [rows, cols] | None, "inputs": [...]}``, one item per input entry:
        ``{"from": index, "rows": axis, "cols": axis, "ch": [[offset, span, groups], ...]}``
        where an axis is ``[kind, kernel, stride, dilation, offset]`` (kind ``w`` window,
        ``t`` transpose, ``u`` upsample, ``a`` all) or ``None`` when every cell reads the
        whole input; output channels ``[offset, offset + span)`` read the input's channels in
        ``groups`` equal groups. ``None`` when the entry's geometry is unknown (or has more
        than two spatial axes): linking stops there.
    """
    node = fm._graph.nodes[info.index]
    if not node.known:
        return None
    size = _grid(info)
    if info.spatial_shape is not None and size is None:
        return None
    concat = _channel_axis_concat(info)
    entry = fm._entries[info.index]
    items = []
    offsets: dict[int, list[list[int]]] = {}
    if concat:  # output channels follow the arguments in order
        start = 0
        for src, shape in zip(entry.arg_sources, entry.arg_shapes, strict=False):
            width = int(shape[1] if info.data_format == "channels_first" else shape[-1])
            if src is not None:
                offsets.setdefault(src, []).append([start, width, width])
            start += width
    for k, src_index in enumerate(node.inputs):
        src = fm.layers[src_index]
        maps = node.maps[k] if k < len(node.maps) else None
        rows: list[Any] | None = None
        cols: list[Any] | None = None
        if maps is not None and size is not None and _grid(src) is not None:
            if len(maps) == 1:
                rows, cols = _axis(AxisMap()), _axis(maps[0])
            else:
                rows, cols = _axis(maps[0]), _axis(maps[1])
        if concat and src_index in offsets:
            ch = offsets[src_index]
        else:
            ch = [[0, int(info.channels or 1), _groups(info, src)]]
        items.append({"from": int(src_index), "rows": rows, "cols": cols, "ch": ch})
    return {"size": size, "inputs": items}
