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

Keras layers are handled here; the rules layers and operations share live in
:mod:`fmwidget.axis_rules`, operations and traced custom layers in :mod:`fmwidget.op_geometry`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras

from .axis_rules import (
    Spec,
    UnknownGeometry,
    broadcast,
    concat_maps,
    einsum,
    last_axis,
    one_input,
    reduce_same,
    reshape,
)
from .geometry import ALL, AxisMap, InputMap, Node, same_padding, unknown_node
from .introspect import Entry
from .kinds import POINTWISE_LAYERS, is_op, layer_kind
from .op_geometry import op_maps, traced_maps

L = keras.layers


_WINDOWS = ("conv", "depthwise_conv", "separable_conv", "pooling")
_UPSAMPLING = (L.UpSampling1D, L.UpSampling2D, L.UpSampling3D)
_SOFTMAX_ACTIVATIONS = ("softmax", "log_softmax")


def data_format_of(layer: Any) -> str:
    """``channels_last`` or ``channels_first`` for ``layer`` (Keras's default if unset)."""
    fmt = getattr(layer, "data_format", None)
    return fmt if fmt in ("channels_last", "channels_first") else keras.config.image_data_format()


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
    except UnknownGeometry as why:
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
        return op_maps(entry, name, out, sources)
    if (
        kind in _WINDOWS
        or kind in ("conv_transpose", "padding", "cropping")
        or isinstance(layer, _UPSAMPLING)
    ):
        return (_single_maps(layer, kind, out, one_input(sources)),)
    if kind == "global_pooling":
        return (None if out.spatial is None else (ALL,) * len(out.spatial),)
    if isinstance(layer, L.Concatenate):
        return concat_maps(entry, layer.axis, out, sources)
    if isinstance(layer, L.Softmax):
        return (reduce_same(layer.axis, out, one_input(sources)),)
    if isinstance(layer, L.Activation):
        act = getattr(layer.activation, "__name__", "")
        if act in _SOFTMAX_ACTIVATIONS:
            return (reduce_same(-1, out, one_input(sources)),)
        return broadcast(out, sources)
    if isinstance(layer, (L.LayerNormalization, L.UnitNormalization)):
        return (reduce_same(layer.axis, out, one_input(sources)),)
    if isinstance(layer, L.GroupNormalization):  # statistics over every spatial axis
        src = one_input(sources)
        return (reduce_same(src.spatial_axes, out, src),)
    rms = getattr(L, "RMSNormalization", None)
    if rms is not None and isinstance(layer, rms):
        return (reduce_same(layer.axis, out, one_input(sources)),)
    if isinstance(layer, POINTWISE_LAYERS):
        return broadcast(out, sources)
    if isinstance(layer, L.Dense):
        return (last_axis(out, one_input(sources)),)
    if isinstance(layer, L.EinsumDense):
        return (einsum(layer.equation, out, one_input(sources)),)
    if isinstance(layer, (L.Flatten, L.Reshape)):
        return (reshape(out, one_input(sources)),)
    if entry.template is not None:
        return traced_maps(entry, out, sources)
    raise UnknownGeometry(f"fmwidget has no rule for {name} layers")


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
        raise UnknownGeometry(
            f"its input has spatial shape {src.spatial}, its output {out.spatial}"
        )
    return out.spatial, src.spatial


def _padding_before(padding: str, n_in: int, kernel: int, stride: int, dilation: int) -> int:
    """Padding cells Keras puts before index 0 of an axis: ``same`` splits the padding (the
    extra cell after), ``causal`` (Conv1D) puts all of it before, ``valid`` none."""
    if padding == "same":
        return same_padding(n_in, kernel, stride, dilation)
    if padding == "causal":
        return dilation * (kernel - 1)
    return 0


def _single_maps(layer: Any, kind: str, out: Spec, src: Spec) -> tuple[AxisMap, ...]:
    """Convolution, pooling, transposed convolution, padding, cropping, upsampling."""
    out_sp, in_sp = _same_rank(out, src)
    rank = len(out_sp)
    if kind in _WINDOWS:
        kernel = _tuple(getattr(layer, "kernel_size", None) or layer.pool_size, rank)
        strides = _tuple(layer.strides, rank)
        dilation = _tuple(getattr(layer, "dilation_rate", 1), rank)
        padding = layer.padding.lower()
        return tuple(
            AxisMap(
                "window",
                kernel[a],
                strides[a],
                dilation[a],
                -_padding_before(padding, in_sp[a], kernel[a], strides[a], dilation[a]),
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
        raise UnknownGeometry(
            f"{layer.interpolation} interpolation mixes neighbours with weights that can be 0"
        )
    return tuple(AxisMap("upsample", stride=s) for s in _tuple(getattr(layer, "size", 1), rank))
