"""``top_examples``: for every filter, the dataset samples that excite it most.

A sample's score for a channel is the maximum of that channel's map over all spatial
positions (the layer's own output, after any fused activation). The data is streamed: one
forward pass per batch, the per-channel maxima and the running top-k reduced on the Keras
backend (:mod:`fmwidget.topk`), so memory does not grow with the dataset. The winning
samples are kept as they stream by (only those still in some top-k), and the crops are
cut at the end from the exact receptive-field boxes (:meth:`FeatureMaps.receptive_field`).

``engine="ray"`` runs the same step on Ray Data (:mod:`fmwidget.ray_engine`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from .batches import Chunk, chunks, sample_count
from .kinds import MAP_KINDS
from .maps import FeatureMaps, extract
from .topexamples import TopExamples
from .topk import EMPTY, ScoreStep, Slot, State
from .validation import check_model, expected_input_shape

#: Kinds in the default layer set: every spatial map a filter can be said to "detect".
DEFAULT_KINDS = frozenset(MAP_KINDS - {"input", "batch_norm", "global_pooling"})
ENGINES = ("local", "ray")

#: ``on_progress(done, total)``: samples scanned so far, and the total when known.
OnProgress = Callable[[int, "int | None"], None]


def _check_args(model: Any, k: Any, batch_size: Any, engine: Any) -> None:
    check_model(model)
    for name, value in (("k", k), ("batch_size", batch_size)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
            raise TypeError(f"Expected an int {name}, received {type(value).__name__} {value!r}.")
        if value <= 0:
            raise ValueError(f"Expected {name} >= 1, received {int(value)}.")
    if engine not in ENGINES:
        raise ValueError(f"Expected engine 'local' or 'ray', received {engine!r}.")


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
    """The samples that are some channel's top example right now, each once.

    Bounded by ``sum(channels) * k`` samples whatever the dataset size.
    """

    def __init__(self) -> None:
        self.rows: dict[int, np.ndarray] = {}

    def update(self, chunk: Chunk, state: State) -> None:
        live = np.unique(state.indices)
        valid = chunk.ids[: len(chunk.raw)]
        for pos in np.flatnonzero(np.isin(valid, live)):
            self.rows[int(valid[pos])] = np.array(chunk.raw[pos])
        self.prune(live)

    def prune(self, live: np.ndarray) -> None:
        keys = np.fromiter(self.rows, np.int64, len(self.rows))
        for key in keys[~np.isin(keys, live)]:
            del self.rows[int(key)]

    def add(self, rows: dict[int, np.ndarray]) -> None:
        self.rows.update(rows)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        ids = np.array(sorted(self.rows), np.int64)
        return ids, np.stack([self.rows[int(i)] for i in ids]) if len(ids) else np.zeros(0)


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


def top_examples(
    model: Any,
    data: Any,
    layers: str | Sequence[str] | None = None,
    k: int = 9,
    batch_size: int = 64,
    engine: str = "local",
    *,
    keep_samples: bool = True,
    progress: bool = True,
    on_progress: OnProgress | None = None,
    ray_options: dict[str, Any] | None = None,
) -> TopExamples:
    """For every channel of every chosen layer, the ``k`` samples that excite it most.

    Args:
        model: A Keras 3 model with one input (see :func:`fmwidget.extract`).
        data: A numpy array of samples; a ``keras.utils.PyDataset``; a ``tf.data.Dataset``;
            a torch ``DataLoader``; any iterable of batches (arrays, or ``(x, y)`` /
            ``(x, y, w)`` tuples of which only ``x`` is used); with ``engine="ray"`` also a
            ``ray.data.Dataset``. Integer images are cast to float32, not rescaled.
        layers: A name or names (default: every spatial convolution, activation and
            pooling layer).
        k: Examples per channel.
        batch_size: Samples per forward pass (source batches are re-cut to this size).
        engine: ``"local"`` or ``"ray"`` (Ray Data; ``pip install "fmwidget[ray]"``).
        keep_samples: Keep the winning samples so :meth:`TopExamples.patches` works
            (at most ``channels * k`` samples, whatever the dataset size).
        progress: Show a progress bar (tqdm; a widget in notebooks).
        on_progress: Called as ``on_progress(done, total)`` with samples scanned so far
            (``total`` is None when the source cannot tell).
        ray_options: Extra ``map_batches`` arguments for ``engine="ray"`` (e.g.
            ``{"concurrency": 4, "num_gpus": 1}``).

    Returns:
        A :class:`TopExamples`. Interrupting (KeyboardInterrupt) returns nothing and
        leaves the model as it was.

    Raises:
        TypeError / ValueError: bad arguments or data, each saying what was expected and
            what was received (a batch of the wrong shape is named by its index).
    """
    _check_args(model, k, batch_size, engine)
    if engine == "ray":
        from .ray_engine import run_ray

        return run_ray(
            model, data, layers, int(k), int(batch_size), keep_samples, progress,
            on_progress, ray_options or {},
        )  # fmt: skip
    report = Progress(sample_count(data), progress, on_progress)
    try:
        fm, slots, state, keeper = _run_local(model, data, layers, int(k), int(batch_size), report)
    finally:
        report.close()
    return build_result(fm, slots, state, report.done, keeper if keep_samples else None)


def _run_local(
    model: Any, data: Any, layers: Any, k: int, batch_size: int, report: Progress
) -> tuple[FeatureMaps, list[Slot], State, SampleKeeper]:
    shape = expected_input_shape(model)
    keeper = SampleKeeper()
    step = state = fm = slots = None
    for chunk in chunks(data, batch_size, shape[1:] if shape else None):
        if step is None:
            fm, slots = plan(model, chunk.x[:1], layers)
            step = cached_step(model, slots, k, chunk.x.shape)
            state = State.empty(sum(s.channels for s in slots), k)
        state = step.update(state, chunk.x, chunk.ids)
        remember_step(model, step, chunk.x.shape)
        keeper.update(chunk, state)
        report.add(len(chunk.raw))
    assert fm is not None and slots is not None and state is not None
    return fm, slots, state, keeper


#: Compiled steps live on the model itself (a reference cycle the garbage collector frees
#: with the model), so a second call on the same model and layers compiles nothing.
_CACHE = "_fmwidget_score_steps"


def _step_key(step_or_slots: Any, k: int, shape: tuple[int, ...]) -> tuple[Any, ...]:
    slots = getattr(step_or_slots, "slots", step_or_slots)
    return (tuple(slots), k, tuple(shape))


def cached_step(model: Any, slots: list[Slot], k: int, shape: tuple[int, ...]) -> ScoreStep:
    """A compiled step for these layers, ``k`` and batch shape (reused when seen before)."""
    steps = model.__dict__.get(_CACHE, {})
    return steps.get(_step_key(slots, k, shape)) or ScoreStep(model, slots, k)


def remember_step(model: Any, step: ScoreStep, shape: tuple[int, ...]) -> None:
    """Keep ``step`` after it ran once (an interrupted first run is not kept)."""
    steps = model.__dict__.setdefault(_CACHE, {})  # not setattr: Keras would track it
    key = _step_key(step, step.k, shape)
    if steps.get(key) is not step:
        steps.clear()  # one compiled step per model is enough
        steps[key] = step


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
