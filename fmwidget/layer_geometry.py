"""From Keras layers and operations to per-axis spatial maps: the geometry of one entry.

:mod:`fmwidget.geometry` is pure arithmetic over :class:`~fmwidget.geometry.Node` objects;
this module builds those nodes from what :mod:`fmwidget.introspect` recorded. Every rule
is exact or the node is marked unknown (tracing through it then raises a
``GeometryError`` that names it and says why); nothing is guessed:

- windows: convolutions of every kind, pooling, transposed convolutions, zero-padding,
  cropping, nearest upsampling, slicing (``x[:, ::2]``);
- element-wise layers and operations with NumPy broadcasting: a size-1 spatial axis (a
  squeeze-excite gate) is read by every cell along that axis;
- statistics over axes (LayerNormalization, GroupNormalization, UnitNormalization,
  softmax, ``keras.ops.mean``...): every cell reads the whole map along the reduced axes;
- concatenation along channels or along a spatial axis;
- custom and Lambda layers: their ``call`` is traced symbolically once; when every
  operation in it acts cell by cell the layer does too.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import keras

from .geometry import ALL, IDENTITY, AxisMap, InputMap, Node, same_padding, unknown_node
from .introspect import Entry, Slot
from .kinds import (
    DROPOUT_LAYERS,
    ELEMENTWISE_MERGE_LAYERS,
    OP_ACTIVATIONS,
    OP_MERGES,
    is_op,
    layer_kind,
)

L = keras.layers

#: Operations that act cell by cell (with broadcasting), besides activations and merges.
_ELEMENTWISE_OPS = (
    OP_ACTIVATIONS
    | (OP_MERGES - {"Concatenate"})
    | frozenset(
        [
            "Abs",
            "Absolute",
            "Fabs",
            "Negative",
            "Sign",
            "Square",
            "Sqrt",
            "Rsqrt",
            "Reciprocal",
            "Exp",
            "Exp2",
            "Expm1",
            "Log",
            "Log1p",
            "Log2",
            "Log10",
            "Cbrt",
            "Erf",
            "Erfc",
            "Erfinv",
            "Cast",
            "SaturateCast",
            "Clip",
            "Round",
            "Floor",
            "Ceil",
            "Trunc",
            "Sin",
            "Cos",
            "Tan",
            "Sinh",
            "Cosh",
            "Arcsin",
            "Arccos",
            "Arctan",
            "Arcsinh",
            "Arccosh",
            "Arctanh",
            "NanToNum",
            "Copy",
            "StopGradient",
            "ConvertToTensor",
            "Isnan",
            "Isinf",
            "Isfinite",
            "Equal",
            "NotEqual",
            "Greater",
            "GreaterEqual",
            "Less",
            "LessEqual",
            "LogicalAnd",
            "LogicalOr",
            "LogicalNot",
            "LogicalXor",
            "Signbit",
            "Deg2rad",
            "Rad2deg",
        ]
    )
)
#: Reductions ``op(x, axis=None, keepdims=False)``.
_REDUCE_OPS = frozenset(
    [
        "Mean",
        "Sum",
        "Max",
        "Min",
        "Amax",
        "Amin",
        "Prod",
        "Var",
        "Std",
        "Logsumexp",
        "Median",
        "Nanmean",
        "Nansum",
        "Nanmax",
        "Nanmin",
        "Nanprod",
        "Nanstd",
        "Nanvar",
        "Any",
        "All",
    ]
)
#: Same-shape operations that normalise over ``axis``.
_AXIS_OPS = frozenset({"Softmax", "LogSoftmax", "Normalize", "LayerNorm", "RMSNorm"})

_WINDOWS = ("conv", "depthwise_conv", "separable_conv", "pooling")
_POINTWISE_LAYERS = (
    L.ReLU,
    L.LeakyReLU,
    L.ELU,
    L.PReLU,
    L.BatchNormalization,
    L.Normalization,  # fixed (adapted) statistics: each value scaled on its own
    L.Rescaling,
    L.Identity,
    *DROPOUT_LAYERS,
    *ELEMENTWISE_MERGE_LAYERS,
)
_UPSAMPLING = (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)
_SOFTMAX_ACTIVATIONS = ("softmax", "log_softmax")


class _Unknown(Exception):
    """Raised by the rules below: the entry's geometry is not known, and why."""


@dataclass(frozen=True)
class Spec:
    """One tensor as geometry sees it: per-sample shape, data format, spatial shape."""

    shape: tuple[int, ...]
    data_format: str

    @property
    def spatial(self) -> tuple[int, ...] | None:
        return spatial_shape(self.shape, self.data_format)

    @property
    def spatial_axes(self) -> list[int]:
        """Indices of the spatial axes in the full (batch-first) shape."""
        if len(self.shape) < 2:
            return []
        first = 2 if self.data_format == "channels_first" else 1
        return list(range(first, first + len(self.shape) - 1))


def data_format_of(layer: Any) -> str:
    """``channels_last`` or ``channels_first`` for ``layer`` (Keras's default if unset)."""
    fmt = getattr(layer, "data_format", None)
    return fmt if fmt in ("channels_last", "channels_first") else keras.config.image_data_format()


def spatial_shape(shape: tuple[int, ...], data_format: str) -> tuple[int, ...] | None:
    """Spatial part of a per-sample shape (no batch axis), or None for vectors."""
    if len(shape) < 2:
        return None
    return tuple(shape[1:]) if data_format == "channels_first" else tuple(shape[:-1])


def node_for(entry: Entry, specs: Sequence[Spec | None], label: str) -> Node:
    """Build the geometry :class:`Node` of one recorded entry.

    Args:
        entry: The recorded call.
        specs: The :class:`Spec` of every entry so far (None for outputs that are not one
            tensor); ``specs[entry.index]`` is this entry's own.
        label: Name used in error messages.
    """
    out = specs[entry.index]
    out_spatial = out.spatial if out is not None else None
    if entry.layer is None:
        return Node((), out_spatial, (), True, label)
    if entry.unlinked:
        return unknown_node(
            entry.inputs,
            out_spatial,
            label,
            "a tensor computed outside any layer feeds it; in a subclassed model, wrap such "
            "computations in layers",
        )
    sources = [specs[i] for i in entry.inputs]
    if out is None or any(s is None for s in sources):
        return unknown_node(entry.inputs, out_spatial, label, "it has several outputs")
    try:
        maps = _input_maps(entry, out, sources)  # type: ignore[arg-type]
    except _Unknown as why:
        return unknown_node(entry.inputs, out_spatial, label, str(why))
    return Node(entry.inputs, out_spatial, maps, True, label)


# -- rules -----------------------------------------------------------------------------------
def _input_maps(entry: Entry, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    layer = entry.layer
    name = type(layer).__name__
    kind = layer_kind(layer)
    if not entry.inputs:
        return ()
    if is_op(layer):
        return _op_maps(entry, name, out, sources)
    if (
        kind in _WINDOWS
        or kind in ("conv_transpose", "padding", "cropping")
        or isinstance(layer, _UPSAMPLING)
    ):
        return (_single_maps(layer, kind, out, _one(sources)),)
    if kind == "global_pooling":
        return (None if out.spatial is None else (ALL,) * len(out.spatial),)
    if isinstance(layer, L.Concatenate):
        return _concat_maps(entry, layer.axis, out, sources)
    if isinstance(layer, L.Softmax):
        return (_reduce_same(layer.axis, out, _one(sources)),)
    if isinstance(layer, L.Activation):
        act = getattr(layer.activation, "__name__", "")
        if act in _SOFTMAX_ACTIVATIONS:
            return (_reduce_same(-1, out, _one(sources)),)
        return _broadcast(out, sources)
    if isinstance(layer, (L.LayerNormalization, L.UnitNormalization)):
        return (_reduce_same(layer.axis, out, _one(sources)),)
    if isinstance(layer, L.GroupNormalization):  # statistics over every spatial axis
        src = _one(sources)
        return (_reduce_same(src.spatial_axes, out, src),)
    rms = getattr(L, "RMSNormalization", None)
    if rms is not None and isinstance(layer, rms):
        return (_reduce_same(layer.axis, out, _one(sources)),)
    if isinstance(layer, _POINTWISE_LAYERS):
        return _broadcast(out, sources)
    if isinstance(layer, L.Dense):
        return (_last_axis(out, _one(sources)),)
    if isinstance(layer, L.EinsumDense):
        return (_einsum(layer.equation, out, _one(sources)),)
    if isinstance(layer, (L.Flatten, L.Reshape)):
        return (_reshape(out, _one(sources)),)
    if entry.template is not None:
        return _traced_maps(entry, out, sources)
    raise _Unknown(f"fmwidget has no rule for {name} layers")


def _one(sources: list[Spec]) -> Spec:
    if len(sources) != 1:
        raise _Unknown(f"expected one input, it has {len(sources)}")
    return sources[0]


def _tuple(value: Any, rank: int) -> tuple[int, ...]:
    if isinstance(value, int):
        return (value,) * rank
    return tuple(int(v) for v in value)


def _pairs(value: Any, rank: int) -> list[tuple[int, int]]:
    if isinstance(value, int):
        return [(value, value)] * rank
    out = []
    for v in value:
        out.append((v, v) if isinstance(v, int) else (int(v[0]), int(v[1])))
    return out


def _same_rank(out: Spec, src: Spec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if out.spatial is None or src.spatial is None or len(out.spatial) != len(src.spatial):
        raise _Unknown(f"its input has spatial shape {src.spatial}, its output {out.spatial}")
    return out.spatial, src.spatial


def _single_maps(layer: Any, kind: str, out: Spec, src: Spec) -> tuple[AxisMap, ...]:
    """Convolution, pooling, transposed convolution, padding, cropping, upsampling."""
    out_sp, in_sp = _same_rank(out, src)
    rank = len(out_sp)
    if kind in _WINDOWS:
        kernel = _tuple(getattr(layer, "kernel_size", None) or layer.pool_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        same = layer.padding.lower() == "same"
        return tuple(
            AxisMap(
                "window",
                kernel[a],
                strides[a],
                dilation[a],
                -same_padding(in_sp[a], kernel[a], strides[a], dilation[a]) if same else 0,
            )
            for a in range(rank)
        )
    if kind == "conv_transpose":
        kernel = _tuple(layer.kernel_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(layer.dilation_rate, rank)
        axes = []
        for a in range(rank):
            # Output length before cropping by padding, then the crop Keras applies.
            effective = (kernel[a] - 1) * dilation[a] + 1
            full = (in_sp[a] - 1) * strides[a] + effective
            extra = full - out_sp[a]
            pad = max(extra, 0) // 2 if layer.padding.lower() == "same" else 0
            axes.append(AxisMap("transpose", kernel[a], strides[a], dilation[a], -pad))
        return tuple(axes)
    if kind == "padding":
        return tuple(AxisMap(offset=-before) for before, _ in _pairs(layer.padding, rank))
    if kind == "cropping":
        return tuple(AxisMap(offset=before) for before, _ in _pairs(layer.cropping, rank))
    if getattr(layer, "interpolation", "nearest") != "nearest":
        raise _Unknown(
            f"{layer.interpolation} interpolation mixes neighbours with weights that can be 0"
        )
    return tuple(AxisMap("upsample", stride=s) for s in _tuple(getattr(layer, "size", 1), rank))


def _broadcast(out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    """Element-wise with NumPy broadcasting: size-1 spatial axes are read by every cell."""
    if out.spatial is None:
        return (None,) * len(sources)
    maps: list[InputMap] = []
    for src in sources:
        if src.spatial is None:
            maps.append(None)  # a vector broadcast over the map: every cell reads it all
            continue
        shift = len(out.shape) - len(src.shape)
        aligned = [q + shift for q in src.spatial_axes]
        if aligned != out.spatial_axes:
            raise _Unknown(
                f"its input of shape {src.shape} does not line up with its output of shape "
                f"{out.shape} along the spatial axes"
            )
        axes = []
        for n_out, n_in in zip(out.spatial, src.spatial, strict=True):
            if n_in == n_out:
                axes.append(IDENTITY)
            elif n_in == 1:
                axes.append(ALL)
            else:
                raise _Unknown(f"it broadcasts {src.shape} to {out.shape}")
        maps.append(tuple(axes))
    return tuple(maps)


def _axes_set(axis: Any, full_rank: int) -> set[int]:
    """Normalised full-shape axis indices (``None`` means every axis)."""
    if axis is None:
        return set(range(full_rank))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return {int(a) % full_rank for a in axes}


def _reduce_same(axis: Any, out: Spec, src: Spec) -> InputMap:
    """A same-shape layer whose every cell reads the whole map along ``axis``."""
    if out.shape != src.shape:
        raise _Unknown(f"it changes the shape {src.shape} to {out.shape}")
    if src.spatial is None:
        return None
    reduced = _axes_set(axis, len(src.shape) + 1)
    if 0 in reduced:
        raise _Unknown("it reduces over the batch axis")
    return tuple(ALL if a in reduced else IDENTITY for a in src.spatial_axes)


def _reduce(axis: Any, keepdims: bool, out: Spec, src: Spec) -> InputMap:
    """``keras.ops.mean`` and friends."""
    if src.spatial is None:
        return None
    reduced = _axes_set(axis, len(src.shape) + 1)
    if 0 in reduced:
        raise _Unknown("it reduces over the batch axis")
    if keepdims:
        return tuple(ALL if a in reduced else IDENTITY for a in src.spatial_axes)
    if out.spatial is None and set(src.spatial_axes) <= reduced:
        return None  # every spatial axis reduced away: a vector that reads the whole map
    raise _Unknown("it drops axes (keepdims=False) and leaves a map behind")


def _last_axis(out: Spec, src: Spec) -> InputMap:
    """Dense: mixes the last axis, which is the channel axis only in ``channels_last``."""
    if src.spatial is None or out.spatial is None:
        return None
    axes = src.spatial_axes
    if len(out.shape) != len(src.shape):
        raise _Unknown(f"it changes the rank of {src.shape}")
    full_last = len(src.shape)
    return tuple(ALL if a == full_last else IDENTITY for a in axes)


def _einsum(equation: str, out: Spec, src: Spec) -> InputMap:
    """EinsumDense that only mixes the last axis of a ``channels_last`` map."""
    lhs, rhs = equation.replace(" ", "").split("->")
    inp = lhs.split(",")[0]
    if inp[:-1] == rhs[:-1] and len(inp) == len(rhs) and src.spatial_axes[-1:] != [len(src.shape)]:
        return _last_axis(out, src)
    raise _Unknown(f"its equation {equation!r} mixes more than the channel axis")


def _reshape(out: Spec, src: Spec) -> InputMap:
    if out.spatial is None or src.spatial is None:
        return None  # to or from a vector: every cell (or the vector) reads all of it
    if out.shape == src.shape:
        return (IDENTITY,) * len(out.spatial)
    raise _Unknown(f"it reshapes {src.shape} to {out.shape}")


def _concat_maps(entry: Entry, axis: int, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    if out.spatial is None:
        return (None,) * len(sources)
    full = len(out.shape) + 1
    a = int(axis) % full
    if a == 0:
        raise _Unknown("it concatenates along the batch axis")
    spatial = out.spatial_axes
    if a not in spatial:  # along channels: cell (r, c) of the output is (r, c) of each
        for src in sources:
            if src.spatial != out.spatial:
                raise _Unknown(f"it joins maps of shapes {src.spatial} and {out.spatial}")
        return tuple((IDENTITY,) * len(out.spatial) for _ in sources)
    offsets: dict[int, int] = {}
    offset = 0
    for src_index, shape in zip(entry.arg_sources, entry.arg_shapes, strict=True):
        if src_index is not None:
            if src_index in offsets:
                raise _Unknown("it concatenates one map with itself along a spatial axis")
            offsets[src_index] = offset
        offset += shape[a]
    k_axis = spatial.index(a)
    return tuple(
        tuple(AxisMap(offset=-offsets[s]) if k == k_axis else IDENTITY for k in range(len(spatial)))
        for s in entry.inputs
    )


def _op_maps(entry: Entry, name: str, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    op = entry.layer
    if name in _ELEMENTWISE_OPS:
        return _broadcast(out, sources)
    if name == "Concatenate":
        return _concat_maps(entry, op.axis, out, sources)
    if name in _AXIS_OPS:
        return (_reduce_same(getattr(op, "axis", -1), out, _one(sources)),)
    if name in _REDUCE_OPS:
        axis = getattr(op, "axis", None)
        return (_reduce(axis, bool(getattr(op, "keepdims", False)), out, _one(sources)),)
    if name == "Reshape":
        return (_reshape(out, _one(sources)),)
    if name == "GetItem":
        return (_getitem(entry, out, _one(sources)),)
    raise _Unknown(f"fmwidget has no rule for the operation {name}")


def _getitem(entry: Entry, out: Spec, src: Spec) -> InputMap:
    """``x[...]`` with slices only (steps > 0): windows of size 1 with an offset and stride."""
    args, _ = entry.template
    key = args[1] if len(args) > 1 else None
    key = key if isinstance(key, tuple) else (key,)
    full = (0, *src.shape)  # the batch length does not matter for slices
    if sum(k is Ellipsis for k in key) > 1:
        raise _Unknown("its index has several Ellipsis")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(full) - len(key) + 1) + key[at + 1 :]
    key = key + (slice(None),) * (len(full) - len(key))
    if len(key) != len(full) or not all(isinstance(k, slice) for k in key):
        raise _Unknown("only slices (no integers, None, arrays or tensors) are traced")
    if key[0] != slice(None):
        raise _Unknown("it slices the batch axis")
    if src.spatial is None or out.spatial is None:
        raise _Unknown("it slices a vector")
    axes = []
    for a in src.spatial_axes:
        start, _, step = key[a].indices(full[a])
        if step <= 0:
            raise _Unknown("it slices with a negative step")
        axes.append(AxisMap("window", 1, step, 1, start))
    return tuple(axes)


# -- custom layers: trace their call ------------------------------------------------------------
def _traced_maps(entry: Entry, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    """Trace ``layer.call`` on symbolic inputs; element-wise all the way means element-wise."""
    layer = entry.layer
    name = type(layer).__name__
    args, kwargs = entry.template
    symbolic = [
        keras.KerasTensor((None, *shape[1:]), dtype="float32") for shape in entry.arg_shapes
    ]

    def fill(item: Any) -> Any:
        if isinstance(item, Slot):
            if item.index >= len(symbolic):
                raise _Unknown(f"its call takes a tensor keyword argument ({name})")
            return symbolic[item.index]
        if isinstance(item, (list, tuple)):
            return type(item)(fill(v) for v in item)
        if isinstance(item, dict):
            return {k: fill(v) for k, v in item.items()}
        return item

    call_kwargs = {k: v for k, v in fill(kwargs).items() if k not in ("training", "mask")}
    try:
        if "training" in inspect.signature(layer.call).parameters:
            call_kwargs["training"] = False
        result = layer.call(*fill(args), **call_kwargs)
    except _Unknown:
        raise
    except Exception as err:
        raise _Unknown(
            f"its call could not be traced symbolically ({type(err).__name__})"
        ) from None
    blocker = _non_elementwise(keras.tree.flatten(result), symbolic)
    if blocker is not None:
        raise _Unknown(f"its call uses {blocker}, which fmwidget does not trace through")
    return _broadcast(out, sources)


def _non_elementwise(outputs: list[Any], inputs: list[Any]) -> str | None:
    """The first operation between ``inputs`` and ``outputs`` that is not element-wise."""
    start = {id(t) for t in inputs}
    stack = list(outputs)
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        if id(t) in start or id(t) in seen:
            continue
        seen.add(id(t))
        history = getattr(t, "_keras_history", None)
        if history is None:
            return "a tensor made outside keras.ops"
        op = history[0]
        if isinstance(op, L.Layer):
            if not isinstance(op, _POINTWISE_LAYERS):
                return f"the layer {type(op).__name__}"
        elif type(op).__name__ not in _ELEMENTWISE_OPS:
            return f"keras.ops {type(op).__name__}"
        stack.extend(op._inbound_nodes[history[1]].arguments.keras_tensors)
    return None
