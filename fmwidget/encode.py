"""Turn feature maps into compact binary payloads for the browser.

A layer travels as little-endian float16 in the layout it already has in memory (``hwc``
for ``channels_last``, ``chw`` for ``channels_first``): the browser transposes while it
decodes, so Python never pays for a strided copy. When the layer's largest finite
magnitude falls outside ``[2**-2, 2**14)`` the values are first divided by a power of
two (``scale``) that brings it to ``[2**10, 2**11)``, so float16 neither overflows (1e30
is fine) nor drops small maps into its subnormal range; the browser multiplies back
exactly. NaN and ±Inf pass through unchanged. Per-filter statistics are computed by the
browser from the decoded values (measured: cheaper there than a strided reduction here).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np


def _as_3d(sample: np.ndarray, data_format: str) -> tuple[np.ndarray, str]:
    """One sample's map as a 3D array and its layout (``hwc`` or ``chw``)."""
    if sample.ndim == 1:  # a vector: C channels of one cell
        return sample.reshape(1, 1, -1), "hwc"
    if sample.ndim == 2:  # 1D maps are shown as one row
        if data_format == "channels_first":
            return sample[:, None, :], "chw"
        return sample[None], "hwc"
    if sample.ndim == 3:
        return sample, "chw" if data_format == "channels_first" else "hwc"
    raise ValueError(f"Expected a map with at most 2 spatial axes, received shape {sample.shape}.")


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
        ``min``/``max``; payload the float16 bytes (a view: no copy).
    """
    values, layout = _as_3d(np.asarray(sample, dtype=np.float32), data_format)
    if layout == "chw":
        channels, height, width = values.shape
    else:
        height, width, channels = values.shape
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
    return header, memoryview(half).cast("B")


#: No single message to the browser carries more than this many bytes of map values.
MAX_MESSAGE_BYTES = 64 * 2**20


def split_channels(
    header: dict[str, Any], payload: memoryview, max_bytes: int | None = None
) -> Iterator[tuple[dict[str, Any], memoryview]]:
    """Cut one encoded layer into messages of at most ``max_bytes``.

    ``max_bytes`` defaults to :data:`MAX_MESSAGE_BYTES` (64 MiB).

    A layer that fits is yielded unchanged. Otherwise each part's header is the layer's
    header plus ``chunk`` (0-based), ``chunks``, ``channel_start``/``channel_stop`` and
    ``row_start``/``row_stop``; its payload holds the block ``[row_start, row_stop)`` x all
    columns x ``[channel_start, channel_stop)``, in the layer's ``layout``. Parts are whole
    channels (several per part) when one channel fits in ``max_bytes``; otherwise one
    channel per part, cut into row ranges. ``chw`` parts are views, ``hwc`` parts are copied
    one at a time as they are sent.

    Raises:
        ValueError: one row of one channel alone is bigger than ``max_bytes``.
    """
    if max_bytes is None:
        max_bytes = MAX_MESSAGE_BYTES
    if payload.nbytes <= max_bytes:
        yield header, payload
        return
    c, h, w = header["channels"], header["height"], header["width"]
    per_row = w * 2
    if per_row > max_bytes:
        raise ValueError(
            f"Expected a map of at most {max_bytes // 2} values per row, received a row of "
            f"{w} (too large to send in one {max_bytes >> 20} MiB message)."
        )
    if h * per_row <= max_bytes:  # whole channels, several per part
        step = max_bytes // (h * per_row)
        blocks = [(c0, min(c, c0 + step), 0, h) for c0 in range(0, c, step)]
    else:  # one channel per part, cut into row ranges
        rows = max_bytes // per_row
        blocks = [
            (ch, ch + 1, r0, min(h, r0 + rows)) for ch in range(c) for r0 in range(0, h, rows)
        ]
    hwc = None
    if header["layout"] == "hwc":
        hwc = np.frombuffer(payload, dtype="<f2").reshape(h, w, c)
    for k, (c0, c1, r0, r1) in enumerate(blocks):
        if hwc is None:  # chw: the block is contiguous (whole channels, or rows of one)
            part = payload[(c0 * h + r0) * per_row : ((c1 - 1) * h + r1) * per_row]
        else:
            part = memoryview(np.ascontiguousarray(hwc[r0:r1, :, c0:c1])).cast("B")
        yield (
            {
                **header,
                "chunk": k,
                "chunks": len(blocks),
                "channel_start": c0,
                "channel_stop": c1,
                "row_start": r0,
                "row_stop": r1,
            },
            part,
        )


def decode_map(header: dict[str, Any], payload: bytes) -> np.ndarray:
    """Inverse of :func:`encode_map`, as channel-major ``(C, H, W)`` float32 (tests, export).

    For one part of :func:`split_channels`, ``C`` is that part's channel range and ``H``
    its row range.
    """
    h = header.get("row_stop", header["height"]) - header.get("row_start", 0)
    w = header["width"]
    c = header.get("channel_stop", header["channels"]) - header.get("channel_start", 0)
    values = np.frombuffer(payload, dtype="<f2").astype(np.float32) * np.float32(header["scale"])
    if header["layout"] == "chw":
        return values.reshape(c, h, w)
    return np.moveaxis(values.reshape(h, w, c), -1, 0)
