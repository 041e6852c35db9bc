"""Reach one layer call's output inside a differentiable forward pass of any model.

Gradients with respect to a layer's output need that output as a function of something the
gradient function controls. A sub-model would do for Functional models only; instead, for
the duration of one ``model(x, training=False)``, the ``call`` of the wanted layer instance
is wrapped (the same mechanism :func:`fmwidget.introspect.capture` uses): the wrapper adds a
zero tensor ``delta`` to the output of the wanted call (the gradient w.r.t. ``delta`` is the
gradient w.r.t. that output), records the output, and may end the pass right there when
nothing after the layer is needed. This works the same for Sequential, Functional, nested,
shared-layer and subclassed models on every backend.

Which layer object and which of its calls a name means is learned once per model and input
shape from :func:`fmwidget.extract`'s layer list.
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import keras

from .validation import unknown_layer

if TYPE_CHECKING:
    from .maps import FeatureMaps, LayerInfo

# Kinds that only subsample or pass on the map before them: Grad-CAM's default layer skips
# them (the map before a pooling layer holds the same features at a finer grid).
_PASS_ON = frozenset({"pooling", "global_pooling", "dropout", "padding", "cropping"})


class _Stop(Exception):
    """Ends a forward pass once every wanted output exists (caught in :func:`forward`)."""


@dataclass(frozen=True)
class Tap:
    """One layer call to reach: its output is recorded, ``delta`` (if any) added to it."""

    info: LayerInfo
    delta: Any = None


@dataclass(frozen=True)
class Layout:
    """The layer calls of one model for one input shape, as :func:`fmwidget.extract` saw them."""

    layers: tuple[LayerInfo, ...]
    model_name: str

    @property
    def input(self) -> LayerInfo:
        return self.layers[0]

    def info(self, name: str) -> LayerInfo:
        """The call named ``name``; unknown names raise ``LayerNotFoundError``."""
        for info in self.layers:
            if info.name == name:
                return info
        raise unknown_layer(name, [i.name for i in self.layers])

    def call_index(self, info: LayerInfo) -> int:
        """Which call of its layer object ``info`` is (0 for the first; shared layers more)."""
        return sum(1 for other in self.layers[: info.index] if other.layer is info.layer)

    def input_spatial(self, name: str) -> tuple[int, ...]:
        """The input's spatial shape, checked to have as many axes as layer ``name``'s map."""
        shape = self.input.spatial_shape
        if shape is None:
            raise ValueError(f"Expected a model with a spatial input, received {self.input.shape}.")
        own = self.info(name).spatial_shape
        if own is not None and len(own) != len(shape):
            raise ValueError(
                f"Expected layer {name!r} to have as many spatial axes as the input "
                f"{shape}, received {own}."
            )
        return tuple(shape)

    def spatial_layer(self, name: str | None, what: str) -> LayerInfo:
        """A layer with a spatial map (``name``), or the default: the last one before the head.

        The default skips pooling, dropout, padding and cropping back to the map they read,
        so it is the last convolution (or its activation / batch-norm) of the network.
        """
        if name is not None:
            info = self.info(name)
            if info.layer is None:
                raise ValueError(
                    f"Expected a layer inside the model for {what}, received {name!r} (the "
                    "model input)."
                )
            if info.spatial_shape is None:
                raise ValueError(
                    f"Expected a layer with a spatial map for {what}, received {name!r} "
                    f"({info.class_name}) whose output is a vector of shape {info.shape}."
                )
            return info
        spatial = [i for i in self.layers[1:] if i.spatial_shape is not None]
        if not spatial:
            raise ValueError(f"Expected a model with spatial layers, received {self.model_name!r}.")
        for info in reversed(spatial):
            if info.kind not in _PASS_ON:
                return info
        return spatial[-1]

    @property
    def float16(self) -> bool:
        """Whether some layer computes in float16 (its gradients need loss scaling)."""
        return any(getattr(i.layer, "compute_dtype", None) == "float16" for i in self.layers[1:])

    def score(self) -> tuple[LayerInfo | None, Any]:
        """Where the class scores come from: ``(tap, softmax_layer)``.

        The Grad-CAM paper differentiates the score before the softmax. When the model ends
        in a ``Softmax`` / ``Activation("softmax")`` layer, ``tap`` is the call feeding it (the
        pass ends there); when the last layer has a fused ``activation="softmax"``,
        ``softmax_layer`` is that layer (its activation is made linear for the pass).
        Otherwise both are None and the model output is the score.
        """
        last = self.layers[-1]
        layer = last.layer
        if _is_softmax_layer(layer) and len(last.inputs) == 1:
            return self.info(last.inputs[0]), None
        act = getattr(layer, "activation", None)
        if layer is not None and getattr(act, "__name__", "") == "softmax":
            return None, layer
        return None, None


def _is_softmax_layer(layer: Any) -> bool:
    if isinstance(layer, keras.layers.Softmax):
        return True
    if isinstance(layer, keras.layers.Activation):
        return getattr(layer.activation, "__name__", "") == "softmax"
    return False


_LAYOUTS: weakref.WeakKeyDictionary[Any, dict[tuple[int, ...], Layout]] = (
    weakref.WeakKeyDictionary()
)


def cached_layout(model: Any, input_shape: tuple[int, ...]) -> Layout | None:
    """The :class:`Layout` of ``model`` for one input shape, if one was made already."""
    return _LAYOUTS.get(model, {}).get(tuple(input_shape))


def layout_from(fm: FeatureMaps) -> Layout:
    """The :class:`Layout` of an extraction that already ran (and remember it)."""
    layout = Layout(tuple(fm.layers), str(fm.model.name))
    _LAYOUTS.setdefault(fm.model, {})[tuple(fm.input.shape[1:])] = layout
    return layout


@contextlib.contextmanager
def _patched(layer: Any, attr: str, value: Any) -> Iterator[None]:
    own = layer.__dict__.get(attr, _MISSING)
    layer.__dict__[attr] = value
    try:
        yield
    finally:
        if own is _MISSING:
            layer.__dict__.pop(attr, None)
        else:
            layer.__dict__[attr] = own


_MISSING = object()


def forward(
    model: Any,
    layout: Layout,
    x: Any,
    taps: Sequence[Tap] = (),
    stop: LayerInfo | None = None,
    linear_activation: Any = None,
) -> tuple[Any, dict[str, Any]]:
    """Run ``model(x, training=False)`` while reaching the outputs of some layer calls.

    Args:
        model: The Keras model.
        layout: Its :class:`Layout` (names to layer calls).
        x: Input batch (backend tensor; may be traced by a gradient function).
        taps: Calls whose outputs to record (and add ``delta`` to).
        stop: End the pass after this call (its output is recorded); the model output is
            then None.
        linear_activation: A layer whose fused activation (``activation=...``) is made
            linear for the pass.

    Returns:
        ``(model_output, outputs)``: ``outputs`` maps each tapped (and the ``stop``)
        name to its output tensor, after ``delta`` was added.

    Raises:
        ValueError: a tapped call did not happen, or its output is not one tensor.
    """
    wanted: dict[tuple[int, int], Tap] = {}
    for tap in taps:
        wanted[(id(tap.info.layer), layout.call_index(tap.info))] = tap
    stop_key = None
    if stop is not None:
        stop_key = (id(stop.layer), layout.call_index(stop))
        wanted.setdefault(stop_key, Tap(stop))
    outputs: dict[str, Any] = {}
    counts: dict[int, int] = {}

    def wrapper(layer: Any, call: Any) -> Any:
        def tapped_call(*args: Any, **kwargs: Any) -> Any:
            out = call(*args, **kwargs)
            k = counts.get(id(layer), 0)
            counts[id(layer)] = k + 1
            tap = wanted.get((id(layer), k))
            if tap is None:
                return out
            if not keras.ops.is_tensor(out):
                raise ValueError(
                    f"Expected layer {tap.info.name!r} to output one tensor, received "
                    f"{type(out).__name__}; its output cannot be differentiated."
                )
            if tap.delta is not None:
                out = out + keras.ops.cast(tap.delta, out.dtype)
            outputs[tap.info.name] = out
            if (id(layer), k) == stop_key:
                raise _Stop()
            return out

        return tapped_call

    layers = {id(t.info.layer): t.info.layer for t in wanted.values()}
    result = None
    with contextlib.ExitStack() as stack:
        for layer in layers.values():
            stack.enter_context(_patched(layer, "call", wrapper(layer, layer.call)))
        if linear_activation is not None:
            stack.enter_context(_patched(linear_activation, "activation", keras.activations.linear))
        with contextlib.suppress(_Stop):  # the pass ended early on purpose
            result = model(x, training=False)
    missing = [t.info.name for t in wanted.values() if t.info.name not in outputs]
    if missing:
        raise ValueError(
            f"Expected the model {layout.model_name!r} to call layer {missing[0]!r} on an input "
            f"of shape {tuple(x.shape)}, but the call did not happen in this pass: its output "
            "cannot be reached."
        )
    return result, outputs
