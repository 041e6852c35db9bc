"""Walk a Keras 3 model and capture every layer call of one forward pass.

One mechanism serves Sequential, Functional, nested and subclassed models alike: for the
duration of a single ``model(x, training=False)`` call, the ``call`` method of every
layer instance is wrapped so that each call appends an entry (the layer, its path name,
which earlier entries fed it, and its output). Shared layers therefore get one entry per
call, nested models give path names like ``outer/inner``, and models without a
functional graph work because nothing needs the graph. Only the public, backend-neutral
Keras 3 API is used, so JAX, TensorFlow and PyTorch behave the same.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from .geometry import IDENTITY, AxisMap, Node, same_padding

L = keras.layers

_ACTIVATIONS = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax)
_DROPOUTS = (
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianDropout,
    L.GaussianNoise,
    L.AlphaDropout,
)
_ELEMENTWISE_MERGES = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)

# Kinds, in Keras's own vocabulary. Anything not matched below is "other".
_KIND_CLASSES: list[tuple[str, tuple[type, ...]]] = [
    ("conv_transpose", (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)),
    ("depthwise_conv", (L.DepthwiseConv1D, L.DepthwiseConv2D)),
    ("separable_conv", (L.SeparableConv1D, L.SeparableConv2D)),
    ("conv", (L.Conv1D, L.Conv2D, L.Conv3D)),
    (
        "global_pooling",
        (
            L.GlobalMaxPooling1D,
            L.GlobalMaxPooling2D,
            L.GlobalMaxPooling3D,
            L.GlobalAveragePooling1D,
            L.GlobalAveragePooling2D,
            L.GlobalAveragePooling3D,
        ),
    ),
    (
        "pooling",
        (
            L.MaxPooling1D,
            L.MaxPooling2D,
            L.MaxPooling3D,
            L.AveragePooling1D,
            L.AveragePooling2D,
            L.AveragePooling3D,
        ),
    ),
    ("activation", _ACTIVATIONS),
    ("batch_norm", (L.BatchNormalization,)),
    ("dropout", _DROPOUTS),
    ("padding", (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)),
    ("cropping", (L.Cropping1D, L.Cropping2D, L.Cropping3D)),
    ("merge", (*_ELEMENTWISE_MERGES, L.Concatenate)),
]

# Layers whose output cell (r, c) reads only input cell (r, c) (at inference).
_POINTWISE = (
    *_ACTIVATIONS,
    L.BatchNormalization,
    *_DROPOUTS,
    *_ELEMENTWISE_MERGES,
    L.Dense,
    L.EinsumDense,
    L.Rescaling,
    L.Identity,
)

# Kinds whose output is a feature map worth showing (the widget's default set).
MAP_KINDS = frozenset(
    {
        "input",
        "conv",
        "depthwise_conv",
        "separable_conv",
        "conv_transpose",
        "pooling",
        "global_pooling",
        "activation",
        "batch_norm",
    }
)


def layer_kind(layer: Any) -> str:
    """The fmwidget kind of a Keras layer (``"conv"``, ``"pooling"``, ..., or ``"other"``)."""
    for kind, classes in _KIND_CLASSES:
        if isinstance(layer, classes):
            return kind
    return "other"


@dataclass
class Entry:
    """One captured layer call (or the model input, entry 0)."""

    index: int
    name: str
    layer: Any  # keras.Layer, or None for the model input
    kind: str
    inputs: tuple[int, ...]
    output: Any = None  # backend tensor during capture, float32 numpy after
    unlinked: bool = False  # some input was computed outside any layer
    extra_inputs: list[Any] = field(default_factory=list)  # unlinked input tensors


def _is_tensor(x: Any) -> bool:
    return keras.ops.is_tensor(x) or isinstance(x, np.ndarray)


def _flat_tensors(args: Any) -> list[Any]:
    """The tensors in a nest of lists, tuples and dicts, in order.

    Hand-rolled: ``keras.tree.flatten`` goes through the backend's pytree machinery
    (PyTorch's costs more than a small layer's call) and runs for every layer call.
    """
    out: list[Any] = []
    stack = [args]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(reversed(item))
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif _is_tensor(item):
            out.append(item)
    return out


def is_container(layer: Any) -> bool:
    """Whether fmwidget looks inside ``layer`` rather than recording it as one call.

    Models always are; a custom (non-Keras) layer is when it holds sublayers.
    """
    if isinstance(layer, keras.Model):
        return True
    builtin = type(layer).__module__.startswith("keras.")
    return not builtin and bool(getattr(layer, "_layers", None))


#: ``on_call(done, total)`` after each leaf layer call: see :func:`report_calls`.
OnCall = Callable[[int, int], None]
_ON_CALL: contextvars.ContextVar[OnCall | None] = contextvars.ContextVar(
    "fmwidget_on_call", default=None
)


@contextlib.contextmanager
def report_calls(on_call: OnCall | None) -> Iterator[None]:
    """Every :func:`capture` inside this block reports its progress to ``on_call``.

    ``on_call(done, total)`` runs after each leaf layer call of the forward pass: ``done``
    calls so far, ``total`` the number of leaf layers in the model (more when layers are
    shared; never less than ``done``). It must be fast: it runs inside the forward pass.
    """
    token = _ON_CALL.set(on_call)
    try:
        yield
    finally:
        _ON_CALL.reset(token)


class Recorder:
    """Records layer calls while installed; see :func:`capture`."""

    def __init__(self, model: Any, on_call: OnCall | None = None, total: int = 0):
        self.model = model
        self.on_call = on_call
        self.total = total
        self.calls = 0
        self.entries: list[Entry] = []
        self._producer: dict[int, int] = {}  # id(tensor) -> entry index
        self._keep: list[Any] = []  # keeps recorded tensors alive so ids stay unique
        self._stack: list[tuple[Any, list[Any]]] = []  # active containers and their inputs
        self._calls: dict[str, int] = {}

    # -- naming --------------------------------------------------------------------------
    def _path(self, layer: Any) -> str:
        parts = [c.name for c, _ in self._stack[1:]]
        base = "/".join([*parts, layer.name])
        count = self._calls.get(base, 0)
        self._calls[base] = count + 1
        return base if count == 0 else f"{base}:{count}"

    # -- linking -------------------------------------------------------------------------
    def _source(self, tensor: Any) -> int | None:
        index = self._producer.get(id(tensor))
        if index is not None:
            return index
        # Models convert their inputs before the first layer sees them: such a tensor is one
        # of the innermost running model's inputs, matched by shape (then by value).
        for _, inputs in reversed(self._stack):
            shape = tuple(tensor.shape)
            same = [t for t in inputs if tuple(t.shape) == shape]
            if len(same) > 1:
                value = keras.ops.convert_to_numpy(tensor)
                same = [t for t in same if np.array_equal(keras.ops.convert_to_numpy(t), value)]
            if len(same) == 1:
                return self._producer.get(id(same[0]))
            if same or inputs:
                break
        return None

    def _record(self, layer: Any, args: Any, output: Any) -> Entry:
        inputs = _flat_tensors(args)
        sources: list[int] = []
        extra: list[Any] = []
        for t in inputs:
            src = self._source(t)
            if src is None:
                extra.append(t)
            elif src not in sources:
                sources.append(src)
        kind = layer_kind(layer) if layer is not None else "input"
        entry = Entry(
            index=len(self.entries),
            name=self._path(layer),
            layer=layer,
            kind=kind,
            inputs=tuple(sources),
            output=output,
            unlinked=bool(extra),
            extra_inputs=extra,
        )
        self.entries.append(entry)
        for t in _flat_tensors(output):
            self._producer.setdefault(id(t), entry.index)
        self._keep.append((inputs, output))
        return entry

    # -- wrappers ------------------------------------------------------------------------
    def wrap_leaf(self, layer: Any, call: Any) -> Any:
        def recorded_call(*args: Any, **kwargs: Any) -> Any:
            output = call(*args, **kwargs)
            self._record(layer, args, output)
            if self.on_call is not None:
                self.calls += 1
                self.on_call(self.calls, max(self.total, self.calls))
            return output

        return recorded_call

    def wrap_container(self, layer: Any, call: Any, top: bool) -> Any:
        def recorded_call(*args: Any, **kwargs: Any) -> Any:
            inputs = _flat_tensors(args[:1] if args else list(kwargs.values())[:1])
            if top:
                entry = Entry(0, "input", None, "input", (), output=inputs[0] if inputs else None)
                self.entries.append(entry)
                for t in inputs:
                    self._producer[id(t)] = 0
            else:
                for t in inputs:  # link the model's inputs to what produced them
                    src = self._source(t)
                    if src is not None:
                        self._producer.setdefault(id(t), src)
            self._keep.append(inputs)
            self._stack.append((layer, inputs))
            try:
                output = call(*args, **kwargs)
            finally:
                self._stack.pop()
            # A container whose output is no recorded tensor did work of its own (ops
            # outside layers): record it as one opaque entry so later layers link to it.
            if not top and any(id(t) not in self._producer for t in _flat_tensors(output)):
                self._record(layer, args, output)
            return output

        return recorded_call


def _all_layers(model: Any) -> Iterator[Any]:
    """Every layer reachable from ``model`` (including itself), each once."""
    seen: set[int] = set()
    stack = [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        yield layer
        if is_container(layer):
            stack.extend(getattr(layer, "_layers", []))


@contextlib.contextmanager
def capture(model: Any, on_call: OnCall | None = None) -> Iterator[Recorder]:
    """Install call recorders on every layer of ``model`` for one ``with`` block.

    ``on_call`` (default: the one installed by :func:`report_calls`) is told the progress
    after each leaf layer call.
    """
    layers = list(_all_layers(model))
    if on_call is None:
        on_call = _ON_CALL.get()
    total = sum(
        1
        for layer in layers
        if layer is not model and not is_container(layer) and not isinstance(layer, L.InputLayer)
    )
    rec = Recorder(model, on_call, total)
    if on_call is not None:
        on_call(0, total)
    patched: list[tuple[Any, Any]] = []
    try:
        for layer in layers:
            own = layer.__dict__.get("call")
            call = layer.call
            if layer is model or is_container(layer):
                wrapped = rec.wrap_container(layer, call, top=layer is model)
            else:
                wrapped = rec.wrap_leaf(layer, call)
            layer.__dict__["call"] = wrapped
            patched.append((layer, own))
        yield rec
    finally:
        for layer, own in patched:
            if own is None:
                layer.__dict__.pop("call", None)
            else:
                layer.__dict__["call"] = own


# -- geometry of one layer -------------------------------------------------------------------
def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def data_format_of(layer: Any) -> str:
    """``channels_last`` or ``channels_first`` for ``layer`` (Keras's default if unset)."""
    fmt = getattr(layer, "data_format", None)
    return fmt if fmt in ("channels_last", "channels_first") else keras.config.image_data_format()


def spatial_shape(shape: tuple[int, ...], data_format: str) -> tuple[int, ...] | None:
    """Spatial part of a per-sample shape (no batch axis), or None for vectors."""
    if len(shape) < 2:
        return None
    return tuple(shape[1:]) if data_format == "channels_first" else tuple(shape[:-1])


def axis_maps(
    layer: Any, in_spatial: tuple[int, ...] | None, out_spatial: tuple[int, ...] | None
) -> tuple[tuple[AxisMap, ...] | None, bool]:
    """Per-axis maps of ``layer`` and whether its geometry is known.

    Returns:
        ``(axes, known)``; ``axes`` is None for all-to-all layers (vector outputs).
    """
    if out_spatial is None:
        return None, True  # global pooling, flatten, dense on vectors: reads everything
    if in_spatial is None or len(in_spatial) != len(out_spatial):
        return None, False
    rank = len(out_spatial)
    kind = layer_kind(layer)
    if kind in ("conv", "depthwise_conv", "separable_conv", "pooling"):
        kernel = _tuple(getattr(layer, "kernel_size", None) or layer.pool_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        padding = layer.padding.lower()
        axes = []
        for a in range(rank):
            pad = (
                same_padding(in_spatial[a], kernel[a], strides[a], dilation[a])
                if padding == "same"
                else 0
            )
            axes.append(AxisMap("window", kernel[a], strides[a], dilation[a], -pad))
        return tuple(axes), True
    if kind == "conv_transpose":
        kernel = _tuple(layer.kernel_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(layer.dilation_rate, rank)
        axes = []
        for a in range(rank):
            # Output length before cropping by padding, then the crop Keras applies.
            effective = (kernel[a] - 1) * dilation[a] + 1
            full = (in_spatial[a] - 1) * strides[a] + effective
            extra = full - out_spatial[a]
            pad = max(extra, 0) // 2 if layer.padding.lower() == "same" else 0
            axes.append(AxisMap("transpose", kernel[a], strides[a], dilation[a], -pad))
        return tuple(axes), True
    if kind == "padding":
        pads = _pairs(layer.padding, rank)
        return tuple(AxisMap(offset=-before) for before, _ in pads), True
    if kind == "cropping":
        crops = _pairs(layer.cropping, rank)
        return tuple(AxisMap(offset=before) for before, _ in crops), True
    if isinstance(layer, (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)):
        if getattr(layer, "interpolation", "nearest") != "nearest":
            return None, False
        size = _tuple(getattr(layer, "size", 1), rank)
        return tuple(AxisMap("upsample", stride=s) for s in size), True
    same_shape = tuple(in_spatial) == tuple(out_spatial)
    if same_shape and isinstance(layer, _POINTWISE):
        return (IDENTITY,) * rank, True
    if same_shape and isinstance(layer, L.Concatenate):
        return (IDENTITY,) * rank, True  # shapes equal: joined along channels
    return None, False


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * rank
    out = []
    for v in value:
        out.append((v, v) if isinstance(v, int) else (int(v[0]), int(v[1])))
    return out


def node_for(
    layer: Any,
    label: str,
    inputs: tuple[int, ...],
    out_spatial: tuple[int, ...] | None,
    in_spatial: list[tuple[int, ...] | None],
    unlinked: bool,
) -> Node:
    """Build the geometry :class:`Node` of one entry.

    Args:
        layer: The Keras layer, or None for the model input.
        label: Name used in error messages.
        inputs: Indices of the feeding entries.
        out_spatial: Spatial output shape (None for vectors).
        in_spatial: Spatial shape of each feeding entry.
        unlinked: Whether some input came from outside any layer.
    """
    if layer is None:
        return Node((), out_spatial, None, True, label)
    if unlinked or not inputs or any(sp != in_spatial[0] for sp in in_spatial):
        # Merging maps of different sizes (or a concat along a spatial axis) moves cells.
        return Node(inputs, out_spatial, None, False, label)
    axes, known = axis_maps(layer, in_spatial[0], out_spatial)
    return Node(inputs, out_spatial, axes, known, label)
