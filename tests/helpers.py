"""Model builders and independent oracles used by several test modules."""

from __future__ import annotations

import keras
import numpy as np

L = keras.layers


def small_cnn(data_format: str = "channels_last") -> keras.Model:
    """A Functional CNN touching most supported layer kinds."""
    shape = (16, 16, 3) if data_format == "channels_last" else (3, 16, 16)
    inp = keras.Input(shape, name="image")
    kw = {"data_format": data_format}
    x = L.Conv2D(6, 3, padding="same", activation="relu", name="conv1", **kw)(inp)
    x = L.MaxPooling2D(2, name="pool1", **kw)(x)
    x = L.Conv2D(8, (3, 2), strides=(1, 2), padding="valid", name="conv2", **kw)(x)
    x = L.BatchNormalization(axis=1 if data_format == "channels_first" else -1, name="bn")(x)
    x = L.ReLU(name="relu2")(x)
    x = L.AveragePooling2D(2, strides=1, padding="same", name="pool2", **kw)(x)
    x = L.GlobalMaxPooling2D(name="gpool", **kw)(x)
    out = L.Dense(4, name="head")(x)
    return keras.Model(inp, out, name="small_cnn")


def submodel_outputs(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output via one sub-model per layer (the independent path)."""
    out = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        sub = keras.Model(model.inputs, layer.output)
        out[layer.name] = keras.ops.convert_to_numpy(sub(x, training=False))
    return out
