"""The anywidget class: traits and message handlers, nothing else."""

from __future__ import annotations

import contextlib
import math
import os
import pathlib
import time
from typing import Any

import anywidget
import traitlets

from . import handlers
from .compare import run_compare
from .example_wire import examples_summary
from .export import ExportReport, write_html
from .introspect import report_calls
from .maps import FeatureMaps, extract
from .messages import (
    GRADIENT_PHASES,
    is_int,
    layer_dict,
    short_repr,
)
from .overlays import OVERLAY_MODES, class_count
from .render import Picture, save_png, save_svg
from .validation import LayerNotFoundError, check_index

_STATIC = pathlib.Path(__file__).parent / "static"

#: Shortest interval between two ``status`` updates of one phase (seconds).
STATUS_INTERVAL_S = 0.1


def _bundle_text(path: pathlib.Path) -> str | pathlib.Path:
    """The ES module's source (its path when not built yet, so importing still works)."""
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return path


class LayerTraitError(traitlets.TraitError, LayerNotFoundError):
    """An unknown name set on the ``layer`` trait (a ``TraitError`` and a ``ValueError``)."""


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
    #: What the view shows: the whole network (``"overview"``) or one layer's maps (``"grid"``).
    view = traitlets.Enum(["overview", "grid", "compare"], default_value="overview").tag(sync=True)
    #: Set by :meth:`compare`: ``{"label", "shift", "changes": [{"layer", "kind", "shape",
    #: "change"}], "version"}`` (relative L2 change per layer), or ``None``.
    comparison = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    #: The browser's "shift by (dy, dx)" control: compares with the input shifted so.
    compare_shift = traitlets.List(traitlets.Int(), allow_none=True, default_value=None).tag(
        sync=True
    )
    #: While ``set_input`` (or the constructor) computes: ``{"phase": "forward" | "layers",
    #: "done": int, "total": int}``; ``None`` when idle. Set by the kernel only.
    #: ``compute_examples`` reports ``"examples"`` (samples scanned); a feature
    #: visualisation asked for by the browser reports ``"visualize"`` steps the same way.
    status = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    #: Which layers have top examples (``TopExamples.summary()``), or ``None``.
    examples_summary = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    #: Gradient overlay of the input panel: ``"none"``, ``"grad_cam"``, ``"saliency"`` or
    #: ``"erf"`` (the hovered cell's effective receptive field). Computed when asked for.
    overlay = traitlets.Enum(OVERLAY_MODES, default_value="none").tag(sync=True)
    #: The class Grad-CAM and saliency explain; ``None``: the top prediction.
    class_index = traitlets.Int(None, allow_none=True).tag(sync=True)
    #: Optional class names (``decode_predictions``-style) naming the explained class.
    class_labels = traitlets.List(traitlets.Unicode()).tag(sync=True)

    def __init__(
        self,
        model: Any,
        x: Any,
        *,
        layer: str | None = None,
        sample: int = 0,
        examples: Any = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.model = model
        self.sample = 0
        #: Keyword arguments for :func:`fmwidget.visualize_filter` when the browser asks for
        #: a filter image (e.g. ``value_range``, ``preprocess``, ``steps``).
        self.visualize_options: dict[str, Any] = {}
        self.fm: FeatureMaps
        self._examples = None
        self._load(x, sample)
        if layer is not None:
            self.fm.info(layer)  # raises a clear error for unknown names
            self.layer = layer
        self.examples = examples
        self.on_msg(self._on_msg)
        handlers.push_first_part(self)

    # -- top examples ----------------------------------------------------------------------
    @property
    def examples(self) -> Any:
        """The :class:`fmwidget.TopExamples` shown in filter cards (``None`` for none)."""
        return self._examples

    @examples.setter
    def examples(self, ex: Any) -> None:
        self.examples_summary = examples_summary(ex, self.fm)  # raises if it does not fit
        self._examples = ex

    def compute_examples(self, data: Any, **options: Any) -> Any:
        """Run :func:`fmwidget.top_examples` on ``data``, show progress, keep the result.

        ``options`` go to ``top_examples`` (``layers``, ``k``, ``batch_size``, ``engine``).
        An interrupt leaves the previous examples in place.
        """
        from .examples import top_examples

        report = self._status_reporter()
        user = options.pop("on_progress", None)

        def on_progress(done: int, total: int | None) -> None:
            report("examples", done, total or done)
            if user is not None:
                user(done, total)

        try:
            ex = top_examples(self.model, data, on_progress=on_progress, **options)
        finally:
            self.status = None
        self.examples = ex
        return ex

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
            if self.layer not in fm:
                self.layer = _default_layer(fm)
            self.hover = None
            self.comparison = None  # B was compared with the previous input
            self.view = "grid" if self.view == "compare" else self.view
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

    @property
    def input_array(self) -> Any:
        """The shown input sample as the model took it (float32, no batch axis).

        After drawing or uploading in the browser this is the drawn image (see
        :mod:`fmwidget.drawn`).
        """
        return self.fm.input[self.sample]

    def save_html(self, path: Any, **options: Any) -> ExportReport:
        """Write one self-contained HTML file of this widget that works without a kernel.

        See :func:`fmwidget.save_html` for ``options`` (``pre_activation``, ``compress``,
        ``title``).

        Returns:
            An :class:`~fmwidget.ExportReport` (file size, bytes per map value).
        """
        return write_html(self, path, **options)

    @traitlets.validate("status")
    def _valid_status(self, proposal: dict[str, Any]) -> dict[str, Any] | None:
        value = proposal["value"]
        ok = value is None or (
            set(value) == {"phase", "done", "total"}
            and value["phase"] in ("forward", "layers", "examples", *GRADIENT_PHASES)
            and is_int(value["done"])
            and is_int(value["total"])
            and 0 <= value["done"] <= value["total"]
        )
        if not ok:
            raise traitlets.TraitError(
                "Expected status None or {'phase': 'forward' | 'layers' | 'examples', 'done': int, "
                f"'total': int}} with 0 <= done <= total, received {short_repr(value)}."
            )
        return value

    def compare(
        self, x2: Any = None, *, shift: tuple[int, int] | None = None, label: str | None = None
    ) -> list[dict[str, Any]]:
        """Show this input's maps beside those of ``x2`` (or of this input shifted), per layer.

        Args:
            x2: A second input of the same shape (one sample).
            shift: Instead of ``x2``: ``(dy, dx)`` pixels to move this input down / right.
            label: What to call the second input in the view.

        Returns:
            Per spatial layer ``{"layer", "kind", "shape", "change"}``: the relative L2
            change ``‖B - A‖ / ‖A‖`` of its whole map. The view switches to ``"compare"``.
        """
        return run_compare(self, x2, shift, label)

    def save_png(self, path: str | pathlib.Path, layer: str | None = None) -> Picture:
        """Save ``layer``'s maps (default: the shown layer) and the input as a PNG.

        Rendered in Python in the grid's colours; needs no browser (works in a script).
        Returns the layout (where each map was drawn).
        """
        return save_png(self, path, layer)

    def save_svg(self, path: str | pathlib.Path, layer: str | None = None) -> Picture:
        """Like :meth:`save_png`, as SVG: text as text, each map a pixel-exact image."""
        return save_svg(self, path, layer)

    @traitlets.observe("compare_shift")
    def _on_compare_shift(self, change: dict[str, Any]) -> None:
        value = change["new"]
        if value is not None:
            if len(value) != 2:
                self._send_error(f"Expected compare_shift [dy, dx], received {value!r}.")
                return
            try:
                self.compare(shift=(value[0], value[1]))
            except Exception as err:
                self._send_error(err)

    @traitlets.validate("class_index")
    def _valid_class_index(self, proposal: dict[str, Any]) -> int | None:
        value = proposal["value"]
        count = class_count(self) if hasattr(self, "fm") else None
        if value is not None and (value < 0 or (count is not None and value >= count)):
            wanted = f"in range(0, {count})" if count is not None else ">= 0"
            raise traitlets.TraitError(f"Expected class_index None or {wanted}, received {value}.")
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
        """Answers one browser request (see :mod:`fmwidget.handlers`)."""
        handlers.answer(self, content, buffers)

    def _send_error(self, err: BaseException | str, request_id: int | None = None) -> None:
        handlers.send_error(self, err, request_id)

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


def _default_layer(fm: FeatureMaps) -> str:
    for info in fm.layers:
        if info.kind.endswith("conv") and info.spatial:
            return info.name
    spatial = [info for info in fm.layers[1:] if info.spatial]
    return spatial[0].name if spatial else fm.layers[0].name


def save_html(
    source: Any,
    path: str | os.PathLike[str],
    x: Any = None,
    *,
    layer: str | None = None,
    sample: int = 0,
    pre_activation: bool = True,
    compress: bool = True,
    title: str | None = None,
) -> ExportReport:
    """Write one self-contained HTML file showing the widget without a kernel.

    Args:
        source: A :class:`~fmwidget.FeatureMapWidget`, or a Keras model (then ``x`` is
            required and a widget is built for it).
        path: Where to write the ``.html`` file.
        x: The input, when ``source`` is a model.
        layer: Layer shown first (model form only; a widget keeps its current layer).
        sample: Sample of the batch to show (model form only).
        pre_activation: Also embed the pre-activation maps of layers with a fused activation
            (the "pre-activation" checkbox and the first step of a trace need them).
        compress: zlib-compress payloads when that makes them smaller (decoded in the page
            with the browser's ``DecompressionStream``).
        title: The page title (default: the model name).

    Returns:
        An :class:`~fmwidget.ExportReport` with the file size and bytes per feature-map value.

    Raises:
        FileNotFoundError: the export bundle was not built (``npm run build``).
        TypeError: ``source`` is a model but ``x`` is missing.
    """
    if isinstance(source, FeatureMapWidget):
        widget = source
    else:
        if x is None:
            raise TypeError(
                "Expected save_html(widget, path) or save_html(model, path, x); received a "
                f"{type(source).__name__} without x."
            )
        widget = FeatureMapWidget(source, x, layer=layer, sample=sample)
    return write_html(widget, path, pre_activation=pre_activation, compress=compress, title=title)
