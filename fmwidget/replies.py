"""The ``layer_data`` reply: one layer's map for one sample, as the kernel sends it.

The widget answers the browser's ``get_layer`` requests with it and the static export embeds
exactly the same messages, so both call :func:`layer_reply` (neither imports the other).
"""

from __future__ import annotations

from typing import Any, Protocol

from .encode import encode_map
from .maps import FeatureMaps
from .messages import rf_table


class MapSource(Protocol):
    """What a layer reply reads from a widget: its maps, shown sample, version and layers."""

    fm: FeatureMaps
    sample: int
    data_version: int
    layers: list[dict[str, Any]]


def global_range(layers: list[dict[str, Any]]) -> tuple[float, float]:
    """The lowest and highest value over every spatial map (the input excluded).

    Args:
        layers: The widget's ``layers`` trait (one :func:`fmwidget.messages.layer_dict` each).

    Returns:
        ``(min, max)``, ``(0.0, 0.0)`` when no layer after the input has a spatial map.
    """
    maps = [d for d in layers[1:] if d["spatial"]]
    return (
        min((d["min"] for d in maps), default=0.0),
        max((d["max"] for d in maps), default=0.0),
    )


def layer_reply(source: MapSource, content: dict[str, Any]) -> tuple[dict[str, Any], memoryview]:
    """The ``layer_data`` header and payload answering one ``get_layer`` request.

    Args:
        source: The widget (anything with ``fm``, ``sample``, ``data_version``, ``layers``).
        content: The request: ``layer`` (name), optional ``pre_activation`` and
            ``request_id`` (echoed).

    Returns:
        The JSON header (shape, dtype, scale, statistics, global range, version, and the
        layer's receptive-field tables as ``receptive_field``, see
        :func:`fmwidget.messages.rf_table`: ``None`` for unknown geometry) and the encoded
        map of ``source.sample``, one message before :func:`fmwidget.encode.layer_parts` cuts
        it into parts.

    Raises:
        LayerNotFoundError: ``content["layer"]`` names no layer.
    """
    fm = source.fm
    info = fm.info(content.get("layer"))  # type: ignore[arg-type]
    pre = bool(content.get("pre_activation") or False)
    arr = fm.pre_activation(info.name) if pre else fm[info.name]
    tensor = None if pre else fm.backend_tensor(info.name)
    sample = None if tensor is None else (lambda: tensor[source.sample])
    header, payload = encode_map(arr[source.sample], info.data_format, sample)
    low, high = global_range(source.layers)
    header.update(
        type="layer_data",
        request_id=content.get("request_id"),
        layer=info.name,
        pre_activation=pre,
        version=source.data_version,
        global_min=low,
        global_max=high,
        receptive_field=rf_table(info, fm),
    )
    return header, payload
