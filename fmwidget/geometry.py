"""Spatial geometry of feature maps: which input cells each output cell reads.

Pure arithmetic on integers and boolean masks: no Keras import. Every layer that has
a known spatial behaviour is described per spatial axis by an :class:`AxisMap`; from it
we build, per axis, a boolean *relation* matrix ``R[o, i]`` that is true when output
cell ``o`` reads input cell ``i`` (padding cells are not input cells, so windows are
clipped to the map). Receptive and projective fields are then exact boolean masks,
propagated through the layer graph one axis at a time (:class:`fmwidget.field_graph.FieldGraph`);
their bounding boxes are the slices the public API returns.

Conventions follow Keras (and TensorFlow's ``same`` padding, which every Keras 3
backend reproduces): for ``same`` padding the total padding is
``max((ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)`` and the smaller half goes
before the map.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

AxisKind = Literal["window", "transpose", "upsample", "all"]


class GeometryError(ValueError):
    """The spatial mapping of some layer on the requested path is not known."""


class NotSeparableError(GeometryError):
    """A layer's fields are exact but not one interval table per axis (ask per cell)."""


def same_padding(n_in: int, kernel: int, stride: int, dilation: int = 1) -> int:
    """Cells of padding placed before the map by ``padding="same"``.

    Args:
        n_in: Length of the input axis.
        kernel: Kernel (or pool) size along the axis.
        stride: Stride along the axis.
        dilation: Dilation rate along the axis.

    Returns:
        The number of padding cells before index 0.
    """
    n_out = -(-n_in // stride)
    effective = (kernel - 1) * dilation + 1
    total = max((n_out - 1) * stride + effective - n_in, 0)
    return total // 2


def conv_output_length(n_in: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length of a convolution or pooling axis, as Keras computes it."""
    if padding == "same":
        return -(-n_in // stride)
    effective = (kernel - 1) * dilation + 1
    return max((n_in - effective) // stride + 1, 0)


@dataclass(frozen=True)
class AxisMap:
    """How one spatial axis of a layer's output reads the same axis of one of its inputs.

    * ``window``: output ``o`` reads inputs ``o * stride + offset + j * dilation`` for
      ``j`` in ``range(kernel)`` (convolution, pooling; padding, cropping and slicing are
      windows of size 1 with an offset or a stride; element-wise layers are the identity
      window).
    * ``transpose``: input ``i`` writes outputs ``i * stride + offset + j * dilation``
      (transposed convolution).
    * ``upsample``: output ``o`` reads input ``o // stride`` (nearest upsampling).
    * ``all``: every output reads every input along this axis (a size-1 axis broadcast
      over the map, statistics over the axis, a global pool that keeps its dims).
    """

    kind: AxisKind = "window"
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    offset: int = 0

    def relation(self, n_out: int, n_in: int) -> np.ndarray:
        """Boolean matrix ``R`` of shape ``(n_out, n_in)``: ``R[o, i]`` when ``o`` reads ``i``."""
        if self.kind == "all":
            return np.ones((n_out, n_in), dtype=bool)
        rel = np.zeros((n_out, n_in), dtype=bool)
        taps = np.arange(self.kernel) * self.dilation
        if self.kind == "upsample":
            o = np.arange(n_out)
            i = o // self.stride
            ok = i < n_in
            rel[o[ok], i[ok]] = True
            return rel
        if self.kind == "window":
            o = np.repeat(np.arange(n_out), self.kernel)
            i = (np.arange(n_out)[:, None] * self.stride + self.offset + taps[None, :]).ravel()
        else:  # transpose: input i writes to i * stride + offset + tap
            i = np.repeat(np.arange(n_in), self.kernel)
            o = (np.arange(n_in)[:, None] * self.stride + self.offset + taps[None, :]).ravel()
        ok = (o >= 0) & (o < n_out) & (i >= 0) & (i < n_in)
        rel[o[ok], i[ok]] = True
        return rel


IDENTITY = AxisMap()
ALL = AxisMap("all")

#: Per-input reading of a :class:`Node`: one :class:`AxisMap` per spatial axis, or None when
#: every output cell reads the whole input (a vector input, or a vector output).
InputMap = tuple[AxisMap, ...] | None


@dataclass(frozen=True)
class Node:
    """One entry of the layer graph, as geometry sees it.

    Attributes:
        inputs: Indices of the entries feeding this one (earlier in the list, each once).
        spatial_shape: Spatial output shape (e.g. ``(rows, cols)``), or ``None`` when the
            output has no spatial axes (dense, flatten, global pooling).
        maps: One :data:`InputMap` per entry of ``inputs``.
        known: ``False`` when the layer's spatial mapping is unknown.
        label: Human-readable name used in error messages.
        reason: Why the mapping is unknown (shown in the error).
    """

    inputs: tuple[int, ...]
    spatial_shape: tuple[int, ...] | None
    maps: tuple[InputMap, ...] = ()
    known: bool = True
    label: str = ""
    reason: str = ""


def unknown_node(
    inputs: tuple[int, ...], spatial_shape: tuple[int, ...] | None, label: str, reason: str
) -> Node:
    """A node whose spatial mapping is not known (tracing through it raises)."""
    return Node(inputs, spatial_shape, (None,) * len(inputs), False, label, reason)


def bounding_slices(mask: np.ndarray) -> tuple[slice, ...]:
    """Half-open bounding box of the true cells of ``mask``, one slice per axis.

    An empty mask gives empty slices ``slice(0, 0)``.
    """
    out = []
    for axis in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != axis)
        hits = np.flatnonzero(mask.any(axis=other) if other else mask)
        out.append(slice(int(hits[0]), int(hits[-1]) + 1) if hits.size else slice(0, 0))
    return tuple(out)


def point_mask(shape: Sequence[int], position: Sequence[int]) -> np.ndarray:
    """A boolean mask over ``shape`` with one true cell at ``position``."""
    mask = np.zeros(tuple(shape), dtype=bool)
    mask[tuple(position)] = True
    return mask
