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


#: How a sample of a 1-D or 3-D model is called, and its axes (channels_last, channels_first).
_SAMPLE_WORDS = {
    1: ("sequence", ("time steps", "channels"), ("channels", "time steps")),
    3: (
        "volume",
        ("depth", "rows", "cols", "channels"),
        ("channels", "depth", "rows", "cols"),
    ),
}


def _data_format(model: Any) -> str:
    """The ``data_format`` of the model's first layer that has one (``channels_last``)."""
    for layer in getattr(model, "layers", None) or []:
        fmt = getattr(layer, "data_format", None)
        if fmt in ("channels_last", "channels_first"):
            return fmt
        if isinstance(layer, keras.Model):
            return _data_format(layer)
    return "channels_last"


def sample_noun(model: Any) -> str:
    """``"sequence"`` (1-D models), ``"volume"`` (3-D) or ``"image"``, for error messages."""
    rank = _sample_rank(model)
    return _SAMPLE_WORDS[rank - 1][0] if rank is not None and rank - 1 in _SAMPLE_WORDS else "image"


def _sample_rank(model: Any) -> int | None:
    shape = expected_input_shape(model)
    if shape is not None:
        return len(shape) - 1
    rank = expected_input_rank(model)
    return rank - 1 if rank is not None else None


def _axes(model: Any, spatial_rank: int) -> tuple[str, tuple[str, ...]] | None:
    """The noun and axis names of one sample of a 1-D or 3-D model; None for images."""
    words = _SAMPLE_WORDS.get(spatial_rank)
    if words is None:
        return None
    noun, last, first = words
    return noun, first if _data_format(model) == "channels_first" else last


def _described(model: Any, sample: tuple[int | None, ...]) -> tuple[str, str, str] | None:
    """``("a sequence of shape (time steps, channels) = (None, 3)", "(batch, time steps,
    channels)", "sequence")`` for 1-D and 3-D models; None for images (their messages stay
    as they were)."""
    words = _axes(model, len(sample) - 1)
    if words is None:
        return None
    noun, axes = words
    values = ", ".join("None" if d is None else str(d) for d in sample)
    one = f"a {noun} of shape ({', '.join(axes)}) = ({values})"
    return one, f"({', '.join(('batch', *axes))})", noun


def _article(noun: str) -> str:
    return f"an {noun}" if noun[0] in "aeiou" else f"a {noun}"


def _fmt(shape: Sequence[int | None]) -> str:
    inner = ", ".join("N" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def taken_dtype(model: Any, dtype: Any) -> str:
    """The dtype ``model(x)`` converts an input of ``dtype`` to before its first layer runs.

    As Keras 3 does it: a Functional model (and a built Sequential) converts the input to its
    ``Input``'s dtype (``ops.convert_to_tensor(x, dtype=...)``: a plain cast of the values, no
    scaling); an unbuilt Sequential builds on the first call with an ``Input`` of its first
    layer's compute dtype; a model without ``Input`` (subclassed) casts floating-point input
    to its compute dtype and passes integer and bool input as it is.
    """
    given = keras.backend.standardize_dtype(dtype)
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if inputs:
        return keras.backend.standardize_dtype(inputs[0].dtype)
    if isinstance(model, keras.Sequential) and model.layers:
        return keras.backend.standardize_dtype(model.layers[0].compute_dtype)
    if keras.backend.is_float_dtype(given) and getattr(model, "autocast", True):
        return keras.backend.standardize_dtype(model.input_dtype)
    return given


def as_batch(model: Any, x: Any) -> np.ndarray:
    """Turn ``x`` (one sample or a batch; numpy or backend tensor) into a batch for ``model``.

    Accepts what ``model(x)`` accepts: floating-point, integer and bool arrays, cast as Keras
    casts them (:func:`taken_dtype`; a uint8 image reaches a float32 model as 0.0 ... 255.0,
    never rescaled). For a model that takes bfloat16 the bfloat16 values come as float32
    (numpy's bfloat16 does not reach every backend; Keras casts them back exactly).

    Raises:
        TypeError: ``x`` is not a real-valued numeric array (strings, objects, complex, ...).
        ValueError: ``x`` has the wrong rank or shape for ``model``.
    """
    if keras.ops.is_tensor(x):
        x = keras.ops.convert_to_numpy(x)
    if isinstance(x, (str, bytes, dict, set)) or x is None:
        raise TypeError(
            f"Expected {_article(sample_noun(model))} array (numpy or tensor), received "
            f"{type(x).__name__}."
        )
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as err:
        raise TypeError(
            f"Expected {_article(sample_noun(model))} array, received {type(x).__name__} that "
            f"numpy cannot read as an array ({err})."
        ) from None
    if arr.dtype.kind not in "biuf" and arr.dtype.name != "bfloat16":
        raise TypeError(
            f"Expected a real-valued {sample_noun(model)} (floating-point, integer or bool, as "
            f"keras.Model takes), received dtype {arr.dtype} (from {type(x).__name__})."
        )

    shape = expected_input_shape(model)
    if shape is not None:
        sample = shape[1:]
        described = _described(model, sample)
        given = arr.shape
        if arr.ndim == len(shape) - 1:
            arr = arr[None]
        elif arr.ndim != len(shape):
            if described is not None:
                raise ValueError(
                    f"Expected {described[0]} (one sample) or a batch of them "
                    f"{described[1]}, received {_fmt(arr.shape)}."
                )
            raise ValueError(
                f"Expected input of shape {_fmt(sample)} (one sample) or "
                f"{_fmt(shape)} (a batch), received {_fmt(arr.shape)}."
            )
        if any(e is not None and e != g for e, g in zip(sample, arr.shape[1:], strict=True)):
            if described is not None:
                got = _fmt(arr.shape[1:])
                if given == arr.shape:  # read as a batch: say so (an image is 28 sequences)
                    many = f"{given[0]} {described[2]}s"
                    got = f"{_fmt(given)}, read as a batch of {many} of shape {got}"
                raise ValueError(f"Expected {described[0]}, received {got}.")
            raise ValueError(
                f"Expected input of shape {_fmt(sample)}, received {_fmt(arr.shape[1:])}."
            )
    else:
        rank = expected_input_rank(model)
        if rank is not None:
            if arr.ndim == rank - 1:
                arr = arr[None]
            elif arr.ndim != rank:
                words = _axes(model, rank - 2)
                hint = f" (one {words[0]} is ({', '.join(words[1])}))" if words else ""
                raise ValueError(
                    f"Expected input of rank {rank - 1} (one sample) or {rank} (a batch) "
                    f"for the first layer of {model.name!r}, received shape "
                    f"{_fmt(arr.shape)}{hint}."
                )
    if arr.shape[0] == 0:
        raise ValueError(f"Expected at least one sample, received an empty batch {arr.shape}.")
    dtype = taken_dtype(model, arr.dtype)
    if dtype == "bfloat16":  # its values, as float32: Keras casts them back exactly
        arr = arr.astype(dtype).astype(np.float32)
    return np.ascontiguousarray(arr, dtype=None if dtype == "bfloat16" else dtype)


def uncast_hint(model: Any, batch: np.ndarray) -> str:
    """Words for a failed call on integer input that Keras passed on uncast, else ``""``."""
    if batch.dtype.kind not in "biu" or expected_input_shape(model) is not None:
        return ""
    return (
        f" (Keras passes {batch.dtype} input to a model without keras.Input as it is, and "
        "casts only floating-point input: pass x.astype('float32') if the model expects floats)"
    )


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
