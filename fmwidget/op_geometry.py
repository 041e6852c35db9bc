"""Geometry of raw operations (``a + b``, ``keras.ops.mean``, ``x[:, ::2]``) and custom layers.

Operations of a Functional graph are known by class name; a custom or Lambda layer's
``call`` is traced symbolically once, and when every operation in it acts cell by cell the
layer does too. Anything else raises :class:`~fmwidget.axis_rules.UnknownGeometry`.
"""

from __future__ import annotations

import inspect
from typing import Any

import keras

from .axis_rules import (
    Spec,
    UnknownGeometry,
    broadcast,
    concat_maps,
    one_input,
    reduce,
    reduce_same,
    reshape,
)
from .geometry import AxisMap, InputMap
from .introspect import Entry, Slot
from .kinds import OP_ACTIVATIONS, OP_MERGES, POINTWISE_LAYERS

L = keras.layers

#: Operations that act cell by cell (with broadcasting), besides activations and merges.
_ELEMENTWISE_OPS = (
    OP_ACTIVATIONS
    | (OP_MERGES - {"Concatenate"})
    | frozenset(
        [
            "Abs",
            "Absolute",
            "Fabs",
            "Negative",
            "Sign",
            "Square",
            "Sqrt",
            "Rsqrt",
            "Reciprocal",
            "Exp",
            "Exp2",
            "Expm1",
            "Log",
            "Log1p",
            "Log2",
            "Log10",
            "Cbrt",
            "Erf",
            "Erfc",
            "Erfinv",
            "Cast",
            "SaturateCast",
            "Clip",
            "Round",
            "Floor",
            "Ceil",
            "Trunc",
            "Sin",
            "Cos",
            "Tan",
            "Sinh",
            "Cosh",
            "Arcsin",
            "Arccos",
            "Arctan",
            "Arcsinh",
            "Arccosh",
            "Arctanh",
            "NanToNum",
            "Copy",
            "StopGradient",
            "ConvertToTensor",
            "Isnan",
            "Isinf",
            "Isfinite",
            "Equal",
            "NotEqual",
            "Greater",
            "GreaterEqual",
            "Less",
            "LessEqual",
            "LogicalAnd",
            "LogicalOr",
            "LogicalNot",
            "LogicalXor",
            "Signbit",
            "Deg2rad",
            "Rad2deg",
        ]
    )
)


#: Reductions ``op(x, axis=None, keepdims=False)``.
_REDUCE_OPS = frozenset(
    [
        "Mean",
        "Sum",
        "Max",
        "Min",
        "Amax",
        "Amin",
        "Prod",
        "Var",
        "Std",
        "Logsumexp",
        "Median",
        "Nanmean",
        "Nansum",
        "Nanmax",
        "Nanmin",
        "Nanprod",
        "Nanstd",
        "Nanvar",
        "Any",
        "All",
    ]
)


#: Same-shape operations that normalise over ``axis``.
_AXIS_OPS = frozenset({"Softmax", "LogSoftmax", "Normalize", "LayerNorm", "RMSNorm"})


def op_maps(entry: Entry, name: str, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    op = entry.layer
    if name in _ELEMENTWISE_OPS:
        return broadcast(out, sources)
    if name == "Concatenate":
        return concat_maps(entry, op.axis, out, sources)
    if name in _AXIS_OPS:
        return (reduce_same(getattr(op, "axis", -1), out, one_input(sources)),)
    if name in _REDUCE_OPS:
        axis = getattr(op, "axis", None)
        return (reduce(axis, bool(getattr(op, "keepdims", False)), out, one_input(sources)),)
    if name == "Reshape":
        return (reshape(out, one_input(sources)),)
    if name == "GetItem":
        return (_getitem(entry, out, one_input(sources)),)
    raise UnknownGeometry(f"fmwidget has no rule for the operation {name}")


def _getitem(entry: Entry, out: Spec, src: Spec) -> InputMap:
    """``x[...]`` with slices only (steps > 0): windows of size 1 with an offset and stride."""
    args, _ = entry.template
    key = args[1] if len(args) > 1 else None
    key = key if isinstance(key, tuple) else (key,)
    full = (0, *src.shape)  # the batch length does not matter for slices
    if sum(k is Ellipsis for k in key) > 1:
        raise UnknownGeometry("its index has several Ellipsis")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(full) - len(key) + 1) + key[at + 1 :]
    key = key + (slice(None),) * (len(full) - len(key))
    if len(key) != len(full) or not all(isinstance(k, slice) for k in key):
        raise UnknownGeometry("only slices (no integers, None, arrays or tensors) are traced")
    if key[0] != slice(None):
        raise UnknownGeometry("it slices the batch axis")
    if src.spatial is None or out.spatial is None:
        raise UnknownGeometry("it slices a vector")
    axes = []
    for a in src.spatial_axes:
        start, _, step = key[a].indices(full[a])
        if step <= 0:
            raise UnknownGeometry("it slices with a negative step")
        axes.append(AxisMap("window", 1, step, 1, start))
    return tuple(axes)


# -- custom layers: trace their call ------------------------------------------------------------
def traced_maps(entry: Entry, out: Spec, sources: list[Spec]) -> tuple[InputMap, ...]:
    """Trace ``layer.call`` on symbolic inputs; element-wise all the way means element-wise."""
    layer = entry.layer
    name = type(layer).__name__
    args, kwargs = entry.template
    symbolic = [
        keras.KerasTensor((None, *shape[1:]), dtype="float32") for shape in entry.arg_shapes
    ]

    def fill(item: Any) -> Any:
        if isinstance(item, Slot):
            if item.index >= len(symbolic):
                raise UnknownGeometry(f"its call takes a tensor keyword argument ({name})")
            return symbolic[item.index]
        if isinstance(item, (list, tuple)):
            return type(item)(fill(v) for v in item)
        if isinstance(item, dict):
            return {k: fill(v) for k, v in item.items()}
        return item

    call_kwargs = {k: v for k, v in fill(kwargs).items() if k not in ("training", "mask")}
    try:
        if "training" in inspect.signature(layer.call).parameters:
            call_kwargs["training"] = False
        result = layer.call(*fill(args), **call_kwargs)
    except UnknownGeometry:
        raise
    except Exception as err:
        raise UnknownGeometry(
            f"its call could not be traced symbolically ({type(err).__name__})"
        ) from None
    blocker = _non_elementwise(keras.tree.flatten(result), symbolic)
    if blocker is not None:
        raise UnknownGeometry(f"its call uses {blocker}, which fmwidget does not trace through")
    return broadcast(out, sources)


def _non_elementwise(outputs: list[Any], inputs: list[Any]) -> str | None:
    """The first operation between ``inputs`` and ``outputs`` that is not element-wise."""
    start = {id(t) for t in inputs}
    stack = list(outputs)
    seen: set[int] = set()
    while stack:
        t = stack.pop()
        if id(t) in start or id(t) in seen:
            continue
        seen.add(id(t))
        history = getattr(t, "_keras_history", None)
        if history is None:
            return "a tensor made outside keras.ops"
        op = history[0]
        if isinstance(op, L.Layer):
            if not isinstance(op, POINTWISE_LAYERS):
                return f"the layer {type(op).__name__}"
        elif type(op).__name__ not in _ELEMENTWISE_OPS:
            return f"keras.ops {type(op).__name__}"
        stack.extend(op._inbound_nodes[history[1]].arguments.keras_tensors)
    return None
