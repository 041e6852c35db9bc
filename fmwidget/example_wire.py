"""Top examples on the wire: the widget's summary trait and its ``get_examples`` replies.

Kept beside ``messages.py`` so the widget class only wires them in.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .maps import FeatureMaps
from .messages import json_safe
from .topexamples import TopExamples
from .validation import check_index


def examples_summary(ex: TopExamples | None, fm: FeatureMaps) -> dict[str, Any] | None:
    """The small JSON summary synced to the browser, after checking ``ex`` fits the model.

    Raises:
        TypeError: ``ex`` is not a :class:`TopExamples`.
        ValueError: ``ex`` names a layer this model lacks, or one of another shape.
    """
    if ex is None:
        return None
    if not isinstance(ex, TopExamples):
        raise TypeError(
            f"Expected fmwidget.TopExamples (from fmwidget.top_examples) or None, received "
            f"{type(ex).__name__}."
        )
    for name in ex.layers:
        if name not in fm:
            raise ValueError(
                f"Expected top examples of the model {fm.model.name!r}, received ones for "
                f"{ex.model_name!r} with layer {name!r}, which this model lacks."
            )
        shape = tuple(fm.info(name).shape)
        if tuple(ex.info(name)["shape"]) != shape:
            raise ValueError(
                f"Expected top examples for layer {name!r} of shape {shape}, received ones of "
                f"shape {tuple(ex.info(name)['shape'])} (another model or input size)."
            )
    return json_safe(ex.summary())


def examples_message(
    ex: TopExamples | None, layer: str, channel: int
) -> tuple[dict[str, Any], list[bytes]]:
    """The ``examples`` reply for one filter: numbers in JSON, each patch a float16 buffer.

    Raises:
        ValueError: no examples for ``layer``, or ``channel`` out of range.
    """
    if ex is None or layer not in ex:
        raise ValueError(
            f"No top examples for layer {layer!r}: compute them with "
            f"w.compute_examples(data, layers=[{layer!r}]) or set w.examples = "
            f"fmwidget.top_examples(model, data, layers=[{layer!r}])."
        )
    channel = check_index(channel, ex.channels(layer), "channel")
    boxes = None
    patches: list[np.ndarray] = []
    try:
        boxes = ex.boxes(layer)[channel]
        if ex.has_samples:
            patches = ex.patches(layer, channel)
    except ValueError:  # unknown receptive field: numbers only
        boxes = None
    layout = "chw" if ex.input_data_format == "channels_first" else "hwc"
    header = {
        "type": "examples",
        "layer": layer,
        "channel": channel,
        "k": ex.k,
        "num_samples": ex.num_samples,
        "values": ex.values(layer)[channel].tolist(),
        "indices": ex.indices(layer)[channel].tolist(),
        "positions": ex.positions(layer)[channel].tolist(),
        "boxes": None if boxes is None else boxes.tolist(),
        "patches": [
            {"shape": list(p.shape), "dtype": "float16", "layout": layout} for p in patches
        ],
    }
    buffers = [np.ascontiguousarray(p, dtype=np.float16).tobytes() for p in patches]
    return json_safe(header), buffers
