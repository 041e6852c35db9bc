"""Receptive and projective fields through a whole layer graph, one axis at a time.

:class:`FieldGraph` holds one :class:`~fmwidget.geometry.Node` per captured entry and
propagates boolean masks (and, where the geometry is separable, interval tables) from any
cell back to the network input and forward again. Pure arithmetic: no Keras import.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .geometry import GeometryError, Node, NotSeparableError, point_mask

#: Larger than any coordinate: the neutral element of ``min`` over interval starts.
_FAR = np.iinfo(np.int64).max


class FieldGraph:
    """Receptive and projective fields over a list of :class:`Node` in forward order.

    Entry 0 is the network input. Relation matrices are built once per entry, input and
    axis; receptive-field interval tables once per entry, in one pass over its ancestors.
    """

    def __init__(self, nodes: Sequence[Node]):
        self.nodes = list(nodes)
        self._relations: dict[tuple[int, int, int], np.ndarray] = {}
        self._tables: dict[int, tuple[np.ndarray, ...] | GeometryError] = {}

    # -- per-layer relations -------------------------------------------------------------
    def relation(self, index: int, k: int, axis: int) -> np.ndarray:
        """Relation matrix of entry ``index`` along ``axis`` against its ``k``-th input."""
        key = (index, k, axis)
        rel = self._relations.get(key)
        if rel is None:
            node = self.nodes[index]
            src = self.nodes[node.inputs[k]]
            maps = node.maps[k]
            assert maps is not None and node.spatial_shape and src.spatial_shape
            rel = maps[axis].relation(node.spatial_shape[axis], src.spatial_shape[axis])
            self._relations[key] = rel
        return rel

    def _is_identity(self, index: int) -> bool:
        """Whether entry ``index`` has one input and reads the same cell of it on every axis."""
        node = self.nodes[index]
        if len(node.inputs) != 1 or self._reads_whole(index, 0):
            return False
        src = self.nodes[node.inputs[0]]
        return node.spatial_shape == src.spatial_shape and all(
            m.kind == "window" and (m.kernel, m.stride, m.offset) == (1, 1, 0)
            for m in node.maps[0]  # type: ignore[union-attr]
        )

    def _reads_whole(self, index: int, k: int) -> bool:
        """Whether every cell of entry ``index`` reads all of its ``k``-th input."""
        node = self.nodes[index]
        src = self.nodes[node.inputs[k]]
        return node.maps[k] is None or node.spatial_shape is None or src.spatial_shape is None

    def error(self, index: int, needed_by: int | None = None) -> GeometryError:
        """The error for tracing through the unknown entry ``index``."""
        node = self.nodes[index]
        why = f" ({node.reason})" if node.reason else ""
        via = ""
        if needed_by is not None and needed_by != index:
            via = f" on the way from {self.nodes[needed_by].label}"
        return GeometryError(
            f"Cannot trace through {node.label}{via}: its spatial mapping is unknown{why}."
        )

    def _check_known(self, index: int, needed_by: int | None = None) -> None:
        if not self.nodes[index].known:
            raise self.error(index, needed_by)

    def _back(self, index: int, k: int, mask: np.ndarray) -> np.ndarray:
        """Cells of the ``k``-th input read by the cells of ``mask`` (over entry ``index``)."""
        src = self.nodes[self.nodes[index].inputs[k]]
        if self._reads_whole(index, k):
            return np.full(src.spatial_shape or (), bool(mask.any()))
        out = mask
        for axis in range(mask.ndim):
            out = _apply(self.relation(index, k, axis), out, axis, transpose=True)
        return out

    def _forward(self, index: int, k: int, mask: np.ndarray) -> np.ndarray:
        """Cells of entry ``index`` that read any cell of ``mask`` (over its ``k``-th input)."""
        node = self.nodes[index]
        if self._reads_whole(index, k):
            return np.full(node.spatial_shape or (), bool(mask.any()))
        out = mask
        for axis in range(mask.ndim):
            out = _apply(self.relation(index, k, axis), out, axis, transpose=False)
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
            self._check_known(index, target)
            for k, src in enumerate(self.nodes[index].inputs):
                contrib = self._back(index, k, m)
                need[src] = contrib if src not in need else (need[src] | contrib)
        shape = self.nodes[0].spatial_shape or ()
        return need.get(0, np.zeros(shape, dtype=bool))

    def interval_tables(self, target: int) -> tuple[np.ndarray, ...]:
        """Receptive-field bounding intervals on every input axis for every cell of ``target``.

        The bounding box of a cell's receptive field is the product of its per-axis
        intervals (the box of a union of boxes is the product of the per-axis hulls).
        Tables are computed once per entry, each from its inputs' tables (one pass in
        forward order), so asking for every layer costs one pass over the graph.

        Returns:
            One ``(n, 2)`` int array of half-open ``[start, stop)`` per spatial axis of the
            input (``n`` the length of that axis of ``target``; 1 for a vector entry, its
            hull); ``[0, 0)`` for a cell that reads no input pixel (e.g. zero padding).

        Raises:
            GeometryError: an entry on some path from the input has an unknown mapping.
        """
        pending: set[int] = set()
        stack = [target]
        while stack:  # the ancestors not computed yet (the walk stops at computed ones)
            index = stack.pop()
            if index not in pending and index not in self._tables:
                pending.add(index)
                stack.extend(self.nodes[index].inputs)
        for index in sorted(pending):
            self._tables[index] = self._table(index)
        table = self._tables[target]
        if isinstance(table, GeometryError):
            raise table
        return table

    def _table(self, index: int) -> tuple[np.ndarray, ...] | GeometryError:
        node = self.nodes[index]
        rank = len(self.nodes[0].spatial_shape or ())
        if index == 0:
            return tuple(
                np.stack([np.arange(n), np.arange(n) + 1], axis=1)
                for n in self.nodes[0].spatial_shape or ()
            )
        if not node.known:
            return self.error(index)
        sources = [self._tables[s] for s in node.inputs]
        for table in sources:
            if isinstance(table, GeometryError):
                return table
        if node.spatial_shape is not None and len(node.spatial_shape) != rank:
            return GeometryError(
                f"Cannot trace through {node.label}: it has {len(node.spatial_shape)} "
                f"spatial axes where the input has {rank}."
            )
        if self._is_identity(index):  # element-wise (activations, normalization): same fields
            return sources[0]  # type: ignore[return-value]
        # Per input and axis: the hull each output index reads along that axis.
        parts: list[list[tuple[np.ndarray, np.ndarray]]] = []
        for k, table in enumerate(sources):
            per_axis = []
            for axis in range(rank):
                n = node.spatial_shape[axis] if node.spatial_shape is not None else 1
                tab = table[axis]  # type: ignore[index]
                live = tab[:, 1] > tab[:, 0]
                if self._reads_whole(index, k):
                    lo = tab[live, 0].min() if live.any() else _FAR
                    hi = tab[live, 1].max() if live.any() else -1
                    per_axis.append((np.full(n, lo, np.int64), np.full(n, hi, np.int64)))
                    continue
                amap = node.maps[k][axis]  # type: ignore[index]
                if amap.kind == "window":  # the taps alone: no relation matrix
                    o = np.arange(n)[:, None] * amap.stride + amap.offset
                    i = o + np.arange(amap.kernel)[None, :] * amap.dilation
                    ok = (i >= 0) & (i < len(tab))
                    i = np.where(ok, i, 0)
                    ok &= live[i]
                    per_axis.append(
                        (
                            np.where(ok, tab[i, 0], _FAR).min(axis=1),
                            np.where(ok, tab[i, 1], -1).max(axis=1),
                        )
                    )
                    continue
                rel = self.relation(index, k, axis) & live[None, :]
                per_axis.append(
                    (
                        np.where(rel, tab[None, :, 0], _FAR).min(axis=1),
                        np.where(rel, tab[None, :, 1], -1).max(axis=1),
                    )
                )
            parts.append(per_axis)
        out = []
        for axis in range(rank):
            start = np.minimum.reduce([p[axis][0] for p in parts]) if parts else None
            stop = np.maximum.reduce([p[axis][1] for p in parts]) if parts else None
            if start is None or stop is None:
                n = node.spatial_shape[axis] if node.spatial_shape is not None else 1
                start, stop = np.full(n, _FAR, np.int64), np.full(n, -1, np.int64)
            empty = stop < 0
            out.append(np.stack([np.where(empty, 0, start), np.where(empty, 0, stop)], axis=1))
        if len(parts) > 1 and not _separable(parts, out):
            return NotSeparableError(
                f"The receptive fields of {node.label} are exact but not one interval per "
                "row and per column (it joins inputs that each reach only part of the map); "
                "ask receptive_field(name, cell) for each cell."
            )
        return tuple(out)

    def axis_intervals(self, target: int, axis: int) -> np.ndarray:
        """:meth:`interval_tables` of ``target`` along one axis."""
        return self.interval_tables(target)[axis]

    def projective_mask(self, target: int, mask: np.ndarray) -> np.ndarray:
        """Cells of ``target`` that read any input cell (entry 0) in ``mask``."""
        wanted = self._ancestors(target)
        reach: dict[int, np.ndarray] = {0: mask}
        for index in sorted(wanted - {0}):
            self._check_known(index, target)
            acc = None
            for k, src in enumerate(self.nodes[index].inputs):
                if src not in reach:
                    continue
                part = self._forward(index, k, reach[src])
                acc = part if acc is None else (acc | part)
            if acc is not None:
                reach[index] = acc
        shape = self.nodes[target].spatial_shape or ()
        return reach.get(target, np.zeros(shape, dtype=bool))

    def _window_node(self, index: int) -> tuple[Node, Node]:
        node = self.nodes[index]
        self._check_known(index)
        if len(node.inputs) != 1 or node.maps[0] is None or node.spatial_shape is None:
            raise GeometryError(f"Expected a layer with one spatial input, received {node.label}.")
        return node, self.nodes[node.inputs[0]]

    def window(self, index: int, position: Sequence[int]) -> tuple[np.ndarray, ...]:
        """Per axis, the input indices read by output ``position`` of a one-input layer."""
        self._window_node(index)
        return tuple(
            np.flatnonzero(self.relation(index, 0, axis)[p]) for axis, p in enumerate(position)
        )

    def taps(self, index: int, position: Sequence[int]) -> tuple[np.ndarray, ...]:
        """Per axis, the input index under each kernel tap of a window layer (-1: padding)."""
        node, src = self._window_node(index)
        assert node.maps[0] is not None and src.spatial_shape is not None
        out = []
        for axis, p in enumerate(position):
            m = node.maps[0][axis]
            if m.kind != "window":
                raise GeometryError(f"Expected a window layer, received {node.label}.")
            i = p * m.stride + m.offset + np.arange(m.kernel) * m.dilation
            out.append(np.where((i >= 0) & (i < src.spatial_shape[axis]), i, -1))
        return tuple(out)

    def readers(self, index: int, source_position: Sequence[int]) -> np.ndarray:
        """Mask over entry ``index``: the cells that read one cell of its single input."""
        _, src = self._window_node(index)
        assert src.spatial_shape is not None
        return self._forward(index, 0, point_mask(src.spatial_shape, source_position))


def _separable(parts: list[list[tuple[np.ndarray, np.ndarray]]], tables: list[np.ndarray]) -> bool:
    """Whether per-axis hulls give every cell's exact box when several inputs merge.

    Input ``k`` reaches cell ``o`` only if it reaches ``o``'s index on *every* axis; the
    per-axis hulls count it on each axis alone. They agree when every input reaches all
    of the map or none of it; otherwise the boxes are compared cell by cell.
    """
    reach = [[hi >= 0 for _, hi in per_axis] for per_axis in parts]
    if all(all(r.all() for r in axes) or any(not r.any() for r in axes) for axes in reach):
        return True
    grids = np.meshgrid(*[np.arange(len(t)) for t in tables], indexing="ij")
    alive = [
        np.logical_and.reduce([r[g] for r, g in zip(axes, grids, strict=True)]) for axes in reach
    ]
    any_alive = np.logical_or.reduce(alive)
    for axis, table in enumerate(tables):
        g = grids[axis]
        lo = np.minimum.reduce(
            [np.where(a, p[axis][0][g], _FAR) for a, p in zip(alive, parts, strict=True)]
        )
        hi = np.maximum.reduce(
            [np.where(a, p[axis][1][g], -1) for a, p in zip(alive, parts, strict=True)]
        )
        exact = np.stack([np.where(any_alive, lo, 0), np.where(any_alive, hi, 0)], axis=-1)
        claimed = table[g]
        claimed_empty = np.logical_or.reduce(
            [t[gg][..., 1] <= t[gg][..., 0] for t, gg in zip(tables, grids, strict=True)]
        )
        if (claimed_empty != ~any_alive).any():
            return False
        if (exact[any_alive] != claimed[any_alive]).any():
            return False
    return True


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
