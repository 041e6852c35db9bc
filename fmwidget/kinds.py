"""What kind each Keras layer or raw operation is, in fmwidget's words.

``"conv"``, ``"pooling"``, ``"activation"``, ``"merge"``, ... (see :data:`MAP_KINDS`): the
widget, the geometry and the top-examples scan all ask these questions; :mod:`introspect`
records each call with its kind.
"""

from __future__ import annotations

from typing import Any

import keras

L = keras.layers

_ACTIVATIONS = (L.Activation, L.ReLU, L.LeakyReLU, L.ELU, L.PReLU, L.Softmax)
DROPOUT_LAYERS = (
    L.Dropout,
    L.SpatialDropout1D,
    L.SpatialDropout2D,
    L.SpatialDropout3D,
    L.GaussianDropout,
    L.GaussianNoise,
    L.AlphaDropout,
)
ELEMENTWISE_MERGE_LAYERS = (L.Add, L.Subtract, L.Multiply, L.Average, L.Maximum, L.Minimum)

# Kinds, in Keras's own vocabulary. Anything not matched below is "other".
_KIND_CLASSES: list[tuple[str, tuple[type, ...]]] = [
    ("conv_transpose", (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)),
    ("depthwise_conv", (L.DepthwiseConv1D, L.DepthwiseConv2D)),
    ("separable_conv", (L.SeparableConv1D, L.SeparableConv2D)),
    ("conv", (L.Conv1D, L.Conv2D, L.Conv3D)),
    (
        "global_pooling",
        (
            L.GlobalMaxPooling1D,
            L.GlobalMaxPooling2D,
            L.GlobalMaxPooling3D,
            L.GlobalAveragePooling1D,
            L.GlobalAveragePooling2D,
            L.GlobalAveragePooling3D,
        ),
    ),
    (
        "pooling",
        (
            L.MaxPooling1D,
            L.MaxPooling2D,
            L.MaxPooling3D,
            L.AveragePooling1D,
            L.AveragePooling2D,
            L.AveragePooling3D,
        ),
    ),
    ("activation", _ACTIVATIONS),
    ("batch_norm", (L.BatchNormalization,)),
    ("dropout", DROPOUT_LAYERS),
    ("padding", (L.ZeroPadding1D, L.ZeroPadding2D, L.ZeroPadding3D)),
    ("cropping", (L.Cropping1D, L.Cropping2D, L.Cropping3D)),
    ("merge", (*ELEMENTWISE_MERGE_LAYERS, L.Concatenate)),
]

# Kinds whose output is a feature map worth showing (the widget's default set).
MAP_KINDS = frozenset(
    {
        "input",
        "conv",
        "depthwise_conv",
        "separable_conv",
        "conv_transpose",
        "pooling",
        "global_pooling",
        "activation",
        "batch_norm",
    }
)


#: Raw operations (``keras.ops`` classes) that act cell by cell, by kind.
OP_ACTIVATIONS = frozenset(
    [
        "Relu",
        "Relu6",
        "Sigmoid",
        "HardSigmoid",
        "Silu",
        "HardSilu",
        "Gelu",
        "Elu",
        "Selu",
        "Celu",
        "LeakyRelu",
        "Softplus",
        "Softsign",
        "LogSigmoid",
        "Tanh",
        "TanhShrink",
        "HardTanh",
        "SoftShrink",
        "HardShrink",
        "SparsePlus",
        "SparseSigmoid",
        "Squareplus",
        "Threshold",
    ]
)
OP_MERGES = frozenset(
    [
        "Add",
        "Subtract",
        "Multiply",
        "Divide",
        "TrueDivide",
        "FloorDivide",
        "DivideNoNan",
        "Maximum",
        "Minimum",
        "Fmax",
        "Fmin",
        "Power",
        "Mod",
        "Fmod",
        "Where",
        "Hypot",
        "Arctan2",
        "Logaddexp",
        "Logaddexp2",
        "Heaviside",
        "Concatenate",
        "Average",
    ]
)


def is_op(layer: Any) -> bool:
    """Whether ``layer`` is a raw operation node (``keras.Operation``, not a layer)."""
    return isinstance(layer, keras.Operation) and not isinstance(layer, keras.layers.Layer)


def needs_template(layer: Any) -> bool:
    """Whether ``layer``'s geometry is found by tracing its call (a custom or Lambda layer).

    Keras's own layers are known by class; anything else is traced symbolically, so its
    call's arguments are kept (as a template) when it is recorded.
    """
    if layer is None or is_op(layer):
        return False
    return isinstance(layer, L.Lambda) or not type(layer).__module__.startswith("keras.src.layers")


def layer_kind(layer: Any) -> str:
    """The fmwidget kind of a Keras layer or operation (``"conv"``, ..., or ``"other"``)."""
    if is_op(layer):
        name = type(layer).__name__
        if name in OP_ACTIVATIONS:
            return "activation"
        return "merge" if name in OP_MERGES else "other"
    for kind, classes in _KIND_CLASSES:
        if isinstance(layer, classes):
            return kind
    return "other"


#: Layers that act cell by cell (with broadcasting): each output cell reads the same cell.
POINTWISE_LAYERS = (
    L.ReLU,
    L.LeakyReLU,
    L.ELU,
    L.PReLU,
    L.BatchNormalization,
    L.Normalization,  # fixed (adapted) statistics: each value scaled on its own
    L.Rescaling,
    L.Identity,
    *DROPOUT_LAYERS,
    *ELEMENTWISE_MERGE_LAYERS,
)
