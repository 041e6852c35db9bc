"""The anywidget class: traits and message handlers, nothing else."""

from __future__ import annotations

import contextlib
import math
import pathlib
import time
from typing import Any

import anywidget
import numpy as np
import traitlets

from .encode import encode_map, split_channels
from .inputs import LayerNotFoundError, check_index
from .introspect import report_calls
from .maps import FeatureMaps, LayerInfo, extract
from .trace import trace

_STATIC = pathlib.Path(__file__).parent / "static"

#: Requests from the browser are a few small fields; anything bigger is refused unread.
MAX_REQUEST_CHARS = 16 * 1024
#: Layer names in requests longer than this are refused (Keras names are far shorter).
MAX_NAME_CHARS = 4096
#: Shortest interval between two ``status`` updates of one phase (seconds).
STATUS_INTERVAL_S = 0.1
#: Error replies are cut to this many characters.
MAX_ERROR_CHARS = 2000
_REQUEST_TYPES = ("get_layer", "get_trace")
_INT_FIELDS = {"get_layer": (), "get_trace": ("filter", "row", "col")}


def _bundle_text(path: pathlib.Path) -> str | pathlib.Path:
    """The ES module's source (its path when not built yet, so importing still works)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return path


class LayerTraitError(traitlets.TraitError, LayerNotFoundError):
    """An unknown name set on the ``layer`` trait (a ``TraitError`` and a ``ValueError``)."""


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type(value).__name__
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _request_id(content: Any) -> int | None:
    """The request id to echo: only a plain int (anything else is answered with ``None``)."""
    rid = content.get("request_id") if isinstance(content, dict) else None
    return rid if _is_int(rid) and abs(rid) < 2**53 else None


def _over_budget(obj: Any, budget: int) -> bool:
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


def _check_request(content: Any, buffers: Any, data_version: int) -> str:
    """Validate a browser request's envelope and fields; returns its type.

    Raises:
        ValueError / TypeError: saying what was expected and what was received.
    """
    if not isinstance(content, dict):
        raise TypeError(f"Expected a message object, received {type(content).__name__}.")
    if _over_budget(content, MAX_REQUEST_CHARS):
        raise ValueError(
            f"Expected a request of at most {MAX_REQUEST_CHARS} characters, received a larger one."
        )
    if buffers:
        raise ValueError(f"Expected a request without binary buffers, received {len(buffers)}.")
    kind = content.get("type")
    if kind not in _REQUEST_TYPES:
        raise ValueError(
            f"Expected message type 'get_layer' or 'get_trace', received {_short(kind)}."
        )
    rid = content.get("request_id")
    if rid is not None and _request_id(content) is None:
        raise TypeError(f"Expected an int request_id, received {_short(rid)}.")
    version = content.get("version")
    if version is not None:
        if not _is_int(version):
            raise TypeError(f"Expected an int version, received {_short(version)}.")
        if not 0 <= version <= data_version:
            raise ValueError(
                f"Expected version in range(0, {data_version + 1}), received {version}."
            )
    layer = content.get("layer")
    if not isinstance(layer, str):
        raise TypeError(f"Expected a layer name (str), received {_short(layer)}.")
    if len(layer) > MAX_NAME_CHARS:
        raise ValueError(
            f"Expected a layer name of at most {MAX_NAME_CHARS} characters, received {len(layer)}."
        )
    pre = content.get("pre_activation", False)
    if kind == "get_layer" and not isinstance(pre, bool) and pre is not None:
        raise TypeError(f"Expected pre_activation true or false, received {_short(pre)}.")
    for key in _INT_FIELDS[kind]:
        value = content.get(key)
        if not _is_int(value):
            raise TypeError(f"Expected an int {key}, received {_short(value)}.")
    return kind


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
        "height": int(sp[0]) if sp else None,
        "width": int(sp[1]) if sp and len(sp) > 1 else (1 if sp else None),
        "channels": info.channels,
        "signed": signed,
        "min": lo,
        "max": hi,
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

    # The bundle's text, not its path: anywidget turns a path into a FileContents whose
    # class-level "changed" signal keeps a closure over every instance, so no widget would
    # ever be freed (measured: 100 closed widgets, 100 alive). No hot reload is lost in use.
    _esm = _bundle_text(_STATIC / "widget.js")

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
    #: While ``set_input`` (or the constructor) computes: ``{"phase": "forward" | "layers",
    #: "done": int, "total": int}``; ``None`` when idle. Set by the kernel only.
    status = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)

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
        report = self._status_reporter()
        try:
            with report_calls(lambda done, total: report("forward", done, total)):
                fm = extract(self.model, x)
            sample = check_index(sample, fm.input.shape[0], "sample")
            layers = []
            for k, info in enumerate(fm.layers):
                report("layers", k, len(fm.layers))
                layers.append(layer_dict(info, fm))
        finally:
            self.status = None
        self.fm, self.sample = fm, sample
        with self.hold_sync():
            self.model_name = str(self.model.name)
            self.layers = layers
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

    def _status_reporter(self) -> Any:
        """``report(phase, done, total)``: sets ``status``, at most every ``STATUS_INTERVAL_S``.

        The first report of each phase always goes through, so the view says at once what
        is running; the ones in between are dropped (the forward pass is not slowed).
        """
        last = {"phase": None, "time": -math.inf}

        def report(phase: str, done: int, total: int) -> None:
            now = time.monotonic()
            if phase == last["phase"] and now - last["time"] < STATUS_INTERVAL_S:
                return
            last.update(phase=phase, time=now)
            with contextlib.suppress(Exception):  # a closed comm must not stop the pass
                self.status = {"phase": phase, "done": done, "total": max(total, done)}

        return report

    def set_input(self, x: Any, sample: int = 0) -> None:
        """Run a new input through the model and redraw.

        On bad input the error is raised and the widget keeps showing the previous input.
        """
        self._load(x, sample)

    def save_html(self, path: Any, **options: Any) -> Any:
        """Write one self-contained HTML file of this widget that works without a kernel.

        See :func:`fmwidget.save_html` for ``options`` (``pre_activation``, ``compress``,
        ``title``).

        Returns:
            An :class:`fmwidget.export.ExportReport` (file size, bytes per map value).
        """
        from .export import save_html

        return save_html(self, path, **options)

    @traitlets.validate("status")
    def _valid_status(self, proposal: dict[str, Any]) -> dict[str, Any] | None:
        value = proposal["value"]
        ok = value is None or (
            set(value) == {"phase", "done", "total"}
            and value["phase"] in ("forward", "layers")
            and _is_int(value["done"])
            and _is_int(value["total"])
            and 0 <= value["done"] <= value["total"]
        )
        if not ok:
            raise traitlets.TraitError(
                "Expected status None or {'phase': 'forward' | 'layers', 'done': int, "
                f"'total': int}} with 0 <= done <= total, received {_short(value)}."
            )
        return value

    @traitlets.validate("layer")
    def _valid_layer(self, proposal: dict[str, Any]) -> str:
        name = proposal["value"]
        if hasattr(self, "fm") and name not in self.fm:
            try:
                self.fm.info(name)
            except LayerNotFoundError as err:  # a TraitError too, so traitlets rolls back
                raise LayerTraitError(str(err)) from None
        return name

    # -- messages --------------------------------------------------------------------------
    def _on_msg(self, _widget: Any, content: Any, buffers: Any) -> None:
        """Answers one browser request; anything malformed gets an ``error`` reply."""
        request_id = _request_id(content)
        try:
            kind = _check_request(content, buffers, self.data_version)
            if kind == "get_layer":
                reply, payload = self._layer_message(content)
                for part, data in split_channels(reply, payload):  # each <= 64 MiB
                    self.send(part, [data])
            else:
                self.send(self._trace_message(content))
        except Exception as err:  # never let a browser message raise in the kernel
            self._send_error(err, request_id)

    def _send_error(self, err: BaseException | str, request_id: int | None = None) -> None:
        text = str(err) or type(err).__name__
        if len(text) > MAX_ERROR_CHARS:
            text = text[: MAX_ERROR_CHARS - 1] + "\u2026"
        with contextlib.suppress(Exception):  # e.g. the comm is gone: nothing left to tell
            self.send({"type": "error", "request_id": request_id, "message": text})

    def set_state(self, sync_data: dict[str, Any]) -> None:
        """Trait changes from the browser; invalid ones are refused with an ``error`` message.

        The refused traits keep their value and are re-sent, so the browser reverts too.
        """
        try:
            super().set_state(sync_data)
        except Exception as err:
            self._send_error(f"Refused a change from the browser: {err}")
            keys = [k for k in sync_data if k in self.keys] if isinstance(sync_data, dict) else []
            with contextlib.suppress(Exception):
                self.send_state(keys or None)

    def _trace_message(self, content: dict[str, Any]) -> dict[str, Any]:
        info = self.fm.info(content.get("layer"))  # type: ignore[arg-type]
        row, col = content.get("row"), content.get("col")
        rank = len(info.spatial_shape or ())
        position = (col,) if rank == 1 else (row, col)
        result = trace(self.fm, info.name, content.get("filter"), position, self.sample)
        return json_safe(
            {
                "type": "trace",
                "request_id": content.get("request_id"),
                "version": self.data_version,
                "layer": info.name,
                **result,
            }
        )

    def _layer_message(self, content: dict[str, Any]) -> tuple[dict[str, Any], memoryview]:
        info = self.fm.info(content.get("layer"))  # type: ignore[arg-type]
        pre = bool(content.get("pre_activation") or False)
        arr = self.fm.pre_activation(info.name) if pre else self.fm[info.name]
        tensor = None if pre else self.fm.backend_tensor(info.name)
        sample = None if tensor is None else (lambda: tensor[self.sample])
        header, payload = encode_map(arr[self.sample], info.data_format, sample)
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
