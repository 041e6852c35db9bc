"""Spatial geometry of feature maps: which input cells each output cell reads.

Pure arithmetic on integers and boolean masks: no Keras import. Every layer that has
a known spatial behaviour is described per spatial axis by an :class:`AxisMap`; from it
we build, per axis, a boolean *relation* matrix ``R[o, i]`` that is true when output
cell ``o`` reads input cell ``i`` (padding cells are not input cells, so windows are
clipped to the map). Receptive and projective fields are then exact boolean masks,
propagated through the layer graph one axis at a time; their bounding boxes are the
slices the public API returns.

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

AxisKind = Literal["window", "transpose", "upsample"]


class GeometryError(ValueError):
    """The spatial mapping of some layer on the requested path is not known."""


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
    """How one spatial axis of a layer's output reads the same axis of its input.

    * ``window``: output ``o`` reads inputs ``o * stride + offset + j * dilation`` for
      ``j`` in ``range(kernel)`` (convolution, pooling; padding and cropping are windows
      of size 1 with an offset; element-wise layers are the identity window).
    * ``transpose``: input ``i`` writes outputs ``i * stride + offset + j * dilation``
      (transposed convolution).
    * ``upsample``: output ``o`` reads input ``o // stride`` (nearest upsampling).
    """

    kind: AxisKind = "window"
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    offset: int = 0

    def relation(self, n_out: int, n_in: int) -> np.ndarray:
        """Boolean matrix ``R`` of shape ``(n_out, n_in)``: ``R[o, i]`` when ``o`` reads ``i``."""
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


@dataclass(frozen=True)
class Node:
    """One entry of the layer graph, as geometry sees it.

    Attributes:
        inputs: Indices of the entries feeding this one (earlier in the list).
        spatial_shape: Spatial output shape (e.g. ``(rows, cols)``), or ``None`` when the
            output has no spatial axes (dense, flatten, global pooling).
        axes: One :class:`AxisMap` per spatial axis; ``None`` when every output reads all
            of its inputs (global pooling, flatten, dense on a vector); ignored for
            non-spatial outputs.
        known: ``False`` when the layer's spatial mapping is unknown.
        label: Human-readable name used in error messages.
    """

    inputs: tuple[int, ...]
    spatial_shape: tuple[int, ...] | None
    axes: tuple[AxisMap, ...] | None = None
    known: bool = True
    label: str = ""


class Graph:
    """Receptive and projective fields over a list of :class:`Node` in forward order.

    Entry 0 is the network input. Relation matrices are built once per entry and axis.
    """

    def __init__(self, nodes: Sequence[Node]):
        self.nodes = list(nodes)
        self._relations: dict[tuple[int, int, int], np.ndarray] = {}

    # -- per-layer relations -------------------------------------------------------------
    def relation(self, index: int, source: int, axis: int) -> np.ndarray:
        """Relation matrix of entry ``index`` along ``axis`` against its input ``source``."""
        key = (index, source, axis)
        rel = self._relations.get(key)
        if rel is None:
            node = self.nodes[index]
            src = self.nodes[source]
            assert node.axes is not None and node.spatial_shape and src.spatial_shape
            rel = node.axes[axis].relation(node.spatial_shape[axis], src.spatial_shape[axis])
            self._relations[key] = rel
        return rel

    def _check_known(self, index: int) -> None:
        node = self.nodes[index]
        if not node.known:
            raise GeometryError(
                f"Cannot trace through {node.label}: its spatial mapping is unknown "
                "(fmwidget knows convolution, pooling, padding, cropping, upsampling and "
                "element-wise layers; a tensor computed outside any layer breaks the trace)."
            )

    def _check(self, index: int, source: int) -> None:
        self._check_known(index)
        node, src = self.nodes[index], self.nodes[source]
        if node.spatial_shape is None:
            return
        if src.spatial_shape is None:
            raise GeometryError(
                f"Cannot trace through {node.label}: it makes a spatial map out of "
                f"{src.label}, which has none."
            )
        if node.axes is None or len(src.spatial_shape) != len(node.spatial_shape):
            raise GeometryError(
                f"Cannot trace through {node.label}: its spatial rank differs from "
                f"that of its input {src.label}."
            )

    def _back(self, index: int, source: int, mask: np.ndarray) -> np.ndarray:
        """Cells of ``source`` read by the cells of ``mask`` (over entry ``index``)."""
        self._check(index, source)
        node, src = self.nodes[index], self.nodes[source]
        if node.spatial_shape is None:
            if src.spatial_shape is None:
                return np.array(bool(mask.any()))
            return np.full(src.spatial_shape, bool(mask.any()))
        out = mask
        for axis in range(len(node.spatial_shape)):
            out = _apply(self.relation(index, source, axis), out, axis, transpose=True)
        return out

    def _forward(self, index: int, source: int, mask: np.ndarray) -> np.ndarray:
        """Cells of entry ``index`` that read any cell of ``mask`` (over ``source``)."""
        self._check(index, source)
        node = self.nodes[index]
        if node.spatial_shape is None:
            return np.array(bool(mask.any()))
        out = mask
        for axis in range(len(node.spatial_shape)):
            out = _apply(self.relation(index, source, axis), out, axis, transpose=False)
        return out

    def _ancestors(self, target: int) -> set[int]:
        seen = {target}
        stack = [target]
        while stack:
            for src in self.nodes[stack.pop()].inputs:
                if src not in seen:
                    seen.add(src)
                    stack.append(src)
        return seen

    # -- public ----------------------------------------------------------------------------
    def receptive_mask(self, target: int, mask: np.ndarray) -> np.ndarray:
        """Input cells (entry 0) that can influence any cell of ``mask`` over ``target``."""
        need: dict[int, np.ndarray] = {target: mask}
        for index in range(target, 0, -1):
            m = need.pop(index, None)
            if m is None or not m.any():
                continue
            self._check_known(index)
            for src in self.nodes[index].inputs:
                contrib = self._back(index, src, m)
                need[src] = contrib if src not in need else (need[src] | contrib)
        shape = self.nodes[0].spatial_shape or ()
        return need.get(0, np.zeros(shape, dtype=bool))

    def axis_intervals(self, target: int, axis: int) -> np.ndarray:
        """Receptive-field bounding interval on one input axis for every index of ``target``.

        The bounding box of a cell's receptive field is the product of its per-axis
        intervals (the box of a union of boxes is the product of the per-axis boxes).

        Returns:
            ``(n, 2)`` int array of half-open ``[start, stop)``; ``[0, 0)`` when the cell
            reads no input pixel (e.g. a cell of zero padding).
        """
        node = self.nodes[target]
        assert node.spatial_shape is not None
        need: dict[int, np.ndarray] = {target: np.eye(node.spatial_shape[axis], dtype=bool)}
        for index in range(target, 0, -1):
            m = need.pop(index, None)
            if m is None:
                continue
            self._check_known(index)
            for src in self.nodes[index].inputs:
                self._check(index, src)
                rel = self.relation(index, src, axis)
                contrib = (m.astype(np.float32) @ rel.astype(np.float32)) > 0
                need[src] = contrib if src not in need else (need[src] | contrib)
        hits = need.get(0)
        n = node.spatial_shape[axis]
        if hits is None:
            return np.zeros((n, 2), dtype=int)
        any_hit = hits.any(axis=1)
        start = np.where(any_hit, hits.argmax(axis=1), 0)
        stop = np.where(any_hit, hits.shape[1] - hits[:, ::-1].argmax(axis=1), 0)
        return np.stack([start, stop], axis=1)

    def projective_mask(self, target: int, mask: np.ndarray) -> np.ndarray:
        """Cells of ``target`` that read any input cell (entry 0) in ``mask``."""
        wanted = self._ancestors(target)
        reach: dict[int, np.ndarray] = {0: mask}
        for index in sorted(wanted - {0}):
            self._check_known(index)
            acc = None
            for src in self.nodes[index].inputs:
                if src not in reach:
                    continue
                part = self._forward(index, src, reach[src])
                acc = part if acc is None else (acc | part)
            if acc is not None:
                reach[index] = acc
        shape = self.nodes[target].spatial_shape or ()
        return reach.get(target, np.zeros(shape, dtype=bool))

    def window(self, index: int, position: Sequence[int]) -> tuple[np.ndarray, ...]:
        """Per axis, the input indices read by output ``position`` of a one-input layer."""
        node = self.nodes[index]
        (source,) = node.inputs
        self._check(index, source)
        assert node.spatial_shape is not None
        return tuple(
            np.flatnonzero(self.relation(index, source, axis)[p]) for axis, p in enumerate(position)
        )

    def taps(self, index: int, position: Sequence[int]) -> tuple[np.ndarray, ...]:
        """Per axis, the input index under each kernel tap of a window layer (-1: padding)."""
        node = self.nodes[index]
        (source,) = node.inputs
        self._check(index, source)
        src = self.nodes[source]
        assert node.axes is not None and src.spatial_shape is not None
        out = []
        for axis, p in enumerate(position):
            m = node.axes[axis]
            if m.kind != "window":
                raise GeometryError(f"Expected a window layer, received {node.label}.")
            i = p * m.stride + m.offset + np.arange(m.kernel) * m.dilation
            out.append(np.where((i >= 0) & (i < src.spatial_shape[axis]), i, -1))
        return tuple(out)

    def readers(self, index: int, source_position: Sequence[int]) -> np.ndarray:
        """Mask over entry ``index``: the cells that read one cell of its single input."""
        node = self.nodes[index]
        (source,) = node.inputs
        src_shape = self.nodes[source].spatial_shape
        assert src_shape is not None
        return self._forward(index, source, point_mask(src_shape, source_position))


def _apply(rel: np.ndarray, mask: np.ndarray, axis: int, transpose: bool) -> np.ndarray:
    """Propagate a boolean mask along one axis through a relation matrix.

    ``transpose=True`` maps output cells to the input cells they read; ``False`` maps
    input cells to the output cells that read them. Only the rows/columns where the mask
    has true cells take part, so small masks stay cheap on large maps.
    """
    moved = np.moveaxis(mask, axis, 0)
    lead = moved.shape[0]
    flat = moved.reshape(lead, -1)
    live = np.flatnonzero(flat.any(axis=1))
    n_new = rel.shape[1] if transpose else rel.shape[0]
    out = np.zeros((n_new, flat.shape[1]), dtype=bool)
    if live.size:
        part = rel[live, :].T if transpose else rel[:, live]
        out = (part.astype(np.float32) @ flat[live].astype(np.float32)) > 0
    return np.moveaxis(out.reshape((n_new, *moved.shape[1:])), 0, axis)


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
