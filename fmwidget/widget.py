"""The anywidget class: traits and message handlers, nothing else."""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import numpy as np
import traitlets

from .encode import encode_map
from .inputs import check_index
from .maps import FeatureMaps, LayerInfo, extract
from .trace import trace

_STATIC = pathlib.Path(__file__).parent / "static"


def layer_dict(info: LayerInfo, fm: FeatureMaps) -> dict[str, Any]:
    """The JSON description of one layer sent to the browser (small, no map values)."""
    sp = info.spatial_shape
    arr = fm[info.name] if info.shape else None
    finite = arr[np.isfinite(arr)] if arr is not None else np.zeros(0)
    signed = bool(finite.size and finite.min() < 0)
    if info.fused_activation is not None:
        signed = signed or info.kind != "activation"
    return {
        "index": info.index,
        "name": info.name,
        "kind": info.kind,
        "class_name": info.class_name,
        "shape": list(info.shape),
        "spatial": sp is not None,
        "height": int(sp[0]) if sp else None,
        "width": int(sp[1]) if sp and len(sp) > 1 else (1 if sp else None),
        "channels": info.channels,
        "signed": signed,
        "min": float(finite.min()) if finite.size else 0.0,
        "max": float(finite.max()) if finite.size else 0.0,
        "inputs": [fm.info(n).index for n in info.inputs],
        "fused_activation": info.fused_activation,
        "receptive_field": _rf_table(info, fm),
    }


def _rf_table(info: LayerInfo, fm: FeatureMaps) -> dict[str, list[list[int]]] | None:
    """Receptive-field intervals per row and per column, so hover outlines them locally."""
    if info.spatial_shape is None or len(info.spatial_shape) > 2:
        return None
    try:
        table = fm.receptive_field_table(info.name)
    except ValueError:  # GeometryError: a layer of unknown geometry on the path
        return None
    if len(table) == 1:  # 1D maps are drawn as one row
        return {"rows": [[0, 1]], "cols": table[0].tolist()}
    return {"rows": table[0].tolist(), "cols": table[1].tolist()}


class FeatureMapWidget(anywidget.AnyWidget):
    """Show every feature map of a Keras model for one input, in a notebook.

    Args:
        model: A Keras 3 model (see :func:`fmwidget.extract`).
        x: One input sample (a batch is accepted; ``sample`` picks which one is shown).
        layer: Name of the layer to show first (default: the first convolution).
        sample: Index of the sample in the batch to show.
    """

    _esm = _STATIC / "widget.js"

    model_name = traitlets.Unicode("").tag(sync=True)
    layers = traitlets.List(traitlets.Dict()).tag(sync=True)
    data_version = traitlets.Int(0).tag(sync=True)
    layer = traitlets.Unicode("").tag(sync=True)
    selected_filters = traitlets.List(traitlets.Int()).tag(sync=True)
    hover = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    trace_target = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    colormap_range = traitlets.Enum(["map", "layer", "global"], default_value="layer").tag(
        sync=True
    )
    error = traitlets.Unicode("").tag(sync=True)

    def __init__(
        self, model: Any, x: Any, *, layer: str | None = None, sample: int = 0, **kwargs: Any
    ):
        super().__init__(**kwargs)
        self.model = model
        self.sample = 0
        self.fm: FeatureMaps
        self._load(x, sample)
        if layer is not None:
            self.fm.info(layer)  # raises a clear error for unknown names
            self.layer = layer
        self.on_msg(self._on_msg)

    # -- data ------------------------------------------------------------------------------
    def _load(self, x: Any, sample: int) -> None:
        fm = extract(self.model, x)
        sample = check_index(sample, fm.input.shape[0], "sample")
        self.fm, self.sample = fm, sample
        with self.hold_sync():
            self.model_name = str(self.model.name)
            self.layers = [layer_dict(info, fm) for info in fm.layers]
            maps = [d for d in self.layers[1:] if d["spatial"]]
            self._global_range = (
                min((d["min"] for d in maps), default=0.0),
                max((d["max"] for d in maps), default=0.0),
            )
            if self.layer not in fm:
                self.layer = _default_layer(fm)
            self.hover = None
            self.trace_target = None
            self.selected_filters = []
            self.error = ""
            self.data_version += 1

    def set_input(self, x: Any, sample: int = 0) -> None:
        """Run a new input through the model and redraw.

        On bad input the error is raised and the widget keeps showing the previous input.
        """
        self._load(x, sample)

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"]
        if hasattr(self, "fm") and name and name not in self.fm:
            self.fm.info(name)  # raises LayerNotFoundError with suggestions
        return name

    # -- messages --------------------------------------------------------------------------
    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        request_id = content.get("request_id") if isinstance(content, dict) else None
        try:
            if not isinstance(content, dict):
                raise ValueError(f"Expected a message object, received {type(content).__name__}.")
            kind = content.get("type")
            if kind == "get_layer":
                reply, payload = self._layer_message(content)
                self.send(reply, [payload])
            elif kind == "get_trace":
                self.send(self._trace_message(content))
            else:
                raise ValueError(
                    f"Expected message type 'get_layer' or 'get_trace', received {kind!r}."
                )
        except Exception as err:  # never let a browser message raise in the kernel
            self.send({"type": "error", "request_id": request_id, "message": str(err)})

    def _trace_message(self, content: dict[str, Any]) -> dict[str, Any]:
        info = self.fm.info(content.get("layer"))  # type: ignore[arg-type]
        row, col = content.get("row"), content.get("col")
        rank = len(info.spatial_shape or ())
        position = (col,) if rank == 1 else (row, col)
        result = trace(self.fm, info.name, content.get("filter"), position, self.sample)
        return {
            "type": "trace",
            "request_id": content.get("request_id"),
            "version": self.data_version,
            "layer": info.name,
            **result,
        }

    def _layer_message(self, content: dict[str, Any]) -> tuple[dict[str, Any], memoryview]:
        info = self.fm.info(content.get("layer"))  # type: ignore[arg-type]
        pre = bool(content.get("pre_activation", False))
        arr = self.fm.pre_activation(info.name) if pre else self.fm[info.name]
        header, payload = encode_map(arr[self.sample], info.data_format)
        header.update(
            type="layer_data",
            request_id=content.get("request_id"),
            layer=info.name,
            pre_activation=pre,
            version=self.data_version,
            global_min=self._global_range[0],
            global_max=self._global_range[1],
        )
        return header, payload


def _default_layer(fm: FeatureMaps) -> str:
    for info in fm.layers:
        if info.kind.endswith("conv") and info.spatial:
            return info.name
    spatial = [info for info in fm.layers[1:] if info.spatial]
    return spatial[0].name if spatial else fm.layers[0].name
