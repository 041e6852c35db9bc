"""``top_examples(..., engine="ray")``: the same top-k step on Ray Data.

``map_batches`` with a callable class: each actor loads the model once and runs the very
:class:`fmwidget.topk.ScoreStep` the local engine runs, over forward passes of exactly
``batch_size`` rows, then emits its top-k state (and the samples that state refers to) as
one small ``.npz`` blob. The driver merges the blobs as they arrive with
:func:`fmwidget.topk.merge`, which is associative and commutative under a total order, so
the result is identical to ``engine="local"`` whatever order the blocks finish in.

Ray is an optional extra: ``pip install "fmwidget[ray]"``. A running cluster
(``ray.init(address=...)``) is used as it is; otherwise a local one is started.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from .batches import INDEX, chunks, sample_column, sample_count
from .scan import Progress, SampleKeeper, build_result, plan
from .topk import EMPTY, ScoreStep, State, merge
from .validation import expected_input_shape

INSTALL_HINT = 'engine="ray" needs Ray Data: pip install "fmwidget[ray]" (or "ray[data]").'


def import_ray() -> Any:
    """``ray`` with Ray Data, or an ImportError that says how to install it."""
    try:
        import ray
        import ray.data
    except ImportError as err:
        raise ImportError(f"{INSTALL_HINT} ({err})") from None
    return ray


def _blob(state: State, ids: np.ndarray, rows: np.ndarray, count: int) -> bytes:
    buf = io.BytesIO()
    np.savez(
        buf,
        values=state.values,
        indices=state.indices,
        cells=state.cells,
        sample_ids=ids,
        samples=rows,
        count=np.int64(count),
    )
    return buf.getvalue()


def _unblob(data: bytes) -> tuple[State, tuple[np.ndarray, np.ndarray], int]:
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        state = State(z["values"], z["indices"], z["cells"])
        return state, (z["sample_ids"], z["samples"]), int(z["count"])


class TopKActor:
    """One Ray actor: loads the model once, turns each block of rows into a top-k blob."""

    def __init__(self, model: Any, names: list[str], k: int, batch_size: int, backend: str):
        os.environ.setdefault("KERAS_BACKEND", backend)
        self.model, self.names, self.k, self.batch_size = model, names, k, batch_size
        self._plan, self._step_class = plan, ScoreStep
        self.step = self.slots = None

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        ids, raw = _rows_of(batch)
        order = np.argsort(ids, kind="stable")  # ties keep sample order inside the step
        ids, raw = ids[order], raw[order]
        x = raw.astype(np.float32)
        if self.step is None:
            _, self.slots = self._plan(self.model, x[:1], self.names)
            self.step = self._step_class(self.model, self.slots, self.k)
        carry = self.step.carry(State.empty(sum(s.channels for s in self.slots), self.k))
        b = self.batch_size
        for start in range(0, len(ids), b):
            xs, part = x[start : start + b], ids[start : start + b]
            if len(part) < b:
                xs = np.concatenate([xs, np.zeros((b - len(part), *xs.shape[1:]), xs.dtype)])
                part = np.concatenate([part, np.full(b - len(part), EMPTY, np.int64)])
            carry = self.step.advance(carry, xs, part, flush=False)  # read once, below
        state = self.step.collect(carry)
        keep = np.isin(ids, np.unique(state.indices))
        return {"blob": np.array([_blob(state, ids[keep], raw[keep], len(ids))], dtype=object)}


def _rows_of(batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``(ids, samples)`` of the valid rows of one Ray batch (either input layout)."""
    if "chunk_ids" in batch:  # our own chunks: one row per forward pass
        ids = np.asarray(batch["chunk_ids"]).reshape(-1)
        raw = np.asarray(batch["chunk_raw"])
        raw = raw.reshape(-1, *raw.shape[2:])
        keep = ids != EMPTY
        return ids[keep].astype(np.int64), raw[keep]
    column = next(c for c in batch if c != INDEX)
    return np.asarray(batch[INDEX], np.int64), np.asarray(batch[column])


def _from_local(data: Any, batch_size: int, shape: Any) -> tuple[Any, np.ndarray, int | None]:
    """A Ray dataset of our own fixed-size chunks (one row each), and the first sample."""
    ray = import_ray()
    items, first = [], None
    for chunk in chunks(data, batch_size, shape):
        raw = chunk.raw
        if len(raw) < batch_size:
            pad = np.zeros((batch_size - len(raw), *raw.shape[1:]), raw.dtype)
            raw = np.concatenate([raw, pad])
        items.append({"chunk_ids": chunk.ids, "chunk_raw": raw})
        if first is None:
            first = chunk.x[:1]
    assert first is not None
    return ray.data.from_items(items), first, sample_count(data)


def run_ray(
    model: Any,
    data: Any,
    layers: Any,
    k: int,
    batch_size: int,
    keep_samples: bool,
    progress: bool,
    on_progress: Any,
    options: dict[str, Any],
) -> Any:
    """See :func:`fmwidget.top_examples`; same result as ``engine="local"``."""
    import keras

    ray = import_ray()
    backend = keras.backend.backend()
    if not ray.is_initialized():
        ray.init(
            include_dashboard=False,
            runtime_env={"env_vars": {"KERAS_BACKEND": backend}},
            log_to_driver=False,
        )
    shape = expected_input_shape(model)
    if isinstance(data, ray.data.Dataset):
        column = sample_column(data)
        total = data.count()
        if total == 0:
            raise ValueError("Expected at least one sample, received an empty ray.data.Dataset.")
        if INDEX not in data.columns():
            data = data.select_columns([column]).zip(
                ray.data.range(total).rename_columns({"id": INDEX})
            )
        first = np.asarray(data.take_batch(1)[column], np.float32)
        ds, rows_per_call = data, batch_size
    else:
        ds, first, total = _from_local(data, batch_size, shape[1:] if shape else None)
        rows_per_call = 1
    fm, slots = plan(model, first, layers)
    names = [s.name for s in slots]
    # One CPU stays free for Ray Data's own tasks (reading, zipping): actors holding every
    # CPU would starve the operators that feed them.
    cpus = int(ray.cluster_resources().get("CPU", 1))
    args = {"concurrency": max(1, min(cpus - 1, 8)), "num_cpus": 1, **options}
    out = ds.map_batches(
        TopKActor,
        fn_constructor_kwargs={
            "model": model, "names": names, "k": k, "batch_size": batch_size, "backend": backend,
        },
        batch_size=rows_per_call,
        batch_format="numpy",
        **args,
    )  # fmt: skip
    report = Progress(total, progress, on_progress)
    try:
        state, keeper = merge_blobs(_blobs(out), sum(s.channels for s in slots), k, report)
    finally:
        report.close()
    return build_result(fm, slots, state, report.done, keeper if keep_samples else None)


def merge_blobs(blobs: Iterable[bytes], rows: int, k: int, report: Any) -> tuple[State, Any]:
    """Merge actor blobs, in any order, into one state and the samples it refers to."""

    state = State.empty(rows, k)
    keeper = SampleKeeper()
    for blob in blobs:
        part, kept, count = _unblob(blob)
        state = merge(state, part)
        keeper.add(*kept)
        keeper.prune(np.unique(state.indices))
        report.add(count)
    return state, keeper


def _blobs(ds: Any) -> Iterator[bytes]:
    for batch in ds.iter_batches(batch_size=None, batch_format="numpy"):
        for blob in batch["blob"]:
            yield bytes(blob)
