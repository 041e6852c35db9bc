"""Validate what the user hands us: the model and the input array.

Every error says what was expected and what was received.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np


class LayerNotFoundError(KeyError, ValueError):
    """An unknown layer name (a ``KeyError`` for mappings, a ``ValueError`` for callers)."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def check_model(model: Any) -> None:
    """Raise ``TypeError`` unless ``model`` is a Keras 3 model with a single input."""
    if not isinstance(model, keras.Model):
        hint = ""
        module = type(model).__module__ or ""
        if "tf_keras" in module or "tensorflow.python.keras" in module:
            hint = " (this is a legacy Keras 2 model; fmwidget needs Keras 3)"
        elif isinstance(model, keras.layers.Layer):
            hint = " (wrap the layer in keras.Sequential([...]))"
        raise TypeError(
            f"Expected a keras.Model (Keras 3), received {type(model).__module__}."
            f"{type(model).__qualname__}{hint}."
        )
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs and len(inputs) != 1:
        raise ValueError(
            f"Expected a model with one input, received {model.name!r} with {len(inputs)} inputs."
        )


def expected_input_shape(model: Any) -> tuple[int | None, ...] | None:
    """The model's input shape with the batch axis (``None`` where free), if known."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return tuple(inputs[0].shape)
    return None


def expected_input_rank(model: Any) -> int | None:
    """Input rank (with batch axis) when only the first layer can tell it."""
    layers = getattr(model, "layers", None) or []
    if not layers:
        return None
    spec = getattr(layers[0], "input_spec", None)
    if isinstance(spec, list):
        spec = spec[0] if spec else None
    if spec is None:
        return None
    return getattr(spec, "ndim", None) or getattr(spec, "min_ndim", None)


def _fmt(shape: Sequence[int | None]) -> str:
    inner = ", ".join("N" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def as_batch(model: Any, x: Any) -> np.ndarray:
    """Turn ``x`` (one sample or a batch; numpy or backend tensor) into a float32 batch.

    Raises:
        TypeError: ``x`` is not numeric floating-point data.
        ValueError: ``x`` has the wrong rank or shape for ``model``.
    """
    if keras.ops.is_tensor(x):
        x = keras.ops.convert_to_numpy(x)
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(
            f"Expected a floating-point image array (numpy or tensor), received {type(x).__name__}."
        )
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(
            f"Expected a floating-point image array, received {type(x).__name__} that "
            f"numpy cannot read as an array ({err})."
        ) from None
    kind = arr.dtype.kind
    if arr.dtype.name == "bfloat16" or kind == "f":
        arr = arr.astype(np.float32, copy=False)
    elif kind in "iu":
        raise TypeError(
            f"Expected a floating-point image, received dtype {arr.dtype}. Convert it "
            "the way the model was trained, e.g. x.astype('float32') / 255."
        )
    else:
        raise TypeError(
            f"Expected a floating-point image, received dtype {arr.dtype} "
            f"(from {type(x).__name__})."
        )

    shape = expected_input_shape(model)
    if shape is not None:
        sample = shape[1:]
        if arr.ndim == len(shape) - 1:
            arr = arr[None]
        elif arr.ndim != len(shape):
            raise ValueError(
                f"Expected input of shape {_fmt(sample)} (one sample) or "
                f"{_fmt(shape)} (a batch), received {_fmt(arr.shape)}."
            )
        if any(e is not None and e != g for e, g in zip(sample, arr.shape[1:], strict=True)):
            raise ValueError(
                f"Expected input of shape {_fmt(sample)}, received {_fmt(arr.shape[1:])}."
            )
    else:
        rank = expected_input_rank(model)
        if rank is not None:
            if arr.ndim == rank - 1:
                arr = arr[None]
            elif arr.ndim != rank:
                raise ValueError(
                    f"Expected input of rank {rank - 1} (one sample) or {rank} (a batch) "
                    f"for the first layer of {model.name!r}, received shape {_fmt(arr.shape)}."
                )
    if arr.shape[0] == 0:
        raise ValueError(f"Expected at least one sample, received an empty batch {arr.shape}.")
    return np.ascontiguousarray(arr)


def unknown_layer(name: Any, names: Sequence[str]) -> LayerNotFoundError:
    """The error for a layer name that is not in ``names``, with close suggestions."""
    if not isinstance(name, str):
        return LayerNotFoundError(
            f"Expected a layer name (str), received {type(name).__name__} {name!r}."
        )
    close = difflib.get_close_matches(name, names, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    shown = ", ".join(map(repr, names[:12])) + (", ..." if len(names) > 12 else "")
    return LayerNotFoundError(
        f"Expected one of the model's layer names ({shown}), received {name!r}.{hint}"
    )


def check_position(position: Any, shape: tuple[int, ...], what: str) -> tuple[int, ...]:
    """Validate a cell position against a spatial ``shape``; returns it as ints."""
    if isinstance(position, (int, np.integer)):
        position = (position,)
    try:
        pos = tuple(position)
    except TypeError:
        raise TypeError(
            f"Expected a position tuple of {len(shape)} ints for {what}, received "
            f"{type(position).__name__} {position!r}."
        ) from None
    if len(pos) != len(shape) or not all(
        isinstance(p, (int, np.integer)) and not isinstance(p, bool) for p in pos
    ):
        raise ValueError(
            f"Expected a position of {len(shape)} ints for {what} of spatial shape "
            f"{_fmt(shape)}, received {position!r}."
        )
    if any(p < 0 or p >= n for p, n in zip(pos, shape, strict=True)):
        raise ValueError(
            f"Expected a position inside the {_fmt(shape)} map of {what}, received "
            f"{tuple(int(p) for p in pos)}."
        )
    return tuple(int(p) for p in pos)


def check_index(value: Any, size: int, what: str) -> int:
    """Validate an integer index in ``range(size)``."""
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise TypeError(f"Expected an int {what}, received {type(value).__name__} {value!r}.")
    if not 0 <= value < size:
        raise ValueError(f"Expected {what} in range(0, {size}), received {int(value)}.")
    return int(value)
