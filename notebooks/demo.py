# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # fmwidget demo: a small CNN learning, seen from inside
#
# A small convolutional network for real handwritten digits (they ship with scikit-learn, so
# this runs offline). We open it up *before* it has learned anything, then train it while the
# widget redraws after every epoch:
#
# * `fmwidget.FeatureMapWidget` shows every layer's feature maps: hover a map to read values,
#   click a cell to select its filter and trace the activation back to the pixels that caused it;
# * `fmwidget.extract` gives the same maps as numpy arrays, with the exact geometry that links
#   them (receptive fields, pooling windows, which cell won the max).

# %%
import os
os.environ.setdefault("KERAS_BACKEND", "jax")

import keras
import numpy as np
from sklearn.datasets import load_digits

import fmwidget

keras.utils.set_random_seed(0)
digits = load_digits()
# 8x8 digits with values 0..16, scaled to [0, 1] and enlarged 3x so the maps are readable.
images = np.kron(digits.images / 16.0, np.ones((3, 3)))[..., None].astype("float32")
labels = digits.target
print(images.shape, "images of the digits", sorted(set(labels.tolist())))

# %%
L = keras.layers
model = keras.Sequential(
    [
        keras.Input((24, 24, 1)),
        L.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
        L.MaxPooling2D(2, name="pool1"),
        L.Conv2D(16, 3, padding="same", name="conv2"),
        L.ReLU(name="relu2"),
        L.MaxPooling2D(2, name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(10, activation="softmax", name="classifier"),
    ],
    name="digits_cnn",
)
x = images[1500]  # a digit the network never trains on

# %% [markdown]
# ## The widget, before training
#
# The weights are still random: each `conv1` map is the digit seen through a random 3×3
# filter. Hover a map to read its values (the outline on the input is the cell's receptive
# field); click a cell to select its filter and trace it; switch layers in the strip.

# %%
w = fmwidget.FeatureMapWidget(model, x, layer="conv1", view="grid")
w

# %% [markdown]
# ## Every feature map from one forward pass
#
# `extract` runs the image through the model once and keeps every layer's output.
# Conv2D with 8 filters and `same` padding turns the 24×24×1 image into a 24×24×8 volume:
# one feature map per filter.

# %%
fm = fmwidget.extract(model, x)
print(fm)
print("conv1 maps:", fm["conv1"].shape)

# %% [markdown]
# ## Geometry, exactly as Keras computes it
#
# A cell of `pool2` sees a patch of the input (its *receptive field*); a max-pooling cell
# took its value from one cell of the map before it (`pool_source`). Receptive fields depend
# only on the architecture, so they stay the same through training; which cell wins a max
# depends on the weights.

# %%
print("receptive field of pool2[2, 3]:", fm.receptive_field("pool2", (2, 3)))
print("pool2[2, 3], filter 5, came from relu2", fm.pool_source("pool2", (2, 3), channel=5))
print("input pixel (12, 12) reaches these conv2 cells:", fm.projective_field("conv2", (12, 12)))

# %% [markdown]
# ## The widget talks back
#
# What you hover and select in the widget above is readable (and settable) from Python:
# run this cell again after clicking a map.

# %%
print("hover:", w.hover)
print("selected filters:", w.selected_filters)
# w.layer = "relu2"  # switches the view above from code

# %% [markdown]
# ## Train it while you watch
#
# Twelve passes over 1500 digits. After each one, `w.set_input(x)` runs the same digit through
# the network as it is now, and the widget above redraws: watch the `conv1` maps change from
# random filters to learned ones, and the test accuracy climb.
#
# Training runs on the kernel's event loop one epoch at a time (an `asyncio` task), so this
# cell returns at once and the widget keeps answering your hovers and clicks between epochs.
# `await training` waits for the end.

# %%
import asyncio

import ipywidgets

EPOCHS = 12
progress = ipywidgets.IntProgress(max=EPOCHS, description="training")
report = ipywidgets.Label("starting…")
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])


async def train():
    for epoch in range(EPOCHS):
        await asyncio.sleep(0.3)  # first let the kernel answer the widget (paint, your clicks)
        model.fit(images[:1500], labels[:1500], epochs=1, batch_size=32, verbose=0)
        _, acc = model.evaluate(images[1500:], labels[1500:], verbose=0)
        w.set_input(x)  # redraw the widget above with the network as it is now
        progress.value = epoch + 1
        report.value = f"epoch {epoch + 1}/{EPOCHS}: accuracy on {len(images) - 1500} unseen digits {acc:.3f}"
    return acc


training = asyncio.ensure_future(train())
ipywidgets.VBox([progress, report])
