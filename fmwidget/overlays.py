"""The widget's answers for the gradient lens: input overlays and feature-visualisation images.

Nothing here runs at widget construction: the browser asks (``get_overlay``,
``get_filter_image``) and the kernel computes, reporting progress in the widget's ``status``
trait. Overlays travel as float16 ``(height, width)`` maps in ``[0, 1]``; filter images as
RGBA bytes.
"""

from __future__ import annotations

import weakref
from collections import OrderedDict
from typing import Any

import numpy as np

from .erf import effective_receptive_field
from .explain import CAM_METHODS, SALIENCY_METHODS, grad_cam, saliency
from .featurevis import visualize_filter
from .messages import is_int, short_repr
from .probe import layout_from

#: Overlay modes of the input panel (the ``overlay`` trait).
OVERLAY_MODES = ("none", "grad_cam", "saliency", "erf")
#: Requests answered here.
GRADIENT_REQUESTS = ("get_overlay", "get_filter_image")
#: Overlays kept per widget (a hovered cell's ERF is asked for again and again).
CACHE_ENTRIES = 64

_CACHES: weakref.WeakKeyDictionary[Any, OrderedDict[tuple[Any, ...], Any]] = (
    weakref.WeakKeyDictionary()
)


def answer(widget: Any, kind: str, content: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    """The reply (JSON header, binary payload) to a ``get_overlay`` / ``get_filter_image``."""
    if kind == "get_overlay":
        return _overlay(widget, content)
    return _filter_image(widget, content)


def class_count(widget: Any) -> int | None:
    """How many classes the model scores (its output's last axis), if it outputs a vector."""
    last = widget.fm.layers[-1]
    return int(last.shape[-1]) if last.spatial_shape is None and last.shape else None


def top_class(widget: Any) -> int:
    """The top prediction for the shown sample, from the forward pass already made."""
    out = widget.fm[widget.fm.layers[-1].name][widget.sample]
    if out.ndim != 1:
        raise ValueError(
            f"Expected the model to output class scores (a vector), received shape {out.shape}."
        )
    return int(np.argmax(out))


def _overlay(widget: Any, content: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    mode = content.get("mode", widget.overlay)
    if mode not in OVERLAY_MODES[1:]:
        raise ValueError(
            f"Expected mode 'grad_cam', 'saliency' or 'erf', received {short_repr(mode)}."
        )
    fm, x = widget.fm, widget.fm.input[widget.sample]
    layout_from(fm)  # names the layer calls without another forward pass
    header: dict[str, Any] = {"mode": mode}
    if mode == "erf":
        layer = content.get("layer")
        row, col, channel = content.get("row"), content.get("col"), content.get("filter")
        for key, value in (("row", row), ("col", col)):
            if not is_int(value):
                raise TypeError(f"Expected an int {key}, received {short_repr(value)}.")
        if channel is not None and not is_int(channel):
            raise TypeError(f"Expected filter null or an int, received {short_repr(channel)}.")
        info = fm.info(layer)
        rank = len(info.spatial_shape or ())
        position = () if rank == 0 else ((col,) if rank == 1 else (row, col))
        key = (widget.data_version, widget.sample, mode, info.name, position, channel)
        values = _cached(
            widget,
            key,
            lambda: effective_receptive_field(fm, info.name, position, channel, widget.sample),
        )
        header.update(layer=info.name, row=row, col=col, filter=channel)
    else:
        class_index = content.get("class_index", widget.class_index)
        if class_index is not None and not is_int(class_index):
            raise TypeError(
                f"Expected class_index null or an int, received {short_repr(class_index)}."
            )
        used = top_class(widget) if class_index is None else class_index
        layer = content.get("layer")
        methods = CAM_METHODS if mode == "grad_cam" else SALIENCY_METHODS
        method = content.get("method", methods[0])
        if method not in methods:
            raise ValueError(f"Expected method in {methods}, received {short_repr(method)}.")
        if mode == "grad_cam":
            layer = layout_from(fm).spatial_layer(layer, "Grad-CAM").name
            key = (widget.data_version, widget.sample, mode, method, layer, used)
            values = _cached(
                widget, key, lambda: grad_cam(widget.model, x, layer, used, method=method)
            )
            header["layer"] = layer
        else:
            key = (widget.data_version, widget.sample, mode, method, used)
            values = _cached(widget, key, lambda: saliency(widget.model, x, used, method))
        header["method"] = method
        labels = widget.class_labels
        header.update(class_index=used, class_label=labels[used] if used < len(labels) else None)
    peak = float(np.max(values)) if values.size else 0.0
    shown = values / peak if peak > 0 else np.zeros_like(values)
    height, width = (1, shown.shape[0]) if shown.ndim == 1 else shown.shape
    header.update(
        type="overlay",
        request_id=content.get("request_id"),
        version=widget.data_version,
        height=int(height),
        width=int(width),
        peak=peak,
        dtype="float16",
    )
    return header, np.ascontiguousarray(shown, dtype=np.float16).tobytes()


def _cached(widget: Any, key: tuple[Any, ...], compute: Any) -> np.ndarray:
    cache = _CACHES.setdefault(widget, OrderedDict())
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    value = cache[key] = np.asarray(compute(), np.float32)
    while len(cache) > CACHE_ENTRIES:
        cache.popitem(last=False)
    return value


def _filter_image(widget: Any, content: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    info = widget.fm.info(content.get("layer"))
    report = widget._status_reporter()
    options = {"progress": False, **getattr(widget, "visualize_options", {})}
    try:
        vis = visualize_filter(
            widget.model,
            info.name,
            content.get("filter"),
            on_step=lambda done, total: report("visualize", done, total),
            **options,
        )
    finally:
        widget.status = None
    image = np.clip(vis.image, 0.0, 1.0)
    header = {
        "type": "filter_image",
        "request_id": content.get("request_id"),
        "version": widget.data_version,
        "layer": info.name,
        "filter": vis.channel,
        "kind": "image",
        "activation": vis.activation,
        "start_activation": vis.start_activation,
        "steps": vis.steps,
        "seed": vis.seed,
    }
    if image.ndim == 2:  # a time series (T, C): its values, drawn as lines in the page
        header.update(kind="series", length=int(image.shape[0]), channels=int(image.shape[1]))
        return header, np.ascontiguousarray(image, np.float32).tobytes()
    if image.ndim == 4:  # a volume (D, H, W, C): its depth slices side by side, 1 px apart
        depth, height = image.shape[:2]
        gap = np.ones((height, 1, image.shape[-1]), np.float32)
        image = np.concatenate([p for d in range(depth) for p in (image[d], gap)][:-1], axis=1)
        header.update(kind="slices", depth=int(depth))
    if image.shape[-1] == 1:
        image = np.repeat(image, 3, axis=-1)
    elif image.shape[-1] != 3:
        image = np.repeat(image.mean(axis=-1, keepdims=True), 3, axis=-1)
    rgba = np.concatenate([image, np.ones_like(image[..., :1])], axis=-1)
    header.update(height=int(rgba.shape[0]), width=int(rgba.shape[1]))
    return header, np.round(rgba * 255).astype(np.uint8).tobytes()
