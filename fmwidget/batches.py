"""Read any dataset the way Keras does, as fixed-size numpy batches with sample indices.

Accepted: a numpy array of samples (or a backend tensor); a ``keras.utils.PyDataset``; a
``tf.data.Dataset``; a torch ``DataLoader``; any iterable of batches. A batch is an array
or an ``(x, y)`` / ``(x, y, sample_weight)`` tuple of which only ``x`` is used. Integer
images are taken as Keras takes them: cast to float32 for the model, not rescaled.

Whatever the source batches are, the model always sees batches of exactly ``batch_size``
rows (the last one padded with rows marked ``EMPTY``), so every forward pass has one shape:
compiled once, and the same numbers whichever engine cut the data.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from .topk import EMPTY


@dataclass
class Chunk:
    """``batch_size`` rows for the model (float32) and the samples as given."""

    x: np.ndarray  # float32, padded to batch_size rows
    raw: np.ndarray  # the valid rows in the source dtype (for crops)
    ids: np.ndarray  # int64 sample indices, EMPTY for padding rows


def _fmt(shape: tuple[Any, ...]) -> str:
    inner = ", ".join("N" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def sample_count(data: Any) -> int | None:
    """Number of samples when the source can tell without reading it (else None)."""
    if isinstance(data, np.ndarray) or keras.ops.is_tensor(data):
        return int(data.shape[0]) if len(data.shape) else None
    dataset = getattr(data, "dataset", None)  # torch DataLoader
    if dataset is not None and hasattr(dataset, "__len__") and hasattr(data, "batch_size"):
        return len(dataset)
    return None


def _as_batches(data: Any, batch_size: int) -> Iterator[Any]:
    """The source's own batches, in order."""
    if isinstance(data, (str, bytes, dict)) or data is None:
        raise TypeError(
            "Expected a numpy array of samples, a keras.utils.PyDataset, a tf.data.Dataset, "
            f"a torch DataLoader or an iterable of batches, received {type(data).__name__}."
        )
    if isinstance(data, np.ndarray) or keras.ops.is_tensor(data):
        if len(data.shape) == 0:
            raise ValueError("Expected an array of samples, received a scalar.")
        for start in range(0, int(data.shape[0]), batch_size):
            yield data[start : start + batch_size]
        return
    if isinstance(data, keras.utils.PyDataset):
        count = data.num_batches
        if count is None:  # infinite PyDatasets cannot be scanned to the end
            raise ValueError(
                "Expected a PyDataset with a length (num_batches), received an infinite one."
            )
        for i in range(count):
            yield data[i]
        return
    if hasattr(data, "iter_batches") and hasattr(data, "columns"):  # ray.data.Dataset
        column = sample_column(data)
        for batch in data.iter_batches(batch_size=batch_size, batch_format="numpy"):
            yield batch[column]
        return
    if hasattr(data, "as_numpy_iterator"):  # tf.data.Dataset
        yield from data.as_numpy_iterator()
        return
    if not isinstance(data, Iterable):
        raise TypeError(
            "Expected a numpy array of samples, a keras.utils.PyDataset, a tf.data.Dataset, "
            f"a torch DataLoader or an iterable of batches, received {type(data).__name__}."
        )
    yield from data


def _x_of(item: Any, index: int) -> np.ndarray:
    """The ``x`` of one source batch as a numpy array."""
    if isinstance(item, (tuple, list)):
        if not 1 <= len(item) <= 3:
            raise ValueError(
                f"Expected batch {index} to be x or a tuple (x, y) or (x, y, sample_weight), "
                f"received a {type(item).__name__} of {len(item)} items."
            )
        item = item[0]
    if isinstance(item, dict):
        raise TypeError(
            f"Expected batch {index} to be an array (or an (x, y) tuple), received a dict with "
            f"keys {sorted(map(str, item))[:8]}: models with one input take x directly."
        )
    if keras.ops.is_tensor(item):
        item = keras.ops.convert_to_numpy(item)
    try:
        arr = np.asarray(item)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"Expected batch {index} to be an array, received {type(item).__name__} ({err})."
        ) from None
    if arr.dtype.name != "bfloat16" and arr.dtype.kind not in "fiu":
        raise TypeError(
            f"Expected batch {index} to hold numbers (float or integer images), received "
            f"dtype {arr.dtype}."
        )
    return arr


def check_batch(arr: np.ndarray, sample_shape: tuple[int | None, ...], index: int) -> None:
    """Raise ``ValueError`` naming the batch unless ``arr`` is a batch of ``sample_shape``."""
    want = (None, *sample_shape)
    ok = arr.ndim == len(want) and all(
        w is None or w == g for w, g in zip(sample_shape, arr.shape[1:], strict=False)
    )
    if not ok:
        hint = ""
        if arr.ndim == len(want) - 1:
            hint = " (one sample, not a batch: batch the dataset, e.g. ds.batch(64))"
        raise ValueError(
            f"Expected batch {index} of shape {_fmt(want)}, received {_fmt(arr.shape)}{hint}."
        )


def chunks(
    data: Any, batch_size: int, sample_shape: tuple[int | None, ...] | None
) -> Iterator[Chunk]:
    """Fixed-size chunks of ``data`` with their sample indices (iteration order).

    ``sample_shape`` is the model's input shape without the batch axis (``None`` entries
    are free); when the model does not know it (``None``), the first batch sets it.

    Raises:
        ValueError: a batch of the wrong shape (naming its index), or no samples at all.
        TypeError: a source or batch that is not numeric array data.
    """
    pending: list[np.ndarray] = []
    held = 0
    seen = 0
    for index, item in enumerate(_as_batches(data, batch_size)):
        arr = _x_of(item, index)
        if sample_shape is None:
            sample_shape = tuple(arr.shape[1:]) if arr.ndim > 1 else (None,)
        check_batch(arr, sample_shape, index)
        if not len(arr):
            continue
        pending.append(arr)
        held += len(arr)
        while held >= batch_size:
            block = np.concatenate(pending) if len(pending) > 1 else pending[0]
            yield _chunk(block[:batch_size], seen, batch_size)
            seen += batch_size
            rest = block[batch_size:]
            pending, held = ([rest], len(rest)) if len(rest) else ([], 0)
    if held:
        block = np.concatenate(pending) if len(pending) > 1 else pending[0]
        yield _chunk(block, seen, batch_size)
        seen += held
    if seen == 0:
        raise ValueError(f"Expected at least one sample, received empty data ({describe(data)}).")


def _chunk(raw: np.ndarray, start: int, batch_size: int) -> Chunk:
    n = len(raw)
    x = np.asarray(raw, dtype=np.float32)
    ids = np.arange(start, start + n, dtype=np.int64)
    if n < batch_size:
        x = np.concatenate([x, np.zeros((batch_size - n, *x.shape[1:]), np.float32)])
        ids = np.concatenate([ids, np.full(batch_size - n, EMPTY, np.int64)])
    return Chunk(np.ascontiguousarray(x), raw, ids)


def describe(data: Any) -> str:
    if isinstance(data, np.ndarray):
        return f"an array of shape {_fmt(data.shape)}"
    return type(data).__name__


#: Name of the sample-index column added to a user's ``ray.data.Dataset``.
INDEX = "__fmwidget_index"


def sample_column(ds: Any) -> str:
    """The column of a ``ray.data.Dataset`` that holds the samples (not our index column)."""
    names = [c for c in ds.columns() if c != INDEX]
    if len(names) == 1:
        return names[0]
    for name in ("image", "x", "data"):
        if name in names:
            return name
    raise ValueError(
        f"Expected a ray.data.Dataset with one column of samples (or one named 'image', 'x' "
        f"or 'data'), received columns {names}."
    )
