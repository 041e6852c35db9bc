"""Receptive and projective fields of one extraction: the geometry questions of FeatureMaps.

:class:`FieldQueries` is the part of :class:`~fmwidget.FeatureMaps` that answers "which
input pixels can change this cell" and the reverse: it builds the layer graph's geometry
(:class:`~fmwidget.field_graph.FieldGraph`) on the first such question and keeps recent
receptive-field masks.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from . import geometry
from .axis_rules import Spec
from .erf import effective_receptive_field
from .field_graph import FieldGraph
from .layer_geometry import node_for
from .validation import check_position

if TYPE_CHECKING:
    from .introspect import Entry
    from .maps import LayerInfo

#: Receptive-field masks kept per FeatureMaps (oldest dropped first).
_FIELD_CACHE_SIZE = 1024


class FieldQueries:
    """Receptive-field, projective-field and window questions about one extraction.

    Mixed into :class:`~fmwidget.FeatureMaps`, which provides ``layers``, ``info`` and the
    recorded entries.
    """

    layers: list[LayerInfo]
    _entries: list[Entry]
    _single: list[bool]
    _field_cache: dict[tuple[int, tuple[int, ...]], np.ndarray]

    if TYPE_CHECKING:

        def info(self, name: str) -> LayerInfo: ...  # provided by FeatureMaps

    @functools.cached_property
    def _graph(self) -> FieldGraph:
        """The geometry graph, built on the first geometry question."""
        specs = [
            Spec(info.shape, info.data_format) if self._single[info.index] else None
            for info in self.layers
        ]
        nodes = []
        for info, e in zip(self.layers, self._entries, strict=True):
            what = "operation" if info.kind != "input" and info.is_op else "layer"
            label = f"{what} {info.name!r} ({info.class_name})"
            nodes.append(node_for(e, specs, label))
        return FieldGraph(nodes)

    def _cell_mask(self, info: LayerInfo, position: Any) -> np.ndarray:
        if info.spatial_shape is None:
            if position not in ((), None):
                raise ValueError(
                    f"Expected position () for {info.name!r}, which outputs a vector of "
                    f"shape {info.shape}; received {position!r}."
                )
            return np.array(True)
        pos = check_position(position, info.spatial_shape, f"layer {info.name!r}")
        return geometry.point_mask(info.spatial_shape, pos)

    def receptive_field_mask(self, name: str, position: Any) -> np.ndarray:
        """Boolean mask over the input's spatial shape: the pixels that can change the cell.

        Exact, including the holes dilation and strides leave.

        Raises:
            LayerNotFoundError: unknown layer.
            ValueError: position outside the map, or a layer on the path with unknown
                spatial behaviour (``geometry.GeometryError``).
        """
        info = self.info(name)
        mask = self._cell_mask(info, position)
        key = (info.index, tuple(int(v) for v in np.argwhere(mask).ravel()))
        cached = self._field_cache.get(key)
        if cached is None:
            cached = self._graph.receptive_mask(info.index, mask)
            cached.flags.writeable = False
            if len(self._field_cache) >= _FIELD_CACHE_SIZE:
                self._field_cache.pop(next(iter(self._field_cache)))
            self._field_cache[key] = cached
        return cached.copy()

    def effective_receptive_field(
        self, name: str, position: Any, channel: int | None = None, sample: int = 0
    ) -> np.ndarray:
        """``sum_c |d cell / d input_c|`` over the input grid: how much each pixel moves a cell.

        Lies inside :meth:`receptive_field_mask`; see
        :func:`fmwidget.erf.effective_receptive_field` (one backward pass).
        """
        return effective_receptive_field(self, name, position, channel, sample)

    def receptive_field(self, name: str, position: Any) -> tuple[slice, ...]:
        """Half-open slices into the input image bounding the receptive field of a cell.

        Args:
            name: Layer name.
            position: Spatial position of the cell, e.g. ``(row, col)``.

        Returns:
            One ``slice`` per spatial axis, clipped to the image.
        """
        return geometry.bounding_slices(self.receptive_field_mask(name, position))

    def receptive_field_table(self, name: str) -> tuple[np.ndarray, ...]:
        """For each spatial axis, the receptive-field interval of every index of the map.

        ``receptive_field(name, (r, c)) == (slice(*rows[r]), slice(*cols[c]))`` for every
        cell: one table per axis instead of one query per cell.

        Returns:
            One ``(n, 2)`` int array of half-open ``[start, stop)`` per spatial axis.
        """
        info = self.info(name)
        if info.spatial_shape is None:
            raise ValueError(
                f"Expected a layer with a spatial map, received {name!r} whose output is a "
                f"vector of shape {info.shape}."
            )
        return self._graph.interval_tables(info.index)

    def projective_field_mask(self, name: str, pixel: Any) -> np.ndarray:
        """Boolean mask over layer ``name``'s map: the cells that input ``pixel`` can change."""
        info = self.info(name)
        in_shape = self.layers[0].spatial_shape
        assert in_shape is not None
        pos = check_position(pixel, in_shape, "the input image")
        mask = self._graph.projective_mask(info.index, geometry.point_mask(in_shape, pos))
        return mask

    def projective_field(self, name: str, pixel: Any) -> tuple[slice, ...]:
        """Half-open slices of layer ``name``'s map bounding the cells that see ``pixel``."""
        info = self.info(name)
        if info.spatial_shape is None:
            raise ValueError(
                f"Expected a layer with a spatial map, received {name!r} whose output is a "
                f"vector of shape {info.shape}."
            )
        return geometry.bounding_slices(self.projective_field_mask(name, pixel))

    def window_taps(self, name: str, position: Any) -> tuple[np.ndarray, ...]:
        """Per spatial axis, the input index under each kernel tap of one output cell.

        For convolution and pooling layers; taps that fall in the padding are ``-1``.
        """
        info = self.info(name)
        pos = check_position(position, info.spatial_shape or (), f"layer {name!r}")
        return self._graph.taps(info.index, pos)

    def cells_reading(self, name: str, source_position: Any) -> np.ndarray:
        """Mask over layer ``name``'s map: cells whose window holds one cell of its input."""
        info = self.info(name)
        if len(info.inputs) != 1:
            raise ValueError(f"Expected a layer with one input, received {name!r}.")
        src = self.info(info.inputs[0])
        pos = check_position(source_position, src.spatial_shape or (), f"layer {src.name!r}")
        return self._graph.readers(info.index, pos)
