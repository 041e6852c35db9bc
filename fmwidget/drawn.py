"""An input drawn or uploaded in the browser: the ``set_input`` message.

The input panel's pen and image upload (``js/views/draw.ts``) send the whole image as one
binary buffer::

    {"type": "set_input", "request_id": int, "height": H, "width": W, "channels": C,
     "layout": "chw" | "hwc", "dtype": "float32" | "uint8", "range": [lo, hi]}

``float32`` values are taken as they are (the browser already mapped pen ink 0..1 and image
bytes 0..255 into the original input's value range); ``uint8`` values ``b`` become
``lo + b / 255 * (hi - lo)`` (``range`` is required then). The image must have the model
input's height, width and channels; it is put into the input's ``data_format`` and runs the
same path as :meth:`fmwidget.FeatureMapWidget.set_input`, so every view updates through
``data_version``. The answer is ``{"type": "input_set", "request_id", "version",
"height", "width", "channels", "prediction"}`` (``prediction``: the model's top class for the
new input, ``{"index", "label", "score"}``, or ``None`` when the model does not output a
vector of scores); anything else gets an ``error`` reply naming what was
expected and what was received, and the widget keeps its previous input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .messages import Widget, is_int, request_id_of, short_repr

#: What one ``set_input`` may carry at most (a 1024 x 1024 RGB float32 image is 12 MiB).
MAX_INPUT_BYTES = 64 * 1024 * 1024
_DTYPES = {"float32": np.dtype("<f4"), "uint8": np.dtype("u1")}
_FIELDS = {"type", "request_id", "version", "height", "width", "channels"}
_FIELDS |= {"layout", "dtype", "range", "reset"}


@dataclass
class _Original:
    """The input before the first drawing: ``batch`` as the model took it, and the sample."""

    batch: np.ndarray
    sample: int
    #: ``data_version`` right after the last drawn input; another version means an input
    #: set since (from Python) is the new original.
    drawn_version: int


def expected_image(w: Widget) -> tuple[int, int, int]:
    """``(height, width, channels)`` of the model input an image may replace.

    Raises:
        ValueError: the model's input is not an image (two spatial axes and channels).
    """
    info = w.fm.layers[0]
    sp = info.spatial_shape
    if sp is None or len(sp) != 2 or len(info.shape) != 3 or info.channels is None:
        raise ValueError(
            "Expected a model whose input is an image (height, width, channels) to draw on, "
            f"received input shape {tuple(info.shape)}."
        )
    return int(sp[0]), int(sp[1]), int(info.channels)


def decode_image(w: Widget, content: dict[str, Any], buffers: Any) -> np.ndarray:
    """The drawn image as one float32 sample in the model input's layout.

    Raises:
        TypeError / ValueError: saying which field was wrong, what was expected and what was
            received (shape, dtype, size, non-finite values).
    """
    extra = sorted(set(content) - _FIELDS)
    if extra:
        raise ValueError(f"Expected set_input fields {sorted(_FIELDS)}, received also {extra}.")
    height, width, channels = expected_image(w)
    got = tuple(content.get(k) for k in ("height", "width", "channels"))
    if not all(is_int(v) for v in got):
        raise TypeError(f"Expected int height, width and channels, received {short_repr(got)}.")
    if got != (height, width, channels):
        raise ValueError(
            f"Expected a drawn input of height, width, channels {(height, width, channels)} "
            f"(the model's input), received {got}."
        )
    layout = content.get("layout", "chw")
    if layout not in ("chw", "hwc"):
        raise ValueError(f"Expected layout 'chw' or 'hwc', received {short_repr(layout)}.")
    dtype_name = content.get("dtype")
    if dtype_name not in _DTYPES:
        raise TypeError(f"Expected dtype 'float32' or 'uint8', received {short_repr(dtype_name)}.")
    dtype = _DTYPES[dtype_name]
    if not isinstance(buffers, (list, tuple)) or len(buffers) != 1:
        n = len(buffers) if isinstance(buffers, (list, tuple)) else 0
        raise ValueError(f"Expected one binary buffer with the pixels, received {n}.")
    data = memoryview(buffers[0]).cast("B")
    want = height * width * channels * dtype.itemsize
    if data.nbytes != want:
        raise ValueError(
            f"Expected {want} bytes ({height}x{width}x{channels} {dtype_name}), "
            f"received {data.nbytes}."
        )
    values = np.frombuffer(data, dtype=dtype).astype(np.float32)
    if dtype_name == "uint8":
        lo, hi = _value_range(content.get("range"))
        values = np.float32(lo) + values * np.float32((hi - lo) / 255.0)
    bad = ~np.isfinite(values)
    if bad.any():
        nan = int(np.isnan(values).sum())
        raise ValueError(
            f"Expected finite pixel values, received {nan} NaN and {int(bad.sum()) - nan} "
            "infinite values."
        )
    shape = (channels, height, width) if layout == "chw" else (height, width, channels)
    image = values.reshape(shape)
    if layout == "chw":
        image = image.transpose(1, 2, 0)
    if w.fm.layers[0].data_format == "channels_first":
        image = image.transpose(2, 0, 1)
    return np.ascontiguousarray(image)


def _value_range(value: Any) -> tuple[float, float]:
    ok = (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
        and all(math.isfinite(v) for v in value)
    )
    if not ok:
        raise TypeError(
            f"Expected range [lo, hi] (two finite numbers), received {short_repr(value)}."
        )
    return float(value[0]), float(value[1])


def answer_set_input(w: Widget, content: dict[str, Any], buffers: Any) -> None:
    """Validates a drawn input, runs it like ``w.set_input(x)`` and says it is in.

    Raises:
        TypeError / ValueError: the message or the image was malformed (the caller turns it
            into an ``error`` reply); the widget keeps its previous input.
    """
    if content.get("reset") is True:
        _reset(w, content)
        return
    size = sum(memoryview(b).nbytes for b in buffers or [])
    if size > MAX_INPUT_BYTES:
        raise ValueError(f"Expected at most {MAX_INPUT_BYTES} bytes of pixels, received {size}.")
    image = decode_image(w, content, buffers)
    original: _Original | None = getattr(w, "_drawn_original", None)
    if original is None or original.drawn_version != w.data_version:
        original = _Original(w.fm.input, w.sample, -1)
    w.set_input(image)
    original.drawn_version = w.data_version
    w._drawn_original = original  # type: ignore[attr-defined]
    _reply(w, content)


def _reset(w: Widget, content: dict[str, Any]) -> None:
    """Back to the input before the first drawing (exactly); nothing to do if none is drawn."""
    if set(content) - {"type", "request_id", "version", "reset"}:
        raise ValueError(f"Expected a reset with no pixels, received fields {sorted(content)}.")
    original: _Original | None = getattr(w, "_drawn_original", None)
    if original is not None and original.drawn_version == w.data_version:
        w.set_input(original.batch, original.sample)
    w._drawn_original = None  # type: ignore[attr-defined]
    _reply(w, content)


def _reply(w: Widget, content: dict[str, Any]) -> None:
    height, width, channels = expected_image(w)
    w.send(
        {
            "type": "input_set",
            "request_id": request_id_of(content),
            "version": w.data_version,
            "height": height,
            "width": width,
            "channels": channels,
            "prediction": prediction(w),
        }
    )


def prediction(w: Widget) -> dict[str, Any] | None:
    """The top class of the shown sample from the forward pass already made: its index, its
    name from ``class_labels`` ("" when there is none) and its output value; ``None`` when
    the model's output is not a vector of scores."""
    last = w.fm.layers[-1]
    if last.spatial_shape is not None or len(last.shape or ()) != 1:
        return None
    scores = w.fm[last.name][w.sample]
    index = int(np.argmax(scores))
    labels = w.class_labels
    score = float(scores[index])
    return {
        "index": index,
        "label": labels[index] if index < len(labels) else "",
        "score": score if math.isfinite(score) else None,
    }
