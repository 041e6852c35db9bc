"""Shape rules shared by layers and operations: how an output's spatial axes read its inputs'.

A :class:`Spec` is one tensor as geometry sees it; each rule returns, per input, one
:class:`~fmwidget.geometry.AxisMap` per spatial axis (an ``InputMap``), or raises
:class:`UnknownGeometry` saying why the geometry is not known. Used by
:mod:`fmwidget.layer_geometry` (Keras layers) and :mod:`fmwidget.op_geometry` (operations).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .geometry import ALL, IDENTITY, AxisMap, InputMap
from .introspect import Entry


class UnknownGeometry(Exception):
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


def spatial_shape(shape: tuple[int, ...], data_format: str) -> tuple[int, ...] | None:
    """Spatial part of a per-sample shape (no batch axis), or None for vectors."""
    if len(shape) < 2:
        return None
    return tuple(shape[1:]) if data_format == "channels_first" else tuple(shape[:-1])


def one_input(sources: list[Spec]) -> Spec:
    if len(sources) != 1:
        raise UnknownGeometry(f"expected one input, it has {len(sources)}")
    return sources[0]


def broadcast(out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
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
            raise UnknownGeometry(
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
                raise UnknownGeometry(f"it broadcasts {src.shape} to {out.shape}")
        maps.append(tuple(axes))
    return tuple(maps)


def _axes_set(axis: Any, full_rank: int) -> set[int]:
    """Normalised full-shape axis indices (``None`` means every axis)."""
    if axis is None:
        return set(range(full_rank))
    axes = [axis] if isinstance(axis, int) else list(axis)
    return {int(a) % full_rank for a in axes}


def reduce_same(axis: Any, out: Spec, src: Spec) -> InputMap:
    """A same-shape layer whose every cell reads the whole map along ``axis``."""
    if out.shape != src.shape:
        raise UnknownGeometry(f"it changes the shape {src.shape} to {out.shape}")
    if src.spatial is None:
        return None
    reduced = _axes_set(axis, len(src.shape) + 1)
    if 0 in reduced:
        raise UnknownGeometry("it reduces over the batch axis")
    return tuple(ALL if a in reduced else IDENTITY for a in src.spatial_axes)


def reduce(axis: Any, keepdims: bool, out: Spec, src: Spec) -> InputMap:
    """``keras.ops.mean`` and friends."""
    if src.spatial is None:
        return None
    reduced = _axes_set(axis, len(src.shape) + 1)
    if 0 in reduced:
        raise UnknownGeometry("it reduces over the batch axis")
    if keepdims:
        return tuple(ALL if a in reduced else IDENTITY for a in src.spatial_axes)
    if out.spatial is None and set(src.spatial_axes) <= reduced:
        return None  # every spatial axis reduced away: a vector that reads the whole map
    raise UnknownGeometry("it drops axes (keepdims=False) and leaves a map behind")


def last_axis(out: Spec, src: Spec) -> InputMap:
    """Dense: mixes the last axis, which is the channel axis only in ``channels_last``."""
    if src.spatial is None or out.spatial is None:
        return None
    axes = src.spatial_axes
    if len(out.shape) != len(src.shape):
        raise UnknownGeometry(f"it changes the rank of {src.shape}")
    full_last = len(src.shape)
    return tuple(ALL if a == full_last else IDENTITY for a in axes)


def einsum(equation: str, out: Spec, src: Spec) -> InputMap:
    """EinsumDense that only mixes the last axis of a ``channels_last`` map."""
    lhs, rhs = equation.replace(" ", "").split("->")
    inp = lhs.split(",")[0]
    if inp[:-1] == rhs[:-1] and len(inp) == len(rhs) and src.spatial_axes[-1:] != [len(src.shape)]:
        return last_axis(out, src)
    raise UnknownGeometry(f"its equation {equation!r} mixes more than the channel axis")


def reshape(out: Spec, src: Spec) -> InputMap:
    if out.spatial is None or src.spatial is None:
        return None  # to or from a vector: every cell (or the vector) reads all of it
    if out.shape == src.shape:
        return (IDENTITY,) * len(out.spatial)
    raise UnknownGeometry(f"it reshapes {src.shape} to {out.shape}")


def concat_maps(entry: Entry, axis: int, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    if out.spatial is None:
        return (None,) * len(sources)
    full = len(out.shape) + 1
    a = int(axis) % full
    if a == 0:
        raise UnknownGeometry("it concatenates along the batch axis")
    spatial = out.spatial_axes
    if a not in spatial:  # along channels: cell (r, c) of the output is (r, c) of each
        for src in sources:
            if src.spatial != out.spatial:
                raise UnknownGeometry(f"it joins maps of shapes {src.spatial} and {out.spatial}")
        return tuple((IDENTITY,) * len(out.spatial) for _ in sources)
    offsets: dict[int, int] = {}
    offset = 0
    for src_index, shape in zip(entry.arg_sources, entry.arg_shapes, strict=True):
        if src_index is not None:
            if src_index in offsets:
                raise UnknownGeometry("it concatenates one map with itself along a spatial axis")
            offsets[src_index] = offset
        offset += shape[a]
    k_axis = spatial.index(a)
    return tuple(
        tuple(AxisMap(offset=-offsets[s]) if k == k_axis else IDENTITY for k in range(len(spatial)))
        for s in entry.inputs
    )
