"""Kernel-free static export: one self-contained HTML file that runs the widget offline.

The page holds, all inline:

- the export bundle (``fmwidget/static/export.js``: the widget plus a small in-page "static
  model" that implements the anywidget model API) in a ``<script type="module">``;
- a JSON manifest: the widget's synced state, for every layer the exact ``layer_data`` header
  the kernel would send, and the geometry a trace needs;
- one ``<script type="application/octet-stream">`` per payload: the bytes the kernel would
  send (:func:`fmwidget.replies.layer_reply` as one wire message: float16, or
  ``float16_nonzero`` when its nonzero mask makes it smaller, see ``encode.layer_parts``),
  zlib-compressed when that is smaller, then base64.
- when the widget has top examples (``w.examples``): under ``examples``, per layer and
  channel, the kernel's ``get_examples`` reply and one blob per patch (float16).
- under ``overlays``: Grad-CAM and saliency replies for the shown sample
  (``export_overlays.py``).

Tracing offline follows :func:`fmwidget.trace.trace`'s rules in the browser, but never guesses
from float16 values: for every max-pooling layer the export embeds, per channel and pooled
cell, where the float32 max came from (:meth:`FeatureMaps.pool_source`, ties to the first
cell), which input cells tie with the winner of their first window (one bit each), and per
pooling layer its window as per-axis ``[start, stop)`` tables. Receptive fields come from the
exact tables the export adds to ``layers[i].receptive_field`` (the kernel sends them lazily,
with each layer's reply; the page has every layer's at once). Values shown in a static trace
are read from the float16 maps (3 significant digits). The convolution arithmetic panel needs the
kernel weights and is left out (the page says so).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import pathlib
import zlib
from dataclasses import dataclass
from typing import Any

from .encode import WireFormat, layer_parts
from .export_overlays import embedded_overlays
from .maps import FeatureMaps, LayerInfo
from .messages import rf_table
from .pooling import pool_tables
from .replies import layer_reply

_BUNDLE = pathlib.Path(__file__).parent / "static" / "export.js"
FORMAT = 1
STATIC_NOTE = (
    "Static export: no kernel. Maps are stored as float16 (about 3 significant digits). "
    "Hover, filter selection, sorting, colour ranges and tracing work offline; max-pool "
    "winners, pooling windows and receptive fields were computed exactly in Python. The "
    "convolution arithmetic panel needs the kernel and is not included. Filter cards show "
    "the embedded top examples; Grad-CAM and saliency are embedded for the top class (and "
    "the widget's class_index); other classes, effective receptive fields and feature "
    "visualisations need the kernel."
)


@dataclass(frozen=True)
class ExportReport:
    """What :func:`fmwidget.save_html` wrote.

    Attributes:
        path: The HTML file.
        bytes: Size of the file.
        values: Number of feature-map values embedded (every layer, plus pre-activation maps
            when exported).
        payload_bytes: Bytes of the embedded map payloads as written (compressed, base64).
        table_bytes: Bytes of the embedded max-pool winner tables as written.
        bytes_per_value: ``bytes / values``: the whole file, bundle and tables included.
    """

    path: pathlib.Path
    bytes: int
    values: int
    payload_bytes: int
    table_bytes: int

    @property
    def bytes_per_value(self) -> float:
        return self.bytes / self.values if self.values else math.inf


def write_html(
    widget: Any,
    path: str | os.PathLike[str],
    *,
    pre_activation: bool = True,
    compress: bool = True,
    title: str | None = None,
    overlays: bool = True,
) -> ExportReport:
    """Write one self-contained HTML file showing ``widget`` without a kernel.

    This is :func:`fmwidget.save_html` once it has a widget (the widget module builds one
    for a model; this module never imports it).

    Args:
        widget: A :class:`~fmwidget.FeatureMapWidget`.
        path: Where to write the ``.html`` file.
        pre_activation: Also embed the pre-activation maps of layers with a fused activation
            (the "pre-activation" checkbox and the first step of a trace need them).
        compress: zlib-compress payloads when that makes them smaller (decoded in the page
            with the browser's ``DecompressionStream``).
        title: The page title (default: the model name).
        overlays: Embed Grad-CAM and saliency of the shown sample (two backward passes;
            ``False`` exports faster, and the page then says those need the kernel).

    Returns:
        An :class:`ExportReport` with the file size and bytes per feature-map value.

    Raises:
        FileNotFoundError: the export bundle was not built (``npm run build``).
    """
    if not _BUNDLE.is_file():
        raise FileNotFoundError(
            f"Expected the export bundle at {_BUNDLE}; build it with `npm run build`."
        )
    page, values, payload_bytes, table_bytes = render_html(
        widget, pre_activation=pre_activation, compress=compress, title=title, overlays=overlays
    )
    out = pathlib.Path(path)
    out.write_text(page, encoding="utf-8")
    return ExportReport(out, out.stat().st_size, values, payload_bytes, table_bytes)


# -- page ----------------------------------------------------------------------------------------
class _Blobs:
    """Binary payloads, each becoming one base64 ``<script type="application/octet-stream">``."""

    def __init__(self, compress: bool):
        self.compress = compress
        self.parts: list[str] = []
        self.bytes = {"map": 0, "table": 0, "examples": 0, "overlays": 0}

    def add(self, data: bytes | memoryview, kind: str = "map") -> dict[str, Any]:
        raw = bytes(data)
        codec = "raw"
        if self.compress and raw:
            packed = zlib.compress(raw, 6)
            if len(packed) < len(raw):
                raw, codec = packed, "deflate"
        b64 = base64.b64encode(raw).decode("ascii")
        ident = f"fmw-blob-{len(self.parts)}"
        self.parts.append(
            f'<script type="application/octet-stream" id="{ident}" data-codec="{codec}">'
            f"{b64}</script>"
        )
        self.bytes[kind] += len(b64)
        return {"blob": ident, "codec": codec, "size": len(data)}


def render_html(
    widget: Any,
    *,
    pre_activation: bool = True,
    compress: bool = True,
    title: str | None = None,
    overlays: bool = True,
) -> tuple[str, int, int, int]:
    """The export page of ``widget``, the number of map values, map and table bytes."""
    bundle = _BUNDLE.read_text(encoding="utf-8")
    blobs = _Blobs(compress)
    fm: FeatureMaps = widget.fm
    maps: list[dict[str, Any]] = []
    values = 0
    for info in fm.layers:
        wanted = [False, True] if pre_activation and info.fused_activation else [False]
        for pre in wanted:
            entry: dict[str, Any] = {"layer": info.name, "pre_activation": pre}
            try:
                header, payload = layer_reply(widget, {"layer": info.name, "pre_activation": pre})
            except Exception as err:  # the kernel would answer this request with an error
                entry["error"] = str(err)
            else:
                header, payload = one_message(header, payload)
                header.pop("request_id", None)
                header.pop("receptive_field", None)  # in the state's layers (below)
                entry["header"] = header
                entry.update(blobs.add(payload))
                values += header["height"] * header["width"] * header["channels"]
            maps.append(entry)
    state = _synced_state(widget)
    for spec, info in zip(state["layers"], fm.layers, strict=True):
        spec["receptive_field"] = rf_table(info, fm)
    manifest = {
        "format": FORMAT,
        "state": state,
        "maps": maps,
        "geometry": {
            info.name: _geometry(fm, info, widget.sample, blobs)
            for info in fm.layers
            if info.spatial_shape is not None
        },
        "pre_activation": pre_activation,
    }
    if getattr(widget, "examples", None) is not None:
        manifest["examples"] = _examples(widget.examples, blobs)
    manifest["overlays"] = (
        embedded_overlays(widget, lambda b: blobs.add(b, "overlays")) if overlays else []
    )
    name = title if title is not None else f"{widget.model_name} — fmwidget"
    page = "\n".join(
        [
            "<!doctype html>",
            '<html lang="en"><head><meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            # No network at all: everything the page needs is in it.
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: blob:; "
            'connect-src data: blob:">',
            f"<title>{html.escape(name)}</title>",
            "<style>body{margin:0;padding:8px 12px;font-family:system-ui,sans-serif}"
            ".fmw-static-note{font-size:12px;color:#555;margin:0 0 8px;max-width:70em}</style>",
            "</head><body>",
            f'<p class="fmw-static-note">{html.escape(STATIC_NOTE)}</p>',
            '<div id="fmw-host"></div>',
            f'<script type="application/json" id="fmw-manifest">{_json_for_html(manifest)}'
            "</script>",
            *blobs.parts,
            f'<script type="module">{_script_for_html(bundle)}</script>',
            "</body></html>",
            "",
        ]
    )
    return page, values, blobs.bytes["map"], blobs.bytes["table"]


def one_message(header: dict[str, Any], payload: memoryview) -> tuple[dict[str, Any], memoryview]:
    """A layer message as the wire packs it (nonzero mask when smaller), in one part."""
    wire = WireFormat(progressive=False, sparse=True)
    ((header, payload),) = layer_parts(header, payload, max_bytes=max(2, payload.nbytes), wire=wire)
    return header, payload


def _synced_state(widget: Any) -> dict[str, Any]:
    import ipywidgets

    base = set(ipywidgets.DOMWidget.class_trait_names(sync=True))
    names = [n for n in widget.trait_names(sync=True) if n not in base and not n.startswith("_")]
    return {n: _finite(getattr(widget, n)) for n in sorted(names)}


def _finite(value: Any) -> Any:
    """JSON-safe copy: NaN/±Inf become null (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _json_for_html(obj: Any) -> str:
    """JSON that cannot end its ``<script>`` element (``</script>`` in a layer name stays text)."""
    text = json.dumps(_finite(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(ch, esc)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _script_for_html(code: str) -> str:
    """Inline module source: ``</script`` and ``<!--`` may not appear raw inside the element."""
    out = code.replace("</script", "<\\/script").replace("</SCRIPT", "<\\/SCRIPT")
    return out.replace("<!--", "<\\!--")


def _examples(ex: Any, blobs: _Blobs) -> dict[str, list[dict[str, Any]]]:
    """Per layer, per channel: the ``get_examples`` reply and its patch blobs."""
    from .example_wire import examples_message

    out: dict[str, list[dict[str, Any]]] = {}
    for name in ex.layers:
        out[name] = []
        for channel in range(ex.channels(name)):
            header, buffers = examples_message(ex, name, channel)
            patches = [blobs.add(b, "examples") for b in buffers]
            out[name].append({"header": header, "patches": patches})
    return out


# -- geometry for offline traces -----------------------------------------------------------------
def _geometry(fm: FeatureMaps, info: LayerInfo, sample: int, blobs: _Blobs) -> dict[str, Any]:
    assert info.spatial_shape is not None
    geo: dict[str, Any] = {"rank": len(info.spatial_shape)}
    if info.kind == "pooling" and len(info.spatial_shape) <= 2 and len(info.inputs) == 1:
        try:
            geo["pool"] = pool_tables(fm, info.name, sample, blobs.add)
        except ValueError as err:  # unknown geometry: a trace through it stops here
            geo["pool_error"] = str(err)
    return geo
