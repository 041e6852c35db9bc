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
from typing import Any

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


def encode_map(sample: np.ndarray, data_format: str) -> tuple[dict[str, Any], memoryview]:
    """Encode one sample's feature map.

    Args:
        sample: The map without batch axis, in ``data_format``.
        data_format: ``channels_last`` or ``channels_first``.

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
    if scale == 1.0:
        half = values.astype("<f2", order="C")
    else:
        half = np.empty(values.shape, "<f2")
        with np.errstate(over="ignore", invalid="ignore"):
            np.multiply(values, np.float32(1.0 / scale), out=half, casting="unsafe")
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


def decode_map(header: dict[str, Any], payload: bytes) -> np.ndarray:
    """Inverse of :func:`encode_map`, as channel-major ``(C, H, W)`` float32 (tests, export)."""
    c, h, w = header["channels"], header["height"], header["width"]
    values = np.frombuffer(payload, dtype="<f2").astype(np.float32) * np.float32(header["scale"])
    if header["layout"] == "chw":
        return values.reshape(c, h, w)
    return np.moveaxis(values.reshape(h, w, c), -1, 0)
