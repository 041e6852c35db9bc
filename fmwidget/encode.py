"""Turn feature maps into compact binary payloads for the browser.

A layer travels as little-endian float16 in the layout it already has in memory (``hwc``
for ``channels_last``, ``chw`` for ``channels_first``): the browser transposes while it
decodes, so Python never pays for a strided copy. When the layer's largest finite
magnitude falls outside ``[2**-2, 2**14)`` the values are first divided by a power of
two (``scale``) that brings it to ``[2**10, 2**11)``, so float16 neither overflows (1e30
is fine) nor drops small maps into its subnormal range; the browser multiplies back
exactly. NaN and ±Inf pass through unchanged. Per-filter statistics are computed by the
browser from the decoded values (measured: cheaper there than a strided reduction here).

On the wire (:func:`layer_parts`) a layer travels in channel-range parts, a small first one
holding the channels the browser's grid shows first, so the browser paints them while the
rest arrive; a part that is mostly zeros (ReLU maps) travels as a nonzero bitmask plus its
nonzero values (:func:`pack_nonzero`), bit-exact.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np


def _as_3d(sample: np.ndarray, data_format: str) -> tuple[np.ndarray, str, int]:
    """One sample's map as a 3D array, its layout (``hwc`` or ``chw``) and its depth.

    A 3-D map (``D, H, W`` spatial axes) travels with its depth slices stacked along the
    rows (``D·H`` rows: a free reshape in either layout) and ``depth`` ``D``.
    """
    if sample.ndim == 1:  # a vector: C channels of one cell
        return sample.reshape(1, 1, -1), "hwc", 1
    if sample.ndim == 2:  # 1D maps are shown as one row
        if data_format == "channels_first":
            return sample[:, None, :], "chw", 1
        return sample[None], "hwc", 1
    if sample.ndim == 3:
        return sample, "chw" if data_format == "channels_first" else "hwc", 1
    if sample.ndim == 4:  # volumes, video: depth slices stacked along the rows
        if data_format == "channels_first":
            c, d, h, w = sample.shape
            return sample.reshape(c, d * h, w), "chw", d
        d, h, w, c = sample.shape
        return sample.reshape(d * h, w, c), "hwc", d
    raise ValueError(f"Expected a map with at most 3 spatial axes, received shape {sample.shape}.")


def finite_range(values: np.ndarray) -> tuple[float, float]:
    """``(min, max)`` over the finite values (``(0, 0)`` when there are none)."""
    lo, hi = float(values.min(initial=np.inf)), float(values.max(initial=-np.inf))
    if math.isfinite(lo) and math.isfinite(hi):
        return lo, hi
    finite = values[np.isfinite(values)]
    return (float(finite.min()), float(finite.max())) if finite.size else (0.0, 0.0)


def scale_for(peak: float) -> float:
    """Power-of-two divisor for a layer whose largest finite magnitude is ``peak``."""
    if peak == 0 or 2.0**-2 <= peak < 2.0**14:
        return 1.0
    return 2.0 ** (math.floor(math.log2(peak)) - 10)


#: Below this many values numpy casts to float16 faster than a backend op is dispatched.
SMALL_MAP_VALUES = 1 << 16


def to_float16(values: np.ndarray, scale: float, tensor: Any = None) -> np.ndarray:
    """``values / scale`` as C-contiguous little-endian float16 (``tensor``: see encode_map).

    The cast runs on the Keras backend (vectorised): numpy's own float16 cast takes a
    branch per value and mispredicts on ReLU maps, where zeros and normal numbers mix,
    running 3-5x slower. ``tensor`` is the same data already on the backend, if at hand;
    JAX copies when handed a numpy array, so without one it keeps numpy's cast. Small
    maps keep numpy's cast too: there a backend op's dispatch costs more than the cast.
    """
    if callable(tensor):
        tensor = tensor() if values.size >= SMALL_MAP_VALUES else None
    small = values.size < SMALL_MAP_VALUES
    if small or (tensor is None and keras.backend.backend() == "jax"):
        if scale == 1.0:
            return values.astype("<f2", order="C")
        half = np.empty(values.shape, "<f2")
        with np.errstate(over="ignore", invalid="ignore"):
            np.multiply(values, np.float32(1.0 / scale), out=half, casting="unsafe")
        return half
    t = keras.ops.convert_to_tensor(values) if tensor is None else tensor
    t = keras.ops.reshape(t, values.shape)
    if scale != 1.0:
        t = keras.ops.multiply(t, 1.0 / scale)
    half = keras.ops.convert_to_numpy(keras.ops.cast(t, "float16"))
    return np.ascontiguousarray(half, dtype="<f2")


def encode_map(
    sample: np.ndarray, data_format: str, tensor: Any = None
) -> tuple[dict[str, Any], memoryview]:
    """Encode one sample's feature map.

    Args:
        sample: The map without batch axis, in ``data_format``.
        data_format: ``channels_last`` or ``channels_first``.
        tensor: The same map as a backend tensor when the caller holds one, or a
            function returning it (called only for maps big enough to use it).

    Returns:
        ``(header, payload)``: header with ``height``, ``width``, ``channels``, ``layout``,
        ``encoding`` (``"float16"``), ``scale`` (value = float16 * scale) and the finite
        ``min``/``max`` (and ``depth`` for 3-D maps, whose slices are stacked along the
        rows: ``height`` is one slice's); payload the float16 bytes (a view: no copy).
    """
    values, layout, depth = _as_3d(np.asarray(sample, dtype=np.float32), data_format)
    if layout == "chw":
        channels, height, width = values.shape
    else:
        height, width, channels = values.shape
    height //= depth  # rows of one depth slice
    lo, hi = finite_range(values)
    scale = scale_for(max(abs(lo), abs(hi)))
    half = to_float16(values, scale, tensor)
    header = {
        "height": int(height),
        "width": int(width),
        "channels": int(channels),
        "layout": layout,
        "encoding": "float16",
        "scale": scale,
        "min": lo,
        "max": hi,
    }
    if depth > 1:
        header["depth"] = int(depth)
    return header, memoryview(half).cast("B")


#: No single message to the browser carries more than this many bytes of map values.
MAX_MESSAGE_BYTES = 64 * 2**20
#: The first part of a layer holds at most this many bytes of float16 values (at least one
#: channel), so the first maps arrive fast; a layer this small travels in one message.
FIRST_PART_BYTES = 256 * 2**10
#: Each later part holds this many times the channels of the one before (capped by
#: :data:`MAX_MESSAGE_BYTES`): the first channels paint early, the rest come in few messages.
PART_GROWTH = 2


@dataclass(frozen=True)
class WireFormat:
    """How the kernel sends a layer.

    Attributes:
        progressive: A small first part (the channels the grid shows first), then parts
            growing by :data:`PART_GROWTH`; otherwise as few parts as the 64 MiB limit
            allows (the format before progressive painting, kept as the benchmarks'
            baseline).
        sparse: Send a part as a nonzero mask plus the nonzero values
            (``float16_nonzero``) when that is smaller than plain float16.
        push_first: When a widget is made, send the shown layer's first message unasked,
            so its view paints as it renders instead of a round trip later (the view still
            asks for the layer: for a layer in parts the first part travels twice).
    """

    progressive: bool = True
    sparse: bool = True
    push_first: bool = True


#: The format the widget sends (benchmarks swap in ``WireFormat(False, False, False)``).
WIRE = WireFormat()


def part_blocks(
    channels: int, height: int, width: int, first: int | None, max_bytes: int, progressive: bool
) -> list[tuple[int, int, int, int]]:
    """``(channel_start, channel_stop, row_start, row_stop)`` of each part of a layer.

    Whole channels, several per part, when one channel fits in ``max_bytes``: the first part
    holds ``first`` channels (all when ``None``) but at most :data:`FIRST_PART_BYTES` (at least
    one channel), each later one :data:`PART_GROWTH` times the one before, none over
    ``max_bytes``; a layer of at most :data:`FIRST_PART_BYTES` is one part. Otherwise one
    channel per part cut into row ranges. Not ``progressive``: every part as large as allowed.

    Raises:
        ValueError: one row of one channel alone is bigger than ``max_bytes``.
    """
    c, h, w = channels, height, width
    per_row = w * 2
    if per_row > max_bytes:
        raise ValueError(
            f"Expected a map of at most {max_bytes // 2} values per row, received a row of "
            f"{w} (too large to send in one {max_bytes >> 20} MiB message)."
        )
    if h * per_row > max_bytes:  # one channel per part, cut into row ranges
        rows = max_bytes // per_row
        return [(ch, ch + 1, r0, min(h, r0 + rows)) for ch in range(c) for r0 in range(0, h, rows)]
    per_channel = max(1, h * per_row)
    cap = max(1, max_bytes // per_channel)
    step = cap
    if progressive and c * per_channel > FIRST_PART_BYTES:
        step = min(cap, max(1, min(first or c, FIRST_PART_BYTES // per_channel)))
    blocks, c0 = [], 0
    while c0 < c:
        c1 = min(c, c0 + step)
        blocks.append((c0, c1, 0, h))
        c0, step = c1, min(cap, step * (PART_GROWTH if progressive else 1))
    return blocks or [(0, 0, 0, h)]


def pack_nonzero(half: np.ndarray) -> tuple[np.ndarray, int] | None:
    """``half`` (float16, C-contiguous) as a nonzero mask and its nonzero values, if smaller.

    Returns ``(buffer, nonzero)``: the buffer holds one bit per value (bit ``i % 8`` of byte
    ``i // 8``, set when value ``i``'s float16 bits are not all zero: ``-0.0``, NaN and every
    other non-``+0.0`` value count as nonzero), zero-padded to a multiple of 8 bytes, then the
    ``nonzero`` float16 values in order. ``None`` when that is not smaller than plain float16.

    The mask and the count are vectorised; the compaction is numpy's ``compress`` (its
    nonzero scan and gather in C, measured 3-4x faster than boolean indexing here and
    faster than ``keras.ops.where`` + ``take`` on every backend: see benchmarks/).
    """
    bits = half.reshape(-1).view("<u2")
    n = bits.size
    mask = bits != 0
    nonzero = int(np.count_nonzero(mask))
    mask_bytes = -(-n // 8)
    padded = mask_bytes + (-mask_bytes % 8)
    if padded + 2 * nonzero >= 2 * n:
        return None
    out = np.empty(padded + 2 * nonzero, np.uint8)
    out[mask_bytes:padded] = 0
    out[:mask_bytes] = np.packbits(mask, bitorder="little")
    np.compress(mask, bits, out=out[padded:].view("<u2"))
    return out, nonzero


def layer_parts(
    header: dict[str, Any],
    payload: memoryview,
    first_channels: int | None = None,
    *,
    max_bytes: int | None = None,
    wire: WireFormat | None = None,
) -> Iterator[tuple[dict[str, Any], memoryview]]:
    """The messages that carry one encoded layer (:func:`encode_map`) to the browser.

    Parts follow :func:`part_blocks` (``first_channels``: how many channels the browser's
    grid shows before scrolling). A layer in one part is yielded with ``header`` as is;
    otherwise each part's header is the layer's plus ``chunk`` (0-based), ``chunks``,
    ``channel_start``/``channel_stop`` and ``row_start``/``row_stop``, and its payload holds
    the block ``[row_start, row_stop)`` x all columns x ``[channel_start, channel_stop)``
    in the layer's ``layout`` (rows of a 3-D map count over its stacked depth slices,
    ``depth`` x ``height``). A part that :func:`pack_nonzero` makes smaller travels as
    ``encoding`` ``"float16_nonzero"`` with its ``nonzero`` count. Parts are cut (and
    packed) one at a time as they are sent, so the first leaves before the last is made.

    Args:
        header: From :func:`encode_map`.
        payload: Its float16 bytes.
        first_channels: Channels wanted in the first part (``None``: by size only).
        max_bytes: Largest float16 payload of one part (default :data:`MAX_MESSAGE_BYTES`,
            read at call time).
        wire: Default :data:`WIRE`.

    Raises:
        ValueError: one row of one channel alone is bigger than ``max_bytes``.
    """
    wire = WIRE if wire is None else wire
    max_bytes = MAX_MESSAGE_BYTES if max_bytes is None else max_bytes
    c, w = header["channels"], header["width"]
    h = header["height"] * header.get("depth", 1)  # rows: depth slices stacked
    blocks = part_blocks(c, h, w, first_channels, max_bytes, wire.progressive)
    half = np.frombuffer(payload, dtype="<f2")
    grid = half.reshape(c, h, w) if header["layout"] == "chw" else half.reshape(h, w, c)
    for k, (c0, c1, r0, r1) in enumerate(blocks):
        if len(blocks) == 1:
            part_header, block = dict(header), half
        else:
            part_header = {
                **header,
                "chunk": k,
                "chunks": len(blocks),
                "channel_start": c0,
                "channel_stop": c1,
                "row_start": r0,
                "row_stop": r1,
            }
            if header["layout"] == "chw":  # contiguous: whole channels, or rows of one
                block = half[(c0 * h + r0) * w : ((c1 - 1) * h + r1) * w]
            else:
                block = np.ascontiguousarray(grid[r0:r1, :, c0:c1])
        packed = pack_nonzero(block) if wire.sparse else None
        if packed is None:
            yield part_header, memoryview(block).cast("B")
        else:
            part_header.update(encoding="float16_nonzero", nonzero=packed[1])
            yield part_header, memoryview(packed[0])


def split_channels(
    header: dict[str, Any], payload: memoryview, max_bytes: int | None = None
) -> Iterator[tuple[dict[str, Any], memoryview]]:
    """Cut one encoded layer into plain float16 messages of at most ``max_bytes``.

    The format before progressive painting (as few parts as the limit allows, no packing):
    ``layer_parts`` with ``WireFormat(progressive=False, sparse=False)``.
    """
    old = WireFormat(progressive=False, sparse=False, push_first=False)
    yield from layer_parts(header, payload, max_bytes=max_bytes, wire=old)


def unpack_nonzero(payload: bytes | memoryview, count: int, nonzero: int) -> np.ndarray:
    """Inverse of :func:`pack_nonzero`: ``count`` float16 values.

    Raises:
        ValueError: the payload's size does not match ``count`` and ``nonzero``.
    """
    mask_bytes = -(-count // 8)
    padded = mask_bytes + (-mask_bytes % 8)
    raw = np.frombuffer(payload, np.uint8)
    if raw.size != padded + 2 * nonzero:
        raise ValueError(
            f"Expected {padded + 2 * nonzero} bytes for {count} values with {nonzero} nonzero, "
            f"received {raw.size}."
        )
    mask = np.unpackbits(raw[:mask_bytes], count=count, bitorder="little").astype(bool)
    if int(mask.sum()) != nonzero:
        raise ValueError(f"Expected {nonzero} nonzero values in the mask, found {mask.sum()}.")
    out = np.zeros(count, "<u2")
    out[mask] = raw[padded:].view("<u2")
    return out.view("<f2")


def decode_map(header: dict[str, Any], payload: bytes) -> np.ndarray:
    """Inverse of :func:`encode_map`, as channel-major ``(C, H, W)`` float32 (tests, export);
    a whole 3-D layer as ``(C, D, H, W)``.

    For one part of :func:`layer_parts`, ``C`` is that part's channel range and ``H``
    its row range. Both encodings (``float16`` and ``float16_nonzero``) are read.
    """
    depth = header.get("depth", 1)
    h = header.get("row_stop", header["height"] * depth) - header.get("row_start", 0)
    w = header["width"]
    c = header.get("channel_stop", header["channels"]) - header.get("channel_start", 0)
    if header["encoding"] == "float16_nonzero":
        half = unpack_nonzero(payload, c * h * w, header["nonzero"])
    else:
        half = np.frombuffer(payload, dtype="<f2")
    values = half.astype(np.float32) * np.float32(header["scale"])
    out = (
        values.reshape(c, h, w)
        if header["layout"] == "chw"
        else (np.moveaxis(values.reshape(h, w, c), -1, 0))
    )
    if depth > 1 and "row_stop" not in header:  # a whole 3-D layer: (C, D, H, W)
        return out.reshape(c, depth, h // depth, w)
    return out
