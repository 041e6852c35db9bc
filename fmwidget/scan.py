"""The engine-independent pieces of a top-examples scan, shared by the local engine
(:mod:`fmwidget.examples`) and the Ray engine (:mod:`fmwidget.ray_engine`): which layers to
track (:func:`plan`), the winning samples kept while data streams by (:class:`SampleKeeper`),
progress (:class:`Progress`), and the final state turned into :class:`TopExamples` with the
exact receptive-field boxes (:func:`build_result`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from .batches import Chunk
from .kinds import MAP_KINDS
from .maps import FeatureMaps, extract
from .topexamples import TopExamples
from .topk import EMPTY, Slot, State

#: Kinds in the default layer set: every spatial map a filter can be said to "detect".
DEFAULT_KINDS = frozenset(MAP_KINDS - {"input", "batch_norm", "global_pooling"})

#: ``on_progress(done, total)``: samples scanned so far, and the total when known.
OnProgress = Callable[[int, "int | None"], None]


def plan(model: Any, x: np.ndarray, layers: Any) -> tuple[FeatureMaps, list[Slot]]:
    """Feature maps of one sample (names, shapes, geometry) and the layers to track.

    Raises:
        LayerNotFoundError: an unknown layer name.
        ValueError: a layer without a spatial map.
    """
    fm = extract(model, x)
    if layers is None:
        infos = [i for i in fm.layers[1:] if i.spatial and i.kind in DEFAULT_KINDS]
    else:
        names = [layers] if isinstance(layers, str) else list(layers)
        if not names:
            raise ValueError("Expected at least one layer name, received an empty list.")
        infos = [fm.info(n) for n in dict.fromkeys(names)]
        flat = [i for i in infos if not i.spatial]
        if flat:
            i = flat[0]
            raise ValueError(
                f"Expected layers with a spatial feature map (convolution, pooling, "
                f"activation, ...), received {i.name!r} ({i.class_name}) whose output is a "
                f"vector of shape {i.shape}."
            )
    if not infos:
        raise ValueError(f"The model {model.name!r} has no spatial layer to rank examples for.")
    slots, start = [], 0
    for info in sorted(infos, key=lambda i: i.index):
        assert info.spatial_shape is not None and info.channels is not None
        slots.append(Slot(info.name, info.channels, info.spatial_shape, info.data_format, start))
        start += info.channels
    return fm, slots


class SampleKeeper:
    """The samples that are some channel's top example, each once.

    Kept as blocks of rows (one copy per chunk a window's winners came from), pruned
    lazily (when it holds twice as many samples as the state has slots), so it stays
    bounded by ``2 * sum(channels) * k`` samples plus one window, whatever the dataset
    size, without a set operation over the whole state every window.
    """

    def __init__(self) -> None:
        self.ids: list[np.ndarray] = []
        self.rows: list[np.ndarray] = []
        self.count = 0

    def update(self, window: list[Chunk], state: State) -> None:
        """Keep the samples of ``window`` (chunks merged into ``state`` since the last
        update) that are in ``state``: chunks come in sample order with consecutive ids, so
        those are the state's ids from the window's first on."""
        first = int(window[0].ids[0])
        new = np.unique(state.indices[state.indices >= first])
        starts = np.cumsum([0] + [len(c.raw) for c in window]) + first
        at = np.searchsorted(starts, new, side="right") - 1
        for j in np.unique(at):
            ids = new[at == j]
            self.add(ids, window[j].raw[ids - starts[j]])  # a copy of just those rows
        if self.count > 2 * state.indices.size:
            self.prune(np.unique(state.indices))

    def add(self, ids: np.ndarray, rows: np.ndarray) -> None:
        """Keep ``rows``, the samples ``ids`` (none of them kept already)."""
        if len(ids):
            self.ids.append(np.asarray(ids, np.int64))
            self.rows.append(rows)
            self.count += len(ids)

    def prune(self, live: np.ndarray) -> None:
        if self.ids:
            ids, rows = np.concatenate(self.ids), np.concatenate(self.rows)
            keep = np.isin(ids, live)
            self.ids, self.rows, self.count = [ids[keep]], [rows[keep]], int(keep.sum())

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ids, samples)``, in sample order."""
        if not self.ids:
            return np.zeros(0, np.int64), np.zeros(0)
        ids = np.concatenate(self.ids)
        order = np.argsort(ids)
        return ids[order], np.concatenate(self.rows)[order]


class Progress:
    """Reports samples scanned to a tqdm bar (console or notebook) and a callback."""

    def __init__(self, total: int | None, bar: bool, on_progress: OnProgress | None):
        self.total, self.done, self.on_progress = total, 0, on_progress
        self.bar = None
        if bar:
            try:
                from tqdm.auto import tqdm
            except ImportError:  # tqdm is a dependency; a broken install only loses the bar
                tqdm = None
            if tqdm is not None:
                self.bar = tqdm(total=total, unit="sample", desc="top examples", leave=False)
        self.tell()

    def tell(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.done, self.total)

    def add(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        self.tell()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def build_result(
    fm: FeatureMaps,
    slots: list[Slot],
    state: State,
    num_samples: int,
    keeper: SampleKeeper | None,
) -> TopExamples:
    """Turn a final state into :class:`TopExamples` (positions, boxes, kept samples)."""
    k = min(state.values.shape[1], num_samples)
    meta, values, indices, positions, boxes = {}, {}, {}, {}, {}
    for slot in slots:
        rows = slice(slot.start, slot.start + slot.channels)
        idx = state.indices[rows, :k]
        assert (idx != EMPTY).all(), "every channel sees every sample once"
        cells = state.cells[rows, :k]
        pos = np.stack(np.unravel_index(cells, slot.spatial_shape), axis=-1).astype(np.int64)
        info = fm.info(slot.name)
        meta[slot.name] = {
            "kind": info.kind,
            "class_name": info.class_name,
            "shape": list(info.shape),
            "data_format": info.data_format,
            "channels": slot.channels,
        }
        values[slot.name] = np.ascontiguousarray(state.values[rows, :k], np.float32)
        indices[slot.name] = np.ascontiguousarray(idx, np.int64)
        positions[slot.name] = pos
        boxes[slot.name] = _boxes(fm, slot.name, pos)
    ids = samples = None
    if keeper is not None:
        live = np.unique(np.concatenate([indices[n].ravel() for n in indices]))
        keeper.prune(live)
        ids, samples = keeper.arrays()
    return TopExamples(
        model_name=str(fm.model.name),
        k=k,
        num_samples=num_samples,
        input_shape=tuple(fm.input.shape[1:]),
        input_data_format=fm.layers[0].data_format,
        layer_meta=meta,
        values=values,
        indices=indices,
        positions=positions,
        boxes=boxes,
        sample_ids=ids,
        samples=samples,
        extra={"backend": keras.backend.backend()},
    )


def _boxes(fm: FeatureMaps, name: str, pos: np.ndarray) -> np.ndarray | None:
    try:
        table = fm.receptive_field_table(name)
    except ValueError:  # GeometryError: unknown geometry on the path
        return None
    return np.stack([table[a][pos[..., a]] for a in range(pos.shape[-1])], axis=-2).astype(np.int64)
