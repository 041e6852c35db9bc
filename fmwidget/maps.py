"""``extract``: every feature map of a Keras model from one forward pass, plus geometry."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from . import pooling
from .axis_rules import spatial_shape
from .encode import finite_range
from .fields import FieldQueries
from .introspect import Entry, capture
from .kinds import is_op
from .layer_geometry import data_format_of
from .validation import (
    as_batch,
    check_model,
    uncast_hint,
    unknown_layer,
)


@dataclass(frozen=True)
class LayerInfo:
    """What fmwidget knows about one layer call.

    Attributes:
        index: Position in forward order (0 is the model input).
        name: Path name; nested models give ``outer/inner``; the n-th extra call of a
            shared layer gets ``name:n``.
        kind: ``input``, ``conv``, ``depthwise_conv``, ``separable_conv``,
            ``conv_transpose``, ``pooling``, ``global_pooling``, ``activation``,
            ``batch_norm``, ``dropout``, ``padding``, ``cropping``, ``merge`` or ``other``.
        class_name: The Keras class, e.g. ``Conv2D``.
        shape: Output shape without the batch axis, in the layer's ``data_format``.
        data_format: ``channels_last`` or ``channels_first``.
        spatial_shape: The spatial part of ``shape`` (``None`` for vectors).
        channels: Number of channels (filters), or ``None`` for vectors.
        inputs: Names of the entries that feed this one.
        fused_activation: Name of a fused activation (``Conv2D(activation="relu")``).
        is_op: Whether this is a raw tensor operation of a Functional graph (``a + b``,
            ``keras.ops.multiply``) rather than a layer; ``class_name`` is then the
            operation's class (``Add``, ``Multiply``, ``GetItem``...).
        layer: The Keras layer (or operation) object (None for the model input).
    """

    index: int
    name: str
    kind: str
    class_name: str
    shape: tuple[int, ...]
    data_format: str
    spatial_shape: tuple[int, ...] | None
    channels: int | None
    inputs: tuple[str, ...]
    fused_activation: str | None = None
    is_op: bool = False
    layer: Any = field(default=None, repr=False, compare=False)

    @property
    def spatial(self) -> bool:
        """Whether the output is a feature map (has spatial axes)."""
        return self.spatial_shape is not None

    @functools.cached_property
    def config(self) -> dict[str, Any]:
        """The layer's ``get_config()`` (computed on first access; ``{}`` if it fails)."""
        if self.layer is None:
            return {}
        try:
            return self.layer.get_config()
        except Exception:  # custom layers without a working get_config
            return {}


def _fused_activation(layer: Any) -> str | None:
    act = getattr(layer, "activation", None)
    if layer is None or act is None or isinstance(layer, keras.layers.Activation):
        return None
    if not hasattr(layer, "kernel") and not hasattr(layer, "depthwise_kernel"):
        return None
    name = getattr(act, "__name__", type(act).__name__)
    return None if name == "linear" else name


def _to_numpy(t: Any) -> np.ndarray:
    backend = keras.backend.backend()
    if backend == "jax" and keras.ops.is_tensor(t):
        return np.asarray(t, dtype=np.float32)  # a view of the CPU buffer (read-only)
    if backend == "torch" and keras.ops.is_tensor(t):
        # A view of a CPU tensor's buffer (``convert_to_numpy`` copies every map: ~0.2 s of
        # DenseNet201's extract); on an accelerator numpy refuses it and we copy below.
        with contextlib.suppress(TypeError, RuntimeError):
            return np.asarray(keras.ops.stop_gradient(t), dtype=np.float32)
    return np.asarray(keras.ops.convert_to_numpy(t), dtype=np.float32)


def _keep_policy() -> str:
    """How captured outputs become numpy, per backend.

    * ``view`` (JAX): the numpy view shares the device buffer on CPU: take it, and keep
      the tensor too, so the encoder can cast to float16 on the backend without a copy.
    * ``lazy`` (TensorFlow): ``.numpy()`` copies: keep the tensor and copy a layer only
      when it is asked for as numpy.
    * ``eager`` (PyTorch and others): convert now and drop the tensor (PyTorch shares the
      buffer, and a tensor can hold its autograd graph alive).
    """
    return {"jax": "view", "tensorflow": "lazy"}.get(keras.backend.backend(), "eager")


class FeatureMaps(FieldQueries):
    """The feature maps of one input, with the geometry that links them.

    Build with :func:`extract`. Index by layer name to get a float32 array (batch first,
    in the layer's ``data_format``).
    """

    def __init__(self, model: Any, x: np.ndarray, entries: list[Entry]):
        self.model = model
        self._arrays: list[np.ndarray | None] = []
        # Backend tensors kept where the numpy view shares their buffer (free): the
        # encoder then casts to float16 on the backend without a copy.
        self._tensors: list[Any] = []
        infos: list[LayerInfo] = []
        shapes: list[tuple[int, ...] | None] = []
        fmts: list[str] = []
        policy = _keep_policy()
        for e in entries:
            out = e.output
            arr, tensor = None, None
            if e.index == 0:
                arr = x
            elif isinstance(out, np.ndarray):
                arr = np.asarray(out, dtype=np.float32)
            elif keras.ops.is_tensor(out):
                if policy != "lazy":
                    arr = _to_numpy(out)
                if policy != "eager" and keras.backend.standardize_dtype(out.dtype) == "float32":
                    tensor = out
                elif arr is None:
                    arr = _to_numpy(out)
            self._arrays.append(arr)
            self._tensors.append(tensor)
            source = arr if arr is not None else tensor
            shapes.append(tuple(source.shape[1:]) if source is not None else None)
        # The input takes the data_format of its first reader that declares one.
        for e in entries:
            if e.layer is not None and hasattr(e.layer, "data_format"):
                fmts.append(data_format_of(e.layer))
            elif e.inputs:
                fmts.append(fmts[e.inputs[0]])
            else:
                fmts.append(keras.config.image_data_format())
        readers = [e for e in entries if 0 in e.inputs and hasattr(e.layer, "data_format")]
        if readers:
            fmts[0] = data_format_of(readers[0].layer)
        for e in entries:
            shape = shapes[e.index]
            sp = spatial_shape(shape, fmts[e.index]) if shape is not None else None
            channels = None
            if sp is not None and shape is not None:
                channels = shape[0] if fmts[e.index] == "channels_first" else shape[-1]
            infos.append(
                LayerInfo(
                    index=e.index,
                    name=e.name,
                    kind=e.kind,
                    class_name=type(e.layer).__name__ if e.layer is not None else "InputLayer",
                    shape=shape or (),
                    data_format=fmts[e.index],
                    spatial_shape=sp,
                    channels=channels,
                    inputs=tuple(entries[i].name for i in e.inputs),
                    fused_activation=_fused_activation(e.layer),
                    is_op=is_op(e.layer),
                    layer=e.layer,
                )
            )
        self._entries = entries
        self._single = [shape is not None for shape in shapes]
        self.layers: list[LayerInfo] = infos
        self._index = {info.name: info.index for info in infos}
        self._pre: dict[int, np.ndarray] = {}
        self._field_cache: dict[tuple[int, tuple[int, ...]], np.ndarray] = {}
        self.input = x
        for e in entries:  # the entries' references are no longer needed
            e.output = None
            e.extra_inputs = [_to_numpy(t) for t in e.extra_inputs]

    # -- mapping ---------------------------------------------------------------------------
    def info(self, name: str) -> LayerInfo:
        """The :class:`LayerInfo` for ``name``.

        Raises:
            LayerNotFoundError: (a ``KeyError`` and ``ValueError``) for unknown names.
        """
        index = self._index.get(name) if isinstance(name, str) else None
        if index is None:
            raise unknown_layer(name, list(self._index))
        return self.layers[index]

    def __getitem__(self, name: str) -> np.ndarray:
        arr = self._array(self.info(name).index)
        if arr is None:
            raise ValueError(f"Expected a layer with one tensor output; {name!r} has several.")
        return arr

    def _array(self, index: int) -> np.ndarray | None:
        """Entry ``index``'s output as float32 numpy (copied from the backend on first use)."""
        arr = self._arrays[index]
        if arr is None and self._tensors[index] is not None:
            arr = self._arrays[index] = _to_numpy(self._tensors[index])
        return arr

    def value_range(self, name: str) -> tuple[float, float]:
        """Finite ``(min, max)`` of layer ``name``'s output over the batch (``(0, 0)`` if none).

        Two numpy passes on a view of the output (not kept): 4-11x faster here than three
        eager backend reductions with a device sync each (benchmarks/python_bench.py's widget
        build rows), which dominated building the widget of a deep model.
        """
        index = self.info(name).index
        arr = self._arrays[index]
        if arr is None and self._tensors[index] is not None:
            arr = _to_numpy(self._tensors[index])
        if arr is None or not arr.size:
            return (0.0, 0.0)
        lo, hi = float(arr.min()), float(arr.max())
        if math.isfinite(lo) and math.isfinite(hi):
            return lo, hi
        return finite_range(arr)  # NaN or +-inf present: the finite values' range

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self.layers)

    @property
    def names(self) -> list[str]:
        """Layer names in forward order (the model input first)."""
        return list(self._index)

    def __repr__(self) -> str:
        rows = [f"FeatureMaps({self.model.name!r}, batch={self.input.shape[0]})"]
        for info in self.layers:
            rows.append(f"  {info.name:<32} {info.kind:<15} {info.shape}")
        return "\n".join(rows)

    # -- activations -----------------------------------------------------------------------
    def pre_activation(self, name: str) -> np.ndarray:
        """The output of layer ``name`` before its fused activation.

        For ``Conv2D(..., activation="relu")`` Keras exposes only the activated output; this
        recomputes the layer once on its recorded input with the activation removed.

        Raises:
            ValueError: the layer has no fused activation.
        """
        info = self.info(name)
        if info.fused_activation is None:
            raise ValueError(
                f"Expected a layer with a fused activation (e.g. Conv2D(activation='relu')), "
                f"received {name!r} ({info.class_name}) which has none; its output is "
                f"fm[{name!r}]."
            )
        cached = self._pre.get(info.index)
        if cached is not None:
            return cached
        entry = self._entries[info.index]
        inputs = [self._array(i) for i in entry.inputs] + list(entry.extra_inputs)
        layer = entry.layer
        saved = layer.__dict__["activation"]
        layer.__dict__["activation"] = keras.activations.linear
        try:
            out = layer(*[keras.ops.convert_to_tensor(a) for a in inputs])
        finally:
            layer.__dict__["activation"] = saved
        arr = _to_numpy(out)
        self._pre[info.index] = arr
        return arr

    def backend_tensor(self, name: str) -> Any:
        """Layer ``name``'s output as the backend tensor, when it is kept (else None)."""
        return self._tensors[self.info(name).index]

    def keras_layer(self, name: str) -> Any:
        """The Keras layer object behind entry ``name`` (None for the model input)."""
        return self.info(name).layer

    def pool_window(self, name: str, position: Any) -> tuple[slice, ...]:
        """Slices of the pooling layer's *input* map that output ``position`` pools over.

        Padding cells are excluded, so the window is clipped to the input map (see
        :func:`fmwidget.pooling.pool_window`).
        """
        return pooling.pool_window(self, name, position)

    def pool_source(
        self, name: str, position: Any, channel: int, sample: int = 0
    ) -> tuple[int, ...]:
        """Where in the pooling layer's input map the max of one pooled cell came from.

        Computed on the float32 input map; ties go to the first cell in row-major order (see
        :func:`fmwidget.pooling.pool_source`).

        Args:
            name: A MaxPooling (or GlobalMaxPooling) layer.
            position: The pooled cell, e.g. ``(row, col)`` (``()`` for global pooling).
            channel: The channel (filter) index.
            sample: Which sample of the batch.

        Returns:
            The position in the pooling layer's input map.
        """
        return pooling.pool_source(self, name, position, channel, sample)


def extract(model: Any, x: Any) -> FeatureMaps:
    """Run ``x`` through ``model`` once and keep every layer's output.

    Args:
        model: A Keras 3 model: Sequential (built or not), Functional, nested or subclassed.
        x: One sample (no batch axis) or a batch; numpy array or backend tensor of floats,
            ints or bools, cast as ``model(x)`` casts it (:func:`fmwidget.validation.as_batch`).

    Returns:
        A :class:`FeatureMaps` with every layer call's output and its geometry.

    Raises:
        TypeError: ``model`` is not a Keras model, or ``x`` is not real-valued numeric data.
        ValueError: ``x`` has the wrong shape, or the model has no spatial layers.
    """
    check_model(model)
    batch = as_batch(model, x)
    if not model.built:
        _call(model, batch[:1])  # build first so layers created in build() get recorded
    with capture(model) as rec:
        _call(model, batch)
    fm = FeatureMaps(model, batch.astype(np.float32, copy=False), rec.entries)  # as shown
    if not any(info.spatial for info in fm.layers[1:]):
        classes = ", ".join(info.class_name for info in fm.layers[1:]) or "none"
        raise ValueError(
            f"Expected a model with spatial layers (convolution, pooling, ...), received "
            f"{model.name!r} whose layers all output vectors: {classes}."
        )
    return fm


def _call(model: Any, batch: np.ndarray) -> Any:
    try:
        return model(batch, training=False)
    except (ValueError, TypeError) as err:
        raise type(err)(
            f"The model {model.name!r} failed on an input of shape {batch.shape}: {err}"
            f"{uncast_hint(model, batch)}"
        ) from err
    except Exception as err:
        raise RuntimeError(
            f"The model {model.name!r} failed on an input of shape {batch.shape}: "
            f"{type(err).__name__}: {err}{uncast_hint(model, batch)}"
        ) from err
