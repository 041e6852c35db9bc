"""The benchmark models, built with whichever Keras module is passed (Keras 3 or tf-keras)."""

from __future__ import annotations

from typing import Any

import numpy as np


def small_cnn(keras: Any) -> Any:
    """A 28x28 MNIST-sized CNN: two conv/pool blocks and a dense head."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            L.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            L.MaxPooling2D(2, name="pool1"),
            L.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            L.MaxPooling2D(2, name="pool2"),
            L.Flatten(name="flatten"),
            L.Dense(10, name="head"),
        ],
        name="small_cnn",
    )


def digits_cnn(keras: Any) -> Any:
    """Notebook 3's ``digits_cnn`` (same layers, untrained): 8x8 digits upscaled 3x to 24x24."""
    L = keras.layers
    return keras.Sequential(
        [
            keras.Input((24, 24, 1)),
            L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            L.MaxPooling2D(2, name="pool1"),
            L.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            L.MaxPooling2D(2, name="pool2"),
            L.Flatten(name="flatten"),
            L.Dense(10, activation="softmax", name="classifier"),
        ],
        name="digits_cnn",
    )


def build(keras: Any, name: str) -> tuple[Any, np.ndarray]:
    """``(model, batch of one input)``: ``small``, or an application at 224 (random weights)."""
    rng = np.random.default_rng(0)
    if name == "small":
        return small_cnn(keras), rng.random((1, 28, 28, 1), dtype=np.float32)
    apps = {"vgg16": "VGG16", "densenet121": "DenseNet121", "densenet201": "DenseNet201"}
    if name in apps:
        model = getattr(keras.applications, apps[name])(weights=None)
        return model, rng.random((1, 224, 224, 3), dtype=np.float32)
    raise SystemExit(f"unknown model {name!r} (expected small, {', '.join(apps)})")
