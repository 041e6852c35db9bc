"""Turn feature maps into compact binary payloads for the browser.

A layer travels as float16, channel-major ``(C, H, W)`` so each filter's map is one
contiguous run. Each channel is divided by a power of two chosen so its largest finite
magnitude lands in ``[2**10, 2**11)``: float16 then keeps its full 11-bit precision for
every value within ``2**24`` of the channel's maximum and never overflows (1e30 is
fine), and the browser multiplies back exactly. NaN and ±Inf pass through unchanged.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def channel_major(sample: np.ndarray, data_format: str) -> np.ndarray:
    """One sample's map as ``(C, *spatial)`` (vectors become ``(C, 1, 1)``)."""
    if sample.ndim == 1:
        return sample.reshape(-1, 1, 1)
    if data_format == "channels_first":
        return sample
    return np.moveaxis(sample, -1, 0)


def channel_stats(cm: np.ndarray) -> dict[str, list[float]]:
    """Per-channel min, max, mean (finite values only), zero fraction, non-finite count."""
    flat = cm.reshape(cm.shape[0], -1)
    finite = np.isfinite(flat)
    n_finite = finite.sum(axis=1)
    safe = np.where(finite, flat, 0.0)
    has = n_finite > 0
    mins = np.where(has, np.where(finite, flat, np.inf).min(axis=1), 0.0)
    maxs = np.where(has, np.where(finite, flat, -np.inf).max(axis=1), 0.0)
    means = np.where(has, safe.sum(axis=1, dtype=np.float64) / np.maximum(n_finite, 1), 0.0)
    zeros = (flat == 0).sum(axis=1) / flat.shape[1]
    return {
        "min": [float(v) for v in mins],
        "max": [float(v) for v in maxs],
        "mean": [float(v) for v in means],
        "zero_fraction": [float(v) for v in zeros],
        "nonfinite_count": [int(v) for v in flat.shape[1] - n_finite],
    }


def channel_scales(cm: np.ndarray) -> np.ndarray:
    """Power-of-two divisor per channel putting the largest finite magnitude in [2^10, 2^11)."""
    flat = cm.reshape(cm.shape[0], -1)
    peak = np.where(np.isfinite(flat), np.abs(flat), 0.0).max(axis=1)
    exp = np.where(peak > 0, np.floor(np.log2(np.where(peak > 0, peak, 1.0))), 10.0)
    return np.exp2(exp - 10.0)


def encode_map(sample: np.ndarray, data_format: str) -> tuple[dict[str, Any], bytes]:
    """Encode one sample's feature map.

    Args:
        sample: The map without batch axis, in ``data_format``.
        data_format: ``channels_last`` or ``channels_first``.

    Returns:
        ``(header, payload)``: header with ``height``, ``width``, ``channels``,
        ``encoding``, ``scale`` (per channel), ``stats``; payload the float16 bytes
        (little-endian, ``C x H x W``).
    """
    cm = channel_major(np.asarray(sample, dtype=np.float32), data_format)
    if cm.ndim == 2:  # 1D maps: (C, steps) shown as one row
        cm = cm[:, None, :]
    if cm.ndim != 3:
        raise ValueError(
            f"Expected a map with at most 2 spatial axes, received shape {sample.shape}."
        )
    scales = channel_scales(cm)
    with np.errstate(over="ignore", invalid="ignore"):
        values = (cm / scales[:, None, None].astype(np.float32)).astype("<f2")
    header = {
        "height": int(cm.shape[1]),
        "width": int(cm.shape[2]),
        "channels": int(cm.shape[0]),
        "encoding": "float16",
        "scale": [float(s) for s in scales],
        "stats": channel_stats(cm),
    }
    return header, values.tobytes()


def decode_map(header: dict[str, Any], payload: bytes) -> np.ndarray:
    """Inverse of :func:`encode_map` (channel-major float32), used by tests and exports."""
    c, h, w = header["channels"], header["height"], header["width"]
    values = np.frombuffer(payload, dtype="<f2").astype(np.float32).reshape(c, h, w)
    return values * np.asarray(header["scale"], dtype=np.float32)[:, None, None]
