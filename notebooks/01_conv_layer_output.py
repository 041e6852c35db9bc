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
# # 1 · What a Conv2D layer outputs
#
# A convolutional layer holds a small stack of **filters** (here 3×3 each). Every filter
# slides over the whole image and, at each position, computes one number: the weighted
# sum of the 3×3 pixels under it plus a bias. Doing that everywhere gives one 2-D
# **feature map** per filter. Stack the maps and you get a **volume**:
# height × width × number of filters.
#
# In this notebook:
#
# 1. a 28×28×1 image through `Conv2D(32, 3, padding="same")` gives a **28×28×32** volume;
# 2. one map is recomputed by hand, to see there is no magic;
# 3. a second Conv2D reads **all 32 maps at once**: depth is what the next layer sees;
# 4. the widget shows all 32 maps; hover one to read values and see the 3×3 patch it came from.

# %%
import os
os.environ.setdefault("KERAS_BACKEND", "jax")  # CI sets KERAS_BACKEND=tensorflow; both work

import keras
import numpy as np

import fmwidget
from skimage.transform import resize
from sklearn.datasets import load_digits

keras.utils.set_random_seed(0)
# A real handwritten "3" (8x8, values 0..16 in scikit-learn), resized to MNIST's 28x28.
digits = load_digits()
digit = digits.images[digits.target == 3][0] / 16.0
x = resize(digit, (28, 28), order=1).astype("float32")[..., None]
print("input image:", x.shape, "min", x.min(), "max", round(float(x.max()), 3))

# %% [markdown]
# ## One Conv2D layer, 32 filters
#
# The filters are still random (nothing is trained in this notebook): we look at *what
# shape* the output has and *how* each number is made, not at what the filters detect.
# That comes in notebooks 2 and 3.

# %%
L = keras.layers
model = keras.Sequential(
    [
        keras.Input((28, 28, 1)),
        L.Conv2D(32, 3, padding="same", name="conv"),
        L.Conv2D(16, 3, padding="same", name="conv2"),
    ],
    name="two_convs",
)
kernel, bias = model.get_layer("conv").get_weights()
print("conv kernel:", kernel.shape, " = (rows, cols, input channels, filters)")
print("conv bias:  ", bias.shape)
print("parameters: ", kernel.size + bias.size, "= 3*3*1*32 weights + 32 biases")
assert kernel.shape == (3, 3, 1, 32) and kernel.size + bias.size == 320

# %% [markdown]
# ## The output volume: one map per filter
#
# `fmwidget.extract` runs the image through the model once and keeps every layer's output
# as a numpy array (batch first). With `padding="same"` Keras pads the border with zeros
# so each map keeps the input's 28×28 size.

# %%
fm = fmwidget.extract(model, x)
print(fm)
print("conv output:", fm["conv"].shape, "= (batch, rows, cols, filters)")
assert fm["conv"].shape == (1, 28, 28, 32)  # 28x28x1 in, 28x28x32 out: one map per filter

# Without padding the 3x3 window fits only 26 times across 28 pixels:
valid = keras.Sequential([keras.Input((28, 28, 1)), L.Conv2D(32, 3, padding="valid")])
print("same padding:", fm["conv"].shape[1:], "  valid padding:", tuple(valid(x[None]).shape[1:]))
assert tuple(valid(x[None]).shape) == (1, 26, 26, 32)

# %% [markdown]
# ## No magic: recompute one map by hand
#
# Feature map *k* at row *r*, column *c* is
# `sum(patch(r, c) * kernel[:, :, 0, k]) + bias[k]`, where `patch(r, c)` is the 3×3
# window of the zero-padded image centred on (r, c). Below, a plain numpy loop gives the
# same 784 numbers Keras computed for filter 5.

# %%
k = 5
padded = np.pad(x[..., 0], 1)  # the zeros 'same' padding adds
by_hand = np.array(
    [[(padded[r : r + 3, c : c + 3] * kernel[:, :, 0, k]).sum() + bias[k] for c in range(28)]
     for r in range(28)]
)
diff = np.abs(by_hand - fm["conv"][0, :, :, k]).max()
print(f"largest difference between numpy and Keras for filter {k}: {diff:.2e}")
assert diff < 1e-5

# Which input pixels does the cell (10, 10) of any conv map depend on?  A 3x3 patch:
print("receptive field of conv(10, 10):", fm.receptive_field("conv", (10, 10)))
print("receptive field of conv(0, 0):  ", fm.receptive_field("conv", (0, 0)), "(the rest is padding)")
assert fm.receptive_field("conv", (10, 10)) == (slice(9, 12), slice(9, 12))
assert fm.receptive_field("conv", (0, 0)) == (slice(0, 2), slice(0, 2))

# %% [markdown]
# ## Depth: the next layer reads all 32 maps at once
#
# `conv2` has 16 filters, but each of them is 3×3×**32**: one 3×3 slice per map of
# `conv`. A cell of `conv2` is a sum of 32 contributions (one per input map) plus a bias.
# `fmwidget.trace.conv_arithmetic` lists those contributions for one cell, and their
# sum is the value Keras produced. A second layer's receptive field is larger: 5×5 pixels.

# %%
from fmwidget.trace import conv_arithmetic

print("conv2 kernel:", model.get_layer("conv2").get_weights()[0].shape)
assert model.get_layer("conv2").get_weights()[0].shape == (3, 3, 32, 16)

sums = conv_arithmetic(fm, "conv2", 0, (14, 14), top=32)
total = sum(t["contribution"] for t in sums["terms"]) + sums["bias"]
print(f"conv2 filter 0 at (14, 14) = {fm['conv2'][0, 14, 14, 0]:.4f}")
print(f"  = sum of {sums['n_channels']} per-map contributions + bias = {total:.4f}")
for t in sums["terms"][:4]:
    print(f"    from conv map {t['channel']:2d}: {t['contribution']:+.4f}")
print("    ...")
assert sums["n_channels"] == 32
assert abs(total - fm["conv2"][0, 14, 14, 0]) < 1e-4
print("receptive field of conv2(14, 14):", fm.receptive_field("conv2", (14, 14)))
assert fm.receptive_field("conv2", (14, 14)) == (slice(12, 17), slice(12, 17))

# %% [markdown]
# ## The whole network at a glance: N filters, depth N
#
# Opened on a model, the widget first shows its **overview**: one column per layer, left
# to right, each drawn as a **volume**. The front face grows with the map's size (rows ×
# columns), the depth with the number of maps, and the label reads rows×cols×maps; under
# it, the layer's first maps as thumbnails. Look at the three columns:
#
# * the input, 28×28×**1**: one grey map;
# * `conv`, 28×28×**32**: 32 filters give 32 maps, so depth 32;
# * `conv2`, 28×28×**16**: 16 filters, depth 16.
#
# All three faces are the same size (`same` padding keeps 28×28); only the depth changes,
# and it is set by the number of filters, nothing else. Hover a cell of a `conv2`
# thumbnail: the cells it reads light up in orange on *every* `conv` thumbnail (a
# convolution reads all the maps of the volume before it) and on a 5×5 patch of the
# input. Click a column to open its maps in the grid.

# %%
overview = fmwidget.FeatureMapWidget(model, x)
assert overview.view == "overview"  # the default view
columns = {layer["name"]: layer for layer in overview.layers}  # what the columns are drawn from
for name, col in columns.items():
    print(f"{name:>12}: {col['height']}x{col['width']}x{col['channels']}")
for name in ["conv", "conv2"]:
    n_filters = model.get_layer(name).filters
    print(f"{name}: {n_filters} filters -> depth {columns[name]['channels']}")
    assert columns[name]["channels"] == n_filters  # N filters -> depth N
assert [(c["height"], c["width"], c["channels"]) for c in columns.values()] == [
    (28, 28, 1), (28, 28, 32), (28, 28, 16)
]
overview

# %% [markdown]
# ## See them all, hover one
#
# The widget below opens the grid view (`view="grid"`) on `conv`: every map in a grid
# (32 tiles, 28×28 each).
#
# * **Hover** a tile: the read-out gives the filter, the cell and its value, and the
#   outline on the input image marks the 3×3 patch that produced it. Near the edge of the
#   image the outline is clipped: the rest of the window was padding.
# * The maps are **signed** (no activation yet), so the colour scale diverges around 0.
# * **Click** a tile to enlarge it; shift/ctrl-click to compare several.
# * The strip at the top lists the layers; pick `conv2` and compare. The **overview**
#   tab goes back to the whole network.

# %%
w = fmwidget.FeatureMapWidget(model, x, layer="conv", view="grid")
w.selected_filters = [5]  # the map recomputed by hand above, shown large
w

# %% [markdown]
# What you hover and select flows back to Python. Hover a map above, then run this cell
# (it prints `None` until you do; in a headless run nobody hovers):

# %%
print("hover:", w.hover)
print("selected filters:", w.selected_filters)

# %% [markdown]
# **Takeaways.** A filter is a small set of weights; sliding it over the image gives one
# feature map. *N* filters give *N* maps, stacked into a volume of depth *N*; the next
# layer's filters are as deep as that volume and mix all the maps. Next:
# [2 · Edges by hand](02_edges_by_hand.ipynb) sets the weights ourselves, so we know
# what each map should light up on.
