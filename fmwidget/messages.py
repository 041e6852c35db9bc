"""What crosses the wire: browser requests checked, layer descriptions and replies made JSON-safe.

Kept apart from the widget class so that ``widget.py`` holds only traits and handlers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .maps import FeatureMaps, LayerInfo
from .overview import layer_links

#: Requests from the browser are a few small fields; anything bigger is refused unread.
MAX_REQUEST_CHARS = 16 * 1024
#: Layer names in requests longer than this are refused (Keras names are far shorter).
MAX_NAME_CHARS = 4096
#: The :class:`fmwidget.FeatureMapWidget` a message is for. Typed loosely on purpose: no module
#: imports the widget module, not even for type checking (``tests/test_package.py``).
Widget = Any
#: Error replies are cut to this many characters.
MAX_ERROR_CHARS = 2000
_REQUEST_TYPES = (
    "get_layer",
    "get_trace",
    "get_examples",
    "get_overlay",
    "get_filter_image",
    "get_thumbs",
    "get_compare",
)
_INT_FIELDS = {
    "get_layer": (),
    "get_trace": ("filter", "row", "col"),
    "get_examples": ("channel",),
    "get_overlay": (),  # its fields depend on the mode: checked in overlays.py
    "get_filter_image": ("filter",),
    "get_thumbs": (),
    "get_compare": ("start",),
}
#: ``status`` phases of work the browser asked for (besides "forward" and "layers").
GRADIENT_PHASES = ("visualize",)
#: Most layers one ``get_thumbs`` request may ask for (the overview asks for those in view).
MAX_THUMB_LAYERS = 64


def short_repr(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def request_id_of(content: Any) -> int | None:
    """The request id to echo: only a plain int (anything else is answered with ``None``)."""
    rid = content.get("request_id") if isinstance(content, dict) else None
    return rid if is_int(rid) and abs(rid) < 2**53 else None


def over_budget(obj: Any, budget: int) -> bool:
    """Whether ``obj`` (decoded JSON) is bigger than ``budget`` characters, stopping early."""
    stack = [obj]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            budget -= len(item) + 2
        elif isinstance(item, dict):
            budget -= 2
            for k, v in item.items():
                stack.append(k)
                stack.append(v)
        elif isinstance(item, (list, tuple)):
            budget -= 2
            stack.extend(item)
        else:
            budget -= 8
        if budget < 0:
            return True
    return False


def check_request(content: Any, buffers: Any, data_version: int) -> str:
    """Validate a browser request's envelope and fields; returns its type.

    Raises:
        ValueError / TypeError: saying what was expected and what was received.
    """
    if not isinstance(content, dict):
        raise TypeError(f"Expected a message object, received {type(content).__name__}.")
    if over_budget(content, MAX_REQUEST_CHARS):
        raise ValueError(
            f"Expected a request of at most {MAX_REQUEST_CHARS} characters, received a larger one."
        )
    if buffers:
        raise ValueError(f"Expected a request without binary buffers, received {len(buffers)}.")
    kind = content.get("type")
    if kind not in _REQUEST_TYPES:
        raise ValueError(
            "Expected message type 'get_layer', 'get_trace', 'get_examples', 'get_overlay', "
            f"'get_filter_image', 'get_thumbs' or 'get_compare', received {short_repr(kind)}."
        )
    rid = content.get("request_id")
    if rid is not None and request_id_of(content) is None:
        raise TypeError(f"Expected an int request_id, received {short_repr(rid)}.")
    version = content.get("version")
    if version is not None:
        if not is_int(version):
            raise TypeError(f"Expected an int version, received {short_repr(version)}.")
        if not 0 <= version <= data_version:
            raise ValueError(
                f"Expected version in range(0, {data_version + 1}), received {version}."
            )
    if kind == "get_thumbs":
        check_thumbs_request(content)
        return kind
    layer = content.get("layer")
    if kind == "get_overlay" and layer is None:
        pass  # Grad-CAM's default layer; ERF requests are checked in overlays.py
    elif not isinstance(layer, str):
        raise TypeError(f"Expected a layer name (str), received {short_repr(layer)}.")
    if layer is not None and len(layer) > MAX_NAME_CHARS:
        raise ValueError(
            f"Expected a layer name of at most {MAX_NAME_CHARS} characters, received {len(layer)}."
        )
    pre = content.get("pre_activation", False)
    if kind == "get_layer" and not isinstance(pre, bool) and pre is not None:
        raise TypeError(f"Expected pre_activation true or false, received {short_repr(pre)}.")
    first = content.get("first_channels")
    if kind == "get_layer" and first is not None and not (is_int(first) and 0 < first < 2**31):
        raise TypeError(f"Expected first_channels a positive int, received {short_repr(first)}.")
    for key in _INT_FIELDS[kind]:
        value = content.get(key)
        if not is_int(value):
            raise TypeError(f"Expected an int {key}, received {short_repr(value)}.")
    depth = content.get("depth")
    if kind == "get_trace" and depth is not None and not is_int(depth):
        raise TypeError(f"Expected an int depth (3-D maps), received {short_repr(depth)}.")
    return kind


def check_thumbs_request(content: dict[str, Any]) -> None:
    """``get_thumbs``: ``layers`` a list of 1 to ``MAX_THUMB_LAYERS`` names."""
    layers = content.get("layers")
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_THUMB_LAYERS:
        raise TypeError(
            f"Expected layers: a list of 1 to {MAX_THUMB_LAYERS} layer names, received "
            f"{short_repr(layers)}."
        )
    for name in layers:
        if not isinstance(name, str) or len(name) > MAX_NAME_CHARS:
            raise TypeError(f"Expected a layer name (str), received {short_repr(name)}.")


def json_safe(obj: Any) -> Any:
    """``obj`` with non-finite floats as the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"``.

    Jupyter refuses NaN in JSON messages; the browser turns these strings back into numbers.
    """
    if isinstance(obj, float):
        if math.isfinite(obj):
            return obj
        return "NaN" if math.isnan(obj) else ("Infinity" if obj > 0 else "-Infinity")
    if isinstance(obj, np.floating):
        return json_safe(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def layer_dict(info: LayerInfo, fm: FeatureMaps) -> dict[str, Any]:
    """The JSON description of one layer sent to the browser (small, no map values)."""
    sp = info.spatial_shape
    lo, hi = fm.value_range(info.name) if info.shape else (0.0, 0.0)
    signed = lo < 0
    if info.fused_activation is not None:
        signed = signed or info.kind != "activation"
    return {
        "index": info.index,
        "name": info.name,
        "kind": info.kind,
        "class_name": info.class_name,
        "shape": list(info.shape),
        "spatial": sp is not None,
        "rank": len(sp) if sp else 0,
        # 1-D maps travel and are drawn as one row of time steps (see encode._as_3d)
        "height": (int(sp[-2]) if len(sp) > 1 else 1) if sp else None,
        "width": (int(sp[-1]) if len(sp) > 1 else int(sp[0])) if sp else None,
        # 3-D maps (volumes, video): depth slices of height x width
        "depth": int(sp[0]) if sp and len(sp) == 3 else 1,
        "channels": info.channels,
        "signed": signed,
        "min": lo,
        "max": hi,
        "inputs": [fm.info(n).index for n in info.inputs],
        "fused_activation": info.fused_activation,
        "is_op": info.is_op,
        "links": layer_links(info, fm),
    }


def rf_table(info: LayerInfo, fm: FeatureMaps) -> dict[str, list[list[int]]] | None:
    """Receptive-field intervals per row and per column (and per depth slice for 3-D maps),
    so hover outlines them locally.

    Sent with each layer's ``layer_data`` reply (:func:`fmwidget.replies.layer_reply`), not in
    the ``layers`` trait: only the layers the browser opens pay for them (building them all
    and syncing them was ~0.2 s of DenseNet201's widget build). The static export puts every
    layer's table in its ``layers`` (a static trace reads any layer's).
    """
    if info.spatial_shape is None or len(info.spatial_shape) > 3:
        return None
    try:
        table = fm.receptive_field_table(info.name)
    except ValueError:  # GeometryError: a layer of unknown geometry on the path
        return None
    if len(table) == 1:  # 1D maps are drawn as one row
        return {"rows": [[0, 1]], "cols": table[0].tolist()}
    if len(table) == 3:  # 3D maps: intervals per depth slice too
        return {"depth": table[0].tolist(), "rows": table[1].tolist(), "cols": table[2].tolist()}
    return {"rows": table[0].tolist(), "cols": table[1].tolist()}
