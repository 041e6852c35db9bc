"""Compare the maps of two inputs layer by layer: how much does each layer change?

``relative_change`` is the figure the widget's compare view plots per layer:
``‖B - A‖₂ / ‖A‖₂`` over the layer's whole map (every channel and cell) of one sample, where A
is the widget's input and B the other one. ``shift_input`` makes B from A by moving the image
by whole pixels (zeros come in at the border), the experiment that shows max pooling adding
some translation invariance.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .maps import FeatureMaps

#: Most maps of one layer sent in one ``get_compare`` reply.
MAX_COMPARE_MAPS = 8
#: Most bytes of float32 values in one ``get_compare`` reply (A and B together).
MAX_COMPARE_BYTES = 16 * 2**20


def shift_input(x: Any, dy: int, dx: int, data_format: str = "channels_last") -> np.ndarray:
    """The image moved down by ``dy`` and right by ``dx`` pixels (negative: up / left).

    Cells shifted in at the border are zero; nothing wraps around.

    Args:
        x: One image ``(rows, cols, channels)`` or a batch ``(n, rows, cols, channels)``
            (``channels_first``: channels before rows).
        dy: Rows to move down.
        dx: Columns to move right.
        data_format: ``"channels_last"`` or ``"channels_first"``.

    Returns:
        A float32 array of the same shape.
    """
    for name, v in (("dy", dy), ("dx", dx)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise TypeError(f"Expected an int {name}, received {v!r}.")
    arr = np.asarray(x, dtype=np.float32)
    if arr.ndim not in (3, 4):
        raise ValueError(
            f"Expected an image (rows, cols, channels) or a batch of them, received shape "
            f"{arr.shape}."
        )
    row_axis = arr.ndim - (2 if data_format == "channels_first" else 3)
    out = np.zeros_like(arr)
    src = [slice(None)] * arr.ndim
    dst = [slice(None)] * arr.ndim
    for axis, d in ((row_axis, int(dy)), (row_axis + 1, int(dx))):
        n = arr.shape[axis]
        if abs(d) >= n:
            return out
        src[axis] = slice(max(0, -d), n - max(0, d))
        dst[axis] = slice(max(0, d), n - max(0, -d))
    out[tuple(dst)] = arr[tuple(src)]
    return out


def relative_change(a: np.ndarray, b: np.ndarray) -> float:
    """``‖b - a‖₂ / ‖a‖₂`` in float64, over finite values; 0 when both are all zero.

    Raises:
        ValueError: when the shapes differ.
    """
    if a.shape != b.shape:
        raise ValueError(f"Expected maps of one shape, received {a.shape} and {b.shape}.")
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    ok = np.isfinite(a64) & np.isfinite(b64)
    diff = float(np.linalg.norm((b64 - a64)[ok]))
    base = float(np.linalg.norm(a64[ok]))
    if base == 0.0:
        return 0.0 if diff == 0.0 else float("inf")
    return diff / base


def layer_changes(fm_a: FeatureMaps, fm_b: FeatureMaps, sample: int = 0) -> list[dict[str, Any]]:
    """Per spatial layer, the relative L2 change from ``fm_a`` to ``fm_b`` (one sample each).

    Returns:
        ``[{"layer", "kind", "shape", "change"}]`` in layer order (the input first).
    """
    out = []
    for info in fm_a.layers:
        if not info.spatial:
            continue
        a, b = fm_a[info.name][sample], fm_b[info.name][sample]
        out.append(
            {
                "layer": info.name,
                "kind": info.kind,
                "shape": list(info.shape),
                "change": relative_change(a, b),
            }
        )
    return out


def compare_message(
    fm_a: FeatureMaps,
    fm_b: FeatureMaps,
    layer: str,
    start: int,
    sample: int = 0,
    sample_b: int = 0,
) -> tuple[dict[str, Any], bytes]:
    """The reply to ``get_compare``: maps ``start …`` of ``layer`` for A and for B.

    The buffer holds A's maps then B's, float32, channel-major (``chw``), little-endian.
    """
    info = fm_a.info(layer)
    if not info.spatial or info.channels is None:
        raise ValueError(f"Expected a layer with a spatial map, received {layer!r}.")
    if not 0 <= start < info.channels:
        raise ValueError(f"Expected start in range(0, {info.channels}), received {start}.")
    a, b = fm_a[info.name][sample], fm_b[info.name][sample_b]
    if info.data_format != "channels_first":
        a, b = np.moveaxis(a, -1, 0), np.moveaxis(b, -1, 0)
    if a.ndim == 2:  # 1D maps: one row
        a, b = a[:, None, :], b[:, None, :]
    per_map = a.shape[1] * a.shape[2] * 4 * 2
    n = max(1, min(MAX_COMPARE_MAPS, info.channels - start, MAX_COMPARE_BYTES // per_map))
    stop = start + n
    payload = np.concatenate([a[start:stop].ravel(), b[start:stop].ravel()]).astype("<f4")
    header = {
        "type": "compare_data",
        "layer": info.name,
        "height": int(a.shape[1]),
        "width": int(a.shape[2]),
        "channels": int(info.channels),
        "start": start,
        "stop": stop,
        "change": relative_change(a, b),
    }
    return header, payload.tobytes()


def run_compare(
    widget: Any, x2: Any = None, shift: tuple[int, int] | None = None, label: str | None = None
) -> list[dict[str, Any]]:
    """``FeatureMapWidget.compare``: extract B, set the widget's ``comparison``, show it."""
    from .maps import extract

    fm_a = widget.fm
    if (x2 is None) == (shift is None):
        raise ValueError(
            "Expected exactly one of x2 (a second input) or shift=(dy, dx), received "
            f"{'both' if x2 is not None else 'neither'}."
        )
    x_a = fm_a.input[widget.sample]
    if shift is not None:
        if not isinstance(shift, (tuple, list)) or len(shift) != 2:
            raise TypeError(f"Expected shift=(dy, dx), received {shift!r}.")
        dy, dx = shift
        fmt = fm_a.layers[0].data_format or "channels_last"
        x2 = shift_input(x_a, dy, dx, fmt)
        label = label or f"the input shifted by ({int(dy)}, {int(dx)})"
    fm_b = extract(widget.model, x2)
    if fm_b.input.shape[1:] != x_a.shape:
        raise ValueError(
            f"Expected a second input of shape {x_a.shape}, received {fm_b.input.shape[1:]}."
        )
    changes = layer_changes(fm_a, fm_b, widget.sample if fm_b.input.shape[0] > 1 else 0)
    widget._compare_fm = fm_b
    with widget.hold_sync():
        widget.comparison = {
            "label": label or "the second input",
            "shift": [int(shift[0]), int(shift[1])] if shift is not None else None,
            "changes": [
                {**c, "change": c["change"] if np.isfinite(c["change"]) else None} for c in changes
            ],
            "version": int(getattr(widget, "_compare_version", 0)) + 1,
        }
        widget._compare_version = widget.comparison["version"]
        widget.view = "compare"
    return changes


def compare_reply(widget: Any, content: dict[str, Any]) -> tuple[dict[str, Any], list[bytes]]:
    """Answers ``get_compare`` (``layer``, ``start``) from the widget's last comparison."""
    fm_b = getattr(widget, "_compare_fm", None)
    if fm_b is None or widget.comparison is None:
        raise ValueError("Expected a comparison (call w.compare(x2) first), received none.")
    name = widget.fm.info(content.get("layer")).name
    b_sample = widget.sample if fm_b.input.shape[0] > 1 else 0
    header, payload = compare_message(
        widget.fm, fm_b, name, content["start"], widget.sample, b_sample
    )
    header.update(
        request_id=content.get("request_id"),
        version=widget.data_version,
        compare_version=widget.comparison.get("version"),
    )
    return header, [payload]
